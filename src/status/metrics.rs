//! Figures for `/metrics` computed from git history: lead times from
//! component merge to each stop, and gauges of what runs where.

use std::fmt::Write as _;

use serde::Serialize;

use super::*;

/// Lead times in seconds from component merge to each stop of the road.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LeadTimes {
    pub product_tag: Vec<i64>,
    pub staging: Vec<i64>,
    pub prod: Vec<i64>,
}

/// For each merged component PR the bot has seen released: how long from
/// its merge to the first product tag carrying it, to staging, to prod.
pub fn lead_times(o: &Observed) -> LeadTimes {
    let snap = &o.snapshot;
    let staging = o
        .policy
        .environments
        .iter()
        .find(|e| e.follows == Follows::ProductTags)
        .map(|e| e.name.clone());
    let prod = o.policy.environments.last().map(|e| e.name.clone());
    let carries = |t: &ProductTag, comp: &str, v: &Version| {
        t.manifest
            .as_ref()
            .and_then(|m| m.components.get(comp))
            .is_some_and(|p| &p.version >= v)
    };
    // When did `env` first get a tag carrying comp@v (oldest promote commit).
    let arrived = |env: &Option<String>, comp: &str, v: &Version| -> Option<DateTime<Utc>> {
        let view = snap.envs.iter().find(|e| Some(&e.name) == env.as_ref())?;
        view.history
            .iter()
            .filter(|c| {
                matches!(
                    c.trailers.get("Stagecoach-Action"),
                    Some("promote") | Some("hotfix")
                )
            })
            .filter(|c| {
                c.trailers
                    .get("Stagecoach-Product")
                    .and_then(|tag| snap.product.tags.iter().find(|t| t.name == tag))
                    .is_some_and(|t| carries(t, comp, v))
            })
            .map(|c| c.time)
            .min()
    };
    let mut out = LeadTimes::default();
    for comp in &snap.components {
        for p in &comp.pulls {
            let (Some(merged), Some(v)) = (p.pr.merged_at, &p.released_in) else {
                continue;
            };
            let tagged = snap
                .product
                .tags
                .iter()
                .filter(|t| carries(t, &comp.name, v))
                .filter_map(|t| t.created_at)
                .min();
            if let Some(t) = tagged {
                out.product_tag.push((t - merged).num_seconds().max(0));
            }
            if let Some(t) = arrived(&staging, &comp.name, v) {
                out.staging.push((t - merged).num_seconds().max(0));
            }
            if let Some(t) = arrived(&prod, &comp.name, v) {
                out.prod.push((t - merged).num_seconds().max(0));
            }
        }
    }
    out
}

/// Gauges computed from git history, in the Prometheus text format: lead
/// times, landscape commits by action (promotions, rollbacks, hotfixes),
/// hotfix tags, each tag's stability score, and what runs where.
pub fn road_metrics(o: &Observed) -> String {
    let mut out = String::new();
    let lt = lead_times(o);
    let _ = writeln!(
        out,
        "# HELP stagecoach_lead_time_seconds Time from a component PR's merge to the first product tag, staging or prod carrying it (recent PRs, from git history).\n# TYPE stagecoach_lead_time_seconds gauge"
    );
    for (to, values) in [
        ("product_tag", &lt.product_tag),
        ("staging", &lt.staging),
        ("prod", &lt.prod),
    ] {
        let mut v = values.clone();
        v.sort_unstable();
        if v.is_empty() {
            continue;
        }
        let median = v[v.len() / 2];
        let max = v[v.len() - 1];
        let _ = writeln!(
            out,
            "stagecoach_lead_time_seconds{{stat=\"median\",to=\"{to}\"}} {median}"
        );
        let _ = writeln!(
            out,
            "stagecoach_lead_time_seconds{{stat=\"max\",to=\"{to}\"}} {max}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP stagecoach_lead_time_changes Component changes measured per stop.\n# TYPE stagecoach_lead_time_changes gauge"
    );
    for (to, values) in [
        ("product_tag", &lt.product_tag),
        ("staging", &lt.staging),
        ("prod", &lt.prod),
    ] {
        let _ = writeln!(
            out,
            "stagecoach_lead_time_changes{{to=\"{to}\"}} {}",
            values.len()
        );
    }
    let _ = writeln!(
        out,
        "# HELP stagecoach_landscape_commits Bot commits in each landscape's recent history, by action (promote, rollback, hotfix, bump, env).\n# TYPE stagecoach_landscape_commits gauge"
    );
    for e in &o.snapshot.envs {
        let mut by: BTreeMap<&str, usize> = BTreeMap::new();
        for c in &e.history {
            if let Some(a) = c.trailers.get("Stagecoach-Action") {
                *by.entry(a).or_default() += 1;
            }
        }
        for (action, n) in by {
            let _ = writeln!(
                out,
                "stagecoach_landscape_commits{{action=\"{}\",env=\"{}\"}} {n}",
                label(action),
                label(&e.name)
            );
        }
    }
    let tags = &o.snapshot.product.tags;
    let _ = writeln!(
        out,
        "# HELP stagecoach_product_tags Product tags, by kind.\n# TYPE stagecoach_product_tags gauge\nstagecoach_product_tags{{kind=\"hotfix\"}} {}\nstagecoach_product_tags{{kind=\"main\"}} {}",
        tags.iter().filter(|t| t.is_hotfix()).count(),
        tags.iter().filter(|t| !t.is_hotfix()).count()
    );
    let _ = writeln!(
        out,
        "# HELP stagecoach_stability_score Final stability score of each scored product tag.\n# TYPE stagecoach_stability_score gauge"
    );
    for t in tags {
        if let Some(n) = t.note.as_deref().and_then(stability::parse_note) {
            let _ = writeln!(
                out,
                "stagecoach_stability_score{{tag=\"{}\"}} {}",
                label(&t.name),
                n.score
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP stagecoach_env_tag The product tag each environment runs (value 1).\n# TYPE stagecoach_env_tag gauge"
    );
    for e in &o.snapshot.envs {
        if let Some(tag) = e.current_tag() {
            let _ = writeln!(
                out,
                "stagecoach_env_tag{{env=\"{}\",tag=\"{}\"}} 1",
                label(&e.name),
                label(tag)
            );
        }
    }
    out
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
