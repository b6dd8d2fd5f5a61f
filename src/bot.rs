//! The running bot: the webhook server and the reconcile loop, together.
//!
//! Webhooks only wake the loop; a resync tick and a finished gate wake it
//! too. One pass runs at a time, so two deliveries never race each other's
//! actions, and no pass ever waits for a gate: health watches and smoke runs
//! finish in the background (`engine/inflight.rs`), so one slow gate never
//! holds up another road. On shutdown the action in hand finishes, the gates
//! in flight stop (a restart starts them again), and the loop ends.

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
    // Hints are taken the moment they arrive, not between steps: a step
    // runs several passes, and each pass must see what changed meanwhile
    // (a PR merged during the pass that read it open).
    let hinted = Arc::new(tokio::sync::Notify::new());
    let taker = {
        let engine = engine.clone();
        let hinted = hinted.clone();
        tokio::spawn(async move {
            while let Some(event) = hints.recv().await {
                tracing::debug!(event = %event.describe(), "webhook hint");
                engine.hint(&event);
                hinted.notify_one();
            }
        })
    };
    let mut tick = tokio::time::interval(resync);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut gate_finished = engine.gate_finished();
    loop {
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => break,
            _ = tick.tick() => {}
            Ok(()) = gate_finished.changed() => {
                tracing::debug!("a gate finished");
            }
            // Many hints in a burst make one pass: one permit wakes the loop.
            () = hinted.notified() => {}
        }
        gate_finished.borrow_and_update();
        // The pass itself is not cancelled by a stop: the action in hand finishes.
        match engine.step().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(actions = n, "stepped"),
            Err(e) => tracing::warn!("reconcile stopped early, will retry: {e}"),
        }
        if *stopped.borrow() {
            break;
        }
    }
    taker.abort();
    engine.abort_gates();
    // A twin waiting for the lease takes over now, not when it runs out.
    if let Err(e) = engine.release_lease().await {
        tracing::warn!("releasing the lease: {e}");
    }
}
