//! Notices ref changes in the bare repos, whoever made them (a `git push` by the
//! bot, a person's commit, a merge through the API), and sends what GitHub
//! sends: `push`, `create` for new branches and tags, and
//! `pull_request.synchronize` when an open PR's head branch moved.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::git;
use super::pulls::pull_event;
use super::server::App;

/// Every repo's refs, `owner/name` → (ref → object id).
pub type Snapshot = BTreeMap<String, BTreeMap<String, String>>;

pub fn snapshot(app: &App, repos: &[(String, String)]) -> Snapshot {
    let mut snap = Snapshot::new();
    for (o, n) in repos {
        if let Ok(repo) = git::open(&git::repo_path(&app.dir, o, n))
            && let Ok(refs) = git::list_refs(&repo)
        {
            snap.insert(format!("{o}/{n}"), refs);
        }
    }
    snap
}

/// Poll every `every` until the app is dropped.
pub async fn run(app: std::sync::Weak<App>, every: Duration) {
    let mut last: Option<Snapshot> = None;
    loop {
        let Some(app) = app.upgrade() else { return };
        let repos: Vec<(String, String)> = {
            let state = app.state.lock().await;
            state
                .repos
                .values()
                .map(|r| (r.owner.clone(), r.name.clone()))
                .collect()
        };
        let app2 = app.clone();
        let now = match tokio::task::spawn_blocking(move || snapshot(&app2, &repos)).await {
            Ok(s) => s,
            Err(_) => return,
        };
        if let Some(prev) = &last {
            announce(&app, prev, &now).await;
        }
        last = Some(now);
        drop(app);
        tokio::time::sleep(every).await;
    }
}

const ZERO: &str = "0000000000000000000000000000000000000000";

async fn announce(app: &Arc<App>, prev: &Snapshot, now: &Snapshot) {
    for (full, refs) in now {
        let Some((o, n)) = full.split_once('/') else {
            continue;
        };
        let empty = BTreeMap::new();
        let before_refs = prev.get(full).unwrap_or(&empty);
        let mut moved: Vec<(String, String, String)> = Vec::new();
        for (name, after) in refs {
            match before_refs.get(name) {
                Some(b) if b == after => {}
                Some(b) => moved.push((name.clone(), b.clone(), after.clone())),
                None => moved.push((name.clone(), ZERO.to_string(), after.clone())),
            }
        }
        for (name, before) in before_refs {
            if !refs.contains_key(name) {
                moved.push((name.clone(), before.clone(), ZERO.to_string()));
            }
        }
        if moved.is_empty() {
            continue;
        }
        let mut state = app.state.lock().await;
        let sender = bot_login(&state);
        let Some(r) = state.repo(o, n) else { continue };
        let repo = git::open(&git::repo_path(&app.dir, o, n)).ok();
        for (name, before, after) in &moved {
            let created = before == ZERO;
            let deleted = after == ZERO;
            let commits: Vec<Value> = match (&repo, created || deleted) {
                (Some(repo), false) => git::commits_between(repo, before, after)
                    .unwrap_or_default()
                    .iter()
                    .map(|c| push_commit(app, full, c))
                    .collect(),
                _ => Vec::new(),
            };
            let head_commit = repo
                .as_ref()
                .filter(|_| !deleted)
                .and_then(|repo| git::resolve_commit(repo, after))
                .and_then(|sha| repo.as_ref().and_then(|repo| git::commit_info(repo, &sha)))
                .map(|c| push_commit(app, full, &c));
            let repo_json = app.urls.repo(&state, r, None);
            app.hooks.send(
                "push",
                json!({
                    "ref": name,
                    "before": before,
                    "after": after,
                    "created": created,
                    "deleted": deleted,
                    "forced": false,
                    "base_ref": null,
                    "compare": format!("{}/{full}/compare/{}...{}", app.urls.api, before.get(..12).unwrap_or(before), after.get(..12).unwrap_or(after)),
                    "commits": commits,
                    "head_commit": head_commit,
                    "repository": repo_json,
                    "pusher": {"name": sender, "email": null},
                    "organization": app.urls.organization(&state, o),
                    "sender": app.urls.user(&state, &sender),
                }),
            );
            if created {
                let (ref_type, short) = match name.strip_prefix("refs/tags/") {
                    Some(t) => ("tag", t),
                    None => ("branch", name.trim_start_matches("refs/heads/")),
                };
                app.hooks.send(
                    "create",
                    json!({
                        "ref": short,
                        "ref_type": ref_type,
                        "master_branch": r.default_branch,
                        "description": null,
                        "pusher_type": "user",
                        "repository": app.urls.repo(&state, r, None),
                        "organization": app.urls.organization(&state, o),
                        "sender": app.urls.user(&state, &sender),
                    }),
                );
            }
        }
        // Open PRs whose head branch moved: remember the new head, say `synchronize`.
        let mut synced = Vec::new();
        for (name, before, after) in &moved {
            let Some(branch) = name.strip_prefix("refs/heads/") else {
                continue;
            };
            if after == ZERO {
                continue;
            }
            for p in r
                .pulls
                .iter()
                .filter(|p| p.state == "open" && p.head_ref == branch)
            {
                if p.head_sha != *after {
                    synced.push((p.number, before.clone(), after.clone()));
                }
            }
        }
        if synced.is_empty() {
            continue;
        }
        if let Some(r) = state.repo_mut(o, n) {
            for (num, _, after) in &synced {
                if let Some(p) = r.pull_mut(*num) {
                    p.head_sha = after.clone();
                    p.updated_at = chrono::Utc::now();
                }
            }
        }
        if let Err(e) = state.save(&app.dir) {
            tracing::error!("sandbox state not saved: {e}");
        }
        let Some(r) = state.repo(o, n) else { continue };
        for (num, before, after) in synced {
            if let Some(p) = r.pull(num) {
                let mut ev = pull_event(app, &state, r, p, "synchronize", &sender);
                ev["before"] = json!(before);
                ev["after"] = json!(after);
                app.hooks.send("pull_request", ev);
            }
        }
    }
}

/// Pushes arrive by plain git, without a user; GitHub names the pusher. The
/// sandbox names the bot, the usual pusher of landscape and product commits.
fn bot_login(state: &super::state::ForgeState) -> String {
    if state.users.contains_key("stagecoach-bot") {
        "stagecoach-bot".into()
    } else {
        state.users.keys().next().cloned().unwrap_or_default()
    }
}

fn push_commit(app: &App, full: &str, c: &git::CommitInfo) -> Value {
    let date = chrono::DateTime::<chrono::Utc>::from_timestamp(c.time, 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    // The sandbox's people commit under their login, which GitHub gives as `username`.
    let who = json!({"name": c.author_name, "email": c.author_email, "username": c.author_name});
    json!({
        "id": c.sha,
        "tree_id": c.tree,
        "distinct": true,
        "message": c.message,
        "timestamp": date,
        "url": format!("{}/{full}/commit/{}", app.urls.api, c.sha),
        "author": who,
        "committer": who,
        "added": [],
        "removed": [],
        "modified": [],
    })
}
