//! Acting on versions: component and product tags with their changelogs,
//! and GitHub releases (a draft at tag time, published at the KPI).

use semver::Version;

use crate::changelog::{self, Changelog};
use crate::error::Result;
use crate::forge::{NewRelease, RepoId};
use crate::git::history;
use crate::git::trailers::Trailers;
use crate::policy::Policy;

use super::super::Engine;
use super::super::snapshot::{ComponentChange, Snapshot};
use super::super::trailer;

impl Engine {
    pub(super) async fn tag_component(
        &self,
        policy: &Policy,
        snap: &Snapshot,
        component: &str,
        version: &Version,
        sha: &str,
    ) -> Result<String> {
        let repo = self.component_repo(snap, component)?;
        let name = format!("{}{version}", policy.component_tag_prefix(component));
        let msg = Trailers::new()
            .with(trailer::ACTION, trailer::action::TAG)
            .with(trailer::COMPONENT, format!("{component}@{version}"))
            .append_to(&format!("{component} {name}"));
        let sha = sha.to_string();
        let created = self
            .with_repo(&repo, move |ws| ws.create_tag(&name, &sha, &msg))
            .await?;
        Ok(if created {
            "tagged"
        } else {
            "tag already there"
        }
        .into())
    }

    pub(super) async fn tag_product(
        &self,
        policy: &Policy,
        snap: &Snapshot,
        version: &Version,
        sha: &str,
        changes: &[ComponentChange],
        previous: Option<&str>,
    ) -> Result<String> {
        let product = snap.product.repo.clone();
        let name = format!("{}{version}", policy.versioning.tag_prefix);
        let log = self
            .changelog(policy, snap, Some(name.clone()), changes)
            .await?;
        let mut trailers = Trailers::new()
            .with(trailer::ACTION, trailer::action::TAG)
            .with(trailer::PRODUCT, name.clone());
        if let Some(p) = previous {
            trailers = trailers.with(trailer::FROM, p.to_string());
        }
        for c in changes {
            trailers = trailers.with(trailer::COMPONENT, format!("{}@{}", c.component, c.to));
        }
        let message = trailers.append_to(&format!("{name}\n\n{log}"));
        let (n2, s2) = (name.clone(), sha.to_string());
        let created = self
            .with_repo(&product, move |ws| ws.create_tag(&n2, &s2, &message))
            .await?;
        self.ensure_release(&product, &name, &log, true).await?;
        Ok(if created {
            format!("tagged {name}")
        } else {
            format!("{name} already tagged")
        })
    }

    /// One changelog: a section per component change, from its commits.
    pub(super) async fn changelog(
        &self,
        policy: &Policy,
        snap: &Snapshot,
        version: Option<String>,
        changes: &[ComponentChange],
    ) -> Result<String> {
        let mut sections = Vec::new();
        for c in changes {
            let repo = self.component_repo(snap, &c.component)?;
            let prefix = policy.component_tag_prefix(&c.component).to_string();
            let c2 = c.clone();
            let section = self
                .with_repo(&repo, move |ws| {
                    let from = format!("{prefix}{}", c2.from);
                    let to = format!("{prefix}{}", c2.to);
                    let from_ok = ws.repo().revparse_single(&from).is_ok();
                    let commits =
                        history::commits_between(ws.repo(), from_ok.then_some(from.as_str()), &to)?;
                    Ok(changelog::section_from_commits(
                        Some(&c2.component),
                        Some(&c2.from.to_string()),
                        Some(&c2.to.to_string()),
                        &commits,
                        false,
                    ))
                })
                .await?;
            sections.push(section);
        }
        let template = match &policy.templates.changelog {
            Some(path) => {
                let (p, b) = (path.clone(), self.config.product.branch.clone());
                self.with_repo(&snap.product.repo, move |ws| ws.read_file(&b, &p))
                    .await?
            }
            None => None,
        };
        changelog::render(
            &Changelog {
                version,
                date: Some(self.clock.now().format("%Y-%m-%d").to_string()),
                sections,
            },
            template.as_deref(),
        )
    }

    /// A GitHub release for a tag: a draft with the changelog at tag time,
    /// published when the tag passes the stability KPI.
    pub(super) async fn ensure_release(
        &self,
        repo: &RepoId,
        tag: &str,
        body: &str,
        draft: bool,
    ) -> Result<()> {
        let existing = self
            .forge
            .list_releases(repo)
            .await?
            .into_iter()
            .find(|r| r.tag_name == tag);
        match existing {
            Some(r) if r.draft == draft => Ok(()),
            Some(r) if r.draft && !draft => {
                self.forge.update_release(repo, r.id, &r.body, false).await
            }
            Some(_) => Ok(()),
            None => self
                .forge
                .create_release(
                    repo,
                    &NewRelease {
                        tag_name: tag.into(),
                        name: tag.into(),
                        body: body.into(),
                        draft,
                    },
                )
                .await
                .map(|_| ()),
        }
    }
}
