//! Gather the record the delivery metrics are computed from, for
//! `stagecoach report`: one full observation (tags and their manifests,
//! component PRs with merge times and releasing versions), then each
//! measured landscape's bot commits further back than a pass reads, and the
//! health verdicts of the promotion commits inside the window.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::engine::snapshot::LandscapeCommit;
use crate::engine::{Engine, HEALTH_CONTEXT, Observed, trailer};
use crate::error::Result;
use crate::forge::{RepoId, StatusState};

use super::{EnvRecord, Record, measured_envs};

/// At most this many bot commits per landscape are read.
const RECORD_COMMITS: usize = 5_000;
/// At most this many commits are looked at to find them.
const RECORD_WALK: usize = 100_000;

/// The record of `observed`'s world, with each measured landscape's whole
/// bot record (up to [`RECORD_COMMITS`]; the promotions before the window
/// say what a first promotion in it changed) and the verdicts of its
/// promotion commits from `from` on.
pub async fn record(engine: &Engine, observed: &Observed, from: DateTime<Utc>) -> Result<Record> {
    let mut record = Record::from_observed(observed);
    let mut envs = Vec::new();
    for name in measured_envs(&observed.policy) {
        let Some(env) = observed.policy.environment(&name) else {
            continue;
        };
        let repo =
            RepoId::parse(&env.repo).map_err(|e| e.context(format!("environment {}", env.name)))?;
        let branch = env.branch.clone();
        let mut commits = engine
            .with_repo(&repo, move |ws| {
                let Some(head) = ws.branch_head(&branch)? else {
                    return Ok(Vec::new());
                };
                let log = ws.log_where(&head, RECORD_COMMITS, RECORD_WALK, |c| {
                    c.trailers.get(trailer::ACTION).is_some()
                })?;
                Ok(log)
            })
            .await?
            .into_iter()
            .map(|c| LandscapeCommit {
                sha: c.sha,
                time: c.time,
                trailers: c.trailers,
                reverted: false,
                health: None,
                health_at: None,
            })
            .collect::<Vec<_>>();
        let reverted: BTreeSet<String> = commits
            .iter()
            .flat_map(|c| c.trailers.get_all(trailer::REVERTS))
            .map(str::to_string)
            .collect();
        for c in &mut commits {
            c.reverted = reverted.contains(&c.sha);
            let promotes = matches!(
                c.trailers.get(trailer::ACTION),
                Some(trailer::action::PROMOTE) | Some(trailer::action::HOTFIX)
            );
            if !promotes || c.time < from {
                continue;
            }
            let verdict = engine
                .forge
                .list_statuses(&repo, &c.sha)
                .await?
                .into_iter()
                .find(|s| s.context == HEALTH_CONTEXT && s.state != StatusState::Pending);
            if let Some(s) = verdict {
                c.health = Some(s.state);
                c.health_at = s.updated_at;
            }
        }
        envs.push(EnvRecord { name, commits });
    }
    record.envs = envs;
    Ok(record)
}
