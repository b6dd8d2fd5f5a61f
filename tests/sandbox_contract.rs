//! The sandbox answers in GitHub's shapes: every endpoint it serves is called on
//! a started sandbox and its JSON validated against the schema from GitHub's
//! official OpenAPI description (`fixtures/openapi/`, see its README).

use reqwest::Method;
use serde_json::{Value, json};
use stagecoach::sandbox::{self, SandboxOptions};

fn schema(name: &str) -> Value {
    let path = format!(
        "{}/fixtures/openapi/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("fixture");
    serde_json::from_str(&text).expect("schema JSON")
}

/// Every way `answer` breaks the schema, one line each.
fn violations(name: &str, answer: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(&schema(name)).expect("a valid schema");
    validator
        .iter_errors(answer)
        .map(|e| format!("{name}: {} at {}", e, e.instance_path()))
        .collect()
}

/// Call as the bot and return the raw answer (status, JSON).
async fn call(
    http: &reqwest::Client,
    api: &str,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http
        .request(method, format!("{api}{path}"))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_endpoint_answers_in_githubs_documented_shape() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = sandbox::start(SandboxOptions::new(tmp.path()))
        .await
        .expect("start");
    let http = stagecoach::engine::http::client_builder().build().unwrap();
    let api = sb.api_url.clone();
    let bot = sb.world.bot_token().to_string();
    let alice = sb.person("alice").expect("alice");
    alice
        .commit_files("payments", "contract", &[("src/x.txt", "x")], "feat: x")
        .await
        .expect("push");
    let alice_token = sb.world.token("alice").expect("token").to_string();
    let mut answers: Vec<(&str, u16, u16, Value)> = Vec::new();
    macro_rules! check {
        ($name:expr, $want:expr, $token:expr, $method:expr, $path:expr, $body:expr) => {{
            let path = String::from($path);
            let (status, value) = call(&http, &api, $token, $method, &path, $body).await;
            answers.push(($name, $want, status, value.clone()));
            value
        }};
    }
    let g = Method::GET;
    let pr = check!(
        "pull-create",
        201,
        &alice_token,
        Method::POST,
        "/repos/acme/payments/pulls",
        Some(json!({"title": "feat: x", "head": "contract", "base": "main", "body": "x"}))
    );
    let n = pr["number"].as_u64().expect("number");
    let head = pr["head"]["sha"].as_str().expect("sha").to_string();
    check!("user", 200, &bot, g.clone(), "/user", None);
    check!("repo", 200, &bot, g.clone(), "/repos/acme/payments", None);
    check!(
        "pulls-list",
        200,
        &bot,
        g.clone(),
        "/repos/acme/payments/pulls?state=all",
        None
    );
    check!(
        "pull",
        200,
        &bot,
        g.clone(),
        format!("/repos/acme/payments/pulls/{n}"),
        None
    );
    check!(
        "pull-update",
        200,
        &bot,
        Method::PATCH,
        format!("/repos/acme/payments/pulls/{n}"),
        Some(json!({"body": "edited"}))
    );
    check!(
        "pull-commits",
        200,
        &bot,
        g.clone(),
        format!("/repos/acme/payments/pulls/{n}/commits"),
        None
    );
    check!(
        "labels-add",
        200,
        &bot,
        Method::POST,
        format!("/repos/acme/payments/issues/{n}/labels"),
        Some(json!({"labels": ["change: S", "risk: low"]}))
    );
    check!(
        "labels-list",
        200,
        &bot,
        g.clone(),
        format!("/repos/acme/payments/issues/{n}/labels"),
        None
    );
    check!(
        "label-remove",
        200,
        &bot,
        Method::DELETE,
        format!("/repos/acme/payments/issues/{n}/labels/risk%3A%20low"),
        None
    );
    check!(
        "issue-events",
        200,
        &bot,
        g.clone(),
        format!("/repos/acme/payments/issues/{n}/events"),
        None
    );
    let comment = check!(
        "comment-create",
        201,
        &bot,
        Method::POST,
        format!("/repos/acme/payments/issues/{n}/comments"),
        Some(json!({"body": "hello"}))
    );
    let cid = comment["id"].as_u64().expect("id");
    check!(
        "comment-update",
        200,
        &bot,
        Method::PATCH,
        format!("/repos/acme/payments/issues/comments/{cid}"),
        Some(json!({"body": "hello again"}))
    );
    check!(
        "comments-list",
        200,
        &bot,
        g.clone(),
        format!("/repos/acme/payments/issues/{n}/comments"),
        None
    );
    check!(
        "review-create",
        200,
        &bot,
        Method::POST,
        format!("/repos/acme/payments/pulls/{n}/reviews"),
        Some(json!({"event": "APPROVE", "body": "ok"}))
    );
    check!(
        "reviews-list",
        200,
        &bot,
        g.clone(),
        format!("/repos/acme/payments/pulls/{n}/reviews"),
        None
    );
    check!(
        "status-create",
        201,
        &bot,
        Method::POST,
        format!("/repos/acme/payments/statuses/{head}"),
        Some(
            json!({"state": "success", "context": "stagecoach/ci", "description": "green", "target_url": "http://127.0.0.1/ci"})
        )
    );
    check!(
        "combined-status",
        200,
        &bot,
        g.clone(),
        format!("/repos/acme/payments/commits/{head}/status"),
        None
    );
    check!(
        "statuses-list",
        200,
        &bot,
        g.clone(),
        format!("/repos/acme/payments/commits/{head}/statuses"),
        None
    );
    check!(
        "collaborator-permission",
        200,
        &bot,
        g.clone(),
        "/repos/acme/payments/collaborators/rita/permission",
        None
    );
    check!(
        "team-membership",
        200,
        &bot,
        g.clone(),
        "/orgs/acme/teams/on-call/memberships/olga",
        None
    );
    check!(
        "tags",
        200,
        &bot,
        g.clone(),
        "/repos/acme/payments/tags",
        None
    );
    check!(
        "git-ref",
        200,
        &bot,
        g.clone(),
        "/repos/acme/payments/git/ref/heads/main",
        None
    );
    check!(
        "branch",
        200,
        &bot,
        g.clone(),
        "/repos/acme/payments/branches/main",
        None
    );
    check!(
        "pull-merge",
        200,
        &bot,
        Method::PUT,
        format!("/repos/acme/payments/pulls/{n}/merge"),
        Some(json!({"sha": head, "merge_method": "squash"}))
    );
    let rel = check!(
        "release-create",
        201,
        &bot,
        Method::POST,
        "/repos/acme/payments/releases",
        Some(json!({"tag_name": "v1.4.2", "name": "v1.4.2", "body": "notes", "draft": true}))
    );
    let rid = rel["id"].as_u64().expect("id");
    check!(
        "release-update",
        200,
        &bot,
        Method::PATCH,
        format!("/repos/acme/payments/releases/{rid}"),
        Some(json!({"draft": false}))
    );
    check!(
        "release-by-tag",
        200,
        &bot,
        g.clone(),
        "/repos/acme/payments/releases/tags/v1.4.2",
        None
    );
    check!(
        "releases-list",
        200,
        &bot,
        g.clone(),
        "/repos/acme/payments/releases",
        None
    );
    check!(
        "basic-error",
        404,
        &bot,
        g.clone(),
        "/repos/acme/nothing",
        None
    );
    check!(
        "validation-error",
        422,
        &alice_token,
        Method::POST,
        "/repos/acme/payments/pulls",
        Some(json!({"title": "again", "head": "no-such-branch", "base": "main"}))
    );

    let mut problems = Vec::new();
    for (name, want, status, value) in &answers {
        if status != want {
            problems.push(format!("{name}: status {status}, expected {want}: {value}"));
            continue;
        }
        problems.extend(violations(name, value));
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    // The check can fail: the same PR without its head is refused.
    let mut headless = pr.clone();
    headless.as_object_mut().expect("object").remove("head");
    assert!(!violations("pull", &headless).is_empty());
    sb.shutdown().await;
}

#[test]
fn the_schemas_catch_a_missing_required_field() {
    // Guards the test above against schemas that accept anything.
    let label = json!([{"id": 1, "node_id": "x", "url": "http://x", "name": "a", "color": "ededed", "default": false, "description": null}]);
    assert!(
        violations("labels-list", &label).is_empty(),
        "{:?}",
        violations("labels-list", &label)
    );
    let broken = json!([{"id": 1, "name": "a"}]);
    assert!(!violations("labels-list", &broken).is_empty());
}
