//! Git over the sandbox's smart HTTP with GitHub's token auth: what a token may do, and how a wrong or missing one is refused.

mod support;

use std::path::{Path, PathBuf};

use stagecoach::git::{FileChange, GitAuth, Identity, Outcome, Trailers, Workspace};
use stagecoach::sandbox::{self, Sandbox, SandboxOptions};
use support::{Road, RoadOptions, wait_for};

/// Set to 1 to skip the tests that need `git http-backend` (on purpose, and said).
const SKIP_GIT_HTTP: &str = "STAGECOACH_SKIP_GIT_HTTP";

async fn sandbox() -> (Sandbox, tempfile::TempDir) {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = sandbox::start(SandboxOptions::new(tmp.path()))
        .await
        .expect("sandbox");
    (sb, tmp)
}

fn product_url(sb: &Sandbox) -> String {
    sb.git_http_url_template()
        .replace("{owner}", "acme")
        .replace("{name}", "product")
}

fn identity() -> Identity {
    Identity {
        name: "Stagecoach".into(),
        email: "stagecoach@example.invalid".into(),
    }
}

/// `Workspace::open` (a clone and fetch) off the runtime the sandbox serves on.
async fn open(cache: PathBuf, url: String, token: Option<String>) -> stagecoach::Result<Workspace> {
    tokio::task::spawn_blocking(move || {
        Workspace::open(&cache, &url, &GitAuth::with_token(token), &identity())
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_clones_fetches_and_pushes_and_the_push_is_a_push() {
    if !support::git_server_side("http-backend", SKIP_GIT_HTTP) {
        return;
    }
    let (sb, tmp) = sandbox().await;
    // Nothing listens there: deliveries are still recorded, as GitHub lists failed ones.
    sb.set_webhook(Some("http://127.0.0.1:9/webhook".into()), None);
    let ws = open(
        tmp.path().join("cache"),
        product_url(&sb),
        Some(sb.world.bot_token().to_string()),
    )
    .await
    .expect("clone over HTTP");
    assert_eq!(
        ws.branch_head("main").expect("main"),
        git2::Repository::open_bare(sb.world.repo_path("product"))
            .expect("bare")
            .refname_to_id("refs/heads/main")
            .ok()
            .map(|o| o.to_string())
    );
    let outcome = tokio::task::spawn_blocking(move || {
        let outcome = ws.update_branch(
            "http-probe",
            Some("main"),
            "test: a push over HTTP",
            &Trailers::new(),
            &mut |_| Ok(vec![FileChange::write("probe.txt", "over http\n")]),
        );
        ws.fetch().map(|()| outcome)
    })
    .await
    .expect("join")
    .expect("fetch after the push")
    .expect("push over HTTP");
    let Outcome::Committed { sha } = outcome else {
        panic!("expected a commit, got {outcome:?}");
    };
    let bare = git2::Repository::open_bare(sb.world.repo_path("product")).expect("bare");
    let pushed = bare
        .find_reference("refs/heads/http-probe")
        .expect("the branch landed")
        .target()
        .expect("direct ref");
    assert_eq!(pushed.to_string(), sha);
    let delivery = wait_for("the push webhook of the HTTP push", || async {
        sb.deliveries()
            .into_iter()
            .find(|d| d.event == "push" && d.payload["ref"] == "refs/heads/http-probe")
    })
    .await;
    assert_eq!(delivery.payload["after"], sha.as_str(), "{delivery:?}");

    // Real git's client too, with the token in the URL as CI scripts do.
    let token = sb.world.token("alice").expect("alice");
    let authed = product_url(&sb).replace("http://", &format!("http://alice:{token}@"));
    let clone = tmp.path().join("clone");
    git(
        tmp.path(),
        &["clone", "--quiet", &authed, &path_str(&clone)],
    );
    git(&clone, &["checkout", "--quiet", "-b", "cli-probe"]);
    std::fs::write(clone.join("cli.txt"), "from git\n").expect("write");
    git(&clone, &["add", "cli.txt"]);
    git(
        &clone,
        &[
            "-c",
            "user.name=Alice",
            "-c",
            "user.email=alice@example.invalid",
            "commit",
            "--quiet",
            "-m",
            "test: git's own push over HTTP",
        ],
    );
    git(&clone, &["push", "--quiet", "origin", "cli-probe"]);
    assert!(bare.find_reference("refs/heads/cli-probe").is_ok());
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_token_is_refused_in_one_line_that_names_the_remote() {
    if !support::git_server_side("http-backend", SKIP_GIT_HTTP) {
        return;
    }
    let (sb, tmp) = sandbox().await;
    let url = product_url(&sb);
    let http = support::http_client();
    let refs = format!("{url}/info/refs?service=git-upload-pack");

    // What makes git clients ask for credentials at all.
    let bare = http.get(&refs).send().await.expect("GET");
    assert_eq!(bare.status(), 401);
    assert_eq!(
        bare.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Basic realm=\"GitHub\"")
    );
    let wrong = "ghp_wrongwrongwrongwrongwrongwrong";
    let refused = http
        .get(&refs)
        .basic_auth("x-access-token", Some(wrong))
        .send()
        .await
        .expect("GET");
    assert_eq!(refused.status(), 401);
    let good = http
        .get(&refs)
        .basic_auth("x-access-token", Some(sb.world.bot_token()))
        .send()
        .await
        .expect("GET");
    assert_eq!(good.status(), 200);
    assert_eq!(
        good.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-git-upload-pack-advertisement")
    );

    let err = open(tmp.path().join("wrong"), url.clone(), Some(wrong.into()))
        .await
        .err()
        .expect("a wrong token is refused")
        .to_string();
    assert!(!err.contains('\n'), "one line: {err}");
    assert!(err.contains(&url), "names the remote: {err}");
    assert!(err.contains("refused the token"), "says why: {err}");
    assert!(!err.contains(wrong), "no token in the error: {err}");

    let err = open(tmp.path().join("none"), url.clone(), None)
        .await
        .err()
        .expect("no token is refused")
        .to_string();
    assert!(!err.contains('\n'), "one line: {err}");
    assert!(err.contains(&url), "names the remote: {err}");
    assert!(err.contains("no token is configured"), "says why: {err}");
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_without_write_permission_is_forbidden_but_a_fetch_is_not() {
    if !support::git_server_side("http-backend", SKIP_GIT_HTTP) {
        return;
    }
    let (sb, tmp) = sandbox().await;
    // ron may read acme's repos, not push to them.
    let token = sb.world.token("ron").expect("ron").to_string();
    let url = product_url(&sb);
    let http = support::http_client();
    let pushing = http
        .get(format!("{url}/info/refs?service=git-receive-pack"))
        .basic_auth("ron", Some(&token))
        .send()
        .await
        .expect("GET");
    assert_eq!(pushing.status(), 403);
    let ws = open(tmp.path().join("cache"), url, Some(token.clone()))
        .await
        .expect("ron may fetch");
    let err = tokio::task::spawn_blocking(move || {
        ws.update_branch(
            "ron-probe",
            Some("main"),
            "test: not allowed",
            &Trailers::new(),
            &mut |_| Ok(vec![FileChange::write("ron.txt", "no\n")]),
        )
    })
    .await
    .expect("join")
    .expect_err("ron may not push")
    .to_string();
    assert!(!err.contains('\n'), "one line: {err}");
    assert!(err.contains("403"), "says it was forbidden: {err}");
    assert!(!err.contains(&token), "no token in the error: {err}");
    sb.shutdown().await;
}

/// The one flow kept on local paths (every other flow goes over HTTP): the
/// first product version reaches staging, then a component release follows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_road_still_runs_over_local_paths() {
    let road = Road::start_with(RoadOptions {
        local_git: true,
        ..RoadOptions::default()
    })
    .await;
    road.wait_staging("v1.0.0").await;
    road.component_release("checkout", "feat(cart): saved carts", "v2.1.0")
        .await;
    road.bump_on_branch("rita", "main", "checkout", "2.1.0")
        .await;
    road.wait_staging("v1.1.0").await;
    road.stop().await;
}

fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// Git's requests are counted and can be broken like the API's: a 500 on
/// the first push to the CI landscape (a rule on `/git/…/git-receive-pack`)
/// is met, and the bot's next try lands the deploy once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_git_push_is_met_and_the_next_try_lands_once() {
    if !support::git_server_side("http-backend", SKIP_GIT_HTTP) {
        return;
    }
    let road = Road::start().await;
    let http = support::http_client();
    let rule = serde_json::json!({
        "path_prefix": "/git/acme/landscape-ci.git/git-receive-pack",
        "method": "POST",
        "user": "stagecoach-bot",
        "status": 500,
        "count": 1,
    });
    let r = http
        .post(format!("{}/_sandbox/faults", road.sb.api_url))
        .json(&rule)
        .send()
        .await
        .expect("fault");
    assert_eq!(r.status(), 204);
    let pr = road
        .released(
            "payments",
            "fix/git-fault",
            "fix: over a broken push",
            support::LOW,
            "v1.4.3",
        )
        .await;
    road.wait_merged("product", support::number(&pr)).await;
    let report: Vec<serde_json::Value> = http
        .get(format!("{}/_sandbox/faults", road.sb.api_url))
        .send()
        .await
        .expect("faults")
        .json()
        .await
        .expect("report");
    assert_eq!(report[0]["hits"], 1, "the push fault was met: {report:?}");
    let deploys = road
        .commits("landscape-ci", "main")
        .iter()
        .filter(|(_, m)| m.contains("Stagecoach-Action: bump") && m.contains("payments@1.4.3"))
        .count();
    assert_eq!(deploys, 1, "one CI deploy");
    let stats = road.sb.stats();
    let bot = &stats.users["stagecoach-bot"];
    assert!(bot.git_requests > 0 && bot.git_pushes > 0, "{bot:?}");
    road.stop().await;
}
