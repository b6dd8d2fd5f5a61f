//! Crash anywhere, proven: the real `stagecoach serve` process is SIGKILLed
//! again and again — right after it logs `stagecoach action started` for a
//! kind of action not hit yet, right after a webhook that echoes an open
//! action's own write (so the write is made and what records it is not),
//! and at random times — while the whole road
//! runs: product PR, CI, merge, product tag, staging (samples, the stability
//! note, release publication), canary and prod in waves with a soak, a
//! failed wave rolled back, and a hotfix. Each kill is classified from the
//! child's own log (mid-action and of which kind, between actions, before
//! any action); the test asserts how many landed mid-action, that every kind
//! of the road was hit mid-action, and that nothing was done twice, judged by
//! meaning and reading every page of every listing.
//!
//! `RELIABILITY_KILLS=N` sets the number of kills (default 20);
//! `RELIABILITY_SEED=S` replays one run's choices (kill modes and times).

mod reliability_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use reliability_support::*;
use serde_json::Value;
use stagecoach::engine::{NOTES_SAMPLES, NOTES_STABILITY};
use stagecoach::git::trailers::Trailers;

/// Every kind of action the road below takes; each must be hit mid-action.
const ROAD_KINDS: &[&str] = &[
    "comment",
    "status",
    "risk_label",
    "open_product_pr",
    "deploy_ci",
    "watch_ci_health",
    "merge",
    "tag_product",
    "promote",
    "watch_promotion",
    "sample_stability",
    "finalize_stability",
    "rollback",
    "hotfix",
];
/// How long one step of the road may take before the test calls it lost.
/// Generous: dozens of cold starts spend the bot's secondary-limit points
/// and the sandbox then holds it for up to a minute, as GitHub would.
const ROAD_STEP: Duration = Duration::from_secs(240);
/// The repos whose PRs and comments are read for duplicates.
const REPOS: &[&str] = &[
    "payments",
    "checkout",
    "search",
    "product",
    "landscape-ci",
    "landscape-staging",
    "landscape-canary",
    "landscape-prod",
];
/// Prod's health check in this test: healthy unless `world/unhealthy-on`
/// names the cluster and `component@version` (so one wave can fail).
const PROD_HEALTH: &str = r#"#!/bin/sh
dir="$(cd "$(dirname "$0")/.." && pwd)"
what="${STAGECOACH_CLUSTER} ${STAGECOACH_COMPONENT}@${STAGECOACH_VERSION}"
if [ -f "$dir/world/unhealthy-on" ] && grep -qxF "$what" "$dir/world/unhealthy-on"; then
  echo "health: $what is unhealthy: pods crash-looping" >&2
  exit 1
fi
exec "$dir/bin/health.sh"
"#;

// ── one life of the bot: spawned, watched through its log, killed ──

/// How a life ends.
#[derive(Clone, Debug)]
enum Aim {
    /// SIGKILL right after the `started` line of one of these kinds (any
    /// kind when empty), at the `nth` such line, never twice for one action.
    /// This lands before the action's first request.
    Action { kinds: BTreeSet<String>, nth: usize },
    /// SIGKILL right after the `nth` webhook the bot logs while one of its
    /// actions is open and not killed before: the forge's echo of that
    /// action's own write (the PR opened, the landscape pushed, the tag
    /// made), so the kill lands after a write and before what records it
    /// (its labels, its status, its release) — where a re-run that does
    /// not look first does the write twice.
    Echo { nth: usize },
    /// SIGKILL this long after the bot said it listens.
    After(Duration),
}

/// Where a kill landed, read from the child's log.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Landing {
    /// A `started` line without its `finished`: inside an action of this kind.
    Mid(String),
    /// Every started action had finished.
    Between,
    /// The life logged no action at all.
    BeforeAnyAction,
}

/// What the log reader thread saw in one life.
#[derive(Default)]
struct LifeLog {
    addr: Option<String>,
    /// seq → (kind, action) of each `started` line.
    started: BTreeMap<u64, (String, String)>,
    finished: BTreeSet<u64>,
    /// The child is alive (the reader may kill it only then).
    alive: bool,
    /// The reader killed the child right after this `started` line.
    fired: Option<(u64, String, String)>,
    eof: bool,
}

struct Life {
    child: Child,
    log: Arc<Mutex<LifeLog>>,
}

impl Life {
    fn spawn(
        config: &Path,
        full_log: &Path,
        aim: &Aim,
        killed: &Arc<Mutex<BTreeSet<String>>>,
    ) -> Life {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stagecoach"))
            .arg("serve")
            .arg("--config")
            .arg(config)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--log-format")
            .arg("json")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn stagecoach serve");
        let pid = child.id() as libc::pid_t;
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(LifeLog {
            alive: true,
            ..LifeLog::default()
        }));
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(full_log)
            .expect("log");
        let (shared, aim, killed) = (log.clone(), aim.clone(), killed.clone());
        // The reader wakes on each line the bot writes: a kill aimed at a
        // `started` line lands microseconds after it, inside the action.
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = String::new();
            let mut seen = 0usize;
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let event: Option<Value> = serde_json::from_str(&line).ok();
                let fields = event.as_ref().map(|e| &e["fields"]);
                let message = fields.and_then(|f| f["message"].as_str()).unwrap_or("");
                let mut l = shared.lock().expect("life log");
                match message {
                    "stagecoach is listening" => {
                        l.addr = fields.and_then(|f| f["addr"].as_str()).map(str::to_string);
                    }
                    "stagecoach action started" => {
                        let f = fields.expect("fields");
                        let seq = f["seq"].as_u64().unwrap_or(0);
                        let kind = f["kind"].as_str().unwrap_or("").to_string();
                        let action = f["action"].as_str().unwrap_or("").to_string();
                        l.started.insert(seq, (kind.clone(), action.clone()));
                        if let Aim::Action { kinds, nth } = &aim {
                            let mut killed = killed.lock().expect("killed");
                            if l.alive
                                && l.fired.is_none()
                                && (kinds.is_empty() || kinds.contains(&kind))
                                && !killed.contains(&action)
                            {
                                seen += 1;
                                if seen >= *nth {
                                    // SAFETY: a plain syscall on our own child,
                                    // not yet reaped (`alive` is set under this lock).
                                    unsafe { libc::kill(pid, libc::SIGKILL) };
                                    killed.insert(action.clone());
                                    l.fired = Some((seq, kind, action));
                                }
                            }
                        }
                    }
                    m if m.starts_with("webhook: ") => {
                        if let Aim::Echo { nth } = &aim {
                            let mut killed = killed.lock().expect("killed");
                            let open = l
                                .started
                                .iter()
                                .rev()
                                .find(|(seq, _)| !l.finished.contains(seq))
                                .map(|(seq, (kind, action))| (*seq, kind.clone(), action.clone()));
                            if let Some((seq, kind, action)) = open
                                && l.alive
                                && l.fired.is_none()
                                && !killed.contains(&action)
                            {
                                seen += 1;
                                if seen >= *nth {
                                    // SAFETY: as above.
                                    unsafe { libc::kill(pid, libc::SIGKILL) };
                                    killed.insert(action.clone());
                                    l.fired = Some((seq, kind, action));
                                }
                            }
                        }
                    }
                    "stagecoach action finished" => {
                        if let Some(seq) = fields.and_then(|f| f["seq"].as_u64()) {
                            l.finished.insert(seq);
                        }
                    }
                    _ => {}
                }
                drop(l);
                let _ = out.write_all(line.as_bytes());
            }
            shared.lock().expect("life log").eof = true;
        });
        Life { child, log }
    }

    /// The address the bot listens on, once it said so.
    async fn addr(&mut self, full_log: &Path) -> String {
        loop {
            if let Some(addr) = self.log.lock().expect("life log").addr.clone() {
                return addr;
            }
            self.assert_alive(full_log);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn assert_alive(&mut self, full_log: &Path) {
        if self.log.lock().expect("life log").fired.is_some() {
            return;
        }
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "stagecoach serve exited by itself ({status}); log:\n{}",
                std::fs::read_to_string(full_log).unwrap_or_default()
            );
        }
    }

    fn fired(&self) -> bool {
        self.log.lock().expect("life log").fired.is_some()
    }

    /// SIGKILL (if the reader has not already), reap, read the rest of the
    /// log, and say where the kill landed.
    async fn kill(mut self) -> Landing {
        {
            let mut l = self.log.lock().expect("life log");
            l.alive = false;
            // SIGKILL: no shutdown hook, no finishing the action in hand.
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        // The pipe closes with the child (gates' commands do not inherit it).
        for _ in 0..200 {
            if self.log.lock().expect("life log").eof {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let l = self.log.lock().expect("life log");
        let open: Vec<&(String, String)> = l
            .started
            .iter()
            .filter(|(seq, _)| !l.finished.contains(seq))
            .map(|(_, a)| a)
            .collect();
        match open.last() {
            Some((kind, _)) => Landing::Mid(kind.clone()),
            None if l.started.is_empty() => Landing::BeforeAnyAction,
            None => Landing::Between,
        }
    }
}

// ── the shared state of the road and the killer ──

struct Crash {
    rig: Rig,
    config: PathBuf,
    full_log: PathBuf,
    alice_token: String,
    /// Laps run on while kills are left; then the lap in hand finishes.
    winding_down: AtomicBool,
    road_done: AtomicBool,
    lap: AtomicUsize,
    stage: Mutex<String>,
    /// Actions (by description) killed once: never killed again, so the road
    /// always moves on.
    killed_actions: Arc<Mutex<BTreeSet<String>>>,
    /// The current life, killed if the test fails.
    life_pid: Mutex<Option<u32>>,
}

impl Drop for Crash {
    fn drop(&mut self) {
        if let Ok(Some(pid)) = self.life_pid.lock().map(|p| *p) {
            // SAFETY: a plain syscall on our own child.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    }
}

impl Crash {
    fn set_stage(&self, stage: &str) {
        let lap = self.lap.load(Ordering::SeqCst);
        *self.stage.lock().expect("stage") = format!("lap {lap}: {stage}");
    }

    fn stage(&self) -> String {
        self.stage.lock().expect("stage").clone()
    }

    fn person(&self, login: &str) -> stagecoach::sandbox::Person {
        self.rig.person(login)
    }

    fn world(&self) -> World {
        self.rig.world()
    }

    /// Every item of a listing, following GitHub's `Link: rel="next"`.
    async fn get_all(&self, path: &str) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut next = Some(format!("{}{path}{sep}per_page=100", self.rig.sb.api_url));
        let mut all = Vec::new();
        while let Some(url) = next {
            let r = self
                .rig
                .http
                .get(&url)
                .bearer_auth(&self.alice_token)
                .header("Accept", "application/vnd.github+json")
                .send()
                .await
                .expect("GET");
            assert!(r.status().is_success(), "GET {url}: {}", r.status());
            next = r
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            let page: Vec<Value> = r.json().await.expect("a JSON list");
            all.extend(page);
        }
        all
    }

    /// The product PR bumping `component` to `version` (its title says so).
    async fn product_pr(&self, component: &str, version: &str) -> Option<Value> {
        self.get_all("/repos/acme/product/pulls?state=all")
            .await
            .into_iter()
            .find(|pr| bump_of(pr).as_ref() == Some(&(component.to_string(), version.to_string())))
    }

    async fn bot_said(&self, repo: &str, pr: u64, needle: &str) -> bool {
        self.get_all(&format!("/repos/acme/{repo}/issues/{pr}/comments"))
            .await
            .iter()
            .any(|c| {
                c["user"]["login"] == "stagecoach-bot"
                    && c["body"].as_str().is_some_and(|b| b.contains(needle))
            })
    }

    async fn released(&self, tag: &str) -> bool {
        self.get_all("/repos/acme/product/releases")
            .await
            .iter()
            .any(|r| r["tag_name"] == tag && r["draft"] == false)
    }

    /// The product tag whose message has every `(key, value)` trailer.
    fn tag_with(&self, trailers: &[(&str, &str)]) -> Option<String> {
        let world = self.world();
        world.tags("product").into_iter().find(|t| {
            let t = Trailers::parse(&tag_message(&world, t));
            trailers.iter().all(|(k, v)| t.get_all(k).contains(v))
        })
    }

    fn landscape_version(&self, env: &str, cluster: &str, component: &str) -> Option<String> {
        let text = self.world().file_at(
            &format!("landscape-{env}"),
            "main",
            &format!("clusters/{cluster}/{component}/values.yaml"),
        )?;
        stagecoach::manifest::yaml_edit::get_scalar(&text, "image.tag")
            .ok()
            .flatten()
    }

    async fn step<T, F, Fut>(&self, what: &str, check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let what = format!("{}: {what}", self.stage());
        let deadline = Instant::now() + ROAD_STEP;
        let mut check = check;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            if Instant::now() > deadline {
                self.lost(&what);
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// A step of the road never came: keep the bot's log, say what the bot
    /// would do now (`stagecoach plan`), and fail.
    fn lost(&self, what: &str) -> ! {
        let kept =
            std::env::temp_dir().join(format!("stagecoach-crash-{}.log", std::process::id()));
        let _ = std::fs::copy(&self.full_log, &kept);
        let plan = Command::new(env!("CARGO_BIN_EXE_stagecoach"))
            .args(["plan", "--config"])
            .arg(&self.config)
            .output()
            .map(|o| {
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )
            })
            .unwrap_or_else(|e| format!("plan did not run: {e}"));
        panic!(
            "the road did not go on within {}s: {what}
the bot's log: {}
stagecoach plan now:
{plan}",
            ROAD_STEP.as_secs(),
            kept.display()
        );
    }

    // ── the road: people's steps, each waiting for the bot's result ──

    async fn play(&self) {
        let mut k = 1;
        loop {
            self.lap.store(k, Ordering::SeqCst);
            self.lap_of_the_road(k).await;
            if self.winding_down.load(Ordering::SeqCst) {
                break;
            }
            k += 1;
        }
        self.road_done.store(true, Ordering::SeqCst);
    }

    async fn lap_of_the_road(&self, k: usize) {
        let alice = self.person("alice");
        let rita = self.person("rita");
        let olga = self.person("olga");
        let release = format!("v1.{}.0", k - 1);

        // 1. A low-risk feature of payments: product PR, CI, merge, a minor
        // product tag; staging takes it, samples it, and the tag it replaces
        // gets its stability note and becomes a release.
        self.set_stage("change → product tag → staging");
        let payments = format!("1.{}.0", 4 + k);
        let n = component_pr(
            &alice,
            "payments",
            &format!("feat/crash-{k}"),
            &format!("feat(payments): crash lap {k}"),
        )
        .await;
        let sha = alice.merge("payments", n).await.expect("merge");
        alice
            .tag("payments", &format!("v{payments}"), &sha)
            .await
            .expect("tag");
        let pr = self
            .step("the product PR", || self.product_pr("payments", &payments))
            .await;
        let number = pr["number"].as_u64().expect("number");
        self.step("the product PR merged", || async {
            alice
                .pull("product", number)
                .await
                .ok()
                .filter(|p| p["merged"] == true)
        })
        .await;
        let component = format!("payments@{payments}");
        let tag = self
            .step("a product tag", || async {
                self.tag_with(&[
                    ("Stagecoach-Action", "tag"),
                    ("Stagecoach-Component", &component),
                ])
            })
            .await;
        assert_eq!(tag, format!("v1.{k}.0"), "a minor product tag");
        self.step("the new tag on staging", || async {
            self.world().staging_tag().filter(|t| *t == tag)
        })
        .await;
        self.step("a stability sample of the new tag", || async {
            self.world().note(NOTES_SAMPLES, &tag)
        })
        .await;
        self.step(
            "the stability note of the tag that left staging",
            || async { self.world().note(NOTES_STABILITY, &release) },
        )
        .await;
        self.step("the tag that left staging released", || async {
            self.released(&release).await.then_some(())
        })
        .await;

        // 2. A release manager promotes the release to canary, then to prod
        // (two waves, a soak between them), each with a `/promote` comment on
        // a landscape PR, closed once the bot says it is done.
        self.set_stage("canary");
        self.promote_by_comment(
            &rita,
            "canary",
            &release,
            &format!("✅ {release} runs on canary"),
            k,
        )
        .await;
        self.set_stage("prod waves with soak");
        self.promote_by_comment(
            &rita,
            "prod",
            &release,
            &format!("✅ {release} runs on prod"),
            k,
        )
        .await;

        // 3. On-call hotfixes that release: the bot cuts the hotfix tag off
        // main, sends it to canary, says how to go to prod; main gets it too.
        self.set_stage("hotfix");
        let checkout = format!("2.0.{}", 1 + k);
        let n = component_pr(
            &alice,
            "checkout",
            &format!("fix/crash-hotfix-{k}"),
            &format!("fix(cart): crash hotfix {k}"),
        )
        .await;
        olga.add_labels("checkout", n, &[&format!("hotfix-to/{release}")])
            .await
            .expect("hotfix label");
        let sha = alice.merge("checkout", n).await.expect("merge");
        alice
            .tag("checkout", &format!("v{checkout}"), &sha)
            .await
            .expect("tag");
        let source = format!("acme/checkout#{n}");
        let hotfix = self
            .step("the hotfix tag", || async {
                self.tag_with(&[("Stagecoach-Hotfix-For", &source)])
            })
            .await;
        assert!(!on_main(&self.world(), &hotfix), "{hotfix} is cut off main");
        self.step("the hotfix on canary", || async {
            self.landscape_version("canary", "canary-1", "checkout")
                .filter(|v| *v == checkout)
        })
        .await;
        self.step("the PR told how to go to prod", || async {
            self.bot_said("checkout", n, &format!("promote {hotfix} --to prod"))
                .await
                .then_some(())
        })
        .await;
        let component = format!("checkout@{checkout}");
        self.step("main carries the fix, tagged", || async {
            self.tag_with(&[
                ("Stagecoach-Action", "tag"),
                ("Stagecoach-Component", &component),
            ])
        })
        .await;

        // 4. On-call sends the hotfix to prod; its second wave is unhealthy:
        // rolled back, and the promotion stops.
        self.set_stage("hotfix to prod, wave 2 rolled back");
        append(
            &self.rig.dir().join("world/unhealthy-on"),
            &format!("eu-2 checkout@{checkout}"),
        );
        self.promote_by_comment(
            &olga,
            "prod",
            &hotfix,
            &format!("🛑 The promotion of {hotfix} to prod stopped"),
            k,
        )
        .await;
        self.step("the hotfix's wave 2 commit", || async {
            let world = self.world();
            let log = world.log("landscape-prod", "main");
            log.iter().find_map(|m| {
                let t = Trailers::parse(m);
                (t.get("Stagecoach-Product") == Some(hotfix.as_str())
                    && t.get("Stagecoach-Wave") == Some("2/2"))
                .then_some(())
            })
        })
        .await;
        assert_eq!(
            self.world()
                .commits_with("landscape-prod", &[("Stagecoach-Action", "rollback")]),
            k,
            "one rollback per lap"
        );
        assert_eq!(
            self.landscape_version("prod", "eu-1", "checkout")
                .as_deref(),
            Some(checkout.as_str()),
            "wave 1 stays"
        );
        assert_ne!(
            self.landscape_version("prod", "eu-2", "checkout")
                .as_deref(),
            Some(checkout.as_str()),
            "wave 2 rolled back"
        );
        // eu-2's trouble is fixed: the next release (which carries this
        // checkout, main has the fix) is healthy there.
        std::fs::write(self.rig.dir().join("world/unhealthy-on"), "").expect("world file");
    }

    /// `who` opens a PR on `env`'s landscape, comments `/promote tag`, waits
    /// for the bot's answer saying `done`, and closes the PR.
    async fn promote_by_comment(
        &self,
        who: &stagecoach::sandbox::Person,
        env: &str,
        tag: &str,
        done: &str,
        k: usize,
    ) {
        let repo = format!("landscape-{env}");
        let branch = format!("promote-{}-{k}-{tag}", who.login);
        who.commit_files(
            &repo,
            &branch,
            &[(
                &format!("requests/{branch}.md"),
                &format!("{tag} to {env}\n"),
            )],
            &format!("docs: promote {tag}"),
        )
        .await
        .expect("branch");
        let pr = who
            .open_pr(
                &repo,
                &branch,
                "main",
                &format!("Promote {tag} to {env}"),
                "",
            )
            .await
            .expect("landscape PR");
        who.comment(&repo, pr, &format!("/promote {tag}"))
            .await
            .expect("comment");
        self.step(&format!("{repo}#{pr} answered {done:?}"), || async {
            self.bot_said(&repo, pr, done).await.then_some(())
        })
        .await;
        who.close(&repo, pr).await.expect("close");
    }
}

/// A developer's fully labelled, low-risk change on `branch`; its PR number.
async fn component_pr(
    p: &stagecoach::sandbox::Person,
    repo: &str,
    branch: &str,
    message: &str,
) -> u64 {
    let opened =
        stagecoach::kit::steps::open_component_pr(p, repo, branch, message, stagecoach::kit::LOW);
    opened.await.expect("a low-risk component PR")
}

/// `payments: 1.4.2 → 1.5.0` → (payments, 1.5.0): what a product PR bumps.
fn bump_of(pr: &Value) -> Option<(String, String)> {
    let title = pr["title"].as_str()?;
    let (component, versions) = title.split_once(": ")?;
    let (_, to) = versions.split_once(" → ")?;
    Some((component.to_string(), to.trim().to_string()))
}

fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (url, rel) = part.split_once(';')?;
        rel.contains("rel=\"next\"").then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

fn tag_message(world: &World, tag: &str) -> String {
    let r = world.bare("product");
    r.find_reference(&format!("refs/tags/{tag}"))
        .ok()
        .and_then(|t| t.peel_to_tag().ok())
        .and_then(|t| t.message().ok().flatten().map(str::to_string))
        .unwrap_or_default()
}

fn on_main(world: &World, tag: &str) -> bool {
    let r = world.bare("product");
    let main = r.revparse_single("main^{commit}").expect("main").id();
    let t = r
        .revparse_single(&format!("{tag}^{{commit}}"))
        .expect("tag")
        .id();
    main == t || r.graph_descendant_of(main, t).expect("graph")
}

fn append(path: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("world file");
    writeln!(f, "{line}").expect("write world file");
}

// ── the test ──

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_inside_every_kind_of_action_along_the_whole_road_leaves_nothing_doubled() {
    let kills: usize = std::env::var("RELIABILITY_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("RELIABILITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("crash test: {kills} kills, RELIABILITY_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let rig = Rig::new().await;
    let dir = rig.dir();
    let cfg_dir = tempfile::tempdir().expect("tmp");
    let config = cfg_dir.path().join("stagecoach.yaml");
    let full_log = cfg_dir.path().join("serve.log");
    let mut bot_config = rig.config.clone().resync("300ms");
    bot_config.cache_dir = cfg_dir.path().join("cache");
    bot_config.write(&config).expect("config");
    // The test's policy: prod's health can fail on one cluster.
    let script = dir.join("bin/crash-health.sh");
    std::fs::write(&script, PROD_HEALTH).expect("script");
    let mut perms = std::fs::metadata(&script).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&script, perms).expect("chmod");
    let world = rig.world();
    let policy = world
        .file_at("product", "main", "policies/default.yaml")
        .expect("policy");
    let at = policy
        .rfind("bin/health.sh")
        .expect("prod's health command");
    let policy = format!(
        "{}bin/crash-health.sh{}",
        &policy[..at],
        &policy[at + "bin/health.sh".len()..]
    );
    rig.person("rita")
        .commit_files(
            "product",
            "main",
            &[("policies/default.yaml", &policy)],
            "chore(policy): prod health per cluster for the crash test",
        )
        .await
        .expect("policy");
    let start_tags = world.tags("product");
    let alice_token = rig.sb.world.token("alice").expect("alice").to_string();

    let crash = Crash {
        rig,
        config,
        full_log,
        alice_token,
        winding_down: AtomicBool::new(false),
        road_done: AtomicBool::new(false),
        lap: AtomicUsize::new(1),
        stage: Mutex::new(String::new()),
        killed_actions: Arc::new(Mutex::new(BTreeSet::new())),
        life_pid: Mutex::new(None),
    };
    let started = Instant::now();
    let mut landings: Vec<(Landing, String, &'static str)> = Vec::new();

    let killer = async {
        let mut hit: BTreeSet<String> = BTreeSet::new();
        for _ in 0..kills {
            let unhit: BTreeSet<String> = ROAD_KINDS
                .iter()
                .filter(|k| !hit.contains(**k))
                .map(|k| k.to_string())
                .collect();
            // First every kind, aimed; then a mix of aimed and random times.
            let (aim, mode) = if !unhit.is_empty() {
                (
                    Aim::Action {
                        kinds: unhit,
                        nth: 1,
                    },
                    "aimed",
                )
            } else {
                // A third each: an action's start, a write's echo, a random time.
                let nth = rng.random_range(1..=4);
                match rng.random_range(0..3) {
                    0 => (
                        Aim::Action {
                            kinds: BTreeSet::new(),
                            nth,
                        },
                        "aimed",
                    ),
                    1 => (Aim::Echo { nth }, "aimed at a write's echo"),
                    _ => (
                        Aim::After(Duration::from_millis(rng.random_range(100..1500))),
                        "random",
                    ),
                }
            };
            let mut life = Life::spawn(&crash.config, &crash.full_log, &aim, &crash.killed_actions);
            *crash.life_pid.lock().expect("pid") = Some(life.child.id());
            let addr = life.addr(&crash.full_log).await;
            crash.rig.sb.set_webhook(
                Some(format!("http://{addr}/webhook")),
                Some(crash.rig.secret.clone()),
            );
            match &aim {
                Aim::After(d) => tokio::time::sleep(*d).await,
                Aim::Action { .. } | Aim::Echo { .. } => {
                    // Until the aimed line comes; a kill time all the same
                    // if the road rests longer (a soak, a cold start's hold).
                    let born = Instant::now();
                    while !life.fired() && born.elapsed() < Duration::from_secs(20) {
                        life.assert_alive(&crash.full_log);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            let stage = crash.stage();
            let landing = life.kill().await;
            *crash.life_pid.lock().expect("pid") = None;
            if let Landing::Mid(kind) = &landing {
                hit.insert(kind.clone());
            }
            eprintln!(
                "kill {}/{kills} ({mode}) at {:.1}s, {stage}: {landing:?}",
                landings.len() + 1,
                started.elapsed().as_secs_f64()
            );
            landings.push((landing, stage, mode));
        }
        crash.winding_down.store(true, Ordering::SeqCst);
        // The last life: no more kills; the lap in hand must end where it
        // would have, and a few passes after it nothing more may happen.
        let mut life = Life::spawn(
            &crash.config,
            &crash.full_log,
            &Aim::After(Duration::ZERO),
            &crash.killed_actions,
        );
        *crash.life_pid.lock().expect("pid") = Some(life.child.id());
        let addr = life.addr(&crash.full_log).await;
        crash.rig.sb.set_webhook(
            Some(format!("http://{addr}/webhook")),
            Some(crash.rig.secret.clone()),
        );
        while !crash.road_done.load(Ordering::SeqCst) {
            life.assert_alive(&crash.full_log);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // A sentinel: a PR missing a label, which the bot answers in a pass
        // after the road ended — by then a late duplicate would be made.
        let alice = crash.person("alice");
        alice
            .commit_files(
                "search",
                "sentinel",
                &[("src/sentinel.txt", "x")],
                "chore: sentinel",
            )
            .await
            .expect("commit");
        let n = alice
            .open_pr("search", "sentinel", "main", "chore: sentinel", "")
            .await
            .expect("sentinel PR");
        wait_for("the bot's answer to the sentinel PR", ROAD_STEP, || async {
            crash
                .bot_said("search", n, "missing label")
                .await
                .then_some(())
        })
        .await;
        life.kill().await;
        *crash.life_pid.lock().expect("pid") = None;
    };
    tokio::join!(killer, crash.play());
    let elapsed = started.elapsed();

    // ── where the kills landed ──
    let mut mid: BTreeMap<String, usize> = BTreeMap::new();
    let (mut between, mut before) = (0, 0);
    for (landing, _, _) in &landings {
        match landing {
            Landing::Mid(kind) => *mid.entry(kind.clone()).or_default() += 1,
            Landing::Between => between += 1,
            Landing::BeforeAnyAction => before += 1,
        }
    }
    let mid_total: usize = mid.values().sum();
    let aimed = landings
        .iter()
        .filter(|(_, _, m)| m.starts_with("aimed"))
        .count();
    let inside = landings
        .iter()
        .filter(|(_, _, m)| *m == "aimed at a write's echo")
        .count();
    let laps = crash.lap.load(Ordering::SeqCst);
    let mut table = format!(
        "crash test summary (RELIABILITY_SEED={seed}): {kills} kills ({aimed} aimed: {inside} of them at the webhook echoing a write, the others at a `started` line, {} at random times) in {:.0}s over {laps} lap(s) of the road\n\
         {:<30} {:>5}\n",
        kills - aimed,
        elapsed.as_secs_f64(),
        "landed",
        "kills"
    );
    for (kind, n) in &mid {
        table += &format!("  mid-action {kind:<19} {n:>5}\n");
    }
    table += &format!("{:<30} {mid_total:>5}\n", "mid-action, all kinds");
    table += &format!("{:<30} {between:>5}\n", "between actions");
    table += &format!("{:<30} {before:>5}\n", "before any action");
    eprintln!("{table}");
    let mut by_stage: BTreeMap<String, usize> = BTreeMap::new();
    for (_, stage, _) in &landings {
        *by_stage.entry(stage.clone()).or_default() += 1;
    }
    eprintln!("kills by stage of the road: {by_stage:#?}");

    assert_eq!(landings.len(), kills);
    // Each kind is aimed at until it is hit, so mid-action kills are at
    // least one per kind; after that about half the kills are aimed.
    let min_mid = ROAD_KINDS.len().max(kills * 2 / 5).min(kills);
    assert!(
        mid_total >= min_mid,
        "only {mid_total} of {kills} kills landed mid-action (want ≥ {min_mid})\n{table}"
    );
    let missed: Vec<&&str> = ROAD_KINDS
        .iter()
        .filter(|k| !mid.contains_key(**k))
        .collect();
    assert!(
        missed.is_empty(),
        "kinds of the road never hit mid-action: {missed:?}\n{table}"
    );

    // ── nothing doubled, judged by meaning, every page read ──
    let world = crash.world();
    // One product PR per component@version.
    let product_prs = crash.get_all("/repos/acme/product/pulls?state=all").await;
    let mut bumps: BTreeMap<(String, String), usize> = BTreeMap::new();
    for pr in &product_prs {
        if let Some(b) = bump_of(pr) {
            *bumps.entry(b).or_default() += 1;
        }
    }
    for ((c, v), n) in &bumps {
        assert_eq!(*n, 1, "{n} product PRs for {c}@{v}");
    }
    assert_eq!(
        bumps.len(),
        2 * laps,
        "a product PR per change (payments, checkout) per lap: {bumps:?}"
    );
    // One bot comment per PR and topic (the sticky comment's marker), everywhere.
    let mut comments = 0;
    for repo in REPOS {
        for pr in crash
            .get_all(&format!("/repos/acme/{repo}/pulls?state=all"))
            .await
        {
            let n = pr["number"].as_u64().expect("number");
            let mut topics: BTreeMap<String, usize> = BTreeMap::new();
            for c in crash
                .get_all(&format!("/repos/acme/{repo}/issues/{n}/comments"))
                .await
            {
                if c["user"]["login"] != "stagecoach-bot" {
                    continue;
                }
                comments += 1;
                let body = c["body"].as_str().unwrap_or("");
                let topic = body
                    .strip_prefix("<!-- stagecoach:")
                    .and_then(|r| r.split_once(" -->"))
                    .map(|(t, _)| t.to_string())
                    .unwrap_or_else(|| format!("(no marker) {body}"));
                *topics.entry(topic).or_default() += 1;
            }
            for (topic, count) in &topics {
                assert_eq!(
                    *count, 1,
                    "acme/{repo}#{n}: {count} bot comments on the topic {topic}"
                );
            }
        }
    }
    // One landscape commit per action, product (PR or tag), component and wave.
    let mut landscape_commits = 0;
    for env in ["ci", "staging", "canary", "prod"] {
        let repo = format!("landscape-{env}");
        let mut keys: BTreeMap<String, usize> = BTreeMap::new();
        for message in world.log(&repo, "main") {
            let t = Trailers::parse(&message);
            let Some(action) = t.get("Stagecoach-Action") else {
                continue;
            };
            landscape_commits += 1;
            let mut components = t.get_all("Stagecoach-Component");
            components.sort();
            let key = format!(
                "{action} product={} components={} wave={} reverts={}",
                t.get("Stagecoach-Product").unwrap_or("-"),
                components.join(","),
                t.get("Stagecoach-Wave").unwrap_or("-"),
                t.get("Stagecoach-Reverts").unwrap_or("-"),
            );
            *keys.entry(key).or_default() += 1;
        }
        for (key, n) in &keys {
            assert_eq!(*n, 1, "{repo}: {n} commits for {key}");
        }
    }
    // One product tag per change (main's tags by component, hotfixes by PR).
    let tags = world.tags("product");
    let mut tag_keys: BTreeMap<String, usize> = BTreeMap::new();
    for tag in tags.iter().filter(|t| !start_tags.contains(t)) {
        let t = Trailers::parse(&tag_message(&world, tag));
        let mut components = t.get_all("Stagecoach-Component");
        components.sort();
        let key = format!(
            "{} {} {}",
            t.get("Stagecoach-Action").unwrap_or("-"),
            components.join(","),
            t.get("Stagecoach-Hotfix-For").unwrap_or("")
        );
        *tag_keys.entry(key).or_default() += 1;
    }
    for (key, n) in &tag_keys {
        assert_eq!(*n, 1, "{n} product tags for {key}");
    }
    assert_eq!(
        tags.len(),
        start_tags.len() + 3 * laps,
        "per lap: a minor tag, a hotfix tag, main's tag of the fix: {tags:?}"
    );
    // One note per tag (one `score:` line), on every tag that left staging,
    // and one release per tag, published when the note passed.
    let releases = crash.get_all("/repos/acme/product/releases").await;
    let mut by_tag: BTreeMap<String, usize> = BTreeMap::new();
    for r in &releases {
        *by_tag
            .entry(r["tag_name"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
    }
    for (tag, n) in &by_tag {
        assert_eq!(*n, 1, "{n} releases for {tag}");
    }
    for k in 0..laps {
        let tag = format!("v1.{k}.0");
        let note = world.note(NOTES_STABILITY, &tag).unwrap_or_default();
        let scores = note.lines().filter(|l| l.starts_with("score:")).count();
        assert_eq!(
            scores, 1,
            "{tag} left staging: one stability note, got {note:?}"
        );
        let samples = world.note(NOTES_SAMPLES, &tag).unwrap_or_default();
        let lines: Vec<&str> = samples.lines().filter(|l| !l.trim().is_empty()).collect();
        let distinct: BTreeSet<&&str> = lines.iter().collect();
        assert_eq!(
            lines.len(),
            distinct.len(),
            "a sample written twice on {tag}: {samples}"
        );
        assert!(
            releases
                .iter()
                .any(|r| r["tag_name"] == tag && r["draft"] == false),
            "{tag} passed and is published"
        );
    }
    let log_text = std::fs::read_to_string(&crash.full_log).unwrap_or_default();
    assert!(
        !log_text.contains("panicked"),
        "serve panicked:\n{log_text}"
    );
    assert!(
        !log_text.contains(crash.rig.sb.world.bot_token()),
        "serve logged its token"
    );
    eprintln!(
        "held: {} product PRs ({} bumps), {comments} bot comments, {landscape_commits} landscape commits by the bot, {} new product tags, {} releases: nothing doubled",
        product_prs.len(),
        bumps.len(),
        tags.len() - start_tags.len(),
        releases.len()
    );
}
