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
    if pull.pr.state == crate::forge::PrState::Open {
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
    }
    // Only speak when there is something to fix, or to say it is fixed now.
    let had_comment = pull.sticky.contains_key("labels");
    if (verdict.is_err() || had_comment)
        && pull.sticky.get("labels").map(String::as_str) != Some(body.as_str())
        && (pull.pr.state == crate::forge::PrState::Open || verdict.is_err())
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
        let Ok(labelled) = labels::parse_labels(policy, &pull.pr.labels).complete() else {
            continue;
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
            None => waiting_for_tag = true,
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
    // Only the newest release matters: it carries everything before it.
    let Some((version, pulls)) = by_release.into_iter().next_back() else {
        return;
    };
    let Some(from) = pinned else {
        return;
    };
    if version <= from {
        return;
    }
    let branch = bump_branch(&component.name, &version);
    let merged: Vec<&Labelled> = pulls.iter().map(|(_, l)| l).collect();
    let labels = text::combined_labels(policy, &merged);
    if let Some(n) = snap.product.pr_branches.get(&branch) {
        // A run that opened the PR but stopped before labelling it (a crash,
        // a refused request) left a PR without any of the copied labels:
        // finish that, never open a second one.
        let unlabelled = snap.product.pulls.iter().any(|p| {
            p.pr.number == *n
                && p.pr.state == crate::forge::PrState::Open
                && !labels.is_empty()
                && labels.iter().all(|l| !p.pr.labels.contains(l))
        });
        if !unlabelled {
            return;
        }
    }
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
