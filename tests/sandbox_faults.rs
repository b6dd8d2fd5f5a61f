//! Injected faults answer the next N matching requests, then the sandbox
//! behaves again; an `after` fault lets the handler do its work and then loses
//! the answer; every rule reports how often it was met, and each test here
//! fails if one of its rules never was; stability signals answer in
//! Prometheus and Alertmanager shapes.

use serde_json::{Value, json};
use stagecoach::sandbox::{self, SandboxOptions};

/// Fail unless every fault rule set on the sandbox at `api` was met.
async fn assert_every_rule_hit(http: &reqwest::Client, api: &str) {
    let report: Vec<Value> = http
        .get(format!("{api}/_sandbox/faults"))
        .send()
        .await
        .expect("report")
        .json()
        .await
        .expect("json");
    assert!(!report.is_empty(), "no fault rules were set");
    for rule in &report {
        assert!(
            rule["hits"].as_u64().unwrap_or(0) >= 1,
            "a fault rule was never met: {rule}"
        );
    }
}

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
    assert_every_rule_hit(&http, api).await;
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
    assert_every_rule_hit(&http, &sb.api_url).await;
    sb.shutdown().await;
}

#[tokio::test]
async fn the_report_counts_hits_per_rule_and_shows_a_rule_never_met() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = sandbox::start(SandboxOptions::new(tmp.path()))
        .await
        .expect("start");
    let http = stagecoach::engine::http::client_builder().build().unwrap();
    let api = &sb.api_url;
    let rules = json!([
        {"path_prefix": "/repos/acme/product/tags", "user": "alice", "status": 503},
        {"path_prefix": "/repos/acme/*/tags", "method": "GET", "status": 500, "count": 3},
        {"path_prefix": "/repos/acme/product/releases", "method": "POST", "status": 500},
    ]);
    http.post(format!("{api}/_sandbox/faults"))
        .json(&rules)
        .send()
        .await
        .expect("add");
    let auth = format!("Bearer {}", sb.world.bot_token());
    for repo in ["product", "payments"] {
        let r = http
            .get(format!("{api}/repos/acme/{repo}/tags"))
            .header("Authorization", &auth)
            .send()
            .await
            .expect("tags");
        assert_eq!(r.status(), 500, "{repo}: `*` stands for one segment");
    }
    let report: Value = http
        .get(format!("{api}/_sandbox/faults"))
        .send()
        .await
        .expect("report")
        .json()
        .await
        .expect("json");
    assert_eq!(
        report[0]["hits"], 0,
        "a rule for alice is not met by the bot: {report}"
    );
    assert_eq!(report[1]["hits"], 2, "{report}");
    assert_eq!(report[1]["count"], 3, "{report}");
    assert_eq!(report[2]["hits"], 0, "a rule nobody met: {report}");
    let alice = sb.person("alice").expect("alice");
    assert!(
        alice.get("/repos/acme/product/tags").await.is_err(),
        "alice meets her rule"
    );
    http.delete(format!("{api}/_sandbox/faults"))
        .send()
        .await
        .expect("clear");
    let report: Value = http
        .get(format!("{api}/_sandbox/faults"))
        .send()
        .await
        .expect("report")
        .json()
        .await
        .expect("json");
    assert_eq!(report, json!([]), "cleared");
    sb.shutdown().await;
}

/// A comment posted through an `after` fault of kind `how`: the handler ran
/// (the comment exists) though the client saw no good answer.
async fn comment_through(how: Value, read_timeout: std::time::Duration) {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = sandbox::start(SandboxOptions::new(tmp.path()))
        .await
        .expect("start");
    let http = stagecoach::engine::http::client_builder()
        .timeout(read_timeout)
        .build()
        .unwrap();
    let api = &sb.api_url;
    let alice = sb.person("alice").expect("alice");
    alice
        .commit_files("payments", "fix/x", &[("x.txt", "x")], "fix: x")
        .await
        .expect("commit");
    let n = alice
        .open_pr("payments", "fix/x", "main", "fix: x", "")
        .await
        .expect("pr");
    let mut rule = how.clone();
    rule["after"] = json!(true);
    rule["method"] = json!("POST");
    rule["path_prefix"] = json!("/repos/acme/payments/issues/*/comments");
    http.post(format!("{api}/_sandbox/faults"))
        .json(&rule)
        .send()
        .await
        .expect("add");
    let answer = http
        .post(format!("{api}/repos/acme/payments/issues/{n}/comments"))
        .header("Authorization", format!("Bearer {}", sb.world.bot_token()))
        .json(&json!({"body": "made, but you will not know"}))
        .send()
        .await;
    let good = match answer {
        Ok(r) if r.status() == 201 => r.bytes().await.is_ok(),
        _ => false,
    };
    assert!(!good, "{how}: the client got its answer");
    let comments = alice.comments("acme/payments", n).await.expect("comments");
    assert_eq!(
        comments
            .iter()
            .filter(|(_, b)| b == "made, but you will not know")
            .count(),
        1,
        "{how}: the handler ran once: {comments:?}"
    );
    assert_every_rule_hit(&http, api).await;
    sb.shutdown().await;
}

#[tokio::test]
async fn an_after_fault_does_the_write_and_then_answers_502() {
    comment_through(json!({"status": 502}), std::time::Duration::from_secs(30)).await;
}

#[tokio::test]
async fn an_after_fault_does_the_write_and_then_cuts_the_connection() {
    comment_through(json!({"drop": true}), std::time::Duration::from_secs(30)).await;
}

#[tokio::test]
async fn an_after_fault_does_the_write_and_then_holds_the_answer_past_the_timeout() {
    comment_through(
        json!({"delay_ms": 3000}),
        std::time::Duration::from_millis(500),
    )
    .await;
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
