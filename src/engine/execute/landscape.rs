//! Acting on landscapes: the commits that say what runs where — a product
//! PR's component on CI, a PR environment, a promotion wave, a rollback.
//! Every commit carries `Stagecoach-*` trailers, so `git log` is the record.

use crate::error::Result;
use crate::forge::{RepoId, StatusState};
use crate::git::trailers::Trailers;
use crate::git::workspace::{FileChange, Outcome};
use crate::manifest::yaml_edit;
use crate::policy::{Environment, Policy, RiskLevel};

use super::super::action::{context, short};
use super::super::observe::{landscape_path, pr_key};
use super::super::snapshot::{ComponentChange, Snapshot};
use super::super::trailer;
use super::super::{Engine, HEALTH_CONTEXT};
use super::{ci_env, environment, outcome_line, set_status, tag_manifest};

impl Engine {
    /// Upgrade one component on the CI landscape for a product PR, then mark
    /// the PR's CI as pending: the health watch is the next step.
    pub(super) async fn deploy_ci(
        &self,
        policy: &Policy,
        snap: &Snapshot,
        pr: u64,
        head_sha: &str,
        change: &ComponentChange,
        risk: RiskLevel,
    ) -> Result<String> {
        let product = &snap.product.repo;
        let env = ci_env(policy)?;
        let trailers = Trailers::new()
            .with(trailer::ACTION, trailer::action::BUMP)
            .with(trailer::PRODUCT, pr_key(product, pr))
            .with(
                trailer::COMPONENT,
                format!("{}@{}", change.component, change.to),
            )
            .with(trailer::RISK, risk.to_string());
        // One marker per PR: several product PRs may be on CI at once.
        let marker = format!(
            "# Written by Stagecoach: a product PR CI is testing now.\npr: {}\nhead: {head_sha}\ncomponent: {}\nversion: \"{}\"\n",
            pr_key(product, pr),
            change.component,
            change.to
        );
        let sha = self
            .edit_landscape(
                env,
                &format!(
                    "ci: {} {} → {} (product#{pr})",
                    change.component, change.from, change.to
                ),
                trailers,
                &env.clusters.clone(),
                &[(change.component.clone(), change.to.to_string())],
                Some((format!(".stagecoach/ci/pr-{pr}.yaml"), marker)),
            )
            .await?;
        set_status(
            self.forge.as_ref(),
            product,
            head_sha,
            context::CI,
            StatusState::Pending,
            &format!(
                "deployed to {} ({}), watching health",
                env.name,
                short(&sha)
            ),
        )
        .await?;
        Ok(format!("deployed as {}", short(&sha)))
    }

    /// Revert one landscape commit (`Stagecoach-Action: rollback`).
    pub(super) async fn revert_landscape_commit(
        &self,
        policy: &Policy,
        env: &str,
        commit: &str,
        reason: &str,
    ) -> Result<String> {
        let env = environment(policy, env)?;
        let repo = RepoId::parse(&env.repo)?;
        let branch = env.branch.clone();
        let commit2 = commit.to_string();
        let msg = format!("rollback: {reason}");
        let trailers = Trailers::new()
            .with(trailer::ACTION, trailer::action::ROLLBACK)
            .with(trailer::REVERTS, commit.to_string());
        let out = self
            .with_repo(&repo, move |ws| {
                ws.revert(&branch, &commit2, &msg, &trailers)
            })
            .await?;
        Ok(outcome_line(&out, "reverted"))
    }

    pub(super) async fn create_pr_env(
        &self,
        policy: &Policy,
        snap: &Snapshot,
        pr: u64,
        change: &ComponentChange,
        toggle: bool,
    ) -> Result<String> {
        let product = &snap.product.repo;
        // Look, then act: a twin bot (two replicas, or a rolling update) may
        // have created this environment, run the smoke gate and torn it down
        // since this pass read the landscape; creating it again from that
        // stale view would leave a second create and teardown (seen in
        // tests/reliability_two_bots.rs). A smoke verdict on the head says
        // the environment has done its job.
        if let Some(head) = snap
            .product
            .pulls
            .iter()
            .find(|p| p.pr.number == pr)
            .map(|p| p.pr.head_sha.clone())
        {
            let decided = self
                .forge
                .list_statuses(product, &head)
                .await?
                .into_iter()
                .any(|s| {
                    s.context == context::SMOKE
                        && matches!(s.state, StatusState::Success | StatusState::Failure)
                });
            if decided {
                return Ok("nothing to do: the smoke gate has decided on this head".into());
            }
        }
        let env = ci_env(policy)?;
        let dir = pr_env_dir(env, pr)?;
        let content = format!(
            "# Ephemeral environment of {} (Stagecoach). Deleted when the PR is done.\npr: {pr}\ncomponent: {}\nversion: \"{}\"\nfeature_toggle: {}\n",
            pr_key(product, pr),
            change.component,
            change.to,
            if toggle { "on" } else { "none" }
        );
        let trailers = Trailers::new()
            .with(trailer::ACTION, trailer::action::ENV)
            .with(trailer::PRODUCT, pr_key(product, pr));
        let repo = RepoId::parse(&env.repo)?;
        let branch = env.branch.clone();
        let path = format!("{dir}/values.yaml");
        let msg = format!("env: create pr-{pr} for {} {}", change.component, change.to);
        let out = self
            .with_repo(&repo, move |ws| {
                ws.update_branch(&branch, None, &msg, &trailers, &mut |_| {
                    Ok(vec![FileChange {
                        path: path.clone(),
                        content: Some(content.clone()),
                    }])
                })
            })
            .await?;
        Ok(outcome_line(&out, "created"))
    }

    pub(super) async fn teardown_pr_env(
        &self,
        policy: &Policy,
        snap: &Snapshot,
        pr: u64,
    ) -> Result<String> {
        let product = &snap.product.repo;
        let env = ci_env(policy)?;
        let dir = pr_env_dir(env, pr)?;
        let repo = RepoId::parse(&env.repo)?;
        let branch = env.branch.clone();
        let trailers = Trailers::new()
            .with(trailer::ACTION, trailer::action::ENV)
            .with(trailer::PRODUCT, pr_key(product, pr));
        let msg = format!("env: tear down pr-{pr}");
        let marker = format!(".stagecoach/ci/pr-{pr}.yaml");
        let out = self
            .with_repo(&repo, move |ws| {
                ws.update_branch(&branch, None, &msg, &trailers, &mut |tree| {
                    let mut gone: Vec<FileChange> = tree
                        .list_dir(&dir)?
                        .into_iter()
                        .map(FileChange::delete)
                        .collect();
                    if tree.read_file(&marker)?.is_some() {
                        gone.push(FileChange::delete(marker.clone()));
                    }
                    Ok(gone)
                })
            })
            .await?;
        Ok(outcome_line(&out, "torn down"))
    }

    /// One wave of a promotion: every component of the tag on the wave's
    /// clusters, in one commit that names the tag, the wave and who asked.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn promote_wave(
        &self,
        policy: &Policy,
        snap: &Snapshot,
        env: &str,
        tag: &str,
        (wave, waves): (usize, usize),
        clusters: &[String],
        override_reason: Option<&str>,
        requested_by: Option<&str>,
    ) -> Result<String> {
        let env = environment(policy, env)?;
        let manifest = tag_manifest(snap, tag)?;
        let versions: Vec<(String, String)> = manifest
            .components
            .iter()
            .map(|(n, p)| (n.clone(), p.version.to_string()))
            .collect();
        let is_hotfix = snap
            .product
            .tags
            .iter()
            .any(|t| t.name == tag && t.is_hotfix());
        let mut trailers = Trailers::new()
            .with(trailer::ACTION, trailer::action::PROMOTE)
            .with(trailer::PRODUCT, tag.to_string())
            .with(trailer::WAVE, format!("{wave}/{waves}"));
        if is_hotfix {
            trailers = trailers.with(trailer::HOTFIX, "true");
        }
        if let Some(reason) = override_reason {
            trailers = trailers.with(trailer::OVERRIDE, reason.to_string());
        }
        if let Some(who) = requested_by {
            trailers = trailers.with(trailer::REQUESTED_BY, who.to_string());
        }
        let marker = format!(
            "# Written by Stagecoach: the product tag this environment runs.\ntag: {tag}\nwave: \"{wave}/{waves}\"\nclusters: [{}]\n",
            clusters.join(", ")
        );
        let sha = self
            .edit_landscape(
                env,
                &format!(
                    "{}: promote {tag} (wave {wave}/{waves}: {})",
                    env.name,
                    clusters.join(", ")
                ),
                trailers,
                clusters,
                &versions,
                Some((".stagecoach/promotion.yaml".into(), marker)),
            )
            .await?;
        if env.health.is_none() {
            let repo = RepoId::parse(&env.repo)?;
            set_status(
                self.forge.as_ref(),
                &repo,
                &sha,
                HEALTH_CONTEXT,
                StatusState::Success,
                "no health source in the policy",
            )
            .await?;
        }
        Ok(format!("promoted as {}", short(&sha)))
    }

    /// Set component versions on some clusters of an environment, plus an
    /// optional marker file that makes the commit say what it is for.
    async fn edit_landscape(
        &self,
        env: &Environment,
        message: &str,
        trailers: Trailers,
        clusters: &[String],
        versions: &[(String, String)],
        marker: Option<(String, String)>,
    ) -> Result<String> {
        let repo = RepoId::parse(&env.repo)?;
        let env2 = env.clone();
        let clusters = clusters.to_vec();
        let versions = versions.to_vec();
        let message = message.to_string();
        let out = self
            .with_repo(&repo, move |ws| {
                ws.update_branch(&env2.branch, None, &message, &trailers, &mut |tree| {
                    let mut changes = Vec::new();
                    for cluster in &clusters {
                        for (component, version) in &versions {
                            for target in &env2.files {
                                let path =
                                    landscape_path(&target.path, &env2.name, cluster, component);
                                // A cluster that does not run the component is left alone.
                                let Some(text) = tree.read_file(&path)? else {
                                    continue;
                                };
                                // `{component}` may be in the key as well as the path.
                                let key =
                                    landscape_path(&target.key, &env2.name, cluster, component);
                                let new = yaml_edit::set_scalar(&text, &key, version)
                                    .map_err(|e| e.context(&path))?;
                                if new != text {
                                    changes.push(FileChange {
                                        path,
                                        content: Some(new),
                                    });
                                }
                            }
                        }
                    }
                    if let Some((path, content)) = &marker {
                        changes.push(FileChange {
                            path: path.clone(),
                            content: Some(content.clone()),
                        });
                    }
                    Ok(changes)
                })
            })
            .await?;
        Ok(match out {
            Outcome::Committed { sha } => sha,
            Outcome::Unchanged { head } => head,
        })
    }
}

fn pr_env_dir(env: &Environment, pr: u64) -> Result<String> {
    env.pr_envs
        .as_ref()
        .map(|t| {
            t.replace("{number}", &pr.to_string())
                .trim_end_matches('/')
                .to_string()
        })
        .ok_or_else(|| {
            crate::error::Error::input(format!("environment {} has no `pr_envs` path", env.name))
        })
}
