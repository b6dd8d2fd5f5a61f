//! Pull requests: list, open, edit, close, review and merge — the merge makes
//! a real merge, squash or rebased commit in the bare repo and moves the base
//! branch, refusing like GitHub when the head moved (409) or it conflicts (405).

use std::collections::HashMap;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::access;
use super::git;
use super::server::{ApiError, ApiResult, App, Caller, Shared, paginate, parse_body, reply};
use super::state::{ForgeState, PullRecord, RepoRecord, ReviewRecord};
use crate::forge::{MergeMethod, Permission};

type RepoPath = Path<(String, String)>;
type PullPath = Path<(String, String, u64)>;

/// The PR in GitHub's shape, with the live head and base commits read from git;
/// `detailed` also computes mergeability and the commit count (the single-PR view).
pub fn pull_json(
    app: &App,
    state: &ForgeState,
    r: &RepoRecord,
    p: &PullRecord,
    detailed: bool,
) -> Value {
    let path = git::repo_path(&app.dir, &r.owner, &r.name);
    let mut p = p.clone();
    let mut base_sha = String::new();
    let mut mergeable = None;
    let mut commits = 0;
    if let Ok(repo) = git::open(&path) {
        if p.state == "open"
            && let Some(sha) = git::branch_sha(&repo, &p.head_ref)
        {
            p.head_sha = sha;
        }
        base_sha = git::branch_sha(&repo, &p.base_ref).unwrap_or_default();
        if detailed && !base_sha.is_empty() {
            if p.state == "open" {
                mergeable = git::mergeable(&repo, &base_sha, &p.head_sha).ok();
            }
            commits = git::commits_between(&repo, &base_sha, &p.head_sha)
                .map(|c| c.len())
                .unwrap_or(0);
        }
    }
    app.urls.pull(state, r, &p, &base_sha, mergeable, commits)
}

/// A `pull_request` webhook payload.
pub fn pull_event(
    app: &App,
    state: &ForgeState,
    r: &RepoRecord,
    p: &PullRecord,
    action: &str,
    sender: &str,
) -> Value {
    json!({
        "action": action,
        "number": p.number,
        "pull_request": pull_json(app, state, r, p, false),
        "repository": app.urls.repo(state, r, None),
        "organization": app.urls.organization(state, &r.owner),
        "sender": app.urls.user(state, sender),
    })
}

fn live_head(app: &App, r: &RepoRecord, p: &PullRecord) -> String {
    if p.state != "open" {
        return p.head_sha.clone();
    }
    git::open(&git::repo_path(&app.dir, &r.owner, &r.name))
        .ok()
        .and_then(|repo| git::branch_sha(&repo, &p.head_ref))
        .unwrap_or_else(|| p.head_sha.clone())
}

fn save(app: &App, state: &ForgeState) -> Result<(), ApiError> {
    state.save(&app.dir).map_err(|e| {
        tracing::error!("sandbox state not saved: {e}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Server Error")
    })
}

pub async fn list(
    State(app): State<Shared>,
    Path((o, n)): RepoPath,
    Query(q): Query<HashMap<String, String>>,
    uri: Uri,
) -> ApiResult {
    let state = app.state.lock().await;
    let r = access::repo(&state, &o, &n)?;
    let want = q.get("state").map(String::as_str).unwrap_or("open");
    let head = q
        .get("head")
        .map(|h| h.rsplit(':').next().unwrap_or(h).to_string());
    let base = q.get("base");
    let mut pulls: Vec<&PullRecord> = r
        .pulls
        .iter()
        .filter(|p| want == "all" || p.state == want)
        .filter(|p| head.as_ref().is_none_or(|h| &p.head_ref == h))
        .filter(|p| base.is_none_or(|b| &p.base_ref == b))
        .collect();
    let ascending = q.get("direction").map(String::as_str) == Some("asc");
    match q.get("sort").map(String::as_str) {
        Some("updated") => pulls.sort_by_key(|p| (p.updated_at, p.number)),
        _ => pulls.sort_by_key(|p| (p.created_at, p.number)),
    }
    if !ascending {
        pulls.reverse();
    }
    let items = pulls
        .into_iter()
        .map(|p| pull_json(&app, &state, r, p, false))
        .collect();
    paginate(&app, &uri, &q, items)
}

pub async fn get_one(State(app): State<Shared>, Path((o, n, num)): PullPath) -> ApiResult {
    let state = app.state.lock().await;
    let r = access::repo(&state, &o, &n)?;
    let p = r.pull(num).ok_or_else(ApiError::not_found)?;
    reply(StatusCode::OK, pull_json(&app, &state, r, p, true))
}

#[derive(Deserialize)]
struct NewPullBody {
    title: Option<String>,
    head: Option<String>,
    base: Option<String>,
    #[serde(default)]
    body: Option<String>,
}

pub async fn create(
    State(app): State<Shared>,
    Extension(Caller(login)): Extension<Caller>,
    Path((o, n)): RepoPath,
    body: Bytes,
) -> ApiResult {
    let req: NewPullBody = parse_body(&body)?;
    let mut state = app.state.lock().await;
    access::require(&state, &o, &n, &login, Permission::Read)?;
    let title = req
        .title
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| missing_field("title"))?;
    let head_raw = req.head.ok_or_else(|| missing_field("head"))?;
    let base = req.base.ok_or_else(|| missing_field("base"))?;
    let head = match head_raw.split_once(':') {
        Some((owner, branch)) if owner == o => branch.to_string(),
        Some(_) => return Err(invalid_field("head")),
        None => head_raw.clone(),
    };
    let path = git::repo_path(&app.dir, &o, &n);
    let repo = git::open(&path).map_err(|_| ApiError::not_found())?;
    let head_sha = git::branch_sha(&repo, &head).ok_or_else(|| invalid_field("head"))?;
    let base_sha = git::branch_sha(&repo, &base).ok_or_else(|| invalid_field("base"))?;
    let r = access::repo(&state, &o, &n)?;
    if r.pulls
        .iter()
        .any(|p| p.state == "open" && p.head_ref == head && p.base_ref == base)
    {
        return Err(ApiError::validation(vec![json!({
            "resource": "PullRequest",
            "code": "custom",
            "message": format!("A pull request already exists for {o}:{head}."),
        })]));
    }
    let ahead =
        git::commits_between(&repo, &base_sha, &head_sha).map_err(|_| invalid_field("head"))?;
    if ahead.is_empty() {
        return Err(ApiError::validation(vec![json!({
            "resource": "PullRequest",
            "code": "custom",
            "message": format!("No commits between {base} and {head}"),
        })]));
    }
    let id = state.new_id();
    let now = Utc::now();
    let r = access::repo_mut(&mut state, &o, &n)?;
    let number = r.next_number;
    r.next_number += 1;
    r.pulls.push(PullRecord {
        id,
        number,
        title,
        body: req.body.unwrap_or_default(),
        user: login.clone(),
        state: "open".into(),
        head_ref: head,
        head_sha,
        base_ref: base,
        labels: Vec::new(),
        created_at: now,
        updated_at: now,
        closed_at: None,
        merged_at: None,
        merge_commit_sha: None,
        merged_by: None,
    });
    save(&app, &state)?;
    let r = access::repo(&state, &o, &n)?;
    let p = r.pull(number).ok_or_else(ApiError::not_found)?;
    app.hooks.send(
        "pull_request",
        pull_event(&app, &state, r, p, "opened", &login),
    );
    let mut resp = reply(StatusCode::CREATED, pull_json(&app, &state, r, p, true))?;
    if let Ok(v) =
        axum::http::HeaderValue::from_str(&format!("{}/repos/{o}/{n}/pulls/{number}", app.urls.api))
    {
        resp.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    Ok(resp)
}

fn missing_field(field: &str) -> ApiError {
    ApiError::invalid(&format!("Invalid request. \"{field}\" wasn't supplied."))
}

fn invalid_field(field: &str) -> ApiError {
    ApiError::validation(vec![json!({
        "resource": "PullRequest",
        "field": field,
        "code": "invalid",
    })])
}

#[derive(Deserialize)]
struct PullEdit {
    title: Option<String>,
    body: Option<String>,
    state: Option<String>,
    base: Option<String>,
}

pub async fn update(
    State(app): State<Shared>,
    Extension(Caller(login)): Extension<Caller>,
    Path((o, n, num)): PullPath,
    body: Bytes,
) -> ApiResult {
    let edit: PullEdit = parse_body(&body)?;
    let mut state = app.state.lock().await;
    let r = access::repo(&state, &o, &n)?;
    let p = r.pull(num).ok_or_else(ApiError::not_found)?;
    if p.user != login {
        access::require(&state, &o, &n, &login, Permission::Write)?;
    }
    if let Some(s) = &edit.state
        && s != "open"
        && s != "closed"
    {
        return Err(invalid_field("state"));
    }
    if let Some(b) = &edit.base {
        let repo =
            git::open(&git::repo_path(&app.dir, &o, &n)).map_err(|_| ApiError::not_found())?;
        if git::branch_sha(&repo, b).is_none() {
            return Err(invalid_field("base"));
        }
    }
    let was_merged = p.merged_at.is_some();
    let head_now = live_head(&app, r, p);
    let now = Utc::now();
    let r = access::repo_mut(&mut state, &o, &n)?;
    let p = r.pull_mut(num).ok_or_else(ApiError::not_found)?;
    let mut changes = serde_json::Map::new();
    if let Some(t) = edit.title.filter(|t| *t != p.title) {
        changes.insert("title".into(), json!({"from": p.title}));
        p.title = t;
    }
    if let Some(b) = edit.body.filter(|b| *b != p.body) {
        changes.insert("body".into(), json!({"from": p.body}));
        p.body = b;
    }
    if let Some(b) = edit.base.filter(|b| *b != p.base_ref) {
        changes.insert("base".into(), json!({"ref": {"from": p.base_ref}}));
        p.base_ref = b;
    }
    let mut transition = None;
    match edit.state.as_deref() {
        Some("closed") if p.state == "open" => {
            p.state = "closed".into();
            p.closed_at = Some(now);
            p.head_sha = head_now;
            transition = Some("closed");
        }
        Some("open") if p.state == "closed" && !was_merged => {
            p.state = "open".into();
            p.closed_at = None;
            transition = Some("reopened");
        }
        _ => {}
    }
    p.updated_at = now;
    save(&app, &state)?;
    let r = access::repo(&state, &o, &n)?;
    let p = r.pull(num).ok_or_else(ApiError::not_found)?;
    if !changes.is_empty() {
        let mut ev = pull_event(&app, &state, r, p, "edited", &login);
        ev["changes"] = Value::Object(changes);
        app.hooks.send("pull_request", ev);
    }
    if let Some(action) = transition {
        app.hooks.send(
            "pull_request",
            pull_event(&app, &state, r, p, action, &login),
        );
    }
    reply(StatusCode::OK, pull_json(&app, &state, r, p, true))
}

#[derive(Deserialize, Default)]
struct MergeBody {
    commit_title: Option<String>,
    commit_message: Option<String>,
    sha: Option<String>,
    merge_method: Option<String>,
}

pub async fn merge(
    State(app): State<Shared>,
    Extension(Caller(login)): Extension<Caller>,
    Path((o, n, num)): PullPath,
    body: Bytes,
) -> ApiResult {
    let req: MergeBody = if body.is_empty() {
        MergeBody::default()
    } else {
        parse_body(&body)?
    };
    let method = match req.merge_method.as_deref() {
        None | Some("merge") => MergeMethod::Merge,
        Some("squash") => MergeMethod::Squash,
        Some("rebase") => MergeMethod::Rebase,
        Some(_) => {
            return Err(ApiError::validation(vec![json!({
                "resource": "PullRequest", "field": "merge_method", "code": "invalid"
            })]));
        }
    };
    let mut state = app.state.lock().await;
    let r = access::repo(&state, &o, &n)?;
    let p = r.pull(num).ok_or_else(ApiError::not_found)?;
    access::require(&state, &o, &n, &login, Permission::Write)?;
    if p.state != "open" {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Pull Request is not mergeable",
        ));
    }
    let head = live_head(&app, r, p);
    if req.sha.as_deref().is_some_and(|s| s != head) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "Head branch was modified. Review and try the merge again.",
        ));
    }
    let path = git::repo_path(&app.dir, &o, &n);
    let base_ref = p.base_ref.clone();
    let (title, message) = {
        let repo = git::open(&path).map_err(|_| ApiError::not_found())?;
        let base_sha = git::branch_sha(&repo, &base_ref).unwrap_or_default();
        let commits = git::commits_between(&repo, &base_sha, &head).unwrap_or_default();
        match method {
            MergeMethod::Squash => (
                req.commit_title
                    .unwrap_or_else(|| format!("{} (#{num})", p.title)),
                req.commit_message.unwrap_or_else(|| {
                    commits
                        .iter()
                        .map(|c| format!("* {}", c.message.trim_end()))
                        .collect::<Vec<_>>()
                        .join("\n\n")
                }),
            ),
            _ => (
                req.commit_title.unwrap_or_else(|| {
                    format!("Merge pull request #{num} from {o}/{}", p.head_ref)
                }),
                req.commit_message.unwrap_or_else(|| p.title.clone()),
            ),
        }
    };
    let email = format!("{login}@users.noreply.sandbox");
    let head_for_git = head.clone();
    let result = tokio::task::spawn_blocking(move || {
        let repo = git::open(&path)?;
        git::merge(
            &repo,
            &git::MergeRequest {
                base_ref: &base_ref,
                head_sha: &head_for_git,
                method,
                commit_title: title,
                commit_message: message,
                merger: (&login_name(&email), &email),
            },
        )
    })
    .await
    .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Server Error"))?;
    let sha = match result {
        Ok(git::MergeResult::Merged(sha)) => sha,
        Ok(git::MergeResult::Conflict) => {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "Pull Request is not mergeable",
            ));
        }
        Ok(git::MergeResult::BaseMoved) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "Base branch was modified. Review and try the merge again.",
            ));
        }
        Err(e) => {
            tracing::warn!("sandbox merge of {o}/{n}#{num} failed: {e}");
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "Pull Request is not mergeable",
            ));
        }
    };
    let now = Utc::now();
    let r = access::repo_mut(&mut state, &o, &n)?;
    let p = r.pull_mut(num).ok_or_else(ApiError::not_found)?;
    p.state = "closed".into();
    p.head_sha = head;
    p.merged_at = Some(now);
    p.closed_at = Some(now);
    p.updated_at = now;
    p.merge_commit_sha = Some(sha.clone());
    p.merged_by = Some(login.clone());
    save(&app, &state)?;
    let r = access::repo(&state, &o, &n)?;
    if let Some(p) = r.pull(num) {
        app.hooks.send(
            "pull_request",
            pull_event(&app, &state, r, p, "closed", &login),
        );
    }
    reply(
        StatusCode::OK,
        json!({"sha": sha, "merged": true, "message": "Pull Request successfully merged"}),
    )
}

fn login_name(email: &str) -> String {
    email.split('@').next().unwrap_or(email).to_string()
}

/// `GET .../merge`: 204 when merged, 404 otherwise.
pub async fn is_merged(State(app): State<Shared>, Path((o, n, num)): PullPath) -> ApiResult {
    let state = app.state.lock().await;
    let r = access::repo(&state, &o, &n)?;
    let p = r.pull(num).ok_or_else(ApiError::not_found)?;
    if p.merged_at.is_some() {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found())
    }
}

pub async fn list_reviews(
    State(app): State<Shared>,
    Path((o, n, num)): PullPath,
    Query(q): Query<HashMap<String, String>>,
    uri: Uri,
) -> ApiResult {
    let state = app.state.lock().await;
    let r = access::repo(&state, &o, &n)?;
    r.pull(num).ok_or_else(ApiError::not_found)?;
    let items = r
        .reviews
        .iter()
        .filter(|v| v.pull_number == num)
        .map(|v| app.urls.review(&state, r, v))
        .collect();
    paginate(&app, &uri, &q, items)
}

#[derive(Deserialize)]
struct NewReview {
    body: Option<String>,
    event: Option<String>,
    commit_id: Option<String>,
}

pub async fn create_review(
    State(app): State<Shared>,
    Extension(Caller(login)): Extension<Caller>,
    Path((o, n, num)): PullPath,
    body: Bytes,
) -> ApiResult {
    let req: NewReview = parse_body(&body)?;
    let mut state = app.state.lock().await;
    let r = access::repo(&state, &o, &n)?;
    let p = r.pull(num).ok_or_else(ApiError::not_found)?;
    let review_state = match req.event.as_deref() {
        None | Some("") => "PENDING",
        Some("APPROVE") => "APPROVED",
        Some("REQUEST_CHANGES") => "CHANGES_REQUESTED",
        Some("COMMENT") => "COMMENTED",
        Some(other) => {
            return Err(ApiError::invalid(&format!(
                "Unprocessable Entity: event {other} is not one of APPROVE, REQUEST_CHANGES, COMMENT"
            )));
        }
    };
    let text = req.body.unwrap_or_default();
    if p.user == login && review_state == "APPROVED" {
        return Err(ApiError::validation(vec![json!(
            "Review Can not approve your own pull request"
        )]));
    }
    if p.user == login && review_state == "CHANGES_REQUESTED" {
        return Err(ApiError::validation(vec![json!(
            "Review Can not request changes on your own pull request"
        )]));
    }
    if matches!(review_state, "CHANGES_REQUESTED" | "COMMENTED") && text.trim().is_empty() {
        return Err(ApiError::validation(vec![json!(
            "Review body is required for REQUEST_CHANGES and COMMENT events"
        )]));
    }
    let commit_id = req.commit_id.unwrap_or_else(|| live_head(&app, r, p));
    let id = state.new_id();
    let r = access::repo_mut(&mut state, &o, &n)?;
    // A review moves the PR's `updated_at`, as on GitHub.
    if let Some(p) = r.pull_mut(num) {
        p.updated_at = Utc::now();
    }
    r.reviews.push(ReviewRecord {
        id,
        pull_number: num,
        user: login.clone(),
        body: text,
        state: review_state.into(),
        commit_id,
        submitted_at: (review_state != "PENDING").then(Utc::now),
    });
    save(&app, &state)?;
    let r = access::repo(&state, &o, &n)?;
    let (Some(v), Some(p)) = (r.reviews.iter().find(|v| v.id == id), r.pull(num)) else {
        return Err(ApiError::not_found());
    };
    let review = app.urls.review(&state, r, v);
    if review_state != "PENDING" {
        app.hooks.send(
            "pull_request_review",
            json!({
                "action": "submitted",
                "review": app.urls.review_in_hook(&review),
                "pull_request": app.urls.pull_in_review_hook(&pull_json(&app, &state, r, p, false)),
                "repository": app.urls.repo(&state, r, None),
                "organization": app.urls.organization(&state, &r.owner),
                "sender": app.urls.user(&state, &login),
            }),
        );
    }
    reply(StatusCode::OK, review)
}

/// `GET .../pulls/{n}/commits`: the PR's commits, oldest first.
pub async fn list_commits(
    State(app): State<Shared>,
    Path((o, n, num)): PullPath,
    Query(q): Query<HashMap<String, String>>,
    uri: Uri,
) -> ApiResult {
    let state = app.state.lock().await;
    let r = access::repo(&state, &o, &n)?;
    let p = r.pull(num).ok_or_else(ApiError::not_found)?;
    let repo = git::open(&git::repo_path(&app.dir, &o, &n)).map_err(|_| ApiError::not_found())?;
    let head = live_head(&app, r, p);
    // A merged PR's commits are those its head had over the base before the merge.
    let base = match &p.merge_commit_sha {
        Some(m) => git::commit_parent(&repo, m).unwrap_or_default(),
        None => git::branch_sha(&repo, &p.base_ref).unwrap_or_default(),
    };
    let commits = git::commits_between(&repo, &base, &head).unwrap_or_default();
    let items = commits.iter().map(|c| app.urls.commit(r, c)).collect();
    paginate(&app, &uri, &q, items)
}
