//! Which components a person needs to see on a large road: those whose
//! versions differ between environments, those in flight (an open product
//! PR, a CI deploy or promotion watch running), and the name filter; plus
//! the landscape commits of the bot that touched one component.
//!
//! Plain functions over what a pass observed, so the dashboard's default
//! view, its `?q=` filter and the component page agree with each other.

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::Observed;
use crate::engine::snapshot::{EnvView, LandscapeCommit};
use crate::engine::trailer;
use crate::forge::PrState;

/// Why components are worth showing: component → reasons it is in flight
/// (`product#3 open`, `watched on prod`), one per cause, in order.
pub fn in_flight(o: &Observed) -> BTreeMap<String, Vec<String>> {
    let snap = &o.snapshot;
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |name: &str, why: String| {
        let reasons = out.entry(name.to_string()).or_default();
        if !reasons.contains(&why) {
            reasons.push(why);
        }
    };
    for p in &snap.product.pulls {
        if p.pr.state != PrState::Open {
            continue;
        }
        if let Ok(changes) = &p.changes {
            for c in changes {
                add(
                    &c.component,
                    format!("product#{} bumps it to {}", p.pr.number, c.to),
                );
            }
        }
    }
    for c in &snap.components {
        for p in c.pulls.iter().filter(|p| p.pr.state == PrState::Open) {
            add(&c.name, format!("{}#{} open", c.repo, p.pr.number));
        }
    }
    // Gates running now: `ci-health PR SHA`, `smoke PR SHA`, `health ENV COMMIT`.
    for key in &snap.gates_running {
        let mut words = key.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("ci-health" | "smoke"), Some(pr), _) => {
                let number = pr.parse::<u64>().ok();
                let pull = snap
                    .product
                    .pulls
                    .iter()
                    .find(|p| Some(p.pr.number) == number);
                if let Some(Ok(changes)) = pull.map(|p| &p.changes) {
                    for c in changes {
                        add(&c.component, format!("product#{pr} on CI"));
                    }
                }
            }
            (Some("health"), Some(env), Some(commit)) => {
                if let Some(view) = snap.envs.iter().find(|e| e.name == env)
                    && let Some(c) = view.history.iter().find(|c| c.sha == commit)
                {
                    for name in commit_components(o, view, c) {
                        add(&name, format!("watched on {env}"));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Whether `name` runs more than one version across the environments'
/// clusters (a cluster without it counts as a version of its own).
pub fn differs(o: &Observed, name: &str) -> bool {
    let mut seen = BTreeSet::new();
    for env in &o.snapshot.envs {
        for versions in env.versions.values() {
            seen.insert(versions.get(name));
            if seen.len() > 1 {
                return true;
            }
        }
    }
    false
}

/// Whether a component's name matches what a person typed in the filter:
/// every word, case-insensitively, anywhere in the name. Empty matches all.
pub fn matches(name: &str, query: &str) -> bool {
    let name = name.to_lowercase();
    query
        .split_whitespace()
        .all(|w| name.contains(&w.to_lowercase()))
}

/// The components one view of the dashboard lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Names to list, in the manifest's order.
    pub names: Vec<String>,
    /// Components left out because they run one version everywhere and
    /// nothing is in flight for them (0 when all are listed or a filter is on).
    pub same_everywhere: usize,
}

/// Which components to list: with a `query`, every component that matches
/// it (a search looks at all of them); else with `all`, all of them; else
/// only those that differ between environments or are in flight.
pub fn listed(
    o: &Observed,
    flying: &BTreeMap<String, Vec<String>>,
    all: bool,
    query: Option<&str>,
) -> Listed {
    let names = o.snapshot.product.manifest.components.keys();
    match query.map(str::trim).filter(|q| !q.is_empty()) {
        Some(q) => Listed {
            names: names.filter(|n| matches(n, q)).cloned().collect(),
            same_everywhere: 0,
        },
        None if all => Listed {
            names: names.cloned().collect(),
            same_everywhere: 0,
        },
        None => {
            let mut listed = Vec::new();
            let mut same = 0;
            for n in names {
                if flying.contains_key(n) || differs(o, n) {
                    listed.push(n.clone());
                } else {
                    same += 1;
                }
            }
            Listed {
                names: listed,
                same_everywhere: same,
            }
        }
    }
}

/// The components a bot commit on a landscape changed: its own
/// `Stagecoach-Component` trailers (CI bumps, hotfixes), else the changes of
/// the product tag it promotes (the tag's trailers), and for a rollback,
/// those of the commit it reverts.
pub fn commit_components(o: &Observed, env: &EnvView, c: &LandscapeCommit) -> Vec<String> {
    let own = component_names(c.trailers.get_all(trailer::COMPONENT));
    if !own.is_empty() {
        return own;
    }
    if let Some(reverts) = c.trailers.get(trailer::REVERTS)
        && let Some(undone) = env
            .history
            .iter()
            .find(|h| h.sha == reverts && h.sha != c.sha)
        && undone.trailers.get(trailer::REVERTS).is_none()
    {
        return commit_components(o, env, undone);
    }
    let Some(product) = c.trailers.get(trailer::PRODUCT) else {
        return Vec::new();
    };
    o.snapshot
        .product
        .tags
        .iter()
        .find(|t| t.name == product)
        .map(|t| component_names(t.trailers.get_all(trailer::COMPONENT)))
        .unwrap_or_default()
}

/// `name@version` values → names.
fn component_names(values: Vec<&str>) -> Vec<String> {
    values
        .into_iter()
        .map(|v| v.split_once('@').map_or(v, |(n, _)| n).to_string())
        .collect()
}

/// One bot commit on the road that changed a component.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HistoryRow {
    pub env: String,
    pub sha: String,
    pub at: chrono::DateTime<chrono::Utc>,
    /// `Stagecoach-Action`: bump, promote, rollback, hotfix.
    pub action: String,
    /// `Stagecoach-Product`: the product tag or PR it was for.
    pub product: Option<String>,
    pub wave: Option<String>,
    pub reverted: bool,
    /// The health verdict on it, once watched.
    pub health: Option<String>,
}

/// The bot's landscape commits that changed `name`, on every environment,
/// newest first.
pub fn history(o: &Observed, name: &str) -> Vec<HistoryRow> {
    let mut rows: Vec<HistoryRow> = o
        .snapshot
        .envs
        .iter()
        .flat_map(|env| {
            env.history
                .iter()
                .filter(|c| commit_components(o, env, c).iter().any(|n| n == name))
                .map(|c| HistoryRow {
                    env: env.name.clone(),
                    sha: c.sha.clone(),
                    at: c.time,
                    action: c.trailers.get(trailer::ACTION).unwrap_or("").to_string(),
                    product: c.trailers.get(trailer::PRODUCT).map(str::to_string),
                    wave: c.trailers.get(trailer::WAVE).map(str::to_string),
                    reverted: c.reverted,
                    health: c.health.map(|s| {
                        serde_json::to_value(s)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default()
                    }),
                })
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.at));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tests::{landscape_commit, now, policy, pr, product_pull, snapshot, tag};
    use crate::git::trailers::Trailers;
    use semver::Version;

    /// The literal demo snapshot with 100 more components running 1.0.0 on
    /// every cluster of every environment, and `checkout` 2.0.1 everywhere
    /// but 2.0.0 on prod.
    fn road() -> Observed {
        let mut snap = snapshot();
        let pin = snap.product.manifest.components["checkout"].clone();
        for i in 0..100 {
            snap.product
                .manifest
                .components
                .insert(format!("svc-{i:03}"), pin.clone());
        }
        for env in &mut snap.envs {
            let mut versions: BTreeMap<String, Version> = snap
                .product
                .manifest
                .components
                .keys()
                .map(|n| (n.clone(), Version::new(1, 0, 0)))
                .collect();
            let checkout = if env.name == "prod" {
                (2, 0, 0)
            } else {
                (2, 0, 1)
            };
            versions.insert(
                "checkout".into(),
                Version::new(checkout.0, checkout.1, checkout.2),
            );
            env.versions.insert("main".into(), versions);
        }
        Observed {
            policy: policy(),
            snapshot: snap,
        }
    }

    #[test]
    fn by_default_only_components_that_differ_or_fly_are_listed() {
        let mut o = road();
        let quiet = listed(&o, &in_flight(&o), false, None);
        assert_eq!(quiet.names, ["checkout"]);
        assert_eq!(quiet.same_everywhere, 101);
        // An open product PR bumping svc-042 puts it in flight.
        o.snapshot
            .product
            .pulls
            .push(product_pull(9, "h9", &[], ("svc-042", "1.0.0", "1.1.0")));
        let flying = in_flight(&o);
        assert_eq!(flying["svc-042"], ["product#9 bumps it to 1.1.0"]);
        let busy = listed(&o, &flying, false, None);
        assert_eq!(busy.names, ["checkout", "svc-042"]);
        assert_eq!(busy.same_everywhere, 100);
        // `all` lists every component, and counts none as left out.
        let all = listed(&o, &flying, true, None);
        assert_eq!(all.names.len(), 102);
        assert_eq!(all.same_everywhere, 0);
    }

    #[test]
    fn an_open_component_pr_puts_it_in_flight() {
        use crate::engine::snapshot::{ComponentPull, ComponentView};
        let mut o = road();
        o.snapshot.components.push(ComponentView {
            name: "svc-011".into(),
            repo: crate::forge::RepoId::parse("acme/svc-011").expect("repo"),
            tags: Vec::new(),
            pulls: vec![ComponentPull {
                pr: pr(4, "h4", &[]),
                statuses: BTreeMap::new(),
                released_in: None,
                ignored_tags: Vec::new(),
                hotfix_actor: None,
                sticky: BTreeMap::new(),
            }],
            untagged_next: None,
        });
        assert_eq!(in_flight(&o)["svc-011"], ["acme/svc-011#4 open"]);
        let l = listed(&o, &in_flight(&o), false, None);
        assert_eq!(l.names, ["checkout", "svc-011"]);
    }

    #[test]
    fn a_cluster_without_the_component_makes_it_differ() {
        let mut o = road();
        assert!(!differs(&o, "svc-007"));
        o.snapshot.envs[0]
            .versions
            .get_mut("main")
            .map(|v| v.remove("svc-007"));
        assert!(differs(&o, "svc-007"));
    }

    #[test]
    fn a_promotion_watched_now_puts_the_tags_changes_in_flight() {
        let mut o = road();
        let mut v2 = tag("v1.1.0", "main1", &[("checkout", "2.0.1")]);
        v2.trailers = Trailers::new().with("Stagecoach-Component", "svc-003@1.0.0");
        o.snapshot.product.tags.push(v2);
        o.snapshot.envs[3].history.insert(
            0,
            landscape_commit(
                "p1",
                now(),
                &[
                    ("Stagecoach-Action", "promote"),
                    ("Stagecoach-Product", "v1.1.0"),
                ],
            ),
        );
        o.snapshot.gates_running.insert("health prod p1".into());
        assert_eq!(in_flight(&o)["svc-003"], ["watched on prod"]);
        let h = history(&o, "svc-003");
        assert_eq!(h.len(), 1);
        assert_eq!((h[0].env.as_str(), h[0].sha.as_str()), ("prod", "p1"));
    }

    #[test]
    fn history_follows_trailers_and_rollbacks_newest_first() {
        let mut o = road();
        let ci = &mut o.snapshot.envs[0];
        ci.history = vec![
            landscape_commit(
                "r1",
                now(),
                &[
                    ("Stagecoach-Action", "rollback"),
                    ("Stagecoach-Reverts", "b1"),
                ],
            ),
            landscape_commit(
                "b2",
                now() - chrono::Duration::minutes(5),
                &[
                    ("Stagecoach-Action", "bump"),
                    ("Stagecoach-Component", "payments@1.5.0"),
                ],
            ),
            landscape_commit(
                "b1",
                now() - chrono::Duration::minutes(9),
                &[
                    ("Stagecoach-Action", "bump"),
                    ("Stagecoach-Product", "acme/product#4"),
                    ("Stagecoach-Component", "checkout@2.0.1"),
                ],
            ),
        ];
        let shas: Vec<String> = history(&o, "checkout").into_iter().map(|h| h.sha).collect();
        assert_eq!(shas, ["r1", "b1"]);
    }

    #[test]
    fn the_filter_matches_every_word_anywhere_in_any_case() {
        assert!(matches("payments-api", "PAY api"));
        assert!(matches("payments-api", ""));
        assert!(!matches("payments-api", "pay web"));
        let o = road();
        let found = listed(&o, &in_flight(&o), false, Some(" svc-09 "));
        assert_eq!(found.names.len(), 10);
        assert_eq!(found.same_everywhere, 0);
    }
}
