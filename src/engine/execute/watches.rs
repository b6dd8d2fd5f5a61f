//! Acting on gates: a health watch or a smoke run is started here and
//! finished by a background task (`engine/inflight.rs`), so the pass that
//! starts it goes straight on to other roads. Starting records the gate on
//! the forge (a pending status saying until when it may run); the task
//! records the verdict (a final status, and a comment when it failed) and
//! then wakes the loop, whose next pass decides from that verdict.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::engine::gates::{self, GateContext, GateResult, HealthProbe};
use crate::error::Result;
use crate::forge::{Forge, RepoId, StatusState};
use crate::policy::{Environment, Policy};

use super::super::action::{Action, context};
use super::super::snapshot::{ComponentChange, Snapshot};
use super::super::{Engine, HEALTH_CONTEXT, text};
use super::{ci_env, environment, set_status, tag_manifest};

/// What a gate's task needs once the pass that started it has moved on.
#[derive(Clone)]
pub(crate) struct GateKit {
    forge: Arc<dyn Forge>,
    workdir: PathBuf,
}

impl Engine {
    fn gate_kit(&self) -> GateKit {
        GateKit {
            forge: Arc::clone(&self.forge),
            workdir: self.workdir.clone(),
        }
    }

    /// Run `gate` in the background under the action's gate key; the
    /// journal gets its verdict when it ends.
    fn start_gate<F>(&self, action: &Action, gate: F) -> bool
    where
        F: std::future::Future<Output = Result<String>> + Send + 'static,
    {
        let Some(key) = action.gate_key() else {
            return false;
        };
        let recorder = self.recorder();
        let scope = Arc::clone(&self.scope);
        let product = self.config.product_repo();
        let action = action.clone();
        self.inflight.start(key, async move {
            let outcome = match gate.await {
                Ok(verdict) => verdict,
                // The pending status stays: the next pass starts the gate again.
                Err(e) => format!("failed: {e}"),
            };
            recorder.record(&action, &outcome);
            // The verdict is on the forge now: the next pass reads it.
            scope.touched(&product, &action, None);
        })
    }

    /// When a gate started now must have ended.
    fn deadline(&self, timeout: Duration) -> DateTime<Utc> {
        self.clock.now() + chrono::Duration::from_std(timeout).unwrap_or_default()
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn watch_ci_health(
        &self,
        policy: &Policy,
        snap: &Snapshot,
        action: &Action,
        pr: u64,
        head_sha: &str,
        change: &ComponentChange,
        landscape_sha: &str,
    ) -> Result<String> {
        let env = ci_env(policy)?.clone();
        let product = snap.product.repo.clone();
        let timeout = env.health.as_ref().map(|h| h.timeout()).unwrap_or_default();
        let until = self.deadline(timeout);
        set_status(
            self.forge.as_ref(),
            &product,
            head_sha,
            context::CI,
            StatusState::Pending,
            &format!(
                "watching {} {} on {} until {}",
                change.component,
                change.to,
                env.name,
                until.format("%H:%M:%S UTC")
            ),
        )
        .await?;
        let kit = self.gate_kit();
        let (head, change, landscape) = (
            head_sha.to_string(),
            change.clone(),
            landscape_sha.to_string(),
        );
        let started = self.start_gate(action, async move {
            let result = kit
                .watch(
                    &env,
                    &change.component,
                    &change.to.to_string(),
                    &env.clusters,
                    Some(pr),
                    &landscape,
                )
                .await?;
            if !result.passed {
                kit.forge
                    .upsert_sticky_comment(
                        &product,
                        pr,
                        "ci",
                        &format!(
                            "**{} {} was unhealthy on {}; Stagecoach rolls it back.**\n\nWhat was seen: {}\n\n```\n{}\n```",
                            change.component,
                            change.to,
                            env.name,
                            text::inert(&result.summary),
                            result.detail.replace("```", "'''")
                        ),
                    )
                    .await?;
            }
            set_status(
                kit.forge.as_ref(),
                &product,
                &head,
                context::CI,
                verdict_state(&result),
                &result.summary,
            )
            .await?;
            Ok(result.summary)
        });
        Ok(started_line(started, until))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn run_smoke(
        &self,
        policy: &Policy,
        snap: &Snapshot,
        action: &Action,
        pr: u64,
        head_sha: &str,
        change: &ComponentChange,
        toggle: bool,
    ) -> Result<String> {
        let product = snap.product.repo.clone();
        let env = ci_env(policy)?;
        let Some(gate) = env.smoke.clone() else {
            set_status(
                self.forge.as_ref(),
                &product,
                head_sha,
                context::SMOKE,
                StatusState::Success,
                "no smoke gate in the policy",
            )
            .await?;
            return Ok("no smoke gate".into());
        };
        let modes: Vec<Option<bool>> = if toggle {
            vec![Some(true), Some(false)]
        } else {
            vec![None]
        };
        let until = self.deadline(gate.timeout * modes.len() as u32);
        set_status(
            self.forge.as_ref(),
            &product,
            head_sha,
            context::SMOKE,
            StatusState::Pending,
            &format!("smoke gate running until {}", until.format("%H:%M:%S UTC")),
        )
        .await?;
        let kit = self.gate_kit();
        let cluster = env.clusters.first().cloned().unwrap_or_default();
        let (head, change) = (head_sha.to_string(), change.clone());
        let started = self.start_gate(action, async move {
            let mut seen = Vec::new();
            let mut failed: Option<GateResult> = None;
            for mode in modes {
                let ctx = GateContext {
                    env: format!("pr-{pr}"),
                    component: change.component.clone(),
                    version: change.to.to_string(),
                    cluster: cluster.clone(),
                    toggle: mode,
                    pr: Some(pr),
                };
                let r = gates::run_command(&gate.command, gate.timeout, &ctx, &kit.workdir).await;
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
            if let Some(r) = &failed {
                kit.forge
                    .upsert_sticky_comment(
                        &product,
                        pr,
                        "smoke",
                        &format!(
                            "**The smoke gate failed; Stagecoach rolls the change back.**\n\n{}\n\n```\n{}\n```",
                            text::inert(&summary),
                            r.detail.replace("```", "'''")
                        ),
                    )
                    .await?;
            }
            let state = if failed.is_none() {
                StatusState::Success
            } else {
                StatusState::Failure
            };
            set_status(
                kit.forge.as_ref(),
                &product,
                &head,
                context::SMOKE,
                state,
                &summary,
            )
            .await?;
            Ok(summary)
        });
        Ok(started_line(started, until))
    }

    /// Watch every component of `tag` on the wave's clusters; the verdict is
    /// the `stagecoach/health` status of the wave's landscape commit.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn watch_promotion(
        &self,
        policy: &Policy,
        snap: &Snapshot,
        action: &Action,
        env: &str,
        tag: &str,
        commit: &str,
        clusters: &[String],
    ) -> Result<String> {
        let env = environment(policy, env)?.clone();
        let repo = RepoId::parse(&env.repo)?;
        let manifest = tag_manifest(snap, tag)?.clone();
        let per_component = env.health.as_ref().map(|h| h.timeout()).unwrap_or_default();
        let until = self.deadline(per_component * manifest.components.len().max(1) as u32);
        set_status(
            self.forge.as_ref(),
            &repo,
            commit,
            HEALTH_CONTEXT,
            StatusState::Pending,
            &format!("watching {tag} until {}", until.format("%H:%M:%S UTC")),
        )
        .await?;
        let kit = self.gate_kit();
        let (tag, commit, clusters) = (tag.to_string(), commit.to_string(), clusters.to_vec());
        let started = self.start_gate(action, async move {
            let mut verdict = GateResult {
                passed: true,
                summary: format!("{tag} healthy on {}", clusters.join(", ")),
                detail: String::new(),
            };
            for (name, pin) in &manifest.components {
                let r = kit
                    .watch(
                        &env,
                        name,
                        &pin.version.to_string(),
                        &clusters,
                        None,
                        &commit,
                    )
                    .await?;
                if !r.passed {
                    verdict = r;
                    break;
                }
            }
            set_status(
                kit.forge.as_ref(),
                &repo,
                &commit,
                HEALTH_CONTEXT,
                verdict_state(&verdict),
                &verdict.summary,
            )
            .await?;
            Ok(verdict.summary)
        });
        Ok(started_line(started, until))
    }
}

impl GateKit {
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
                poll_every: Duration::from_millis(500),
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
}

fn verdict_state(result: &GateResult) -> StatusState {
    if result.passed {
        StatusState::Success
    } else {
        StatusState::Failure
    }
}

fn started_line(started: bool, until: DateTime<Utc>) -> String {
    if started {
        format!("started, decides by {}", until.format("%H:%M:%S UTC"))
    } else {
        "already running".into()
    }
}
