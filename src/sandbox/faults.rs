//! Injected failures for reliability tests: the next N requests matching a path
//! prefix (and method) answer with an error status, a rate-limit refusal, a
//! delay, or a dropped connection, as GitHub sometimes does.

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::server::{ApiError, App, Shared};

/// One rule, as posted to `POST /_sandbox/faults`.
#[derive(Debug, Clone, Deserialize)]
pub struct Fault {
    pub path_prefix: String,
    #[serde(default)]
    pub method: Option<String>,
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
}

fn one() -> u32 {
    1
}

#[derive(Default)]
pub struct Faults {
    rules: Mutex<Vec<Fault>>,
}

impl Faults {
    /// Take one use of the first rule matching this request.
    fn take(&self, method: &Method, path: &str) -> Option<Fault> {
        let mut rules = self.rules.lock().ok()?;
        let i = rules.iter().position(|f| {
            path.starts_with(&f.path_prefix)
                && f.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
        })?;
        let fault = rules[i].clone();
        if rules[i].count <= 1 {
            rules.remove(i);
        } else {
            rules[i].count -= 1;
        }
        Some(fault)
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
        rules.extend(faults.into_iter().filter(|f| f.count > 0));
    }
    StatusCode::NO_CONTENT.into_response()
}

pub async fn clear(State(app): State<Shared>) -> StatusCode {
    if let Ok(mut rules) = app.faults.rules.lock() {
        rules.clear();
    }
    StatusCode::NO_CONTENT
}

/// The faulty answer for this request, if a rule matches; `None` lets it through
/// (after the rule's delay, when it only delays).
pub async fn intercept(app: &App, method: &Method, path: &str) -> Option<Response> {
    let fault = app.faults.take(method, path)?;
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
