//! Flow 6 on the sandbox: release managers promote a release to canary, then
//! to prod in waves with a soak between them; a non-release needs an
//! override (recorded in the commit), prod only takes what canary runs, an
//! unhealthy wave is rolled back and stops the promotion (exit 1), a
//! finished promotion re-run does nothing, and others are refused (exit 2).

mod support;

use support::Road;

/// The world after one release: v1.0.0 passed the KPI (a release), v1.1.0
/// (checkout 2.1.0) is on staging and not a release yet.
async fn road_with_a_release() -> Road {
    let road = Road::start().await;
    road.one_release_later().await;
    road
}

fn wave_commits(road: &Road, tag: &str) -> Vec<(String, String)> {
    road.commits("landscape-prod", "main")
        .into_iter()
        .filter(|(_, m)| {
            m.contains(&format!("Stagecoach-Product: {tag}")) && m.contains("Stagecoach-Wave:")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_goes_to_canary_then_to_prod_in_waves_and_only_once() {
    let road = road_with_a_release().await;
    let rita = road.engine_as("rita");

    let err = road
        .engine_as("ron")
        .promote("v1.0.0", "canary", None)
        .await
        .expect_err("ron may not promote");
    assert_eq!(err.exit_code(), 3, "{err}");
    assert_eq!(err.kind(), stagecoach::error::Kind::Denied);
    let err = road
        .engine_as("bob")
        .promote("v1.0.0", "canary", None)
        .await
        .expect_err("bob is not a release manager");
    assert_eq!(err.exit_code(), 3, "{err}");

    let err = rita
        .promote("v1.1.0", "canary", None)
        .await
        .expect_err("v1.1.0 is not a release");
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(err.to_string().contains("--override"), "{err}");

    let err = rita
        .promote("v1.0.0", "prod", None)
        .await
        .expect_err("v1.0.0 is not on canary");
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(err.to_string().contains("canary"), "{err}");

    rita.promote("v1.0.0", "canary", None)
        .await
        .expect("canary");
    let before = road.commits("landscape-prod", "main").len();
    let done = rita.promote("v1.0.0", "prod", None).await.expect("prod");
    assert!(
        done.steps.iter().any(|s| s.contains("soaking wave 1/2")),
        "{:#?}",
        done.steps
    );
    let waves = wave_commits(&road, "v1.0.0");
    assert_eq!(waves.len(), 2, "one commit per wave: {waves:#?}");
    // Newest first: wave 2 (eu-2, us-1) after wave 1 (eu-1), soak between.
    assert!(
        waves[0].1.contains("Stagecoach-Wave: 2/2"),
        "{}",
        waves[0].1
    );
    assert!(waves[0].1.contains("eu-2, us-1"), "{}", waves[0].1);
    assert!(
        waves[1].1.contains("Stagecoach-Wave: 1/2"),
        "{}",
        waves[1].1
    );
    let r = road.bare("landscape-prod");
    let time = |sha: &str| {
        r.find_commit(git2::Oid::from_str(sha).expect("oid"))
            .expect("commit")
            .time()
            .seconds()
    };
    assert!(
        time(&waves[0].0) - time(&waves[1].0) >= 2,
        "the policy's 2s soak between waves"
    );
    for sha in [&waves[0].0, &waves[1].0] {
        let health = road
            .status_of("landscape-prod", sha, "stagecoach/health")
            .await;
        assert_eq!(health.map(|(s, _)| s).as_deref(), Some("success"));
    }

    // Re-running a finished promotion does nothing.
    let again = rita.promote("v1.0.0", "prod", None).await.expect("again");
    assert!(again.steps.is_empty(), "{:#?}", again.steps);
    assert_eq!(
        road.commits("landscape-prod", "main").len(),
        before + 2,
        "no new commit on prod"
    );
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_is_recorded_and_an_unhealthy_wave_is_rolled_back() {
    let road = road_with_a_release().await;
    let rita = road.engine_as("rita");
    rita.promote(
        "v1.1.0",
        "canary",
        Some("customer demo needs saved carts".into()),
    )
    .await
    .expect("override");
    let canary = road.log("landscape-canary", "main");
    assert!(
        canary[0].contains("Stagecoach-Override: customer demo needs saved carts"),
        "{}",
        canary[0]
    );
    assert_eq!(
        road.landscape_version("canary", "canary-1", "checkout")
            .as_deref(),
        Some("2.1.0")
    );

    // Prod: wave 1 is healthy, then checkout 2.1.0 starts crash-looping.
    let promotion = tokio::spawn(async move { rita.promote("v1.1.0", "prod", None).await });
    let wave1 = road
        .wait_for("wave 1 healthy", || async {
            let (sha, _) = wave_commits(&road, "v1.1.0").into_iter().last()?;
            road.status_of("landscape-prod", &sha, "stagecoach/health")
                .await
                .filter(|(s, _)| s == "success")
                .map(|_| sha)
        })
        .await;
    road.make_unhealthy("checkout@2.1.0");
    let err = promotion
        .await
        .expect("task")
        .expect_err("the second wave is unhealthy");
    assert_eq!(err.exit_code(), 1, "{err}");
    assert!(err.to_string().contains("rolled back"), "{err}");

    let log = road.log("landscape-prod", "main");
    assert!(log[0].contains("Stagecoach-Action: rollback"), "{}", log[0]);
    assert!(log[0].contains("wave 2/2"), "{}", log[0]);
    assert_eq!(
        road.landscape_version("prod", "eu-1", "checkout")
            .as_deref(),
        Some("2.1.0"),
        "wave 1 stays"
    );
    for cluster in ["eu-2", "us-1"] {
        assert_eq!(
            road.landscape_version("prod", cluster, "checkout")
                .as_deref(),
            Some("2.0.1"),
            "wave 2 rolled back on {cluster}"
        );
    }
    assert!(!log[0].contains(&wave1), "wave 1 was not the one reverted");

    // A failed promotion is not retried by accident.
    let err = road
        .engine_as("rita")
        .promote("v1.1.0", "prod", None)
        .await
        .expect_err("stopped");
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(err.to_string().contains("unhealthy"), "{err}");
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_earlier_release_is_promoted_again_and_a_rollback_goes_in_waves_naming_who_asked() {
    let road = road_with_a_release().await;
    let rita = road.engine_as("rita");
    let checkout =
        |env: &'static str, cluster: &'static str| road.landscape_version(env, cluster, "checkout");
    rita.promote("v1.0.0", "canary", None)
        .await
        .expect("canary");
    rita.promote("v1.0.0", "prod", None).await.expect("prod");
    rita.promote("v1.1.0", "canary", Some("saved carts for a demo".into()))
        .await
        .expect("v1.1.0 on canary");
    assert_eq!(checkout("canary", "canary-1").as_deref(), Some("2.1.0"));
    let canary = road.log("landscape-canary", "main");
    assert!(
        canary[0].contains("Stagecoach-Requested-By: rita"),
        "{}",
        canary[0]
    );

    // Promoting the older release again really moves canary back.
    rita.promote("v1.0.0", "canary", None)
        .await
        .expect("v1.0.0 on canary again");
    assert_eq!(
        checkout("canary", "canary-1").as_deref(),
        Some("2.0.1"),
        "canary runs v1.0.0 now, not only in its history"
    );

    // Prod goes to v1.1.0 (canary runs it again), then rolls back to v1.0.0.
    rita.promote("v1.1.0", "canary", Some("saved carts for a demo".into()))
        .await
        .expect("v1.1.0 on canary again");
    rita.promote("v1.1.0", "prod", None)
        .await
        .expect("v1.1.0 on prod");
    for cluster in ["eu-1", "eu-2", "us-1"] {
        assert_eq!(checkout("prod", cluster).as_deref(), Some("2.1.0"));
    }
    let err = rita
        .rollback("prod", Some("v9.9.9"))
        .await
        .expect_err("never ran on prod");
    assert_eq!(err.exit_code(), 2, "{err}");
    let before = wave_commits(&road, "v1.0.0").len();
    let done = rita.rollback("prod", None).await.expect("rollback");
    assert_eq!(done.tag, "v1.0.0", "the release prod ran before");
    for cluster in ["eu-1", "eu-2", "us-1"] {
        assert_eq!(
            checkout("prod", cluster).as_deref(),
            Some("2.0.1"),
            "{cluster} back on v1.0.0"
        );
    }
    let waves = wave_commits(&road, "v1.0.0");
    assert_eq!(waves.len(), before + 2, "the rollback went wave by wave");
    for (sha, message) in &waves[..2] {
        assert!(
            message.contains("Stagecoach-Override: rollback from v1.1.0 to v1.0.0"),
            "{message}"
        );
        assert!(
            message.contains("Stagecoach-Requested-By: rita"),
            "{message}"
        );
        let health = road
            .status_of("landscape-prod", sha, "stagecoach/health")
            .await;
        assert_eq!(health.map(|(s, _)| s).as_deref(), Some("success"));
    }
    let err = road
        .engine_as("bob")
        .rollback("prod", None)
        .await
        .expect_err("bob is not a release manager");
    assert_eq!(err.exit_code(), 3, "not allowed: {err}");
    road.stop().await;
}

/// The tag `.stagecoach/promotion.yaml` on canary's main names.
fn canary_tag(road: &Road) -> Option<String> {
    let marker = road.file_at("landscape-canary", "main", ".stagecoach/promotion.yaml")?;
    marker
        .lines()
        .find_map(|l| l.trim().strip_prefix("tag: ").map(str::to_string))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promote_comment_once_carried_out_never_puts_its_tag_back_after_the_environment_moves_on()
{
    let road = road_with_a_release().await;
    let rita = road.person("rita");
    let pr = road.landscape_pr("canary").await;
    rita.comment("landscape-canary", pr, "/promote v1.0.0")
        .await
        .expect("comment");
    road.wait_comment("landscape-canary", pr, "v1.0.0 runs on canary")
        .await;
    assert_eq!(canary_tag(&road).as_deref(), Some("v1.0.0"));

    // Canary moves on by hand while the PR with the old ask stays open.
    road.engine_as("rita")
        .promote("v1.1.0", "canary", Some("try the saved carts".into()))
        .await
        .expect("v1.1.0 to canary");
    assert_eq!(canary_tag(&road).as_deref(), Some("v1.1.0"));
    let commits = road.commits("landscape-canary", "main").len();
    // Two whole passes of the running bot later, the ask has not put v1.0.0
    // back, and its answer still says it was carried out.
    road.wait_passes(2).await;
    assert_eq!(canary_tag(&road).as_deref(), Some("v1.1.0"));
    assert_eq!(road.commits("landscape-canary", "main").len(), commits);
    let said = road.bot_comments("landscape-canary", pr).await;
    assert!(
        said.iter().any(|b| b.contains("v1.0.0 runs on canary")),
        "{said:?}"
    );
    road.stop().await;
}
