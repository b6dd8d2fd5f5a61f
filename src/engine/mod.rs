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
pub mod freeze;
pub mod gates;
pub mod hotfix;
pub mod http;
pub mod inflight;
pub mod lease;
pub mod observe;
pub mod policy_guard;
pub mod product;
pub mod promote;
pub mod reconcile;
pub mod reject;
pub mod rejection;
pub mod release;
pub mod roads;
pub mod scope;
pub mod snapshot;
pub mod stability;
pub mod staging;
pub mod tag;
#[cfg(test)]
pub(crate) mod tests;
pub mod text;
pub mod trailer;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::forge::{Forge, RepoId};
use crate::git::workspace::{GitAuth, Identity, TokenRenewal, Workspace};
use crate::policy::Policy;

pub use action::Action;
pub use reconcile::reconcile;

/// Notes ref holding a product tag's final stability score.
pub const NOTES_STABILITY: &str = "refs/notes/stability";
/// Notes ref holding the samples taken while a tag is on staging.
pub const NOTES_SAMPLES: &str = "refs/notes/stability-samples";
/// Notes ref holding a product tag's rejects and un-rejects (`rejection.rs`).
pub const NOTES_REJECTIONS: &str = "refs/notes/rejections";
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

/// Where an action's outcome is noted: the journal, the log, the metrics.
#[derive(Clone)]
pub(crate) struct Recorder {
    journal: Arc<Mutex<Vec<JournalEntry>>>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    clock: Arc<dyn Clock>,
}

/// Numbers each action this process starts, so its `started` and
/// `finished` log lines pair up (a crash leaves a `started` alone).
static ACTION_SEQ: AtomicU64 = AtomicU64::new(0);

/// One structured log line about an action: `$what` is the message, the
/// fields are the same on every line (kind, pr, component, version, tag, env).
macro_rules! action_line {
    ($action:expr, $seq:expr, $outcome:expr, $what:literal) => {{
        let f = action_fields($action);
        tracing::info!(
            action = %$action.describe(),
            kind = action_kind($action),
            seq = $seq,
            outcome = $outcome,
            pr = f.pr,
            component = f.component.as_deref().unwrap_or(""),
            version = f.version.as_deref().unwrap_or(""),
            tag = f.tag.as_deref().unwrap_or(""),
            env = f.env.as_deref().unwrap_or(""),
            trailers = %f.trailers.join("; "),
            $what
        );
    }};
}

impl Recorder {
    /// The end of an action (`seq` from [`Recorder::started`]).
    pub(crate) fn finished(&self, action: &Action, seq: u64, outcome: &str) {
        action_line!(action, seq, outcome, "stagecoach action finished");
        self.note(action, outcome);
    }

    /// A gate's verdict, after the action that started it has finished.
    pub(crate) fn record(&self, action: &Action, outcome: &str) {
        action_line!(action, 0u64, outcome, "stagecoach gate verdict");
        self.note(action, outcome);
    }

    /// The start of an action; its number for the `finished` line.
    fn started(&self, action: &Action) -> u64 {
        let seq = ACTION_SEQ.fetch_add(1, Ordering::SeqCst) + 1;
        action_line!(action, seq, "", "stagecoach action started");
        seq
    }

    /// The action's outcome in the metrics and the journal.
    fn note(&self, action: &Action, outcome: &str) {
        if let Some(m) = &self.metrics {
            let result = if outcome.starts_with("failed") {
                "failed"
            } else {
                "ok"
            };
            m.action(action_kind(action), result);
            match action {
                Action::SetRiskLabel { level, .. } => m.decision(level.as_str(), "risk_label"),
                Action::DeployCi { risk, .. } => m.decision(risk.as_str(), "deploy_ci"),
                _ => {}
            }
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
}

/// What the last pass saw: the policy it read and the snapshot it decided on.
/// Read-side views (the dashboard, `/metrics`) use it instead of observing again.
#[derive(Debug, Clone)]
pub struct Observed {
    pub policy: Policy,
    pub snapshot: snapshot::Snapshot,
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
    journal: Arc<Mutex<Vec<JournalEntry>>>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    /// Gates (health watches, smoke runs) running in the background.
    inflight: Arc<inflight::InFlight>,
    /// What the bot read, and what it must read again (hints, own writes).
    scope: Arc<scope::Scope>,
    /// The forge account the bot acts as (asked once).
    me: tokio::sync::OnceCell<String>,
    /// Passes made since start: the progress tests and `/metrics` follow.
    passes: std::sync::atomic::AtomicU64,
    /// One user of a repo's cache at a time (the reconcile loop, a promotion
    /// and the dashboard may all want the same repo).
    repo_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The last pass's view of the world, for readers.
    last: RwLock<Option<Arc<Observed>>>,
    /// How many more actions this engine may start (tests stop it mid-flow
    /// to play a crash); `None` is no limit.
    stop_after: Option<AtomicUsize>,
    /// The last good policy and what is wrong with main's, if anything.
    policy_guard: policy_guard::PolicyGuard,
    /// Each landscape as last read, by its head (see `observe.rs`).
    landscape_reads: observe::LandscapeReads,
    /// The product's PR changes and tag manifests, by commit (`observe.rs`).
    product_reads: Arc<observe::ProductReads>,
    /// Who this bot is and how long its lease lasts, when it must hold the
    /// lease to act (`serve`; see `lease.rs`).
    lease: Option<(String, chrono::Duration)>,
    /// Until when this bot's lease is known to be its own.
    lease_until: Mutex<Option<DateTime<Utc>>>,
    /// One renewal at a time: the roads of a pass, acting side by side, all
    /// find the lease half gone at once; one renews, the others see it.
    lease_renewal: tokio::sync::Mutex<()>,
}

impl Engine {
    pub fn new(config: Config, forge: Arc<dyn Forge>) -> Self {
        let auth = GitAuth::with_token(config.token());
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
            journal: Arc::new(Mutex::new(Vec::new())),
            metrics: None,
            inflight: Arc::new(inflight::InFlight::default()),
            scope: Arc::new(scope::Scope::default()),
            me: tokio::sync::OnceCell::new(),
            passes: std::sync::atomic::AtomicU64::new(0),
            repo_locks: Mutex::new(HashMap::new()),
            last: RwLock::new(None),
            stop_after: None,
            policy_guard: Default::default(),
            landscape_reads: Default::default(),
            product_reads: Default::default(),
            lease: None,
            lease_until: Mutex::new(None),
            lease_renewal: tokio::sync::Mutex::new(()),
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

    /// Act only while holding the product repo's lease, as `holder` (one
    /// running bot at a time; see `lease.rs`).
    pub fn with_lease(mut self, holder: String, ttl: std::time::Duration) -> Self {
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(30));
        self.lease = Some((holder, ttl));
        self
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

    /// What the last pass observed, if any pass ran yet.
    pub fn last_observed(&self) -> Option<Arc<Observed>> {
        self.last.read().ok().and_then(|l| l.clone())
    }

    /// Keep `policy` and `snapshot` as the latest view of the world.
    pub fn remember(&self, policy: Policy, snapshot: snapshot::Snapshot) {
        if let Ok(mut l) = self.last.write() {
            *l = Some(Arc::new(Observed { policy, snapshot }));
        }
    }

    /// Carry out one action and note it in the journal, logs and metrics.
    pub async fn run_action(
        &self,
        policy: &Policy,
        snap: &snapshot::Snapshot,
        action: &Action,
    ) -> Result<String> {
        let recorder = self.recorder();
        let seq = recorder.started(action);
        match self.execute(policy, snap, action).await {
            Ok(outcome) => {
                recorder.finished(action, seq, &outcome);
                Ok(outcome)
            }
            Err(e) => {
                recorder.finished(action, seq, &format!("failed: {e}"));
                Err(e)
            }
        }
    }

    /// The journal, logs and metrics, for a gate that ends after its pass.
    fn recorder(&self) -> Recorder {
        Recorder {
            journal: Arc::clone(&self.journal),
            metrics: self.metrics.clone(),
            clock: Arc::clone(&self.clock),
        }
    }

    /// Gates running in the background now.
    pub fn gates_running(&self) -> std::collections::BTreeSet<String> {
        self.inflight.keys()
    }

    /// Changes each time a gate finishes: the loop's cue to look again.
    pub fn gate_finished(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inflight.subscribe()
    }

    /// A webhook arrived: the next pass reads what it names.
    pub fn hint(&self, event: &crate::forge::webhook::Event) {
        self.scope.take(&scope::Hint::from(event));
    }

    /// Passes made since start.
    pub fn passes(&self) -> u64 {
        self.passes.load(Ordering::SeqCst)
    }

    /// Components the sweep has read since start.
    pub fn swept(&self) -> u64 {
        self.scope.swept()
    }

    /// The login the forge token acts as, asked once.
    pub async fn me(&self) -> Result<String> {
        self.me
            .get_or_try_init(|| self.forge.whoami())
            .await
            .cloned()
    }

    /// Stop the gates in flight (shutdown); a restart starts them again.
    pub fn abort_gates(&self) {
        self.inflight.abort_all();
    }

    /// Run `f` with a fresh, fetched workspace of `repo` on a blocking thread.
    pub async fn with_repo<T, F>(&self, repo: &RepoId, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Workspace) -> Result<T> + Send + 'static,
    {
        let url = self.config.git_url(repo);
        let cache = self.config.git.cache_dir.clone();
        let identity = self.identity.clone();
        let lock = self
            .repo_locks
            .lock()
            .map(|mut m| m.entry(url.clone()).or_default().clone())
            .unwrap_or_default();
        let _guard = lock.lock().await;
        // Taken once the repo is ours, so it is fresh when git sends it.
        // A GitHub App's git token is minted by the forge client, not configured.
        let auth = match self.forge.git_token().await? {
            Some(token) => {
                // Refused mid-road (revoked, or expired early): the forge
                // mints another, once, from git's own thread.
                let forge = self.forge.clone();
                let runtime = tokio::runtime::Handle::current();
                let renew: TokenRenewal = Arc::new(move |refused: &str| {
                    match runtime.block_on(forge.git_token_refused(refused)) {
                        Ok(fresh) => fresh,
                        Err(e) => {
                            tracing::warn!("git: a new token for the remote: {e}");
                            None
                        }
                    }
                });
                GitAuth {
                    token: Some(token),
                    renew: Some(renew),
                }
            }
            None => self.auth.clone(),
        };
        tokio::task::spawn_blocking(move || {
            let ws = Workspace::open(&cache, &url, &auth, &identity)?;
            f(&ws)
        })
        .await
        .map_err(|e| Error::world(format!("git worker stopped: {e}")))?
    }

    /// One pass over the whole world: observe everything, decide, act.
    /// Returns what was decided.
    pub async fn pass(&self) -> Result<Vec<Action>> {
        self.pass_with(false).await
    }

    /// One pass; `scoped` reads only what changed (see `scope.rs`).
    async fn pass_with(&self, scoped: bool) -> Result<Vec<Action>> {
        let started = std::time::Instant::now();
        let policy = self.guarded_policy().await?;
        tracing::debug!(
            policy_ms = started.elapsed().as_millis() as u64,
            "policy read"
        );
        let snap = self.observe_with(&policy, scoped).await?;
        let mut actions = reconcile(&policy, &snap);
        // A twin holding the lease acts; this one only keeps its view.
        if !actions.is_empty() && !self.may_act().await? {
            actions.clear();
        }
        self.remember(policy.clone(), snap.clone());
        if let (Some(m), Some(o)) = (&self.metrics, self.last_observed()) {
            m.set_road(crate::status::road_metrics(&o));
            m.count_delivery(crate::delivery::events(
                &crate::delivery::Record::from_observed(&o),
            ));
        }
        let result = self.act(&policy, &snap, &actions).await;
        self.passes.fetch_add(1, Ordering::SeqCst);
        if let Some(m) = &self.metrics {
            m.pass();
        }
        result.map(|()| actions)
    }

    async fn act(
        &self,
        policy: &Policy,
        snap: &snapshot::Snapshot,
        actions: &[Action],
    ) -> Result<()> {
        // The roads of a pass are acted on side by side, each in its decided
        // order: one road's slow write (a landscape push at 1,000
        // components, a forge call held by the budget) no longer makes every
        // road decided after it wait. Writes to one repo stay one at a time
        // (`with_repo`'s lock, and the compare-and-swap push behind it); the
        // forge's request budget bounds what reaches GitHub.
        let lease_lost = std::sync::atomic::AtomicBool::new(false);
        let bumps: HashMap<u64, Vec<String>> = snap
            .product
            .pulls
            .iter()
            .map(|p| {
                let components = p.changes.iter().flatten().map(|c| c.component.clone());
                (p.pr.number, components.collect())
            })
            .collect();
        let roads = roads::roads_of(actions, &snap.product.repo, &bumps);
        // The futures are made before the stream (not by a closure inside
        // it), which keeps the pass's future `Send` for the bot's task.
        let mut on_roads = Vec::with_capacity(roads.len());
        for road in &roads {
            on_roads.push(self.act_on_road(policy, snap, road, &lease_lost));
        }
        let (acted, acting) = tokio::sync::watch::channel(false);
        let roads_done = async {
            let outcomes: Vec<Result<()>> = futures_util::stream::iter(on_roads)
                .buffered(roads::ROADS_AT_ONCE)
                .collect()
                .await;
            let _ = acted.send(true);
            outcomes
        };
        let (outcomes, ()) = tokio::join!(roads_done, self.keep_lease_while(acting, &lease_lost));
        // The first failure in decided order is the pass's error.
        outcomes.into_iter().find(Result::is_err).unwrap_or(Ok(()))
    }

    /// One road's actions of a pass, in order. An action that fails holds
    /// back the rest of its own road (its PR, component, environment or tag)
    /// until the next pass, never the other roads: one revert that cannot
    /// apply must not starve every action decided after it, pass after pass.
    async fn act_on_road(
        &self,
        policy: &Policy,
        snap: &snapshot::Snapshot,
        road: &[&Action],
        lease_lost: &std::sync::atomic::AtomicBool,
    ) -> Result<()> {
        for (i, action) in road.iter().enumerate() {
            if lease_lost.load(Ordering::SeqCst) {
                return Ok(());
            }
            self.spend_action()?;
            // Each action starts with the lease known to be ours for a while
            // yet, or a twin that took it over could do the same.
            if !self.may_act().await? {
                if !lease_lost.swap(true, Ordering::SeqCst) {
                    tracing::info!("the lease went to another Stagecoach: leaving the rest to it");
                }
                return Ok(());
            }
            let outcome = self.run_action(policy, snap, action).await;
            // Whatever happened, what the action touched is read again.
            let component_repo = action_component(action)
                .and_then(|c| snap.components.iter().find(|v| v.name == c))
                .map(|v| v.repo.clone());
            self.scope
                .touched(&snap.product.repo, action, component_repo.as_ref());
            if let Err(e) = outcome {
                for held in &road[i + 1..] {
                    tracing::debug!(action = %held.describe(), "held back: an earlier action of its road failed");
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Pass after pass until nothing is left to do (or the bound is hit, in
    /// which case the next tick goes on). Returns the number of actions taken.
    pub async fn converge(&self) -> Result<usize> {
        let result = self.converge_passes().await;
        // Keep the forge's conditional-request cache for the next start.
        if let Err(e) = self.forge.checkpoint().await {
            tracing::warn!("{e}");
        }
        result
    }

    async fn converge_passes(&self) -> Result<usize> {
        let mut total = 0;
        let mut finished = self.inflight.subscribe();
        for _ in 0..MAX_PASSES {
            finished.borrow_and_update();
            let done = self.pass().await?;
            total += done.len();
            if done.is_empty() {
                if self.inflight.is_empty() {
                    return Ok(total);
                }
                // Only gates are left: their verdicts are the next steps.
                let _ = finished.changed().await;
            }
        }
        Ok(total)
    }

    /// Passes until a pass decides nothing, without waiting for gates: the
    /// bot's loop, which a finished gate wakes again. Returns the actions taken.
    pub async fn step(&self) -> Result<usize> {
        let mut total = 0;
        for _ in 0..MAX_PASSES {
            let done = self.pass_with(true).await?;
            if done.is_empty() {
                break;
            }
            total += done.len();
        }
        if let Err(e) = self.forge.checkpoint().await {
            tracing::warn!("{e}");
        }
        Ok(total)
    }

    /// Dry run: what the next pass would do, and nothing else.
    /// The view it decided on is kept (`last_observed`), so `plan` can say
    /// what waits and why.
    pub async fn plan(&self) -> Result<Vec<Action>> {
        let policy = self.load_policy().await?;
        let snap = self.observe(&policy).await?;
        let actions = reconcile(&policy, &snap);
        self.remember(policy, snap);
        Ok(actions)
    }

    pub async fn policy(&self) -> Result<Policy> {
        self.load_policy().await
    }
}

/// The component an action is about, if one.
fn action_component(action: &Action) -> Option<&str> {
    match action {
        Action::TagComponent { component, .. } => Some(component),
        Action::OpenProductPr { change, .. } | Action::Hotfix { change, .. } => {
            Some(&change.component)
        }
        _ => None,
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
        Action::RebuildProductPr { .. } => "rebuild_product_pr",
        Action::DeployCi { .. } => "deploy_ci",
        Action::WatchCiHealth { .. } => "watch_ci_health",
        Action::Rollback { .. } => "rollback",
        Action::CreatePrEnv { .. } => "create_pr_env",
        Action::RunSmoke { .. } => "smoke",
        Action::TeardownPrEnv { .. } => "teardown_pr_env",
        Action::ClosePull { .. } => "close_pull",
        Action::Merge { .. } => "merge",
        Action::TagProduct { .. } => "tag_product",
        Action::Promote { .. } => "promote",
        Action::WatchPromotion { .. } => "watch_promotion",
        Action::SampleStability { .. } => "sample_stability",
        Action::FinalizeStability { .. } => "finalize_stability",
        Action::Hotfix { .. } => "hotfix",
        Action::Reject { .. } => "reject",
    }
}

/// What a log line says about an action besides its description: the PR,
/// component, version, tag and environment it touches, and the
/// `Stagecoach-*` trailers its commit or tag carries.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ActionFields {
    /// The product PR (or, for a hotfix, the component PR); 0 when none.
    pub pr: u64,
    pub component: Option<String>,
    pub version: Option<String>,
    pub tag: Option<String>,
    pub env: Option<String>,
    pub trailers: Vec<String>,
}

pub fn action_fields(action: &Action) -> ActionFields {
    let mut f = ActionFields::default();
    let change = |f: &mut ActionFields, c: &snapshot::ComponentChange| {
        f.component = Some(c.component.clone());
        f.version = Some(c.to.to_string());
        f.trailers
            .push(format!("Stagecoach-Component: {}@{}", c.component, c.to));
    };
    match action {
        Action::Comment { pr, .. } | Action::SetRiskLabel { pr, .. } => f.pr = *pr,
        Action::SetStatus { .. } => {}
        Action::TagComponent {
            component, version, ..
        } => {
            f.component = Some(component.clone());
            f.version = Some(version.to_string());
            f.trailers.push("Stagecoach-Action: tag".into());
            f.trailers
                .push(format!("Stagecoach-Component: {component}@{version}"));
        }
        Action::OpenProductPr { change: c, .. } => change(&mut f, c),
        Action::RebuildProductPr { pr, change: c, .. } => {
            f.pr = *pr;
            change(&mut f, c);
        }
        Action::DeployCi {
            pr,
            change: c,
            risk,
            ..
        } => {
            f.pr = *pr;
            f.env = Some("ci".into());
            f.trailers.push("Stagecoach-Action: bump".into());
            change(&mut f, c);
            f.trailers.push(format!("Stagecoach-Risk: {risk}"));
        }
        Action::WatchCiHealth { pr, change: c, .. }
        | Action::CreatePrEnv { pr, change: c, .. }
        | Action::RunSmoke { pr, change: c, .. } => {
            f.pr = *pr;
            change(&mut f, c);
        }
        Action::Rollback { env, commit, .. } => {
            f.env = Some(env.clone());
            f.trailers.push("Stagecoach-Action: rollback".into());
            f.trailers.push(format!("Stagecoach-Reverts: {commit}"));
        }
        Action::TeardownPrEnv { pr } | Action::Merge { pr, .. } | Action::ClosePull { pr, .. } => {
            f.pr = *pr
        }
        Action::TagProduct {
            version,
            changes,
            previous,
            ..
        } => {
            f.tag = Some(format!("v{version}"));
            f.trailers.push("Stagecoach-Action: tag".into());
            if let Some(p) = previous {
                f.trailers.push(format!("Stagecoach-From: {p}"));
            }
            for c in changes {
                change(&mut f, c);
            }
            if changes.len() != 1 {
                f.component = None;
                f.version = None;
            }
        }
        Action::Promote {
            env,
            tag,
            wave,
            waves,
            override_reason,
            requested_by,
            ..
        } => {
            f.env = Some(env.clone());
            f.tag = Some(tag.clone());
            f.trailers.push("Stagecoach-Action: promote".into());
            if let Some(who) = requested_by {
                f.trailers.push(format!("{}: {who}", trailer::REQUESTED_BY));
            }
            f.trailers.push(format!("Stagecoach-Product: {tag}"));
            f.trailers.push(format!("Stagecoach-Wave: {wave}/{waves}"));
            if let Some(r) = override_reason {
                f.trailers.push(format!("Stagecoach-Override: {r}"));
            }
        }
        Action::WatchPromotion { env, tag, .. } => {
            f.env = Some(env.clone());
            f.tag = Some(tag.clone());
        }
        Action::SampleStability { tag } | Action::FinalizeStability { tag } => {
            f.tag = Some(tag.clone())
        }
        Action::Hotfix {
            base,
            tag,
            change: c,
            source,
            requested_by,
        } => {
            f.tag = Some(tag.clone());
            f.trailers.push("Stagecoach-Action: hotfix".into());
            f.trailers.push(format!("Stagecoach-Product: {tag}"));
            f.trailers.push(format!("Stagecoach-From: {base}"));
            f.trailers.push(format!("Stagecoach-Hotfix-For: {source}"));
            f.trailers
                .push(format!("{}: {requested_by}", trailer::REQUESTED_BY));
            change(&mut f, c);
        }
        Action::Reject { tag, .. } => f.tag = Some(tag.clone()),
    }
    f
}
