//! Two bots at once: two `stagecoach serve` processes on one sandbox world
//! (a rolling update, or two replicas by mistake) carry the whole demo road
//! together — low-risk fixes, a medium-risk feature through its PR
//! environment and smoke gate, product tags, staging with stability notes and
//! releases, a `/promote` to canary and to prod in waves — and nothing is
//! doubled or lost. The sandbox has one webhook URL; it points at one bot per
//! change, in turn. One bot acts at a time (the lease in the product repo,
//! `engine/lease.rs`); midway the one holding it is stopped as in a rolling
//! update (SIGTERM: it releases the lease) and a new one started, so the
//! road is carried by more than one process. Each process's
//! `stagecoach action` log lines are counted by kind and printed, and their
//! times checked: no two processes are ever inside an action at once.

mod reliability_support;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Instant;

use chrono::{DateTime, Utc};

use reliability_support::*;
use serde_json::Value;
use stagecoach::git::trailers::Trailers;
use stagecoach::sandbox::Person;

/// How long one step may take. Two bots on one token spend GitHub's
/// secondary-limit points twice as fast as one, and the sandbox then holds
/// both for up to a minute, as GitHub would: a step may outlast one hold.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(180);

/// When one action ran in one process: start, end, what (its description).
type Span = (DateTime<Utc>, DateTime<Utc>, String);

/// One `stagecoach serve` process and where it reports.
struct Twin {
    name: &'static str,
    /// `None` once stopped.
    child: Option<Child>,
    log: PathBuf,
    addr: String,
}

impl Drop for Twin {
    /// A failing test must not leave its bots running.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Twin {
    async fn start(name: &'static str, rig: &Rig, dir: &Path) -> Twin {
        // One config, the same for both but for the git cache (each replica
        // has its own disk); both bind port 0 and say where they listen.
        let config = dir.join(format!("{name}.yaml"));
        let mut bot_config = rig.config.clone().resync("500ms");
        bot_config.sweep = Some("5s".into());
        bot_config.cache_dir = dir.join(format!("cache-{name}"));
        bot_config.write(&config).expect("config");
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_stagecoach"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .args(["--log-format", "json"])
            .env("RUST_LOG", "info")
            // Replicas are told apart by name (a pod's name on Kubernetes).
            .env("STAGECOACH_INSTANCE", name)
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("spawn stagecoach serve");
        let addr = serving_addr(&log, 0).await;
        Twin {
            name,
            child: Some(child),
            log,
            addr,
        }
    }

    /// Its `stagecoach action finished` log lines by kind (`kind` or `kind (failed)`).
    fn actions(&self) -> BTreeMap<String, usize> {
        let mut by_kind = BTreeMap::new();
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let f = &v["fields"];
            if f["message"] != "stagecoach action finished" {
                continue;
            }
            let kind = f["kind"].as_str().unwrap_or("?");
            let outcome = f["outcome"].as_str().unwrap_or("");
            let key = if outcome.starts_with("failed") {
                format!("{kind} (failed)")
            } else {
                kind.to_string()
            };
            *by_kind.entry(key).or_insert(0) += 1;
        }
        by_kind
    }

    /// When each of its actions ran, from its `stagecoach action started`
    /// and `… finished` lines (same `seq`): (start, end, what). An action
    /// cut short by a stop ends at its last log line.
    fn spans(&self) -> Vec<Span> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut open: BTreeMap<u64, (DateTime<Utc>, String)> = BTreeMap::new();
        let mut spans = Vec::new();
        let mut last = None;
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let Some(at) = v["timestamp"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
            else {
                continue;
            };
            last = Some(at);
            let f = &v["fields"];
            let seq = f["seq"].as_u64().unwrap_or(0);
            if f["message"] == "stagecoach action started" {
                let what = f["action"].as_str().unwrap_or("?").to_string();
                open.insert(seq, (at, what));
            } else if f["message"] == "stagecoach action finished"
                && let Some((start, what)) = open.remove(&seq)
            {
                spans.push((start, at, what));
            }
        }
        for (start, what) in open.into_values() {
            spans.push((start, last.unwrap_or(start), what));
        }
        spans
    }

    fn acted(&self) -> usize {
        self.actions()
            .iter()
            .filter(|(k, _)| !k.ends_with("(failed)"))
            .map(|(_, n)| n)
            .sum()
    }

    fn stop(&mut self) -> String {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stop as Kubernetes stops a pod: SIGTERM, then wait for it to finish
    /// the action in hand and release the lease.
    fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

/// The claim itself, read from the bots' own logs: no two processes were
/// ever inside an action at the same time (each action's span from its
/// `started` to its `finished` line). Two bots acting at once is what doubles
/// or loses writes; a double may need an unlucky interleaving to show, an
/// overlap does not.
fn assert_never_at_once(twins: &[&Twin]) {
    let spans: Vec<(&str, Vec<Span>)> = twins.iter().map(|t| (t.name, t.spans())).collect();
    for (i, (x, xs)) in spans.iter().enumerate() {
        for (y, ys) in &spans[i + 1..] {
            for (xa, xb, xw) in xs {
                if let Some((ya, yb, yw)) = ys.iter().find(|(ya, yb, _)| ya < xb && xa < yb) {
                    panic!(
                        "two bots acted at once: {x}'s `{xw}` ({xa} – {xb}) overlaps {y}'s `{yw}` ({ya} – {yb})"
                    );
                }
            }
        }
    }
}

/// Point the sandbox's one webhook at `twin`.
fn hint(rig: &Rig, twin: &Twin) {
    rig.sb.set_webhook(
        Some(format!("http://{}/webhook", twin.addr)),
        Some(rig.secret.clone()),
    );
}

/// A component PR with `labels`, merged and tagged by the component's own
/// pipeline once the bots checked its labels (as branch protection would).
async fn release(p: &Person, repo: &str, branch: &str, message: &str, labels: &[&str], tag: &str) {
    let opened = stagecoach::kit::steps::open_component_pr(p, repo, branch, message, labels);
    let n = opened.await.expect("a component PR");
    let head = p.pull(repo, n).await.expect("pull")["head"]["sha"]
        .as_str()
        .expect("sha")
        .to_string();
    merge_after_labels_check(p, repo, n, &head, tag, LIMIT).await;
}

async fn product_pr(p: &Person, component: &str, version: &str) -> u64 {
    let head = format!("stagecoach/{component}-{version}");
    let pr = wait_for(
        &format!("a product PR for {component} {version}"),
        LIMIT,
        || pr_by_head(p, "product", &head),
    )
    .await;
    pr["number"].as_u64().expect("number")
}

async fn wait_tag(rig: &Rig, tag: &str) {
    wait_for(&format!("product tag {tag}"), LIMIT, || async {
        rig.world()
            .tags("product")
            .contains(&tag.to_string())
            .then_some(())
    })
    .await;
}

async fn wait_staging(rig: &Rig, tag: &str) {
    wait_for(&format!("{tag} on staging"), LIMIT, || async {
        rig.world().staging_tag().filter(|t| t == tag)
    })
    .await;
}

async fn wait_released(p: &Person, tag: &str) {
    wait_for(&format!("{tag} released"), LIMIT, || async {
        releases(p)
            .await
            .into_iter()
            .find(|r| r["tag_name"] == tag && r["draft"] == false)
    })
    .await;
}

/// The tag an environment runs now (its promotion marker).
fn env_tag(rig: &Rig, env: &str) -> Option<String> {
    rig.world()
        .file_at(
            &format!("landscape-{env}"),
            "main",
            ".stagecoach/promotion.yaml",
        )?
        .lines()
        .find_map(|l| l.strip_prefix("tag: "))
        .map(str::to_string)
}

/// A release manager asks for `tag` on `env` in a comment on an open PR of
/// the environment's landscape repo; returns the PR.
async fn ask_promotion(rita: &Person, env: &str, tag: &str) -> u64 {
    let repo = format!("landscape-{env}");
    rita.commit_files(
        &repo,
        "promotions",
        &[("NOTES.md", "promotion requests\n")],
        "docs: promotion requests",
    )
    .await
    .expect("branch");
    let pr = rita
        .open_pr(&repo, "promotions", "main", "Promotions", "")
        .await
        .expect("pr");
    rita.comment(&repo, pr, &format!("/promote {tag}"))
        .await
        .expect("comment");
    pr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_carry_the_road_together_without_doubles() {
    let started = Instant::now();
    let rig = Rig::new().await;
    let tmp = tempfile::TempDir::with_prefix("two-bots-").expect("tmp");
    // RELIABILITY_KEEP=1: the bots' configs and logs stay, to read after a failure.
    let dir = if std::env::var("RELIABILITY_KEEP").as_deref() == Ok("1") {
        let kept = tmp.keep();
        eprintln!("the bots' configs and logs: {}", kept.display());
        kept
    } else {
        tmp.path().to_path_buf()
    };
    let a = Twin::start("a", &rig, &dir).await;
    let b = Twin::start("b", &rig, &dir).await;
    eprintln!("two bots: a on {}, b on {}", a.addr, b.addr);
    let mut twins: Vec<Twin> = vec![a, b];
    // Stopped during the rolling update, kept for the report.
    let mut gone: Vec<Twin> = Vec::new();
    let alice = rig.person("alice");
    let rita = rig.person("rita");
    let start_tags = rig.world().tags("product");

    // 0. Both start: staging takes the newest minor tag.
    hint(&rig, &twins[0]);
    wait_staging(&rig, "v1.0.0").await;

    // 1. Component changes, each bot hinted in turn: (component, version,
    //    labels, commit message, product tag it ends in).
    let medium_toggle: Vec<&str> = vec![
        "component: M",
        "change: M",
        "ft-coverage: 70",
        "functional: true",
        "feature-toggle",
    ];
    let low: Vec<&str> = vec![
        "component: S",
        "change: S",
        "ft-coverage: 90",
        "functional: true",
    ];
    let changes: Vec<(&str, &str, Vec<&str>, &str, &str)> = vec![
        (
            "payments",
            "1.4.3",
            low.clone(),
            "fix(cart): an empty cart",
            "v1.0.1",
        ),
        (
            "search",
            "0.9.1",
            low.clone(),
            "fix(ranking): ties",
            "v1.0.2",
        ),
        (
            "checkout",
            "2.1.0",
            medium_toggle,
            "feat(checkout): one-page checkout",
            "v1.1.0",
        ),
        (
            "payments",
            "1.4.4",
            low.clone(),
            "fix(cart): rounding",
            "v1.1.1",
        ),
        (
            "search",
            "0.10.0",
            low.clone(),
            "feat(ranking): fuzzy",
            "v1.2.0",
        ),
    ];
    let mut product_prs: Vec<(String, u64)> = Vec::new();
    for (k, (component, version, labels, message, tag)) in changes.iter().enumerate() {
        assert_never_at_once(&twins.iter().chain(&gone).collect::<Vec<_>>());
        if k == 2 {
            // A rolling update: the bot holding the lease stops (releasing
            // it) and a new one starts; the one left takes over at once.
            let lease = rig
                .world()
                .file_at("product", "stagecoach/lease", "lease.yaml")
                .expect("a bot holds the lease by now");
            let at = twins
                .iter()
                .position(|t| lease.contains(&format!("holder: {}\n", t.name)))
                .expect("the lease names one of the bots");
            let mut old = twins.remove(at);
            old.terminate();
            eprintln!(
                "[{:>5.1}s] rolling update: {} stopped",
                started.elapsed().as_secs_f64(),
                old.name
            );
            gone.push(old);
            twins.push(Twin::start("c", &rig, &dir).await);
        }
        hint(&rig, &twins[k % twins.len()]);
        let branch = format!("change/{component}-{version}");
        release(
            &alice,
            component,
            &branch,
            message,
            labels,
            &format!("v{version}"),
        )
        .await;
        let n = product_pr(&alice, component, version).await;
        if labels.contains(&"feature-toggle") {
            // Medium risk: PR environment, smoke with the toggle on and off,
            // then a person merges.
            let head = alice.pull("product", n).await.expect("pull")["head"]["sha"]
                .as_str()
                .expect("sha")
                .to_string();
            wait_for("the smoke gate passes", LIMIT, || async {
                let statuses = alice
                    .get(&format!("/repos/acme/product/commits/{head}/statuses"))
                    .await
                    .ok()?;
                statuses
                    .as_array()?
                    .iter()
                    .find(|s| s["context"] == "stagecoach/smoke")
                    .filter(|s| s["state"] == "success")
                    .cloned()
            })
            .await;
            wait_for(
                "the bot says a person merges medium risk",
                LIMIT,
                || async {
                    alice
                        .comments("acme/product", n)
                        .await
                        .ok()?
                        .into_iter()
                        .find(|(a, b)| {
                            a == "stagecoach-bot" && b.contains("not merged automatically")
                        })
                },
            )
            .await;
            wait_for("the PR environment is torn down", LIMIT, || async {
                rig.world()
                    .file_at("landscape-ci", "main", &format!("envs/pr-{n}/values.yaml"))
                    .is_none()
                    .then_some(())
            })
            .await;
            rita.merge("product", n).await.expect("rita merges");
        }
        wait_merged(&alice, n, LIMIT).await;
        wait_tag(&rig, tag).await;
        product_prs.push((format!("{component}@{version}"), n));
        eprintln!(
            "[{:>5.1}s] {component} {version} → product#{n} merged, tagged {tag} (hinted: {})",
            started.elapsed().as_secs_f64(),
            twins[k % twins.len()].name
        );
        if *tag == "v1.1.0" {
            wait_staging(&rig, "v1.1.0").await;
            wait_released(&alice, "v1.0.0").await;
        }
    }
    // 2. Staging moved on to v1.2.0: v1.1.0 has its score and is a release.
    wait_staging(&rig, "v1.2.0").await;
    wait_released(&alice, "v1.1.0").await;

    // 3. A release manager promotes v1.1.0 to canary, then to prod in two
    //    waves, by `/promote` comments the bots carry out.
    hint(&rig, &twins[1]);
    let canary_pr = ask_promotion(&rita, "canary", "v1.1.0").await;
    wait_for("v1.1.0 on canary", LIMIT, || async {
        env_tag(&rig, "canary").filter(|t| t == "v1.1.0")
    })
    .await;
    wait_for("the canary PR says it is done", LIMIT, || async {
        alice
            .comments("acme/landscape-canary", canary_pr)
            .await
            .ok()?
            .into_iter()
            .find(|(a, b)| a == "stagecoach-bot" && b.contains("v1.1.0 runs on canary"))
    })
    .await;
    hint(&rig, &twins[0]);
    let prod_pr = ask_promotion(&rita, "prod", "v1.1.0").await;
    wait_for("v1.1.0 on every prod cluster", LIMIT, || async {
        ["eu-1", "eu-2", "us-1"]
            .iter()
            .all(|c| {
                rig.world()
                    .file_at(
                        "landscape-prod",
                        "main",
                        &format!("clusters/{c}/checkout/values.yaml"),
                    )
                    .is_some_and(|v| v.contains("tag: \"2.1.0\""))
            })
            .then_some(())
    })
    .await;
    wait_for("the prod PR says it is done", LIMIT, || async {
        alice
            .comments("acme/landscape-prod", prod_pr)
            .await
            .ok()?
            .into_iter()
            .find(|(a, b)| a == "stagecoach-bot" && b.contains("v1.1.0 runs on prod"))
    })
    .await;
    let road_done = started.elapsed();

    // Both bots look again a few times: a late double would show now.
    for twin in &twins {
        wait_child_passes(&rig.http, &twin.addr, 3).await;
    }

    // ── What each did ──
    for twin in twins.iter().chain(&gone) {
        let actions = twin.actions();
        eprintln!(
            "bot {} ({}): {} actions: {}",
            twin.name,
            twin.addr,
            twin.acted(),
            actions
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    assert_never_at_once(&twins.iter().chain(&gone).collect::<Vec<_>>());

    // ── Nothing doubled, nothing lost, reading every page ──
    // Every double is collected first, so one run shows them all.
    let mut doubles: Vec<String> = Vec::new();
    let world = rig.world();
    let pulls = every_page(&alice, "/repos/acme/product/pulls?state=all").await;
    // One product PR per component@version, by what it bumps (its title,
    // `component: from → to`), whatever branch it came from.
    let mut per_bump: HashMap<String, usize> = HashMap::new();
    for pr in &pulls {
        let bump = pr["title"]
            .as_str()
            .and_then(|t| t.split_once(": "))
            .and_then(|(component, versions)| {
                let (_, to) = versions.split_once(" → ")?;
                Some(format!("{component}@{}", to.trim()))
            });
        if let Some(bump) = bump {
            *per_bump.entry(bump).or_default() += 1;
        }
    }
    for (bump, n) in &per_bump {
        if *n != 1 {
            doubles.push(format!("{n} product PRs for {bump}"));
        }
    }
    // And one per bump branch.
    let mut per_change: HashMap<String, Vec<u64>> = HashMap::new();
    for pr in &pulls {
        if let Some(head) = pr["head"]["ref"].as_str()
            && let Some(change) = head.strip_prefix("stagecoach/")
        {
            per_change
                .entry(change.to_string())
                .or_default()
                .push(pr["number"].as_u64().unwrap_or(0));
        }
    }
    for (change, n) in &product_prs {
        let head = change.replace('@', "-");
        assert_eq!(
            per_change.get(&head).map(Vec::as_slice),
            Some(&[*n][..]),
            "one product PR for {change}"
        );
    }
    assert_eq!(
        per_change.len(),
        product_prs.len(),
        "product PRs: {per_change:?}"
    );
    // One bot comment per PR and topic, on every repo the bots wrote to.
    let mut commented = 0;
    for repo in [
        "product",
        "payments",
        "search",
        "checkout",
        "landscape-canary",
        "landscape-prod",
    ] {
        for pr in every_page(&alice, &format!("/repos/acme/{repo}/pulls?state=all")).await {
            let n = pr["number"].as_u64().expect("number");
            let comments =
                every_page(&alice, &format!("/repos/acme/{repo}/issues/{n}/comments")).await;
            let mut topics: HashMap<String, usize> = HashMap::new();
            for c in &comments {
                if c["user"]["login"] != "stagecoach-bot" {
                    continue;
                }
                let body = c["body"].as_str().unwrap_or("");
                let topic = body
                    .strip_prefix("<!-- stagecoach:")
                    .and_then(|r| r.split_once(" -->"))
                    .map(|(t, _)| t.to_string())
                    .unwrap_or_else(|| format!("(no marker) {body}"));
                *topics.entry(topic).or_default() += 1;
                commented += 1;
            }
            for (topic, count) in &topics {
                if *count != 1 {
                    doubles.push(format!("acme/{repo}#{n}: {count} bot comments on {topic}"));
                }
            }
        }
    }
    assert!(commented > 0, "the bots commented nowhere");
    // One CI deploy commit per product PR.
    for (change, n) in &product_prs {
        let key = format!("acme/product#{n}");
        let deploys = world.commits_with(
            "landscape-ci",
            &[("Stagecoach-Action", "bump"), ("Stagecoach-Product", &key)],
        );
        if deploys != 1 {
            doubles.push(format!("{deploys} CI deploys of product#{n} ({change})"));
        }
    }
    // One landscape commit per action, component, version and wave (and,
    // for PR environments, per create and teardown: the subject says which).
    for env in ["ci", "staging", "canary", "prod"] {
        let repo = format!("landscape-{env}");
        let mut seen: HashMap<String, usize> = HashMap::new();
        for message in world.log(&repo, "main") {
            let t = Trailers::parse(&message);
            let Some(action) = t
                .get_all("Stagecoach-Action")
                .first()
                .map(|a| a.to_string())
            else {
                continue;
            };
            let key = format!(
                "{action} | {} | {} | {} | {}",
                message.lines().next().unwrap_or(""),
                t.get_all("Stagecoach-Product").join(","),
                t.get_all("Stagecoach-Component").join(","),
                t.get_all("Stagecoach-Wave").join(","),
            );
            *seen.entry(key).or_default() += 1;
        }
        for (key, count) in &seen {
            if *count != 1 {
                doubles.push(format!("{repo}: {count} commits of {key}"));
            }
        }
    }
    assert_eq!(
        world.commits_with(
            "landscape-prod",
            &[
                ("Stagecoach-Action", "promote"),
                ("Stagecoach-Product", "v1.1.0")
            ]
        ),
        2,
        "two prod waves for v1.1.0"
    );
    // One product tag per change, one note per tag that left staging, one
    // release per tag.
    let tags = world.tags("product");
    let new_tags: Vec<&String> = tags.iter().filter(|t| !start_tags.contains(t)).collect();
    assert_eq!(
        new_tags.len(),
        changes.len(),
        "one product tag per change: {new_tags:?}"
    );
    for tag in ["v1.0.0", "v1.1.0"] {
        let note = world
            .note(stagecoach::engine::NOTES_STABILITY, tag)
            .unwrap_or_else(|| panic!("no stability note on {tag}"));
        assert_eq!(
            note.lines().filter(|l| l.starts_with("score:")).count(),
            1,
            "one score in {tag}'s note: {note}"
        );
    }
    let all_releases = releases(&alice).await;
    let mut per_tag: HashMap<String, usize> = HashMap::new();
    for r in &all_releases {
        *per_tag
            .entry(r["tag_name"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
    }
    for (tag, count) in &per_tag {
        if *count != 1 {
            doubles.push(format!("{count} releases of {tag}"));
        }
    }
    assert!(
        doubles.is_empty(),
        "doubled by two bots:\n{}",
        doubles.join("\n")
    );
    for tag in &new_tags {
        assert!(per_tag.contains_key(tag.as_str()), "no release of {tag}");
    }

    // More than one process carried the road (else this proves nothing
    // about two): the one stopped in the rolling update, and whoever took over.
    let carried = twins.iter().chain(&gone).filter(|t| t.acted() > 0).count();
    assert!(
        carried >= 2,
        "only {carried} bot acted: the test proves nothing about two bots"
    );
    let logs: Vec<(&str, String)> = twins
        .iter_mut()
        .chain(gone.iter_mut())
        .map(|t| (t.name, t.stop()))
        .collect();
    for (name, log) in &logs {
        assert!(!log.contains("panicked"), "bot {name} panicked:\n{log}");
    }
    eprintln!(
        "two bots: the road took {:.1}s, the whole test {:.1}s",
        road_done.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    rig.stop().await;
}
