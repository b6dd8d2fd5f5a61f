//! The on-demand side of rejections: `stagecoach reject [--undo] TAG
//! --reason WHY` as the person whose token it is. Only promoters may reject
//! (the policy's `people.promoters` and write access on the product repo,
//! as for promotions); the decision is `rejection::decide_by_hand`.

use crate::error::{Error, Result};

use super::Engine;
use super::authority;
use super::rejection::{self, Refused};

/// What a reject (or un-reject) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub tag: String,
    pub rejected: bool,
    pub by: String,
    pub reason: String,
    /// `false`: the tag was in that state already; nothing was written.
    pub changed: bool,
}

impl Engine {
    /// Reject `tag` (or, with `undo`, un-reject it) for `reason`.
    pub async fn reject(&self, tag: &str, undo: bool, reason: &str) -> Result<Rejected> {
        let policy = self.load_policy().await?;
        let me = self.forge.whoami().await?;
        let product = self.config.product_repo();
        let authority = authority::resolve(
            self.forge.as_ref(),
            &product,
            "promoters",
            &policy.people.promoters,
            &me,
        )
        .await?;
        let snap = self.observe(&policy).await?;
        let action = rejection::decide_by_hand(&snap, tag, undo, &me, reason, &authority).map_err(
            |refused| match refused {
                Refused::Denied(why) => Error::denied(why),
                Refused::Input(why) => Error::input(why),
            },
        )?;
        let changed = match &action {
            Some(action) => {
                self.run_action(&policy, &snap, action).await?;
                true
            }
            None => false,
        };
        Ok(Rejected {
            tag: tag.to_string(),
            rejected: !undo,
            by: me,
            reason: reason.trim().to_string(),
            changed,
        })
    }
}
