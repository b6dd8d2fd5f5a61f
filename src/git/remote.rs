//! Talking to the remote: authenticated fetches, and pushes that are a
//! compare-and-swap of one ref, never a forced update.
//!
//! Local remotes (plain paths and `file://` URLs, used by the sandbox and the
//! tests) are pushed to directly: libgit2's own local transport overwrites the
//! ref without checking it still holds the value it advertised, which would
//! let two concurrent writers silently drop one another's commit.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use git2::{
    AutotagOption, Cred, CredentialType, ErrorClass, ErrorCode, FetchOptions, FetchPrune,
    ObjectType, Oid, PushOptions, RemoteCallbacks, Repository,
};
use regex::Regex;

use super::workspace::{GitAuth, TokenRenewal};
use crate::{Error, Result};

/// Where each remote namespace is mirrored locally. Branches go to
/// remote-tracking refs (nothing local is ever "checked out"); notes are
/// mirrored as they are; tags are never force-updated, so a tag moved on the
/// remote cannot silently move ours.
const FETCH_REFSPECS: [&str; 3] = [
    "+refs/heads/*:refs/remotes/origin/*",
    "+refs/notes/*:refs/notes/*",
    "refs/tags/*:refs/tags/*",
];

pub(super) const TRACKING_PREFIX: &str = "refs/remotes/origin/";

static URL_USERINFO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s]*@").expect("a valid constant regex")
});

/// One ref change to make on the remote: `new: None` deletes; `old: None`
/// means the ref must not exist yet.
#[derive(Debug, Clone)]
pub(super) struct RefUpdate {
    pub name: String,
    pub new: Option<Oid>,
    pub old: Option<Oid>,
}

/// What the remote said to a push.
#[derive(Debug)]
pub(super) enum PushResult {
    Pushed,
    /// Someone else moved the ref first; fetch, recompute, retry.
    Rejected(String),
}

/// A remote URL with the means to authenticate and to keep its secrets out of errors.
pub(super) struct Remote {
    url: String,
    /// The token in use: the configured one, or the one it was renewed to.
    token: Arc<Mutex<Option<String>>>,
    renew: Option<TokenRenewal>,
    local_path: Option<PathBuf>,
    secrets: Vec<String>,
}

impl Remote {
    pub fn new(url: &str, auth: &GitAuth) -> Remote {
        let mut secrets: Vec<String> = auth.token.iter().cloned().collect();
        if let Some(m) = URL_USERINFO.find(url) {
            let userinfo = &m.as_str()[..m.as_str().len() - 1];
            let userinfo = userinfo.rsplit("://").next().unwrap_or_default();
            secrets.push(userinfo.to_string());
            if let Some((_, password)) = userinfo.split_once(':') {
                secrets.push(password.to_string());
            }
        }
        secrets.retain(|s| !s.is_empty());
        // Longest first, so a password is not half-replaced by a shorter secret inside it.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Remote {
            url: url.to_string(),
            token: Arc::new(Mutex::new(auth.token.clone())),
            renew: auth.renew.clone(),
            local_path: local_path(url),
            secrets,
        }
    }

    /// The URL without any credentials: safe to log, to store and to show.
    pub fn clean_url(&self) -> String {
        strip_userinfo(&self.url)
    }

    /// `text` with every credential this remote knows about replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = URL_USERINFO.replace_all(text, "${1}***@").into_owned();
        for secret in &self.secrets {
            out = out.replace(secret.as_str(), "***");
        }
        if let Some(token) = self.current_token().filter(|t| !t.is_empty()) {
            out = out.replace(token.as_str(), "***");
        }
        out
    }

    fn current_token(&self) -> Option<String> {
        self.token.lock().ok().and_then(|t| t.clone())
    }

    /// A world error about this remote, with credentials redacted.
    pub fn error(&self, doing: &str, e: &git2::Error) -> Error {
        // libgit2 calls a missing local repository "unsupported URL protocol".
        if let Some(path) = self.local_path.as_ref().filter(|p| !p.exists()) {
            return Error::world(format!(
                "git: {doing} {}: no repository at {}",
                self.clean_url(),
                path.display()
            ));
        }
        Error::world(self.redact(&format!(
            "git: {doing} {}: {}",
            self.clean_url(),
            e.message()
        )))
    }

    /// Fetch every branch, note and tag, and forget branches and notes the
    /// remote no longer has (tags are kept).
    pub fn fetch(&self, repo: &Repository) -> std::result::Result<(), git2::Error> {
        let mut remote = repo.remote_anonymous(&self.url)?;
        let mut options = FetchOptions::new();
        options
            .remote_callbacks(self.callbacks())
            .download_tags(AutotagOption::None)
            .update_fetchhead(false)
            .prune(FetchPrune::Off);
        remote.fetch(
            &FETCH_REFSPECS,
            Some(&mut options),
            Some("stagecoach: fetch"),
        )?;
        let advertised: HashSet<String> = remote
            .list()?
            .iter()
            .map(|head| head.name().to_string())
            .collect();
        prune_gone_refs(repo, &advertised)
    }

    /// Apply one ref update on the remote, only if the ref still has the value
    /// we based our work on.
    pub fn push(&self, repo: &Repository, update: &RefUpdate) -> Result<PushResult> {
        match &self.local_path {
            Some(path) => self.push_local(repo, path, update),
            None => self.push_network(repo, update),
        }
    }

    /// A forced update that holds only while the remote ref is still
    /// `update.old` (a lease). Locally a compare-and-swap; over the network
    /// the ref is read from the same connection the push then uses, and
    /// receive-pack refuses the update if the ref moved after it advertised
    /// it (the old value is part of the update command).
    pub fn push_with_lease(&self, repo: &Repository, update: &RefUpdate) -> Result<PushResult> {
        let (Some(new), Some(old)) = (update.new, update.old) else {
            return self.push(repo, update);
        };
        if let Some(path) = &self.local_path {
            // `reference_matching` with force: replaced only if it still holds `old`.
            return self.push_local(repo, path, update);
        }
        let mut remote = repo
            .remote_anonymous(&self.url)
            .map_err(|e| self.error("pushing to", &e))?;
        let callbacks = self.callbacks();
        let mut connection = remote
            .connect_auth(git2::Direction::Push, Some(callbacks), None)
            .map_err(|e| self.error("connecting to", &e))?;
        let current = connection
            .list()
            .map_err(|e| self.error("listing refs of", &e))?
            .iter()
            .find(|h| h.name() == update.name)
            .map(|h| h.oid());
        if current != Some(old) {
            return Ok(PushResult::Rejected(format!(
                "{} is at {} now, not {old}",
                update.name,
                current
                    .map(|o| o.to_string())
                    .unwrap_or_else(|| "nothing".into())
            )));
        }
        // Push on the same connection: libgit2 sends the old value it was
        // advertised, and receive-pack refuses the update if the ref moved.
        let refspec = format!("+{new}:{}", update.name);
        let mut refused: Option<String> = None;
        let pushed = {
            let mut callbacks = self.callbacks();
            callbacks.push_update_reference(|_, status| {
                if let Some(status) = status {
                    refused = Some(status.to_string());
                }
                Ok(())
            });
            let mut options = PushOptions::new();
            options.remote_callbacks(callbacks);
            connection
                .remote()
                .push(&[refspec.as_str()], Some(&mut options))
        };
        match (pushed, refused) {
            (Err(e), _) => Err(self.error(&format!("pushing {} to", update.name), &e)),
            (Ok(()), None) => Ok(PushResult::Pushed),
            (Ok(()), Some(reason)) => Ok(PushResult::Rejected(reason)),
        }
    }

    fn push_network(&self, repo: &Repository, update: &RefUpdate) -> Result<PushResult> {
        let refspec = match update.new {
            Some(new) => format!("{new}:{}", update.name),
            None => format!(":{}", update.name),
        };
        let mut remote = repo
            .remote_anonymous(&self.url)
            .map_err(|e| self.error("pushing to", &e))?;
        let mut refused: Option<String> = None;
        let pushed = {
            let mut callbacks = self.callbacks();
            callbacks.push_update_reference(|_, status| {
                if let Some(status) = status {
                    refused = Some(status.to_string());
                }
                Ok(())
            });
            let mut options = PushOptions::new();
            options.remote_callbacks(callbacks);
            remote.push(&[refspec.as_str()], Some(&mut options))
        };
        match pushed {
            Err(e) if e.code() == ErrorCode::NotFastForward => {
                Ok(PushResult::Rejected(e.message().to_string()))
            }
            Err(e) => Err(self.error(&format!("pushing {} to", update.name), &e)),
            Ok(()) => match refused {
                None => Ok(PushResult::Pushed),
                Some(reason) if lost_a_race(&reason) => Ok(PushResult::Rejected(reason)),
                Some(reason) => Err(Error::world(self.redact(&format!(
                    "git: {} refused the push of {}: {reason}",
                    self.clean_url(),
                    update.name
                )))),
            },
        }
    }

    fn push_local(&self, repo: &Repository, path: &Path, update: &RefUpdate) -> Result<PushResult> {
        let target = Repository::open_bare(path).map_err(|e| self.error("opening", &e))?;
        if let Some(new) = update.new {
            copy_missing_objects(repo, &target, new)
                .map_err(|e| self.error(&format!("copying objects of {} to", update.name), &e))?;
        }
        let message = "push (stagecoach)";
        let applied = match (update.new, update.old) {
            (Some(new), Some(old)) => target
                .reference_matching(&update.name, new, true, old, message)
                .map(drop),
            // Created only if absent, checked under the ref's lock: the zero
            // id as the old value. (`reference(.., force: false)` checks for
            // the ref before taking the lock, so two creators racing could
            // both "win" and the second silently replace the first.)
            (Some(new), None) => target
                .reference_matching(&update.name, new, true, git2::Oid::ZERO_SHA1, message)
                .map(drop),
            (None, Some(old)) => match target.find_reference(&update.name) {
                Ok(mut current) if current.target() == Some(old) => current.delete(),
                Ok(_) => return Ok(PushResult::Rejected(format!("{} moved", update.name))),
                Err(e) => Err(e),
            },
            (None, None) => return Ok(PushResult::Pushed),
        };
        match applied {
            Ok(()) => Ok(PushResult::Pushed),
            Err(e)
                if matches!(
                    e.code(),
                    ErrorCode::Modified
                        | ErrorCode::Exists
                        | ErrorCode::Locked
                        | ErrorCode::NotFound
                ) =>
            {
                Ok(PushResult::Rejected(e.message().to_string()))
            }
            Err(e) => Err(self.error(&format!("updating {} in", update.name), &e)),
        }
    }

    fn callbacks<'cb>(&self) -> RemoteCallbacks<'cb> {
        let current = self.token.clone();
        let renew = self.renew.clone();
        let mut asked = 0u32;
        let mut callbacks = RemoteCallbacks::new();
        // libgit2 asks again after every refusal; answering twice with the same
        // token would loop forever. A refused token that can be renewed is
        // renewed once (a revoked or early-expired App token), then given up.
        callbacks.credentials(move |_url, _user, allowed| {
            asked += 1;
            let Some(token) = current.lock().ok().and_then(|t| t.clone()) else {
                return Err(git2::Error::from_str(
                    "the remote asked for credentials and no token is configured",
                ));
            };
            if !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                return Err(git2::Error::from_str(
                    "the remote wants credentials other than a token over HTTPS",
                ));
            }
            if asked == 1 {
                return Cred::userpass_plaintext("x-access-token", &token);
            }
            let fresh = match (&renew, asked) {
                (Some(renew), 2) => renew(&token).filter(|fresh| *fresh != token),
                _ => None,
            };
            match fresh {
                Some(fresh) => {
                    tracing::warn!("the git remote refused the token; trying a new one");
                    if let Ok(mut held) = current.lock() {
                        *held = Some(fresh.clone());
                    }
                    Cred::userpass_plaintext("x-access-token", &fresh)
                }
                None => Err(git2::Error::from_str(
                    "the remote refused the token (check its scopes and expiry)",
                )),
            }
        });
        callbacks
    }
}

/// Whether a failure came from the network rather than from the cache on disk.
pub(super) fn is_network_failure(e: &git2::Error) -> bool {
    matches!(
        e.class(),
        ErrorClass::Net
            | ErrorClass::Http
            | ErrorClass::Ssl
            | ErrorClass::Ssh
            | ErrorClass::Callback
    ) || e.code() == ErrorCode::Auth
        || e.code() == ErrorCode::Certificate
}

/// The local ref that mirrors a remote ref.
pub(super) fn local_mirror(remote_ref: &str) -> String {
    match remote_ref.strip_prefix("refs/heads/") {
        Some(branch) => format!("{TRACKING_PREFIX}{branch}"),
        None => remote_ref.to_string(),
    }
}

pub(super) fn strip_userinfo(url: &str) -> String {
    URL_USERINFO.replace_all(url, "${1}").into_owned()
}

/// Remote refs a server rejects because someone else updated them first.
fn lost_a_race(status: &str) -> bool {
    let status = status.to_ascii_lowercase();
    [
        "non-fast-forward",
        "fetch first",
        "stale info",
        "already exists",
        "cannot lock ref",
        "failed to lock",
        "failed to update ref",
    ]
    .iter()
    .any(|needle| status.contains(needle))
}

/// A plain path or `file://` URL, or None for network URLs (`https://`, `user@host:path`).
fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(path) = url.strip_prefix("file://") {
        return Some(PathBuf::from(path));
    }
    if url.contains("://") {
        return None;
    }
    match url.find(':') {
        // scp-like `git@github.com:acme/x.git`; a one-letter prefix is a Windows drive.
        Some(colon) if colon > 1 && !url[..colon].contains('/') => None,
        _ => Some(PathBuf::from(url)),
    }
}

fn prune_gone_refs(
    repo: &Repository,
    advertised: &HashSet<String>,
) -> std::result::Result<(), git2::Error> {
    let mut gone = Vec::new();
    for glob in [format!("{TRACKING_PREFIX}*"), "refs/notes/*".to_string()] {
        for reference in repo.references_glob(&glob)? {
            let reference = reference?;
            let Ok(name) = reference.name() else {
                continue;
            };
            let remote_name = match name.strip_prefix(TRACKING_PREFIX) {
                Some(branch) => format!("refs/heads/{branch}"),
                None => name.to_string(),
            };
            if !advertised.contains(&remote_name) {
                gone.push(name.to_string());
            }
        }
    }
    for name in gone {
        match repo.find_reference(&name) {
            Ok(mut reference) => reference.delete()?,
            Err(e) if e.code() == ErrorCode::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Copy `tip` and everything it needs that `to` lacks, dependencies first, so
/// a reader of `to` never finds a commit whose tree is missing. A tree that
/// already exists in `to` is complete there, so its contents are not visited.
fn copy_missing_objects(
    from: &Repository,
    to: &Repository,
    tip: Oid,
) -> std::result::Result<(), git2::Error> {
    let source = from.odb()?;
    let target = to.odb()?;
    let mut seen: HashSet<Oid> = HashSet::new();
    let mut order: Vec<Oid> = Vec::new();
    let mut queue: VecDeque<Oid> = VecDeque::from([tip]);
    while let Some(oid) = queue.pop_front() {
        if !seen.insert(oid) || target.exists(oid) {
            continue;
        }
        order.push(oid);
        let object = from.find_object(oid, None)?;
        match object.kind() {
            Some(ObjectType::Commit) => {
                let commit = from.find_commit(oid)?;
                queue.push_back(commit.tree_id());
                queue.extend(commit.parent_ids());
            }
            Some(ObjectType::Tree) => {
                let tree = from.find_tree(oid)?;
                for entry in tree.iter() {
                    if matches!(entry.kind(), Some(ObjectType::Tree | ObjectType::Blob)) {
                        queue.push_back(entry.id());
                    }
                }
            }
            Some(ObjectType::Tag) => {
                queue.push_back(from.find_tag(oid)?.target_id());
            }
            _ => {}
        }
    }
    // Found top-down; written bottom-up.
    for oid in order.into_iter().rev() {
        let object = source.read(oid)?;
        target.write(object.kind(), object.data())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_local_repository_is_named_as_missing() {
        let remote = Remote::new("/nonexistent/acme/landscape-ci.git", &GitAuth::default());
        let e = remote.error("fetch", &git2::Error::from_str("unsupported URL protocol"));
        assert!(
            e.message()
                .contains("no repository at /nonexistent/acme/landscape-ci.git"),
            "{e}"
        );
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn credentials_in_urls_are_redacted_everywhere() {
        let auth = GitAuth::with_token(Some("ghs_tokenvalue".into()));
        let remote = Remote::new(
            "https://x-access-token:ghp_secret@github.com/a/b.git",
            &auth,
        );
        let text = "failed https://x-access-token:ghp_secret@github.com/a/b.git with ghp_secret and ghs_tokenvalue";
        let red = remote.redact(text);
        assert!(!red.contains("ghp_secret"), "{red}");
        assert!(!red.contains("ghs_tokenvalue"), "{red}");
        assert!(red.contains("https://***@github.com/a/b.git"), "{red}");
        assert_eq!(remote.clean_url(), "https://github.com/a/b.git");
    }

    #[test]
    fn local_paths_and_network_urls_are_told_apart() {
        assert_eq!(local_path("/tmp/x.git"), Some(PathBuf::from("/tmp/x.git")));
        assert_eq!(
            local_path("file:///tmp/x.git"),
            Some(PathBuf::from("/tmp/x.git"))
        );
        assert_eq!(
            local_path("relative/x.git"),
            Some(PathBuf::from("relative/x.git"))
        );
        assert_eq!(local_path("https://github.com/a/b.git"), None);
        assert_eq!(local_path("git@github.com:a/b.git"), None);
    }

    #[test]
    fn only_races_are_retried() {
        assert!(lost_a_race("[rejected] (fetch first)"));
        assert!(lost_a_race("failed to update ref"));
        assert!(!lost_a_race("protected branch hook declined"));
    }
}
