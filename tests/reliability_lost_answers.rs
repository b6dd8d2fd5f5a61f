//! Answers lost after the write: the sandbox runs the handler — the comment,
//! PR, label, status, merge or release is made — and then answers 502, cuts
//! the connection, or holds the answer past the client's read timeout, on
//! every write endpoint the bot uses. The bot must never double a write: one
//! product PR per change, one comment per PR and topic, one merge (and no
//! "could not merge" comment), one release per tag, one product tag per
//! change, one stability note per tag that left staging.

mod reliability_support;

use std::time::Duration;

use reliability_support::*;
use serde_json::{Value, json};
use stagecoach::engine::NOTES_STABILITY;
use stagecoach::sandbox::Person;

/// The client's wait for an answer's next bytes; the delay fault holds the
/// answer longer than this.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// How an answer is lost once the handler has done its work.
struct Loss {
    name: &'static str,
    how: Value,
}

fn losses() -> Vec<Loss> {
    vec![
        Loss {
            name: "502 after the write",
            how: json!({"status": 502}),
        },
        Loss {
            name: "connection cut after the write",
            how: json!({"drop": true}),
        },
        Loss {
            name: "answer held past the client's timeout",
            how: json!({"delay_ms": READ_TIMEOUT.as_millis() as u64 * 2 + 500}),
        },
    ]
}

/// One after-the-write fault of kind `how` on `method path_prefix`, `count` times.
fn lost(how: &Value, method: &str, path_prefix: &str, count: u32) -> Value {
    let mut rule = how.clone();
    rule["after"] = json!(true);
    rule["method"] = json!(method);
    rule["path_prefix"] = json!(path_prefix);
    rule["count"] = json!(count);
    rule
}

/// Every write a low-risk change makes the bot do, from the component PR's
/// labels comment to the product tag's draft release.
fn write_endpoints(how: &Value) -> Vec<Value> {
    vec![
        // The labels comment and the "carried to product#N" comment.
        lost(how, "POST", "/repos/acme/payments/issues/*/comments", 2),
        lost(how, "PATCH", "/repos/acme/payments/issues/comments/", 1),
        lost(how, "POST", "/repos/acme/payments/statuses/", 1),
        lost(how, "POST", "/repos/acme/product/pulls", 1),
        lost(how, "POST", "/repos/acme/product/issues/*/labels", 1),
        lost(how, "POST", "/repos/acme/product/statuses/", 1),
        lost(how, "PUT", "/repos/acme/product/pulls/*/merge", 1),
        lost(how, "POST", "/repos/acme/product/releases", 1),
    ]
}

const LABELS: [&str; 4] = [
    "component: S",
    "change: S",
    "ft-coverage: 90",
    "functional: true",
];

/// A developer's change to payments, opened with a label missing (so the bot
/// must comment), completed once the comment is there, merged and tagged.
async fn component_change(p: &Person, message: &str, version: &str) -> u64 {
    let branch = format!("fix/lost-{}", version.replace('.', "-"));
    let file = format!("src/{}.txt", branch.replace('/', "-"));
    p.commit_files("payments", &branch, &[(&file, message)], message)
        .await
        .expect("commit");
    let n = p
        .open_pr("payments", &branch, "main", message, "")
        .await
        .expect("open pr");
    p.add_labels("payments", n, &[LABELS[0], LABELS[1], LABELS[3]])
        .await
        .expect("labels");
    wait_for(&format!("the labels comment on payments#{n}"), STEP, || {
        bot_comment(p, "payments", n, "ft-coverage")
    })
    .await;
    p.add_labels("payments", n, &[LABELS[2]])
        .await
        .expect("ft-coverage");
    wait_for(
        &format!("the labels comment on payments#{n} saying all is well"),
        STEP,
        || async {
            let c = bot_comment(p, "payments", n, "").await?;
            (!c.contains("missing")).then_some(())
        },
    )
    .await;
    let sha = p.merge("payments", n).await.expect("merge");
    p.tag("payments", &format!("v{version}"), &sha)
        .await
        .expect("tag");
    n
}

/// The bot's comment on `repo#n` whose text contains `needle`, if any.
async fn bot_comment(p: &Person, repo: &str, n: u64, needle: &str) -> Option<String> {
    p.comments(&format!("acme/{repo}"), n)
        .await
        .ok()?
        .into_iter()
        .find(|(author, body)| author == "stagecoach-bot" && body.contains(needle))
        .map(|(_, body)| body)
}

/// Exactly one of each write for the product PR `n` and its tag.
async fn assert_each_write_once(rig: &Rig, p: &Person, n: u64, head: &str, what: &str) {
    let prs: Vec<Value> = pulls(p, "product")
        .await
        .into_iter()
        .filter(|pr| pr["head"]["ref"].as_str() == Some(head))
        .collect();
    assert_eq!(prs.len(), 1, "{what}: {} product PRs for {head}", prs.len());
    assert_nothing_doubled(p, &["product", "payments"]).await;
    let merges = rig
        .world()
        .log("product", "main")
        .iter()
        .filter(|m| m.starts_with(&format!("Merge pull request #{n} ")))
        .count();
    assert_eq!(merges, 1, "{what}: {merges} merge commits of product#{n}");
    assert!(
        bot_comment(p, "product", n, "could not merge")
            .await
            .is_none(),
        "{what}: the bot took its own merge for a refusal on product#{n}"
    );
    let mut per_tag = std::collections::BTreeMap::<String, usize>::new();
    for r in releases(p).await {
        *per_tag
            .entry(r["tag_name"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
    }
    for (tag, count) in &per_tag {
        assert_eq!(*count, 1, "{what}: {count} releases of {tag}");
    }
    // A write sent twice is refused by GitHub's own checks (422: a PR for the
    // same head, a release for the same tag; 405: a merged PR merged again):
    // none may have been.
    for family in [
        "pulls",
        "releases",
        "issues/comments",
        "issues/labels",
        "statuses",
    ] {
        for status in ["422", "405"] {
            assert_eq!(
                rig.metrics.github_request_count(family, status),
                0,
                "{what}: the bot sent a {family} write twice and GitHub answered {status} to the copy"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_answer_was_lost_is_looked_for_not_sent_twice() {
    let mut rig = Rig::with_read_timeout(READ_TIMEOUT).await;
    rig.start_bot(Duration::from_millis(500)).await;
    let alice = rig.person("alice");
    wait_for("staging to take the first tag", STEP, || async {
        rig.world().staging_tag()
    })
    .await;

    for (i, loss) in losses().iter().enumerate() {
        let version = format!("1.4.{}", 3 + i);
        let tags_before = rig.world().tags("product");
        for rule in write_endpoints(&loss.how) {
            rig.fault(rule).await;
        }
        component_change(&alice, &format!("fix(cart): lost answers {i}"), &version).await;
        let head = format!("stagecoach/payments-{version}");
        let pr = wait_for(&format!("{}: the product PR", loss.name), STEP, || {
            pr_by_head(&alice, "product", &head)
        })
        .await;
        let n = pr["number"].as_u64().expect("number");
        wait_merged(&alice, n, STEP).await;
        let tag = wait_for(&format!("{}: a product tag", loss.name), STEP, || async {
            let now = rig.world().tags("product");
            let new: Vec<String> = now
                .into_iter()
                .filter(|t| !tags_before.contains(t))
                .collect();
            (!new.is_empty()).then_some(new)
        })
        .await;
        assert_eq!(tag.len(), 1, "{}: product tags made: {tag:?}", loss.name);
        wait_for(
            &format!("{}: the draft release of {}", loss.name, tag[0]),
            STEP,
            || async {
                releases(&alice)
                    .await
                    .into_iter()
                    .find(|r| r["tag_name"].as_str() == Some(tag[0].as_str()))
            },
        )
        .await;
        // Every rule was met: each write really lost its answer once.
        rig.clear_faults().await;
        assert_each_write_once(&rig, &alice, n, &head, loss.name).await;
        eprintln!(
            "held: {} on every write → product#{n}, {}",
            loss.name, tag[0]
        );
    }

    // Staging moves on: the tag that leaves gets one note, and (calm signals,
    // KPI passed) its draft is published — with the publication's answer lost.
    let first = rig.world().staging_tag().expect("a tag on staging");
    wait_for(&format!("a stability sample of {first}"), STEP, || async {
        rig.world().note(stagecoach::engine::NOTES_SAMPLES, &first)
    })
    .await;
    // Published by editing its draft if it has one, else made as a release.
    let has_draft = releases(&alice)
        .await
        .iter()
        .any(|r| r["tag_name"].as_str() == Some(first.as_str()));
    let publish = if has_draft {
        lost(
            &json!({"status": 502}),
            "PATCH",
            "/repos/acme/product/releases/",
            1,
        )
    } else {
        lost(
            &json!({"status": 502}),
            "POST",
            "/repos/acme/product/releases",
            1,
        )
    };
    rig.fault(publish).await;
    let version = "1.5.0";
    component_change(&alice, "feat(cart): saved carts", version).await;
    let head = format!("stagecoach/payments-{version}");
    let pr = wait_for("the minor product PR", STEP, || {
        pr_by_head(&alice, "product", &head)
    })
    .await;
    wait_merged(&alice, pr["number"].as_u64().expect("number"), STEP).await;
    wait_for(&format!("staging to leave {first}"), STEP, || async {
        rig.world().staging_tag().filter(|t| *t != first)
    })
    .await;
    let note = wait_for(&format!("{first}'s stability note"), STEP, || async {
        rig.world().note(NOTES_STABILITY, &first)
    })
    .await;
    assert_eq!(
        note.lines().filter(|l| l.starts_with("score: ")).count(),
        1,
        "one score in {first}'s note: {note}"
    );
    wait_for(&format!("{first} published"), STEP, || async {
        releases(&alice)
            .await
            .into_iter()
            .find(|r| r["tag_name"].as_str() == Some(first.as_str()) && r["draft"] == false)
    })
    .await;
    rig.clear_faults().await;
    let mut per_tag = std::collections::BTreeMap::<String, usize>::new();
    for r in releases(&alice).await {
        *per_tag
            .entry(r["tag_name"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
    }
    assert!(
        per_tag.values().all(|c| *c == 1),
        "one release per tag: {per_tag:?}"
    );
    assert_nothing_doubled(&alice, &["product", "payments"]).await;
    rig.stop().await;
}
