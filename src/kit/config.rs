//! The bot's config text for a sandbox world: one function, with options,
//! for `stagecoach sandbox`'s files, the demo, the tests and the benches (no
//! copy of it anywhere else).

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::Result;
use crate::sandbox::{BOT_BUDGET, Sandbox, World};

/// How the bot signs in to the sandbox's API.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// A personal access token (the bot's own, or a person's).
    Token(String),
    /// A GitHub App: the bot mints installation tokens with its private key.
    App {
        app_id: u64,
        installation_id: u64,
        private_key: PathBuf,
    },
}

/// What the bot's `stagecoach.yaml` says, for one sandbox. Start from
/// [`BotConfig::for_sandbox`] and change what the test is about.
#[derive(Debug, Clone)]
pub struct BotConfig {
    pub api_url: String,
    pub credentials: Credentials,
    /// `forge.budget` as a YAML mapping; `None` leaves the bot's default.
    pub budget: Option<String>,
    /// `git.url`: over the sandbox's HTTP by default.
    pub git_url: String,
    pub cache_dir: PathBuf,
    /// Write the `server:` section (a person's config, for `promote` and
    /// `status`, has none).
    pub server: bool,
    /// `server.listen`: a free port by default.
    pub listen: String,
    /// `server.webhook_secret`; `None`: unsigned webhooks are refused.
    pub webhook_secret: Option<String>,
    /// `server.resync` (`1s`, `300ms`, …).
    pub resync: String,
    /// `server.sweep`; `None` leaves the bot's default.
    pub sweep: Option<String>,
    /// `server.read_token` (the dashboard's).
    pub read_token: Option<String>,
}

impl BotConfig {
    /// The bot (its own token, git over HTTP, `sandbox::BOT_BUDGET`, a 1s
    /// resync, listening on a free port) with its git cache in `cache_dir`.
    pub fn for_sandbox(sb: &Sandbox, cache_dir: &Path) -> BotConfig {
        BotConfig::for_world(&sb.world, &sb.api_url, cache_dir)
    }

    /// The same for a world served (or to be served) at `api_url`.
    pub fn for_world(world: &World, api_url: &str, cache_dir: &Path) -> BotConfig {
        BotConfig {
            api_url: api_url.to_string(),
            credentials: Credentials::Token(world.bot_token().to_string()),
            budget: Some(BOT_BUDGET.to_string()),
            git_url: crate::sandbox::git_http::url_template(api_url),
            cache_dir: cache_dir.to_path_buf(),
            server: true,
            listen: "127.0.0.1:0".into(),
            webhook_secret: None,
            resync: "1s".into(),
            sweep: None,
            read_token: None,
        }
    }

    /// The same, acting as `token`'s owner (a person's `promote`).
    pub fn token(mut self, token: &str) -> BotConfig {
        self.credentials = Credentials::Token(token.to_string());
        self
    }

    pub fn webhook_secret(mut self, secret: &str) -> BotConfig {
        self.webhook_secret = Some(secret.to_string());
        self
    }

    pub fn resync(mut self, resync: &str) -> BotConfig {
        self.resync = resync.to_string();
        self
    }

    /// The config as the bot reads it (and a person can read it: the
    /// comments say what is special about a sandbox's).
    pub fn text(&self) -> String {
        let mut out = format!("forge:\n  api_url: \"{}\"\n", self.api_url);
        match &self.credentials {
            Credentials::Token(token) => {
                out.push_str(&format!("  token: \"{token}\"   # a throwaway sandbox token\n"));
            }
            Credentials::App {
                app_id,
                installation_id,
                private_key,
            } => out.push_str(&format!(
                "  app:\n    app_id: {app_id}\n    installation_id: {installation_id}\n    private_key: \"{}\"\n",
                private_key.display()
            )),
        }
        if let Some(budget) = &self.budget {
            out.push_str(&format!(
                "  budget: {budget}   # the sandbox enforces GitHub's limits; writes need no spacing on 127.0.0.1\n"
            ));
        }
        out.push_str(&format!(
            "git:\n  url: \"{}\"\n  cache_dir: \"{}\"\nproduct:\n  repo: acme/product\n",
            self.git_url,
            self.cache_dir.display()
        ));
        if self.server {
            out.push_str(&format!(
                "server:\n  listen: \"{}\"\n  resync: {}\n",
                self.listen, self.resync
            ));
            for (key, value) in [
                ("webhook_secret", &self.webhook_secret),
                ("sweep", &self.sweep),
                ("read_token", &self.read_token),
            ] {
                if let Some(v) = value {
                    out.push_str(&format!("  {key}: \"{v}\"\n"));
                }
            }
        }
        out
    }

    /// The config, parsed as `serve` would parse it.
    pub fn parse(&self) -> Result<Config> {
        Config::parse(&self.text(), "the kit's bot config")
    }

    /// Write it where a `stagecoach serve` child reads it.
    pub fn write(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.text())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BotConfig {
        BotConfig {
            api_url: "http://127.0.0.1:1".into(),
            credentials: Credentials::Token("t".into()),
            budget: Some(BOT_BUDGET.into()),
            git_url: "http://127.0.0.1:1/git/{owner}/{name}.git".into(),
            cache_dir: "/tmp/cache".into(),
            server: true,
            listen: "127.0.0.1:0".into(),
            webhook_secret: Some("s".into()),
            resync: "300ms".into(),
            sweep: Some("5s".into()),
            read_token: Some("r".into()),
        }
    }

    #[test]
    fn a_persons_config_has_no_server_section() {
        let mut c = config();
        c.server = false;
        let text = c.text();
        assert!(!text.contains("server:"), "{text}");
        Config::parse(&text, "t").expect("parses");
    }

    #[test]
    fn every_option_reaches_the_parsed_config() {
        let parsed = Config::parse(&config().text(), "t").expect("parses");
        assert_eq!(parsed.forge.api_url, "http://127.0.0.1:1");
        assert_eq!(parsed.server.webhook_secret.as_deref(), Some("s"));
        assert_eq!(parsed.server.read_token.as_deref(), Some("r"));
        assert_eq!(parsed.server.resync, "300ms");
        assert_eq!(parsed.server.sweep, "5s");
    }

    #[test]
    fn an_app_signs_in_with_its_key_and_no_option_is_left_empty() {
        let mut c = config();
        c.credentials = Credentials::App {
            app_id: 42,
            installation_id: 7,
            private_key: "/k.pem".into(),
        };
        (c.budget, c.webhook_secret, c.sweep, c.read_token) = (None, None, None, None);
        let text = c.text();
        assert!(
            !text.contains("budget") && !text.contains("secret"),
            "{text}"
        );
        let parsed = Config::parse(&text, "t").expect("parses");
        let app = parsed.forge.app.expect("an app");
        assert_eq!((app.app_id, app.installation_id), (42, 7), "{text}");
        assert!(parsed.forge.token.is_none(), "{text}");
    }
}
