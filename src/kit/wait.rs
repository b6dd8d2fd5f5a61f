//! Waiting on the bot's progress, not the clock: a step is given up only
//! once the bot has made its passes (its pass counter) without it, or made
//! none at all for a long while.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::Engine;
use crate::error::{Error, Result};

/// How many passes the bot may finish while a step has not happened before
/// the step is called failed: a slow machine makes slow passes, not fewer.
pub const PATIENCE: u64 = 120;
/// How long the bot may finish no pass at all (stuck, or no bot running:
/// then this is the only limit) before a step is called failed.
pub const STALL: Duration = Duration::from_secs(60);
/// How often a step's check is asked again.
const POLL: Duration = Duration::from_millis(150);

/// Where the bot's pass counter is read.
#[derive(Clone)]
pub enum Progress {
    /// The bot in this process (`Engine::passes`).
    Engine(Arc<Engine>),
    /// A `stagecoach serve` child: `stagecoach_passes_total` on its `/metrics`.
    Serve { http: reqwest::Client, addr: String },
    /// No bot runs (a test drives the engine itself): only [`STALL`] limits.
    Nothing,
    /// No bot counts here; a step has this long (a test's own bound).
    Within(Duration),
}

impl Progress {
    /// Passes finished so far; `None` when nobody counts (or `/metrics`
    /// does not answer yet).
    pub async fn passes(&self) -> Option<u64> {
        match self {
            Progress::Engine(engine) => Some(engine.passes()),
            Progress::Serve { http, addr } => serve_passes(http, addr).await,
            Progress::Nothing | Progress::Within(_) => None,
        }
    }

    /// How long no pass may come before a step is called failed.
    fn stall(&self) -> Duration {
        match self {
            Progress::Within(limit) => *limit,
            _ => STALL,
        }
    }
}

/// `stagecoach_passes_total` of the `serve` process at `addr`.
pub async fn serve_passes(http: &reqwest::Client, addr: &str) -> Option<u64> {
    let text = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("stagecoach_passes_total "))
        .and_then(|n| n.trim().parse().ok())
}

/// Counts the bot's passes from the moment a wait begins.
struct Watch<'a> {
    progress: &'a Progress,
    from: Option<u64>,
    last: Option<u64>,
    moved_at: Instant,
}

impl<'a> Watch<'a> {
    async fn new(progress: &'a Progress) -> Watch<'a> {
        let from = progress.passes().await;
        Watch {
            progress,
            from,
            last: from,
            moved_at: Instant::now(),
        }
    }

    /// Passes finished since the wait began, noting when the counter moved.
    async fn passes(&mut self) -> u64 {
        let now = self.progress.passes().await;
        if now.is_some() && now != self.last {
            self.last = now;
            self.moved_at = Instant::now();
            self.from = self.from.or(now);
        }
        match (self.from, self.last) {
            (Some(from), Some(last)) => last.saturating_sub(from),
            _ => 0,
        }
    }

    fn stalled(&self) -> bool {
        self.moved_at.elapsed() > self.progress.stall()
    }
}

/// Ask `check` until it answers `Some`; fail naming `what` once the bot
/// has made [`PATIENCE`] passes without it, or none for [`STALL`].
pub async fn wait_for<T, F, Fut>(progress: &Progress, what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let mut watch = Watch::new(progress).await;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        let passes = watch.passes().await;
        if passes >= PATIENCE {
            return Err(Error::world(format!(
                "step did not happen in {passes} passes of the bot: {what}"
            )));
        }
        if watch.stalled() {
            return Err(Error::world(format!(
                "step did not happen, and the bot finished no pass for {}s: {what}",
                progress.stall().as_secs()
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Wait until the bot has finished `n` more passes. The first may have
/// begun before the call, so "one whole pass saw it" takes `n >= 2`.
pub async fn wait_passes(progress: &Progress, n: u64) -> Result<()> {
    let mut watch = Watch::new(progress).await;
    loop {
        if watch.passes().await >= n {
            return Ok(());
        }
        if watch.stalled() {
            return Err(Error::world(format!(
                "the bot finished no pass for {}s (waiting for {n} passes)",
                progress.stall().as_secs()
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Check that `happened` stays `false` while the bot makes `passes` whole
/// passes (at least 2: the first may have begun before the call).
pub async fn stays<F, Fut>(
    progress: &Progress,
    what: &str,
    passes: u64,
    mut happened: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let passes = passes.max(2);
    let mut watch = Watch::new(progress).await;
    loop {
        if happened().await? {
            return Err(Error::world(format!("it happened but should not: {what}")));
        }
        if watch.passes().await >= passes {
            return Ok(());
        }
        if watch.stalled() {
            return Err(Error::world(format!(
                "the bot finished no pass for {}s (checking that nothing happens: {what})",
                progress.stall().as_secs()
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}
