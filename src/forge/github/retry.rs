//! When to try a GitHub request again, and how long to wait first.
//!
//! A pure decision over the answer (or its absence), so every rule is tested
//! without a clock or a network. Rules, after GitHub's REST docs on rate
//! limits and on server errors:
//! - primary rate limit (403/429 with `x-ratelimit-remaining: 0`): wait until
//!   `x-ratelimit-reset`, unless that is further away than `max_wait`, then
//!   give up and say until when;
//! - secondary rate limit (`retry-after`): wait that many seconds (same cap);
//! - 429 without either header: wait a minute (GitHub's advice), same cap;
//! - 5xx or no answer at all: exponential backoff with full jitter — but only
//!   for a request that is safe to send twice ([`resend_when_answer_lost`]);
//!   a POST or PUT whose answer was lost may have been done, so the transport
//!   hands it back and the caller looks for its effect before sending it again;
//! - anything else (a plain 403 is a permission problem): never retried.
//!
//! The transport asks [`super::budget::rate_limited`] first: a rate-limit
//! refusal it recognises is waited out by the request budget, unbounded.

use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};

/// Bounds on retrying; the defaults suit a bot that would rather report an
/// error than stall a reconcile for long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each time.
    pub base_backoff: Duration,
    /// Longest backoff after a 5xx or a connection error.
    pub max_backoff: Duration,
    /// Longest wait for a rate limit to lift; beyond it we give up.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            max_wait: Duration::from_secs(60),
        }
    }
}

/// What one answer means for the next attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A final answer (success or an error worth reporting as it is).
    Done,
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Retrying cannot help in time; the reason is for the error message.
    GiveUp(String),
}

/// Decide after attempt number `attempt` (1-based) got `status` (`None`:
/// no answer, e.g. connection refused). `now_epoch` is the current Unix time
/// in seconds; `jitter` is a number in `[0, 1)` drawn by the caller.
pub fn decide(
    policy: &RetryPolicy,
    attempt: u32,
    status: Option<StatusCode>,
    headers: &HeaderMap,
    now_epoch: u64,
    jitter: f64,
) -> Decision {
    let wait = match status {
        None => Wait::Backoff,
        Some(s) if s.is_server_error() => Wait::Backoff,
        Some(s) if s == StatusCode::FORBIDDEN || s == StatusCode::TOO_MANY_REQUESTS => {
            match rate_limit_wait(s, headers, now_epoch) {
                Some(d) => Wait::RateLimit(d),
                None => return Decision::Done,
            }
        }
        Some(_) => return Decision::Done,
    };
    if attempt >= policy.max_attempts {
        return match wait {
            Wait::Backoff => Decision::Done,
            Wait::RateLimit(_) => {
                Decision::GiveUp(format!("still rate limited after {attempt} attempts"))
            }
        };
    }
    match wait {
        Wait::Backoff => {
            let exp = policy
                .base_backoff
                .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
            let ceiling = exp.min(policy.max_backoff);
            // Full jitter: anywhere in [0, ceiling], so many bots do not retry in step.
            Decision::RetryAfter(ceiling.mul_f64(jitter.clamp(0.0, 1.0)))
        }
        Wait::RateLimit(d) if d > policy.max_wait => Decision::GiveUp(format!(
            "rate limited for {}s more (longer than the {}s we wait)",
            d.as_secs(),
            policy.max_wait.as_secs()
        )),
        Wait::RateLimit(d) => Decision::RetryAfter(d),
    }
}

/// Whether a request whose answer was lost (no answer, a cut answer or a 5xx,
/// any of which GitHub may send after doing the work) may simply be sent
/// again. GETs, HEADs and DELETEs may; so may the bot's PATCHes, which set
/// fields to absolute values. A POST (a new comment, PR or release) or a PUT
/// (a merge) may not: doing it twice is a second comment, PR or merge attempt.
pub fn resend_when_answer_lost(method: &Method) -> bool {
    !matches!(*method, Method::POST | Method::PUT)
}

/// [`decide`] for a request sent with `method`: an answer lost on a request
/// that must not be sent twice is final here ([`resend_when_answer_lost`]).
#[allow(clippy::too_many_arguments)]
pub fn decide_for(
    method: &Method,
    policy: &RetryPolicy,
    attempt: u32,
    status: Option<StatusCode>,
    headers: &HeaderMap,
    now_epoch: u64,
    jitter: f64,
) -> Decision {
    let lost = status.is_none_or(|s| s.is_server_error());
    if lost && !resend_when_answer_lost(method) {
        return Decision::Done;
    }
    decide(policy, attempt, status, headers, now_epoch, jitter)
}

enum Wait {
    Backoff,
    RateLimit(Duration),
}

/// How long GitHub asks us to wait, or `None` when a 403 is not a rate limit.
fn rate_limit_wait(status: StatusCode, headers: &HeaderMap, now_epoch: u64) -> Option<Duration> {
    if let Some(secs) = header_u64(headers, "retry-after") {
        return Some(Duration::from_secs(secs));
    }
    if header_u64(headers, "x-ratelimit-remaining") == Some(0) {
        let reset = header_u64(headers, "x-ratelimit-reset").unwrap_or(now_epoch + 60);
        // One second more: the reset time is rounded down to the second.
        return Some(Duration::from_secs(reset.saturating_sub(now_epoch) + 1));
    }
    (status == StatusCode::TOO_MANY_REQUESTS).then(|| Duration::from_secs(60))
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn success_and_client_errors_are_final() {
        let p = RetryPolicy::default();
        for s in [200, 201, 304, 404, 409, 422] {
            let s = StatusCode::from_u16(s).unwrap();
            assert_eq!(
                decide(&p, 1, Some(s), &HeaderMap::new(), NOW, 0.5),
                Decision::Done
            );
        }
    }

    #[test]
    fn a_plain_403_is_a_permission_problem_not_a_rate_limit() {
        let p = RetryPolicy::default();
        let h = headers(&[("x-ratelimit-remaining", "4999")]);
        assert_eq!(
            decide(&p, 1, Some(StatusCode::FORBIDDEN), &h, NOW, 0.5),
            Decision::Done
        );
    }

    #[test]
    fn server_errors_back_off_exponentially_with_jitter_and_a_cap() {
        let p = RetryPolicy::default();
        let h = HeaderMap::new();
        let bad = Some(StatusCode::BAD_GATEWAY);
        assert_eq!(
            decide(&p, 1, bad, &h, NOW, 1.0),
            Decision::RetryAfter(Duration::from_millis(250))
        );
        assert_eq!(
            decide(&p, 2, bad, &h, NOW, 1.0),
            Decision::RetryAfter(Duration::from_millis(500))
        );
        assert_eq!(
            decide(&p, 3, bad, &h, NOW, 0.5),
            Decision::RetryAfter(Duration::from_millis(500))
        );
        assert_eq!(
            decide(&p, 1, None, &h, NOW, 0.0),
            Decision::RetryAfter(Duration::ZERO)
        );
        let long = RetryPolicy {
            max_attempts: 40,
            ..p
        };
        assert_eq!(
            decide(&long, 30, bad, &h, NOW, 1.0),
            Decision::RetryAfter(p.max_backoff)
        );
    }

    #[test]
    fn retries_stop_after_max_attempts() {
        let p = RetryPolicy::default();
        let h = HeaderMap::new();
        assert_eq!(
            decide(&p, 4, Some(StatusCode::INTERNAL_SERVER_ERROR), &h, NOW, 0.5),
            Decision::Done
        );
        assert_eq!(decide(&p, 4, None, &h, NOW, 0.5), Decision::Done);
    }

    #[test]
    fn primary_rate_limit_waits_until_reset() {
        let p = RetryPolicy::default();
        let reset = (NOW + 10).to_string();
        let h = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset),
        ]);
        assert_eq!(
            decide(&p, 1, Some(StatusCode::FORBIDDEN), &h, NOW, 0.5),
            Decision::RetryAfter(Duration::from_secs(11))
        );
    }

    #[test]
    fn a_rate_limit_longer_than_the_cap_gives_up_at_once() {
        let p = RetryPolicy::default();
        let reset = (NOW + 3600).to_string();
        let h = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset),
        ]);
        assert!(matches!(
            decide(&p, 1, Some(StatusCode::TOO_MANY_REQUESTS), &h, NOW, 0.5),
            Decision::GiveUp(reason) if reason.contains("3601s")
        ));
    }

    #[test]
    fn secondary_rate_limit_respects_retry_after() {
        let p = RetryPolicy::default();
        let h = headers(&[("retry-after", "3")]);
        assert_eq!(
            decide(&p, 1, Some(StatusCode::FORBIDDEN), &h, NOW, 0.9),
            Decision::RetryAfter(Duration::from_secs(3))
        );
        assert!(matches!(
            decide(&p, 4, Some(StatusCode::FORBIDDEN), &h, NOW, 0.9),
            Decision::GiveUp(_)
        ));
    }

    #[test]
    fn a_lost_answer_to_a_post_or_put_is_not_resent() {
        let p = RetryPolicy::default();
        let h = HeaderMap::new();
        for method in [Method::POST, Method::PUT] {
            for status in [None, Some(StatusCode::BAD_GATEWAY)] {
                assert_eq!(
                    decide_for(&method, &p, 1, status, &h, NOW, 0.5),
                    Decision::Done,
                    "{method} {status:?}"
                );
            }
        }
        for method in [Method::GET, Method::PATCH, Method::DELETE] {
            assert!(matches!(
                decide_for(&method, &p, 1, None, &h, NOW, 0.5),
                Decision::RetryAfter(_)
            ));
        }
    }

    #[test]
    fn a_rate_limited_post_is_still_retried_since_nothing_was_done() {
        let p = RetryPolicy::default();
        let h = headers(&[("retry-after", "2")]);
        assert_eq!(
            decide_for(
                &Method::POST,
                &p,
                1,
                Some(StatusCode::FORBIDDEN),
                &h,
                NOW,
                0.5
            ),
            Decision::RetryAfter(Duration::from_secs(2))
        );
    }

    #[test]
    fn a_429_without_headers_waits_a_minute() {
        let p = RetryPolicy::default();
        assert_eq!(
            decide(
                &p,
                1,
                Some(StatusCode::TOO_MANY_REQUESTS),
                &HeaderMap::new(),
                NOW,
                0.1
            ),
            Decision::RetryAfter(Duration::from_secs(60))
        );
    }
}
