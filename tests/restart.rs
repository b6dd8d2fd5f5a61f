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
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::Value;
use stagecoach::engine::{Clock, Engine, NOTES_SAMPLES, NOTES_STABILITY};
use stagecoach::error::{Error, Result};
use stagecoach::forge::github::GitHub;
use stagecoach::forge::{
    Comment, CommitStatus, Forge, LabelEvent, MergeMethod, MergeOutcome, NewPull, NewRelease,
    Permission, PullRequest, Release, RepoId, Review, Tag,
};
use stagecoach::kit::{self, Progress, RoadOptions, Serve, read_forge, serve_command};
use stagecoach::sandbox::Person;

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

/// The kit's road (its sandbox, repos and config) and the bot's lives.
struct Road {
    kit: kit::Road,
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

impl std::ops::Deref for Road {
    type Target = kit::Road;
    fn deref(&self) -> &kit::Road {
        &self.kit
    }
}

impl Road {
    async fn new() -> Road {
        // Calm weather on staging: the tags pass their KPI.
        let kit = kit::Road::start(RoadOptions {
            bot: false,
            ..RoadOptions::default()
        })
        .await
        .expect("the road starts");
        Road {
            kit,
            clock: Arc::new(FixedClock(chrono::Utc::now() + chrono::Duration::hours(1))),
            lives: 0,
            kills: 0,
            deaths: Arc::default(),
        }
    }

    /// The bot's config (the kit's), resyncing every 300ms when it serves.
    fn bot_config(&self) -> kit::BotConfig {
        self.config.clone().resync("300ms")
    }

    fn engine(&self, kill: Kill) -> Engine {
        let config = self.bot_config().parse().expect("config");
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
        self.kit.person(login).expect("person")
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
        let alice = self.person("alice");
        let opened = kit::steps::open_component_pr(&alice, repo, branch, message, labels);
        let n = opened.await.expect("a component PR");
        let released = self.kit.merge_and_release("alice", repo, n, tag);
        released.await.expect("merge and tag");
    }

    async fn product_pr(&self, head: &str) -> Value {
        read_forge::pr_by_head(&self.person("alice"), "product", head)
            .await
            .expect("pulls")
            .unwrap_or_else(|| panic!("no product PR from {head}"))
    }

    async fn status(&self, sha: &str, context: &str) -> Option<String> {
        read_forge::status_of(&self.person("alice"), "product", sha, context)
            .await
            .expect("statuses")
            .map(|(state, _)| state)
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
            for pr in read_forge::pulls(&alice, repo).await.expect("pulls") {
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
                let comments = read_forge::comments(&alice, repo, n).await;
                for (author, body) in comments.expect("comments") {
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
                // Newest first: the first of a context is its state now.
                let statuses = read_forge::statuses(&alice, repo, sha).await;
                for s in statuses.expect("statuses") {
                    state
                        .statuses
                        .entry(key.clone())
                        .or_default()
                        .entry(s["context"].as_str().unwrap_or("").to_string())
                        .or_insert_with(|| s["state"].as_str().unwrap_or("").to_string());
                }
            }
            let mut commits = BTreeMap::new();
            for message in road.repos.log(repo, "main").expect("commits") {
                let subject = message.lines().next().unwrap_or("");
                // The sandbox re-points the policy at its own port: not ours.
                if subject.starts_with("chore(policy): point the demo policy") {
                    continue;
                }
                *commits.entry(normalize(subject)).or_insert(0) += 1;
            }
            state.commits.insert(repo.clone(), commits);
            let mut files = road.repos.files(repo, "main").expect("files");
            files.remove(kit::POLICY_PATH);
            let files = files.into_iter().map(|(p, t)| (p, normalize(&t)));
            state.files.insert(repo.clone(), files.collect());
        }
        for name in road.repos.tags("product").expect("tags") {
            let message = road.repos.tag_message("product", &name).expect("tag");
            state.tags.insert(
                name.clone(),
                message.as_deref().map(normalize).unwrap_or_default(),
            );
            let note = |r: &str| {
                let text = road.repos.note(r, &name).expect("notes");
                text.as_deref().map(normalize)
            };
            let notes = (note(NOTES_STABILITY), note(NOTES_SAMPLES));
            state.notes.insert(name.clone(), notes);
        }
        for r in read_forge::releases(&alice).await.expect("releases") {
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
        kit::LOW,
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
        kit::HIGH,
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
    reference.kit.stop().await;
    crashed.kit.stop().await;
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
    road.kit.stop().await;
}

// ── the real process, killed with SIGKILL ──

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serve_process_killed_with_sigkill_resumes_and_ends_the_same() {
    let reference = low_risk_to_staging(false).await;
    let want = EndState::read(&reference).await;
    reference.kit.stop().await;

    let mut road = Road::new().await;
    let config = road.dir.join("stagecoach.yaml");
    road.bot_config().write(&config).expect("config");
    // Each life says where it listens (port 0) in its own log.
    let lives = std::cell::Cell::new(0usize);
    let serve = || {
        lives.set(lives.get() + 1);
        let log = road.dir.join(format!("serve-{}.out", lives.get()));
        let mut cmd = serve_command(
            std::path::Path::new(env!("CARGO_BIN_EXE_stagecoach")),
            &config,
        );
        cmd.env("RUST_LOG", "warn");
        async move { Serve::start(cmd, &log).await.expect("stagecoach serve") }
    };
    // The first process sets up staging undisturbed (like the reference run).
    let mut child = serve().await;
    let wait = |what: &'static str, tag: &'static str, progress: Progress| {
        let road = &road;
        async move {
            kit::wait_for(&progress, what, || async {
                Ok(staging_runs(road, tag).then_some(()))
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"))
        }
    };
    wait("staging takes v1.0.0", "v1.0.0", child.progress()).await;
    // Let it take its sample, then let a quiet resync go by.
    let progress = child.progress();
    let sampled = kit::wait_for(&progress, "a sample of v1.0.0", || async {
        road.repos.note(NOTES_SAMPLES, "v1.0.0")
    });
    sampled.await.unwrap_or_else(|e| panic!("{e}"));
    road.released_change(
        "payments",
        "feat/wallets",
        "feat(wallet): pay with a wallet",
        kit::LOW,
        "v1.5.0",
    )
    .await;
    // SIGKILL it again and again, at staggered moments, while the flow runs.
    let mut kills = 0;
    let mut after = 250u64;
    while kills < 6 && !flow_done(&road) {
        tokio::time::sleep(Duration::from_millis(after)).await;
        child.kill();
        kills += 1;
        after += 170;
        child = serve().await;
    }
    // The last life's passes tell when it is done: the flow's end on
    // staging, then two whole passes that wrote nothing.
    wait("the flow reaches staging", "v1.1.0", child.progress()).await;
    let progress = child.progress();
    let settled = kit::wait_for(&progress, "two passes that write nothing", || async {
        Ok(settled(&road, &child).await.then_some(()))
    });
    settled.await.unwrap_or_else(|e| panic!("{e}"));
    child.kill();
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
    road.kit.stop().await;
}

fn staging_runs(road: &Road, tag: &str) -> bool {
    road.repos
        .staging_tag()
        .is_ok_and(|t| t.as_deref() == Some(tag))
}

fn flow_done(road: &Road) -> bool {
    staging_runs(road, "v1.1.0")
}

/// The `serve` child made two whole passes and wrote nothing meanwhile.
async fn settled(road: &Road, child: &Serve) -> bool {
    road.sb.reset_stats();
    if kit::wait_passes(&child.progress(), 2).await.is_err() {
        return false;
    }
    road.sb
        .stats()
        .users
        .get("stagecoach-bot")
        .is_none_or(|u| u.writes == 0)
}
