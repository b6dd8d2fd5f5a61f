//! Webhook delivery, as GitHub does it: a JSON body signed with HMAC-SHA256,
//! sent once in the background (the API never waits for a delivery, and
//! GitHub does not retry either), and a list of recent deliveries with their
//! outcome, as GitHub keeps one per hook
//! (`GET /orgs/{org}/hooks/{hook_id}/deliveries`). A failed delivery is
//! logged as an error naming where it went, so a bot listening elsewhere is
//! noticed at the first event, not after a silent afternoon.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::{mpsc, oneshot};

use super::server::Shared;

/// The one hook the sandbox has: an organisation hook of `acme` covering
/// every repository (`X-GitHub-Hook-ID`).
pub const HOOK_ID: u64 = 1;
/// Recent deliveries kept, payloads included (GitHub keeps a few days' worth).
const KEPT: usize = 500;
/// How much of a receiver's answer a delivery record keeps.
const RESPONSE_BYTES: usize = 2048;

/// Where deliveries go; changeable while running because the bot may start later.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub url: Option<String>,
    pub secret: Option<String>,
}

/// One event waiting to be sent; `done` hears its outcome when someone waits.
#[derive(Debug)]
pub struct Delivery {
    pub event: &'static str,
    pub payload: Value,
    done: Option<oneshot::Sender<DeliveryRecord>>,
}

/// One delivery and how it went, as GitHub shows it in a hook's "Recent
/// Deliveries" (`hook-delivery`).
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub id: u64,
    /// The `X-GitHub-Delivery` GUID.
    pub guid: String,
    pub event: String,
    pub action: Option<String>,
    pub url: String,
    pub delivered_at: DateTime<Utc>,
    /// Seconds the receiver took.
    pub duration: f64,
    /// The receiver's HTTP status; 0 when there was no HTTP answer at all.
    pub status_code: u16,
    /// `OK`, `Invalid HTTP Response: 404`, or why nothing answered.
    pub status: String,
    pub repository_id: Option<u64>,
    pub request_headers: BTreeMap<String, String>,
    pub payload: Value,
    /// The start of the receiver's answer.
    pub response: String,
}

impl DeliveryRecord {
    pub fn delivered(&self) -> bool {
        (200..300).contains(&self.status_code)
    }

    /// GitHub's `hook-delivery-item`: a list entry.
    pub fn summary_json(&self) -> Value {
        json!({
            "id": self.id,
            "guid": self.guid,
            "delivered_at": self.delivered_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            "redelivery": false,
            "duration": self.duration,
            "status": self.status,
            "status_code": self.status_code,
            "event": self.event,
            "action": self.action,
            "installation_id": null,
            "repository_id": self.repository_id,
            "throttled_at": null
        })
    }

    /// GitHub's `hook-delivery`: one delivery with its request and response.
    pub fn detail_json(&self) -> Value {
        let mut v = self.summary_json();
        v["url"] = json!(self.url);
        v["request"] = json!({"headers": self.request_headers, "payload": self.payload});
        v["response"] = json!({"headers": {}, "payload": self.response});
        v
    }
}

/// The sending side, cloned into every handler.
#[derive(Clone)]
pub struct Hooks {
    queue: mpsc::UnboundedSender<Delivery>,
    target: Arc<RwLock<Target>>,
    log: Arc<Mutex<VecDeque<DeliveryRecord>>>,
    /// The sandbox's API URL, for the hook's own URLs.
    api: String,
    /// When the hook was made (the sandbox started).
    since: DateTime<Utc>,
}

impl Hooks {
    /// Start the delivery task. It stops when every `Hooks` is dropped.
    pub fn start(target: Target, api: &str) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let target = Arc::new(RwLock::new(target));
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let task = tokio::spawn(deliver_all(rx, target.clone(), log.clone()));
        (
            Self {
                queue: tx,
                target,
                log,
                api: api.to_string(),
                since: Utc::now(),
            },
            task,
        )
    }

    pub fn set_target(&self, target: Target) {
        if let Ok(mut t) = self.target.write() {
            *t = target;
        }
    }

    /// Where deliveries go now.
    pub fn url(&self) -> Option<String> {
        self.target.read().ok().and_then(|t| t.url.clone())
    }

    /// Queue an event; returns at once.
    pub fn send(&self, event: &'static str, payload: Value) {
        if self.url().is_some() {
            // The receiver only goes away at shutdown, when losing events is fine.
            let _ = self.queue.send(Delivery {
                event,
                payload,
                done: None,
            });
        }
    }

    /// Send GitHub's `ping` (what GitHub sends when a hook is made) and wait
    /// for its outcome; `None` when no target is set.
    pub async fn ping(&self) -> Option<DeliveryRecord> {
        self.url()?;
        let (done, outcome) = oneshot::channel();
        let payload = json!({
            "zen": "Keep it logically awesome.",
            "hook_id": HOOK_ID,
            "hook": self.hook_json(),
        });
        self.queue
            .send(Delivery {
                event: "ping",
                payload,
                done: Some(done),
            })
            .ok()?;
        outcome.await.ok()
    }

    /// The hook as GitHub describes an organisation hook (`org-hook`).
    fn hook_json(&self) -> Value {
        let base = format!("{}/orgs/{}/hooks/{HOOK_ID}", self.api, super::world::OWNER);
        let since = self.since.to_rfc3339_opts(SecondsFormat::Secs, true);
        json!({
            "type": "Organization",
            "id": HOOK_ID,
            "name": "web",
            "active": true,
            "events": ["*"],
            "config": {"content_type": "json", "insecure_ssl": "0", "url": self.url()},
            "url": base,
            "ping_url": format!("{base}/pings"),
            "deliveries_url": format!("{base}/deliveries"),
            "created_at": since,
            "updated_at": since
        })
    }

    /// The deliveries kept, newest first.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.log
            .lock()
            .map(|log| log.iter().rev().cloned().collect())
            .unwrap_or_default()
    }
}

async fn deliver_all(
    mut rx: mpsc::UnboundedReceiver<Delivery>,
    target: Arc<RwLock<Target>>,
    log: Arc<Mutex<VecDeque<DeliveryRecord>>>,
) {
    let client = match crate::engine::http::client_builder()
        .timeout(Duration::from_secs(10))
        .user_agent("GitHub-Hookshot/sandbox")
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("sandbox webhooks disabled: cannot build an HTTP client: {e}");
            return;
        }
    };
    let mut next_id: u64 = 1;
    while let Some(d) = rx.recv().await {
        let Target { url, secret } = match target.read() {
            Ok(t) => t.clone(),
            Err(_) => continue,
        };
        let Some(url) = url else { continue };
        let body = match serde_json::to_vec(&d.payload) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("webhook {}: cannot encode payload: {e}", d.event);
                continue;
            }
        };
        let guid = delivery_id();
        let mut headers = BTreeMap::from([
            ("Accept".to_string(), "*/*".to_string()),
            ("Content-Type".to_string(), "application/json".to_string()),
            (
                "User-Agent".to_string(),
                "GitHub-Hookshot/sandbox".to_string(),
            ),
            ("X-GitHub-Delivery".to_string(), guid.clone()),
            ("X-GitHub-Event".to_string(), d.event.to_string()),
            ("X-GitHub-Hook-ID".to_string(), HOOK_ID.to_string()),
            (
                "X-GitHub-Hook-Installation-Target-Type".to_string(),
                "organization".to_string(),
            ),
        ]);
        if let Some(secret) = &secret {
            headers.insert(
                "X-Hub-Signature-256".to_string(),
                sign(secret.as_bytes(), &body),
            );
        }
        let mut req = client.post(&url);
        for (k, v) in &headers {
            if k != "User-Agent" && k != "Accept" {
                req = req.header(k.as_str(), v.as_str());
            }
        }
        let started = Instant::now();
        let (status_code, status, response) = match req.body(body).send().await {
            Ok(r) => {
                let code = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                let status = if (200..300).contains(&code) {
                    "OK".to_string()
                } else {
                    format!("Invalid HTTP Response: {code}")
                };
                (code, status, text.chars().take(RESPONSE_BYTES).collect())
            }
            Err(e) => (0, unreachable_reason(&e), String::new()),
        };
        let record = DeliveryRecord {
            id: next_id,
            guid,
            event: d.event.to_string(),
            action: d.payload["action"].as_str().map(str::to_string),
            url: url.clone(),
            delivered_at: Utc::now(),
            duration: started.elapsed().as_secs_f64(),
            status_code,
            status,
            repository_id: d.payload["repository"]["id"].as_u64(),
            request_headers: headers,
            payload: d.payload,
            response,
        };
        next_id += 1;
        if record.delivered() {
            tracing::debug!(
                "webhook {} delivered to {url}: {}",
                record.event,
                record.status
            );
        } else {
            tracing::error!(
                "webhook {} to {url} FAILED ({}): the bot does not get it; is `stagecoach serve` \
                 listening there? (its `server.listen` and the sandbox's `--webhook-url` must agree)",
                record.event,
                record.status
            );
        }
        if let Ok(mut log) = log.lock() {
            log.push_back(record.clone());
            while log.len() > KEPT {
                log.pop_front();
            }
        }
        if let Some(done) = d.done {
            let _ = done.send(record);
        }
    }
}

/// Why no HTTP answer came, in the words GitHub's delivery log uses.
fn unreachable_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "failed to connect to host".to_string()
    } else {
        format!("request failed: {e}")
    }
}

/// `sha256=<hex>` of the body, GitHub's `X-Hub-Signature-256`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        // HMAC takes keys of any length; this arm cannot be reached.
        Err(_) => return String::from("sha256="),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A GUID-shaped delivery id, like GitHub's.
fn delivery_id() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"})),
    )
        .into_response()
}

/// `GET /orgs/{org}/hooks/{hook_id}/deliveries?per_page=&cursor=`: the hook's
/// recent deliveries, newest first, paged by cursor as GitHub does (a
/// `Link: <...>; rel="next"` header while more remain).
pub async fn list_deliveries(
    State(app): State<Shared>,
    Path((org, hook)): Path<(String, u64)>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if org != super::world::OWNER || hook != HOOK_ID {
        return not_found();
    }
    let per_page = q
        .get("per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let after: Option<u64> = q.get("cursor").and_then(|c| c.parse().ok());
    let all = app.hooks.deliveries();
    let page: Vec<&DeliveryRecord> = all
        .iter()
        .filter(|d| after.is_none_or(|a| d.id < a))
        .take(per_page + 1)
        .collect();
    let more = page.len() > per_page;
    let page = &page[..page.len().min(per_page)];
    let body = Value::Array(page.iter().map(|d| d.summary_json()).collect());
    let mut response = axum::Json(body).into_response();
    if more && let Some(last) = page.last() {
        let link = format!(
            "<{}/orgs/{org}/hooks/{hook}/deliveries?per_page={per_page}&cursor={}>; rel=\"next\"",
            app.urls.api, last.id
        );
        if let Ok(v) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, v);
        }
    }
    response
}

/// `GET /orgs/{org}/hooks/{hook_id}/deliveries/{delivery_id}`: one delivery
/// with the request sent and the answer received.
pub async fn get_delivery(
    State(app): State<Shared>,
    Path((org, hook, id)): Path<(String, u64, u64)>,
) -> Response {
    if org != super::world::OWNER || hook != HOOK_ID {
        return not_found();
    }
    match app.hooks.deliveries().into_iter().find(|d| d.id == id) {
        Some(d) => axum::Json(d.detail_json()).into_response(),
        None => not_found(),
    }
}
