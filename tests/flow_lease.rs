//! One bot acts at a time: two engines with leases on one world (as two
//! `serve` replicas, or the old and new pod of a rolling update) — the one
//! holding the product repo's lease acts, the other only observes, and takes
//! over once the first releases the lease or stops renewing it.

mod support;

use std::sync::Arc;
use std::time::Duration;

use stagecoach::engine::Engine;
use stagecoach::engine::lease::BRANCH;
use stagecoach::forge::github::GitHub;
use support::{LOW, Road, RoadOptions, number};

fn twin(road: &Road, name: &str, ttl: Duration) -> Engine {
    let mut config = road.engine.config.clone();
    config.git.cache_dir = road.dir.join(format!("cache-{name}"));
    let forge = GitHub::from_config(&config).expect("forge");
    Engine::new(config, Arc::new(forge)).with_lease(name.to_string(), ttl)
}

fn acted(engine: &Engine) -> usize {
    engine.journal().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_holder_acts_the_twin_observes_and_takes_over_when_it_is_released() {
    let road = Road::start_with(RoadOptions {
        bot: false,
        ..RoadOptions::default()
    })
    .await;
    let a = Arc::new(twin(&road, "a", Duration::from_secs(600)));
    let b = Arc::new(twin(&road, "b", Duration::from_secs(600)));
    // The world's first steps (staging takes v1.0.0): a goes first and takes the lease.
    a.converge().await.expect("a");
    assert!(acted(&a) > 0, "a acted");
    let lease = road
        .file_at("product", BRANCH, "lease.yaml")
        .expect("the lease in the product repo");
    assert!(lease.contains("holder: a"), "{lease}");

    // A change while a holds the lease: b sees it and leaves it, a carries it.
    let pr = road
        .component_pr("alice", "payments", "fix/lease", "fix: leased", LOW)
        .await;
    road.merge_and_release("alice", "payments", pr, "v1.4.3")
        .await;
    for _ in 0..3 {
        b.converge().await.expect("b observes");
    }
    assert_eq!(
        acted(&b),
        0,
        "b acted while a held the lease: {:?}",
        b.journal()
    );
    assert!(
        road.pr_by_head("product", "stagecoach/payments-1.4.3")
            .await
            .is_none()
    );
    let product_pr = {
        let a = a.clone();
        road.wait_for("a opens the product PR", || {
            let a = a.clone();
            let road = &road;
            async move {
                a.converge().await.ok()?;
                road.pr_by_head("product", "stagecoach/payments-1.4.3")
                    .await
            }
        })
        .await
    };
    road.wait_merged("product", number(&product_pr)).await;

    // a stops (a graceful stop releases the lease): b takes over and
    // carries the next change.
    a.release_lease().await.expect("release");
    let lease = road
        .file_at("product", BRANCH, "lease.yaml")
        .expect("lease");
    assert!(lease.contains("holder: a"), "{lease}");
    let pr = road
        .component_pr("alice", "checkout", "fix/next", "fix: next", LOW)
        .await;
    road.merge_and_release("alice", "checkout", pr, "v2.0.2")
        .await;
    let next = road
        .wait_for("b opens the next product PR", || {
            let b = b.clone();
            let road = &road;
            async move {
                b.converge().await.ok()?;
                road.pr_by_head("product", "stagecoach/checkout-2.0.2")
                    .await
            }
        })
        .await;
    road.wait_merged("product", number(&next)).await;
    assert!(acted(&b) > 0, "b took over");
    let lease = road
        .file_at("product", BRANCH, "lease.yaml")
        .expect("lease");
    assert!(lease.contains("holder: b"), "{lease}");
    road.wait_tag("v1.0.2").await;
    let open: Vec<serde_json::Value> = road
        .person("alice")
        .get("/repos/acme/product/pulls?state=all&per_page=100")
        .await
        .expect("pulls")
        .as_array()
        .cloned()
        .unwrap_or_default();
    let for_payments = open
        .iter()
        .filter(|p| p["head"]["ref"] == "stagecoach/payments-1.4.3")
        .count();
    assert_eq!(for_payments, 1, "one product PR for payments 1.4.3");
    // The lease branch is one commit, replaced, never a growing history.
    assert_eq!(road.log("product", BRANCH).len(), 1);
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_that_runs_out_passes_to_the_twin() {
    let road = Road::start_with(RoadOptions {
        bot: false,
        ..RoadOptions::default()
    })
    .await;
    let a = twin(&road, "a", Duration::from_secs(2));
    let b = twin(&road, "b", Duration::from_secs(2));
    a.converge().await.expect("a");
    assert!(acted(&a) > 0);
    // a dies (no release): b waits out a's lease, then acts.
    drop(a);
    let pr = road
        .component_pr("alice", "payments", "fix/expired", "fix: expired", LOW)
        .await;
    road.merge_and_release("alice", "payments", pr, "v1.4.3")
        .await;
    let b = Arc::new(b);
    road.wait_for("b opens the product PR once a's lease ran out", || {
        let b = b.clone();
        let road = &road;
        async move {
            b.converge().await.ok()?;
            road.pr_by_head("product", "stagecoach/payments-1.4.3")
                .await
        }
    })
    .await;
    let lease = road
        .file_at("product", BRANCH, "lease.yaml")
        .expect("lease");
    assert!(lease.contains("holder: b"), "{lease}");
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_inside_an_action_longer_than_its_lease_keeps_it_and_the_twin_waits() {
    let road = Road::start_with(RoadOptions {
        bot: false,
        ..RoadOptions::default()
    })
    .await;
    let ttl = Duration::from_secs(2);
    let a = Arc::new(twin(&road, "a", ttl));
    let b = twin(&road, "b", ttl);
    a.converge().await.expect("a settles the world");
    // A developer's PR with labels the policy refuses: a's next pass
    // answers it, and GitHub takes 6 s (three lease lives) over the answer,
    // as when the budget holds a request after a secondary limit.
    let n = road
        .component_pr("alice", "payments", "fix/slow", "fix: slow", &["change: S"])
        .await;
    let rule = serde_json::json!({
        "path_prefix": format!("/repos/acme/payments/issues/{n}/comments"),
        "method": "POST",
        "user": "stagecoach-bot",
        "delay_ms": 6_000,
    });
    road.fault(&rule).await;
    let pass = tokio::spawn({
        let a = a.clone();
        async move { a.pass().await }
    });
    road.wait_for("a's answer sent and held by GitHub", || async {
        (road.fault_hits().await == vec![1]).then_some(())
    })
    .await;
    // While a is inside that action, b looks again and again: the lease
    // stays a's (a renews it while acting), so b does nothing.
    let mut looks = 0;
    while !pass.is_finished() {
        b.converge().await.expect("b observes");
        looks += 1;
    }
    assert!(looks > 0, "b looked while a acted");
    assert_eq!(
        acted(&b),
        0,
        "b acted while a was inside an action: {:?}",
        b.journal()
    );
    pass.await.expect("a's pass ran").expect("a's pass");
    assert_eq!(
        road.bot_comments("payments", n).await.len(),
        1,
        "one answer"
    );
    road.stop().await;
}
