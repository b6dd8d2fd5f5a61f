//! `stagecoach serve`: the bot itself — webhooks, resync loop, schedules,
//! `/healthz`, `/metrics`; stops gracefully on SIGTERM or Ctrl-C.

use std::path::PathBuf;
use std::sync::Arc;

use crate::bot::Bot;
use crate::config::Config;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::forge::github::GitHub;
use crate::metrics::Metrics;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bot's configuration file.
    #[arg(long, default_value = "stagecoach.yaml")]
    pub config: PathBuf,
    /// Address to listen on (overrides `server.listen`).
    #[arg(long)]
    pub listen: Option<String>,
    /// Log format.
    #[arg(long, value_parser = ["text", "json"], default_value = "text")]
    pub log_format: String,
}

pub fn run(args: Args) -> Result<()> {
    super::init_logging(&args.log_format);
    let config = Config::load(&args.config)?;
    super::runtime()?.block_on(async move {
        let metrics = Arc::new(Metrics::new());
        let forge = GitHub::from_config(&config)?
            .with_metrics(metrics.clone())
            .with_etag_store(config.git.cache_dir.join("etags.json"));
        let listen = args.listen.clone().unwrap_or_else(|| config.server.listen.clone());
        let secret = config.webhook_secret();
        if secret.is_none() {
            tracing::warn!("no webhook secret configured: every webhook will be refused; the resync loop still works");
        }
        let resync = config.resync_interval()?;
        let engine = Arc::new(Engine::new(config, Arc::new(forge)).with_metrics(metrics.clone()));
        let dashboard = crate::dashboard::router_on(engine.clone(), &listen);
        let bot = Bot::start(engine, metrics, &listen, secret, resync, Some(dashboard)).await?;
        println!("stagecoach serving on http://{}", bot.addr);
        wait_for_stop().await?;
        tracing::info!("stopping: finishing the action in hand");
        bot.shutdown().await;
        Ok(())
    })
}

async fn wait_for_stop() -> Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| Error::world(format!("cannot watch SIGTERM: {e}")))?;
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .map_err(|e| Error::world(format!("cannot watch Ctrl-C: {e}")))
    }
}
