//! The [`Forge`] on GitHub's REST API, through octocrab: api.github.com,
//! GitHub Enterprise (`https://host/api/v3`) or the sandbox on 127.0.0.1.
//!
//! octocrab carries the connection, TLS and authentication (including a GitHub
//! App's installation tokens, re-minted 30 s before they expire); the
//! [`transport`] adds retries, rate limits, conditional GETs and pagination.
//! Answers are read into our own small structs ([`models`]).

mod auth;
pub mod budget;
mod etag;
mod models;
mod paths;
pub mod retry;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::{Method, StatusCode};
use octocrab::Octocrab;
use serde_json::json;
use tokio::sync::OnceCell;

pub use auth::GitHubAuth;
pub use budget::Limits as BudgetLimits;
pub use retry::RetryPolicy;

use self::models::{
    User, WireCombinedStatus, WireComment, WireIssueEvent, WireMembership, WireMerge,
    WirePermission, WirePull, WireRelease, WireReview, WireTag,
};
use self::paths::seg;
use self::transport::Transport;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::forge::{
    Comment, CommitStatus, Forge, LabelEvent, MergeMethod, MergeOutcome, NewPull, NewRelease,
    Permission, PullRequest, Release, RepoId, Review, StatusState, Tag,
};
use crate::metrics::Metrics;

/// GitHub's cap on a commit status description.
const STATUS_DESCRIPTION_MAX: usize = 140;

/// A GitHub client. Cheap to share behind an `Arc`; `Debug` shows no secret.
pub struct GitHub {
    api_url: String,
    transport: Transport,
    /// App auth only: the JWT-authenticated client, to learn the app's slug.
    app_crab: Option<Octocrab>,
    login: OnceCell<String>,
    /// Who the answers belong to (a hash of the API root and credentials).
    owner: String,
    /// Where the ETag cache is kept between runs, if anywhere.
    etag_store: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for GitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHub")
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

impl GitHub {
    /// A client for the API rooted at `api_url`. Must be called inside a Tokio runtime.
    pub fn new(api_url: &str, auth: GitHubAuth) -> Result<Self> {
        let base: http::Uri = api_url
            .trim_end_matches('/')
            .parse()
            .map_err(|e| Error::input(format!("forge.api_url `{api_url}`: not a URL ({e})")))?;
        if base.scheme().is_none() || base.authority().is_none() {
            return Err(Error::input(format!(
                "forge.api_url `{api_url}`: expected an absolute URL like https://api.github.com"
            )));
        }
        let builder = || -> Result<octocrab::OctocrabBuilder<_, _, _, _>> {
            Octocrab::builder()
                .base_uri(base.clone())
                .map_err(|e| Error::input(format!("forge.api_url `{api_url}`: {e}")))
                .map(|b| {
                    b.add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
                        .set_connect_timeout(Some(Duration::from_secs(10)))
                        .set_read_timeout(Some(Duration::from_secs(30)))
                        .set_write_timeout(Some(Duration::from_secs(30)))
                })
        };
        let owner = {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            h.update(api_url.as_bytes());
            match &auth {
                GitHubAuth::Token(t) => h.update(format!("\0token\0{t}").as_bytes()),
                GitHubAuth::App {
                    app_id,
                    installation_id,
                    ..
                } => h.update(format!("\0app\0{app_id}\0{installation_id}").as_bytes()),
            }
            hex::encode(h.finalize())
        };
        let (crab, app_crab, secrets) = match auth {
            GitHubAuth::Token(token) => {
                let crab = builder()?
                    .personal_token(token.clone())
                    .build()
                    .map_err(|e| Error::world(format!("GitHub client: {e}")))?;
                (crab, None, vec![token])
            }
            GitHubAuth::App {
                app_id,
                installation_id,
                private_key_pem,
            } => {
                let key = octocrab::EncodingKey::from_rsa_pem(&private_key_pem).map_err(|_| {
                    Error::input("forge.app.private_key: not an RSA private key in PEM form")
                })?;
                let app = builder()?
                    .app(octocrab::models::AppId(app_id), key)
                    .build()
                    .map_err(|e| Error::world(format!("GitHub client: {e}")))?;
                let crab = app
                    .installation(octocrab::models::InstallationId(installation_id))
                    .map_err(|e| Error::world(format!("GitHub App installation: {e}")))?;
                (crab, Some(app), Vec::new())
            }
        };
        Ok(Self {
            api_url: api_url.to_string(),
            transport: Transport::new(crab, base, secrets),
            app_crab,
            login: OnceCell::new(),
            owner,
            etag_store: None,
        })
    }

    /// Keep the ETag cache in `file` between runs, so the first resync after
    /// a restart is as cheap as any other (304s cost no rate limit). Loads it
    /// now; `Forge::checkpoint` saves it.
    pub fn with_etag_store(mut self, file: std::path::PathBuf) -> Self {
        let loaded = self.transport.cache().load(&file, &self.owner);
        tracing::debug!(pages = loaded, file = %file.display(), "ETag cache loaded");
        self.etag_store = Some(file);
        self
    }

    pub fn from_config(config: &Config) -> Result<Self> {
        let limits = config.budget_limits()?;
        Ok(Self::new(&config.forge.api_url, GitHubAuth::from_config(config)?)?.with_budget(limits))
    }

    /// Keep to these request-budget limits (`forge.budget` in the config).
    pub fn with_budget(mut self, limits: BudgetLimits) -> Self {
        self.transport.set_budget(limits);
        self
    }

    /// Count every answer into `/metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.transport.set_metrics(metrics);
        self
    }

    /// Override the retry bounds (tests use short waits).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.transport.set_policy(policy);
        self
    }

    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    async fn discover_login(&self) -> Result<String> {
        match &self.app_crab {
            // An installation token cannot call /user; the app acts as `<slug>[bot]`.
            Some(app) => {
                #[derive(serde::Deserialize)]
                struct App {
                    slug: String,
                }
                let app: App = app
                    .get("/app", None::<&()>)
                    .await
                    .map_err(|e| Error::world(format!("GitHub GET /app: {e}")))?;
                Ok(format!("{}[bot]", app.slug))
            }
            None => Ok(self.transport.get_json::<User>("/user").await?.login),
        }
    }
}

fn repo_path(repo: &RepoId) -> String {
    format!("/repos/{}/{}", seg(&repo.owner), seg(&repo.name))
}

fn state_word(state: StatusState) -> &'static str {
    match state {
        StatusState::Pending => "pending",
        StatusState::Success => "success",
        StatusState::Failure => "failure",
        StatusState::Error => "error",
    }
}

fn method_word(method: MergeMethod) -> &'static str {
    match method {
        MergeMethod::Merge => "merge",
        MergeMethod::Squash => "squash",
        MergeMethod::Rebase => "rebase",
    }
}

#[async_trait]
impl Forge for GitHub {
    async fn checkpoint(&self) -> Result<()> {
        let Some(file) = self.etag_store.clone() else {
            return Ok(());
        };
        let pages = self.transport.cache().snapshot();
        let owner = self.owner.clone();
        tokio::task::spawn_blocking(move || etag::save(&file, &owner, pages))
            .await
            .map_err(|e| Error::world(format!("saving the ETag cache: {e}")))?
            .map_err(|e| Error::world(format!("saving the ETag cache: {e}")))
    }

    async fn whoami(&self) -> Result<String> {
        self.login
            .get_or_try_init(|| self.discover_login())
            .await
            .cloned()
    }

    async fn list_open_pulls(&self, repo: &RepoId) -> Result<Vec<PullRequest>> {
        let path = format!("{}/pulls?state=open&per_page=100", repo_path(repo));
        let pulls: Vec<WirePull> = self.transport.get_all(&path, usize::MAX).await?;
        Ok(pulls.into_iter().map(PullRequest::from).collect())
    }

    async fn list_recent_pulls(&self, repo: &RepoId, limit: usize) -> Result<Vec<PullRequest>> {
        let path = format!(
            "{}/pulls?state=all&sort=created&direction=desc&per_page=100",
            repo_path(repo)
        );
        let pulls: Vec<WirePull> = self.transport.get_all(&path, limit).await?;
        Ok(pulls.into_iter().map(PullRequest::from).collect())
    }

    async fn get_pull(&self, repo: &RepoId, number: u64) -> Result<PullRequest> {
        let path = format!("{}/pulls/{number}", repo_path(repo));
        Ok(self.transport.get_json::<WirePull>(&path).await?.into())
    }

    async fn create_pull(&self, repo: &RepoId, pull: &NewPull) -> Result<PullRequest> {
        let path = format!("{}/pulls", repo_path(repo));
        let body =
            json!({"title": pull.title, "body": pull.body, "head": pull.head, "base": pull.base});
        let answer = self
            .transport
            .expect_ok(Method::POST, &path, Some(&body))
            .await?;
        Ok(answer.json::<WirePull>(&path)?.into())
    }

    async fn update_pull_body(&self, repo: &RepoId, number: u64, body: &str) -> Result<()> {
        let path = format!("{}/pulls/{number}", repo_path(repo));
        self.transport
            .expect_ok(Method::PATCH, &path, Some(&json!({"body": body})))
            .await
            .map(drop)
    }

    async fn add_labels(&self, repo: &RepoId, number: u64, labels: &[String]) -> Result<()> {
        if labels.is_empty() {
            return Ok(());
        }
        let path = format!("{}/issues/{number}/labels", repo_path(repo));
        self.transport
            .expect_ok(Method::POST, &path, Some(&json!({"labels": labels})))
            .await
            .map(drop)
    }

    async fn remove_label(&self, repo: &RepoId, number: u64, label: &str) -> Result<()> {
        let path = format!("{}/issues/{number}/labels/{}", repo_path(repo), seg(label));
        let answer = self.transport.send(Method::DELETE, &path, None).await?;
        // Already gone is what we wanted: removing is idempotent.
        if answer.status.is_success() || answer.status == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(self.transport.failed(&Method::DELETE, &path, &answer))
        }
    }

    async fn list_comments(&self, repo: &RepoId, number: u64) -> Result<Vec<Comment>> {
        let path = format!("{}/issues/{number}/comments?per_page=100", repo_path(repo));
        let comments: Vec<WireComment> = self.transport.get_all(&path, usize::MAX).await?;
        Ok(comments.into_iter().map(Comment::from).collect())
    }

    async fn create_comment(&self, repo: &RepoId, number: u64, body: &str) -> Result<Comment> {
        let path = format!("{}/issues/{number}/comments", repo_path(repo));
        let answer = self
            .transport
            .expect_ok(Method::POST, &path, Some(&json!({"body": body})))
            .await?;
        Ok(answer.json::<WireComment>(&path)?.into())
    }

    async fn update_comment(&self, repo: &RepoId, comment_id: u64, body: &str) -> Result<()> {
        let path = format!("{}/issues/comments/{comment_id}", repo_path(repo));
        self.transport
            .expect_ok(Method::PATCH, &path, Some(&json!({"body": body})))
            .await
            .map(drop)
    }

    async fn list_reviews(&self, repo: &RepoId, number: u64) -> Result<Vec<Review>> {
        let path = format!("{}/pulls/{number}/reviews?per_page=100", repo_path(repo));
        let reviews: Vec<WireReview> = self.transport.get_all(&path, usize::MAX).await?;
        Ok(reviews.into_iter().map(Review::from).collect())
    }

    async fn label_events(&self, repo: &RepoId, number: u64) -> Result<Vec<LabelEvent>> {
        let path = format!("{}/issues/{number}/events?per_page=100", repo_path(repo));
        let events: Vec<WireIssueEvent> = self.transport.get_all(&path, usize::MAX).await?;
        let mut labels: Vec<LabelEvent> = events
            .into_iter()
            .filter_map(WireIssueEvent::into_label_event)
            .collect();
        labels.sort_by_key(|e| e.created_at);
        Ok(labels)
    }

    async fn set_status(&self, repo: &RepoId, sha: &str, status: &CommitStatus) -> Result<()> {
        let path = format!("{}/statuses/{}", repo_path(repo), seg(sha));
        let description: String = status
            .description
            .chars()
            .take(STATUS_DESCRIPTION_MAX)
            .collect();
        let mut body = json!({
            "state": state_word(status.state),
            "context": status.context,
            "description": description,
        });
        if let Some(url) = &status.target_url {
            body["target_url"] = json!(url);
        }
        self.transport
            .expect_ok(Method::POST, &path, Some(&body))
            .await
            .map(drop)
    }

    async fn list_statuses(&self, repo: &RepoId, sha: &str) -> Result<Vec<CommitStatus>> {
        // The combined status already keeps only the latest per context.
        let path = format!(
            "{}/commits/{}/status?per_page=100",
            repo_path(repo),
            seg(sha)
        );
        let combined: WireCombinedStatus = self.transport.get_json(&path).await?;
        Ok(combined
            .statuses
            .into_iter()
            .filter_map(|s| s.into_status())
            .collect())
    }

    async fn merge_pull(
        &self,
        repo: &RepoId,
        number: u64,
        method: MergeMethod,
        expected_head_sha: &str,
    ) -> Result<MergeOutcome> {
        let path = format!("{}/pulls/{number}/merge", repo_path(repo));
        let body = json!({"merge_method": method_word(method), "sha": expected_head_sha});
        let answer = self.transport.send(Method::PUT, &path, Some(&body)).await?;
        match answer.status {
            s if s.is_success() => {
                let merge: WireMerge = answer.json(&path)?;
                match (merge.merged, merge.sha) {
                    (Some(false), _) => Ok(MergeOutcome::Refused {
                        reason: merge.message.unwrap_or_else(|| "not merged".into()),
                        head_moved: false,
                    }),
                    (_, Some(sha)) => Ok(MergeOutcome::Merged { sha }),
                    (_, None) => Err(Error::world(format!(
                        "GitHub PUT {path}: merged but no merge commit sha in the answer"
                    ))),
                }
            }
            StatusCode::METHOD_NOT_ALLOWED | StatusCode::CONFLICT => {
                let message = answer.message();
                Ok(MergeOutcome::Refused {
                    head_moved: answer.status == StatusCode::CONFLICT,
                    reason: if message.is_empty() {
                        answer.status.to_string()
                    } else {
                        message
                    },
                })
            }
            _ => Err(self.transport.failed(&Method::PUT, &path, &answer)),
        }
    }

    async fn permission(&self, repo: &RepoId, user: &str) -> Result<Permission> {
        let path = format!("{}/collaborators/{}/permission", repo_path(repo), seg(user));
        let answer = self.transport.send(Method::GET, &path, None).await?;
        match answer.status {
            StatusCode::OK => Ok(answer.json::<WirePermission>(&path)?.level()),
            // No such user, or not a collaborator: no permission at all.
            StatusCode::NOT_FOUND => Ok(Permission::None),
            _ => Err(self.transport.failed(&Method::GET, &path, &answer)),
        }
    }

    async fn is_team_member(&self, org: &str, team_slug: &str, user: &str) -> Result<bool> {
        let path = format!(
            "/orgs/{}/teams/{}/memberships/{}",
            seg(org),
            seg(team_slug),
            seg(user)
        );
        let answer = self.transport.send(Method::GET, &path, None).await?;
        match answer.status {
            // A pending invitation is not membership.
            StatusCode::OK => Ok(answer.json::<WireMembership>(&path)?.state == "active"),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.transport.failed(&Method::GET, &path, &answer)),
        }
    }

    async fn list_releases(&self, repo: &RepoId) -> Result<Vec<Release>> {
        let path = format!("{}/releases?per_page=100", repo_path(repo));
        let releases: Vec<WireRelease> = self.transport.get_all(&path, usize::MAX).await?;
        Ok(releases.into_iter().map(Release::from).collect())
    }

    async fn create_release(&self, repo: &RepoId, release: &NewRelease) -> Result<Release> {
        let path = format!("{}/releases", repo_path(repo));
        let body = json!({
            "tag_name": release.tag_name,
            "name": release.name,
            "body": release.body,
            "draft": release.draft,
        });
        let answer = self
            .transport
            .expect_ok(Method::POST, &path, Some(&body))
            .await?;
        Ok(answer.json::<WireRelease>(&path)?.into())
    }

    async fn update_release(&self, repo: &RepoId, id: u64, body: &str, draft: bool) -> Result<()> {
        let path = format!("{}/releases/{id}", repo_path(repo));
        self.transport
            .expect_ok(
                Method::PATCH,
                &path,
                Some(&json!({"body": body, "draft": draft})),
            )
            .await
            .map(drop)
    }

    async fn list_tags(&self, repo: &RepoId) -> Result<Vec<Tag>> {
        let path = format!("{}/tags?per_page=100", repo_path(repo));
        let tags: Vec<WireTag> = self.transport.get_all(&path, usize::MAX).await?;
        Ok(tags.into_iter().map(Tag::from).collect())
    }
}
