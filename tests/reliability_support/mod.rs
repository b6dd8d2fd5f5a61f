//! The reliability tests' side of the kit (`stagecoach::kit`): its road as
//! a `Rig` with quick retries and the bot started by the test, faults the
//! sandbox injects, and the checks that say "nothing was done twice": one
//! product PR per change, one bot comment per PR and topic.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use stagecoach::forge::github::retry::RetryPolicy;
use stagecoach::kit::{self, LOW, Progress, Repos, RoadOptions, read_forge};
use stagecoach::sandbox::Person;

/// How long the bot may make no progress before a step fails (the kit's).
pub const STEP: Duration = kit::wait::STALL;

/// The kit's road, its bot started by the test (`start_bot`).
pub struct Rig {
    road: kit::Road,
    pub http: reqwest::Client,
}

impl std::ops::Deref for Rig {
    type Target = kit::Road;
    fn deref(&self) -> &kit::Road {
        &self.road
    }
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
        let road = kit::Road::start(RoadOptions {
            bot: false,
            read_timeout: Some(read_timeout),
            retry: Some(quick_retries()),
            ..RoadOptions::default()
        })
        .await
        .expect("the road starts");
        let http = stagecoach::engine::http::client_builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http");
        Rig { road, http }
    }

    pub async fn start_bot(&mut self, resync: Duration) {
        self.road.start_bot(resync).await.expect("bot");
    }

    pub async fn stop_bot(&mut self) {
        self.road.stop_bot().await;
    }

    pub async fn stop(self) {
        self.road.stop().await;
    }

    pub fn dir(&self) -> PathBuf {
        self.road.dir.clone()
    }

    pub fn person(&self, login: &str) -> Person {
        self.road.person(login).expect("person")
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

    /// Wait until the in-process bot has finished `n` more passes (the
    /// first may have begun before the call: a "nothing happened" check
    /// waits for at least 2).
    pub async fn wait_passes(&self, n: u64) {
        self.road
            .wait_passes(n)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

/// Ask `check` until it answers `Some`, for at most `limit` without the
/// bot's passes to count (the kit's wait), or fail the test naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let within = Progress::Within(limit);
    let waited = kit::wait_for(&within, what, || {
        let answer = check();
        async move { Ok(answer.await) }
    });
    waited.await.unwrap_or_else(|e| panic!("{e}"))
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
    let message = format!("fix({repo}): {branch}");
    let opened = kit::steps::open_component_pr(p, repo, branch, &message, LOW);
    opened.await.expect("a low-risk component PR")
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
            let comments = read_forge::comments(p, repo, n).await.expect("comments");
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

/// The world as git says it is (the kit's readers of the sandbox's repos).
pub struct World(Repos);

impl World {
    pub fn new(dir: &Path) -> World {
        World(Repos::new(dir))
    }

    pub fn bare(&self, repo: &str) -> git2::Repository {
        self.0.bare(repo).expect("bare repo")
    }

    pub fn tags(&self, repo: &str) -> Vec<String> {
        self.0.tags(repo).expect("tags")
    }

    /// Messages of the commits on `branch`, newest first.
    pub fn log(&self, repo: &str, branch: &str) -> Vec<String> {
        self.0.log(repo, branch).expect("commits")
    }

    /// Commits on `repo`'s main whose trailers have every `(key, value)`.
    pub fn commits_with(&self, repo: &str, trailers: &[(&str, &str)]) -> usize {
        self.0.commits_with(repo, trailers).expect("commits")
    }

    pub fn head(&self, repo: &str, branch: &str) -> String {
        self.0.head(repo, branch).expect("head")
    }

    /// The text of `path` on `branch` of `repo`, if it is there.
    pub fn file_at(&self, repo: &str, branch: &str, path: &str) -> Option<String> {
        self.0.file_at(repo, branch, path).expect("bare repo")
    }

    /// The tag staging runs now (its promotion marker on the landscape).
    pub fn staging_tag(&self) -> Option<String> {
        self.0.staging_tag().expect("landscape-staging")
    }

    /// The product tag's note in `notes_ref` (stability score or samples).
    pub fn note(&self, notes_ref: &str, tag: &str) -> Option<String> {
        self.0.note(notes_ref, tag).expect("notes")
    }
}

/// Every PR of `repo` (any state), every page.
pub async fn pulls(p: &Person, repo: &str) -> Vec<Value> {
    read_forge::pulls(p, repo).await.expect("pulls")
}

/// Like [`pulls`], but `None` while the forge answers with an (injected) error.
pub async fn try_pulls(p: &Person, repo: &str) -> Option<Vec<Value>> {
    read_forge::pulls(p, repo).await.ok()
}

/// `None` also while the forge answers with an (injected) error.
pub async fn pr_by_head(p: &Person, repo: &str, head: &str) -> Option<Value> {
    read_forge::pr_by_head(p, repo, head).await.ok().flatten()
}

/// Every release of the product (drafts included), every page.
pub async fn releases(p: &Person) -> Vec<Value> {
    read_forge::releases(p).await.expect("releases")
}

/// Every item of a list endpoint, every page.
pub async fn every_page(p: &Person, path: &str) -> Vec<Value> {
    read_forge::every_page(p, path)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
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

// ── a `stagecoach serve` child process (the kit's) ──

/// The address a `serve` child reports in `log` past byte `from`.
pub async fn serving_addr(log: &Path, from: usize) -> String {
    kit::serving_addr(log, from)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// `stagecoach_passes_total` of the `serve` child at `addr` (its `/metrics`).
pub async fn child_passes(http: &reqwest::Client, addr: &str) -> Option<u64> {
    kit::wait::serve_passes(http, addr).await
}

/// Wait until the `serve` child at `addr` has finished `n` more passes
/// (the first may have begun before the call: wait for 2 or more), failing
/// once it made none for the kit's stall limit.
pub async fn wait_child_passes(http: &reqwest::Client, addr: &str, n: u64) {
    let serve = Progress::Serve {
        http: http.clone(),
        addr: addr.to_string(),
    };
    kit::wait_passes(&serve, n)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}
