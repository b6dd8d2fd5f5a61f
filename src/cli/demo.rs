//! `stagecoach demo`: the whole road in a local sandbox, no account, no network.

use std::path::PathBuf;

use crate::demo::{self, DemoOptions};
use crate::error::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to build the sandbox (default: a temporary folder).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the sandbox afterwards (repos in DIR/repos/acme/*.git, forge state in DIR/forge/).
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
    println!(
        "\nDemo complete: {} checks passed in {:.1}s ({}).",
        report.steps,
        report.elapsed.as_secs_f64(),
        report.dir.display()
    );
    Ok(())
}
