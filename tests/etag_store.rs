//! A restarted bot remembers its conditional requests: the first resync
//! after a restart is answered with 304s (free on GitHub) instead of costing
//! one rate-limited request per page.

use std::sync::Arc;

use stagecoach::config::Config;
use stagecoach::engine::Engine;
use stagecoach::forge::github::GitHub;
use stagecoach::sandbox::{self, Sandbox, SandboxOptions};

fn bot(sb: &Sandbox, store: &std::path::Path) -> Engine {
    let text = stagecoach::cli::sandbox::bot_config(&sb.world, &sb.api_url, "s3cret");
    let config = Config::parse(&text, "test config").expect("config");
    let forge = GitHub::from_config(&config)
        .expect("forge")
        .with_etag_store(store.to_path_buf());
    Engine::new(config, Arc::new(forge))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_resync_after_a_restart_is_answered_from_saved_etags() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = sandbox::start(SandboxOptions::new(tmp.path()))
        .await
        .expect("sandbox");
    let store = tmp.path().join("cache/etags.json");
    {
        let first = bot(&sb, &store);
        first.converge().await.expect("converge");
    }
    assert!(store.exists(), "the cache was saved after converging");
    let saved = std::fs::read_to_string(&store).expect("read");
    assert!(
        !saved.contains(sb.world.bot_token()),
        "the token is never written"
    );

    // A new process: same cache file, empty memory.
    let second = bot(&sb, &store);
    sb.reset_stats();
    assert!(
        second.pass().await.expect("pass").is_empty(),
        "nothing to do"
    );
    let stats = sb.stats();
    let me = stats
        .users
        .get("stagecoach-bot")
        .cloned()
        .unwrap_or_default();
    assert_eq!(me.writes, 0, "{:?}", me.by_method);
    assert!(
        me.not_modified > 0,
        "answered with 304s: {:?}",
        me.by_method
    );
    assert!(
        me.requests <= 2,
        "a restarted bot costs at most a couple of rate-limited requests, not {} ({:?})",
        me.requests,
        me.by_method
    );

    // Without the saved cache the same pass costs one request per page.
    let cold_dir = tempfile::tempdir().expect("tmp");
    let cold = bot(&sb, &cold_dir.path().join("etags.json"));
    sb.reset_stats();
    cold.pass().await.expect("pass");
    let cold_requests = sb
        .stats()
        .users
        .get("stagecoach-bot")
        .map(|u| u.requests)
        .unwrap_or_default();
    assert!(
        cold_requests > me.requests + 5,
        "cold {cold_requests} vs warm {}",
        me.requests
    );
    sb.shutdown().await;
}
