//! A staging `when.schedule`: a product tag waits on staging's schedule and goes when the schedule comes (the engine's clock moved on, no waiting for wall-clock time).

mod support;

use std::sync::Arc;

use support::{ManualClock, Road, RoadOptions};

/// Every day at 06:00 UTC: from any moment, a day and a minute on has passed it.
const SCHEDULE: &str = "0 6 * * *";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staging_promotion_waits_for_its_schedule_and_goes_when_it_comes() {
    let clock = Arc::new(ManualClock::default());
    let road = Road::start_with(RoadOptions {
        policy: Some(Box::new(|p: &str| {
            p.replace(
                "when: {min_bump: minor}",
                &format!("when: {{schedule: \"{SCHEDULE}\"}}"),
            )
        })),
        clock: Some(clock.clone()),
        ..Default::default()
    })
    .await;
    // Staging's first tag goes at once: nothing ran there before.
    road.wait_staging("v1.0.0").await;

    // 1. A minor product tag, which `min_bump: minor` would send at once.
    road.component_release("checkout", "feat(cart): saved carts", "v2.1.0")
        .await;
    road.bump_on_branch("rita", "main", "checkout", "2.1.0")
        .await;
    road.wait_tag("v1.1.0").await;
    road.wait_for(
        "v1.1.0's draft release (the bot has seen the tag)",
        || async { road.release("v1.1.0").await },
    )
    .await;

    // 2. It waits for the schedule.
    road.stays("v1.1.0 goes to staging before its schedule", 8, || async {
        road.staging_tag().as_deref() == Some("v1.1.0")
    })
    .await;
    assert_eq!(road.staging_tag().as_deref(), Some("v1.0.0"));

    // 3. The schedule comes: it goes, and v1.0.0 leaves with its score.
    clock.advance(chrono::Duration::days(1) + chrono::Duration::minutes(1));
    road.wait_staging("v1.1.0").await;
    assert_eq!(
        road.landscape_version("staging", "stg-1", "checkout")
            .as_deref(),
        Some("2.1.0")
    );
    road.wait_for("v1.0.0's stability note", || async { road.note("v1.0.0") })
        .await;
    road.stop().await;
}
