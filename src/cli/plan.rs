//! `stagecoach plan`: one reconcile as a dry run — the actions the bot would
//! take now, and why; nothing is changed.

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Config;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::forge::github::GitHub;
use crate::forge::webhook;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, default_value = "stagecoach.yaml")]
    pub config: PathBuf,
    /// A webhook event name (`pull_request`, ...) to read with `--payload`.
    #[arg(long, requires = "payload")]
    pub event: Option<String>,
    /// A webhook payload file (JSON), as GitHub would deliver it.
    #[arg(long, requires = "event")]
    pub payload: Option<PathBuf>,
    #[arg(long, value_parser = ["text", "json"], default_value = "text")]
    pub format: String,
}

pub fn run(args: Args) -> Result<()> {
    if let (Some(event), Some(path)) = (&args.event, &args.payload) {
        let body =
            std::fs::read(path).map_err(|e| Error::input(format!("{}: {e}", path.display())))?;
        match webhook::parse_event(event, &body)
            .map_err(|e| Error::input(format!("{}: {e}", path.display())))?
        {
            Some(e) => println!(
                "delivery: {} (a hint: the plan below is what a reconcile decides now)",
                e.describe()
            ),
            None => println!(
                "delivery: `{event}` is not an event Stagecoach acts on; a reconcile would still decide:"
            ),
        }
    }
    let config = Config::load(&args.config)?;
    super::runtime()?.block_on(async move {
        let forge = GitHub::from_config(&config)?;
        let engine = Engine::new(config, Arc::new(forge));
        let actions = engine.plan().await?;
        if args.format == "json" {
            let list: Vec<String> = actions.iter().map(|a| a.describe()).collect();
            println!("{}", serde_json::json!({ "actions": list }));
        } else if actions.is_empty() {
            println!("nothing to do: the road is where the policy wants it");
        } else {
            for a in &actions {
                println!("- {}", a.describe());
            }
        }
        Ok(())
    })
}
