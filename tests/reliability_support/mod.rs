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
    /// What the bot's GitHub client counted (answers by family and status).
    pub metrics: Arc<Metrics>,
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
        url = sb.git_http_url_template(),
        cache = cache.display(),
    );
    Config::parse(&text, "test config").expect("config")
}

impl Rig {
    /// A fresh world with calm staging signals; the bot is started with `start_bot`.
    pub async fn new() -> Rig {
        Rig::with_read_timeout(stagecoach::forge::github::READ_TIMEOUT).await
    }

    /// Like [`Rig::new`], the bot's GitHub client calling an answer lost when
    /// no byte of it came for `read_timeout` (so a delay can lose an answer).
    pub async fn with_read_timeout(read_timeout: Duration) -> Rig {
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
        let auth = stagecoach::forge::github::GitHubAuth::from_config(&config).expect("auth");
        let forge = GitHub::with_read_timeout(&config.forge.api_url, auth, read_timeout)
            .expect("forge")
            .with_retry_policy(quick_retries())
            .with_metrics(metrics.clone());
        let engine = Arc::new(Engine::new(config, Arc::new(forge)).with_metrics(metrics.clone()));
        let http = stagecoach::engine::http::client_builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http");
        let rig = Rig {
            sb,
            bot: None,
            engine,
            metrics,
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

    /// Set a fault rule; it applies to the bot's requests only unless it
    /// names another `user`.
    pub async fn fault(&self, mut fault: Value) {
        if fault.get("user").is_none() {
            fault["user"] = json!("stagecoach-bot");
        }
        let r = self
            .http
            .post(format!("{}/_sandbox/faults", self.sb.api_url))
            .json(&fault)
            .send()
            .await
            .expect("fault");
        assert_eq!(r.status(), 204, "the sandbox refused the fault {fault}");
    }

    /// The rules set since the last clear, each with how often it was met.
    pub async fn fault_report(&self) -> Vec<Value> {
        self.http
            .get(format!("{}/_sandbox/faults", self.sb.api_url))
            .send()
            .await
            .expect("faults")
            .json::<Vec<Value>>()
            .await
            .expect("fault report")
    }

    /// Fail unless the bot met every fault rule set since the last clear (a
    /// rule on an endpoint the bot never calls proves nothing), then clear.
    pub async fn clear_faults(&self) {
        let report = self.fault_report().await;
        let missed: Vec<&Value> = report
            .iter()
            .filter(|r| r["hits"].as_u64().unwrap_or(0) == 0)
            .collect();
        assert!(
            missed.is_empty(),
            "fault rules the bot never met (the test proves nothing about them): {missed:?}"
        );
        self.clear_faults_unchecked().await;
    }

    /// Clear the faults without asking whether they were met.
    pub async fn clear_faults_unchecked(&self) {
        let r = self
            .http
            .delete(format!("{}/_sandbox/faults", self.sb.api_url))
            .send()
            .await
            .expect("clear");
        assert_eq!(r.status(), 204, "the sandbox did not clear its faults");
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
    let n = open_low_risk_pr(p, repo, branch).await;
    let sha = p.merge(repo, n).await.expect("merge");
    p.tag(repo, tag, &sha).await.expect("tag");
    n
}

/// Like [`low_risk_release`], but the PR merges only once the running bot
/// has checked its labels (its `stagecoach/labels` status is green on the
/// head), as a branch protection rule would have it — so the bot surely
/// reads and writes the component PR before it merges.
pub async fn low_risk_release_after_check(p: &Person, repo: &str, branch: &str, tag: &str) -> u64 {
    let n = open_low_risk_pr(p, repo, branch).await;
    let head = wait_for(&format!("the head of {repo}#{n}"), STEP, || async {
        p.pull(repo, n)
            .await
            .ok()
            .and_then(|pr| pr["head"]["sha"].as_str().map(str::to_string))
    })
    .await;
    merge_after_labels_check(p, repo, n, &head, tag, STEP).await;
    n
}

/// Once the bot's `stagecoach/labels` status on `head` is green (within
/// `limit`), merge `repo`#`n` and tag the merge `tag`, as the component's
/// pipeline behind a branch protection rule would.
pub async fn merge_after_labels_check(
    p: &Person,
    repo: &str,
    n: u64,
    head: &str,
    tag: &str,
    limit: Duration,
) {
    wait_for(
        &format!("the labels check on {repo}#{n}"),
        limit,
        || async {
            let combined = p
                .get(&format!("/repos/acme/{repo}/commits/{head}/status"))
                .await
                .ok()?;
            combined["statuses"]
                .as_array()?
                .iter()
                .any(|s| s["context"] == "stagecoach/labels" && s["state"] == "success")
                .then_some(())
        },
    )
    .await;
    let sha = p.merge(repo, n).await.expect("merge");
    p.tag(repo, tag, &sha).await.expect("tag");
}

/// A component PR with a change on `branch` and every label a low-risk
/// change needs.
async fn open_low_risk_pr(p: &Person, repo: &str, branch: &str) -> u64 {
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

impl World {
    /// The text of `path` on `branch` of `repo`, if it is there.
    pub fn file_at(&self, repo: &str, branch: &str, path: &str) -> Option<String> {
        let r = self.bare(repo);
        let tree = r
            .revparse_single(&format!("refs/heads/{branch}^{{tree}}"))
            .ok()?
            .peel_to_tree()
            .ok()?;
        let entry = tree.get_path(Path::new(path)).ok()?;
        let blob = entry.to_object(&r).ok()?.peel_to_blob().ok()?;
        String::from_utf8(blob.content().to_vec()).ok()
    }

    /// The tag staging runs now (its promotion marker on the landscape).
    pub fn staging_tag(&self) -> Option<String> {
        self.file_at("landscape-staging", "main", ".stagecoach/promotion.yaml")?
            .lines()
            .find_map(|l| l.strip_prefix("tag: "))
            .map(str::to_string)
    }

    /// The product tag's note in `notes_ref` (stability score or samples).
    pub fn note(&self, notes_ref: &str, tag: &str) -> Option<String> {
        let r = self.bare("product");
        let commit = r.revparse_single(&format!("{tag}^{{commit}}")).ok()?;
        let note = r.find_note(Some(notes_ref), commit.id()).ok()?;
        note.message().ok().map(str::to_string)
    }
}

/// Every release of the product (drafts included), every page.
pub async fn releases(p: &Person) -> Vec<Value> {
    let mut all = Vec::new();
    for page in 1.. {
        let list = p
            .get(&format!(
                "/repos/acme/product/releases?per_page=100&page={page}"
            ))
            .await
            .expect("releases");
        let items = list.as_array().cloned().unwrap_or_default();
        let last = items.len() < 100;
        all.extend(items);
        if last {
            break;
        }
    }
    all
}

// ── progress, not the clock: waiting for the bot's passes ──

impl Rig {
    /// Wait until the in-process bot has finished `n` more reconcile passes
    /// (`Engine::passes`). The first may have begun before the call, so a
    /// "nothing happened" check waits for at least 2: one whole pass that
    /// started after what the test did.
    pub async fn wait_passes(&self, n: u64) {
        let from = self.engine.passes();
        wait_for(
            &format!("{n} more passes of the bot (from {from})"),
            STEP,
            || async { (self.engine.passes() >= from + n).then_some(()) },
        )
        .await;
    }
}

// ── a `stagecoach serve` child process ──

/// The address a `stagecoach serve` child reports once it is listening
/// (`stagecoach serving on http://ADDR` on its stdout), read from `log` past
/// byte `from` (earlier lives of the same log are not this one).
pub async fn serving_addr(log: &Path, from: usize) -> String {
    const SAID: &str = "stagecoach serving on http://";
    wait_for(&format!("`{SAID}…` in {}", log.display()), STEP, || async {
        let text = std::fs::read(log).ok()?;
        let text = String::from_utf8_lossy(text.get(from..)?).into_owned();
        text.lines()
            .find_map(|l| l.split_once(SAID).map(|(_, a)| a.trim().to_string()))
    })
    .await
}

/// `stagecoach_passes_total` of the `serve` child at `addr` (its `/metrics`).
pub async fn child_passes(http: &reqwest::Client, addr: &str) -> Option<u64> {
    let text = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("stagecoach_passes_total "))
        .and_then(|n| n.trim().parse().ok())
}

/// Wait (at most `limit`) until the `serve` child at `addr` has finished `n`
/// more passes (the first may have begun before the call: wait for 2 or more
/// to be sure one whole pass saw what the test did).
pub async fn wait_child_passes(http: &reqwest::Client, addr: &str, n: u64, limit: Duration) {
    let from = wait_for(&format!("/metrics of the bot at {addr}"), limit, || {
        child_passes(http, addr)
    })
    .await;
    wait_for(
        &format!("{n} more passes of the bot at {addr} (from {from})"),
        limit,
        || async { (child_passes(http, addr).await? >= from + n).then_some(()) },
    )
    .await;
}

/// Every item of a list endpoint, page after page (GitHub's `page`/`per_page`).
pub async fn every_page(p: &Person, path: &str) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut all = Vec::new();
    for page in 1.. {
        let list = p
            .get(&format!("{path}{sep}per_page=100&page={page}"))
            .await
            .unwrap_or_else(|e| panic!("{path} page {page}: {e}"));
        let items = list.as_array().cloned().unwrap_or_default();
        let last = items.len() < 100;
        all.extend(items);
        if last {
            break;
        }
    }
    all
}
