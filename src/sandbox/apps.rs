//! GitHub App authentication, as GitHub does it: the app signs a JWT with its
//! private key (RS256, `iss` = app id); `GET /app` and
//! `POST /app/installations/{id}/access_tokens` check it against the app's
//! public key and mint an installation token that acts as `<slug>[bot]`.
//! `POST /_sandbox/app` registers an app (tests bring their own key pair).
//!
//! GitHub's rules on time, as its docs give them: the JWT's `iat` must not be
//! in the future and its `exp` at most 10 minutes ahead (by GitHub's clock:
//! the sandbox's clock can be set off the machine's to play a skew); an
//! installation token lives an hour (shorter for tests) and is refused with
//! 401 "Bad credentials" after; `DELETE /_sandbox/app/tokens` revokes every
//! installation token at once, as an admin suspending the app would.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::server::{ApiError, Shared};
use super::state::AppRecord;
use crate::forge::Permission;

/// How many earlier installation tokens of an App stay good.
const EARLIER_TOKENS: usize = 4;

/// GitHub's limit on how far ahead a JWT's `exp` may be.
const JWT_MAX_LIFE: i64 = 10 * 60;

/// How an App's tokens live.
#[derive(Debug, Clone)]
pub struct TokenRules {
    /// An installation token's life: an hour on GitHub.
    pub ttl: chrono::Duration,
    /// The sandbox's clock minus the machine's: positive plays a GitHub
    /// ahead of the bot, negative one behind.
    pub clock_offset: chrono::Duration,
}

impl Default for TokenRules {
    fn default() -> Self {
        Self {
            ttl: chrono::Duration::hours(1),
            clock_offset: chrono::Duration::zero(),
        }
    }
}

#[derive(Deserialize)]
struct NewApp {
    app_id: u64,
    slug: String,
    installation_id: u64,
    public_key_pem: String,
}

/// Register an app; its bot user gets admin on every repo, like an
/// installation on all of the org's repositories.
pub async fn register(State(app): State<Shared>, body: Bytes) -> Response {
    let new: NewApp = match serde_json::from_slice(&body) {
        Ok(n) => n,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("expected {{app_id, slug, installation_id, public_key_pem}}: {e}"),
            )
                .into_response();
        }
    };
    if jsonwebtoken::DecodingKey::from_rsa_pem(new.public_key_pem.as_bytes()).is_err() {
        return (
            StatusCode::BAD_REQUEST,
            "public_key_pem: not an RSA public key in PEM form",
        )
            .into_response();
    }
    let mut state = app.state.lock().await;
    let login = format!("{}[bot]", new.slug);
    state.ensure_user(&login, "GitHub App", || {
        format!("ghs_unminted_{}", new.app_id)
    });
    for repo in state.repos.values_mut() {
        repo.permissions.insert(login.clone(), Permission::Admin);
    }
    state.apps.insert(
        new.app_id,
        AppRecord {
            slug: new.slug,
            installation_id: new.installation_id,
            public_key_pem: new.public_key_pem,
        },
    );
    if let Err(e) = state.save(&app.dir) {
        tracing::warn!("sandbox state not saved: {e}");
    }
    StatusCode::NO_CONTENT.into_response()
}

/// The app a request's JWT proves to be, or GitHub's 401.
fn authenticate(
    headers: &HeaderMap,
    apps: &std::collections::BTreeMap<u64, AppRecord>,
    now: i64,
) -> Result<(u64, AppRecord), ApiError> {
    let refused = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "A JSON web token could not be decoded",
        )
    };
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(refused)?;
    let header = jsonwebtoken::decode_header(token).map_err(|_| refused())?;
    if header.alg != jsonwebtoken::Algorithm::RS256 {
        return Err(refused());
    }
    // GitHub reads `iss` first to find the key, then checks the signature.
    #[derive(Deserialize)]
    struct Claims {
        iss: serde_json::Value,
        iat: Option<serde_json::Value>,
        exp: serde_json::Value,
    }
    for (id, record) in apps {
        let Ok(key) = jsonwebtoken::DecodingKey::from_rsa_pem(record.public_key_pem.as_bytes())
        else {
            continue;
        };
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        // `iss` is checked below against the app id (jsonwebtoken's own `iss`
        // check needs the expected issuer up front), and the times against
        // the sandbox's clock with GitHub's messages (jsonwebtoken's checks
        // use the machine's clock and its own leeway).
        validation.set_required_spec_claims(&["exp"]);
        validation.validate_exp = false;
        if let Ok(data) = jsonwebtoken::decode::<Claims>(token, &key, &validation) {
            let iss = match &data.claims.iss {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if iss == id.to_string() {
                check_times(&data.claims.iat, &data.claims.exp, now)?;
                return Ok((*id, record.clone()));
            }
        }
    }
    Err(refused())
}

/// GitHub's checks of a JWT's times, with its messages (401 each).
fn check_times(
    iat: &Option<serde_json::Value>,
    exp: &serde_json::Value,
    now: i64,
) -> Result<(), ApiError> {
    let refused = |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, message);
    let iat = iat.as_ref().and_then(serde_json::Value::as_i64).ok_or_else(|| {
        refused("'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued")
    })?;
    if iat > now {
        return Err(refused(
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
        ));
    }
    let exp = exp.as_i64().filter(|exp| *exp > now).ok_or_else(|| {
        refused("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires")
    })?;
    if exp > now + JWT_MAX_LIFE {
        return Err(refused(
            "'Expiration time' claim ('exp') is too far in the future",
        ));
    }
    Ok(())
}

pub async fn get_app(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let state = app.state.lock().await;
    match authenticate(&headers, &state.apps, app.now().timestamp()) {
        Ok((id, record)) => Json(json!({
            "id": id,
            "slug": record.slug,
            "name": record.slug,
            "owner": {"login": super::world::OWNER},
            "permissions": {"contents": "write", "pull_requests": "write", "issues": "write", "statuses": "write", "members": "read"},
        }))
        .into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn access_token(
    State(app): State<Shared>,
    Path(installation): Path<u64>,
    headers: HeaderMap,
) -> Response {
    let mut state = app.state.lock().await;
    let now = app.now();
    let (_, record) = match authenticate(&headers, &state.apps, now.timestamp()) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    if record.installation_id != installation {
        return ApiError::not_found().into_response();
    }
    let token = format!("ghs_{}", hex::encode(rand::random::<[u8; 18]>()));
    let login = format!("{}[bot]", record.slug);
    let expires = now + app.app_tokens.ttl;
    if let Some(user) = state.users.get_mut(&login) {
        // Earlier tokens stay good until they expire, as on GitHub (a few kept).
        let earlier = std::mem::replace(&mut user.token, token.clone());
        user.earlier_tokens.insert(0, earlier);
        user.earlier_tokens.truncate(EARLIER_TOKENS);
        user.token_expiry.insert(token.clone(), expires.timestamp());
        let kept: Vec<&String> = std::iter::once(&user.token)
            .chain(&user.earlier_tokens)
            .collect();
        let kept: std::collections::BTreeSet<String> = kept.into_iter().cloned().collect();
        user.token_expiry.retain(|t, _| kept.contains(t));
    }
    if let Ok(mut s) = app.stats.lock() {
        s.tokens_minted += 1;
    }
    if let Err(e) = state.save(&app.dir) {
        tracing::warn!("sandbox state not saved: {e}");
    }
    let expires_at = expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    (
        StatusCode::CREATED,
        Json(json!({
            "token": token,
            "expires_at": expires_at,
            "permissions": {"contents": "write", "pull_requests": "write", "issues": "write", "statuses": "write"},
            "repository_selection": "all",
        })),
    )
        .into_response()
}

/// Revoke every App's installation tokens: the next request with one is
/// refused (401), as after `DELETE /installation/token` on GitHub.
pub async fn revoke_all(State(app): State<Shared>) -> Response {
    let mut state = app.state.lock().await;
    let now = app.now().timestamp();
    let bots: Vec<String> = state
        .apps
        .values()
        .map(|a| format!("{}[bot]", a.slug))
        .collect();
    for login in bots {
        if let Some(user) = state.users.get_mut(&login) {
            let tokens: Vec<String> = std::iter::once(user.token.clone())
                .chain(user.earlier_tokens.iter().cloned())
                .collect();
            for token in tokens {
                user.token_expiry.insert(token, now);
            }
        }
    }
    if let Err(e) = state.save(&app.dir) {
        tracing::warn!("sandbox state not saved: {e}");
    }
    StatusCode::NO_CONTENT.into_response()
}
