//! The [`Forge`] on GitHub's REST API, through octocrab: api.github.com,
//! GitHub Enterprise (`https://host/api/v3`) or the sandbox on 127.0.0.1.
//!
//! octocrab carries the connection, TLS and a personal token; a GitHub App's
//! installation token (shared with git) comes from [`installation`]; the
//! [`transport`] adds retries, rate limits, conditional GETs and pagination.
//! Answers are read into our own small structs ([`models`]).
//!
//! A write that is not safe to send twice (a new comment, PR or release, a
//! merge) is never resent blind: when its answer is lost (a 5xx, a cut
//! connection, a timeout — GitHub may have done the work) the write method
//! first looks for its effect (the sticky comment by its marker, the PR by its
//! head branch, the release by its tag, the merge by the PR's state) and sends
//! it again only if the effect is not there ([`GitHub::write_looking`]).

mod auth;
pub mod budget;
mod etag;
mod installation;
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

use self::installation::InstallationTokens;
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

/// How long to wait for the next bytes of an answer before calling it lost.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What a write came to: GitHub's answer, or (its answer lost) the effect
/// found by looking.
enum Written<T> {
    Answer(transport::Answer),
    Found(T),
}

/// A GitHub client. Cheap to share behind an `Arc`; `Debug` shows no secret.
pub struct GitHub {
    api_url: String,
    transport: Transport,
    /// App auth only: the installation's tokens, for the API and for git.
    tokens: Option<Arc<InstallationTokens>>,
    login: OnceCell<String>,
    /// Who the answers belong to (a hash of the API root and credentials).
    owner: String,
    /// Where the ETag cache is kept between runs, if anywhere.
    etag_store: Option<std::path::PathBuf>,
    /// Bounds for the writes that look before they are sent again.
    retry: RetryPolicy,
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
        Self::with_read_timeout(api_url, auth, READ_TIMEOUT)
    }

    /// Like [`GitHub::new`], with another wait for an answer's next bytes
    /// (tests use a short one to lose answers by delaying them).
    pub fn with_read_timeout(
        api_url: &str,
        auth: GitHubAuth,
        read_timeout: Duration,
    ) -> Result<Self> {
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
                        .set_read_timeout(Some(read_timeout))
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
        let (crab, tokens, secrets) = match auth {
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
                // The API client carries no credentials of its own: the
                // transport adds the installation token git uses too.
                let crab = builder()?
                    .build()
                    .map_err(|e| Error::world(format!("GitHub client: {e}")))?;
                let tokens = Arc::new(InstallationTokens::new(app, installation_id));
                (crab, Some(tokens), Vec::new())
            }
        };
        let mut transport = Transport::new(crab, base, secrets);
        if let Some(tokens) = &tokens {
            transport.set_installation(tokens.clone());
        }
        Ok(Self {
            api_url: api_url.to_string(),
            transport,
            tokens,
            login: OnceCell::new(),
            owner,
            etag_store: None,
            retry: RetryPolicy::default(),
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
        self.retry = policy;
        self
    }

    /// Send a write that must not be done twice. GitHub's answer (success or a
    /// refusal) is returned as it is; when the answer is lost (a 5xx, no
    /// answer, a cut one, a timeout) `look` is asked whether the write took
    /// effect anyway, and only if it did not is the write sent again (with
    /// backoff, up to the retry policy's attempts). A look that fails ends the
    /// write with the lost answer's error: sending again blind could double it,
    /// and the next pass observes the world afresh.
    async fn write_looking<T, F, Fut>(
        &self,
        method: Method,
        path: &str,
        body: &serde_json::Value,
        mut look: F,
    ) -> Result<Written<T>>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>>>,
    {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let lost = match self.transport.send(method.clone(), path, Some(body)).await {
                Ok(answer) if !answer.status.is_server_error() => {
                    return Ok(Written::Answer(answer));
                }
                Ok(answer) => self.transport.failed(&method, path, &answer),
                Err(e) => e,
            };
            match look().await {
                Ok(Some(found)) => {
                    tracing::info!(%method, path, attempt, "answer lost, but the write was done; not sending it again");
                    return Ok(Written::Found(found));
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(%method, path, error = %e, "answer lost and the look failed; not sending it again now");
                    return Err(lost);
                }
            }
            let wait = match retry::decide(
                &self.retry,
                attempt,
                None,
                &http::HeaderMap::new(),
                0,
                rand::random(),
            ) {
                retry::Decision::RetryAfter(wait) => wait,
                _ => return Err(lost),
            };
            tracing::debug!(%method, path, attempt, ?wait, "answer lost and the write not done; sending it again");
            tokio::time::sleep(wait).await;
        }
    }

    /// An idempotent POST (labels, statuses): doing it twice is doing it once,
    /// so a lost answer is simply sent again.
    async fn post_idempotent(&self, path: &str, body: &serde_json::Value) -> Result<()> {
        let written = self
            .write_looking(Method::POST, path, body, || async { Ok(None::<()>) })
            .await?;
        match written {
            Written::Answer(a) if a.status.is_success() => Ok(()),
            Written::Answer(a) => Err(self.transport.failed(&Method::POST, path, &a)),
            Written::Found(()) => Ok(()),
        }
    }

    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    async fn discover_login(&self) -> Result<String> {
        match &self.tokens {
            // An installation token cannot call /user; the app acts as `<slug>[bot]`.
            Some(tokens) => {
                #[derive(serde::Deserialize)]
                struct App {
                    slug: String,
                }
                let app: App = tokens
                    .app()
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

    async fn git_token(&self) -> Result<Option<String>> {
        match &self.tokens {
            Some(tokens) => tokens.current().await.map(Some),
            None => Ok(None),
        }
    }

    async fn git_token_refused(&self, token: &str) -> Result<Option<String>> {
        match &self.tokens {
            Some(tokens) => tokens.refused(token).await.map(Some),
            None => Ok(None),
        }
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
        // Looked for by its head branch: one open PR per head and base.
        let written = self
            .write_looking(Method::POST, &path, &body, || async {
                Ok(self
                    .list_open_pulls(repo)
                    .await?
                    .into_iter()
                    .find(|p| p.head_ref == pull.head && p.base_ref == pull.base))
            })
            .await?;
        match written {
            Written::Found(pr) => Ok(pr),
            Written::Answer(a) if a.status.is_success() => Ok(a.json::<WirePull>(&path)?.into()),
            Written::Answer(a) => Err(self.transport.failed(&Method::POST, &path, &a)),
        }
    }

    async fn update_pull_body(&self, repo: &RepoId, number: u64, body: &str) -> Result<()> {
        let path = format!("{}/pulls/{number}", repo_path(repo));
        self.transport
            .expect_ok(Method::PATCH, &path, Some(&json!({"body": body})))
            .await
            .map(drop)
    }

    async fn close_pull(&self, repo: &RepoId, number: u64) -> Result<()> {
        let path = format!("{}/pulls/{number}", repo_path(repo));
        // Setting a state it already has changes nothing: safe to resend.
        self.transport
            .expect_ok(Method::PATCH, &path, Some(&json!({"state": "closed"})))
            .await
            .map(drop)
    }

    async fn add_labels(&self, repo: &RepoId, number: u64, labels: &[String]) -> Result<()> {
        if labels.is_empty() {
            return Ok(());
        }
        let path = format!("{}/issues/{number}/labels", repo_path(repo));
        // Adding a label it already has changes nothing.
        self.post_idempotent(&path, &json!({"labels": labels}))
            .await
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
        let me = self.whoami().await?;
        // A sticky comment is looked for by its marker (its first line);
        // any other comment by its whole text.
        let marker = body
            .lines()
            .next()
            .filter(|l| l.starts_with("<!-- stagecoach:"));
        let written = self
            .write_looking(Method::POST, &path, &json!({"body": body}), || async {
                Ok(self
                    .list_comments(repo, number)
                    .await?
                    .into_iter()
                    .find(|c| {
                        c.author == me
                            && match marker {
                                Some(m) => c.body.lines().next() == Some(m),
                                None => c.body == body,
                            }
                    }))
            })
            .await?;
        match written {
            Written::Found(c) => Ok(c),
            Written::Answer(a) if a.status.is_success() => Ok(a.json::<WireComment>(&path)?.into()),
            Written::Answer(a) => Err(self.transport.failed(&Method::POST, &path, &a)),
        }
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
        // The latest status per context counts: the same status twice is one.
        self.post_idempotent(&path, &body).await
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
        // Looked for by the PR's state: merged (at the head we asked for) is done.
        let written = self
            .write_looking(Method::PUT, &path, &body, || async {
                let pr = self.get_pull(repo, number).await?;
                Ok(match (pr.merged, pr.merge_commit_sha) {
                    (true, Some(sha)) if pr.head_sha == expected_head_sha => Some(sha),
                    _ => None,
                })
            })
            .await?;
        let answer = match written {
            Written::Found(sha) => return Ok(MergeOutcome::Merged { sha }),
            Written::Answer(answer) => answer,
        };
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
        // Looked for by its tag, drafts included (which GitHub's
        // `releases/tags/{tag}` does not show).
        let written = self
            .write_looking(Method::POST, &path, &body, || async {
                Ok(self
                    .list_releases(repo)
                    .await?
                    .into_iter()
                    .find(|r| r.tag_name == release.tag_name))
            })
            .await?;
        match written {
            Written::Found(r) => Ok(r),
            Written::Answer(a) if a.status.is_success() => Ok(a.json::<WireRelease>(&path)?.into()),
            Written::Answer(a) => Err(self.transport.failed(&Method::POST, &path, &a)),
        }
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
