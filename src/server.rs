//! The HTTP face of the bot: GitHub's webhooks in, `/healthz`, `/readyz` and `/metrics` out.
//!
//! A webhook is only a hint to reconcile sooner (the periodic resync sees the
//! same state), so the handler's job is to be safe and fast: check the
//! signature before reading anything, parse into the bot's own [`Event`],
//! hand it to the engine through a bounded queue and answer 202 at once.
//! When the queue is full the event is dropped and counted, still with 202:
//! GitHub does not redeliver failed deliveries by itself, so a 5xx would buy
//! nothing, and the next resync heals the gap.
//!
//! `/healthz` is liveness (the process answers); `/readyz` is readiness: 503
//! with the reason while the policy on the product's main is refused or not
//! read yet. [`serve`] closes connections that do not finish their request
//! headers in time and caps how many are open, so slow clients cannot
//! exhaust descriptors and starve the bot.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::forge::signature;
use crate::forge::webhook::{Event, parse_event};
use crate::metrics::{Metrics, WebhookOutcome};

/// Largest webhook body accepted. GitHub caps payloads at 25 MB, but the
/// events the bot reads are a few tens of KiB; anything near this is not ours.
pub const MAX_WEBHOOK_BODY: usize = 1024 * 1024;

/// How many delivery ids are remembered to drop redeliveries.
const RECENT_DELIVERIES: usize = 4096;

/// Longest `X-GitHub-Delivery` id accepted. GitHub's are GUIDs (36
/// characters); the cap bounds the dedup memory at
/// `RECENT_DELIVERIES * MAX_DELIVERY_ID` bytes whatever strangers send.
pub const MAX_DELIVERY_ID: usize = 128;

/// What the handlers share.
#[derive(Clone)]
pub struct ServerState {
    /// The webhook secret; `None` refuses every webhook (401) and logs why.
    pub secret: Option<Vec<u8>>,
    pub queue: mpsc::Sender<Event>,
    pub metrics: Arc<Metrics>,
    deliveries: Arc<RecentDeliveries>,
}

impl ServerState {
    pub fn new(secret: Option<Vec<u8>>, queue: mpsc::Sender<Event>, metrics: Arc<Metrics>) -> Self {
        Self {
            secret: secret.filter(|s| !s.is_empty()),
            queue,
            metrics,
            deliveries: Arc::new(RecentDeliveries::new(RECENT_DELIVERIES)),
        }
    }
}

/// The bot's routes; the caller may `.merge()` more (the dashboard).
pub fn router(state: ServerState) -> Router {
    Router::new()
        .route(
            "/webhook",
            post(receive_webhook).layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY)),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readiness))
        .route("/metrics", get(render_metrics))
        .with_state(state)
}

/// 200 `ready` once the policy on main was read and parses; 503 with the
/// one-line reason otherwise (the bot may still be working on the last good
/// policy: see the reason).
async fn readiness(State(state): State<ServerState>) -> Response {
    match state.metrics.policy().reason() {
        None => (StatusCode::OK, "ready\n").into_response(),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        )
            .into_response(),
    }
}

async fn render_metrics(State(state): State<ServerState>) -> Response {
    let depth = state.queue.max_capacity() - state.queue.capacity();
    state.metrics.set_queue_depth(depth);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn receive_webhook(
    State(state): State<ServerState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let event_name = header_str(&headers, "x-github-event").unwrap_or("unknown");
    // Until the signature is checked, the event name is a stranger's word:
    // count under `unknown` so strangers cannot grow the metric labels.
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                state.metrics.webhook("unknown", WebhookOutcome::TooLarge);
            }
            tracing::warn!(%status, "webhook body refused: {rejection}");
            return (status, rejection.body_text()).into_response();
        }
    };
    let Some(secret) = state.secret.as_deref() else {
        state
            .metrics
            .webhook("unknown", WebhookOutcome::Unauthorized);
        tracing::warn!(
            "webhook refused: no webhook secret is configured, so no delivery can be trusted"
        );
        return (StatusCode::UNAUTHORIZED, "no webhook secret configured\n").into_response();
    };
    if let Err(e) = signature::verify(secret, &body, header_str(&headers, "x-hub-signature-256")) {
        state
            .metrics
            .webhook("unknown", WebhookOutcome::Unauthorized);
        tracing::warn!("webhook refused: {e}");
        return (StatusCode::UNAUTHORIZED, format!("{e}\n")).into_response();
    }

    let delivery = header_str(&headers, "x-github-delivery").map(str::to_string);
    if let Some(id) = &delivery
        && id.len() > MAX_DELIVERY_ID
    {
        state.metrics.webhook(event_name, WebhookOutcome::Malformed);
        tracing::warn!(len = id.len(), "webhook refused: delivery id too long");
        return (
            StatusCode::BAD_REQUEST,
            format!(
                "X-GitHub-Delivery is {} bytes long; expected at most {MAX_DELIVERY_ID} (GitHub sends a GUID)\n",
                id.len()
            ),
        )
            .into_response();
    }
    // Claimed at the door (check and remember in one step), so a redelivery
    // racing the original is still dropped; given back if this one is refused.
    if let Some(id) = &delivery {
        if !state.deliveries.claim(id) {
            state.metrics.webhook(event_name, WebhookOutcome::Duplicate);
            tracing::debug!(delivery = %id, "webhook redelivery dropped");
            return StatusCode::ACCEPTED.into_response();
        }
    }

    let event = match parse_event(event_name, &body) {
        Ok(Some(event)) => event,
        Ok(None) => {
            state.metrics.webhook(event_name, WebhookOutcome::Ignored);
            tracing::debug!(
                event = event_name,
                "webhook ignored: not an event or action the bot reads"
            );
            return StatusCode::ACCEPTED.into_response();
        }
        Err(e) => {
            forget(&state, delivery);
            state.metrics.webhook(event_name, WebhookOutcome::Malformed);
            tracing::warn!("webhook refused: {e}");
            return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response();
        }
    };

    let description = event.describe();
    match state.queue.try_send(event) {
        Ok(()) => {
            state.metrics.webhook(event_name, WebhookOutcome::Queued);
            tracing::info!(
                delivery = delivery.as_deref().unwrap_or("-"),
                "webhook: {description}"
            );
            StatusCode::ACCEPTED.into_response()
        }
        Err(TrySendError::Full(_)) => {
            state.metrics.webhook(event_name, WebhookOutcome::Dropped);
            tracing::warn!(
                "webhook dropped, the engine's queue is full (the resync will catch up): {description}"
            );
            StatusCode::ACCEPTED.into_response()
        }
        Err(TrySendError::Closed(_)) => {
            forget(&state, delivery);
            state.metrics.webhook(event_name, WebhookOutcome::Dropped);
            tracing::error!("webhook refused: the engine is not running");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the engine is not running\n",
            )
                .into_response()
        }
    }
}

/// How long a client may take to send a request's headers (the first or,
/// on a kept-alive connection, the next) before the connection is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Most connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 512;

/// How [`serve`] protects itself from slow or many clients.
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

/// Serve `app` on `listener` (HTTP/1.1, as GitHub delivers) until `shutdown`
/// resolves, then let the requests in hand finish. A connection that does
/// not complete its request headers within the timeout is closed; at most
/// `max_connections` are open at once.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (open_tx, open_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            _ = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors and the like: pause instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(app.clone());
        let mut stop = stop_rx.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            let stopping = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            let result = tokio::select! {
                result = conn.as_mut() => result,
                () = stopping => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "connection closed: {e}");
            }
            drop(open);
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(open_rx);
    open_tx.closed().await;
}

/// Give back a claimed delivery that was refused, so it may come again.
fn forget(state: &ServerState, delivery: Option<String>) {
    if let Some(id) = delivery {
        state.deliveries.remove(&id);
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A bounded set of the latest delivery ids; the oldest is forgotten first.
struct RecentDeliveries {
    capacity: usize,
    inner: Mutex<(HashSet<String>, VecDeque<String>)>,
}

impl RecentDeliveries {
    fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new((HashSet::new(), VecDeque::new())),
        }
    }

    #[cfg(test)]
    fn contains(&self, id: &str) -> bool {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.0.contains(id)
    }

    /// Remember `id`; `false` when it was already there.
    fn claim(&self, id: &str) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (set, order) = &mut *inner;
        if !set.insert(id.to_string()) {
            return false;
        }
        order.push_back(id.to_string());
        while set.len() > self.capacity {
            match order.pop_front() {
                Some(oldest) => {
                    set.remove(&oldest);
                }
                None => break,
            }
        }
        true
    }

    fn remove(&self, id: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (set, order) = &mut *inner;
        if set.remove(id) {
            order.retain(|o| o != id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_deliveries_forget_the_oldest_when_full() {
        let r = RecentDeliveries::new(2);
        assert!(r.claim("a"));
        assert!(r.claim("b"));
        assert!(!r.claim("a"), "a second claim of the same delivery");
        assert!(r.claim("c"));
        assert!(!r.contains("a"));
        assert!(r.contains("b") && r.contains("c"));
        r.remove("b");
        assert!(r.claim("b"), "a forgotten delivery may come again");
    }
}
