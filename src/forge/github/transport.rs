//! One exchange with the GitHub API, done well: relative URLs (so octocrab
//! adds credentials only for the configured API root), the request
//! [`Budget`] before every attempt (and its waits after a rate-limit
//! refusal), retries by [`retry::decide`], conditional GETs from the
//! [`EtagCache`], `Link` pagination, a metrics count per answer, and error
//! messages without secrets.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Method, StatusCode, header};
use octocrab::Octocrab;
use serde::de::DeserializeOwned;

use super::budget::{self, Budget, Limits, RateLimited};
use super::etag::{CachedPage, EtagCache};
use super::installation::InstallationTokens;
use super::models::WireError;
use super::paths;
use super::retry::{self, Decision, RetryPolicy};
use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// Pages followed at most in one listing: 100 pages of 100 items is far more
/// than any list the bot reads, and it bounds a server that links in circles.
const MAX_PAGES: usize = 100;

/// An answer with its body read.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Arc<str>,
}

impl Answer {
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T> {
        serde_json::from_str(&self.body)
            .map_err(|e| Error::world(format!("GitHub {what}: unexpected answer ({e})")))
    }

    /// GitHub's own explanation of an error answer, if it gave one.
    pub fn message(&self) -> String {
        serde_json::from_str::<WireError>(&self.body)
            .ok()
            .and_then(|e| e.message)
            .unwrap_or_default()
    }
}

pub struct Transport {
    crab: Octocrab,
    base: http::Uri,
    cache: EtagCache,
    policy: RetryPolicy,
    budget: Budget,
    metrics: Option<Arc<Metrics>>,
    /// Secrets to scrub from any message, should a server ever echo them.
    secrets: Vec<String>,
    /// A GitHub App's installation tokens, sent with each request (octocrab
    /// carries a personal token itself).
    tokens: Option<Arc<InstallationTokens>>,
}

/// Pages whose ETag is remembered. A resync reads every URL of a pass again,
/// in the same order, so a cache smaller than one pass evicts each page just
/// before it is needed and every conditional request misses: a pass reads
/// about two lists per component and four per open product PR (1,000
/// components and 200 PRs: ~2,800 pages). Most pages are small lists.
const ETAG_PAGES: usize = 32 * 1024;

impl Transport {
    pub fn new(crab: Octocrab, base: http::Uri, secrets: Vec<String>) -> Self {
        Self {
            crab,
            base,
            cache: EtagCache::new(ETAG_PAGES),
            policy: RetryPolicy::default(),
            budget: Budget::new(Limits::default()),
            metrics: None,
            secrets: secrets.into_iter().filter(|s| !s.is_empty()).collect(),
            tokens: None,
        }
    }

    /// Authenticate as a GitHub App's installation: each request carries
    /// its current token, and a 401 renews the token once and sends again.
    pub fn set_installation(&mut self, tokens: Arc<InstallationTokens>) {
        self.tokens = Some(tokens);
    }

    /// The conditional-GET cache, to save and load across restarts.
    pub fn cache(&self) -> &EtagCache {
        &self.cache
    }

    pub fn set_policy(&mut self, policy: RetryPolicy) {
        self.policy = policy;
    }

    pub fn set_budget(&mut self, limits: Limits) {
        self.budget = Budget::new(limits);
    }

    pub fn set_metrics(&mut self, metrics: Arc<Metrics>) {
        self.metrics = Some(metrics);
    }

    /// Send one request (retrying as the policy says) and read the answer.
    /// GETs are conditional: a 304 comes back as the cached 200.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer> {
        let family = paths::family(path);
        let cached = (method == Method::GET)
            .then(|| self.cache.get(path))
            .flatten();
        let cost = budget::cost(&method, path, body);
        let what = format!("{method} {path}");
        let mut attempt = 0u32;
        let mut renewed = false;
        loop {
            attempt += 1;
            let _ticket = self
                .budget
                .admit(cost, &what, self.metrics.as_deref())
                .await;
            // Taken after the budget's wait, so it is fresh when it is sent.
            let token = match &self.tokens {
                Some(tokens) => Some(tokens.current().await?),
                None => None,
            };
            let mut builder = http::Request::builder()
                .method(method.clone())
                .uri(path)
                .header(header::ACCEPT, "application/vnd.github+json")
                .header(header::USER_AGENT, "stagecoach");
            if let Some(token) = &token {
                let mut value =
                    http::HeaderValue::from_str(&format!("token {token}")).map_err(|_| {
                        self.world(
                            &method,
                            path,
                            "the installation token is not a header value",
                        )
                    })?;
                value.set_sensitive(true);
                builder = builder.header(header::AUTHORIZATION, value);
            }
            if let Some(page) = &cached {
                builder = builder.header(header::IF_NONE_MATCH, page.etag.as_str());
            }
            let outcome = match self.crab.build_request(builder, body) {
                Ok(request) => self.crab.execute(request).await,
                Err(e) => return Err(self.world(&method, path, &format!("bad request: {e}"))),
            };
            let response = match outcome {
                Ok(response) => response,
                Err(e) => {
                    self.count(&family, "error");
                    if let Decision::RetryAfter(wait) =
                        self.decide(&method, attempt, None, &HeaderMap::new())
                    {
                        tracing::debug!(%method, path, attempt, ?wait, "GitHub unreachable, retrying");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err(self.world(&method, path, &format!("no answer: {e}")));
                }
            };
            let (parts, response_body) = response.into_parts();
            let status = parts.status;
            let headers = parts.headers;
            // A connection cut mid-answer is no answer at all: retried like one.
            let text = match self
                .crab
                .body_to_string(http::Response::new(response_body))
                .await
            {
                Ok(text) => text,
                Err(e) => {
                    self.count(&family, "error");
                    if let Decision::RetryAfter(wait) =
                        self.decide(&method, attempt, None, &HeaderMap::new())
                    {
                        tracing::debug!(%method, path, attempt, ?wait, "GitHub answer cut off, retrying");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err(self.world(&method, path, &format!("answer cut off: {e}")));
                }
            };
            self.count(&family, status.as_str());
            if status == StatusCode::UNAUTHORIZED
                && !renewed
                && let (Some(tokens), Some(token)) = (&self.tokens, &token)
            {
                // Revoked, or expired early by a clock that disagrees with
                // GitHub's: refused before anything was done, so sending it
                // again with a new token is safe even for a POST. Once only.
                tracing::warn!(%method, path, "GitHub refused the installation token; minting a new one");
                renewed = true;
                tokens.refused(token).await?;
                attempt -= 1;
                continue;
            }
            if let Some(limited) = self.rate_limited(status, &headers, &text) {
                // Refused before it was done, so sending it again is safe even
                // for a POST; and a rate-limited attempt does not count
                // against the retry bounds: writes wait, they are not dropped.
                let (kind, wait) = match limited {
                    RateLimited::Primary(wait) => {
                        self.budget.primary_limit(wait);
                        ("primary", wait)
                    }
                    RateLimited::Secondary(told) => {
                        ("secondary", self.budget.secondary_limit(told))
                    }
                };
                if let Some(m) = &self.metrics {
                    m.rate_limited(kind);
                }
                tracing::warn!(%method, path, %status, kind, wait_s = wait.as_secs_f64(), "GitHub rate limit: holding every request, then retrying");
                attempt -= 1;
                continue;
            }
            self.budget.answered();
            if let Some(wait) = budget::spent_until(&headers, epoch_now()) {
                // The last request of the hour went through: hold the next
                // ones until the reset rather than have them refused.
                tracing::warn!(
                    wait_s = wait.as_secs_f64(),
                    "GitHub primary rate limit spent: holding requests until its reset"
                );
                self.budget.primary_limit(wait);
            }
            match self.decide(&method, attempt, Some(status), &headers) {
                Decision::RetryAfter(wait) => {
                    tracing::warn!(%method, path, %status, attempt, ?wait, "GitHub asked us to wait, retrying");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Decision::GiveUp(reason) => {
                    return Err(self.world(&method, path, &format!("{status}: {reason}")));
                }
                Decision::Done => {}
            }
            if status == StatusCode::NOT_MODIFIED {
                if let Some(page) = cached {
                    let mut headers = headers;
                    if let Some(link) = page.link.as_deref().and_then(|l| l.parse().ok()) {
                        headers.insert(header::LINK, link);
                    }
                    return Ok(Answer {
                        status: StatusCode::OK,
                        headers,
                        body: page.body,
                    });
                }
            }
            let body: Arc<str> = Arc::from(text);
            if method == Method::GET && status == StatusCode::OK {
                if let Some(etag) = headers.get(header::ETAG).and_then(|v| v.to_str().ok()) {
                    let link = headers
                        .get(header::LINK)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    self.cache.put(
                        path,
                        CachedPage {
                            etag: etag.to_string(),
                            body: body.clone(),
                            link,
                        },
                    );
                }
            }
            return Ok(Answer {
                status,
                headers,
                body,
            });
        }
    }

    /// A request that must succeed (2xx); anything else is an error naming
    /// the request, the status and GitHub's message.
    pub async fn expect_ok(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer> {
        let answer = self.send(method.clone(), path, body).await?;
        if answer.status.is_success() {
            Ok(answer)
        } else {
            Err(self.failed(&method, path, &answer))
        }
    }

    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let answer = self.expect_ok(Method::GET, path, None).await?;
        answer.json(path)
    }

    /// Every item of a paginated list, following `Link: rel="next"`, stopping
    /// early once `limit` items are in hand.
    pub async fn get_all<T: DeserializeOwned>(&self, first: &str, limit: usize) -> Result<Vec<T>> {
        let mut items = Vec::new();
        let mut next = Some(first.to_string());
        let mut pages = 0;
        while let Some(path) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(Error::world(format!(
                    "GitHub GET {first}: more than {MAX_PAGES} pages; refusing to read further"
                )));
            }
            let answer = self.expect_ok(Method::GET, &path, None).await?;
            let page: Vec<T> = answer.json(&path)?;
            items.extend(page);
            if items.len() >= limit {
                items.truncate(limit);
                break;
            }
            next = answer
                .headers
                .get(header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| paths::next_page(l, &self.base));
        }
        Ok(items)
    }

    pub fn failed(&self, method: &Method, path: &str, answer: &Answer) -> Error {
        let message = answer.message();
        let detail = if message.is_empty() {
            answer.status.to_string()
        } else {
            format!(
                "{}: {}",
                answer.status,
                message.chars().take(200).collect::<String>()
            )
        };
        self.world(method, path, &detail)
    }

    fn world(&self, method: &Method, path: &str, detail: &str) -> Error {
        let mut text = format!("GitHub {method} {path}: {detail}");
        for secret in &self.secrets {
            text = text.replace(secret.as_str(), "<redacted>");
        }
        Error::world(text)
    }

    fn decide(
        &self,
        method: &Method,
        attempt: u32,
        status: Option<StatusCode>,
        headers: &HeaderMap,
    ) -> Decision {
        let jitter: f64 = rand::random();
        retry::decide_for(
            method,
            &self.policy,
            attempt,
            status,
            headers,
            epoch_now(),
            jitter,
        )
    }

    fn rate_limited(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        text: &str,
    ) -> Option<RateLimited> {
        if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
            return None;
        }
        let message = serde_json::from_str::<WireError>(text)
            .ok()
            .and_then(|e| e.message)
            .unwrap_or_default();
        budget::rate_limited(status, headers, &message, epoch_now())
    }

    fn count(&self, family: &str, status: &str) {
        if let Some(m) = &self.metrics {
            m.github_request(family, status);
        }
    }
}

/// The current Unix time in seconds (what `x-ratelimit-reset` is written in).
fn epoch_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
