//! The sandbox sends GitHub's webhooks, signed, to a receiver: for API changes
//! and for plain git pushes into the bare repos.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use stagecoach::sandbox::{self, SandboxOptions};

type Seen = Arc<Mutex<Vec<(String, Value, bool)>>>;

/// A tiny receiver that checks each delivery's signature and keeps it.
async fn receiver(secret: &'static str) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let keep = seen.clone();
    let app = axum::Router::new().route(
        "/webhook",
        post(move |headers: HeaderMap, body: Bytes| {
            let keep = keep.clone();
            async move {
                let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
                mac.update(&body);
                let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
                let got = headers
                    .get("x-hub-signature-256")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                let event = headers
                    .get("x-github-event")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let payload: Value = serde_json::from_slice(&body).expect("json body");
                keep.lock()
                    .expect("lock")
                    .push((event, payload, got == want));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/webhook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

async fn wait_for(
    seen: &Seen,
    what: impl Fn(&(String, Value, bool)) -> bool,
) -> (String, Value, bool) {
    for _ in 0..100 {
        if let Some(hit) = seen.lock().expect("lock").iter().find(|s| what(s)).cloned() {
            return hit;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let events: Vec<String> = seen
        .lock()
        .expect("lock")
        .iter()
        .map(|(e, p, _)| format!("{e}.{}", p["action"]))
        .collect();
    panic!("no matching delivery; got {events:?}");
}

#[tokio::test]
async fn pr_changes_and_pushes_are_delivered_signed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (url, seen) = receiver("s3cret").await;
    let sb = sandbox::start(SandboxOptions::new(tmp.path()))
        .await
        .expect("start");
    // The bot starts after the sandbox: point webhooks at it now.
    sb.set_webhook(Some(url), Some("s3cret".into()));
    let alice = sb.person("alice").expect("alice");
    alice
        .commit_files("payments", "hook", &[("a.txt", "1")], "feat: a")
        .await
        .expect("push");
    let n = alice
        .open_pr("payments", "hook", "main", "feat: a", "")
        .await
        .expect("pr");
    let (_, opened, signed) = wait_for(&seen, |(e, p, _)| {
        e == "pull_request" && p["action"] == "opened"
    })
    .await;
    assert!(signed, "X-Hub-Signature-256 matches the body");
    assert_eq!(opened["number"], n);
    assert_eq!(opened["repository"]["full_name"], "acme/payments");
    assert_eq!(opened["sender"]["login"], "alice");

    alice
        .add_labels("payments", n, &["change: S"])
        .await
        .expect("label");
    let (_, labeled, _) = wait_for(&seen, |(e, p, _)| {
        e == "pull_request" && p["action"] == "labeled"
    })
    .await;
    assert_eq!(labeled["label"]["name"], "change: S");

    alice
        .comment("payments", n, "/approve")
        .await
        .expect("comment");
    let (_, comment, _) = wait_for(&seen, |(e, _, _)| e == "issue_comment").await;
    assert_eq!(comment["action"], "created");
    assert_eq!(comment["comment"]["body"], "/approve");
    assert!(comment["issue"]["pull_request"].is_object());

    // A plain push to the PR's branch: push + synchronize.
    let moved = alice
        .commit_files("payments", "hook", &[("a.txt", "2")], "fix: a")
        .await
        .expect("push");
    let (_, sync, _) = wait_for(&seen, |(e, p, _)| {
        e == "pull_request" && p["action"] == "synchronize"
    })
    .await;
    assert_eq!(sync["after"], Value::String(moved.clone()));
    assert_eq!(
        sync["pull_request"]["head"]["sha"],
        Value::String(moved.clone())
    );
    let (_, push, _) = wait_for(&seen, |(e, p, _)| {
        e == "push" && p["after"] == Value::String(moved.clone())
    })
    .await;
    assert_eq!(push["ref"], "refs/heads/hook");

    sb.person("bob")
        .expect("bob")
        .approve("payments", n)
        .await
        .expect("review");
    let (_, review, _) = wait_for(&seen, |(e, _, _)| e == "pull_request_review").await;
    assert_eq!(review["review"]["state"], "approved".to_uppercase());

    sb.person("bob")
        .expect("bob")
        .merge("payments", n)
        .await
        .expect("merge");
    let (_, closed, _) = wait_for(&seen, |(e, p, _)| {
        e == "pull_request" && p["action"] == "closed"
    })
    .await;
    assert_eq!(closed["pull_request"]["merged"], true);

    sb.person("bob")
        .expect("bob")
        .tag("payments", "v1.5.0", &moved)
        .await
        .expect("tag");
    let (_, create, _) = wait_for(&seen, |(e, p, _)| e == "create" && p["ref_type"] == "tag").await;
    assert_eq!(create["ref_type"], "tag");
    assert_eq!(create["ref"], "v1.5.0");
    sb.shutdown().await;
}
