//! A road to play: a sandbox (its world made in a directory), the engine
//! in this process and, when asked, the bot serving webhooks beside it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::config::{BotConfig, Credentials};
use super::read_git::Repos;
use super::wait::Progress;
use crate::bot::Bot;
use crate::engine::{Clock, Engine};
use crate::error::{Error, Result};
use crate::forge::github::retry::RetryPolicy;
use crate::forge::github::{GitHub, GitHubAuth};
use crate::metrics::Metrics;
use crate::sandbox::{self, Person, Sandbox, SandboxOptions, TokenRules};

/// The Prometheus query of the demo policy's error-rate signal.
pub const ERROR_RATE: &str = "sum(rate(http_requests_errors_total[5m]))";
/// Where the product's policy lives in the product repository.
pub const POLICY_PATH: &str = "policies/default.yaml";

/// A rewrite of the product's policy text.
pub type PolicyEdit = Box<dyn Fn(&str) -> String + Send + Sync>;

/// The bot signs in as a GitHub App the sandbox is told about.
#[derive(Debug, Clone)]
pub struct AppSignIn {
    /// How its installation tokens live.
    pub rules: TokenRules,
    pub app_id: u64,
    pub installation_id: u64,
    pub private_key: PathBuf,
    pub public_key_pem: String,
}

/// How to start a road.
pub struct RoadOptions {
    /// Where the sandbox's world is made; `None`: a temporary directory,
    /// removed with the road.
    pub dir: Option<PathBuf>,
    /// Start the bot (webhooks + resync). Off: the caller drives `engine`.
    pub bot: bool,
    /// The bot's resync period.
    pub resync: Duration,
    /// Staging weather at start: calm (KPI passes) or stormy (KPI fails).
    pub calm: bool,
    /// An edit of the product's policy, committed by rita before the bot
    /// starts (e.g. pointing the stability signals at real Prometheus).
    pub policy: Option<PolicyEdit>,
    /// GitHub's rate limits as the sandbox enforces them, and the bot's
    /// `forge.budget` (a YAML mapping); `None`: GitHub's numbers and
    /// `sandbox::BOT_BUDGET`.
    pub limits: Option<(sandbox::limits::Limits, String)>,
    /// The bot reaches the repos by local path instead of git over HTTP.
    pub local_git: bool,
    /// Serve the API under this path, as GitHub Enterprise Server does
    /// (`/api/v3`); empty as on api.github.com.
    pub api_prefix: String,
    /// Sign in as a GitHub App instead of with the bot's token.
    pub app: Option<AppSignIn>,
    /// The engine's clock (default: the system's).
    pub clock: Option<Arc<dyn Clock>>,
    /// How long the bot's client waits for an answer's next bytes.
    pub read_timeout: Option<Duration>,
    /// The bot's client's retries (default: production's).
    pub retry: Option<RetryPolicy>,
}

impl Default for RoadOptions {
    fn default() -> Self {
        Self {
            dir: None,
            bot: true,
            resync: Duration::from_millis(500),
            calm: true,
            policy: None,
            limits: None,
            local_git: false,
            api_prefix: String::new(),
            app: None,
            clock: None,
            read_timeout: None,
            retry: None,
        }
    }
}

/// The sandbox and the engine reconciling it (and the bot, when started).
pub struct Road {
    pub sb: Sandbox,
    /// The sandbox's directory (`repos/`, `forge/`, `world/`, the cache).
    pub dir: PathBuf,
    pub engine: Arc<Engine>,
    /// The bot's counters (its GitHub client's included).
    pub metrics: Arc<Metrics>,
    /// The webhook secret the sandbox signs with and the bot checks.
    pub secret: String,
    /// The config the engine was made from.
    pub config: BotConfig,
    /// The sandbox's repos, read with git.
    pub repos: Repos,
    bot: Option<Bot>,
    resync: Duration,
    _temp: Option<tempfile::TempDir>,
}

impl Road {
    pub async fn start(opts: RoadOptions) -> Result<Road> {
        let (dir, temp) = match &opts.dir {
            Some(d) => (d.clone(), None),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("stagecoach-road-")
                    .tempdir()?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let mut sandbox_opts = SandboxOptions::new(&dir);
        sandbox_opts.api_prefix = opts.api_prefix.clone();
        if let Some(app) = &opts.app {
            sandbox_opts.app_tokens = app.rules.clone();
        }
        if let Some((limits, _)) = &opts.limits {
            sandbox_opts.limits = limits.clone();
        }
        let sb = sandbox::start(sandbox_opts).await?;
        let dir = sb.dir().to_path_buf();
        let secret = hex::encode(rand::random::<[u8; 16]>());
        let mut config = BotConfig::for_sandbox(&sb, &dir.join("cache")).webhook_secret(&secret);
        if let Some((_, budget)) = &opts.limits {
            config.budget = Some(budget.clone());
        }
        if opts.local_git {
            config.git_url = sb.world.git_url_template();
        }
        if let Some(app) = &opts.app {
            register_app(&sb, app).await?;
            config.credentials = Credentials::App {
                app_id: app.app_id,
                installation_id: app.installation_id,
                private_key: app.private_key.clone(),
            };
        }
        let metrics = Arc::new(Metrics::new());
        let parsed = config.parse()?;
        let mut forge = match opts.read_timeout {
            Some(t) => GitHub::with_read_timeout(
                &parsed.forge.api_url,
                GitHubAuth::from_config(&parsed)?,
                t,
            )?
            .with_budget(parsed.budget_limits()?),
            None => GitHub::from_config(&parsed)?,
        };
        if let Some(retry) = opts.retry {
            forge = forge.with_retry_policy(retry);
        }
        let forge = forge.with_metrics(metrics.clone());
        let mut engine = Engine::new(parsed, Arc::new(forge)).with_metrics(metrics.clone());
        if let Some(clock) = &opts.clock {
            engine = engine.with_clock(clock.clone());
        }
        let mut road = Road {
            repos: Repos::new(&dir),
            sb,
            dir,
            engine: Arc::new(engine),
            metrics,
            secret,
            config,
            bot: None,
            resync: opts.resync,
            _temp: temp,
        };
        road.weather(opts.calm).await?;
        if let Some(edit) = &opts.policy {
            road.edit_policy(edit, "chore(policy): the test's policy")
                .await?;
        }
        if opts.bot {
            road.start_bot(opts.resync).await?;
        }
        Ok(road)
    }

    /// Start the bot (webhooks + a resync every `resync`) and point the
    /// sandbox's webhooks at it.
    pub async fn start_bot(&mut self, resync: Duration) -> Result<()> {
        let bot = Bot::start(
            self.engine.clone(),
            self.metrics.clone(),
            "127.0.0.1:0",
            Some(self.secret.clone()),
            resync,
            None,
        )
        .await?;
        self.sb.set_webhook(
            Some(format!("http://{}/webhook", bot.addr)),
            Some(self.secret.clone()),
        );
        self.resync = resync;
        self.bot = Some(bot);
        Ok(())
    }

    /// Stop the bot (the engine and the sandbox stay), e.g. to restart it.
    pub async fn stop_bot(&mut self) {
        if let Some(bot) = self.bot.take() {
            bot.shutdown().await;
        }
    }

    /// Where the bot listens, once started.
    pub fn bot_addr(&self) -> Option<std::net::SocketAddr> {
        self.bot.as_ref().map(|b| b.addr)
    }

    /// The bot's resync period.
    pub fn resync(&self) -> Duration {
        self.resync
    }

    /// Stop the bot and the sandbox (a temporary directory goes with `self`).
    pub async fn stop(mut self) {
        if let Some(bot) = self.bot.take() {
            bot.shutdown().await;
        }
        self.sb.shutdown().await;
    }

    /// The bot's progress: its passes when it runs here, else nothing counts.
    pub fn progress(&self) -> Progress {
        match &self.bot {
            Some(_) => Progress::Engine(self.engine.clone()),
            None => Progress::Nothing,
        }
    }

    pub fn person(&self, login: &str) -> Result<Person> {
        self.sb.person(login)
    }

    /// The bot's config with another git cache (`DIR/<cache>`), e.g. for a
    /// `serve` child or a person's own session.
    pub fn config_with_cache(&self, cache: &str) -> BotConfig {
        let mut config = self.config.clone();
        config.cache_dir = self.dir.join(cache);
        config
    }

    /// A person's own engine (their token, their cache): `stagecoach promote` as them.
    pub fn engine_as(&self, login: &str) -> Result<Engine> {
        let token = self
            .sb
            .world
            .token(login)
            .ok_or_else(|| Error::input(format!("sandbox: no user `{login}` in the world")))?;
        let config = self
            .config_with_cache(&format!("cache-{login}"))
            .token(token)
            .parse()?;
        let forge = GitHub::from_config(&config)?;
        Ok(Engine::new(config, Arc::new(forge)))
    }

    /// rita commits `edit` of the product's policy on main.
    pub async fn edit_policy(&self, edit: &dyn Fn(&str) -> String, message: &str) -> Result<()> {
        let policy = self
            .repos
            .file_at("product", "main", POLICY_PATH)?
            .ok_or_else(|| Error::world(format!("the product has no {POLICY_PATH}")))?;
        self.person("rita")?
            .commit_files("product", "main", &[(POLICY_PATH, &edit(&policy))], message)
            .await?;
        Ok(())
    }

    /// Staging's signals: calm (1% errors, no alerts) or stormy (30%, paging).
    pub async fn weather(&self, calm: bool) -> Result<()> {
        let p = self.person(sandbox::world::BOT)?;
        let rate = if calm { 0.01 } else { 0.3 };
        p.call(
            Method::POST,
            "/_sandbox/prometheus",
            Some(json!({"query": ERROR_RATE, "value": rate})),
        )
        .await?;
        let alerts = if calm {
            json!([])
        } else {
            json!([{"labels": {"alertname": "HighLatency", "severity": "page", "namespace": "checkout"}}])
        };
        p.call(Method::POST, "/_sandbox/alerts", Some(alerts))
            .await?;
        Ok(())
    }

    /// `component@version` is unhealthy wherever it runs (`world/unhealthy`).
    pub fn make_unhealthy(&self, what: &str) -> Result<()> {
        append(&self.dir.join("world/unhealthy"), what)
    }

    /// The health check of `component@version` holds until
    /// [`Road::release_slow`]: a slow rollout.
    pub fn make_slow(&self, what: &str) -> Result<()> {
        append(&self.dir.join("world/slow"), what)
    }

    pub fn release_slow(&self, what: &str) -> Result<()> {
        let path = self.dir.join("world/slow");
        let kept: Vec<String> = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter(|l| *l != what)
            .map(str::to_string)
            .collect();
        std::fs::write(&path, kept.join("\n") + "\n")?;
        Ok(())
    }

    /// The smoke gate fails for `component@version` (optionally followed
    /// by ` toggle=on|off`).
    pub fn make_smoke_fail(&self, what: &str) -> Result<()> {
        append(&self.dir.join("world/smoke-fails"), what)
    }
}

/// Tell the sandbox about the App (`stagecoach[bot]`) and its public key.
pub async fn register_app(sb: &Sandbox, app: &AppSignIn) -> Result<()> {
    sb.person(sandbox::world::BOT)?
        .call(
            Method::POST,
            "/_sandbox/app",
            Some(json!({"app_id": app.app_id, "slug": "stagecoach", "installation_id": app.installation_id, "public_key_pem": app.public_key_pem})),
        )
        .await?;
    Ok(())
}

fn append(path: &Path, line: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(f, "{line}")?;
    Ok(())
}
