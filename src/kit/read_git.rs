//! Reading the sandbox's bare repos like a person with a clone would:
//! files, landscape versions, commits, tags, notes, the staging marker.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::git::trailers::Trailers;
use crate::manifest::yaml_edit;
use crate::sandbox::world::OWNER;

/// The sandbox's repos on disk (`DIR/repos/acme/*.git`), read straight
/// from git, never through the bot.
#[derive(Debug, Clone)]
pub struct Repos {
    dir: PathBuf,
}

impl Repos {
    /// The repos of the sandbox at `dir`.
    pub fn new(dir: &Path) -> Repos {
        Repos { dir: dir.into() }
    }

    pub fn bare(&self, repo: &str) -> Result<git2::Repository> {
        let path = self
            .dir
            .join("repos")
            .join(OWNER)
            .join(format!("{repo}.git"));
        Ok(git2::Repository::open_bare(path)?)
    }

    /// The text of `path` at `rev` (a branch, tag or sha), if it is there.
    pub fn file_at(&self, repo: &str, rev: &str, path: &str) -> Result<Option<String>> {
        let r = self.bare(repo)?;
        let Ok(obj) = r.revparse_single(&format!("{rev}:{path}")) else {
            return Ok(None);
        };
        Ok(obj
            .as_blob()
            .map(|b| String::from_utf8_lossy(b.content()).into_owned()))
    }

    /// Every file at `rev`: path → text.
    pub fn files(&self, repo: &str, rev: &str) -> Result<BTreeMap<String, String>> {
        let r = self.bare(repo)?;
        let tree = r
            .revparse_single(&format!("{rev}^{{tree}}"))?
            .peel_to_tree()?;
        let mut files = BTreeMap::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
            if let Ok(blob) = entry.to_object(&r).and_then(|o| o.peel_to_blob()) {
                let path = format!("{root}{}", entry.name().unwrap_or(""));
                files.insert(path, String::from_utf8_lossy(blob.content()).into_owned());
            }
            git2::TreeWalkResult::Ok
        })?;
        Ok(files)
    }

    /// The version `env`'s `cluster` runs of `component` (its `image.tag`).
    pub fn landscape_version(
        &self,
        env: &str,
        cluster: &str,
        component: &str,
    ) -> Result<Option<String>> {
        let text = self.file_at(
            &format!("landscape-{env}"),
            "main",
            &format!("clusters/{cluster}/{component}/values.yaml"),
        )?;
        Ok(text.and_then(|t| yaml_edit::get_scalar(&t, "image.tag").ok().flatten()))
    }

    /// (sha, message) of the commits reachable from `rev`, newest first.
    pub fn commits(&self, repo: &str, rev: &str) -> Result<Vec<(String, String)>> {
        let r = self.bare(repo)?;
        let mut walk = r.revwalk()?;
        walk.push(r.revparse_single(rev)?.peel_to_commit()?.id())?;
        Ok(walk
            .filter_map(|o| o.ok())
            .filter_map(|o| r.find_commit(o).ok())
            .map(|c| {
                (
                    c.id().to_string(),
                    c.message().unwrap_or_default().to_string(),
                )
            })
            .collect())
    }

    /// Commit messages reachable from `rev`, newest first.
    pub fn log(&self, repo: &str, rev: &str) -> Result<Vec<String>> {
        Ok(self
            .commits(repo, rev)?
            .into_iter()
            .map(|(_, m)| m)
            .collect())
    }

    /// How many commits on `repo`'s main carry every `(trailer, value)`.
    pub fn commits_with(&self, repo: &str, trailers: &[(&str, &str)]) -> Result<usize> {
        Ok(self
            .log(repo, "main")?
            .iter()
            .filter(|m| {
                let t = Trailers::parse(m);
                trailers.iter().all(|(k, v)| t.get_all(k).contains(v))
            })
            .count())
    }

    /// The sha `branch` points at.
    pub fn head(&self, repo: &str, branch: &str) -> Result<String> {
        let r = self.bare(repo)?;
        Ok(r.revparse_single(&format!("refs/heads/{branch}"))?
            .id()
            .to_string())
    }

    /// Every tag of `repo`, sorted.
    pub fn tags(&self, repo: &str) -> Result<Vec<String>> {
        let r = self.bare(repo)?;
        let mut tags: Vec<String> = r
            .tag_names(None)?
            .iter()
            .flatten()
            .flatten()
            .map(str::to_string)
            .collect();
        tags.sort();
        Ok(tags)
    }

    /// The message of an annotated tag (a product tag's changelog).
    pub fn tag_message(&self, repo: &str, tag: &str) -> Result<Option<String>> {
        let r = self.bare(repo)?;
        let Ok(reference) = r.find_reference(&format!("refs/tags/{tag}")) else {
            return Ok(None);
        };
        Ok(reference
            .peel_to_tag()
            .ok()
            .and_then(|t| t.message().ok().flatten().map(str::to_string)))
    }

    /// The product tag's note in `notes_ref` (`engine::NOTES_STABILITY`,
    /// `engine::NOTES_SAMPLES`).
    pub fn note(&self, notes_ref: &str, tag: &str) -> Result<Option<String>> {
        let r = self.bare("product")?;
        let Ok(commit) = r.revparse_single(&format!("{tag}^{{commit}}")) else {
            return Ok(None);
        };
        Ok(r.find_note(Some(notes_ref), commit.id())
            .ok()
            .and_then(|n| n.message().ok().map(str::to_string)))
    }

    /// Whether `tag` is on `repo`'s main (a hotfix tag is not).
    pub fn on_main(&self, repo: &str, tag: &str) -> Result<bool> {
        let r = self.bare(repo)?;
        let main = r.revparse_single("main^{commit}")?.id();
        let t = r.revparse_single(&format!("{tag}^{{commit}}"))?.id();
        Ok(main == t || r.graph_descendant_of(main, t)?)
    }

    /// The tag staging runs now (its promotion marker on the landscape).
    pub fn staging_tag(&self) -> Result<Option<String>> {
        let marker = self.file_at("landscape-staging", "main", ".stagecoach/promotion.yaml")?;
        Ok(marker.and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("tag: "))
                .map(str::to_string)
        }))
    }
}
