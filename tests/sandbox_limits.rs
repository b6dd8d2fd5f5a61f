//! GitHub's rate limits in the sandbox, over real HTTP: the primary limit
//! refuses with `x-ratelimit-remaining: 0` until its window resets (304s are
//! free), the secondary limits refuse in GitHub's words with `retry-after`
//! only every other time, and the bot's GitHub client waits every refusal
//! out without losing or doubling a write.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stagecoach::forge::github::{BudgetLimits, GitHub, GitHubAuth};
use stagecoach::forge::{Forge, RepoId};
use stagecoach::metrics::Metrics;
use stagecoach::sandbox::limits::Limits;
use stagecoach::sandbox::{self, Sandbox, SandboxOptions, world};

async fn start(dir: &std::path::Path, limits: Limits) -> Sandbox {
    let mut opts = SandboxOptions::new(dir);
    opts.limits = limits;
    sandbox::start(opts).await.expect("sandbox starts")
}

fn bot_only(limits: Limits) -> Limits {
    Limits {
        logins: Some(vec![world::BOT.to_string()]),
        ..limits
    }
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn call(
    sb: &Sandbox,
    login: &str,
    method: reqwest::Method,
    path: &str,
    etag: Option<&str>,
) -> Answer {
    let http = stagecoach::engine::http::client_builder()
        .build()
        .expect("http");
    let token = sb.world.token(login).expect("user");
    let mut req = http
        .request(method.clone(), format!("{}{path}", sb.api_url))
        .header("Authorization", format!("Bearer {token}"));
    if let Some(e) = etag {
        req = req.header("If-None-Match", e);
    }
    if method == reqwest::Method::POST {
        req = req.json(&json!({"body": "hello"}));
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

fn header<'a>(a: &'a Answer, name: &str) -> Option<&'a str> {
    a.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn the_primary_limit_refuses_with_remaining_zero_until_the_window_resets() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = start(
        tmp.path(),
        bot_only(Limits {
            primary: 3,
            primary_window: Duration::from_secs(2),
            ..Limits::default()
        }),
    )
    .await;
    let get = reqwest::Method::GET;
    let first = call(&sb, world::BOT, get.clone(), "/user", None).await;
    assert_eq!(first.status, 200);
    assert_eq!(header(&first, "x-ratelimit-remaining"), Some("2"));
    let etag = header(&first, "etag").expect("an etag").to_string();
    let cached = call(&sb, world::BOT, get.clone(), "/user", Some(&etag)).await;
    assert_eq!(cached.status, 304);
    assert_eq!(
        header(&cached, "x-ratelimit-remaining"),
        Some("2"),
        "a 304 is free"
    );
    for remaining in ["1", "0"] {
        let a = call(&sb, world::BOT, get.clone(), "/user", None).await;
        assert_eq!(
            (a.status, header(&a, "x-ratelimit-remaining")),
            (200, Some(remaining))
        );
    }
    let refused = call(&sb, world::BOT, get.clone(), "/user", None).await;
    assert_eq!(refused.status, 403);
    assert_eq!(header(&refused, "x-ratelimit-remaining"), Some("0"));
    assert!(header(&refused, "x-ratelimit-reset").is_some());
    assert!(
        refused.body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("API rate limit exceeded for user ID")),
        "{}",
        refused.body
    );
    assert!(
        refused.body["documentation_url"]
            .as_str()
            .is_some_and(|u| u.contains("rate-limits-for-the-rest-api")),
        "{}",
        refused.body
    );
    // Other tokens have their own limits.
    assert_eq!(
        call(&sb, "alice", get.clone(), "/user", None).await.status,
        200
    );
    // The window resets: the same token is served again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let a = call(&sb, world::BOT, get.clone(), "/user", None).await;
        if a.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the primary window never reset");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stats = sb.stats();
    assert!(
        stats.users[world::BOT].refused["primary"] >= 1,
        "{:?}",
        stats.users[world::BOT]
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn secondary_limits_refuse_in_githubs_words_with_retry_after_only_sometimes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = start(
        tmp.path(),
        bot_only(Limits {
            points_per_minute: 10,
            ..Limits::default()
        }),
    )
    .await;
    let get = reqwest::Method::GET;
    for _ in 0..10 {
        assert_eq!(
            call(&sb, world::BOT, get.clone(), "/user", None)
                .await
                .status,
            200
        );
    }
    let refused = call(&sb, world::BOT, get.clone(), "/user", None).await;
    assert_eq!(refused.status, 403);
    assert!(
        refused.body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("You have exceeded a secondary rate limit")),
        "{}",
        refused.body
    );
    assert!(
        refused.body["documentation_url"]
            .as_str()
            .is_some_and(|u| u.ends_with("#about-secondary-rate-limits")),
        "{}",
        refused.body
    );
    assert_ne!(
        header(&refused, "x-ratelimit-remaining"),
        Some("0"),
        "not the primary limit"
    );
    let with = header(&refused, "retry-after").map(str::to_string);
    let again = call(&sb, world::BOT, get.clone(), "/user", None).await;
    assert_eq!(again.status, 403);
    let without = header(&again, "retry-after").map(str::to_string);
    assert!(
        with.is_some() != without.is_some(),
        "retry-after only every other time: {with:?}, {without:?}"
    );
    assert_eq!(sb.stats().users[world::BOT].refused["points"], 2);
    sb.shutdown().await;
}

#[tokio::test]
async fn content_creation_is_limited_per_minute_and_edits_are_not_content() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = start(
        tmp.path(),
        bot_only(Limits {
            content_per_minute: 2,
            ..Limits::default()
        }),
    )
    .await;
    let post = reqwest::Method::POST;
    let path = "/repos/acme/payments/issues/1/comments";
    // No PR #1: a 404 still counts as a content-creating request, as it does on GitHub.
    for _ in 0..2 {
        assert_ne!(
            call(&sb, world::BOT, post.clone(), path, None).await.status,
            403
        );
    }
    let refused = call(&sb, world::BOT, post.clone(), path, None).await;
    assert_eq!(refused.status, 403);
    assert!(
        refused.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("temporarily blocked from content creation")),
        "{}",
        refused.body
    );
    let edit = call(
        &sb,
        world::BOT,
        reqwest::Method::PATCH,
        "/repos/acme/payments/issues/comments/1",
        None,
    )
    .await;
    assert_ne!(edit.status, 403, "an edit is not new content");
    assert_eq!(
        sb.stats().users[world::BOT].refused["content_per_minute"],
        1
    );
    sb.shutdown().await;
}

fn client(sb: &Sandbox, metrics: &Arc<Metrics>, limits: BudgetLimits) -> GitHub {
    GitHub::new(
        &sb.api_url,
        GitHubAuth::Token(sb.world.bot_token().to_string()),
    )
    .expect("client")
    .with_metrics(metrics.clone())
    .with_budget(limits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_waits_out_content_refusals_and_creates_each_comment_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = start(
        tmp.path(),
        bot_only(Limits {
            content_per_minute: 2,
            minute: Duration::from_secs(2),
            ..Limits::default()
        }),
    )
    .await;
    let alice = sb.person("alice").expect("alice");
    alice
        .commit_files("payments", "fees", &[("src/fee.txt", "fees")], "feat: fees")
        .await
        .expect("commit");
    let n = alice
        .open_pr("payments", "fees", "main", "feat: fees", "")
        .await
        .expect("PR");
    let metrics = Arc::new(Metrics::new());
    let gh = client(
        &sb,
        &metrics,
        BudgetLimits {
            write_spacing: Duration::ZERO,
            secondary_backoff: Duration::from_millis(500),
            ..BudgetLimits::default()
        },
    );
    let payments = RepoId::new("acme", "payments");
    for i in 0..5 {
        gh.create_comment(&payments, n, &format!("comment {i}"))
            .await
            .expect("every comment is created, however long it waits");
    }
    let bodies: Vec<String> = gh
        .list_comments(&payments, n)
        .await
        .expect("comments")
        .into_iter()
        .map(|c| c.body)
        .collect();
    assert_eq!(
        bodies,
        (0..5).map(|i| format!("comment {i}")).collect::<Vec<_>>(),
        "each once, in order"
    );
    assert!(sb.stats().users[world::BOT].refused["content_per_minute"] >= 1);
    assert!(metrics.rate_limited_count("secondary") >= 1);
    assert!(metrics.budget_wait_count("secondary_limit") >= 1);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_holds_requests_when_the_primary_limit_is_spent_instead_of_being_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = start(
        tmp.path(),
        bot_only(Limits {
            primary: 4,
            primary_window: Duration::from_secs(2),
            ..Limits::default()
        }),
    )
    .await;
    let metrics = Arc::new(Metrics::new());
    let gh = client(&sb, &metrics, BudgetLimits::default());
    // Different repos: no 304s, every answer counts.
    for repo in &sb.world.repos {
        let tags = gh.list_tags(&RepoId::new("acme", repo)).await;
        assert!(tags.is_ok(), "{repo}: {tags:?}");
    }
    assert!(sb.world.repos.len() > 4);
    assert!(
        metrics.budget_wait_count("primary_limit") >= 1,
        "{}",
        metrics.render()
    );
    let refused = sb.stats().users[world::BOT].refused.get("primary").copied();
    assert_eq!(refused, None, "held before the limit refused anything");
    sb.shutdown().await;
}
