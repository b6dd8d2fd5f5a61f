//! Flow 3: a product PR through CI — deploy one component, watch its health,
//! roll back on failure, smoke-test medium and high risk in a PR environment
//! (twice for a feature toggle), wait for an authorised approval on high
//! risk, and merge what may be merged.
//!
//! The pipeline's memory is the PR's commit statuses (`stagecoach/ci`,
//! `stagecoach/smoke`, `stagecoach/approval`) and the CI landscape's commits:
//! what people see on the PR is exactly what the bot decides from.

use crate::forge::{PrState, RepoId, StatusState};
use crate::labels;
use crate::policy::{Policy, RiskLevel};
use crate::risk;
use crate::version::Bump;

use super::action::{Action, context, short};
use super::snapshot::{Authority, ProductPull, Snapshot};
use super::text;
use super::trailer;

pub fn decide(policy: &Policy, snap: &Snapshot) -> Vec<Action> {
    let mut actions = Vec::new();
    let repo = &snap.product.repo;
    let ci_env = policy
        .environments
        .iter()
        .find(|e| matches!(e.follows, crate::policy::Follows::ProductPrs));
    let mut ci = CiSlots::taken(policy, snap, ci_env);
    let mut pulls: Vec<&ProductPull> = snap.product.pulls.iter().collect();
    pulls.sort_by_key(|p| p.pr.number);
    for pull in pulls {
        if pull.pr.base_ref != snap.product.branch {
            continue;
        }
        if pull.pr.state == PrState::Closed {
            clean_up_closed(snap, pull, &mut actions);
            continue;
        }
        decide_open(
            policy,
            snap,
            repo,
            pull,
            ci_env.is_some(),
            &mut ci,
            &mut actions,
        );
    }
    actions
}

/// The product PRs between "deployed" and "health known" on CI, and whether
/// one more may start: up to the environment's `concurrency.max` side by
/// side, one per component (so a verdict belongs to one change), and a core
/// component (`concurrency.alone`) on its own.
struct CiSlots {
    max: usize,
    alone: Vec<String>,
    /// (component, is core) of each PR in flight.
    taken: Vec<(String, bool)>,
}

impl CiSlots {
    fn taken(policy: &Policy, snap: &Snapshot, env: Option<&crate::policy::Environment>) -> Self {
        let (max, alone) = env
            .map(|e| (e.concurrency.max, e.concurrency.alone.clone()))
            .unwrap_or((1, Vec::new()));
        let mut slots = CiSlots {
            max,
            alone,
            taken: Vec::new(),
        };
        for p in &snap.product.pulls {
            let in_flight = p.pr.state == PrState::Open
                && p.statuses.get(context::CI).map(|s| s.state) == Some(StatusState::Pending);
            if let (true, Ok([change])) = (in_flight, p.changes.as_deref()) {
                let core = slots.is_core(policy, p);
                slots.taken.push((change.component.clone(), core));
            }
        }
        slots
    }

    fn is_core(&self, policy: &Policy, pull: &ProductPull) -> bool {
        labels::parse_labels(policy, &pull.pr.labels)
            .component
            .is_some_and(|size| self.alone.contains(&size))
    }

    /// Take a slot for `component` if the rules allow it now.
    fn claim(&mut self, component: &str, core: bool) -> bool {
        let free = self.taken.len() < self.max
            && !self
                .taken
                .iter()
                .any(|(c, is_core)| *is_core || c == component)
            && (!core || self.taken.is_empty());
        if free {
            self.taken.push((component.to_string(), core));
        }
        free
    }
}

/// A closed PR leaves nothing behind: its PR environment goes, and an
/// unmerged change is taken off CI — unless a newer deploy of the same
/// component is on CI already (a superseding PR's): that one replaced it,
/// and reverting the older one would fight the newer for the same lines.
fn clean_up_closed(snap: &Snapshot, pull: &ProductPull, actions: &mut Vec<Action>) {
    if pull.pr_env_present {
        actions.push(Action::TeardownPrEnv { pr: pull.pr.number });
    }
    if !pull.pr.merged {
        if let Some(d) = pull
            .ci_deploy
            .as_ref()
            .filter(|d| !d.reverted && !deployed_over(snap, d))
        {
            actions.push(Action::Rollback {
                env: "ci".into(),
                commit: d.sha.clone(),
                reason: format!("product#{} was closed without merging", pull.pr.number),
            });
        }
    }
}

/// Whether a later bump on CI deploys the same component as `deploy`.
fn deployed_over(snap: &Snapshot, deploy: &super::snapshot::LandscapeCommit) -> bool {
    let component = |c: &super::snapshot::LandscapeCommit| {
        c.trailers
            .get(trailer::COMPONENT)
            .and_then(|v| v.split('@').next())
            .map(str::to_string)
    };
    let Some(name) = component(deploy) else {
        return false;
    };
    snap.envs.iter().any(|env| {
        // Newest first: what comes before `deploy` in the history is later.
        let mut history = env.history.iter();
        history.any(|c| c.sha == deploy.sha)
            && env
                .history
                .iter()
                .take_while(|c| c.sha != deploy.sha)
                .any(|c| {
                    !c.reverted
                        && c.trailers.get(trailer::ACTION) == Some(trailer::action::BUMP)
                        && component(c).as_deref() == Some(name.as_str())
                })
    })
}

fn status_is(pull: &ProductPull, ctx: &str) -> Option<StatusState> {
    pull.statuses.get(ctx).map(|s| s.state)
}

fn set_status(
    repo: &RepoId,
    pull: &ProductPull,
    ctx: &str,
    state: StatusState,
    description: String,
    actions: &mut Vec<Action>,
) {
    let current = pull.statuses.get(ctx);
    if current.map(|s| (s.state, s.description.as_str())) != Some((state, description.as_str())) {
        actions.push(Action::SetStatus {
            repo: repo.clone(),
            sha: pull.pr.head_sha.clone(),
            context: ctx.into(),
            state,
            description,
        });
    }
}

fn comment(
    repo: &RepoId,
    pull: &ProductPull,
    topic: &str,
    body: String,
    actions: &mut Vec<Action>,
) {
    if pull.sticky.get(topic) != Some(&body) {
        actions.push(Action::Comment {
            repo: repo.clone(),
            pr: pull.pr.number,
            topic: topic.into(),
            body,
        });
    }
}

fn decide_open(
    policy: &Policy,
    snap: &Snapshot,
    repo: &RepoId,
    pull: &ProductPull,
    has_ci: bool,
    ci: &mut CiSlots,
    actions: &mut Vec<Action>,
) {
    let n = pull.pr.number;
    let changes = match &pull.changes {
        Ok(c) if c.is_empty() => return, // not a component bump (policy, docs): not ours
        Ok(c) if c.len() > 1 => {
            let names: Vec<String> = c.iter().map(|c| c.component.clone()).collect();
            comment(
                repo,
                pull,
                "ci",
                format!(
                    "A product PR must bump exactly one component, so a failure points at one change; this one bumps {}. Split it, please.",
                    text::inert(&names.join(", "))
                ),
                actions,
            );
            set_status(
                repo,
                pull,
                context::CI,
                StatusState::Failure,
                "bumps more than one component".into(),
                actions,
            );
            return;
        }
        Ok(c) => c,
        Err(why) => {
            comment(
                repo,
                pull,
                "ci",
                format!(
                    "Stagecoach cannot read this PR's change: {}",
                    text::inert(why)
                ),
                actions,
            );
            set_status(
                repo,
                pull,
                context::CI,
                StatusState::Failure,
                "manifest unreadable".into(),
                actions,
            );
            return;
        }
    };
    let change = &changes[0];
    if let Some(why) = superseded(snap, pull, change) {
        // Never deployed, approved or merged again (a rebuild on main would
        // even downgrade the component); the PR that supersedes it deploys
        // over its CI version. Its own PR the bot closes, as Renovate does;
        // a person's it leaves to them.
        let ending = if pull.branch.bot_owned {
            "Stagecoach closes it."
        } else {
            "Close it, please."
        };
        comment(
            repo,
            pull,
            "ci",
            format!(
                "This PR is out of date: {why}. The newer version carries this change too, so Stagecoach will not deploy or merge this one. {ending}"
            ),
            actions,
        );
        set_status(
            repo,
            pull,
            context::CI,
            StatusState::Failure,
            why.clone(),
            actions,
        );
        if pull.pr_env_present {
            actions.push(Action::TeardownPrEnv { pr: n });
        }
        if pull.branch.bot_owned {
            actions.push(Action::ClosePull { pr: n, reason: why });
        }
        return;
    }
    let parsed = labels::parse_labels(policy, &pull.pr.labels);
    let labelled = match parsed.complete() {
        Ok(l) => {
            set_status(
                repo,
                pull,
                context::LABELS,
                StatusState::Success,
                "labels complete".into(),
                actions,
            );
            l
        }
        Err(problems) => {
            comment(
                repo,
                pull,
                "labels",
                text::label_problems(policy, &problems),
                actions,
            );
            set_status(
                repo,
                pull,
                context::LABELS,
                StatusState::Failure,
                format!("{} label problem(s)", problems.len()),
                actions,
            );
            return;
        }
    };
    let bump = Bump::between(&change.from, &change.to).unwrap_or(Bump::Patch);
    let assessment = risk::assess(policy, &labelled, bump);
    let level = assessment.level;
    if parsed.risk != Some(level) {
        let remove = pull
            .pr
            .labels
            .iter()
            .filter(|l| {
                labels::parse_labels(policy, std::slice::from_ref(*l))
                    .risk
                    .is_some()
            })
            .cloned()
            .collect();
        actions.push(Action::SetRiskLabel {
            pr: n,
            level,
            remove,
        });
    }
    comment(repo, pull, "risk", assessment.explain_markdown(), actions);
    if !assessment.product_pr {
        comment(repo, pull, "ci", text::not_functional(), actions);
        return;
    }
    if !has_ci {
        return;
    }

    // 1. Deploy and watch health on CI.
    let live_deploy = pull.ci_deploy.as_ref().filter(|d| !d.reverted);
    match status_is(pull, context::CI) {
        None => {
            let core = ci.is_core(policy, pull);
            if ci.claim(&change.component, core) {
                actions.push(Action::DeployCi {
                    pr: n,
                    head_sha: pull.pr.head_sha.clone(),
                    change: change.clone(),
                    risk: level,
                });
            }
            return;
        }
        Some(StatusState::Pending) => {
            match live_deploy {
                Some(d) => actions.push(Action::WatchCiHealth {
                    pr: n,
                    head_sha: pull.pr.head_sha.clone(),
                    change: change.clone(),
                    landscape_sha: d.sha.clone(),
                }),
                // Crashed between status and commit, or reverted by a person: deploy again.
                None => actions.push(Action::DeployCi {
                    pr: n,
                    head_sha: pull.pr.head_sha.clone(),
                    change: change.clone(),
                    risk: level,
                }),
            }
            return;
        }
        Some(StatusState::Failure) | Some(StatusState::Error) => {
            if let Some(d) = live_deploy {
                actions.push(Action::Rollback {
                    env: "ci".into(),
                    commit: d.sha.clone(),
                    reason: format!(
                        "product#{n}: {}",
                        pull.statuses
                            .get(context::CI)
                            .map(|s| s.description.as_str())
                            .unwrap_or("unhealthy")
                    ),
                });
            }
            if pull.pr_env_present {
                actions.push(Action::TeardownPrEnv { pr: n });
            }
            return;
        }
        Some(StatusState::Success) => {}
    }

    // 2. Smoke gate in a PR environment for medium and high risk.
    let gated = level >= RiskLevel::Medium;
    let needs_approval = assessment.needs_approval;
    if gated {
        match status_is(pull, context::SMOKE) {
            None | Some(StatusState::Pending) => {
                if !pull.pr_env_present {
                    actions.push(Action::CreatePrEnv {
                        pr: n,
                        change: change.clone(),
                        toggle: labelled.toggle,
                    });
                }
                actions.push(Action::RunSmoke {
                    pr: n,
                    head_sha: pull.pr.head_sha.clone(),
                    change: change.clone(),
                    toggle: labelled.toggle,
                });
                return;
            }
            Some(StatusState::Failure) | Some(StatusState::Error) => {
                if let Some(d) = live_deploy {
                    actions.push(Action::Rollback {
                        env: "ci".into(),
                        commit: d.sha.clone(),
                        reason: format!("product#{n}: smoke gate failed"),
                    });
                }
                if pull.pr_env_present {
                    actions.push(Action::TeardownPrEnv { pr: n });
                }
                return;
            }
            Some(StatusState::Success) => {
                // Medium tears down at once; high keeps it for the approver.
                if !needs_approval && pull.pr_env_present {
                    actions.push(Action::TeardownPrEnv { pr: n });
                }
            }
        }
    }

    // 3. An authorised approval for the levels that need one.
    if needs_approval {
        let mut approvers: Vec<&String> = pull
            .reviews
            .iter()
            .filter(|r| {
                r.state == crate::forge::ReviewState::Approved && r.commit_id == pull.pr.head_sha
            })
            .map(|r| &r.author)
            .chain(pull.approve_comments.iter().map(|(a, _)| a))
            .collect();
        approvers.sort();
        approvers.dedup();
        let allowed: Vec<&String> = approvers
            .iter()
            .copied()
            .filter(|a| pull.approvers.get(*a) == Some(&Authority::Allowed))
            .collect();
        let refused: Vec<(String, String)> = approvers
            .iter()
            .filter_map(|a| match pull.approvers.get(*a) {
                Some(Authority::Refused(why)) => Some(((*a).clone(), why.clone())),
                _ => None,
            })
            .collect();
        if !refused.is_empty() {
            let mut body = String::from("**Approvals that do not count:**\n\n");
            for (who, why) in &refused {
                body.push_str(&format!("- {}: {}\n", text::inert(who), text::inert(why)));
            }
            body.push_str("\nHigh-risk product PRs need an approval from someone the policy lists under `people.approvers` who also has write access.\n");
            comment(repo, pull, "approval", body, actions);
        }
        // An approval carried over a rebuild (main gained only verified bumps).
        let carried = pull
            .statuses
            .get(context::APPROVAL)
            .filter(|s| s.state == StatusState::Success && s.description.contains(CARRIED))
            .map(|s| s.description.clone());
        match allowed
            .first()
            .map(|w| format!("approved by {}", text::inert(w)))
            .or(carried)
        {
            Some(description) => {
                set_status(
                    repo,
                    pull,
                    context::APPROVAL,
                    StatusState::Success,
                    description,
                    actions,
                );
                if pull.pr_env_present {
                    actions.push(Action::TeardownPrEnv { pr: n });
                }
            }
            None => {
                set_status(
                    repo,
                    pull,
                    context::APPROVAL,
                    StatusState::Pending,
                    "waiting for an authorised approval".into(),
                    actions,
                );
                return;
            }
        }
    }

    // 4. Merge what the policy lets the bot merge.
    let approved = needs_approval; // reached here only when approved
    if policy.risk.auto_merge.contains(&level) || approved {
        merge_or_rebuild(snap, repo, pull, change, actions);
    } else {
        comment(
            repo,
            pull,
            "merge",
            format!(
                "All gates are green. `risk: {level}` is not merged automatically (policy `risk.auto_merge`): a person merges it."
            ),
            actions,
        );
    }
}

/// Why a product PR bumping `change` is out of date, if it is: an open
/// product PR bumps the same component further (`superseded by #N (payments
/// 1.4.4)`), or main pins that version or a newer one already. One component
/// has one live product PR at a time, the newest.
fn superseded(
    snap: &Snapshot,
    pull: &ProductPull,
    change: &super::snapshot::ComponentChange,
) -> Option<String> {
    let newer = snap
        .product
        .pulls
        .iter()
        .filter(|p| p.pr.state == PrState::Open && p.pr.number != pull.pr.number)
        .filter(|p| p.pr.base_ref == pull.pr.base_ref)
        .filter_map(|p| match p.changes.as_deref() {
            Ok([c]) if c.component == change.component && c.to > change.to => {
                Some((c.to.clone(), p.pr.number))
            }
            _ => None,
        })
        .max();
    if let Some((to, number)) = newer {
        return Some(format!(
            "superseded by #{number} ({} {to})",
            change.component
        ));
    }
    snap.product
        .manifest
        .components
        .get(&change.component)
        .filter(|pinned| pinned.version >= change.to)
        .map(|pinned| {
            format!(
                "superseded by main, which pins {} {} already",
                change.component, pinned.version
            )
        })
}

/// What a rebuilt head says of the verdicts it carries (see `pulls.rs`).
pub const CARRIED: &str = "(carried from ";

/// The last step of a green product PR. What merges must be what was
/// verified plus what main has. A bump behind a main that gained only other
/// bumps (each verified on its own road) merges as it is, and only if git
/// cannot merge it (the bump lines are neighbours, GitHub answers 405) is
/// the bot's branch rebuilt on main, its verdicts carried to the new head,
/// and merged — all in the merge step (`Action::Merge::rebuild`): ten bumps
/// landing together cost a rebuild per conflict and one pass, never a CI
/// round or a pass each. Behind a main that gained anything else (a policy change, a
/// person's commit) the branch is rebuilt and CI runs again. A branch a
/// person pushed to is theirs: the bot says so and only tries the merge. A
/// refused merge is recorded (`stagecoach/merge`) and tried again only once
/// main moves.
fn merge_or_rebuild(
    snap: &Snapshot,
    repo: &RepoId,
    pull: &ProductPull,
    change: &super::snapshot::ComponentChange,
    actions: &mut Vec<Action>,
) {
    let n = pull.pr.number;
    let refused_here = pull.statuses.get(context::MERGE).is_some_and(|s| {
        s.state == StatusState::Failure
            && s.description
                .contains(&format!("at main {}", short(&snap.product.main_sha)))
    });
    let branch = &pull.branch;
    let rebuild = |carry: Vec<crate::forge::CommitStatus>| Action::RebuildProductPr {
        pr: n,
        branch: pull.pr.head_ref.clone(),
        old_head: pull.pr.head_sha.clone(),
        change: change.clone(),
        carry,
    };
    if branch.behind && branch.bot_owned && !branch.main_gained_only_bumps {
        actions.push(rebuild(Vec::new()));
        return;
    }
    if branch.behind && branch.bot_owned && refused_here {
        actions.push(rebuild(carried(pull)));
        return;
    }
    if branch.behind && !branch.bot_owned {
        comment(
            repo,
            pull,
            "rebase",
            "Someone other than Stagecoach pushed to this branch, so it is theirs now: Stagecoach will not rebuild it on main. Rebase it by hand (or close it; a new bump PR is opened for the next release).".into(),
            actions,
        );
    }
    if !refused_here {
        // The bot's own branch on a main of bumps may be rebuilt inside the
        // merge when git cannot merge it: other merges of this same pass
        // move main under it, and waiting a pass for each would make a
        // train of N green bumps take N passes.
        let rebuild = (branch.bot_owned && branch.main_gained_only_bumps).then(|| {
            super::action::MergeRebuild {
                branch: pull.pr.head_ref.clone(),
                change: change.clone(),
                carry: carried(pull),
            }
        });
        actions.push(Action::Merge {
            pr: n,
            head_sha: pull.pr.head_sha.clone(),
            rebuild,
        });
    }
}

/// The green verdicts of a bump that carry to its rebuilt head, each
/// without the note of an earlier carry.
fn carried(pull: &ProductPull) -> Vec<crate::forge::CommitStatus> {
    [
        context::LABELS,
        context::CI,
        context::SMOKE,
        context::APPROVAL,
    ]
    .iter()
    .filter_map(|c| pull.statuses.get(*c))
    .filter(|s| s.state == StatusState::Success)
    .map(|s| crate::forge::CommitStatus {
        description: s
            .description
            .split(CARRIED)
            .next()
            .unwrap_or("")
            .trim_end()
            .to_string(),
        ..s.clone()
    })
    .collect()
}
