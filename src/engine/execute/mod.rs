//! The edge that acts: carries out one `Action`, idempotently (look, then
//! act), by handing it to the file of its family. Each says what it did in
//! one line, for the journal.
//!
//! | family | file |
//! | --- | --- |
//! | comments, statuses, labels, product PRs, merges | `pulls.rs` |
//! | landscape commits: CI deploys, PR environments, promotions, rollbacks | `landscape.rs` |
//! | gates: health watches and smoke runs, started here, finished in the background | `watches.rs` |
//! | tags, changelogs, releases | `releases.rs` |
//! | stability samples and the final score | `staging.rs` |
//! | hotfixes | `hotfix.rs` |
//! | rejected tags: the rejections note | `rejections.rs` |

mod hotfix;
mod landscape;
mod pulls;
mod rejections;
mod releases;
mod staging;
mod watches;

use crate::error::{Error, Result};
use crate::forge::{CommitStatus, Forge, RepoId, StatusState};
use crate::git::workspace::Outcome;
use crate::manifest::product::ProductManifest;
use crate::policy::{Environment, Follows, Policy};

use super::Engine;
use super::action::{Action, short};
use super::snapshot::Snapshot;

impl Engine {
    pub async fn execute(
        &self,
        policy: &Policy,
        snap: &Snapshot,
        action: &Action,
    ) -> Result<String> {
        match action {
            Action::Comment {
                repo,
                pr,
                topic,
                body,
            } => {
                self.forge
                    .upsert_sticky_comment(repo, *pr, topic, body)
                    .await?;
                Ok("commented".into())
            }
            Action::SetStatus {
                repo,
                sha,
                context,
                state,
                description,
            } => {
                set_status(self.forge.as_ref(), repo, sha, context, *state, description).await?;
                Ok("status set".into())
            }
            Action::SetRiskLabel { pr, level, remove } => {
                self.set_risk_label(policy, snap, *pr, *level, remove).await
            }
            Action::TagComponent {
                component,
                version,
                sha,
            } => {
                self.tag_component(policy, snap, component, version, sha)
                    .await
            }
            Action::OpenProductPr {
                change,
                sources,
                labels,
                branch,
                reason,
            } => {
                self.open_product_pr(policy, snap, change, sources, labels, branch, reason)
                    .await
            }
            Action::RebuildProductPr {
                pr,
                branch,
                old_head,
                change,
                carry,
            } => {
                self.rebuild_product_pr(snap, *pr, branch, old_head, change, carry)
                    .await
            }
            Action::DeployCi {
                pr,
                head_sha,
                change,
                risk,
            } => {
                self.deploy_ci(policy, snap, *pr, head_sha, change, *risk)
                    .await
            }
            Action::WatchCiHealth {
                pr,
                head_sha,
                change,
                landscape_sha,
            } => {
                self.watch_ci_health(policy, snap, action, *pr, head_sha, change, landscape_sha)
                    .await
            }
            Action::Rollback {
                env,
                commit,
                reason,
            } => {
                self.revert_landscape_commit(policy, env, commit, reason)
                    .await
            }
            Action::CreatePrEnv { pr, change, toggle } => {
                self.create_pr_env(policy, snap, *pr, change, *toggle).await
            }
            Action::RunSmoke {
                pr,
                head_sha,
                change,
                toggle,
            } => {
                self.run_smoke(policy, snap, action, *pr, head_sha, change, *toggle)
                    .await
            }
            Action::TeardownPrEnv { pr } => self.teardown_pr_env(policy, snap, *pr).await,
            Action::Merge {
                pr,
                head_sha,
                rebuild,
            } => self.merge(snap, *pr, head_sha, rebuild.as_ref()).await,
            Action::ClosePull { pr, .. } => self.close_pull(snap, *pr).await,
            Action::TagProduct {
                version,
                sha,
                changes,
                previous,
            } => {
                self.tag_product(policy, snap, version, sha, changes, previous.as_deref())
                    .await
            }
            Action::Promote {
                env,
                tag,
                wave,
                waves,
                clusters,
                override_reason,
                requested_by,
            } => {
                self.promote_wave(
                    policy,
                    snap,
                    env,
                    tag,
                    (*wave, *waves),
                    clusters,
                    override_reason.as_deref(),
                    requested_by.as_deref(),
                )
                .await
            }
            Action::WatchPromotion {
                env,
                tag,
                commit,
                clusters,
            } => {
                self.watch_promotion(policy, snap, action, env, tag, commit, clusters)
                    .await
            }
            Action::SampleStability { tag } => self.sample_stability(policy, snap, tag).await,
            Action::FinalizeStability { tag } => self.finalize(policy, snap, tag).await,
            Action::Hotfix {
                base,
                tag,
                change,
                source,
                requested_by,
            } => {
                self.hotfix(policy, snap, base, tag, change, source, requested_by)
                    .await
            }
            Action::Reject {
                tag,
                rejected,
                by,
                reason,
                comment,
            } => {
                self.record_rejection(snap, tag, *rejected, by, reason, *comment)
                    .await
            }
        }
    }

    fn component_repo(&self, snap: &Snapshot, component: &str) -> Result<RepoId> {
        snap.components
            .iter()
            .find(|c| c.name == component)
            .map(|c| c.repo.clone())
            .ok_or_else(|| Error::input(format!("no component `{component}` in the product")))
    }
}

/// Set one commit status (the description clipped to GitHub's limit).
pub(crate) async fn set_status(
    forge: &dyn Forge,
    repo: &RepoId,
    sha: &str,
    ctx: &str,
    state: StatusState,
    description: &str,
) -> Result<()> {
    forge
        .set_status(
            repo,
            sha,
            &CommitStatus {
                context: ctx.into(),
                state,
                description: clip(description),
                target_url: None,
                updated_at: None,
            },
        )
        .await
}

fn ci_env(policy: &Policy) -> Result<&Environment> {
    policy
        .environments
        .iter()
        .find(|e| matches!(e.follows, Follows::ProductPrs))
        .ok_or_else(|| Error::input("the policy has no environment that follows product-prs (CI)"))
}

fn environment<'a>(policy: &'a Policy, name: &str) -> Result<&'a Environment> {
    policy
        .environment(name)
        .ok_or_else(|| Error::input(format!("no environment `{name}`")))
}

fn tag_manifest<'a>(snap: &'a Snapshot, tag: &str) -> Result<&'a ProductManifest> {
    snap.product
        .tags
        .iter()
        .find(|t| t.name == tag)
        .and_then(|t| t.manifest.as_ref())
        .ok_or_else(|| Error::input(format!("product tag `{tag}` has no readable manifest")))
}

fn outcome_line(out: &Outcome, did: &str) -> String {
    match out {
        Outcome::Committed { sha } => format!("{did} ({})", short(sha)),
        Outcome::Unchanged { .. } => "nothing to do".into(),
    }
}

/// GitHub caps status descriptions at 140 characters.
fn clip(s: &str) -> String {
    let one: String = s.lines().next().unwrap_or("").chars().take(139).collect();
    one
}
