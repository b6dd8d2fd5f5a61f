//! Many roads at once, on the sandbox: two product PRs for different
//! components on CI together, a slow health watch that holds back nothing
//! but its own road, a core (`component: XL`) change that runs alone, the
//! second PR rebuilt on the new main with its verdicts carried, and a bot
//! stopped while a gate is in flight that resumes without a second deploy.

mod support;

use std::sync::Arc;

use support::{LOW, Road, RoadOptions};

/// A low-risk change to a core component: `component: XL` scores low when
/// the change is small and well covered, so only the core rule holds it.
const CORE_LOW: &[&str] = &[
    "component: XL",
    "change: S",
    "ft-coverage: 100",
    "functional: true",
];

/// The CI landscape commits that deployed product PR `n`.
fn deploys_of(road: &Road, n: u64) -> usize {
    let key = format!("Stagecoach-Product: acme/product#{n}");
    road.commits("landscape-ci", "main")
        .iter()
        .filter(|(_, m)| m.contains("Stagecoach-Action: bump") && m.contains(&key))
        .count()
}

fn number(pr: &serde_json::Value) -> u64 {
    pr["number"].as_u64().expect("a PR number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_health_watch_holds_back_only_its_own_road_and_both_reach_main() {
    let road = Road::start().await;
    road.ci_health_timeout("120s").await;
    road.make_slow("payments@1.4.3");

    let payments = road
        .released(
            "payments",
            "fix/cart",
            "fix(cart): empty carts",
            LOW,
            "v1.4.3",
        )
        .await;
    let checkout = road
        .released("checkout", "fix/tax", "fix(tax): rounding", LOW, "v2.0.2")
        .await;
    let (p, c) = (number(&payments), number(&checkout));

    // Checkout goes all the way while payments' watch is still running.
    road.wait_merged("product", c).await;
    let pending = road
        .status_of(
            "product",
            payments["head"]["sha"].as_str().expect("sha"),
            "stagecoach/ci",
        )
        .await
        .expect("payments is on CI");
    assert_eq!(
        pending.0, "pending",
        "payments is still being watched: {pending:?}"
    );
    assert!(
        road.engine
            .gates_running()
            .iter()
            .any(|k| k.starts_with(&format!("ci-health {p} "))),
        "{:?}",
        road.engine.gates_running()
    );

    // The slow rollout ends: payments is healthy; its bump line neighbours
    // checkout's in product.yaml, so git cannot merge it into the main that
    // gained checkout (GitHub answers 405): the bot rebuilds its branch on
    // main and carries the verdict to the new head ...
    road.release_slow("payments@1.4.3");
    road.wait_merged("product", p).await;
    let merged = road.pull("product", p).await;
    let head = merged["head"]["sha"].as_str().expect("sha").to_string();
    let ci = road
        .status_of("product", &head, "stagecoach/ci")
        .await
        .expect("a CI verdict on the final head");
    assert_eq!(ci.0, "success", "{ci:?}");
    assert_ne!(
        head,
        payments["head"]["sha"].as_str().expect("sha"),
        "the bump was rebuilt on the new main"
    );
    assert!(ci.1.contains("carried from"), "{ci:?}");
    // ... within the merge itself: git's refusal is met in the same step,
    // never recorded as a refused merge that waits a pass for its rebuild.
    assert_eq!(
        road.status_of(
            "product",
            payments["head"]["sha"].as_str().expect("sha"),
            "stagecoach/merge"
        )
        .await,
        None,
        "the conflict was met inside the merge step"
    );
    let merge = road.comments("product", p).await;
    assert!(
        merge.iter().any(|(_, b)| b.contains("rebuilt this bump")),
        "the PR says it was rebuilt: {merge:?}"
    );
    assert_eq!(deploys_of(&road, p), 1, "one deploy of payments, not two");
    assert_eq!(deploys_of(&road, c), 1);
    let manifest = road
        .file_at("product", "main", "product.yaml")
        .expect("manifest");
    assert!(
        manifest.contains("1.4.3") && manifest.contains("2.0.2"),
        "{manifest}"
    );
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_core_component_runs_alone_on_ci() {
    let road = Road::start().await;
    road.ci_health_timeout("120s").await;
    road.make_slow("payments@1.4.3");
    let payments = road
        .released(
            "payments",
            "fix/core",
            "fix(core): ledger",
            CORE_LOW,
            "v1.4.3",
        )
        .await;
    let checkout = road
        .released("checkout", "fix/tax", "fix(tax): rounding", LOW, "v2.0.2")
        .await;
    let (p, c) = (number(&payments), number(&checkout));
    let checkout_head = checkout["head"]["sha"].as_str().expect("sha").to_string();

    // The bot has seen checkout's PR (labelled it) and passed over it again.
    road.wait_for("checkout's product PR labelled", || async {
        let pr = road.pull("product", c).await;
        pr["labels"]
            .as_array()
            .is_some_and(|l| l.iter().any(|l| l["name"] == "risk: low"))
            .then_some(())
    })
    .await;
    let seen = road.engine.passes();
    road.wait_for("two more passes", || async {
        (road.engine.passes() >= seen + 2).then_some(())
    })
    .await;
    assert_eq!(
        road.status_of("product", &checkout_head, "stagecoach/ci")
            .await,
        None,
        "checkout waits while the core change is on CI"
    );
    assert_eq!(deploys_of(&road, c), 0);

    road.release_slow("payments@1.4.3");
    road.wait_merged("product", p).await;
    road.wait_merged("product", c).await;
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_stopped_while_a_gate_runs_resumes_without_a_second_deploy() {
    let road = Road::start_with(RoadOptions {
        bot: false,
        ..RoadOptions::default()
    })
    .await;
    road.ci_health_timeout("120s").await;
    road.make_slow("payments@1.4.3");
    let n = road
        .component_pr(
            "alice",
            "payments",
            "fix/cart",
            "fix(cart): empty carts",
            LOW,
        )
        .await;
    road.merge_and_release("alice", "payments", n, "v1.4.3")
        .await;

    // The first bot runs until the watch is in flight, then dies.
    let first = Arc::clone(&road.engine);
    let run = tokio::spawn(async move { first.converge().await });
    road.wait_for("the health watch in flight", || async {
        road.engine
            .gates_running()
            .iter()
            .any(|k| k.starts_with("ci-health "))
            .then_some(())
    })
    .await;
    run.abort();
    road.engine.abort_gates();
    let pr = road.product_pr_for("payments", "1.4.3").await;
    let p = number(&pr);
    assert_eq!(deploys_of(&road, p), 1);

    // A new process (same identity, its own cache) picks the road up.
    road.release_slow("payments@1.4.3");
    let second = road.engine_as("stagecoach-bot");
    second.converge().await.expect("the second bot converges");
    road.wait_merged("product", p).await;
    assert_eq!(
        deploys_of(&road, p),
        1,
        "the watch ran again, the deploy did not"
    );
    let head = pr["head"]["sha"].as_str().expect("sha");
    let ci = road.status_of("product", head, "stagecoach/ci").await;
    assert_eq!(ci.map(|(s, _)| s).as_deref(), Some("success"));
    road.stop().await;
}

/// One road's action failing pass after pass (a closed PR's CI deploy that
/// cannot be reverted: a person edited the same line by hand) holds back
/// that road only: a change to another component, decided after it in every
/// pass, still goes all the way to its product tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_that_keeps_failing_holds_back_only_its_own_road() {
    let road = Road::start().await;
    road.ci_health_timeout("300s").await;
    // payments' CI watch holds, so its product PR stays open, deployed.
    road.make_slow("payments@1.4.3");
    let stuck = road
        .released("payments", "fix/stuck", "fix: stuck", LOW, "v1.4.3")
        .await;
    let stuck_n = support::number(&stuck);
    road.wait_for("payments deployed on CI", || async {
        (deploys_of(&road, stuck_n) == 1).then_some(())
    })
    .await;
    // A person pins the CI line by hand, then the PR is closed: the bot's
    // revert of its deploy now conflicts, every pass.
    let path = "clusters/ci-1/payments/values.yaml";
    let text = road.file_at("landscape-ci", "main", path).expect("values");
    let pinned = text.replace("tag: \"1.4.3\"", "tag: \"1.4.3\" # held by hand");
    assert_ne!(pinned, text, "the CI line: {text}");
    road.person("rita")
        .commit_files(
            "landscape-ci",
            "main",
            &[(path, &pinned)],
            "chore: hold payments",
        )
        .await
        .expect("hand edit");
    road.person("rita")
        .close("product", stuck_n)
        .await
        .expect("close");
    road.release_slow("payments@1.4.3");
    // The rollback is tried and fails (it cannot apply), and keeps failing...
    road.wait_for("the bot's rollback to fail", || async {
        road.engine
            .journal()
            .iter()
            .any(|j| j.action.starts_with("roll back ci") && j.outcome.starts_with("failed"))
            .then_some(())
    })
    .await;
    // ...while checkout's change, a later PR, reaches its tag.
    let other = road
        .released("checkout", "fix/other", "fix: other", LOW, "v2.0.2")
        .await;
    road.wait_merged("product", support::number(&other)).await;
    let tag = road.wait_tag("v1.0.1").await;
    assert!(tag.contains("checkout"), "{tag}");
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_write_on_one_road_does_not_hold_another_roads_action_in_the_same_pass() {
    let road = Road::start_with(RoadOptions {
        bot: false,
        ..RoadOptions::default()
    })
    .await;
    // Two developers' PRs with labels the policy refuses: the next pass
    // answers both, checkout's first in decided order (components by name).
    let missing = &["change: S"];
    let checkout = road
        .component_pr("alice", "checkout", "fix/a", "fix: a", missing)
        .await;
    let payments = road
        .component_pr("alice", "payments", "fix/b", "fix: b", missing)
        .await;
    // GitHub takes 20 s over checkout's comment: under the client's 30-s
    // read timeout, or the client would give up, look before the delayed
    // write lands and send it again.
    let rule = serde_json::json!({
        "path_prefix": format!("/repos/acme/checkout/issues/{checkout}/comments"),
        "method": "POST",
        "user": "stagecoach-bot",
        "delay_ms": 20_000,
    });
    road.fault(&rule).await;

    let engine = road.engine.clone();
    let pass = tokio::spawn(async move { engine.pass().await });
    // Payments' answer comes while checkout's is still on its way: the
    // same pass, another road.
    road.wait_for("the bot's answer on payments' PR", || async {
        (!road.bot_comments("payments", payments).await.is_empty()).then_some(())
    })
    .await;
    assert_eq!(
        road.fault_hits().await,
        vec![1],
        "checkout's comment was sent"
    );
    assert!(
        road.bot_comments("checkout", checkout).await.is_empty(),
        "checkout's comment is still held by the forge"
    );
    assert_eq!(road.engine.passes(), 0, "all within the first pass");

    // The slow one lands too, once.
    pass.await.expect("the pass ran").expect("the pass");
    assert_eq!(road.bot_comments("checkout", checkout).await.len(), 1);
    assert_eq!(road.bot_comments("payments", payments).await.len(), 1);
    road.stop().await;
}
