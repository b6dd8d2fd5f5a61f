//! Flow 7: a `hotfix-to/vX.Y.Z` label on a component PR, put there by
//! someone allowed, cuts `vX.Y.(Z+1)` from tag vX.Y.Z with that component
//! bumped, sends it to canary, and makes sure main carries the fix too.

use semver::Version;

use crate::labels;
use crate::policy::Policy;

use super::action::Action;
use super::component::bump_branch;
use super::release::{self, PromotionRequest, Step};
use super::snapshot::{Authority, ComponentChange, ComponentPull, ComponentView, Snapshot};
use super::text;

/// The trailer on a hotfix tag that names the component PR it carries: the
/// idempotency key of the whole flow.
pub use super::trailer::HOTFIX_FOR;

pub fn hotfix_key(component: &ComponentView, pull: &ComponentPull) -> String {
    format!("{}#{}", component.repo, pull.pr.number)
}

pub fn decide(policy: &Policy, snap: &Snapshot) -> Vec<Action> {
    let mut actions = Vec::new();
    for component in &snap.components {
        // A PR closed without merging carries no fix.
        for pull in component
            .pulls
            .iter()
            .filter(|p| p.pr.state == crate::forge::PrState::Open || p.pr.merged)
        {
            let Some(base) = labels::parse_labels(policy, &pull.pr.labels).hotfix_to else {
                continue;
            };
            decide_one(policy, snap, component, pull, &base, &mut actions);
        }
    }
    actions
}

fn say(component: &ComponentView, pull: &ComponentPull, body: String, actions: &mut Vec<Action>) {
    if pull.sticky.get("hotfix") != Some(&body) {
        actions.push(Action::Comment {
            repo: component.repo.clone(),
            pr: pull.pr.number,
            topic: "hotfix".into(),
            body,
        });
    }
}

fn decide_one(
    policy: &Policy,
    snap: &Snapshot,
    component: &ComponentView,
    pull: &ComponentPull,
    base: &Version,
    actions: &mut Vec<Action>,
) {
    let prefix = &policy.versioning.tag_prefix;
    let base_tag = format!("{prefix}{base}");
    let requested_by = match &pull.hotfix_actor {
        Some((who, Authority::Allowed)) => who.clone(),
        Some((who, Authority::Refused(why))) => {
            say(
                component,
                pull,
                format!(
                    "The label `{}` was added by {}, who may not trigger a hotfix: {}. Nothing was done. Someone listed under `people.hotfixers` must add it.",
                    text::inert(&text::fill(&policy.labels.hotfix, &base.to_string())),
                    text::inert(who),
                    text::inert(why)
                ),
                actions,
            );
            return;
        }
        None => return,
    };
    let key = hotfix_key(component, pull);
    if let Some(done) = snap
        .product
        .tags
        .iter()
        .find(|t| t.trailers.get(HOTFIX_FOR) == Some(key.as_str()))
    {
        // Already cut: get it to canary, then tell the PR where it is.
        let canary = hotfix_env(policy).unwrap_or_else(|| "canary".into());
        let prod = policy
            .environments
            .last()
            .map(|e| e.name.clone())
            .unwrap_or_else(|| "prod".into());
        let released = pull
            .released_in
            .as_ref()
            .map(|v| v.to_string())
            .unwrap_or_default();
        let mut on_canary = format!(
            "Hotfix **{}** was cut from {base_tag} with {} {released} and is on {canary}. On-call: verify it, then `stagecoach promote {} --to {prod}`.",
            done.name, component.name, done.name
        );
        if let Some(env) = hotfix_env(policy) {
            let req = PromotionRequest {
                env: env.clone(),
                tag: done.name.clone(),
                override_reason: None,
                by: "stagecoach".into(),
                authority: Authority::Allowed,
            };
            // Sent once: a hotfix already promoted to canary, where another
            // tag has been promoted since, is not sent there again, or every
            // later release promoted to canary would be pushed back to this
            // hotfix for as long as the merged PR is read (seen in the crash
            // test: canary flipped from lap 5's hotfix to lap 1's). Judged
            // from the promote commits, not their health verdicts, which are
            // read for the newest promotions only — and, once those commits
            // are older than the landscape record observe reads, from the
            // PR's own answer, said only once the hotfix ran there.
            let ran = pull.sticky.get("hotfix") == Some(&on_canary)
                || snap.envs.iter().find(|v| v.name == env).is_some_and(|v| {
                    v.current_tag() != Some(done.name.as_str())
                        && v.history.iter().any(|c| {
                            !c.reverted
                                && c.trailers.get(super::trailer::ACTION)
                                    == Some(super::trailer::action::PROMOTE)
                                && c.trailers.get(super::trailer::PRODUCT)
                                    == Some(done.name.as_str())
                        })
                });
            if !ran {
                // Where it is on its way; `None` once it ran there.
                let how = match (
                    release::failed_wave(snap, &req),
                    release::next_step(policy, snap, &req),
                ) {
                    (Some(failed), _) => Some(format!("it stopped on {env}: {failed}")),
                    (None, Step::Act(next)) => {
                        actions.extend(next);
                        return;
                    }
                    (None, Step::Done) => None,
                    (
                        None,
                        Step::Wait { why, .. } | Step::Frozen { why, .. } | Step::Watching(why),
                    ) => Some(format!("on its way to {env} ({why})")),
                    (None, Step::Failed(why)) => Some(format!("it cannot go to {env}: {why}")),
                };
                if let Some(how) = how {
                    on_canary = format!(
                        "Hotfix **{}** was cut from {base_tag} with {} {}: {how}.",
                        done.name, component.name, released
                    );
                }
            }
        }
        say(component, pull, on_canary, actions);
        ensure_main_carries_fix(policy, snap, component, pull, actions);
        return;
    }
    if !pull.pr.merged {
        say(
            component,
            pull,
            format!(
                "Hotfix to {base_tag} requested: it starts once this PR is merged and released."
            ),
            actions,
        );
        return;
    }
    let Some(to) = &pull.released_in else {
        say(
            component,
            pull,
            format!(
                "Hotfix to {base_tag} waits for a release tag of {} containing this PR.",
                component.name
            ),
            actions,
        );
        return;
    };
    let Some(base_view) = snap.product.tags.iter().find(|t| t.name == base_tag) else {
        say(
            component,
            pull,
            format!("There is no product tag {base_tag} to hotfix."),
            actions,
        );
        return;
    };
    let from = base_view
        .manifest
        .as_ref()
        .and_then(|m| m.components.get(&component.name))
        .map(|p| p.version.clone());
    let Some(from) = from else {
        say(
            component,
            pull,
            format!("Product {base_tag} does not contain {}.", component.name),
            actions,
        );
        return;
    };
    if *to <= from {
        say(
            component,
            pull,
            format!(
                "Product {base_tag} already has {} {from} (≥ {to}): nothing to hotfix.",
                component.name
            ),
            actions,
        );
        return;
    }
    let mut version = Version::new(base.major, base.minor, base.patch + 1);
    while snap.product.tags.iter().any(|t| t.version == version) {
        version.patch += 1;
    }
    actions.push(Action::Hotfix {
        base: base_tag,
        tag: format!("{prefix}{version}"),
        change: ComponentChange {
            component: component.name.clone(),
            from,
            to: to.clone(),
        },
        source: hotfix_key(component, pull),
        requested_by,
    });
}

/// The environment a hotfix goes to first: the first one following releases.
fn hotfix_env(policy: &Policy) -> Option<String> {
    policy
        .environments
        .iter()
        .find(|e| matches!(e.follows, crate::policy::Follows::Releases))
        .map(|e| e.name.clone())
}

/// The fix must not be lost: main has the component at the hotfix version or
/// later, or a product PR is on its way there.
fn ensure_main_carries_fix(
    policy: &Policy,
    snap: &Snapshot,
    component: &ComponentView,
    pull: &ComponentPull,
    actions: &mut Vec<Action>,
) {
    let Some(to) = &pull.released_in else { return };
    let on_main = snap
        .product
        .manifest
        .components
        .get(&component.name)
        .map(|p| p.version.clone());
    let Some(on_main) = on_main else { return };
    if on_main >= *to {
        return;
    }
    let branch = bump_branch(&component.name, to);
    if snap.product.pr_branches.contains_key(&branch) {
        return;
    }
    actions.push(Action::OpenProductPr {
        change: ComponentChange {
            component: component.name.clone(),
            from: on_main,
            to: to.clone(),
        },
        sources: vec![pull.pr.number],
        labels: labels::parse_labels(policy, &pull.pr.labels)
            .complete()
            .map(|l| text::combined_labels(policy, &[&l]))
            .unwrap_or_default(),
        branch,
        reason: "carry a hotfix to main".into(),
    });
}
