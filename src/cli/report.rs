//! `stagecoach report`: the four key delivery metrics per environment and
//! component over a window (`--since 30d`), with the counts they come from,
//! read from git and the forge only.

use std::path::PathBuf;

use crate::config::Config;
use crate::delivery;
use crate::error::{Error, Result};
use crate::status;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bot's configuration file.
    #[arg(long, default_value = "stagecoach.yaml")]
    pub config: PathBuf,
    /// How far back the window reaches from now: `30d`, `12h`, `2w`.
    #[arg(long, value_name = "DURATION", default_value = "30d")]
    pub since: String,
    #[command(flatten)]
    pub output: super::Output,
}

/// `--since`: a positive duration (`30d`, `12h`, `90m`, `2w`).
pub fn parse_since(text: &str) -> Result<chrono::Duration> {
    let bad = || {
        Error::input(format!(
            "--since `{text}`: expected a positive duration such as 30d, 12h or 90m"
        ))
    };
    let d = humantime::parse_duration(text.trim()).map_err(|_| bad())?;
    if d.as_secs() == 0 {
        return Err(bad());
    }
    chrono::Duration::from_std(d).map_err(|_| bad())
}

pub fn run(args: Args) -> Result<()> {
    let since = parse_since(&args.since)?;
    let config = Config::load(&args.config)?;
    let out = super::runtime()?.block_on(async move {
        let engine = super::engine(config)?;
        let observed = status::observe_now(&engine).await?;
        let until = observed.snapshot.now;
        let record = delivery::read::record(&engine, &observed, until - since).await?;
        let report = delivery::compute(&record, since, until);
        if args.output.json() {
            super::to_json(&report)
        } else {
            Ok(delivery::text::report(&report))
        }
    })?;
    super::emitln(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_refuses_the_rest_in_one_line() {
        assert_eq!(parse_since("30d").expect("30d"), chrono::Duration::days(30));
        assert_eq!(
            parse_since("12h").expect("12h"),
            chrono::Duration::hours(12)
        );
        for bad in ["", "soon", "0s", "-3d"] {
            let e = parse_since(bad).expect_err(bad);
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(!e.to_string().contains('\n'), "{e}");
            assert!(e.to_string().contains("--since"), "{e}");
        }
    }
}
