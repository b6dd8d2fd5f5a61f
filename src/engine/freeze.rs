//! Freeze windows (the policy's `freezes`): whether an environment is frozen
//! at a time, until when, and whether a promotion may pass anyway. Pure: the
//! time is the snapshot's clock, never the system's.
//!
//! A window starts each time its cron fires, read in its time zone (so
//! `0 18 * * 5` in `Europe/Berlin` is Friday 18:00 in Berlin, summer and
//! winter), and lasts its duration in elapsed time. Windows that overlap or
//! touch count as one: "frozen until" is the end of the last of them.

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::policy::{Freeze, Policy};

/// The most windows chained into one freeze (a window that starts again
/// before it ends); beyond that "until" is only as far as they reach.
const MAX_CHAINED: usize = 1000;

/// An environment frozen now: by which window, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frozen {
    pub window: String,
    pub until: DateTime<Utc>,
    /// The window's time zone, to say "until" the way its people read it.
    pub timezone: chrono_tz::Tz,
}

impl Frozen {
    /// `frozen until 2025-06-09 06:00 UTC (freeze `weekend`, 08:00 Europe/Berlin)`.
    pub fn describe(&self, env: &str) -> String {
        let utc = self.until.format("%Y-%m-%d %H:%M UTC");
        let local = if self.timezone == chrono_tz::UTC {
            String::new()
        } else {
            format!(
                ", {} {}",
                self.until.with_timezone(&self.timezone).format("%H:%M"),
                self.timezone.name()
            )
        };
        format!(
            "{env} is frozen until {utc} (freeze `{}`{local})",
            self.window
        )
    }
}

/// The freeze on `env` at `now`, if any window of the policy covers it.
/// Of several, the one that ends last.
pub fn frozen(policy: &Policy, env: &str, now: DateTime<Utc>) -> Option<Frozen> {
    policy
        .freezes
        .iter()
        .filter(|f| f.environments.iter().any(|e| e == env))
        .filter_map(|f| {
            window_end(f, now).map(|until| Frozen {
                window: f.name.clone(),
                until,
                timezone: f.timezone,
            })
        })
        .max_by_key(|f| f.until)
}

/// When the window covering `now` ends (`start <= now < end`), or `None`
/// when `now` is outside every window of `freeze`.
pub fn window_end(freeze: &Freeze, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let cron = parse(&freeze.cron)?;
    let length = chrono::Duration::from_std(freeze.duration).ok()?;
    let tz = freeze.timezone;
    // The first start after now - length is the oldest window still open.
    let mut start = cron
        .find_next_occurrence(&(now - length).with_timezone(&tz), false)
        .ok()?;
    if start.with_timezone(&Utc) > now {
        return None;
    }
    let mut end = start.with_timezone(&Utc) + length;
    for _ in 0..MAX_CHAINED {
        let Ok(next) = cron.find_next_occurrence(&start, false) else {
            break;
        };
        let next_utc = next.with_timezone(&Utc);
        if next_utc > end {
            break;
        }
        end = end.max(next_utc + length);
        start = next;
    }
    (end > now).then_some(end)
}

/// Why a promotion passes a freeze, if it does: an override (its reason is
/// recorded in the commits) or a hotfix tag (cut by a hotfixer, promoted by
/// someone the authority check allowed).
pub fn exemption(is_hotfix: bool, override_reason: Option<&str>) -> Option<&'static str> {
    if override_reason.is_some() {
        Some("override")
    } else if is_hotfix {
        Some("hotfix")
    } else {
        None
    }
}

/// The policy's cron text as croner reads it (five fields, already checked
/// when the policy was read).
fn parse(text: &str) -> Option<Cron> {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(text)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn window(cron: &str, hours: u64, tz: chrono_tz::Tz) -> Freeze {
        Freeze {
            name: "weekend".into(),
            cron: cron.into(),
            duration: std::time::Duration::from_secs(hours * 3600),
            timezone: tz,
            environments: vec!["prod".into()],
        }
    }

    #[test]
    fn a_window_covers_from_its_start_to_its_end_and_not_after() {
        let w = window("0 3 * * *", 1, chrono_tz::UTC);
        assert_eq!(window_end(&w, at("2025-01-10T02:59:59Z")), None);
        assert_eq!(
            window_end(&w, at("2025-01-10T03:00:00Z")),
            Some(at("2025-01-10T04:00:00Z"))
        );
        assert_eq!(
            window_end(&w, at("2025-01-10T03:59:59Z")),
            Some(at("2025-01-10T04:00:00Z"))
        );
        assert_eq!(window_end(&w, at("2025-01-10T04:00:00Z")), None);
    }

    #[test]
    fn a_window_starts_at_local_time_in_winter_and_in_summer() {
        // Friday 18:00 in Berlin is 17:00 UTC in winter (CET), 16:00 in summer (CEST).
        let w = window("0 18 * * 5", 62, chrono_tz::Europe::Berlin);
        assert_eq!(window_end(&w, at("2025-01-10T16:30:00Z")), None);
        assert_eq!(
            window_end(&w, at("2025-01-10T17:00:00Z")),
            Some(at("2025-01-13T07:00:00Z"))
        );
        assert_eq!(
            window_end(&w, at("2025-07-04T16:30:00Z")),
            Some(at("2025-07-07T06:00:00Z"))
        );
        assert_eq!(window_end(&w, at("2025-07-04T15:59:00Z")), None);
    }

    #[test]
    fn a_window_across_a_dst_change_lasts_its_duration_in_elapsed_time() {
        // Berlin springs forward on Sunday 2025-03-30: the window that opens
        // Friday 18:00 CET (17:00 UTC) still closes 62 hours later.
        let w = window("0 18 * * 5", 62, chrono_tz::Europe::Berlin);
        let end = window_end(&w, at("2025-03-30T12:00:00Z"));
        assert_eq!(end, Some(at("2025-03-31T07:00:00Z")));
        // In New York the same wall clock is another instant.
        let ny = window("0 18 * * 5", 62, chrono_tz::America::New_York);
        assert_eq!(window_end(&ny, at("2025-03-28T21:00:00Z")), None);
        assert_eq!(
            window_end(&ny, at("2025-03-28T22:00:00Z")),
            Some(at("2025-03-31T12:00:00Z"))
        );
    }

    #[test]
    fn overlapping_windows_freeze_until_the_last_one_ends() {
        // Daily at midnight for 36 hours: never a gap, bounded all the same.
        let w = window("0 0 * * *", 36, chrono_tz::UTC);
        let end = window_end(&w, at("2025-01-10T12:00:00Z")).expect("frozen");
        assert!(end > at("2025-01-20T00:00:00Z"), "{end}");
        // Two windows a day apart for 25 hours on weekdays end on Saturday.
        let w = window("0 0 * * 1-5", 25, chrono_tz::UTC);
        assert_eq!(
            window_end(&w, at("2025-01-07T12:00:00Z")),
            Some(at("2025-01-11T01:00:00Z"))
        );
    }

    #[test]
    fn only_the_named_environments_freeze_and_the_last_ending_window_is_said() {
        // 03:00-04:00 UTC, and 03:30-04:30 in Berlin (02:30-03:30 UTC).
        let mut night = window("30 3 * * *", 1, chrono_tz::Europe::Berlin);
        night.name = "release-night".into();
        let policy = Policy {
            freezes: vec![window("0 3 * * *", 1, chrono_tz::UTC), night],
            ..Policy::default()
        };
        let both = at("2025-01-10T03:10:00Z");
        assert_eq!(frozen(&policy, "canary", both), None);
        let f = frozen(&policy, "prod", both).expect("frozen");
        assert_eq!(
            f.window, "weekend",
            "of two open windows, the one ending last"
        );
        let f = frozen(&policy, "prod", at("2025-01-10T02:40:00Z")).expect("frozen");
        assert_eq!(f.window, "release-night");
        assert_eq!(
            f.describe("prod"),
            "prod is frozen until 2025-01-10 03:30 UTC (freeze `release-night`, 04:30 Europe/Berlin)"
        );
    }

    #[test]
    fn overrides_and_hotfixes_pass_a_freeze() {
        assert_eq!(exemption(false, Some("incident 42")), Some("override"));
        assert_eq!(exemption(true, None), Some("hotfix"));
        assert_eq!(exemption(false, None), None);
    }
}
