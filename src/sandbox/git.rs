//! The sandbox's git side: real bare repositories under `DIR/repos/OWNER/NAME.git`,
//! read for refs and tags, and written for merges, commits and tags exactly as
//! GitHub would write them (real merge, squash and rebased commits).
//!
//! Every function here is blocking; async callers run them in `spawn_blocking`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use git2::{BranchType, IndexEntry, IndexTime, ObjectType, Oid, Repository, Signature};

use crate::error::{Error, Result};
use crate::forge::MergeMethod;

pub fn repo_path(dir: &Path, owner: &str, name: &str) -> PathBuf {
    dir.join("repos").join(owner).join(format!("{name}.git"))
}

/// Open the bare repo, creating it (with `main` as HEAD) if missing.
pub fn init_bare(path: &Path) -> Result<Repository> {
    if path.join("HEAD").exists() {
        return Ok(Repository::open_bare(path)?);
    }
    std::fs::create_dir_all(path)?;
    let repo = Repository::init_bare(path)?;
    repo.set_head("refs/heads/main")?;
    Ok(repo)
}

pub fn open(path: &Path) -> Result<Repository> {
    Repository::open_bare(path)
        .map_err(|e| Error::world(format!("{}: {}", path.display(), e.message())))
}

/// The commit a branch, tag or sha names, if any.
pub fn resolve_commit(repo: &Repository, rev: &str) -> Option<String> {
    if let Ok(b) = repo.find_branch(rev, BranchType::Local)
        && let Ok(c) = b.get().peel_to_commit()
    {
        return Some(c.id().to_string());
    }
    if let Ok(r) = repo.find_reference(&format!("refs/tags/{rev}"))
        && let Ok(c) = r.peel_to_commit()
    {
        return Some(c.id().to_string());
    }
    if rev.len() >= 7
        && rev.chars().all(|c| c.is_ascii_hexdigit())
        && let Ok(obj) = repo.revparse_single(rev)
        && let Ok(c) = obj.peel_to_commit()
    {
        return Some(c.id().to_string());
    }
    None
}

pub fn branch_sha(repo: &Repository, branch: &str) -> Option<String> {
    let b = repo.find_branch(branch, BranchType::Local).ok()?;
    b.get().peel_to_commit().ok().map(|c| c.id().to_string())
}

/// Every branch and tag with the object it points at (an annotated tag's own id).
pub fn list_refs(repo: &Repository) -> Result<BTreeMap<String, String>> {
    let mut refs = BTreeMap::new();
    for r in repo.references()? {
        let r = r?;
        let (Ok(name), Some(target)) = (r.name(), r.target()) else {
            continue;
        };
        if name.starts_with("refs/heads/") || name.starts_with("refs/tags/") {
            refs.insert(name.to_string(), target.to_string());
        }
    }
    Ok(refs)
}

/// Tags with the commit each one peels to, newest version first (as GitHub lists them).
pub fn list_tags(repo: &Repository) -> Result<Vec<(String, String)>> {
    let mut tags = Vec::new();
    for r in repo.references_glob("refs/tags/*")? {
        let r = r?;
        let Ok(name) = r.shorthand().map(str::to_string) else {
            continue;
        };
        if let Ok(c) = r.peel_to_commit() {
            tags.push((name, c.id().to_string()));
        }
    }
    tags.sort_by(|a, b| {
        version_key(&b.0)
            .cmp(&version_key(&a.0))
            .then(b.0.cmp(&a.0))
    });
    Ok(tags)
}

fn version_key(tag: &str) -> Option<semver::Version> {
    semver::Version::parse(tag.trim_start_matches('v')).ok()
}

/// The commit message and author of one commit, for API answers.
pub struct CommitInfo {
    pub sha: String,
    pub message: String,
    pub author_name: String,
    pub author_email: String,
    pub time: i64,
    pub tree: String,
    pub parents: Vec<String>,
}

pub fn commit_info(repo: &Repository, sha: &str) -> Option<CommitInfo> {
    let c = repo.find_commit(Oid::from_str(sha).ok()?).ok()?;
    Some(CommitInfo {
        sha: c.id().to_string(),
        message: c.message().unwrap_or_default().to_string(),
        author_name: c.author().name().unwrap_or_default().to_string(),
        author_email: c.author().email().unwrap_or_default().to_string(),
        time: c.time().seconds(),
        tree: c.tree_id().to_string(),
        parents: c.parent_ids().map(|p| p.to_string()).collect(),
    })
}

/// Commits reachable from `head` but not from `base`, oldest first.
pub fn commits_between(repo: &Repository, base: &str, head: &str) -> Result<Vec<CommitInfo>> {
    let mut walk = repo.revwalk()?;
    walk.push(Oid::from_str(head)?)?;
    walk.hide(Oid::from_str(base)?)?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
    let mut out = Vec::new();
    for oid in walk {
        if let Some(info) = commit_info(repo, &oid?.to_string()) {
            out.push(info);
        }
    }
    Ok(out)
}

/// Whether head merges into base without conflicts.
pub fn mergeable(repo: &Repository, base: &str, head: &str) -> Result<bool> {
    let base = repo.find_commit(Oid::from_str(base)?)?;
    let head = repo.find_commit(Oid::from_str(head)?)?;
    let index = repo.merge_commits(&base, &head, None)?;
    Ok(!index.has_conflicts())
}

/// What a merge asked of the repo.
pub struct MergeRequest<'a> {
    pub base_ref: &'a str,
    pub head_sha: &'a str,
    pub method: MergeMethod,
    pub commit_title: String,
    pub commit_message: String,
    /// Who pressed the button (author of merge and squash commits).
    pub merger: (&'a str, &'a str),
}

#[derive(Debug, PartialEq, Eq)]
pub enum MergeResult {
    Merged(String),
    Conflict,
    /// The base branch moved while we merged (a concurrent push).
    BaseMoved,
}

/// Merge, squash or rebase `head` onto the base branch and move the branch.
pub fn merge(repo: &Repository, req: &MergeRequest<'_>) -> Result<MergeResult> {
    let refname = format!("refs/heads/{}", req.base_ref);
    let base_oid = repo.refname_to_id(&refname)?;
    let base = repo.find_commit(base_oid)?;
    let head = repo.find_commit(Oid::from_str(req.head_sha)?)?;
    let merger = Signature::now(req.merger.0, req.merger.1)?;
    let github = Signature::now("GitHub", "noreply@github.com")?;
    let message = if req.commit_message.is_empty() {
        req.commit_title.clone()
    } else {
        format!("{}\n\n{}", req.commit_title, req.commit_message)
    };
    let new_oid = match req.method {
        MergeMethod::Merge | MergeMethod::Squash => {
            let mut index = repo.merge_commits(&base, &head, None)?;
            if index.has_conflicts() {
                return Ok(MergeResult::Conflict);
            }
            let tree = repo.find_tree(index.write_tree_to(repo)?)?;
            let parents: Vec<&git2::Commit<'_>> = if req.method == MergeMethod::Merge {
                vec![&base, &head]
            } else {
                vec![&base]
            };
            repo.commit(None, &merger, &github, &message, &tree, &parents)?
        }
        MergeMethod::Rebase => {
            let mut onto = base.clone();
            for info in commits_between(repo, &base.id().to_string(), req.head_sha)? {
                let commit = repo.find_commit(Oid::from_str(&info.sha)?)?;
                if commit.parent_count() > 1 {
                    continue;
                }
                let mut index = repo.cherrypick_commit(&commit, &onto, 0, None)?;
                if index.has_conflicts() {
                    return Ok(MergeResult::Conflict);
                }
                let tree = repo.find_tree(index.write_tree_to(repo)?)?;
                let oid = repo.commit(
                    None,
                    &commit.author(),
                    &github,
                    commit.message().unwrap_or_default(),
                    &tree,
                    &[&onto],
                )?;
                onto = repo.find_commit(oid)?;
            }
            onto.id()
        }
    };
    match repo.reference_matching(
        &refname,
        new_oid,
        true,
        base_oid,
        &format!("merge {}", req.head_sha),
    ) {
        Ok(_) => Ok(MergeResult::Merged(new_oid.to_string())),
        Err(e) if e.code() == git2::ErrorCode::Modified => Ok(MergeResult::BaseMoved),
        Err(e) => Err(e.into()),
    }
}

/// Commit files onto a branch like a developer's push: the branch is made from
/// `main` when missing. Returns the new commit's sha.
pub fn commit_files(
    repo: &Repository,
    branch: &str,
    files: &[(String, String)],
    message: &str,
    author: (&str, &str),
) -> Result<String> {
    let refname = format!("refs/heads/{branch}");
    let parent = match repo.refname_to_id(&refname) {
        Ok(oid) => Some(repo.find_commit(oid)?),
        Err(_) => match repo.refname_to_id("refs/heads/main") {
            Ok(oid) => Some(repo.find_commit(oid)?),
            Err(_) => None,
        },
    };
    let mut index = git2::Index::new()?;
    if let Some(p) = &parent {
        index.read_tree(&p.tree()?)?;
    }
    for (path, content) in files {
        let blob = repo.blob(content.as_bytes())?;
        index.add(&IndexEntry {
            ctime: IndexTime::new(0, 0),
            mtime: IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode: 0o100644,
            uid: 0,
            gid: 0,
            file_size: content.len() as u32,
            id: blob,
            flags: 0,
            flags_extended: 0,
            path: path.as_bytes().to_vec(),
        })?;
    }
    let tree = repo.find_tree(index.write_tree_to(repo)?)?;
    let sig = Signature::now(author.0, author.1)?;
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let oid = repo.commit(None, &sig, &sig, message, &tree, &parents)?;
    match parent {
        Some(p) if repo.refname_to_id(&refname).is_ok() => {
            repo.reference_matching(&refname, oid, true, p.id(), message)?;
        }
        _ => {
            repo.reference(&refname, oid, false, message)?;
        }
    }
    Ok(oid.to_string())
}

/// Create an annotated tag (what release pipelines push). Existing tag: left alone
/// when it already points at `sha`, refused otherwise.
pub fn tag(repo: &Repository, name: &str, sha: &str, tagger: (&str, &str)) -> Result<()> {
    let oid = Oid::from_str(sha)?;
    if let Ok(existing) = repo.find_reference(&format!("refs/tags/{name}")) {
        let at = existing.peel_to_commit()?.id();
        return if at == oid {
            Ok(())
        } else {
            Err(Error::input(format!("tag {name} already exists at {at}")))
        };
    }
    let target = repo.find_object(oid, Some(ObjectType::Commit))?;
    let sig = Signature::now(tagger.0, tagger.1)?;
    repo.tag(name, &target, &sig, name, false)?;
    Ok(())
}

/// A file's text at a revision, if present.
pub fn read_file(repo: &Repository, rev: &str, path: &str) -> Option<String> {
    let sha = resolve_commit(repo, rev)?;
    let commit = repo.find_commit(Oid::from_str(&sha).ok()?).ok()?;
    let entry = commit.tree().ok()?.get_path(Path::new(path)).ok()?;
    let blob = repo.find_blob(entry.id()).ok()?;
    String::from_utf8(blob.content().to_vec()).ok()
}

/// The first parent of a commit (the base side of a merge commit).
pub fn commit_parent(repo: &Repository, sha: &str) -> Option<String> {
    let c = repo.find_commit(Oid::from_str(sha).ok()?).ok()?;
    c.parent_id(0).ok().map(|p| p.to_string())
}
