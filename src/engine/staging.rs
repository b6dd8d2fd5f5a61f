//! Flow 5: minor-or-greater product tags (or the schedule) go to staging;
//! while a tag is there its stability is sampled; when staging moves on the
//! tag's score is written as a git note and a tag that passed the KPI
//! becomes a release.

use crate::engine::stability;
use crate::policy::{Environment, Follows, Policy};
use crate::version::Bump;

use super::action::Action;
use super::snapshot::{ProductTag, Snapshot};

pub fn staging_env(policy: &Policy) -> Option<&Environment> {
    policy
        .environments
        .iter()
        .find(|e| matches!(e.follows, Follows::ProductTags))
}

/// Whether a tag is big enough to go to staging by itself.
fn meets_min_bump(tag: &ProductTag, min: Option<Bump>) -> bool {
    let v = &tag.version;
    match min {
        None | Some(Bump::Patch) => true,
        Some(Bump::Minor) => v.patch == 0,
        Some(Bump::Major) => v.patch == 0 && v.minor == 0,
    }
}

pub fn decide(policy: &Policy, snap: &Snapshot) -> Vec<Action> {
    let mut actions = Vec::new();
    // Heal a crash between "note written" and "release published".
    for tag in &snap.product.tags {
        let passed = tag
            .note
            .as_deref()
            .and_then(stability::parse_note)
            .is_some_and(|s| s.passed);
        let published = tag.release.as_ref().is_some_and(|r| !r.draft);
        if passed && !published {
            actions.push(Action::FinalizeStability {
                tag: tag.name.clone(),
            });
        }
    }
    let Some(env) = staging_env(policy) else {
        return actions;
    };
    let Some(view) = snap.envs.iter().find(|v| v.name == env.name) else {
        return actions;
    };
    let current = view
        .current_tag()
        .and_then(|name| snap.product.tags.iter().find(|t| t.name == name));
    let last_promotion = view
        .history
        .iter()
        .find(|c| !c.reverted && c.trailers.get("Stagecoach-Action") == Some("promote"))
        .map(|c| c.time);
    let when = env.when.as_ref();
    let schedule_fired = when
        .and_then(|w| w.schedule.as_deref())
        .is_some_and(|cron| stability::sample_due(cron, last_promotion, snap.now));
    let min_bump = when.and_then(|w| w.min_bump);
    // A schedule alone (no `min_bump`) is the only trigger: tags wait for
    // it, or `when: {schedule: ...}` would let every tag go at once.
    let by_bump = min_bump.is_some() || when.is_none_or(|w| w.schedule.is_none());
    let candidate = snap
        .product
        .tags
        .iter()
        .filter(|t| t.on_main && !t.is_hotfix() && t.rejection().is_none())
        .filter(|t| current.is_none_or(|c| t.version > c.version))
        .filter(|t| schedule_fired || (by_bump && meets_min_bump(t, min_bump)))
        .max_by(|a, b| a.version.cmp(&b.version));
    // A freeze on staging holds the next tag back; sampling goes on.
    let frozen = super::freeze::frozen(policy, &env.name, snap.now).is_some();
    if let Some(next) = candidate.filter(|_| !frozen) {
        if let Some(cur) = current.filter(|c| c.note.is_none()) {
            actions.push(Action::FinalizeStability {
                tag: cur.name.clone(),
            });
        }
        let waves = env.waves.len().max(1);
        actions.push(Action::Promote {
            env: env.name.clone(),
            tag: next.name.clone(),
            wave: 1,
            waves,
            clusters: env
                .waves
                .first()
                .cloned()
                .unwrap_or_else(|| env.clusters.clone()),
            override_reason: None,
            requested_by: None,
        });
        return actions;
    }
    // Record the staging health verdict of the tag that arrived; an unhealthy
    // staging is not rolled back (it is what staging is for): the verdict shows
    // on the road, and the stability samples score it.
    if let (Some(cur), Some(_)) = (current, env.health.as_ref()) {
        if let Some(commit) = view
            .wave_commit(&cur.name, 1)
            .filter(|c| c.health.is_none())
        {
            actions.push(Action::WatchPromotion {
                env: env.name.clone(),
                tag: cur.name.clone(),
                commit: commit.sha.clone(),
                clusters: env
                    .waves
                    .first()
                    .cloned()
                    .unwrap_or_else(|| env.clusters.clone()),
            });
        }
    }
    if let (Some(cur), Some(stab)) = (current, env.stability.as_ref()) {
        if cur.note.is_none()
            && stability::sample_due(&stab.sample, cur.samples.last().map(|s| s.at), snap.now)
        {
            actions.push(Action::SampleStability {
                tag: cur.name.clone(),
            });
        }
    }
    actions
}
