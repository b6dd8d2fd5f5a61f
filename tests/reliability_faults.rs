//! Faults from the forge: a low-risk component change travels through product
//! PR, CI, merge and product tag while the sandbox answers a chosen endpoint
//! with 500s, dropped connections, slow answers, primary and secondary rate
//! limits, 409s and 422s. The bot retries, finishes once the fault clears, and
//! never acts twice: one product PR per change, one comment per topic, one CI
//! deploy per product PR, one product tag per merged change.

mod reliability_support;

use std::time::Duration;

use reliability_support::*;
use serde_json::{Value, json};

struct Case {
    name: &'static str,
    /// Faults to add before the change is released (`{N}` is not known yet, so
    /// per-PR endpoints are matched by prefix and method).
    faults: Vec<Value>,
}

fn cases() -> Vec<Case> {
    let pulls = "/repos/acme/product/pulls";
    vec![
        Case {
            name: "500 on opening the product PR",
            faults: vec![
                json!({"path_prefix": pulls, "method": "POST", "status": 500, "count": 3}),
            ],
        },
        Case {
            name: "dropped connections on commit statuses",
            faults: vec![
                json!({"path_prefix": "/repos/acme/product/statuses", "method": "POST", "drop": true, "count": 3}),
            ],
        },
        Case {
            name: "slow answers (1.5 s) listing product PRs",
            faults: vec![
                json!({"path_prefix": pulls, "method": "GET", "delay_ms": 1500, "count": 3}),
            ],
        },
        Case {
            name: "primary rate limit on the whole product repo",
            faults: vec![json!({"path_prefix": "/repos/acme/product", "status": 403, "count": 2})],
        },
        Case {
            name: "secondary rate limit (retry-after: 1) on merging",
            faults: vec![
                json!({"path_prefix": pulls, "method": "PUT", "status": 429, "retry_after": 1, "count": 2}),
            ],
        },
        Case {
            name: "409 on merging",
            faults: vec![json!({"path_prefix": pulls, "method": "PUT", "status": 409, "count": 2})],
        },
        Case {
            name: "422 on opening the product PR and on comments",
            faults: vec![
                json!({"path_prefix": pulls, "method": "POST", "status": 422, "count": 2}),
                json!({"path_prefix": "/repos/acme/product/issues", "method": "POST", "status": 422, "count": 2}),
            ],
        },
        Case {
            name: "502 on reading the component's PRs and setting its statuses",
            faults: vec![
                json!({"path_prefix": "/repos/acme/payments/pulls", "method": "GET", "status": 502, "count": 6}),
                json!({"path_prefix": "/repos/acme/payments/statuses", "method": "POST", "status": 502, "count": 3}),
            ],
        },
    ]
}

/// Play one low-risk change to the end: product PR merged, product tagged.
async fn play(rig: &Rig, version: &str) -> u64 {
    let alice = rig.person("alice");
    let before = rig.world().tags("product").len();
    let branch = format!("fix/r{}", version.replace('.', "-"));
    low_risk_release_after_check(&alice, "payments", &branch, &format!("v{version}")).await;
    let head = format!("stagecoach/payments-{version}");
    let pr = wait_for(
        &format!("a product PR for payments {version}"),
        STEP,
        || pr_by_head(&alice, "product", &head),
    )
    .await;
    let n = pr["number"].as_u64().expect("number");
    wait_merged(&alice, n, STEP).await;
    wait_for(
        &format!("a product tag after product#{n}"),
        STEP,
        || async { (rig.world().tags("product").len() > before).then_some(()) },
    )
    .await;
    n
}

fn assert_one_deploy(rig: &Rig, n: u64, what: &str) {
    let key = format!("acme/product#{n}");
    let deploys = rig.world().commits_with(
        "landscape-ci",
        &[("Stagecoach-Action", "bump"), ("Stagecoach-Product", &key)],
    );
    assert_eq!(deploys, 1, "{what}: {deploys} CI deploys of product#{n}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_risk_change_goes_through_every_forge_fault_once() {
    let mut rig = Rig::new().await;
    rig.start_bot(Duration::from_millis(500)).await;
    let alice = rig.person("alice");
    let start_tags = rig.world().tags("product").len();
    // Let the bot's first converge (staging takes the newest tag) settle.
    rig.wait_passes(2).await;

    let only: Option<usize> = std::env::var("RELIABILITY_CASE")
        .ok()
        .and_then(|s| s.parse().ok());
    let cases: Vec<Case> = cases()
        .into_iter()
        .enumerate()
        .filter(|(i, _)| only.is_none_or(|o| o == *i))
        .map(|(_, c)| c)
        .collect();
    for (i, case) in cases.iter().enumerate() {
        for f in &case.faults {
            rig.fault(f.clone()).await;
        }
        let version = format!("1.4.{}", 3 + i);
        let n = play(&rig, &version).await;
        rig.clear_faults().await;
        assert_one_deploy(&rig, n, case.name);
        assert_nothing_doubled(&alice, &["product"]).await;
        eprintln!("fault held: {} → product#{n} merged and tagged", case.name);
    }

    // A fault that lasts until someone clears it: nothing happens while it
    // holds, and the road goes on once it is gone.
    rig.fault(json!({"path_prefix": "/repos/acme/product/pulls", "method": "POST", "status": 503, "count": 100000}))
        .await;
    low_risk_release(&alice, "payments", "fix/outage", "v1.4.20").await;
    // The bot did try to open the PR (and was refused), then made two more
    // whole passes: had it found a way round the outage, it would show now.
    wait_for(
        "the bot tries to open the PR during the outage",
        STEP,
        || async {
            rig.fault_report()
                .await
                .iter()
                .any(|r| r["hits"].as_u64().unwrap_or(0) > 0)
                .then_some(())
        },
    )
    .await;
    rig.wait_passes(3).await;
    assert!(
        pr_by_head(&alice, "product", "stagecoach/payments-1.4.20")
            .await
            .is_none(),
        "a product PR appeared while the forge refused to make one"
    );
    rig.clear_faults().await;
    let pr = wait_for("the product PR once the outage is over", STEP, || {
        pr_by_head(&alice, "product", "stagecoach/payments-1.4.20")
    })
    .await;
    let n = pr["number"].as_u64().expect("number");
    wait_merged(&alice, n, STEP).await;
    assert_one_deploy(&rig, n, "503 outage");

    // One product tag per merged change, and nothing doubled on any repo.
    wait_for("the last product tag", STEP, || async {
        (rig.world().tags("product").len() == start_tags + cases.len() + 1).then_some(())
    })
    .await;
    // A few more whole passes: a late duplicate tag would show now.
    rig.wait_passes(3).await;
    assert_eq!(
        rig.world().tags("product").len(),
        start_tags + cases.len() + 1,
        "product tags: {:?}",
        rig.world().tags("product")
    );
    assert_nothing_doubled(&alice, &["product", "payments"]).await;
    rig.stop().await;
}
