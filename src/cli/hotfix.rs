//! `stagecoach hotfix --from vX.Y.Z --component NAME@VERSION`: on-call cuts a
//! hotfix by hand (the same flow a `hotfix-to/` label starts), then it goes
//! to canary; `stagecoach promote` takes it to prod.

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Config;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::forge::github::GitHub;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The product tag to fix, e.g. v1.4.0.
    #[arg(long)]
    pub from: String,
    /// The component release that carries the fix, e.g. checkout@2.1.1.
    #[arg(long)]
    pub component: String,
    #[arg(long, default_value = "stagecoach.yaml")]
    pub config: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    super::init_logging("text");
    let (name, version) = args.component.split_once('@').ok_or_else(|| {
        Error::input(format!(
            "--component `{}`: expected NAME@VERSION, e.g. checkout@2.1.1",
            args.component
        ))
    })?;
    let version = semver::Version::parse(version.trim_start_matches('v'))
        .map_err(|e| Error::input(format!("--component `{}`: version: {e}", args.component)))?;
    let config = Config::load(&args.config)?;
    super::runtime()?.block_on(async move {
        let forge = GitHub::from_config(&config)?;
        let engine = Engine::new(config, Arc::new(forge));
        let tag = engine.hotfix_by_hand(&args.from, name, &version).await?;
        println!("hotfix {tag} cut from {} with {name} {version}; on canary. Next: stagecoach promote {tag} --to prod", args.from);
        Ok(())
    })
}
