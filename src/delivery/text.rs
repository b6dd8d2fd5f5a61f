//! `stagecoach report` for people: the four figures per environment with
//! the counts they come from, then the components.

use std::fmt::Write as _;

use super::{EnvFigures, Report, Spread};

/// "45s", "12m 5s", "3h 20m", "2d 4h": a duration to two units.
pub fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) if sec == 0 => format!("{m}m"),
        (0, 0, _) => format!("{m}m {sec}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

fn spread(s: &Spread) -> String {
    match (s.median_seconds, s.p90_seconds) {
        (Some(m), Some(p)) => format!("median {}, p90 {}", duration(m), duration(p)),
        _ => "no data".into(),
    }
}

fn percent(rate: Option<f64>) -> String {
    match rate {
        Some(r) => format!("{:.1}%", r * 100.0),
        None => "no data".into(),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn env_block(out: &mut String, e: &EnvFigures, days: f64, prod: bool) {
    let f = &e.deployment_frequency;
    let _ = writeln!(out, "{}{}", e.env, if prod { " (prod)" } else { "" });
    let _ = writeln!(
        out,
        "  deployment frequency   {} in {days} days: {:.2} a day, {:.2} a week ({}, {}, {})",
        plural(f.promotions, "promotion", "promotions"),
        f.per_day,
        f.per_week,
        plural(f.releases, "release", "releases"),
        plural(f.hotfixes, "hotfix", "hotfixes"),
        plural(f.rollbacks, "rollback", "rollbacks")
    );
    let _ = writeln!(
        out,
        "  lead time for changes  {}: {}",
        plural(e.lead_time.count, "change", "changes"),
        spread(&e.lead_time)
    );
    let c = &e.change_failure_rate;
    let _ = writeln!(
        out,
        "  change failure rate    {} of {} failed: {} ({}, {} rolled back, {} hotfixed)",
        c.failed,
        plural(c.changes, "change", "changes"),
        percent(c.rate),
        plural(c.failed_waves, "failed wave", "failed waves"),
        c.rolled_back,
        c.hotfixed
    );
    let r = &e.time_to_restore;
    let _ = writeln!(
        out,
        "  time to restore        {}, {} restored: {}; {} open",
        plural(r.incidents, "incident", "incidents"),
        r.restored.count,
        spread(&r.restored),
        r.open
    );
    if e.components.is_empty() {
        return;
    }
    let width = e
        .components
        .iter()
        .map(|c| c.component.len())
        .max()
        .unwrap_or(0)
        .max("COMPONENT".len());
    let _ = writeln!(
        out,
        "  {:width$}  PROMOTIONS  FAILED  CHANGES  LEAD TIME",
        "COMPONENT"
    );
    for c in &e.components {
        let _ = writeln!(
            out,
            "  {:width$}  {:>10}  {:>6}  {:>7}  {}",
            c.component,
            c.promotions,
            c.failed,
            c.lead_time.count,
            spread(&c.lead_time)
        );
    }
}

/// The whole report as text.
pub fn report(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "delivery metrics of {} from {} to {} ({} days)",
        r.product,
        r.since.format("%Y-%m-%d %H:%M UTC"),
        r.until.format("%Y-%m-%d %H:%M UTC"),
        r.days
    );
    if r.environments.is_empty() {
        let _ = writeln!(out, "no environment takes promotions of product tags");
    }
    for e in &r.environments {
        out.push('\n');
        env_block(
            &mut out,
            e,
            r.days,
            r.prod.as_deref() == Some(e.env.as_str()),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_two_units() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(60), "1m");
        assert_eq!(duration(725), "12m 5s");
        assert_eq!(duration(3 * 3600 + 20 * 60 + 5), "3h 20m");
        assert_eq!(duration(2 * 86_400 + 4 * 3600), "2d 4h");
        assert_eq!(duration(-5), "0s");
    }
}
