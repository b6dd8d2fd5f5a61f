//! The on-demand side: a person asks for tag T on environment E (flow 6), or
//! cuts a hotfix by hand (flow 7 without a label). The engine checks who
//! asks and whether it may happen, then drives it to the end (a promotion to
//! its last wave, or to the first unhealthy wave, which it rolls back).
//! Re-running the same request resumes where the last run stopped.

use crate::error::{Error, Result};
use crate::policy::Principal;

use super::Engine;
use semver::Version;

use super::action::Action;
use super::authority;
use super::release::{self, PromotionRequest, Step};
use super::snapshot::ComponentChange;

/// How a finished promotion ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Promoted {
    pub tag: String,
    pub env: String,
    pub steps: Vec<String>,
}

impl Engine {
    /// Promote `tag` to `env` as the account the forge token belongs to.
    pub async fn promote(
        &self,
        tag: &str,
        env: &str,
        override_reason: Option<String>,
    ) -> Result<Promoted> {
        let policy = self.load_policy().await?;
        let me = self.forge.whoami().await?;
        let snap = self.observe(&policy).await?;
        let is_hotfix = snap
            .product
            .tags
            .iter()
            .any(|t| t.name == tag && t.is_hotfix());
        // Release managers promote; on-call may also push a hotfix along.
        let mut allowed: Vec<Principal> = policy.people.promoters.clone();
        if is_hotfix {
            allowed.extend(policy.people.hotfixers.iter().cloned());
        }
        let product = self.config.product_repo();
        let authority =
            authority::resolve(self.forge.as_ref(), &product, "promoters", &allowed, &me).await?;
        let req = PromotionRequest {
            env: env.to_string(),
            tag: tag.to_string(),
            override_reason,
            by: me,
            authority,
        };
        // Not allowed is its own answer (exit code 3), once env and tag exist.
        if let super::snapshot::Authority::Refused(why) = &req.authority
            && policy.environment(env).is_some()
            && snap.product.tags.iter().any(|t| t.name == tag)
        {
            return Err(Error::denied(format!(
                "cannot promote {tag} to {env}: {} may not promote to {env}: {why}",
                req.by
            )));
        }
        if let Some(why) = release::refusal(&policy, &snap, &req) {
            return Err(Error::input(format!(
                "cannot promote {tag} to {env}: {why}"
            )));
        }
        if let Some(failed) = release::failed_wave(&snap, &req) {
            if req.override_reason.is_none() {
                return Err(Error::input(format!(
                    "cannot promote {tag} to {env}: {failed}; fix forward with a new tag, or retry with --override \"reason\""
                )));
            }
        }
        let mut steps = Vec::new();
        let mut finished = self.gate_finished();
        loop {
            finished.borrow_and_update();
            let snap = self.observe(&policy).await?;
            match release::next_step(&policy, &snap, &req) {
                Step::Done => {
                    return Ok(Promoted {
                        tag: tag.into(),
                        env: env.into(),
                        steps,
                    });
                }
                Step::Failed(why) => return Err(Error::world(why)),
                Step::Watching(why) => {
                    steps.push(why.clone());
                    tracing::info!("{why}");
                    let _ = finished.changed().await;
                }
                Step::Frozen { why, .. } => {
                    return Err(Error::input(format!(
                        "cannot promote {tag} to {env} now: {why}; run the same command after the freeze (it resumes), or with --override \"reason\""
                    )));
                }
                Step::Wait { until, why } => {
                    steps.push(why.clone());
                    tracing::info!(%until, "{why}");
                    let wait = (until - self.clock.now()).to_std().unwrap_or_default();
                    tokio::time::sleep(wait).await;
                }
                Step::Act(actions) => {
                    for action in &actions {
                        let outcome = self.run_action(&policy, &snap, action).await?;
                        steps.push(format!("{}: {outcome}", action.describe()));
                        if let Action::Rollback { reason, .. } = action {
                            return Err(Error::world(format!(
                                "promotion of {tag} to {env} stopped: {reason}; the wave was rolled back"
                            )));
                        }
                    }
                }
            }
        }
    }
}

impl Engine {
    /// Roll `env` back to an earlier release, as the token's user: `to`, or
    /// the tag the environment ran before the one it runs now. A rollback is
    /// a normal promotion (waves, soak, health, the record, who asked); the
    /// target must have run on `env` before, healthy, which is why the
    /// environment's `follows` rule (release, or what the upstream runs) is
    /// waived, and the commits say so (`Stagecoach-Override: rollback …`).
    pub async fn rollback(&self, env: &str, to: Option<&str>) -> Result<Promoted> {
        let policy = self.load_policy().await?;
        if policy.environment(env).is_none() {
            return Err(Error::input(format!(
                "no environment `{env}` in the policy"
            )));
        }
        let snap = self.observe(&policy).await?;
        let view = snap
            .envs
            .iter()
            .find(|v| v.name == env)
            .ok_or_else(|| Error::input(format!("environment `{env}` was not observed")))?;
        let current = view.current_tag().map(str::to_string);
        let ran = release::tags_that_ran(view);
        let target = match to {
            Some(tag) => {
                if !ran.iter().any(|t| t == tag) {
                    return Err(Error::input(format!(
                        "cannot roll {env} back to {tag}: it never ran there healthy (it ran {}); promote it instead",
                        if ran.is_empty() {
                            "nothing yet".to_string()
                        } else {
                            ran.join(", ")
                        }
                    )));
                }
                tag.to_string()
            }
            None => ran
                .iter()
                .find(|t| Some(t.as_str()) != current.as_deref())
                .cloned()
                .ok_or_else(|| {
                    Error::input(format!(
                        "cannot roll {env} back: no earlier release ran there healthy"
                    ))
                })?,
        };
        if current.as_deref() == Some(target.as_str()) {
            return Err(Error::input(format!("{env} runs {target} already")));
        }
        let reason = format!(
            "rollback from {} to {target}",
            current.as_deref().unwrap_or("nothing")
        );
        self.promote(&target, env, Some(reason)).await
    }

    /// Cut hotfix `base`+1 patch with `component` at `version`, as the
    /// token's user (who must be a hotfixer), then send it to the first
    /// environment that follows releases. Returns the hotfix tag.
    pub async fn hotfix_by_hand(
        &self,
        base: &str,
        component: &str,
        version: &Version,
    ) -> Result<String> {
        let policy = self.load_policy().await?;
        let me = self.forge.whoami().await?;
        let product = self.config.product_repo();
        if let super::snapshot::Authority::Refused(why) = authority::resolve(
            self.forge.as_ref(),
            &product,
            "hotfixers",
            &policy.people.hotfixers,
            &me,
        )
        .await?
        {
            return Err(Error::denied(format!("{me} may not cut a hotfix: {why}")));
        }
        let snap = self.observe(&policy).await?;
        let base_tag = snap
            .product
            .tags
            .iter()
            .find(|t| t.name == base)
            .ok_or_else(|| Error::input(format!("no product tag `{base}`")))?;
        let from = base_tag
            .manifest
            .as_ref()
            .and_then(|m| m.components.get(component))
            .map(|p| p.version.clone())
            .ok_or_else(|| {
                Error::input(format!("product {base} has no component `{component}`"))
            })?;
        let released = snap
            .components
            .iter()
            .find(|c| c.name == component)
            .is_some_and(|c| c.tags.iter().any(|(v, _, _)| v == version));
        if !released {
            return Err(Error::input(format!(
                "{component} has no release tag for {version}"
            )));
        }
        if *version <= from {
            return Err(Error::input(format!(
                "product {base} already has {component} {from} (≥ {version})"
            )));
        }
        let wanted = format!("{component}@{version}");
        let existing = snap.product.tags.iter().find(|t| {
            t.is_hotfix()
                && t.trailers.get("Stagecoach-From") == Some(base)
                && t.trailers.get("Stagecoach-Component") == Some(wanted.as_str())
        });
        let tag = match existing {
            Some(t) => t.name.clone(),
            None => {
                let mut next = base_tag.version.clone();
                next.patch += 1;
                while snap.product.tags.iter().any(|t| t.version == next) {
                    next.patch += 1;
                }
                let tag = format!("{}{next}", policy.versioning.tag_prefix);
                let action = Action::Hotfix {
                    base: base.to_string(),
                    tag: tag.clone(),
                    change: ComponentChange {
                        component: component.to_string(),
                        from,
                        to: version.clone(),
                    },
                    source: format!("by {me}"),
                    requested_by: me.clone(),
                };
                self.run_action(&policy, &snap, &action).await?;
                tag
            }
        };
        if let Some(env) = policy
            .environments
            .iter()
            .find(|e| matches!(e.follows, crate::policy::Follows::Releases))
        {
            self.promote(&tag, &env.name, None).await?;
        }
        Ok(tag)
    }
}
