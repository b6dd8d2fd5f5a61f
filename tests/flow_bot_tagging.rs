//! `versioning.tagging: bot`: the bot tags a component release itself from its conventional commits once the component PR merges, and the road goes on to a product tag.

mod support;

use support::{LOW, Road, RoadOptions, number};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_tags_the_component_release_and_the_road_goes_on_to_a_product_tag() {
    let road = Road::start_with(RoadOptions {
        policy: Some(Box::new(|p: &str| {
            p.replace("  tagging: component", "  tagging: bot")
        })),
        ..Default::default()
    })
    .await;

    // 1. A developer's fix merges; nobody tags it.
    let n = road
        .component_pr(
            "alice",
            "payments",
            "fix/cart",
            "fix(cart): empty cart",
            LOW,
        )
        .await;
    let merged = road
        .person("alice")
        .merge("payments", n)
        .await
        .expect("merge");

    // 2. The bot tags the next patch (payments is at v1.4.2) on the merge.
    let tag = road
        .wait_for("the bot tags payments v1.4.3", || async {
            road.tag_message("payments", "v1.4.3")
        })
        .await;
    let r = road.bare("payments");
    let tagged = r
        .revparse_single("v1.4.3^{commit}")
        .expect("the tag names a commit")
        .id()
        .to_string();
    assert_eq!(tagged, merged, "the release is the merge commit");
    let tagger = r
        .find_reference("refs/tags/v1.4.3")
        .and_then(|t| t.peel_to_tag())
        .ok()
        .and_then(|t| t.tagger().and_then(|s| s.name().ok().map(str::to_string)));
    assert!(
        tagger.as_deref().is_some_and(|t| t.contains("stagecoach")),
        "tagged by the bot: {tagger:?} {tag}"
    );
    assert!(
        !road.tags("payments").contains(&"v1.5.0".to_string()),
        "a fix is a patch"
    );

    // 3. The road goes on: product PR, CI, merge, product tag.
    let pr = road.product_pr_for("payments", "1.4.3").await;
    road.wait_merged("product", number(&pr)).await;
    let msg = road.wait_tag("v1.0.1").await;
    assert!(msg.contains("### payments 1.4.3 (since 1.4.2)"), "{msg}");
    assert!(msg.contains("empty cart"), "{msg}");
    road.wait_comment("payments", n, "Released in payments 1.4.3")
        .await;
    road.stop().await;
}
