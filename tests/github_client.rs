//! The GitHub client over real HTTP on 127.0.0.1. The sandbox (a
//! GitHub-compatible server) plays GitHub; a few edge cases the sandbox cannot
//! provoke (a server echoing credentials) use a tiny axum server of their own.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use stagecoach::forge::github::{GitHub, GitHubAuth, RetryPolicy};
use stagecoach::forge::{Forge, RepoId};
use stagecoach::metrics::Metrics;

const FAKE_TOKEN: &str = "ghp_fake_token_that_must_never_leak_0123456789";

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_wait: Duration::from_secs(3),
    }
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_server_echoing_the_token_in_an_error_does_not_leak_it_into_our_error() {
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    let app = Router::new().route(
        "/repos/acme/product/pulls/{n}",
        get(move |headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none")
                    .to_string();
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!(r#"{{"message": "bad credentials {auth}"}}"#),
                )
            }
        }),
    );
    let base = serve(app).await;
    let gh = GitHub::new(&base, GitHubAuth::Token(FAKE_TOKEN.into()))
        .unwrap()
        .with_retry_policy(fast_retries());
    let err = gh
        .get_pull(&RepoId::new("acme", "product"), 1)
        .await
        .expect_err("422 is an error");
    let text = format!("{err} {err:?} {gh:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "a 422 is not retried");
    // The server did get the token (it echoed it), and our error still hides it.
    assert!(text.contains("bad credentials Bearer <redacted>"), "{text}");
    assert!(!text.contains(FAKE_TOKEN), "{text}");
    assert!(text.contains("GET /repos/acme/product/pulls/1"), "{text}");
}

#[tokio::test]
async fn server_errors_are_retried_a_bounded_number_of_times_and_counted() {
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    let app = Router::new().route(
        "/repos/acme/product/tags",
        get(move || {
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                (StatusCode::BAD_GATEWAY, r#"{"message": "Server Error"}"#)
            }
        }),
    );
    let base = serve(app).await;
    let metrics = Arc::new(Metrics::new());
    let gh = GitHub::new(&base, GitHubAuth::Token(FAKE_TOKEN.into()))
        .unwrap()
        .with_retry_policy(fast_retries())
        .with_metrics(metrics.clone());
    let err = gh
        .list_tags(&RepoId::new("acme", "product"))
        .await
        .expect_err("always 502");
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert!(err.message().contains("502"), "{err}");
    assert_eq!(metrics.github_request_count("tags", "502"), 3);
}

#[tokio::test]
async fn an_unreachable_api_is_a_world_error_after_retries() {
    // Bind and drop: nothing listens on this port any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let gh = GitHub::new(
        &format!("http://{addr}"),
        GitHubAuth::Token(FAKE_TOKEN.into()),
    )
    .unwrap()
    .with_retry_policy(fast_retries());
    let err = gh.whoami().await.expect_err("nothing listens");
    assert_eq!(err.exit_code(), 1);
    assert!(!err.message().contains(FAKE_TOKEN));
}

#[tokio::test]
async fn a_bad_api_url_or_app_key_is_bad_input() {
    let e = GitHub::new("not a url", GitHubAuth::Token("t".into())).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    let e = GitHub::new(
        "https://api.github.com",
        GitHubAuth::App {
            app_id: 1,
            installation_id: 2,
            private_key_pem:
                b"-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----\n".to_vec(),
        },
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(!e.message().contains("nope"));
}
