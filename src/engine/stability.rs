//! The stability score of a product tag in staging: sampling the policy's
//! signals (the edge), scoring the samples (pure), and the two git notes that
//! keep both, so a restarted bot resumes with every sample it took.
//!
//! Notes: `refs/notes/stability` holds the final score (`render_note`),
//! `refs/notes/stability-samples` one line per sample (`render_samples`).

use std::str::FromStr as _;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use croner::Cron;
use serde_json::Value;

use crate::engine::gates::GateResult;
use crate::engine::http::JsonClient;
use crate::policy::{Signal, Stability};

/// How long one query to Prometheus or Alertmanager may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Alert names listed in a part's detail, at most.
const MAX_ALERT_NAMES: usize = 5;

/// One signal's share of health in one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub name: String,
    /// 0..=1, the healthy share.
    pub fraction: f64,
    pub weight: u32,
    /// What was seen, for people; not kept in the samples note.
    pub detail: String,
}

/// Every signal, looked at once.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub at: DateTime<Utc>,
    pub parts: Vec<Part>,
}

/// A tag's score over its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub score: u8,
    pub kpi: u8,
    pub passed: bool,
    pub samples: usize,
    /// Per signal: name, mean fraction (4 decimals), weight, points out of
    /// the weight (2 decimals).
    pub parts: Vec<(String, f64, u32, f64)>,
}

/// The part name of each signal, in policy order: `prometheus:<name>`,
/// `alerts`, `gates`, `quiet-time`. Names never hold spaces or `=` (they are
/// keys in the samples note); a repeated name gets `#2`, `#3`, ...
pub fn part_names(signals: &[Signal]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(signals.len());
    for signal in signals {
        let base = match signal {
            Signal::Prometheus { name, .. } => format!("prometheus:{}", key_safe(name)),
            Signal::Alertmanager { .. } => "alerts".to_string(),
            Signal::Gates { .. } => "gates".to_string(),
            Signal::QuietTime { .. } => "quiet-time".to_string(),
        };
        let mut name = base.clone();
        let mut n = 1;
        while names.contains(&name) {
            n += 1;
            name = format!("{base}#{n}");
        }
        names.push(name);
    }
    names
}

/// Take one sample of every signal. A signal that cannot be read counts as
/// unhealthy (fraction 0) with the reason in its detail: a staging whose
/// monitoring is down has not shown it is stable.
///
/// Prometheus: the instant query's value (the worst series) must be <= max.
/// Alertmanager: no active, unsilenced, uninhibited alert. Gates: the share of
/// `gate_results` that passed (the caller runs them; none ran → 1). Quiet
/// time: time since the last alert seen (in this sample or in `previous`),
/// or since `since` when none was seen, over the target, at most 1.
pub async fn take_sample(
    stability: &Stability,
    now: DateTime<Utc>,
    since: DateTime<Utc>,
    previous: &[Sample],
    gate_results: &[GateResult],
) -> Sample {
    let names = part_names(&stability.signals);
    let client = JsonClient::new();
    let mut parts = Vec::with_capacity(stability.signals.len());
    for (signal, name) in stability.signals.iter().zip(&names) {
        let (fraction, detail) = match signal {
            Signal::Prometheus {
                url, query, max, ..
            } => match &client {
                Ok(client) => {
                    let endpoint = format!("{}/api/v1/query", url.trim_end_matches('/'));
                    match client
                        .get_json::<Value>(&endpoint, &[("query", query)], None, QUERY_TIMEOUT)
                        .await
                    {
                        Ok(answer) => prometheus_fraction(&answer, *max),
                        Err(e) => (0.0, e.to_string()),
                    }
                }
                Err(e) => (0.0, e.to_string()),
            },
            Signal::Alertmanager { url, .. } => match &client {
                Ok(client) => {
                    let endpoint = format!("{}/api/v2/alerts", url.trim_end_matches('/'));
                    let params = [
                        ("active", "true"),
                        ("silenced", "false"),
                        ("inhibited", "false"),
                    ];
                    match client
                        .get_json::<Value>(&endpoint, &params, None, QUERY_TIMEOUT)
                        .await
                    {
                        Ok(answer) => alerts_fraction(&answer),
                        Err(e) => (0.0, e.to_string()),
                    }
                }
                Err(e) => (0.0, e.to_string()),
            },
            Signal::Gates { .. } => gates_fraction(gate_results),
            // Filled in below, once this sample's alerts are known.
            Signal::QuietTime { .. } => (0.0, String::new()),
        };
        parts.push(Part {
            name: name.clone(),
            fraction: clamp_fraction(fraction),
            weight: signal.weight(),
            detail,
        });
    }

    let alert_names: Vec<&str> = stability
        .signals
        .iter()
        .zip(&names)
        .filter(|(s, _)| matches!(s, Signal::Alertmanager { .. }))
        .map(|(_, n)| n.as_str())
        .collect();
    let alerting_now = parts
        .iter()
        .any(|p| alert_names.contains(&p.name.as_str()) && p.fraction < 1.0);
    let last_alert = if alerting_now {
        Some(now)
    } else {
        last_alert_seen(previous, &alert_names)
    };
    for (signal, part) in stability.signals.iter().zip(parts.iter_mut()) {
        if let Signal::QuietTime { target, .. } = signal {
            (part.fraction, part.detail) = quiet_fraction(now, since, last_alert, *target);
        }
    }
    Sample { at: now, parts }
}

/// Pure: per signal the mean fraction over the samples times its weight,
/// normalised by the sum of weights to 0..=100 and rounded down, so a tag
/// never passes on rounding. A sample without a signal's part counts 0 for
/// it. No samples (or no weight) → 0, not passed.
pub fn score(samples: &[Sample], kpi: u8, signals: &[Signal]) -> Score {
    let names = part_names(signals);
    let total_weight: u64 = signals.iter().map(|s| u64::from(s.weight())).sum();
    let mut sum_points = 0.0;
    let mut parts = Vec::with_capacity(signals.len());
    for (signal, name) in signals.iter().zip(names) {
        let weight = signal.weight();
        let mean = if samples.is_empty() {
            0.0
        } else {
            let total: f64 = samples
                .iter()
                .map(|s| {
                    s.parts
                        .iter()
                        .find(|p| p.name == name)
                        .map_or(0.0, |p| clamp_fraction(p.fraction))
                })
                .sum();
            total / samples.len() as f64
        };
        let points = mean * f64::from(weight);
        sum_points += points;
        parts.push((name, round_to(mean, 4), weight, round_to(points, 2)));
    }
    let score = if samples.is_empty() || total_weight == 0 {
        0
    } else {
        // The epsilon keeps 0.8 × 100 = 79.999… at 80.
        let percent = (sum_points / total_weight as f64 * 100.0 + 1e-9).floor();
        percent.clamp(0.0, 100.0) as u8
    };
    Score {
        score,
        kpi,
        passed: !samples.is_empty() && score >= kpi,
        samples: samples.len(),
        parts,
    }
}

/// The note on the tag in `refs/notes/stability`; `score:` is the first line
/// so `git notes show` answers the question at a glance.
pub fn render_note(score: &Score) -> String {
    let mut note = format!(
        "score: {}\nkpi: {}\npassed: {}\nsamples: {}\n",
        score.score, score.kpi, score.passed, score.samples
    );
    for (name, mean, weight, points) in &score.parts {
        note.push_str(&format!("part: {name} {points}/{weight} ({mean})\n"));
    }
    note
}

/// Read a note written by `render_note`. Lines it does not know are ignored
/// (people may add to a note); a missing or bad `score`, `kpi`, `passed` or
/// `samples` line makes it unreadable (`None`).
pub fn parse_note(text: &str) -> Option<Score> {
    let (mut score, mut kpi, mut passed, mut samples) = (None, None, None, None);
    let mut parts = Vec::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "score" => score = Some(value.parse::<u8>().ok().filter(|s| *s <= 100)?),
            "kpi" => kpi = Some(value.parse::<u8>().ok().filter(|k| *k <= 100)?),
            "passed" => passed = Some(value.parse::<bool>().ok()?),
            "samples" => samples = Some(value.parse::<usize>().ok()?),
            "part" => parts.extend(parse_part(value)),
            _ => {}
        }
    }
    Some(Score {
        score: score?,
        kpi: kpi?,
        passed: passed?,
        samples: samples?,
        parts,
    })
}

/// `<name> <points>/<weight> (<mean>)`, read from the right so a name is
/// whatever is left.
fn parse_part(text: &str) -> Option<(String, f64, u32, f64)> {
    let (rest, mean) = text.rsplit_once(' ')?;
    let mean = finite(mean.strip_prefix('(')?.strip_suffix(')')?)?;
    let (name, points_of_weight) = rest.trim_end().rsplit_once(' ')?;
    let (points, weight) = points_of_weight.split_once('/')?;
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    Some((
        name.to_string(),
        mean,
        weight.parse().ok()?,
        finite(points)?,
    ))
}

/// The samples note: one line per sample, `<RFC 3339 UTC, seconds> name=fraction ...`.
/// Only fractions are kept (4 decimals); weights come from the policy.
pub fn render_samples(samples: &[Sample]) -> String {
    let mut text = String::new();
    for sample in samples {
        text.push_str(&sample.at.to_rfc3339_opts(SecondsFormat::Secs, true));
        for part in &sample.parts {
            text.push_str(&format!(
                " {}={}",
                key_safe(&part.name),
                round_to(clamp_fraction(part.fraction), 4)
            ));
        }
        text.push('\n');
    }
    text
}

/// Read the samples note; a line that is not exactly a sample (bad time,
/// bad pair, fraction outside 0..=1) is skipped, never guessed at.
pub fn parse_samples(text: &str) -> Vec<Sample> {
    text.lines().filter_map(parse_sample_line).collect()
}

fn parse_sample_line(line: &str) -> Option<Sample> {
    let mut words = line.split_whitespace();
    let at = DateTime::parse_from_rfc3339(words.next()?)
        .ok()?
        .with_timezone(&Utc);
    let mut parts = Vec::new();
    for word in words {
        let (name, fraction) = word.split_once('=')?;
        let fraction = finite(fraction).filter(|f| (0.0..=1.0).contains(f))?;
        if name.is_empty() {
            return None;
        }
        parts.push(Part {
            name: name.to_string(),
            fraction,
            weight: 0,
            detail: String::new(),
        });
    }
    Some(Sample { at, parts })
}

/// Is a sample due? Yes when there is none yet, or when the `sample` cron
/// (5 fields) had an occurrence after the last one and not after `now`. A
/// cron that does not parse is never due (the policy loader refuses it, so
/// this only guards against a panic).
pub fn sample_due(sample_cron: &str, last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    let Some(last) = last else {
        return true;
    };
    let Ok(cron) = Cron::from_str(sample_cron) else {
        tracing::warn!(cron = sample_cron, "stability sample cron does not parse");
        return false;
    };
    match cron.find_next_occurrence(&last, false) {
        Ok(next) => next <= now,
        Err(_) => false,
    }
}

/// Prometheus `/api/v1/query` answer → fraction. The worst (highest) value
/// of an instant vector decides; no series means no data, which is not
/// health.
fn prometheus_fraction(answer: &Value, max: f64) -> (f64, String) {
    if answer["status"].as_str() != Some("success") {
        let error = answer["error"].as_str().unwrap_or("no status: success");
        return (0.0, format!("prometheus error: {error}"));
    }
    let data = &answer["data"];
    let raw_values: Vec<Option<&str>> = match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .map(|series| series.iter().map(|s| s["value"][1].as_str()).collect())
            .unwrap_or_default(),
        Some("scalar") => vec![data["result"][1].as_str()],
        other => {
            return (
                0.0,
                format!(
                    "prometheus answered a {}; expected an instant vector",
                    other.unwrap_or("result without a type")
                ),
            );
        }
    };
    if raw_values.is_empty() {
        return (0.0, "no data".to_string());
    }
    let mut worst: Option<f64> = None;
    for raw in raw_values {
        // NaN ("NaN" is a valid Prometheus value) and garbage count as unhealthy.
        let Some(value) = raw
            .and_then(|r| r.parse::<f64>().ok())
            .filter(|v| !v.is_nan())
        else {
            return (
                0.0,
                format!("value {} is not a number", raw.unwrap_or("missing")),
            );
        };
        worst = Some(worst.map_or(value, |w: f64| w.max(value)));
    }
    match worst {
        Some(value) if value <= max => (1.0, format!("value {value} <= {max}")),
        Some(value) => (0.0, format!("value {value} > {max}")),
        None => (0.0, "no data".to_string()),
    }
}

/// Alertmanager `/api/v2/alerts` answer → 1 when no alert fires, else 0.
///
/// The query asks for active, unsilenced, uninhibited alerts only; an alert
/// whose own `status` still says it is suppressed, silenced or inhibited
/// (a proxy or an older Alertmanager that ignores the filters) is not
/// counted either, so a muted alert never fails a tag.
fn alerts_fraction(answer: &Value) -> (f64, String) {
    let Some(all) = answer.as_array() else {
        return (
            0.0,
            "alertmanager answered something other than a list of alerts".into(),
        );
    };
    let alerts: Vec<&Value> = all.iter().filter(|a| counts_as_firing(a)).collect();
    if alerts.is_empty() {
        return (1.0, "no active alerts".to_string());
    }
    let mut names: Vec<String> = alerts
        .iter()
        .map(|a| {
            a["labels"]["alertname"]
                .as_str()
                .unwrap_or("unnamed")
                .to_string()
        })
        .collect();
    names.sort();
    names.dedup();
    let more = names.len().saturating_sub(MAX_ALERT_NAMES);
    names.truncate(MAX_ALERT_NAMES);
    let mut detail = format!("{} active alert(s): {}", alerts.len(), names.join(", "));
    if more > 0 {
        detail.push_str(&format!(" and {more} more"));
    }
    (0.0, detail)
}

/// An alert as Alertmanager v2 lists it (`gettableAlert`): firing unless its
/// `status.state` is `suppressed` or it names a silence or an inhibitor.
fn counts_as_firing(alert: &Value) -> bool {
    let status = &alert["status"];
    let muted_by = |key: &str| status[key].as_array().is_some_and(|by| !by.is_empty());
    status["state"].as_str() != Some("suppressed")
        && !muted_by("silencedBy")
        && !muted_by("inhibitedBy")
        && !muted_by("mutedBy")
}

fn gates_fraction(results: &[GateResult]) -> (f64, String) {
    if results.is_empty() {
        return (1.0, "no gates ran".to_string());
    }
    let passed = results.iter().filter(|r| r.passed).count();
    let mut detail = format!("{passed} of {} gates passed", results.len());
    if let Some(failed) = results.iter().find(|r| !r.passed) {
        detail.push_str(&format!("; first failure: {}", failed.summary));
    }
    (passed as f64 / results.len() as f64, detail)
}

fn last_alert_seen(previous: &[Sample], alert_names: &[&str]) -> Option<DateTime<Utc>> {
    previous
        .iter()
        .filter(|s| {
            s.parts
                .iter()
                .any(|p| alert_names.contains(&p.name.as_str()) && p.fraction < 1.0)
        })
        .map(|s| s.at)
        .max()
}

fn quiet_fraction(
    now: DateTime<Utc>,
    since: DateTime<Utc>,
    last_alert: Option<DateTime<Utc>>,
    target: Duration,
) -> (f64, String) {
    let start = last_alert.map_or(since, |a| a.max(since));
    let quiet = (now - start).to_std().unwrap_or(Duration::ZERO);
    let fraction = if target.is_zero() {
        1.0
    } else {
        (quiet.as_secs_f64() / target.as_secs_f64()).min(1.0)
    };
    let from = if last_alert.is_some_and(|a| a >= since) {
        "since the last alert"
    } else {
        "since the tag arrived"
    };
    let whole = |d: Duration| humantime::format_duration(Duration::from_secs(d.as_secs()));
    (
        fraction,
        format!("quiet for {} of {} {from}", whole(quiet), whole(target)),
    )
}

fn clamp_fraction(f: f64) -> f64 {
    if f.is_nan() { 0.0 } else { f.clamp(0.0, 1.0) }
}

fn round_to(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

fn finite(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A part name usable as a key in the samples note.
fn key_safe(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_whitespace() || c == '=' || c.is_control() {
                '-'
            } else {
                c
            }
        })
        .collect();
    if safe.is_empty() {
        "-".to_string()
    } else {
        safe
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prometheus_worst_series_decides_and_empty_is_no_data() {
        let vector = |vals: &[&str]| {
            json!({"status": "success", "data": {"resultType": "vector",
                "result": vals.iter().map(|v| json!({"metric": {}, "value": [1.0, v]})).collect::<Vec<_>>()}})
        };
        assert_eq!(prometheus_fraction(&vector(&["0.01", "0.02"]), 0.05).0, 1.0);
        assert_eq!(prometheus_fraction(&vector(&["0.01", "0.2"]), 0.05).0, 0.0);
        assert_eq!(prometheus_fraction(&vector(&["0.05"]), 0.05).0, 1.0);
        assert_eq!(
            prometheus_fraction(&vector(&[]), 0.05),
            (0.0, "no data".to_string())
        );
        assert_eq!(prometheus_fraction(&vector(&["NaN"]), 0.05).0, 0.0);
        let scalar =
            json!({"status": "success", "data": {"resultType": "scalar", "result": [1.0, "3"]}});
        assert_eq!(prometheus_fraction(&scalar, 5.0).0, 1.0);
        let matrix = json!({"status": "success", "data": {"resultType": "matrix", "result": []}});
        assert!(
            prometheus_fraction(&matrix, 5.0)
                .1
                .contains("expected an instant vector")
        );
    }

    #[test]
    fn alerts_name_what_fires() {
        assert_eq!(alerts_fraction(&json!([])).0, 1.0);
        let (f, detail) = alerts_fraction(&json!([{"labels": {"alertname": "HighLatency"}}]));
        assert_eq!(f, 0.0);
        assert_eq!(detail, "1 active alert(s): HighLatency");
        assert_eq!(alerts_fraction(&json!({"oops": 1})).0, 0.0);
    }

    #[test]
    fn muted_alerts_do_not_count_even_when_the_filters_were_ignored() {
        let alert =
            |name: &str, status: Value| json!({"labels": {"alertname": name}, "status": status});
        let answer = json!([
            alert(
                "Silenced",
                json!({"state": "suppressed", "silencedBy": ["s1"], "inhibitedBy": []})
            ),
            alert(
                "Inhibited",
                json!({"state": "suppressed", "silencedBy": [], "inhibitedBy": ["fp"]})
            ),
            alert(
                "Firing",
                json!({"state": "active", "silencedBy": [], "inhibitedBy": []})
            ),
        ]);
        assert_eq!(
            alerts_fraction(&answer),
            (0.0, "1 active alert(s): Firing".to_string())
        );
        assert_eq!(
            alerts_fraction(&json!([alert("Silenced", json!({"state": "suppressed"}))])).0,
            1.0
        );
    }

    #[test]
    fn quiet_time_counts_from_the_later_of_arrival_and_last_alert() {
        let t = |h: i64| DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::hours(h);
        let six_h = Duration::from_secs(6 * 3600);
        assert_eq!(quiet_fraction(t(3), t(0), None, six_h).0, 0.5);
        assert_eq!(quiet_fraction(t(12), t(0), None, six_h).0, 1.0);
        assert_eq!(quiet_fraction(t(5), t(0), Some(t(2)), six_h).0, 0.5);
        assert_eq!(quiet_fraction(t(5), t(0), Some(t(5)), six_h).0, 0.0);
    }

    #[test]
    fn repeated_signal_kinds_get_distinct_part_names() {
        let signals = [
            Signal::Alertmanager {
                url: "a".into(),
                weight: 1,
            },
            Signal::Alertmanager {
                url: "b".into(),
                weight: 1,
            },
            Signal::Prometheus {
                name: "error rate=x".into(),
                url: "p".into(),
                query: "q".into(),
                max: 1.0,
                weight: 1,
            },
        ];
        assert_eq!(
            part_names(&signals),
            ["alerts", "alerts#2", "prometheus:error-rate-x"]
        );
    }
}
