//! Injected failures for reliability tests: the next N requests matching a path
//! prefix (and method) answer with an error status, a rate-limit refusal, a
//! delay, or a dropped connection, as GitHub sometimes does — either instead
//! of the handler, or (`after: true`) once the handler has done its work, so
//! the write happened but its answer is lost. Each rule counts its hits, so a
//! test can prove the bot met every fault it set (`GET /_sandbox/faults`).

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use serde::Serialize;

use super::server::{ApiError, Shared};

/// One rule, as posted to `POST /_sandbox/faults`: requests whose path starts
/// with `path_prefix` (`*` = any one segment) and whose method is `method`
/// (any, if absent), made by `user` (anyone, if absent), `count` of them.
#[derive(Debug, Clone, Deserialize)]
pub struct Fault {
    pub path_prefix: String,
    #[serde(default)]
    pub method: Option<String>,
    /// Only this user's requests (so a test's own reads do not use up a
    /// fault meant for the bot).
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub retry_after: Option<u64>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
    #[serde(default)]
    pub drop: bool,
    /// Run the handler first, then lose its answer (the dangerous case: the
    /// write is done, the client cannot know).
    #[serde(default)]
    pub after: bool,
}

/// A rule as set, with how often it was met; exhausted rules stay listed.
#[derive(Debug, Clone, Serialize)]
pub struct FaultReport {
    pub path_prefix: String,
    pub method: Option<String>,
    pub user: Option<String>,
    pub status: Option<u16>,
    pub delay_ms: Option<u64>,
    pub drop: bool,
    pub after: bool,
    /// Uses set (`count` as posted).
    pub count: u32,
    /// Requests that met the rule.
    pub hits: u32,
}

struct Rule {
    fault: Fault,
    remaining: u32,
    hits: u32,
}

fn one() -> u32 {
    1
}

#[derive(Default)]
pub struct Faults {
    rules: Mutex<Vec<Rule>>,
}

impl Faults {
    /// Take one use of the first live rule matching this request by `user`
    /// (`None`: not authenticated).
    pub fn take(&self, method: &Method, path: &str, user: Option<&str>) -> Option<Fault> {
        let mut rules = self.rules.lock().ok()?;
        let rule = rules.iter_mut().find(|r| {
            r.remaining > 0
                && prefix_matches(&r.fault.path_prefix, path)
                && r.fault
                    .method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
                && r.fault.user.as_deref().is_none_or(|u| Some(u) == user)
        })?;
        rule.remaining -= 1;
        rule.hits += 1;
        Some(rule.fault.clone())
    }

    /// Every rule set since the last clear, with its hits.
    pub fn report(&self) -> Vec<FaultReport> {
        let Ok(rules) = self.rules.lock() else {
            return Vec::new();
        };
        rules
            .iter()
            .map(|r| FaultReport {
                path_prefix: r.fault.path_prefix.clone(),
                method: r.fault.method.clone(),
                user: r.fault.user.clone(),
                status: r.fault.status,
                delay_ms: r.fault.delay_ms,
                drop: r.fault.drop,
                after: r.fault.after,
                count: r.fault.count,
                hits: r.hits,
            })
            .collect()
    }
}

pub async fn add(State(app): State<Shared>, body: Bytes) -> Response {
    let faults: Vec<Fault> = match serde_json::from_slice::<Fault>(&body) {
        Ok(f) => vec![f],
        Err(_) => match serde_json::from_slice::<Vec<Fault>>(&body) {
            Ok(list) => list,
            Err(e) => {
                return ApiError::new(StatusCode::BAD_REQUEST, &format!("bad fault: {e}"))
                    .into_response();
            }
        },
    };
    if let Ok(mut rules) = app.faults.rules.lock() {
        rules.extend(faults.into_iter().filter(|f| f.count > 0).map(|f| Rule {
            remaining: f.count,
            hits: 0,
            fault: f,
        }));
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Whether `path` starts with `prefix`, where a `*` in the prefix stands for
/// one whole path segment (`/repos/acme/product/issues/*/comments`), since a
/// test sets its faults before it knows the PR's number.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    let mut rest = path;
    let mut parts = prefix.split('*').peekable();
    while let Some(part) = parts.next() {
        let Some(after) = rest.strip_prefix(part) else {
            return false;
        };
        rest = after;
        if parts.peek().is_some() {
            let segment = rest.find('/').unwrap_or(rest.len());
            if segment == 0 {
                return false;
            }
            rest = &rest[segment..];
        }
    }
    true
}

/// `GET /_sandbox/faults`: the rules set since the last clear and their hits.
pub async fn list(State(app): State<Shared>) -> Response {
    axum::Json(app.faults.report()).into_response()
}

pub async fn clear(State(app): State<Shared>) -> StatusCode {
    if let Ok(mut rules) = app.faults.rules.lock() {
        rules.clear();
    }
    StatusCode::NO_CONTENT
}

/// The faulty answer for this request: `None` lets the handler's answer
/// through (after the rule's delay, when it only delays).
pub async fn apply(fault: &Fault) -> Option<Response> {
    if let Some(ms) = fault.delay_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if fault.drop {
        return Some(Response::new(Body::new(Broken)));
    }
    let status = StatusCode::from_u16(fault.status?).ok()?;
    let now = chrono::Utc::now().timestamp();
    let (message, limited) = match (status.as_u16(), fault.retry_after) {
        (403 | 429, Some(_)) => (
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            false,
        ),
        (403 | 429, None) => ("API rate limit exceeded for user ID 1.", true),
        (409, _) => ("Conflict", false),
        (422, _) => ("Validation Failed", false),
        (500, _) => ("Server Error", false),
        (502, _) => ("Server Error", false),
        _ => (status.canonical_reason().unwrap_or("Error"), false),
    };
    let mut resp = ApiError::new(status, message).into_response();
    let h = resp.headers_mut();
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    set("x-ratelimit-limit", super::server::RATE_LIMIT.to_string());
    set("x-ratelimit-resource", "core".into());
    if limited {
        set("x-ratelimit-remaining", "0".into());
        set("x-ratelimit-used", super::server::RATE_LIMIT.to_string());
        set("x-ratelimit-reset", (now + 1).to_string());
    } else {
        set(
            "x-ratelimit-remaining",
            (super::server::RATE_LIMIT - 1).to_string(),
        );
        set("x-ratelimit-reset", (now + 3600).to_string());
    }
    if let Some(secs) = fault.retry_after {
        set("retry-after", secs.to_string());
    }
    Some(resp)
}

/// A body that fails at once, so the server closes the connection mid-answer:
/// the client sees a dropped connection, not an HTTP status.
struct Broken;

impl HttpBody for Broken {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "sandbox fault: connection dropped",
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_matches;

    #[test]
    fn a_prefix_matches_paths_below_it_and_a_star_one_segment() {
        assert!(prefix_matches(
            "/repos/acme/product/pulls",
            "/repos/acme/product/pulls"
        ));
        assert!(prefix_matches(
            "/repos/acme/product/pulls",
            "/repos/acme/product/pulls/3/merge"
        ));
        assert!(!prefix_matches(
            "/repos/acme/product/pulls",
            "/repos/acme/payments/pulls"
        ));
        let p = "/repos/acme/product/issues/*/comments";
        assert!(prefix_matches(p, "/repos/acme/product/issues/12/comments"));
        assert!(!prefix_matches(p, "/repos/acme/product/issues/12/labels"));
        assert!(!prefix_matches(p, "/repos/acme/product/issues//comments"));
        assert!(!prefix_matches(p, "/repos/acme/product/issues/comments/5"));
        assert!(prefix_matches("/repos/acme/*", "/repos/acme/x/tags"));
    }
}
