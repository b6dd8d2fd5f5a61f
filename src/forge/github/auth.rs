//! How the bot proves who it is to GitHub: a token, or a GitHub App
//! installation. Secrets live here and nowhere else, and never print.

use std::fmt;

use crate::config::Config;
use crate::error::{Error, Result};

/// Credentials for the GitHub API. `Debug` never shows a secret.
#[derive(Clone)]
pub enum GitHubAuth {
    /// A personal access token, fine-grained token, or the sandbox's tokens.
    Token(String),
    /// A GitHub App acting as one installation: its tokens are minted from
    /// a JWT and renewed before they expire (`installation.rs`).
    App {
        app_id: u64,
        installation_id: u64,
        private_key_pem: Vec<u8>,
    },
}

impl fmt::Debug for GitHubAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GitHubAuth::Token(_) => f.write_str("Token(<redacted>)"),
            GitHubAuth::App {
                app_id,
                installation_id,
                ..
            } => f
                .debug_struct("App")
                .field("app_id", app_id)
                .field("installation_id", installation_id)
                .field("private_key_pem", &"<redacted>")
                .finish(),
        }
    }
}

impl GitHubAuth {
    /// From the config: an App when `forge.app` is set, else a token from the
    /// environment or the file.
    pub fn from_config(config: &Config) -> Result<Self> {
        if let Some(app) = &config.forge.app {
            let pem = std::fs::read(&app.private_key).map_err(|e| {
                Error::input(format!(
                    "forge.app.private_key `{}`: cannot read: {e}",
                    app.private_key.display()
                ))
            })?;
            return Ok(GitHubAuth::App {
                app_id: app.app_id,
                installation_id: app.installation_id,
                private_key_pem: pem,
            });
        }
        let var = config
            .forge
            .token_env
            .as_deref()
            .unwrap_or("STAGECOACH_TOKEN");
        config.token().map(GitHubAuth::Token).ok_or_else(|| {
            Error::input(format!(
                "forge: no credentials: set the environment variable {var}, forge.token, or forge.app"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_secrets() {
        let token = GitHubAuth::Token("ghp_supersecret".into());
        assert!(!format!("{token:?}").contains("supersecret"));
        let app = GitHubAuth::App {
            app_id: 1,
            installation_id: 2,
            private_key_pem: b"-----BEGIN RSA PRIVATE KEY-----secretkey".to_vec(),
        };
        let shown = format!("{app:?}");
        assert!(
            !shown.contains("secretkey") && !shown.contains("BEGIN"),
            "{shown}"
        );
        assert!(shown.contains("app_id: 1"));
    }
}
