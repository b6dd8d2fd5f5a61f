//! The four key delivery metrics (deployment frequency, lead time for
//! changes, change failure rate, time to restore), computed from the record
//! git and the forge keep: a pure function from plain data to figures.
//!
//! What counts, exactly (the README's "Delivery metrics" says the same):
//!
//! - **Window.** `[until − since, until]`; each figure says which instant of
//!   an event must fall in it.
//! - **Environments measured.** Those whose deployments are promotions of
//!   product tags (everything but the CI landscape, which tests product PRs);
//!   *prod* is the policy's last environment.
//! - **A promotion** of tag T on environment E is one run of
//!   `promote`/`hotfix` landscape commits for T: it starts at a commit with
//!   `Stagecoach-Wave: 1/n` (or no wave trailer) and takes the following
//!   wave commits of T. Its instant is its first commit's. Kind: `rollback`
//!   when its `Stagecoach-Override` starts with `rollback from`
//!   (`stagecoach rollback`), `hotfix` when the tag is a hotfix tag, else
//!   `release`. It is *completed* by its final wave commit (`n/n`) when that
//!   commit is not reverted and has no failure verdict; it is *healthy* from
//!   that commit's `stagecoach/health` success (the verdict's time).
//! - **Deployment frequency**: promotions (all kinds) starting in the window,
//!   per day (`count / window days`) and per week (`× 7`). Zero promotions
//!   is a figure (0), not missing data.
//! - **Lead time for changes**: for each merged component PR (merge time from
//!   the forge; its version is the first component tag containing the merge
//!   commit), the time from the merge to the first completed promotion on E
//!   (final wave commit time, not before the merge) of a tag pinning that
//!   component at that version or newer. Counted when that arrival is in the
//!   window.
//! - **Change failure rate**: of the non-rollback promotions starting in the
//!   window (*changes*), the share that *failed*: one of its waves has a
//!   failure verdict or was reverted (`Stagecoach-Reverts`), or the next
//!   promotion on E is a rollback or a hotfix.
//! - **Time to restore**: an *incident* on E starts at a failed wave (its
//!   verdict's time, else its revert's) or at a rollback promotion's start,
//!   and ends at the first healthy completed promotion on E from then on (a
//!   rollback, a hotfix or a newer release); starts while one is open belong
//!   to it. Measured over incidents starting in the window; those not ended
//!   are counted as `open`.
//! - **Percentiles** are nearest-rank: sort ascending, the P-th percentile is
//!   the value at 1-based rank ⌈P/100 × n⌉; so the median of an even count
//!   is the lower middle value. No values: no data (`null`), never 0.
//! - **Per component**: a promotion counts for the components whose pinned
//!   version differs from the previous promotion's tag on E (the first in the
//!   record: every component it pins); lead times per component as above.
//!
//! Per product: the bot serves one product; the report names it.

pub mod chart;
pub mod read;
pub mod tally;
pub mod text;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use semver::Version;
use serde::Serialize;

use crate::engine::Observed;
use crate::engine::snapshot::LandscapeCommit;
use crate::engine::trailer;
use crate::forge::StatusState;
use crate::policy::{Follows, Policy};

/// Everything the figures are computed from.
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// The product repo (`owner/name`).
    pub product: String,
    /// The environments measured, in the policy's order; the last is prod.
    pub envs: Vec<EnvRecord>,
    /// Product tag → what it pins.
    pub tags: BTreeMap<String, TagPins>,
    /// Merged component PRs with the version that released them.
    pub changes: Vec<Change>,
}

/// One environment's landscape record: the bot's commits, newest first (as
/// `git log` gives them; the order, not the clock, says what came first).
#[derive(Debug, Clone, Default)]
pub struct EnvRecord {
    pub name: String,
    pub commits: Vec<LandscapeCommit>,
}

#[derive(Debug, Clone, Default)]
pub struct TagPins {
    pub hotfix: bool,
    pub pins: BTreeMap<String, Version>,
}

#[derive(Debug, Clone)]
pub struct Change {
    pub component: String,
    pub pr: u64,
    pub merged_at: DateTime<Utc>,
    pub version: Version,
}

impl Record {
    /// The record as a pass observed it (the snapshot's recent history).
    pub fn from_observed(o: &Observed) -> Record {
        let snap = &o.snapshot;
        let envs = measured_envs(&o.policy)
            .into_iter()
            .filter_map(|name| snap.envs.iter().find(|e| e.name == name))
            .map(|e| EnvRecord {
                name: e.name.clone(),
                commits: e.history.clone(),
            })
            .collect();
        let tags = snap
            .product
            .tags
            .iter()
            .map(|t| {
                let pins = t
                    .manifest
                    .as_ref()
                    .map(|m| {
                        m.components
                            .iter()
                            .map(|(n, p)| (n.clone(), p.version.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                (
                    t.name.clone(),
                    TagPins {
                        hotfix: t.is_hotfix(),
                        pins,
                    },
                )
            })
            .collect();
        let changes = snap
            .components
            .iter()
            .flat_map(|c| {
                c.pulls.iter().filter_map(|p| {
                    Some(Change {
                        component: c.name.clone(),
                        pr: p.pr.number,
                        merged_at: p.pr.merged_at?,
                        version: p.released_in.clone()?,
                    })
                })
            })
            .collect();
        Record {
            product: snap.product.repo.to_string(),
            envs,
            tags,
            changes,
        }
    }
}

/// The environments whose deployments are promotions of product tags.
pub fn measured_envs(policy: &Policy) -> Vec<String> {
    policy
        .environments
        .iter()
        .filter(|e| e.follows != Follows::ProductPrs)
        .map(|e| e.name.clone())
        .collect()
}

/// The figures of one window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub product: String,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub days: f64,
    /// The environment called prod (the policy's last), if measured.
    pub prod: Option<String>,
    pub environments: Vec<EnvFigures>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EnvFigures {
    pub env: String,
    pub deployment_frequency: Frequency,
    pub lead_time: Spread,
    pub change_failure_rate: FailureRate,
    pub time_to_restore: Restore,
    pub components: Vec<ComponentFigures>,
    /// One entry per day of the window, oldest first: the charts.
    pub daily: Vec<Day>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Frequency {
    /// Promotions starting in the window, all kinds.
    pub promotions: usize,
    pub releases: usize,
    pub hotfixes: usize,
    pub rollbacks: usize,
    pub per_day: f64,
    pub per_week: f64,
}

/// Durations in seconds: how many, their median and 90th percentile.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Spread {
    pub count: usize,
    pub median_seconds: Option<i64>,
    pub p90_seconds: Option<i64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FailureRate {
    /// Non-rollback promotions starting in the window.
    pub changes: usize,
    pub failed: usize,
    /// Of the failed: a wave failed its health watch or was reverted.
    pub failed_waves: usize,
    /// Of the failed: the next promotion was a rollback.
    pub rolled_back: usize,
    /// Of the failed: the next promotion was a hotfix.
    pub hotfixed: usize,
    /// `failed / changes`; no changes: no data.
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Restore {
    /// Incidents starting in the window.
    pub incidents: usize,
    /// Of those, not restored yet.
    pub open: usize,
    /// Restored incidents' durations.
    pub restored: Spread,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ComponentFigures {
    pub component: String,
    /// Promotions starting in the window that changed this component.
    pub promotions: usize,
    /// Of those, non-rollback ones that failed.
    pub failed: usize,
    pub lead_time: Spread,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Day {
    /// Start of the day-long bucket (window-relative).
    pub from: DateTime<Utc>,
    pub promotions: usize,
    pub lead_time_median_seconds: Option<i64>,
    pub change_failure_rate: Option<f64>,
    pub time_to_restore_median_seconds: Option<i64>,
}

/// One event the metrics count, for `/metrics` (each counted once, by key).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Promotion {
        env: String,
        kind: Kind,
    },
    Failure {
        env: String,
    },
    LeadTime {
        env: String,
        component: String,
        seconds: i64,
    },
    Restored {
        env: String,
        seconds: i64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Release,
    Hotfix,
    Rollback,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Release => "release",
            Kind::Hotfix => "hotfix",
            Kind::Rollback => "rollback",
        }
    }
}

/// One promotion, read from an environment's commits.
#[derive(Debug, Clone)]
struct Promotion {
    tag: String,
    kind: Kind,
    start: DateTime<Utc>,
    first_sha: String,
    /// A wave failed or was reverted: when it was known.
    failed_wave_at: Option<DateTime<Utc>>,
    /// The final wave's commit time, when completed.
    arrived: Option<DateTime<Utc>>,
    /// The final wave's success verdict time.
    healthy_at: Option<DateTime<Utc>>,
    /// Components whose pin differs from the previous promotion's tag.
    changed: BTreeSet<String>,
    /// Failed (only for non-rollbacks): why.
    failed: Option<Failure>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    Wave,
    RolledBack,
    Hotfixed,
}

#[derive(Debug, Clone)]
struct Incident {
    start: DateTime<Utc>,
    key: String,
    end: Option<DateTime<Utc>>,
}

fn wave(c: &LandscapeCommit) -> (usize, usize) {
    c.trailers
        .get(trailer::WAVE)
        .and_then(|w| w.split_once('/'))
        .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)))
        .unwrap_or((1, 1))
}

fn failed_verdict(c: &LandscapeCommit) -> bool {
    matches!(
        c.health,
        Some(StatusState::Failure) | Some(StatusState::Error)
    )
}

/// The promotions of one environment, oldest first.
fn promotions(env: &EnvRecord, tags: &BTreeMap<String, TagPins>) -> Vec<Promotion> {
    // When each reverted commit was reverted.
    let mut reverted_at: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
    for c in &env.commits {
        for sha in c.trailers.get_all(trailer::REVERTS) {
            reverted_at.entry(sha).or_insert(c.time);
        }
    }
    let mut out: Vec<Promotion> = Vec::new();
    let empty = BTreeMap::new();
    for c in env.commits.iter().rev() {
        let action = c.trailers.get(trailer::ACTION);
        if !matches!(
            action,
            Some(trailer::action::PROMOTE) | Some(trailer::action::HOTFIX)
        ) {
            continue;
        }
        let Some(tag) = c.trailers.get(trailer::PRODUCT) else {
            continue;
        };
        let (i, n) = wave(c);
        let continues = i > 1 && out.last().is_some_and(|p| p.tag == tag);
        if !continues {
            let pins = tags.get(tag).map(|t| &t.pins).unwrap_or(&empty);
            let changed = match out.last().and_then(|p| tags.get(&p.tag)) {
                Some(prev) => pins
                    .iter()
                    .filter(|(name, v)| prev.pins.get(*name) != Some(v))
                    .map(|(name, _)| name.clone())
                    .collect(),
                None => pins.keys().cloned().collect(),
            };
            let rollback = c
                .trailers
                .get(trailer::OVERRIDE)
                .is_some_and(|o| o.trim_start().starts_with("rollback from"));
            let hotfix = action == Some(trailer::action::HOTFIX)
                || c.trailers.get(trailer::HOTFIX) == Some("true")
                || tags.get(tag).is_some_and(|t| t.hotfix);
            out.push(Promotion {
                tag: tag.to_string(),
                kind: if rollback {
                    Kind::Rollback
                } else if hotfix {
                    Kind::Hotfix
                } else {
                    Kind::Release
                },
                start: c.time,
                first_sha: c.sha.clone(),
                failed_wave_at: None,
                arrived: None,
                healthy_at: None,
                changed,
                failed: None,
            });
        }
        let Some(p) = out.last_mut() else { continue };
        let revert = reverted_at.get(c.sha.as_str()).copied();
        if failed_verdict(c) || revert.is_some() || c.reverted {
            let at = if failed_verdict(c) {
                c.health_at.unwrap_or(c.time)
            } else {
                revert.unwrap_or(c.time)
            };
            p.failed_wave_at.get_or_insert(at);
        } else if i == n {
            p.arrived = Some(c.time);
            if c.health == Some(StatusState::Success) {
                p.healthy_at = Some(c.health_at.unwrap_or(c.time).max(c.time));
            }
        }
    }
    for k in 0..out.len() {
        if out[k].kind == Kind::Rollback {
            continue;
        }
        out[k].failed = if out[k].failed_wave_at.is_some() {
            Some(Failure::Wave)
        } else {
            match out.get(k + 1).map(|p| p.kind) {
                Some(Kind::Rollback) => Some(Failure::RolledBack),
                Some(Kind::Hotfix) => Some(Failure::Hotfixed),
                _ => None,
            }
        };
    }
    // A failed wave is not a completion.
    for p in &mut out {
        if p.failed_wave_at.is_some() {
            p.arrived = None;
            p.healthy_at = None;
        }
    }
    out
}

fn incidents(promotions: &[Promotion]) -> Vec<Incident> {
    let mut starts: Vec<(usize, DateTime<Utc>, String)> = Vec::new();
    for (k, p) in promotions.iter().enumerate() {
        if p.kind == Kind::Rollback {
            starts.push((k, p.start, p.first_sha.clone()));
        }
        if let Some(at) = p.failed_wave_at {
            starts.push((k, at, format!("{}:wave", p.first_sha)));
        }
    }
    starts.sort_by_key(|(k, at, _)| (*k, *at));
    let mut out: Vec<Incident> = Vec::new();
    for (k, at, key) in starts {
        if let Some(open) = out.last() {
            if open.end.is_none_or(|end| end > at) {
                continue;
            }
        }
        let end = promotions[k..]
            .iter()
            .filter_map(|p| p.healthy_at)
            .find(|h| *h >= at);
        out.push(Incident {
            start: at,
            key,
            end,
        });
    }
    out
}

/// When each change arrived on the environment (first completed promotion
/// of a tag pinning its version or newer, not before the merge).
fn arrivals<'a>(
    promotions: &[Promotion],
    tags: &BTreeMap<String, TagPins>,
    changes: &'a [Change],
) -> Vec<(&'a Change, DateTime<Utc>)> {
    changes
        .iter()
        .filter_map(|ch| {
            promotions
                .iter()
                .filter_map(|p| p.arrived.map(|t| (p, t)))
                .filter(|(_, t)| *t >= ch.merged_at)
                .find(|(p, _)| {
                    tags.get(&p.tag)
                        .and_then(|t| t.pins.get(&ch.component))
                        .is_some_and(|v| *v >= ch.version)
                })
                .map(|(_, t)| (ch, t))
        })
        .collect()
}

/// The nearest-rank percentile (`p` in 1..=100) of `values`; `None` when empty.
pub fn percentile(values: &[i64], p: u32) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = (u64::from(p) * v.len() as u64).div_ceil(100).max(1) as usize;
    v.get(rank.min(v.len()) - 1).copied()
}

fn spread(values: &[i64]) -> Spread {
    Spread {
        count: values.len(),
        median_seconds: percentile(values, 50),
        p90_seconds: percentile(values, 90),
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn secs(d: Duration) -> i64 {
    d.num_seconds().max(0)
}

/// The figures of `record` over `[until − since, until]`.
pub fn compute(record: &Record, since: Duration, until: DateTime<Utc>) -> Report {
    let from = until - since;
    let in_window = |t: DateTime<Utc>| t >= from && t <= until;
    let days = (since.num_seconds().max(1) as f64) / 86_400.0;
    let buckets = (since.num_seconds().max(1) as u64).div_ceil(86_400) as usize;
    let bucket = |t: DateTime<Utc>| -> usize {
        (((t - from).num_seconds().max(0) / 86_400) as usize).min(buckets.saturating_sub(1))
    };
    let mut environments = Vec::new();
    for env in &record.envs {
        let proms = promotions(env, &record.tags);
        let window: Vec<&Promotion> = proms.iter().filter(|p| in_window(p.start)).collect();
        let count = |k: Kind| window.iter().filter(|p| p.kind == k).count();
        let changes: Vec<&&Promotion> =
            window.iter().filter(|p| p.kind != Kind::Rollback).collect();
        let failed = |f: Failure| changes.iter().filter(|p| p.failed == Some(f)).count();
        let n_failed = changes.iter().filter(|p| p.failed.is_some()).count();
        let rate = |n: usize, of: usize| (of > 0).then(|| round3(n as f64 / of as f64));
        let arrived: Vec<(&Change, DateTime<Utc>)> =
            arrivals(&proms, &record.tags, &record.changes)
                .into_iter()
                .filter(|(_, t)| in_window(*t))
                .collect();
        let leads: Vec<i64> = arrived
            .iter()
            .map(|(c, t)| secs(*t - c.merged_at))
            .collect();
        let incs: Vec<Incident> = incidents(&proms)
            .into_iter()
            .filter(|i| in_window(i.start))
            .collect();
        let restored: Vec<i64> = incs
            .iter()
            .filter_map(|i| i.end.map(|e| secs(e - i.start)))
            .collect();
        let mut names: BTreeSet<String> = window.iter().flat_map(|p| p.changed.clone()).collect();
        names.extend(arrived.iter().map(|(c, _)| c.component.clone()));
        let components = names
            .into_iter()
            .map(|name| {
                let touched: Vec<&&Promotion> = window
                    .iter()
                    .filter(|p| p.changed.contains(&name))
                    .collect();
                let lead: Vec<i64> = arrived
                    .iter()
                    .filter(|(c, _)| c.component == name)
                    .map(|(c, t)| secs(*t - c.merged_at))
                    .collect();
                ComponentFigures {
                    promotions: touched.len(),
                    failed: touched.iter().filter(|p| p.failed.is_some()).count(),
                    lead_time: spread(&lead),
                    component: name,
                }
            })
            .collect();
        let daily = (0..buckets)
            .map(|b| {
                let here: Vec<&&Promotion> =
                    window.iter().filter(|p| bucket(p.start) == b).collect();
                let day_changes: Vec<&&&Promotion> =
                    here.iter().filter(|p| p.kind != Kind::Rollback).collect();
                let day_failed = day_changes.iter().filter(|p| p.failed.is_some()).count();
                let lead: Vec<i64> = arrived
                    .iter()
                    .filter(|(_, t)| bucket(*t) == b)
                    .map(|(c, t)| secs(*t - c.merged_at))
                    .collect();
                let restore: Vec<i64> = incs
                    .iter()
                    .filter(|i| bucket(i.start) == b)
                    .filter_map(|i| i.end.map(|e| secs(e - i.start)))
                    .collect();
                Day {
                    from: from + Duration::days(b as i64),
                    promotions: here.len(),
                    lead_time_median_seconds: percentile(&lead, 50),
                    change_failure_rate: rate(day_failed, day_changes.len()),
                    time_to_restore_median_seconds: percentile(&restore, 50),
                }
            })
            .collect();
        let per_day = window.len() as f64 / days;
        environments.push(EnvFigures {
            env: env.name.clone(),
            deployment_frequency: Frequency {
                promotions: window.len(),
                releases: count(Kind::Release),
                hotfixes: count(Kind::Hotfix),
                rollbacks: count(Kind::Rollback),
                per_day: round3(per_day),
                per_week: round3(per_day * 7.0),
            },
            lead_time: spread(&leads),
            change_failure_rate: FailureRate {
                changes: changes.len(),
                failed: n_failed,
                failed_waves: failed(Failure::Wave),
                rolled_back: failed(Failure::RolledBack),
                hotfixed: failed(Failure::Hotfixed),
                rate: rate(n_failed, changes.len()),
            },
            time_to_restore: Restore {
                incidents: incs.len(),
                open: incs.iter().filter(|i| i.end.is_none()).count(),
                restored: spread(&restored),
            },
            components,
            daily,
        });
    }
    Report {
        product: record.product.clone(),
        since: from,
        until,
        days: round3(days),
        prod: record.envs.last().map(|e| e.name.clone()),
        environments,
    }
}

/// Every event in `record`, each with a key that names it for good (a
/// promotion's first commit, a change and environment, an incident's
/// start), so a tally counts it once however often it is seen.
pub fn events(record: &Record) -> Vec<(String, Event)> {
    let mut out = Vec::new();
    for env in &record.envs {
        let proms = promotions(env, &record.tags);
        for p in &proms {
            out.push((
                format!("promotion:{}:{}", env.name, p.first_sha),
                Event::Promotion {
                    env: env.name.clone(),
                    kind: p.kind,
                },
            ));
            if p.failed.is_some() {
                out.push((
                    format!("failure:{}:{}", env.name, p.first_sha),
                    Event::Failure {
                        env: env.name.clone(),
                    },
                ));
            }
        }
        for (c, t) in arrivals(&proms, &record.tags, &record.changes) {
            out.push((
                format!("lead:{}:{}:{}", env.name, c.component, c.pr),
                Event::LeadTime {
                    env: env.name.clone(),
                    component: c.component.clone(),
                    seconds: secs(t - c.merged_at),
                },
            ));
        }
        for i in incidents(&proms) {
            if let Some(end) = i.end {
                out.push((
                    format!("restore:{}:{}", env.name, i.key),
                    Event::Restored {
                        env: env.name.clone(),
                        seconds: secs(end - i.start),
                    },
                ));
            }
        }
    }
    out
}
