//! The sandbox's Prometheus and Alertmanager stand-ins answer as the real
//! ones do: the same questions asked of real Prometheus and Alertmanager
//! (tests/real_signals) and of the sandbox, set up alike, get answers of the
//! same shape and content (timestamps and fingerprints aside).

mod real_signals;

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};
use stagecoach::sandbox::{self, SandboxOptions};

const METRICS: &str = "\
# TYPE app_error_ratio gauge
app_error_ratio{route=\"/pay\"} 0.01
app_error_ratio{route=\"/cart\"} 0.02
# TYPE app_saturation gauge
app_saturation NaN
";

fn client() -> reqwest::Client {
    stagecoach::engine::http::client_builder()
        .build()
        .expect("client")
}

async fn get(url: &str, params: &[(&str, &str)]) -> (StatusCode, Value) {
    let url = reqwest::Url::parse_with_params(url, params).expect("url");
    let response = client().get(url).send().await.expect("get");
    let status = response.status();
    (status, response.json().await.expect("json answer"))
}

async fn post(url: &str, body: Value) {
    let response = client().post(url).json(&body).send().await.expect("post");
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
}

/// An answer with its sample timestamps zeroed and its series sorted, so two
/// answers taken at different moments compare equal.
fn comparable(mut answer: Value) -> Value {
    let data = &mut answer["data"];
    match data["resultType"].as_str() {
        Some("scalar") => data["result"][0] = json!(0),
        Some("vector") => {
            if let Some(series) = data["result"].as_array_mut() {
                for s in series.iter_mut() {
                    s["value"][0] = json!(0);
                }
                series.sort_by_key(|s| s["metric"].to_string());
            }
        }
        _ => {}
    }
    if answer["status"] == "error" {
        // The wording of a parse error is Prometheus's own; its kind is the shape.
        answer["error"] = json!("...");
    }
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prometheus_stand_in_answers_vectors_scalars_empty_nan_and_errors_as_prometheus_does() {
    let Some(real) = real_signals::start(METRICS).await else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = sandbox::start(SandboxOptions::new(tmp.path()))
        .await
        .expect("sandbox");
    let stand_in = format!("{}/prometheus/api/v1/query", sb.api_url);
    let set = format!("{}/_sandbox/prometheus", sb.api_url);
    let real_query = format!("{}/api/v1/query", real.prometheus);

    // A vector of two labelled series: the stand-in is given the real
    // series' labels and values and must render them as Prometheus does.
    let (_, vector) = get(&real_query, &[("query", "app_error_ratio")]).await;
    let series: Vec<Value> = real_signals::result(&vector)
        .iter()
        .map(|s| json!({"metric": s["metric"], "value": s["value"][1]}))
        .collect();
    assert_eq!(series.len(), 2, "{vector}");
    post(&set, json!({"query": "app_error_ratio", "series": series})).await;
    post(
        &set,
        json!({"query": "scalar(max(app_error_ratio))", "scalar": 0.02}),
    )
    .await;
    let (_, nan) = get(&real_query, &[("query", "app_saturation")]).await;
    post(
        &set,
        json!({"query": "app_saturation", "series": [{"metric": nan["data"]["result"][0]["metric"], "value": "NaN"}]}),
    )
    .await;

    for query in [
        "app_error_ratio",
        "scalar(max(app_error_ratio))",
        "app_error_ratio{route=\"/nowhere\"}",
        "app_saturation",
        "sum(",
    ] {
        let (real_status, real_answer) = get(&real_query, &[("query", query)]).await;
        let (sandbox_status, sandbox_answer) = get(&stand_in, &[("query", query)]).await;
        assert_eq!(sandbox_status, real_status, "HTTP status of `{query}`");
        assert_eq!(
            comparable(sandbox_answer),
            comparable(real_answer),
            "the answer to `{query}`"
        );
    }
    sb.shutdown().await;
}

/// `alertname → status.state` of an alert list, and every key each alert and
/// its status carry.
fn summary(alerts: &Value) -> (Vec<(String, String)>, BTreeSet<String>) {
    let list = alerts.as_array().cloned().unwrap_or_default();
    let mut names: Vec<(String, String)> = list
        .iter()
        .map(|a| {
            (
                a["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                a["status"]["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    names.sort();
    let mut keys = BTreeSet::new();
    for a in &list {
        for (k, v) in a.as_object().into_iter().flatten() {
            keys.insert(k.clone());
            if k == "status" {
                keys.extend(
                    v.as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, _)| format!("status.{k}")),
                );
            }
        }
    }
    (names, keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alertmanager_stand_in_filters_silenced_and_inhibited_alerts_as_alertmanager_does() {
    let Some(real) = real_signals::start(METRICS).await else {
        return;
    };
    real.post_alert(&[("alertname", "PaymentsDown"), ("severity", "page")])
        .await;
    real.post_alert(&[("alertname", "NoisyCanary"), ("severity", "page")])
        .await;
    let silence = real.silence("alertname", "NoisyCanary").await;
    real.post_alert(&[("alertname", "StagingDown"), ("severity", "page")])
        .await;
    real.post_alert(&[("alertname", "DiskFilling"), ("severity", "warning")])
        .await;
    let all = real
        .wait_alerts("one silenced and one inhibited alert", |a| {
            let muted = |name: &str, key: &str| {
                real_signals::named(a, name)
                    .iter()
                    .any(|a| a["status"][key].as_array().is_some_and(|l| !l.is_empty()))
            };
            muted("NoisyCanary", "silencedBy") && muted("DiskFilling", "inhibitedBy")
        })
        .await;
    let inhibitor = real_signals::named(&all, "DiskFilling")[0]["status"]["inhibitedBy"][0].clone();

    let tmp = tempfile::tempdir().expect("tmp");
    let sb = sandbox::start(SandboxOptions::new(tmp.path()))
        .await
        .expect("sandbox");
    post(
        &format!("{}/_sandbox/alerts", sb.api_url),
        json!([
            {"labels": {"alertname": "PaymentsDown", "severity": "page"}},
            {"labels": {"alertname": "NoisyCanary", "severity": "page"}, "status": {"silencedBy": [silence]}},
            {"labels": {"alertname": "StagingDown", "severity": "page"}},
            {"labels": {"alertname": "DiskFilling", "severity": "warning"}, "status": {"inhibitedBy": [inhibitor]}},
        ]),
    )
    .await;

    let real_alerts = format!("{}/api/v2/alerts", real.alertmanager);
    let stand_in = format!("{}/alertmanager/api/v2/alerts", sb.api_url);
    let filters: [&[(&str, &str)]; 5] = [
        &[],
        // What the bot asks: only what really fires.
        &[
            ("active", "true"),
            ("silenced", "false"),
            ("inhibited", "false"),
        ],
        &[("silenced", "false")],
        &[("inhibited", "false")],
        &[("filter", "severity=\"warning\"")],
    ];
    for params in filters {
        let (_, real_answer) = get(&real_alerts, params).await;
        let (status, sandbox_answer) = get(&stand_in, params).await;
        assert_eq!(status, StatusCode::OK);
        let (real_names, real_keys) = summary(&real_answer);
        let (sandbox_names, sandbox_keys) = summary(&sandbox_answer);
        assert_eq!(sandbox_names, real_names, "alerts listed for {params:?}");
        let missing: Vec<&String> = real_keys.difference(&sandbox_keys).collect();
        assert!(
            missing.is_empty() || real_names.is_empty(),
            "the stand-in's alerts lack {missing:?} for {params:?}"
        );
    }
    sb.shutdown().await;
}
