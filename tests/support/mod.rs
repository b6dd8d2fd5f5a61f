//! The road for flow tests: a sandbox (GitHub-compatible server over bare
//! repos on 127.0.0.1) and the real bot (webhooks + a fast resync) in one
//! process, with helpers that read the world like a person would, so a test
//! reads like a runbook: `road.component_pr(..)`, `road.wait_status(..)`,
//! `road.landscape_version(..)`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use stagecoach::bot::Bot;
use stagecoach::config::Config;
use stagecoach::engine::{Clock, Engine, NOTES_SAMPLES, NOTES_STABILITY};
use stagecoach::forge::github::GitHub;
use stagecoach::manifest::yaml_edit;
use stagecoach::metrics::Metrics;
use stagecoach::sandbox::{self, Person, Sandbox, SandboxOptions};

/// How long one step may take before the test calls it failed. Generous: the
/// suite runs tests side by side on two cores.
pub const STEP: Duration = Duration::from_secs(60);
/// The Prometheus query of the demo policy's error-rate signal.
pub const ERROR_RATE: &str = "sum(rate(http_requests_errors_total[5m]))";
/// Labels of a correctly labelled low-risk functional change.
pub const LOW: &[&str] = &[
    "component: S",
    "change: S",
    "ft-coverage: 90",
    "functional: true",
];
/// Labels that score medium risk (patch or minor bump).
pub const MEDIUM: &[&str] = &[
    "component: L",
    "change: L",
    "ft-coverage: 50",
    "functional: true",
];
/// Labels that score high risk.
pub const HIGH: &[&str] = &[
    "component: XL",
    "change: XL",
    "ft-coverage: 20",
    "functional: true",
];

/// The sandbox and, unless asked otherwise, the bot reconciling it.
pub struct Road {
    pub sb: Sandbox,
    pub dir: PathBuf,
    pub engine: Arc<Engine>,
    /// The bot's counters (its GitHub client's included).
    pub metrics: Arc<Metrics>,
    bot: Option<Bot>,
    _temp: tempfile::TempDir,
}

pub struct RoadOptions {
    /// Start the bot (webhooks + resync). Off: tests drive `engine` by hand.
    pub bot: bool,
    /// Staging weather at start: calm (KPI passes) or stormy (KPI fails).
    pub calm: bool,
    /// An edit of the product's policy (`policies/default.yaml` on main),
    /// committed by rita before the bot starts: e.g. pointing the stability
    /// signals at real Prometheus and Alertmanager.
    pub policy: Option<PolicyEdit>,
    /// GitHub's rate limits as the sandbox enforces them, and the bot's
    /// `forge.budget` (a YAML mapping); `None`: GitHub's numbers and
    /// `sandbox::BOT_BUDGET`.
    pub limits: Option<(sandbox::limits::Limits, String)>,
    /// The bot reaches the repos by local path instead of git over the
    /// sandbox's HTTP (which every other flow uses).
    pub local_git: bool,
    /// Serve the API under this path, as GitHub Enterprise Server does
    /// (`/api/v3`); empty as on api.github.com.
    pub api_prefix: String,
    /// The bot signs in as the test GitHub App (fixtures/app) instead of
    /// with a token, its installation tokens living by these rules.
    pub app: Option<sandbox::TokenRules>,
    /// The engine's clock (default: the system's), e.g. a [`ManualClock`]
    /// a test moves on to a schedule's next time.
    pub clock: Option<Arc<dyn Clock>>,
}

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

/// An HTTP client for the tests' own requests (the bot's TLS set-up, on loopback).
pub fn http_client() -> reqwest::Client {
    stagecoach::engine::http::client_builder()
        .build()
        .expect("an HTTP client")
}

/// Register the test App (`stagecoach[bot]`) with the sandbox.
pub async fn register_app(sb: &Sandbox) {
    let public = std::fs::read_to_string(APP_PUBLIC_KEY).expect("the test App's public key");
    let r = http_client()
        .post(format!("{}/_sandbox/app", sb.api_url))
        .json(&json!({"app_id": APP_ID, "slug": "stagecoach", "installation_id": APP_INSTALLATION, "public_key_pem": public}))
        .send()
        .await
        .expect("register the App");
    assert!(
        r.status().is_success(),
        "registering the App: {}",
        r.status()
    );
}

/// The `forge:` credentials of the test App, as config text.
pub fn app_credentials() -> String {
    format!(
        "app: {{app_id: {APP_ID}, installation_id: {APP_INSTALLATION}, private_key: \"{APP_PRIVATE_KEY}\"}}"
    )
}

impl Default for RoadOptions {
    fn default() -> Self {
        Self {
            bot: true,
            calm: true,
            policy: None,
            limits: None,
            local_git: false,
            api_prefix: String::new(),
            app: None,
            clock: None,
        }
    }
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

/// A rewrite of the product's policy text.
pub type PolicyEdit = Box<dyn Fn(&str) -> String + Send + Sync>;

/// Where the product's policy lives in the sandbox's product repository.
pub const POLICY_PATH: &str = "policies/default.yaml";

fn bot_config(sb: &Sandbox, dir: &Path, cache: &str, token: &str, secret: &str) -> Config {
    let url = sb.git_http_url_template();
    let credentials = format!("token: \"{token}\"");
    bot_config_with(
        sb,
        dir,
        cache,
        &credentials,
        secret,
        sandbox::BOT_BUDGET,
        &url,
    )
}

/// `credentials`: `token: "…"` or the App's `app: {…}`.
fn bot_config_with(
    sb: &Sandbox,
    dir: &Path,
    cache: &str,
    credentials: &str,
    secret: &str,
    budget: &str,
    git_url: &str,
) -> Config {
    let text = format!(
        "forge: {{api_url: \"{api}\", {credentials}, budget: {budget}}}\n\
         git: {{url: \"{url}\", cache_dir: \"{cache}\"}}\n\
         product: {{repo: acme/product}}\n\
         server: {{listen: \"127.0.0.1:0\", webhook_secret: \"{secret}\", resync: 1s}}\n",
        api = sb.api_url,
        url = git_url,
        cache = dir.join(cache).display(),
    );
    Config::parse(&text, "test config").expect("bot config")
}

impl Road {
    pub async fn start() -> Road {
        Self::start_with(RoadOptions::default()).await
    }

    pub async fn start_with(opts: RoadOptions) -> Road {
        let temp = tempfile::Builder::new()
            .prefix("stagecoach-flow-")
            .tempdir()
            .expect("tempdir");
        let dir = temp.path().to_path_buf();
        let mut sandbox_opts = SandboxOptions::new(&dir);
        sandbox_opts.api_prefix = opts.api_prefix.clone();
        if let Some(rules) = &opts.app {
            sandbox_opts.app_tokens = rules.clone();
        }
        let mut budget = sandbox::BOT_BUDGET.to_string();
        if let Some((limits, bot_budget)) = &opts.limits {
            sandbox_opts.limits = limits.clone();
            budget = bot_budget.clone();
        }
        let sb = sandbox::start(sandbox_opts).await.expect("sandbox");
        let dir = sb.dir().to_path_buf();
        let secret = hex::encode(rand::random::<[u8; 16]>());
        let git_url = if opts.local_git {
            sb.world.git_url_template()
        } else {
            sb.git_http_url_template()
        };
        let credentials = match &opts.app {
            Some(_) => {
                register_app(&sb).await;
                app_credentials()
            }
            None => format!("token: \"{}\"", sb.world.bot_token()),
        };
        let config = bot_config_with(&sb, &dir, "cache", &credentials, &secret, &budget, &git_url);
        let metrics = Arc::new(Metrics::new());
        let forge = GitHub::from_config(&config)
            .expect("forge")
            .with_metrics(metrics.clone());
        let mut engine = Engine::new(config, Arc::new(forge));
        if let Some(clock) = &opts.clock {
            engine = engine.with_clock(clock.clone());
        }
        let engine = Arc::new(engine);
        let road = Road {
            sb,
            dir,
            engine,
            metrics: metrics.clone(),
            bot: None,
            _temp: temp,
        };
        road.weather(opts.calm).await;
        if let Some(edit) = &opts.policy {
            let policy = road
                .file_at("product", "main", POLICY_PATH)
                .expect("the product's policy");
            road.person("rita")
                .commit_files(
                    "product",
                    "main",
                    &[(POLICY_PATH, &edit(&policy))],
                    "chore(policy): the test's policy",
                )
                .await
                .expect("commit the policy");
        }
        if !opts.bot {
            return road;
        }
        let bot = Bot::start(
            road.engine.clone(),
            metrics,
            "127.0.0.1:0",
            Some(secret.clone()),
            Duration::from_millis(500),
            None,
        )
        .await
        .expect("bot");
        road.sb
            .set_webhook(Some(format!("http://{}/webhook", bot.addr)), Some(secret));
        Road {
            bot: Some(bot),
            ..road
        }
    }

    /// Stop the bot and the sandbox (the temp dir goes with `self`).
    pub async fn stop(mut self) {
        if let Some(bot) = self.bot.take() {
            bot.shutdown().await;
        }
        self.sb.shutdown().await;
    }

    pub fn person(&self, login: &str) -> Person {
        self.sb.person(login).expect("person")
    }

    /// Staging's signals: calm (1% errors, no alerts) or stormy (30%, paging).
    pub async fn weather(&self, calm: bool) {
        let p = self.person("stagecoach-bot");
        let rate = if calm { 0.01 } else { 0.3 };
        p.call(
            Method::POST,
            "/_sandbox/prometheus",
            Some(json!({"query": ERROR_RATE, "value": rate})),
        )
        .await
        .expect("set error rate");
        let alerts = if calm {
            json!([])
        } else {
            json!([{"labels": {"alertname": "HighLatency", "severity": "page"}}])
        };
        p.call(Method::POST, "/_sandbox/alerts", Some(alerts))
            .await
            .expect("set alerts");
    }

    /// `component@version` is unhealthy wherever it runs (`world/unhealthy`).
    pub fn make_unhealthy(&self, what: &str) {
        append(&self.dir.join("world/unhealthy"), what);
    }

    /// The health check of `what` (`component@version`) holds until
    /// [`Road::release_slow`]: a slow rollout.
    pub fn make_slow(&self, what: &str) {
        append(&self.dir.join("world/slow"), what);
    }

    pub fn release_slow(&self, what: &str) {
        let path = self.dir.join("world/slow");
        let kept: Vec<String> = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter(|l| *l != what)
            .map(str::to_string)
            .collect();
        std::fs::write(&path, kept.join("\n") + "\n").expect("world/slow");
    }

    /// Give CI's health watch `timeout` (a policy change on the product's main).
    pub async fn ci_health_timeout(&self, timeout: &str) {
        let policy = self
            .file_at("product", "main", "policies/default.yaml")
            .expect("policy");
        let at = policy.find("timeout: 10s}").expect("the CI health timeout");
        let new = format!(
            "{}timeout: {timeout}}}{}",
            &policy[..at],
            &policy[at + "timeout: 10s}".len()..]
        );
        self.person("rita")
            .commit_files(
                "product",
                "main",
                &[("policies/default.yaml", &new)],
                "chore(policy): a longer CI health watch",
            )
            .await
            .expect("policy change");
    }

    /// The smoke gate fails for `what` (`component@version`, optionally
    /// followed by ` toggle=on|off`).
    pub fn make_smoke_fail(&self, what: &str) {
        append(&self.dir.join("world/smoke-fails"), what);
    }

    /// A person's own engine (their token, their cache): `stagecoach promote` as them.
    pub fn engine_as(&self, login: &str) -> Engine {
        let token = self.sb.world.token(login).expect("user");
        let config = bot_config(&self.sb, &self.dir, &format!("cache-{login}"), token, "x");
        let forge = GitHub::from_config(&config).expect("forge");
        Engine::new(config, Arc::new(forge))
    }

    // ── people's steps ──

    /// A developer's change: branch, commit, PR, labels. Returns the PR number.
    pub async fn component_pr(
        &self,
        who: &str,
        repo: &str,
        branch: &str,
        message: &str,
        labels: &[&str],
    ) -> u64 {
        let p = self.person(who);
        let file = format!("src/{}.txt", branch.replace('/', "-"));
        p.commit_files(repo, branch, &[(&file, message)], message)
            .await
            .expect("commit");
        let title = message.lines().next().unwrap_or(message);
        let n = p
            .open_pr(repo, branch, "main", title, "")
            .await
            .expect("open PR");
        if !labels.is_empty() {
            p.add_labels(repo, n, labels).await.expect("labels");
        }
        n
    }

    /// Merge a component PR and let its own pipeline tag the release.
    pub async fn merge_and_release(&self, who: &str, repo: &str, n: u64, tag: &str) {
        let p = self.person(who);
        let sha = p.merge(repo, n).await.expect("merge");
        p.tag(repo, tag, &sha).await.expect("tag");
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

    /// A person's commit on a product branch (made from main when new; `main`
    /// itself is a push straight to main) bumping one component in `product.yaml`.
    pub async fn bump_on_branch(
        &self,
        who: &str,
        branch: &str,
        component: &str,
        version: &str,
    ) -> String {
        let text = self
            .file_at("product", branch, "product.yaml")
            .or_else(|| self.file_at("product", "main", "product.yaml"))
            .expect("product.yaml");
        let new = stagecoach::manifest::product::set_component_version(
            &text,
            component,
            &semver::Version::parse(version).expect("version"),
        )
        .expect("bump");
        self.person(who)
            .commit_files(
                "product",
                branch,
                &[("product.yaml", &new)],
                &format!("feat({component}): {component} {version}"),
            )
            .await
            .expect("commit product.yaml")
    }

    /// A component's release pipeline: a commit on main and a tag.
    pub async fn component_release(&self, repo: &str, message: &str, tag: &str) {
        let p = self.person("alice");
        let sha = p
            .commit_files(
                repo,
                "main",
                &[(&format!("src/{tag}.txt"), message)],
                message,
            )
            .await
            .expect("commit");
        p.tag(repo, tag, &sha).await.expect("tag");
    }

    // ── reading the world ──

    pub async fn pr_by_head(&self, repo: &str, head: &str) -> Option<Value> {
        let list = self
            .person("alice")
            .get(&format!("/repos/acme/{repo}/pulls?state=all&per_page=100"))
            .await
            .expect("pulls");
        list.as_array().and_then(|a| {
            a.iter()
                .find(|pr| pr["head"]["ref"].as_str() == Some(head))
                .cloned()
        })
    }

    pub async fn pull(&self, repo: &str, n: u64) -> Value {
        self.person("alice").pull(repo, n).await.expect("pull")
    }

    pub async fn product_pr_for(&self, component: &str, version: &str) -> Value {
        let head = format!("stagecoach/{component}-{version}");
        wait_for(
            &format!("a product PR for {component} {version}"),
            || async { self.pr_by_head("product", &head).await },
        )
        .await
    }

    pub async fn status_of(
        &self,
        repo: &str,
        sha: &str,
        context: &str,
    ) -> Option<(String, String)> {
        let list = self
            .person("alice")
            .get(&format!("/repos/acme/{repo}/commits/{sha}/statuses"))
            .await
            .expect("statuses");
        // Newest first, as GitHub lists them.
        list.as_array().and_then(|a| {
            a.iter()
                .find(|s| s["context"].as_str() == Some(context))
                .map(|s| {
                    (
                        s["state"].as_str().unwrap_or("").to_string(),
                        s["description"].as_str().unwrap_or("").to_string(),
                    )
                })
        })
    }

    /// Wait until `context` on `sha` is `state`; returns its description.
    pub async fn wait_status(&self, repo: &str, sha: &str, context: &str, state: &str) -> String {
        wait_for(&format!("{context}={state} on {repo}@{sha}"), || async {
            self.status_of(repo, sha, context)
                .await
                .filter(|(s, _)| s == state)
                .map(|(_, d)| d)
        })
        .await
    }

    /// Every comment on a PR as (author, body), oldest first.
    pub async fn comments(&self, repo: &str, pr: u64) -> Vec<(String, String)> {
        self.person("alice")
            .comments(&format!("acme/{repo}"), pr)
            .await
            .expect("comments")
    }

    /// The bot's comments on a PR (bodies with their sticky markers).
    pub async fn bot_comments(&self, repo: &str, pr: u64) -> Vec<String> {
        self.comments(repo, pr)
            .await
            .into_iter()
            .filter(|(a, _)| a == "stagecoach-bot")
            .map(|(_, b)| b)
            .collect()
    }

    /// Wait for a bot comment containing `needle`; returns its body.
    pub async fn wait_comment(&self, repo: &str, pr: u64, needle: &str) -> String {
        wait_for(
            &format!("a bot comment on {repo}#{pr} saying {needle:?}"),
            || async {
                self.bot_comments(repo, pr)
                    .await
                    .into_iter()
                    .find(|b| b.contains(needle))
            },
        )
        .await
    }

    pub async fn wait_merged(&self, repo: &str, n: u64) {
        wait_for(&format!("{repo}#{n} merged"), || async {
            self.pull(repo, n).await["merged"].as_bool().filter(|m| *m)
        })
        .await;
    }

    pub fn bare(&self, repo: &str) -> git2::Repository {
        git2::Repository::open_bare(self.dir.join("repos/acme").join(format!("{repo}.git")))
            .expect("bare repo")
    }

    pub fn file_at(&self, repo: &str, rev: &str, path: &str) -> Option<String> {
        let r = self.bare(repo);
        let obj = r.revparse_single(&format!("{rev}:{path}")).ok()?;
        let blob = obj.as_blob()?;
        Some(String::from_utf8_lossy(blob.content()).into_owned())
    }

    pub fn landscape_version(&self, env: &str, cluster: &str, component: &str) -> Option<String> {
        let text = self.file_at(
            &format!("landscape-{env}"),
            "main",
            &format!("clusters/{cluster}/{component}/values.yaml"),
        )?;
        yaml_edit::get_scalar(&text, "image.tag").ok().flatten()
    }

    pub async fn wait_landscape(&self, env: &str, cluster: &str, component: &str, version: &str) {
        wait_for(
            &format!("{env}/{cluster} runs {component} {version}"),
            || async {
                self.landscape_version(env, cluster, component)
                    .filter(|v| v == version)
            },
        )
        .await;
    }

    /// Commit messages of a branch, newest first.
    pub fn log(&self, repo: &str, rev: &str) -> Vec<String> {
        self.commits(repo, rev)
            .into_iter()
            .map(|(_, m)| m)
            .collect()
    }

    /// (sha, message) of a branch's commits, newest first.
    pub fn commits(&self, repo: &str, rev: &str) -> Vec<(String, String)> {
        let r = self.bare(repo);
        let mut walk = r.revwalk().expect("revwalk");
        walk.push(
            r.revparse_single(rev)
                .expect("rev")
                .peel_to_commit()
                .expect("commit")
                .id(),
        )
        .expect("push");
        walk.filter_map(|o| o.ok())
            .filter_map(|o| r.find_commit(o).ok())
            .map(|c| {
                (
                    c.id().to_string(),
                    c.message().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    pub fn tag_message(&self, repo: &str, tag: &str) -> Option<String> {
        let r = self.bare(repo);
        let reference = r.find_reference(&format!("refs/tags/{tag}")).ok()?;
        let t = reference.peel_to_tag().ok()?;
        t.message().ok().flatten().map(str::to_string)
    }

    pub fn tags(&self, repo: &str) -> Vec<String> {
        let r = self.bare(repo);
        let names = r.tag_names(None).expect("tags");
        names
            .iter()
            .flatten()
            .flatten()
            .map(str::to_string)
            .collect()
    }

    pub async fn wait_tag(&self, tag: &str) -> String {
        wait_for(&format!("product tag {tag}"), || async {
            self.tag_message("product", tag)
        })
        .await
    }

    /// The final stability note of a product tag.
    pub fn note(&self, tag: &str) -> Option<String> {
        self.note_in(NOTES_STABILITY, tag)
    }

    pub fn samples(&self, tag: &str) -> Option<String> {
        self.note_in(NOTES_SAMPLES, tag)
    }

    fn note_in(&self, notes: &str, tag: &str) -> Option<String> {
        let r = self.bare("product");
        let commit = r.revparse_single(&format!("{tag}^{{commit}}")).ok()?;
        let note = r.find_note(Some(notes), commit.id()).ok()?;
        note.message().ok().map(str::to_string)
    }

    pub fn on_main(&self, repo: &str, tag: &str) -> bool {
        let r = self.bare(repo);
        let main = r.revparse_single("main^{commit}").expect("main").id();
        let t = r
            .revparse_single(&format!("{tag}^{{commit}}"))
            .expect("tag")
            .id();
        main == t || r.graph_descendant_of(main, t).expect("graph")
    }

    pub async fn release(&self, tag: &str) -> Option<Value> {
        let list = self
            .person("alice")
            .get("/repos/acme/product/releases?per_page=100")
            .await
            .expect("releases");
        list.as_array().and_then(|a| {
            a.iter()
                .find(|r| r["tag_name"].as_str() == Some(tag))
                .cloned()
        })
    }

    /// The tag staging runs now (its promotion marker).
    pub fn staging_tag(&self) -> Option<String> {
        let marker = self.file_at("landscape-staging", "main", ".stagecoach/promotion.yaml")?;
        marker
            .lines()
            .find_map(|l| l.strip_prefix("tag: "))
            .map(str::to_string)
    }

    pub async fn wait_staging(&self, tag: &str) {
        wait_for(&format!("{tag} on staging"), || async {
            self.staging_tag().filter(|t| t == tag)
        })
        .await;
    }
}

fn append(path: &Path, line: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("world file");
    writeln!(f, "{line}").expect("write world file");
}

/// Poll `check` until it returns `Some`, or fail the test naming the step.
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + STEP;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "step did not happen within {}s: {what}",
            STEP.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Check that `check` stays `false` for `period` (nothing happens).
pub async fn stays<F, Fut>(what: &str, period: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + period;
    while Instant::now() < deadline {
        assert!(!check().await, "it happened but should not: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A head sha of a PR JSON.
pub fn head_sha(pr: &Value) -> String {
    pr["head"]["sha"].as_str().unwrap_or_default().to_string()
}

pub fn number(pr: &Value) -> u64 {
    pr["number"].as_u64().unwrap_or_default()
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
