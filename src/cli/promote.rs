//! `stagecoach promote TAG --to ENV`: a release manager's (or on-call's)
//! on-demand promotion, checked against the policy's people and the forge.

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Config;
use crate::engine::Engine;
use crate::error::Result;
use crate::forge::github::GitHub;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The product tag, e.g. v1.4.0.
    pub tag: String,
    /// The environment, e.g. canary or prod.
    #[arg(long = "to")]
    pub env: String,
    /// Promote even though the tag is not eligible; the reason is recorded in the commit.
    #[arg(long = "override", value_name = "REASON")]
    pub override_reason: Option<String>,
    #[arg(long, default_value = "stagecoach.yaml")]
    pub config: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    super::init_logging("text");
    let config = Config::load(&args.config)?;
    super::runtime()?.block_on(async move {
        let forge = GitHub::from_config(&config)?;
        let engine = Engine::new(config, Arc::new(forge));
        let done = engine
            .promote(&args.tag, &args.env, args.override_reason.clone())
            .await?;
        for s in &done.steps {
            println!("{s}");
        }
        println!("{} runs on {}", done.tag, done.env);
        Ok(())
    })
}
