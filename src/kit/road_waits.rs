//! What a runbook waits to see on a road (a product PR, a status, a bot
//! comment, a merge, a landscape version, a tag, staging), each wait tied
//! to the bot's passes.

use std::future::Future;

use serde_json::Value;

use super::read_forge;
use super::road::Road;
use super::wait::{self, wait_for};
use crate::error::Result;

/// Who reads the forge for the waits: a developer with read access.
const READER: &str = "alice";

impl Road {
    /// Ask `check` until it answers `Some`, for as long as the bot makes
    /// progress (see [`wait::wait_for`]).
    pub async fn wait_for<T, F, Fut>(&self, what: &str, check: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>>>,
    {
        wait_for(&self.progress(), what, check).await
    }

    /// Check that `happened` stays false while the bot makes `passes` passes.
    pub async fn stays<F, Fut>(&self, what: &str, passes: u64, happened: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<bool>>,
    {
        wait::stays(&self.progress(), what, passes, happened).await
    }

    /// Wait until the bot has finished `n` more passes (`n >= 2`: one whole
    /// pass saw what the caller did).
    pub async fn wait_passes(&self, n: u64) -> Result<()> {
        wait::wait_passes(&self.progress(), n).await
    }

    /// The product PR the bot opens for `component` `version`.
    pub async fn product_pr_for(&self, component: &str, version: &str) -> Result<Value> {
        let head = format!("stagecoach/{component}-{version}");
        let p = self.person(READER)?;
        self.wait_for(&format!("a product PR for {component} {version}"), || {
            read_forge::pr_by_head(&p, "product", &head)
        })
        .await
    }

    /// Wait until `context` on `sha` is `state`; returns its description.
    pub async fn wait_status(
        &self,
        repo: &str,
        sha: &str,
        context: &str,
        state: &str,
    ) -> Result<String> {
        let p = self.person(READER)?;
        self.wait_for(&format!("{context}={state} on {repo}@{sha}"), || async {
            Ok(read_forge::status_of(&p, repo, sha, context)
                .await?
                .filter(|(s, _)| s == state)
                .map(|(_, d)| d))
        })
        .await
    }

    /// Wait for a bot comment on `repo`#`pr` containing `needle`; returns
    /// its body (sticky marker included).
    pub async fn wait_comment(&self, repo: &str, pr: u64, needle: &str) -> Result<String> {
        let p = self.person(READER)?;
        self.wait_for(
            &format!("a bot comment on {repo}#{pr} saying {needle:?}"),
            || async {
                Ok(read_forge::bot_comments(&p, repo, pr)
                    .await?
                    .into_iter()
                    .find(|b| b.contains(needle)))
            },
        )
        .await
    }

    pub async fn wait_merged(&self, repo: &str, n: u64) -> Result<()> {
        let p = self.person(READER)?;
        self.wait_for(&format!("{repo}#{n} merged"), || async {
            Ok(p.pull(repo, n).await?["merged"].as_bool().filter(|m| *m))
        })
        .await
        .map(|_| ())
    }

    pub async fn wait_landscape(
        &self,
        env: &str,
        cluster: &str,
        component: &str,
        version: &str,
    ) -> Result<()> {
        self.wait_for(
            &format!("{env}/{cluster} runs {component} {version}"),
            || async {
                Ok(self
                    .repos
                    .landscape_version(env, cluster, component)?
                    .filter(|v| v == version))
            },
        )
        .await
        .map(|_| ())
    }

    /// Wait for the product tag `tag`; returns its message (the changelog).
    pub async fn wait_tag(&self, tag: &str) -> Result<String> {
        self.wait_for(&format!("product tag {tag}"), || async {
            self.repos.tag_message("product", tag)
        })
        .await
    }

    pub async fn wait_staging(&self, tag: &str) -> Result<()> {
        self.wait_for(&format!("{tag} on staging"), || async {
            Ok(self.repos.staging_tag()?.filter(|t| t == tag))
        })
        .await
        .map(|_| ())
    }

    /// Wait for the product tag's note in `notes_ref`.
    pub async fn wait_note(&self, notes_ref: &str, tag: &str) -> Result<String> {
        self.wait_for(&format!("{tag}'s note in {notes_ref}"), || async {
            self.repos.note(notes_ref, tag)
        })
        .await
    }
}
