//! `stagecoach demo`: the whole road in a local sandbox, no account, no network.

use std::path::PathBuf;

use crate::demo::{self, DemoOptions};
use crate::error::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to build the sandbox (default: a temporary folder).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the sandbox afterwards (repos in DIR/repos/acme/*.git, forge state in
    /// DIR/forge/, configs DIR/stagecoach.yaml and DIR/people/*.yaml); without
    /// it, what the demo made is removed, in DIR too.
    #[arg(long)]
    pub keep: bool,
}

pub fn run(args: Args) -> Result<()> {
    // The bot's own logs stay quiet unless asked for: the timeline tells the story.
    if std::env::var_os("RUST_LOG").is_some() {
        super::init_logging("text");
    }
    let report = super::runtime()?.block_on(demo::run(DemoOptions {
        dir: args.dir,
        keep: args.keep,
    }))?;
    let where_ = if report.kept {
        format!("kept in {}", report.dir.display())
    } else {
        "sandbox removed; `--keep --dir D` keeps it".to_string()
    };
    super::emitln(&format!(
        "\nDemo complete: {} checks passed in {:.1}s ({where_}).",
        report.steps,
        report.elapsed.as_secs_f64(),
    ))
}
