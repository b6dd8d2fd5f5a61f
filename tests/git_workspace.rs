//! The git workspace against real bare repositories in temporary folders:
//! what lands on the remote, what two writers racing each other do, and how a
//! damaged cache heals.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::thread;

use git2::{Oid, Repository, Signature};
use stagecoach::error::Kind;
use stagecoach::git::{FileChange, GitAuth, Identity, Outcome, Trailers, Workspace};
use tempfile::TempDir;

const VALUES: &str = "# versions per component\npayments: 1.0.0\ncheckout: 2.0.0\n";

struct Remote {
    _dir: TempDir,
    path: PathBuf,
    initial: String,
}

impl Remote {
    /// A bare repository with `main` holding a few files, logging every ref
    /// update so a test can prove none was forced.
    fn new() -> Remote {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("landscape.git");
        let repo = Repository::init_bare(&path).unwrap();
        repo.config()
            .unwrap()
            .set_str("core.logAllRefUpdates", "always")
            .unwrap();
        let initial = commit_files(
            &repo,
            None,
            &[
                ("clusters/eu-1/values.yaml", VALUES),
                ("clusters/us-1/values.yaml", VALUES),
                ("a.yaml", "a: 1\n"),
                ("b.yaml", "b: 1\n"),
            ],
            "initial",
        );
        repo.reference("refs/heads/main", initial, true, "seed")
            .unwrap();
        repo.set_head("refs/heads/main").unwrap();
        Remote {
            _dir: dir,
            path,
            initial: initial.to_string(),
        }
    }

    fn url(&self) -> &str {
        self.path.to_str().unwrap()
    }

    fn repo(&self) -> Repository {
        Repository::open_bare(&self.path).unwrap()
    }

    fn head(&self, branch: &str) -> Option<String> {
        self.repo()
            .refname_to_id(&format!("refs/heads/{branch}"))
            .ok()
            .map(|o| o.to_string())
    }

    fn file(&self, branch: &str, path: &str) -> Option<String> {
        let repo = self.repo();
        let tree = repo
            .find_reference(&format!("refs/heads/{branch}"))
            .unwrap()
            .peel_to_tree()
            .unwrap();
        let entry = tree.get_path(Path::new(path)).ok()?;
        let blob = repo.find_blob(entry.id()).unwrap();
        Some(String::from_utf8(blob.content().to_vec()).unwrap())
    }

    /// Every update of `reference` in its reflog moved it forward: each new
    /// value descends from the one before it.
    fn assert_never_forced(&self, reference: &str) {
        let repo = self.repo();
        let reflog = repo.reflog(reference).unwrap();
        assert!(!reflog.is_empty(), "{reference} has no reflog");
        for entry in reflog.iter() {
            let (old, new) = (entry.id_old(), entry.id_new());
            if old.is_zero() {
                continue;
            }
            assert!(
                repo.graph_descendant_of(new, old).unwrap(),
                "{reference} was forced from {old} to {new}"
            );
        }
    }
}

/// Commit `files` on top of `parent` directly in `repo` (no ref update).
fn commit_files(
    repo: &Repository,
    parent: Option<Oid>,
    files: &[(&str, &str)],
    message: &str,
) -> Oid {
    let mut index = git2::Index::new().unwrap();
    if let Some(parent) = parent {
        let tree = repo.find_commit(parent).unwrap().tree().unwrap();
        index.read_tree(&tree).unwrap();
    }
    for (path, text) in files {
        let blob = repo.blob(text.as_bytes()).unwrap();
        let entry = git2::IndexEntry {
            ctime: git2::IndexTime::new(0, 0),
            mtime: git2::IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode: 0o100644,
            uid: 0,
            gid: 0,
            file_size: text.len() as u32,
            id: blob,
            flags: 0,
            flags_extended: 0,
            path: path.as_bytes().to_vec(),
        };
        index.add(&entry).unwrap();
    }
    let tree = repo.find_tree(index.write_tree_to(repo).unwrap()).unwrap();
    let sig = Signature::now("Seed", "seed@example.com").unwrap();
    let parents: Vec<git2::Commit> = parent
        .map(|p| repo.find_commit(p).unwrap())
        .into_iter()
        .collect();
    let parents: Vec<&git2::Commit> = parents.iter().collect();
    repo.commit(None, &sig, &sig, message, &tree, &parents)
        .unwrap()
}

fn identity() -> Identity {
    Identity {
        name: "Stagecoach".into(),
        email: "bot@stagecoach.invalid".into(),
    }
}

fn open(cache: &Path, remote: &Remote) -> Workspace {
    Workspace::open(cache, remote.url(), &GitAuth::default(), &identity()).unwrap()
}

fn write(path: &str, text: &str) -> Vec<FileChange> {
    vec![FileChange::write(path, text)]
}

/// Set one `key: value` line of a small YAML file, keeping the rest.
fn set_line(text: &str, key: &str, value: &str) -> String {
    text.lines()
        .map(|line| {
            if line.starts_with(&format!("{key}:")) {
                format!("{key}: {value}")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn bump(ws: &Workspace, path: &str, text: &str) -> Outcome {
    ws.update_branch(
        "main",
        None,
        &format!("set {path}"),
        &Trailers::new().with("Stagecoach-Action", "bump"),
        &mut |_| Ok(write(path, text)),
    )
    .unwrap()
}

#[test]
fn a_commit_with_trailers_reaches_a_second_clone() {
    let remote = Remote::new();
    let (cache_a, cache_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let ws = open(cache_a.path(), &remote);
    let trailers = Trailers::new()
        .with("Stagecoach-Action", "bump")
        .with("Stagecoach-Component", "payments@1.5.0")
        .with("Stagecoach-Risk", "low");
    let new_values = set_line(VALUES, "payments", "1.5.0");
    let outcome = ws
        .update_branch(
            "main",
            None,
            "bump payments to 1.5.0",
            &trailers,
            &mut |view| {
                assert_eq!(view.head(), remote.initial);
                let current = view.read_file("clusters/eu-1/values.yaml")?.unwrap();
                Ok(write(
                    "clusters/eu-1/values.yaml",
                    &set_line(&current, "payments", "1.5.0"),
                ))
            },
        )
        .unwrap();
    let Outcome::Committed { sha } = outcome else {
        panic!("expected a commit, got {outcome:?}");
    };
    assert_eq!(remote.head("main").as_deref(), Some(sha.as_str()));
    assert_eq!(
        ws.branch_head("main").unwrap().as_deref(),
        Some(sha.as_str())
    );

    let other = open(cache_b.path(), &remote);
    assert_eq!(
        other
            .read_file("main", "clusters/eu-1/values.yaml")
            .unwrap(),
        Some(new_values)
    );
    assert_eq!(
        other
            .read_file("main", "clusters/us-1/values.yaml")
            .unwrap(),
        Some(VALUES.to_string())
    );
    let log = other.log("main", 10).unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].sha, sha);
    assert_eq!(log[0].summary, "bump payments to 1.5.0");
    assert_eq!(log[0].trailers, trailers);
    assert_eq!(log[0].parents, vec![remote.initial.clone()]);
    let author = other
        .repo()
        .find_commit(Oid::from_str(&sha).unwrap())
        .unwrap();
    assert_eq!(author.author().name().ok(), Some("Stagecoach"));
}

#[test]
fn an_edit_that_changes_nothing_makes_no_commit() {
    let remote = Remote::new();
    let cache = TempDir::new().unwrap();
    let ws = open(cache.path(), &remote);
    let same = ws
        .update_branch("main", None, "noop", &Trailers::new(), &mut |_| {
            Ok(write("a.yaml", "a: 1\n"))
        })
        .unwrap();
    assert_eq!(
        same,
        Outcome::Unchanged {
            head: remote.initial.clone()
        }
    );
    let nothing = ws
        .update_branch("main", None, "noop", &Trailers::new(), &mut |_| Ok(vec![]))
        .unwrap();
    assert_eq!(
        nothing,
        Outcome::Unchanged {
            head: remote.initial.clone()
        }
    );
    let deleting_a_missing_file = ws
        .update_branch("main", None, "noop", &Trailers::new(), &mut |_| {
            Ok(vec![FileChange::delete("no/such.yaml")])
        })
        .unwrap();
    assert!(matches!(deleting_a_missing_file, Outcome::Unchanged { .. }));
    assert_eq!(remote.head("main"), Some(remote.initial.clone()));
}

#[test]
fn two_writers_on_one_branch_both_land_without_a_forced_update() {
    let remote = Arc::new(Remote::new());
    let barrier = Arc::new(Barrier::new(2));
    let writers: Vec<_> = [("a.yaml", "a: 2\n"), ("b.yaml", "b: 2\n")]
        .into_iter()
        .map(|(path, text)| {
            let remote = Arc::clone(&remote);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let cache = TempDir::new().unwrap();
                let ws = open(cache.path(), &remote);
                let mut calls = 0;
                let outcome = ws
                    .update_branch(
                        "main",
                        None,
                        &format!("set {path}"),
                        &Trailers::new(),
                        &mut |_| {
                            calls += 1;
                            if calls == 1 {
                                // Both have read the same head before either pushes.
                                barrier.wait();
                            }
                            Ok(write(path, text))
                        },
                    )
                    .unwrap();
                (outcome, calls)
            })
        })
        .collect();
    let results: Vec<(Outcome, u32)> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(
        results
            .iter()
            .all(|(o, _)| matches!(o, Outcome::Committed { .. }))
    );
    assert!(
        results.iter().any(|(_, calls)| *calls > 1),
        "one writer must have lost the race and redone its edit: {results:?}"
    );
    assert_eq!(remote.file("main", "a.yaml").as_deref(), Some("a: 2\n"));
    assert_eq!(remote.file("main", "b.yaml").as_deref(), Some("b: 2\n"));
    remote.assert_never_forced("refs/heads/main");
}

#[test]
fn two_writers_on_one_file_keep_each_others_keys() {
    let remote = Arc::new(Remote::new());
    let barrier = Arc::new(Barrier::new(2));
    let writers: Vec<_> = [("payments", "1.5.0"), ("checkout", "2.1.0")]
        .into_iter()
        .map(|(key, version)| {
            let remote = Arc::clone(&remote);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let cache = TempDir::new().unwrap();
                let ws = open(cache.path(), &remote);
                let mut calls = 0;
                ws.update_branch(
                    "main",
                    None,
                    &format!("bump {key}"),
                    &Trailers::new().with("Stagecoach-Component", format!("{key}@{version}")),
                    &mut |view| {
                        calls += 1;
                        let current = view.read_file("clusters/eu-1/values.yaml")?.unwrap();
                        if calls == 1 {
                            barrier.wait();
                        }
                        Ok(write(
                            "clusters/eu-1/values.yaml",
                            &set_line(&current, key, version),
                        ))
                    },
                )
                .unwrap()
            })
        })
        .collect();
    for writer in writers {
        assert!(matches!(writer.join().unwrap(), Outcome::Committed { .. }));
    }
    let values = remote.file("main", "clusters/eu-1/values.yaml").unwrap();
    assert_eq!(
        values,
        "# versions per component\npayments: 1.5.0\ncheckout: 2.1.0\n"
    );
    remote.assert_never_forced("refs/heads/main");
}

#[test]
fn revert_undoes_only_that_commit_and_only_once() {
    let remote = Remote::new();
    let (cache_a, cache_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let ws = open(cache_a.path(), &remote);
    let Outcome::Committed { sha: failed } = bump(&ws, "a.yaml", "a: 2\n") else {
        panic!("no commit");
    };
    bump(&ws, "b.yaml", "b: 2\n");

    let rollback = Trailers::new().with("Stagecoach-Product", "shop");
    let first = ws
        .revert(
            "main",
            &failed,
            "rollback a: health check failed",
            &rollback,
        )
        .unwrap();
    let Outcome::Committed { sha: revert_sha } = first else {
        panic!("expected a revert commit, got {first:?}");
    };
    assert_eq!(remote.file("main", "a.yaml").as_deref(), Some("a: 1\n"));
    assert_eq!(remote.file("main", "b.yaml").as_deref(), Some("b: 2\n"));

    // A second run (say, from another replica with its own cache) does nothing.
    let other = open(cache_b.path(), &remote);
    let again = other
        .revert(
            "main",
            &failed,
            "rollback a: health check failed",
            &rollback,
        )
        .unwrap();
    assert_eq!(
        again,
        Outcome::Unchanged {
            head: revert_sha.clone()
        }
    );

    let log = other.log("main", 10).unwrap();
    let reverts: Vec<_> = log
        .iter()
        .filter(|c| c.trailers.get("Stagecoach-Reverts") == Some(failed.as_str()))
        .collect();
    assert_eq!(reverts.len(), 1);
    assert_eq!(reverts[0].sha, revert_sha);
    assert_eq!(
        reverts[0].trailers.get("Stagecoach-Action"),
        Some("rollback")
    );
    assert_eq!(reverts[0].trailers.get("Stagecoach-Product"), Some("shop"));
    remote.assert_never_forced("refs/heads/main");
}

#[test]
fn revert_refuses_to_guess_when_later_commits_touched_the_same_lines() {
    let remote = Remote::new();
    let cache = TempDir::new().unwrap();
    let ws = open(cache.path(), &remote);
    let Outcome::Committed { sha: failed } = bump(&ws, "a.yaml", "a: 2\n") else {
        panic!("no commit");
    };
    let Outcome::Committed { sha: later } = bump(&ws, "a.yaml", "a: 3\n") else {
        panic!("no commit");
    };
    let err = ws
        .revert("main", &failed, "rollback", &Trailers::new())
        .unwrap_err();
    assert_eq!(err.kind(), Kind::World);
    assert!(err.message().contains("a.yaml"), "{}", err.message());
    assert_eq!(remote.head("main"), Some(later));
}

#[test]
fn tags_are_created_once_and_never_moved() {
    let remote = Remote::new();
    let (cache_a, cache_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let ws = open(cache_a.path(), &remote);
    assert!(
        ws.create_tag("v1.0.0", "main", "shop 1.0.0\n\n- payments 1.0.0")
            .unwrap()
    );
    assert!(!ws.create_tag("v1.0.0", &remote.initial, "again").unwrap());

    let other = open(cache_b.path(), &remote);
    let tags = other.tags().unwrap();
    assert_eq!(tags.len(), 1);
    assert_eq!(tags[0].name, "v1.0.0");
    assert_eq!(tags[0].sha, remote.initial);
    assert_eq!(
        tags[0].message.as_deref(),
        Some("shop 1.0.0\n\n- payments 1.0.0")
    );
    assert!(!other.create_tag("v1.0.0", "main", "again").unwrap());

    let Outcome::Committed { sha: newer } = bump(&ws, "a.yaml", "a: 2\n") else {
        panic!("no commit");
    };
    let err = other.create_tag("v1.0.0", &newer, "moved").unwrap_err();
    assert_eq!(err.kind(), Kind::World);
    assert!(err.message().contains("v1.0.0"), "{}", err.message());
    let on_remote = remote
        .repo()
        .find_reference("refs/tags/v1.0.0")
        .unwrap()
        .peel_to_commit()
        .unwrap()
        .id();
    assert_eq!(on_remote.to_string(), remote.initial);
}

#[test]
fn two_writers_creating_one_tag_at_once_never_both_win() {
    // A new ref is created only if absent, checked under the ref's lock: a
    // check before the lock let two creators both "win" now and then, the
    // second silently replacing the first (about one round in a hundred here).
    let remote = Arc::new(Remote::new());
    let seed = remote.repo();
    let mut commits = vec![];
    let mut parent = Oid::from_str(&remote.initial).unwrap();
    for n in 0..2 {
        parent = commit_files(&seed, Some(parent), &[("t.txt", &n.to_string())], "t");
        commits.push(parent.to_string());
    }
    seed.reference("refs/heads/main", parent, true, "more")
        .unwrap();
    let rounds = 100;
    let barrier = Arc::new(Barrier::new(2));
    let writers: Vec<_> = [0usize, 1]
        .into_iter()
        .map(|side| {
            let remote = Arc::clone(&remote);
            let barrier = Arc::clone(&barrier);
            let target = commits[side].clone();
            thread::spawn(move || {
                let cache = TempDir::new().unwrap();
                let ws = open(cache.path(), &remote);
                (0..rounds)
                    .map(|round| {
                        barrier.wait();
                        matches!(
                            ws.create_tag(&format!("v0.{round}.0"), &target, "race"),
                            Ok(true)
                        )
                    })
                    .collect::<Vec<bool>>()
            })
        })
        .collect();
    let won: Vec<Vec<bool>> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let repo = remote.repo();
    for (round, (a, b)) in won[0].iter().zip(&won[1]).enumerate() {
        let name = format!("refs/tags/v0.{round}.0");
        assert_eq!(
            u8::from(*a) + u8::from(*b),
            1,
            "{name}: exactly one creator wins"
        );
        assert_eq!(repo.reflog(&name).unwrap().len(), 1, "{name} written once");
    }
}

#[test]
fn notes_are_shared_and_written_once() {
    let remote = Remote::new();
    let (cache_a, cache_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let ws = open(cache_a.path(), &remote);
    ws.create_tag("v1.0.0", "main", "shop 1.0.0").unwrap();
    let notes = "refs/notes/stability";
    assert_eq!(ws.read_note(notes, "v1.0.0").unwrap(), None);
    assert!(ws.write_note(notes, "v1.0.0", "score: 91\n").unwrap());
    assert!(!ws.write_note(notes, "v1.0.0", "score: 91\n").unwrap());

    let other = open(cache_b.path(), &remote);
    assert_eq!(
        other.read_note(notes, "v1.0.0").unwrap().as_deref(),
        Some("score: 91\n")
    );
    assert_eq!(
        other.read_note(notes, &remote.initial).unwrap().as_deref(),
        Some("score: 91\n")
    );
    assert!(other.write_note(notes, "v1.0.0", "score: 75\n").unwrap());
    ws.fetch().unwrap();
    assert_eq!(
        ws.read_note(notes, "v1.0.0").unwrap().as_deref(),
        Some("score: 75\n")
    );
    let bad = ws.write_note("refs/heads/main", "v1.0.0", "x").unwrap_err();
    assert_eq!(bad.kind(), Kind::Input);
}

#[test]
fn concurrent_note_writers_on_different_commits_both_land() {
    let remote = Arc::new(Remote::new());
    let seed = remote.repo();
    let mut targets = vec![];
    let mut parent = Oid::from_str(&remote.initial).unwrap();
    for n in 0..8 {
        parent = commit_files(&seed, Some(parent), &[("n.txt", &n.to_string())], "n");
        targets.push(parent.to_string());
    }
    seed.reference("refs/heads/main", parent, true, "more")
        .unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let writers: Vec<_> = [0usize, 1]
        .into_iter()
        .map(|side| {
            let remote = Arc::clone(&remote);
            let barrier = Arc::clone(&barrier);
            let targets = targets.clone();
            thread::spawn(move || {
                let cache = TempDir::new().unwrap();
                let ws = open(cache.path(), &remote);
                for round in 0..4 {
                    barrier.wait();
                    let target = &targets[round * 2 + side];
                    assert!(
                        ws.write_note(
                            "refs/notes/stability",
                            target,
                            &format!("score of {target}")
                        )
                        .unwrap()
                    );
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let cache = TempDir::new().unwrap();
    let reader = open(cache.path(), &remote);
    for target in &targets {
        assert_eq!(
            reader.read_note("refs/notes/stability", target).unwrap(),
            Some(format!("score of {target}")),
            "note on {target} lost"
        );
    }
    remote.assert_never_forced("refs/notes/stability");
}

#[test]
fn branches_are_created_from_a_revision_and_deleted() {
    let remote = Remote::new();
    let cache = TempDir::new().unwrap();
    let ws = open(cache.path(), &remote);
    ws.create_tag("v1.0.0", "main", "shop 1.0.0").unwrap();
    bump(&ws, "a.yaml", "a: 2\n");

    let missing = ws
        .update_branch("hotfix/v1.0.1", None, "x", &Trailers::new(), &mut |_| {
            Ok(write("a.yaml", "a: 9\n"))
        })
        .unwrap_err();
    assert_eq!(missing.kind(), Kind::Input);

    let created = ws
        .update_branch(
            "hotfix/v1.0.1",
            Some("v1.0.0"),
            "hotfix payments",
            &Trailers::new().with("Stagecoach-Action", "hotfix"),
            &mut |view| {
                assert_eq!(view.read_file("a.yaml")?.as_deref(), Some("a: 1\n"));
                Ok(write("b.yaml", "b: hotfix\n"))
            },
        )
        .unwrap();
    let Outcome::Committed { sha } = created else {
        panic!("no commit");
    };
    assert_eq!(remote.head("hotfix/v1.0.1"), Some(sha.clone()));
    let seen = remote.repo();
    let commit = seen.find_commit(Oid::from_str(&sha).unwrap()).unwrap();
    assert_eq!(commit.parent_id(0).unwrap().to_string(), remote.initial);

    assert!(ws.delete_branch("hotfix/v1.0.1").unwrap());
    assert_eq!(remote.head("hotfix/v1.0.1"), None);
    assert_eq!(ws.branch_head("hotfix/v1.0.1").unwrap(), None);
    assert!(!ws.delete_branch("hotfix/v1.0.1").unwrap());
}

#[test]
fn reads_work_on_branches_tags_and_shas() {
    let remote = Remote::new();
    let cache = TempDir::new().unwrap();
    let ws = open(cache.path(), &remote);
    ws.create_tag("v1.0.0", "main", "shop 1.0.0").unwrap();
    bump(&ws, "a.yaml", "a: 2\n");
    assert_eq!(
        ws.read_file("main", "a.yaml").unwrap().as_deref(),
        Some("a: 2\n")
    );
    assert_eq!(
        ws.read_file("v1.0.0", "a.yaml").unwrap().as_deref(),
        Some("a: 1\n")
    );
    assert_eq!(
        ws.read_file(&remote.initial, "a.yaml").unwrap().as_deref(),
        Some("a: 1\n")
    );
    assert_eq!(ws.read_file("main", "nope.yaml").unwrap(), None);
    assert_eq!(
        ws.list_dir("main", "clusters").unwrap(),
        vec!["clusters/eu-1", "clusters/us-1"]
    );
    assert!(ws.list_dir("main", "nope").unwrap().is_empty());
    assert_eq!(
        ws.read_file("no-such-branch", "a.yaml").unwrap_err().kind(),
        Kind::Input
    );
    assert_eq!(
        ws.read_file("main", "../etc/passwd").unwrap_err().kind(),
        Kind::Input
    );
}

#[test]
fn deleting_a_directory_removes_an_environment() {
    let remote = Remote::new();
    let cache = TempDir::new().unwrap();
    let ws = open(cache.path(), &remote);
    ws.update_branch("main", None, "pr env", &Trailers::new(), &mut |_| {
        Ok(vec![
            FileChange::write("envs/pr-7/values.yaml", "payments: 1.5.0\n"),
            FileChange::write("envs/pr-7/smoke.yaml", "run: true\n"),
        ])
    })
    .unwrap();
    assert_eq!(
        ws.list_dir("main", "envs/pr-7").unwrap(),
        vec!["envs/pr-7/smoke.yaml", "envs/pr-7/values.yaml"]
    );
    ws.update_branch("main", None, "teardown", &Trailers::new(), &mut |_| {
        Ok(vec![FileChange::delete("envs/pr-7")])
    })
    .unwrap();
    assert!(ws.list_dir("main", "envs").unwrap().is_empty());
    assert_eq!(remote.file("main", "a.yaml").as_deref(), Some("a: 1\n"));
}

/// The cache's single sub-directory (each test has its own cache folder).
fn cache_repo(cache: &Path) -> PathBuf {
    let entries: Vec<_> = std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].clone()
}

fn reopen_reads_main(cache: &Path, remote: &Remote) {
    let ws = open(cache, remote);
    assert_eq!(
        ws.read_file("main", "a.yaml").unwrap().as_deref(),
        Some("a: 1\n")
    );
    assert_eq!(
        ws.branch_head("main").unwrap(),
        Some(remote.initial.clone())
    );
}

#[test]
fn a_cache_without_head_is_cloned_again() {
    let remote = Remote::new();
    let cache = TempDir::new().unwrap();
    drop(open(cache.path(), &remote));
    std::fs::remove_file(cache_repo(cache.path()).join("HEAD")).unwrap();
    reopen_reads_main(cache.path(), &remote);
}

#[test]
fn a_cache_without_its_packs_is_cloned_again() {
    let remote = Remote::new();
    let cache = TempDir::new().unwrap();
    drop(open(cache.path(), &remote));
    let objects = cache_repo(cache.path()).join("objects");
    let mut removed = 0;
    for dir in std::fs::read_dir(&objects).unwrap() {
        let dir = dir.unwrap().path();
        if dir.is_dir() && dir.file_name().unwrap() != "info" {
            std::fs::remove_dir_all(&dir).unwrap();
            removed += 1;
        }
    }
    assert!(removed > 0);
    reopen_reads_main(cache.path(), &remote);
}

#[test]
fn a_cache_with_truncated_packs_is_cloned_again() {
    let remote = Remote::new();
    let cache = TempDir::new().unwrap();
    drop(open(cache.path(), &remote));
    let pack_dir = cache_repo(cache.path()).join("objects/pack");
    let mut truncated = 0;
    for file in std::fs::read_dir(&pack_dir).unwrap() {
        let file = file.unwrap().path();
        if file.extension().is_some_and(|e| e == "pack") {
            let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
            f.set_len(20).unwrap();
            truncated += 1;
        }
    }
    assert!(truncated > 0, "the cache has no pack files to damage");
    reopen_reads_main(cache.path(), &remote);
}

#[test]
fn a_cache_of_another_remote_is_replaced() {
    let remote = Remote::new();
    let cache = TempDir::new().unwrap();
    drop(open(cache.path(), &remote));
    let path = cache_repo(cache.path());
    let repo = Repository::open_bare(&path).unwrap();
    repo.remote_set_url("origin", "https://example.invalid/other.git")
        .unwrap();
    std::fs::write(path.join("marker"), "old cache").unwrap();
    reopen_reads_main(cache.path(), &remote);
    assert!(!cache_repo(cache.path()).join("marker").exists());
}

#[test]
fn a_token_in_the_url_never_reaches_an_error() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let cache = TempDir::new().unwrap();
    let url =
        format!("https://x-access-token:ghp_FAKE_url_token@127.0.0.1:{port}/acme/landscape.git");
    let auth = GitAuth::with_token(Some("ghs_FAKE_app_token".into()));
    let err = Workspace::open(cache.path(), &url, &auth, &identity())
        .err()
        .expect("nothing listens there");
    assert_eq!(err.kind(), Kind::World);
    let message = err.message();
    assert!(message.contains("127.0.0.1"), "{message}");
    assert!(!message.contains("ghp_FAKE_url_token"), "{message}");
    assert!(!message.contains("ghs_FAKE_app_token"), "{message}");
    assert!(!format!("{err:?}").contains("FAKE"), "{err:?}");
}

#[test]
fn a_refused_token_is_reported_once_without_leaking_it() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in server.incoming().take(16) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    let cache = TempDir::new().unwrap();
    let url = format!("http://127.0.0.1:{port}/acme/landscape.git");
    let auth = GitAuth::with_token(Some("ghs_FAKE_app_token".into()));
    let err = Workspace::open(cache.path(), &url, &auth, &identity())
        .err()
        .expect("the server refuses every token");
    assert_eq!(err.kind(), Kind::World);
    assert!(
        !err.message().contains("ghs_FAKE_app_token"),
        "{}",
        err.message()
    );
    assert!(
        err.message().contains("refused the token"),
        "{}",
        err.message()
    );
}

/// `git daemon` serving one folder on loopback, so pushes go through a real
/// git server (its receive-pack decides what is a fast-forward), as with
/// GitHub. The test holds the listening socket (port 0, never given up, so no
/// other process can take the port in between) and hands each connection to
/// `git daemon --inetd`, as inetd would.
struct GitDaemon {
    port: u16,
    children: Arc<std::sync::Mutex<Vec<std::process::Child>>>,
}

/// Set to 1 to skip the tests that need `git daemon` (on purpose, and said).
const SKIP_GIT_DAEMON: &str = "STAGECOACH_SKIP_GIT_DAEMON";

impl GitDaemon {
    /// `None` only when skipping was asked for; a missing `git daemon` fails.
    fn start(base: &Path) -> Option<GitDaemon> {
        if !support::git_server_side("daemon", SKIP_GIT_DAEMON) {
            return None;
        }
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let children = Arc::new(std::sync::Mutex::new(Vec::new()));
        let base = base.to_path_buf();
        let spawned = Arc::clone(&children);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let Ok(out) = stream.try_clone() else {
                    continue;
                };
                let child = std::process::Command::new("git")
                    .args(["daemon", "--inetd", "--export-all", "--enable=receive-pack"])
                    .arg(format!("--base-path={}", base.display()))
                    .arg(&base)
                    .stdin(std::process::Stdio::from(std::os::fd::OwnedFd::from(
                        stream,
                    )))
                    .stdout(std::process::Stdio::from(std::os::fd::OwnedFd::from(out)))
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .expect("spawn git daemon --inetd");
                match spawned.lock() {
                    Ok(mut list) => list.push(child),
                    // Poisoned: nobody will reap it later, so reap it now.
                    Err(_) => {
                        let mut child = child;
                        let _ = child.kill();
                        let _ = child.wait();
                    }
                }
            }
        });
        Some(GitDaemon { port, children })
    }

    fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        if let Ok(mut list) = self.children.lock() {
            for child in list.iter_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

#[test]
fn through_a_git_server_racing_writers_tags_and_notes_all_land() {
    let remote = Arc::new(Remote::new());
    let base = remote.path.parent().unwrap().to_path_buf();
    let Some(daemon) = GitDaemon::start(&base) else {
        return;
    };
    let url = daemon.url("landscape.git");
    let barrier = Arc::new(Barrier::new(2));
    let writers: Vec<_> = [("a.yaml", "a: 2\n"), ("b.yaml", "b: 2\n")]
        .into_iter()
        .map(|(path, text)| {
            let (url, barrier) = (url.clone(), Arc::clone(&barrier));
            thread::spawn(move || {
                let cache = TempDir::new().unwrap();
                let ws =
                    Workspace::open(cache.path(), &url, &GitAuth::default(), &identity()).unwrap();
                let mut calls = 0;
                let outcome = ws
                    .update_branch("main", None, "set", &Trailers::new(), &mut |_| {
                        calls += 1;
                        if calls == 1 {
                            barrier.wait();
                        }
                        Ok(write(path, text))
                    })
                    .unwrap();
                (outcome, calls)
            })
        })
        .collect();
    let results: Vec<(Outcome, u32)> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(results.iter().any(|(_, calls)| *calls > 1), "{results:?}");
    assert_eq!(remote.file("main", "a.yaml").as_deref(), Some("a: 2\n"));
    assert_eq!(remote.file("main", "b.yaml").as_deref(), Some("b: 2\n"));
    remote.assert_never_forced("refs/heads/main");

    let cache = TempDir::new().unwrap();
    let ws = Workspace::open(cache.path(), &url, &GitAuth::default(), &identity()).unwrap();
    assert!(ws.create_tag("v1.0.0", "main", "shop 1.0.0").unwrap());
    assert!(!ws.create_tag("v1.0.0", "main", "shop 1.0.0").unwrap());
    assert!(
        ws.write_note("refs/notes/stability", "v1.0.0", "score: 88")
            .unwrap()
    );
    let env = ws
        .update_branch(
            "env/pr-7",
            Some("main"),
            "pr env",
            &Trailers::new(),
            &mut |_| Ok(write("envs/pr-7.yaml", "on: true\n")),
        )
        .unwrap();
    assert!(matches!(env, Outcome::Committed { .. }));
    assert!(remote.head("env/pr-7").is_some());
    assert!(ws.delete_branch("env/pr-7").unwrap());
    assert_eq!(remote.head("env/pr-7"), None);
    assert!(remote.repo().find_reference("refs/tags/v1.0.0").is_ok());
    let cache = TempDir::new().unwrap();
    let reader = Workspace::open(cache.path(), &url, &GitAuth::default(), &identity()).unwrap();
    assert_eq!(
        reader
            .read_note("refs/notes/stability", "v1.0.0")
            .unwrap()
            .as_deref(),
        Some("score: 88")
    );
}
