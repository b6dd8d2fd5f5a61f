//! The flow tests' side of the kit (`stagecoach::kit`): the same road, its
//! readers and waits, answering as a test wants (a step that does not
//! happen fails the test, naming it), plus what only tests need (the test
//! GitHub App, a clock a test moves, git's server side), so a test reads
//! like a runbook: `road.component_pr(..)`, `road.wait_status(..)`.

#![allow(dead_code)]

use std::future::Future;
use std::path::Path;

use serde_json::Value;

use stagecoach::engine::{Clock, Engine, NOTES_SAMPLES, NOTES_STABILITY};
use stagecoach::kit::{self, AppSignIn, Progress, read_forge};
use stagecoach::sandbox::{Person, TokenRules};

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use stagecoach::kit::read_forge::{head_sha, number};
#[allow(unused_imports)]
pub use stagecoach::kit::{ERROR_RATE, HIGH, LOW, MEDIUM, POLICY_PATH, PolicyEdit, RoadOptions};

/// How long the bot may make no progress before a step fails (the kit's).
pub const STEP: std::time::Duration = kit::wait::STALL;

/// The test GitHub App's keys (fixtures/app) and its ids in the sandbox.
pub const APP_PRIVATE_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/app/test-app-private-key.pem"
);
pub const APP_PUBLIC_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/app/test-app-public-key.pem"
);
pub const APP_ID: u64 = 42;
pub const APP_INSTALLATION: u64 = 7;

/// The bot signs in as the test App (`stagecoach[bot]`), its installation
/// tokens living by `rules`.
pub fn test_app(rules: TokenRules) -> AppSignIn {
    AppSignIn {
        rules,
        app_id: APP_ID,
        installation_id: APP_INSTALLATION,
        private_key: APP_PRIVATE_KEY.into(),
        public_key_pem: std::fs::read_to_string(APP_PUBLIC_KEY).expect("the test App's public key"),
    }
}

/// An HTTP client for the tests' own requests (the bot's TLS set-up, on loopback).
pub fn http_client() -> reqwest::Client {
    stagecoach::engine::http::client_builder()
        .build()
        .expect("an HTTP client")
}

/// The engine's clock for tests: real time moved ahead by [`ManualClock::advance`],
/// so a schedule comes without waiting for it.
#[derive(Default)]
pub struct ManualClock(std::sync::Mutex<chrono::Duration>);

impl Clock for ManualClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + self.0.lock().map(|ahead| *ahead).unwrap_or_default()
    }
}

impl ManualClock {
    pub fn advance(&self, by: chrono::Duration) {
        if let Ok(mut ahead) = self.0.lock() {
            *ahead += by;
        }
    }
}

/// The kit's road (`road.sb`, `road.dir`, `road.engine`, `road.repos` …
/// through it), its steps failing the test instead of returning errors.
pub struct Road(kit::Road);

impl std::ops::Deref for Road {
    type Target = kit::Road;
    fn deref(&self) -> &kit::Road {
        &self.0
    }
}

/// `Ok(Some(v))` for a check that answers `Some(v)`.
async fn answered<T>(
    check: impl Future<Output = Option<T>>,
) -> stagecoach::error::Result<Option<T>> {
    Ok(check.await)
}

impl Road {
    pub async fn start() -> Road {
        Self::start_with(RoadOptions::default()).await
    }

    pub async fn start_with(opts: RoadOptions) -> Road {
        Road(kit::Road::start(opts).await.expect("the road starts"))
    }

    /// Stop the bot and the sandbox (the temp dir goes with `self`).
    pub async fn stop(self) {
        self.0.stop().await;
    }

    pub fn person(&self, login: &str) -> Person {
        self.0.person(login).expect("person")
    }

    // ── the world and the bot ──

    pub async fn weather(&self, calm: bool) {
        self.0.weather(calm).await.expect("staging's weather");
    }

    pub fn make_unhealthy(&self, what: &str) {
        self.0.make_unhealthy(what).expect("world/unhealthy");
    }

    pub fn make_slow(&self, what: &str) {
        self.0.make_slow(what).expect("world/slow");
    }

    pub fn release_slow(&self, what: &str) {
        self.0.release_slow(what).expect("world/slow");
    }

    pub fn make_smoke_fail(&self, what: &str) {
        self.0.make_smoke_fail(what).expect("world/smoke-fails");
    }

    /// Give CI's health watch `timeout` (a policy change on the product's main).
    /// Set a fault rule on the sandbox (`sandbox/faults.rs`).
    pub async fn fault(&self, fault: &Value) {
        let r = http_client()
            .post(format!("{}/_sandbox/faults", self.sb.api_url))
            .json(fault)
            .send()
            .await
            .expect("fault");
        assert!(
            r.status().is_success(),
            "the sandbox refused the fault {fault}: {r:?}"
        );
    }

    /// How often each rule set since the last clear was met.
    pub async fn fault_hits(&self) -> Vec<u64> {
        let rules: Vec<Value> = http_client()
            .get(format!("{}/_sandbox/faults", self.sb.api_url))
            .send()
            .await
            .expect("faults")
            .json()
            .await
            .expect("faults json");
        rules
            .iter()
            .map(|r| r["hits"].as_u64().unwrap_or(0))
            .collect()
    }

    pub async fn ci_health_timeout(&self, timeout: &str) {
        let edit = |policy: &str| {
            let at = policy.find("timeout: 10s}").expect("the CI health timeout");
            format!(
                "{}timeout: {timeout}}}{}",
                &policy[..at],
                &policy[at + "timeout: 10s}".len()..]
            )
        };
        self.0
            .edit_policy(&edit, "chore(policy): a longer CI health watch")
            .await
            .expect("policy change");
    }

    /// A person's own engine (their token, their cache): `stagecoach promote` as them.
    pub fn engine_as(&self, login: &str) -> Engine {
        self.0.engine_as(login).expect("a person's engine")
    }

    // ── people's steps ──

    pub async fn component_pr(
        &self,
        who: &str,
        repo: &str,
        branch: &str,
        message: &str,
        labels: &[&str],
    ) -> u64 {
        let person = self.person(who);
        let pr = kit::steps::open_component_pr(&person, repo, branch, message, labels);
        pr.await.expect("a component PR")
    }

    pub async fn merge_and_release(&self, who: &str, repo: &str, n: u64, tag: &str) {
        let released = self.0.merge_and_release(who, repo, n, tag);
        released.await.expect("merge and tag");
    }

    /// A released component change, all the way to its product PR (JSON).
    pub async fn released(
        &self,
        repo: &str,
        branch: &str,
        message: &str,
        labels: &[&str],
        tag: &str,
    ) -> Value {
        let n = self
            .component_pr("alice", repo, branch, message, labels)
            .await;
        self.merge_and_release("alice", repo, n, tag).await;
        self.product_pr_for(repo, tag.trim_start_matches('v')).await
    }

    pub async fn bump_on_branch(
        &self,
        who: &str,
        branch: &str,
        component: &str,
        version: &str,
    ) -> String {
        let bump = self.0.bump_on_branch(who, branch, component, version);
        bump.await.expect("commit product.yaml")
    }

    pub async fn component_release(&self, repo: &str, message: &str, tag: &str) {
        let release = self.0.component_release(repo, message, tag);
        release.await.expect("a component release");
    }

    // ── reading the forge (every page) ──

    pub async fn pr_by_head(&self, repo: &str, head: &str) -> Option<Value> {
        read_forge::pr_by_head(&self.person("alice"), repo, head)
            .await
            .expect("pulls")
    }

    pub async fn pull(&self, repo: &str, n: u64) -> Value {
        self.person("alice").pull(repo, n).await.expect("pull")
    }

    pub async fn status_of(
        &self,
        repo: &str,
        sha: &str,
        context: &str,
    ) -> Option<(String, String)> {
        read_forge::status_of(&self.person("alice"), repo, sha, context)
            .await
            .expect("statuses")
    }

    /// Every comment on a PR as (author, body), oldest first.
    pub async fn comments(&self, repo: &str, pr: u64) -> Vec<(String, String)> {
        read_forge::comments(&self.person("alice"), repo, pr)
            .await
            .expect("comments")
    }

    /// The bot's comments on a PR (bodies with their sticky markers).
    pub async fn bot_comments(&self, repo: &str, pr: u64) -> Vec<String> {
        read_forge::bot_comments(&self.person("alice"), repo, pr)
            .await
            .expect("comments")
    }

    pub async fn release(&self, tag: &str) -> Option<Value> {
        read_forge::release(&self.person("alice"), tag)
            .await
            .expect("releases")
    }

    // ── reading the repos ──

    pub fn bare(&self, repo: &str) -> git2::Repository {
        self.repos.bare(repo).expect("bare repo")
    }

    pub fn file_at(&self, repo: &str, rev: &str, path: &str) -> Option<String> {
        self.repos.file_at(repo, rev, path).expect("bare repo")
    }

    pub fn landscape_version(&self, env: &str, cluster: &str, component: &str) -> Option<String> {
        let v = self.repos.landscape_version(env, cluster, component);
        v.expect("landscape repo")
    }

    /// Commit messages of a branch, newest first.
    pub fn log(&self, repo: &str, rev: &str) -> Vec<String> {
        self.repos.log(repo, rev).expect("commits")
    }

    /// (sha, message) of a branch's commits, newest first.
    pub fn commits(&self, repo: &str, rev: &str) -> Vec<(String, String)> {
        self.repos.commits(repo, rev).expect("commits")
    }

    pub fn tag_message(&self, repo: &str, tag: &str) -> Option<String> {
        self.repos.tag_message(repo, tag).expect("bare repo")
    }

    pub fn tags(&self, repo: &str) -> Vec<String> {
        self.repos.tags(repo).expect("tags")
    }

    /// The final stability note of a product tag.
    pub fn note(&self, tag: &str) -> Option<String> {
        self.repos.note(NOTES_STABILITY, tag).expect("notes")
    }

    pub fn samples(&self, tag: &str) -> Option<String> {
        self.repos.note(NOTES_SAMPLES, tag).expect("notes")
    }

    pub fn on_main(&self, repo: &str, tag: &str) -> bool {
        self.repos.on_main(repo, tag).expect("main and the tag")
    }

    /// The tag staging runs now (its promotion marker).
    pub fn staging_tag(&self) -> Option<String> {
        self.repos.staging_tag().expect("landscape-staging")
    }

    // ── waiting for the bot's progress ──

    /// Ask `check` until it answers `Some`, for as long as the bot makes
    /// passes (`kit::wait`).
    pub async fn wait_for<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let waited = self.0.wait_for(what, || answered(check()));
        waited.await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Check that `happened` stays false while the bot makes `passes` passes.
    pub async fn stays<F, Fut>(&self, what: &str, passes: u64, mut happened: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let stayed = self.0.stays(what, passes, || {
            let seen = happened();
            async move { Ok(seen.await) }
        });
        stayed.await.unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn wait_passes(&self, n: u64) {
        self.0
            .wait_passes(n)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn product_pr_for(&self, component: &str, version: &str) -> Value {
        let pr = self.0.product_pr_for(component, version);
        pr.await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Wait until `context` on `sha` is `state`; returns its description.
    pub async fn wait_status(&self, repo: &str, sha: &str, context: &str, state: &str) -> String {
        let status = self.0.wait_status(repo, sha, context, state);
        status.await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Wait for a bot comment containing `needle`; returns its body.
    pub async fn wait_comment(&self, repo: &str, pr: u64, needle: &str) -> String {
        let comment = self.0.wait_comment(repo, pr, needle);
        comment.await.unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn wait_merged(&self, repo: &str, n: u64) {
        let merged = self.0.wait_merged(repo, n);
        merged.await.unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn wait_landscape(&self, env: &str, cluster: &str, component: &str, version: &str) {
        let deployed = self.0.wait_landscape(env, cluster, component, version);
        deployed.await.unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn wait_tag(&self, tag: &str) -> String {
        self.0.wait_tag(tag).await.unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn wait_staging(&self, tag: &str) {
        let staged = self.0.wait_staging(tag);
        staged.await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// A release manager's open PR on `env`'s landscape repo, where the team
    /// asks for promotions (`/promote`, `/reject`) in comments.
    pub async fn landscape_pr(&self, env: &str) -> u64 {
        let repo = format!("landscape-{env}");
        let rita = self.person("rita");
        rita.commit_files(
            &repo,
            "promotions",
            &[("NOTES.md", "promotion requests\n")],
            "docs: promotion requests",
        )
        .await
        .expect("branch");
        rita.open_pr(
            &repo,
            "promotions",
            "main",
            &format!("Promotions to {env}"),
            "",
        )
        .await
        .expect("pr")
    }

    /// Play the demo world on to one release: v1.0.0 passed the KPI (a
    /// release), v1.1.0 (checkout 2.1.0) is on staging and not a release yet.
    pub async fn one_release_later(&self) {
        self.wait_staging("v1.0.0").await;
        self.component_release("checkout", "feat(cart): saved carts", "v2.1.0")
            .await;
        self.bump_on_branch("rita", "main", "checkout", "2.1.0")
            .await;
        self.wait_staging("v1.1.0").await;
        self.wait_for("v1.0.0 released", || async {
            self.release("v1.0.0").await.filter(|r| r["draft"] == false)
        })
        .await;
    }
}

/// Ask `check` until it answers `Some` where no road's bot counts passes
/// (only the kit's stall limit holds), or fail the test naming the step.
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let waited = kit::wait_for(&Progress::Nothing, what, || answered(check()));
    waited.await.unwrap_or_else(|e| panic!("{e}"))
}

/// Whether the tests that need git's server-side `git-{program}` (`daemon`,
/// `http-backend`) run: false only when `skip_var=1` asks to skip them (and
/// says so); a missing program fails the test with what to install.
pub fn git_server_side(program: &str, skip_var: &str) -> bool {
    if std::env::var(skip_var).as_deref() == Ok("1") {
        eprintln!("SKIPPED: {skip_var}=1, so no test that needs `git {program}`");
        return false;
    }
    let exec_path = std::process::Command::new("git")
        .arg("--exec-path")
        .output()
        .expect("git is installed");
    let exec_path = String::from_utf8_lossy(&exec_path.stdout)
        .trim()
        .to_string();
    assert!(
        Path::new(&exec_path)
            .join(format!("git-{program}"))
            .exists(),
        "`git {program}` is missing ({exec_path}/git-{program}): install Debian's `git` package \
         (apt-get install -y git), or set {skip_var}=1 to skip this test"
    );
    true
}

/// Register the test App (`stagecoach[bot]`) with the sandbox.
pub async fn register_app(sb: &stagecoach::sandbox::Sandbox) {
    let app = test_app(TokenRules::default());
    let registered = kit::road::register_app(sb, &app);
    registered.await.expect("register the App");
}
