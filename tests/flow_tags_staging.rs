//! Flows 4 and 5 on the sandbox: every component bump merged to the
//! product's main gets the next product version (component patch/minor/major
//! → product patch/minor/major) as an annotated tag with its changelog and a
//! draft release; staging takes minor-or-greater tags only; the tag that
//! leaves staging gets its score as a note and, if it passed the KPI, a
//! published release.

mod support;

use support::{Road, RoadOptions};

/// A component release and the product's main bumped to it, as a merged PR would.
async fn ship(road: &Road, component: &str, message: &str, version: &str) {
    road.component_release(component, message, &format!("v{version}"))
        .await;
    road.bump_on_branch("rita", "main", component, version)
        .await;
}

fn score(note: &str) -> u32 {
    note.lines()
        .next()
        .and_then(|l| l.strip_prefix("score: "))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("the note's first line is `score: N`: {note}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn product_versions_follow_component_bumps_and_staging_takes_minor_tags() {
    let road = Road::start().await;
    road.wait_staging("v1.0.0").await;

    // A component patch → a product patch, with the changelog in the tag.
    ship(&road, "payments", "fix(refunds): round half up", "1.4.3").await;
    let msg = road.wait_tag("v1.0.1").await;
    assert!(msg.starts_with("v1.0.1"), "{msg}");
    assert!(msg.contains("### payments 1.4.3 (since 1.4.2)"), "{msg}");
    assert!(msg.contains("round half up"), "{msg}");
    assert!(msg.contains("Stagecoach-From: v1.0.0"), "{msg}");
    assert!(
        msg.contains("Stagecoach-Component: payments@1.4.3"),
        "{msg}"
    );
    let draft = road
        .wait_for("a draft release of v1.0.1", || async {
            road.release("v1.0.1").await
        })
        .await;
    assert_eq!(draft["draft"], true, "{draft}");
    assert!(
        draft["body"]
            .as_str()
            .unwrap_or("")
            .contains("round half up"),
        "{draft}"
    );
    // A patch does not go to staging.
    road.stays("v1.0.1 on staging", 6, || async {
        road.staging_tag().as_deref() == Some("v1.0.1")
    })
    .await;

    // A component minor → a product minor, which staging takes.
    ship(&road, "checkout", "feat(cart): saved carts", "2.1.0").await;
    let msg = road.wait_tag("v1.1.0").await;
    assert!(msg.contains("saved carts"), "{msg}");
    assert!(!msg.contains("round half up"), "only what is new: {msg}");
    road.wait_staging("v1.1.0").await;
    assert_eq!(
        road.landscape_version("staging", "stg-1", "checkout")
            .as_deref(),
        Some("2.1.0")
    );
    assert_eq!(
        road.landscape_version("staging", "stg-1", "payments")
            .as_deref(),
        Some("1.4.3"),
        "staging runs the whole tag, including the patch before it"
    );

    // A component major → a product major.
    ship(
        &road,
        "search",
        "feat!: a new query language\n\nBREAKING CHANGE: q= is gone",
        "1.0.0",
    )
    .await;
    let msg = road.wait_tag("v2.0.0").await;
    assert!(msg.contains("Breaking changes"), "{msg}");
    road.wait_staging("v2.0.0").await;
    // Each tag that left staging has its score.
    for tag in ["v1.0.0", "v1.1.0"] {
        let note = road
            .wait_for(&format!("{tag}'s stability note"), || async {
                road.note(tag)
            })
            .await;
        score(&note);
    }
    assert!(road.note("v1.0.1").is_none(), "v1.0.1 never ran on staging");
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_that_passes_the_kpi_becomes_a_published_release() {
    let road = Road::start().await;
    road.wait_staging("v1.0.0").await;
    road.wait_for("a sample of v1.0.0", || async { road.samples("v1.0.0") })
        .await;
    ship(&road, "checkout", "feat(cart): saved carts", "2.1.0").await;
    road.wait_staging("v1.1.0").await;
    let note = road
        .wait_for("v1.0.0's note", || async { road.note("v1.0.0") })
        .await;
    assert!(score(&note) >= 80, "calm staging passes the KPI: {note}");
    assert!(note.contains("passed: true"), "{note}");
    let release = road
        .wait_for("v1.0.0 published", || async {
            road.release("v1.0.0").await.filter(|r| r["draft"] == false)
        })
        .await;
    assert_eq!(release["tag_name"], "v1.0.0");
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_that_fails_the_kpi_gets_its_note_and_no_release() {
    let road = Road::start_with(RoadOptions {
        calm: false,
        ..Default::default()
    })
    .await;
    road.wait_staging("v1.0.0").await;
    road.wait_for("a sample of v1.0.0", || async { road.samples("v1.0.0") })
        .await;
    ship(&road, "checkout", "feat(cart): saved carts", "2.1.0").await;
    road.wait_staging("v1.1.0").await;
    let note = road
        .wait_for("v1.0.0's note", || async { road.note("v1.0.0") })
        .await;
    assert!(score(&note) < 80, "stormy staging fails the KPI: {note}");
    assert!(note.contains("passed: false"), "{note}");
    road.stays("v1.0.0 published", 6, || async {
        road.release("v1.0.0")
            .await
            .is_some_and(|r| r["draft"] == false)
    })
    .await;
    road.stop().await;
}
