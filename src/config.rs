//! The bot's own configuration (`stagecoach.yaml`): where the forge and the
//! repos are, how to authenticate, where to listen. What the bot *decides* is
//! not here: that is the policy, read from the product repo's main branch so a
//! PR can never change the rules it is judged by.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::forge::RepoId;

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
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            webhook_secret: None,
            resync: default_resync(),
            sweep: default_sweep(),
            read_token: None,
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
        Ok(config)
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
