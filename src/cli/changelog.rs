//! `stagecoach changelog`: a markdown changelog for a range of commits. A
//! shallow clone is refused, as by `version next`: its range would be cut short.

use std::path::PathBuf;

use crate::changelog::{Changelog, render, section_from_commits};
use crate::error::{Error, Result};
use crate::git::history::{commits_between, open_repo, refuse_shallow, settle_for_one_pass};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The git repository to read.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Start of the range (excluded), usually the last release tag.
    #[arg(long)]
    pub from: Option<String>,
    /// End of the range (included).
    #[arg(long, default_value = "HEAD")]
    pub to: String,
    /// Version shown in the heading (default: Unreleased).
    #[arg(long)]
    pub version: Option<String>,
    /// Date shown in the heading.
    #[arg(long)]
    pub date: Option<String>,
    /// A handlebars template to use instead of the built-in one.
    #[arg(long)]
    pub template: Option<PathBuf>,
    /// Also list types that release nothing (docs, chore, ci, ...).
    #[arg(long)]
    pub all_types: bool,
    #[command(flatten)]
    pub output: super::Output,
}

pub fn run(args: Args) -> Result<()> {
    let template = match &args.template {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
            Error::input(format!("{}: cannot read the template: {e}", path.display()))
        })?),
        None => None,
    };
    settle_for_one_pass();
    let repo = open_repo(&args.repo)?;
    refuse_shallow(&repo, &args.repo)?;
    let commits = commits_between(&repo, args.from.as_deref(), &args.to)?;
    let section = section_from_commits(
        None,
        args.from.as_deref(),
        Some(&args.to),
        &commits,
        args.all_types,
    );
    let changelog = Changelog {
        version: args.version,
        date: args.date,
        sections: vec![section],
    };
    let text = render(&changelog, template.as_deref()).map_err(|e| match &args.template {
        Some(path) => e.context(path.display()),
        None => e,
    })?;
    if args.output.json() {
        return super::emitln(&super::to_json(&serde_json::json!({ "markdown": text }))?);
    }
    super::emit(&text)
}
