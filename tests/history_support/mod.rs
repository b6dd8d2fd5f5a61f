//! Real git repositories for the history commands' tests, and a way to run
//! the built binary on them.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use git2::{Oid, Repository, Signature, Time};

/// A repository in a temporary directory with commits one minute apart.
pub struct Repo {
    pub dir: tempfile::TempDir,
    pub repo: Repository,
    time: i64,
}

impl Repo {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        Repo {
            dir,
            repo,
            time: 1_714_000_000,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Commit `message` on top of HEAD, changing one file so diffs are real.
    pub fn commit(&mut self, message: &str) -> Oid {
        self.time += 60;
        let sig = Signature::new("Dev", "dev@example.com", &Time::new(self.time, 0)).unwrap();
        let blob = self.repo.blob(message.as_bytes()).unwrap();
        let mut tree = self.repo.treebuilder(None).unwrap();
        tree.insert("CHANGES", blob, 0o100644).unwrap();
        let tree = self.repo.find_tree(tree.write().unwrap()).unwrap();
        let parent = self.repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        self.repo
            .commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
            .unwrap()
    }

    pub fn tag(&self, name: &str) {
        let head = self.repo.head().unwrap().peel_to_commit().unwrap();
        self.repo
            .tag_lightweight(name, head.as_object(), false)
            .unwrap();
    }
}

pub fn stagecoach(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stagecoach"))
        .args(args)
        .output()
        .unwrap()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
