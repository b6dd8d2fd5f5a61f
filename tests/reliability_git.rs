//! Faults from git: a landscape push raced by another writer, a remote that
//! disappears and comes back while the bot works, a cache clone corrupted
//! between passes. The bot recovers; nothing is forced or lost: every commit
//! the other writer made is still on the landscape's main, the remote's main
//! only ever moved forward, and each change is deployed once.

mod reliability_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reliability_support::*;

fn landscape(dir: &Path) -> PathBuf {
    dir.join("repos/acme/landscape-ci.git")
}

/// Turn on the reflog of a bare repo, so every move of its refs is recorded.
fn keep_reflog(bare: &Path) {
    let repo = git2::Repository::open_bare(bare).expect("bare");
    repo.config()
        .expect("config")
        .set_str("core.logAllRefUpdates", "always")
        .expect("set");
}

/// Every recorded move of `main` went forward: the new commit descends from the old.
fn assert_only_forward(bare: &Path) -> usize {
    let repo = git2::Repository::open_bare(bare).expect("bare");
    let log = repo.reflog("refs/heads/main").expect("reflog");
    let mut moves = 0;
    for entry in log.iter() {
        let (old, new) = (entry.id_old(), entry.id_new());
        if old.is_zero() || old == new {
            continue;
        }
        moves += 1;
        assert!(
            repo.graph_descendant_of(new, old).unwrap_or(false),
            "main moved from {old} to {new}, which does not descend from it (a forced push): {}",
            entry.message().ok().flatten().unwrap_or("")
        );
    }
    moves
}

fn assert_all_on_main(bare: &Path, shas: &[String]) {
    let repo = git2::Repository::open_bare(bare).expect("bare");
    let head = repo.revparse_single("refs/heads/main").expect("main").id();
    for sha in shas {
        let id = git2::Oid::from_str(sha).expect("oid");
        assert!(
            id == head || repo.graph_descendant_of(head, id).unwrap_or(false),
            "the other writer's commit {sha} is no longer on main: lost"
        );
    }
}

async fn play(rig: &Rig, branch: &str, version: &str) -> u64 {
    let n = play_until_tagged(rig, branch, version).await;
    assert_one_deploy(rig, n);
    n
}

fn assert_one_deploy(rig: &Rig, n: u64) {
    let key = format!("acme/product#{n}");
    let deploys = rig.world().commits_with(
        "landscape-ci",
        &[("Stagecoach-Action", "bump"), ("Stagecoach-Product", &key)],
    );
    assert_eq!(deploys, 1, "{deploys} CI deploys of product#{n}");
}

async fn play_until_tagged(rig: &Rig, branch: &str, version: &str) -> u64 {
    let alice = rig.person("alice");
    let before = rig.world().tags("product").len();
    low_risk_release(&alice, "payments", branch, &format!("v{version}")).await;
    let head = format!("stagecoach/payments-{version}");
    let pr = wait_for(&format!("a product PR for {version}"), STEP, || {
        pr_by_head(&alice, "product", &head)
    })
    .await;
    let n = pr["number"].as_u64().expect("number");
    wait_merged(&alice, n, STEP).await;
    wait_for("a product tag", STEP, || async {
        (rig.world().tags("product").len() > before).then_some(())
    })
    .await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_landscape_push_raced_by_another_writer_loses_nothing() {
    let mut rig = Rig::new().await;
    keep_reflog(&landscape(&rig.dir()));
    rig.start_bot(Duration::from_millis(300)).await;

    // A person commits to the CI landscape five times a second all along
    // (straight to the bare repo), while the bot pushes over HTTP git.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, carol) = (stop.clone(), rig.person("olga"));
        tokio::spawn(async move {
            let mut shas = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let path = format!("ops/notes-{}.txt", i % 5);
                let text = format!("note {i}\n");
                if let Ok(sha) = carol
                    .commit_files(
                        "landscape-ci",
                        "main",
                        &[(&path, &text)],
                        &format!("ops: note {i}"),
                    )
                    .await
                {
                    shas.push(sha);
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            shas
        })
    };
    play(&rig, "fix/raced-a", "1.4.3").await;
    play(&rig, "fix/raced-b", "1.4.4").await;
    stop.store(true, Ordering::Relaxed);
    let shas = writer.await.expect("writer");
    assert!(
        shas.len() > 20,
        "the other writer barely wrote ({})",
        shas.len()
    );

    let bare = landscape(&rig.dir());
    assert_all_on_main(&bare, &shas);
    let moves = assert_only_forward(&bare);
    assert!(
        moves > shas.len(),
        "the reflog saw {moves} moves for {} writes",
        shas.len()
    );
    eprintln!(
        "raced: {} writes by another person, {moves} forward moves of main, none lost",
        shas.len()
    );
    assert_nothing_doubled(&rig.person("alice"), &["product"]).await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_that_disappears_and_comes_back_is_caught_up_with() {
    let mut rig = Rig::new().await;
    keep_reflog(&landscape(&rig.dir()));
    rig.start_bot(Duration::from_millis(300)).await;
    let bare = landscape(&rig.dir());
    let away = bare.with_extension("away");

    // The landscape repo vanishes and returns, again and again, while the
    // change is on its way (a host rebooting, a volume remounted).
    let stop = Arc::new(AtomicBool::new(false));
    let flicker = {
        let (stop, bare, away) = (stop.clone(), bare.clone(), away.clone());
        tokio::spawn(async move {
            let mut gone = 0;
            for _ in 0..12 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if std::fs::rename(&bare, &away).is_ok() {
                    gone += 1;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    std::fs::rename(&away, &bare).expect("bring the remote back");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            gone
        })
    };
    let n = play_until_tagged(&rig, "fix/flicker", "1.4.3").await;
    stop.store(true, Ordering::Relaxed);
    let gone = flicker.await.expect("flicker");
    assert_one_deploy(&rig, n);
    assert!(bare.exists(), "the remote is back");
    assert!(gone > 0, "the remote never went away");
    assert_only_forward(&bare);
    // And the bot still works against it afterwards.
    play(&rig, "fix/after-flicker", "1.4.4").await;
    assert_nothing_doubled(&rig.person("alice"), &["product"]).await;
    eprintln!("flicker: the landscape remote disappeared {gone} times");
    rig.stop().await;
}

/// Damage every cache clone in a different way.
fn corrupt_caches(cache: &Path) -> usize {
    let mut damaged = 0;
    let Ok(entries) = std::fs::read_dir(cache) else {
        return 0;
    };
    for (i, entry) in entries.flatten().enumerate() {
        let repo = entry.path();
        if !repo.is_dir() {
            continue;
        }
        match i % 4 {
            // Truncated pack files and loose objects.
            0 => {
                for sub in ["objects/pack"] {
                    if let Ok(files) = std::fs::read_dir(repo.join(sub)) {
                        for f in files.flatten() {
                            let _ = std::fs::write(f.path(), b"");
                        }
                    }
                }
                truncate_loose(&repo.join("objects"));
            }
            // HEAD and config gone.
            1 => {
                let _ = std::fs::remove_file(repo.join("HEAD"));
                let _ = std::fs::remove_file(repo.join("config"));
            }
            // A stale lock left by a killed process, and garbage in the refs.
            2 => {
                let _ = std::fs::write(repo.join("index.lock"), b"");
                let _ = std::fs::write(repo.join("packed-refs"), b"garbage\n");
                let _ = std::fs::remove_dir_all(repo.join("refs"));
            }
            // The whole clone gone.
            _ => {
                let _ = std::fs::remove_dir_all(&repo);
            }
        }
        damaged += 1;
    }
    damaged
}

fn truncate_loose(objects: &Path) {
    let Ok(dirs) = std::fs::read_dir(objects) else {
        return;
    };
    for d in dirs.flatten() {
        let name = d.file_name();
        if name.len() == 2 {
            if let Ok(files) = std::fs::read_dir(d.path()) {
                for f in files.flatten() {
                    let _ = std::fs::write(f.path(), b"x");
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_cache_clone_is_rebuilt_and_nothing_is_lost() {
    let mut rig = Rig::new().await;
    keep_reflog(&landscape(&rig.dir()));
    rig.start_bot(Duration::from_millis(300)).await;
    play(&rig, "fix/cache-a", "1.4.3").await;
    let cache = rig.engine.config.git.cache_dir.clone();

    for round in 0..3 {
        // Between passes: the bot is stopped, its cache is damaged, it restarts.
        rig.stop_bot().await;
        let landscape_head = rig.world().head("landscape-ci", "main");
        let damaged = corrupt_caches(&cache);
        assert!(
            damaged > 0,
            "no cache clone to damage in {}",
            cache.display()
        );
        rig.start_bot(Duration::from_millis(300)).await;
        let version = format!("1.4.{}", 4 + round);
        play(&rig, &format!("fix/cache-r{round}"), &version).await;
        assert_all_on_main(&landscape(&rig.dir()), &[landscape_head]);
        eprintln!("cache round {round}: {damaged} clones damaged, change {version} went through");
    }
    assert_only_forward(&landscape(&rig.dir()));
    assert_nothing_doubled(&rig.person("alice"), &["product", "payments"]).await;
    rig.stop().await;
}
