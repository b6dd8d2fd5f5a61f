//! The read side: where a component, version, commit or PR is on the road,
//! and the product tags with their stability scores.
//!
//! Everything here is a plain function over what a pass observed (the
//! policy and the `Snapshot`); the one edge is [`locate`], which asks git
//! which component tag first contains a commit. `stagecoach status`,
//! `stagecoach releases`, the dashboard and the road metrics all read these
//! views, so they always agree.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use semver::Version;
use serde::Serialize;

use crate::engine::snapshot::{ComponentView, EnvView, ProductPull, ProductTag, Snapshot};
use crate::engine::{Engine, Observed, stability};
use crate::error::{Error, Result};
use crate::forge::{PrState, RepoId, StatusState};
use crate::labels;
use crate::policy::{Follows, Policy};
use crate::risk::{self, Factor};
use crate::version::Bump;

/// One environment as a column of the road.
#[derive(Debug, Clone, Serialize)]
pub struct EnvColumn {
    pub name: String,
    pub repo: String,
    /// `product-prs`, `product-tags`, `releases`, `canary`, ...
    pub follows: String,
    pub manual: bool,
    /// The product tag promoted here last (not rolled back), if any.
    pub tag: Option<String>,
    pub clusters: Vec<ClusterRow>,
    /// The current tag's waves; one wave for a single-cluster environment.
    pub waves: Vec<WaveRow>,
    /// PR environments that exist now (CI).
    pub pr_envs: Vec<u64>,
    /// A freeze window covers the environment now: promotions to it wait.
    pub frozen: Option<FrozenRow>,
}

/// A freeze on an environment, as people read it.
#[derive(Debug, Clone, Serialize)]
pub struct FrozenRow {
    pub window: String,
    pub until: DateTime<Utc>,
    /// `prod is frozen until 2025-06-09 06:00 UTC (freeze `weekend`, …)`.
    pub says: String,
}

/// Who rejected a tag, when and why.
#[derive(Debug, Clone, Serialize)]
pub struct RejectedRow {
    pub by: String,
    pub at: DateTime<Utc>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterRow {
    pub name: String,
    /// component → version running there.
    pub versions: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WaveRow {
    /// 1-based.
    pub number: usize,
    pub clusters: Vec<String>,
    /// `healthy`, `unhealthy`, `watching` (deployed, no verdict yet) or `waiting`.
    pub state: String,
}

/// A component version change, as people read it.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub component: String,
    pub from: String,
    pub to: String,
    pub bump: String,
    pub breaking: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScorePart {
    pub name: String,
    pub points: f64,
    pub weight: u32,
}

/// One product tag in the releases table.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseRow {
    pub tag: String,
    pub version: String,
    pub on_main: bool,
    pub hotfix: bool,
    /// The tag a hotfix was cut from.
    pub hotfix_of: Option<String>,
    /// The final score from `refs/notes/stability`, or (provisional) the
    /// score of the samples taken so far.
    pub score: Option<u8>,
    pub provisional: bool,
    pub kpi: Option<u8>,
    pub passed: Option<bool>,
    pub samples: usize,
    pub parts: Vec<ScorePart>,
    /// A published (not draft) release exists for the tag.
    pub release: bool,
    pub created_at: Option<DateTime<Utc>>,
    pub age_seconds: Option<i64>,
    pub age: String,
    /// Environments whose current tag this is.
    pub envs: Vec<String>,
    pub changes: Vec<Change>,
    pub breaking: bool,
    pub headline: String,
    /// Rejected (`stagecoach reject`, `/reject`): never promoted while so.
    pub rejected: Option<RejectedRow>,
}

/// A status context on a product PR.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub context: String,
    pub state: String,
    pub description: String,
}

/// An open product PR: its risk and what it waits for.
#[derive(Debug, Clone, Serialize)]
pub struct PullRow {
    pub number: u64,
    pub title: String,
    pub url: String,
    pub author: String,
    pub changes: Vec<Change>,
    pub risk: Option<String>,
    pub score: Option<u32>,
    pub factors: Vec<Factor>,
    pub checks: Vec<Check>,
    pub waits_for: Vec<String>,
    pub pr_env: bool,
}

/// Where one environment's clusters stand with respect to a version.
#[derive(Debug, Clone, Serialize)]
pub struct EnvPlace {
    pub env: String,
    pub tag: Option<String>,
    pub clusters: Vec<ClusterPlace>,
    /// `all`, `some` (a rollout in progress) or `none` of the clusters carry it.
    pub carries: String,
    pub waves: Vec<WaveRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterPlace {
    pub cluster: String,
    pub version: Option<String>,
    pub carries: bool,
}

/// The answer of `stagecoach status COMPONENT[@VERSION] | PR | COMMIT`.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentStatus {
    pub component: String,
    pub repo: String,
    /// The version followed: asked, found from a commit or PR, or the one on
    /// the product's main. `None` when the change is in no release yet.
    pub version: Option<String>,
    /// How the version was found (a commit, a PR), for people.
    pub found: Option<String>,
    /// The newest version tagged on the component.
    pub latest_tag: Option<String>,
    /// The version product main pins, and whether it carries the change.
    pub product_main: Option<String>,
    pub main_carries: bool,
    pub envs: Vec<EnvPlace>,
    /// Product tags that carry the version, oldest first.
    pub product_tags: Vec<String>,
    /// Open product PRs that change this component.
    pub open_prs: Vec<PullRow>,
}

/// The whole road at a glance (no query).
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub product: String,
    pub main_sha: String,
    pub envs: Vec<EnvColumn>,
    /// component → version on product main.
    pub components: BTreeMap<String, String>,
    pub open_prs: Vec<PullRow>,
    /// Product tags rejected now: (tag, who, when, why).
    pub rejected: Vec<RejectedTag>,
}

/// A rejected tag in the overview.
#[derive(Debug, Clone, Serialize)]
pub struct RejectedTag {
    pub tag: String,
    #[serde(flatten)]
    pub rejected: RejectedRow,
}

// ── views ──

pub fn road(o: &Observed) -> Vec<EnvColumn> {
    o.snapshot
        .envs
        .iter()
        .map(|view| {
            let env = o.policy.environments.iter().find(|e| e.name == view.name);
            let tag = view.current_tag().map(str::to_string);
            EnvColumn {
                name: view.name.clone(),
                repo: view.repo.to_string(),
                follows: env.map(|e| follows_name(&e.follows)).unwrap_or_default(),
                manual: env.is_some_and(|e| e.manual),
                waves: tag
                    .as_deref()
                    .map(|t| waves(&o.policy, view, t))
                    .unwrap_or_default(),
                tag,
                clusters: view
                    .versions
                    .iter()
                    .map(|(c, v)| ClusterRow {
                        name: c.clone(),
                        versions: v.iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
                    })
                    .collect(),
                pr_envs: view.pr_envs.clone(),
                frozen: frozen_row(&o.policy, &view.name, o.snapshot.now),
            }
        })
        .collect()
}

/// What waits now and why, one line each: freezes (promotions to those
/// environments wait until the window ends) and rejected tags.
pub fn waits(o: &Observed) -> Vec<String> {
    let mut out: Vec<String> = o
        .policy
        .environments
        .iter()
        .filter_map(|e| frozen_row(&o.policy, &e.name, o.snapshot.now))
        .map(|f| format!("{}: promotions wait (hotfixes and --override pass)", f.says))
        .collect();
    out.extend(o.snapshot.product.tags.iter().filter_map(|t| {
        t.rejection()
            .map(|r| format!("{} is never promoted: {}", t.name, r.describe()))
    }));
    out
}

/// The freeze on `env` at `now`, if one.
pub fn frozen_row(policy: &Policy, env: &str, now: DateTime<Utc>) -> Option<FrozenRow> {
    crate::engine::freeze::frozen(policy, env, now).map(|f| FrozenRow {
        says: f.describe(env),
        window: f.window,
        until: f.until,
    })
}

fn follows_name(f: &Follows) -> String {
    match f {
        Follows::ProductPrs => "product-prs".into(),
        Follows::ProductTags => "product-tags".into(),
        Follows::Releases => "releases".into(),
        Follows::Environment(e) => e.clone(),
    }
}

/// The waves of `tag` on an environment, from the landscape's commits.
fn waves(policy: &Policy, view: &EnvView, tag: &str) -> Vec<WaveRow> {
    let waves: Vec<Vec<String>> = match policy.environments.iter().find(|e| e.name == view.name) {
        Some(e) if !e.waves.is_empty() => e.waves.clone(),
        Some(e) => vec![e.clusters.clone()],
        None => Vec::new(),
    };
    waves
        .into_iter()
        .enumerate()
        .map(|(i, clusters)| {
            let state = match view.wave_commit(tag, i + 1) {
                None => "waiting",
                Some(c) => match c.health {
                    Some(StatusState::Success) => "healthy",
                    Some(StatusState::Failure) | Some(StatusState::Error) => "unhealthy",
                    _ => "watching",
                },
            };
            WaveRow {
                number: i + 1,
                clusters,
                state: state.into(),
            }
        })
        .collect()
}

fn change_of(component: &str, from: &Version, to: &Version) -> Change {
    let bump = Bump::between(from, to);
    Change {
        component: component.to_string(),
        from: from.to_string(),
        to: to.to_string(),
        bump: bump.map(risk::bump_name).unwrap_or("none").into(),
        // A new component (from 0.0.0) is not a breaking change of it.
        breaking: bump == Some(Bump::Major) && *from != Version::new(0, 0, 0),
    }
}

/// "3m", "2h", "5d": how long ago, roughly.
pub fn age_text(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// Product tags, newest first, with score, release, age, where they run and
/// what changed. `min_score` keeps only tags with a score at least that.
pub fn releases(o: &Observed, min_score: Option<u8>) -> Vec<ReleaseRow> {
    let snap = &o.snapshot;
    let stability = o
        .policy
        .environments
        .iter()
        .find_map(|e| e.stability.as_ref());
    let tags = &snap.product.tags;
    let mut rows: Vec<ReleaseRow> = tags
        .iter()
        .map(|t| {
            let previous = previous_tag(tags, t);
            let changes: Vec<Change> =
                match (previous.and_then(|p| p.manifest.as_ref()), &t.manifest) {
                    (Some(old), Some(new)) => crate::engine::tag::manifest_changes(old, new)
                        .iter()
                        .map(|c| change_of(&c.component, &c.from, &c.to))
                        .collect(),
                    (None, Some(new)) => new
                        .components
                        .iter()
                        .map(|(n, p)| change_of(n, &Version::new(0, 0, 0), &p.version))
                        .collect(),
                    _ => Vec::new(),
                };
            let note = t.note.as_deref().and_then(stability::parse_note);
            let (score, provisional, kpi, passed, samples, parts) = match (&note, stability) {
                (Some(n), _) => (
                    Some(n.score),
                    false,
                    Some(n.kpi),
                    Some(n.passed),
                    n.samples,
                    n.parts.clone(),
                ),
                (None, Some(s)) if !t.samples.is_empty() => {
                    let n = stability::score(&t.samples, s.kpi, &s.signals);
                    (Some(n.score), true, Some(n.kpi), None, n.samples, n.parts)
                }
                (None, s) => (None, false, s.map(|s| s.kpi), None, 0, Vec::new()),
            };
            let hotfix_of = t
                .is_hotfix()
                .then(|| t.trailers.get("Stagecoach-From").map(str::to_string))
                .flatten();
            let breaking = changes.iter().any(|c| c.breaking);
            let mut headline = changes
                .iter()
                .map(|c| {
                    format!(
                        "{} {} → {}{}",
                        c.component,
                        c.from,
                        c.to,
                        if c.breaking { " (BREAKING)" } else { "" }
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            if let Some(base) = &hotfix_of {
                headline = format!("hotfix of {base}: {headline}");
            }
            let age_seconds = t.created_at.map(|c| (snap.now - c).num_seconds());
            ReleaseRow {
                tag: t.name.clone(),
                version: t.version.to_string(),
                on_main: t.on_main,
                hotfix: t.is_hotfix(),
                hotfix_of,
                score,
                provisional,
                kpi,
                passed,
                samples,
                parts: parts
                    .into_iter()
                    .map(|(name, _, weight, points)| ScorePart {
                        name,
                        points,
                        weight,
                    })
                    .collect(),
                release: t.release.as_ref().is_some_and(|r| !r.draft),
                created_at: t.created_at,
                age_seconds,
                age: age_seconds.map(age_text).unwrap_or_else(|| "-".into()),
                envs: snap
                    .envs
                    .iter()
                    .filter(|e| e.current_tag() == Some(t.name.as_str()))
                    .map(|e| e.name.clone())
                    .collect(),
                changes,
                breaking,
                headline,
                rejected: t.rejection().map(|r| RejectedRow {
                    by: r.by.clone(),
                    at: r.at,
                    reason: r.reason.clone(),
                }),
            }
        })
        .filter(|r| min_score.is_none_or(|m| r.score.is_some_and(|s| s >= m)))
        .collect();
    rows.sort_by(|a, b| {
        b.created_at.cmp(&a.created_at).then_with(|| {
            let va = Version::parse(&a.version).ok();
            let vb = Version::parse(&b.version).ok();
            vb.cmp(&va)
        })
    });
    rows
}

/// The tag a tag's changelog counts from: a hotfix's base, else the highest
/// main tag below it (a hotfix beside main is not in main's line).
fn previous_tag<'a>(tags: &'a [ProductTag], t: &ProductTag) -> Option<&'a ProductTag> {
    if t.is_hotfix() {
        if let Some(base) = t.trailers.get("Stagecoach-From") {
            if let Some(b) = tags.iter().find(|o| o.name == base) {
                return Some(b);
            }
        }
    }
    tags.iter()
        .filter(|o| o.version < t.version && (o.on_main || !t.on_main))
        .max_by(|a, b| a.version.cmp(&b.version))
}

/// Open product PRs with their risk and what each waits for.
pub fn open_pulls(o: &Observed) -> Vec<PullRow> {
    o.snapshot
        .product
        .pulls
        .iter()
        .filter(|p| p.pr.state == PrState::Open)
        .map(|p| pull_row(&o.policy, p))
        .collect()
}

fn pull_row(policy: &Policy, p: &ProductPull) -> PullRow {
    use crate::engine::action::context;
    let changes: Vec<Change> = match &p.changes {
        Ok(c) => c
            .iter()
            .map(|c| change_of(&c.component, &c.from, &c.to))
            .collect(),
        Err(_) => Vec::new(),
    };
    let parsed = labels::parse_labels(policy, &p.pr.labels);
    let bump = match &p.changes {
        Ok(c) => c
            .iter()
            .filter_map(|c| Bump::between(&c.from, &c.to))
            .max()
            .unwrap_or(Bump::Patch),
        Err(_) => Bump::Patch,
    };
    let assessment = parsed
        .complete()
        .ok()
        .map(|l| risk::assess(policy, &l, bump));
    let level = parsed.risk.or(assessment.as_ref().map(|a| a.level));
    let checks: Vec<Check> = p
        .statuses
        .values()
        .map(|s| Check {
            context: s.context.clone(),
            state: state_name(s.state).into(),
            description: s.description.clone(),
        })
        .collect();
    let mut waits = Vec::new();
    if let Err(why) = &p.changes {
        waits.push(format!("a readable product.yaml: {why}"));
    }
    let mut failed = false;
    for ctx in [
        context::LABELS,
        context::CI,
        context::SMOKE,
        context::APPROVAL,
    ] {
        let Some(s) = p.statuses.get(ctx) else {
            continue;
        };
        let short = ctx.trim_start_matches("stagecoach/");
        match s.state {
            StatusState::Pending => waits.push(format!("{short}: {}", s.description)),
            StatusState::Failure | StatusState::Error => {
                failed = true;
                waits.push(format!("{short} failed: {}", s.description));
            }
            StatusState::Success => {}
        }
    }
    if let Some(level) = level {
        let approved = p
            .statuses
            .get(context::APPROVAL)
            .is_some_and(|s| s.state == StatusState::Success);
        // A failed PR waits for a fix, not for an approver.
        if policy.risk.approval.contains(&level)
            && !approved
            && !failed
            && !p.statuses.contains_key(context::APPROVAL)
        {
            let who: Vec<String> = policy
                .people
                .approvers
                .iter()
                .map(|a| a.to_string())
                .collect();
            waits.push(format!("an approval by {}", who.join(" or ")));
        }
        if waits.is_empty() && !failed {
            if p.statuses.is_empty() {
                waits.push("the bot's first look".into());
            } else if policy.risk.auto_merge.contains(&level) {
                waits.push("the bot to merge it (CI is green)".into());
            } else {
                waits.push(format!(
                    "a person to merge it (risk {level} is not merged automatically)"
                ));
            }
        }
    } else if waits.is_empty() {
        waits.push("the bot's first look".into());
    }
    PullRow {
        number: p.pr.number,
        title: p.pr.title.clone(),
        url: p.pr.html_url.clone(),
        author: p.pr.author.clone(),
        changes,
        risk: level.map(|l| l.to_string()),
        score: assessment.as_ref().map(|a| a.score),
        factors: assessment.map(|a| a.factors).unwrap_or_default(),
        checks,
        waits_for: waits,
        pr_env: p.pr_env_present,
    }
}

fn state_name(s: StatusState) -> &'static str {
    match s {
        StatusState::Pending => "pending",
        StatusState::Success => "success",
        StatusState::Failure => "failure",
        StatusState::Error => "error",
    }
}

pub fn overview(o: &Observed) -> Overview {
    Overview {
        product: o.snapshot.product.repo.to_string(),
        main_sha: o.snapshot.product.main_sha.clone(),
        envs: road(o),
        components: o
            .snapshot
            .product
            .manifest
            .components
            .iter()
            .map(|(n, p)| (n.clone(), p.version.to_string()))
            .collect(),
        open_prs: open_pulls(o),
        rejected: o
            .snapshot
            .product
            .tags
            .iter()
            .filter_map(|t| {
                t.rejection().map(|r| RejectedTag {
                    tag: t.name.clone(),
                    rejected: RejectedRow {
                        by: r.by.clone(),
                        at: r.at,
                        reason: r.reason.clone(),
                    },
                })
            })
            .collect(),
    }
}

/// Where `component` at `version` is (the product main's version when
/// `None`). `pending` says the change is in no version yet: nothing carries it.
pub fn component_status(
    o: &Observed,
    component: &str,
    version: Option<Version>,
    found: Option<String>,
    pending: bool,
) -> Result<ComponentStatus> {
    let snap = &o.snapshot;
    let view = snap
        .components
        .iter()
        .find(|c| c.name == component)
        .ok_or_else(|| unknown_component(snap, component))?;
    if let Some(v) = &version {
        known_version(o, view, v)?;
    }
    let main = snap
        .product
        .manifest
        .components
        .get(component)
        .map(|p| p.version.clone());
    let target = if pending {
        None
    } else {
        version.or(main.clone())
    };
    let carries = |v: Option<&Version>| match (&target, v) {
        (Some(t), Some(v)) => v >= t,
        _ => false,
    };
    let envs = snap
        .envs
        .iter()
        .map(|e| {
            let clusters: Vec<ClusterPlace> = e
                .versions
                .iter()
                .map(|(cluster, versions)| {
                    let v = versions.get(component);
                    ClusterPlace {
                        cluster: cluster.clone(),
                        version: v.map(Version::to_string),
                        carries: carries(v),
                    }
                })
                .collect();
            let n = clusters.iter().filter(|c| c.carries).count();
            let tag = e.current_tag().map(str::to_string);
            EnvPlace {
                env: e.name.clone(),
                carries: if n == 0 {
                    "none"
                } else if n == clusters.len() {
                    "all"
                } else {
                    "some"
                }
                .into(),
                waves: tag
                    .as_deref()
                    .map(|t| waves(&o.policy, e, t))
                    .unwrap_or_default(),
                tag,
                clusters,
            }
        })
        .collect();
    let product_tags = snap
        .product
        .tags
        .iter()
        .filter(|t| {
            carries(
                t.manifest
                    .as_ref()
                    .and_then(|m| m.components.get(component))
                    .map(|p| &p.version),
            )
        })
        .map(|t| t.name.clone())
        .collect();
    let open_prs = snap
        .product
        .pulls
        .iter()
        .filter(|p| p.pr.state == PrState::Open)
        .filter(|p| {
            p.changes
                .as_ref()
                .is_ok_and(|c| c.iter().any(|c| c.component == component))
        })
        .map(|p| pull_row(&o.policy, p))
        .collect();
    Ok(ComponentStatus {
        component: component.to_string(),
        repo: view.repo.to_string(),
        version: target.as_ref().map(Version::to_string),
        found,
        latest_tag: view.tags.last().map(|(_, name, _)| name.clone()),
        main_carries: carries(main.as_ref()),
        product_main: main.map(|v| v.to_string()),
        envs,
        product_tags,
        open_prs,
    })
}

/// A version asked about must exist somewhere: a component tag, main's pin
/// or a landscape; otherwise `status` would print a road that carries nothing.
fn known_version(o: &Observed, view: &ComponentView, version: &Version) -> Result<()> {
    let snap = &o.snapshot;
    let tagged = view.tags.iter().any(|(v, _, _)| v == version);
    let pinned = snap
        .product
        .manifest
        .components
        .get(&view.name)
        .is_some_and(|p| &p.version == version);
    let running = snap.envs.iter().any(|e| {
        e.versions
            .values()
            .any(|vs| vs.get(&view.name) == Some(version))
    });
    if tagged || pinned || running {
        return Ok(());
    }
    let latest = view
        .tags
        .last()
        .map(|(_, t, _)| format!("; the latest tag is {t}"))
        .unwrap_or_default();
    Err(Error::input(format!(
        "{} has no version {version}: no tag, product pin or landscape has it{latest}",
        view.name
    )))
}

fn unknown_component(snap: &Snapshot, name: &str) -> Error {
    let known: Vec<&str> = snap.components.iter().map(|c| c.name.as_str()).collect();
    Error::input(format!(
        "no component `{name}` in the product (known: {})",
        known.join(", ")
    ))
}

// ── queries ──

/// What `stagecoach status` was asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    Component {
        name: String,
        version: Option<Version>,
    },
    /// A component PR, by URL (`https://github.com/o/r/pull/12`) or `o/r#12`.
    Pull { repo: String, number: u64 },
    /// A commit id (7 to 40 hex digits).
    Commit(String),
}

impl Query {
    pub fn parse(text: &str) -> Result<Query> {
        let text = text.trim();
        let bad = || {
            Error::input(format!(
                "`{text}` is not a component (name or name@version), a PR (URL or owner/repo#N) or a commit id"
            ))
        };
        if let Some(i) = text.find("/pull/") {
            let number = text[i + 6..]
                .split(['/', '#', '?'])
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or_else(bad)?;
            let parts: Vec<&str> = text[..i].rsplit('/').take(2).collect();
            let [name, owner] = parts[..] else {
                return Err(bad());
            };
            return Ok(Query::Pull {
                repo: format!("{owner}/{name}"),
                number,
            });
        }
        if let Some((repo, n)) = text.split_once('#') {
            let number = n.parse().map_err(|_| bad())?;
            return Ok(Query::Pull {
                repo: repo.to_string(),
                number,
            });
        }
        if (7..=40).contains(&text.len()) && text.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(Query::Commit(text.to_ascii_lowercase()));
        }
        if let Some((name, v)) = text.split_once('@') {
            let version = Version::parse(v.trim_start_matches('v'))
                .map_err(|e| Error::input(format!("`{v}` is not a semantic version ({e})")))?;
            return Ok(Query::Component {
                name: name.to_string(),
                version: Some(version),
            });
        }
        if text.is_empty() || text.contains(char::is_whitespace) {
            return Err(bad());
        }
        Ok(Query::Component {
            name: text.to_string(),
            version: None,
        })
    }
}

/// Answer a query: for a commit or PR, find the first component version
/// containing it (git), then the same view as for that version.
pub async fn locate(engine: &Engine, o: &Observed, query: Query) -> Result<ComponentStatus> {
    match query {
        Query::Component { name, version } => {
            // A name that is also hex (`cafe123`) is a component if one is called so.
            component_status(o, &name, version, None, false)
        }
        Query::Commit(sha) => {
            if let Some(c) = o.snapshot.components.iter().find(|c| c.name == sha) {
                return component_status(o, &c.name.clone(), None, None, false);
            }
            for c in &o.snapshot.components {
                if let Some(found) = first_tag_with(engine, &c.repo, &c.tags, &sha).await? {
                    return answer_commit(o, &c.name, &sha, found);
                }
            }
            Err(Error::input(format!(
                "commit {sha} is in none of the product's component repositories"
            )))
        }
        Query::Pull { repo, number } => {
            let comp = o
                .snapshot
                .components
                .iter()
                .find(|c| {
                    c.repo.to_string().eq_ignore_ascii_case(&repo)
                        || c.name.eq_ignore_ascii_case(&repo)
                })
                .ok_or_else(|| {
                    Error::input(format!(
                        "{repo} is not the repository of any component of the product"
                    ))
                })?;
            let pr = match comp.pulls.iter().find(|p| p.pr.number == number) {
                Some(p) => p.pr.clone(),
                None => engine.forge.get_pull(&comp.repo, number).await?,
            };
            let label = format!("{}#{number}", comp.repo);
            let Some(merge) = pr.merge_commit_sha.clone().filter(|_| pr.merged) else {
                return component_status(
                    o,
                    &comp.name,
                    None,
                    Some(format!("{label} is not merged: it is not on the road yet")),
                    true,
                );
            };
            let name = comp.name.clone();
            match first_tag_with(engine, &comp.repo, &comp.tags, &merge).await? {
                Some(found) => {
                    let mut s = answer_commit(o, &name, &merge, found)?;
                    s.found = s.found.map(|f| format!("{label} merged as {f}"));
                    Ok(s)
                }
                None => Err(Error::world(format!(
                    "{label}'s merge commit {merge} is not in the component's repository"
                ))),
            }
        }
    }
}

fn answer_commit(
    o: &Observed,
    component: &str,
    sha: &str,
    found: Option<Version>,
) -> Result<ComponentStatus> {
    let short = sha.get(..7).unwrap_or(sha);
    match found {
        Some(v) => component_status(
            o,
            component,
            Some(v.clone()),
            Some(format!("{short}, first released in {component} {v}")),
            false,
        ),
        None => component_status(
            o,
            component,
            None,
            Some(format!(
                "{short} is on {component} but in no release tag yet"
            )),
            true,
        ),
    }
}

/// `Ok(None)`: the commit is not in the repo. `Ok(Some(None))`: in the repo
/// but in no tag. `Ok(Some(Some(v)))`: `v` is the first tag containing it.
async fn first_tag_with(
    engine: &Engine,
    repo: &RepoId,
    tags: &[(Version, String, String)],
    sha: &str,
) -> Result<Option<Option<Version>>> {
    let tags = tags.to_vec();
    let sha = sha.to_string();
    engine
        .with_repo(repo, move |ws| {
            let r = ws.repo();
            let Ok(obj) = r.revparse_single(&sha) else {
                return Ok(None);
            };
            let Ok(commit) = obj.peel_to_commit() else {
                return Ok(None);
            };
            let c = commit.id();
            let first = tags.iter().find(|(_, _, t)| {
                git2::Oid::from_str(t)
                    .map(|t| t == c || r.graph_descendant_of(t, c).unwrap_or(false))
                    .unwrap_or(false)
            });
            Ok(Some(first.map(|(v, _, _)| v.clone())))
        })
        .await
}

mod metrics;
pub mod spread;
mod text;

pub use metrics::road_metrics;
pub use text::*;

/// Observe the world now (for the command line, which has no last pass).
pub async fn observe_now(engine: &Engine) -> Result<Observed> {
    let policy = engine.policy().await?;
    let snapshot = engine.observe(&policy).await?;
    Ok(Observed { policy, snapshot })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product_pull(labels: &[&str], statuses: &[(&str, StatusState, &str)]) -> ProductPull {
        use crate::engine::snapshot::ComponentChange;
        use crate::forge::{CommitStatus, PullRequest};
        ProductPull {
            pr: PullRequest {
                number: 7,
                title: "payments: 1.4.2 → 2.0.0".into(),
                body: String::new(),
                state: PrState::Open,
                merged: false,
                merge_commit_sha: None,
                head_ref: "stagecoach/payments-2.0.0".into(),
                head_sha: "abc".into(),
                base_ref: "main".into(),
                author: "stagecoach-bot".into(),
                labels: labels.iter().map(|l| l.to_string()).collect(),
                html_url: "http://x/acme/product/pull/7".into(),
                created_at: chrono::Utc::now(),
                updated_at: None,
                merged_at: None,
            },
            changes: Ok(vec![ComponentChange {
                component: "payments".into(),
                from: Version::new(1, 4, 2),
                to: Version::new(2, 0, 0),
            }]),
            statuses: statuses
                .iter()
                .map(|(c, st, d)| {
                    (
                        c.to_string(),
                        CommitStatus {
                            context: c.to_string(),
                            state: *st,
                            description: d.to_string(),
                            target_url: None,
                            updated_at: None,
                        },
                    )
                })
                .collect(),
            reviews: Vec::new(),
            approve_comments: Vec::new(),
            approvers: Default::default(),
            ci_deploy: None,
            pr_env_present: true,
            sticky: Default::default(),
            branch: Default::default(),
            bump_from: None,
        }
    }

    const HIGH: &[&str] = &[
        "component: XL",
        "change: XL",
        "ft-coverage: 20",
        "functional: true",
        "risk: high",
    ];

    #[test]
    fn a_high_risk_pr_with_green_gates_waits_for_an_approver() {
        let policy = Policy::builtin();
        let p = product_pull(
            HIGH,
            &[
                ("stagecoach/ci", StatusState::Success, "healthy"),
                ("stagecoach/smoke", StatusState::Success, "passed"),
                (
                    "stagecoach/approval",
                    StatusState::Pending,
                    "waiting for an authorised approval",
                ),
            ],
        );
        let row = pull_row(&policy, &p);
        assert_eq!(row.risk.as_deref(), Some("high"));
        assert_eq!(
            row.waits_for,
            vec!["approval: waiting for an authorised approval".to_string()]
        );
    }

    #[test]
    fn a_pr_being_deployed_waits_for_health_and_a_failed_one_says_why() {
        let policy = Policy::builtin();
        let watching = product_pull(
            HIGH,
            &[(
                "stagecoach/ci",
                StatusState::Pending,
                "deployed to ci, watching health",
            )],
        );
        assert_eq!(
            pull_row(&policy, &watching).waits_for,
            vec![
                "ci: deployed to ci, watching health".to_string(),
                "an approval by @acme/release-managers".to_string()
            ]
        );
        let failed = product_pull(
            HIGH,
            &[("stagecoach/ci", StatusState::Failure, "pods crash-looping")],
        );
        assert_eq!(
            pull_row(&policy, &failed).waits_for,
            vec!["ci failed: pods crash-looping".to_string()]
        );
    }

    #[test]
    fn a_green_medium_pr_waits_for_a_person_to_merge_it() {
        let policy = Policy::builtin();
        let medium = [
            "component: M",
            "change: M",
            "ft-coverage: 70",
            "functional: true",
            "risk: medium",
        ];
        let p = product_pull(
            &medium,
            &[
                ("stagecoach/ci", StatusState::Success, "healthy"),
                ("stagecoach/smoke", StatusState::Success, "passed"),
            ],
        );
        let waits = pull_row(&policy, &p).waits_for;
        assert_eq!(waits.len(), 1);
        assert!(waits[0].starts_with("a person to merge it"), "{waits:?}");
        let fresh = product_pull(&medium, &[]);
        assert_eq!(
            pull_row(&policy, &fresh).waits_for,
            vec!["the bot's first look".to_string()]
        );
    }

    #[test]
    fn queries_are_read_as_people_type_them() {
        assert_eq!(
            Query::parse("payments@v1.4.3").ok(),
            Some(Query::Component {
                name: "payments".into(),
                version: Some(Version::new(1, 4, 3))
            })
        );
        assert_eq!(
            Query::parse("https://github.com/acme/payments/pull/12").ok(),
            Some(Query::Pull {
                repo: "acme/payments".into(),
                number: 12
            })
        );
        assert_eq!(
            Query::parse("acme/payments#7").ok(),
            Some(Query::Pull {
                repo: "acme/payments".into(),
                number: 7
            })
        );
        assert_eq!(
            Query::parse("ABCDEF1").ok(),
            Some(Query::Commit("abcdef1".into()))
        );
        assert!(Query::parse("payments@banana").is_err());
        assert!(Query::parse("a b").is_err());
        assert!(Query::parse("x/pull/").is_err());
    }

    #[test]
    fn ages_are_rough_and_never_negative() {
        assert_eq!(age_text(-5), "0s");
        assert_eq!(age_text(125), "2m");
        assert_eq!(age_text(7300), "2h");
        assert_eq!(age_text(200_000), "2d");
    }

    #[test]
    fn tables_pad_columns_to_the_widest_cell() {
        let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y\n");
    }
}
