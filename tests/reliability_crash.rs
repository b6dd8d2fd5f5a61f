//! Crash anywhere: the real `stagecoach serve` process is SIGKILLed at random
//! points while low-risk changes, one after another, travel through product PR, CI, merge and
//! product tag, and restarted each time. The road ends where it would have
//! without the kills, with no duplicate PR, comment, CI deploy, tag or note.
//!
//! `RELIABILITY_KILLS=N` sets the number of kills (default 20; one to two minutes);
//! `RELIABILITY_SEED=S` replays one run's kill times.

mod reliability_support;

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use reliability_support::*;

fn spawn_serve(config: &Path, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log");
    Command::new(env!("CARGO_BIN_EXE_stagecoach"))
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info")
        // Its `stagecoach serving on http://ADDR` line (port 0) goes to the log too.
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn stagecoach serve")
}

/// Wait for the life just spawned (its log from byte `from` on) to say where
/// it listens (port 0), and point the sandbox's webhook there.
async fn listen_here(rig: &Rig, log: &Path, from: usize) -> String {
    let addr = serving_addr(log, from).await;
    rig.sb.set_webhook(
        Some(format!("http://{addr}/webhook")),
        Some(rig.secret.clone()),
    );
    addr
}

fn log_len(log: &Path) -> usize {
    std::fs::metadata(log).map_or(0, |m| m.len() as usize)
}

fn kill9(child: &mut Child) {
    // SIGKILL: no shutdown hook, no finishing the action in hand.
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_converges_without_duplicates() {
    let kills: usize = std::env::var("RELIABILITY_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("RELIABILITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("crash test: {kills} kills, RELIABILITY_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let rig = Rig::new().await;
    let cfg_dir = tempfile::tempdir().expect("tmp");
    let config = cfg_dir.path().join("stagecoach.yaml");
    let log = cfg_dir.path().join("serve.log");
    std::fs::write(
        &config,
        format!(
            "forge: {{api_url: \"{api}\", token: \"{token}\", budget: {budget}}}\n\
             git: {{url: \"{url}\", cache_dir: \"{cache}\"}}\n\
             product: {{repo: acme/product}}\n\
             server: {{listen: \"127.0.0.1:0\", webhook_secret: \"{secret}\", resync: 300ms}}\n",
            api = rig.sb.api_url,
            budget = stagecoach::sandbox::BOT_BUDGET,
            token = rig.sb.world.bot_token(),
            url = rig.sb.git_http_url_template(),
            cache = cfg_dir.path().join("cache").display(),
            secret = rig.secret,
        ),
    )
    .expect("config");
    let alice = rig.person("alice");
    let start_tags = rig.world().tags("product").len();

    let started = Instant::now();
    let mut mid_flow = 0;
    // Changes are released one after another: a new one as soon as the one in
    // flight is tagged, so most kills land while there is work in hand.
    let mut changes: Vec<String> = Vec::new();
    let release = |k: usize| {
        let alice = alice.clone();
        async move {
            let version = format!("1.4.{}", 3 + k);
            low_risk_release(
                &alice,
                "payments",
                &format!("fix/crash-{k}"),
                &format!("v{version}"),
            )
            .await;
            version
        }
    };
    changes.push(release(0).await);
    for _ in 0..kills {
        let born = Instant::now();
        let from = log_len(&log);
        let mut child = spawn_serve(&config, &log);
        // Anywhere from before the first pass to the middle of a few actions.
        let life = Duration::from_millis(rng.random_range(100..1200));
        listen_here(&rig, &log, from).await;
        tokio::time::sleep(life.saturating_sub(born.elapsed())).await;
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "stagecoach serve exited by itself ({status}); log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        kill9(&mut child);
        if rig.world().tags("product").len() - start_tags >= changes.len() {
            changes.push(release(changes.len()).await);
        } else {
            mid_flow += 1;
        }
    }
    eprintln!(
        "{kills} kills in {:.1}s, {mid_flow} of them while a change was in flight; {} changes",
        started.elapsed().as_secs_f64(),
        changes.len()
    );

    // The last life: no more kills; the road must end where it would have.
    // Twenty cold starts in a few seconds can spend more than a minute's
    // points, and the sandbox then holds the bot for a minute as GitHub
    // would: the road must still end right, so the last life may outlast it.
    const LAST_LIFE: Duration = Duration::from_secs(180);
    let from = log_len(&log);
    let mut child = spawn_serve(&config, &log);
    let addr = listen_here(&rig, &log, from).await;
    let mut numbers = Vec::new();
    for version in &changes {
        let head = format!("stagecoach/payments-{version}");
        let pr = wait_for(&format!("product PR for {version}"), LAST_LIFE, || {
            pr_by_head(&alice, "product", &head)
        })
        .await;
        let n = pr["number"].as_u64().expect("number");
        wait_merged(&alice, n, LAST_LIFE).await;
        numbers.push(n);
    }
    wait_for("a product tag per change", LAST_LIFE, || async {
        (rig.world().tags("product").len() >= start_tags + changes.len()).then_some(())
    })
    .await;
    // A few more whole passes: a late duplicate would show now.
    wait_child_passes(&rig.http, &addr, 3, LAST_LIFE).await;
    kill9(&mut child);

    let world = rig.world();
    assert_eq!(
        world.tags("product").len(),
        start_tags + changes.len(),
        "one product tag per merged change: {:?}",
        world.tags("product")
    );
    for n in &numbers {
        let key = format!("acme/product#{n}");
        let deploys = world.commits_with(
            "landscape-ci",
            &[("Stagecoach-Action", "bump"), ("Stagecoach-Product", &key)],
        );
        assert_eq!(deploys, 1, "{deploys} CI deploys of product#{n}");
    }
    assert_nothing_doubled(&alice, &["product", "payments"]).await;
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !log_text.contains("panicked"),
        "serve panicked:\n{log_text}"
    );
    assert!(
        !log_text.contains(rig.sb.world.bot_token()),
        "serve logged its token"
    );
    rig.stop().await;
}
