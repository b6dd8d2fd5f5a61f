//! The GitHub client against the sandbox (a GitHub-compatible server over real
//! git repos) on 127.0.0.1: every trait method, pagination, 304s, faults.
//!
//! Written against `stagecoach::sandbox::{start, SandboxOptions}` as the
//! sandbox branch describes it; move to `tests/` once that branch is merged.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use stagecoach::forge::github::{BudgetLimits, GitHub, GitHubAuth, RetryPolicy};
use stagecoach::forge::{
    CommitStatus, Forge, MergeMethod, MergeOutcome, NewPull, NewRelease, Permission, PrState,
    RepoId, ReviewState, StatusState,
};
use stagecoach::metrics::Metrics;
use stagecoach::sandbox::limits::Limits;
use stagecoach::sandbox::{Sandbox, SandboxOptions, start};

struct Fixture {
    _dir: tempfile::TempDir,
    sandbox: Sandbox,
    gh: GitHub,
    metrics: Arc<Metrics>,
    http: reqwest::Client,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = SandboxOptions::new(dir.path());
    opts.limits = Limits {
        points_per_minute: 100_000,
        content_per_minute: 10_000,
        content_per_hour: 10_000,
        ..Limits::default()
    };
    let sandbox = start(opts).await.unwrap();
    let metrics = Arc::new(Metrics::new());
    let gh = GitHub::new(
        &sandbox.api_url,
        GitHubAuth::Token(sandbox.world.bot_token().to_string()),
    )
    .unwrap()
    .with_metrics(metrics.clone())
    // These tests are about the API, not its limits (tests/sandbox_limits.rs):
    // a budget and a sandbox that let 130 comments through at once.
    .with_budget(BudgetLimits {
        rest_points_per_minute: 100_000,
        content_per_minute: 10_000,
        content_per_hour: 10_000,
        write_spacing: Duration::ZERO,
        ..BudgetLimits::default()
    })
    .with_retry_policy(RetryPolicy {
        max_attempts: 4,
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_wait: Duration::from_secs(5),
    });
    Fixture {
        _dir: dir,
        sandbox,
        gh,
        metrics,
        http: stagecoach::engine::http::client_builder().build().unwrap(),
    }
}

impl Fixture {
    async fn fault(&self, fault: Value) {
        let r = self
            .http
            .post(format!("{}/_sandbox/faults", self.sandbox.api_url))
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "fault refused: {}", r.status());
    }

    async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/_sandbox/stats", self.sandbox.api_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A branch on the product repo with one new file, pushed by the bot.
    async fn branch(&self, name: &str) -> String {
        self.sandbox
            .person("stagecoach-bot")
            .unwrap()
            .commit_files(
                "product",
                name,
                &[(&format!("{name}.txt"), "x\n")],
                "chore: test",
            )
            .await
            .unwrap()
    }
}

fn product() -> RepoId {
    RepoId::new("acme", "product")
}

#[tokio::test]
async fn a_pull_request_goes_from_open_through_labels_comment_status_review_to_merged() {
    let f = fixture().await;
    assert_eq!(f.gh.whoami().await.unwrap(), "stagecoach-bot");
    let head = f.branch("bump-payments").await;
    let pr =
        f.gh.create_pull(
            &product(),
            &NewPull {
                title: "chore: bump payments".into(),
                body: "body".into(),
                head: "bump-payments".into(),
                base: "main".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (pr.state, pr.merged, pr.head_sha.as_str()),
        (PrState::Open, false, head.as_str())
    );
    assert!(
        f.gh.list_open_pulls(&product())
            .await
            .unwrap()
            .iter()
            .any(|p| p.number == pr.number)
    );

    f.gh.add_labels(
        &product(),
        pr.number,
        &["risk: low".into(), "component: S".into()],
    )
    .await
    .unwrap();
    f.gh.remove_label(&product(), pr.number, "component: S")
        .await
        .unwrap();
    f.gh.remove_label(&product(), pr.number, "component: S")
        .await
        .unwrap(); // already gone: fine
    assert_eq!(
        f.gh.get_pull(&product(), pr.number).await.unwrap().labels,
        vec!["risk: low"]
    );
    let events = f.gh.label_events(&product(), pr.number).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.added).count(), 2);
    assert!(
        events
            .iter()
            .any(|e| !e.added && e.label == "component: S" && e.actor == "stagecoach-bot")
    );

    f.gh.upsert_sticky_comment(&product(), pr.number, "labels", "missing: change")
        .await
        .unwrap();
    f.gh.upsert_sticky_comment(&product(), pr.number, "labels", "missing: change")
        .await
        .unwrap();
    f.gh.upsert_sticky_comment(&product(), pr.number, "labels", "all good")
        .await
        .unwrap();
    let comments = f.gh.list_comments(&product(), pr.number).await.unwrap();
    assert_eq!(comments.len(), 1, "sticky comment duplicated: {comments:?}");
    assert!(comments[0].body.ends_with("all good"));

    let status = CommitStatus {
        context: "stagecoach/ci".into(),
        state: StatusState::Success,
        description: "deployed to ci-1 and healthy".into(),
        target_url: None,
        updated_at: None,
    };
    f.gh.set_status(&product(), &head, &status).await.unwrap();
    let read = f.gh.list_statuses(&product(), &head).await.unwrap();
    assert!(
        read.iter().all(|s| s.updated_at.is_some()),
        "when the forge set it is read back (a soak counts from it): {read:?}"
    );
    let read: Vec<CommitStatus> = read
        .into_iter()
        .map(|s| CommitStatus {
            updated_at: None,
            ..s
        })
        .collect();
    assert_eq!(read, vec![status]);

    f.sandbox
        .person("alice")
        .unwrap()
        .approve("product", pr.number)
        .await
        .unwrap();
    let reviews = f.gh.list_reviews(&product(), pr.number).await.unwrap();
    assert!(
        reviews
            .iter()
            .any(|r| r.author == "alice" && r.state == ReviewState::Approved)
    );

    let refused =
        f.gh.merge_pull(
            &product(),
            pr.number,
            MergeMethod::Squash,
            "0".repeat(40).as_str(),
        )
        .await
        .unwrap();
    assert!(
        matches!(refused, MergeOutcome::Refused { .. }),
        "{refused:?}"
    );
    let merged =
        f.gh.merge_pull(&product(), pr.number, MergeMethod::Squash, &head)
            .await
            .unwrap();
    let MergeOutcome::Merged { sha } = merged else {
        panic!("{merged:?}")
    };
    let after = f.gh.get_pull(&product(), pr.number).await.unwrap();
    assert!(after.merged);
    assert_eq!(after.merge_commit_sha.as_deref(), Some(sha.as_str()));
    assert!(
        f.gh.list_recent_pulls(&product(), 10)
            .await
            .unwrap()
            .iter()
            .any(|p| p.number == pr.number && p.merged)
    );
    f.sandbox.shutdown().await;
}

#[tokio::test]
async fn permissions_and_team_memberships_come_from_the_forge() {
    let f = fixture().await;
    assert_eq!(
        f.gh.permission(&product(), "stagecoach-bot").await.unwrap(),
        Permission::Admin
    );
    assert_eq!(
        f.gh.permission(&product(), "alice").await.unwrap(),
        Permission::Write
    );
    assert_eq!(
        f.gh.permission(&product(), "ron").await.unwrap(),
        Permission::Read
    );
    assert_eq!(
        f.gh.permission(&product(), "rita").await.unwrap(),
        Permission::Maintain
    );
    assert_eq!(
        f.gh.permission(&product(), "nobody-at-all").await.unwrap(),
        Permission::None
    );
    assert!(
        f.gh.is_team_member("acme", "release-managers", "rita")
            .await
            .unwrap()
    );
    assert!(
        !f.gh
            .is_team_member("acme", "release-managers", "alice")
            .await
            .unwrap()
    );
    assert!(
        f.gh.is_team_member("acme", "on-call", "olga")
            .await
            .unwrap()
    );
    assert!(
        !f.gh
            .is_team_member("acme", "no-such-team", "olga")
            .await
            .unwrap()
    );
    f.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_draft_release_is_created_listed_and_published() {
    let f = fixture().await;
    let payments = RepoId::new("acme", "payments");
    let tags = f.gh.list_tags(&payments).await.unwrap();
    assert!(
        tags.iter().any(|t| t.name == "v1.4.2" && t.sha.len() == 40),
        "{tags:?}"
    );
    let release =
        f.gh.create_release(
            &payments,
            &NewRelease {
                tag_name: "v1.4.2".into(),
                name: "v1.4.2".into(),
                body: "notes".into(),
                draft: true,
            },
        )
        .await
        .unwrap();
    assert!(release.draft);
    f.gh.update_release(&payments, release.id, "score 92", false)
        .await
        .unwrap();
    let listed = f.gh.list_releases(&payments).await.unwrap();
    let found = listed.iter().find(|r| r.id == release.id).unwrap();
    assert_eq!((found.draft, found.body.as_str()), (false, "score 92"));
    f.sandbox.shutdown().await;
}

#[tokio::test]
async fn long_lists_are_read_to_the_last_page() {
    let f = fixture().await;
    f.branch("many-comments").await;
    let pr =
        f.gh.create_pull(
            &product(),
            &NewPull {
                title: "t".into(),
                body: String::new(),
                head: "many-comments".into(),
                base: "main".into(),
            },
        )
        .await
        .unwrap();
    for i in 0..130 {
        f.gh.create_comment(&product(), pr.number, &format!("comment {i}"))
            .await
            .unwrap();
    }
    let comments = f.gh.list_comments(&product(), pr.number).await.unwrap();
    assert_eq!(comments.len(), 130);
    assert_eq!(comments[129].body, "comment 129");
    assert!(f.metrics.github_request_count("issues/comments", "200") >= 2);
    f.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_second_read_of_an_unchanged_list_is_a_free_304_from_the_cache() {
    let f = fixture().await;
    let payments = RepoId::new("acme", "payments");
    let first = f.gh.list_tags(&payments).await.unwrap();
    let second = f.gh.list_tags(&payments).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(f.metrics.github_request_count("tags", "304"), 1);
    let stats = f.stats().await;
    assert!(
        stats["users"]["stagecoach-bot"]["not_modified"]
            .as_u64()
            .unwrap_or(0)
            >= 1,
        "{stats}"
    );
    f.sandbox.shutdown().await;
}

#[tokio::test]
async fn rate_limits_server_errors_and_dropped_connections_are_waited_out() {
    let f = fixture().await;
    let payments = RepoId::new("acme", "payments");
    // Primary limit: 403 with x-ratelimit-remaining 0 and a reset a second away.
    f.fault(json!({"path_prefix": "/repos/acme/payments/tags", "method": "GET", "status": 403, "count": 1})).await;
    assert!(!f.gh.list_tags(&payments).await.unwrap().is_empty());
    assert_eq!(f.metrics.github_request_count("tags", "403"), 1);
    // Secondary limit: 429 with retry-after.
    f.fault(json!({"path_prefix": "/repos/acme/payments/releases", "status": 429, "retry_after": 1, "count": 1})).await;
    f.gh.list_releases(&payments).await.unwrap();
    assert_eq!(f.metrics.github_request_count("releases", "429"), 1);
    // Two 502s, then the real answer.
    f.fault(json!({"path_prefix": "/repos/acme/product/pulls", "status": 502, "count": 2}))
        .await;
    f.gh.list_open_pulls(&product()).await.unwrap();
    assert_eq!(f.metrics.github_request_count("pulls", "502"), 2);
    // A connection cut mid-answer.
    f.fault(json!({"path_prefix": "/user", "drop": true, "count": 1}))
        .await;
    assert_eq!(f.gh.whoami().await.unwrap(), "stagecoach-bot");
    f.sandbox.shutdown().await;
}
