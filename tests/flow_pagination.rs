//! Pagination past 100: with more than 100 tags on a component, more than 100 open PRs on the product, more than 100 releases and more than 100 label events on a PR, the bot still finds the one that matters (the newest tag, its own product PR on page 2, the draft release of the tag it publishes, who added the hotfix label last).

mod support;

use serde_json::{Value, json};
use support::{HIGH, Road, number};

/// More than a page of anything.
const BULK: usize = 105;
/// Four people share bulk writes: GitHub's (and the sandbox's) limit is 80
/// content-creating requests a minute per token.
const PEOPLE: [&str; 4] = ["alice", "bob", "rita", "olga"];

/// Every item of a listing, all pages (`path` without `page`).
/// Every release of the product, all pages.
async fn releases(road: &Road) -> Vec<Value> {
    all_pages(road, "/repos/acme/product/releases?x=1").await
}

async fn all_pages(road: &Road, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    for page in 1.. {
        let got = road
            .person("alice")
            .get(&format!("{path}&per_page=100&page={page}"))
            .await
            .expect("listing");
        let got = got.as_array().cloned().unwrap_or_default();
        if got.is_empty() {
            break;
        }
        items.extend(got);
    }
    items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_newest_of_many_tags_and_the_bots_pr_on_page_two_are_found() {
    let road = Road::start().await;

    // 1. payments has well over a page of tags, written straight into its bare repo.
    {
        let r = road.bare("payments");
        let main = r.revparse_single("main^{commit}").expect("payments main");
        for i in 0..BULK {
            r.tag_lightweight(&format!("v0.0.{i}"), &main, false)
                .expect("tag");
            r.tag_lightweight(&format!("build-{i}"), &main, false)
                .expect("tag");
        }
    }
    assert!(road.tags("payments").len() > 2 * BULK);

    // 2. A high-risk release among them: its product PR waits for an approver.
    let pr = road
        .released(
            "payments",
            "fix/refunds",
            "fix(refunds): round half up",
            HIGH,
            "v1.4.3",
        )
        .await;
    let (n, sha) = (number(&pr), support::head_sha(&pr));
    road.wait_status("product", &sha, "stagecoach/approval", "pending")
        .await;

    // 3. More than a page of people's PRs opened after it (docs only: not the bot's business).
    for i in 0..BULK {
        let who = road.person(PEOPLE[i % PEOPLE.len()]);
        let branch = format!("docs/note-{i}");
        who.commit_files(
            "product",
            &branch,
            &[(&format!("docs/note-{i}.md"), "a note\n")],
            &format!("docs: note {i}"),
        )
        .await
        .expect("commit");
        who.open_pr("product", &branch, "main", &format!("docs: note {i}"), "")
            .await
            .expect("open PR");
    }
    let first_page = road
        .person("alice")
        .get("/repos/acme/product/pulls?state=open&per_page=100")
        .await
        .expect("pulls");
    assert!(
        first_page
            .as_array()
            .is_some_and(|a| a.iter().all(|p| number(p) != n)),
        "the bot's PR is past the first page"
    );

    // 4. The approval counts: the bot finds its PR on page 2 and merges it.
    road.person("rita")
        .approve("product", n)
        .await
        .expect("approve");
    road.wait_merged("product", n).await;
    let tag = road.wait_tag("v1.0.1").await;
    assert!(tag.contains("### payments 1.4.3 (since 1.4.2)"), "{tag}");
    road.stop().await;
}

/// A component minor release and the product's main bumped to it.
async fn ship_minor(road: &Road, component: &str, message: &str, version: &str) {
    road.component_release(component, message, &format!("v{version}"))
        .await;
    road.bump_on_branch("rita", "main", component, version)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_draft_release_on_page_two_is_the_one_published() {
    let road = Road::start().await;
    road.wait_staging("v1.0.0").await;

    // 1. v1.1.0 is tagged (with its draft release) and goes to staging.
    ship_minor(&road, "checkout", "feat(cart): saved carts", "2.1.0").await;
    road.wait_staging("v1.1.0").await;
    road.wait_for("v1.1.0's draft release", || async {
        road.release("v1.1.0").await.filter(|r| r["draft"] == true)
    })
    .await;
    road.wait_for("a sample of v1.1.0", || async { road.samples("v1.1.0") })
        .await;

    // 2. More than a page of newer releases (drafts of other tags), so v1.1.0's is on page 2.
    for i in 0..BULK {
        road.person(PEOPLE[i % PEOPLE.len()])
            .call(
                reqwest::Method::POST,
                "/repos/acme/product/releases",
                Some(json!({"tag_name": format!("notes-{i}"), "name": format!("notes {i}"), "draft": true})),
            )
            .await
            .expect("create a release");
    }
    let first_page = road
        .person("alice")
        .get("/repos/acme/product/releases?per_page=100")
        .await
        .expect("releases");
    assert!(
        !first_page.to_string().contains("\"v1.1.0\""),
        "v1.1.0's release is past the first page"
    );
    assert!(
        road.release("v1.1.0").await.is_some(),
        "the kit reads every page"
    );

    // 3. A newer minor moves staging on; calm v1.1.0 passed its KPI, and its
    //    own draft is published.
    ship_minor(&road, "search", "feat: fuzzy search", "0.10.0").await;
    road.wait_staging("v1.2.0").await;
    let note = road
        .wait_for("v1.1.0's note", || async { road.note("v1.1.0") })
        .await;
    assert!(note.contains("passed: true"), "{note}");
    let published = road
        .wait_for("v1.1.0's release published", || async {
            releases(&road)
                .await
                .into_iter()
                .find(|r| r["tag_name"] == "v1.1.0" && r["draft"] == false)
        })
        .await;
    assert!(
        published["body"]
            .as_str()
            .is_some_and(|b| b.contains("saved carts")),
        "{published}"
    );
    let all = releases(&road).await;
    assert_eq!(
        all.iter().filter(|r| r["tag_name"] == "v1.1.0").count(),
        1,
        "published in place, not created again"
    );
    assert!(all.len() > BULK);
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_newest_hotfix_label_among_more_than_a_page_of_label_events_names_who_asked() {
    let road = Road::start().await;
    // Main moves on first, so v1.0.0's next patch (v1.0.1) is free.
    road.component_release("checkout", "feat(cart): saved carts", "v2.1.0")
        .await;
    road.bump_on_branch("rita", "main", "checkout", "2.1.0")
        .await;
    road.wait_tag("v1.1.0").await;
    let n = road
        .component_pr(
            "alice",
            "payments",
            "fix/double-charge",
            "fix(payment): no double charge on retry",
            support::LOW,
        )
        .await;
    // Page one: bob (not on call) labels it for a hotfix, then a hundred
    // label events of a label that means nothing to the bot.
    let label = "hotfix-to/v1.0.0";
    road.person("bob")
        .add_labels("payments", n, &[label])
        .await
        .expect("label");
    for i in 0..50 {
        let who = road.person(PEOPLE[i % PEOPLE.len()]);
        who.add_labels("payments", n, &["triage"])
            .await
            .expect("label");
        who.remove_label("payments", n, "triage")
            .await
            .expect("unlabel");
    }
    // Page two: on-call (olga) takes the label over.
    road.person("bob")
        .remove_label("payments", n, label)
        .await
        .expect("unlabel");
    road.person("olga")
        .add_labels("payments", n, &[label])
        .await
        .expect("label");
    let events = all_pages(
        &road,
        &format!("/repos/acme/payments/issues/{n}/events?x=1"),
    )
    .await;
    assert!(events.len() > 100, "{} events", events.len());
    let last_add = events
        .iter()
        .rposition(|e| e["event"] == "labeled" && e["label"]["name"] == label)
        .expect("the label's events");
    assert!(last_add >= 100, "olga's label is on page two: {last_add}");

    // The bot reads every page: olga asked, so the hotfix is cut.
    road.merge_and_release("alice", "payments", n, "v1.4.3")
        .await;
    let msg = road.wait_tag("v1.0.1").await;
    assert!(msg.contains("Stagecoach-Action: hotfix"), "{msg}");
    assert!(msg.contains("Stagecoach-Requested-By: olga"), "{msg}");
    road.stop().await;
}
