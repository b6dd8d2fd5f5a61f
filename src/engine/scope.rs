//! What the bot's next pass looks at, so the cost of an event grows with the
//! change and not with the number of components.
//!
//! A pass of the running bot reads the product and the landscapes (a few
//! requests however many components there are) and, of the components, only
//! those a hint named (a webhook), those the bot itself wrote to, those not
//! read yet, and the sweep's share: every component is read again within the
//! sweep period, a slice per pass, which heals a lost delivery. A PR whose
//! listing did not change (same head, `updated_at`, state and labels) keeps
//! the details read before (statuses, reviews, comments, permissions) unless
//! a hint or one of the bot's own writes says otherwise.
//!
//! The decisions do not know about any of this: they get a `Snapshot` as
//! before, and the same snapshot still gives the same actions.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::forge::{PullRequest, RepoId, StatusState};

use super::action::Action;
use super::snapshot::{ComponentView, LandscapeAsks};

/// The details of a product PR that cost requests to read.
#[derive(Debug, Clone)]
pub struct ProductPullDetail {
    pub statuses: BTreeMap<String, crate::forge::CommitStatus>,
    pub reviews: Vec<crate::forge::Review>,
    pub approve_comments: Vec<(String, u64)>,
    pub approvers: BTreeMap<String, super::snapshot::Authority>,
    pub sticky: BTreeMap<String, String>,
}

/// The details of a component PR that cost requests to read.
#[derive(Debug, Clone)]
pub struct ComponentPullDetail {
    pub statuses: BTreeMap<String, crate::forge::CommitStatus>,
    pub hotfix_actor: Option<(String, super::snapshot::Authority)>,
    pub sticky: BTreeMap<String, String>,
}

/// A landscape commit's health verdict and when it was set.
pub type HealthVerdict = (StatusState, Option<DateTime<Utc>>);

#[derive(Default)]
struct State {
    /// Generation of the newest hint per repo (full name); a read that
    /// started before a newer hint does not clear it.
    dirty_repos: BTreeMap<String, u64>,
    /// PRs named by a hint or touched by the bot: (repo, number).
    dirty_pulls: BTreeSet<(String, u64)>,
    /// Commits whose statuses the bot changed: (repo, sha).
    dirty_shas: BTreeSet<(String, String)>,
    generation: u64,
    components: BTreeMap<String, ComponentView>,
    product_pulls: BTreeMap<u64, (String, ProductPullDetail)>,
    component_pulls: BTreeMap<(String, u64), (String, ComponentPullDetail)>,
    asks: BTreeMap<(String, u64), (String, LandscapeAsks)>,
    /// Health verdicts of landscape commits as last read (`None`: no
    /// verdict yet): (repo, sha). Dropped by a status hint or a gate's end.
    health: BTreeMap<(String, String), Option<HealthVerdict>>,
    /// PR listings of the product and the landscapes, with when they were
    /// read: read again when the repo is hinted or written, or when old.
    listings: BTreeMap<String, (DateTime<Utc>, Vec<PullRequest>)>,
    releases: Option<(DateTime<Utc>, Vec<crate::forge::Release>)>,
    /// Repos whose listings must be read again.
    stale: BTreeSet<String>,
    /// The sweep: where it is in the component list, and its last step.
    cursor: usize,
    swept_at: Option<DateTime<Utc>>,
    /// Fractions of a component owed to the sweep by short passes.
    owed: f64,
    /// Components read by the sweep since start, for `/metrics`.
    swept: u64,
}

/// The engine's memory of what it read, and of what it must read again.
#[derive(Default)]
pub struct Scope {
    state: Mutex<State>,
}

/// The components one pass reads, and the generation to clear them at.
pub struct ReadPlan {
    pub repos: BTreeSet<String>,
    generation: u64,
}

/// What makes a PR's listing "the same": if none of it moved, nothing a
/// decision reads about the PR moved either, unless the bot wrote (and then
/// it marks the PR itself) or a status changed (statuses on product PRs are
/// the bot's own; see `touched`).
pub fn fingerprint(pr: &PullRequest) -> String {
    format!(
        "{} {:?} {:?} {} {}",
        pr.head_sha,
        pr.updated_at,
        pr.state,
        pr.merged,
        pr.labels.join("\u{1f}")
    )
}

/// What a webhook tells the engine: where to look, nothing more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub repo: RepoId,
    pub pr: Option<u64>,
    /// A commit whose statuses changed.
    pub sha: Option<String>,
}

impl From<&crate::forge::webhook::Event> for Hint {
    fn from(event: &crate::forge::webhook::Event) -> Self {
        use crate::forge::webhook::Event;
        let (pr, sha) = match event {
            Event::PullRequest { number, .. }
            | Event::Review { number, .. }
            | Event::IssueComment { number, .. } => (Some(*number), None),
            Event::Status { sha, .. } => (None, Some(sha.clone())),
            Event::CheckRun { head_sha, .. } => (None, Some(head_sha.clone())),
            Event::Push { .. } | Event::Create { .. } | Event::Release { .. } => (None, None),
        };
        Hint {
            repo: event.repo().clone(),
            pr,
            sha,
        }
    }
}

impl Scope {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> Option<T> {
        self.state.lock().ok().map(|mut s| f(&mut s))
    }

    /// A webhook named `repo` (and maybe PR `number`): read them again.
    pub fn hint(&self, repo: &RepoId, number: Option<u64>) {
        self.take(&Hint {
            repo: repo.clone(),
            pr: number,
            sha: None,
        });
    }

    /// Note a hint: its repo, PR and commit are read again by the next pass.
    pub fn take(&self, hint: &Hint) {
        let repo = hint.repo.to_string();
        self.with(|s| {
            s.generation += 1;
            let g = s.generation;
            if let Some(n) = hint.pr {
                s.dirty_pulls.insert((repo.clone(), n));
            }
            if let Some(sha) = &hint.sha {
                s.dirty_shas.insert((repo.clone(), sha.clone()));
                s.health.remove(&(repo.clone(), sha.clone()));
            }
            s.stale.insert(repo.clone());
            s.dirty_repos.insert(repo, g);
        });
    }

    /// The bot did `action`: what it wrote must be read again.
    pub fn touched(&self, product: &RepoId, action: &Action, component_repo: Option<&RepoId>) {
        let product = product.to_string();
        self.with(|s| match action {
            // A component's view is kept whole until its repo is dirty: a
            // write there makes it so, or the next pass would decide the same
            // write again from the view that asked for it.
            Action::Comment { repo, pr, .. } => {
                s.dirty_pulls.insert((repo.to_string(), *pr));
                s.stale.insert(repo.to_string());
                Self::dirty_component(s, &product, repo);
            }
            Action::SetStatus { repo, sha, .. } => {
                s.dirty_shas.insert((repo.to_string(), sha.clone()));
                s.stale.insert(repo.to_string());
                Self::dirty_component(s, &product, repo);
            }
            Action::SetRiskLabel { pr, .. }
            | Action::DeployCi { pr, .. }
            | Action::WatchCiHealth { pr, .. }
            | Action::RunSmoke { pr, .. }
            | Action::CreatePrEnv { pr, .. }
            | Action::TeardownPrEnv { pr }
            | Action::Merge { pr, .. }
            | Action::ClosePull { pr, .. }
            | Action::RebuildProductPr { pr, .. } => {
                s.dirty_pulls.insert((product.clone(), *pr));
                s.stale.insert(product.clone());
            }
            Action::OpenProductPr { .. } | Action::TagComponent { .. } | Action::Hotfix { .. } => {
                s.stale.insert(product.clone());
                s.releases = None;
                if let Some(repo) = component_repo {
                    s.generation += 1;
                    let g = s.generation;
                    s.dirty_repos.insert(repo.to_string(), g);
                    // Opening a product PR ends with a comment on each
                    // source PR. GitHub's `updated_at` has whole seconds, so
                    // a PR commented on within the second it was last read
                    // looks unmoved: its comments must be read again by
                    // name, or the next pass opens the same PR again.
                    if let Action::OpenProductPr { sources, .. } = action {
                        for pr in sources {
                            s.dirty_pulls.insert((repo.to_string(), *pr));
                        }
                    }
                }
            }
            Action::WatchPromotion { commit, .. } => {
                // The verdict lands on the wave's commit: read it again.
                s.health.retain(|(_, sha), _| sha != commit);
            }
            Action::TagProduct { .. } | Action::FinalizeStability { .. } => {
                s.releases = None;
            }
            Action::Rollback { .. }
            | Action::Promote { .. }
            | Action::SampleStability { .. }
            | Action::Reject { .. } => {}
        });
    }

    /// A gate of product PR `pr` recorded its verdict.
    pub fn gate_done(&self, product: &RepoId, pr: Option<u64>) {
        if let Some(pr) = pr {
            self.with(|s| s.dirty_pulls.insert((product.to_string(), pr)));
        }
    }

    /// Which of `all` (component repos, in manifest order) this pass reads:
    /// the unread, the hinted, and the sweep's share of `sweep` (every
    /// component within that period).
    pub fn plan(&self, all: &[String], now: DateTime<Utc>, sweep: Duration) -> ReadPlan {
        self.with(|s| {
            let mut repos: BTreeSet<String> = all
                .iter()
                .filter(|r| !s.components.contains_key(*r) || s.dirty_repos.contains_key(*r))
                .cloned()
                .collect();
            if !all.is_empty() {
                let elapsed = s
                    .swept_at
                    .map(|t| (now - t).to_std().unwrap_or_default())
                    .unwrap_or(sweep);
                let share = if sweep.is_zero() {
                    all.len() as f64
                } else {
                    all.len() as f64 * elapsed.as_secs_f64() / sweep.as_secs_f64() + s.owed
                };
                let take = (share.floor() as usize).min(all.len());
                s.owed = if take == all.len() {
                    0.0
                } else {
                    share - take as f64
                };
                for i in 0..take {
                    repos.insert(all[(s.cursor + i) % all.len()].clone());
                }
                s.cursor = (s.cursor + take) % all.len();
                s.swept += take as u64;
                s.swept_at = Some(now);
            }
            ReadPlan {
                repos,
                generation: s.generation,
            }
        })
        .unwrap_or(ReadPlan {
            repos: all.iter().cloned().collect(),
            generation: 0,
        })
    }

    /// Keep a component read by `plan`; clear its hint unless a newer came.
    pub fn store_component(&self, plan: &ReadPlan, view: &ComponentView) {
        let repo = view.repo.to_string();
        self.with(|s| {
            if s.dirty_repos
                .get(&repo)
                .is_some_and(|g| *g <= plan.generation)
            {
                s.dirty_repos.remove(&repo);
            }
            s.components.insert(repo, view.clone());
        });
    }

    pub fn component(&self, repo: &str) -> Option<ComponentView> {
        self.with(|s| s.components.get(repo).cloned()).flatten()
    }

    /// Mark a component's repo to be read again (not the product's: its
    /// state is read every pass).
    fn dirty_component(s: &mut State, product: &str, repo: &RepoId) {
        let repo = repo.to_string();
        if repo != product && s.components.contains_key(&repo) {
            s.generation += 1;
            let g = s.generation;
            s.dirty_repos.insert(repo, g);
        }
    }

    /// Whether what was read about `pr` of `repo` may be used again.
    fn fresh(s: &mut State, repo: &str, pr: &PullRequest) -> bool {
        let key = (repo.to_string(), pr.number);
        let named = s.dirty_pulls.remove(&key);
        let status = s
            .dirty_shas
            .remove(&(repo.to_string(), pr.head_sha.clone()));
        !named && !status
    }

    pub fn product_pull(&self, repo: &RepoId, pr: &PullRequest) -> Option<ProductPullDetail> {
        let fp = fingerprint(pr);
        self.with(|s| {
            let fresh = Self::fresh(s, &repo.to_string(), pr);
            s.product_pulls
                .get(&pr.number)
                .filter(|(f, _)| fresh && *f == fp)
                .map(|(_, d)| d.clone())
        })
        .flatten()
    }

    pub fn store_product_pull(&self, pr: &PullRequest, detail: &ProductPullDetail) {
        self.with(|s| {
            s.product_pulls
                .insert(pr.number, (fingerprint(pr), detail.clone()))
        });
    }

    pub fn component_pull(&self, repo: &RepoId, pr: &PullRequest) -> Option<ComponentPullDetail> {
        let fp = fingerprint(pr);
        let key = (repo.to_string(), pr.number);
        self.with(|s| {
            let fresh = Self::fresh(s, &key.0, pr);
            s.component_pulls
                .get(&key)
                .filter(|(f, _)| fresh && *f == fp)
                .map(|(_, d)| d.clone())
        })
        .flatten()
    }

    pub fn store_component_pull(&self, repo: &RepoId, pr: &PullRequest, d: &ComponentPullDetail) {
        self.with(|s| {
            s.component_pulls
                .insert((repo.to_string(), pr.number), (fingerprint(pr), d.clone()))
        });
    }

    /// A landscape PR's `/promote` and `/reject` asks as read before, if nothing moved.
    pub fn ask(&self, repo: &RepoId, pr: &PullRequest) -> Option<LandscapeAsks> {
        let fp = fingerprint(pr);
        let key = (repo.to_string(), pr.number);
        self.with(|s| {
            let fresh = Self::fresh(s, &key.0, pr);
            s.asks
                .get(&key)
                .filter(|(f, _)| fresh && *f == fp)
                .map(|(_, a)| a.clone())
        })
        .flatten()
    }

    pub fn store_ask(&self, repo: &RepoId, pr: &PullRequest, ask: &LandscapeAsks) {
        self.with(|s| {
            s.asks.insert(
                (repo.to_string(), pr.number),
                (fingerprint(pr), ask.clone()),
            )
        });
    }

    /// A landscape commit's health verdict as last read (`Some(None)`: read,
    /// no verdict yet), unless a hint or a gate's end said it changed.
    pub fn health(&self, repo: &RepoId, sha: &str) -> Option<Option<HealthVerdict>> {
        self.with(|s| s.health.get(&(repo.to_string(), sha.to_string())).copied())
            .flatten()
    }

    pub fn store_health(&self, repo: &RepoId, sha: &str, state: Option<HealthVerdict>) {
        self.with(|s| s.health.insert((repo.to_string(), sha.to_string()), state));
    }

    /// A repo's PR listing as last read, unless the repo was hinted or
    /// written since, or the listing is older than `max_age`.
    pub fn listing(
        &self,
        repo: &RepoId,
        now: DateTime<Utc>,
        max_age: Duration,
    ) -> Option<Vec<PullRequest>> {
        let repo = repo.to_string();
        self.with(|s| {
            if s.stale.contains(&repo) {
                return None;
            }
            s.listings
                .get(&repo)
                .filter(|(at, _)| (now - *at).to_std().unwrap_or_default() < max_age)
                .map(|(_, pulls)| pulls.clone())
        })
        .flatten()
    }

    pub fn store_listing(&self, repo: &RepoId, now: DateTime<Utc>, pulls: &[PullRequest]) {
        let repo = repo.to_string();
        self.with(|s| {
            s.stale.remove(&repo);
            s.listings.insert(repo, (now, pulls.to_vec()));
        });
    }

    /// The product's releases as last read, unless written or old.
    pub fn releases(
        &self,
        now: DateTime<Utc>,
        max_age: Duration,
    ) -> Option<Vec<crate::forge::Release>> {
        self.with(|s| {
            s.releases
                .as_ref()
                .filter(|(at, _)| (now - *at).to_std().unwrap_or_default() < max_age)
                .map(|(_, r)| r.clone())
        })
        .flatten()
    }

    pub fn store_releases(&self, now: DateTime<Utc>, releases: &[crate::forge::Release]) {
        self.with(|s| s.releases = Some((now, releases.to_vec())));
    }

    /// Components the sweep has read since start.
    pub fn swept(&self) -> u64 {
        self.with(|s| s.swept).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repos(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("acme/c{i}")).collect()
    }

    fn view(repo: &str) -> ComponentView {
        ComponentView {
            name: repo.rsplit('/').next().unwrap_or(repo).into(),
            repo: RepoId::parse(repo).expect("a repo id"),
            tags: Vec::new(),
            pulls: Vec::new(),
            untagged_next: None,
        }
    }

    #[test]
    fn the_sweep_reads_every_component_once_per_period_a_slice_per_pass() {
        let scope = Scope::default();
        let all = repos(100);
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
        let first = scope.plan(&all, t0, Duration::from_secs(600));
        assert_eq!(first.repos.len(), 100, "nothing read yet: everything");
        for r in &all {
            scope.store_component(&first, &view(r));
        }
        // One pass a minute for ten minutes reads each component exactly once.
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for minute in 1..=10 {
            let plan = scope.plan(
                &all,
                t0 + chrono::Duration::minutes(minute),
                Duration::from_secs(600),
            );
            assert_eq!(plan.repos.len(), 10, "a tenth of the components per minute");
            for r in plan.repos {
                *counts.entry(r).or_default() += 1;
            }
        }
        assert_eq!(counts.len(), 100);
        assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    }

    #[test]
    fn a_hint_reads_one_component_and_a_newer_hint_survives_an_older_read() {
        let scope = Scope::default();
        let all = repos(3);
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
        let first = scope.plan(&all, t0, Duration::from_secs(3600));
        for r in &all {
            scope.store_component(&first, &view(r));
        }
        let quiet = scope.plan(&all, t0, Duration::from_secs(3600));
        assert!(
            quiet.repos.is_empty(),
            "no time passed, no hint: nothing to read"
        );
        let c1 = RepoId::parse("acme/c1").expect("a repo id");
        scope.hint(&c1, Some(4));
        let plan = scope.plan(&all, t0, Duration::from_secs(3600));
        assert_eq!(plan.repos, BTreeSet::from(["acme/c1".to_string()]));
        scope.hint(&c1, None); // arrives while c1 is being read
        scope.store_component(&plan, &view("acme/c1"));
        let again = scope.plan(&all, t0, Duration::from_secs(3600));
        assert_eq!(again.repos, BTreeSet::from(["acme/c1".to_string()]));
    }

    #[test]
    fn the_source_prs_of_a_product_pr_the_bot_opened_are_read_again_even_if_they_look_unmoved() {
        // The bot's "released in product#1" comment lands within the second
        // the PR was read: `updated_at` (whole seconds) does not move, and
        // the next pass opened the same product PR again (seen in the roads
        // bench at 3 components: four times).
        let scope = Scope::default();
        let payments = RepoId::parse("acme/payments").expect("a repo id");
        let source = crate::engine::tests::pr(7, "fix/cart", &[]);
        let detail = ComponentPullDetail {
            statuses: BTreeMap::new(),
            hotfix_actor: None,
            sticky: BTreeMap::new(),
        };
        scope.store_component_pull(&payments, &source, &detail);
        assert!(
            scope.component_pull(&payments, &source).is_some(),
            "kept while unmoved"
        );
        let change = crate::engine::snapshot::ComponentChange {
            component: "payments".into(),
            from: semver::Version::new(1, 4, 2),
            to: semver::Version::new(1, 4, 3),
        };
        scope.touched(
            &RepoId::parse("acme/product").expect("a repo id"),
            &Action::OpenProductPr {
                change,
                sources: vec![7],
                labels: vec![],
                branch: "stagecoach/payments-1.4.3".into(),
                reason: "component release".into(),
            },
            Some(&payments),
        );
        assert!(
            scope.component_pull(&payments, &source).is_none(),
            "the source PR's comments are read again"
        );
    }

    #[test]
    fn a_status_or_comment_the_bot_writes_on_a_component_reads_that_component_again() {
        // Without this, a pass decides the same status again from the view
        // that asked for it, until a hint comes (seen: 80 writes a minute).
        let scope = Scope::default();
        let all = repos(3);
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
        let first = scope.plan(&all, t0, Duration::from_secs(3600));
        for r in &all {
            scope.store_component(&first, &view(r));
        }
        let product = RepoId::parse("acme/product").expect("a repo id");
        let c2 = RepoId::parse("acme/c2").expect("a repo id");
        scope.touched(
            &product,
            &Action::SetStatus {
                repo: c2.clone(),
                sha: "abc".into(),
                context: "stagecoach/labels".into(),
                state: StatusState::Success,
                description: "labels complete".into(),
            },
            None,
        );
        let plan = scope.plan(&all, t0, Duration::from_secs(3600));
        assert_eq!(plan.repos, BTreeSet::from(["acme/c2".to_string()]));
        for r in &all {
            scope.store_component(&plan, &view(r));
        }
        scope.touched(
            &product,
            &Action::Comment {
                repo: c2.clone(),
                pr: 3,
                topic: "labels".into(),
                body: "fixed".into(),
            },
            None,
        );
        let plan = scope.plan(&all, t0, Duration::from_secs(3600));
        assert_eq!(plan.repos, BTreeSet::from(["acme/c2".to_string()]));
        // A status on the product reads no component.
        for r in &all {
            scope.store_component(&plan, &view(r));
        }
        scope.touched(
            &product,
            &Action::SetStatus {
                repo: product.clone(),
                sha: "def".into(),
                context: "stagecoach/policy".into(),
                state: StatusState::Success,
                description: "ok".into(),
            },
            None,
        );
        assert!(
            scope
                .plan(&all, t0, Duration::from_secs(3600))
                .repos
                .is_empty()
        );
    }
}
