//! GitHub's rules on an App's credentials, as the sandbox enforces them and
//! the bot lives by them: a JWT's `iat` not in the future and `exp` at most
//! ten minutes ahead (with GitHub's clock a little off the bot's), an
//! installation token that cannot read `/user` and expires, and the bot
//! minting a new token once when one is refused — for the API and for git —
//! and before one expires, in the middle of a road.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;
use stagecoach::forge::github::{GitHub, GitHubAuth};
use stagecoach::forge::{Forge, RepoId};
use stagecoach::git::workspace::{GitAuth, Identity, Workspace};
use stagecoach::sandbox::{self, Sandbox, SandboxOptions, TokenRules};
use support::{
    APP_ID, APP_INSTALLATION, APP_PRIVATE_KEY, LOW, Road, RoadOptions, http_client, number,
    register_app, wait_for,
};

async fn sandbox_with(dir: &std::path::Path, rules: TokenRules) -> Sandbox {
    let mut opts = SandboxOptions::new(dir);
    opts.app_tokens = rules;
    let sb = sandbox::start(opts).await.expect("sandbox");
    register_app(&sb).await;
    sb
}

fn app_client(sb: &Sandbox) -> GitHub {
    GitHub::new(
        &sb.api_url,
        GitHubAuth::App {
            app_id: APP_ID,
            installation_id: APP_INSTALLATION,
            private_key_pem: std::fs::read(APP_PRIVATE_KEY).expect("private key"),
        },
    )
    .expect("client")
}

/// A JWT for the test App with these times (seconds from now).
fn jwt(iat: Option<i64>, exp: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = serde_json::json!({"iss": APP_ID.to_string(), "exp": now + exp});
    if let Some(iat) = iat {
        claims["iat"] = (now + iat).into();
    }
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(
        &std::fs::read(APP_PRIVATE_KEY).expect("private key"),
    )
    .expect("key");
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .expect("sign")
}

/// `POST /app/installations/{id}/access_tokens` with `jwt`: status and body.
async fn mint(sb: &Sandbox, jwt: &str) -> (u16, Value) {
    let r = http_client()
        .post(format!(
            "{}/app/installations/{APP_INSTALLATION}/access_tokens",
            sb.api_url
        ))
        .bearer_auth(jwt)
        .send()
        .await
        .expect("mint");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get_as(sb: &Sandbox, token: &str, path: &str) -> (u16, Value) {
    let r = http_client()
        .get(format!("{}{path}", sb.api_url))
        .header("authorization", format!("token {token}"))
        .header("user-agent", "test")
        .send()
        .await
        .expect("get");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn revoke_all(sb: &Sandbox) {
    let r = http_client()
        .delete(format!("{}/_sandbox/app/tokens", sb.api_url))
        .send()
        .await
        .expect("revoke");
    assert!(r.status().is_success(), "{}", r.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwt_is_held_to_githubs_rules_on_time() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = sandbox_with(tmp.path(), TokenRules::default()).await;
    let cases: &[(Option<i64>, i64, u16, &str)] = &[
        // What GitHub's docs recommend: issued a minute ago, 9 minutes left.
        (Some(-60), 540, 201, ""),
        (Some(30), 540, 401, "'Issued at' claim ('iat')"),
        (None, 540, 401, "'Issued at' claim ('iat')"),
        (Some(-60), 660, 401, "is too far in the future"),
        (
            Some(-120),
            -1,
            401,
            "'Expiration time' claim ('exp') must be",
        ),
    ];
    for (iat, exp, want, says) in cases {
        let (status, body) = mint(&sb, &jwt(*iat, *exp)).await;
        assert_eq!(status, *want, "iat {iat:?}, exp {exp}: {body}");
        if *want == 201 {
            assert!(
                body["token"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("ghs_")),
                "{body}"
            );
        } else {
            let message = body["message"].as_str().unwrap_or_default();
            assert!(message.contains(says), "iat {iat:?}, exp {exp}: {message}");
        }
    }
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bots_jwt_passes_with_githubs_clock_up_to_a_minute_off_and_says_why_beyond() {
    for (offset, passes) in [(-50, true), (50, true), (-120, false)] {
        let tmp = tempfile::tempdir().expect("tmp");
        let rules = TokenRules {
            clock_offset: chrono::Duration::seconds(offset),
            ..TokenRules::default()
        };
        let sb = sandbox_with(tmp.path(), rules).await;
        let gh = app_client(&sb);
        let token = gh.git_token().await;
        if passes {
            assert!(
                token.as_ref().is_ok_and(|t| t.is_some()),
                "GitHub's clock {offset} s off: {:?}",
                token.err()
            );
        } else {
            let message = token
                .expect_err("a JWT from the future is refused")
                .to_string();
            assert!(
                message.contains("'Issued at' claim") && message.contains("clock"),
                "{message}"
            );
            assert_eq!(message.lines().count(), 1, "{message}");
            assert!(!message.contains("BEGIN"), "{message}");
        }
        sb.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installation_token_cannot_read_the_user_and_is_refused_once_expired() {
    let tmp = tempfile::tempdir().expect("tmp");
    let rules = TokenRules {
        ttl: chrono::Duration::seconds(3),
        ..TokenRules::default()
    };
    let sb = sandbox_with(tmp.path(), rules).await;
    let (status, body) = mint(&sb, &jwt(Some(-60), 540)).await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().expect("token").to_string();
    let expires: chrono::DateTime<chrono::Utc> = body["expires_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("expires_at");
    assert!(expires > chrono::Utc::now(), "{expires}");

    let (status, body) = get_as(&sb, &token, "/user").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["message"], "Resource not accessible by integration");
    assert_eq!(get_as(&sb, &token, "/repos/acme/payments").await.0, 200);
    // The sandbox's hour is three seconds here: wait for it to pass.
    wait_for("the token to expire", || async {
        (get_as(&sb, &token, "/repos/acme/payments").await.0 == 401).then_some(())
    })
    .await;
    assert!(chrono::Utc::now() >= expires, "refused before its expiry");
    assert_eq!(
        get_as(&sb, &token, "/repos/acme/payments").await.1["message"],
        "Bad credentials"
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_client_mints_again_once_when_github_refuses_its_token() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = sandbox_with(tmp.path(), TokenRules::default()).await;
    let gh = app_client(&sb);
    let payments = RepoId::parse("acme/payments").expect("repo");
    gh.list_open_pulls(&payments).await.expect("before");
    assert_eq!(sb.stats().tokens_minted, 1);
    revoke_all(&sb).await;
    // Revoked: the next request is refused, a new token minted, the request sent again.
    gh.list_open_pulls(&payments)
        .await
        .expect("after the revocation");
    let stats = sb.stats();
    assert_eq!(stats.tokens_minted, 2, "{stats:?}");
    assert_eq!(stats.tokens_refused, 1, "{stats:?}");
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_asks_once_for_a_new_token_when_the_remote_refuses_its_own() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = sandbox_with(tmp.path(), TokenRules::default()).await;
    let gh = Arc::new(app_client(&sb));
    let first = gh.git_token().await.expect("mint").expect("a token");
    revoke_all(&sb).await;
    let url = sb
        .git_http_url_template()
        .replace("{owner}/{name}", "acme/payments");
    let identity = Identity {
        name: "t".into(),
        email: "t@example.com".into(),
    };
    let asked = Arc::new(AtomicUsize::new(0));
    let runtime = tokio::runtime::Handle::current();
    let auth = GitAuth {
        token: Some(first.clone()),
        renew: Some({
            let (gh, asked) = (gh.clone(), asked.clone());
            Arc::new(move |refused: &str| {
                asked.fetch_add(1, Ordering::SeqCst);
                runtime
                    .block_on(gh.git_token_refused(refused))
                    .ok()
                    .flatten()
            })
        }),
    };
    let cache = tmp.path().join("cache");
    let (url2, auth2, identity2, cache2) =
        (url.clone(), auth.clone(), identity.clone(), cache.clone());
    tokio::task::spawn_blocking(move || Workspace::open(&cache2, &url2, &auth2, &identity2))
        .await
        .expect("join")
        .expect("the fetch goes through with the new token");
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    assert_eq!(sb.stats().tokens_minted, 2);

    // Nothing to renew with: one line, no token in it.
    revoke_all(&sb).await;
    let stale = GitAuth::with_token(Some(first.clone()));
    let opened = tokio::task::spawn_blocking(move || {
        Workspace::open(&tmp.path().join("cache-2"), &url, &stale, &identity).map(|_| ())
    })
    .await
    .expect("join");
    let Err(err) = opened else {
        panic!("a revoked token was taken");
    };
    let message = err.to_string();
    assert!(message.contains("refused the token"), "{message}");
    assert!(!message.contains(&first), "{message}");
    sb.shutdown().await;
}

/// Low-risk roads one after another as an App whose tokens live six
/// seconds: the API client renews each before it expires, so GitHub never
/// refuses one (git, whose operations can outlast the margin, renews on a
/// refusal if it must).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_renews_its_token_before_it_expires_mid_road() {
    let road = Road::start_with(RoadOptions {
        app: Some(support::test_app(TokenRules {
            ttl: chrono::Duration::seconds(6),
            ..TokenRules::default()
        })),
        ..RoadOptions::default()
    })
    .await;
    // Until the roads have outlived two tokens.
    let mut roads = 0;
    while road.sb.stats().tokens_minted < 3 {
        roads += 1;
        assert!(
            roads <= 20,
            "20 roads and fewer than three tokens: {:?}",
            road.sb.stats()
        );
        let tag = format!("v1.4.{}", 2 + roads);
        let pr = road
            .released(
                "payments",
                &format!("fix/app-{roads}"),
                "fix: as an app",
                LOW,
                &tag,
            )
            .await;
        road.wait_merged("product", number(&pr)).await;
    }
    let stats = road.sb.stats();
    assert_eq!(
        stats.tokens_refused, 0,
        "an API request arrived with an expired token: {stats:?}"
    );
    // The renewal margin itself, seen from GitHub's side: a token is taken
    // for a request only while more than a quarter of its life is left
    // (1.25–1.5 s of a 6-s token, whose `expires_at` is in whole seconds),
    // so every request arrives with well over 0.5 s left. Failing this
    // needs 0.75 s between taking the token and the request reaching the
    // sandbox on loopback — a broken margin, not a slow machine: with no
    // margin, requests arrive in a token's last few milliseconds.
    let least = stats
        .least_token_life_ms
        .expect("API requests came with an installation token");
    eprintln!("the least life a token had left on arrival: {least} ms");
    assert!(
        least >= 500,
        "an API request arrived with its token {least} ms from expiry (the renewal margin is a quarter of its life): {stats:?}"
    );
    road.stop().await;
}

/// A road as an App whose tokens are all revoked once its product PR is
/// open: the next API call and the next git fetch are refused, a new token
/// is minted, and the road goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_road_goes_on_when_the_apps_tokens_are_revoked_mid_road() {
    let road = Road::start_with(RoadOptions {
        app: Some(support::test_app(TokenRules::default())),
        ..RoadOptions::default()
    })
    .await;
    let pr = road
        .released("payments", "fix/app", "fix: as an app", LOW, "v1.4.3")
        .await;
    let minted = road.sb.stats().tokens_minted;
    revoke_all(&road.sb).await;
    road.wait_merged("product", number(&pr)).await;
    let merged = road.pull("product", number(&pr)).await;
    assert_eq!(merged["merged_by"]["login"], "stagecoach[bot]");
    road.wait_tag("v1.0.1").await;
    let stats = road.sb.stats();
    assert!(
        stats.tokens_minted > minted,
        "a new token after the revocation: {stats:?}"
    );
    assert!(
        stats.tokens_refused + stats.git_tokens_refused >= 1,
        "the revocation was met: {stats:?}"
    );
    road.stop().await;
}
