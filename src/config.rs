//! The bot's own configuration (`stagecoach.yaml`): where the forge and the
//! repos are, how to authenticate, where to listen. What the bot *decides* is
//! not here: that is the policy, read from the product repo's main branch so a
//! PR can never change the rules it is judged by.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::forge::RepoId;
use crate::forge::github::BudgetLimits;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub forge: ForgeConfig,
    pub git: GitConfig,
    pub product: ProductConfig,
    #[serde(default)]
    pub server: ServerConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgeConfig {
    /// REST API root: `https://api.github.com`, `https://ghe.example/api/v3`,
    /// or the sandbox's `http://127.0.0.1:PORT`.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Name of the environment variable holding a token (never the token itself
    /// in a file that may be committed). Defaults to `STAGECOACH_TOKEN`.
    #[serde(default)]
    pub token_env: Option<String>,
    /// A token written in the file; only for the sandbox's throwaway tokens.
    #[serde(default)]
    pub token: Option<String>,
    /// GitHub App authentication instead of a token.
    #[serde(default)]
    pub app: Option<AppConfig>,
    /// How much the bot may ask of GitHub, and how fast (its secondary limits).
    #[serde(default)]
    pub budget: BudgetConfig,
}

/// `forge.budget`: the request budget, well under GitHub's published secondary
/// limits by default (see `forge::github::budget` for what each one means).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// Requests in flight at once (GitHub allows 100).
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// REST points a minute: GET 1, POST/PATCH/PUT/DELETE 5 (GitHub allows 900).
    #[serde(default = "default_rest_points")]
    pub rest_points_per_minute: u32,
    /// GraphQL points a minute: a query 1, a mutation 5 (GitHub allows 2,000).
    #[serde(default = "default_graphql_points")]
    pub graphql_points_per_minute: u32,
    /// Content-creating requests (every POST) a minute (GitHub allows 80).
    #[serde(default = "default_content_per_minute")]
    pub content_per_minute: u32,
    /// Content-creating requests an hour (GitHub allows 500).
    #[serde(default = "default_content_per_hour")]
    pub content_per_hour: u32,
    /// Least time between two mutating requests (GitHub asks for `1s`).
    #[serde(default = "default_write_spacing")]
    pub write_spacing: String,
    /// First wait after a secondary-limit refusal that names no time; doubles
    /// with each refusal in a row (GitHub asks for at least `1m`).
    #[serde(default = "default_secondary_backoff")]
    pub secondary_backoff: String,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            concurrency: default_concurrency(),
            rest_points_per_minute: default_rest_points(),
            graphql_points_per_minute: default_graphql_points(),
            content_per_minute: default_content_per_minute(),
            content_per_hour: default_content_per_hour(),
            write_spacing: default_write_spacing(),
            secondary_backoff: default_secondary_backoff(),
        }
    }
}

fn default_concurrency() -> u32 {
    8
}
fn default_rest_points() -> u32 {
    600
}
fn default_graphql_points() -> u32 {
    1000
}
fn default_content_per_minute() -> u32 {
    60
}
fn default_content_per_hour() -> u32 {
    400
}
fn default_write_spacing() -> String {
    "1s".into()
}
fn default_secondary_backoff() -> String {
    "60s".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    pub app_id: u64,
    pub installation_id: u64,
    /// Path of the PEM private key.
    pub private_key: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitConfig {
    /// How to reach a repo by git: `{owner}` and `{name}` are replaced.
    /// `https://github.com/{owner}/{name}.git` or a local path for the sandbox.
    pub url: String,
    /// Where clones are cached between runs (safe to delete).
    pub cache_dir: PathBuf,
    /// Author and committer of the bot's commits.
    #[serde(default = "default_bot_name")]
    pub name: String,
    #[serde(default = "default_bot_email")]
    pub email: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductConfig {
    pub repo: String,
    #[serde(default = "default_branch")]
    pub branch: String,
    /// Policy file inside the product repo (read from `branch`, never from a PR).
    #[serde(default = "default_policy_path")]
    pub policy: String,
    /// Manifest file inside the product repo.
    #[serde(default = "default_manifest")]
    pub manifest: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Webhook secret; `STAGECOACH_WEBHOOK_SECRET` wins over this.
    #[serde(default)]
    pub webhook_secret: Option<String>,
    /// How often to reconcile without a webhook, e.g. `30s`, `5m`.
    #[serde(default = "default_resync")]
    pub resync: String,
    /// Within how long the running bot reads every component again, a slice
    /// per pass, whatever the webhooks said (it heals lost deliveries), e.g.
    /// `10m`. Webhooks make it read what they name at once.
    #[serde(default = "default_sweep")]
    pub sweep: String,
    /// Token that unlocks the dashboard for non-loopback clients.
    #[serde(default)]
    pub read_token: Option<String>,
    /// How long the running bot's lease lasts (renewed at half): one `serve`
    /// acts at a time, and a second takes over within this after the first
    /// dies (at once when it stops). Each is named by `STAGECOACH_INSTANCE`
    /// or its host name; a restart under the same name takes its lease back
    /// at once. E.g. `30s`.
    #[serde(default = "default_lease")]
    pub lease: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            webhook_secret: None,
            resync: default_resync(),
            sweep: default_sweep(),
            read_token: None,
            lease: default_lease(),
        }
    }
}

fn default_api_url() -> String {
    "https://api.github.com".into()
}
fn default_bot_name() -> String {
    "stagecoach[bot]".into()
}
fn default_bot_email() -> String {
    "stagecoach@users.noreply.github.com".into()
}
fn default_branch() -> String {
    "main".into()
}
fn default_policy_path() -> String {
    "policies/default.yaml".into()
}
fn default_manifest() -> String {
    "product.yaml".into()
}
fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_resync() -> String {
    "60s".into()
}
fn default_sweep() -> String {
    "10m".into()
}
fn default_lease() -> String {
    "30s".into()
}

impl Config {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::input(format!("{}: cannot read config: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let config: Config =
            serde_saphyr::from_str(text).map_err(|e| Error::input(format!("{source}: {e}")))?;
        RepoId::parse(&config.product.repo).map_err(|e| e.context(source))?;
        config.resync_interval().map_err(|e| e.context(source))?;
        config.sweep_interval().map_err(|e| e.context(source))?;
        config.lease_period().map_err(|e| e.context(source))?;
        config.budget_limits().map_err(|e| e.context(source))?;
        Ok(config)
    }

    /// `forge.budget` checked against GitHub's published limits.
    pub fn budget_limits(&self) -> Result<BudgetLimits> {
        let b = &self.forge.budget;
        let within = |key: &str, value: u32, least: u32, most: u32, github: &str| {
            if (least..=most).contains(&value) {
                Ok(value)
            } else {
                Err(Error::input(format!(
                    "forge.budget.{key} `{value}`: expected a number from {least} to {most} ({github})"
                )))
            }
        };
        let duration = |key: &str, text: &str| {
            humantime::parse_duration(text).map_err(|e| {
                Error::input(format!(
                    "forge.budget.{key} `{text}`: {e}; expected a duration like `1s` or `500ms`"
                ))
            })
        };
        let secondary_backoff = duration("secondary_backoff", &b.secondary_backoff)?;
        if secondary_backoff.is_zero() {
            return Err(Error::input(format!(
                "forge.budget.secondary_backoff `{}`: expected more than 0 (GitHub asks for at least 1m)",
                b.secondary_backoff
            )));
        }
        Ok(BudgetLimits {
            concurrency: within("concurrency", b.concurrency, 1, 100, "GitHub allows 100")?
                as usize,
            rest_points_per_minute: within(
                "rest_points_per_minute",
                b.rest_points_per_minute,
                5,
                900,
                "one write costs 5; GitHub allows 900",
            )?,
            graphql_points_per_minute: within(
                "graphql_points_per_minute",
                b.graphql_points_per_minute,
                5,
                2000,
                "one mutation costs 5; GitHub allows 2000",
            )?,
            content_per_minute: within(
                "content_per_minute",
                b.content_per_minute,
                1,
                80,
                "GitHub allows 80",
            )?,
            content_per_hour: within(
                "content_per_hour",
                b.content_per_hour,
                1,
                500,
                "GitHub allows 500",
            )?,
            write_spacing: duration("write_spacing", &b.write_spacing)?,
            secondary_backoff,
        })
    }

    pub fn product_repo(&self) -> RepoId {
        // Validated in `parse`.
        RepoId::parse(&self.product.repo).unwrap_or_else(|_| RepoId::new("invalid", "invalid"))
    }

    /// The git URL of a repo, from the `git.url` template.
    pub fn git_url(&self, repo: &RepoId) -> String {
        self.git
            .url
            .replace("{owner}", &repo.owner)
            .replace("{name}", &repo.name)
    }

    /// The sweep period (`server.sweep`), checked at load.
    pub fn sweep_period(&self) -> Duration {
        self.sweep_interval().unwrap_or(Duration::from_secs(600))
    }

    pub fn sweep_interval(&self) -> Result<Duration> {
        humantime::parse_duration(&self.server.sweep).map_err(|e| {
            Error::input(format!(
                "server.sweep: `{}` is not a duration ({e}); expected e.g. `10m`",
                self.server.sweep
            ))
        })
    }

    /// `server.lease`: a duration of at least 2 s.
    pub fn lease_period(&self) -> Result<Duration> {
        humantime::parse_duration(&self.server.lease)
            .map_err(|e| e.to_string())
            .and_then(|d| {
                if d >= Duration::from_secs(2) {
                    Ok(d)
                } else {
                    Err("shorter than 2s".into())
                }
            })
            .map_err(|e| {
                Error::input(format!(
                    "server.lease `{}`: {e}; expected a duration of at least 2s, like `30s`",
                    self.server.lease
                ))
            })
    }

    pub fn resync_interval(&self) -> Result<Duration> {
        humantime::parse_duration(&self.server.resync).map_err(|e| {
            Error::input(format!(
                "server.resync `{}`: {e}; expected a duration like `30s` or `5m`",
                self.server.resync
            ))
        })
    }

    /// The token: from the named environment variable, else `STAGECOACH_TOKEN`,
    /// else the file. `None` with App auth.
    pub fn token(&self) -> Option<String> {
        let var = self
            .forge
            .token_env
            .as_deref()
            .unwrap_or("STAGECOACH_TOKEN");
        std::env::var(var)
            .ok()
            .filter(|t| !t.is_empty())
            .or_else(|| self.forge.token.clone())
    }

    /// The webhook secret: `STAGECOACH_WEBHOOK_SECRET` wins over the file.
    pub fn webhook_secret(&self) -> Option<String> {
        std::env::var("STAGECOACH_WEBHOOK_SECRET")
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(|| self.server.webhook_secret.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_config_parses_and_fills_defaults() {
        let c = Config::parse(
            "forge: {api_url: 'http://127.0.0.1:1'}\ngit: {url: '/tmp/{owner}/{name}.git', cache_dir: /tmp/c}\nproduct: {repo: acme/product}\n",
            "stagecoach.yaml",
        )
        .expect("parses");
        assert_eq!(c.product.branch, "main");
        assert_eq!(c.git_url(&c.product_repo()), "/tmp/acme/product.git");
    }

    const MINIMAL: &str = "forge: {api_url: 'http://127.0.0.1:1'}\ngit: {url: x, cache_dir: y}\nproduct: {repo: acme/product}\n";

    #[test]
    fn the_lease_lasts_thirty_seconds_unless_set_and_never_under_two() {
        let c = Config::parse(MINIMAL, "stagecoach.yaml").expect("parses");
        assert_eq!(c.lease_period().ok(), Some(Duration::from_secs(30)));
        let short = format!("{MINIMAL}server: {{lease: 1s}}\n");
        let e = Config::parse(&short, "stagecoach.yaml").expect_err("too short");
        assert!(e.to_string().contains("server.lease `1s`"), "{e}");
    }

    #[test]
    fn the_budget_defaults_stay_well_under_githubs_limits() {
        let c = Config::parse(MINIMAL, "stagecoach.yaml").expect("parses");
        let b = c.budget_limits().expect("valid");
        assert_eq!(b, BudgetLimits::default());
        // The numbers the README documents.
        assert_eq!(
            b,
            BudgetLimits {
                concurrency: 8,
                rest_points_per_minute: 600,
                graphql_points_per_minute: 1000,
                content_per_minute: 60,
                content_per_hour: 400,
                write_spacing: Duration::from_secs(1),
                secondary_backoff: Duration::from_secs(60),
            }
        );
    }

    #[test]
    fn budget_keys_are_read_and_bad_values_named() {
        let text = MINIMAL.replace(
            "forge: {api_url: 'http://127.0.0.1:1'}",
            "forge: {api_url: 'http://127.0.0.1:1', budget: {concurrency: 2, rest_points_per_minute: 100, graphql_points_per_minute: 50, content_per_minute: 10, content_per_hour: 20, write_spacing: 250ms, secondary_backoff: 2s}}",
        );
        let b = Config::parse(&text, "s.yaml")
            .expect("parses")
            .budget_limits()
            .expect("valid");
        assert_eq!(
            b,
            BudgetLimits {
                concurrency: 2,
                rest_points_per_minute: 100,
                graphql_points_per_minute: 50,
                content_per_minute: 10,
                content_per_hour: 20,
                write_spacing: Duration::from_millis(250),
                secondary_backoff: Duration::from_secs(2),
            }
        );
        for (budget, needle) in [
            (
                "{concurrency: 0}",
                "forge.budget.concurrency `0`: expected a number from 1 to 100",
            ),
            ("{concurrency: 500}", "forge.budget.concurrency `500`"),
            (
                "{rest_points_per_minute: 901}",
                "forge.budget.rest_points_per_minute `901`",
            ),
            ("{rest_points_per_minute: 4}", "one write costs 5"),
            (
                "{graphql_points_per_minute: 3000}",
                "forge.budget.graphql_points_per_minute",
            ),
            (
                "{content_per_minute: 81}",
                "s.yaml: forge.budget.content_per_minute `81`: expected a number from 1 to 80 (GitHub allows 80)",
            ),
            ("{content_per_hour: 0}", "forge.budget.content_per_hour `0`"),
            ("{write_spacing: soon}", "forge.budget.write_spacing `soon`"),
            (
                "{secondary_backoff: 0s}",
                "forge.budget.secondary_backoff `0s`",
            ),
            ("{spacing: 1s}", "spacing"),
        ] {
            let text = MINIMAL.replace(
                "forge: {api_url: 'http://127.0.0.1:1'}",
                &format!("forge: {{api_url: 'http://127.0.0.1:1', budget: {budget}}}"),
            );
            let e = Config::parse(&text, "s.yaml").expect_err(budget);
            assert_eq!(e.exit_code(), 2, "{budget}");
            assert!(e.message().starts_with("s.yaml"), "{e}");
            assert!(e.message().contains(needle), "{budget}: {e}");
            assert!(!e.message().contains('\n'), "one line: {e}");
        }
    }

    #[test]
    fn an_unknown_key_is_refused_with_the_file_name() {
        let e = Config::parse(
            "forge: {}\ngit: {url: x, cache_dir: y}\nproduct: {repo: acme/product, colour: red}\n",
            "stagecoach.yaml",
        )
        .expect_err("refused");
        assert!(e.message().starts_with("stagecoach.yaml:"), "{e}");
        assert_eq!(e.exit_code(), 2);
    }
}
