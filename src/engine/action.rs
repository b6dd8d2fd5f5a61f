//! What the engine decided to do, as data. The executor carries these out,
//! each one idempotent (look, then act); `stagecoach plan` only prints them.

use semver::Version;

use crate::forge::{CommitStatus, RepoId, StatusState};
use crate::policy::RiskLevel;

use super::snapshot::ComponentChange;

/// Commit-status contexts the bot owns on product PRs; their states are the
/// pipeline's memory, visible to people on the PR.
pub mod context {
    pub const LABELS: &str = "stagecoach/labels";
    pub const CI: &str = "stagecoach/ci";
    pub const SMOKE: &str = "stagecoach/smoke";
    pub const APPROVAL: &str = "stagecoach/approval";
    /// A refused merge, with the main it was refused at: a state, not a retry.
    pub const MERGE: &str = "stagecoach/merge";
}

/// How a green bump that git cannot merge as it is is rebuilt on main
/// within its merge (see `Action::Merge`).
#[derive(Debug, Clone, PartialEq)]
pub struct MergeRebuild {
    pub branch: String,
    pub change: ComponentChange,
    /// The verdicts set again on the rebuilt head (they hold: main gained
    /// only bumps, each verified on its own road).
    pub carry: Vec<CommitStatus>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// One sticky comment per PR and topic, edited in place.
    Comment {
        repo: RepoId,
        pr: u64,
        topic: String,
        body: String,
    },
    SetStatus {
        repo: RepoId,
        sha: String,
        context: String,
        state: StatusState,
        description: String,
    },
    /// Make the PR's `risk:` label say `level` (and only that).
    SetRiskLabel {
        pr: u64,
        level: RiskLevel,
        remove: Vec<String>,
    },
    /// The bot tags a component from its conventional commits (`tagging: bot`).
    TagComponent {
        component: String,
        version: Version,
        sha: String,
    },
    /// Open the product PR that bumps one component.
    OpenProductPr {
        change: ComponentChange,
        /// The component PRs that led here, for labels and the body.
        sources: Vec<u64>,
        labels: Vec<String>,
        branch: String,
        /// Based on a hotfix: also the release it fixes.
        reason: String,
    },
    /// Rebuild the bot's bump branch of a product PR on the product's main
    /// (the same edit, one commit, pushed with a lease on `old_head`),
    /// carrying over the verdicts in `carry` that still hold.
    RebuildProductPr {
        pr: u64,
        branch: String,
        old_head: String,
        change: ComponentChange,
        carry: Vec<CommitStatus>,
    },
    /// Upgrade one component on the CI landscape for a product PR.
    DeployCi {
        pr: u64,
        head_sha: String,
        change: ComponentChange,
        risk: RiskLevel,
    },
    /// Watch one component's health on an environment and report on a commit status.
    WatchCiHealth {
        pr: u64,
        head_sha: String,
        change: ComponentChange,
        landscape_sha: String,
    },
    /// Revert a landscape commit (`Stagecoach-Action: rollback`).
    Rollback {
        env: String,
        commit: String,
        reason: String,
    },
    CreatePrEnv {
        pr: u64,
        change: ComponentChange,
        toggle: bool,
    },
    RunSmoke {
        pr: u64,
        head_sha: String,
        change: ComponentChange,
        toggle: bool,
    },
    TeardownPrEnv {
        pr: u64,
    },
    /// Close one of the bot's own product PRs that a newer one carries.
    ClosePull {
        pr: u64,
        reason: String,
    },
    /// Merge a green product PR at `head_sha`. With `rebuild`, git refusing
    /// the merge because the bump lines are neighbours is met in the same
    /// step: the bot's branch is rebuilt on main (only if main gained only
    /// other bumps) with its verdicts carried, and merged at once — so a
    /// train of green bumps lands in one pass, not one per pass.
    Merge {
        pr: u64,
        head_sha: String,
        rebuild: Option<MergeRebuild>,
    },
    /// Tag the product's main with the next version and its changelog.
    TagProduct {
        version: Version,
        sha: String,
        changes: Vec<ComponentChange>,
        previous: Option<String>,
    },
    /// Move an environment to a product tag (all its component versions),
    /// one wave of clusters at a time.
    Promote {
        env: String,
        tag: String,
        wave: usize,
        waves: usize,
        clusters: Vec<String>,
        override_reason: Option<String>,
        /// Who asked (a forge login), for the record; `None` for the bot's
        /// own promotions (staging).
        requested_by: Option<String>,
    },
    /// Watch health after a promotion wave; roll the wave back on failure.
    WatchPromotion {
        env: String,
        tag: String,
        commit: String,
        clusters: Vec<String>,
    },
    SampleStability {
        tag: String,
    },
    /// Write the final score note and, if it passed, publish the release.
    FinalizeStability {
        tag: String,
    },
    /// Cut a hotfix: branch the product from `base`, bump one component, tag.
    Hotfix {
        base: String,
        tag: String,
        change: ComponentChange,
        /// What asked for it: `owner/repo#n` of the labelled PR, or `by <login>`;
        /// recorded as `Stagecoach-Hotfix-For`, the flow's idempotency key.
        source: String,
        /// Who asked (the label's author, or who ran the command): recorded
        /// as `Stagecoach-Requested-By`.
        requested_by: String,
    },
    /// Record that a product tag is rejected (or no longer), who asked and
    /// why: a line in its note in `refs/notes/rejections`.
    Reject {
        tag: String,
        /// `false`: un-reject.
        rejected: bool,
        by: String,
        reason: String,
        /// The `/reject` or `/unreject` comment that asked, if one.
        comment: Option<u64>,
    },
}

impl Action {
    /// The key of a gate this action starts (a health watch or smoke run
    /// that finishes in the background), `None` for everything else. Two
    /// actions with one key are the same gate: it runs once.
    pub fn gate_key(&self) -> Option<String> {
        match self {
            Action::WatchCiHealth { pr, head_sha, .. } => {
                Some(format!("ci-health {pr} {head_sha}"))
            }
            Action::RunSmoke { pr, head_sha, .. } => Some(format!("smoke {pr} {head_sha}")),
            Action::WatchPromotion { env, commit, .. } => Some(format!("health {env} {commit}")),
            _ => None,
        }
    }

    /// One line for logs, `plan` and the timeline.
    pub fn describe(&self) -> String {
        match self {
            Action::Comment {
                repo, pr, topic, ..
            } => format!("comment `{topic}` on {repo}#{pr}"),
            Action::SetStatus {
                repo,
                sha,
                context,
                state,
                description,
            } => format!(
                "status {context}={} on {repo}@{} ({description})",
                serde_json::to_value(state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                short(sha)
            ),
            Action::SetRiskLabel { pr, level, .. } => format!("label product#{pr} `risk: {level}`"),
            Action::TagComponent {
                component, version, ..
            } => format!("tag {component} v{version}"),
            Action::OpenProductPr { change, .. } => format!(
                "open product PR: {} {} → {}",
                change.component, change.from, change.to
            ),
            Action::RebuildProductPr {
                pr, change, carry, ..
            } => format!(
                "rebuild product#{pr} ({} {}) on main{}",
                change.component,
                change.to,
                if carry.is_empty() {
                    ", CI again"
                } else {
                    ", verdicts carried"
                }
            ),
            Action::DeployCi {
                pr, change, risk, ..
            } => format!(
                "deploy {}@{} to ci for product#{pr} (risk {risk})",
                change.component, change.to
            ),
            Action::WatchCiHealth { pr, change, .. } => format!(
                "watch health of {}@{} on ci for product#{pr}",
                change.component, change.to
            ),
            Action::Rollback {
                env,
                commit,
                reason,
            } => {
                format!("roll back {env} commit {} ({reason})", short(commit))
            }
            Action::CreatePrEnv { pr, .. } => format!("create PR environment pr-{pr}"),
            Action::RunSmoke { pr, toggle, .. } => format!(
                "run smoke gate for product#{pr}{}",
                if *toggle { " (toggle on and off)" } else { "" }
            ),
            Action::TeardownPrEnv { pr } => format!("tear down PR environment pr-{pr}"),
            Action::ClosePull { pr, reason } => format!("close product#{pr} ({reason})"),
            Action::Merge { pr, .. } => format!("merge product#{pr}"),
            Action::TagProduct { version, .. } => format!("tag product v{version}"),
            Action::Promote {
                env,
                tag,
                wave,
                waves,
                clusters,
                ..
            } => format!(
                "promote {tag} to {env} wave {wave}/{waves} ({})",
                clusters.join(", ")
            ),
            Action::WatchPromotion {
                env, tag, clusters, ..
            } => {
                format!("watch {tag} on {env} ({})", clusters.join(", "))
            }
            Action::SampleStability { tag } => format!("sample stability of {tag} on staging"),
            Action::FinalizeStability { tag } => format!("write stability score of {tag}"),
            Action::Hotfix {
                base, tag, change, ..
            } => format!(
                "hotfix {tag} from {base}: {} {} → {}",
                change.component, change.from, change.to
            ),
            Action::Reject {
                tag, rejected, by, ..
            } => format!(
                "{} {tag} for {by}",
                if *rejected { "reject" } else { "un-reject" }
            ),
        }
    }
}

pub(crate) fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}
