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

    /// What a stalled wait saw, in its own words: a counter that stopped,
    /// a counter never read, or no counter at all (then only time passed).
    fn stall_reason(&self) -> String {
        let limit = humantime::format_duration(self.progress.stall());
        match (self.progress, self.last) {
            (Progress::Nothing | Progress::Within(_), _) => {
                format!("{limit} went by (no pass counter to wait on here)")
            }
            (_, None) => format!("the bot's pass counter could not be read for {limit}"),
            (_, Some(_)) => format!("the bot finished no pass for {limit}"),
        }
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
                "step did not happen, and {}: {what}",
                watch.stall_reason()
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Wait until the bot has finished `n` more passes. The first may have
/// begun before the call, so "one whole pass saw it" takes `n >= 2`.
pub async fn wait_passes(progress: &Progress, n: u64) -> Result<()> {
    let what = format!("waiting for {n} passes");
    over_passes(progress, n, &what, || async { Ok(false) }).await
}

/// Check that `happened` stays `false` while the bot makes `passes` whole
/// passes (at least 2: the first may have begun before the call).
pub async fn stays<F, Fut>(progress: &Progress, what: &str, passes: u64, happened: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let what = format!("checking that nothing happens: {what}");
    over_passes(progress, passes.max(2), &what, happened).await
}

/// Ask `happened` (an error once it is true) until the bot finished `n`
/// more passes.
async fn over_passes<F, Fut>(progress: &Progress, n: u64, what: &str, mut happened: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let mut watch = Watch::new(progress).await;
    loop {
        if happened().await? {
            return Err(Error::world(format!("it happened but should not ({what})")));
        }
        if watch.passes().await >= n {
            return Ok(());
        }
        if watch.stalled() {
            return Err(Error::world(format!("{} ({what})", watch.stall_reason())));
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// A `/metrics` whose pass counter moves by `step` each time it is read.
    async fn counting_metrics(step: u64) -> Progress {
        let passes = Arc::new(AtomicU64::new(0));
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let n = passes.fetch_add(step, Ordering::SeqCst);
                async move { format!("stagecoach_passes_total {n}\n") }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("listen");
        let addr = listener.local_addr().expect("addr").to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Progress::Serve {
            http: crate::engine::http::client_builder()
                .build()
                .expect("client"),
            addr,
        }
    }

    #[tokio::test]
    async fn a_step_is_given_up_after_the_bots_passes_not_a_time() {
        let progress = counting_metrics(PATIENCE / 4).await;
        let e = wait_for(&progress, "never", || async { Ok(None::<()>) })
            .await
            .expect_err("gives up");
        assert!(e.to_string().contains("passes of the bot: never"), "{e}");
    }

    #[tokio::test]
    async fn nothing_happening_is_checked_over_whole_passes() {
        let progress = counting_metrics(1).await;
        stays(&progress, "quiet", 2, || async { Ok(false) })
            .await
            .expect("stays quiet");
        let e = stays(&progress, "loud", 2, || async { Ok(true) })
            .await
            .expect_err("it happened");
        assert!(e.to_string().contains("loud"), "{e}");
        wait_passes(&progress, 3).await.expect("passes come");
    }

    #[tokio::test]
    async fn a_wait_where_no_bot_counts_has_only_its_own_bound() {
        let e = wait_for(
            &Progress::Within(Duration::from_millis(300)),
            "never",
            || async { Ok(None::<()>) },
        )
        .await
        .expect_err("gives up");
        assert!(
            e.to_string()
                .contains("300ms went by (no pass counter to wait on here): never"),
            "{e}"
        );
    }

    #[test]
    fn a_wait_on_a_counter_it_cannot_read_says_so() {
        let progress = Progress::Serve {
            http: crate::engine::http::client_builder()
                .build()
                .expect("client"),
            addr: "127.0.0.1:9".into(),
        };
        // As a wait whose every read of `/metrics` failed.
        let watch = Watch {
            progress: &progress,
            from: None,
            last: None,
            moved_at: Instant::now(),
        };
        assert!(
            watch
                .stall_reason()
                .contains("pass counter could not be read"),
            "{}",
            watch.stall_reason()
        );
    }
}
