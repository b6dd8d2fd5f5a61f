//! Injected faults answer the next N matching requests, then the sandbox
//! behaves again; stability signals answer in Prometheus and Alertmanager shapes.

use serde_json::{Value, json};
use stagecoach::sandbox::{self, SandboxOptions};

#[tokio::test]
async fn faults_answer_n_matching_requests_then_clear() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = sandbox::start(SandboxOptions::new(tmp.path()))
        .await
        .expect("start");
    let http = stagecoach::engine::http::client_builder().build().unwrap();
    let api = &sb.api_url;
    let auth = format!("Bearer {}", sb.world.bot_token());
    let faults = [
        json!({"path_prefix": "/repos/acme/product/pulls", "method": "GET", "status": 502, "count": 2}),
        json!({"path_prefix": "/repos/acme/product/tags", "status": 403, "count": 1}),
        json!({"path_prefix": "/repos/acme/product/releases", "status": 429, "retry_after": 3, "count": 1}),
    ];
    for f in &faults {
        let r = http
            .post(format!("{api}/_sandbox/faults"))
            .json(f)
            .send()
            .await
            .expect("add");
        assert_eq!(r.status(), 204);
    }
    let get = |path: &str| {
        http.get(format!("{api}{path}"))
            .header("Authorization", &auth)
            .send()
    };
    assert_eq!(
        get("/repos/acme/product/pulls").await.expect("1").status(),
        502
    );
    assert_eq!(
        get("/repos/acme/product/pulls").await.expect("2").status(),
        502
    );
    assert_eq!(
        get("/repos/acme/product/pulls").await.expect("3").status(),
        200
    );

    let primary = get("/repos/acme/product/tags").await.expect("tags");
    assert_eq!(primary.status(), 403);
    assert_eq!(primary.headers()["x-ratelimit-remaining"], "0");
    assert!(primary.headers().contains_key("x-ratelimit-reset"));

    let secondary = get("/repos/acme/product/releases").await.expect("releases");
    assert_eq!(secondary.status(), 429);
    assert_eq!(secondary.headers()["retry-after"], "3");

    http.post(format!("{api}/_sandbox/faults"))
        .json(&json!({"path_prefix": "/user", "drop": true, "count": 5}))
        .send()
        .await
        .expect("add");
    // The connection closes mid-answer: the send or the body read fails.
    let dropped = match get("/user").await {
        Err(_) => true,
        Ok(r) => r.bytes().await.is_err(),
    };
    assert!(dropped, "a dropped connection is not an answer");
    let r = http
        .delete(format!("{api}/_sandbox/faults"))
        .send()
        .await
        .expect("clear");
    assert_eq!(r.status(), 204);
    assert_eq!(get("/user").await.expect("user").status(), 200);
    sb.shutdown().await;
}

#[tokio::test]
async fn a_delay_fault_makes_a_request_slow_but_answers_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = sandbox::start(SandboxOptions::new(tmp.path()))
        .await
        .expect("start");
    let http = stagecoach::engine::http::client_builder().build().unwrap();
    http.post(format!("{}/_sandbox/faults", sb.api_url))
        .json(&json!({"path_prefix": "/user", "delay_ms": 300}))
        .send()
        .await
        .expect("add");
    let started = std::time::Instant::now();
    let r = http
        .get(format!("{}/user", sb.api_url))
        .header("Authorization", format!("token {}", sb.world.bot_token()))
        .send()
        .await
        .expect("user");
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    sb.shutdown().await;
}

#[tokio::test]
async fn signals_answer_in_prometheus_and_alertmanager_shapes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = sandbox::start(SandboxOptions::new(tmp.path()))
        .await
        .expect("start");
    let http = stagecoach::engine::http::client_builder().build().unwrap();
    let api = &sb.api_url;
    let q = "sum(rate(http_requests_errors_total[5m]))";
    http.post(format!("{api}/_sandbox/prometheus"))
        .json(&json!({"query": q, "value": 0.02}))
        .send()
        .await
        .expect("set");
    let v: Value = http
        .get(format!(
            "{api}/prometheus/api/v1/query?query={}",
            q.replace('(', "%28")
                .replace(')', "%29")
                .replace('[', "%5B")
                .replace(']', "%5D")
        ))
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("json");
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["resultType"], "vector");
    assert_eq!(v["data"]["result"][0]["value"][1], "0.02");
    let alerts: Value = http
        .get(format!("{api}/alertmanager/api/v2/alerts"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(alerts, json!([]));
    http.post(format!("{api}/_sandbox/alerts"))
        .json(&json!([{"labels": {"alertname": "PaymentsDown", "severity": "critical"}}]))
        .send()
        .await
        .expect("set");
    let alerts: Value = http
        .get(format!("{api}/alertmanager/api/v2/alerts"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(alerts[0]["labels"]["alertname"], "PaymentsDown");
    assert_eq!(alerts[0]["status"]["state"], "active");
    sb.shutdown().await;
}
