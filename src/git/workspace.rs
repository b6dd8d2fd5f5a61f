//! A cached clone of one remote repository, and the only way Stagecoach
//! changes a repository: look, then act, then push without force.
//!
//! The cache is a bare repository; commits are built from in-memory trees, so
//! there is no work tree to get dirty. Remote branches live under
//! `refs/remotes/origin/*`; nothing is written to a local branch. Every write
//! fetches, recomputes its change on the remote's current head and pushes it
//! as a compare-and-swap; a writer that loses the race starts again.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use git2::build::TreeUpdateBuilder;
use git2::{
    Commit, ErrorCode, FileMode, ObjectType, Oid, Reference, Repository, Signature, Sort, Tree,
};
use rand::Rng;

use super::cache;
use super::remote::{PushResult, RefUpdate, Remote, TRACKING_PREFIX, local_mirror};
use super::trailers::Trailers;
use crate::{Error, Result};

/// How many times a write is recomputed after losing a push race before giving up.
const MAX_ATTEMPTS: u32 = 8;

/// How to authenticate: a token over HTTPS (`x-access-token:<token>` basic
/// auth, as GitHub wants for App installation tokens and PATs), or nothing for
/// local paths and `file://` URLs.
#[derive(Clone, Default)]
pub struct GitAuth {
    pub token: Option<String>,
    /// Asked once when the remote refuses the token: a new one (a GitHub
    /// App's installation token that was revoked or expired early), or `None`.
    pub renew: Option<TokenRenewal>,
}

/// Given the token the remote refused, a fresh one (blocking: git runs on
/// its own thread).
pub type TokenRenewal = std::sync::Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

impl GitAuth {
    /// Authenticate with `token`, never renewed.
    pub fn with_token(token: Option<String>) -> Self {
        Self { token, renew: None }
    }
}

impl fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = self.token.as_ref().map(|_| "***");
        f.debug_struct("GitAuth")
            .field("token", &token)
            .field("renewable", &self.renew.is_some())
            .finish()
    }
}

/// Who the bot's commits, tags and notes are by.
#[derive(Clone, Debug)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

/// One file to write (`Some(text)`) or delete (`None`; a directory path
/// deletes the whole directory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileChange {
    pub path: String,
    pub content: Option<String>,
}

impl FileChange {
    pub fn write(path: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            content: Some(content.into()),
        }
    }

    pub fn delete(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            content: None,
        }
    }
}

/// What a write did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new commit is on the remote branch.
    Committed { sha: String },
    /// Nothing needed to change; `head` is the commit that already has the wanted state.
    Unchanged { head: String },
}

/// What rebuilding a branch did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rebuilt {
    /// The branch now holds the rebuilt commit.
    Pushed { sha: String },
    /// The branch was not where the caller last saw it: nothing was pushed.
    Moved { head: String },
}

/// A tag with the commit it names and its annotation (None for a lightweight tag).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagInfo {
    pub name: String,
    pub sha: String,
    pub message: Option<String>,
}

/// A commit as the history and changelog readers need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedCommit {
    pub sha: String,
    pub summary: String,
    pub message: String,
    pub trailers: Trailers,
    pub time: DateTime<Utc>,
    pub parents: Vec<String>,
}

/// A read-only view of one commit's files, handed to an edit so it decides
/// from exactly the state its change will be committed on.
pub struct TreeView<'repo> {
    repo: &'repo Repository,
    tree: Tree<'repo>,
    head: String,
}

impl<'repo> TreeView<'repo> {
    /// The commit this view shows.
    pub fn head(&self) -> &str {
        &self.head
    }

    /// A file's text; None if there is no file at `path`.
    pub fn read_file(&self, path: &str) -> Result<Option<String>> {
        check_path(path)?;
        let entry = match self.tree.get_path(Path::new(path)) {
            Ok(entry) => entry,
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if entry.kind() != Some(ObjectType::Blob) {
            return Ok(None);
        }
        let blob = self.repo.find_blob(entry.id())?;
        String::from_utf8(blob.content().to_vec())
            .map(Some)
            .map_err(|_| {
                Error::input(format!(
                    "{path} at {}: is not UTF-8 text",
                    short(&self.head)
                ))
            })
    }

    /// The paths of the files and directories directly in `dir` ("" is the
    /// top), sorted; empty if there is no such directory.
    pub fn list_dir(&self, dir: &str) -> Result<Vec<String>> {
        let dir = dir.trim_end_matches('/');
        let subtree = if dir.is_empty() || dir == "." {
            self.tree.clone()
        } else {
            check_path(dir)?;
            match self.tree.get_path(Path::new(dir)) {
                Ok(entry) if entry.kind() == Some(ObjectType::Tree) => {
                    self.repo.find_tree(entry.id())?
                }
                Ok(_) => return Ok(Vec::new()),
                Err(e) if e.code() == ErrorCode::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e.into()),
            }
        };
        let prefix = if dir.is_empty() || dir == "." {
            String::new()
        } else {
            format!("{dir}/")
        };
        let mut paths: Vec<String> = subtree
            .iter()
            .filter_map(|entry| entry.name().ok().map(|name| format!("{prefix}{name}")))
            .collect();
        paths.sort();
        Ok(paths)
    }
}

/// A cached clone of one remote repository.
pub struct Workspace {
    pub(super) repo: Repository,
    pub(super) remote: Remote,
    pub(super) identity: Identity,
    path: PathBuf,
}

/// What one attempt of a write decided.
pub(super) enum Step<T> {
    /// Nothing to push; the write is over.
    Done(T),
    /// Push this ref update; if the remote accepts it, the write returns the value.
    Push(RefUpdate, T),
}

impl Workspace {
    /// Open the cache at `cache_dir/<sanitised url>` or clone into it, then
    /// fetch. A damaged cache (missing or truncated files, not a repository,
    /// another remote) is deleted and cloned again.
    ///
    /// One `Workspace` per cache directory at a time: rebuilding a damaged
    /// cache pulls it from under any other handle on it.
    pub fn open(
        cache_dir: &Path,
        url: &str,
        auth: &GitAuth,
        identity: &Identity,
    ) -> Result<Workspace> {
        let remote = Remote::new(url, auth);
        let path = cache::cache_path(cache_dir, url);
        let repo = cache::open_or_rebuild(&path, &remote)?;
        Ok(Workspace {
            repo,
            remote,
            identity: identity.clone(),
            path,
        })
    }

    /// Fetch all branches, tags (never moving a tag we already have) and notes.
    pub fn fetch(&self) -> Result<()> {
        self.remote
            .fetch(&self.repo)
            .map_err(|e| self.remote.error("fetching", &e))
    }

    /// The cache directory on disk.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The remote URL without credentials.
    pub fn url(&self) -> String {
        self.remote.clean_url()
    }

    /// For read-only uses (history, changelog).
    pub fn repo(&self) -> &Repository {
        &self.repo
    }

    /// The remote's commit of `branch` as of the last fetch.
    pub fn branch_head(&self, branch: &str) -> Result<Option<String>> {
        Ok(self.branch_oid(branch)?.map(|oid| oid.to_string()))
    }

    /// A file's text at a revision (branch, tag or sha); None if missing.
    pub fn read_file(&self, rev: &str, path: &str) -> Result<Option<String>> {
        self.view(rev)?.read_file(path)
    }

    /// The paths directly under a directory at a revision (see [`TreeView::list_dir`]).
    pub fn list_dir(&self, rev: &str, dir: &str) -> Result<Vec<String>> {
        self.view(rev)?.list_dir(dir)
    }

    /// Every tag that names a commit, by name; tags of trees or blobs are left out.
    pub fn tags(&self) -> Result<Vec<TagInfo>> {
        let mut tags = Vec::new();
        for reference in self.repo.references_glob("refs/tags/*")? {
            let reference = reference?;
            let Some(name) = reference
                .name()
                .ok()
                .and_then(|n| n.strip_prefix("refs/tags/"))
            else {
                continue;
            };
            let Ok(commit) = reference.peel_to_commit() else {
                continue;
            };
            let message = reference
                .target()
                .and_then(|oid| self.repo.find_tag(oid).ok())
                .map(|tag| {
                    String::from_utf8_lossy(tag.message_bytes().unwrap_or_default())
                        .trim_end()
                        .to_string()
                });
            tags.push(TagInfo {
                name: name.to_string(),
                sha: commit.id().to_string(),
                message,
            });
        }
        tags.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(tags)
    }

    /// Up to `limit` commits reachable from `rev`, newest first, with their trailers.
    pub fn log(&self, rev: &str, limit: usize) -> Result<Vec<LoggedCommit>> {
        let start = self.resolve_commit(rev)?;
        let mut walk = self.repo.revwalk()?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)?;
        walk.push(start.id())?;
        let mut commits = Vec::new();
        for oid in walk.take(limit) {
            let commit = self.repo.find_commit(oid?)?;
            commits.push(logged(&commit));
        }
        Ok(commits)
    }

    /// The newest `limit` commits from `rev` that `keep` accepts, looking at
    /// no more than `max_walk` commits: the bot's own record in a branch that
    /// people also write to, however busy they are.
    pub fn log_where(
        &self,
        rev: &str,
        limit: usize,
        max_walk: usize,
        keep: impl Fn(&LoggedCommit) -> bool,
    ) -> Result<Vec<LoggedCommit>> {
        let start = self.resolve_commit(rev)?;
        let mut walk = self.repo.revwalk()?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)?;
        walk.push(start.id())?;
        let mut commits = Vec::new();
        for oid in walk.take(max_walk) {
            let commit = logged(&self.repo.find_commit(oid?)?);
            if keep(&commit) {
                commits.push(commit);
                if commits.len() == limit {
                    break;
                }
            }
        }
        Ok(commits)
    }

    /// THE write primitive. Fetch; start from the remote head of `branch` (or
    /// from `create_from` when the branch does not exist yet); ask `edit` for
    /// the changes; commit them with `message` and `trailers`; push without
    /// force. A push that loses a race is retried from a fresh fetch, calling
    /// `edit` again on the new head. No change, or an identical tree, makes no
    /// commit (and creates no branch) and returns `Unchanged`.
    pub fn update_branch(
        &self,
        branch: &str,
        create_from: Option<&str>,
        message: &str,
        trailers: &Trailers,
        edit: &mut dyn FnMut(&TreeView) -> Result<Vec<FileChange>>,
    ) -> Result<Outcome> {
        let remote_ref = branch_ref(branch)?;
        let full_message = trailers.append_to(message);
        self.with_retries(&format!("updating branch '{branch}'"), |ws| {
            let head = ws.branch_oid(branch)?;
            let base = match (head, create_from) {
                (Some(head), _) => ws.repo.find_commit(head)?,
                (None, Some(rev)) => ws.resolve_commit(rev)?,
                (None, None) => {
                    return Err(Error::input(format!(
                        "branch '{branch}' does not exist in {} and no revision to create it from was given",
                        ws.url()
                    )));
                }
            };
            let view = TreeView {
                repo: &ws.repo,
                tree: base.tree()?,
                head: base.id().to_string(),
            };
            let changes = edit(&view)?;
            let tree = apply_changes(&ws.repo, &view.tree, &changes)?;
            if tree == base.tree_id() {
                return Ok(Step::Done(Outcome::Unchanged {
                    head: base.id().to_string(),
                }));
            }
            let tree = ws.repo.find_tree(tree)?;
            let commit = ws.commit(&full_message, &tree, &[&base])?;
            Ok(Step::Push(
                RefUpdate {
                    name: remote_ref.clone(),
                    new: Some(commit),
                    old: head,
                },
                Outcome::Committed {
                    sha: commit.to_string(),
                },
            ))
        })
    }

    /// Rebuild `branch` as one commit on top of `base`: `edit` applied to
    /// `base`'s tree, pushed with a lease — only if the branch still points
    /// at `expected` (as `git push --force-with-lease=branch:expected` does).
    /// This is the one forced write, and only for branches the bot owns; a
    /// branch that moved is left as it is (`Moved`).
    pub fn rebuild_branch(
        &self,
        branch: &str,
        base: &str,
        expected: &str,
        message: &str,
        trailers: &Trailers,
        edit: &mut dyn FnMut(&TreeView) -> Result<Vec<FileChange>>,
    ) -> Result<Rebuilt> {
        let remote_ref = branch_ref(branch)?;
        let expected = Oid::from_str(expected)?;
        let full_message = trailers.append_to(message);
        self.fetch()?;
        let head = self.branch_oid(branch)?;
        if head != Some(expected) {
            return Ok(Rebuilt::Moved {
                head: head.map(|h| h.to_string()).unwrap_or_default(),
            });
        }
        let base = self.resolve_commit(base)?;
        let view = TreeView {
            repo: &self.repo,
            tree: base.tree()?,
            head: base.id().to_string(),
        };
        let changes = edit(&view)?;
        let tree = apply_changes(&self.repo, &view.tree, &changes)?;
        let tree = self.repo.find_tree(tree)?;
        let commit = self.commit(&full_message, &tree, &[&base])?;
        let update = RefUpdate {
            name: remote_ref,
            new: Some(commit),
            old: Some(expected),
        };
        match self.remote.push_with_lease(&self.repo, &update)? {
            PushResult::Pushed => {
                self.mirror_pushed(&update);
                Ok(Rebuilt::Pushed {
                    sha: commit.to_string(),
                })
            }
            PushResult::Rejected(reason) => {
                tracing::debug!(%branch, reason = %self.remote.redact(&reason), "rebuild lost its lease");
                self.fetch()?;
                Ok(Rebuilt::Moved {
                    head: self
                        .branch_oid(branch)?
                        .map(|h| h.to_string())
                        .unwrap_or_default(),
                })
            }
        }
    }

    /// Point `branch` at a new root commit holding only `file` with
    /// `content` — if the branch is still at `expected` (`None`: it does not
    /// exist yet), as a compare-and-swap: `Ok(false)` when it moved. For a
    /// record that is replaced, not kept (the bot's lease): no history grows.
    pub fn replace_with_file(
        &self,
        branch: &str,
        expected: Option<&str>,
        message: &str,
        file: &str,
        content: &str,
    ) -> Result<bool> {
        check_path(file)?;
        let remote_ref = branch_ref(branch)?;
        let expected = expected.map(Oid::from_str).transpose()?;
        let blob = self.repo.blob(content.as_bytes())?;
        let mut tree = self.repo.treebuilder(None)?;
        tree.insert(file, blob, 0o100644)?;
        let tree = self.repo.find_tree(tree.write()?)?;
        let commit = self.commit(message, &tree, &[])?;
        let update = RefUpdate {
            name: remote_ref,
            new: Some(commit),
            old: expected,
        };
        // A new root is never a fast-forward: without `expected` the push
        // is refused if the branch exists; with it, only if it moved.
        let pushed = match expected {
            Some(_) => self.remote.push_with_lease(&self.repo, &update)?,
            None => self.remote.push(&self.repo, &update)?,
        };
        match pushed {
            PushResult::Pushed => {
                self.mirror_pushed(&update);
                Ok(true)
            }
            PushResult::Rejected(reason) => {
                tracing::debug!(%branch, reason = %self.remote.redact(&reason), "the branch moved first");
                Ok(false)
            }
        }
    }

    /// Undo one commit of `branch` with a new commit on top of its current
    /// head (a 3-way revert, like `git revert`), carrying `trailers` plus
    /// `Stagecoach-Action: rollback` (unless another action is given) and
    /// `Stagecoach-Reverts: <sha>`. Does nothing if a commit after it on the
    /// branch already reverts it (by trailer or git's "This reverts commit"
    /// line) or if its change is already gone. A later commit that changed the
    /// same lines makes the revert fail rather than guess.
    pub fn revert(
        &self,
        branch: &str,
        commit: &str,
        message: &str,
        trailers: &Trailers,
    ) -> Result<Outcome> {
        let remote_ref = branch_ref(branch)?;
        self.with_retries(&format!("reverting {commit} on '{branch}'"), |ws| {
            let head_oid = ws.branch_oid(branch)?.ok_or_else(|| {
                Error::input(format!("branch '{branch}' does not exist in {}", ws.url()))
            })?;
            let head = ws.repo.find_commit(head_oid)?;
            let reverted = ws.resolve_commit(commit)?;
            let sha = reverted.id().to_string();
            if head_oid != reverted.id() && !ws.repo.graph_descendant_of(head_oid, reverted.id())? {
                return Err(Error::input(format!(
                    "commit {} is not on branch '{branch}' of {}",
                    short(&sha),
                    ws.url()
                )));
            }
            if ws.already_reverted(head_oid, reverted.id())? {
                return Ok(Step::Done(Outcome::Unchanged {
                    head: head_oid.to_string(),
                }));
            }
            let mainline = if reverted.parent_count() > 1 { 1 } else { 0 };
            let mut index = ws.repo.revert_commit(&reverted, &head, mainline, None)?;
            if index.has_conflicts() {
                let mut paths: Vec<String> = index
                    .conflicts()?
                    .filter_map(|c| c.ok())
                    .filter_map(|c| c.our.or(c.their).or(c.ancestor))
                    .map(|entry| String::from_utf8_lossy(&entry.path).into_owned())
                    .collect();
                paths.dedup();
                return Err(Error::world(format!(
                    "cannot revert {} on '{branch}' of {}: later commits changed the same lines of {}",
                    short(&sha),
                    ws.url(),
                    paths.join(", ")
                )));
            }
            let tree = index.write_tree_to(&ws.repo)?;
            if tree == head.tree_id() {
                return Ok(Step::Done(Outcome::Unchanged {
                    head: head_oid.to_string(),
                }));
            }
            let mut trailers = trailers.clone();
            if trailers.get("Stagecoach-Action").is_none() {
                trailers = trailers.with("Stagecoach-Action", "rollback");
            }
            let trailers = trailers.set("Stagecoach-Reverts", sha.clone());
            let reverts_line = format!("This reverts commit {sha}.");
            let body = if message.contains(&reverts_line) {
                message.to_string()
            } else {
                format!("{}\n\n{reverts_line}", message.trim_end())
            };
            let tree = ws.repo.find_tree(tree)?;
            let new = ws.commit(&trailers.append_to(&body), &tree, &[&head])?;
            Ok(Step::Push(
                RefUpdate {
                    name: remote_ref.clone(),
                    new: Some(new),
                    old: Some(head_oid),
                },
                Outcome::Committed {
                    sha: new.to_string(),
                },
            ))
        })
    }

    /// Create and push the annotated tag `name` on `target`. An existing tag
    /// on the same commit is fine (`Ok(false)`); on another commit it is an
    /// error: tags are never moved and never forced.
    pub fn create_tag(&self, name: &str, target: &str, message: &str) -> Result<bool> {
        let remote_ref = format!("refs/tags/{name}");
        if !Reference::is_valid_name(&remote_ref) {
            return Err(Error::input(format!(
                "tag '{name}': is not a valid git tag name"
            )));
        }
        let message = format!("{}\n", message.trim_end());
        self.with_retries(&format!("creating tag '{name}'"), |ws| {
            let commit = ws.resolve_commit(target)?;
            if let Ok(existing) = ws.repo.find_reference(&remote_ref) {
                let tagged = existing.peel_to_commit()?.id();
                if tagged == commit.id() {
                    return Ok(Step::Done(false));
                }
                return Err(Error::world(format!(
                    "tag '{name}' in {} already names commit {}, not {}; tags are never moved",
                    ws.url(),
                    short(&tagged.to_string()),
                    short(&commit.id().to_string())
                )));
            }
            let signature = ws.signature()?;
            let tag =
                ws.repo
                    .tag_annotation_create(name, commit.as_object(), &signature, &message)?;
            Ok(Step::Push(
                RefUpdate {
                    name: remote_ref.clone(),
                    new: Some(tag),
                    old: None,
                },
                true,
            ))
        })
    }

    /// Delete `branch` on the remote; `Ok(false)` if it is not there.
    pub fn delete_branch(&self, branch: &str) -> Result<bool> {
        let remote_ref = branch_ref(branch)?;
        self.with_retries(&format!("deleting branch '{branch}'"), |ws| {
            Ok(match ws.branch_oid(branch)? {
                None => Step::Done(false),
                Some(head) => Step::Push(
                    RefUpdate {
                        name: remote_ref.clone(),
                        new: None,
                        old: Some(head),
                    },
                    true,
                ),
            })
        })
    }

    /// Fetch, decide, push; on a lost race, wait a little (jittered, growing)
    /// and decide again from the new state.
    pub(super) fn with_retries<T>(
        &self,
        what: &str,
        mut step: impl FnMut(&Self) -> Result<Step<T>>,
    ) -> Result<T> {
        let mut last_refusal = String::new();
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(backoff(attempt));
            }
            self.fetch()?;
            let (update, value) = match step(self)? {
                Step::Done(value) => return Ok(value),
                Step::Push(update, value) => (update, value),
            };
            match self.remote.push(&self.repo, &update)? {
                PushResult::Pushed => {
                    self.mirror_pushed(&update);
                    return Ok(value);
                }
                PushResult::Rejected(reason) => {
                    tracing::debug!(%what, attempt, reason = %self.remote.redact(&reason), "push lost a race; retrying");
                    last_refusal = reason;
                }
            }
        }
        Err(Error::world(self.remote.redact(&format!(
            "git: {what} in {}: gave up after {MAX_ATTEMPTS} tries, others kept updating it first (last refusal: {last_refusal})",
            self.url()
        ))))
    }

    /// Record a push in the local mirror so reads see it before the next
    /// fetch. Best effort: the next fetch sets the mirror right anyway.
    fn mirror_pushed(&self, update: &RefUpdate) {
        let local = local_mirror(&update.name);
        let result = match update.new {
            Some(new) => self
                .repo
                .reference(&local, new, true, "pushed (stagecoach)")
                .map(drop),
            None => self
                .repo
                .find_reference(&local)
                .and_then(|mut r| r.delete()),
        };
        if let Err(e) = result {
            tracing::debug!(reference = %local, error = %e.message(), "local mirror not updated");
        }
    }

    pub(super) fn branch_oid(&self, branch: &str) -> Result<Option<Oid>> {
        let remote_ref = branch_ref(branch)?;
        match self.repo.refname_to_id(&local_mirror(&remote_ref)) {
            Ok(oid) => Ok(Some(oid)),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A branch of the remote, a tag, a sha or any git revision, as a commit.
    pub(super) fn resolve_commit(&self, rev: &str) -> Result<Commit<'_>> {
        let tracking = format!("{TRACKING_PREFIX}{rev}");
        if Reference::is_valid_name(&tracking) {
            if let Ok(reference) = self.repo.find_reference(&tracking) {
                return Ok(reference.peel_to_commit()?);
            }
        }
        let object = self.repo.revparse_single(rev).map_err(|e| match e.code() {
            ErrorCode::NotFound | ErrorCode::InvalidSpec | ErrorCode::Ambiguous => {
                Error::input(format!("revision '{rev}': not found in {}", self.url()))
            }
            _ => Error::from(e),
        })?;
        object.peel_to_commit().map_err(|_| {
            Error::input(format!(
                "revision '{rev}' in {}: is not a commit",
                self.url()
            ))
        })
    }

    fn view(&self, rev: &str) -> Result<TreeView<'_>> {
        let commit = self.resolve_commit(rev)?;
        Ok(TreeView {
            repo: &self.repo,
            tree: commit.tree()?,
            head: commit.id().to_string(),
        })
    }

    pub(super) fn signature(&self) -> Result<Signature<'static>> {
        Signature::now(&self.identity.name, &self.identity.email).map_err(|e| {
            Error::input(format!(
                "git identity '{} <{}>': {}",
                self.identity.name,
                self.identity.email,
                e.message()
            ))
        })
    }

    fn commit(&self, message: &str, tree: &Tree, parents: &[&Commit]) -> Result<Oid> {
        let signature = self.signature()?;
        Ok(self
            .repo
            .commit(None, &signature, &signature, message, tree, parents)?)
    }

    /// Whether a commit after `reverted` on the way to `head` already undoes it.
    fn already_reverted(&self, head: Oid, reverted: Oid) -> Result<bool> {
        let sha = reverted.to_string();
        let reverts_line = format!("This reverts commit {sha}");
        let mut walk = self.repo.revwalk()?;
        walk.push(head)?;
        walk.hide(reverted)?;
        for oid in walk {
            let commit = self.repo.find_commit(oid?)?;
            let message = String::from_utf8_lossy(commit.message_bytes());
            let by_trailer = Trailers::parse(&message)
                .get_all("Stagecoach-Reverts")
                .iter()
                .any(|v| v.len() >= 7 && sha.starts_with(&v.to_ascii_lowercase()));
            if by_trailer || message.contains(&reverts_line) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

fn logged(commit: &Commit) -> LoggedCommit {
    let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
    LoggedCommit {
        sha: commit.id().to_string(),
        summary: message
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
        trailers: Trailers::parse(&message),
        time: DateTime::from_timestamp(commit.time().seconds(), 0).unwrap_or_default(),
        parents: commit.parent_ids().map(|p| p.to_string()).collect(),
        message,
    }
}

/// `refs/heads/<branch>`, if that is a valid ref name.
fn branch_ref(branch: &str) -> Result<String> {
    let name = format!("refs/heads/{branch}");
    if branch.is_empty() || !Reference::is_valid_name(&name) {
        return Err(Error::input(format!(
            "branch '{branch}': is not a valid git branch name"
        )));
    }
    Ok(name)
}

/// Paths an edit may touch: relative, inside the repository, never into `.git`.
fn check_path(path: &str) -> Result<()> {
    let valid = !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.contains('\0')
        && path.split('/').all(|part| {
            !part.is_empty() && part != "." && part != ".." && !part.eq_ignore_ascii_case(".git")
        });
    if valid {
        Ok(())
    } else {
        Err(Error::input(format!(
            "file path '{path}': expected a relative path inside the repository (no '..', no leading '/')"
        )))
    }
}

/// The tree `base` becomes with `changes` applied (the last change to a path wins).
fn apply_changes(repo: &Repository, base: &Tree, changes: &[FileChange]) -> Result<Oid> {
    let mut last: BTreeMap<&str, Option<&str>> = BTreeMap::new();
    for change in changes {
        check_path(&change.path)?;
        last.insert(change.path.as_str(), change.content.as_deref());
    }
    if last.is_empty() {
        return Ok(base.id());
    }
    let mut builder = TreeUpdateBuilder::new();
    for (path, content) in last {
        let existing = base.get_path(Path::new(path)).ok();
        match content {
            Some(text) => {
                let blob = repo.blob(text.as_bytes())?;
                let mode = match existing.map(|e| e.filemode()) {
                    Some(mode) if mode == i32::from(FileMode::BlobExecutable) => {
                        FileMode::BlobExecutable
                    }
                    _ => FileMode::Blob,
                };
                builder.upsert(path, blob, mode);
            }
            None if existing.is_some() => {
                builder.remove(path);
            }
            None => {}
        }
    }
    builder.create_updated(repo, base).map_err(|e| {
        Error::input(format!(
            "cannot apply file changes: {} (a path runs through a file?)",
            e.message()
        ))
    })
}

/// Jittered exponential backoff: 50ms, 100ms, … capped at 2s, each between half and all of it.
fn backoff(attempt: u32) -> Duration {
    let ceiling_ms = (50u64 << attempt.min(6)).min(2_000);
    Duration::from_millis(rand::rng().random_range(ceiling_ms / 2..=ceiling_ms))
}

fn short(sha: &str) -> &str {
    sha.get(..10).unwrap_or(sha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_the_repository_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            ".git/config",
            "a//b",
            "a/./b",
            "x/.GIT/y",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_path("clusters/eu-1/payments/values.yaml").is_ok());
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let auth = GitAuth::with_token(Some("ghs_secret".into()));
        assert!(!format!("{auth:?}").contains("ghs_secret"));
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        assert!(backoff(1) <= Duration::from_millis(100));
        assert!(backoff(30) <= Duration::from_secs(2));
    }

    #[test]
    fn workspaces_can_move_to_a_blocking_thread() {
        fn is_send<T: Send>() {}
        is_send::<Workspace>();
    }
}
