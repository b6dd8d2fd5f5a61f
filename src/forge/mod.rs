//! The forge (GitHub) as the engine sees it: a small trait over plain types.
//!
//! The engine never speaks HTTP; it asks this trait. `github.rs` implements it
//! with octocrab against api.github.com, GitHub Enterprise or the sandbox.
//! Every type here carries only the fields the engine decides on, so the
//! decisions stay testable with plain data.

pub mod github;
pub mod signature;
pub mod webhook;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// `owner/name` of a repository on the forge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RepoId {
    pub owner: String,
    pub name: String,
}

impl RepoId {
    pub fn new(owner: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            owner: owner.into(),
            name: name.into(),
        }
    }

    /// Parse `owner/name`; anything else is bad input.
    pub fn parse(s: &str) -> Result<Self> {
        match s.split_once('/') {
            Some((o, n)) if !o.is_empty() && !n.is_empty() && !n.contains('/') => {
                Ok(Self::new(o, n))
            }
            _ => Err(crate::error::Error::input(format!(
                "repository `{s}`: expected `owner/name`"
            ))),
        }
    }
}

impl std::fmt::Display for RepoId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrState {
    Open,
    Closed,
}

/// A pull request, as much as the engine needs of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub state: PrState,
    pub merged: bool,
    /// The merge (or squash) commit on the base branch once merged.
    pub merge_commit_sha: Option<String>,
    pub head_ref: String,
    pub head_sha: String,
    pub base_ref: String,
    pub author: String,
    pub labels: Vec<String>,
    pub html_url: String,
    pub created_at: DateTime<Utc>,
    /// Moves with every comment, review, label and push (GitHub's rule),
    /// so an unchanged value lets a reader keep what it read before.
    pub updated_at: Option<DateTime<Utc>>,
    pub merged_at: Option<DateTime<Utc>>,
}

/// What to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPull {
    pub title: String,
    pub body: String,
    /// Branch with the change.
    pub head: String,
    /// Branch to merge into.
    pub base: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: u64,
    pub author: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReviewState {
    Approved,
    ChangesRequested,
    Commented,
    Dismissed,
    Pending,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub id: u64,
    pub author: String,
    pub state: ReviewState,
    pub commit_id: String,
    pub submitted_at: Option<DateTime<Utc>>,
}

/// A user's permission on a repository, strongest last (so `>=` works).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    None,
    Read,
    Triage,
    Write,
    Maintain,
    Admin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusState {
    Pending,
    Success,
    Failure,
    Error,
}

/// A commit status (`POST /repos/{o}/{r}/statuses/{sha}`), keyed by context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitStatus {
    pub context: String,
    pub state: StatusState,
    pub description: String,
    pub target_url: Option<String>,
    /// When the forge last set it, as read back (`None` on one being written).
    #[serde(default)]
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Who added or removed which label, and when (the timeline events).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelEvent {
    pub label: String,
    pub actor: String,
    pub added: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeMethod {
    Merge,
    Squash,
    Rebase,
}

/// What happened when we asked to merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    Merged {
        sha: String,
    },
    /// GitHub said 405 (not mergeable) or 409 (head moved): say why, try later.
    Refused {
        reason: String,
        /// A 409: the head moved under the merge, a race worth trying again
        /// at once; a 405 waits for the PR or main to change.
        head_moved: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub id: u64,
    pub tag_name: String,
    pub name: String,
    pub body: String,
    pub draft: bool,
    pub prerelease: bool,
    pub html_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRelease {
    pub tag_name: String,
    pub name: String,
    pub body: String,
    pub draft: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub name: String,
    /// The commit the tag points at (peeled).
    pub sha: String,
}

/// Hidden marker that makes a comment "sticky": one per PR per topic.
pub fn sticky_marker(topic: &str) -> String {
    format!("<!-- stagecoach:{topic} -->")
}

/// Everything the engine asks of a forge. Implementations retry transient
/// failures themselves; an `Err` here is one the caller should report.
#[async_trait]
pub trait Forge: Send + Sync {
    /// The login of the account the bot acts as.
    async fn whoami(&self) -> Result<String>;
    /// The token git uses over HTTPS when it is not the configured one (a
    /// GitHub App's installation token, minted and renewed before it expires);
    /// `None`: git uses the configured token.
    async fn git_token(&self) -> Result<Option<String>> {
        Ok(None)
    }
    /// Git's remote refused `token` (revoked, or expired early): a new one,
    /// if this forge mints them; `None` otherwise.
    async fn git_token_refused(&self, _token: &str) -> Result<Option<String>> {
        Ok(None)
    }
    async fn list_open_pulls(&self, repo: &RepoId) -> Result<Vec<PullRequest>>;
    /// Closed PRs too, newest first, at most `limit`.
    async fn list_recent_pulls(&self, repo: &RepoId, limit: usize) -> Result<Vec<PullRequest>>;
    async fn get_pull(&self, repo: &RepoId, number: u64) -> Result<PullRequest>;
    async fn create_pull(&self, repo: &RepoId, pull: &NewPull) -> Result<PullRequest>;
    async fn update_pull_body(&self, repo: &RepoId, number: u64, body: &str) -> Result<()>;
    async fn add_labels(&self, repo: &RepoId, number: u64, labels: &[String]) -> Result<()>;
    async fn remove_label(&self, repo: &RepoId, number: u64, label: &str) -> Result<()>;
    async fn list_comments(&self, repo: &RepoId, number: u64) -> Result<Vec<Comment>>;
    async fn create_comment(&self, repo: &RepoId, number: u64, body: &str) -> Result<Comment>;
    async fn update_comment(&self, repo: &RepoId, comment_id: u64, body: &str) -> Result<()>;
    async fn list_reviews(&self, repo: &RepoId, number: u64) -> Result<Vec<Review>>;
    /// Label events of an issue or PR, oldest first.
    async fn label_events(&self, repo: &RepoId, number: u64) -> Result<Vec<LabelEvent>>;
    async fn set_status(&self, repo: &RepoId, sha: &str, status: &CommitStatus) -> Result<()>;
    /// The latest status per context for a commit.
    async fn list_statuses(&self, repo: &RepoId, sha: &str) -> Result<Vec<CommitStatus>>;
    async fn merge_pull(
        &self,
        repo: &RepoId,
        number: u64,
        method: MergeMethod,
        expected_head_sha: &str,
    ) -> Result<MergeOutcome>;
    async fn permission(&self, repo: &RepoId, user: &str) -> Result<Permission>;
    async fn is_team_member(&self, org: &str, team_slug: &str, user: &str) -> Result<bool>;
    async fn list_releases(&self, repo: &RepoId) -> Result<Vec<Release>>;
    async fn create_release(&self, repo: &RepoId, release: &NewRelease) -> Result<Release>;
    /// Publish or edit an existing release (e.g. a draft that passed the KPI).
    async fn update_release(&self, repo: &RepoId, id: u64, body: &str, draft: bool) -> Result<()>;
    async fn list_tags(&self, repo: &RepoId) -> Result<Vec<Tag>>;

    /// Save what is worth keeping across a restart (the GitHub client's
    /// conditional-request cache). Called after each converge; a failure is
    /// only worth a warning.
    async fn checkpoint(&self) -> Result<()> {
        Ok(())
    }

    /// Create or edit in place the one comment of this topic on this PR.
    /// Does nothing when the body is already what it should be.
    async fn upsert_sticky_comment(
        &self,
        repo: &RepoId,
        number: u64,
        topic: &str,
        body: &str,
    ) -> Result<()> {
        let marker = sticky_marker(topic);
        let full = format!("{marker}\n{body}");
        let me = self.whoami().await?;
        let existing = self
            .list_comments(repo, number)
            .await?
            .into_iter()
            .find(|c| c.author == me && c.body.starts_with(&marker));
        match existing {
            Some(c) if c.body == full => Ok(()),
            Some(c) => self.update_comment(repo, c.id, &full).await,
            None => self.create_comment(repo, number, &full).await.map(|_| ()),
        }
    }
}
