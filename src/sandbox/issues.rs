//! The issue side of pull requests: comments, labels (created on the fly when
//! added by name, as GitHub does) and the label timeline (`labeled`/`unlabeled`
//! events with their actor), which the bot uses to check who added a label.

use std::collections::HashMap;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::access;
use super::pulls::pull_event;
use super::server::{ApiError, ApiResult, App, Caller, Shared, paginate, parse_body, reply};
use super::state::{CommentRecord, ForgeState, IssueEventRecord, LabelRecord};
use crate::forge::Permission;

type IssuePath = Path<(String, String, u64)>;

fn save(app: &App, state: &ForgeState) -> Result<(), ApiError> {
    state.save(&app.dir).map_err(|e| {
        tracing::error!("sandbox state not saved: {e}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Server Error")
    })
}

fn comment_event(
    app: &App,
    state: &ForgeState,
    o: &str,
    n: &str,
    id: u64,
    action: &str,
    sender: &str,
) -> Option<Value> {
    let r = state.repo(o, n)?;
    let c = r.comments.iter().find(|c| c.id == id)?;
    let p = r.pull(c.issue_number)?;
    Some(json!({
        "action": action,
        "issue": app.urls.issue(state, r, p),
        "comment": app.urls.comment(state, r, c),
        "repository": app.urls.repo(state, r, None),
        "organization": app.urls.organization(state, &r.owner),
        "sender": app.urls.user(state, sender),
    }))
}

pub async fn list_comments(
    State(app): State<Shared>,
    Path((o, n, num)): IssuePath,
    Query(q): Query<HashMap<String, String>>,
    uri: Uri,
) -> ApiResult {
    let state = app.state.lock().await;
    let r = access::repo(&state, &o, &n)?;
    r.pull(num).ok_or_else(ApiError::not_found)?;
    let items = r
        .comments
        .iter()
        .filter(|c| c.issue_number == num)
        .map(|c| app.urls.comment(&state, r, c))
        .collect();
    paginate(&app, &uri, &q, items)
}

#[derive(Deserialize)]
struct CommentBody {
    body: Option<String>,
}

pub async fn create_comment(
    State(app): State<Shared>,
    Extension(Caller(login)): Extension<Caller>,
    Path((o, n, num)): IssuePath,
    body: Bytes,
) -> ApiResult {
    let req: CommentBody = parse_body(&body)?;
    let text = req.body.filter(|b| !b.is_empty()).ok_or_else(|| {
        ApiError::validation(vec![
            json!({"resource": "IssueComment", "code": "missing_field", "field": "body"}),
        ])
    })?;
    let mut state = app.state.lock().await;
    access::require(&state, &o, &n, &login, Permission::Read)?;
    access::repo(&state, &o, &n)?
        .pull(num)
        .ok_or_else(ApiError::not_found)?;
    let id = state.new_id();
    let now = Utc::now();
    // A new comment moves the PR's `updated_at`, as on GitHub.
    if let Some(p) = access::repo_mut(&mut state, &o, &n)?.pull_mut(num) {
        p.updated_at = now;
    }
    access::repo_mut(&mut state, &o, &n)?
        .comments
        .push(CommentRecord {
            id,
            issue_number: num,
            user: login.clone(),
            body: text,
            created_at: now,
            updated_at: now,
        });
    save(&app, &state)?;
    if let Some(ev) = comment_event(&app, &state, &o, &n, id, "created", &login) {
        app.hooks.send("issue_comment", ev);
    }
    let r = access::repo(&state, &o, &n)?;
    let c = r
        .comments
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(ApiError::not_found)?;
    reply(StatusCode::CREATED, app.urls.comment(&state, r, c))
}

pub async fn get_comment(State(app): State<Shared>, Path((o, n, id)): IssuePath) -> ApiResult {
    let state = app.state.lock().await;
    let r = access::repo(&state, &o, &n)?;
    let c = r
        .comments
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(ApiError::not_found)?;
    reply(StatusCode::OK, app.urls.comment(&state, r, c))
}

pub async fn update_comment(
    State(app): State<Shared>,
    Extension(Caller(login)): Extension<Caller>,
    Path((o, n, id)): IssuePath,
    body: Bytes,
) -> ApiResult {
    let req: CommentBody = parse_body(&body)?;
    let text = req.body.ok_or_else(|| {
        ApiError::validation(vec![
            json!({"resource": "IssueComment", "code": "missing_field", "field": "body"}),
        ])
    })?;
    let mut state = app.state.lock().await;
    let r = access::repo(&state, &o, &n)?;
    let c = r
        .comments
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(ApiError::not_found)?;
    if c.user != login {
        access::require(&state, &o, &n, &login, Permission::Write)?;
    }
    let r = access::repo_mut(&mut state, &o, &n)?;
    let c = r
        .comments
        .iter_mut()
        .find(|c| c.id == id)
        .ok_or_else(ApiError::not_found)?;
    let before = std::mem::replace(&mut c.body, text);
    let changed = before != c.body;
    c.updated_at = Utc::now();
    save(&app, &state)?;
    if changed && let Some(mut ev) = comment_event(&app, &state, &o, &n, id, "edited", &login) {
        ev["changes"] = json!({"body": {"from": before}});
        app.hooks.send("issue_comment", ev);
    }
    let r = access::repo(&state, &o, &n)?;
    let c = r
        .comments
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(ApiError::not_found)?;
    reply(StatusCode::OK, app.urls.comment(&state, r, c))
}

pub async fn list_labels(
    State(app): State<Shared>,
    Path((o, n, num)): IssuePath,
    Query(q): Query<HashMap<String, String>>,
    uri: Uri,
) -> ApiResult {
    let state = app.state.lock().await;
    let r = access::repo(&state, &o, &n)?;
    let p = r.pull(num).ok_or_else(ApiError::not_found)?;
    paginate(&app, &uri, &q, app.urls.labels_of(r, &p.labels))
}

/// `{"labels": ["a", {"name": "b"}]}` or a bare list, as GitHub accepts.
fn label_names(body: &Bytes) -> Result<Vec<String>, ApiError> {
    let v: Value = parse_body(body)?;
    let list = match &v {
        Value::Array(a) => a.clone(),
        Value::Object(m) => match m.get("labels") {
            Some(Value::Array(a)) => a.clone(),
            _ => {
                return Err(ApiError::invalid(
                    "Invalid request. \"labels\" wasn't supplied.",
                ));
            }
        },
        _ => {
            return Err(ApiError::invalid(
                "Invalid request. Expected an array of labels.",
            ));
        }
    };
    let mut names = Vec::new();
    for item in list {
        let name = match item {
            Value::String(s) => s,
            Value::Object(m) => match m.get("name") {
                Some(Value::String(s)) => s.clone(),
                _ => return Err(ApiError::invalid("Invalid request. A label needs a name.")),
            },
            _ => return Err(ApiError::invalid("Invalid request. A label is a string.")),
        };
        if name.trim().is_empty() || name.chars().count() > 100 {
            return Err(ApiError::validation(vec![json!({
                "resource": "Label", "code": "invalid", "field": "name", "value": name
            })]));
        }
        names.push(name);
    }
    Ok(names)
}

/// Apply label changes to a PR: record events, send webhooks, save.
async fn change_labels(
    app: &App,
    login: &str,
    o: &str,
    n: &str,
    num: u64,
    add: Vec<String>,
    remove: Vec<String>,
) -> ApiResult {
    let mut state = app.state.lock().await;
    access::require(&state, o, n, login, Permission::Triage)?;
    access::repo(&state, o, n)?
        .pull(num)
        .ok_or_else(ApiError::not_found)?;
    let mut changes: Vec<(String, bool)> = Vec::new();
    for name in add {
        let label_id = state.new_id();
        let event_id = state.new_id();
        let r = access::repo_mut(&mut state, o, n)?;
        r.labels.entry(name.clone()).or_insert_with(|| LabelRecord {
            id: label_id,
            name: name.clone(),
            color: "ededed".into(),
            description: None,
        });
        let p = r.pull_mut(num).ok_or_else(ApiError::not_found)?;
        if p.labels.contains(&name) {
            continue;
        }
        p.labels.push(name.clone());
        p.updated_at = Utc::now();
        r.issue_events.push(IssueEventRecord {
            id: event_id,
            issue_number: num,
            event: "labeled".into(),
            actor: login.to_string(),
            label: name.clone(),
            created_at: Utc::now(),
        });
        changes.push((name, true));
    }
    for name in remove {
        let event_id = state.new_id();
        let r = access::repo_mut(&mut state, o, n)?;
        let p = r.pull_mut(num).ok_or_else(ApiError::not_found)?;
        let before = p.labels.len();
        p.labels.retain(|l| *l != name);
        if p.labels.len() == before {
            continue;
        }
        p.updated_at = Utc::now();
        r.issue_events.push(IssueEventRecord {
            id: event_id,
            issue_number: num,
            event: "unlabeled".into(),
            actor: login.to_string(),
            label: name.clone(),
            created_at: Utc::now(),
        });
        changes.push((name, false));
    }
    save(app, &state)?;
    let r = access::repo(&state, o, n)?;
    let p = r.pull(num).ok_or_else(ApiError::not_found)?;
    for (name, added) in changes {
        let action = if added { "labeled" } else { "unlabeled" };
        let mut ev = pull_event(app, &state, r, p, action, login);
        ev["label"] = match r.labels.get(&name) {
            Some(l) => app.urls.label(r, l),
            None => json!({"name": name}),
        };
        app.hooks.send("pull_request", ev);
    }
    reply(
        StatusCode::OK,
        Value::Array(app.urls.labels_of(r, &p.labels)),
    )
}

pub async fn add_labels(
    State(app): State<Shared>,
    Extension(Caller(login)): Extension<Caller>,
    Path((o, n, num)): IssuePath,
    body: Bytes,
) -> ApiResult {
    let names = label_names(&body)?;
    change_labels(&app, &login, &o, &n, num, names, Vec::new()).await
}

pub async fn set_labels(
    State(app): State<Shared>,
    Extension(Caller(login)): Extension<Caller>,
    Path((o, n, num)): IssuePath,
    body: Bytes,
) -> ApiResult {
    let names = label_names(&body)?;
    let current = {
        let state = app.state.lock().await;
        let r = access::repo(&state, &o, &n)?;
        r.pull(num).ok_or_else(ApiError::not_found)?.labels.clone()
    };
    let remove = current.into_iter().filter(|l| !names.contains(l)).collect();
    change_labels(&app, &login, &o, &n, num, names, remove).await
}

pub async fn remove_label(
    State(app): State<Shared>,
    Extension(Caller(login)): Extension<Caller>,
    Path((o, n, num, name)): Path<(String, String, u64, String)>,
) -> ApiResult {
    {
        let state = app.state.lock().await;
        access::require(&state, &o, &n, &login, Permission::Triage)?;
        let r = access::repo(&state, &o, &n)?;
        let p = r.pull(num).ok_or_else(ApiError::not_found)?;
        if !p.labels.contains(&name) {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "Label does not exist"));
        }
    }
    change_labels(&app, &login, &o, &n, num, Vec::new(), vec![name]).await
}

pub async fn list_events(
    State(app): State<Shared>,
    Path((o, n, num)): IssuePath,
    Query(q): Query<HashMap<String, String>>,
    uri: Uri,
) -> ApiResult {
    let state = app.state.lock().await;
    let r = access::repo(&state, &o, &n)?;
    r.pull(num).ok_or_else(ApiError::not_found)?;
    let items = r
        .issue_events
        .iter()
        .filter(|e| e.issue_number == num)
        .map(|e| app.urls.issue_event(&state, r, e))
        .collect();
    paginate(&app, &uri, &q, items)
}
