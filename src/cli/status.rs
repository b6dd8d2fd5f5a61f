//! `stagecoach status`: where a component, version, commit or PR is on its
//! way to production (or, without a query, the whole road at a glance).

use std::path::PathBuf;

use super::to_json;
use crate::config::Config;
use crate::error::Result;
use crate::status::{self, Query};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bot's configuration file.
    #[arg(long, default_value = "stagecoach.yaml")]
    pub config: PathBuf,
    /// COMPONENT, COMPONENT@VERSION, a component PR (URL or owner/repo#N) or a commit id.
    pub query: Option<String>,
    #[command(flatten)]
    pub output: super::Output,
}

pub fn run(args: Args) -> Result<()> {
    let query = args.query.as_deref().map(Query::parse).transpose()?;
    let config = Config::load(&args.config)?;
    let out = super::runtime()?.block_on(async move {
        let engine = super::engine(config)?;
        let observed = status::observe_now(&engine).await?;
        let json = args.output.json();
        match query {
            None => {
                let o = status::overview(&observed);
                if json {
                    to_json(&o)
                } else {
                    Ok(status::overview_text(&o))
                }
            }
            Some(q) => {
                let s = status::locate(&engine, &observed, q).await?;
                if json {
                    to_json(&s)
                } else {
                    Ok(status::component_text(&s))
                }
            }
        }
    })?;
    super::emitln(&out)
}
