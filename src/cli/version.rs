//! `stagecoach version next`: the next semver of a repo from its conventional
//! commits since the last release tag.
//!
//! Wrong answers that look right are refused or explained: a shallow clone is
//! refused (exit 1) with how to fetch enough, a `--from` that is no release
//! tag is bad input (exit 2), and tags that look like releases but were not
//! taken as one are listed with the reason (on stderr, and in the JSON).

use std::path::PathBuf;

use super::Format;
use crate::error::Result;
use crate::git::history::{
    IgnoredTag, NextVersion, ignored_tags, next_version, open_repo, refuse_shallow,
    settle_for_one_pass,
};
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
    /// Start of the range (excluded): a release tag (prefix + semver); default:
    /// the highest release tag reachable from --to.
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
            refuse_shallow(&repo, &next.repo)?;
            let found = next_version(
                &repo,
                next.from.as_deref(),
                &next.to,
                &next.prefix,
                &default_bump_rules(),
            )?;
            // With --from the tag search did not run, so no tag was passed over.
            let ignored = match next.from {
                Some(_) => Vec::new(),
                None => ignored_tags(&repo, &next.prefix)?,
            };
            if next.output.output == Format::Text && !ignored.is_empty() {
                eprintln!("{}", ignored_note(&ignored));
            }
            super::emitln(&present(&found, &ignored, next.output.output))
        }
    }
}

/// Tags listed by name in the note before the rest are only counted.
const NOTE_TAGS: usize = 10;

/// One line: `note: tags seen and ignored: 1.2.3 (no prefix "v"), ...`.
fn ignored_note(ignored: &[IgnoredTag]) -> String {
    let mut listed: Vec<String> = ignored
        .iter()
        .take(NOTE_TAGS)
        .map(|t| format!("{} ({})", t.name, t.reason))
        .collect();
    if ignored.len() > NOTE_TAGS {
        listed.push(format!("and {} more", ignored.len() - NOTE_TAGS));
    }
    format!("note: tags seen and ignored: {}", listed.join(", "))
}

fn present(found: &NextVersion, ignored: &[IgnoredTag], format: Format) -> String {
    match format {
        Format::Json => serde_json::json!({
            "current": found.current.as_ref().map(ToString::to_string),
            "next": found.next.as_ref().map(ToString::to_string),
            "bump": found.bump,
            "commits": found.commits,
            "ignored_tags": ignored
                .iter()
                .map(|t| serde_json::json!({"tag": t.name, "reason": t.reason}))
                .collect::<Vec<_>>(),
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
