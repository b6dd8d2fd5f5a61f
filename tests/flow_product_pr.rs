//! Flows 2 and 3 on the sandbox: a released component change becomes one
//! product PR, which goes through CI by its risk level — low merges itself,
//! medium is smoke-tested in a PR environment and merged by a person, high
//! waits for an authorised approval — and an unhealthy or failing change is
//! rolled back.

mod support;

use support::{HIGH, LOW, MEDIUM, Road, head_sha, number};

const TOGGLE: &str = "feature-toggle";

fn with(labels: &[&str], extra: &str) -> Vec<String> {
    labels
        .iter()
        .map(|s| s.to_string())
        .chain([extra.to_string()])
        .collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn has_label(pr: &serde_json::Value, label: &str) -> bool {
    pr["labels"]
        .as_array()
        .is_some_and(|a| a.iter().any(|l| l["name"].as_str() == Some(label)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_risk_is_deployed_to_ci_and_merged_automatically() {
    let road = Road::start().await;
    let pr = road
        .released(
            "payments",
            "fix/cart",
            "fix(cart): empty cart",
            LOW,
            "v1.4.3",
        )
        .await;
    let n = number(&pr);
    assert!(
        pr["body"].as_str().unwrap_or("").contains("empty cart"),
        "the changelog is in the body: {}",
        pr["body"]
    );
    road.wait_merged("product", n).await;
    let merged = road.pull("product", n).await;
    assert!(has_label(&merged, "risk: low"), "{}", merged["labels"]);
    assert_eq!(merged["merged_by"]["login"], "stagecoach-bot");
    assert_eq!(
        road.landscape_version("ci", "ci-1", "payments").as_deref(),
        Some("1.4.3")
    );
    let deploy = road
        .log("landscape-ci", "main")
        .into_iter()
        .find(|m| m.contains("Stagecoach-Action: bump"))
        .expect("a CI deploy commit");
    assert!(deploy.contains("Stagecoach-Risk: low"), "{deploy}");
    assert!(
        deploy.contains(&format!("Stagecoach-Product: acme/product#{n}")),
        "{deploy}"
    );
    // No PR environment for low risk.
    assert!(
        road.log("landscape-ci", "main")
            .iter()
            .all(|m| !m.contains("env: create"))
    );
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn medium_risk_is_smoke_tested_in_a_pr_environment_then_a_person_merges() {
    let road = Road::start().await;
    let pr = road
        .released("checkout", "feat/wallet", "feat: wallet", MEDIUM, "v2.1.0")
        .await;
    let (n, sha) = (number(&pr), head_sha(&pr));
    let smoke = road
        .wait_status("product", &sha, "stagecoach/smoke", "success")
        .await;
    assert!(!smoke.contains("toggle off"), "one run, no toggle: {smoke}");
    road.wait_comment("product", n, "not merged automatically")
        .await;
    let env = format!("envs/pr-{n}/values.yaml");
    assert!(
        road.file_at("landscape-ci", "main", &env).is_none(),
        "torn down"
    );
    let log = road.log("landscape-ci", "main");
    assert!(
        log.iter()
            .any(|m| m.contains(&format!("env: create pr-{n}"))),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|m| m.contains(&format!("env: tear down pr-{n}"))),
        "{log:#?}"
    );
    assert!(has_label(&road.pull("product", n).await, "risk: medium"));
    road.stays("the bot merges medium risk", 6, || async {
        road.pull("product", n).await["merged"] == true
    })
    .await;
    road.person("rita")
        .merge("product", n)
        .await
        .expect("merge");
    road.wait_tag("v1.1.0").await;
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feature_toggle_is_smoke_tested_on_and_off() {
    let road = Road::start().await;
    let labels = with(MEDIUM, TOGGLE);
    let pr = road
        .released(
            "checkout",
            "feat/one-page",
            "feat: one page",
            &strs(&labels),
            "v2.1.0",
        )
        .await;
    let smoke = road
        .wait_status("product", &head_sha(&pr), "stagecoach/smoke", "success")
        .await;
    assert!(
        smoke.contains("toggle on:") && smoke.contains("toggle off:"),
        "{smoke}"
    );
    assert!(has_label(&road.pull("product", number(&pr)).await, TOGGLE));
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smoke_failure_with_the_toggle_off_fails_the_gate_and_rolls_back() {
    let road = Road::start().await;
    road.make_smoke_fail("checkout@2.1.0 toggle=off");
    let labels = with(MEDIUM, TOGGLE);
    let pr = road
        .released(
            "checkout",
            "feat/one-page",
            "feat: one page",
            &strs(&labels),
            "v2.1.0",
        )
        .await;
    let n = number(&pr);
    let smoke = road
        .wait_status("product", &head_sha(&pr), "stagecoach/smoke", "failure")
        .await;
    assert!(smoke.contains("toggle on: passed"), "{smoke}");
    assert!(smoke.contains("toggle off: failed"), "{smoke}");
    road.wait_comment("product", n, "smoke gate failed").await;
    road.wait_landscape("ci", "ci-1", "checkout", "2.0.1").await;
    road.wait_for("the PR environment is torn down", || async {
        road.file_at("landscape-ci", "main", &format!("envs/pr-{n}/values.yaml"))
            .is_none()
            .then_some(())
    })
    .await;
    assert_eq!(road.pull("product", n).await["merged"], false);
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smoke_failure_rolls_back_and_tears_the_environment_down() {
    let road = Road::start().await;
    road.make_smoke_fail("checkout@2.1.0");
    let pr = road
        .released("checkout", "feat/wallet", "feat: wallet", MEDIUM, "v2.1.0")
        .await;
    let n = number(&pr);
    road.wait_status("product", &head_sha(&pr), "stagecoach/smoke", "failure")
        .await;
    road.wait_landscape("ci", "ci-1", "checkout", "2.0.1").await;
    road.wait_for("the PR environment is torn down", || async {
        road.log("landscape-ci", "main")
            .iter()
            .any(|m| m.contains(&format!("env: tear down pr-{n}")))
            .then_some(())
    })
    .await;
    let log = road.log("landscape-ci", "main");
    let rollback = log
        .iter()
        .find(|m| m.contains("Stagecoach-Action: rollback"))
        .expect("a rollback commit");
    assert!(rollback.contains("smoke gate failed"), "{rollback}");
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unhealthy_version_on_ci_is_reverted_and_fails_the_check() {
    let road = Road::start().await;
    road.make_unhealthy("search@0.10.0");
    let pr = road
        .released("search", "feat/fuzzy", "feat: fuzzy", LOW, "v0.10.0")
        .await;
    let n = number(&pr);
    let why = road
        .wait_status("product", &head_sha(&pr), "stagecoach/ci", "failure")
        .await;
    assert!(why.contains("unhealthy"), "{why}");
    let said = road.wait_comment("product", n, "was unhealthy on ci").await;
    assert!(
        said.contains("crash-looping"),
        "the health output is shown: {said}"
    );
    road.wait_landscape("ci", "ci-1", "search", "0.9.0").await;
    let log = road.log("landscape-ci", "main");
    let (deploy_sha, _) = road
        .commits("landscape-ci", "main")
        .into_iter()
        .find(|(_, m)| m.contains("Stagecoach-Action: bump"))
        .expect("the deploy commit");
    let rollback = log
        .iter()
        .find(|m| m.contains("Stagecoach-Action: rollback"))
        .expect("a rollback commit");
    assert!(
        rollback.contains(&format!("Stagecoach-Reverts: {deploy_sha}")),
        "{rollback}"
    );
    road.stays("an unhealthy PR is merged", 6, || async {
        road.pull("product", n).await["merged"] == true
    })
    .await;
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_risk_waits_for_an_authorised_approval_review() {
    let road = Road::start().await;
    let pr = road
        .released(
            "payments",
            "feat/intents",
            "feat: payment intents",
            HIGH,
            "v1.5.0",
        )
        .await;
    let (n, sha) = (number(&pr), head_sha(&pr));
    road.wait_status("product", &sha, "stagecoach/approval", "pending")
        .await;
    let env = format!("envs/pr-{n}/values.yaml");
    assert!(
        road.file_at("landscape-ci", "main", &env).is_some(),
        "the PR environment is kept for the approver"
    );
    assert!(has_label(&road.pull("product", n).await, "risk: high"));

    road.person("ron")
        .comment("product", n, "/approve")
        .await
        .expect("comment");
    let refused = road.wait_comment("product", n, "do not count").await;
    assert!(refused.contains("ron"), "{refused}");
    road.person("bob")
        .approve("product", n)
        .await
        .expect("review");
    let refused = road.wait_comment("product", n, "- bob").await;
    assert!(refused.contains("ron"), "one comment lists both: {refused}");
    assert_eq!(
        road.bot_comments("product", n)
            .await
            .iter()
            .filter(|b| b.contains("do not count"))
            .count(),
        1
    );
    road.stays("merged without an authorised approval", 6, || async {
        road.pull("product", n).await["merged"] == true
    })
    .await;
    assert_eq!(
        road.status_of("product", &sha, "stagecoach/approval")
            .await
            .map(|(s, _)| s)
            .as_deref(),
        Some("pending")
    );

    road.person("rita")
        .approve("product", n)
        .await
        .expect("review");
    road.wait_merged("product", n).await;
    let desc = road
        .wait_status("product", &sha, "stagecoach/approval", "success")
        .await;
    assert_eq!(desc, "approved by rita");
    assert!(
        road.file_at("landscape-ci", "main", &env).is_none(),
        "torn down"
    );
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_risk_is_approved_by_an_approve_comment_from_a_release_manager() {
    let road = Road::start().await;
    let pr = road
        .released(
            "payments",
            "feat/intents",
            "feat: payment intents",
            HIGH,
            "v1.5.0",
        )
        .await;
    let n = number(&pr);
    road.wait_status("product", &head_sha(&pr), "stagecoach/approval", "pending")
        .await;
    road.person("rita")
        .comment("product", n, "/approve")
        .await
        .expect("comment");
    road.wait_merged("product", n).await;
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_functional_change_opens_no_product_pr() {
    let road = Road::start().await;
    let n = road
        .component_pr(
            "bob",
            "search",
            "docs/ranking",
            "docs: ranking",
            &[
                "component: S",
                "change: S",
                "ft-coverage: 100",
                "functional: false",
            ],
        )
        .await;
    road.merge_and_release("bob", "search", n, "v0.9.1").await;
    road.wait_comment("search", n, "functional: false").await;
    road.stays("a product PR for search 0.9.1", 6, || async {
        road.pr_by_head("product", "stagecoach/search-0.9.1")
            .await
            .is_some()
    })
    .await;
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_pr_opened_by_a_person_gets_the_same_treatment() {
    let road = Road::start().await;
    road.component_release("search", "fix: stop words", "v0.9.1")
        .await;
    let alice = road.person("alice");
    road.bump_on_branch("alice", "bump/search", "search", "0.9.1")
        .await;
    let n = alice
        .open_pr("product", "bump/search", "main", "search 0.9.1", "")
        .await
        .expect("open");
    // Unlabelled: the bot asks for labels before anything reaches CI.
    road.wait_comment("product", n, "labels need fixing").await;
    let sha = head_sha(&road.pull("product", n).await);
    road.wait_status("product", &sha, "stagecoach/labels", "failure")
        .await;
    assert_eq!(
        road.landscape_version("ci", "ci-1", "search").as_deref(),
        Some("0.9.0")
    );
    alice.add_labels("product", n, LOW).await.expect("labels");
    road.wait_merged("product", n).await;
    assert!(has_label(&road.pull("product", n).await, "risk: low"));
    assert_eq!(
        road.landscape_version("ci", "ci-1", "search").as_deref(),
        Some("0.9.1")
    );
    road.wait_tag("v1.0.1").await;
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_pr_bumping_two_components_is_refused() {
    let road = Road::start().await;
    let alice = road.person("alice");
    road.bump_on_branch("alice", "bump/two", "search", "0.9.1")
        .await;
    road.bump_on_branch("alice", "bump/two", "payments", "1.4.3")
        .await;
    let n = alice
        .open_pr("product", "bump/two", "main", "two bumps", "")
        .await
        .expect("open");
    alice.add_labels("product", n, LOW).await.expect("labels");
    let sha = head_sha(&road.pull("product", n).await);
    let desc = road
        .wait_status("product", &sha, "stagecoach/ci", "failure")
        .await;
    assert_eq!(desc, "bumps more than one component");
    let said = road
        .wait_comment("product", n, "exactly one component")
        .await;
    assert!(said.contains("payments, search"), "{said}");
    assert_eq!(
        road.landscape_version("ci", "ci-1", "search").as_deref(),
        Some("0.9.0")
    );
    assert_eq!(
        road.landscape_version("ci", "ci-1", "payments").as_deref(),
        Some("1.4.2")
    );
    road.stays("a two-component PR is merged", 6, || async {
        road.pull("product", n).await["merged"] == true
    })
    .await;
    road.stop().await;
}
