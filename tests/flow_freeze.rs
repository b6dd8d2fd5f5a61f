//! Freeze windows on the sandbox (policy `freezes`): a window that opens in
//! the middle of a prod rollout lets the wave in flight finish and holds the
//! next one, says so (the `/promote` answer, `status`, `plan`), and the
//! rollout goes on by itself when the window ends. During a freeze a hotfix
//! by on-call passes, and a release manager's `--override` passes and is
//! recorded; without one the promotion is refused in one line (exit 2).
//! The time is the bot's clock ([`ManualClock`]), moved into the window.

mod support;

use std::sync::Arc;

use chrono::{DateTime, Duration, Timelike, Utc};
use stagecoach::engine::{Clock, Engine};
use stagecoach::status;
use support::{ManualClock, Road, RoadOptions, wait_for};

/// The world after one release (v1.0.0 released, v1.1.0 on staging), with
/// a freeze on canary and prod every day from `start`'s hour for an hour.
async fn road_with_a_freeze(clock: Arc<ManualClock>, start: DateTime<Utc>) -> Road {
    let freeze = format!(
        "\nfreezes:\n  - name: release-night\n    cron: \"0 {} * * *\"\n    duration: 1h\n    timezone: UTC\n    environments: [canary, prod]\n",
        start.hour()
    );
    let road = Road::start_with(RoadOptions {
        clock: Some(clock),
        // A soak long enough that the test moves the clock before wave 2 is due.
        policy: Some(Box::new(move |p: &str| {
            p.replace("    soak: 2s", "    soak: 10s") + &freeze
        })),
        ..RoadOptions::default()
    })
    .await;
    road.one_release_later().await;
    road
}

fn move_to(clock: &ManualClock, at: DateTime<Utc>) {
    clock.advance(at - clock.now());
}

fn wave_commit(road: &Road, tag: &str, wave: &str) -> Option<String> {
    road.commits("landscape-prod", "main")
        .into_iter()
        .find(|(_, m)| {
            m.contains(&format!("Stagecoach-Product: {tag}"))
                && m.contains(&format!("Stagecoach-Wave: {wave}"))
        })
        .map(|(sha, _)| sha)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_holds_the_next_wave_says_until_when_and_lets_hotfixes_and_overrides_pass() {
    let clock = Arc::new(ManualClock::default());
    let start = (Utc::now() + Duration::hours(3))
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .expect("an hour");
    let end = start + Duration::hours(1);
    let road = road_with_a_freeze(clock.clone(), start).await;
    let as_person = |login: &str| -> Engine { road.engine_as(login).with_clock(clock.clone()) };
    let rita = as_person("rita");
    rita.promote("v1.0.0", "canary", None)
        .await
        .expect("canary, before the freeze");

    // Rita asks for prod on a landscape PR; wave 1 goes out, then the window opens.
    let p = road.person("rita");
    let pr = road.landscape_pr("prod").await;
    p.comment("landscape-prod", pr, "/promote v1.0.0")
        .await
        .expect("comment");
    let wave1 = wait_for("wave 1 on prod", || async {
        wave_commit(&road, "v1.0.0", "1/2")
    })
    .await;
    move_to(&clock, start + Duration::minutes(10));
    road.wait_status("landscape-prod", &wave1, "stagecoach/health", "success")
        .await;
    let until = end.format("%Y-%m-%d %H:%M UTC").to_string();
    let said = road
        .wait_comment("landscape-prod", pr, "frozen until")
        .await;
    assert!(
        said.contains(&format!("prod is frozen until {until} (freeze"))
            && said.contains("release-night")
            && said.contains("wave 2/2 of v1.0.0 waits"),
        "{said}"
    );
    assert!(
        wave_commit(&road, "v1.0.0", "2/2").is_none(),
        "wave 2 waits"
    );

    // `status` and `plan` say why and until when.
    let observed = status::observe_now(&rita).await.expect("observe");
    let text = status::overview_text(&status::overview(&observed));
    assert!(
        text.contains(&format!("prod is frozen until {until}")),
        "{text}"
    );
    let html = stagecoach::dashboard::render(&observed, &[], &road.sb.api_url).expect("render");
    assert!(
        html.contains(&format!("prod is frozen until {until}")),
        "the dashboard's road says it"
    );
    rita.plan().await.expect("plan");
    let waits = status::waits(&rita.last_observed().expect("observed"));
    assert!(
        waits
            .iter()
            .any(|w| w.contains(&format!("prod is frozen until {until}"))),
        "{waits:?}"
    );
    let err = rita
        .promote("v1.0.0", "prod", None)
        .await
        .expect_err("frozen");
    assert_eq!(err.exit_code(), 2, "{err}");
    assert_eq!(err.to_string().lines().count(), 1, "{err}");
    assert!(err.to_string().contains("frozen until"), "{err}");

    // The window ends: the rollout goes on by itself.
    move_to(&clock, end + Duration::minutes(5));
    wait_for("wave 2 on prod", || async {
        wave_commit(&road, "v1.0.0", "2/2")
    })
    .await;
    road.wait_comment("landscape-prod", pr, "v1.0.0 runs on prod")
        .await;
    p.close("landscape-prod", pr).await.expect("close");

    // The next night's window: on-call's hotfix passes, to canary and prod.
    move_to(&clock, start + Duration::hours(24) + Duration::minutes(10));
    road.component_release("payments", "fix: rounding", "v1.4.3")
        .await;
    let olga = as_person("olga");
    let hotfix = olga
        .hotfix_by_hand("v1.0.0", "payments", &semver::Version::new(1, 4, 3))
        .await
        .expect("a hotfix passes the freeze");
    assert_eq!(hotfix, "v1.0.1");
    assert_eq!(
        road.landscape_version("canary", "canary-1", "payments")
            .as_deref(),
        Some("1.4.3")
    );
    olga.promote(&hotfix, "prod", None)
        .await
        .expect("the hotfix to prod during the freeze");
    assert_eq!(
        road.landscape_version("prod", "us-1", "payments")
            .as_deref(),
        Some("1.4.3")
    );

    // A release manager: refused without a reason, passes with one, recorded.
    let err = rita
        .promote("v1.0.0", "canary", None)
        .await
        .expect_err("frozen");
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(err.to_string().contains("canary is frozen until"), "{err}");
    rita.promote(
        "v1.0.0",
        "canary",
        Some("roll canary back during the freeze".into()),
    )
    .await
    .expect("an override passes");
    let log = road.log("landscape-canary", "main");
    assert!(
        log[0].contains("Stagecoach-Override: roll canary back during the freeze")
            && log[0].contains("Stagecoach-Requested-By: rita"),
        "{}",
        log[0]
    );
    assert_eq!(
        road.landscape_version("canary", "canary-1", "payments")
            .as_deref(),
        Some("1.4.2")
    );
    road.stop().await;
}
