//! The world as the engine sees it for one reconcile: plain data, no handles.
//!
//! `observe.rs` fills it from git and the forge; the decision functions read
//! only this. Anything a decision needs (a permission, a file at a tag, the
//! clock) is a field here, so every rule can be tested with a literal value.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use semver::Version;

use crate::engine::rejection::RejectionEvent;
use crate::engine::stability::Sample;
use crate::forge::{CommitStatus, PullRequest, Release, RepoId, Review};
use crate::git::trailers::Trailers;
use crate::manifest::product::ProductManifest;

use super::trailer;

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub now: DateTime<Utc>,
    pub product: ProductView,
    pub components: Vec<ComponentView>,
    pub envs: Vec<EnvView>,
    /// Keys of the gates running in the background now (`Action::gate_key`):
    /// an input like the clock, so a gate is started once and, after a
    /// restart (when nothing runs), started again.
    pub gates_running: BTreeSet<String>,
}

#[derive(Debug, Clone)]
pub struct ProductView {
    pub repo: RepoId,
    pub branch: String,
    pub main_sha: String,
    pub manifest: ProductManifest,
    /// Every semver tag of the product, oldest version first.
    pub tags: Vec<ProductTag>,
    /// Open product PRs and recently closed ones.
    pub pulls: Vec<ProductPull>,
    /// Branch names of every product PR ever seen (open or closed), to never
    /// open a second PR for the same bump.
    pub pr_branches: BTreeMap<String, u64>,
}

#[derive(Debug, Clone)]
pub struct ProductTag {
    pub name: String,
    pub version: Version,
    pub sha: String,
    /// Reachable from the product's main (hotfix tags are not).
    pub on_main: bool,
    /// The tag message's trailers (`Stagecoach-Action: hotfix`, ...).
    pub trailers: Trailers,
    pub manifest: Option<ProductManifest>,
    pub created_at: Option<DateTime<Utc>>,
    /// The final note in `refs/notes/stability`, if written.
    pub note: Option<String>,
    /// Samples kept in `refs/notes/stability-samples`.
    pub samples: Vec<Sample>,
    pub release: Option<Release>,
    /// This tag's rejects and un-rejects from `refs/notes/rejections`,
    /// oldest first.
    pub rejections: Vec<RejectionEvent>,
}

impl ProductTag {
    pub fn is_hotfix(&self) -> bool {
        self.trailers.get("Stagecoach-Action") == Some("hotfix")
    }

    /// The reject that stands now (the tag's last event is a reject), if any.
    pub fn rejection(&self) -> Option<&RejectionEvent> {
        self.rejections.last().filter(|e| e.rejected)
    }
}

/// A component version change carried by a product PR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentChange {
    pub component: String,
    pub from: Version,
    pub to: Version,
}

#[derive(Debug, Clone)]
pub struct ProductPull {
    pub pr: PullRequest,
    /// What the PR changes in the manifest compared with main: `Ok(changes)`,
    /// or why it cannot be read (the message is shown on the PR).
    pub changes: Result<Vec<ComponentChange>, String>,
    /// Latest status per context on the PR's head commit.
    pub statuses: BTreeMap<String, CommitStatus>,
    pub reviews: Vec<Review>,
    /// `/approve` comments: (author, comment id).
    pub approve_comments: Vec<(String, u64)>,
    /// What the policy and the forge say about each would-be approver.
    pub approvers: BTreeMap<String, Authority>,
    /// The CI landscape commit that deployed this PR, if any, and whether it
    /// has been reverted since.
    pub ci_deploy: Option<LandscapeCommit>,
    /// The PR's ephemeral environment exists in the CI landscape.
    pub pr_env_present: bool,
    /// The bot's sticky comments on the PR: topic → body (without marker).
    pub sticky: BTreeMap<String, String>,
    /// Where the PR's branch stands against main.
    pub branch: BranchState,
    /// `Stagecoach-From` of the bump commit on the branch (its sources).
    pub bump_from: Option<String>,
}

/// Where a product PR's branch stands against main, read from git.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BranchState {
    /// Every commit on the branch since it left main is a bump commit the
    /// bot wrote: the bot may rebuild it. A person's push makes it theirs.
    pub bot_owned: bool,
    /// Main has commits the branch does not have.
    pub behind: bool,
    /// Everything main gained since the branch left it is other bump PRs
    /// merged by their road (each verified on CI before it merged).
    pub main_gained_only_bumps: bool,
}

/// Whether a person may do a guarded thing (approve, hotfix, promote), with
/// the reason when not. Computed at the edge (forge permissions, team
/// membership), judged by pure code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authority {
    Allowed,
    Refused(String),
}

#[derive(Debug, Clone)]
pub struct ComponentView {
    pub name: String,
    pub repo: RepoId,
    /// Semver tags, oldest version first: (version, tag name, commit sha).
    pub tags: Vec<(Version, String, String)>,
    pub pulls: Vec<ComponentPull>,
    /// With `tagging: bot`: the version the bot would tag on the component's
    /// main now, and the commit, when there are releasable commits.
    pub untagged_next: Option<(Version, String)>,
}

#[derive(Debug, Clone)]
pub struct ComponentPull {
    pub pr: PullRequest,
    pub statuses: BTreeMap<String, CommitStatus>,
    /// The first component version whose tag contains the merge commit.
    pub released_in: Option<Version>,
    /// Tags containing the merge commit that are not releases (not the
    /// prefix and semver, or a pre-release), with why: (name, reason).
    pub ignored_tags: Vec<(String, String)>,
    /// The hotfix label's author and whether they may trigger a hotfix.
    pub hotfix_actor: Option<(String, Authority)>,
    /// The bot's sticky comments on the PR: topic → body (without marker).
    pub sticky: BTreeMap<String, String>,
}

/// A commit on a landscape branch written by the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LandscapeCommit {
    pub sha: String,
    pub time: DateTime<Utc>,
    pub trailers: Trailers,
    pub reverted: bool,
    /// The bot's health verdict on this commit (`stagecoach/health` status on
    /// the landscape repo), once watched.
    pub health: Option<crate::forge::StatusState>,
    /// When that verdict was set: a soak counts from it.
    pub health_at: Option<DateTime<Utc>>,
}

/// How far the bot's clock (git commit times) may be behind the forge's.
const CLOCK_SLACK_SECS: i64 = 5;

#[derive(Debug, Clone)]
pub struct EnvView {
    pub name: String,
    pub repo: RepoId,
    pub head_sha: String,
    /// cluster → component → version, read from the landscape files.
    pub versions: BTreeMap<String, BTreeMap<String, Version>>,
    /// Bot commits on the landscape, newest first.
    pub history: Vec<LandscapeCommit>,
    /// PR numbers whose ephemeral environments exist.
    pub pr_envs: Vec<u64>,
    /// People's `/promote` requests on the landscape repo's open PRs.
    pub asks: Vec<PromotionAsk>,
    /// People's `/reject` and `/unreject` commands there.
    pub reject_asks: Vec<RejectAsk>,
}

/// A person's newest `/reject vX.Y.Z reason` or `/unreject vX.Y.Z reason`
/// comment on an open PR of a landscape repo.
#[derive(Debug, Clone)]
pub struct RejectAsk {
    pub pr: u64,
    /// The comment's id: the note records it, so each is applied once.
    pub comment: u64,
    pub by: String,
    pub tag: String,
    pub undo: bool,
    pub reason: String,
    /// As a promoter: only release managers reject.
    pub as_promoter: Authority,
    /// The bot's sticky comments on that PR.
    pub sticky: BTreeMap<String, String>,
}

/// What a landscape PR's comments ask of the bot: the newest `/promote`,
/// and the newest `/reject` or `/unreject`.
#[derive(Debug, Clone, Default)]
pub struct LandscapeAsks {
    pub promote: Option<PromotionAsk>,
    pub reject: Option<RejectAsk>,
}

/// A person's `/promote vX.Y.Z [--override reason]` comment on an open PR of
/// an environment's landscape repo: a promotion asked for where the team
/// already reviews landscape changes.
#[derive(Debug, Clone)]
pub struct PromotionAsk {
    pub pr: u64,
    pub by: String,
    pub tag: String,
    pub override_reason: Option<String>,
    /// When the comment was made (the forge's clock): an ask is over once
    /// its tag ran healthy on every wave after it, whatever comes later.
    pub asked_at: DateTime<Utc>,
    /// As a promoter (release manager).
    pub as_promoter: Authority,
    /// As a hotfixer (on-call), who may move hotfix tags along.
    pub as_hotfixer: Authority,
    /// The bot's sticky comments on that PR.
    pub sticky: BTreeMap<String, String>,
}

/// Read a `/promote` command: the tag, and an optional `--override reason`.
pub fn parse_promote_command(body: &str) -> Option<(String, Option<String>)> {
    let line = body.trim().lines().next()?.trim();
    let rest = line.strip_prefix("/promote")?.trim();
    let (tag, tail) = match rest.split_once(char::is_whitespace) {
        Some((t, tail)) => (t, tail.trim()),
        None => (rest, ""),
    };
    if tag.is_empty() || tag.starts_with('-') {
        return None;
    }
    let reason = tail
        .strip_prefix("--override")
        .map(|r| r.trim().trim_matches('"').to_string())
        .filter(|r| !r.is_empty());
    Some((tag.to_string(), reason))
}

impl EnvView {
    /// The product tag the environment was last promoted to (and not rolled
    /// back from), from the commits' trailers: git log is the record.
    pub fn current_tag(&self) -> Option<&str> {
        self.history
            .iter()
            .filter(|c| !c.reverted)
            .find(|c| {
                matches!(
                    c.trailers.get(trailer::ACTION),
                    Some(trailer::action::PROMOTE) | Some(trailer::action::HOTFIX)
                )
            })
            .and_then(|c| c.trailers.get(trailer::PRODUCT))
    }

    /// The promote commit that put `tag` on wave `wave` (1-based) and still
    /// stands: the newest live promotion of that wave is for `tag`. An older
    /// commit for the tag, overtaken by another tag's since, does not count:
    /// a promotion is done when the environment runs the tag now, so an
    /// earlier release can be promoted again (a rollback).
    pub fn wave_commit(&self, tag: &str, wave: usize) -> Option<&LandscapeCommit> {
        let wave = wave.to_string();
        self.history
            .iter()
            .filter(|c| !c.reverted)
            .filter(|c| {
                matches!(
                    c.trailers.get(trailer::ACTION),
                    Some(trailer::action::PROMOTE) | Some(trailer::action::HOTFIX)
                )
            })
            .find(|c| {
                c.trailers.get(trailer::WAVE).map(|w| w.split('/').next()) == Some(Some(&wave))
            })
            .filter(|c| c.trailers.get(trailer::PRODUCT) == Some(tag))
    }

    /// Whether `tag` reached the last of `waves` at or after `since` and
    /// that wave is over: healthy, or followed by another tag's promotion
    /// (observe reads the verdicts of the newest promotions only, so an old
    /// wave's may be unknown; the environment moving on says it was done).
    /// The record's commit times are git's whole seconds, and the bot's
    /// clock may be a little behind the forge's: a few seconds' slack.
    pub fn completed_since(&self, tag: &str, waves: usize, since: DateTime<Utc>) -> bool {
        let last = format!("{waves}/{waves}");
        let from = since - chrono::Duration::seconds(CLOCK_SLACK_SECS);
        let is_promotion = |c: &LandscapeCommit| {
            !c.reverted
                && matches!(
                    c.trailers.get(trailer::ACTION),
                    Some(trailer::action::PROMOTE) | Some(trailer::action::HOTFIX)
                )
        };
        // Newest first: the commits before `i` came after it.
        self.history.iter().enumerate().any(|(i, c)| {
            is_promotion(c)
                && c.trailers.get(trailer::PRODUCT) == Some(tag)
                && c.trailers.get(trailer::WAVE) == Some(last.as_str())
                && c.time >= from
                && (c.health == Some(crate::forge::StatusState::Success)
                    || self.history[..i]
                        .iter()
                        .any(|n| is_promotion(n) && n.trailers.get(trailer::PRODUCT) != Some(tag)))
        })
    }

    /// Whether the landscape's files pin every component of `manifest` on
    /// each of `clusters` (the clusters that run the component).
    pub fn runs(&self, manifest: &ProductManifest, clusters: &[String]) -> bool {
        clusters.iter().all(|cluster| {
            let Some(running) = self.versions.get(cluster) else {
                return true;
            };
            manifest
                .components
                .iter()
                .all(|(name, pin)| running.get(name).is_none_or(|v| *v == pin.version))
        })
    }
}
