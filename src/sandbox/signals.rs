//! Stability signals the demo policy samples: a Prometheus query endpoint and
//! an Alertmanager alert list answering in the real APIs' shapes (checked
//! against real Prometheus and Alertmanager by tests/real_signals_standins.rs),
//! whose answers a test or the demo sets through `/_sandbox/prometheus` and
//! `/_sandbox/alerts`.
//!
//! Prometheus: each query (compared without whitespace, which PromQL ignores)
//! answers an instant vector of labelled series or a scalar; values are
//! rendered as Prometheus renders them (`"0.02"`, `"NaN"`, `"+Inf"`); a query
//! nobody set answers an empty vector, and one whose brackets do not balance
//! a `bad_data` error, as Prometheus does. Alertmanager: `GET /api/v2/alerts`
//! applies the `active`, `silenced`, `inhibited`, `unprocessed` and `filter`
//! parameters as Alertmanager does, and never lists an alert whose `endsAt`
//! has passed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::server::Shared;

/// How long an alert whose setter gave no `endsAt` stays firing past each
/// answer: Alertmanager's default `resolve_timeout`.
const RESOLVE_TIMEOUT_MINUTES: i64 = 5;

#[derive(Default)]
pub struct Signals {
    /// Query (without whitespace) → its answer.
    metrics: Mutex<BTreeMap<String, Answer>>,
    alerts: Mutex<Vec<Value>>,
}

/// What one PromQL query answers.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    /// An instant vector: one sample per labelled series.
    Vector(Vec<(BTreeMap<String, String>, f64)>),
    Scalar(f64),
}

/// `POST /_sandbox/prometheus`: `{query, value}` (one series without labels,
/// as `sum(...)` answers), `{query, series: [{metric: {..}, value}]}`,
/// `{query, scalar}`, or `{query}` alone to forget the query. A value is a
/// number or one of Prometheus's `"NaN"`, `"+Inf"`, `"-Inf"`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetMetric {
    query: String,
    value: Option<Value>,
    series: Option<Vec<SetSeries>>,
    scalar: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: Value,
}

pub async fn set_metric(State(app): State<Shared>, body: Bytes) -> Response {
    let expected = "expected {query, value} or {query, series: [{metric, value}]} or {query, scalar}, \
                    values numbers or \"NaN\", \"+Inf\", \"-Inf\"";
    let set = match serde_json::from_slice::<SetMetric>(&body) {
        Ok(set) => set,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{expected}: {e}")).into_response(),
    };
    let answer = match (set.value, set.series, set.scalar) {
        (Some(v), None, None) => {
            sample_value(&v).map(|v| Some(Answer::Vector(vec![(BTreeMap::new(), v)])))
        }
        (None, Some(series), None) => series
            .iter()
            .map(|s| sample_value(&s.value).map(|v| (s.metric.clone(), v)))
            .collect::<Option<Vec<_>>>()
            .map(|s| Some(Answer::Vector(s))),
        (None, None, Some(v)) => sample_value(&v).map(|v| Some(Answer::Scalar(v))),
        (None, None, None) => Some(None),
        _ => None,
    };
    let Some(answer) = answer else {
        return (StatusCode::BAD_REQUEST, expected.to_string()).into_response();
    };
    if let Ok(mut metrics) = app.signals.metrics.lock() {
        let key = normalise_query(&set.query);
        match answer {
            Some(answer) => metrics.insert(key, answer),
            None => metrics.remove(&key),
        };
    }
    StatusCode::NO_CONTENT.into_response()
}

/// A sample value as given to the sandbox: a JSON number, or a string
/// Prometheus would print (`"NaN"`, `"+Inf"`, `"0.5"`).
fn sample_value(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok(),
        _ => None,
    }
}

/// PromQL ignores whitespace between tokens (string literals aside, which the
/// demo's queries do not need), so `sum(rate(x[5m]))` and `sum( rate(x[5m]) )`
/// are one query.
fn normalise_query(q: &str) -> String {
    q.chars().filter(|c| !c.is_whitespace()).collect()
}

/// A value as Prometheus prints it: the shortest decimal that reads back the
/// same (Go's `strconv.FormatFloat(v, 'f', -1, 64)`), `NaN`, `+Inf`, `-Inf`.
fn prometheus_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        v.to_string()
    }
}

/// Why Prometheus would refuse to parse `q`, for the few mistakes worth
/// catching here: nothing to evaluate, or brackets and quotes that do not
/// balance.
fn parse_error(q: &str) -> Option<String> {
    if q.trim().is_empty() {
        return Some("1:1: parse error: no expression found in input".into());
    }
    let mut open = Vec::new();
    let mut quote: Option<char> = None;
    for (i, c) in q.chars().enumerate() {
        if let Some(qc) = quote {
            if c == qc {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' | '{' | '[' => open.push(c),
            ')' | '}' | ']' => {
                let want = match c {
                    ')' => '(',
                    '}' => '{',
                    _ => '[',
                };
                if open.pop() != Some(want) {
                    return Some(format!("1:{}: parse error: unexpected {c:?}", i + 1));
                }
            }
            _ => {}
        }
    }
    if quote.is_some() {
        return Some("parse error: unterminated quoted string".into());
    }
    match open.last() {
        Some('(') => Some("parse error: unclosed left parenthesis".into()),
        Some('{') => Some("parse error: unclosed left brace".into()),
        Some(_) => Some("parse error: unclosed left bracket".into()),
        None => None,
    }
}

fn bad_data(error: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"status": "error", "errorType": "bad_data", "error": error})),
    )
        .into_response()
}

/// `GET|POST /prometheus/api/v1/query?query=...`: Prometheus's instant query.
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
        return bad_data(
            "invalid parameter \"query\": unknown position: parse error: no expression found in input",
        );
    };
    if let Some(error) = parse_error(&text) {
        return bad_data(&format!("invalid parameter \"query\": {error}"));
    }
    let answer = app
        .signals
        .metrics
        .lock()
        .ok()
        .and_then(|m| m.get(&normalise_query(&text)).cloned());
    let now = Utc::now().timestamp_millis() as f64 / 1000.0;
    let data = match answer {
        Some(Answer::Scalar(v)) => {
            json!({"resultType": "scalar", "result": [now, prometheus_value(v)]})
        }
        Some(Answer::Vector(series)) => json!({
            "resultType": "vector",
            "result": series
                .iter()
                .map(|(metric, v)| json!({"metric": metric, "value": [now, prometheus_value(*v)]}))
                .collect::<Vec<_>>()
        }),
        None => json!({"resultType": "vector", "result": []}),
    };
    Json(json!({"status": "success", "data": data})).into_response()
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

/// `POST /_sandbox/alerts`: the alerts Alertmanager holds from now on, each
/// as Alertmanager lists them (`labels`, and optionally `status` with
/// `silencedBy`/`inhibitedBy`, `startsAt`, `endsAt`, ...).
pub async fn set_alerts(State(app): State<Shared>, body: Bytes) -> Response {
    match serde_json::from_slice::<Vec<Value>>(&body) {
        Ok(list) if list.iter().all(Value::is_object) => {
            if let Ok(mut alerts) = app.signals.alerts.lock() {
                *alerts = list;
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(_) => (StatusCode::BAD_REQUEST, "expected a list of alert objects").into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            format!("expected a list of alerts: {e}"),
        )
            .into_response(),
    }
}

/// An alert as Alertmanager v2 lists it (`gettableAlert`), from what the
/// caller set: its fields kept, the others filled, and `status.state`
/// following its silences and inhibitors (`suppressed` when muted).
fn complete_alert(given: &Value, now: DateTime<Utc>) -> Value {
    let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let labels = given.get("labels").cloned().unwrap_or_else(|| json!({}));
    let labels = if labels.get("alertname").is_some() {
        labels
    } else {
        let mut l = labels;
        l["alertname"] = json!("SandboxAlert");
        l
    };
    let given_status = given.get("status").cloned().unwrap_or_else(|| json!({}));
    let list = |key: &str| given_status.get(key).cloned().unwrap_or_else(|| json!([]));
    let (silenced_by, inhibited_by, muted_by) =
        (list("silencedBy"), list("inhibitedBy"), list("mutedBy"));
    let muted = [&silenced_by, &inhibited_by, &muted_by]
        .iter()
        .any(|l| l.as_array().is_some_and(|a| !a.is_empty()));
    let state = given_status
        .get("state")
        .and_then(Value::as_str)
        .unwrap_or(if muted { "suppressed" } else { "active" });
    let fingerprint = format!(
        "{:016x}",
        labels
            .to_string()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b))
                .wrapping_mul(0x0100_0000_01b3))
    );
    let mut full = json!({
        "labels": labels,
        "annotations": {},
        "startsAt": stamp(now),
        "endsAt": stamp(now + chrono::Duration::minutes(RESOLVE_TIMEOUT_MINUTES)),
        "updatedAt": stamp(now),
        "generatorURL": "",
        "fingerprint": fingerprint,
        "receivers": [{"name": "sandbox"}],
        "status": {"state": state, "silencedBy": silenced_by, "inhibitedBy": inhibited_by, "mutedBy": muted_by}
    });
    if let (Value::Object(target), Value::Object(given)) = (&mut full, given) {
        for (k, v) in given {
            if k != "labels" && k != "status" {
                target.insert(k.clone(), v.clone());
            }
        }
    }
    full
}

/// The filters of `GET /api/v2/alerts`, with Alertmanager's defaults (every
/// flag true: list everything).
struct AlertFilter {
    active: bool,
    silenced: bool,
    inhibited: bool,
    unprocessed: bool,
    /// `filter=name="value"` (or `!=`) label matchers.
    matchers: Vec<(String, bool, String)>,
}

impl AlertFilter {
    fn from_query(query: Option<&str>) -> Result<Self, String> {
        let mut filter = AlertFilter {
            active: true,
            silenced: true,
            inhibited: true,
            unprocessed: true,
            matchers: Vec::new(),
        };
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = form_decode(value);
            let flag = || match value.as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                other => Err(format!("{key} must be true or false, got {other:?}")),
            };
            match key {
                "active" => filter.active = flag()?,
                "silenced" => filter.silenced = flag()?,
                "inhibited" => filter.inhibited = flag()?,
                "unprocessed" => filter.unprocessed = flag()?,
                "filter" => filter.matchers.push(parse_matcher(&value)?),
                // `receiver` and unknown parameters: Alertmanager ignores what
                // it does not filter on here.
                _ => {}
            }
        }
        Ok(filter)
    }

    fn keeps(&self, alert: &Value, now: DateTime<Utc>) -> bool {
        let status = &alert["status"];
        let state = status["state"].as_str().unwrap_or("active");
        let has = |key: &str| status[key].as_array().is_some_and(|a| !a.is_empty());
        let ended = alert["endsAt"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| t < now);
        if ended
            || (!self.active && state == "active")
            || (!self.unprocessed && state == "unprocessed")
            || (!self.silenced && has("silencedBy"))
            || (!self.inhibited && has("inhibitedBy"))
        {
            return false;
        }
        self.matchers.iter().all(|(name, equal, value)| {
            let actual = alert["labels"][name.as_str()].as_str().unwrap_or("");
            (actual == value) == *equal
        })
    }
}

/// `name="value"` or `name!="value"` (regex matchers are not offered by the
/// sandbox and are refused, not ignored).
fn parse_matcher(text: &str) -> Result<(String, bool, String), String> {
    let refuse = || format!("bad matcher {text:?}: expected name=\"value\" or name!=\"value\"");
    let (name, equal, value) = if let Some((n, v)) = text.split_once("!=") {
        (n, false, v)
    } else if let Some((n, v)) = text.split_once('=') {
        if v.starts_with('~') || n.ends_with('!') {
            return Err(refuse());
        }
        (n, true, v)
    } else {
        return Err(refuse());
    };
    let value = value.trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    let name = name.trim();
    if name.is_empty() {
        return Err(refuse());
    }
    Ok((name.to_string(), equal, value.to_string()))
}

/// `GET /alertmanager/api/v2/alerts`: the alerts set for the sandbox that
/// pass the request's filters.
pub async fn alerts(State(app): State<Shared>, uri: Uri) -> Response {
    let filter = match AlertFilter::from_query(uri.query()) {
        Ok(filter) => filter,
        Err(e) => return (StatusCode::BAD_REQUEST, Json(json!(e))).into_response(),
    };
    let now = Utc::now();
    let list: Vec<Value> = app
        .signals
        .alerts
        .lock()
        .map(|a| a.iter().map(|given| complete_alert(given, now)).collect())
        .unwrap_or_default();
    let kept: Vec<Value> = list.into_iter().filter(|a| filter.keeps(a, now)).collect();
    Json(Value::Array(kept)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_as_prometheus_prints_them() {
        assert_eq!(prometheus_value(0.02), "0.02");
        assert_eq!(prometheus_value(1.0), "1");
        assert_eq!(prometheus_value(f64::NAN), "NaN");
        assert_eq!(prometheus_value(f64::INFINITY), "+Inf");
        assert_eq!(prometheus_value(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn unbalanced_queries_are_parse_errors_and_whitespace_does_not_matter() {
        assert!(parse_error("sum(").is_some());
        assert!(parse_error("x{a=\"b\"").is_some());
        assert!(parse_error("rate(x[5m)").is_some());
        assert!(parse_error("  ").is_some());
        assert_eq!(parse_error("sum(rate(x{a=\"(\"}[5m]))"), None);
        assert_eq!(
            normalise_query("sum( rate(x[5m]) )"),
            normalise_query("sum(rate(x[5m]))")
        );
    }

    #[test]
    fn the_alert_filters_follow_alertmanager() {
        let now = Utc::now();
        let firing = complete_alert(&json!({"labels": {"alertname": "A"}}), now);
        let silenced = complete_alert(
            &json!({"labels": {"alertname": "B"}, "status": {"silencedBy": ["s"]}}),
            now,
        );
        let inhibited = complete_alert(
            &json!({"labels": {"alertname": "C"}, "status": {"inhibitedBy": ["f"]}}),
            now,
        );
        let ended = complete_alert(
            &json!({"labels": {"alertname": "D"}, "endsAt": "2020-01-01T00:00:00Z"}),
            now,
        );
        assert_eq!(silenced["status"]["state"], "suppressed");
        let all = [&firing, &silenced, &inhibited, &ended];
        let names = |q: &str| -> Vec<String> {
            let f = AlertFilter::from_query(Some(q)).unwrap();
            all.iter()
                .filter(|a| f.keeps(a, now))
                .map(|a| a["labels"]["alertname"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(names(""), ["A", "B", "C"]);
        assert_eq!(names("active=true&silenced=false&inhibited=false"), ["A"]);
        assert_eq!(names("silenced=false"), ["A", "C"]);
        assert_eq!(names("filter=alertname%3D%22C%22"), ["C"]);
        assert_eq!(names("filter=alertname!=\"A\""), ["B", "C"]);
        assert!(AlertFilter::from_query(Some("filter=alertname=~\"A.*\"")).is_err());
        assert!(AlertFilter::from_query(Some("active=maybe")).is_err());
    }
}
