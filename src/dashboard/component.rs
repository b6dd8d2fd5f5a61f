//! The dashboard's page for one component (`/component/<name>`): its version
//! on every environment and cluster, its open PRs (the component's own and
//! the product PRs that bump it, with their gates) and its history on the
//! road (the bot's landscape commits for it, newest first), all from the
//! last pass's snapshot.

use serde_json::{Value, json};

use super::{CSS, ViewOf};
use crate::engine::Observed;
use crate::forge::PrState;
use crate::status::{self, spread};

pub(super) const TEMPLATE: &str = include_str!("../../templates/component.html.hbs");
/// History rows shown, newest first.
const HISTORY_ROWS: usize = 100;

/// A name the page may be asked for: what a component directory or repo
/// may be called, so nothing else reaches the lookups or the page.
pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.')
}

/// The page's data; `None` when the product has no component `name`.
pub(super) fn view(o: &Observed, name: &str, web: &str, of: &ViewOf) -> Option<Value> {
    let snap = &o.snapshot;
    let pin = snap.product.manifest.components.get(name);
    let own = snap.components.iter().find(|c| c.name == name);
    if pin.is_none() && own.is_none() {
        return None;
    }
    let envs: Vec<Value> = snap
        .envs
        .iter()
        .map(|e| {
            let clusters: Vec<Value> = e
                .versions
                .iter()
                .map(|(cluster, versions)| {
                    json!({
                        "name": cluster,
                        "version": versions.get(name).map(|v| v.to_string()),
                    })
                })
                .collect();
            json!({"name": e.name, "tag": e.current_tag(), "clusters": clusters})
        })
        .collect();
    let component_prs: Vec<Value> = own
        .map(|c| {
            c.pulls
                .iter()
                .filter(|p| p.pr.state == PrState::Open)
                .map(|p| {
                    let checks: Vec<Value> = p
                        .statuses
                        .values()
                        .map(|s| {
                            json!({
                                "context": s.context,
                                "state": serde_json::to_value(s.state).unwrap_or(Value::Null),
                                "description": s.description,
                            })
                        })
                        .collect();
                    json!({
                        "repo": c.repo.to_string(),
                        "number": p.pr.number,
                        "title": p.pr.title,
                        "url": p.pr.html_url,
                        "author": p.pr.author,
                        "released_in": p.released_in.as_ref().map(|v| v.to_string()),
                        "checks": checks,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let product_prs: Vec<Value> = status::open_pulls(o)
        .into_iter()
        .filter(|p| p.changes.iter().any(|c| c.component == name))
        .map(|p| {
            let mut v = serde_json::to_value(&p).unwrap_or(Value::Null);
            if let Some(m) = v.as_object_mut() {
                let bump: Vec<String> = p
                    .changes
                    .iter()
                    .filter(|c| c.component == name)
                    .map(|c| format!("{} → {}", c.from, c.to))
                    .collect();
                m.insert("bump".into(), json!(bump.join(", ")));
            }
            v
        })
        .collect();
    let repos: std::collections::BTreeMap<&str, String> = snap
        .envs
        .iter()
        .map(|e| (e.name.as_str(), e.repo.to_string()))
        .collect();
    let history_all = spread::history(o, name);
    let history: Vec<Value> = history_all
        .iter()
        .take(HISTORY_ROWS)
        .map(|h| {
            let repo = repos.get(h.env.as_str()).cloned().unwrap_or_default();
            json!({
                "env": h.env,
                "at": h.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                "action": h.action,
                "product": h.product,
                "wave": h.wave,
                "reverted": h.reverted,
                "health": h.health,
                "sha": h.sha.get(..7).unwrap_or(&h.sha),
                "url": format!("{web}/{repo}/commit/{}", h.sha),
            })
        })
        .collect();
    let flying = spread::in_flight(o).remove(name).unwrap_or_default();
    let product = snap.product.repo.to_string();
    Some(json!({
        "css": CSS,
        "product": product,
        "product_url": format!("{web}/{product}"),
        "back": of.href("/", &[]),
        "observed_at": snap.now.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        "name": name,
        "repo": own.map(|c| c.repo.to_string()),
        "repo_url": own.map(|c| format!("{web}/{}", c.repo)),
        "main": pin.map(|p| p.version.to_string()),
        "latest_tag": own.and_then(|c| c.tags.last().map(|(_, t, _)| t.clone())),
        "differs": spread::differs(o, name),
        "flying": flying,
        "envs": envs,
        "component_prs": component_prs,
        "product_prs": product_prs,
        "history": history,
        "history_more": history_all.len().saturating_sub(HISTORY_ROWS),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_are_looked_up() {
        assert!(valid_name("payments-api_2.x"));
        for bad in [
            "",
            "../etc",
            ".hidden",
            "a/b",
            "a b",
            "<script>",
            &"x".repeat(101),
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }
}
