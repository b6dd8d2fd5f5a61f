//! The sandbox: a GitHub-compatible REST server on 127.0.0.1 over real bare git
//! repos, with the demo world (acme's product, landscapes, components and
//! people), webhooks like GitHub's, injected faults and stability signals.
//!
//! `start` serves a directory made by `create_world` (it makes the world when
//! the directory is empty); `Sandbox::person` drives it as a named human.

mod access;
mod apps;
pub mod faults;
pub mod git;
pub mod git_http;
pub mod hooks;
mod issues;
pub mod limits;
pub mod people;
mod pulls;
mod render;
mod repos;
pub mod server;
pub mod signals;
pub mod state;
mod watch;
pub mod world;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use apps::TokenRules;
pub use people::Person;
pub use world::{World, WorldUser, create_world};

use crate::error::{Error, Result};

/// The bot's `forge.budget` against a sandbox on 127.0.0.1 (the demo, the
/// tests): writes are not spaced, and the rest stays just inside GitHub's
/// limits (which the sandbox enforces) — 750 points a minute is at most 875 in
/// any minute with the bucket's burst, under the 900 GitHub allows.
pub const BOT_BUDGET: &str = "{rest_points_per_minute: 750, content_per_minute: 75, content_per_hour: 450, write_spacing: 0s}";

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Holds `repos/`, `forge/`, `bin/`, `world/`; made by `create_world` if empty.
    pub dir: PathBuf,
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Where to send webhooks (the bot's `/webhook`); can be set later.
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    /// GitHub's rate limits, enforced per token (default: GitHub's numbers).
    pub limits: limits::Limits,
    /// Where the API is served: `""` as on api.github.com, or `/api/v3` as
    /// on GitHub Enterprise Server (everything the sandbox serves moves
    /// under it, and `api_url` ends with it).
    pub api_prefix: String,
    /// How an App's tokens live: their lifetime and the sandbox's clock.
    pub app_tokens: TokenRules,
}

impl SandboxOptions {
    /// Any free loopback port, no webhooks yet.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            webhook_url: None,
            webhook_secret: None,
            limits: limits::Limits::default(),
            api_prefix: String::new(),
            app_tokens: TokenRules::default(),
        }
    }
}

/// A running sandbox. Dropping it without `shutdown` leaves the server running
/// until the runtime ends.
pub struct Sandbox {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT` — the forge's `api_url`.
    pub api_url: String,
    pub world: World,
    app: Arc<server::App>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
    watcher: tokio::task::JoinHandle<()>,
}

/// Start serving `opts.dir` (creating the world there first if needed).
pub async fn start(opts: SandboxOptions) -> Result<Sandbox> {
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| Error::world(format!("sandbox: cannot listen on {}: {e}", opts.listen)))?;
    let addr = listener.local_addr()?;
    let prefix = opts.api_prefix.trim_end_matches('/').to_string();
    if !prefix.is_empty() && !prefix.starts_with('/') {
        return Err(Error::input(format!(
            "sandbox api_prefix `{prefix}`: expected a path like /api/v3"
        )));
    }
    let api_url = format!("http://{addr}{prefix}");
    let (dir, api) = (opts.dir.clone(), api_url.clone());
    let world = tokio::task::spawn_blocking(move || {
        let world = world::create_world_at(&dir, Some(&api))?;
        world::point_policy_at(&dir, &api)?;
        Ok::<_, Error>(world)
    })
    .await
    .map_err(|e| Error::world(format!("sandbox world: {e}")))??;

    let state = state::ForgeState::load(&world.dir)?;
    let (hooks, _delivery) = hooks::Hooks::start(
        hooks::Target {
            url: opts.webhook_url.clone(),
            secret: opts.webhook_secret.clone(),
        },
        &api_url,
    );
    let app = Arc::new(server::App {
        dir: world.dir.clone(),
        urls: render::Urls {
            api: api_url.clone(),
        },
        state: tokio::sync::Mutex::new(state),
        hooks,
        stats: std::sync::Mutex::new(server::Stats::default()),
        faults: faults::Faults::default(),
        signals: signals::Signals::default(),
        started: chrono::Utc::now().timestamp(),
        limits: limits::Limiter::new(opts.limits),
        app_tokens: opts.app_tokens,
    });
    let router = if prefix.is_empty() {
        server::router(app.clone())
    } else {
        axum::Router::new().nest(&prefix, server::router(app.clone()))
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!("sandbox server stopped: {e}");
        }
    });
    let watcher = tokio::spawn(watch::run(Arc::downgrade(&app), Duration::from_millis(200)));
    Ok(Sandbox {
        addr,
        api_url,
        world,
        app,
        stop: Some(stop_tx),
        server,
        watcher,
    })
}

impl Sandbox {
    /// Stop serving and wait for open requests to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.watcher.abort();
        // In-flight requests finish; a server that hangs is not worth waiting for.
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.server).await;
    }

    /// Point webhooks at the bot (which may start after the sandbox).
    pub fn set_webhook(&self, url: Option<String>, secret: Option<String>) {
        self.app.hooks.set_target(hooks::Target { url, secret });
    }

    /// Where webhooks go now.
    pub fn webhook_url(&self) -> Option<String> {
        self.app.hooks.url()
    }

    /// Send GitHub's `ping` to the webhook target and wait for how it went
    /// (`None` when no target is set): whether the bot is listening there.
    pub async fn ping_webhook(&self) -> Option<hooks::DeliveryRecord> {
        self.app.hooks.ping().await
    }

    /// The recent webhook deliveries and their outcomes, newest first (what
    /// `GET /orgs/acme/hooks/1/deliveries` lists).
    pub fn deliveries(&self) -> Vec<hooks::DeliveryRecord> {
        self.app.hooks.deliveries()
    }

    /// Act as one of the world's people over HTTP (and git, for pushes).
    pub fn person(&self, login: &str) -> Result<Person> {
        let user = self
            .world
            .users
            .iter()
            .find(|u| u.login == login)
            .ok_or_else(|| Error::input(format!("sandbox: no user `{login}` in the world")))?;
        Person::new(&self.api_url, &user.login, &user.token, &self.world.dir)
    }

    /// Requests served so far, per user (what `GET /_sandbox/stats` answers).
    pub fn stats(&self) -> server::Stats {
        self.app.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Start counting requests from zero (`DELETE /_sandbox/stats`).
    pub fn reset_stats(&self) {
        if let Ok(mut s) = self.app.stats.lock() {
            *s = server::Stats::default();
        }
    }

    /// The bot's `git.url` template over git's smart HTTP with token auth:
    /// `http://127.0.0.1:PORT/git/{owner}/{name}.git`, placeholders literal.
    pub fn git_http_url_template(&self) -> String {
        git_http::url_template(&self.api_url)
    }

    /// The sandbox directory (repos, forge state, scripts).
    pub fn dir(&self) -> &std::path::Path {
        &self.world.dir
    }
}
