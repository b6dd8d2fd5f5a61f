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
    assert_eq!(review["review"]["state"], "approved");

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

/// A receiver that answers 200 on `/webhook` and 404 anywhere else.
async fn picky_receiver() -> String {
    let app = axum::Router::new().route("/webhook", post(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// A loopback port nothing listens on.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}/webhook")
}

/// Wait until the sandbox has tried `n` deliveries.
async fn wait_deliveries(sb: &sandbox::Sandbox, n: usize) -> Vec<sandbox::hooks::DeliveryRecord> {
    for _ in 0..200 {
        let d = sb.deliveries();
        if d.len() >= n {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the sandbox tried {} of {n} deliveries",
        sb.deliveries().len()
    );
}

#[tokio::test]
async fn recent_deliveries_are_listed_with_their_outcome_as_github_lists_them() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = sandbox::start(SandboxOptions::new(tmp.path()))
        .await
        .expect("start");
    let base = picky_receiver().await;
    let alice = sb.person("alice").expect("alice");

    // Delivered, refused (the bot's path is wrong), and nobody listening.
    for url in [
        format!("{base}/webhook"),
        format!("{base}/hooks"),
        closed_port(),
    ] {
        sb.set_webhook(Some(url), Some("s3cret".into()));
        sb.ping_webhook().await.expect("pinged");
    }
    // And a real event, delivered.
    sb.set_webhook(Some(format!("{base}/webhook")), Some("s3cret".into()));
    alice
        .commit_files("payments", "hooked", &[("a.txt", "1")], "feat: a")
        .await
        .expect("push");
    wait_deliveries(&sb, 5).await;
    let tried = sb.deliveries();
    let outcome: Vec<(&str, u16, &str)> = tried
        .iter()
        .rev()
        .map(|d| (d.event.as_str(), d.status_code, d.status.as_str()))
        .collect();
    assert_eq!(
        outcome[..3],
        [
            ("ping", 200, "OK"),
            ("ping", 404, "Invalid HTTP Response: 404"),
            ("ping", 0, "failed to connect to host"),
        ],
        "{tried:#?}"
    );
    assert!(
        tried[..tried.len() - 3]
            .iter()
            .all(|d| d.delivered() && d.event != "ping"),
        "the push and its branch's create were delivered: {tried:#?}"
    );

    // The same through GitHub's API, newest first, paged by cursor.
    let list = alice
        .get("/orgs/acme/hooks/1/deliveries?per_page=100")
        .await
        .expect("list deliveries");
    let list = list.as_array().expect("a list").clone();
    assert_eq!(list.len(), tried.len());
    assert_eq!(list[0]["status"], "OK");
    assert_eq!(
        list[0]["repository_id"],
        tried[0].repository_id.expect("a repo event")
    );
    assert_eq!(list[list.len() - 3]["status_code"], 0);
    assert_eq!(list[list.len() - 3]["status"], "failed to connect to host");
    for key in [
        "id",
        "guid",
        "delivered_at",
        "redelivery",
        "duration",
        "event",
        "action",
    ] {
        assert!(list[0].get(key).is_some(), "hook-delivery-item has `{key}`");
    }
    let id = list[0]["id"].as_u64().expect("id");
    let one = alice
        .get(&format!("/orgs/acme/hooks/1/deliveries/{id}"))
        .await
        .expect("one delivery");
    assert_eq!(
        one["request"]["headers"]["X-GitHub-Event"],
        list[0]["event"]
    );
    assert!(one["request"]["payload"].is_object());
    assert!(alice.get("/orgs/acme/hooks/2/deliveries").await.is_err());

    let http = stagecoach::engine::http::client_builder().build().unwrap();
    let first = http
        .get(format!(
            "{}/orgs/acme/hooks/1/deliveries?per_page=1",
            sb.api_url
        ))
        .bearer_auth(
            &sb.world
                .users
                .iter()
                .find(|u| u.login == "alice")
                .unwrap()
                .token,
        )
        .send()
        .await
        .expect("page 1");
    let next = first
        .headers()
        .get("link")
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.strip_prefix('<'))
        .and_then(|l| l.split_once('>'))
        .map(|(url, _)| url.to_string())
        .expect("a Link to the next page");
    let page1: Value = first.json().await.expect("json");
    let page2: Value = http
        .get(&next)
        .bearer_auth(
            &sb.world
                .users
                .iter()
                .find(|u| u.login == "alice")
                .unwrap()
                .token,
        )
        .send()
        .await
        .expect("page 2")
        .json()
        .await
        .expect("json");
    assert_eq!(page1[0]["id"], list[0]["id"]);
    assert_eq!(page2[0]["id"], list[1]["id"]);
    sb.shutdown().await;
}

#[tokio::test]
async fn a_ping_says_whether_the_bot_is_listening_where_webhooks_go() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = sandbox::start(SandboxOptions::new(tmp.path()))
        .await
        .expect("start");
    assert!(sb.ping_webhook().await.is_none(), "no target, no ping");
    let base = picky_receiver().await;
    sb.set_webhook(Some(format!("{base}/webhook")), None);
    let ok = sb.ping_webhook().await.expect("pinged");
    assert_eq!((ok.event.as_str(), ok.status_code), ("ping", 200));
    sb.set_webhook(Some(closed_port()), None);
    let lost = sb.ping_webhook().await.expect("pinged");
    assert!(!lost.delivered());
    sb.shutdown().await;
}

#[test]
fn stagecoach_sandbox_warns_when_the_bot_would_listen_elsewhere() {
    use stagecoach::cli::sandbox::webhook_check;
    let agreed = webhook_check("http://127.0.0.1:8080/webhook", "127.0.0.1:8080", None);
    assert!(agreed.is_empty(), "{agreed:?}");
    let other_port = webhook_check("http://127.0.0.1:9000/webhook", "127.0.0.1:8080", None);
    assert_eq!(other_port.len(), 1);
    assert!(
        other_port[0].starts_with("WARNING: webhooks go to http://127.0.0.1:9000/webhook")
            && other_port[0].contains("stagecoach serve --listen 127.0.0.1:9000"),
        "{other_port:?}"
    );
    let other_path = webhook_check("http://127.0.0.1:8080/hooks", "127.0.0.1:8080", None);
    assert!(other_path[0].starts_with("WARNING"), "{other_path:?}");
    assert!(webhook_check("not a url", "127.0.0.1:8080", None)[0].contains("not an http(s) URL"));
}

/// `stagecoach sandbox` itself, pointed where nothing listens: it says so at
/// start (the ping) and logs every delivery that fails.
#[test]
fn stagecoach_sandbox_prints_where_it_delivers_and_reports_failed_deliveries() {
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command, Stdio};

    let tmp = tempfile::tempdir().expect("tmp");
    let nowhere = closed_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stagecoach"))
        .args(["sandbox", "--dir"])
        .arg(tmp.path())
        .args(["--listen", "127.0.0.1:0", "--webhook-url", &nowhere])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start stagecoach sandbox");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut printed = Vec::new();
    for line in stdout.lines().map_while(Result::ok) {
        let done = line.starts_with("users");
        printed.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read as _;
        let _ = e.read_to_string(&mut stderr);
    }
    let printed = printed.join("\n");
    assert!(
        printed.contains(&format!("webhooks → {nowhere}")),
        "{printed}"
    );
    assert!(
        printed.contains("WARNING: webhooks go to") && printed.contains("--listen"),
        "the config's listen (8080) and the webhook URL disagree: {printed}"
    );
    assert!(
        printed.contains("ping not delivered (failed to connect to host)"),
        "{printed}"
    );
    assert!(
        printed.contains("/orgs/acme/hooks/1/deliveries"),
        "{printed}"
    );
    assert!(
        stderr.contains("webhook ping to") && stderr.contains("FAILED"),
        "a failed delivery is logged: {stderr}"
    );
}
