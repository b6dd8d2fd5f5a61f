//! Shared rig for the reliability tests: the sandbox and the real bot in one
//! process (like `stagecoach demo`), people who act on it, and the checks
//! that say "nothing was done twice": one product PR per change, one bot
//! comment per PR and topic, one landscape deploy per product PR, one tag
//! per merged change.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stagecoach::bot::Bot;
use stagecoach::config::Config;
use stagecoach::engine::Engine;
use stagecoach::forge::github::GitHub;
use stagecoach::forge::github::retry::RetryPolicy;
use stagecoach::git::trailers::Trailers;
use stagecoach::metrics::Metrics;
use stagecoach::sandbox::{self, Person, Sandbox, SandboxOptions};

pub const STEP: Duration = Duration::from_secs(60);

pub struct Rig {
    pub sb: Sandbox,
    pub bot: Option<Bot>,
    pub engine: Arc<Engine>,
    pub secret: String,
    pub http: reqwest::Client,
    _tmp: tempfile::TempDir,
}

/// Short waits, so a fault costs a test seconds, not minutes.
pub fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(400),
        max_wait: Duration::from_secs(5),
    }
}

pub fn bot_config(sb: &Sandbox, cache: &Path, secret: &str) -> Config {
    let text = format!(
        "forge: {{api_url: \"{api}\", token: \"{token}\", budget: {budget}}}\n\
         git: {{url: \"{url}\", cache_dir: \"{cache}\"}}\n\
         product: {{repo: acme/product}}\n\
         server: {{listen: \"127.0.0.1:0\", webhook_secret: \"{secret}\", resync: 1s}}\n",
        api = sb.api_url,
        budget = stagecoach::sandbox::BOT_BUDGET,
        token = sb.world.bot_token(),
        url = sb.world.git_url_template(),
        cache = cache.display(),
    );
    Config::parse(&text, "test config").expect("config")
}

impl Rig {
    /// A fresh world with calm staging signals; the bot is started with `start_bot`.
    pub async fn new() -> Rig {
        if let Ok(filter) = std::env::var("RELIABILITY_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        let tmp = tempfile::tempdir().expect("tmp");
        let sb = sandbox::start(SandboxOptions::new(tmp.path().join("sb")))
            .await
            .expect("sandbox");
        let secret = hex::encode(rand::random::<[u8; 16]>());
        let config = bot_config(&sb, &tmp.path().join("cache"), &secret);
        let metrics = Arc::new(Metrics::new());
        let forge = GitHub::from_config(&config)
            .expect("forge")
            .with_retry_policy(quick_retries())
            .with_metrics(metrics.clone());
        let engine = Arc::new(Engine::new(config, Arc::new(forge)).with_metrics(metrics));
        let http = stagecoach::engine::http::client_builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http");
        let rig = Rig {
            sb,
            bot: None,
            engine,
            secret,
            http,
            _tmp: tmp,
        };
        let ops = rig.person("stagecoach-bot");
        ops.call(
            reqwest::Method::POST,
            "/_sandbox/prometheus",
            Some(json!({"query": "sum(rate(http_requests_errors_total[5m]))", "value": 0.01})),
        )
        .await
        .expect("signals");
        rig
    }

    pub async fn start_bot(&mut self, resync: Duration) {
        let bot = Bot::start(
            self.engine.clone(),
            Arc::new(Metrics::new()),
            "127.0.0.1:0",
            Some(self.secret.clone()),
            resync,
            None,
        )
        .await
        .expect("bot");
        self.sb.set_webhook(
            Some(format!("http://{}/webhook", bot.addr)),
            Some(self.secret.clone()),
        );
        self.bot = Some(bot);
    }

    pub async fn stop(mut self) {
        if let Some(bot) = self.bot.take() {
            bot.shutdown().await;
        }
        self.sb.shutdown().await;
    }

    pub fn dir(&self) -> PathBuf {
        self.sb.dir().to_path_buf()
    }

    pub fn person(&self, login: &str) -> Person {
        self.sb.person(login).expect("person")
    }

    pub async fn fault(&self, fault: Value) {
        let r = self
            .http
            .post(format!("{}/_sandbox/faults", self.sb.api_url))
            .json(&fault)
            .send()
            .await
            .expect("fault");
        assert_eq!(r.status(), 204, "the sandbox refused the fault {fault}");
    }

    pub async fn clear_faults(&self) {
        self.http
            .delete(format!("{}/_sandbox/faults", self.sb.api_url))
            .send()
            .await
            .expect("clear");
    }

    pub fn world(&self) -> World {
        World::new(&self.dir())
    }
}

/// Poll `check` until it returns `Some`, or fail the test naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "did not happen within {}s: {what}",
            limit.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// A developer's fully labelled, functional, low-risk change to a component,
/// merged and tagged by the component's own pipeline.
pub async fn low_risk_release(p: &Person, repo: &str, branch: &str, tag: &str) -> u64 {
    let file = format!("src/{}.txt", branch.replace('/', "-"));
    let message = format!("fix({repo}): {branch}");
    p.commit_files(repo, branch, &[(&file, &message)], &message)
        .await
        .expect("commit");
    let n = p
        .open_pr(repo, branch, "main", &message, "")
        .await
        .expect("open pr");
    p.add_labels(
        repo,
        n,
        &[
            "component: S",
            "change: S",
            "ft-coverage: 90",
            "functional: true",
        ],
    )
    .await
    .expect("labels");
    let sha = p.merge(repo, n).await.expect("merge");
    p.tag(repo, tag, &sha).await.expect("tag");
    n
}

/// The world as git and the forge's files say it is (read straight from the
/// sandbox's bare repos and state, never through the bot).
pub struct World {
    dir: PathBuf,
}

impl World {
    pub fn new(dir: &Path) -> World {
        World { dir: dir.into() }
    }

    pub fn bare(&self, repo: &str) -> git2::Repository {
        git2::Repository::open_bare(self.dir.join("repos/acme").join(format!("{repo}.git")))
            .expect("bare repo")
    }

    pub fn tags(&self, repo: &str) -> Vec<String> {
        let r = self.bare(repo);
        let mut tags: Vec<String> = r
            .tag_names(None)
            .expect("tags")
            .into_iter()
            .filter_map(|t| t.ok().flatten().map(str::to_string))
            .collect();
        tags.sort();
        tags
    }

    /// Messages of the commits on `branch`, newest first.
    pub fn log(&self, repo: &str, branch: &str) -> Vec<String> {
        let r = self.bare(repo);
        let mut walk = r.revwalk().expect("walk");
        walk.push_ref(&format!("refs/heads/{branch}"))
            .expect("push");
        walk.flatten()
            .filter_map(|id| r.find_commit(id).ok())
            .map(|c| c.message().unwrap_or("").to_string())
            .collect()
    }

    /// Commits on `repo`'s main whose trailers have every `(key, value)`.
    pub fn commits_with(&self, repo: &str, trailers: &[(&str, &str)]) -> usize {
        self.log(repo, "main")
            .iter()
            .filter(|m| {
                let t = Trailers::parse(m);
                trailers.iter().all(|(k, v)| t.get_all(k).contains(v))
            })
            .count()
    }

    pub fn head(&self, repo: &str, branch: &str) -> String {
        self.bare(repo)
            .revparse_single(&format!("refs/heads/{branch}"))
            .expect("head")
            .id()
            .to_string()
    }
}

/// Every PR of `repo` (any state), as the forge lists them.
pub async fn pulls(p: &Person, repo: &str) -> Vec<Value> {
    try_pulls(p, repo).await.expect("pulls")
}

/// Like [`pulls`], but `None` while the forge answers with an (injected) error.
pub async fn try_pulls(p: &Person, repo: &str) -> Option<Vec<Value>> {
    p.get(&format!("/repos/acme/{repo}/pulls?state=all&per_page=100"))
        .await
        .ok()
        .and_then(|v| v.as_array().cloned())
}

pub async fn pr_by_head(p: &Person, repo: &str, head: &str) -> Option<Value> {
    try_pulls(p, repo)
        .await?
        .into_iter()
        .find(|pr| pr["head"]["ref"].as_str() == Some(head))
}

/// Nothing done twice, anywhere the bot writes on the forge: one PR per head
/// branch on the product, one bot comment per PR and topic on every repo.
pub async fn assert_nothing_doubled(p: &Person, repos: &[&str]) {
    let product = pulls(p, "product").await;
    let mut heads: HashMap<String, usize> = HashMap::new();
    for pr in &product {
        *heads
            .entry(pr["head"]["ref"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
    }
    for (head, n) in &heads {
        assert_eq!(*n, 1, "{n} product PRs for the head branch {head}");
    }
    for repo in repos {
        for pr in pulls(p, repo).await {
            let n = pr["number"].as_u64().expect("number");
            let comments = p
                .comments(&format!("acme/{repo}"), n)
                .await
                .expect("comments");
            let mut topics: HashMap<String, usize> = HashMap::new();
            for (author, body) in &comments {
                if author == "stagecoach-bot" {
                    let marker = body.lines().next().unwrap_or("").to_string();
                    *topics.entry(marker).or_default() += 1;
                }
            }
            for (topic, count) in &topics {
                assert_eq!(
                    *count, 1,
                    "acme/{repo}#{n}: {count} bot comments on the topic {topic}"
                );
            }
        }
    }
}

/// Wait until `product` PR `n` is merged.
pub async fn wait_merged(p: &Person, n: u64, limit: Duration) {
    wait_for(&format!("product#{n} merged"), limit, || async {
        p.pull("product", n)
            .await
            .ok()
            .and_then(|v| v["merged"].as_bool())
            .filter(|m| *m)
    })
    .await;
}
