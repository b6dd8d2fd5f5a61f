//! Rejecting a product tag on the sandbox: a release manager rejects a
//! release (`stagecoach reject`, or `/reject` on a landscape PR), recorded
//! in git with who and why; `promote` and `/promote` refuse it in one line,
//! even with an override, until it is un-rejected the same way; a hotfix may
//! still be cut from it; `releases` and `status` show it; a non-promoter's
//! reject is refused (exit 3, or in words on the PR).

mod support;

use stagecoach::engine::NOTES_REJECTIONS;
use stagecoach::error::Kind;
use stagecoach::status;
use support::Road;

/// The world after one release: v1.0.0 released, v1.1.0 on staging.
async fn road_with_a_release() -> Road {
    let road = Road::start().await;
    road.one_release_later().await;
    road
}

/// The tag's note in `refs/notes/rejections`.
fn rejections(road: &Road, tag: &str) -> Option<String> {
    let r = road.bare("product");
    let commit = r.revparse_single(&format!("{tag}^{{commit}}")).ok()?;
    let note = r.find_note(Some(NOTES_REJECTIONS), commit.id()).ok()?;
    note.message().ok().map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_release_is_refused_everywhere_until_unrejected_and_shown_with_who_and_why() {
    let road = road_with_a_release().await;
    let rita = road.engine_as("rita");

    // Only promoters reject.
    for who in ["bob", "olga"] {
        let err = road
            .engine_as(who)
            .reject("v1.0.0", false, "I do not like it")
            .await
            .expect_err("not a promoter");
        assert_eq!(err.exit_code(), 3, "{err}");
        assert_eq!(err.kind(), Kind::Denied);
        assert!(
            err.to_string()
                .contains(&format!("{who} may not reject v1.0.0")),
            "{err}"
        );
    }
    assert_eq!(rejections(&road, "v1.0.0"), None, "nothing recorded");

    let done = rita
        .reject("v1.0.0", false, "checkout loses carts on retry")
        .await
        .expect("rejected");
    assert!(done.changed && done.by == "rita", "{done:?}");
    let note = rejections(&road, "v1.0.0").expect("the note");
    assert!(
        note.starts_with("v1.0.0 rejected ")
            && note.contains(" by rita: checkout loses carts on retry"),
        "{note}"
    );
    assert!(
        road.note("v1.0.0").is_some_and(|n| n.starts_with("score:")),
        "the stability note is untouched"
    );
    let again = rita
        .reject("v1.0.0", false, "checkout loses carts on retry")
        .await
        .expect("again");
    assert!(!again.changed, "rejecting twice writes nothing");

    // Refused by `promote`, with or without an override, in one line.
    for reason in [None, Some("customer demo".to_string())] {
        let err = rita
            .promote("v1.0.0", "canary", reason)
            .await
            .expect_err("rejected");
        assert_eq!(err.exit_code(), 2, "{err}");
        let text = err.to_string();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.contains("v1.0.0 was rejected by rita")
                && text.contains("checkout loses carts on retry")
                && text.contains("stagecoach reject --undo v1.0.0"),
            "{text}"
        );
    }
    assert_eq!(road.staging_tag().as_deref(), Some("v1.1.0"));

    // `releases` and `status` show who and why.
    let observed = status::observe_now(&rita).await.expect("observe");
    let rows = status::releases(&observed, None);
    let row = rows.iter().find(|r| r.tag == "v1.0.0").expect("v1.0.0");
    let rejected = row.rejected.as_ref().expect("rejected");
    assert_eq!(rejected.by, "rita");
    assert_eq!(rejected.reason, "checkout loses carts on retry");
    let text = status::releases_text(&rows);
    assert!(
        text.contains("REJECTED") && text.contains("by rita on"),
        "{text}"
    );
    let overview = status::overview_text(&status::overview(&observed));
    assert!(
        overview.contains("v1.0.0 rejected by rita on")
            && overview.contains("checkout loses carts on retry"),
        "{overview}"
    );
    let html = stagecoach::dashboard::render(&observed, &[], &road.sb.api_url).expect("render");
    assert!(
        html.contains("rejected by rita: checkout loses carts on retry"),
        "the dashboard's releases table says it"
    );

    // Refused by a `/promote` comment too, answered in the thread.
    let p = road.person("rita");
    let pr = road.landscape_pr("canary").await;
    p.comment("landscape-canary", pr, "/promote v1.0.0")
        .await
        .expect("comment");
    let said = road
        .wait_comment("landscape-canary", pr, "cannot go to canary")
        .await;
    assert!(
        said.contains("v1.0.0 was rejected by rita") && said.contains("/unreject v1.0.0"),
        "{said}"
    );
    assert!(
        road.log("landscape-canary", "main")
            .iter()
            .all(|m| !m.contains("Stagecoach-Product: v1.0.0")),
        "canary never got v1.0.0"
    );

    // A hotfix may still be cut from it.
    road.component_release("payments", "fix: rounding", "v1.4.3")
        .await;
    let hotfix = road
        .engine_as("olga")
        .hotfix_by_hand("v1.0.0", "payments", &semver::Version::new(1, 4, 3))
        .await
        .expect("a hotfix of a rejected tag");
    assert_eq!(hotfix, "v1.0.1");
    assert_eq!(
        road.landscape_version("canary", "canary-1", "payments")
            .as_deref(),
        Some("1.4.3")
    );

    // Un-rejected the same way, it promotes again — the standing `/promote` too.
    let undone = rita
        .reject("v1.0.0", true, "the retry bug was in the hotfix's config")
        .await
        .expect("un-rejected");
    assert!(undone.changed, "{undone:?}");
    let note = rejections(&road, "v1.0.0").expect("the note");
    assert_eq!(note.lines().count(), 2, "the history is kept: {note}");
    assert!(
        note.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("v1.0.0 unrejected ") && l.contains(" by rita: ")),
        "{note}"
    );
    road.wait_comment("landscape-canary", pr, "v1.0.0 runs on canary")
        .await;
    assert_eq!(
        road.landscape_version("canary", "canary-1", "payments")
            .as_deref(),
        Some("1.4.2"),
        "canary runs v1.0.0 again"
    );
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_and_unreject_comments_are_applied_once_and_a_strangers_is_refused() {
    let road = road_with_a_release().await;
    let p = road.person("rita");
    let pr = road.landscape_pr("prod").await;

    road.person("bob")
        .comment("landscape-prod", pr, "/reject v1.0.0 looks risky")
        .await
        .expect("comment");
    let said = road
        .wait_comment("landscape-prod", pr, "may not reject")
        .await;
    assert!(
        said.contains("bob may not reject v1.0.0") && said.contains("people.promoters"),
        "{said}"
    );
    assert_eq!(rejections(&road, "v1.0.0"), None);

    p.comment(
        "landscape-prod",
        pr,
        "/reject v1.0.0 payments double-charges",
    )
    .await
    .expect("comment");
    road.wait_comment("landscape-prod", pr, "v1.0.0 is rejected by rita")
        .await;
    let note = rejections(&road, "v1.0.0").expect("the note");
    assert!(
        note.contains(" by rita via comment ") && note.contains(": payments double-charges"),
        "{note}"
    );
    let err = road
        .engine_as("rita")
        .promote("v1.0.0", "canary", None)
        .await
        .expect_err("rejected");
    assert!(err.to_string().contains("payments double-charges"), "{err}");

    p.comment(
        "landscape-prod",
        pr,
        "/unreject v1.0.0 it was the card provider",
    )
    .await
    .expect("comment");
    road.wait_comment("landscape-prod", pr, "v1.0.0 is no longer rejected")
        .await;
    let note = rejections(&road, "v1.0.0").expect("the note");
    assert_eq!(note.lines().count(), 2, "each comment once: {note}");
    road.engine_as("rita")
        .promote("v1.0.0", "canary", None)
        .await
        .expect("promotes again");
    road.stop().await;
}
