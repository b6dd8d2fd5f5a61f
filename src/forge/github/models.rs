//! The few fields of GitHub's REST answers the bot reads, and their
//! conversion to the forge's plain types. Unknown fields are ignored, and
//! nullable ones are `Option`, so GitHub adding or blanking a field never
//! breaks a reconcile.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::forge::{
    Comment, CommitStatus, LabelEvent, Permission, PrState, PullRequest, Release, Review,
    ReviewState, StatusState, Tag,
};

#[derive(Deserialize)]
pub struct User {
    pub login: String,
}

#[derive(Deserialize)]
pub struct Name {
    pub name: String,
}

#[derive(Deserialize)]
pub struct BranchRef {
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub sha: String,
}

#[derive(Deserialize)]
pub struct WirePull {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub state: String,
    /// Only in single-PR answers; lists carry `merged_at` alone.
    pub merged: Option<bool>,
    pub merge_commit_sha: Option<String>,
    pub head: BranchRef,
    pub base: BranchRef,
    pub user: Option<User>,
    #[serde(default)]
    pub labels: Vec<Name>,
    pub html_url: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    pub merged_at: Option<DateTime<Utc>>,
}

impl From<WirePull> for PullRequest {
    fn from(w: WirePull) -> Self {
        let merged = w.merged.unwrap_or(w.merged_at.is_some());
        PullRequest {
            number: w.number,
            title: w.title,
            body: w.body.unwrap_or_default(),
            state: if w.state == "open" {
                PrState::Open
            } else {
                PrState::Closed
            },
            merged,
            // GitHub fills it with a test-merge commit on open PRs; only a
            // merged PR's value is the commit on the base branch.
            merge_commit_sha: if merged { w.merge_commit_sha } else { None },
            head_ref: w.head.git_ref,
            head_sha: w.head.sha,
            base_ref: w.base.git_ref,
            author: login(w.user),
            labels: w.labels.into_iter().map(|l| l.name).collect(),
            html_url: w.html_url,
            created_at: w.created_at,
            updated_at: w.updated_at,
            merged_at: w.merged_at,
        }
    }
}

/// A deleted account shows as `null`; GitHub shows it as `ghost`.
fn login(user: Option<User>) -> String {
    user.map(|u| u.login).unwrap_or_else(|| "ghost".into())
}

#[derive(Deserialize)]
pub struct WireComment {
    pub id: u64,
    pub user: Option<User>,
    pub body: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<WireComment> for Comment {
    fn from(w: WireComment) -> Self {
        Comment {
            id: w.id,
            author: login(w.user),
            body: w.body.unwrap_or_default(),
            created_at: w.created_at,
        }
    }
}

#[derive(Deserialize)]
pub struct WireReview {
    pub id: u64,
    pub user: Option<User>,
    pub state: String,
    pub commit_id: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
}

impl From<WireReview> for Review {
    fn from(w: WireReview) -> Self {
        let state = match w.state.to_ascii_uppercase().as_str() {
            "APPROVED" => ReviewState::Approved,
            "CHANGES_REQUESTED" => ReviewState::ChangesRequested,
            "DISMISSED" => ReviewState::Dismissed,
            "PENDING" => ReviewState::Pending,
            _ => ReviewState::Commented,
        };
        Review {
            id: w.id,
            author: login(w.user),
            state,
            commit_id: w.commit_id.unwrap_or_default(),
            submitted_at: w.submitted_at,
        }
    }
}

#[derive(Deserialize)]
pub struct WireIssueEvent {
    pub event: String,
    pub actor: Option<User>,
    pub label: Option<Name>,
    pub created_at: DateTime<Utc>,
}

impl WireIssueEvent {
    /// Only `labeled` / `unlabeled` events become label events.
    pub fn into_label_event(self) -> Option<LabelEvent> {
        let added = match self.event.as_str() {
            "labeled" => true,
            "unlabeled" => false,
            _ => return None,
        };
        Some(LabelEvent {
            label: self.label?.name,
            actor: login(self.actor),
            added,
            created_at: self.created_at,
        })
    }
}

#[derive(Deserialize)]
pub struct WireStatus {
    pub context: String,
    pub state: String,
    pub description: Option<String>,
    pub target_url: Option<String>,
    #[serde(default)]
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl WireStatus {
    pub fn into_status(self) -> Option<CommitStatus> {
        let state = match self.state.as_str() {
            "pending" => StatusState::Pending,
            "success" => StatusState::Success,
            "failure" => StatusState::Failure,
            "error" => StatusState::Error,
            _ => return None,
        };
        Some(CommitStatus {
            context: self.context,
            state,
            description: self.description.unwrap_or_default(),
            target_url: self.target_url.filter(|u| !u.is_empty()),
            updated_at: self.updated_at,
        })
    }
}

#[derive(Deserialize)]
pub struct WireCombinedStatus {
    #[serde(default)]
    pub statuses: Vec<WireStatus>,
}

#[derive(Deserialize)]
pub struct WirePermission {
    pub permission: String,
    /// Finer than `permission`, which folds maintain into write and triage into read.
    pub role_name: Option<String>,
}

impl WirePermission {
    pub fn level(&self) -> Permission {
        let by_name = |name: &str| match name {
            "admin" => Some(Permission::Admin),
            "maintain" => Some(Permission::Maintain),
            "write" | "push" => Some(Permission::Write),
            "triage" => Some(Permission::Triage),
            "read" | "pull" => Some(Permission::Read),
            "none" => Some(Permission::None),
            _ => None,
        };
        let coarse = by_name(&self.permission).unwrap_or(Permission::None);
        // `permission` folds maintain into write and triage into read; only
        // those two refinements are taken from `role_name` (custom roles are not).
        match (coarse, self.role_name.as_deref()) {
            (Permission::Write, Some("maintain")) => Permission::Maintain,
            (Permission::Read, Some("triage")) => Permission::Triage,
            _ => coarse,
        }
    }
}

#[derive(Deserialize)]
pub struct WireMembership {
    pub state: String,
}

#[derive(Deserialize)]
pub struct WireMerge {
    pub sha: Option<String>,
    pub merged: Option<bool>,
    pub message: Option<String>,
}

#[derive(Deserialize)]
pub struct WireRelease {
    pub id: u64,
    pub tag_name: String,
    pub name: Option<String>,
    pub body: Option<String>,
    pub draft: bool,
    pub prerelease: bool,
    pub html_url: String,
}

impl From<WireRelease> for Release {
    fn from(w: WireRelease) -> Self {
        Release {
            id: w.id,
            tag_name: w.tag_name,
            name: w.name.unwrap_or_default(),
            body: w.body.unwrap_or_default(),
            draft: w.draft,
            prerelease: w.prerelease,
            html_url: w.html_url,
        }
    }
}

#[derive(Deserialize)]
pub struct Sha {
    pub sha: String,
}

#[derive(Deserialize)]
pub struct WireTag {
    pub name: String,
    pub commit: Sha,
}

impl From<WireTag> for Tag {
    fn from(w: WireTag) -> Self {
        Tag {
            name: w.name,
            sha: w.commit.sha,
        }
    }
}

/// GitHub's error answer: `{"message": "...", "documentation_url": "..."}`.
#[derive(Deserialize)]
pub struct WireError {
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_merged_pull_is_merged_from_merged_at() {
        let w: WirePull = serde_json::from_value(serde_json::json!({
            "number": 5, "title": "t", "body": null, "state": "closed",
            "merge_commit_sha": "abc", "head": {"ref": "f", "sha": "h"},
            "base": {"ref": "main", "sha": "b"}, "user": {"login": "alice"},
            "labels": [{"name": "risk: low", "color": "fff"}], "html_url": "u",
            "created_at": "2024-01-01T00:00:00Z", "merged_at": "2024-01-02T00:00:00Z",
            "unknown_field": {"deep": [1, 2]}
        }))
        .unwrap();
        let pr = PullRequest::from(w);
        assert!(pr.merged);
        assert_eq!(pr.merge_commit_sha.as_deref(), Some("abc"));
        assert_eq!(pr.labels, vec!["risk: low"]);
        assert_eq!(pr.body, "");
    }

    #[test]
    fn an_open_pulls_test_merge_commit_is_not_reported() {
        let w: WirePull = serde_json::from_value(serde_json::json!({
            "number": 5, "title": "t", "state": "open", "merged": false,
            "merge_commit_sha": "testmerge", "head": {"ref": "f", "sha": "h"},
            "base": {"ref": "main", "sha": "b"}, "user": null, "html_url": "u",
            "created_at": "2024-01-01T00:00:00Z", "merged_at": null
        }))
        .unwrap();
        let pr = PullRequest::from(w);
        assert_eq!(pr.merge_commit_sha, None);
        assert_eq!(pr.author, "ghost");
    }

    #[test]
    fn permission_uses_the_finer_role_name() {
        let p = |perm: &str, role: Option<&str>| {
            WirePermission {
                permission: perm.into(),
                role_name: role.map(Into::into),
            }
            .level()
        };
        assert_eq!(p("write", Some("maintain")), Permission::Maintain);
        assert_eq!(p("read", Some("triage")), Permission::Triage);
        assert_eq!(p("admin", Some("admin")), Permission::Admin);
        assert_eq!(p("write", Some("custom-role")), Permission::Write);
        assert_eq!(p("read", Some("admin")), Permission::Read);
        assert_eq!(p("none", None), Permission::None);
    }

    #[test]
    fn only_label_events_are_kept() {
        let ev = |event: &str| WireIssueEvent {
            event: event.into(),
            actor: Some(User {
                login: "alice".into(),
            }),
            label: Some(Name { name: "x".into() }),
            created_at: Utc::now(),
        };
        assert!(ev("labeled").into_label_event().is_some_and(|e| e.added));
        assert!(ev("unlabeled").into_label_event().is_some_and(|e| !e.added));
        assert!(ev("assigned").into_label_event().is_none());
    }
}
