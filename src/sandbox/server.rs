//! The HTTP face of the sandbox: GitHub's routes, and the gate every request
//! passes (faults, token auth, GitHub's rate limits with their headers, ETags
//! and 304s, counting), plus the error bodies and pagination GitHub answers with.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, patch, post, put};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::faults::Faults;
use super::hooks::Hooks;
use super::limits::{self, Limiter, Quota};
use super::render::Urls;
use super::signals::Signals;
use super::state::ForgeState;
use super::{faults, issues, pulls, repos, signals};

/// Everything a handler can reach.
pub struct App {
    pub dir: PathBuf,
    pub urls: Urls,
    pub state: tokio::sync::Mutex<ForgeState>,
    pub hooks: Hooks,
    pub stats: std::sync::Mutex<Stats>,
    pub faults: Faults,
    pub signals: Signals,
    pub started: i64,
    /// GitHub's primary and secondary rate limits, per token.
    pub limits: Limiter,
    /// How an App's installation tokens live, and the sandbox's clock.
    pub app_tokens: super::TokenRules,
}

impl App {
    /// The sandbox's clock: the machine's, moved by `app_tokens.clock_offset`
    /// to play a GitHub whose clock disagrees with the bot's.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + self.app_tokens.clock_offset
    }
}

pub type Shared = Arc<App>;

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub String);

/// Requests per user, kept apart from 304s (which GitHub does not count).
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Stats {
    pub users: BTreeMap<String, UserStats>,
    pub unauthenticated: u64,
    pub faulted: u64,
    /// Installation tokens minted for GitHub Apps.
    pub tokens_minted: u64,
    /// API requests refused for a token that is unknown, expired or revoked.
    pub tokens_refused: u64,
    /// The same for git over HTTP.
    pub git_tokens_refused: u64,
    /// Of the API requests that came with an installation token it accepted:
    /// the least time (ms) such a token had left to live on arrival. How
    /// close to its expiry the bot uses a token, which a refusal count sees
    /// only when a request lands in the token's last milliseconds.
    pub least_token_life_ms: Option<i64>,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct UserStats {
    /// Requests counted against the rate limit.
    pub requests: u64,
    /// Conditional requests answered 304 (free on GitHub).
    pub not_modified: u64,
    /// Requests that may change something (POST, PATCH, PUT, DELETE).
    pub writes: u64,
    /// Every request by HTTP method, 304s included.
    pub by_method: BTreeMap<String, u64>,
    /// Every request by method and path (`GET /repos/acme/product/pulls`),
    /// 304s included: where a road's requests go.
    pub by_path: BTreeMap<String, u64>,
    /// Requests refused for a rate limit, by limit (`primary`, `points`,
    /// `concurrency`, `content_per_minute`, `content_per_hour`); not counted above.
    pub refused: BTreeMap<String, u64>,
    /// Secondary-limit points spent (GET 1, POST/PATCH/PUT/DELETE 5), 304s included.
    pub points: u64,
    /// Git smart-HTTP requests (not API requests: no rate limit), and of
    /// those the pushes' (`git-receive-pack`, its ref advertisement included).
    pub git_requests: u64,
    pub git_pushes: u64,
}

pub const RATE_LIMIT: u64 = 5000;
const DOCS: &str = "https://docs.github.com/rest";

pub fn router(app: Shared) -> Router {
    let api = Router::new()
        .route("/user", get(repos::get_user))
        .route(
            "/orgs/{org}/hooks/{hook}/deliveries",
            get(super::hooks::list_deliveries),
        )
        .route(
            "/orgs/{org}/hooks/{hook}/deliveries/{delivery}",
            get(super::hooks::get_delivery),
        )
        .route("/repos/{o}/{r}", get(repos::get_repo))
        .route("/repos/{o}/{r}/pulls", get(pulls::list).post(pulls::create))
        .route(
            "/repos/{o}/{r}/pulls/{n}",
            get(pulls::get_one).patch(pulls::update),
        )
        .route(
            "/repos/{o}/{r}/pulls/{n}/merge",
            put(pulls::merge).get(pulls::is_merged),
        )
        .route(
            "/repos/{o}/{r}/pulls/{n}/reviews",
            get(pulls::list_reviews).post(pulls::create_review),
        )
        .route("/repos/{o}/{r}/pulls/{n}/commits", get(pulls::list_commits))
        .route(
            "/repos/{o}/{r}/issues/{n}/comments",
            get(issues::list_comments).post(issues::create_comment),
        )
        .route(
            "/repos/{o}/{r}/issues/comments/{id}",
            patch(issues::update_comment).get(issues::get_comment),
        )
        .route(
            "/repos/{o}/{r}/issues/{n}/labels",
            get(issues::list_labels)
                .post(issues::add_labels)
                .put(issues::set_labels),
        )
        .route(
            "/repos/{o}/{r}/issues/{n}/labels/{name}",
            delete(issues::remove_label),
        )
        .route("/repos/{o}/{r}/issues/{n}/events", get(issues::list_events))
        .route("/repos/{o}/{r}/statuses/{sha}", post(repos::create_status))
        .route(
            "/repos/{o}/{r}/commits/{rev}/status",
            get(repos::combined_status),
        )
        .route(
            "/repos/{o}/{r}/commits/{rev}/statuses",
            get(repos::list_statuses),
        )
        .route(
            "/repos/{o}/{r}/collaborators/{user}/permission",
            get(repos::permission),
        )
        .route(
            "/orgs/{org}/teams/{slug}/memberships/{user}",
            get(repos::team_membership),
        )
        .route(
            "/repos/{o}/{r}/releases",
            get(repos::list_releases).post(repos::create_release),
        )
        .route(
            "/repos/{o}/{r}/releases/{id}",
            patch(repos::update_release).get(repos::get_release),
        )
        .route(
            "/repos/{o}/{r}/releases/tags/{tag}",
            get(repos::release_by_tag),
        )
        .route("/repos/{o}/{r}/tags", get(repos::list_tags))
        .route("/repos/{o}/{r}/git/ref/{*rest}", get(repos::get_ref))
        .route("/repos/{o}/{r}/branches/{*branch}", get(repos::get_branch))
        .fallback(not_found_fallback)
        .layer(middleware::from_fn_with_state(app.clone(), gate));
    let tools = Router::new()
        .route("/_sandbox/stats", get(get_stats).delete(reset_stats))
        .route(
            "/_sandbox/faults",
            get(faults::list).post(faults::add).delete(faults::clear),
        )
        .route("/_sandbox/prometheus", post(signals::set_metric))
        .route("/_sandbox/alerts", post(signals::set_alerts))
        .route("/_sandbox/app", post(super::apps::register))
        .route("/_sandbox/app/tokens", delete(super::apps::revoke_all))
        // App endpoints authenticate with the app's JWT, not a user token.
        .route("/app", get(super::apps::get_app))
        .route(
            "/app/installations/{id}/access_tokens",
            post(super::apps::access_token),
        )
        .route(
            "/prometheus/api/v1/query",
            get(signals::query).post(signals::query),
        )
        .route("/alertmanager/api/v2/alerts", get(signals::alerts))
        // Git's smart HTTP authenticates with basic auth, not the API's gate.
        .route("/git/{*path}", any(super::git_http::serve));
    tools
        .merge(api)
        .layer(middleware::from_fn(to_completion))
        .with_state(app)
}

/// Run each request to its end even when the client goes away mid-request,
/// as GitHub does: a merge, comment or release is not half-made because its
/// caller died. Without this a SIGKILLed bot cancelled the merge handler
/// between its git write and its record (seen in the crash test: the merge
/// commit on main, the PR still open and unmerged, its road never ending).
async fn to_completion(req: Request, next: Next) -> Response {
    match tokio::spawn(next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the handler stopped").into_response()
        }
    }
}

async fn not_found_fallback() -> Response {
    ApiError::not_found().into_response()
}

async fn get_stats(State(app): State<Shared>) -> Response {
    let stats = app.stats.lock().map(|s| s.clone()).unwrap_or_default();
    axum::Json(stats).into_response()
}

async fn reset_stats(State(app): State<Shared>) -> StatusCode {
    if let Ok(mut s) = app.stats.lock() {
        *s = Stats::default();
    }
    StatusCode::NO_CONTENT
}

/// Faults, auth, rate-limit headers, ETags and counting, around every API route.
async fn gate(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let token = bearer(req.headers());
    let caller = {
        let state = app.state.lock().await;
        let now = app.now();
        token.as_deref().and_then(|t| {
            let user = state.user_by_token(t, now.timestamp())?;
            // Only installation tokens expire (Unix seconds, as minted).
            if let Some(expiry) = user.token_expiry.get(t)
                && let Ok(mut s) = app.stats.lock()
            {
                let left = expiry * 1000 - now.timestamp_millis();
                s.least_token_life_ms = Some(s.least_token_life_ms.map_or(left, |l| l.min(left)));
            }
            Some((user.login.clone(), user.id))
        })
    };
    let fault = app.faults.take(
        req.method(),
        req.uri().path(),
        caller.as_ref().map(|(login, _)| login.as_str()),
    );
    if let Some(fault) = &fault {
        if let Ok(mut s) = app.stats.lock() {
            s.faulted += 1;
        }
        if !fault.after
            && let Some(resp) = faults::apply(fault).await
        {
            return resp;
        }
    }
    let Some((login, user_id)) = caller else {
        if let Ok(mut s) = app.stats.lock() {
            s.unauthenticated += 1;
            if token.is_some() {
                s.tokens_refused += 1;
            }
        }
        let mut resp = ApiError::new(StatusCode::UNAUTHORIZED, "Bad credentials").into_response();
        let quota = Quota {
            limit: 60,
            used: 0,
            reset: app.started + 3600,
        };
        rate_headers(resp.headers_mut(), quota);
        return resp;
    };
    let admitted = match app.limits.admit(&login, user_id, req.method()) {
        Ok(admitted) => admitted,
        Err(refused) => {
            if let Ok(mut s) = app.stats.lock() {
                let u = s.users.entry(login).or_default();
                *u.refused
                    .entry(refused.kind.as_str().to_string())
                    .or_default() += 1;
            }
            return *refused.response;
        }
    };
    let is_get = req.method() == Method::GET;
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let if_none_match = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut req = req;
    req.extensions_mut().insert(Caller(login.clone()));
    let resp = next.run(req).await;
    // The write is done; now lose (or delay) its answer.
    if let Some(fault) = fault.as_ref().filter(|f| f.after)
        && let Some(lost) = faults::apply(fault).await
    {
        return lost;
    }

    let (mut resp, not_modified) = if is_get && resp.status() == StatusCode::OK {
        let (mut parts, body) = resp.into_parts();
        let bytes = axum::body::to_bytes(body, 64 * 1024 * 1024)
            .await
            .unwrap_or_default();
        let etag = format!("W/\"{}\"", hex::encode(Sha256::digest(&bytes)));
        let matches = if_none_match
            .as_deref()
            .is_some_and(|inm| inm.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
        if let Ok(v) = HeaderValue::from_str(&etag) {
            parts.headers.insert(header::ETAG, v);
        }
        if matches {
            parts.status = StatusCode::NOT_MODIFIED;
            parts.headers.remove(header::CONTENT_TYPE);
            parts.headers.remove(header::CONTENT_LENGTH);
            (Response::from_parts(parts, Body::empty()), true)
        } else {
            (Response::from_parts(parts, Body::from(bytes)), false)
        }
    } else {
        (resp, false)
    };
    let quota = admitted.answered(not_modified);
    drop(admitted);
    if let Ok(mut s) = app.stats.lock() {
        let u = s.users.entry(login).or_default();
        *u.by_method.entry(method.as_str().to_string()).or_default() += 1;
        *u.by_path.entry(format!("{method} {path}")).or_default() += 1;
        let mutating = matches!(
            method,
            Method::POST | Method::PATCH | Method::PUT | Method::DELETE
        );
        if mutating {
            u.writes += 1;
        }
        u.points += if mutating { 5 } else { 1 };
        if not_modified {
            u.not_modified += 1;
        } else {
            u.requests += 1;
        }
    }
    rate_headers(resp.headers_mut(), quota);
    resp
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" | "token" => Some(token.trim().to_string()),
        _ => None,
    }
}

fn rate_headers(h: &mut HeaderMap, quota: Quota) {
    limits::rate_headers(h, quota);
    if let Ok(v) = HeaderValue::from_str("github.v3; format=json") {
        h.insert("x-github-media-type", v);
    }
}

/// An error answer in GitHub's shape.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, message: &str) -> Self {
        Self {
            status,
            body: json!({
                "message": message,
                "documentation_url": DOCS,
                "status": status.as_u16().to_string(),
            }),
        }
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not Found")
    }

    /// 422 with GitHub's `errors` list.
    pub fn validation(errors: Vec<Value>) -> Self {
        let mut e = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
        e.body["errors"] = Value::Array(errors);
        e
    }

    /// 422 for a missing or malformed field, as GitHub words it.
    pub fn invalid(message: &str) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    pub fn forbidden(message: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

pub type ApiResult = Result<Response, ApiError>;

/// A JSON answer with a status.
pub fn reply(status: StatusCode, body: Value) -> ApiResult {
    Ok((status, axum::Json(body)).into_response())
}

/// Parse a request body; GitHub's words for bad JSON.
pub fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::new(StatusCode::BAD_REQUEST, "Problems parsing JSON")
        } else {
            ApiError::invalid(&format!("Invalid request. {e}"))
        }
    })
}

/// GitHub's page-based pagination with a `Link` header (next, last, first, prev).
pub fn paginate(
    app: &App,
    uri: &Uri,
    query: &HashMap<String, String>,
    items: Vec<Value>,
) -> ApiResult {
    let per_page = query
        .get("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = query
        .get("page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut resp = (StatusCode::OK, axum::Json(Value::Array(slice))).into_response();
    let link_to = |p: usize| {
        let mut params: Vec<String> = query
            .iter()
            .filter(|(k, _)| k.as_str() != "page" && k.as_str() != "per_page")
            .map(|(k, v)| format!("{}={}", super::render::encode(k), super::render::encode(v)))
            .collect();
        params.sort();
        params.push(format!("per_page={per_page}"));
        params.push(format!("page={p}"));
        format!("<{}{}?{}>", app.urls.api, uri.path(), params.join("&"))
    };
    let mut links = Vec::new();
    if page < last {
        links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
        links.push(format!("{}; rel=\"last\"", link_to(last)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", link_to(page - 1)));
        links.push(format!("{}; rel=\"first\"", link_to(1)));
    }
    if !links.is_empty()
        && let Ok(v) = HeaderValue::from_str(&links.join(", "))
    {
        resp.headers_mut().insert(header::LINK, v);
    }
    Ok(resp)
}
