//! A landscape laid out its own way (`environments[].files`: one file per cluster, the component in the key): the bot reads and edits the right value in the right file, keeping every comment and the formatting.

mod support;

use support::{LOW, Road, RoadOptions, number};

/// CI's values in one file per cluster, as some teams keep them: comments,
/// quoting, a flow mapping and blank lines that must all survive the bot.
const APPS: &str = r#"# ci-1: every app of the CI cluster in one file.
# Stagecoach bumps `<app>.image.tag`; people own the rest.

payments:
  image:
    repository: registry.acme.example/payments   # the team's registry
    tag: "1.4.2"   # bumped by Stagecoach
  replicas: 2

checkout:
  image: {repository: registry.acme.example/checkout, tag: 2.0.1}

search:
  image:
    tag: '0.9.0'
    pullPolicy: IfNotPresent  # keep
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_landscape_with_its_own_layout_is_edited_in_place_keeping_comments() {
    let road = Road::start_with(RoadOptions {
        policy: Some(Box::new(|p: &str| {
            // The first `files` is CI's.
            p.replacen(
                "files: [{path: \"clusters/{cluster}/{component}/values.yaml\", key: image.tag}]",
                "files: [{path: \"apps/{cluster}.yaml\", key: \"{component}.image.tag\"}]",
                1,
            )
        })),
        ..Default::default()
    })
    .await;
    road.person("rita")
        .commit_files(
            "landscape-ci",
            "main",
            &[("apps/ci-1.yaml", APPS)],
            "chore: CI values in one file per cluster",
        )
        .await
        .expect("commit the CI layout");
    let untouched = road.file_at("landscape-ci", "main", "clusters/ci-1/payments/values.yaml");

    // A low-risk payments release goes through CI on the new layout.
    let pr = road
        .released(
            "payments",
            "fix/cart",
            "fix(cart): empty cart",
            LOW,
            "v1.4.3",
        )
        .await;
    road.wait_merged("product", number(&pr)).await;
    let text = road
        .wait_for("CI's apps/ci-1.yaml runs payments 1.4.3", || async {
            road.file_at("landscape-ci", "main", "apps/ci-1.yaml")
                .filter(|t| t.contains("1.4.3"))
        })
        .await;
    assert_eq!(
        text,
        APPS.replace("tag: \"1.4.2\"", "tag: \"1.4.3\""),
        "only payments' tag changed; comments, quotes and layout kept"
    );
    assert_eq!(
        road.file_at("landscape-ci", "main", "clusters/ci-1/payments/values.yaml"),
        untouched,
        "the default layout's file is not CI's any more and is left alone"
    );
    let deploy = road
        .log("landscape-ci", "main")
        .into_iter()
        .find(|m| m.contains("Stagecoach-Action: bump"))
        .expect("a CI deploy commit");
    assert!(deploy.contains("payments 1.4.2 → 1.4.3"), "{deploy}");
    road.wait_tag("v1.0.1").await;
    road.stop().await;
}
