//! Acting on a hotfix: the product branched from the tag it fixes, one
//! component bumped there, the hotfix tag with its changelog, a draft release.

use crate::error::Result;
use crate::git::trailers::Trailers;
use crate::git::workspace::Outcome;
use crate::policy::Policy;

use super::super::Engine;
use super::super::action::short;
use super::super::snapshot::{ComponentChange, Snapshot};
use super::super::trailer;

impl Engine {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn hotfix(
        &self,
        policy: &Policy,
        snap: &Snapshot,
        base: &str,
        tag: &str,
        change: &ComponentChange,
        source: &str,
        requested_by: &str,
    ) -> Result<String> {
        let product = snap.product.repo.clone();
        let key = source.to_string();
        let branch = format!("hotfix/{tag}");
        let trailers = Trailers::new()
            .with(trailer::ACTION, trailer::action::HOTFIX)
            .with(trailer::PRODUCT, tag.to_string())
            .with(trailer::FROM, base.to_string())
            .with(
                trailer::COMPONENT,
                format!("{}@{}", change.component, change.to),
            )
            .with(trailer::HOTFIX_FOR, key.clone())
            .with(trailer::REQUESTED_BY, requested_by.to_string());
        let msg = format!(
            "fix({}): hotfix {tag} from {base}: {} {} → {}",
            change.component, change.component, change.from, change.to
        );
        let out = self
            .commit_bump(&product, &branch, base, change, &msg, &trailers)
            .await?;
        let sha = match out {
            Outcome::Committed { sha } | Outcome::Unchanged { head: sha } => sha,
        };
        let log = self
            .changelog(
                policy,
                snap,
                Some(tag.to_string()),
                std::slice::from_ref(change),
            )
            .await?;
        let message = trailers.append_to(&format!("{tag} (hotfix of {base})\n\n{log}"));
        let (n2, s2) = (tag.to_string(), sha.clone());
        self.with_repo(&product, move |ws| ws.create_tag(&n2, &s2, &message))
            .await?;
        self.ensure_release(&product, tag, &log, true).await?;
        Ok(format!("hotfix {tag} at {}", short(&sha)))
    }
}
