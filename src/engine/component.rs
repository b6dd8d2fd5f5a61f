//! Flows 1 and 2: component PR labels, and a released component → one product PR.

use std::collections::BTreeMap;

use semver::Version;

use crate::forge::StatusState;
use crate::labels::{self, Labelled};
use crate::policy::{Policy, Tagging};

use super::action::{Action, context};
use super::snapshot::{ComponentChange, ComponentPull, ComponentView, Snapshot};
use super::text;

/// The branch of the product PR that bumps `component` to `version`; its
/// name is the idempotency key: one PR per bump, ever.
pub fn bump_branch(component: &str, version: &Version) -> String {
    format!("stagecoach/{component}-{version}")
}

/// What a component PR is told once its release has a product PR: the last
/// step of opening one, so its absence means the opening did not finish.
pub fn released_comment(
    component: &str,
    version: &Version,
    product: &crate::forge::RepoId,
    number: u64,
) -> String {
    format!("Released in {component} {version}: product PR {product}#{number}.")
}

pub fn decide(policy: &Policy, snap: &Snapshot) -> Vec<Action> {
    let mut actions = Vec::new();
    for component in &snap.components {
        for pull in &component.pulls {
            check_labels(policy, component, pull, &mut actions);
        }
        carry_releases_to_product(policy, snap, component, &mut actions);
    }
    actions
}

/// Flow 1: tell the developer, once and in place, what the labels lack.
fn check_labels(
    policy: &Policy,
    component: &ComponentView,
    pull: &ComponentPull,
    actions: &mut Vec<Action>,
) {
    let parsed = labels::parse_labels(policy, &pull.pr.labels);
    let verdict = parsed.complete();
    let (state, description, body) = match &verdict {
        Ok(l) => (
            StatusState::Success,
            if l.functional {
                "labels complete".to_string()
            } else {
                "labels complete (functional: false, no product PR)".to_string()
            },
            "✅ Labels are complete. Thank you!".to_string(),
        ),
        Err(problems) => (
            StatusState::Failure,
            format!("{} label problem(s)", problems.len()),
            text::label_problems(policy, problems),
        ),
    };
    // A closed PR is done with: its labels only matter if it was merged,
    // and then flow 2 says what became of it.
    if pull.pr.state != crate::forge::PrState::Open {
        return;
    }
    let current = pull.statuses.get(context::LABELS);
    if current.map(|s| (s.state, s.description.as_str())) != Some((state, &description)) {
        actions.push(Action::SetStatus {
            repo: component.repo.clone(),
            sha: pull.pr.head_sha.clone(),
            context: context::LABELS.into(),
            state,
            description,
        });
    }
    // Only speak when there is something to fix, or to say it is fixed now.
    let had_comment = pull.sticky.contains_key("labels");
    if (verdict.is_err() || had_comment)
        && pull.sticky.get("labels").map(String::as_str) != Some(body.as_str())
    {
        actions.push(Action::Comment {
            repo: component.repo.clone(),
            pr: pull.pr.number,
            topic: "labels".into(),
            body,
        });
    }
}

/// Flow 2: every merged, functional, labelled PR that reached a component
/// release gets that release into the product through one product PR.
fn carry_releases_to_product(
    policy: &Policy,
    snap: &Snapshot,
    component: &ComponentView,
    actions: &mut Vec<Action>,
) {
    let pinned = snap
        .product
        .manifest
        .components
        .get(&component.name)
        .map(|p| p.version.clone());
    let mut by_release: BTreeMap<Version, Vec<(&ComponentPull, Labelled)>> = BTreeMap::new();
    let mut waiting_for_tag = false;
    for pull in component.pulls.iter().filter(|p| p.pr.merged) {
        let labelled = match labels::parse_labels(policy, &pull.pr.labels).complete() {
            Ok(l) => l,
            Err(problems) => {
                let body = format!(
                    "This PR was merged with label problems, so Stagecoach opens no product PR for it. Fix the labels and the next resync picks it up.\n\n{}",
                    text::label_problems(policy, &problems)
                );
                if pull.sticky.get("product") != Some(&body) {
                    actions.push(Action::Comment {
                        repo: component.repo.clone(),
                        pr: pull.pr.number,
                        topic: "product".into(),
                        body,
                    });
                }
                continue;
            }
        };
        if !labelled.functional {
            let body = text::not_functional();
            if pull.sticky.get("product").map(String::as_str) != Some(body.as_str()) {
                actions.push(Action::Comment {
                    repo: component.repo.clone(),
                    pr: pull.pr.number,
                    topic: "product".into(),
                    body,
                });
            }
            continue;
        }
        match &pull.released_in {
            Some(v) => by_release
                .entry(v.clone())
                .or_default()
                .push((pull, labelled)),
            None => {
                waiting_for_tag = true;
                // Tagged, but not as a release: say so, or the developer
                // waits for a product PR that never comes.
                if !pull.ignored_tags.is_empty() {
                    let body = text::ignored_tags(policy, &component.name, &pull.ignored_tags);
                    if pull.sticky.get("product") != Some(&body) {
                        actions.push(Action::Comment {
                            repo: component.repo.clone(),
                            pr: pull.pr.number,
                            topic: "product".into(),
                            body,
                        });
                    }
                }
            }
        }
    }
    if waiting_for_tag && policy.versioning.tagging == Tagging::Bot {
        if let Some((version, sha)) = &component.untagged_next {
            actions.push(Action::TagComponent {
                component: component.name.clone(),
                version: version.clone(),
                sha: sha.clone(),
            });
        }
    }
    // Only the newest release gets a product PR: it carries everything
    // before it. So it carries the labels (and so the risk) of every change
    // released since what main pins, not only of its own: a low-risk v1.4.4
    // must not take a high-risk v1.4.3 past the approval it waits for.
    let Some(version) = by_release.keys().next_back().cloned() else {
        return;
    };
    let Some(from) = pinned else {
        return;
    };
    if version <= from {
        return;
    }
    let pulls: Vec<(&ComponentPull, Labelled)> = by_release
        .into_iter()
        .filter(|(v, _)| *v > from)
        .flat_map(|(_, pulls)| pulls)
        .collect();
    let branch = bump_branch(&component.name, &version);
    if let Some(&number) = snap.product.pr_branches.get(&branch) {
        // Opening a product PR ends with telling its sources where they went;
        // until then (a crash after creating the PR) its labels may be missing.
        let open = snap
            .product
            .pulls
            .iter()
            .any(|p| p.pr.number == number && p.pr.state == crate::forge::PrState::Open);
        let told = released_comment(&component.name, &version, &snap.product.repo, number);
        let finished = pulls
            .iter()
            .all(|(p, _)| p.sticky.get("product") == Some(&told));
        if finished || !open {
            return;
        }
    }
    let merged: Vec<&Labelled> = pulls.iter().map(|(_, l)| l).collect();
    let labels = text::combined_labels(policy, &merged);
    actions.push(Action::OpenProductPr {
        change: ComponentChange {
            component: component.name.clone(),
            from,
            to: version,
        },
        sources: pulls.iter().map(|(p, _)| p.pr.number).collect(),
        labels,
        branch,
        reason: "component release".into(),
    });
}
