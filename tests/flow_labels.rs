//! Flow 1 on the sandbox: the bot checks a component PR's labels as soon as
//! they change, says what is wrong in ONE sticky comment, fails the
//! `stagecoach/labels` status, and edits the same comment when fixed.

mod support;

use support::{Road, head_sha};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_label_gets_one_comment_and_fixing_it_edits_that_comment() {
    let road = Road::start().await;
    let alice = road.person("alice");
    let n = road
        .component_pr(
            "alice",
            "payments",
            "fix/empty-cart",
            "fix(cart): handle an empty cart",
            &["component: S", "change: S", "functional: true"],
        )
        .await;
    let sha = head_sha(&road.pull("payments", n).await);

    let said = road.wait_comment("payments", n, "ft-coverage").await;
    assert!(said.contains("labels need fixing"), "{said}");
    let desc = road
        .wait_status("payments", &sha, "stagecoach/labels", "failure")
        .await;
    assert!(desc.contains("1 label problem"), "{desc}");

    alice
        .add_labels("payments", n, &["ft-coverage: 90"])
        .await
        .expect("label");
    road.wait_comment("payments", n, "Labels are complete")
        .await;
    road.wait_status("payments", &sha, "stagecoach/labels", "success")
        .await;
    // Still exactly one comment from the bot: it was edited, not repeated.
    let bot = road.bot_comments("payments", n).await;
    assert_eq!(bot.len(), 1, "one sticky comment, got {bot:#?}");
    assert!(!bot[0].contains("ft-coverage"), "{}", bot[0]);

    // Breaking the labels again reuses the same comment too.
    alice
        .remove_label("payments", n, "change: S")
        .await
        .expect("unlabel");
    road.wait_comment("payments", n, "change").await;
    road.wait_status("payments", &sha, "stagecoach/labels", "failure")
        .await;
    let bot = road.bot_comments("payments", n).await;
    assert_eq!(bot.len(), 1, "one sticky comment, got {bot:#?}");
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correctly_labelled_pr_gets_a_green_status_and_no_comment() {
    let road = Road::start().await;
    let n = road
        .component_pr(
            "bob",
            "search",
            "feat/synonyms",
            "feat: synonyms",
            support::LOW,
        )
        .await;
    let sha = head_sha(&road.pull("search", n).await);
    let desc = road
        .wait_status("search", &sha, "stagecoach/labels", "success")
        .await;
    assert_eq!(desc, "labels complete");
    assert!(road.bot_comments("search", n).await.is_empty());
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_hostile_labels_are_named_and_echoed_inert() {
    let road = Road::start().await;
    let hostile = "component: <img src=x onerror=alert(1)>`@acme/all`";
    let n = road
        .component_pr(
            "bob",
            "checkout",
            "feat/x",
            "feat: x",
            &[
                hostile,
                "change: XXL",
                "ft-coverage: lots",
                "functional: maybe",
            ],
        )
        .await;
    let sha = head_sha(&road.pull("checkout", n).await);
    let body = road.wait_comment("checkout", n, "labels need fixing").await;
    let desc = road
        .wait_status("checkout", &sha, "stagecoach/labels", "failure")
        .await;
    let problems: usize = desc
        .split_whitespace()
        .next()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    assert!(problems >= 4, "every bad label is a problem: {desc}");
    for bad in ["XXL", "lots", "maybe"] {
        assert!(body.contains(bad), "the comment names {bad}: {body}");
    }
    // The hostile text is there, but inert: no HTML, no mention, no code span.
    assert!(body.contains("onerror"), "hostile label echoed: {body}");
    let text = body.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert!(!text.contains("<img"), "{text}");
    assert!(!text.contains("@acme"), "{text}");
    assert!(!text.contains("`@"), "{text}");
    let bot = road.bot_comments("checkout", n).await;
    assert_eq!(bot.len(), 1, "{bot:#?}");

    // A merged PR with bad labels gets no product PR.
    road.merge_and_release("bob", "checkout", n, "v2.0.2").await;
    road.stays("a product PR for checkout 2.0.2", 8, || async {
        road.pr_by_head("product", "stagecoach/checkout-2.0.2")
            .await
            .is_some()
    })
    .await;
    road.stop().await;
}
