//! `stagecoach version next`: the next semver of a repo from its conventional
//! commits since the last release tag.

use std::path::PathBuf;

use super::Format;
use crate::error::Result;
use crate::git::history::{NextVersion, next_version, open_repo, settle_for_one_pass};
use crate::version::default_bump_rules;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// The next version from the conventional commits after the last release tag.
    Next(NextArgs),
}

#[derive(Debug, clap::Args)]
pub struct NextArgs {
    /// The git repository to read.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Start of the range (excluded); default: the highest release tag reachable from --to.
    #[arg(long)]
    pub from: Option<String>,
    /// End of the range (included).
    #[arg(long, default_value = "HEAD")]
    pub to: String,
    /// What release tags start with before the semver.
    #[arg(long, default_value = "v")]
    pub prefix: String,
    #[command(flatten)]
    pub output: super::Output,
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        Command::Next(next) => {
            settle_for_one_pass();
            let repo = open_repo(&next.repo)?;
            let found = next_version(
                &repo,
                next.from.as_deref(),
                &next.to,
                &next.prefix,
                &default_bump_rules(),
            )?;
            super::emitln(&present(&found, next.output.output))
        }
    }
}

fn present(found: &NextVersion, format: Format) -> String {
    match format {
        Format::Json => serde_json::json!({
            "current": found.current.as_ref().map(ToString::to_string),
            "next": found.next.as_ref().map(ToString::to_string),
            "bump": found.bump,
            "commits": found.commits,
        })
        .to_string(),
        Format::Text => match &found.next {
            Some(next) => next.to_string(),
            None => {
                let since = found.current_tag.as_deref().unwrap_or("the first commit");
                format!(
                    "no release: none of {} conventional commit(s) since {since} releases anything",
                    found.commits
                )
            }
        },
    }
}
