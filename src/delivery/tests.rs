//! A hand-built history with known answers for every figure.
//!
//! Prod (two waves), hours from the window's start (day 0), 30-day window:
//!
//! | promotion | tag | waves | what happens |
//! | --- | --- | --- | --- |
//! | P0 | v1.0.0 | −48h, −47h ok −46h | before the window |
//! | P1 | v1.1.0 | 24h, 26h ok 27h | payments 1.1.0 arrives |
//! | P2 | v1.2.0 | 72h, 74h ok 75h | checkout 2.1.0 arrives; then rolled back |
//! | P3 | v1.1.0 rollback | 96h, 97h ok 98h | incident 96h → 98h |
//! | P4 | v1.2.0 | 120h, 121h ok 122h | then hotfixed |
//! | P5 | v1.2.1 hotfix | 150h, 151h ok 152h | payments 1.1.1 arrives |
//! | P6 | v1.3.0 | 240h ok 241h, 242h failed 243h, reverted 243h | incident 243h → 252h |
//! | P7 | v1.2.1 hotfix | 250h, 251h ok 252h | restores |
//! | P8 | v1.3.0 | 300h failed 301h, reverted 302h | incident 301h, open |
//!
//! Canary has one promotion, before the window: an empty window.

use chrono::{DateTime, Duration, TimeZone, Utc};
use semver::Version;

use crate::engine::snapshot::LandscapeCommit;
use crate::forge::StatusState;
use crate::git::trailers::Trailers;

use super::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .expect("a date")
}

fn at(hours: i64) -> DateTime<Utc> {
    t0() + Duration::hours(hours)
}

struct Log(Vec<LandscapeCommit>);

impl Log {
    fn push(
        &mut self,
        hours: i64,
        trailers: &[(&str, &str)],
        health: Option<(StatusState, i64)>,
    ) -> String {
        let sha = format!("c{:03}", self.0.len());
        self.0.push(LandscapeCommit {
            sha: sha.clone(),
            time: at(hours),
            trailers: Trailers(
                trailers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            reverted: false,
            health: health.map(|(s, _)| s),
            health_at: health.map(|(_, h)| at(h)),
        });
        sha
    }

    /// One wave of `tag`, healthy (or not) at `verdict`.
    fn wave(
        &mut self,
        hours: i64,
        tag: &str,
        wave: &str,
        verdict: Option<(StatusState, i64)>,
    ) -> String {
        self.push(
            hours,
            &[
                ("Stagecoach-Action", "promote"),
                ("Stagecoach-Product", tag),
                ("Stagecoach-Wave", wave),
            ],
            verdict,
        )
    }

    fn revert(&mut self, hours: i64, sha: &str) {
        self.push(
            hours,
            &[
                ("Stagecoach-Action", "rollback"),
                ("Stagecoach-Reverts", sha),
            ],
            None,
        );
    }

    /// Newest first, as `git log` and the snapshot give it.
    fn newest_first(mut self) -> Vec<LandscapeCommit> {
        self.0.reverse();
        self.0
    }
}

fn ok(h: i64) -> Option<(StatusState, i64)> {
    Some((StatusState::Success, h))
}

fn failed(h: i64) -> Option<(StatusState, i64)> {
    Some((StatusState::Failure, h))
}

fn pins(hotfix: bool, payments: &str, checkout: &str) -> TagPins {
    TagPins {
        hotfix,
        pins: [
            ("payments".to_string(), Version::parse(payments).expect("v")),
            ("checkout".to_string(), Version::parse(checkout).expect("v")),
        ]
        .into_iter()
        .collect(),
    }
}

fn change(component: &str, pr: u64, merged: i64, version: &str) -> Change {
    Change {
        component: component.into(),
        pr,
        merged_at: at(merged),
        version: Version::parse(version).expect("v"),
    }
}

fn history() -> Record {
    let mut prod = Log(Vec::new());
    prod.wave(-48, "v1.0.0", "1/2", ok(-47));
    prod.wave(-47, "v1.0.0", "2/2", ok(-46));
    prod.wave(24, "v1.1.0", "1/2", ok(25));
    prod.wave(26, "v1.1.0", "2/2", ok(27));
    prod.wave(72, "v1.2.0", "1/2", ok(73));
    prod.wave(74, "v1.2.0", "2/2", ok(75));
    let rollback = [
        ("Stagecoach-Action", "promote"),
        ("Stagecoach-Product", "v1.1.0"),
        ("Stagecoach-Override", "rollback from v1.2.0 to v1.1.0"),
        ("Stagecoach-Requested-By", "rita"),
    ];
    prod.push(
        96,
        &[rollback.as_slice(), &[("Stagecoach-Wave", "1/2")]].concat(),
        ok(96),
    );
    prod.push(
        97,
        &[rollback.as_slice(), &[("Stagecoach-Wave", "2/2")]].concat(),
        ok(98),
    );
    prod.wave(120, "v1.2.0", "1/2", ok(120));
    prod.wave(121, "v1.2.0", "2/2", ok(122));
    let hotfix = |wave: &'static str| {
        [
            ("Stagecoach-Action", "promote"),
            ("Stagecoach-Product", "v1.2.1"),
            ("Stagecoach-Wave", wave),
            ("Stagecoach-Hotfix", "true"),
        ]
    };
    prod.push(150, &hotfix("1/2"), ok(150));
    prod.push(151, &hotfix("2/2"), ok(152));
    prod.wave(240, "v1.3.0", "1/2", ok(241));
    let bad = prod.wave(242, "v1.3.0", "2/2", failed(243));
    prod.revert(243, &bad);
    prod.push(250, &hotfix("1/2"), ok(250));
    prod.push(251, &hotfix("2/2"), ok(252));
    let bad = prod.wave(300, "v1.3.0", "1/2", failed(301));
    prod.revert(302, &bad);
    // A CI-style commit on the landscape is not a promotion.
    prod.push(303, &[("Stagecoach-Action", "env")], None);

    let mut canary = Log(Vec::new());
    canary.wave(-10, "v1.0.0", "1/1", ok(-9));

    Record {
        product: "acme/product".into(),
        envs: vec![
            EnvRecord {
                name: "canary".into(),
                commits: canary.newest_first(),
            },
            EnvRecord {
                name: "prod".into(),
                commits: prod.newest_first(),
            },
        ],
        tags: [
            ("v1.0.0", pins(false, "1.0.0", "2.0.0")),
            ("v1.1.0", pins(false, "1.1.0", "2.0.0")),
            ("v1.2.0", pins(false, "1.1.0", "2.1.0")),
            ("v1.2.1", pins(true, "1.1.1", "2.1.0")),
            ("v1.3.0", pins(false, "1.2.0", "2.1.0")),
        ]
        .into_iter()
        .map(|(n, p)| (n.to_string(), p))
        .collect(),
        changes: vec![
            change("payments", 0, -72, "1.0.0"),
            change("payments", 1, 0, "1.1.0"),
            change("checkout", 2, 24, "2.1.0"),
            change("payments", 3, 120, "1.1.1"),
            change("payments", 4, 240, "1.2.0"),
        ],
    }
}

fn report() -> Report {
    compute(&history(), Duration::days(30), t0() + Duration::days(30))
}

fn env<'a>(r: &'a Report, name: &str) -> &'a EnvFigures {
    r.environments.iter().find(|e| e.env == name).expect(name)
}

const H: i64 = 3600;

#[test]
fn deployment_frequency_counts_every_promotion_started_in_the_window() {
    let r = report();
    assert_eq!(r.since, t0());
    assert_eq!(r.days, 30.0);
    assert_eq!(r.prod.as_deref(), Some("prod"));
    assert_eq!(
        env(&r, "prod").deployment_frequency,
        Frequency {
            promotions: 8,
            releases: 5,
            hotfixes: 2,
            rollbacks: 1,
            per_day: 0.267,
            per_week: 1.867,
        }
    );
}

#[test]
fn lead_time_runs_from_merge_to_the_final_wave_of_the_first_tag_carrying_it() {
    let r = report();
    // payments#1 26h, checkout#2 50h, payments#3 31h; payments#4 never
    // arrived (v1.3.0 failed), payments#0 arrived before the window.
    assert_eq!(
        env(&r, "prod").lead_time,
        Spread {
            count: 3,
            median_seconds: Some(31 * H),
            p90_seconds: Some(50 * H),
        }
    );
}

#[test]
fn change_failure_rate_counts_failed_waves_rollbacks_and_hotfixes_after_a_change() {
    let r = report();
    assert_eq!(
        env(&r, "prod").change_failure_rate,
        FailureRate {
            changes: 7,
            failed: 4,
            failed_waves: 2,
            rolled_back: 1,
            hotfixed: 1,
            rate: Some(0.571),
        }
    );
}

#[test]
fn time_to_restore_runs_to_the_next_healthy_promotion_and_counts_open_incidents() {
    let r = report();
    assert_eq!(
        env(&r, "prod").time_to_restore,
        Restore {
            incidents: 3,
            open: 1,
            // 2h (the rollback) and 9h (wave failed at 243h, hotfix healthy at 252h):
            // nearest rank, the median of two is the lower.
            restored: Spread {
                count: 2,
                median_seconds: Some(2 * H),
                p90_seconds: Some(9 * H),
            },
        }
    );
}

#[test]
fn components_count_the_promotions_that_changed_them() {
    let r = report();
    let prod = env(&r, "prod");
    assert_eq!(
        prod.components,
        vec![
            ComponentFigures {
                component: "checkout".into(),
                promotions: 3,
                failed: 2,
                lead_time: Spread {
                    count: 1,
                    median_seconds: Some(50 * H),
                    p90_seconds: Some(50 * H),
                },
            },
            ComponentFigures {
                component: "payments".into(),
                promotions: 5,
                failed: 2,
                lead_time: Spread {
                    count: 2,
                    median_seconds: Some(26 * H),
                    p90_seconds: Some(31 * H),
                },
            },
        ]
    );
}

#[test]
fn each_day_has_its_own_figures_and_a_day_without_data_says_so() {
    let r = report();
    let daily = &env(&r, "prod").daily;
    assert_eq!(daily.len(), 30);
    assert_eq!(daily[1].from, at(24));
    let day = |d: usize| {
        let x = &daily[d];
        (
            x.promotions,
            x.lead_time_median_seconds,
            x.change_failure_rate,
            x.time_to_restore_median_seconds,
        )
    };
    assert_eq!(day(0), (0, None, None, None));
    assert_eq!(day(1), (1, Some(26 * H), Some(0.0), None));
    assert_eq!(day(3), (1, Some(50 * H), Some(1.0), None));
    assert_eq!(
        day(4),
        (1, None, None, Some(2 * H)),
        "a rollback is no change"
    );
    assert_eq!(day(6), (1, Some(31 * H), Some(0.0), None));
    assert_eq!(day(10), (2, None, Some(0.5), Some(9 * H)));
    assert_eq!(day(12), (1, None, Some(1.0), None), "the open incident");
    assert_eq!(daily.iter().map(|d| d.promotions).sum::<usize>(), 8);
}

#[test]
fn an_empty_window_has_no_data_rather_than_zeros() {
    let r = report();
    let canary = env(&r, "canary");
    assert_eq!(canary.deployment_frequency.promotions, 0);
    assert_eq!(canary.deployment_frequency.per_day, 0.0, "none is a count");
    assert_eq!(canary.lead_time, Spread::default());
    assert_eq!(canary.change_failure_rate.changes, 0);
    assert_eq!(canary.change_failure_rate.rate, None);
    assert_eq!(canary.time_to_restore.incidents, 0);
    assert_eq!(canary.time_to_restore.restored.median_seconds, None);
    assert!(canary.components.is_empty());
    let json = serde_json::to_value(canary).expect("json");
    assert!(json["lead_time"]["median_seconds"].is_null(), "{json}");
    assert!(json["change_failure_rate"]["rate"].is_null(), "{json}");
    let text = text::report(&r);
    assert!(
        text.contains("lead time for changes  0 changes: no data"),
        "{text}"
    );
    assert!(text.contains("0 of 0 changes failed: no data"), "{text}");
}

#[test]
fn percentiles_are_nearest_rank() {
    assert_eq!(percentile(&[], 50), None);
    assert_eq!(percentile(&[], 90), None);
    assert_eq!(percentile(&[7], 50), Some(7));
    assert_eq!(percentile(&[7], 90), Some(7));
    assert_eq!(percentile(&[40, 10, 30, 20], 50), Some(20), "lower middle");
    assert_eq!(percentile(&[40, 10, 30, 20], 90), Some(40));
    assert_eq!(percentile(&[3, 1, 2], 50), Some(2));
    let ten: Vec<i64> = (1..=10).collect();
    assert_eq!(percentile(&ten, 90), Some(9));
    assert_eq!(percentile(&ten, 50), Some(5));
    let eleven: Vec<i64> = (1..=11).collect();
    assert_eq!(percentile(&eleven, 90), Some(10));
    assert_eq!(percentile(&eleven, 100), Some(11));
}

#[test]
fn events_name_each_thing_once_for_the_counters() {
    let events = events(&history());
    let count = |f: &dyn Fn(&Event) -> bool| events.iter().filter(|(_, e)| f(e)).count();
    // P0..P8 on prod and canary's one.
    assert_eq!(count(&|e| matches!(e, Event::Promotion { .. })), 10);
    assert_eq!(count(&|e| matches!(e, Event::Failure { .. })), 4);
    // payments#0 to canary and prod, #1, #2, #3 to prod.
    assert_eq!(count(&|e| matches!(e, Event::LeadTime { .. })), 5);
    assert_eq!(
        events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Restored { seconds, .. } => Some(*seconds),
                _ => None,
            })
            .collect::<Vec<_>>(),
        vec![2 * H, 9 * H]
    );
    let keys: BTreeSet<&String> = events.iter().map(|(k, _)| k).collect();
    assert_eq!(keys.len(), events.len(), "keys are unique");
}
