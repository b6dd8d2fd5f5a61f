//! The dashboard in a real browser, against the demo road in the sandbox:
//! the road, the releases table and the PRs in the DOM, a screenshot, the
//! read token, `/metrics` from git history, and 1,000 components in < 200 ms.

mod people_support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use semver::Version;
use stagecoach::bot::Bot;
use stagecoach::engine::Engine;
use stagecoach::forge::github::GitHub;
use stagecoach::metrics::Metrics;

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium(profile: &Path, extra: &[&str], url: &str) -> std::process::Output {
    let mut cmd = Command::new(CHROMIUM);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(url);
    cmd.output().expect("run chromium")
}

/// The dashboard alone (no reconcile loop), for engines fed a snapshot.
async fn dashboard_only(engine: Arc<Engine>) -> (String, tokio::task::JoinHandle<()>) {
    let app = stagecoach::dashboard::router_on(engine, "127.0.0.1:0");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), task)
}

async fn get(client: &reqwest::Client, url: &str, bearer: Option<&str>) -> (u16, String) {
    let mut req = client.get(url);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    (res.status().as_u16(), res.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_the_road_and_releases_in_a_real_browser() {
    let road = people_support::played_road().await;
    let config = people_support::config(&road.sb, road.dir.path(), None);
    let metrics = Arc::new(Metrics::new());
    let forge = GitHub::from_config(&config).expect("forge");
    let engine = Arc::new(Engine::new(config, Arc::new(forge)).with_metrics(metrics.clone()));
    let dash = stagecoach::dashboard::router_on(engine.clone(), "127.0.0.1:0");
    let bot = Bot::start(
        engine.clone(),
        metrics,
        "127.0.0.1:0",
        Some("s3cret".into()),
        Duration::from_secs(3600),
        Some(dash),
    )
    .await
    .expect("bot");
    let base = format!("http://{}", bot.addr);
    let client = stagecoach::engine::http::client_builder()
        .build()
        .expect("client");

    // The first resync tick makes a pass; wait for its snapshot.
    let deadline = Instant::now() + Duration::from_secs(60);
    while engine.last_observed().is_none() {
        assert!(Instant::now() < deadline, "the bot never made a pass");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, html) = get(&client, &format!("{base}/"), None).await;
    assert_eq!(code, 200, "loopback needs no login: {html}");
    assert!(html.contains("id=\"releases-table\""));

    // /metrics: decisions, and lead times and rollbacks from git history.
    let (code, text) = get(&client, &format!("{base}/metrics"), None).await;
    assert_eq!(code, 200);
    for needle in [
        "stagecoach_lead_time_seconds{stat=\"max\",to=\"product_tag\"}",
        "stagecoach_lead_time_seconds{stat=\"median\",to=\"prod\"}",
        "stagecoach_landscape_commits{action=\"rollback\",env=\"ci\"} 1",
        "stagecoach_product_tags{kind=\"hotfix\"} 1",
        "stagecoach_env_tag{env=\"prod\",tag=\"v1.1.1\"} 1",
        "stagecoach_stability_score{tag=\"v1.0.0\"}",
    ] {
        assert!(text.contains(needle), "/metrics lacks {needle}:\n{text}");
    }

    // A read token, when set, is needed even on loopback.
    {
        let config = people_support::config(&road.sb, road.dir.path(), Some("let-me-read"));
        let forge = GitHub::from_config(&config).expect("forge");
        let guarded = Arc::new(Engine::new(config, Arc::new(forge)));
        if let Some(o) = engine.last_observed() {
            guarded.remember(o.policy.clone(), o.snapshot.clone());
        }
        let (addr, task) = dashboard_only(guarded).await;
        let url = format!("{addr}/dashboard");
        assert_eq!(get(&client, &url, None).await.0, 401);
        assert_eq!(get(&client, &url, Some("wrong")).await.0, 401);
        assert_eq!(get(&client, &url, Some("let-me-read")).await.0, 200);
        assert_eq!(
            get(&client, &format!("{url}?token=let-me-read"), None)
                .await
                .0,
            200
        );
        task.abort();
    }

    // 1,000 components: the page renders from the last snapshot in < 200 ms.
    {
        let o = engine.last_observed().expect("observed");
        let mut snap = o.snapshot.clone();
        let pin = snap
            .product
            .manifest
            .components
            .values()
            .next()
            .cloned()
            .expect("pin");
        for i in 0..1000 {
            let name = format!("svc-{i:04}");
            snap.product
                .manifest
                .components
                .insert(name.clone(), pin.clone());
            for env in &mut snap.envs {
                for versions in env.versions.values_mut() {
                    versions.insert(name.clone(), Version::new(1, i % 7, 0));
                }
            }
        }
        let config = people_support::config(&road.sb, road.dir.path(), None);
        let forge = GitHub::from_config(&config).expect("forge");
        let big = Arc::new(Engine::new(config, Arc::new(forge)));
        big.remember(o.policy.clone(), snap);
        let (addr, task) = dashboard_only(big).await;
        let url = format!("{addr}/");
        let start = Instant::now();
        let (code, html) = get(&client, &url, None).await;
        let first = start.elapsed();
        let start = Instant::now();
        let _ = get(&client, &url, None).await;
        let cached = start.elapsed();
        assert_eq!(code, 200);
        assert!(html.contains("svc-0999"));
        println!("dashboard, 1000 components: first render {first:?}, cached {cached:?}");
        assert!(
            first < Duration::from_millis(200),
            "first render took {first:?}"
        );
        task.abort();
    }

    // ── the real browser ──
    if !Path::new(CHROMIUM).exists() {
        println!("SKIPPED the browser part: {CHROMIUM} is absent (apt-get install -y chromium)");
        bot.shutdown().await;
        road.sb.shutdown().await;
        return;
    }
    let shots = tempfile::tempdir().expect("tmp");
    let url = format!("{base}/dashboard");
    let dom = tokio::task::spawn_blocking({
        let (p, url) = (shots.path().join("profile-dom"), url.clone());
        move || chromium(&p, &["--dump-dom"], &url)
    })
    .await
    .expect("chromium");
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&dom.stderr)
    );
    for needle in [
        "id=\"road\"",
        "data-env=\"ci\"",
        "data-env=\"staging\"",
        "data-env=\"canary\"",
        "data-env=\"prod\"",
        "wave 2: healthy",
        "id=\"releases-table\"",
        "data-tag=\"v1.1.1\"",
        "hotfix of v1.1.0",
        "data-tag=\"v1.0.0\"",
        "BREAKING",
        "Recent bot actions",
    ] {
        assert!(
            dom_text.contains(needle),
            "the page lacks {needle}:\n{dom_text}"
        );
    }
    let png = shots.path().join("dashboard.png");
    let shot = tokio::task::spawn_blocking({
        let (p, png, url) = (shots.path().join("profile-shot"), png.clone(), url.clone());
        move || chromium(&p, &[&format!("--screenshot={}", png.display())], &url)
    })
    .await
    .expect("chromium");
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        bytes.len() > 20_000,
        "a blank page is tiny: {} bytes",
        bytes.len()
    );
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::copy(&png, &keep).expect("keep screenshot");
    println!("screenshot: {} ({} bytes)", keep.display(), bytes.len());

    bot.shutdown().await;
    road.sb.shutdown().await;
}
