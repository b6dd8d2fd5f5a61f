//! Flow 7 on the sandbox, as the hotfix runbook: on-call labels a released
//! component fix `hotfix-to/vX.Y.Z`; the bot cuts vX.Y.(Z+1) from that tag
//! (off main), sends it to canary, tells the PR how to go to prod, and makes
//! sure main carries the fix. A label from anyone else does nothing but say so.

mod support;

use support::{LOW, Road};

fn with_hotfix(label: &str) -> Vec<&str> {
    LOW.iter().copied().chain([label]).collect()
}

/// Main moves on first (checkout 2.1.0 → v1.1.0), so v1.0.0's next patch is free.
async fn main_moved_on(road: &Road) {
    road.component_release("checkout", "feat(cart): saved carts", "v2.1.0")
        .await;
    road.bump_on_branch("rita", "main", "checkout", "2.1.0")
        .await;
    road.wait_tag("v1.1.0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_call_hotfixes_a_release_off_main_to_canary_and_main_keeps_the_fix() {
    let road = Road::start().await;
    main_moved_on(&road).await;
    let n = road
        .component_pr(
            "alice",
            "payments",
            "fix/double-charge",
            "fix(payment): no double charge on retry",
            LOW,
        )
        .await;
    road.person("olga")
        .add_labels("payments", n, &["hotfix-to/v1.0.0"])
        .await
        .expect("label");
    road.wait_comment("payments", n, "starts once this PR is merged")
        .await;
    road.merge_and_release("alice", "payments", n, "v1.4.3")
        .await;

    let msg = road.wait_tag("v1.0.1").await;
    assert!(
        !road.on_main("product", "v1.0.1"),
        "a hotfix is cut off main"
    );
    assert!(msg.contains("Stagecoach-Action: hotfix"), "{msg}");
    assert!(msg.contains("Stagecoach-From: v1.0.0"), "{msg}");
    assert!(
        msg.contains(&format!("Stagecoach-Hotfix-For: acme/payments#{n}")),
        "{msg}"
    );
    assert!(msg.contains("no double charge"), "{msg}");
    let manifest = road
        .file_at("product", "v1.0.1", "product.yaml")
        .expect("manifest");
    assert!(manifest.contains("payments, version: 1.4.3"), "{manifest}");
    assert!(
        manifest.contains("checkout, version: 2.0.1"),
        "everything else as in v1.0.0: {manifest}"
    );

    road.wait_landscape("canary", "canary-1", "payments", "1.4.3")
        .await;
    let said = road
        .wait_comment("payments", n, "promote v1.0.1 --to prod")
        .await;
    assert!(said.contains("canary"), "{said}");
    road.wait_for("main carries payments 1.4.3", || async {
        road.file_at("product", "main", "product.yaml")
            .filter(|m| m.contains("payments, version: 1.4.3"))
    })
    .await;

    // On-call sends it on to prod.
    road.engine_as("olga")
        .promote("v1.0.1", "prod", None)
        .await
        .expect("on-call promotes a hotfix");
    for cluster in ["eu-1", "eu-2", "us-1"] {
        assert_eq!(
            road.landscape_version("prod", cluster, "payments")
                .as_deref(),
            Some("1.4.3")
        );
    }
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hotfix_label_from_someone_not_on_call_is_refused_and_nothing_happens() {
    let road = Road::start().await;
    main_moved_on(&road).await;
    let n = road
        .component_pr(
            "bob",
            "payments",
            "fix/double-charge",
            "fix(payment): no double charge on retry",
            LOW,
        )
        .await;
    road.merge_and_release("bob", "payments", n, "v1.4.3").await;
    road.person("bob")
        .add_labels("payments", n, &["hotfix-to/v1.0.0"])
        .await
        .expect("label");
    let said = road
        .wait_comment("payments", n, "may not trigger a hotfix")
        .await;
    assert!(said.contains("bob"), "{said}");
    assert!(said.contains("Nothing was done"), "{said}");
    let tags = road.tags("product");
    road.stays("a hotfix tag", 8, || async {
        road.tags("product").iter().any(|t| {
            road.tag_message("product", t)
                .is_some_and(|m| m.contains("Stagecoach-Action: hotfix"))
        })
    })
    .await;
    assert!(!tags.contains(&"v1.0.1".to_string()), "{tags:?}");
    assert!(
        road.bare("product")
            .find_branch("hotfix/v1.0.1", git2::BranchType::Local)
            .is_err(),
        "no hotfix branch"
    );
    assert_eq!(
        road.landscape_version("canary", "canary-1", "payments")
            .as_deref(),
        Some("1.4.2")
    );
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hotfix_takes_the_next_free_patch_number() {
    let road = Road::start().await;
    // Main already owns v1.0.1 (a patch of payments).
    road.component_release("payments", "fix: rounding", "v1.4.3")
        .await;
    road.bump_on_branch("rita", "main", "payments", "1.4.3")
        .await;
    road.wait_tag("v1.0.1").await;

    let labels = with_hotfix("hotfix-to/v1.0.0");
    let n = road
        .component_pr(
            "alice",
            "checkout",
            "fix/totals",
            "fix(cart): totals with coupons",
            &labels[..4],
        )
        .await;
    road.person("olga")
        .add_labels("checkout", n, &labels[4..])
        .await
        .expect("label");
    road.merge_and_release("alice", "checkout", n, "v2.0.2")
        .await;
    let msg = road.wait_tag("v1.0.2").await;
    assert!(msg.contains("Stagecoach-Action: hotfix"), "{msg}");
    assert!(msg.contains("Stagecoach-From: v1.0.0"), "{msg}");
    let manifest = road
        .file_at("product", "v1.0.2", "product.yaml")
        .expect("manifest");
    assert!(manifest.contains("checkout, version: 2.0.2"), "{manifest}");
    assert!(
        manifest.contains("payments, version: 1.4.2"),
        "built on v1.0.0, not on main: {manifest}"
    );
    road.wait_landscape("canary", "canary-1", "checkout", "2.0.2")
        .await;
    road.stop().await;
}
