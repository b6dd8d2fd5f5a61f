//! A GitHub App's installation token, shared by the API client and git:
//! minted with the App's JWT, renewed before it expires, and renewed once
//! more when GitHub refuses it (revoked, or our clock and GitHub's disagree).

use chrono::{DateTime, Duration, Utc};
use octocrab::Octocrab;

use crate::error::{Error, Result};

/// Renew this long before GitHub says a token expires, at most: a request
/// (or a git push) started with a token must not arrive after its hour.
const RENEW_BEFORE: Duration = Duration::minutes(5);

/// One minted token and its life.
#[derive(Clone)]
struct Minted {
    token: String,
    minted_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// Whether a token minted at `minted_at` and expiring at `expires_at` is
/// still good to start a request with at `now`: it must have more than
/// five minutes left, or more than a quarter of its life when its whole life
/// is short (GitHub's is an hour; a test's may be seconds).
pub fn fresh(minted_at: DateTime<Utc>, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    let life = expires_at - minted_at;
    let margin = RENEW_BEFORE.min(life / 4);
    expires_at - margin > now
}

/// The installation's current token, minted on demand.
pub struct InstallationTokens {
    /// Authenticated as the App itself (a JWT, re-signed by octocrab per request).
    app: Octocrab,
    installation_id: u64,
    held: tokio::sync::Mutex<Option<Minted>>,
}

impl InstallationTokens {
    pub fn new(app: Octocrab, installation_id: u64) -> Self {
        Self {
            app,
            installation_id,
            held: tokio::sync::Mutex::new(None),
        }
    }

    /// The App's client (for `GET /app`).
    pub fn app(&self) -> &Octocrab {
        &self.app
    }

    /// A token good for a request started now.
    pub async fn current(&self) -> Result<String> {
        let mut held = self.held.lock().await;
        if let Some(m) = held.as_ref()
            && fresh(m.minted_at, m.expires_at, Utc::now())
        {
            return Ok(m.token.clone());
        }
        let minted = self.mint().await?;
        let token = minted.token.clone();
        *held = Some(minted);
        Ok(token)
    }

    /// GitHub refused `token` (401): forget it, if it is still the one held,
    /// and hand out a new one. A token renewed meanwhile by another request
    /// is handed out as it is, so many requests refused at once mint once.
    pub async fn refused(&self, token: &str) -> Result<String> {
        {
            let mut held = self.held.lock().await;
            if held.as_ref().is_some_and(|m| m.token == token) {
                *held = None;
            }
        }
        self.current().await
    }

    async fn mint(&self) -> Result<Minted> {
        #[derive(serde::Deserialize)]
        struct Answer {
            token: String,
            expires_at: DateTime<Utc>,
        }
        let id = self.installation_id;
        let minted_at = Utc::now();
        let answer: Answer = self
            .app
            .post(
                format!("/app/installations/{id}/access_tokens"),
                None::<&()>,
            )
            .await
            .map_err(|e| {
                Error::world(format!(
                    "GitHub POST /app/installations/{id}/access_tokens (the App's installation token): {}{}",
                    one_line(&e),
                    " (check forge.app.app_id, installation_id, the private key, and this machine's clock)"
                ))
            })?;
        tracing::info!(
            installation = id,
            expires_at = %answer.expires_at,
            "minted a GitHub App installation token"
        );
        Ok(Minted {
            token: answer.token,
            minted_at,
            expires_at: answer.expires_at,
        })
    }
}

/// octocrab's error as one line: GitHub's message when it gave one.
fn one_line(e: &octocrab::Error) -> String {
    match e {
        octocrab::Error::GitHub { source, .. } => {
            format!("{} {}", source.status_code, source.message)
        }
        other => other
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap_or_default()
    }

    #[test]
    fn an_hour_long_token_is_renewed_five_minutes_before_it_expires() {
        let (minted, expires) = (at(0), at(3600));
        assert!(fresh(minted, expires, at(3600 - 301)));
        assert!(!fresh(minted, expires, at(3600 - 300)));
        assert!(!fresh(minted, expires, at(3600)));
    }

    #[test]
    fn a_short_lived_token_is_renewed_with_a_quarter_of_its_life_left() {
        let (minted, expires) = (at(0), at(20));
        assert!(fresh(minted, expires, at(14)));
        assert!(!fresh(minted, expires, at(15)));
    }

    #[test]
    fn a_token_that_expired_before_it_arrived_is_never_fresh() {
        assert!(!fresh(at(0), at(-10), at(0)));
    }
}
