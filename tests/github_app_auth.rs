//! The bot as a GitHub App: a JWT signed with the app's private key buys an
//! installation token (the sandbox checks the signature against the app's
//! public key, as GitHub does), and the bot then acts as `<slug>[bot]`.

use std::sync::Arc;

mod support;

use stagecoach::engine::Engine;
use stagecoach::forge::github::{GitHub, GitHubAuth};
use stagecoach::forge::{CommitStatus, Forge, RepoId, StatusState};
use stagecoach::kit::{BotConfig, Credentials};
use stagecoach::sandbox::{self, Sandbox, SandboxOptions};
use support::{APP_ID, APP_INSTALLATION, APP_PRIVATE_KEY, register_app};

fn app_client(sb: &Sandbox, app_id: u64) -> GitHub {
    GitHub::new(
        &sb.api_url,
        GitHubAuth::App {
            app_id,
            installation_id: APP_INSTALLATION,
            private_key_pem: std::fs::read(APP_PRIVATE_KEY).expect("private key"),
        },
    )
    .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_trades_its_jwt_for_an_installation_token_and_acts_as_its_bot() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = sandbox::start(SandboxOptions::new(tmp.path()))
        .await
        .expect("sandbox");
    register_app(&sb).await;
    let gh = app_client(&sb, APP_ID);
    assert_eq!(gh.whoami().await.expect("whoami"), "stagecoach[bot]");

    let alice = sb.person("alice").expect("alice");
    alice
        .commit_files("payments", "fix/x", &[("x.txt", "x")], "fix: x")
        .await
        .expect("commit");
    let n = alice
        .open_pr("payments", "fix/x", "main", "fix: x", "")
        .await
        .expect("pr");
    let repo = RepoId::new("acme", "payments");
    let pr = gh
        .get_pull(&repo, n)
        .await
        .expect("read a PR with the installation token");
    gh.upsert_sticky_comment(&repo, n, "labels", "hello")
        .await
        .expect("comment");
    gh.upsert_sticky_comment(&repo, n, "labels", "hello")
        .await
        .expect("again");
    gh.set_status(
        &repo,
        &pr.head_sha,
        &CommitStatus {
            context: "stagecoach/labels".into(),
            state: StatusState::Success,
            description: "labels complete".into(),
            target_url: None,
            updated_at: None,
        },
    )
    .await
    .expect("status");
    let comments = alice.comments("payments", n).await.expect("comments");
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(comments[0].0, "stagecoach[bot]");

    // A JWT that does not belong to a registered app is refused.
    let stranger = app_client(&sb, 43);
    let e = stranger.whoami().await.expect_err("refused");
    assert_eq!(e.exit_code(), 1, "{e}");
    sb.shutdown().await;
}

/// Git goes over the sandbox's HTTP with the installation token the client
/// mints for it (`Forge::git_token`): without it the clone is refused
/// ("the remote asked for credentials and no token is configured").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_runs_its_road_as_an_app_from_the_config() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = sandbox::start(SandboxOptions::new(tmp.path()))
        .await
        .expect("sandbox");
    register_app(&sb).await;
    let mut bot = BotConfig::for_sandbox(&sb, &tmp.path().join("cache"));
    bot.credentials = Credentials::App {
        app_id: APP_ID,
        installation_id: APP_INSTALLATION,
        private_key: APP_PRIVATE_KEY.into(),
    };
    bot.budget = None;
    let config = bot.parse().expect("config");
    let engine = Engine::new(
        config.clone(),
        Arc::new(GitHub::from_config(&config).expect("forge")),
    );
    engine.converge().await.expect("converge");
    let staging =
        git2::Repository::open_bare(sb.world.repo_path("landscape-staging")).expect("staging");
    let marker = staging
        .revparse_single("main:.stagecoach/promotion.yaml")
        .expect("promoted by the app");
    assert!(
        String::from_utf8_lossy(marker.as_blob().expect("blob").content()).contains("tag: v1.0.0")
    );
    sb.shutdown().await;
}
