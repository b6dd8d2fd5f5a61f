//! Webhook delivery, as GitHub does it: a JSON body signed with HMAC-SHA256,
//! sent once in the background. The API never waits for a delivery, and a
//! failed one is logged and dropped (GitHub does not retry either).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::mpsc;

/// Where deliveries go; changeable while running because the bot may start later.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub url: Option<String>,
    pub secret: Option<String>,
}

/// One event waiting to be sent.
#[derive(Debug)]
pub struct Delivery {
    pub event: &'static str,
    pub payload: Value,
}

/// The sending side, cloned into every handler.
#[derive(Clone)]
pub struct Hooks {
    queue: mpsc::UnboundedSender<Delivery>,
    target: Arc<RwLock<Target>>,
}

impl Hooks {
    /// Start the delivery task. It stops when every `Hooks` is dropped.
    pub fn start(target: Target) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let target = Arc::new(RwLock::new(target));
        let task = tokio::spawn(deliver_all(rx, target.clone()));
        (Self { queue: tx, target }, task)
    }

    pub fn set_target(&self, target: Target) {
        if let Ok(mut t) = self.target.write() {
            *t = target;
        }
    }

    /// Queue an event; returns at once.
    pub fn send(&self, event: &'static str, payload: Value) {
        let configured = self.target.read().map(|t| t.url.is_some()).unwrap_or(false);
        if configured {
            // The receiver only goes away at shutdown, when losing events is fine.
            let _ = self.queue.send(Delivery { event, payload });
        }
    }
}

async fn deliver_all(mut rx: mpsc::UnboundedReceiver<Delivery>, target: Arc<RwLock<Target>>) {
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
        let mut req = client
            .post(&url)
            .header("Content-Type", "application/json")
            .header("X-GitHub-Event", d.event)
            .header("X-GitHub-Delivery", delivery_id())
            .header("X-GitHub-Hook-ID", "1");
        if let Some(secret) = &secret {
            req = req.header("X-Hub-Signature-256", sign(secret.as_bytes(), &body));
        }
        match req.body(body).send().await {
            Ok(r) if r.status().is_success() => {
                tracing::debug!("webhook {} delivered: {}", d.event, r.status());
            }
            Ok(r) => tracing::warn!("webhook {} refused by {url}: {}", d.event, r.status()),
            Err(e) => tracing::warn!("webhook {} to {url} failed: {e}", d.event),
        }
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
