//! Everything the sandbox forge remembers besides git: users, tokens, teams,
//! pull requests, labels, comments, reviews, statuses and releases. Kept as
//! one JSON document under `DIR/forge/state.json`, rewritten atomically after
//! each change so a restarted sandbox resumes where it stopped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::forge::Permission;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ForgeState {
    /// One counter for every id (users, PRs, comments, ...), like GitHub's
    /// globally unique ids; never reused.
    pub next_id: u64,
    pub users: BTreeMap<String, UserRecord>,
    pub orgs: BTreeMap<String, OrgRecord>,
    /// Keyed by `owner/name`.
    pub repos: BTreeMap<String, RepoRecord>,
    /// GitHub Apps registered with the sandbox, by app id.
    #[serde(default)]
    pub apps: BTreeMap<u64, AppRecord>,
}

/// A GitHub App: its public key checks the JWTs it signs; its installation
/// tokens act as the user `<slug>[bot]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppRecord {
    pub slug: String,
    pub installation_id: u64,
    pub public_key_pem: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: u64,
    pub login: String,
    pub token: String,
    /// An App's earlier installation tokens, still good (GitHub keeps each
    /// for its hour; the API client and git each mint their own).
    #[serde(default)]
    pub earlier_tokens: Vec<String>,
    /// When each of an App's installation tokens expires (Unix seconds);
    /// a token not listed never expires (a person's token).
    #[serde(default)]
    pub token_expiry: BTreeMap<String, i64>,
    /// What the user is in the demo story ("developer", "release manager", ...).
    pub role: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OrgRecord {
    pub id: u64,
    pub teams: BTreeMap<String, TeamRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TeamRecord {
    pub id: u64,
    pub name: String,
    /// login → "member" | "maintainer"
    pub members: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepoRecord {
    pub id: u64,
    pub owner: String,
    pub name: String,
    pub default_branch: String,
    pub created_at: DateTime<Utc>,
    /// Explicit collaborators; everyone else may read (the repos are public).
    pub permissions: BTreeMap<String, Permission>,
    /// PR numbers start at 1 per repo and are shared with issues, as on GitHub.
    pub next_number: u64,
    pub pulls: Vec<PullRecord>,
    pub labels: BTreeMap<String, LabelRecord>,
    pub comments: Vec<CommentRecord>,
    pub reviews: Vec<ReviewRecord>,
    pub statuses: Vec<StatusRecord>,
    pub releases: Vec<ReleaseRecord>,
    pub issue_events: Vec<IssueEventRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PullRecord {
    pub id: u64,
    pub number: u64,
    pub title: String,
    pub body: String,
    pub user: String,
    /// "open" | "closed"
    pub state: String,
    pub head_ref: String,
    /// The head branch's commit when last seen; the live branch wins while open.
    pub head_sha: String,
    pub base_ref: String,
    pub labels: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub merged_at: Option<DateTime<Utc>>,
    pub merge_commit_sha: Option<String>,
    pub merged_by: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabelRecord {
    pub id: u64,
    pub name: String,
    pub color: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommentRecord {
    pub id: u64,
    pub issue_number: u64,
    pub user: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReviewRecord {
    pub id: u64,
    pub pull_number: u64,
    pub user: String,
    pub body: String,
    /// APPROVED | CHANGES_REQUESTED | COMMENTED | PENDING
    pub state: String,
    pub commit_id: String,
    pub submitted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusRecord {
    pub id: u64,
    pub sha: String,
    pub state: String,
    pub context: String,
    pub description: Option<String>,
    pub target_url: Option<String>,
    pub creator: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseRecord {
    pub id: u64,
    pub tag_name: String,
    pub target_commitish: String,
    pub name: Option<String>,
    pub body: Option<String>,
    pub draft: bool,
    pub prerelease: bool,
    pub author: String,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssueEventRecord {
    pub id: u64,
    pub issue_number: u64,
    /// "labeled" | "unlabeled"
    pub event: String,
    pub actor: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
}

impl ForgeState {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("forge").join("state.json")
    }

    /// The saved state, or an empty one when there is none yet.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = Self::path(dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::input(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(Error::world(format!("{}: {e}", path.display()))),
        }
    }

    /// Write to a temporary file and rename it, so a crash never leaves half a file.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = Self::path(dir);
        let parent = path.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent)?;
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::world(format!("state.json: {e}")))?;
        let mut tmp = tempfile::NamedTempFile::new_in(parent)?;
        std::io::Write::write_all(&mut tmp, &bytes)?;
        tmp.persist(&path)
            .map_err(|e| Error::world(format!("{}: {}", path.display(), e.error)))?;
        Ok(())
    }

    pub fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The user a token belongs to, unless it expired before `now` (Unix seconds).
    pub fn user_by_token(&self, token: &str, now: i64) -> Option<&UserRecord> {
        self.users
            .values()
            .find(|u| u.token == token || u.earlier_tokens.iter().any(|t| t == token))
            .filter(|u| u.token_expiry.get(token).is_none_or(|expiry| *expiry > now))
    }

    pub fn repo(&self, owner: &str, name: &str) -> Option<&RepoRecord> {
        self.repos.get(&format!("{owner}/{name}"))
    }

    pub fn repo_mut(&mut self, owner: &str, name: &str) -> Option<&mut RepoRecord> {
        self.repos.get_mut(&format!("{owner}/{name}"))
    }

    /// A user's permission on a repo: explicit grant, else read (public repos).
    pub fn permission(&self, repo: &RepoRecord, login: &str) -> Permission {
        match repo.permissions.get(login) {
            Some(p) => *p,
            None if self.users.contains_key(login) => Permission::Read,
            None => Permission::None,
        }
    }

    pub fn team_role(&self, org: &str, slug: &str, login: &str) -> Option<&str> {
        self.orgs
            .get(org)?
            .teams
            .get(slug)?
            .members
            .get(login)
            .map(String::as_str)
    }

    /// Add a user if missing; returns the (possibly existing) user's token.
    pub fn ensure_user(
        &mut self,
        login: &str,
        role: &str,
        token: impl FnOnce() -> String,
    ) -> String {
        if let Some(u) = self.users.get(login) {
            return u.token.clone();
        }
        let id = self.new_id();
        let token = token();
        self.users.insert(
            login.to_string(),
            UserRecord {
                id,
                login: login.to_string(),
                token: token.clone(),
                earlier_tokens: Vec::new(),
                token_expiry: BTreeMap::new(),
                role: role.to_string(),
            },
        );
        token
    }

    pub fn ensure_repo(&mut self, owner: &str, name: &str) -> &mut RepoRecord {
        let next = self.next_id + 1;
        let mut created = false;
        let repo = self
            .repos
            .entry(format!("{owner}/{name}"))
            .or_insert_with(|| {
                created = true;
                RepoRecord::new(next, owner, name)
            });
        if created {
            self.next_id = next;
        }
        repo
    }

    pub fn ensure_team(&mut self, org: &str, slug: &str, members: &[(&str, &str)]) {
        if !self.orgs.contains_key(org) {
            let id = self.new_id();
            self.orgs.insert(
                org.to_string(),
                OrgRecord {
                    id,
                    teams: BTreeMap::new(),
                },
            );
        }
        let team_id = self.new_id();
        let Some(org_record) = self.orgs.get_mut(org) else {
            return;
        };
        let team = org_record
            .teams
            .entry(slug.to_string())
            .or_insert_with(|| TeamRecord {
                id: team_id,
                name: slug.to_string(),
                members: BTreeMap::new(),
            });
        for (login, role) in members {
            team.members.insert(login.to_string(), role.to_string());
        }
    }
}

impl RepoRecord {
    fn new(id: u64, owner: &str, name: &str) -> Self {
        Self {
            id,
            owner: owner.to_string(),
            name: name.to_string(),
            default_branch: "main".into(),
            created_at: Utc::now(),
            permissions: BTreeMap::new(),
            next_number: 1,
            pulls: Vec::new(),
            labels: BTreeMap::new(),
            comments: Vec::new(),
            reviews: Vec::new(),
            statuses: Vec::new(),
            releases: Vec::new(),
            issue_events: Vec::new(),
        }
    }

    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    pub fn pull(&self, number: u64) -> Option<&PullRecord> {
        self.pulls.iter().find(|p| p.number == number)
    }

    pub fn pull_mut(&mut self, number: u64) -> Option<&mut PullRecord> {
        self.pulls.iter_mut().find(|p| p.number == number)
    }
}
