//! Reading the forge like a person would: PRs, comments, statuses and
//! releases, every page of each (GitHub's `page`/`per_page`).

use serde_json::Value;

use crate::error::Result;
use crate::sandbox::Person;
use crate::sandbox::world::{BOT, OWNER};

/// Items per page asked for (GitHub's largest).
const PER_PAGE: usize = 100;

/// Every item of a list endpoint, page after page.
pub async fn every_page(p: &Person, path: &str) -> Result<Vec<Value>> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut all = Vec::new();
    for page in 1.. {
        let list = p
            .get(&format!("{path}{sep}per_page={PER_PAGE}&page={page}"))
            .await?;
        let items = list.as_array().cloned().unwrap_or_default();
        let last = items.len() < PER_PAGE;
        all.extend(items);
        if last {
            break;
        }
    }
    Ok(all)
}

/// Every PR of `repo` (any state), newest first as GitHub lists them.
pub async fn pulls(p: &Person, repo: &str) -> Result<Vec<Value>> {
    every_page(p, &format!("/repos/{OWNER}/{repo}/pulls?state=all")).await
}

/// The PR of `repo` from the branch `head`, in any state.
pub async fn pr_by_head(p: &Person, repo: &str, head: &str) -> Result<Option<Value>> {
    Ok(pulls(p, repo)
        .await?
        .into_iter()
        .find(|pr| pr["head"]["ref"].as_str() == Some(head)))
}

/// Every comment on a PR as (author, body), oldest first.
pub async fn comments(p: &Person, repo: &str, pr: u64) -> Result<Vec<(String, String)>> {
    let list = every_page(p, &format!("/repos/{OWNER}/{repo}/issues/{pr}/comments")).await?;
    Ok(list
        .iter()
        .map(|c| {
            (
                c["user"]["login"].as_str().unwrap_or_default().to_string(),
                c["body"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect())
}

/// The bot's comments on a PR, bodies with their sticky markers.
pub async fn bot_comments(p: &Person, repo: &str, pr: u64) -> Result<Vec<String>> {
    Ok(comments(p, repo, pr)
        .await?
        .into_iter()
        .filter(|(author, _)| author == BOT)
        .map(|(_, body)| body)
        .collect())
}

/// Every status on `sha`, newest first (GitHub's `/statuses` list).
pub async fn statuses(p: &Person, repo: &str, sha: &str) -> Result<Vec<Value>> {
    every_page(p, &format!("/repos/{OWNER}/{repo}/commits/{sha}/statuses")).await
}

/// The newest `context` status on `sha`: (state, description).
pub async fn status_of(
    p: &Person,
    repo: &str,
    sha: &str,
    context: &str,
) -> Result<Option<(String, String)>> {
    Ok(statuses(p, repo, sha)
        .await?
        .iter()
        .find(|s| s["context"].as_str() == Some(context))
        .map(|s| {
            (
                s["state"].as_str().unwrap_or_default().to_string(),
                s["description"].as_str().unwrap_or_default().to_string(),
            )
        }))
}

/// Every release of the product, drafts included.
pub async fn releases(p: &Person) -> Result<Vec<Value>> {
    every_page(p, &format!("/repos/{OWNER}/product/releases")).await
}

/// The product's release of `tag` (a draft or published).
pub async fn release(p: &Person, tag: &str) -> Result<Option<Value>> {
    Ok(releases(p)
        .await?
        .into_iter()
        .find(|r| r["tag_name"].as_str() == Some(tag)))
}

/// A PR's head sha (empty when the JSON has none).
pub fn head_sha(pr: &Value) -> String {
    pr["head"]["sha"].as_str().unwrap_or_default().to_string()
}

/// A PR's number (0 when the JSON has none).
pub fn number(pr: &Value) -> u64 {
    pr["number"].as_u64().unwrap_or_default()
}
