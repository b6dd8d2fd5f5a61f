//! `stagecoach status` and `stagecoach releases` after the demo's road:
//! where a component, a version, a PR and a commit are, and the product tags
//! by stability score — including a tag below the KPI and a hotfix tag.

mod people_support;

use std::process::Command;
use std::sync::Arc;

use serde_json::Value;
use stagecoach::engine::Engine;
use stagecoach::forge::github::GitHub;
use stagecoach::status::{self, Query};

fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stagecoach"))
        .args(args)
        .output()
        .expect("run stagecoach");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_releases_tell_where_each_change_is_after_the_demo_road() {
    let road = people_support::played_road().await;
    let config = people_support::config(&road.sb, road.dir.path(), None);
    let forge = GitHub::from_config(&config).expect("forge");
    let engine = Engine::new(config, Arc::new(forge));
    let o = status::observe_now(&engine).await.expect("observe");

    // ── releases: newest first, scores and their parts, hotfix, below-KPI ──
    let rows = status::releases(&o, None);
    let tags: Vec<&str> = rows.iter().map(|r| r.tag.as_str()).collect();
    let pos = |t: &str| tags.iter().position(|x| *x == t).expect(t);
    assert!(pos("v1.1.1") < pos("v1.1.0"), "newest first: {tags:?}");
    assert!(pos("v1.1.0") < pos("v1.0.0"), "newest first: {tags:?}");
    let row = |t: &str| rows.iter().find(|r| r.tag == t).expect(t);
    let below = row("v1.0.0");
    assert_eq!(
        below.passed,
        Some(false),
        "v1.0.0 failed the KPI in stormy weather"
    );
    assert!(below.score.expect("scored") < 80);
    assert!(!below.release, "a tag below the KPI is no release");
    assert!(!below.parts.is_empty(), "the score's parts are shown");
    let released = row("v1.1.0");
    assert_eq!(released.passed, Some(true));
    assert!(released.release);
    assert!(released.score.expect("scored") >= 80);
    assert_eq!(released.headline, "checkout 2.0.1 → 2.1.0");
    let hotfix = row("v1.1.1");
    assert!(hotfix.hotfix && !hotfix.on_main);
    assert_eq!(hotfix.hotfix_of.as_deref(), Some("v1.1.0"));
    assert_eq!(
        hotfix.envs,
        ["canary", "prod"],
        "the hotfix runs on canary and prod"
    );
    assert_eq!(hotfix.headline, "hotfix of v1.1.0: checkout 2.1.0 → 2.1.1");
    let major = row("v2.0.0");
    assert!(major.breaking, "payments 2.0.0 is flagged breaking");
    assert_eq!(major.envs, ["staging"]);
    assert!(
        major.changes.iter().all(|c| c.component == "payments"),
        "v2.0.0 counts from v1.1.0, not from the hotfix beside main: {:?}",
        major.changes
    );
    let kept = status::releases(&o, Some(80));
    assert!(kept.iter().all(|r| r.score.is_some_and(|s| s >= 80)));
    assert!(kept.iter().any(|r| r.tag == "v1.1.0"));
    assert!(!kept.iter().any(|r| r.tag == "v1.0.0"));

    // ── status of a component: every cluster, waves, tags ──
    let s = status::locate(&engine, &o, Query::parse("checkout").expect("q"))
        .await
        .expect("checkout");
    assert_eq!(s.version.as_deref(), Some("2.1.1"));
    let prod = s.envs.iter().find(|e| e.env == "prod").expect("prod");
    assert_eq!(prod.carries, "all");
    assert_eq!(prod.clusters.len(), 3);
    assert_eq!(prod.tag.as_deref(), Some("v1.1.1"));
    assert_eq!(prod.waves.len(), 2);
    assert!(
        prod.waves.iter().all(|w| w.state == "healthy"),
        "{:?}",
        prod.waves
    );
    let staging = s.envs.iter().find(|e| e.env == "staging").expect("staging");
    assert_eq!(staging.carries, "none", "staging still runs checkout 2.1.0");
    assert!(s.product_tags.contains(&"v1.1.1".to_string()));
    assert!(!s.product_tags.contains(&"v1.1.0".to_string()));

    // ── a component PR: the first version containing it, then the road ──
    let s = status::locate(&engine, &o, Query::parse("acme/payments#1").expect("q"))
        .await
        .expect("payments#1");
    assert_eq!(s.version.as_deref(), Some("1.4.3"));
    assert!(
        s.found
            .as_deref()
            .unwrap_or("")
            .contains("first released in payments 1.4.3")
    );
    assert!(
        s.envs.iter().all(|e| e.carries == "all"),
        "1.4.3 is everywhere: {:?}",
        s.envs
    );
    assert_eq!(s.product_tags.first().map(String::as_str), Some("v1.0.1"));

    // ── a commit: the breaking change is on staging, not yet on prod ──
    let payments = git2::Repository::open_bare(road.sb.world.repo_path("payments")).expect("repo");
    let breaking = payments
        .revparse_single("v2.0.0^{commit}")
        .expect("v2.0.0")
        .id()
        .to_string();
    let s = status::locate(&engine, &o, Query::parse(&breaking[..10]).expect("q"))
        .await
        .expect("commit");
    assert_eq!(s.version.as_deref(), Some("2.0.0"));
    let carries = |env: &str| {
        s.envs
            .iter()
            .find(|e| e.env == env)
            .expect(env)
            .carries
            .clone()
    };
    assert_eq!(carries("staging"), "all");
    assert_eq!(carries("prod"), "none");
    assert!(matches!(
        status::locate(&engine, &o, Query::parse("deadbeefdeadbeef").expect("q")).await,
        Err(e) if e.exit_code() == 2
    ));

    // ── the command line: text tables and JSON for scripts ──
    let cfg = road.config_path.to_str().expect("utf8");
    let (code, out, err) = cli(&["releases", "--config", cfg, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let json: Value = serde_json::from_str(&out).expect("releases json");
    let first = &json.as_array().expect("array")[0];
    for key in [
        "tag", "score", "parts", "release", "age", "envs", "changes", "headline",
    ] {
        assert!(
            first.get(key).is_some(),
            "releases json lacks {key}: {first}"
        );
    }
    let (code, out, err) = cli(&["releases", "--config", cfg, "--min-score", "80"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("TAG") && out.contains("v1.1.0") && !out.contains("v1.0.0 "),
        "{out}"
    );
    let (code, out, err) = cli(&["status", "--config", cfg, "checkout@2.1.1"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ENV") && out.contains("waves 2/2"), "{out}");
    let (code, out, err) = cli(&["status", "--config", cfg, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let json: Value = serde_json::from_str(&out).expect("status json");
    assert_eq!(json["components"]["payments"], "2.0.0");
    let (code, _, err) = cli(&["status", "--config", cfg, "nosuch"]);
    assert_eq!(code, 2, "an unknown component is bad input");
    assert!(err.contains("no component `nosuch`"), "{err}");

    road.sb.shutdown().await;
}
