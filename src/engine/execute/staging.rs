//! Acting on staging: a stability sample (a line in the samples note), and
//! the final score (the stability note) that makes a tag a release or not.

use crate::engine::gates::{self, GateContext};
use crate::engine::stability;
use crate::error::{Error, Result};
use crate::policy::Policy;
use futures_util::StreamExt;

use super::super::snapshot::Snapshot;
use super::super::{Engine, NOTES_SAMPLES, NOTES_STABILITY};

/// Staging smoke runs of one stability sample at once.
const SMOKE_CONCURRENCY: usize = 8;

impl Engine {
    pub(super) async fn sample_stability(
        &self,
        policy: &Policy,
        snap: &Snapshot,
        tag: &str,
    ) -> Result<String> {
        let product = snap.product.repo.clone();
        let t = snap
            .product
            .tags
            .iter()
            .find(|t| t.name == tag)
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

    async fn sample(
        &self,
        policy: &Policy,
        snap: &Snapshot,
        tag: &str,
    ) -> Result<stability::Sample> {
        let env = crate::engine::staging::staging_env(policy)
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
                    .find(|c| c.trailers.get(crate::engine::trailer::PRODUCT) == Some(tag))
                    .map(|c| c.time)
            })
            .unwrap_or(snap.now);
        let mut results = Vec::new();
        if let (Some(gate), Some(m)) = (&env.smoke, &t.manifest) {
            // One smoke run per component: side by side (in manifest order),
            // or a product of a thousand components holds the pass for
            // seconds.
            let runs: Vec<_> = m
                .components
                .iter()
                .map(|(name, pin)| {
                    let ctx = GateContext {
                        env: env.name.clone(),
                        component: name.clone(),
                        version: pin.version.to_string(),
                        cluster: env.clusters.first().cloned().unwrap_or_default(),
                        toggle: None,
                        pr: None,
                    };
                    let (command, timeout, workdir) =
                        (gate.command.clone(), gate.timeout, self.workdir.clone());
                    async move { gates::run_command(&command, timeout, &ctx, &workdir).await }
                })
                .collect();
            results = futures_util::stream::iter(runs)
                .buffered(SMOKE_CONCURRENCY)
                .collect()
                .await;
        }
        Ok(stability::take_sample(stab, snap.now, since, &t.samples, &results).await)
    }

    pub(super) async fn finalize(
        &self,
        policy: &Policy,
        snap: &Snapshot,
        tag: &str,
    ) -> Result<String> {
        let product = snap.product.repo.clone();
        let t = snap
            .product
            .tags
            .iter()
            .find(|t| t.name == tag)
            .ok_or_else(|| Error::input(format!("no tag {tag}")))?;
        let env = crate::engine::staging::staging_env(policy);
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
}
