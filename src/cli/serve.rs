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
        let lease = config.lease_period()?;
        let holder = lease_holder();
        tracing::info!(%holder, "one Stagecoach acts at a time: holding the lease as this one");
        let engine = Arc::new(
            Engine::new(config, Arc::new(forge))
                .with_metrics(metrics.clone())
                .with_lease(holder, lease),
        );
        let dashboard = crate::dashboard::router_on(engine.clone(), &listen);
        let bot = Bot::start(engine, metrics, &listen, secret, resync, Some(dashboard)).await?;
        println!("stagecoach serving on http://{}", bot.addr);
        wait_for_stop().await?;
        tracing::info!("stopping: finishing the action in hand");
        bot.shutdown().await;
        Ok(())
    })
}

/// Who this process is in the lease: `STAGECOACH_INSTANCE`, else the host
/// name (a pod's name). A process restarted under the same name takes its
/// lease back at once; another replica waits for it.
fn lease_holder() -> String {
    let named = |v: String| {
        let v = v.trim().to_string();
        (!v.is_empty()
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._/".contains(c)))
        .then_some(v)
    };
    std::env::var("STAGECOACH_INSTANCE")
        .ok()
        .and_then(named)
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .and_then(named)
        })
        .or_else(|| std::env::var("HOSTNAME").ok().and_then(named))
        .unwrap_or_else(|| "stagecoach".into())
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
