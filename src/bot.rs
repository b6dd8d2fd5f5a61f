//! The running bot: the webhook server and the reconcile loop, together.
//!
//! Webhooks only wake the loop; a resync tick wakes it anyway. One converge
//! runs at a time, so two deliveries never race each other's actions. On
//! shutdown the action in hand finishes before the loop stops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::forge::webhook::Event;
use crate::metrics::Metrics;
use crate::server::{self, ServerState};

/// How many webhook hints may wait; more are dropped (the resync heals).
const QUEUE: usize = 1024;

pub struct Bot {
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    reconciler: tokio::task::JoinHandle<()>,
}

impl Bot {
    /// Bind `listen`, serve webhooks, and reconcile on every hint and every
    /// `resync`. `extra` routes (the dashboard) are merged into the server.
    pub async fn start(
        engine: Arc<Engine>,
        metrics: Arc<Metrics>,
        listen: &str,
        secret: Option<String>,
        resync: Duration,
        extra: Option<axum::Router>,
    ) -> Result<Bot> {
        let (tx, rx) = mpsc::channel::<Event>(QUEUE);
        let state = ServerState::new(secret.map(String::into_bytes), tx, metrics);
        let mut app = server::router(state);
        if let Some(extra) = extra {
            app = app.merge(extra);
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| Error::input(format!("cannot listen on {listen}: {e}")))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let mut server_stop = stopped.clone();
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = server_stop.wait_for(|s| *s).await;
            };
            server::serve(listener, app, server::ServeLimits::default(), shutdown).await;
        });
        let reconciler = tokio::spawn(reconcile_loop(engine, rx, resync, stopped));
        tracing::info!(%addr, "stagecoach is listening");
        Ok(Bot {
            addr,
            stop,
            server,
            reconciler,
        })
    }

    /// Stop taking work, let the action in hand finish, then return.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.reconciler.await;
        let _ = self.server.await;
    }
}

async fn reconcile_loop(
    engine: Arc<Engine>,
    mut hints: mpsc::Receiver<Event>,
    resync: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(resync);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => return,
            _ = tick.tick() => {}
            Some(event) = hints.recv() => {
                tracing::debug!(event = %event.describe(), "webhook hint");
                // Many hints in a burst make one pass.
                while hints.try_recv().is_ok() {}
            }
        }
        // The converge itself is not cancelled by a stop: the action in hand finishes.
        match engine.converge().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(actions = n, "converged"),
            Err(e) => tracing::warn!("reconcile stopped early, will retry: {e}"),
        }
        if *stopped.borrow() {
            return;
        }
    }
}
