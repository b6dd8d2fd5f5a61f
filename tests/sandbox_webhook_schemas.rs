//! Every webhook the sandbox sends during a full road (PR → CI → merge →
//! tag → staging → release, and what people do on PRs besides) passes
//! GitHub's published schema for its event and action
//! (`fixtures/webhook-schemas/`, from `@octokit/webhooks-schemas`), so the
//! sandbox cannot teach the bot a payload GitHub never sends.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::{Value, json};

use support::{LOW, Road, number};

fn schemas() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/webhook-schemas/schema.json"
    );
    let text = std::fs::read_to_string(path).expect("fixtures/webhook-schemas/schema.json");
    serde_json::from_str(&text).expect("schema.json is JSON")
}

/// The schema definition of a delivery: `<event>$<action>`, or
/// `<event>$event` for events without an action (push, create, status).
fn definition(event: &str, payload: &Value) -> String {
    match payload["action"].as_str() {
        Some(action) => format!("{event}${action}"),
        None => format!("{event}$event"),
    }
}

/// Validators per definition, built on first use.
struct Schemas {
    all: Value,
    built: BTreeMap<String, jsonschema::Validator>,
}

impl Schemas {
    fn new() -> Self {
        Self {
            all: schemas(),
            built: BTreeMap::new(),
        }
    }

    /// What is wrong with `payload` as a `name` delivery (empty: nothing).
    fn errors(&mut self, name: &str, payload: &Value) -> Vec<String> {
        if self.all["definitions"].get(name).is_none() {
            return vec![format!(
                "{name}: GitHub publishes no such event (or it is missing from \
                 scripts/refresh-webhook-schemas.sh's list)"
            )];
        }
        let validator = self.built.entry(name.to_string()).or_insert_with(|| {
            let schema = json!({
                "$schema": "http://json-schema.org/draft-07/schema#",
                "allOf": [{"$ref": format!("#/definitions/{name}")}],
                "definitions": self.all["definitions"],
            });
            jsonschema::validator_for(&schema).expect("a valid schema")
        });
        validator
            .iter_errors(payload)
            .map(|e| {
                let what: String = e.to_string().chars().take(300).collect();
                format!("{name}: at {}: {what}", e.instance_path())
            })
            .take(10)
            .collect()
    }
}

/// Every (event, action) the sandbox sends somewhere in its code
/// (src/sandbox/{pulls,issues,repos,watch,hooks}.rs).
const SENT: &[&str] = &[
    "ping$event",
    "pull_request$opened",
    "pull_request$edited",
    "pull_request$closed",
    "pull_request$reopened",
    "pull_request$labeled",
    "pull_request$unlabeled",
    "pull_request$synchronize",
    "pull_request_review$submitted",
    "issue_comment$created",
    "issue_comment$edited",
    "status$event",
    "release$created",
    "release$published",
    "release$edited",
    "push$event",
    "create$event",
];

/// Wait until the sandbox has announced a push of `sha` (as GitHub does a
/// moment after a push), so what people do next happens after it.
async fn pushed(road: &Road, sha: &str) {
    road.wait_for(&format!("the push of {sha}"), || async {
        road.sb
            .deliveries()
            .iter()
            .any(|d| d.event == "push" && d.payload["after"] == sha)
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_delivery_of_a_full_road_passes_githubs_webhook_schemas() {
    let road = Road::start().await;
    assert_eq!(
        road.sb.ping_webhook().await.map(|p| p.delivered()),
        Some(true),
        "the bot answers the ping"
    );
    // Staging takes the first tag; a minor component release goes through
    // CI, merges itself (low risk), tags the product and replaces it on
    // staging, which scores the first tag and publishes its release.
    road.wait_staging("v1.0.0").await;
    let pr = road
        .released(
            "payments",
            "feat/wallet",
            "feat(pay): wallets",
            LOW,
            "v1.5.0",
        )
        .await;
    road.wait_merged("product", number(&pr)).await;
    road.wait_staging("v1.1.0").await;
    road.wait_for("v1.0.0 published", || async {
        road.release("v1.0.0").await.filter(|r| r["draft"] == false)
    })
    .await;

    // What people do on a PR besides: edit, label and unlabel, review,
    // comment and edit the comment, close and reopen; and a release edited.
    let alice = road.person("alice");
    let bob = road.person("bob");
    let first = alice
        .commit_files(
            "search",
            "docs/typo",
            &[("README.md", "fixed\n")],
            "docs: typo",
        )
        .await
        .expect("push");
    pushed(&road, &first).await;
    let n = alice
        .open_pr("search", "docs/typo", "main", "docs: typo", "")
        .await
        .expect("open");
    alice
        .call(
            Method::PATCH,
            &format!("/repos/acme/search/pulls/{n}"),
            Some(json!({"title": "docs: fix a typo"})),
        )
        .await
        .expect("edit");
    let second = alice
        .commit_files(
            "search",
            "docs/typo",
            &[("README.md", "fixed twice\n")],
            "docs: typo",
        )
        .await
        .expect("push to the PR");
    pushed(&road, &second).await;
    alice
        .add_labels("search", n, &["change: S"])
        .await
        .expect("label");
    alice
        .remove_label("search", n, "change: S")
        .await
        .expect("unlabel");
    bob.approve("search", n).await.expect("review");
    let c = bob.comment("search", n, "nice").await.expect("comment");
    bob.call(
        Method::PATCH,
        &format!("/repos/acme/search/issues/comments/{c}"),
        Some(json!({"body": "nice catch"})),
    )
    .await
    .expect("edit comment");
    for state in ["closed", "open"] {
        alice
            .call(
                Method::PATCH,
                &format!("/repos/acme/search/pulls/{n}"),
                Some(json!({"state": state})),
            )
            .await
            .expect("close/reopen");
    }
    let release = road.release("v1.0.0").await.expect("the release");
    alice
        .call(
            Method::PATCH,
            &format!("/repos/acme/product/releases/{}", release["id"]),
            Some(json!({"body": "Edited by a person."})),
        )
        .await
        .expect("edit release");

    let seen = || -> BTreeSet<String> {
        road.sb
            .deliveries()
            .iter()
            .map(|d| definition(&d.event, &d.payload))
            .collect()
    };
    let deadline = std::time::Instant::now() + support::STEP;
    while !SENT.iter().all(|k| seen().contains(*k)) {
        let missing: Vec<&&str> = SENT.iter().filter(|k| !seen().contains(**k)).collect();
        assert!(
            std::time::Instant::now() < deadline,
            "no delivery of {missing:?} within {:?}; seen {:?}\n{:?}",
            support::STEP,
            seen(),
            road.sb
                .deliveries()
                .iter()
                .rev()
                .map(|d| format!(
                    "{}.{} {} {}",
                    d.event, d.payload["action"], d.payload["repository"]["name"], d.payload["ref"]
                ))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let kinds = seen();
    let deliveries = road.sb.deliveries();
    road.stop().await;

    let mut schemas = Schemas::new();
    let mut wrong = Vec::new();
    for d in &deliveries {
        wrong.extend(schemas.errors(&definition(&d.event, &d.payload), &d.payload));
    }
    assert!(
        wrong.is_empty(),
        "{} of {} deliveries differ from GitHub's schemas:\n{}",
        wrong.len(),
        deliveries.len(),
        wrong.join("\n")
    );
    assert!(
        deliveries.iter().all(|d| d.delivered()),
        "the bot took every delivery"
    );
    eprintln!(
        "{} deliveries of {} kinds passed: {kinds:?}",
        deliveries.len(),
        kinds.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_fails_on_a_payload_github_would_not_send() {
    // A review delivery from the sandbox, which passes...
    let road = Road::start().await;
    let alice = road.person("alice");
    alice
        .commit_files(
            "search",
            "docs/typo",
            &[("README.md", "fixed\n")],
            "docs: typo",
        )
        .await
        .expect("push");
    let n = alice
        .open_pr("search", "docs/typo", "main", "docs: typo", "")
        .await
        .expect("open");
    road.person("bob")
        .approve("search", n)
        .await
        .expect("review");
    let review = road
        .wait_for("the review's delivery", || async {
            road.sb
                .deliveries()
                .into_iter()
                .find(|d| d.event == "pull_request_review")
        })
        .await;
    road.stop().await;
    let mut schemas = Schemas::new();
    let name = "pull_request_review$submitted";
    assert_eq!(schemas.errors(name, &review.payload), Vec::<String>::new());
    assert_eq!(review.payload["review"]["state"], "approved");

    // ...fails with the sandbox's old mistake (the REST spelling of a
    // review's state), without a field GitHub always sends, and as an event
    // GitHub does not have.
    let mut shouted = review.payload.clone();
    shouted["review"]["state"] = json!("APPROVED");
    let errors = schemas.errors(name, &shouted);
    assert!(
        errors.iter().any(|e| e.contains("/review/state")),
        "{errors:?}"
    );
    let mut headless = review.payload.clone();
    headless["pull_request"]
        .as_object_mut()
        .expect("object")
        .remove("head");
    assert!(!schemas.errors(name, &headless).is_empty());
    assert!(!schemas.errors("pull_request$merged", &json!({})).is_empty());
}
