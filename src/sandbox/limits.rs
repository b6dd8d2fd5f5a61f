//! GitHub's rate limits, enforced per token the way GitHub answers them: the
//! primary limit (requests an hour; 304s free), and the secondary limits —
//! concurrent requests, points a minute (GET 1, POST/PATCH/PUT/DELETE 5) and
//! content creation (every POST) a minute and an hour — so the bot's request
//! budget meets a server that really refuses.
//!
//! Refusals carry GitHub's status, message and `documentation_url`. The
//! primary one has `x-ratelimit-remaining: 0` and the reset; secondary ones
//! carry `retry-after` only every other time, because GitHub does not always
//! send it and a client must cope without. Every refusal is counted.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Where GitHub's refusals point.
const PRIMARY_DOCS: &str =
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits";
const SECONDARY_DOCS: &str = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits";

/// The limits of one token. Defaults are GitHub's published numbers; tests
/// make them small and the windows short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Whose tokens are limited; `None`: everyone's, as on GitHub. A test
    /// limits the bot alone, so the people it plays can poll freely.
    pub logins: Option<Vec<String>>,
    /// Requests per `primary_window` (GitHub: 5,000 an hour), 304s not counted.
    pub primary: u64,
    pub primary_window: Duration,
    /// Requests in flight at once (GitHub: 100).
    pub concurrency: u32,
    /// Points per `minute` (GitHub: 900).
    pub points_per_minute: u32,
    /// Content-creating requests per `minute` (GitHub: 80) and `hour` (500).
    pub content_per_minute: u32,
    pub content_per_hour: u32,
    /// The secondary limits' windows (a minute and an hour on GitHub).
    pub minute: Duration,
    pub hour: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            logins: None,
            primary: 5000,
            primary_window: Duration::from_secs(3600),
            concurrency: 100,
            points_per_minute: 900,
            content_per_minute: 80,
            content_per_hour: 500,
            minute: Duration::from_secs(60),
            hour: Duration::from_secs(3600),
        }
    }
}

/// Which limit refused a request (the key of the refusal counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    Primary,
    Concurrency,
    Points,
    ContentPerMinute,
    ContentPerHour,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Primary => "primary",
            Refusal::Concurrency => "concurrency",
            Refusal::Points => "points",
            Refusal::ContentPerMinute => "content_per_minute",
            Refusal::ContentPerHour => "content_per_hour",
        }
    }
}

/// The primary limit's numbers for the `x-ratelimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u64,
    pub used: u64,
    /// Unix seconds.
    pub reset: i64,
}

#[derive(Debug, Default)]
struct TokenUse {
    /// Start of the primary window (monotonic, and Unix milliseconds).
    window: Option<(Instant, i64)>,
    used: u64,
    in_flight: u32,
    points: VecDeque<(Instant, u32)>,
    content_minute: VecDeque<Instant>,
    content_hour: VecDeque<Instant>,
    /// Secondary refusals so far: every other one omits `retry-after`.
    secondary_refusals: u64,
}

impl TokenUse {
    fn roll(&mut self, limits: &Limits, now: Instant, epoch: i64) -> (Instant, i64) {
        match self.window {
            Some((start, at)) if now.duration_since(start) < limits.primary_window => (start, at),
            _ => {
                self.window = Some((now, epoch));
                self.used = 0;
                (now, epoch)
            }
        }
    }

    fn quota(&self, limits: &Limits, epoch_ms: i64) -> Quota {
        let start = self.window.map(|(_, at)| at).unwrap_or(epoch_ms);
        let window = i64::try_from(limits.primary_window.as_millis()).unwrap_or(i64::MAX);
        // Rounded up, so a client that waits until the reset never comes early.
        let reset_ms = start.saturating_add(window);
        Quota {
            limit: limits.primary,
            used: self.used,
            reset: reset_ms.div_euclid(1000) + i64::from(reset_ms.rem_euclid(1000) != 0),
        }
    }
}

fn prune<T>(queue: &mut VecDeque<T>, span: Duration, now: Instant, at: impl Fn(&T) -> Instant) {
    while queue
        .front()
        .is_some_and(|e| now.duration_since(at(e)) >= span)
    {
        queue.pop_front();
    }
}

/// How long until the oldest entry leaves a window (at least a second, as
/// `retry-after` is whole seconds).
fn until_free(oldest: Option<Instant>, span: Duration, now: Instant) -> u64 {
    let left = oldest
        .map(|t| (t + span).saturating_duration_since(now))
        .unwrap_or(span);
    left.as_secs_f64().ceil().max(1.0) as u64
}

/// Every token's use, behind one lock.
#[derive(Debug, Default)]
pub struct Limiter {
    limits: Limits,
    tokens: Mutex<HashMap<String, TokenUse>>,
    refused: Mutex<HashMap<(String, Refusal), u64>>,
}

/// A request refused, and which limit refused it.
#[derive(Debug)]
pub struct Refused {
    pub kind: Refusal,
    pub response: Box<Response>,
}

/// A request let through: its slot in the concurrency count until dropped.
pub struct Admitted<'a> {
    limiter: &'a Limiter,
    login: String,
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if let Some(u) = self.limiter.lock().get_mut(&self.login) {
            u.in_flight = u.in_flight.saturating_sub(1);
        }
    }
}

impl Admitted<'_> {
    /// The answer went out: count it against the primary limit unless it was
    /// a 304 (free on GitHub). Returns the numbers for the headers.
    pub fn answered(&self, not_modified: bool) -> Quota {
        let limits = &self.limiter.limits_for(&self.login);
        let epoch = chrono::Utc::now().timestamp_millis();
        let mut tokens = self.limiter.lock();
        let u = tokens.entry(self.login.clone()).or_default();
        u.roll(limits, Instant::now(), epoch);
        if !not_modified {
            u.used = u.used.saturating_add(1);
        }
        u.quota(limits, epoch)
    }
}

impl Limiter {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// The limits `login` is held to: the configured ones, or GitHub's when
    /// the configured ones are for other logins.
    fn limits_for(&self, login: &str) -> Limits {
        let limited = self
            .limits
            .logins
            .as_ref()
            .is_none_or(|logins| logins.iter().any(|l| l == login));
        if limited {
            self.limits.clone()
        } else {
            Limits::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, TokenUse>> {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Let a request of `login` through, or refuse it as GitHub would.
    pub fn admit(
        &self,
        login: &str,
        user_id: u64,
        method: &Method,
    ) -> Result<Admitted<'_>, Refused> {
        let limits = &self.limits_for(login);
        let now = Instant::now();
        let epoch = chrono::Utc::now().timestamp_millis();
        let mutating = matches!(
            *method,
            Method::POST | Method::PATCH | Method::PUT | Method::DELETE
        );
        let points: u32 = if mutating { 5 } else { 1 };
        let content = *method == Method::POST;
        let refusal = {
            let mut tokens = self.lock();
            let u = tokens.entry(login.to_string()).or_default();
            u.roll(limits, now, epoch);
            prune(&mut u.points, limits.minute, now, |(t, _)| *t);
            prune(&mut u.content_minute, limits.minute, now, |t| *t);
            prune(&mut u.content_hour, limits.hour, now, |t| *t);
            let spent: u32 = u.points.iter().map(|(_, p)| *p).sum();
            let refusal = if u.used >= limits.primary {
                Some((Refusal::Primary, 0))
            } else if u.in_flight >= limits.concurrency {
                Some((Refusal::Concurrency, 1))
            } else if spent + points > limits.points_per_minute {
                let oldest = u.points.front().map(|(t, _)| *t);
                Some((Refusal::Points, until_free(oldest, limits.minute, now)))
            } else if content && u.content_minute.len() as u32 >= limits.content_per_minute {
                let oldest = u.content_minute.front().copied();
                Some((
                    Refusal::ContentPerMinute,
                    until_free(oldest, limits.minute, now),
                ))
            } else if content && u.content_hour.len() as u32 >= limits.content_per_hour {
                let oldest = u.content_hour.front().copied();
                Some((
                    Refusal::ContentPerHour,
                    until_free(oldest, limits.hour, now),
                ))
            } else {
                None
            };
            match refusal {
                None => {
                    u.in_flight += 1;
                    u.points.push_back((now, points));
                    if content {
                        u.content_minute.push_back(now);
                        u.content_hour.push_back(now);
                    }
                    None
                }
                Some((kind, retry_after)) => {
                    let with_retry_after = if kind == Refusal::Primary {
                        false
                    } else {
                        u.secondary_refusals += 1;
                        u.secondary_refusals % 2 == 1
                    };
                    Some((kind, retry_after, with_retry_after, u.quota(limits, epoch)))
                }
            }
        };
        let Some((kind, retry_after, with_retry_after, quota)) = refusal else {
            return Ok(Admitted {
                limiter: self,
                login: login.to_string(),
            });
        };
        {
            let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
            *refused.entry((login.to_string(), kind)).or_default() += 1;
        }
        tracing::debug!(
            login,
            kind = kind.as_str(),
            "sandbox: rate limit refused a request"
        );
        Err(Refused {
            kind,
            response: Box::new(refusal_response(
                kind,
                user_id,
                quota,
                with_retry_after.then_some(retry_after),
            )),
        })
    }

    /// The primary numbers of `login` now (for the headers of answers the
    /// limiter did not see through, like a 401).
    pub fn quota(&self, login: &str) -> Quota {
        let epoch = chrono::Utc::now().timestamp_millis();
        let limits = self.limits_for(login);
        let mut tokens = self.lock();
        let u = tokens.entry(login.to_string()).or_default();
        u.roll(&limits, Instant::now(), epoch);
        u.quota(&limits, epoch)
    }

    /// Refusals of `login` so far, by limit.
    pub fn refused(&self, login: &str) -> Vec<(Refusal, u64)> {
        let refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<(Refusal, u64)> = refused
            .iter()
            .filter(|((l, _), _)| l == login)
            .map(|((_, k), n)| (*k, *n))
            .collect();
        out.sort_by_key(|(k, _)| k.as_str());
        out
    }
}

fn refusal_response(
    kind: Refusal,
    user_id: u64,
    quota: Quota,
    retry_after: Option<u64>,
) -> Response {
    let (status, message, docs) = match kind {
        Refusal::Primary => (
            StatusCode::FORBIDDEN,
            format!("API rate limit exceeded for user ID {user_id}."),
            PRIMARY_DOCS,
        ),
        Refusal::ContentPerMinute | Refusal::ContentPerHour => (
            StatusCode::FORBIDDEN,
            "You have exceeded a secondary rate limit and have been temporarily blocked from content creation. Please retry your request again later.".to_string(),
            SECONDARY_DOCS,
        ),
        // GitHub answers the concurrency limit with 429 as often as 403.
        Refusal::Concurrency => (
            StatusCode::TOO_MANY_REQUESTS,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.".to_string(),
            SECONDARY_DOCS,
        ),
        Refusal::Points => (
            StatusCode::FORBIDDEN,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.".to_string(),
            SECONDARY_DOCS,
        ),
    };
    let body = json!({
        "message": message,
        "documentation_url": docs,
        "status": status.as_u16().to_string(),
    });
    let mut resp = (status, axum::Json(body)).into_response();
    rate_headers(resp.headers_mut(), quota);
    if let Some(secs) = retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        resp.headers_mut().insert("retry-after", v);
    }
    resp
}

/// GitHub's `x-ratelimit-*` headers for `quota`.
pub fn rate_headers(h: &mut HeaderMap, quota: Quota) {
    let pairs = [
        ("x-ratelimit-limit", quota.limit.to_string()),
        (
            "x-ratelimit-remaining",
            quota.limit.saturating_sub(quota.used).to_string(),
        ),
        ("x-ratelimit-reset", quota.reset.to_string()),
        ("x-ratelimit-used", quota.used.to_string()),
        ("x-ratelimit-resource", "core".to_string()),
    ];
    for (k, v) in pairs {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Limits {
        Limits {
            logins: None,
            primary: 1000,
            primary_window: Duration::from_secs(3600),
            concurrency: 2,
            points_per_minute: 12,
            content_per_minute: 2,
            content_per_hour: 3,
            minute: Duration::from_secs(60),
            hour: Duration::from_secs(3600),
        }
    }

    fn status_of(r: &Result<Admitted<'_>, Refused>) -> Option<StatusCode> {
        r.as_ref().err().map(|refused| refused.response.status())
    }

    fn refusal(r: Result<Admitted<'_>, Refused>) -> Response {
        match r {
            Ok(_) => panic!("expected a refusal"),
            Err(refused) => *refused.response,
        }
    }

    #[test]
    fn concurrency_is_refused_with_a_429_while_requests_are_in_flight() {
        let l = Limiter::new(small());
        let a = l.admit("bot", 1, &Method::GET);
        let b = l.admit("bot", 1, &Method::GET);
        assert!(a.is_ok() && b.is_ok());
        let c = l.admit("bot", 1, &Method::GET);
        assert_eq!(status_of(&c), Some(StatusCode::TOO_MANY_REQUESTS));
        drop(c);
        // Another token has its own limits.
        assert!(l.admit("alice", 2, &Method::GET).is_ok());
        drop(a);
        assert!(l.admit("bot", 1, &Method::GET).is_ok());
        assert_eq!(l.refused("bot"), vec![(Refusal::Concurrency, 1)]);
    }

    #[test]
    fn points_and_content_are_refused_and_retry_after_comes_every_other_time() {
        let l = Limiter::new(small());
        // Two POSTs: 10 points, two pieces of content.
        for _ in 0..2 {
            let ok = l.admit("bot", 1, &Method::POST);
            assert!(ok.is_ok());
        }
        // A third POST: over 12 points (checked before content).
        let refused = refusal(l.admit("bot", 1, &Method::POST));
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert!(refused.headers().contains_key("retry-after"));
        // Two GETs fit (12 points), the third does not, and has no retry-after.
        assert!(l.admit("bot", 1, &Method::GET).is_ok());
        assert!(l.admit("bot", 1, &Method::GET).is_ok());
        let refused = refusal(l.admit("bot", 1, &Method::GET));
        assert!(!refused.headers().contains_key("retry-after"));
        assert_eq!(l.refused("bot"), vec![(Refusal::Points, 2)]);
    }

    #[test]
    fn content_creation_is_limited_apart_from_points() {
        let l = Limiter::new(Limits {
            points_per_minute: 900,
            ..small()
        });
        assert!(l.admit("bot", 1, &Method::POST).is_ok());
        assert!(l.admit("bot", 1, &Method::POST).is_ok());
        assert!(
            l.admit("bot", 1, &Method::PATCH).is_ok(),
            "an edit is not content"
        );
        let refused = refusal(l.admit("bot", 1, &Method::POST));
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert_eq!(l.refused("bot"), vec![(Refusal::ContentPerMinute, 1)]);
    }

    #[test]
    fn the_primary_limit_refuses_once_spent_and_304s_are_free() {
        let l = Limiter::new(Limits {
            primary: 2,
            points_per_minute: 900,
            ..small()
        });
        let first = l.admit("bot", 7, &Method::GET).expect("first");
        assert_eq!(first.answered(true).used, 0, "a 304 is free");
        assert_eq!(first.answered(false).used, 1);
        drop(first);
        let second = l.admit("bot", 7, &Method::GET).expect("second");
        let quota = second.answered(false);
        assert_eq!(quota.limit - quota.used, 0);
        drop(second);
        let refused = refusal(l.admit("bot", 7, &Method::GET));
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let h = refused.headers();
        assert_eq!(h["x-ratelimit-remaining"], "0");
        assert!(!h.contains_key("retry-after"));
        assert_eq!(l.refused("bot"), vec![(Refusal::Primary, 1)]);
    }
}
