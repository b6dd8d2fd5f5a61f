//! Stability signals the demo policy samples: a Prometheus query endpoint and
//! an Alertmanager alert list, in their real APIs' shapes, whose answers a test
//! or the demo sets through `/_sandbox/prometheus` and `/_sandbox/alerts`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::server::Shared;

#[derive(Default)]
pub struct Signals {
    /// query text → value
    metrics: Mutex<BTreeMap<String, f64>>,
    alerts: Mutex<Vec<Value>>,
}

#[derive(Deserialize)]
struct SetMetric {
    query: String,
    value: f64,
}

pub async fn set_metric(State(app): State<Shared>, body: Bytes) -> Response {
    match serde_json::from_slice::<SetMetric>(&body) {
        Ok(m) => {
            if let Ok(mut metrics) = app.signals.metrics.lock() {
                metrics.insert(m.query.trim().to_string(), m.value);
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            format!("expected {{query, value}}: {e}"),
        )
            .into_response(),
    }
}

pub async fn set_alerts(State(app): State<Shared>, body: Bytes) -> Response {
    match serde_json::from_slice::<Vec<Value>>(&body) {
        Ok(list) => {
            if let Ok(mut alerts) = app.signals.alerts.lock() {
                *alerts = list.into_iter().map(complete_alert).collect();
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            format!("expected a list of alerts: {e}"),
        )
            .into_response(),
    }
}

/// Fill the fields Alertmanager v2 always sends, keeping what the caller gave.
fn complete_alert(a: Value) -> Value {
    let now = chrono::Utc::now().to_rfc3339();
    let mut full = json!({
        "labels": {"alertname": "SandboxAlert"},
        "annotations": {},
        "startsAt": now,
        "endsAt": now,
        "updatedAt": now,
        "generatorURL": "",
        "fingerprint": format!("{:016x}", rand::random::<u64>()),
        "receivers": [{"name": "sandbox"}],
        "status": {"state": "active", "silencedBy": [], "inhibitedBy": [], "mutedBy": []}
    });
    if let (Value::Object(target), Value::Object(given)) = (&mut full, a) {
        for (k, v) in given {
            target.insert(k, v);
        }
    }
    full
}

/// `GET|POST /prometheus/api/v1/query?query=...`: an instant vector with the set
/// value, or an empty result when the query is unknown (as Prometheus answers
/// a query that matches no series).
pub async fn query(
    State(app): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let from_form = std::str::from_utf8(&body).ok().and_then(|b| {
        b.split('&')
            .find_map(|kv| kv.strip_prefix("query="))
            .map(form_decode)
    });
    let Some(text) = q.get("query").cloned().or(from_form) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"status": "error", "errorType": "bad_data", "error": "query is required"})),
        )
            .into_response();
    };
    let value = app
        .signals
        .metrics
        .lock()
        .ok()
        .and_then(|m| m.get(text.trim()).copied());
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    let result = match value {
        Some(v) => json!([{"metric": {}, "value": [now, v.to_string()]}]),
        None => json!([]),
    };
    Json(json!({"status": "success", "data": {"resultType": "vector", "result": result}}))
        .into_response()
}

fn form_decode(s: &str) -> String {
    let s = s.replace('+', " ");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(hex) = std::str::from_utf8(&bytes[i + 1..i + 3])
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `GET /alertmanager/api/v2/alerts`: the alerts set for the sandbox.
pub async fn alerts(State(app): State<Shared>) -> Response {
    let list = app
        .signals
        .alerts
        .lock()
        .map(|a| a.clone())
        .unwrap_or_default();
    Json(Value::Array(list)).into_response()
}
