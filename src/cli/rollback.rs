//! `stagecoach rollback ENV [--to TAG]`: put an environment back on an
//! earlier release (the one it ran before, or `--to`), as a normal
//! promotion in waves, as yourself (your token), recorded with who asked.

use std::path::PathBuf;

use crate::error::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The environment, e.g. canary or prod.
    pub env: String,
    /// The release to go back to; by default the one the environment ran before.
    #[arg(long = "to", value_name = "TAG")]
    pub to: Option<String>,
    #[arg(long, default_value = "stagecoach.yaml")]
    pub config: PathBuf,
    #[command(flatten)]
    pub acting: super::Acting,
    #[command(flatten)]
    pub output: super::Output,
}

pub fn run(args: Args) -> Result<()> {
    super::init_logging("text");
    let config = super::load_config_as(&args.config, &args.acting)?;
    let done = super::runtime()?.block_on(async move {
        let engine = super::engine(config)?;
        engine.rollback(&args.env, args.to.as_deref()).await
    })?;
    super::promote::print(&done, &args.output, " again")
}
