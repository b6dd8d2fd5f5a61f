//! The people of the demo world as a small driver, so a test reads like a
//! runbook: `alice.open_pr(..)`, `rita.approve(..)`, `bob.commit_files(..)`.
//! Forge actions go over HTTP with the person's token, exactly as a browser or
//! `gh` would; pushes go straight into the bare repos, like a developer's push.

use std::path::{Path, PathBuf};

use reqwest::Method;
use serde_json::{Value, json};

use super::git;
use super::render::encode;
use crate::error::{Error, Result};
use crate::forge::MergeMethod;

/// One named user acting on the sandbox.
#[derive(Clone)]
pub struct Person {
    pub login: String,
    token: String,
    api: String,
    dir: PathBuf,
    http: reqwest::Client,
}

impl std::fmt::Debug for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Person")
            .field("login", &self.login)
            .finish_non_exhaustive()
    }
}

/// `payments` → `acme/payments`; `acme/payments` stays.
fn full(repo: &str) -> String {
    if repo.contains('/') {
        repo.to_string()
    } else {
        format!("{}/{repo}", super::world::OWNER)
    }
}

impl Person {
    pub fn new(api: &str, login: &str, token: &str, dir: &Path) -> Result<Self> {
        let http = crate::engine::http::client_builder()
            .user_agent(format!("sandbox-person/{login}"))
            .build()
            .map_err(|e| Error::world(format!("{login}: cannot build an HTTP client: {e}")))?;
        Ok(Self {
            login: login.into(),
            token: token.into(),
            api: api.trim_end_matches('/').into(),
            dir: dir.into(),
            http,
        })
    }

    /// Any API call as this person; a non-2xx answer is an error naming it.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}{path}", self.api);
        let mut req = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&self.token)
            .header("Accept", "application/vnd.github+json");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| Error::world(format!("{}: {method} {path}: {e}", self.login)))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| Error::world(format!("{}: {method} {path}: {e}", self.login)))?;
        if !status.is_success() {
            return Err(Error::world(format!(
                "{}: {method} {path}: {status} {}",
                self.login,
                text.trim()
            )));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|e| Error::world(format!("{}: {method} {path}: bad JSON: {e}", self.login)))
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        self.call(Method::GET, path, None).await
    }

    /// Open a PR; returns its number.
    pub async fn open_pr(
        &self,
        repo: &str,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<u64> {
        let pr = self
            .call(
                Method::POST,
                &format!("/repos/{}/pulls", full(repo)),
                Some(json!({"title": title, "head": head, "base": base, "body": body})),
            )
            .await?;
        pr["number"]
            .as_u64()
            .ok_or_else(|| Error::world(format!("{}: the new PR has no number", self.login)))
    }

    /// The PR as GitHub shows it (JSON).
    pub async fn pull(&self, repo: &str, number: u64) -> Result<Value> {
        self.get(&format!("/repos/{}/pulls/{number}", full(repo)))
            .await
    }

    pub async fn add_labels(&self, repo: &str, number: u64, labels: &[&str]) -> Result<()> {
        self.call(
            Method::POST,
            &format!("/repos/{}/issues/{number}/labels", full(repo)),
            Some(json!({"labels": labels})),
        )
        .await
        .map(|_| ())
    }

    pub async fn remove_label(&self, repo: &str, number: u64, label: &str) -> Result<()> {
        self.call(
            Method::DELETE,
            &format!(
                "/repos/{}/issues/{number}/labels/{}",
                full(repo),
                encode(label)
            ),
            None,
        )
        .await
        .map(|_| ())
    }

    /// Comment on a PR; returns the comment's id.
    pub async fn comment(&self, repo: &str, number: u64, body: &str) -> Result<u64> {
        let c = self
            .call(
                Method::POST,
                &format!("/repos/{}/issues/{number}/comments", full(repo)),
                Some(json!({"body": body})),
            )
            .await?;
        Ok(c["id"].as_u64().unwrap_or_default())
    }

    /// The PR's comments as (author, body), oldest first.
    pub async fn comments(&self, repo: &str, number: u64) -> Result<Vec<(String, String)>> {
        let list = self
            .get(&format!(
                "/repos/{}/issues/{number}/comments?per_page=100",
                full(repo)
            ))
            .await?;
        Ok(list
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| {
                        (
                            c["user"]["login"].as_str().unwrap_or_default().to_string(),
                            c["body"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    pub async fn approve(&self, repo: &str, number: u64) -> Result<()> {
        self.review(repo, number, "APPROVE", "Looks good to me.")
            .await
    }

    pub async fn request_changes(&self, repo: &str, number: u64, body: &str) -> Result<()> {
        self.review(repo, number, "REQUEST_CHANGES", body).await
    }

    async fn review(&self, repo: &str, number: u64, event: &str, body: &str) -> Result<()> {
        self.call(
            Method::POST,
            &format!("/repos/{}/pulls/{number}/reviews", full(repo)),
            Some(json!({"event": event, "body": body})),
        )
        .await
        .map(|_| ())
    }

    /// Merge with a merge commit; returns the merge commit's sha.
    pub async fn merge(&self, repo: &str, number: u64) -> Result<String> {
        self.merge_with(repo, number, MergeMethod::Merge).await
    }

    pub async fn merge_with(&self, repo: &str, number: u64, method: MergeMethod) -> Result<String> {
        let method = match method {
            MergeMethod::Merge => "merge",
            MergeMethod::Squash => "squash",
            MergeMethod::Rebase => "rebase",
        };
        let r = self
            .call(
                Method::PUT,
                &format!("/repos/{}/pulls/{number}/merge", full(repo)),
                Some(json!({"merge_method": method})),
            )
            .await?;
        Ok(r["sha"].as_str().unwrap_or_default().to_string())
    }

    pub async fn close(&self, repo: &str, number: u64) -> Result<()> {
        self.call(
            Method::PATCH,
            &format!("/repos/{}/pulls/{number}", full(repo)),
            Some(json!({"state": "closed"})),
        )
        .await
        .map(|_| ())
    }

    /// Commit files onto a branch (made from `main` if missing) as this person,
    /// like a push; returns the new commit's sha.
    pub async fn commit_files(
        &self,
        repo: &str,
        branch: &str,
        files: &[(&str, &str)],
        message: &str,
    ) -> Result<String> {
        let path = self.repo_path(repo);
        let files: Vec<(String, String)> = files
            .iter()
            .map(|(p, c)| (p.to_string(), c.to_string()))
            .collect();
        let (branch, message) = (branch.to_string(), message.to_string());
        let login = self.login.clone();
        tokio::task::spawn_blocking(move || {
            let repo = git::open(&path)?;
            git::commit_files(
                &repo,
                &branch,
                &files,
                &message,
                (&login, &format!("{login}@acme.example")),
            )
        })
        .await
        .map_err(|e| Error::world(format!("commit_files: {e}")))?
    }

    /// Tag a commit (annotated), like a release pipeline's push of a tag.
    pub async fn tag(&self, repo: &str, name: &str, sha: &str) -> Result<()> {
        let path = self.repo_path(repo);
        let (name, sha, login) = (name.to_string(), sha.to_string(), self.login.clone());
        tokio::task::spawn_blocking(move || {
            let repo = git::open(&path)?;
            git::tag(
                &repo,
                &name,
                &sha,
                (&login, &format!("{login}@acme.example")),
            )
        })
        .await
        .map_err(|e| Error::world(format!("tag: {e}")))?
    }

    fn repo_path(&self, repo: &str) -> PathBuf {
        let f = full(repo);
        let (owner, name) = f.split_once('/').unwrap_or((super::world::OWNER, &f));
        git::repo_path(&self.dir, owner, name)
    }
}
