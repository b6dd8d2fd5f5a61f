//! Staging's stability score on the sandbox read from real Prometheus and
//! Alertmanager (tests/real_signals): the product's policy points its
//! signals at them, and what they answer decides whether a tag that leaves
//! staging becomes a release.

mod real_signals;
mod support;

use support::{Road, RoadOptions};

/// One gauge the policy's error-rate query reads.
fn metrics(error_ratio: f64) -> String {
    format!("# TYPE app_error_ratio gauge\napp_error_ratio{{route=\"/pay\"}} {error_ratio}\n")
}

/// The demo policy with its Prometheus and Alertmanager signals pointed at
/// the real ones, and the error-rate query reading the test's gauge.
fn pointed_at(m: &real_signals::Monitoring) -> RoadOptions {
    let (prometheus, alertmanager) = (m.prometheus.clone(), m.alertmanager.clone());
    RoadOptions {
        policy: Some(Box::new(move |policy: &str| {
            let mut edits = 0;
            let lines: Vec<String> = policy
                .lines()
                .map(|line| {
                    let indent = &line[..line.len() - line.trim_start().len()];
                    let trimmed = line.trim_start();
                    if trimmed.starts_with("url:") && trimmed.contains("/prometheus") {
                        edits += 1;
                        format!("{indent}url: \"{prometheus}\"")
                    } else if trimmed.starts_with("- alertmanager:") {
                        edits += 1;
                        format!("{indent}- alertmanager: {{url: \"{alertmanager}\", weight: 30}}")
                    } else if trimmed.starts_with("query:") {
                        edits += 1;
                        format!("{indent}query: max(app_error_ratio)")
                    } else {
                        line.to_string()
                    }
                })
                .collect();
            assert_eq!(
                edits, 3,
                "the demo policy's signals are not where this test expects them"
            );
            lines.join("\n") + "\n"
        })),
        ..Default::default()
    }
}

async fn ship(road: &Road, component: &str, message: &str, version: &str) {
    road.component_release(component, message, &format!("v{version}"))
        .await;
    road.bump_on_branch("rita", "main", component, version)
        .await;
}

fn score(note: &str) -> u32 {
    note.lines()
        .next()
        .and_then(|l| l.strip_prefix("score: "))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("the note's first line is `score: N`: {note}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calm_real_signals_with_a_silenced_alert_let_the_tag_become_a_release() {
    let Some(m) = real_signals::start(&metrics(0.01)).await else {
        return;
    };
    // Noise someone silenced: it must not count against the tag.
    m.post_alert(&[("alertname", "NoisyCanary"), ("severity", "page")])
        .await;
    m.silence("alertname", "NoisyCanary").await;
    m.wait_alerts("NoisyCanary silenced", |a| {
        a.iter().all(|a| a["status"]["state"] == "suppressed") && !a.is_empty()
    })
    .await;

    let road = Road::start_with(pointed_at(&m)).await;
    road.wait_staging("v1.0.0").await;
    let samples = road
        .wait_for("a sample of v1.0.0", || async { road.samples("v1.0.0") })
        .await;
    assert!(
        samples.contains("prometheus:error-rate=1 ") && samples.contains(" alerts=1 "),
        "the real Prometheus (0.01 <= 0.05) and the silenced alert both read as healthy: {samples}"
    );
    ship(&road, "checkout", "feat(cart): saved carts", "2.1.0").await;
    road.wait_staging("v1.1.0").await;
    let note = road
        .wait_for("v1.0.0's note", || async { road.note("v1.0.0") })
        .await;
    assert!(score(&note) >= 80, "calm staging passes the KPI: {note}");
    assert!(note.contains("passed: true"), "{note}");
    road.wait_for("v1.0.0 published", || async {
        road.release("v1.0.0").await.filter(|r| r["draft"] == false)
    })
    .await;
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_error_rate_and_a_firing_alert_keep_the_tag_from_release() {
    let Some(m) = real_signals::start(&metrics(0.3)).await else {
        return;
    };
    m.post_alert(&[("alertname", "HighLatency"), ("severity", "page")])
        .await;
    m.wait_alerts("HighLatency firing", |a| {
        !real_signals::named(a, "HighLatency").is_empty()
    })
    .await;

    let road = Road::start_with(pointed_at(&m)).await;
    road.wait_staging("v1.0.0").await;
    let samples = road
        .wait_for("a sample of v1.0.0", || async { road.samples("v1.0.0") })
        .await;
    assert!(
        samples.contains("prometheus:error-rate=0 ") && samples.contains(" alerts=0 "),
        "0.3 > 0.05 and HighLatency fires: {samples}"
    );
    ship(&road, "checkout", "feat(cart): saved carts", "2.1.0").await;
    road.wait_staging("v1.1.0").await;
    let note = road
        .wait_for("v1.0.0's note", || async { road.note("v1.0.0") })
        .await;
    assert!(score(&note) < 80, "stormy staging fails the KPI: {note}");
    assert!(note.contains("passed: false"), "{note}");
    road.stays("v1.0.0 published", 6, || async {
        road.release("v1.0.0")
            .await
            .is_some_and(|r| r["draft"] == false)
    })
    .await;
    road.stop().await;
}
