//! Repository-level endpoints: the user and repo, commit statuses, who may do
//! what (collaborator permission, team membership), releases, tags and refs.

use std::collections::HashMap;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::access;
use super::git;
use super::server::{ApiError, ApiResult, App, Caller, Shared, paginate, parse_body, reply};
use super::state::{ForgeState, ReleaseRecord, StatusRecord};
use crate::forge::Permission;

type RepoPath = Path<(String, String)>;

fn save(app: &App, state: &ForgeState) -> Result<(), ApiError> {
    state.save(&app.dir).map_err(|e| {
        tracing::error!("sandbox state not saved: {e}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Server Error")
    })
}

fn open_repo(app: &App, o: &str, n: &str) -> Result<git2::Repository, ApiError> {
    git::open(&git::repo_path(&app.dir, o, n)).map_err(|_| ApiError::not_found())
}

pub async fn get_user(
    State(app): State<Shared>,
    Extension(Caller(login)): Extension<Caller>,
) -> ApiResult {
    let state = app.state.lock().await;
    // An App's installation token acts for the installation, not a user.
    if state
        .apps
        .values()
        .any(|a| format!("{}[bot]", a.slug) == login)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
        ));
    }
    let mut user = app.urls.user(&state, &login);
    user["name"] = json!(login);
    user["email"] = Value::Null;
    user["company"] = Value::Null;
    user["blog"] = json!("");
    user["location"] = Value::Null;
    user["hireable"] = Value::Null;
    user["bio"] = Value::Null;
    user["public_repos"] = json!(0);
    user["public_gists"] = json!(0);
    user["followers"] = json!(0);
    user["following"] = json!(0);
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    user["created_at"] = json!(now);
    user["updated_at"] = json!(now);
    reply(StatusCode::OK, user)
}

pub async fn get_repo(
    State(app): State<Shared>,
    Extension(Caller(login)): Extension<Caller>,
    Path((o, n)): RepoPath,
) -> ApiResult {
    let state = app.state.lock().await;
    let r = access::repo(&state, &o, &n)?;
    reply(StatusCode::OK, app.urls.repo(&state, r, Some(&login)))
}

#[derive(Deserialize)]
struct NewStatus {
    state: Option<String>,
    target_url: Option<String>,
    description: Option<String>,
    context: Option<String>,
}

pub async fn create_status(
    State(app): State<Shared>,
    Extension(Caller(login)): Extension<Caller>,
    Path((o, n, sha)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult {
    let req: NewStatus = parse_body(&body)?;
    let state_name = match req.state.as_deref() {
        Some(s @ ("pending" | "success" | "failure" | "error")) => s.to_string(),
        _ => {
            return Err(ApiError::validation(vec![json!({
                "resource": "Status", "code": "custom", "field": "state",
                "message": "state is not included in the list"
            })]));
        }
    };
    let mut state = app.state.lock().await;
    access::require(&state, &o, &n, &login, Permission::Write)?;
    let full_sha = {
        let repo = open_repo(&app, &o, &n)?;
        git::resolve_commit(&repo, &sha).filter(|s| s.starts_with(&sha.to_ascii_lowercase()))
    };
    let Some(full_sha) = full_sha else {
        return Err(ApiError::validation(vec![json!({
            "resource": "Status", "code": "custom", "field": "sha",
            "message": format!("No commit found for SHA: {sha}")
        })]));
    };
    let id = state.new_id();
    let record = StatusRecord {
        id,
        sha: full_sha,
        state: state_name,
        context: req
            .context
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "default".into()),
        description: req.description,
        target_url: req.target_url,
        creator: login.clone(),
        created_at: Utc::now(),
    };
    access::repo_mut(&mut state, &o, &n)?
        .statuses
        .push(record.clone());
    save(&app, &state)?;
    let r = access::repo(&state, &o, &n)?;
    let body = app.urls.status(&state, r, &record);
    let commit = open_repo(&app, &o, &n)
        .ok()
        .and_then(|repo| git::commit_info(&repo, &record.sha))
        .map(|c| app.urls.commit_in_hook(&app.urls.commit(r, &c)))
        .unwrap_or(Value::Null);
    app.hooks.send(
        "status",
        json!({
            "id": record.id,
            "sha": record.sha,
            "name": r.full_name(),
            "target_url": record.target_url,
            "context": record.context,
            "description": record.description,
            "state": record.state,
            "commit": commit,
            "branches": [],
            "created_at": body["created_at"],
            "updated_at": body["updated_at"],
            "repository": app.urls.repo(&state, r, None),
            "organization": app.urls.organization(&state, &r.owner),
            "sender": app.urls.user(&state, &login),
        }),
    );
    reply(StatusCode::CREATED, body)
}

/// Statuses of a ref, newest first (GitHub's order).
fn statuses_for<'a>(
    app: &App,
    state: &'a ForgeState,
    o: &str,
    n: &str,
    rev: &str,
) -> Result<(String, Vec<&'a StatusRecord>), ApiError> {
    let r = access::repo(state, o, n)?;
    let repo = open_repo(app, o, n)?;
    let sha = git::resolve_commit(&repo, rev).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("No commit found for SHA: {rev}"),
        )
    })?;
    let mut list: Vec<&StatusRecord> = r.statuses.iter().filter(|s| s.sha == sha).collect();
    list.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id)));
    Ok((sha, list))
}

pub async fn list_statuses(
    State(app): State<Shared>,
    Path((o, n, rev)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    uri: Uri,
) -> ApiResult {
    let state = app.state.lock().await;
    let (_, list) = statuses_for(&app, &state, &o, &n, &rev)?;
    let r = access::repo(&state, &o, &n)?;
    let items = list
        .into_iter()
        .map(|s| app.urls.status(&state, r, s))
        .collect();
    paginate(&app, &uri, &q, items)
}

pub async fn combined_status(
    State(app): State<Shared>,
    Path((o, n, rev)): Path<(String, String, String)>,
) -> ApiResult {
    let state = app.state.lock().await;
    let (sha, list) = statuses_for(&app, &state, &o, &n, &rev)?;
    let r = access::repo(&state, &o, &n)?;
    let mut latest: Vec<&StatusRecord> = Vec::new();
    for s in list {
        if !latest.iter().any(|l| l.context == s.context) {
            latest.push(s);
        }
    }
    let overall = if latest
        .iter()
        .any(|s| s.state == "failure" || s.state == "error")
    {
        "failure"
    } else if latest.is_empty() || latest.iter().any(|s| s.state == "pending") {
        "pending"
    } else {
        "success"
    };
    let base = format!("{}/repos/{}", app.urls.api, r.full_name());
    reply(
        StatusCode::OK,
        json!({
            "state": overall,
            "statuses": latest.iter().map(|s| app.urls.status(&state, r, s)).collect::<Vec<_>>(),
            "sha": sha,
            "total_count": latest.len(),
            "repository": app.urls.repo(&state, r, None),
            "commit_url": format!("{base}/commits/{sha}"),
            "url": format!("{base}/commits/{sha}/status"),
        }),
    )
}

pub async fn permission(
    State(app): State<Shared>,
    Path((o, n, user)): Path<(String, String, String)>,
) -> ApiResult {
    let state = app.state.lock().await;
    let r = access::repo(&state, &o, &n)?;
    if !state.users.contains_key(&user) {
        return Err(ApiError::not_found());
    }
    let p = state.permission(r, &user);
    // `permission` is GitHub's legacy four-level view; `role_name` is the real role.
    let (legacy, role) = match p {
        Permission::Admin => ("admin", "admin"),
        Permission::Maintain => ("write", "maintain"),
        Permission::Write => ("write", "write"),
        Permission::Triage => ("read", "triage"),
        Permission::Read => ("read", "read"),
        Permission::None => ("none", "none"),
    };
    let mut u = app.urls.user(&state, &user);
    u["permissions"] = json!({
        "admin": p >= Permission::Admin,
        "maintain": p >= Permission::Maintain,
        "push": p >= Permission::Write,
        "triage": p >= Permission::Triage,
        "pull": p >= Permission::Read,
    });
    u["role_name"] = json!(role);
    reply(
        StatusCode::OK,
        json!({"permission": legacy, "role_name": role, "user": u}),
    )
}

pub async fn team_membership(
    State(app): State<Shared>,
    Path((org, slug, user)): Path<(String, String, String)>,
) -> ApiResult {
    let state = app.state.lock().await;
    let role = state
        .team_role(&org, &slug, &user)
        .ok_or_else(ApiError::not_found)?;
    let team_id = state
        .orgs
        .get(&org)
        .and_then(|o| o.teams.get(&slug))
        .map(|t| t.id)
        .unwrap_or(0);
    reply(
        StatusCode::OK,
        json!({
            "url": format!("{}/teams/{team_id}/memberships/{user}", app.urls.api),
            "role": role,
            "state": "active",
        }),
    )
}

pub async fn list_releases(
    State(app): State<Shared>,
    Path((o, n)): RepoPath,
    Query(q): Query<HashMap<String, String>>,
    uri: Uri,
) -> ApiResult {
    let state = app.state.lock().await;
    let r = access::repo(&state, &o, &n)?;
    let mut list: Vec<&ReleaseRecord> = r.releases.iter().collect();
    list.sort_by_key(|rel| std::cmp::Reverse((rel.created_at, rel.id)));
    let items = list
        .into_iter()
        .map(|rel| app.urls.release(&state, r, rel))
        .collect();
    paginate(&app, &uri, &q, items)
}

pub async fn get_release(
    State(app): State<Shared>,
    Path((o, n, id)): Path<(String, String, u64)>,
) -> ApiResult {
    let state = app.state.lock().await;
    let r = access::repo(&state, &o, &n)?;
    let rel = r
        .releases
        .iter()
        .find(|x| x.id == id)
        .ok_or_else(ApiError::not_found)?;
    reply(StatusCode::OK, app.urls.release(&state, r, rel))
}

pub async fn release_by_tag(
    State(app): State<Shared>,
    Path((o, n, tag)): Path<(String, String, String)>,
) -> ApiResult {
    let state = app.state.lock().await;
    let r = access::repo(&state, &o, &n)?;
    let rel = r
        .releases
        .iter()
        .find(|x| x.tag_name == tag && !x.draft)
        .ok_or_else(ApiError::not_found)?;
    reply(StatusCode::OK, app.urls.release(&state, r, rel))
}

#[derive(Deserialize)]
struct NewRelease {
    tag_name: Option<String>,
    target_commitish: Option<String>,
    name: Option<String>,
    body: Option<String>,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    prerelease: bool,
}

pub async fn create_release(
    State(app): State<Shared>,
    Extension(Caller(login)): Extension<Caller>,
    Path((o, n)): RepoPath,
    body: Bytes,
) -> ApiResult {
    let req: NewRelease = parse_body(&body)?;
    let tag = req
        .tag_name
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::invalid("Invalid request. \"tag_name\" wasn't supplied."))?;
    let mut state = app.state.lock().await;
    access::require(&state, &o, &n, &login, Permission::Write)?;
    let r = access::repo(&state, &o, &n)?;
    if r.releases.iter().any(|x| x.tag_name == tag) {
        return Err(ApiError::validation(vec![json!({
            "resource": "Release", "code": "already_exists", "field": "tag_name"
        })]));
    }
    let target = req
        .target_commitish
        .unwrap_or_else(|| r.default_branch.clone());
    // Like GitHub: publishing a release for a missing tag creates the tag at the target.
    let path = git::repo_path(&app.dir, &o, &n);
    let (tag_c, target_c, email) = (
        tag.clone(),
        target.clone(),
        format!("{login}@users.noreply.sandbox"),
    );
    let draft = req.draft;
    let login_c = login.clone();
    let made = tokio::task::spawn_blocking(move || -> crate::Result<bool> {
        let repo = git::open(&path)?;
        if git::resolve_commit(&repo, &tag_c).is_some()
            && repo.find_reference(&format!("refs/tags/{tag_c}")).is_ok()
        {
            return Ok(true);
        }
        if draft {
            return Ok(true);
        }
        match git::resolve_commit(&repo, &target_c) {
            Some(sha) => git::tag(&repo, &tag_c, &sha, (&login_c, &email)).map(|_| true),
            None => Ok(false),
        }
    })
    .await
    .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Server Error"))?
    .map_err(|e| ApiError::invalid(&e.to_string()))?;
    if !made {
        return Err(ApiError::validation(vec![json!({
            "resource": "Release", "code": "invalid", "field": "target_commitish"
        })]));
    }
    let id = state.new_id();
    let now = Utc::now();
    let record = ReleaseRecord {
        id,
        tag_name: tag,
        target_commitish: target,
        name: req.name,
        body: req.body,
        draft: req.draft,
        prerelease: req.prerelease,
        author: login.clone(),
        created_at: now,
        published_at: (!req.draft).then_some(now),
    };
    access::repo_mut(&mut state, &o, &n)?
        .releases
        .push(record.clone());
    save(&app, &state)?;
    let r = access::repo(&state, &o, &n)?;
    let json_rel = app.urls.release(&state, r, &record);
    let mut actions = vec!["created"];
    if !record.draft {
        actions.push("published");
    }
    for action in actions {
        app.hooks.send(
            "release",
            release_event(&app, &state, r, &json_rel, action, &login),
        );
    }
    reply(StatusCode::CREATED, json_rel)
}

fn release_event(
    app: &App,
    state: &ForgeState,
    r: &super::state::RepoRecord,
    release: &Value,
    action: &str,
    sender: &str,
) -> Value {
    json!({
        "action": action,
        "release": app.urls.release_in_hook(release),
        "repository": app.urls.repo(state, r, None),
        "organization": app.urls.organization(state, &r.owner),
        "sender": app.urls.user(state, sender),
    })
}

#[derive(Deserialize)]
struct ReleaseEdit {
    name: Option<String>,
    body: Option<String>,
    draft: Option<bool>,
    prerelease: Option<bool>,
}

pub async fn update_release(
    State(app): State<Shared>,
    Extension(Caller(login)): Extension<Caller>,
    Path((o, n, id)): Path<(String, String, u64)>,
    body: Bytes,
) -> ApiResult {
    let edit: ReleaseEdit = parse_body(&body)?;
    let mut state = app.state.lock().await;
    access::require(&state, &o, &n, &login, Permission::Write)?;
    let draft_before = access::repo(&state, &o, &n)?
        .releases
        .iter()
        .find(|x| x.id == id)
        .ok_or_else(ApiError::not_found)?
        .draft;
    let publishing = draft_before && edit.draft == Some(false);
    if publishing {
        // Publishing creates the tag if it is still missing.
        let r = access::repo(&state, &o, &n)?;
        let rel = r
            .releases
            .iter()
            .find(|x| x.id == id)
            .ok_or_else(ApiError::not_found)?;
        let repo = open_repo(&app, &o, &n)?;
        if repo
            .find_reference(&format!("refs/tags/{}", rel.tag_name))
            .is_err()
        {
            let sha = git::resolve_commit(&repo, &rel.target_commitish).ok_or_else(|| {
                ApiError::validation(vec![
                    json!({"resource": "Release", "code": "invalid", "field": "target_commitish"}),
                ])
            })?;
            git::tag(
                &repo,
                &rel.tag_name,
                &sha,
                (&login, &format!("{login}@users.noreply.sandbox")),
            )
            .map_err(|e| ApiError::invalid(&e.to_string()))?;
        }
    }
    let r = access::repo_mut(&mut state, &o, &n)?;
    let rel = r
        .releases
        .iter_mut()
        .find(|x| x.id == id)
        .ok_or_else(ApiError::not_found)?;
    // What an `edited` webhook says changed (GitHub's `changes`).
    let mut changes = serde_json::Map::new();
    if let Some(v) = edit.name {
        if rel.name.as_deref() != Some(v.as_str()) {
            changes.insert(
                "name".into(),
                json!({"from": rel.name.clone().unwrap_or_default()}),
            );
        }
        rel.name = Some(v);
    }
    if let Some(v) = edit.body {
        if rel.body.as_deref() != Some(v.as_str()) {
            changes.insert(
                "body".into(),
                json!({"from": rel.body.clone().unwrap_or_default()}),
            );
        }
        rel.body = Some(v);
    }
    if let Some(v) = edit.prerelease {
        rel.prerelease = v;
    }
    if let Some(v) = edit.draft {
        rel.draft = v;
    }
    if publishing {
        rel.published_at = Some(Utc::now());
    }
    let record = rel.clone();
    save(&app, &state)?;
    let r = access::repo(&state, &o, &n)?;
    let json_rel = app.urls.release(&state, r, &record);
    let action = if publishing { "published" } else { "edited" };
    let mut event = release_event(&app, &state, r, &json_rel, action, &login);
    if action == "edited" {
        event["changes"] = Value::Object(changes);
    }
    app.hooks.send("release", event);
    reply(StatusCode::OK, json_rel)
}

pub async fn list_tags(
    State(app): State<Shared>,
    Path((o, n)): RepoPath,
    Query(q): Query<HashMap<String, String>>,
    uri: Uri,
) -> ApiResult {
    let state = app.state.lock().await;
    let r = access::repo(&state, &o, &n)?;
    let repo = open_repo(&app, &o, &n)?;
    let tags = git::list_tags(&repo).map_err(|_| ApiError::not_found())?;
    let items = tags
        .iter()
        .map(|(name, sha)| app.urls.tag(r, name, sha))
        .collect();
    paginate(&app, &uri, &q, items)
}

/// `GET .../git/ref/heads/main` or `.../git/ref/tags/v1.0.0`.
pub async fn get_ref(
    State(app): State<Shared>,
    Path((o, n, rest)): Path<(String, String, String)>,
) -> ApiResult {
    let state = app.state.lock().await;
    let r = access::repo(&state, &o, &n)?;
    let repo = open_repo(&app, &o, &n)?;
    let full = format!("refs/{rest}");
    let reference = repo
        .find_reference(&full)
        .map_err(|_| ApiError::not_found())?;
    let target = reference.target().ok_or_else(ApiError::not_found)?;
    let kind = match repo.find_object(target, None).ok().and_then(|o| o.kind()) {
        Some(git2::ObjectType::Tag) => "tag",
        _ => "commit",
    };
    let base = format!("{}/repos/{}", app.urls.api, r.full_name());
    reply(
        StatusCode::OK,
        json!({
            "ref": full,
            "node_id": format!("REF_{}", target),
            "url": format!("{base}/git/{full}"),
            "object": {
                "sha": target.to_string(),
                "type": kind,
                "url": format!("{base}/git/{}s/{target}", kind),
            }
        }),
    )
}

pub async fn get_branch(
    State(app): State<Shared>,
    Path((o, n, branch)): Path<(String, String, String)>,
) -> ApiResult {
    let state = app.state.lock().await;
    let r = access::repo(&state, &o, &n)?;
    let repo = open_repo(&app, &o, &n)?;
    let sha = git::branch_sha(&repo, &branch)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "Branch not found"))?;
    let info = git::commit_info(&repo, &sha).ok_or_else(ApiError::not_found)?;
    let base = format!("{}/repos/{}", app.urls.api, r.full_name());
    reply(
        StatusCode::OK,
        json!({
            "name": branch,
            "commit": app.urls.commit(r, &info),
            "_links": {
                "self": format!("{base}/branches/{branch}"),
                "html": format!("{}/{}/tree/{branch}", app.urls.api, r.full_name()),
            },
            "protected": false,
            "protection": {"enabled": false, "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []}},
            "protection_url": format!("{base}/branches/{branch}/protection"),
        }),
    )
}
