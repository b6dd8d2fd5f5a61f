//! Which component tags are releases: `release-7` and `v1.2` (not semver) and `v1.5.0-rc.1` (a pre-release) are not, and the merged PR is told why; a per-component prefix (`payments-v1.4.3`) is.

mod support;

use support::{LOW, Road, RoadOptions};

/// The bot's open product PRs for `component` (their head branches).
async fn product_branches(road: &Road, component: &str) -> Vec<String> {
    let list = road
        .person("alice")
        .get("/repos/acme/product/pulls?state=all&per_page=100")
        .await
        .expect("product pulls");
    let prefix = format!("stagecoach/{component}-");
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["head"]["ref"].as_str())
                .filter(|h| h.starts_with(&prefix))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_that_are_not_releases_are_named_on_the_pr_and_open_nothing() {
    let road = Road::start().await;
    let alice = road.person("alice");

    // 1. A merged fix whose pipeline tags it, but not as a release.
    let n = road
        .component_pr(
            "alice",
            "payments",
            "fix/refunds",
            "fix(refunds): round half up",
            LOW,
        )
        .await;
    let sha = alice.merge("payments", n).await.expect("merge");
    for tag in ["release-7", "v1.2"] {
        alice.tag("payments", tag, &sha).await.expect("tag");
    }
    let said = road
        .wait_for(
            "the PR is told why release-7 and v1.2 open nothing",
            || async {
                road.bot_comments("payments", n)
                    .await
                    .into_iter()
                    .find(|b| b.contains("release-7") && b.contains("v1.2"))
            },
        )
        .await;
    assert!(
        said.contains("`v1.2`: not semver after the prefix \"v\""),
        "{said}"
    );
    assert!(
        said.contains("`release-7`: not \"v\" and a semver version"),
        "{said}"
    );
    assert!(
        product_branches(&road, "payments").await.is_empty(),
        "no product PR for a tag that is not a release"
    );

    // 2. A pre-release is no version for the product to pin either.
    alice
        .tag("payments", "v1.5.0-rc.1", &sha)
        .await
        .expect("tag");
    let said = road
        .wait_comment("payments", n, "`v1.5.0-rc.1`: a pre-release")
        .await;
    assert!(
        said.contains("release-7"),
        "one comment names them all: {said}"
    );
    assert!(
        product_branches(&road, "payments").await.is_empty(),
        "no product PR for a pre-release"
    );

    // 3. The release itself opens the product PR, and the PR is told where it went.
    alice.tag("payments", "v1.5.0", &sha).await.expect("tag");
    let pr = road.product_pr_for("payments", "1.5.0").await;
    let body = pr["body"].as_str().unwrap_or_default();
    assert!(body.contains("from 1.4.2 to 1.5.0"), "{body}");
    road.wait_comment("payments", n, "Released in payments 1.5.0")
        .await;
    assert_eq!(
        product_branches(&road, "payments").await,
        vec!["stagecoach/payments-1.5.0".to_string()],
        "one product PR, for the release"
    );
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_with_its_own_tag_prefix_is_promoted_from_its_prefixed_tag() {
    let road = Road::start_with(RoadOptions {
        policy: Some(Box::new(|p: &str| {
            p.replace(
                "  tagging: component",
                "  component_tag_prefixes: {payments: payments-v}\n  tagging: component",
            )
        })),
        ..Default::default()
    })
    .await;
    let alice = road.person("alice");
    let n = road
        .component_pr(
            "alice",
            "payments",
            "fix/refunds",
            "fix(refunds): round half up",
            LOW,
        )
        .await;
    let sha = alice.merge("payments", n).await.expect("merge");

    // The product's prefix is not payments' any more: `v1.4.3` is not its release.
    alice.tag("payments", "v1.4.3", &sha).await.expect("tag");
    let said = road
        .wait_comment("payments", n, "`v1.4.3`: no prefix \"payments-v\"")
        .await;
    assert!(said.contains("`payments-v1.2.3`"), "{said}");
    assert!(product_branches(&road, "payments").await.is_empty());

    // Its own prefix is.
    alice
        .tag("payments", "payments-v1.4.3", &sha)
        .await
        .expect("tag");
    let pr = road.product_pr_for("payments", "1.4.3").await;
    let body = pr["body"].as_str().unwrap_or_default();
    assert!(body.contains("round half up"), "the changelog: {body}");
    road.wait_merged("product", support::number(&pr)).await;
    let tag = road.wait_tag("v1.0.1").await;
    assert!(tag.contains("### payments 1.4.3 (since 1.4.2)"), "{tag}");
    assert!(
        road.file_at("product", "v1.0.1", "product.yaml")
            .is_some_and(|m| m.contains("version: 1.4.3")),
        "the product tag pins payments 1.4.3"
    );
    road.stop().await;
}
