//! The on-disk cache of a remote: one bare repository per URL, checked when
//! opened and rebuilt from the remote when it is damaged.
//!
//! The cache is only ever a copy of the remote, so deleting it loses nothing;
//! a crash, a full disk or a hand-edit must never leave the bot stuck.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use git2::{ObjectType, Repository};
use sha2::{Digest, Sha256};

use super::remote::{Remote, TRACKING_PREFIX, is_network_failure, strip_userinfo};
use crate::{Error, Result};

/// One lock per cache directory, so two threads of this process never rebuild
/// the same cache at once.
static OPENING: LazyLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// `cache_dir/<readable url>-<hash>`: readable for people looking at the disk,
/// unique because of the hash, never containing credentials.
pub(super) fn cache_path(cache_dir: &Path, url: &str) -> PathBuf {
    let clean = strip_userinfo(url);
    let readable: String = clean
        .split("://")
        .last()
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let readable = readable.trim_matches(|c| c == '_' || c == '.');
    let readable: String = readable
        .chars()
        .rev()
        .take(60)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let hash = hex::encode(Sha256::digest(clean.as_bytes()));
    cache_dir.join(format!("{readable}-{}", &hash[..12]))
}

/// Open the cache at `path` and bring it up to date, or rebuild it from the
/// remote if it is missing or damaged.
pub(super) fn open_or_rebuild(path: &Path, remote: &Remote) -> Result<Repository> {
    let lock = {
        let mut locks = OPENING.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(locks.entry(path.to_path_buf()).or_default())
    };
    let _held = lock.lock().unwrap_or_else(PoisonError::into_inner);

    match open_checked(path, &remote.clean_url()) {
        Ok(repo) => match remote.fetch(&repo) {
            Ok(()) => Ok(repo),
            Err(e) if is_network_failure(&e) => Err(remote.error("fetching", &e)),
            Err(e) => {
                tracing::warn!(cache = %path.display(), error = %remote.redact(e.message()), "git cache cannot fetch; rebuilding it");
                drop(repo);
                rebuild(path, remote)
            }
        },
        Err(reason) => {
            if path.exists() {
                tracing::warn!(cache = %path.display(), %reason, "git cache is damaged; rebuilding it");
            }
            rebuild(path, remote)
        }
    }
}

/// The cache, if it is a bare repository of this remote whose every ref
/// points at an object that can be read (and every branch at a readable tree).
fn open_checked(path: &Path, clean_url: &str) -> std::result::Result<Repository, String> {
    if !path.exists() {
        return Err("missing".into());
    }
    let repo = Repository::open_bare(path).map_err(|e| e.message().to_string())?;
    let origin = repo
        .find_remote("origin")
        .map_err(|e| e.message().to_string())?
        .url()
        .ok()
        .map(str::to_string);
    if origin.as_deref() != Some(clean_url) {
        return Err(format!("it is a cache of {origin:?}, not of {clean_url}"));
    }
    check_refs(&repo).map_err(|e| e.message().to_string())?;
    Ok(repo)
}

fn check_refs(repo: &Repository) -> std::result::Result<(), git2::Error> {
    for reference in repo.references()? {
        let reference = reference?;
        let Some(oid) = reference.target() else {
            continue;
        };
        let object = repo.find_object(oid, None)?;
        let is_branch = reference
            .name()
            .is_ok_and(|n| n.starts_with(TRACKING_PREFIX));
        if is_branch && object.kind() == Some(ObjectType::Commit) {
            repo.find_commit(oid)?.tree()?;
        }
    }
    Ok(())
}

/// Fetch the remote into a fresh repository beside `path`, then swap it in:
/// a crash at any point leaves either the old cache or the new one, never half.
fn rebuild(path: &Path, remote: &Remote) -> Result<Repository> {
    let parent = path
        .parent()
        .ok_or_else(|| Error::input(format!("git cache path {}: has no parent", path.display())))?;
    fs::create_dir_all(parent).map_err(|e| {
        Error::world(format!(
            "git cache {}: cannot create: {e}",
            parent.display()
        ))
    })?;
    let fresh = tempfile::Builder::new()
        .prefix(".clone-")
        .tempdir_in(parent)
        .map_err(|e| {
            Error::world(format!(
                "git cache {}: cannot create: {e}",
                parent.display()
            ))
        })?;
    {
        let repo = Repository::init_bare(fresh.path())
            .map_err(|e| remote.error("creating a cache for", &e))?;
        repo.remote("origin", &remote.clean_url())
            .map_err(|e| remote.error("creating a cache for", &e))?;
        remote
            .fetch(&repo)
            .map_err(|e| remote.error("cloning", &e))?;
    }
    if path.exists() {
        let trash = tempfile::Builder::new()
            .prefix(".trash-")
            .tempdir_in(parent)
            .map_err(|e| Error::world(format!("git cache {}: {e}", parent.display())))?;
        fs::rename(path, trash.path().join("old")).map_err(|e| {
            Error::world(format!(
                "git cache {}: cannot move aside: {e}",
                path.display()
            ))
        })?;
        // `trash` deletes the old cache when it goes out of scope.
    }
    let fresh = fresh.keep();
    fs::rename(&fresh, path).map_err(|e| {
        let _ = fs::remove_dir_all(&fresh);
        Error::world(format!(
            "git cache {}: cannot move into place: {e}",
            path.display()
        ))
    })?;
    Repository::open_bare(path).map_err(|e| remote.error("opening the cache of", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_names_never_hold_credentials_and_differ_per_url() {
        let dir = Path::new("/cache");
        let a = cache_path(dir, "https://x-access-token:ghp_x@github.com/acme/a.git");
        let b = cache_path(dir, "https://github.com/acme/a.git");
        let c = cache_path(dir, "https://github.com/acme_a.git");
        assert_eq!(a, b);
        assert_ne!(b, c);
        assert!(!a.to_string_lossy().contains("ghp_x"));
        assert!(a.to_string_lossy().contains("github.com_acme_a.git-"));
    }
}
