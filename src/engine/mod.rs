//! The promotion engine: observe the world, decide (pure), act (idempotent).
//!
//! ```text
//! webhook / resync / schedule ──> Engine::converge
//!     observe (git + forge) ──> Snapshot ──> reconcile (pure) ──> Vec<Action> ──> execute
//! ```
//! A webhook only makes the next pass come sooner; every pass starts from
//! what git and the forge say now, so a lost, repeated or reordered event, or
//! a restart, changes nothing about where the road ends.

pub mod action;
pub mod authority;
pub mod component;
pub mod execute;
pub mod gates;
pub mod hotfix;
pub mod http;
pub mod observe;
pub mod product;
pub mod promote;
pub mod reconcile;
pub mod release;
pub mod snapshot;
pub mod stability;
pub mod staging;
pub mod tag;
pub mod text;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::forge::{Forge, RepoId};
use crate::git::workspace::{GitAuth, Identity, Workspace};
use crate::policy::Policy;

pub use action::Action;
pub use reconcile::reconcile;

/// Notes ref holding a product tag's final stability score.
pub const NOTES_STABILITY: &str = "refs/notes/stability";
/// Notes ref holding the samples taken while a tag is on staging.
pub const NOTES_SAMPLES: &str = "refs/notes/stability-samples";
/// Commit-status context the bot sets on landscape commits it watched.
pub const HEALTH_CONTEXT: &str = "stagecoach/health";
/// The most passes one `converge` makes before it yields to the next tick.
const MAX_PASSES: usize = 40;

/// The clock is an input like any other, so tests and the demo can say when.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// One line of the bot's journal: what it did, when, and how it went.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JournalEntry {
    pub at: DateTime<Utc>,
    pub action: String,
    pub outcome: String,
}

/// The shell around the pure engine: where the forge and the repos are.
pub struct Engine {
    pub config: Config,
    pub forge: Arc<dyn Forge>,
    pub clock: Arc<dyn Clock>,
    pub auth: GitAuth,
    pub identity: Identity,
    /// Where commands (health, smoke) run; never a checkout of a PR branch.
    pub workdir: PathBuf,
    journal: Mutex<Vec<JournalEntry>>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    /// One user of a repo's cache at a time (the reconcile loop, a promotion
    /// and the dashboard may all want the same repo).
    repo_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// How many more actions this engine may start (tests stop it mid-flow
    /// to play a crash); `None` is no limit.
    stop_after: Option<AtomicUsize>,
}

impl Engine {
    pub fn new(config: Config, forge: Arc<dyn Forge>) -> Self {
        let auth = GitAuth {
            token: config.token(),
        };
        let identity = Identity {
            name: config.git.name.clone(),
            email: config.git.email.clone(),
        };
        let workdir = config.git.cache_dir.clone();
        Self {
            config,
            forge,
            clock: Arc::new(SystemClock),
            auth,
            identity,
            workdir,
            journal: Mutex::new(Vec::new()),
            metrics: None,
            repo_locks: Mutex::new(HashMap::new()),
            stop_after: None,
        }
    }

    /// Stop (with an error, like a crash) before the action after the
    /// `actions`th: a test's way to kill the bot between two actions.
    pub fn with_stop_after(mut self, actions: usize) -> Self {
        self.stop_after = Some(AtomicUsize::new(actions));
        self
    }

    /// Take one action from the budget, or say the engine is stopped.
    fn spend_action(&self) -> Result<()> {
        let Some(left) = &self.stop_after else {
            return Ok(());
        };
        left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .map(|_| ())
            .map_err(|_| Error::world("stopped: the engine's action budget is spent"))
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Recent actions, newest last (for the demo's timeline and the dashboard).
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.journal.lock().map(|j| j.clone()).unwrap_or_default()
    }

    /// Carry out one action and note it in the journal, logs and metrics.
    pub async fn run_action(
        &self,
        policy: &Policy,
        snap: &snapshot::Snapshot,
        action: &Action,
    ) -> Result<String> {
        match self.execute(policy, snap, action).await {
            Ok(outcome) => {
                self.record(action, &outcome);
                Ok(outcome)
            }
            Err(e) => {
                self.record(action, &format!("failed: {e}"));
                Err(e)
            }
        }
    }

    fn record(&self, action: &Action, outcome: &str) {
        tracing::info!(action = %action.describe(), outcome, "stagecoach action");
        if let Some(m) = &self.metrics {
            let result = if outcome.starts_with("failed") {
                "failed"
            } else {
                "ok"
            };
            m.action(action_kind(action), result);
        }
        if let Ok(mut j) = self.journal.lock() {
            j.push(JournalEntry {
                at: self.clock.now(),
                action: action.describe(),
                outcome: outcome.to_string(),
            });
            let len = j.len();
            if len > 500 {
                j.drain(..len - 500);
            }
        }
    }

    /// Run `f` with a fresh, fetched workspace of `repo` on a blocking thread.
    pub async fn with_repo<T, F>(&self, repo: &RepoId, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Workspace) -> Result<T> + Send + 'static,
    {
        let url = self.config.git_url(repo);
        let cache = self.config.git.cache_dir.clone();
        let auth = self.auth.clone();
        let identity = self.identity.clone();
        let lock = self
            .repo_locks
            .lock()
            .map(|mut m| m.entry(url.clone()).or_default().clone())
            .unwrap_or_default();
        let _guard = lock.lock().await;
        tokio::task::spawn_blocking(move || {
            let ws = Workspace::open(&cache, &url, &auth, &identity)?;
            f(&ws)
        })
        .await
        .map_err(|e| Error::world(format!("git worker stopped: {e}")))?
    }

    /// One pass: observe, decide, act. Returns what was decided.
    pub async fn pass(&self) -> Result<Vec<Action>> {
        let policy = self.load_policy().await?;
        let snap = self.observe(&policy).await?;
        let actions = reconcile(&policy, &snap);
        for action in &actions {
            self.spend_action()?;
            self.run_action(&policy, &snap, action).await?;
        }
        Ok(actions)
    }

    /// Pass after pass until nothing is left to do (or the bound is hit, in
    /// which case the next tick goes on). Returns the number of actions taken.
    pub async fn converge(&self) -> Result<usize> {
        let mut total = 0;
        for _ in 0..MAX_PASSES {
            let done = self.pass().await?;
            if done.is_empty() {
                return Ok(total);
            }
            total += done.len();
        }
        Ok(total)
    }

    /// Dry run: what the next pass would do, and nothing else.
    pub async fn plan(&self) -> Result<Vec<Action>> {
        let policy = self.load_policy().await?;
        let snap = self.observe(&policy).await?;
        Ok(reconcile(&policy, &snap))
    }

    pub async fn policy(&self) -> Result<Policy> {
        self.load_policy().await
    }
}

/// The metric label of an action.
pub fn action_kind(action: &Action) -> &'static str {
    match action {
        Action::Comment { .. } => "comment",
        Action::SetStatus { .. } => "status",
        Action::SetRiskLabel { .. } => "risk_label",
        Action::TagComponent { .. } => "tag_component",
        Action::OpenProductPr { .. } => "open_product_pr",
        Action::DeployCi { .. } => "deploy_ci",
        Action::WatchCiHealth { .. } => "watch_ci_health",
        Action::Rollback { .. } => "rollback",
        Action::CreatePrEnv { .. } => "create_pr_env",
        Action::RunSmoke { .. } => "smoke",
        Action::TeardownPrEnv { .. } => "teardown_pr_env",
        Action::Merge { .. } => "merge",
        Action::TagProduct { .. } => "tag_product",
        Action::Promote { .. } => "promote",
        Action::WatchPromotion { .. } => "watch_promotion",
        Action::SampleStability { .. } => "sample_stability",
        Action::FinalizeStability { .. } => "finalize_stability",
        Action::Hotfix { .. } => "hotfix",
    }
}
