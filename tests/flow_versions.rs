//! Two releases of one component before its first product PR merges: the newest release carries both changes in one product PR (with the risk of both), the older PR is superseded and never merged, and the product tag pins the newest version with a changelog covering both.

mod support;

use serde_json::Value;
use support::{HIGH, LOW, Road, head_sha, number};

fn has_label(pr: &Value, label: &str) -> bool {
    pr["labels"]
        .as_array()
        .is_some_and(|a| a.iter().any(|l| l["name"].as_str() == Some(label)))
}

/// The product PRs of the bot for `component`, open or not.
async fn product_prs_for(road: &Road, component: &str) -> Vec<Value> {
    let list = road
        .person("alice")
        .get("/repos/acme/product/pulls?state=all&per_page=100")
        .await
        .expect("product pulls");
    let prefix = format!("stagecoach/{component}-");
    list.as_array()
        .map(|a| {
            a.iter()
                .filter(|p| {
                    p["head"]["ref"]
                        .as_str()
                        .is_some_and(|h| h.starts_with(&prefix))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_release_before_the_first_product_pr_merges_supersedes_it() {
    let road = Road::start().await;

    // 1. payments v1.4.3: a high-risk fix, so its product PR waits for an approver.
    let first = road
        .released(
            "payments",
            "fix/refunds",
            "fix(refunds): round half up",
            HIGH,
            "v1.4.3",
        )
        .await;
    let (old_n, old_sha) = (number(&first), head_sha(&first));
    road.wait_status("product", &old_sha, "stagecoach/approval", "pending")
        .await;

    // 2. payments v1.4.4 is tagged while that PR still waits: a small, low-risk fix.
    let n = road
        .component_pr(
            "alice",
            "payments",
            "fix/cart",
            "fix(cart): empty cart",
            LOW,
        )
        .await;
    road.merge_and_release("alice", "payments", n, "v1.4.4")
        .await;

    // 3. One product PR carries both releases: from what main pins (1.4.2)
    //    to the newest, with both changes in its changelog and the risk of
    //    the riskier one (a low-risk label set must not sneak a high-risk
    //    change past its approval).
    let newest = road.product_pr_for("payments", "1.4.4").await;
    let new_n = number(&newest);
    let body = newest["body"].as_str().unwrap_or_default();
    assert!(body.contains("from 1.4.2 to 1.4.4"), "{body}");
    assert!(
        body.contains("round half up") && body.contains("empty cart"),
        "the changelog covers both releases: {body}"
    );
    road.wait_for("the newest product PR is labelled risk: high", || async {
        has_label(&road.pull("product", new_n).await, "risk: high").then_some(())
    })
    .await;

    // 4. The older PR is superseded: a failed check and a comment naming the
    //    PR that carries it, and the bot never merges it.
    let why = road
        .wait_status("product", &old_sha, "stagecoach/ci", "failure")
        .await;
    assert!(why.contains(&format!("superseded by #{new_n}")), "{why}");
    let said = road
        .wait_comment("product", old_n, &format!("#{new_n}"))
        .await;
    assert!(
        said.contains("1.4.4") && said.contains("Stagecoach closes it"),
        "{said}"
    );
    // The bot's own out-of-date PR is closed, as Renovate closes its own.
    road.wait_for("the superseded PR closed", || async {
        (road.pull("product", old_n).await["state"] == "closed").then_some(())
    })
    .await;
    let live: Vec<u64> = {
        let mut live = Vec::new();
        for pr in product_prs_for(&road, "payments").await {
            let sha = head_sha(&pr);
            let superseded = road
                .status_of("product", &sha, "stagecoach/ci")
                .await
                .is_some_and(|(_, d)| d.contains("superseded"));
            if pr["state"] == "open" && !superseded {
                live.push(number(&pr));
            }
        }
        live
    };
    assert_eq!(
        live,
        vec![new_n],
        "one live product PR for payments at a time"
    );

    // 5. The release manager approves the newest; it merges and is tagged.
    road.wait_status(
        "product",
        &head_sha(&newest),
        "stagecoach/approval",
        "pending",
    )
    .await;
    road.person("rita")
        .approve("product", new_n)
        .await
        .expect("approve");
    road.wait_merged("product", new_n).await;
    let tag = road.wait_tag("v1.0.1").await;
    assert!(
        tag.contains("### payments 1.4.4 (since 1.4.2)"),
        "the tag pins 1.4.4: {tag}"
    );
    assert!(
        tag.contains("round half up") && tag.contains("empty cart"),
        "the product changelog covers both releases: {tag}"
    );
    let manifest = road
        .file_at("product", "v1.0.1", "product.yaml")
        .expect("product.yaml at the tag");
    assert!(manifest.contains("version: 1.4.4"), "{manifest}");
    assert_eq!(
        road.pull("product", old_n).await["merged"],
        false,
        "the superseded PR is never merged"
    );
    road.stop().await;
}
