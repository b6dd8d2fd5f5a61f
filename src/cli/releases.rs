//! `stagecoach releases`: product tags newest first, with stability score
//! and its parts, release or not, age, where they run, and what changed.

use std::path::PathBuf;

use crate::config::Config;
use crate::error::Result;
use crate::status;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bot's configuration file.
    #[arg(long, default_value = "stagecoach.yaml")]
    pub config: PathBuf,
    /// Only tags whose stability score is at least N (0..100).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub min_score: Option<u8>,
    #[command(flatten)]
    pub output: super::Output,
}

pub fn run(args: Args) -> Result<()> {
    let config = Config::load(&args.config)?;
    let out = super::runtime()?.block_on(async move {
        let engine = super::engine(config)?;
        let observed = status::observe_now(&engine).await?;
        let rows = status::releases(&observed, args.min_score);
        if args.output.json() {
            super::to_json(&rows)
        } else {
            Ok(status::releases_text(&rows))
        }
    })?;
    super::emitln(&out)
}
