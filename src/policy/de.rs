//! Field readers that check a value while it is read, so a bad duration, cron
//! or weight is reported at its own line and column by the YAML reader.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_saphyr::MessageFormatter;

use super::HealthSource;
use crate::error::Error;
use crate::forge::RepoId;

/// A YAML reader error as `SOURCE:LINE:COL: message`, on one line.
pub(super) fn one_line(err: &serde_saphyr::Error, source: &str, text: &str) -> Error {
    let message = serde_saphyr::UserMessageFormatter.format_message(err.without_snippet());
    let message: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match err.location().filter(|l| l.line() > 0) {
        Some(l) => {
            let (line, col) = (l.line() as usize, l.column() as usize);
            match super::locate::path_at(text, line, col) {
                Some(path) => Error::input(format!("{source}:{line}:{col}: {path}: {message}")),
                None => Error::input(format!("{source}:{line}:{col}: {message}")),
            }
        }
        None => Error::input(format!("{source}: {message}")),
    }
}

/// A whole number in `min..=max`, with a message that says the range.
struct Bounded {
    min: i64,
    max: i64,
    what: &'static str,
}

impl Visitor<'_> for Bounded {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} as a whole number {}..={}",
            self.what, self.min, self.max
        )
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        if (self.min..=self.max).contains(&v) {
            Ok(v)
        } else {
            Err(E::custom(format!(
                "{} `{v}` is out of range; expected a whole number {}..={}",
                self.what, self.min, self.max
            )))
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        Err(E::custom(format!(
            "{} `{v}` is not a whole number; expected {}..={}",
            self.what, self.min, self.max
        )))
    }
}

fn bounded<'de, D: Deserializer<'de>>(
    d: D,
    min: i64,
    max: i64,
    what: &'static str,
) -> Result<u32, D::Error> {
    let v = d.deserialize_any(Bounded { min, max, what })?;
    u32::try_from(v).map_err(|_| de::Error::custom(format!("{what} `{v}` is out of range")))
}

/// A risk or signal weight: 0 or more. Capped so sums cannot overflow.
pub(super) fn weight<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    bounded(d, 0, 1_000_000, "weight")
}

/// A risk threshold: a score 1..=100.
pub(super) fn threshold<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    bounded(d, 1, 100, "threshold")
}

/// A KPI: a score 0..=100.
pub(super) fn kpi<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let v = bounded(d, 0, 100, "kpi")?;
    u8::try_from(v).map_err(|_| de::Error::custom(format!("kpi `{v}` is out of range")))
}

/// A duration like `90s`, `10m`, `24h`, `1h 30m`.
pub(super) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(de::Error::custom)
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        format!("`{text}` is not a duration ({e}); expected a number and a unit, like `90s`, `10m` or `24h`")
    })
}

/// A five-field cron expression (minute hour day-of-month month day-of-week).
pub(super) fn cron<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    check_cron(&text).map_err(de::Error::custom)?;
    Ok(text)
}

pub(super) fn optional_cron<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    cron(d).map(Some)
}

/// Refuse anything but five fields, since six would silently mean seconds.
pub fn check_cron(text: &str) -> Result<(), String> {
    let expected =
        "expected five fields: minute hour day-of-month month day-of-week, like `0 6 * * 1-5`";
    let fields = text.split_whitespace().count();
    if fields != 5 {
        return Err(format!("cron `{text}` has {fields} fields; {expected}"));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Disallowed)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(text)
        .map_err(|e| format!("cron `{text}` is invalid ({e}); {expected}"))
        .and_then(|cron| {
            // A schedule that never fires (`0 0 30 2 *`: 30 February) would
            // silently never run; any real one fires within a few years.
            let start = chrono::DateTime::<chrono::Utc>::from_timestamp(1_704_067_200, 0)
                .unwrap_or_default();
            match cron.find_next_occurrence(&start, true) {
                Ok(next)
                    if next.signed_duration_since(start) < chrono::TimeDelta::days(9 * 366) =>
                {
                    Ok(())
                }
                _ => Err(format!(
                    "cron `{text}` never fires (no such date); {expected}"
                )),
            }
        })
}

/// An IANA time zone name (`Europe/Berlin`, `America/New_York`, `UTC`).
pub(super) fn timezone<'de, D: Deserializer<'de>>(d: D) -> Result<chrono_tz::Tz, D::Error> {
    let text = String::deserialize(d)?;
    text.trim().parse::<chrono_tz::Tz>().map_err(|_| {
        de::Error::custom(format!(
            "`{text}` is not a time zone; expected an IANA name like `Europe/Berlin`, `America/New_York` or `UTC`"
        ))
    })
}

/// `owner/name` of a repository.
pub(super) fn repo<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    RepoId::parse(&text).map_err(|e| de::Error::custom(e.message()))?;
    Ok(text)
}

/// A health source as written: exactly one of `command`, `argocd`,
/// `commit_status`, plus a shared `timeout`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HealthFile {
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    argocd: Option<ArgocdFile>,
    #[serde(default)]
    commit_status: Option<CommitStatusFile>,
    #[serde(default = "super::default_timeout", deserialize_with = "duration")]
    timeout: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArgocdFile {
    url: String,
    #[serde(default = "default_argocd_app")]
    app: String,
    #[serde(default)]
    token_env: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommitStatusFile {
    context: String,
}

fn default_argocd_app() -> String {
    "{component}-{cluster}".into()
}

impl TryFrom<HealthFile> for HealthSource {
    type Error = String;

    fn try_from(h: HealthFile) -> Result<Self, String> {
        let timeout = h.timeout;
        match (h.command, h.argocd, h.commit_status) {
            (Some(command), None, None) if !command.trim().is_empty() => {
                Ok(HealthSource::Command { command, timeout })
            }
            (None, Some(a), None) => Ok(HealthSource::Argocd {
                url: a.url,
                app: a.app,
                token_env: a.token_env,
                timeout,
            }),
            (None, None, Some(c)) => Ok(HealthSource::CommitStatus {
                context: c.context,
                timeout,
            }),
            _ => Err("health needs exactly one of `command`, `argocd` or `commit_status` (a non-empty command); expected e.g. `{command: ./health.sh, timeout: 10m}`".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_field_cron_passes_and_six_fields_are_refused() {
        assert!(check_cron("0 6 * * 1-5").is_ok());
        assert!(check_cron("*/15 * * * *").is_ok());
        let six = check_cron("0 0 6 * * 1-5").expect_err("six fields");
        assert!(six.contains("has 6 fields"), "{six}");
        assert!(check_cron("61 * * * *").is_err());
        let never = check_cron("0 0 30 2 *").expect_err("30 February");
        assert!(never.contains("never fires"), "{never}");
        assert!(check_cron("0 0 31 4,6 *").is_err(), "31 April and June");
        assert!(
            check_cron("0 0 29 2 *").is_ok(),
            "29 February comes every four years"
        );
        assert!(check_cron("").is_err());
    }

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
