//! `stagecoach demo`: the whole road, played in the sandbox, checked.
//!
//! The sandbox (a GitHub-compatible server over bare repos) and the real bot
//! (the same GitHub client, git code and webhook server as production) run in
//! one process, started by the kit the tests use (`crate::kit`). People act
//! through the sandbox's API like they would on GitHub; the bot only hears
//! about it through signed webhooks and its resync loop. Every step waits for
//! the bot's visible result (for as long as the bot makes passes) and checks
//! it; the demo fails (exit 1) on the first step that does not happen.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::engine::{Engine, NOTES_SAMPLES, NOTES_STABILITY};
use crate::error::{Error, Result};
use crate::kit::{HIGH, LOW, Road, RoadOptions, read_forge, steps};
use crate::sandbox::people::Person;

/// `println!` that ends the process quietly when stdout is closed
/// (`stagecoach demo | head`) instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = crate::cli::emitln(&format!($($arg)*));
    }};
}

pub struct DemoOptions {
    pub dir: Option<PathBuf>,
    pub keep: bool,
}

/// What the demo proved, for the closing lines.
pub struct DemoReport {
    /// Where the sandbox was built.
    pub dir: PathBuf,
    /// Whether it is still there (`--keep`); otherwise it was removed.
    pub kept: bool,
    pub steps: usize,
    pub elapsed: Duration,
}

/// Prints the timeline: people's steps, the bot's actions, the checks.
struct Timeline {
    start: Instant,
    checks: std::sync::atomic::AtomicUsize,
    /// The bot's journal and how much of it is printed, so a check is
    /// printed after the actions it checks.
    journal: std::sync::OnceLock<(Arc<Engine>, Arc<std::sync::atomic::AtomicUsize>)>,
}

impl Timeline {
    fn line(&self, who: &str, what: &str) {
        say!(
            "[{:>5.1}s] {who:<10} {what}",
            self.start.elapsed().as_secs_f64()
        );
    }
    fn chapter(&self, title: &str) {
        say!("\n── {title} ──");
    }
    fn ok(&self, what: &str) {
        if let Some((engine, seen)) = self.journal.get() {
            print_new_journal(engine, self, seen);
        }
        self.checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.line("✔ check", what);
    }
}

/// The bot's resync period in the demo.
const RESYNC: Duration = Duration::from_secs(1);

pub async fn run(opts: DemoOptions) -> Result<DemoReport> {
    // What was in `--dir` before, so that without `--keep` only what the
    // demo made there is removed afterwards.
    let mut before: Option<Vec<std::ffi::OsString>> = None;
    let (dir, _temp) = match &opts.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            before = Some(
                std::fs::read_dir(d)?
                    .filter_map(|e| e.ok().map(|e| e.file_name()))
                    .collect(),
            );
            (d.clone(), None)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("stagecoach-demo-")
                .tempdir()?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let t = Arc::new(Timeline {
        start: Instant::now(),
        checks: Default::default(),
        journal: Default::default(),
    });
    say!(
        "Stagecoach demo: the road from a component PR to production, in a sandbox at {}",
        dir.display()
    );
    // Stormy weather on staging at first, so the first tag there fails its KPI.
    let road = Road::start(RoadOptions {
        dir: Some(dir.clone()),
        calm: false,
        resync: RESYNC,
        ..RoadOptions::default()
    })
    .await?;
    t.line(
        "sandbox",
        &format!(
            "GitHub-compatible API on {} over bare repos in {}/repos",
            road.sb.api_url,
            dir.display()
        ),
    );
    t.line(
        "bot",
        &format!(
            "listening on {} (webhooks signed, resync every {}s)",
            road.bot_addr().map(|a| a.to_string()).unwrap_or_default(),
            RESYNC.as_secs()
        ),
    );
    let engine = road.engine.clone();
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let _ = t.journal.set((engine.clone(), seen.clone()));
    let printer = spawn_journal_printer(engine.clone(), t.clone(), seen.clone());

    // With --keep, the configs `stagecoach sandbox --dir D` would write, so
    // the README's status/promote examples work as soon as it serves again.
    let kept_configs = if opts.keep {
        let secret = crate::cli::sandbox::webhook_secret(&dir)?;
        Some((road.sb.world.clone(), secret))
    } else {
        None
    };
    let story = Story { road: &road, t: &t };
    let result = story.play().await;

    printer.abort();
    print_new_journal(&engine, &t, &seen);
    road.stop().await;
    let elapsed = t.start.elapsed();
    result?;
    let steps = t.checks.load(std::sync::atomic::Ordering::Relaxed);
    if let Some((world, secret)) = kept_configs {
        let dir = match _temp {
            Some(temp) => temp.keep(),
            None => dir.clone(),
        };
        let config = crate::cli::sandbox::write_configs(&world, DEFAULT_SANDBOX_URL, &secret)?;
        say!(
            "\nkept the sandbox at {} (repos/acme/*.git, forge/, people/); serve it again with\n  stagecoach sandbox --dir {}\nthen: stagecoach status --config {}",
            dir.display(),
            dir.display(),
            config.display()
        );
    } else if let Some(before) = before {
        remove_new_entries(&dir, &before)?;
    }
    Ok(DemoReport {
        dir,
        kept: opts.keep,
        steps,
        elapsed,
    })
}

/// Where `stagecoach sandbox` listens by default; kept configs point there.
const DEFAULT_SANDBOX_URL: &str = "http://127.0.0.1:7780";

/// Remove what the demo made in `dir`: every entry not in `before`.
fn remove_new_entries(dir: &Path, before: &[std::ffi::OsString]) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if before.contains(&entry.file_name()) {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn spawn_journal_printer(
    engine: Arc<Engine>,
    t: Arc<Timeline>,
    seen: Arc<std::sync::atomic::AtomicUsize>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            print_new_journal(&engine, &t, &seen);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

fn print_new_journal(engine: &Engine, t: &Timeline, seen: &std::sync::atomic::AtomicUsize) {
    let journal = engine.journal();
    let from = seen.swap(journal.len(), std::sync::atomic::Ordering::Relaxed);
    for e in journal.iter().skip(from) {
        // Sticky comments and statuses are the chatter of the actions above them.
        if e.action.starts_with("comment") || e.action.starts_with("status") {
            continue;
        }
        t.line("bot", &format!("{} → {}", e.action, e.outcome));
    }
}

struct Story<'a> {
    road: &'a Road,
    t: &'a Timeline,
}

impl Story<'_> {
    fn person(&self, login: &str) -> Result<Person> {
        self.road.person(login)
    }

    async fn play(&self) -> Result<()> {
        self.staging_starts().await?;
        self.low_risk_auto_merged().await?;
        self.not_functional().await?;
        self.unhealthy_rolled_back().await?;
        self.medium_with_toggle().await?;
        self.high_with_approval().await?;
        self.release_manager().await?;
        self.hotfix().await?;
        Ok(())
    }

    /// Ask `check` until it answers, for as long as the bot makes progress.
    async fn wait_for<T, F, Fut>(&self, what: &str, check: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>>>,
    {
        self.road.wait_for(what, check).await
    }

    // ── reading the world like a person would (the kit's readers) ──

    async fn pr_by_head(&self, repo: &str, head: &str) -> Result<Option<Value>> {
        read_forge::pr_by_head(&self.person("alice")?, repo, head).await
    }

    async fn status_of(
        &self,
        repo: &str,
        sha: &str,
        context: &str,
    ) -> Result<Option<(String, String)>> {
        read_forge::status_of(&self.person("alice")?, repo, sha, context).await
    }

    /// The bot's comment saying `needle`, without its hidden sticky marker.
    async fn bot_comment(&self, repo: &str, pr: u64, needle: &str) -> Result<Option<String>> {
        Ok(read_forge::bot_comments(&self.person("alice")?, repo, pr)
            .await?
            .into_iter()
            .find(|b| b.contains(needle))
            .map(|b| b.lines().skip(1).collect::<Vec<_>>().join("\n")))
    }

    fn note(&self, tag: &str) -> Result<Option<String>> {
        self.road.repos.note(NOTES_STABILITY, tag)
    }

    async fn release(&self, tag: &str) -> Result<Option<Value>> {
        read_forge::release(&self.person("alice")?, tag).await
    }

    // ── people's steps and the bot's answers, told on the timeline ──

    /// A developer's change: branch, commit, PR with labels. Returns the PR number.
    async fn component_pr(
        &self,
        who: &str,
        repo: &str,
        branch: &str,
        message: &str,
        labels: &[&str],
    ) -> Result<u64> {
        let person = self.person(who)?;
        let n = steps::open_component_pr(&person, repo, branch, message, labels).await?;
        let title = message.lines().next().unwrap_or(message);
        self.t.line(
            who,
            &format!("opens {repo}#{n} \"{title}\" [{}]", labels.join(", ")),
        );
        Ok(n)
    }

    /// Merge a component PR and let its own pipeline tag the release.
    async fn merge_and_release(&self, who: &str, repo: &str, n: u64, tag: &str) -> Result<()> {
        self.road.merge_and_release(who, repo, n, tag).await?;
        self.t.line(who, &format!("merges {repo}#{n}"));
        self.t.line(&format!("{repo} ci"), &format!("tags {tag}"));
        Ok(())
    }

    async fn product_pr_for(&self, component: &str, version: &str) -> Result<Value> {
        let pr = self.road.product_pr_for(component, version).await?;
        self.t.ok(&format!(
            "product PR #{} opened for {component} {version}",
            pr["number"]
        ));
        Ok(pr)
    }

    async fn wait_tag(&self, tag: &str) -> Result<String> {
        let msg = self.road.wait_tag(tag).await?;
        let headline: Vec<&str> = msg
            .lines()
            .filter(|l| l.starts_with("#") || l.starts_with("- "))
            .take(4)
            .collect();
        self.t.ok(&format!(
            "product tagged {tag}; changelog: {}",
            headline.join(" | ")
        ));
        Ok(msg)
    }

    async fn wait_staging(&self, tag: &str) -> Result<()> {
        self.road.wait_staging(tag).await?;
        self.t.ok(&format!("{tag} promoted to staging"));
        Ok(())
    }

    // ── the chapters ──

    async fn staging_starts(&self) -> Result<()> {
        self.t
            .chapter("0. The bot starts: staging takes the newest minor tag and samples it");
        self.wait_staging("v1.0.0").await?;
        self.wait_for("a stability sample of v1.0.0", || async {
            let r = self.road.repos.bare("product")?;
            let commit = r.revparse_single("v1.0.0^{commit}")?.id();
            Ok(r.find_note(Some(NOTES_SAMPLES), commit).ok().map(|_| ()))
        })
        .await?;
        self.t
            .ok("v1.0.0 sampled while staging has alerts firing and a 30% error rate");
        self.road.weather(true).await?;
        self.t
            .line("staging", "alerts resolved, error rate back to 1%");
        Ok(())
    }

    async fn low_risk_auto_merged(&self) -> Result<()> {
        self.t.chapter(
            "1. A low-risk fix: labels checked, product PR, CI health, auto-merge, product tag",
        );
        let alice = self.person("alice")?;
        let n = self
            .component_pr(
                "alice",
                "payments",
                "fix/empty-cart",
                "fix(cart): handle an empty cart (#41)",
                &["component: S", "change: S", "functional: true"],
            )
            .await?;
        let comment = self
            .wait_for("the bot asks for the missing label", || {
                self.bot_comment("payments", n, "ft-coverage")
            })
            .await?;
        self.t.ok(&format!(
            "bot commented: {}",
            comment
                .lines()
                .find(|l| l.contains("ft-coverage"))
                .unwrap_or("")
                .trim()
        ));
        alice
            .add_labels("payments", n, &["ft-coverage: 90"])
            .await?;
        self.t.line("alice", "adds \"ft-coverage: 90\"");
        self.wait_for("the bot's comment says the labels are fixed", || {
            self.bot_comment("payments", n, "Labels are complete")
        })
        .await?;
        self.t
            .ok("the same comment now says the labels are complete");
        self.merge_and_release("alice", "payments", n, "v1.4.3")
            .await?;
        let pr = self.product_pr_for("payments", "1.4.3").await?;
        let pn = pr["number"].as_u64().unwrap_or_default();
        self.road.wait_merged("product", pn).await?;
        self.t.ok(&format!(
            "product#{pn} (risk: low) merged automatically after CI health passed"
        ));
        let v = self
            .road
            .repos
            .landscape_version("ci", "ci-1", "payments")?;
        if v.as_deref() != Some("1.4.3") {
            return Err(Error::world(format!(
                "CI landscape runs payments {v:?}, expected 1.4.3"
            )));
        }
        self.t.ok("CI landscape runs payments 1.4.3");
        self.wait_tag("v1.0.1").await?;
        Ok(())
    }

    async fn not_functional(&self) -> Result<()> {
        self.t.chapter("2. A non-functional change: no product PR");
        let n = self
            .component_pr(
                "bob",
                "search",
                "docs/ranking",
                "docs(ranking): explain the scoring",
                &[
                    "component: S",
                    "change: S",
                    "ft-coverage: 100",
                    "functional: false",
                ],
            )
            .await?;
        self.merge_and_release("bob", "search", n, "v0.9.1").await?;
        let said = self
            .wait_for("the bot explains why no product PR", || {
                self.bot_comment("search", n, "functional: false")
            })
            .await?;
        self.t
            .ok(&format!("bot: {}", said.lines().next().unwrap_or("")));
        if self
            .pr_by_head("product", "stagecoach/search-0.9.1")
            .await?
            .is_some()
        {
            return Err(Error::world(
                "a product PR was opened for a functional: false change",
            ));
        }
        self.t.ok("no product PR for search 0.9.1");
        Ok(())
    }

    async fn unhealthy_rolled_back(&self) -> Result<()> {
        self.t
            .chapter("3. An unhealthy version on CI: rolled back, check failed");
        self.road.make_unhealthy("search@0.10.0")?;
        self.t.line("ci-1", "search 0.10.0 will crash-loop on CI");
        let n = self
            .component_pr(
                "bob",
                "search",
                "feat/fuzzy",
                "feat(ranking): fuzzy matching",
                &[
                    "component: S",
                    "change: S",
                    "ft-coverage: 80",
                    "functional: true",
                ],
            )
            .await?;
        self.merge_and_release("bob", "search", n, "v0.10.0")
            .await?;
        let pr = self.product_pr_for("search", "0.10.0").await?;
        let sha = pr["head"]["sha"].as_str().unwrap_or_default().to_string();
        let (_, why) = self
            .wait_for("stagecoach/ci fails", || async {
                Ok(self
                    .status_of("product", &sha, "stagecoach/ci")
                    .await?
                    .filter(|(s, _)| s == "failure"))
            })
            .await?;
        self.t
            .ok(&format!("product PR check stagecoach/ci failed: {why}"));
        self.wait_for("CI back on search 0.9.0", || async {
            Ok(self
                .road
                .repos
                .landscape_version("ci", "ci-1", "search")?
                .filter(|v| v == "0.9.0")
                .map(|_| ()))
        })
        .await?;
        self.t.ok("CI landscape rolled back to search 0.9.0 (a revert commit with Stagecoach-Action: rollback)");
        let pn = pr["number"].as_u64().unwrap_or_default();
        self.person("bob")?.close("product", pn).await?;
        self.t.line(
            "bob",
            &format!("closes product#{pn}; the fix will come as a new version"),
        );
        Ok(())
    }

    async fn medium_with_toggle(&self) -> Result<()> {
        self.t.chapter("4. A medium-risk feature behind a toggle: PR environment, smoke gate twice, a person merges");
        let n = self
            .component_pr(
                "alice",
                "checkout",
                "feat/one-page",
                "feat(checkout): one-page checkout behind the new-checkout toggle",
                &[
                    "component: M",
                    "change: M",
                    "ft-coverage: 70",
                    "functional: true",
                    "feature-toggle",
                ],
            )
            .await?;
        self.merge_and_release("alice", "checkout", n, "v2.1.0")
            .await?;
        let pr = self.product_pr_for("checkout", "2.1.0").await?;
        let pn = pr["number"].as_u64().unwrap_or_default();
        let sha = pr["head"]["sha"].as_str().unwrap_or_default().to_string();
        let (_, smoke) = self
            .wait_for("the smoke gate passes", || async {
                Ok(self
                    .status_of("product", &sha, "stagecoach/smoke")
                    .await?
                    .filter(|(s, _)| s == "success"))
            })
            .await?;
        if !(smoke.contains("toggle on") && smoke.contains("toggle off")) {
            return Err(Error::world(format!(
                "the smoke gate did not run with the toggle on and off: {smoke}"
            )));
        }
        self.t.ok(&format!("smoke gate passed twice: {smoke}"));
        let labels = self.person("alice")?.pull("product", pn).await?["labels"].clone();
        if !labels.to_string().contains("risk: medium") {
            return Err(Error::world(format!(
                "product#{pn} is not labelled risk: medium: {labels}"
            )));
        }
        self.wait_for("the PR environment is torn down", || async {
            Ok(self
                .road
                .repos
                .file_at("landscape-ci", "main", &format!("envs/pr-{pn}/values.yaml"))?
                .is_none()
                .then_some(()))
        })
        .await?;
        self.t.ok(&format!(
            "risk: medium; PR environment envs/pr-{pn} created and torn down"
        ));
        self.wait_for("the bot says a person merges medium risk", || {
            self.bot_comment("product", pn, "not merged automatically")
        })
        .await?;
        self.person("rita")?.merge("product", pn).await?;
        self.t.line("rita", &format!("merges product#{pn}"));
        self.wait_tag("v1.1.0").await?;
        self.wait_staging("v1.1.0").await?;
        let note = self
            .wait_for("v1.0.0's stability note", || async { self.note("v1.0.0") })
            .await?;
        self.t.ok(&format!(
            "v1.0.0 left staging with note \"{}\" (below the KPI: no release)",
            note.lines().next().unwrap_or("")
        ));
        if self
            .release("v1.0.0")
            .await?
            .is_some_and(|r| r["draft"] == json!(false))
        {
            return Err(Error::world(
                "v1.0.0 was released although it failed the KPI",
            ));
        }
        Ok(())
    }

    async fn high_with_approval(&self) -> Result<()> {
        self.t.chapter("5. A high-risk breaking change: approval refused from a read-only user, accepted from a release manager");
        let n = self
            .component_pr(
                "alice",
                "payments",
                "feat/intents",
                "feat(api)!: payment intents replace charges\n\nBREAKING CHANGE: /charges is gone",
                HIGH,
            )
            .await?;
        self.merge_and_release("alice", "payments", n, "v2.0.0")
            .await?;
        let pr = self.product_pr_for("payments", "2.0.0").await?;
        let pn = pr["number"].as_u64().unwrap_or_default();
        let sha = pr["head"]["sha"].as_str().unwrap_or_default().to_string();
        self.wait_for("waiting for an approval", || async {
            Ok(self
                .status_of("product", &sha, "stagecoach/approval")
                .await?
                .filter(|(s, _)| s == "pending"))
        })
        .await?;
        if self
            .road
            .repos
            .file_at("landscape-ci", "main", &format!("envs/pr-{pn}/values.yaml"))?
            .is_none()
        {
            return Err(Error::world(
                "the high-risk PR environment was not kept for the approver",
            ));
        }
        self.t.ok(
            "risk: high; smoke passed; PR environment kept; waiting for an authorised approval",
        );
        self.person("ron")?
            .comment("product", pn, "/approve")
            .await?;
        self.t.line("ron", "comments /approve (read-only access)");
        let refused = self
            .wait_for("ron's approval refused", || {
                self.bot_comment("product", pn, "do not count")
            })
            .await?;
        self.t.ok(&format!(
            "bot: {}",
            refused
                .lines()
                .find(|l| l.contains("ron"))
                .unwrap_or("")
                .trim()
        ));
        self.person("rita")?.approve("product", pn).await?;
        self.t.line("rita", "approves (release manager)");
        self.road.wait_merged("product", pn).await?;
        self.t.ok(&format!(
            "product#{pn} merged by the bot after rita's approval"
        ));
        self.wait_tag("v2.0.0").await?;
        self.wait_staging("v2.0.0").await?;
        let note = self
            .wait_for("v1.1.0's stability note", || async { self.note("v1.1.0") })
            .await?;
        let release = self
            .wait_for("v1.1.0 released", || async {
                Ok(self
                    .release("v1.1.0")
                    .await?
                    .filter(|r| r["draft"] == json!(false)))
            })
            .await?;
        self.t.ok(&format!(
            "v1.1.0 left staging with \"{}\" and became a release ({})",
            note.lines().next().unwrap_or(""),
            release["name"].as_str().unwrap_or("")
        ));
        Ok(())
    }

    async fn release_manager(&self) -> Result<()> {
        self.t.chapter("6. Release managers pick a release by score and promote it: canary, then prod in waves");
        let rita = self.road.engine_as("rita")?;
        for tag in ["v1.0.0", "v1.1.0"] {
            let score = self
                .note(tag)?
                .and_then(|n| n.lines().next().map(str::to_string))
                .unwrap_or_default();
            let released = self
                .release(tag)
                .await?
                .is_some_and(|r| r["draft"] == json!(false));
            self.t.line(
                "releases",
                &format!(
                    "{tag}  {score}  {}",
                    if released { "release" } else { "not a release" }
                ),
            );
        }
        match self
            .road
            .engine_as("ron")?
            .promote("v1.1.0", "canary", None)
            .await
        {
            Err(e) if e.exit_code() == 3 => self.t.ok(&format!("ron may not promote: {e}")),
            other => {
                return Err(Error::world(format!(
                    "ron's promotion should be refused, got {:?}",
                    other.map(|p| p.steps)
                )));
            }
        }
        match rita.promote("v1.0.0", "canary", None).await {
            Err(e) if e.exit_code() == 2 => self.t.ok(&format!("v1.0.0 refused: {e}")),
            other => {
                return Err(Error::world(format!(
                    "v1.0.0 is not a release, promotion should be refused: {:?}",
                    other.map(|p| p.steps)
                )));
            }
        }
        self.t.line("rita", "stagecoach promote v1.1.0 --to canary");
        let done = rita.promote("v1.1.0", "canary", None).await?;
        for s in &done.steps {
            self.t.line("rita", s);
        }
        self.t.line("rita", "stagecoach promote v1.1.0 --to prod");
        let done = rita.promote("v1.1.0", "prod", None).await?;
        for s in &done.steps {
            self.t.line("rita", s);
        }
        for cluster in ["eu-1", "eu-2", "us-1"] {
            let v = self
                .road
                .repos
                .landscape_version("prod", cluster, "checkout")?;
            if v.as_deref() != Some("2.1.0") {
                return Err(Error::world(format!(
                    "prod {cluster} runs checkout {v:?}, expected 2.1.0"
                )));
            }
        }
        let r = self.road.repos.bare("landscape-prod")?;
        let mut walk = r.revwalk()?;
        walk.push(r.revparse_single("main")?.id())?;
        let waves = walk
            .filter_map(|o| o.ok())
            .filter_map(|o| r.find_commit(o).ok())
            .filter(|c| {
                c.message().is_ok_and(|m| {
                    m.contains("Stagecoach-Product: v1.1.0") && m.contains("Stagecoach-Wave:")
                })
            })
            .count();
        if waves < 2 {
            return Err(Error::world(format!(
                "prod got {waves} wave commit(s), expected 2"
            )));
        }
        self.t
            .ok("prod runs v1.1.0 on eu-1, eu-2, us-1, in 2 wave commits with a soak between them");
        Ok(())
    }

    async fn hotfix(&self) -> Result<()> {
        self.t
            .chapter("7. A hotfix of the release in production, triggered by on-call");
        let n = self
            .component_pr(
                "alice",
                "checkout",
                "fix/double-charge",
                "fix(payment): no double charge on retry (#77)",
                LOW,
            )
            .await?;
        self.merge_and_release("alice", "checkout", n, "v2.1.1")
            .await?;
        let bob = self.person("bob")?;
        bob.add_labels("checkout", n, &["hotfix-to/v1.1.0"]).await?;
        self.t
            .line("bob", "labels hotfix-to/v1.1.0 (bob is not on call)");
        let refused = self
            .wait_for("bob's hotfix label refused", || {
                self.bot_comment("checkout", n, "may not trigger a hotfix")
            })
            .await?;
        self.t
            .ok(&format!("bot: {}", refused.lines().next().unwrap_or("")));
        bob.remove_label("checkout", n, "hotfix-to/v1.1.0").await?;
        self.person("olga")?
            .add_labels("checkout", n, &["hotfix-to/v1.1.0"])
            .await?;
        self.t.line("olga", "labels hotfix-to/v1.1.0 (on call)");
        let msg = self
            .wait_for("hotfix tag v1.1.1", || async {
                self.road.repos.tag_message("product", "v1.1.1")
            })
            .await?;
        if self.road.repos.on_main("product", "v1.1.1")? {
            return Err(Error::world(
                "the hotfix tag v1.1.1 is on main; it should branch from v1.1.0",
            ));
        }
        self.t.ok(&format!(
            "hotfix tag v1.1.1 cut from v1.1.0, off main ({})",
            msg.lines().next().unwrap_or("")
        ));
        self.wait_for("v1.1.1 on canary", || async {
            Ok(self
                .road
                .repos
                .landscape_version("canary", "canary-1", "checkout")?
                .filter(|v| v == "2.1.1")
                .map(|_| ()))
        })
        .await?;
        self.wait_for("the PR is told where the hotfix is", || {
            self.bot_comment("checkout", n, "promote v1.1.1 --to prod")
        })
        .await?;
        self.t
            .ok("v1.1.1 runs on canary; the PR says how on-call sends it to prod");
        let main_has = self
            .wait_for("main carries checkout 2.1.1", || async {
                let m = self
                    .road
                    .repos
                    .file_at("product", "main", "product.yaml")?
                    .unwrap_or_default();
                let v = crate::manifest::product::ProductManifest::parse(&m, "product.yaml")?;
                Ok(v.components
                    .get("checkout")
                    .filter(|p| p.version >= semver::Version::new(2, 1, 1))
                    .map(|p| p.version.to_string()))
            })
            .await?;
        self.t
            .ok(&format!("main carries the fix too (checkout {main_has})"));
        self.t.line("olga", "stagecoach promote v1.1.1 --to prod");
        let done = self
            .road
            .engine_as("olga")?
            .promote("v1.1.1", "prod", None)
            .await?;
        for s in &done.steps {
            self.t.line("olga", s);
        }
        for cluster in ["eu-1", "eu-2", "us-1"] {
            let v = self
                .road
                .repos
                .landscape_version("prod", cluster, "checkout")?;
            if v.as_deref() != Some("2.1.1") {
                return Err(Error::world(format!(
                    "prod {cluster} runs checkout {v:?} after the hotfix, expected 2.1.1"
                )));
            }
        }
        self.t.ok("prod runs hotfix v1.1.1 on every cluster");
        Ok(())
    }
}
