//! People's steps on a road, as the runbook names them: a developer's
//! labelled change, a merge and its release tag, a bump on the product.

use super::road::Road;
use crate::error::{Error, Result};
use crate::sandbox::Person;

/// Labels of a correctly labelled low-risk functional change.
pub const LOW: &[&str] = &[
    "component: S",
    "change: S",
    "ft-coverage: 90",
    "functional: true",
];
/// Labels that score medium risk (patch or minor bump).
pub const MEDIUM: &[&str] = &[
    "component: L",
    "change: L",
    "ft-coverage: 50",
    "functional: true",
];
/// Labels that score high risk.
pub const HIGH: &[&str] = &[
    "component: XL",
    "change: XL",
    "ft-coverage: 20",
    "functional: true",
];

/// A developer's change: branch, commit, PR (titled by the message's first
/// line), labels. Returns the PR number.
pub async fn open_component_pr(
    p: &Person,
    repo: &str,
    branch: &str,
    message: &str,
    labels: &[&str],
) -> Result<u64> {
    let file = format!("src/{}.txt", branch.replace('/', "-"));
    p.commit_files(repo, branch, &[(&file, message)], message)
        .await?;
    let title = message.lines().next().unwrap_or(message);
    let n = p.open_pr(repo, branch, "main", title, "").await?;
    if !labels.is_empty() {
        p.add_labels(repo, n, labels).await?;
    }
    Ok(n)
}

impl Road {
    /// Merge a component PR and let its own pipeline tag the release.
    pub async fn merge_and_release(&self, who: &str, repo: &str, n: u64, tag: &str) -> Result<()> {
        let p = self.person(who)?;
        let sha = p.merge(repo, n).await?;
        p.tag(repo, tag, &sha).await
    }

    /// A component's release pipeline: a commit on main and a tag.
    pub async fn component_release(&self, repo: &str, message: &str, tag: &str) -> Result<()> {
        let p = self.person("alice")?;
        let file = format!("src/{tag}.txt");
        let sha = p
            .commit_files(repo, "main", &[(&file, message)], message)
            .await?;
        p.tag(repo, tag, &sha).await
    }

    /// A person's commit on a product branch (made from main when new;
    /// `main` itself is a push straight to main) bumping one component in
    /// `product.yaml`. Returns the commit's sha.
    pub async fn bump_on_branch(
        &self,
        who: &str,
        branch: &str,
        component: &str,
        version: &str,
    ) -> Result<String> {
        let text = match self.repos.file_at("product", branch, "product.yaml")? {
            Some(t) => t,
            None => self
                .repos
                .file_at("product", "main", "product.yaml")?
                .ok_or_else(|| Error::world("the product has no product.yaml"))?,
        };
        let version = semver::Version::parse(version)
            .map_err(|e| Error::input(format!("version `{version}`: {e}")))?;
        let new = crate::manifest::product::set_component_version(&text, component, &version)?;
        self.person(who)?
            .commit_files(
                "product",
                branch,
                &[("product.yaml", &new)],
                &format!("feat({component}): {component} {version}"),
            )
            .await
    }
}
