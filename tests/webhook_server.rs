//! The webhook server over real HTTP on 127.0.0.1: signatures, redeliveries,
//! every recorded GitHub payload, bad bodies, and the metrics that count them.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use stagecoach::forge::signature::sign;
use stagecoach::forge::webhook::{Event, PrAction, parse_event};
use stagecoach::metrics::{Metrics, WebhookOutcome};
use stagecoach::server::{ServerState, router};
use tokio::sync::mpsc;

const SECRET: &[u8] = b"webhook-test-secret";

struct Running {
    base: String,
    events: mpsc::Receiver<Event>,
    metrics: Arc<Metrics>,
    http: reqwest::Client,
}

async fn start(secret: Option<&[u8]>, queue: usize) -> Running {
    let (tx, rx) = mpsc::channel(queue);
    let metrics = Arc::new(Metrics::new());
    let app = router(ServerState::new(
        secret.map(<[u8]>::to_vec),
        tx,
        metrics.clone(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Running {
        base: format!("http://{addr}"),
        events: rx,
        metrics,
        http: stagecoach::engine::http::client_builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
    }
}

impl Running {
    async fn deliver(
        &self,
        event: &str,
        delivery: &str,
        body: &[u8],
        signature: Option<String>,
    ) -> reqwest::StatusCode {
        let mut req = self
            .http
            .post(format!("{}/webhook", self.base))
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(sig) = signature {
            req = req.header("x-hub-signature-256", sig);
        }
        req.send().await.unwrap().status()
    }

    async fn signed(&self, event: &str, delivery: &str, body: &[u8]) -> reqwest::StatusCode {
        self.deliver(event, delivery, body, Some(sign(SECRET, body)))
            .await
    }

    async fn get(&self, path: &str) -> (reqwest::StatusCode, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/webhooks")
            .join(name),
    )
    .unwrap()
}

#[tokio::test]
async fn a_signed_delivery_is_queued_and_answered_202() {
    let mut s = start(Some(SECRET), 8).await;
    let body = fixture("pull_request.labeled.json");
    assert_eq!(s.signed("pull_request", "d-1", &body).await, 202);
    let event = s.events.try_recv().expect("queued before the answer");
    assert!(matches!(
        event,
        Event::PullRequest {
            action: PrAction::Labeled,
            ..
        }
    ));
    assert_eq!(
        s.metrics
            .webhook_count("pull_request", WebhookOutcome::Queued),
        1
    );
}

#[tokio::test]
async fn missing_malformed_and_wrong_signatures_are_refused_401_and_not_queued() {
    let mut s = start(Some(SECRET), 8).await;
    let body = fixture("push.json");
    assert_eq!(s.deliver("push", "a", &body, None).await, 401);
    assert_eq!(
        s.deliver("push", "b", &body, Some("sha256=nothex".into()))
            .await,
        401
    );
    assert_eq!(
        s.deliver("push", "c", &body, Some(sign(b"other secret", &body)))
            .await,
        401
    );
    // A signature of another body does not carry over.
    assert_eq!(
        s.deliver("push", "d", &body, Some(sign(SECRET, b"{}")))
            .await,
        401
    );
    assert!(s.events.try_recv().is_err());
    assert_eq!(
        s.metrics
            .webhook_count("unknown", WebhookOutcome::Unauthorized),
        4
    );
    // A refused delivery id is not remembered: the real one still goes through.
    assert_eq!(s.signed("push", "a", &body).await, 202);
    assert!(s.events.try_recv().is_ok());
}

#[tokio::test]
async fn without_a_secret_every_webhook_is_refused() {
    let mut s = start(None, 8).await;
    let body = fixture("push.json");
    assert_eq!(s.signed("push", "x", &body).await, 401);
    assert!(s.events.try_recv().is_err());
}

#[tokio::test]
async fn a_redelivery_is_dropped_with_202() {
    let mut s = start(Some(SECRET), 8).await;
    let body = fixture("status.json");
    assert_eq!(s.signed("status", "same-id", &body).await, 202);
    assert_eq!(s.signed("status", "same-id", &body).await, 202);
    assert!(s.events.try_recv().is_ok());
    assert!(
        s.events.try_recv().is_err(),
        "the redelivery was queued too"
    );
    assert_eq!(
        s.metrics.webhook_count("status", WebhookOutcome::Duplicate),
        1
    );
}

#[tokio::test]
async fn a_full_queue_still_answers_202_and_counts_the_drop() {
    let mut s = start(Some(SECRET), 1).await;
    let body = fixture("push.json");
    assert_eq!(s.signed("push", "q-1", &body).await, 202);
    assert_eq!(s.signed("push", "q-2", &body).await, 202);
    assert_eq!(s.metrics.webhook_count("push", WebhookOutcome::Dropped), 1);
    let (_, text) = s.get("/metrics").await;
    assert!(text.contains("stagecoach_queue_depth 1\n"), "{text}");
    assert!(s.events.try_recv().is_ok());
}

#[tokio::test]
async fn the_server_takes_every_fixture_then_rejects_garbage_and_huge_bodies_and_stays_healthy() {
    let mut s = start(Some(SECRET), 1024).await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/webhooks");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    let mut expected_queued = 0;
    let mut expected_ignored = 0;
    for (i, name) in names.iter().enumerate() {
        let event = name.split('.').next().unwrap();
        let body = fixture(name);
        let status = s.signed(event, &format!("fixture-{i}"), &body).await;
        assert_eq!(status, 202, "{name}");
        match parse_event(event, &body).unwrap() {
            Some(want) => {
                expected_queued += 1;
                let got = s
                    .events
                    .try_recv()
                    .unwrap_or_else(|_| panic!("{name} not queued"));
                assert_eq!(got, want, "{name}");
            }
            None => {
                expected_ignored += 1;
                assert!(
                    s.events.try_recv().is_err(),
                    "{name} queued but should be ignored"
                );
            }
        }
    }
    assert!(expected_queued > 30 && expected_ignored > 10);

    // Garbage JSON for an event the bot reads: 400, and nothing queued.
    assert_eq!(
        s.signed("pull_request", "garbage", b"{\"action\": ").await,
        400
    );
    // A body over 1 MiB: 413, before any signature work.
    let huge = vec![b' '; 2 * 1024 * 1024];
    assert_eq!(s.signed("push", "huge", &huge).await, 413);
    assert!(s.events.try_recv().is_err());

    let (status, text) = s.get("/healthz").await;
    assert_eq!((status.as_u16(), text.as_str()), (200, "ok"));

    let queued: u64 = [
        "pull_request",
        "pull_request_review",
        "issue_comment",
        "push",
        "create",
        "release",
        "status",
        "check_run",
    ]
    .iter()
    .map(|e| s.metrics.webhook_count(e, WebhookOutcome::Queued))
    .sum();
    assert_eq!(queued, expected_queued);
    let (status, metrics) = s.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains(
            "stagecoach_webhooks_total{event=\"pull_request\",outcome=\"malformed\"} 1\n"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("stagecoach_webhooks_total{event=\"unknown\",outcome=\"too_large\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("stagecoach_webhooks_total{event=\"ping\",outcome=\"ignored\"} 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("# TYPE stagecoach_queue_depth gauge\n"));
}

#[tokio::test]
async fn an_overlong_delivery_id_is_refused_400_with_one_line_and_not_remembered() {
    let mut s = start(Some(SECRET), 8).await;
    let body = fixture("push.json");
    let long = "d".repeat(stagecoach::server::MAX_DELIVERY_ID + 1);
    let r = s
        .http
        .post(format!("{}/webhook", s.base))
        .header("x-github-event", "push")
        .header("x-github-delivery", &long)
        .header("x-hub-signature-256", sign(SECRET, &body))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("X-GitHub-Delivery") && text.contains("at most 128"),
        "{text}"
    );
    assert!(s.events.try_recv().is_err(), "nothing queued");
    // A GUID-sized id (and one at the cap) is taken as before.
    let at_cap = "e".repeat(stagecoach::server::MAX_DELIVERY_ID);
    assert_eq!(s.signed("push", &at_cap, &body).await, 202);
    assert_eq!(
        s.signed("push", "72d3162e-cc78-11e3-81ab-4c9367dc0958", &body)
            .await,
        202
    );
    assert!(s.events.try_recv().is_ok());
}

/// Slow-loris: connections that never finish their headers are closed by the
/// header-read timeout, and a real delivery still gets through meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_that_never_finish_headers_are_closed_and_deliveries_get_through() {
    use stagecoach::server::{ServeLimits, serve};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (tx, mut rx) = mpsc::channel(8);
    let metrics = Arc::new(Metrics::new());
    let app = router(ServerState::new(Some(SECRET.to_vec()), tx, metrics));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = ServeLimits {
        header_read_timeout: Duration::from_millis(500),
        max_connections: 8,
    };
    tokio::spawn(serve(listener, app, limits, std::future::pending()));

    // More slow clients than the server has connection slots.
    let mut slow = Vec::new();
    for _ in 0..24 {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(c);
    }

    let body = fixture("push.json");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let r = http
        .post(format!("http://{addr}/webhook"))
        .header("x-github-event", "push")
        .header("x-github-delivery", "after-the-loris")
        .header("x-hub-signature-256", sign(SECRET, &body))
        .body(body)
        .send()
        .await
        .expect("a real delivery is answered");
    assert_eq!(r.status(), 202);
    assert!(rx.try_recv().is_ok(), "the delivery was queued");

    for (i, mut c) in slow.into_iter().enumerate() {
        let mut buf = [0u8; 256];
        // The server closes (EOF or reset, possibly after a 408); a generous
        // bound only turns "never" into a failure.
        let closed = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                match c.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "slow connection {i} was never closed");
    }
}
