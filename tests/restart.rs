//! No state lives only in the bot's memory: kill it at any point of a flow,
//! start a fresh one on the same cache and the same GitHub, and the road ends
//! where an uninterrupted run ends — one PR per bump, one sticky comment per
//! topic, one tag per version, one note per tag, no deploy twice. And once it
//! has converged, one more pass writes nothing.
//!
//! Two kinds of kill, alternating from one "life" of the bot to the next:
//! - between actions: `Engine::with_stop_after(1)` stops before the second
//!   action of a life;
//! - inside an action: the forge lets the life's `j`th write reach GitHub and
//!   then fails (the process died before it heard the answer), `j` growing
//!   1, 2, 3, … so the crash lands at ever later writes of a pass.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod reliability_support;

use async_trait::async_trait;
use serde_json::Value;
use stagecoach::config::Config;
use stagecoach::engine::{Clock, Engine};
use stagecoach::error::{Error, Result};
use stagecoach::forge::github::GitHub;
use stagecoach::forge::{
    Comment, CommitStatus, Forge, LabelEvent, MergeMethod, MergeOutcome, NewPull, NewRelease,
    Permission, PullRequest, Release, RepoId, Review, Tag,
};
use stagecoach::sandbox::{self, Person, Sandbox, SandboxOptions};

// ── a forge that dies after its budget of writes ──

/// Wraps the real GitHub client. Reads pass through; the `budget`th write
/// reaches GitHub and then fails as if the process had been killed before the
/// answer came back; every later write fails without reaching GitHub.
struct DyingForge {
    inner: Arc<dyn Forge>,
    budget: Option<AtomicUsize>,
    /// Count only the writes that make something new (a PR, a comment, a
    /// label, a merge, a release), not status updates.
    creations_only: bool,
    /// Where each life died, for the test's report.
    deaths: Arc<std::sync::Mutex<Vec<String>>>,
}

impl DyingForge {
    /// `Ok(true)`: write, then die. `Ok(false)`: write. `Err`: already dead.
    fn write(&self) -> Result<bool> {
        self.counted(true)
    }

    fn status_write(&self) -> Result<bool> {
        self.counted(!self.creations_only)
    }

    fn counted(&self, counts: bool) -> Result<bool> {
        let Some(left) = &self.budget else {
            return Ok(false);
        };
        if !counts {
            return match left.load(Ordering::SeqCst) {
                0 => Err(Error::world("killed: the bot is dead")),
                _ => Ok(false),
            };
        }
        match left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)) {
            Ok(1) => Ok(true),
            Ok(_) => Ok(false),
            Err(_) => Err(Error::world("killed: the bot is dead")),
        }
    }

    fn after<T>(&self, what: &str, last: bool, r: Result<T>) -> Result<T> {
        if last {
            r?;
            if let Ok(mut d) = self.deaths.lock() {
                d.push(format!("after {what}"));
            }
            return Err(Error::world("killed right after a write reached GitHub"));
        }
        r
    }
}

#[async_trait]
impl Forge for DyingForge {
    async fn whoami(&self) -> Result<String> {
        self.inner.whoami().await
    }
    async fn list_open_pulls(&self, repo: &RepoId) -> Result<Vec<PullRequest>> {
        self.inner.list_open_pulls(repo).await
    }
    async fn list_recent_pulls(&self, repo: &RepoId, limit: usize) -> Result<Vec<PullRequest>> {
        self.inner.list_recent_pulls(repo, limit).await
    }
    async fn get_pull(&self, repo: &RepoId, number: u64) -> Result<PullRequest> {
        self.inner.get_pull(repo, number).await
    }
    async fn create_pull(&self, repo: &RepoId, pull: &NewPull) -> Result<PullRequest> {
        let last = self.write()?;
        self.after(
            "create_pull",
            last,
            self.inner.create_pull(repo, pull).await,
        )
    }
    async fn close_pull(&self, repo: &RepoId, number: u64) -> Result<()> {
        let last = self.write()?;
        self.after(
            "close_pull",
            last,
            self.inner.close_pull(repo, number).await,
        )
    }
    async fn update_pull_body(&self, repo: &RepoId, number: u64, body: &str) -> Result<()> {
        let last = self.write()?;
        self.after(
            "update_pull_body",
            last,
            self.inner.update_pull_body(repo, number, body).await,
        )
    }
    async fn add_labels(&self, repo: &RepoId, number: u64, labels: &[String]) -> Result<()> {
        let last = self.write()?;
        self.after(
            "add_labels",
            last,
            self.inner.add_labels(repo, number, labels).await,
        )
    }
    async fn remove_label(&self, repo: &RepoId, number: u64, label: &str) -> Result<()> {
        let last = self.write()?;
        self.after(
            "remove_label",
            last,
            self.inner.remove_label(repo, number, label).await,
        )
    }
    async fn list_comments(&self, repo: &RepoId, number: u64) -> Result<Vec<Comment>> {
        self.inner.list_comments(repo, number).await
    }
    async fn create_comment(&self, repo: &RepoId, number: u64, body: &str) -> Result<Comment> {
        let last = self.write()?;
        self.after(
            "create_comment",
            last,
            self.inner.create_comment(repo, number, body).await,
        )
    }
    async fn update_comment(&self, repo: &RepoId, comment_id: u64, body: &str) -> Result<()> {
        let last = self.write()?;
        self.after(
            "update_comment",
            last,
            self.inner.update_comment(repo, comment_id, body).await,
        )
    }
    async fn list_reviews(&self, repo: &RepoId, number: u64) -> Result<Vec<Review>> {
        self.inner.list_reviews(repo, number).await
    }
    async fn label_events(&self, repo: &RepoId, number: u64) -> Result<Vec<LabelEvent>> {
        self.inner.label_events(repo, number).await
    }
    async fn set_status(&self, repo: &RepoId, sha: &str, status: &CommitStatus) -> Result<()> {
        let last = self.status_write()?;
        self.after(
            "set_status",
            last,
            self.inner.set_status(repo, sha, status).await,
        )
    }
    async fn list_statuses(&self, repo: &RepoId, sha: &str) -> Result<Vec<CommitStatus>> {
        self.inner.list_statuses(repo, sha).await
    }
    async fn merge_pull(
        &self,
        repo: &RepoId,
        number: u64,
        method: MergeMethod,
        expected_head_sha: &str,
    ) -> Result<MergeOutcome> {
        let last = self.write()?;
        self.after(
            "merge_pull",
            last,
            self.inner
                .merge_pull(repo, number, method, expected_head_sha)
                .await,
        )
    }
    async fn permission(&self, repo: &RepoId, user: &str) -> Result<Permission> {
        self.inner.permission(repo, user).await
    }
    async fn is_team_member(&self, org: &str, team_slug: &str, user: &str) -> Result<bool> {
        self.inner.is_team_member(org, team_slug, user).await
    }
    async fn list_releases(&self, repo: &RepoId) -> Result<Vec<Release>> {
        self.inner.list_releases(repo).await
    }
    async fn create_release(&self, repo: &RepoId, release: &NewRelease) -> Result<Release> {
        let last = self.write()?;
        self.after(
            "create_release",
            last,
            self.inner.create_release(repo, release).await,
        )
    }
    async fn update_release(&self, repo: &RepoId, id: u64, body: &str, draft: bool) -> Result<()> {
        let last = self.write()?;
        self.after(
            "update_release",
            last,
            self.inner.update_release(repo, id, body, draft).await,
        )
    }
    async fn list_tags(&self, repo: &RepoId) -> Result<Vec<Tag>> {
        self.inner.list_tags(repo).await
    }
    // `upsert_sticky_comment` keeps the trait's default, so its writes go
    // through the budget above.
}

// ── the road: a sandbox, people, and bots that live and die ──

/// Every run of the same flow sees the same clock, so stability samples are
/// taken at the same moments whatever the crashes.
struct FixedClock(chrono::DateTime<chrono::Utc>);

impl Clock for FixedClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0
    }
}

struct Road {
    sb: Sandbox,
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    clock: Arc<FixedClock>,
    /// How many lives the bot has had, and how each one ended.
    lives: usize,
    kills: usize,
    deaths: Arc<std::sync::Mutex<Vec<String>>>,
}

/// How a life of the bot ends.
#[derive(Clone, Copy, Debug)]
enum Kill {
    Never,
    AfterActions(usize),
    AfterWrites(usize),
    /// After the `n`th write that creates something (statuses not counted).
    AfterCreations(usize),
}

fn config_text(sb: &Sandbox, dir: &Path) -> String {
    format!(
        "forge: {{api_url: \"{api}\", token: \"{token}\", budget: {budget}}}\n\
         git: {{url: \"{url}\", cache_dir: \"{cache}\"}}\n\
         product: {{repo: acme/product}}\n\
         server: {{listen: \"127.0.0.1:0\", resync: 300ms}}\n",
        api = sb.api_url,
        budget = stagecoach::sandbox::BOT_BUDGET,
        token = sb.world.bot_token(),
        url = sb.git_http_url_template(),
        cache = dir.join("cache").display(),
    )
}

impl Road {
    async fn new() -> Road {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().to_path_buf();
        let sb = sandbox::start(SandboxOptions::new(dir.join("sandbox")))
            .await
            .expect("sandbox");
        // Calm weather on staging: the tags pass their KPI.
        let p = sb.person("stagecoach-bot").expect("bot");
        p.call(
            reqwest::Method::POST,
            "/_sandbox/prometheus",
            Some(serde_json::json!({"query": "sum(rate(http_requests_errors_total[5m]))", "value": 0.0})),
        )
        .await
        .expect("signal");
        Road {
            sb,
            _tmp: tmp,
            dir,
            clock: Arc::new(FixedClock(chrono::Utc::now() + chrono::Duration::hours(1))),
            lives: 0,
            kills: 0,
            deaths: Arc::default(),
        }
    }

    fn engine(&self, kill: Kill) -> Engine {
        let config =
            Config::parse(&config_text(&self.sb, &self.dir), "test config").expect("config");
        let github: Arc<dyn Forge> = Arc::new(GitHub::from_config(&config).expect("forge"));
        let forge = DyingForge {
            inner: github,
            budget: match kill {
                Kill::AfterWrites(n) | Kill::AfterCreations(n) => Some(AtomicUsize::new(n)),
                _ => None,
            },
            creations_only: matches!(kill, Kill::AfterCreations(_)),
            deaths: self.deaths.clone(),
        };
        let engine = Engine::new(config, Arc::new(forge)).with_clock(self.clock.clone());
        match kill {
            Kill::AfterActions(n) => engine.with_stop_after(n),
            _ => engine,
        }
    }

    /// Let the bot run (one life, never killed) until it has nothing to do.
    async fn settle(&mut self) -> usize {
        self.lives += 1;
        self.engine(Kill::Never).converge().await.expect("converge")
    }

    /// Let the bot run until it has nothing to do, killing every life, in
    /// turn: right after the first thing it creates; after one action;
    /// after its `j`th write (`j` = 1, 1, 2, 1, 2, 3, …).
    async fn settle_dying(&mut self) {
        let (mut j, mut top) = (0, 1);
        for life in 0..400 {
            let kill = match life % 3 {
                0 => Kill::AfterCreations(1),
                1 => Kill::AfterActions(1),
                _ => {
                    j += 1;
                    if j > top {
                        (j, top) = (1, top + 1);
                    }
                    Kill::AfterWrites(j)
                }
            };
            self.lives += 1;
            match self.engine(kill).converge().await {
                Ok(_) => return,
                Err(e) => {
                    let m = e.to_string();
                    assert!(
                        m.contains("killed") || m.contains("stopped"),
                        "life {life} failed for another reason than its kill: {m}"
                    );
                    self.kills += 1;
                    if m.contains("stopped") {
                        if let Ok(mut d) = self.deaths.lock() {
                            d.push("between two actions".into());
                        }
                    }
                }
            }
        }
        panic!("the bot never converged in 400 lives");
    }

    async fn settle_with(&mut self, dying: bool) {
        if dying {
            self.settle_dying().await
        } else {
            self.settle().await;
        }
    }

    fn person(&self, login: &str) -> Person {
        self.sb.person(login).expect("person")
    }

    /// A developer's labelled change, merged and released by the component's pipeline.
    async fn released_change(
        &self,
        repo: &str,
        branch: &str,
        message: &str,
        labels: &[&str],
        tag: &str,
    ) {
        let dev = self.person("alice");
        let file = format!("src/{}.txt", branch.replace('/', "-"));
        dev.commit_files(repo, branch, &[(&file, message)], message)
            .await
            .expect("push");
        let n = dev
            .open_pr(repo, branch, "main", message, "")
            .await
            .expect("pr");
        dev.add_labels(repo, n, labels).await.expect("labels");
        let sha = dev.merge(repo, n).await.expect("merge");
        dev.tag(repo, tag, &sha).await.expect("tag");
    }

    async fn product_pr(&self, head: &str) -> Value {
        let list = self
            .person("alice")
            .get("/repos/acme/product/pulls?state=all&per_page=100")
            .await
            .expect("pulls");
        list.as_array()
            .and_then(|a| a.iter().find(|p| p["head"]["ref"] == head).cloned())
            .unwrap_or_else(|| panic!("no product PR from {head}"))
    }

    async fn status(&self, sha: &str, context: &str) -> Option<String> {
        let list = self
            .person("alice")
            .get(&format!("/repos/acme/product/commits/{sha}/statuses"))
            .await
            .expect("statuses");
        list.as_array().and_then(|a| {
            a.iter()
                .find(|s| s["context"] == context)
                .map(|s| s["state"].as_str().unwrap_or("").to_string())
        })
    }
}

// ── the end state, as people would compare it ──

/// Commit ids and dates differ from run to run; everything else must not.
fn normalize(text: &str) -> String {
    let sha = regex::Regex::new(r"\b[0-9a-f]{7,40}\b").expect("regex");
    let date = regex::Regex::new(r"\d{4}-\d{2}-\d{2}([T ][0-9:.]+Z?)?").expect("regex");
    date.replace_all(&sha.replace_all(text, "<sha>"), "<date>")
        .into_owned()
}

#[derive(Debug, PartialEq)]
struct EndState {
    /// repo → head branch → [(state, merged, labels)], one entry per PR.
    pulls: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// `repo#n` → topic → bodies of the bot's sticky comments of that topic.
    comments: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// `repo#n` → context → latest state on the PR's head.
    statuses: BTreeMap<String, BTreeMap<String, String>>,
    /// product tag → how many tags of that name (always 1), its message.
    tags: BTreeMap<String, String>,
    /// product tag → stability note / sample notes.
    notes: BTreeMap<String, (Option<String>, Option<String>)>,
    /// product tag → releases of it (`draft` / `published`).
    releases: BTreeMap<String, Vec<String>>,
    /// repo → first line of every commit on main, and how many times it is there.
    commits: BTreeMap<String, BTreeMap<String, usize>>,
    /// repo → every file on main.
    files: BTreeMap<String, BTreeMap<String, String>>,
}

impl EndState {
    async fn read(road: &Road) -> EndState {
        let alice = road.person("alice");
        let mut state = EndState {
            pulls: BTreeMap::new(),
            comments: BTreeMap::new(),
            statuses: BTreeMap::new(),
            tags: BTreeMap::new(),
            notes: BTreeMap::new(),
            releases: BTreeMap::new(),
            commits: BTreeMap::new(),
            files: BTreeMap::new(),
        };
        for repo in &road.sb.world.repos {
            let list = alice
                .get(&format!("/repos/acme/{repo}/pulls?state=all&per_page=100"))
                .await
                .expect("pulls");
            for pr in list.as_array().cloned().unwrap_or_default() {
                let n = pr["number"].as_u64().unwrap_or_default();
                let mut labels: Vec<String> = pr["labels"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|l| l["name"].as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                labels.sort();
                let full = alice
                    .get(&format!("/repos/acme/{repo}/pulls/{n}"))
                    .await
                    .expect("pull");
                state
                    .pulls
                    .entry(repo.clone())
                    .or_default()
                    .entry(pr["head"]["ref"].as_str().unwrap_or("").to_string())
                    .or_default()
                    .push(format!(
                        "#{n} {} merged={} [{}]",
                        pr["state"].as_str().unwrap_or(""),
                        full["merged"],
                        labels.join(", ")
                    ));
                let key = format!("{repo}#{n}");
                for (author, body) in alice.comments(repo, n).await.expect("comments") {
                    let Some(rest) = body.strip_prefix("<!-- stagecoach:") else {
                        continue;
                    };
                    assert_eq!(author, "stagecoach-bot", "{body}");
                    let (topic, text) = rest.split_once(" -->\n").unwrap_or((rest, ""));
                    state
                        .comments
                        .entry(key.clone())
                        .or_default()
                        .entry(topic.to_string())
                        .or_default()
                        .push(normalize(text));
                }
                let sha = pr["head"]["sha"].as_str().unwrap_or("");
                let statuses = alice
                    .get(&format!("/repos/acme/{repo}/commits/{sha}/status"))
                    .await
                    .expect("status");
                for s in statuses["statuses"].as_array().cloned().unwrap_or_default() {
                    state.statuses.entry(key.clone()).or_default().insert(
                        s["context"].as_str().unwrap_or("").to_string(),
                        s["state"].as_str().unwrap_or("").to_string(),
                    );
                }
            }
            let bare = git2::Repository::open_bare(road.sb.world.repo_path(repo)).expect("bare");
            let mut commits = BTreeMap::new();
            let mut walk = bare.revwalk().expect("walk");
            walk.push_ref("refs/heads/main").expect("main");
            for oid in walk.flatten() {
                let c = bare.find_commit(oid).expect("commit");
                let subject = c.summary().ok().flatten().unwrap_or("").to_string();
                // The sandbox re-points the policy at its own port: not ours.
                if subject.starts_with("chore(policy): point the demo policy") {
                    continue;
                }
                *commits.entry(normalize(&subject)).or_insert(0) += 1;
            }
            state.commits.insert(repo.clone(), commits);
            let tree = bare
                .revparse_single("main^{tree}")
                .expect("tree")
                .peel_to_tree()
                .expect("tree");
            let mut files = BTreeMap::new();
            tree.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
                if let Ok(blob) = entry.to_object(&bare).and_then(|o| o.peel_to_blob()) {
                    let path = format!("{root}{}", entry.name().unwrap_or(""));
                    if path != "policies/default.yaml" {
                        files.insert(path, normalize(&String::from_utf8_lossy(blob.content())));
                    }
                }
                git2::TreeWalkResult::Ok
            })
            .expect("walk");
            state.files.insert(repo.clone(), files);
        }
        let product = git2::Repository::open_bare(road.sb.world.repo_path("product")).expect("p");
        for name in product
            .tag_names(None)
            .expect("tags")
            .iter()
            .flatten()
            .flatten()
        {
            let tag = product
                .revparse_single(&format!("refs/tags/{name}"))
                .expect("tag");
            let message = tag
                .as_tag()
                .and_then(|t| t.message().ok().flatten())
                .map(normalize)
                .unwrap_or_default();
            state.tags.insert(name.to_string(), message);
            let commit = tag.peel_to_commit().expect("commit").id();
            let note = |r: &str| {
                product
                    .find_note(Some(r), commit)
                    .ok()
                    .and_then(|n| n.message().ok().map(normalize))
            };
            state.notes.insert(
                name.to_string(),
                (
                    note("refs/notes/stability"),
                    note("refs/notes/stability-samples"),
                ),
            );
        }
        let releases = alice
            .get("/repos/acme/product/releases?per_page=100")
            .await
            .expect("releases");
        for r in releases.as_array().cloned().unwrap_or_default() {
            state
                .releases
                .entry(r["tag_name"].as_str().unwrap_or("").to_string())
                .or_default()
                .push(if r["draft"] == Value::Bool(true) {
                    "draft".into()
                } else {
                    "published".into()
                });
        }
        state
    }

    /// Nothing the bot made exists twice.
    fn assert_nothing_twice(&self, what: &str) {
        for (repo, heads) in &self.pulls {
            for (head, prs) in heads {
                assert_eq!(prs.len(), 1, "{what}: {repo} has {prs:?} from {head}");
            }
        }
        for (pr, topics) in &self.comments {
            for (topic, bodies) in topics {
                assert_eq!(bodies.len(), 1, "{what}: {pr} has {bodies:?} on {topic}");
            }
        }
        for (tag, releases) in &self.releases {
            assert_eq!(releases.len(), 1, "{what}: {tag} has releases {releases:?}");
        }
        for (repo, commits) in &self.commits {
            for (subject, n) in commits {
                // A PR environment is made and torn down with the same trailers, but
                // each subject is one step of the road, done once.
                assert_eq!(*n, 1, "{what}: {repo} has `{subject}` {n} times");
            }
        }
    }
}

/// Compare two end states field by field, so a failure names what differs.
fn assert_same_end(reference: &EndState, crashed: &EndState) {
    assert_eq!(reference.pulls, crashed.pulls, "PRs");
    assert_eq!(reference.comments, crashed.comments, "sticky comments");
    assert_eq!(reference.statuses, crashed.statuses, "statuses");
    assert_eq!(reference.tags, crashed.tags, "tags");
    assert_eq!(reference.notes, crashed.notes, "notes");
    assert_eq!(reference.releases, crashed.releases, "releases");
    assert_eq!(reference.commits, crashed.commits, "commits");
    assert_eq!(reference.files, crashed.files, "files");
}

// ── the flows ──

/// A low-risk minor feature: labels checked, product PR, CI deploy and
/// health, auto-merge, product tag v1.1.0, staging promotion, and v1.0.0's
/// stability note written as staging moves on.
async fn low_risk_to_staging(dying: bool) -> Road {
    let mut road = Road::new().await;
    road.settle().await; // staging takes v1.0.0 and samples it
    road.released_change(
        "payments",
        "feat/wallets",
        "feat(wallet): pay with a wallet",
        &[
            "component: S",
            "change: S",
            "ft-coverage: 90",
            "functional: true",
        ],
        "v1.5.0",
    )
    .await;
    road.settle_with(dying).await;
    road
}

/// A high-risk breaking change: PR environment, smoke gate, an approval
/// from a release manager, then the bot merges and tags v2.0.0.
async fn high_risk_through_approval(dying: bool) -> Road {
    let mut road = Road::new().await;
    road.settle().await;
    road.released_change(
        "payments",
        "feat/intents",
        "feat(api)!: payment intents replace charges\n\nBREAKING CHANGE: /charges is gone",
        &[
            "component: XL",
            "change: XL",
            "ft-coverage: 20",
            "functional: true",
        ],
        "v2.0.0",
    )
    .await;
    road.settle_with(dying).await;
    let pr = road.product_pr("stagecoach/payments-2.0.0").await;
    let sha = pr["head"]["sha"].as_str().expect("sha").to_string();
    assert_eq!(
        road.status(&sha, "stagecoach/approval").await.as_deref(),
        Some("pending"),
        "the bot waits for an approval"
    );
    let n = pr["number"].as_u64().expect("number");
    road.person("rita")
        .approve("product", n)
        .await
        .expect("approve");
    road.settle_with(dying).await;
    road
}

async fn check_flow(name: &str, reference: Road, crashed: Road) {
    let want = EndState::read(&reference).await;
    let got = EndState::read(&crashed).await;
    want.assert_nothing_twice(&format!("{name} without crashes"));
    got.assert_nothing_twice(&format!("{name} with crashes"));
    let deaths = crashed.deaths.lock().map(|d| d.clone()).unwrap_or_default();
    eprintln!(
        "{name}: {} lives, {} kills: {deaths:?}",
        crashed.lives, crashed.kills
    );
    assert!(
        crashed.kills >= 6,
        "{name}: the bot was killed only {} times",
        crashed.kills
    );
    for point in [
        "between two actions",
        "after create_pull",
        "after merge_pull",
    ] {
        assert!(
            deaths.iter().any(|d| d == point),
            "{name}: no kill {point}: {deaths:?}"
        );
    }
    assert_same_end(&want, &got);
    reference.sb.shutdown().await;
    crashed.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_risk_change_reaches_staging_the_same_way_however_often_the_bot_dies() {
    let reference = low_risk_to_staging(false).await;
    let end = EndState::read(&reference).await;
    assert!(end.tags.contains_key("v1.1.0"), "tagged: {:?}", end.tags);
    assert!(
        end.notes
            .get("v1.0.0")
            .is_some_and(|(note, _)| note.is_some()),
        "v1.0.0 has its stability note: {:?}",
        end.notes
    );
    let crashed = low_risk_to_staging(true).await;
    check_flow("low risk to staging", reference, crashed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_risk_change_is_approved_and_merged_once_however_often_the_bot_dies() {
    let reference = high_risk_through_approval(false).await;
    let end = EndState::read(&reference).await;
    assert!(end.tags.contains_key("v2.0.0"), "tagged: {:?}", end.tags);
    let crashed = high_risk_through_approval(true).await;
    check_flow("high risk through approval", reference, crashed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_resync_writes_nothing_and_costs_almost_no_rate_limit() {
    let mut road = low_risk_to_staging(false).await;
    let engine = road.engine(Kill::Never);
    // Warm the ETag cache the way a running bot has it.
    assert!(engine.pass().await.expect("pass").is_empty(), "converged");
    road.sb.reset_stats();
    let started = Instant::now();
    let decided = engine.pass().await.expect("quiet pass");
    let took = started.elapsed();
    assert!(
        decided.is_empty(),
        "nothing changed, nothing decided: {decided:?}"
    );
    let stats = road.sb.stats();
    let bot = stats
        .users
        .get("stagecoach-bot")
        .cloned()
        .unwrap_or_default();
    eprintln!(
        "quiet pass: {} counted requests, {} 304s, {} writes, {:?} ({took:?})",
        bot.requests, bot.not_modified, bot.writes, bot.by_method
    );
    assert_eq!(
        bot.writes, 0,
        "a quiet pass writes nothing: {:?}",
        bot.by_method
    );
    assert!(bot.not_modified > 0, "conditional requests are used");
    assert!(
        bot.requests <= 2,
        "a quiet pass costs at most a couple of rate-limited requests, not {} ({:?})",
        bot.requests,
        bot.by_method
    );
    road.lives += 1;
    road.sb.shutdown().await;
}

// ── the real process, killed with SIGKILL ──

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serve_process_killed_with_sigkill_resumes_and_ends_the_same() {
    let reference = low_risk_to_staging(false).await;
    let want = EndState::read(&reference).await;
    reference.sb.shutdown().await;

    let mut road = Road::new().await;
    let config = road.dir.join("stagecoach.yaml");
    std::fs::write(&config, config_text(&road.sb, &road.dir)).expect("config");
    // Each life says where it listens on its stdout (port 0), in its own file.
    let lives = std::cell::Cell::new(0usize);
    let serve = |config: &Path| {
        lives.set(lives.get() + 1);
        let out = road.dir.join(format!("serve-{}.out", lives.get()));
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_stagecoach"))
            .args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdout(std::fs::File::create(&out).expect("stdout"))
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("stagecoach serve");
        (child, out)
    };
    // The first process sets up staging undisturbed (like the reference run).
    let (mut child, _) = serve(&config);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !staging_runs(&road, "v1.0.0") {
        assert!(Instant::now() < deadline, "staging never took v1.0.0");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give it time to take its sample, then let a quiet resync go by.
    wait_sampled(&road, "v1.0.0").await;
    road.released_change(
        "payments",
        "feat/wallets",
        "feat(wallet): pay with a wallet",
        &[
            "component: S",
            "change: S",
            "ft-coverage: 90",
            "functional: true",
        ],
        "v1.5.0",
    )
    .await;
    // SIGKILL it again and again, at staggered moments, while the flow runs.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut kills = 0;
    let mut after = 250u64;
    let mut out = None;
    while kills < 6 && !flow_done(&road) {
        tokio::time::sleep(Duration::from_millis(after)).await;
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        kills += 1;
        after += 170;
        let (next, next_out) = serve(&config);
        child = next;
        out = Some(next_out);
    }
    // The last life's passes tell when it is done: two whole passes that
    // wrote nothing (a wall-clock window was too short on a loaded machine).
    let addr = match &out {
        Some(out) => reliability_support::serving_addr(out, 0).await,
        None => String::new(),
    };
    while !(flow_done(&road) && settled(&road, &addr).await) {
        assert!(Instant::now() < deadline, "the flow never finished");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    child.kill().expect("kill");
    let _ = child.wait();
    road.kills = kills;
    let got = EndState::read(&road).await;
    got.assert_nothing_twice("serve killed with SIGKILL");
    assert!(kills >= 2, "killed {kills} times");
    // Only the sample notes may differ: the process ran on the real clock.
    let strip = |mut s: EndState| {
        for v in s.notes.values_mut() {
            v.1 = None;
            v.0 =
                v.0.as_ref()
                    .map(|n| n.lines().next().unwrap_or("").to_string());
        }
        s
    };
    let (want, got) = (strip(want), strip(got));
    assert_eq!(want.pulls, got.pulls, "PRs");
    assert_eq!(
        want.comments.keys().collect::<Vec<_>>(),
        got.comments.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        want.tags.keys().collect::<Vec<_>>(),
        got.tags.keys().collect::<Vec<_>>()
    );
    assert_eq!(want.releases, got.releases, "releases");
    assert_eq!(want.commits, got.commits, "commits");
    road.sb.shutdown().await;
}

fn staging_runs(road: &Road, tag: &str) -> bool {
    let bare = git2::Repository::open_bare(road.sb.world.repo_path("landscape-staging"));
    bare.ok()
        .and_then(|r| {
            let blob = r
                .revparse_single("main:.stagecoach/promotion.yaml")
                .ok()?
                .peel_to_blob()
                .ok()?;
            Some(String::from_utf8_lossy(blob.content()).contains(&format!("tag: {tag}")))
        })
        .unwrap_or(false)
}

async fn wait_sampled(road: &Road, tag: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = git2::Repository::open_bare(road.sb.world.repo_path("product")).expect("p");
        let commit = r
            .revparse_single(&format!("{tag}^{{commit}}"))
            .expect("tag")
            .id();
        if r.find_note(Some("refs/notes/stability-samples"), commit)
            .is_ok()
        {
            return;
        }
        assert!(Instant::now() < deadline, "{tag} never sampled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn flow_done(road: &Road) -> bool {
    staging_runs(road, "v1.1.0")
}

/// The `serve` at `addr` made two whole passes and wrote nothing meanwhile
/// (without an address — never killed — the in-process check below).
async fn settled(road: &Road, addr: &str) -> bool {
    if addr.is_empty() {
        return quiet(road).await;
    }
    road.sb.reset_stats();
    let http = stagecoach::engine::http::client_builder()
        .build()
        .expect("an HTTP client");
    let Some(from) = reliability_support::child_passes(&http, addr).await else {
        return false;
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while reliability_support::child_passes(&http, addr)
        .await
        .is_none_or(|n| n < from + 2)
    {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    road.sb
        .stats()
        .users
        .get("stagecoach-bot")
        .is_none_or(|u| u.writes == 0)
}

/// Nothing moves for a moment: the last pass decided nothing.
async fn quiet(road: &Road) -> bool {
    road.sb.reset_stats();
    tokio::time::sleep(Duration::from_millis(900)).await;
    road.sb
        .stats()
        .users
        .get("stagecoach-bot")
        .is_none_or(|u| u.writes == 0)
}
