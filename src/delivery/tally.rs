//! The delivery metrics as Prometheus counters and histograms for
//! `/metrics`: each event of the record (a promotion, a failed change, a
//! change arriving, an incident restored) is counted once, by its key, as
//! passes see it. The first pass counts what the recent record holds, so a
//! restarted bot shows about the totals it showed before.
//!
//! Labels stay few: `env` (the policy's environments) and, on the lead-time
//! histogram, `component` for the first [`COMPONENT_LABELS`] components
//! seen; later ones share `component="other"`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::Event;

/// Components named in labels; the rest are `other`.
pub const COMPONENT_LABELS: usize = 20;
/// Upper bounds (seconds) of the lead-time buckets: 5m … 30d.
const LEAD_BUCKETS: &[f64] = &[
    300.0,
    900.0,
    3600.0,
    14_400.0,
    86_400.0,
    259_200.0,
    604_800.0,
    2_592_000.0,
];
/// Upper bounds (seconds) of the time-to-restore buckets: 1m … 7d.
const RESTORE_BUCKETS: &[f64] = &[60.0, 300.0, 900.0, 3600.0, 14_400.0, 86_400.0, 604_800.0];

#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Per bucket (non-cumulative), then +Inf.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], v: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; bounds.len() + 1];
        }
        let i = bounds.iter().position(|b| v <= *b).unwrap_or(bounds.len());
        self.counts[i] += 1;
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str, bounds: &[f64]) {
        let mut cumulative = 0;
        for (i, b) in bounds.iter().enumerate() {
            cumulative += self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{b}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// What `/metrics` says of delivery; fed with [`super::events`] each pass.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    seen: BTreeSet<String>,
    components: Vec<String>,
    promotions: BTreeMap<(String, &'static str), u64>,
    failures: BTreeMap<String, u64>,
    lead: BTreeMap<(String, String), Histogram>,
    restore: BTreeMap<String, Histogram>,
}

impl Tally {
    /// Count the events not counted before.
    pub fn add(&mut self, events: Vec<(String, Event)>) {
        for (key, event) in events {
            if !self.seen.insert(key) {
                continue;
            }
            match event {
                Event::Promotion { env, kind } => {
                    *self.promotions.entry((env, kind.as_str())).or_default() += 1;
                }
                Event::Failure { env } => *self.failures.entry(env).or_default() += 1,
                Event::LeadTime {
                    env,
                    component,
                    seconds,
                } => {
                    let component = self.component_label(component);
                    self.lead
                        .entry((env, component))
                        .or_default()
                        .observe(LEAD_BUCKETS, seconds as f64);
                }
                Event::Restored { env, seconds } => self
                    .restore
                    .entry(env)
                    .or_default()
                    .observe(RESTORE_BUCKETS, seconds as f64),
            }
        }
    }

    fn component_label(&mut self, component: String) -> String {
        if self.components.contains(&component) {
            component
        } else if self.components.len() < COMPONENT_LABELS {
            self.components.push(component.clone());
            component
        } else {
            "other".into()
        }
    }

    /// The families in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP stagecoach_promotions_total Promotions of product tags started on each environment, by kind (release, hotfix, rollback), from the landscape record.\n# TYPE stagecoach_promotions_total counter"
        );
        for ((env, kind), n) in &self.promotions {
            let _ = writeln!(
                out,
                "stagecoach_promotions_total{{env=\"{}\",kind=\"{kind}\"}} {n}",
                label(env)
            );
        }
        let _ = writeln!(
            out,
            "# HELP stagecoach_promotion_failures_total Promotions that failed: a wave unhealthy or reverted, or followed by a rollback or a hotfix.\n# TYPE stagecoach_promotion_failures_total counter"
        );
        for (env, n) in &self.failures {
            let _ = writeln!(
                out,
                "stagecoach_promotion_failures_total{{env=\"{}\"}} {n}",
                label(env)
            );
        }
        let _ = writeln!(
            out,
            "# HELP stagecoach_change_lead_time_seconds Time from a component PR's merge to the first completed promotion of a tag carrying it, per environment.\n# TYPE stagecoach_change_lead_time_seconds histogram"
        );
        for ((env, component), h) in &self.lead {
            let labels = format!("component=\"{}\",env=\"{}\"", label(component), label(env));
            h.render(
                out,
                "stagecoach_change_lead_time_seconds",
                &labels,
                LEAD_BUCKETS,
            );
        }
        let _ = writeln!(
            out,
            "# HELP stagecoach_time_to_restore_seconds Time from a failed wave or a rollback to the environment healthy again on a fixed version.\n# TYPE stagecoach_time_to_restore_seconds histogram"
        );
        for (env, h) in &self.restore {
            let labels = format!("env=\"{}\"", label(env));
            h.render(
                out,
                "stagecoach_time_to_restore_seconds",
                &labels,
                RESTORE_BUCKETS,
            );
        }
    }
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::super::Kind;
    use super::*;

    fn lead(env: &str, component: &str, seconds: i64) -> Event {
        Event::LeadTime {
            env: env.into(),
            component: component.into(),
            seconds,
        }
    }

    #[test]
    fn each_event_counts_once_in_cumulative_buckets_with_bounded_labels() {
        let mut t = Tally::default();
        let promotion = Event::Promotion {
            env: "prod".into(),
            kind: Kind::Release,
        };
        t.add(vec![
            ("p1".into(), promotion.clone()),
            ("l1".into(), lead("prod", "payments", 200)),
            ("l2".into(), lead("prod", "payments", 1000)),
        ]);
        // The next pass sees the same record and one more event.
        t.add(vec![
            ("p1".into(), promotion),
            ("l1".into(), lead("prod", "payments", 200)),
            ("f1".into(), Event::Failure { env: "prod".into() }),
            (
                "r1".into(),
                Event::Restored {
                    env: "prod".into(),
                    seconds: 90,
                },
            ),
        ]);
        for i in 0..COMPONENT_LABELS + 3 {
            t.add(vec![(
                format!("c{i}"),
                lead("canary", &format!("c{i}"), 10),
            )]);
        }
        let mut out = String::new();
        t.render(&mut out);
        assert!(
            out.contains("stagecoach_promotions_total{env=\"prod\",kind=\"release\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("stagecoach_promotion_failures_total{env=\"prod\"} 1\n"));
        let name = "stagecoach_change_lead_time_seconds";
        let labels = "component=\"payments\",env=\"prod\"";
        assert!(
            out.contains(&format!("{name}_bucket{{{labels},le=\"300\"}} 1\n")),
            "{out}"
        );
        assert!(out.contains(&format!("{name}_bucket{{{labels},le=\"3600\"}} 2\n")));
        assert!(out.contains(&format!("{name}_bucket{{{labels},le=\"+Inf\"}} 2\n")));
        assert!(out.contains(&format!("{name}_sum{{{labels}}} 1200\n")));
        assert!(out.contains(&format!("{name}_count{{{labels}}} 2\n")));
        assert!(out.contains(
            "stagecoach_time_to_restore_seconds_bucket{env=\"prod\",le=\"60\"} 0\nstagecoach_time_to_restore_seconds_bucket{env=\"prod\",le=\"300\"} 1\n"
        ));
        assert!(out.contains("# TYPE stagecoach_change_lead_time_seconds histogram\n"));
        // payments took one of the named labels: 19 canary components are named.
        let named = (0..COMPONENT_LABELS + 3)
            .filter(|i| out.contains(&format!("component=\"c{i}\",env=\"canary\",le=\"+Inf\"")))
            .count();
        assert_eq!(named, COMPONENT_LABELS - 1);
        assert!(
            out.contains(&format!(
                "{name}_count{{component=\"other\",env=\"canary\"}} 4\n"
            )),
            "{out}"
        );
    }
}
