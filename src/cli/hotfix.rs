//! `stagecoach hotfix --from vX.Y.Z --component NAME@VERSION`: on-call cuts a
//! hotfix by hand (the same flow a `hotfix-to/` label starts), then it goes
//! to canary; `stagecoach promote` takes it to prod. Run as the on-call
//! themselves (their token, `--token-env NAME` or STAGECOACH_TOKEN).

use std::path::PathBuf;

use crate::error::{Error, Result};

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
    #[command(flatten)]
    pub acting: super::Acting,
    #[command(flatten)]
    pub output: super::Output,
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
    let config = super::load_config_as(&args.config, &args.acting)?;
    let tag = super::runtime()?.block_on(async {
        let engine = super::engine(config)?;
        engine.hotfix_by_hand(&args.from, name, &version).await
    })?;
    if args.output.json() {
        return super::emitln(&super::to_json(&serde_json::json!({
            "tag": tag,
            "from": args.from,
            "component": name,
            "version": version.to_string(),
            "next": format!("stagecoach promote {tag} --to prod"),
        }))?);
    }
    super::emitln(&format!(
        "hotfix {tag} cut from {} with {name} {version}; on canary. Next: stagecoach promote {tag} --to prod",
        args.from
    ))
}
