//! `stagecoach sandbox`: create (or reuse) the demo world in a directory, serve
//! the GitHub-compatible sandbox over it, write the bot's config for it, and
//! print the API URL and everyone's token. Serves until Ctrl-C.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::sandbox::{self, SandboxOptions, World};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory of the sandbox (repos, forge state, scripts); made if missing.
    #[arg(long)]
    pub dir: PathBuf,
    /// Address to listen on; a fixed port keeps URLs valid across restarts.
    #[arg(long, default_value = "127.0.0.1:7780")]
    pub listen: SocketAddr,
    /// Where to send webhooks: the bot's `/webhook` (the bot's default address).
    #[arg(long, default_value = "http://127.0.0.1:8080/webhook")]
    pub webhook_url: String,
}

pub fn run(args: Args) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::world(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> Result<()> {
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| Error::input(format!("{}: cannot create: {e}", args.dir.display())))?;
    let secret = webhook_secret(&args.dir)?;
    let sb = sandbox::start(SandboxOptions {
        dir: args.dir.clone(),
        listen: args.listen,
        webhook_url: Some(args.webhook_url.clone()),
        webhook_secret: Some(secret.clone()),
        limits: Default::default(),
    })
    .await?;
    let config_path = sb.world.dir.join("stagecoach.yaml");
    let config = bot_config(&sb.world, &sb.api_url, &secret);
    Config::parse(&config, "stagecoach.yaml (generated)")?;
    std::fs::write(&config_path, config)?;

    println!("sandbox: {}", sb.api_url);
    println!("dir:     {}", sb.world.dir.display());
    println!("config:  {}", config_path.display());
    println!("webhooks → {}", args.webhook_url);
    println!("users:");
    for u in &sb.world.users {
        println!("  {:<15} {:<17} {}", u.login, u.role, u.token);
    }
    println!("Ctrl-C to stop.");
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| Error::world(format!("cannot wait for Ctrl-C: {e}")))?;
    sb.shutdown().await;
    Ok(())
}

/// The webhook secret shared by the sandbox and the bot, kept across restarts.
fn webhook_secret(dir: &Path) -> Result<String> {
    let path = dir.join("forge").join("webhook-secret");
    if let Ok(s) = std::fs::read_to_string(&path)
        && !s.trim().is_empty()
    {
        return Ok(s.trim().to_string());
    }
    std::fs::create_dir_all(dir.join("forge"))?;
    let secret = hex::encode(rand::random::<[u8; 20]>());
    std::fs::write(&path, &secret)?;
    Ok(secret)
}

/// The bot's `stagecoach.yaml` for this sandbox (see `crate::config`).
pub fn bot_config(world: &World, api_url: &str, secret: &str) -> String {
    let dir = world.dir.display();
    format!(
        "# Written by `stagecoach sandbox`: the bot's configuration for this sandbox.\n\
         forge:\n  api_url: \"{api_url}\"\n  token: \"{token}\"   # stagecoach-bot, a throwaway sandbox token\n\
         \x20 budget: {budget}   # the sandbox enforces GitHub's limits; writes need no spacing on 127.0.0.1\n\
         git:\n  url: \"{url}\"\n  cache_dir: \"{dir}/cache\"\n\
         product:\n  repo: acme/product\n\
         server:\n  listen: \"127.0.0.1:8080\"\n  webhook_secret: \"{secret}\"\n  resync: 30s\n",
        token = world.bot_token(),
        url = world.git_url_template(),
        budget = crate::sandbox::BOT_BUDGET,
    )
}
