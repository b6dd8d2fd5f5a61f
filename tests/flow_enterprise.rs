//! The road against GitHub Enterprise Server's layout: the API under
//! `/api/v3` (`forge.api_url: https://HOST/api/v3`), pagination links and
//! payload URLs with the prefix, git and the signals beside it.

mod support;

use support::{LOW, Road, RoadOptions, http_client, number};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_risk_change_reaches_its_product_tag_on_github_enterprise() {
    let road = Road::start_with(RoadOptions {
        api_prefix: "/api/v3".into(),
        ..RoadOptions::default()
    })
    .await;
    assert!(road.sb.api_url.ends_with("/api/v3"), "{}", road.sb.api_url);
    // Nothing answers where api.github.com's layout would put the API.
    let root = format!("http://{}/repos/acme/payments", road.sb.addr);
    let status = http_client()
        .get(&root)
        .header(
            "authorization",
            format!("token {}", road.sb.world.bot_token()),
        )
        .send()
        .await
        .expect("get")
        .status();
    assert_eq!(status.as_u16(), 404, "{root}");

    let pr = road
        .released("payments", "fix/ghe", "fix(cart): on GHES", LOW, "v1.4.3")
        .await;
    road.wait_merged("product", number(&pr)).await;
    let tag = road.wait_tag("v1.0.1").await;
    assert!(tag.contains("payments"), "{tag}");
    assert_eq!(
        road.landscape_version("ci", "ci-1", "payments").as_deref(),
        Some("1.4.3")
    );
    let stats = road.sb.stats();
    assert!(stats.users.values().any(|u| u.requests > 0), "{stats:?}");
    assert_eq!(stats.unauthenticated, 0, "{stats:?}");
    road.stop().await;
}
