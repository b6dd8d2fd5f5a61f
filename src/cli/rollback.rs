//! `stagecoach rollback ENV [--to TAG]`: put an environment back on an
//! earlier release (the one it ran before, or `--to`), as a normal
//! promotion in waves, recorded with who asked.

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Config;
use crate::engine::Engine;
use crate::error::Result;
use crate::forge::github::GitHub;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The environment, e.g. canary or prod.
    pub env: String,
    /// The release to go back to; by default the one the environment ran before.
    #[arg(long = "to", value_name = "TAG")]
    pub to: Option<String>,
    #[arg(long, default_value = "stagecoach.yaml")]
    pub config: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    super::init_logging("text");
    let config = Config::load(&args.config)?;
    super::runtime()?.block_on(async move {
        let forge = GitHub::from_config(&config)?;
        let engine = Engine::new(config, Arc::new(forge));
        let done = engine.rollback(&args.env, args.to.as_deref()).await?;
        for s in &done.steps {
            println!("{s}");
        }
        println!("{} runs on {} again", done.tag, done.env);
        Ok(())
    })
}
