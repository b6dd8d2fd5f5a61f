//! The edge that acts: carries out one `Action`, idempotently (look, then
//! act). Each arm says what it did in one line, for the journal.

use crate::changelog::{self, Changelog};
use crate::engine::gates::{self, GateContext, GateResult, HealthProbe};
use crate::engine::stability;
use crate::error::{Error, Result};
use crate::forge::{
    CommitStatus, MergeMethod, MergeOutcome, NewPull, NewRelease, RepoId, StatusState,
};
use crate::git::history;
use crate::git::trailers::Trailers;
use crate::git::workspace::{FileChange, Outcome};
use crate::manifest::product::{self as product_manifest, ProductManifest};
use crate::manifest::yaml_edit;
use crate::policy::{Environment, Follows, Policy};

use super::action::{Action, context, short};
use super::observe::{landscape_path, pr_key};
use super::snapshot::{ComponentChange, Snapshot};
use super::text;
use super::{Engine, HEALTH_CONTEXT, NOTES_SAMPLES, NOTES_STABILITY};

impl Engine {
    pub async fn execute(
        &self,
        policy: &Policy,
        snap: &Snapshot,
        action: &Action,
    ) -> Result<String> {
        let product = snap.product.repo.clone();
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
                self.status(repo, sha, context, *state, description).await?;
                Ok("status set".into())
            }
            Action::SetRiskLabel { pr, level, remove } => {
                for l in remove {
                    self.forge.remove_label(&product, *pr, l).await?;
                }
                self.forge
                    .add_labels(&product, *pr, &[policy.label_for_risk(*level)])
                    .await?;
                Ok(format!("labelled risk: {level}"))
            }
            Action::TagComponent {
                component,
                version,
                sha,
            } => {
                let repo = self.component_repo(snap, component)?;
                let name = format!("{}{version}", policy.component_tag_prefix(component));
                let msg = Trailers::new()
                    .with("Stagecoach-Action", "tag")
                    .with("Stagecoach-Component", format!("{component}@{version}"))
                    .append_to(&format!("{component} {name}"));
                let sha = sha.clone();
                let created = self
                    .with_repo(&repo, move |ws| ws.create_tag(&name, &sha, &msg))
                    .await?;
                Ok(if created {
                    "tagged"
                } else {
                    "tag already there"
                }
                .into())
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
            Action::DeployCi {
                pr,
                head_sha,
                change,
                risk,
            } => {
                let env = ci_env(policy)?;
                let trailers = Trailers::new()
                    .with("Stagecoach-Action", "bump")
                    .with("Stagecoach-Product", pr_key(&product, *pr))
                    .with(
                        "Stagecoach-Component",
                        format!("{}@{}", change.component, change.to),
                    )
                    .with("Stagecoach-Risk", risk.to_string());
                let marker = format!(
                    "# Written by Stagecoach: the product PR CI is testing now.\npr: {}\nhead: {head_sha}\ncomponent: {}\nversion: \"{}\"\n",
                    pr_key(&product, *pr),
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
                        Some((".stagecoach/ci.yaml".into(), marker)),
                    )
                    .await?;
                self.status(
                    &product,
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
            Action::WatchCiHealth {
                pr,
                head_sha,
                change,
                landscape_sha,
            } => {
                let env = ci_env(policy)?;
                let result = self
                    .watch(
                        env,
                        &change.component,
                        &change.to.to_string(),
                        &env.clusters,
                        Some(*pr),
                        landscape_sha,
                    )
                    .await?;
                let state = if result.passed {
                    StatusState::Success
                } else {
                    StatusState::Failure
                };
                if !result.passed {
                    self.forge
                        .upsert_sticky_comment(
                            &product,
                            *pr,
                            "ci",
                            &format!(
                                "**{} {} was unhealthy on {}; Stagecoach rolls it back.**\n\nWhat was seen: {}\n\n```\n{}\n```",
                                change.component, change.to, env.name, text::inert(&result.summary), result.detail.replace("```", "'''")
                            ),
                        )
                        .await?;
                }
                self.status(
                    &product,
                    head_sha,
                    context::CI,
                    state,
                    &clip(&result.summary),
                )
                .await?;
                Ok(result.summary)
            }
            Action::Rollback {
                env,
                commit,
                reason,
            } => {
                let env = policy
                    .environment(env)
                    .ok_or_else(|| Error::input(format!("no environment `{env}`")))?;
                let repo = RepoId::parse(&env.repo)?;
                let branch = env.branch.clone();
                let commit2 = commit.clone();
                let msg = format!("rollback: {reason}");
                let trailers = Trailers::new()
                    .with("Stagecoach-Action", "rollback")
                    .with("Stagecoach-Reverts", commit.clone());
                let out = self
                    .with_repo(&repo, move |ws| {
                        ws.revert(&branch, &commit2, &msg, &trailers)
                    })
                    .await?;
                Ok(outcome_line(&out, "reverted"))
            }
            Action::CreatePrEnv { pr, change, toggle } => {
                let env = ci_env(policy)?;
                let dir = pr_env_dir(env, *pr)?;
                let content = format!(
                    "# Ephemeral environment of {} (Stagecoach). Deleted when the PR is done.\npr: {pr}\ncomponent: {}\nversion: \"{}\"\nfeature_toggle: {}\n",
                    pr_key(&product, *pr),
                    change.component,
                    change.to,
                    if *toggle { "on" } else { "none" }
                );
                let trailers = Trailers::new()
                    .with("Stagecoach-Action", "env")
                    .with("Stagecoach-Product", pr_key(&product, *pr));
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
            Action::RunSmoke {
                pr,
                head_sha,
                change,
                toggle,
            } => {
                let env = ci_env(policy)?;
                let Some(gate) = &env.smoke else {
                    self.status(
                        &product,
                        head_sha,
                        context::SMOKE,
                        StatusState::Success,
                        "no smoke gate in the policy",
                    )
                    .await?;
                    return Ok("no smoke gate".into());
                };
                self.status(
                    &product,
                    head_sha,
                    context::SMOKE,
                    StatusState::Pending,
                    "smoke gate running",
                )
                .await?;
                let modes: Vec<Option<bool>> = if *toggle {
                    vec![Some(true), Some(false)]
                } else {
                    vec![None]
                };
                let mut seen = Vec::new();
                let mut failed: Option<GateResult> = None;
                for mode in modes {
                    let ctx = GateContext {
                        env: format!("pr-{pr}"),
                        component: change.component.clone(),
                        version: change.to.to_string(),
                        cluster: env.clusters.first().cloned().unwrap_or_default(),
                        toggle: mode,
                        pr: Some(*pr),
                    };
                    let r =
                        gates::run_command(&gate.command, gate.timeout, &ctx, &self.workdir).await;
                    let label = match mode {
                        Some(true) => "toggle on: ",
                        Some(false) => "toggle off: ",
                        None => "",
                    };
                    seen.push(format!("{label}{}", r.summary));
                    if !r.passed {
                        failed = Some(r);
                        break;
                    }
                }
                let summary = seen.join("; ");
                match failed {
                    None => {
                        self.status(
                            &product,
                            head_sha,
                            context::SMOKE,
                            StatusState::Success,
                            &clip(&summary),
                        )
                        .await?;
                    }
                    Some(r) => {
                        self.forge
                            .upsert_sticky_comment(
                                &product,
                                *pr,
                                "smoke",
                                &format!("**The smoke gate failed; Stagecoach rolls the change back.**\n\n{}\n\n```\n{}\n```", text::inert(&summary), r.detail.replace("```", "'''")),
                            )
                            .await?;
                        self.status(
                            &product,
                            head_sha,
                            context::SMOKE,
                            StatusState::Failure,
                            &clip(&summary),
                        )
                        .await?;
                    }
                }
                Ok(summary)
            }
            Action::TeardownPrEnv { pr } => {
                let env = ci_env(policy)?;
                let dir = pr_env_dir(env, *pr)?;
                let repo = RepoId::parse(&env.repo)?;
                let branch = env.branch.clone();
                let trailers = Trailers::new()
                    .with("Stagecoach-Action", "env")
                    .with("Stagecoach-Product", pr_key(&product, *pr));
                let msg = format!("env: tear down pr-{pr}");
                let out = self
                    .with_repo(&repo, move |ws| {
                        ws.update_branch(&branch, None, &msg, &trailers, &mut |tree| {
                            Ok(tree
                                .list_dir(&dir)?
                                .into_iter()
                                .map(|path| FileChange {
                                    path,
                                    content: None,
                                })
                                .collect())
                        })
                    })
                    .await?;
                Ok(outcome_line(&out, "torn down"))
            }
            Action::Merge { pr, head_sha } => {
                match self
                    .forge
                    .merge_pull(&product, *pr, MergeMethod::Merge, head_sha)
                    .await?
                {
                    MergeOutcome::Merged { sha } => Ok(format!("merged as {}", short(&sha))),
                    MergeOutcome::Refused { reason } => {
                        self.forge
                            .upsert_sticky_comment(
                                &product,
                                *pr,
                                "merge",
                                &format!("Stagecoach could not merge: {}", text::inert(&reason)),
                            )
                            .await?;
                        Ok(format!("merge refused: {reason}"))
                    }
                }
            }
            Action::TagProduct {
                version,
                sha,
                changes,
                previous,
            } => {
                let name = format!("{}{version}", policy.versioning.tag_prefix);
                let log = self
                    .changelog(policy, snap, Some(name.clone()), changes)
                    .await?;
                let mut trailers = Trailers::new()
                    .with("Stagecoach-Action", "tag")
                    .with("Stagecoach-Product", name.clone());
                if let Some(p) = previous {
                    trailers = trailers.with("Stagecoach-From", p.clone());
                }
                for c in changes {
                    trailers =
                        trailers.with("Stagecoach-Component", format!("{}@{}", c.component, c.to));
                }
                let message = trailers.append_to(&format!("{name}\n\n{log}"));
                let (n2, s2) = (name.clone(), sha.clone());
                let created = self
                    .with_repo(&product, move |ws| ws.create_tag(&n2, &s2, &message))
                    .await?;
                self.ensure_release(&product, &name, &log, true).await?;
                Ok(if created {
                    format!("tagged {name}")
                } else {
                    format!("{name} already tagged")
                })
            }
            Action::Promote {
                env,
                tag,
                wave,
                waves,
                clusters,
                override_reason,
            } => {
                let env = policy
                    .environment(env)
                    .ok_or_else(|| Error::input(format!("no environment `{env}`")))?;
                let manifest = tag_manifest(snap, tag)?;
                let versions: Vec<(String, String)> = manifest
                    .components
                    .iter()
                    .map(|(n, p)| (n.clone(), p.version.to_string()))
                    .collect();
                let action = if snap
                    .product
                    .tags
                    .iter()
                    .any(|t| &t.name == tag && t.is_hotfix())
                {
                    "hotfix"
                } else {
                    "promote"
                };
                let mut trailers = Trailers::new()
                    .with("Stagecoach-Action", "promote")
                    .with("Stagecoach-Product", tag.clone())
                    .with("Stagecoach-Wave", format!("{wave}/{waves}"));
                if action == "hotfix" {
                    trailers = trailers.with("Stagecoach-Hotfix", "true");
                }
                if let Some(reason) = override_reason {
                    trailers = trailers.with("Stagecoach-Override", reason.clone());
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
                    self.status(
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
            Action::WatchPromotion {
                env,
                tag,
                commit,
                clusters,
            } => {
                let env = policy
                    .environment(env)
                    .ok_or_else(|| Error::input(format!("no environment `{env}`")))?;
                let repo = RepoId::parse(&env.repo)?;
                let manifest = tag_manifest(snap, tag)?;
                let mut verdict = GateResult {
                    passed: true,
                    summary: format!("{tag} healthy on {}", clusters.join(", ")),
                    detail: String::new(),
                };
                for (name, pin) in &manifest.components {
                    let r = self
                        .watch(env, name, &pin.version.to_string(), clusters, None, commit)
                        .await?;
                    if !r.passed {
                        verdict = r;
                        break;
                    }
                }
                let state = if verdict.passed {
                    StatusState::Success
                } else {
                    StatusState::Failure
                };
                self.status(
                    &repo,
                    commit,
                    HEALTH_CONTEXT,
                    state,
                    &clip(&verdict.summary),
                )
                .await?;
                Ok(verdict.summary)
            }
            Action::SampleStability { tag } => {
                let t = snap
                    .product
                    .tags
                    .iter()
                    .find(|t| &t.name == tag)
                    .ok_or_else(|| Error::input(format!("no product tag `{tag}`")))?;
                let sample = self.sample(policy, snap, tag).await?;
                let mut samples = t.samples.clone();
                samples.push(sample);
                let text = stability::render_samples(&samples);
                let sha = t.sha.clone();
                self.with_repo(&product, move |ws| {
                    ws.write_note(NOTES_SAMPLES, &sha, &text)
                })
                .await?;
                Ok(format!("{} sample(s)", samples.len()))
            }
            Action::FinalizeStability { tag } => self.finalize(policy, snap, tag).await,
            Action::Hotfix {
                base,
                tag,
                change,
                source,
            } => self.hotfix(policy, snap, base, tag, change, source).await,
        }
    }

    async fn status(
        &self,
        repo: &RepoId,
        sha: &str,
        ctx: &str,
        state: StatusState,
        description: &str,
    ) -> Result<()> {
        self.forge
            .set_status(
                repo,
                sha,
                &CommitStatus {
                    context: ctx.into(),
                    state,
                    description: clip(description),
                    target_url: None,
                },
            )
            .await
    }

    fn component_repo(&self, snap: &Snapshot, component: &str) -> Result<RepoId> {
        snap.components
            .iter()
            .find(|c| c.name == component)
            .map(|c| c.repo.clone())
            .ok_or_else(|| Error::input(format!("no component `{component}` in the product")))
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
                                let new = yaml_edit::set_scalar(&text, &target.key, version)
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

    /// The health watch of one component on some clusters.
    async fn watch(
        &self,
        env: &Environment,
        component: &str,
        version: &str,
        clusters: &[String],
        pr: Option<u64>,
        landscape_sha: &str,
    ) -> Result<GateResult> {
        let Some(source) = &env.health else {
            return Ok(GateResult {
                passed: true,
                summary: "no health source in the policy".into(),
                detail: String::new(),
            });
        };
        let repo = RepoId::parse(&env.repo)?;
        for cluster in clusters {
            let ctx = GateContext {
                env: env.name.clone(),
                component: component.into(),
                version: version.into(),
                cluster: cluster.clone(),
                toggle: None,
                pr,
            };
            let probe = HealthProbe {
                workdir: &self.workdir,
                forge: self.forge.as_ref(),
                landscape_repo: &repo,
                landscape_sha,
                poll_every: std::time::Duration::from_millis(500),
            };
            let r = gates::check_health(source, &ctx, &probe).await;
            if !r.passed {
                return Ok(r);
            }
        }
        Ok(GateResult {
            passed: true,
            summary: format!("{component} {version} healthy on {}", clusters.join(", ")),
            detail: String::new(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn open_product_pr(
        &self,
        policy: &Policy,
        snap: &Snapshot,
        change: &ComponentChange,
        sources: &[u64],
        labels: &[String],
        branch: &str,
        reason: &str,
    ) -> Result<String> {
        let product = snap.product.repo.clone();
        let component_repo = self.component_repo(snap, &change.component)?;
        // Open, not re-open: a PR for this branch may exist from a previous run.
        let existing = self
            .forge
            .list_open_pulls(&product)
            .await?
            .into_iter()
            .find(|p| p.head_ref == branch);
        let number = match existing {
            // Opened before a crash: finish the job (labels first).
            Some(p) => {
                let missing: Vec<String> = labels
                    .iter()
                    .filter(|l| !p.labels.contains(l))
                    .cloned()
                    .collect();
                if !missing.is_empty() {
                    self.forge.add_labels(&product, p.number, &missing).await?;
                }
                p.number
            }
            None => {
                let trailers = Trailers::new()
                    .with("Stagecoach-Action", "bump")
                    .with(
                        "Stagecoach-Component",
                        format!("{}@{}", change.component, change.to),
                    )
                    .with(
                        "Stagecoach-From",
                        format!(
                            "{component_repo}#{}",
                            sources
                                .iter()
                                .map(u64::to_string)
                                .collect::<Vec<_>>()
                                .join(",#")
                        ),
                    );
                let msg = format!(
                    "feat({}): {} {} → {}",
                    change.component, change.component, change.from, change.to
                );
                let base = self.config.product.branch.clone();
                self.commit_bump(&product, branch, &base, change, &msg, &trailers)
                    .await?;
                let log = self
                    .changelog(policy, snap, None, std::slice::from_ref(change))
                    .await?;
                let body = format!(
                    "Bumps **{}** from {} to {} ({reason}).\n\nFrom: {}\n\n{log}\n\n---\nOpened by Stagecoach. Risk is computed from the labels and shown in a comment; the CI landscape, gates and merge follow the product policy.",
                    change.component,
                    change.from,
                    change.to,
                    sources
                        .iter()
                        .map(|n| format!("{component_repo}#{n}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
                let pr = self
                    .forge
                    .create_pull(
                        &product,
                        &NewPull {
                            title: format!("{}: {} → {}", change.component, change.from, change.to),
                            body,
                            head: branch.to_string(),
                            base: self.config.product.branch.clone(),
                        },
                    )
                    .await?;
                if !labels.is_empty() {
                    self.forge.add_labels(&product, pr.number, labels).await?;
                }
                pr.number
            }
        };
        for n in sources {
            self.forge
                .upsert_sticky_comment(
                    &component_repo,
                    *n,
                    "product",
                    &super::component::released_comment(
                        &change.component,
                        &change.to,
                        &product,
                        number,
                    ),
                )
                .await?;
        }
        Ok(format!("product PR #{number}"))
    }

    /// Commit one component's new version into `product.yaml` on `branch`
    /// (made from `base` when new): the product PR's and the hotfix's change.
    async fn commit_bump(
        &self,
        product: &RepoId,
        branch: &str,
        base: &str,
        change: &ComponentChange,
        message: &str,
        trailers: &Trailers,
    ) -> Result<Outcome> {
        let manifest_path = self.config.product.manifest.clone();
        let (branch, base, change) = (branch.to_string(), base.to_string(), change.clone());
        let (message, trailers) = (message.to_string(), trailers.clone());
        self.with_repo(product, move |ws| {
            ws.update_branch(&branch, Some(&base), &message, &trailers, &mut |tree| {
                let text = tree
                    .read_file(&manifest_path)?
                    .ok_or_else(|| Error::input(format!("no `{manifest_path}`")))?;
                let new =
                    product_manifest::set_component_version(&text, &change.component, &change.to)?;
                Ok(vec![FileChange {
                    path: manifest_path.clone(),
                    content: Some(new),
                }])
            })
        })
        .await
    }

    /// One changelog: a section per component change, from its commits.
    async fn changelog(
        &self,
        policy: &Policy,
        snap: &Snapshot,
        version: Option<String>,
        changes: &[ComponentChange],
    ) -> Result<String> {
        let mut sections = Vec::new();
        for c in changes {
            let repo = self.component_repo(snap, &c.component)?;
            let prefix = policy.versioning.tag_prefix.clone();
            let c2 = c.clone();
            let section = self
                .with_repo(&repo, move |ws| {
                    let from = format!("{prefix}{}", c2.from);
                    let to = format!("{prefix}{}", c2.to);
                    let from_ok = ws.repo().revparse_single(&from).is_ok();
                    let commits =
                        history::commits_between(ws.repo(), from_ok.then_some(from.as_str()), &to)?;
                    Ok(changelog::section_from_commits(
                        Some(&c2.component),
                        Some(&c2.from.to_string()),
                        Some(&c2.to.to_string()),
                        &commits,
                        false,
                    ))
                })
                .await?;
            sections.push(section);
        }
        let template = match &policy.templates.changelog {
            Some(path) => {
                let (p, b) = (path.clone(), self.config.product.branch.clone());
                self.with_repo(&snap.product.repo, move |ws| ws.read_file(&b, &p))
                    .await?
            }
            None => None,
        };
        changelog::render(
            &Changelog {
                version,
                date: Some(self.clock.now().format("%Y-%m-%d").to_string()),
                sections,
            },
            template.as_deref(),
        )
    }

    /// A GitHub release for a tag: a draft with the changelog at tag time,
    /// published when the tag passes the stability KPI.
    async fn ensure_release(
        &self,
        repo: &RepoId,
        tag: &str,
        body: &str,
        draft: bool,
    ) -> Result<()> {
        let existing = self
            .forge
            .list_releases(repo)
            .await?
            .into_iter()
            .find(|r| r.tag_name == tag);
        match existing {
            Some(r) if r.draft == draft => Ok(()),
            Some(r) if r.draft && !draft => {
                self.forge.update_release(repo, r.id, &r.body, false).await
            }
            Some(_) => Ok(()),
            None => self
                .forge
                .create_release(
                    repo,
                    &NewRelease {
                        tag_name: tag.into(),
                        name: tag.into(),
                        body: body.into(),
                        draft,
                    },
                )
                .await
                .map(|_| ()),
        }
    }

    async fn sample(
        &self,
        policy: &Policy,
        snap: &Snapshot,
        tag: &str,
    ) -> Result<stability::Sample> {
        let env = super::staging::staging_env(policy)
            .ok_or_else(|| Error::input("no staging environment in the policy"))?;
        let stab = env.stability.as_ref().ok_or_else(|| {
            Error::input(format!("environment {} has no stability section", env.name))
        })?;
        let t = snap
            .product
            .tags
            .iter()
            .find(|t| t.name == tag)
            .ok_or_else(|| Error::input(format!("no tag {tag}")))?;
        let view = snap.envs.iter().find(|v| v.name == env.name);
        let since = view
            .and_then(|v| {
                v.history
                    .iter()
                    .find(|c| c.trailers.get("Stagecoach-Product") == Some(tag))
                    .map(|c| c.time)
            })
            .unwrap_or(snap.now);
        let mut results = Vec::new();
        if let (Some(gate), Some(m)) = (&env.smoke, &t.manifest) {
            for (name, pin) in &m.components {
                let ctx = GateContext {
                    env: env.name.clone(),
                    component: name.clone(),
                    version: pin.version.to_string(),
                    cluster: env.clusters.first().cloned().unwrap_or_default(),
                    toggle: None,
                    pr: None,
                };
                results.push(
                    gates::run_command(&gate.command, gate.timeout, &ctx, &self.workdir).await,
                );
            }
        }
        Ok(stability::take_sample(stab, snap.now, since, &t.samples, &results).await)
    }

    async fn finalize(&self, policy: &Policy, snap: &Snapshot, tag: &str) -> Result<String> {
        let product = snap.product.repo.clone();
        let t = snap
            .product
            .tags
            .iter()
            .find(|t| t.name == tag)
            .ok_or_else(|| Error::input(format!("no tag {tag}")))?;
        let env = super::staging::staging_env(policy);
        let stab = env.and_then(|e| e.stability.as_ref());
        let score = match t.note.as_deref().and_then(stability::parse_note) {
            Some(s) => s,
            None => {
                let stab = stab.ok_or_else(|| {
                    Error::input("the staging environment has no stability section")
                })?;
                let mut samples = t.samples.clone();
                samples.push(self.sample(policy, snap, tag).await?);
                let score = stability::score(&samples, stab.kpi, &stab.signals);
                let note = stability::render_note(&score);
                let sha = t.sha.clone();
                let text = stability::render_samples(&samples);
                self.with_repo(&product, move |ws| {
                    ws.write_note(NOTES_SAMPLES, &sha, &text)?;
                    ws.write_note(NOTES_STABILITY, &sha, &note)
                })
                .await?;
                score
            }
        };
        if score.passed {
            let body = t
                .release
                .as_ref()
                .map(|r| r.body.clone())
                .unwrap_or_default();
            self.ensure_release(&product, tag, &body, false).await?;
            Ok(format!(
                "{tag} scored {} (KPI {}): released",
                score.score, score.kpi
            ))
        } else {
            Ok(format!(
                "{tag} scored {} (KPI {}): not a release",
                score.score, score.kpi
            ))
        }
    }

    async fn hotfix(
        &self,
        policy: &Policy,
        snap: &Snapshot,
        base: &str,
        tag: &str,
        change: &ComponentChange,
        source: &str,
    ) -> Result<String> {
        let product = snap.product.repo.clone();
        let key = source.to_string();
        let branch = format!("hotfix/{tag}");
        let trailers = Trailers::new()
            .with("Stagecoach-Action", "hotfix")
            .with("Stagecoach-Product", tag.to_string())
            .with("Stagecoach-From", base.to_string())
            .with(
                "Stagecoach-Component",
                format!("{}@{}", change.component, change.to),
            )
            .with(super::hotfix::HOTFIX_FOR, key.clone());
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

fn ci_env(policy: &Policy) -> Result<&Environment> {
    policy
        .environments
        .iter()
        .find(|e| matches!(e.follows, Follows::ProductPrs))
        .ok_or_else(|| Error::input("the policy has no environment that follows product-prs (CI)"))
}

fn pr_env_dir(env: &Environment, pr: u64) -> Result<String> {
    env.pr_envs
        .as_ref()
        .map(|t| {
            t.replace("{number}", &pr.to_string())
                .trim_end_matches('/')
                .to_string()
        })
        .ok_or_else(|| Error::input(format!("environment {} has no `pr_envs` path", env.name)))
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
