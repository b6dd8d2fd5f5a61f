//! The on-demand side of flow 6: a person asks for tag T on environment E;
//! the engine checks who asks and whether T may go there, then drives the
//! waves to the end (or to the first unhealthy wave, which it rolls back).
//! Re-running the same request resumes where the last run stopped.

use crate::error::{Error, Result};
use crate::policy::Principal;

use super::Engine;
use super::action::Action;
use super::authority;
use super::release::{self, PromotionRequest, Step};

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
        loop {
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
