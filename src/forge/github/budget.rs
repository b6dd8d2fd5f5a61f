//! The request budget: what the bot may send to GitHub and when, so that it
//! stays inside GitHub's secondary rate limits and waits instead of being
//! refused. Writes are never dropped for budget reasons: they wait.
//!
//! GitHub's published secondary limits (REST docs, "About secondary rate
//! limits" and "Best practices for using the REST API"): at most 100
//! concurrent requests; 900 points a minute for REST (GET/HEAD/OPTIONS 1,
//! POST/PATCH/PUT/DELETE 5) and 2,000 for GraphQL (a query 1, a mutation 5);
//! about 80 content-generating requests a minute and 500 an hour; at least a
//! second between mutating requests; and a refusal that says "secondary rate
//! limit" is waited out (`retry-after`, else `x-ratelimit-reset` when
//! `x-ratelimit-remaining` is 0, else at least a minute, then exponentially).
//! The primary limit (`x-ratelimit-remaining: 0`) holds every request until
//! `x-ratelimit-reset`.
//!
//! The [`Ledger`] decides, as a pure function of the time it is given, when a
//! request may go; [`Budget`] is its async shell (a semaphore for concurrency,
//! sleeps for the rest, metrics and log lines when it holds work back).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

use crate::metrics::Metrics;

/// The bounds the bot keeps to; defaults well under GitHub's published limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Requests in flight at once (GitHub: 100).
    pub concurrency: usize,
    /// REST points a minute (GitHub: 900).
    pub rest_points_per_minute: u32,
    /// GraphQL points a minute (GitHub: 2,000).
    pub graphql_points_per_minute: u32,
    /// Content-creating requests a minute (GitHub: 80).
    pub content_per_minute: u32,
    /// Content-creating requests an hour (GitHub: 500).
    pub content_per_hour: u32,
    /// Least time between two mutating requests (GitHub asks for a second).
    pub write_spacing: Duration,
    /// First wait after a secondary-limit refusal that names no time; it
    /// doubles with each refusal in a row (GitHub: at least a minute).
    pub secondary_backoff: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            concurrency: 8,
            rest_points_per_minute: 600,
            graphql_points_per_minute: 1000,
            content_per_minute: 60,
            content_per_hour: 400,
            write_spacing: Duration::from_secs(1),
            secondary_backoff: Duration::from_secs(60),
        }
    }
}

/// The most a refusal in a row doubles the secondary backoff (2^4 = 16×).
const MAX_BACKOFF_DOUBLINGS: u32 = 4;
/// A point bucket holds a sixth of a minute's budget (ten seconds' worth), so
/// any 60 s window sees at most 7/6 of the budget: 700 of 900 at the default.
const BURST_DIVISOR: f64 = 6.0;
/// Waits shorter than this are routine and logged only at debug level.
const NOTEWORTHY_WAIT: Duration = Duration::from_secs(1);

/// Which API a request spends points from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Rest,
    GraphQl,
}

impl Api {
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Rest => "rest",
            Api::GraphQl => "graphql",
        }
    }
}

/// What one request costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    pub api: Api,
    pub points: u32,
    /// Spaced by `write_spacing`.
    pub mutating: bool,
    /// Counted against the content-creation limits.
    pub content: bool,
}

/// The cost of a request, after GitHub's point table.
///
/// What counts as "content-generating" is not published. Every POST the bot
/// sends creates something people see (a pull request, a comment, a commit
/// status, a release, a label event), and GraphQL mutations may, so all of
/// those count. PATCH, PUT and DELETE edit or remove what exists (a sticky
/// comment, a PR body, a merge, a label): they are spaced like every
/// mutating request but not counted as new content.
pub fn cost(method: &Method, path: &str, body: Option<&serde_json::Value>) -> Cost {
    let graphql = path.split('?').next() == Some("/graphql");
    if graphql {
        let mutation = body
            .and_then(|b| b.get("query"))
            .and_then(|q| q.as_str())
            .is_some_and(|q| q.trim_start().starts_with("mutation"));
        return Cost {
            api: Api::GraphQl,
            points: if mutation { 5 } else { 1 },
            mutating: mutation,
            content: mutation,
        };
    }
    let mutating = matches!(
        *method,
        Method::POST | Method::PATCH | Method::PUT | Method::DELETE
    );
    Cost {
        api: Api::Rest,
        points: if mutating { 5 } else { 1 },
        mutating,
        content: *method == Method::POST,
    }
}

/// Why a request was held back (a metrics label and a word in the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Concurrency,
    Points,
    ContentPerMinute,
    ContentPerHour,
    WriteSpacing,
    SecondaryLimit,
    PrimaryLimit,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Concurrency => "concurrency",
            Reason::Points => "points",
            Reason::ContentPerMinute => "content_per_minute",
            Reason::ContentPerHour => "content_per_hour",
            Reason::WriteSpacing => "write_spacing",
            Reason::SecondaryLimit => "secondary_limit",
            Reason::PrimaryLimit => "primary_limit",
        }
    }
}

/// A token bucket of points: full at start, refilled continuously. A
/// reservation takes its points at once and may leave the bucket in debt;
/// the caller waits until the debt is repaid (as client-go's limiter and
/// `governor` do), so a large request is never starved by small ones.
#[derive(Debug, Clone)]
struct Bucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(per_minute: u32, now: Instant) -> Self {
        let per_minute = f64::from(per_minute.max(1));
        // Room for at least one write, whatever the budget.
        let capacity = (per_minute / BURST_DIVISOR).max(5.0);
        Self {
            capacity,
            per_second: per_minute / 60.0,
            tokens: capacity,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        if now > self.at {
            let gained = now.duration_since(self.at).as_secs_f64() * self.per_second;
            self.tokens = (self.tokens + gained).min(self.capacity);
            self.at = now;
        }
    }

    /// When `points` could be taken without debt.
    fn ready_at(&mut self, points: u32, now: Instant) -> Instant {
        self.refill(now);
        let missing = f64::from(points) - self.tokens;
        if missing <= 0.0 {
            now
        } else {
            now + Duration::from_secs_f64(missing / self.per_second)
        }
    }

    fn take(&mut self, points: u32) {
        self.tokens -= f64::from(points);
    }
}

/// At most `limit` events in any `span`: the times of the last ones, sorted.
#[derive(Debug, Clone)]
struct Window {
    span: Duration,
    limit: u32,
    times: VecDeque<Instant>,
}

impl Window {
    fn new(span: Duration, limit: u32) -> Self {
        Self {
            span,
            limit: limit.max(1),
            times: VecDeque::new(),
        }
    }

    /// The earliest time another event fits.
    fn ready_at(&mut self, now: Instant) -> Instant {
        while self.times.front().is_some_and(|t| *t + self.span <= now) {
            self.times.pop_front();
        }
        let limit = self.limit as usize;
        if self.times.len() < limit {
            return now;
        }
        // The event `limit` places back must have left the window.
        let oldest = self.times[self.times.len() - limit];
        (oldest + self.span).max(now)
    }

    fn record(&mut self, at: Instant) {
        self.times.push_back(at);
    }
}

/// When a request may go, and what held it back if anything did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub at: Instant,
    pub held_by: Option<Reason>,
}

/// The pure core: every limit's state, and the decision of when a request
/// may go. Time is an argument, so every rule is tested with literal instants.
#[derive(Debug, Clone)]
pub struct Ledger {
    limits: Limits,
    rest: Bucket,
    graphql: Bucket,
    content_minute: Window,
    content_hour: Window,
    last_write: Option<Instant>,
    /// Every request waits until then (a rate limit GitHub told us about).
    hold: Option<(Instant, Reason)>,
    /// Secondary-limit refusals in a row, for the exponential backoff.
    secondary_streak: u32,
}

impl Ledger {
    pub fn new(limits: Limits, now: Instant) -> Self {
        Self {
            limits,
            rest: Bucket::new(limits.rest_points_per_minute, now),
            graphql: Bucket::new(limits.graphql_points_per_minute, now),
            content_minute: Window::new(Duration::from_secs(60), limits.content_per_minute),
            content_hour: Window::new(Duration::from_secs(3600), limits.content_per_hour),
            last_write: None,
            hold: None,
            secondary_streak: 0,
        }
    }

    /// Reserve a slot for a request of `cost` asked for at `now`: its points
    /// are taken and its content counted at the slot's time, so requests are
    /// served in the order they asked and nothing is dropped.
    pub fn reserve(&mut self, cost: Cost, now: Instant) -> Slot {
        let mut slot = Slot {
            at: now,
            held_by: None,
        };
        let later = |at: Instant, reason: Reason, slot: &mut Slot| {
            if at > slot.at {
                *slot = Slot {
                    at,
                    held_by: Some(reason),
                };
            }
        };
        let bucket = match cost.api {
            Api::Rest => &mut self.rest,
            Api::GraphQl => &mut self.graphql,
        };
        later(bucket.ready_at(cost.points, now), Reason::Points, &mut slot);
        if cost.content {
            later(
                self.content_minute.ready_at(now),
                Reason::ContentPerMinute,
                &mut slot,
            );
            later(
                self.content_hour.ready_at(now),
                Reason::ContentPerHour,
                &mut slot,
            );
        }
        if cost.mutating
            && let Some(last) = self.last_write
        {
            later(
                last + self.limits.write_spacing,
                Reason::WriteSpacing,
                &mut slot,
            );
        }
        if let Some((until, reason)) = self.hold {
            later(until, reason, &mut slot);
        }
        bucket.take(cost.points);
        if cost.content {
            self.content_minute.record(slot.at);
            self.content_hour.record(slot.at);
        }
        if cost.mutating {
            self.last_write = Some(slot.at);
        }
        slot
    }

    /// A hold that has not ended by `now`, if any.
    pub fn held_until(&self, now: Instant) -> Option<(Instant, Reason)> {
        self.hold.filter(|(until, _)| *until > now)
    }

    /// GitHub refused a request for a secondary limit. `told` is the wait it
    /// named (`retry-after`, or the primary reset when that is spent); without
    /// one, wait `secondary_backoff`, doubled for each refusal in a row.
    /// Returns the wait now imposed on every request.
    pub fn secondary_limit(&mut self, told: Option<Duration>, now: Instant) -> Duration {
        self.secondary_streak = self.secondary_streak.saturating_add(1);
        let wait = told.unwrap_or_else(|| {
            let doublings = (self.secondary_streak - 1).min(MAX_BACKOFF_DOUBLINGS);
            self.limits
                .secondary_backoff
                .saturating_mul(2u32.saturating_pow(doublings))
        });
        self.hold_for(wait, Reason::SecondaryLimit, now);
        wait
    }

    /// The primary limit is spent until `wait` from now.
    pub fn primary_limit(&mut self, wait: Duration, now: Instant) {
        self.hold_for(wait, Reason::PrimaryLimit, now);
    }

    /// An answer that was not a rate limit: the backoff starts over.
    pub fn answered(&mut self) {
        self.secondary_streak = 0;
    }

    fn hold_for(&mut self, wait: Duration, reason: Reason, now: Instant) {
        let until = now + wait;
        if self.hold.is_none_or(|(current, _)| current < until) {
            self.hold = Some((until, reason));
        }
    }
}

/// What a rate-limited answer asks of us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimited {
    /// The hour's requests are spent: wait this long (until the reset).
    Primary(Duration),
    /// A secondary limit: wait what GitHub named, if it named anything.
    Secondary(Option<Duration>),
}

/// Read a 403 or 429 as GitHub's docs describe ("Exceeding the rate limit"):
/// a secondary limit says so in its message (and may carry `retry-after`,
/// or `x-ratelimit-remaining: 0` with a reset); a primary limit has
/// `x-ratelimit-remaining: 0`; a 429 is a rate limit whatever it says. A 403
/// that is none of these is a permission problem: `None`.
pub fn rate_limited(
    status: StatusCode,
    headers: &HeaderMap,
    message: &str,
    now_epoch: u64,
) -> Option<RateLimited> {
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let retry_after = header_u64(headers, "retry-after").map(Duration::from_secs);
    let until_reset = spent_until(headers, now_epoch);
    let says_secondary = {
        let m = message.to_ascii_lowercase();
        m.contains("secondary rate limit") || m.contains("abuse")
    };
    if says_secondary {
        return Some(RateLimited::Secondary(retry_after.or(until_reset)));
    }
    if let Some(wait) = until_reset {
        return Some(RateLimited::Primary(wait));
    }
    if retry_after.is_some() || status == StatusCode::TOO_MANY_REQUESTS {
        return Some(RateLimited::Secondary(retry_after));
    }
    None
}

/// When an answer says the primary limit is spent (`x-ratelimit-remaining:
/// 0`), how long until `x-ratelimit-reset` (one second more: the reset is
/// rounded down to the second).
pub fn spent_until(headers: &HeaderMap, now_epoch: u64) -> Option<Duration> {
    if header_u64(headers, "x-ratelimit-remaining") != Some(0) {
        return None;
    }
    let reset = header_u64(headers, "x-ratelimit-reset").unwrap_or(now_epoch + 60);
    Some(Duration::from_secs(reset.saturating_sub(now_epoch) + 1))
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The async shell around a [`Ledger`], shared by every request of a client.
#[derive(Debug)]
pub struct Budget {
    ledger: Mutex<Ledger>,
    permits: Semaphore,
}

/// Held while a request is in flight.
pub struct Ticket<'a> {
    _permit: Option<SemaphorePermit<'a>>,
}

impl Budget {
    pub fn new(limits: Limits) -> Self {
        Self {
            ledger: Mutex::new(Ledger::new(limits, Instant::now())),
            permits: Semaphore::new(limits.concurrency.max(1)),
        }
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        // A poisoned lock only means a panic elsewhere mid-update; the
        // ledger's numbers are still usable.
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait until a request of `cost` may go; hold the ticket while it is in
    /// flight. `what` names the request in log lines.
    pub async fn admit(&self, cost: Cost, what: &str, metrics: Option<&Metrics>) -> Ticket<'_> {
        let asked = Instant::now();
        // Never closed, so `acquire` cannot fail; without a permit we would
        // still send rather than drop the request.
        let permit = self.permits.acquire().await.ok();
        let queued = asked.elapsed();
        if !queued.is_zero() {
            note_wait(metrics, Reason::Concurrency, queued, what);
        }
        let slot = self.ledger().reserve(cost, Instant::now());
        if let Some(reason) = slot.held_by {
            let wait = slot.at.saturating_duration_since(Instant::now());
            note_wait(metrics, reason, wait, what);
            tokio::time::sleep_until(slot.at).await;
        }
        // A rate limit reported while we waited holds us too.
        loop {
            let held = self.ledger().held_until(Instant::now());
            let Some((until, reason)) = held else { break };
            note_wait(metrics, reason, until - Instant::now(), what);
            tokio::time::sleep_until(until).await;
        }
        if let Some(m) = metrics {
            m.budget_points(cost.api.as_str(), cost.points);
        }
        Ticket { _permit: permit }
    }

    /// GitHub refused for a secondary limit; every request now waits.
    pub fn secondary_limit(&self, told: Option<Duration>) -> Duration {
        self.ledger().secondary_limit(told, Instant::now())
    }

    /// The primary limit is spent for `wait`; every request now waits.
    pub fn primary_limit(&self, wait: Duration) {
        self.ledger().primary_limit(wait, Instant::now());
    }

    /// An answer that was not a rate limit.
    pub fn answered(&self) {
        self.ledger().answered();
    }
}

fn note_wait(metrics: Option<&Metrics>, reason: Reason, wait: Duration, what: &str) {
    if let Some(m) = metrics {
        m.budget_wait(reason.as_str(), wait);
    }
    let secs = wait.as_secs_f64();
    if wait >= NOTEWORTHY_WAIT && !matches!(reason, Reason::WriteSpacing) {
        tracing::info!(
            request = what,
            wait_s = secs,
            reason = reason.as_str(),
            "GitHub request budget: holding a request back"
        );
    } else {
        tracing::debug!(
            request = what,
            wait_s = secs,
            reason = reason.as_str(),
            "GitHub request budget: short wait"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GET: Cost = Cost {
        api: Api::Rest,
        points: 1,
        mutating: false,
        content: false,
    };
    const POST: Cost = Cost {
        api: Api::Rest,
        points: 5,
        mutating: true,
        content: true,
    };
    const PATCH: Cost = Cost {
        api: Api::Rest,
        points: 5,
        mutating: true,
        content: false,
    };

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn limits() -> Limits {
        Limits {
            concurrency: 2,
            rest_points_per_minute: 60,
            graphql_points_per_minute: 120,
            content_per_minute: 3,
            content_per_hour: 5,
            write_spacing: Duration::ZERO,
            secondary_backoff: Duration::from_secs(60),
        }
    }

    #[test]
    fn requests_cost_what_github_charges() {
        let c = cost(&Method::GET, "/repos/a/b/pulls?state=open", None);
        assert_eq!(
            (c.api, c.points, c.mutating, c.content),
            (Api::Rest, 1, false, false)
        );
        let c = cost(&Method::POST, "/repos/a/b/issues/1/comments", None);
        assert_eq!((c.points, c.mutating, c.content), (5, true, true));
        for m in [Method::PATCH, Method::PUT, Method::DELETE] {
            let c = cost(&m, "/repos/a/b/pulls/1/merge", None);
            assert_eq!((c.points, c.mutating, c.content), (5, true, false), "{m}");
        }
        let query = serde_json::json!({"query": "query { viewer { login } }"});
        let c = cost(&Method::POST, "/graphql", Some(&query));
        assert_eq!((c.api, c.points, c.content), (Api::GraphQl, 1, false));
        let mutation = serde_json::json!({"query": "mutation { addComment }"});
        let c = cost(&Method::POST, "/graphql", Some(&mutation));
        assert_eq!((c.api, c.points, c.content), (Api::GraphQl, 5, true));
    }

    #[test]
    fn points_flow_at_the_budget_rate_after_a_ten_second_burst() {
        let t0 = Instant::now();
        let mut l = Ledger::new(limits(), t0);
        // 60 points a minute: a bucket of 10 (ten seconds' worth).
        for _ in 0..10 {
            assert_eq!(l.reserve(GET, t0).at, t0);
        }
        let eleventh = l.reserve(GET, t0);
        assert_eq!(eleventh.held_by, Some(Reason::Points));
        assert_eq!(eleventh.at, t0 + secs(1.0));
        // Reservations queue: the next one a second later still.
        assert_eq!(l.reserve(GET, t0).at, t0 + secs(2.0));
        // Much later the bucket is full again, never fuller.
        let later = t0 + Duration::from_secs(600);
        for _ in 0..10 {
            assert_eq!(l.reserve(GET, later).at, later);
        }
        assert_eq!(l.reserve(GET, later).at, later + secs(1.0));
    }

    #[test]
    fn a_greedy_client_spends_at_most_seven_sixths_of_the_budget_in_any_minute() {
        let t0 = Instant::now();
        let mut l = Ledger::new(Limits::default(), t0);
        // Ask for a GET every 10 ms for three minutes; count where each lands.
        let mut slots = Vec::new();
        for i in 0..18_000u64 {
            slots.push(l.reserve(GET, t0 + Duration::from_millis(10 * i)).at);
        }
        for start in (0..120).map(|s| t0 + Duration::from_secs(s)) {
            let in_minute = slots
                .iter()
                .filter(|at| **at >= start && **at < start + Duration::from_secs(60))
                .count();
            assert!(in_minute <= 700, "{in_minute} points in a minute");
        }
    }

    #[test]
    fn a_write_is_not_starved_by_reads() {
        let t0 = Instant::now();
        let mut l = Ledger::new(limits(), t0);
        for _ in 0..10 {
            l.reserve(GET, t0);
        }
        // The write owes 5 points: it goes in 5 s, and reads after it queue behind.
        let write = l.reserve(PATCH, t0);
        assert_eq!(write.at, t0 + secs(5.0));
        assert_eq!(l.reserve(GET, t0 + secs(1.0)).at, t0 + secs(6.0));
    }

    #[test]
    fn content_is_counted_per_minute_and_per_hour() {
        let t0 = Instant::now();
        let mut l = Ledger::new(
            Limits {
                rest_points_per_minute: 6000,
                ..limits()
            },
            t0,
        );
        // 3 a minute.
        for _ in 0..3 {
            assert_eq!(l.reserve(POST, t0).at, t0);
        }
        let fourth = l.reserve(POST, t0);
        assert_eq!(fourth.held_by, Some(Reason::ContentPerMinute));
        assert_eq!(fourth.at, t0 + Duration::from_secs(60));
        let fifth = l.reserve(POST, t0);
        assert_eq!(fifth.at, t0 + Duration::from_secs(60));
        // 5 an hour: the sixth waits for the first to be an hour old.
        let sixth = l.reserve(POST, t0 + Duration::from_secs(61));
        assert_eq!(sixth.held_by, Some(Reason::ContentPerHour));
        assert_eq!(sixth.at, t0 + Duration::from_secs(3600));
        // Writes keep their order: an edit asked for now goes after it.
        assert_eq!(
            l.reserve(PATCH, t0 + secs(70.0)).at,
            t0 + Duration::from_secs(3600)
        );
        // Edits are not new content: only points and spacing apply to them.
        let mut l = Ledger::new(
            Limits {
                content_per_minute: 1,
                ..limits()
            },
            t0,
        );
        assert_eq!(l.reserve(POST, t0).at, t0);
        assert_eq!(l.reserve(PATCH, t0).at, t0);
        assert_eq!(l.reserve(POST, t0).held_by, Some(Reason::ContentPerMinute));
    }

    #[test]
    fn mutating_requests_are_spaced_reads_are_not() {
        let t0 = Instant::now();
        let mut l = Ledger::new(
            Limits {
                rest_points_per_minute: 6000,
                content_per_minute: 80,
                content_per_hour: 500,
                write_spacing: Duration::from_secs(1),
                ..limits()
            },
            t0,
        );
        assert_eq!(l.reserve(POST, t0).at, t0);
        let second = l.reserve(PATCH, t0);
        assert_eq!(second.held_by, Some(Reason::WriteSpacing));
        assert_eq!(second.at, t0 + secs(1.0));
        assert_eq!(l.reserve(POST, t0 + secs(0.5)).at, t0 + secs(2.0));
        assert_eq!(l.reserve(GET, t0).at, t0, "reads pass writes that wait");
        assert_eq!(l.reserve(POST, t0 + secs(10.0)).at, t0 + secs(10.0));
    }

    #[test]
    fn a_secondary_limit_without_a_time_backs_off_a_minute_then_exponentially() {
        let t0 = Instant::now();
        let mut l = Ledger::new(limits(), t0);
        assert_eq!(l.secondary_limit(None, t0), Duration::from_secs(60));
        let held = l.reserve(GET, t0 + secs(1.0));
        assert_eq!(held.held_by, Some(Reason::SecondaryLimit));
        assert_eq!(held.at, t0 + Duration::from_secs(60));
        let t1 = t0 + Duration::from_secs(60);
        assert_eq!(l.secondary_limit(None, t1), Duration::from_secs(120));
        assert_eq!(l.secondary_limit(None, t1), Duration::from_secs(240));
        for _ in 0..10 {
            l.secondary_limit(None, t1);
        }
        assert_eq!(
            l.secondary_limit(None, t1),
            Duration::from_secs(60 * 16),
            "capped"
        );
        // An answer that is not refused starts the backoff over.
        l.answered();
        assert_eq!(l.secondary_limit(None, t1), Duration::from_secs(60));
    }

    #[test]
    fn a_named_wait_is_respected_and_a_hold_never_shrinks() {
        let t0 = Instant::now();
        let mut l = Ledger::new(limits(), t0);
        assert_eq!(
            l.secondary_limit(Some(Duration::from_secs(5)), t0),
            Duration::from_secs(5)
        );
        l.primary_limit(Duration::from_secs(30), t0);
        assert_eq!(
            l.held_until(t0),
            Some((t0 + Duration::from_secs(30), Reason::PrimaryLimit))
        );
        l.secondary_limit(Some(Duration::from_secs(2)), t0);
        assert_eq!(
            l.held_until(t0 + secs(10.0)),
            Some((t0 + Duration::from_secs(30), Reason::PrimaryLimit))
        );
        assert_eq!(l.held_until(t0 + Duration::from_secs(30)), None);
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn refusals_are_read_the_way_githubs_docs_describe() {
        let secondary = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.";
        let forbidden = StatusCode::FORBIDDEN;
        // Secondary, no headers at all (GitHub sometimes sends none).
        assert_eq!(
            rate_limited(forbidden, &HeaderMap::new(), secondary, NOW),
            Some(RateLimited::Secondary(None))
        );
        // Secondary with retry-after.
        let h = headers(&[("retry-after", "7"), ("x-ratelimit-remaining", "4000")]);
        assert_eq!(
            rate_limited(StatusCode::TOO_MANY_REQUESTS, &h, secondary, NOW),
            Some(RateLimited::Secondary(Some(Duration::from_secs(7))))
        );
        // Secondary with the primary spent: wait until its reset.
        let reset = (NOW + 9).to_string();
        let h = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset),
        ]);
        assert_eq!(
            rate_limited(forbidden, &h, secondary, NOW),
            Some(RateLimited::Secondary(Some(Duration::from_secs(10))))
        );
        // Primary.
        assert_eq!(
            rate_limited(forbidden, &h, "API rate limit exceeded for user ID 1.", NOW),
            Some(RateLimited::Primary(Duration::from_secs(10)))
        );
        // A 429 with nothing is still a limit; a plain 403 is permission.
        assert_eq!(
            rate_limited(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), "", NOW),
            Some(RateLimited::Secondary(None))
        );
        let h = headers(&[("x-ratelimit-remaining", "4999")]);
        assert_eq!(
            rate_limited(forbidden, &h, "Resource not accessible by integration", NOW),
            None
        );
        assert_eq!(
            rate_limited(StatusCode::NOT_FOUND, &HeaderMap::new(), secondary, NOW),
            None
        );
    }

    #[test]
    fn a_spent_primary_limit_is_seen_on_any_answer() {
        let reset = (NOW + 100).to_string();
        let h = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset),
        ]);
        assert_eq!(spent_until(&h, NOW), Some(Duration::from_secs(101)));
        let h = headers(&[("x-ratelimit-remaining", "1")]);
        assert_eq!(spent_until(&h, NOW), None);
    }
}
