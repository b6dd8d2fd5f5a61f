//! How long a person waits for the dashboard: the page for a road of 1,000
//! components, rendered from the last pass's snapshot (first view, then a
//! view from the page cache), over HTTP on loopback as a browser asks — the
//! default view (what differs or is in flight: one in 100 components runs
//! an older version on the last environment), `?all=1`, and two component
//! pages (an added one, and one of the demo world's own).
//!
//! `cargo bench --bench dashboard` (`DASHBOARD_COMPONENTS=1000 DASHBOARD_ROUNDS=10`).
//! Figures and the machine: docs/benchmarks.md. Tests check what is on the
//! page, never how fast it comes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use semver::Version;
use stagecoach::engine::Engine;
use stagecoach::forge::github::GitHub;
use stagecoach::sandbox::{self, Sandbox, SandboxOptions};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn engine(sb: &Sandbox, dir: &std::path::Path) -> Engine {
    // The kit's config for the sandbox, with the bot's default budget.
    let mut bot = stagecoach::kit::BotConfig::for_sandbox(sb, &dir.join("cache"));
    bot.budget = None;
    let config = bot.parse().expect("config");
    let forge = GitHub::from_config(&config).expect("forge");
    Engine::new(config, Arc::new(forge))
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn summary(what: &str, mut runs: Vec<Duration>) {
    runs.sort();
    let median = runs[runs.len() / 2];
    let max = runs[runs.len() - 1];
    println!(
        "{what}: median {:.1} ms, min {:.1} ms, max {:.1} ms ({} rounds)",
        millis(median),
        millis(runs[0]),
        millis(max),
        runs.len()
    );
}

fn main() {
    let components = env_usize("DASHBOARD_COMPONENTS", 1000);
    let rounds = env_usize("DASHBOARD_ROUNDS", 10).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let tmp = tempfile::tempdir().expect("tmp");
        let sb = sandbox::start(SandboxOptions::new(tmp.path().join("sandbox")))
            .await
            .expect("sandbox");
        // One pass over the demo world gives a real snapshot to inflate.
        let first = engine(&sb, tmp.path());
        first.pass().await.expect("pass");
        let observed = first.last_observed().expect("observed");
        let mut snap = observed.snapshot.clone();
        let (demo, pin) = snap
            .product
            .manifest
            .components
            .iter()
            .next()
            .map(|(n, p)| (n.clone(), p.clone()))
            .expect("a component");
        let last_env = snap.envs.len().saturating_sub(1);
        for i in 0..components {
            let name = format!("svc-{i:04}");
            snap.product
                .manifest
                .components
                .insert(name.clone(), pin.clone());
            for (e, env) in snap.envs.iter_mut().enumerate() {
                let minor = if e == last_env && i % 100 == 0 { 0 } else { 1 + (i % 7) };
                for versions in env.versions.values_mut() {
                    versions.insert(name.clone(), Version::new(1, minor as u64, 0));
                }
            }
        }
        let differing = format!("svc-{:04}", (components.saturating_sub(1) / 100) * 100);
        let http = stagecoach::engine::http::client_builder()
            .build()
            .expect("http");
        let mut cold = Vec::new();
        let mut cached = Vec::new();
        let mut all_cold = Vec::new();
        let mut one = Vec::new();
        let mut demo_runs = Vec::new();
        let (mut bytes, mut all_bytes, mut one_bytes, mut demo_bytes) = (0, 0, 0, 0);
        for _ in 0..rounds {
            // A new engine and router each round: the page cache starts empty.
            let e = Arc::new(engine(&sb, tmp.path()));
            e.remember(observed.policy.clone(), snap.clone());
            let app = stagecoach::dashboard::router_on(e, "127.0.0.1:0");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let base = format!("http://{}", listener.local_addr().expect("addr"));
            let url = format!("{base}/");
            let task = tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            for runs in [&mut cold, &mut cached] {
                let started = Instant::now();
                let page = http
                    .get(&url)
                    .send()
                    .await
                    .expect("get")
                    .text()
                    .await
                    .expect("page");
                runs.push(started.elapsed());
                // The default view lists what differs, not the rest.
                assert!(page.contains(&format!("data-name=\"{differing}\"")));
                assert!(!page.contains("data-name=\"svc-0001\""));
                bytes = page.len();
            }
            for (path, runs, size, needle) in [
                ("/?all=1", &mut all_cold, &mut all_bytes, "svc-0001"),
                (
                    &format!("/component/{differing}") as &str,
                    &mut one,
                    &mut one_bytes,
                    "id=\"versions-table\"",
                ),
                (
                    &format!("/component/{demo}") as &str,
                    &mut demo_runs,
                    &mut demo_bytes,
                    "id=\"history-table\"",
                ),
            ] {
                let started = Instant::now();
                let page = http
                    .get(format!("{base}{path}"))
                    .send()
                    .await
                    .expect("get")
                    .text()
                    .await
                    .expect("page");
                runs.push(started.elapsed());
                assert!(page.contains(needle), "{path} lacks {needle}");
                *size = page.len();
            }
            task.abort();
        }
        println!(
            "dashboard: {components} extra components; default page {bytes} bytes, ?all=1 {all_bytes} bytes, /component/{differing} {one_bytes} bytes, /component/{demo} {demo_bytes} bytes"
        );
        summary("default view, first (rendered)", cold);
        summary("default view, second (page cache)", cached);
        summary("?all=1 (rendered)", all_cold);
        summary("one component's page (rendered)", one);
        summary("a demo component's page (rendered)", demo_runs);
        sb.shutdown().await;
    });
}
