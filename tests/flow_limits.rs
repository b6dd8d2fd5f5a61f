//! A whole low-risk road against a sandbox that enforces tight rate limits
//! on the bot's token (points a minute, content creation, with `retry-after`
//! only every other time): the bot is refused, backs off, and the road still
//! ends right — one product PR, one comment per topic, one merge, one tag.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use stagecoach::sandbox::limits::Limits;
use support::{LOW, Road, RoadOptions, number};

/// Limits a road trips again and again: a "minute" of two seconds holding
/// 30 points (GitHub: 900) and 3 new pieces of content (GitHub: 80).
fn tight() -> Limits {
    Limits {
        logins: Some(vec!["stagecoach-bot".into()]),
        points_per_minute: 30,
        content_per_minute: 3,
        minute: Duration::from_secs(2),
        ..Limits::default()
    }
}

/// The bot's own budget is GitHub-sized, so the sandbox's tight limits bite;
/// the backoff after a refusal without `retry-after` starts at a second.
const BUDGET: &str = "{write_spacing: 0s, secondary_backoff: 1s}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_road_under_tight_rate_limits_backs_off_and_ends_without_a_lost_or_doubled_step() {
    let road = Road::start_with(RoadOptions {
        limits: Some((tight(), BUDGET.to_string())),
        ..Default::default()
    })
    .await;
    let pr = road
        .released(
            "payments",
            "fix/limits",
            "fix(cart): survive a rate limit",
            LOW,
            "v1.4.3",
        )
        .await;
    let n = number(&pr);
    road.wait_merged("product", n).await;
    let tag = road.wait_tag("v1.0.1").await;
    assert!(tag.contains("payments"), "{tag}");

    // Refused, and more than once.
    let stats = road.sb.stats();
    let bot = stats
        .users
        .get("stagecoach-bot")
        .cloned()
        .unwrap_or_default();
    let refused: u64 = bot.refused.values().sum();
    eprintln!(
        "refused by the sandbox: {:?}; bot saw {} secondary limits",
        bot.refused,
        road.metrics.rate_limited_count("secondary")
    );
    assert!(refused > 0, "the limits were hit: {:?}", bot.refused);
    assert!(
        road.metrics.rate_limited_count("secondary") > 0,
        "the bot saw the refusals: {}",
        road.metrics.render()
    );

    // One product PR for the change.
    let pulls = road
        .person("alice")
        .get("/repos/acme/product/pulls?state=all&per_page=100")
        .await
        .expect("pulls");
    let for_change: Vec<_> = pulls
        .as_array()
        .expect("a list")
        .iter()
        .filter(|p| p["head"]["ref"].as_str() == Some("stagecoach/payments-1.4.3"))
        .collect();
    assert_eq!(for_change.len(), 1, "one product PR: {pulls}");

    // One sticky comment per topic on the component PR and the product PR.
    let component_pr = road
        .pr_by_head("payments", "fix/limits")
        .await
        .expect("the component PR");
    for (repo, number) in [("payments", number(&component_pr)), ("product", n)] {
        let mut topics: BTreeMap<String, usize> = BTreeMap::new();
        for body in road.bot_comments(repo, number).await {
            let topic = body
                .split("<!-- stagecoach:")
                .nth(1)
                .and_then(|rest| rest.split(" -->").next())
                .unwrap_or("(no marker)")
                .to_string();
            *topics.entry(topic).or_default() += 1;
        }
        assert!(
            topics.values().all(|count| *count == 1),
            "one comment per topic on {repo}#{number}: {topics:?}"
        );
    }

    // One merge of the product PR into main, one new product tag.
    let merge_title = format!("Merge pull request #{n} ");
    let merges = road
        .log("product", "main")
        .into_iter()
        .filter(|m| m.starts_with(&merge_title))
        .count();
    assert_eq!(merges, 1, "one merge: {:?}", road.log("product", "main"));
    let tags = road.tags("product");
    assert_eq!(
        tags.iter().filter(|t| t.as_str() != "v1.0.0").count(),
        1,
        "one new product tag: {tags:?}"
    );
    road.stop().await;
}
