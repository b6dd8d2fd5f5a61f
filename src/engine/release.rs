//! Flow 6: releases to canary and prod, on demand, in waves of clusters with
//! a soak time and a health watch between waves.
//!
//! A promotion is the desired state "tag T on environment E". Its progress
//! lives in the landscape's commits (one per wave, with trailers) and their
//! health statuses, so re-running a promotion resumes it after a crash.

use chrono::{DateTime, Utc};

use crate::forge::StatusState;
use crate::policy::{Follows, Policy};

use super::action::Action;
use super::snapshot::{Authority, PromotionAsk, Snapshot};
use super::{freeze, rejection, text};

#[derive(Debug, Clone, PartialEq)]
pub struct PromotionRequest {
    pub env: String,
    pub tag: String,
    pub override_reason: Option<String>,
    pub by: String,
    pub authority: Authority,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Do these, then plan again.
    Act(Vec<Action>),
    /// Nothing to do before `until` (soaking).
    Wait { until: DateTime<Utc>, why: String },
    /// The environment is in a freeze window (policy `freezes`): the next
    /// wave waits until `until`; the waves out already stay.
    Frozen { until: DateTime<Utc>, why: String },
    /// A wave's health watch runs; its verdict is the next step.
    Watching(String),
    /// Every wave is out and healthy.
    Done,
    /// A wave failed its health watch and was rolled back; the promotion stops.
    Failed(String),
}

/// Why a promotion may not start, in words for the person who asked.
pub fn refusal(policy: &Policy, snap: &Snapshot, req: &PromotionRequest) -> Option<String> {
    let Some(env) = policy.environment(&req.env) else {
        return Some(format!("no environment `{}` in the policy", req.env));
    };
    let Some(tag) = snap.product.tags.iter().find(|t| t.name == req.tag) else {
        return Some(format!("no product tag `{}`", req.tag));
    };
    if let Authority::Refused(why) = &req.authority {
        return Some(format!("{} may not promote to {}: {why}", req.by, req.env));
    }
    // Not even an override takes a rejected tag: un-rejecting is the way.
    if let Some(why) = rejection::refusal(tag) {
        return Some(why);
    }
    if req.override_reason.is_some() {
        return None;
    }
    match &env.follows {
        Follows::Releases => {
            let released = tag.release.as_ref().is_some_and(|r| !r.draft);
            if !released && !tag.is_hotfix() {
                return Some(format!(
                    "{} is not a release (its stability score has not passed the KPI); use --override \"reason\" to promote it anyway",
                    req.tag
                ));
            }
        }
        Follows::Environment(upstream) => {
            let runs = snap
                .envs
                .iter()
                .find(|v| &v.name == upstream)
                .and_then(|v| v.current_tag())
                == Some(req.tag.as_str());
            if !runs {
                return Some(format!(
                    "{} does not run on {upstream}, which {} follows; promote it there first or use --override \"reason\"",
                    req.tag, req.env
                ));
            }
        }
        Follows::ProductTags | Follows::ProductPrs => {}
    }
    None
}

/// The next step of a promotion that has been allowed.
pub fn next_step(policy: &Policy, snap: &Snapshot, req: &PromotionRequest) -> Step {
    let Some(env) = policy.environment(&req.env) else {
        return Step::Failed(format!("no environment `{}`", req.env));
    };
    let Some(view) = snap.envs.iter().find(|v| v.name == req.env) else {
        return Step::Failed(format!("environment `{}` was not observed", req.env));
    };
    let waves: Vec<Vec<String>> = if env.waves.is_empty() {
        vec![env.clusters.clone()]
    } else {
        env.waves.clone()
    };
    let tag = snap.product.tags.iter().find(|t| t.name == req.tag);
    // Rejected mid-rollout: no further wave goes (what is out stays).
    if let Some(why) = tag.and_then(rejection::refusal) {
        return Step::Failed(format!("the promotion of {} stopped: {why}", req.tag));
    }
    let is_hotfix = tag.is_some_and(|t| t.is_hotfix());
    let manifest = tag.and_then(|t| t.manifest.as_ref());
    let mut previous_done: Option<DateTime<Utc>> = None;
    for (i, clusters) in waves.iter().enumerate() {
        let wave = i + 1;
        // The record says the wave has the tag, and its files agree (a
        // person's edit since then makes the wave go again).
        let standing = view
            .wave_commit(&req.tag, wave)
            .filter(|_| manifest.is_none_or(|m| view.runs(m, clusters)));
        match standing {
            None => {
                if let Some(done) = previous_done {
                    let until = done + chrono::Duration::from_std(env.soak).unwrap_or_default();
                    if until > snap.now {
                        return Step::Wait {
                            until,
                            why: format!(
                                "soaking wave {}/{} of {} on {}",
                                wave - 1,
                                waves.len(),
                                req.tag,
                                req.env
                            ),
                        };
                    }
                }
                if let Some(frozen) = freeze::frozen(policy, &req.env, snap.now).filter(|_| {
                    freeze::exemption(is_hotfix, req.override_reason.as_deref()).is_none()
                }) {
                    return Step::Frozen {
                        until: frozen.until,
                        why: format!(
                            "{}: wave {wave}/{} of {} waits",
                            frozen.describe(&req.env),
                            waves.len(),
                            req.tag
                        ),
                    };
                }
                return Step::Act(vec![Action::Promote {
                    env: req.env.clone(),
                    tag: req.tag.clone(),
                    wave,
                    waves: waves.len(),
                    clusters: clusters.clone(),
                    override_reason: req.override_reason.clone(),
                    requested_by: Some(req.by.clone()),
                }]);
            }
            Some(commit) => match commit.health {
                None | Some(StatusState::Pending) => {
                    let watch = Action::WatchPromotion {
                        env: req.env.clone(),
                        tag: req.tag.clone(),
                        commit: commit.sha.clone(),
                        clusters: clusters.clone(),
                    };
                    if watch
                        .gate_key()
                        .is_some_and(|k| snap.gates_running.contains(&k))
                    {
                        return Step::Watching(format!(
                            "watching the health of wave {wave}/{} of {} on {}",
                            waves.len(),
                            req.tag,
                            req.env
                        ));
                    }
                    return Step::Act(vec![watch]);
                }
                Some(StatusState::Failure) | Some(StatusState::Error) => {
                    return Step::Act(vec![Action::Rollback {
                        env: req.env.clone(),
                        commit: commit.sha.clone(),
                        reason: format!("wave {wave}/{} of {} unhealthy", waves.len(), req.tag),
                    }]);
                }
                // The soak counts from the verdict: a slow watch does not eat it.
                Some(StatusState::Success) => {
                    previous_done = Some(commit.health_at.unwrap_or(commit.time).max(commit.time))
                }
            },
        }
    }
    Step::Done
}

/// The tags that ran on an environment with every wave healthy, newest
/// first (each once): where a rollback may go.
pub fn tags_that_ran(view: &super::snapshot::EnvView) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for c in &view.history {
        let (Some(tag), Some(wave)) = (
            c.trailers.get(super::trailer::PRODUCT),
            c.trailers.get(super::trailer::WAVE),
        ) else {
            continue;
        };
        let last_wave = wave.split_once('/').is_some_and(|(i, n)| i == n);
        let healthy = c.health == Some(StatusState::Success) && !c.reverted;
        if last_wave && healthy && !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_string());
        }
    }
    tags
}

/// Whether an earlier attempt of this promotion failed (a wave was rolled
/// back): then a new request starts over only if a person asks again.
pub fn failed_wave(snap: &Snapshot, req: &PromotionRequest) -> Option<String> {
    let view = snap.envs.iter().find(|v| v.name == req.env)?;
    let newest = view
        .history
        .iter()
        .find(|c| c.trailers.get("Stagecoach-Product") == Some(req.tag.as_str()))?;
    (newest.reverted || newest.trailers.get("Stagecoach-Action") == Some("rollback")).then(|| {
        format!(
            "wave {} of {} on {} was unhealthy and rolled back",
            newest.trailers.get("Stagecoach-Wave").unwrap_or("?"),
            req.tag,
            req.env
        )
    })
}

/// Promotions people asked for with a `/promote` comment on a landscape PR:
/// the same checks and steps as `stagecoach promote`, one step per pass, and
/// the answer in one sticky comment on that PR.
pub fn decide(policy: &Policy, snap: &Snapshot) -> Vec<Action> {
    let mut actions = Vec::new();
    for view in &snap.envs {
        for ask in &view.asks {
            let is_hotfix = snap
                .product
                .tags
                .iter()
                .any(|t| t.name == ask.tag && t.is_hotfix());
            let authority = match (&ask.as_promoter, &ask.as_hotfixer) {
                (Authority::Allowed, _) => Authority::Allowed,
                (_, Authority::Allowed) if is_hotfix => Authority::Allowed,
                (refused, _) => refused.clone(),
            };
            let req = PromotionRequest {
                env: view.name.clone(),
                tag: ask.tag.clone(),
                override_reason: ask.override_reason.clone(),
                by: ask.by.clone(),
                authority,
            };
            let who = text::inert(&ask.by);
            let tag = text::inert(&ask.tag);
            let done = format!(
                "✅ {tag} runs on {} (every wave healthy), as {who} asked.",
                view.name
            );
            // An ask is over once its tag ran healthy on every wave after it:
            // the environment moving on since (a newer tag, a rollback) is
            // not a reason to put the asked tag back.
            let waves = policy
                .environment(&view.name)
                .map_or(1, |e| e.waves.len().max(1));
            if view.completed_since(&ask.tag, waves, ask.asked_at) {
                say(view, ask, done, &mut actions);
                continue;
            }
            // Of the asks still open for one environment the newest wins: two
            // open PRs asking for different tags must not flip it for ever.
            if let Some(newer) = view
                .asks
                .iter()
                .filter(|other| other.asked_at > ask.asked_at)
                .max_by_key(|other| other.asked_at)
            {
                let body = format!(
                    "⏭ {tag} is not promoted to {}: a newer `/promote {}` by {} on #{} asks for {} since. Comment `/promote {tag}` here again to ask for it once more.",
                    view.name,
                    text::inert(&newer.tag),
                    text::inert(&newer.by),
                    newer.pr,
                    view.name
                );
                say(view, ask, body, &mut actions);
                continue;
            }
            let answer = if let Some(why) = refusal(policy, snap, &req) {
                Some(format!(
                    "❌ {who}, {tag} cannot go to {}: {}",
                    view.name,
                    text::inert(&why)
                ))
            } else if let (Some(failed), None) = (failed_wave(snap, &req), &req.override_reason) {
                Some(format!(
                    "🛑 The promotion of {tag} to {} stopped: {}. Fix forward with a new tag.",
                    view.name,
                    text::inert(&failed)
                ))
            } else {
                match next_step(policy, snap, &req) {
                    Step::Act(next) => {
                        actions.extend(next);
                        None
                    }
                    Step::Wait { until, why } => Some(format!(
                        "⏳ Promoting {tag} to {} for {who}: {why}; the next wave goes after {}.",
                        view.name,
                        until.format("%H:%M:%S UTC")
                    )),
                    Step::Watching(why) => Some(format!(
                        "⏳ Promoting {tag} to {} for {who}: {why}.",
                        view.name
                    )),
                    Step::Frozen { why, .. } => Some(format!(
                        "❄️ Promoting {tag} to {} for {who}: {}. It goes on by itself when the freeze ends; `/promote {tag} --override \"reason\"` goes now.",
                        view.name,
                        text::inert(&why)
                    )),
                    Step::Done => Some(done),
                    Step::Failed(why) => Some(format!("🛑 {}", text::inert(&why))),
                }
            };
            if let Some(body) = answer {
                say(view, ask, body, &mut actions);
            }
        }
    }
    actions
}

fn say(
    view: &super::snapshot::EnvView,
    ask: &PromotionAsk,
    body: String,
    actions: &mut Vec<Action>,
) {
    if ask.sticky.get("promote") != Some(&body) {
        actions.push(Action::Comment {
            repo: view.repo.clone(),
            pr: ask.pr,
            topic: "promote".into(),
            body,
        });
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::snapshot::parse_promote_command;

    #[test]
    fn promote_commands_are_read_with_an_optional_override() {
        assert_eq!(
            parse_promote_command("/promote v1.2.0"),
            Some(("v1.2.0".into(), None))
        );
        assert_eq!(
            parse_promote_command("/promote v1.2.0 --override \"customer fix\"\nthanks"),
            Some(("v1.2.0".into(), Some("customer fix".into())))
        );
        assert_eq!(parse_promote_command("please /promote v1"), None);
        assert_eq!(parse_promote_command("/promote"), None);
        assert_eq!(parse_promote_command("/promote --override x"), None);
    }
}
