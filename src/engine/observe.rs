//! The edge that looks: reads git and the forge into a `Snapshot`.
//!
//! Reads only; never writes. Git work runs on blocking threads. Everything
//! the decisions need is resolved here (a PR's manifest change, who may
//! approve, which tag contains a merge), so they can stay pure.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::stream::{self, StreamExt, TryStreamExt};
use semver::Version;

use crate::engine::stability;
use crate::error::{Error, Result};
use crate::forge::{PrState, PullRequest, RepoId, StatusState};
use crate::git::history;
use crate::git::trailers::Trailers;
use crate::git::workspace::Workspace;
use crate::labels;
use crate::manifest::product::ProductManifest;
use crate::manifest::yaml_edit;
use crate::policy::{Environment, Policy, Tagging};
use crate::version;

use super::authority;
use super::rejection;
use super::snapshot::*;
use super::trailer;
use super::{Engine, HEALTH_CONTEXT, NOTES_REJECTIONS, NOTES_SAMPLES, NOTES_STABILITY};

/// How many components are observed at once.
const OBSERVE_CONCURRENCY: usize = 8;
/// How many closed PRs per repo the engine looks back at.
const RECENT_PULLS: usize = 30;
/// How long the running bot trusts a PR listing of the product or a
/// landscape that no hint and no write of its own has touched.
const LISTING_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(60);
/// How many landscape commits are read for the record.
const LANDSCAPE_HISTORY: usize = 60;
/// How many landscape commits are looked at, at most, to find them.
const LANDSCAPE_WALK: usize = 5_000;

/// One landscape as read at `head`: its versions, the bot's record and the
/// PR environments, before any forge call adds health verdicts.
#[derive(Clone)]
pub(super) struct LandscapeRead {
    head: String,
    /// The environment's settings and the component list it was read for.
    reading: String,
    versions: BTreeMap<String, BTreeMap<String, Version>>,
    history: Vec<LandscapeCommit>,
    pr_envs: Vec<u64>,
}

/// A product PR read at (main, head): its change and its branch's state.
type PullRead = (
    std::result::Result<Vec<ComponentChange>, String>,
    (BranchState, Option<String>),
);

/// What the product repo says at commits that never change — a PR's change
/// at (main, head), a tag's manifest at its commit — kept across passes: at
/// 1,000 components each is a parse of a thousand-line `product.yaml`, and
/// a pass would make one per open PR and per tag.
#[derive(Default)]
pub(super) struct ProductReads(std::sync::Mutex<ProductReadsInner>);

#[derive(Default)]
struct ProductReadsInner {
    pulls: std::collections::HashMap<(String, String), PullRead>,
    manifests: std::collections::HashMap<String, Option<ProductManifest>>,
}

/// Entries kept of each kind before starting afresh (far more than the
/// open PRs and tags of a pass).
const PRODUCT_READS: usize = 4_096;

impl ProductReads {
    fn with<T>(&self, f: impl FnOnce(&mut ProductReadsInner) -> T) -> Option<T> {
        self.0.lock().ok().map(|mut inner| f(&mut inner))
    }

    fn pull(&self, main: &str, head: &str) -> Option<PullRead> {
        self.with(|r| r.pulls.get(&(main.to_string(), head.to_string())).cloned())
            .flatten()
    }

    fn put_pull(&self, main: &str, head: &str, read: PullRead) {
        self.with(|r| {
            if r.pulls.len() >= PRODUCT_READS {
                r.pulls.clear();
            }
            r.pulls.insert((main.to_string(), head.to_string()), read);
        });
    }

    fn manifest(&self, commit: &str) -> Option<Option<ProductManifest>> {
        self.with(|r| r.manifests.get(commit).cloned()).flatten()
    }

    fn put_manifest(&self, commit: &str, manifest: Option<ProductManifest>) {
        self.with(|r| {
            if r.manifests.len() >= PRODUCT_READS {
                r.manifests.clear();
            }
            r.manifests.insert(commit.to_string(), manifest);
        });
    }
}

/// The newest [`LandscapeRead`] of each environment.
#[derive(Default)]
pub(super) struct LandscapeReads(std::sync::Mutex<BTreeMap<String, LandscapeRead>>);

impl LandscapeReads {
    fn get(&self, env: &str) -> Option<LandscapeRead> {
        self.0.lock().ok().and_then(|m| m.get(env).cloned())
    }

    fn put(&self, env: &str, read: LandscapeRead) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(env.to_string(), read);
        }
    }
}

impl Engine {
    /// Read the policy from the product's main branch (never from a PR).
    pub async fn load_policy(&self) -> Result<Policy> {
        let repo = self.config.product_repo();
        let path = self.config.product.policy.clone();
        let branch = self.config.product.branch.clone();
        let text = self
            .with_repo(&repo, move |ws| ws.read_file(&branch, &path))
            .await?;
        let text = text.ok_or_else(|| {
            Error::input(format!(
                "{repo}: no policy at `{}` on {}",
                self.config.product.policy, self.config.product.branch
            ))
        })?;
        Policy::parse(&text, &format!("{repo}:{}", self.config.product.policy))
    }

    /// Read the whole world.
    pub async fn observe(&self, policy: &Policy) -> Result<Snapshot> {
        self.observe_with(policy, false).await
    }

    /// Read the world; `scoped` reads only what changed and keeps the rest
    /// from earlier passes (`scope.rs`), as the running bot does.
    pub async fn observe_with(&self, policy: &Policy, scoped: bool) -> Result<Snapshot> {
        let now = self.clock.now();
        let started = std::time::Instant::now();
        let me = self.me().await?;
        let product = self.observe_product(policy, &me, scoped).await?;
        let product_read = started.elapsed();
        // Components are independent: read several at once (each is a git
        // fetch and a few forge calls), keeping the manifest's order.
        let mut wanted = Vec::new();
        for (name, pin) in &product.manifest.components {
            let repo = RepoId::parse(&pin.repo)
                .map_err(|e| e.context(format!("product.yaml components.{name}.repo")))?;
            wanted.push((name.clone(), repo));
        }
        let me = me.as_str();
        let read_components = async {
            let components: Vec<ComponentView> = if scoped {
                let all: Vec<String> = wanted.iter().map(|(_, r)| r.to_string()).collect();
                let plan = self.scope.plan(&all, now, self.config.sweep_period());
                let mut to_read = Vec::new();
                for (name, repo) in &wanted {
                    if plan.repos.contains(&repo.to_string()) {
                        to_read.push((name.clone(), repo.clone()));
                    }
                }
                let read: Vec<ComponentView> = stream::iter(to_read)
                    .map(|(name, repo)| self.observe_component(policy, name, repo, me, true))
                    .buffered(OBSERVE_CONCURRENCY)
                    .try_collect()
                    .await?;
                for view in &read {
                    self.scope.store_component(&plan, view);
                }
                wanted
                    .iter()
                    .filter_map(|(name, repo)| {
                        let repo = repo.to_string();
                        read.iter()
                            .find(|v| v.repo.to_string() == repo)
                            .cloned()
                            .or_else(|| self.scope.component(&repo))
                            .map(|mut v| {
                                v.name = name.clone();
                                v
                            })
                    })
                    .collect()
            } else {
                stream::iter(wanted)
                    .map(|(name, repo)| self.observe_component(policy, name, repo, me, false))
                    .buffered(OBSERVE_CONCURRENCY)
                    .try_collect()
                    .await?
            };
            Ok::<_, Error>((components, started.elapsed()))
        };
        // Landscapes are independent of each other and of the components:
        // both are read at once, so a pass waits for the slower of the two.
        let mut reads = Vec::new();
        for env in &policy.environments {
            reads.push(self.observe_env(policy, env, &product.manifest, scoped));
        }
        let ((components, components_done), envs) = futures_util::future::try_join(
            read_components,
            futures_util::future::try_join_all(reads),
        )
        .await?;
        let envs: Vec<EnvView> = envs;
        tracing::debug!(
            product_ms = product_read.as_millis() as u64,
            components_ms = (components_done - product_read).as_millis() as u64,
            all_ms = started.elapsed().as_millis() as u64,
            components = components.len(),
            "observed"
        );
        let mut product = product;
        // A product PR's CI deploy and PR environment live in the CI landscape.
        if let Some(ci) = policy
            .environments
            .iter()
            .find(|e| matches!(e.follows, crate::policy::Follows::ProductPrs))
        {
            if let Some(view) = envs.iter().find(|v| v.name == ci.name) {
                for pull in &mut product.pulls {
                    let key = pr_key(&product.repo, pull.pr.number);
                    pull.ci_deploy = view
                        .history
                        .iter()
                        .find(|c| {
                            c.trailers.get("Stagecoach-Action") == Some("bump")
                                && c.trailers.get("Stagecoach-Product") == Some(key.as_str())
                        })
                        .cloned();
                    pull.pr_env_present = view.pr_envs.contains(&pull.pr.number);
                }
            }
        }
        Ok(Snapshot {
            now,
            product,
            components,
            envs,
            gates_running: self.inflight.keys(),
        })
    }

    async fn pulls_of(&self, repo: &RepoId) -> Result<Vec<PullRequest>> {
        let mut pulls = self.forge.list_open_pulls(repo).await?;
        for p in self.forge.list_recent_pulls(repo, RECENT_PULLS).await? {
            if !pulls.iter().any(|o| o.number == p.number) {
                pulls.push(p);
            }
        }
        Ok(pulls)
    }

    /// The latest status per context on an open PR's head (a closed PR's
    /// checks decide nothing).
    async fn statuses_of(
        &self,
        repo: &RepoId,
        pr: &PullRequest,
    ) -> Result<BTreeMap<String, crate::forge::CommitStatus>> {
        if pr.state != PrState::Open {
            return Ok(BTreeMap::new());
        }
        Ok(self
            .forge
            .list_statuses(repo, &pr.head_sha)
            .await?
            .into_iter()
            .map(|s| (s.context.clone(), s))
            .collect())
    }

    async fn sticky_of(
        &self,
        repo: &RepoId,
        number: u64,
        me: &str,
    ) -> Result<BTreeMap<String, String>> {
        Ok(sticky_in(
            &self.forge.list_comments(repo, number).await?,
            me,
        ))
    }

    async fn observe_product(
        &self,
        policy: &Policy,
        me: &str,
        scoped: bool,
    ) -> Result<ProductView> {
        let repo = self.config.product_repo();
        let branch = self.config.product.branch.clone();
        let manifest_path = self.config.product.manifest.clone();
        let prefix = policy.versioning.tag_prefix.clone();
        let now = self.clock.now();
        let pulls = match self
            .scope
            .listing(&repo, now, LISTING_MAX_AGE)
            .filter(|_| scoped)
        {
            Some(pulls) => pulls,
            None => {
                let pulls = self.pulls_of(&repo).await?;
                self.scope.store_listing(&repo, now, &pulls);
                pulls
            }
        };
        let heads: Vec<(u64, String)> = pulls
            .iter()
            .filter(|p| p.state == PrState::Open)
            .map(|p| (p.number, p.head_sha.clone()))
            .collect();
        let source = repo.to_string();
        let bot_email = self.identity.email.clone();
        let known = self.product_reads.clone();
        let git = self
            .with_repo(&repo, move |ws| {
                let main_sha = ws
                    .branch_head(&branch)?
                    .ok_or_else(|| Error::input(format!("{source}: no branch `{branch}`")))?;
                let text = ws.read_file(&main_sha, &manifest_path)?.ok_or_else(|| {
                    Error::input(format!("{source}: no `{manifest_path}` on {branch}"))
                })?;
                let manifest = ProductManifest::parse(&text, &format!("{source}:{manifest_path}"))?;
                let repo2 = ws.repo();
                let main_oid = git2::Oid::from_str(&main_sha)?;
                let mut tags = Vec::new();
                for t in ws.tags()? {
                    let Some(version) = version::parse_tag(&t.name, &prefix) else {
                        continue;
                    };
                    let oid = git2::Oid::from_str(&t.sha)?;
                    let on_main = oid == main_oid
                        || repo2.graph_descendant_of(main_oid, oid).unwrap_or(false);
                    let manifest = match known.manifest(&t.sha) {
                        Some(m) => m,
                        None => {
                            let m = ws
                                .read_file(&t.sha, &manifest_path)?
                                .and_then(|text| ProductManifest::parse(&text, &t.name).ok());
                            known.put_manifest(&t.sha, m.clone());
                            m
                        }
                    };
                    let created_at = repo2
                        .find_commit(oid)
                        .ok()
                        .and_then(|c| chrono::DateTime::from_timestamp(c.time().seconds(), 0));
                    let note = ws.read_note(NOTES_STABILITY, &t.sha)?;
                    let samples = ws
                        .read_note(NOTES_SAMPLES, &t.sha)?
                        .map(|s| stability::parse_samples(&s))
                        .unwrap_or_default();
                    let rejections = ws
                        .read_note(NOTES_REJECTIONS, &t.sha)?
                        .map(|n| super::rejection::parse_note(&n))
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|e| e.tag == t.name)
                        .collect();
                    tags.push(ProductTag {
                        name: t.name.clone(),
                        version,
                        sha: t.sha.clone(),
                        on_main,
                        trailers: Trailers::parse(t.message.as_deref().unwrap_or("")),
                        manifest,
                        created_at,
                        note,
                        samples,
                        release: None,
                        rejections,
                    });
                }
                tags.sort_by(|a, b| a.version.cmp(&b.version));
                // Each open PR's change, against the commit it branched from.
                let mut changes = BTreeMap::new();
                for (number, head) in heads {
                    let read = match known.pull(&main_sha, &head) {
                        Some(read) => read,
                        None => {
                            let read = (
                                pr_changes(ws, &main_sha, &head, &manifest_path, &manifest),
                                branch_state(ws, &main_sha, &head, &bot_email),
                            );
                            known.put_pull(&main_sha, &head, read.clone());
                            read
                        }
                    };
                    changes.insert(number, read);
                }
                Ok((main_sha, manifest, tags, changes))
            })
            .await?;
        let (main_sha, manifest, mut tags, mut changes) = git;
        let releases = match self.scope.releases(now, LISTING_MAX_AGE).filter(|_| scoped) {
            Some(releases) => releases,
            None => {
                let releases = self.forge.list_releases(&repo).await?;
                self.scope.store_releases(now, &releases);
                releases
            }
        };
        for t in &mut tags {
            t.release = releases.iter().find(|r| r.tag_name == t.name).cloned();
        }
        let mut views = Vec::new();
        let mut pr_branches = BTreeMap::new();
        for pr in pulls {
            pr_branches.insert(pr.head_ref.clone(), pr.number);
            let cached = if scoped {
                self.scope.product_pull(&repo, &pr)
            } else {
                None
            };
            let detail = match cached {
                Some(d) => d,
                None => {
                    let d = self.product_pull_detail(policy, &repo, &pr, me).await?;
                    self.scope.store_product_pull(&pr, &d);
                    d
                }
            };
            let super::scope::ProductPullDetail {
                statuses,
                reviews,
                approve_comments,
                approvers,
                sticky,
            } = detail;
            let (changes, (branch, bump_from)) = changes
                .remove(&pr.number)
                .unwrap_or((Ok(Vec::new()), (BranchState::default(), None)));
            views.push(ProductPull {
                pr,
                changes,
                statuses,
                reviews,
                approve_comments,
                approvers,
                ci_deploy: None,
                pr_env_present: false,
                sticky,
                branch,
                bump_from,
            });
        }
        Ok(ProductView {
            repo,
            branch: self.config.product.branch.clone(),
            main_sha,
            manifest,
            tags,
            pulls: views,
            pr_branches,
        })
    }

    /// What a product PR's statuses, reviews and comments say (the requests
    /// a pass may skip when the PR did not move).
    async fn product_pull_detail(
        &self,
        policy: &Policy,
        repo: &RepoId,
        pr: &PullRequest,
        me: &str,
    ) -> Result<super::scope::ProductPullDetail> {
        let statuses = self.statuses_of(repo, pr).await?;
        // One read of an open PR's comments serves approvals and sticky comments.
        let mut open_sticky = None;
        let (reviews, approve_comments, approvers) = if pr.state == PrState::Open {
            let reviews = self.forge.list_reviews(repo, pr.number).await?;
            let comments = self.forge.list_comments(repo, pr.number).await?;
            open_sticky = Some(sticky_in(&comments, me));
            let approve_comments: Vec<(String, u64)> = comments
                .iter()
                .filter(|c| {
                    c.author != me
                        && c.body.trim().lines().next().map(str::trim) == Some("/approve")
                })
                .map(|c| (c.author.clone(), c.id))
                .collect();
            let mut who: BTreeSet<String> = reviews
                .iter()
                .filter(|r| r.state == crate::forge::ReviewState::Approved)
                .map(|r| r.author.clone())
                .collect();
            who.extend(approve_comments.iter().map(|(a, _)| a.clone()));
            let mut approvers = BTreeMap::new();
            for user in who {
                let a = authority::resolve(
                    self.forge.as_ref(),
                    repo,
                    "approvers",
                    &policy.people.approvers,
                    &user,
                )
                .await?;
                approvers.insert(user, a);
            }
            (reviews, approve_comments, approvers)
        } else {
            (Vec::new(), Vec::new(), BTreeMap::new())
        };
        let sticky = match open_sticky {
            Some(sticky) => sticky,
            None if pr.merged => self.sticky_of(repo, pr.number, me).await?,
            None => BTreeMap::new(),
        };
        Ok(super::scope::ProductPullDetail {
            statuses,
            reviews,
            approve_comments,
            approvers,
            sticky,
        })
    }

    async fn observe_component(
        &self,
        policy: &Policy,
        name: String,
        repo: RepoId,
        me: &str,
        scoped: bool,
    ) -> Result<ComponentView> {
        let pulls = self.pulls_of(&repo).await?;
        let merges: Vec<(u64, String)> = pulls
            .iter()
            .filter_map(|p| {
                p.merge_commit_sha
                    .clone()
                    .filter(|_| p.merged)
                    .map(|m| (p.number, m))
            })
            .collect();
        let prefix = policy.component_tag_prefix(&name).to_owned();
        let bot_tags = policy.versioning.tagging == Tagging::Bot;
        let rules = policy.versioning.bumps.clone();
        let (tags, released, untagged_next) = self
            .with_repo(&repo, move |ws| {
                // Releases are the prefix and semver, not pre-releases (as
                // `version next` counts them): a `v1.5.0-rc.1` is no version
                // for the product to pin. The others are kept to say why a
                // merged change waits.
                let mut tags: Vec<(Version, String, String)> = Vec::new();
                let mut others: Vec<(String, String)> = Vec::new();
                for t in ws.tags()? {
                    match version::parse_tag(&t.name, &prefix).filter(|v| v.pre.is_empty()) {
                        Some(v) => tags.push((v, t.name, t.sha)),
                        None => others.push((t.name, t.sha)),
                    }
                }
                tags.sort();
                let r = ws.repo();
                let contains = |tag: &str, m: git2::Oid| {
                    git2::Oid::from_str(tag)
                        .map(|t| t == m || r.graph_descendant_of(t, m).unwrap_or(false))
                        .unwrap_or(false)
                };
                let mut released = BTreeMap::new();
                let mut ignored: BTreeMap<u64, Vec<(String, String)>> = BTreeMap::new();
                for (number, merge) in merges {
                    let Ok(m) = git2::Oid::from_str(&merge) else {
                        continue;
                    };
                    let first = tags.iter().find(|(_, _, sha)| contains(sha, m));
                    if let Some((v, _, _)) = first {
                        released.insert(number, v.clone());
                        continue;
                    }
                    for (name, _) in others.iter().filter(|(_, sha)| contains(sha, m)) {
                        let reason = crate::git::history::why_ignored(name, &prefix)
                            .unwrap_or_else(|| format!("not {prefix:?} and a semver version"));
                        ignored
                            .entry(number)
                            .or_default()
                            .push((name.clone(), reason));
                    }
                }
                let untagged_next = if bot_tags {
                    let head = ws.branch_head("main")?;
                    match head {
                        Some(head) => {
                            let next = history::next_version(r, None, &head, &prefix, &rules)?;
                            next.next.map(|v| (v, head))
                        }
                        None => None,
                    }
                } else {
                    None
                };
                Ok((tags, (released, ignored), untagged_next))
            })
            .await?;
        let (released, mut ignored) = released;
        let mut views = Vec::new();
        for pr in pulls {
            let cached = if scoped {
                self.scope.component_pull(&repo, &pr)
            } else {
                None
            };
            let detail = match cached {
                Some(d) => d,
                None => {
                    let d = self.component_pull_detail(policy, &repo, &pr, me).await?;
                    self.scope.store_component_pull(&repo, &pr, &d);
                    d
                }
            };
            let super::scope::ComponentPullDetail {
                statuses,
                hotfix_actor,
                sticky,
            } = detail;
            views.push(ComponentPull {
                released_in: released.get(&pr.number).cloned(),
                ignored_tags: ignored.remove(&pr.number).unwrap_or_default(),
                pr,
                statuses,
                hotfix_actor,
                sticky,
            });
        }
        Ok(ComponentView {
            name: name.to_string(),
            repo,
            tags,
            pulls: views,
            untagged_next,
        })
    }

    /// What a component PR's statuses, label events and comments say.
    async fn component_pull_detail(
        &self,
        policy: &Policy,
        repo: &RepoId,
        pr: &PullRequest,
        me: &str,
    ) -> Result<super::scope::ComponentPullDetail> {
        let statuses = self.statuses_of(repo, pr).await?;
        let parsed = labels::parse_labels(policy, &pr.labels);
        let hotfix_actor = match &parsed.hotfix_to {
            Some(v) => {
                let label = crate::engine::text::fill(&policy.labels.hotfix, &v.to_string());
                let actor = self
                    .forge
                    .label_events(repo, pr.number)
                    .await?
                    .into_iter()
                    .rev()
                    .find(|e| e.added && e.label == label)
                    .map(|e| e.actor);
                match actor {
                    Some(actor) => {
                        let a = authority::resolve(
                            self.forge.as_ref(),
                            &self.config.product_repo(),
                            "hotfixers",
                            &policy.people.hotfixers,
                            &actor,
                        )
                        .await?;
                        Some((actor, a))
                    }
                    None => None,
                }
            }
            None => None,
        };
        // Closed-unmerged PRs are not ours to talk about.
        let sticky = if pr.state == PrState::Open || pr.merged {
            self.sticky_of(repo, pr.number, me).await?
        } else {
            BTreeMap::new()
        };
        Ok(super::scope::ComponentPullDetail {
            statuses,
            hotfix_actor,
            sticky,
        })
    }

    async fn observe_env(
        &self,
        policy: &Policy,
        env: &Environment,
        manifest: &ProductManifest,
        scoped: bool,
    ) -> Result<EnvView> {
        let repo =
            RepoId::parse(&env.repo).map_err(|e| e.context(format!("environment {}", env.name)))?;
        let env2 = env.clone();
        let components: Vec<String> = manifest.components.keys().cloned().collect();
        // What a landscape says at one commit never changes: read it once per
        // head (and policy and component list), not on every pass — at 1,000
        // components that is thousands of files and a long walk each time.
        let reading = format!("{env:?}\0{}", components.join("\0"));
        let known = self.landscape_reads.get(&env.name);
        let read_for = reading.clone();
        let (head_sha, versions, mut history, pr_envs) = self
            .with_repo(&repo, move |ws| {
                let head = ws.branch_head(&env2.branch)?.ok_or_else(|| {
                    Error::input(format!("{}: no branch `{}`", env2.repo, env2.branch))
                })?;
                if let Some(known) = known.filter(|k| k.head == head && k.reading == read_for) {
                    return Ok((
                        head,
                        known.versions.clone(),
                        known.history.clone(),
                        known.pr_envs.clone(),
                    ));
                }
                let mut versions: BTreeMap<String, BTreeMap<String, Version>> = BTreeMap::new();
                for cluster in &env2.clusters {
                    for component in &components {
                        for target in &env2.files {
                            let path = landscape_path(&target.path, &env2.name, cluster, component);
                            let Some(text) = ws.read_file(&head, &path)? else {
                                continue;
                            };
                            let key = landscape_path(&target.key, &env2.name, cluster, component);
                            if let Ok(Some(v)) = yaml_edit::get_scalar(&text, &key) {
                                if let Ok(v) = Version::parse(v.trim_start_matches('v')) {
                                    versions
                                        .entry(cluster.clone())
                                        .or_default()
                                        .insert(component.clone(), v);
                                }
                            }
                        }
                    }
                }
                // The bot's own commits only: a person (or another tool)
                // committing often must not push the record out of sight
                // (seen: a deploy not found, so deployed again every pass).
                let log = ws.log_where(&head, LANDSCAPE_HISTORY, LANDSCAPE_WALK, |c| {
                    c.trailers.get(trailer::ACTION).is_some()
                        || c.trailers.get(trailer::REVERTS).is_some()
                })?;
                let reverted: BTreeSet<String> = log
                    .iter()
                    .flat_map(|c| {
                        c.trailers
                            .get_all("Stagecoach-Reverts")
                            .into_iter()
                            .map(str::to_string)
                    })
                    .collect();
                let history: Vec<LandscapeCommit> = log
                    .into_iter()
                    .filter(|c| c.trailers.get("Stagecoach-Action").is_some())
                    .map(|c| LandscapeCommit {
                        reverted: reverted.contains(&c.sha),
                        sha: c.sha,
                        time: c.time,
                        trailers: c.trailers,
                        health: None,
                        health_at: None,
                    })
                    .collect();
                let pr_envs = match &env2.pr_envs {
                    Some(template) => {
                        let dir = template
                            .split("{number}")
                            .next()
                            .unwrap_or("")
                            .trim_end_matches('/');
                        let dir = dir.rsplit_once('/').map(|(d, _)| d).unwrap_or(dir);
                        ws.list_dir(&head, dir)?
                            .iter()
                            .filter_map(|p| {
                                p.rsplit('/')
                                    .next()
                                    .and_then(|n| n.strip_prefix("pr-"))
                                    .and_then(|n| n.parse().ok())
                            })
                            .collect::<BTreeSet<u64>>()
                            .into_iter()
                            .collect()
                    }
                    None => Vec::new(),
                };
                Ok((head, versions, history, pr_envs))
            })
            .await?;
        self.landscape_reads.put(
            &env.name,
            LandscapeRead {
                head: head_sha.clone(),
                reading,
                versions: versions.clone(),
                history: history.clone(),
                pr_envs: pr_envs.clone(),
            },
        );
        // The health verdicts of the newest promotions (the record of a wave).
        for c in history
            .iter_mut()
            .filter(|c| c.trailers.get("Stagecoach-Action") == Some("promote"))
            .take(8)
        {
            // Read once; a status hint or the end of the bot's own watch
            // makes it read again.
            let verdict = match self.scope.health(&repo, &c.sha).filter(|_| scoped) {
                Some(known) => known,
                None => {
                    let verdict = self
                        .forge
                        .list_statuses(&repo, &c.sha)
                        .await?
                        .into_iter()
                        .find(|s| s.context == HEALTH_CONTEXT)
                        .filter(|s| s.state != StatusState::Pending)
                        .map(|s| (s.state, s.updated_at));
                    self.scope.store_health(&repo, &c.sha, verdict);
                    verdict
                }
            };
            c.health = verdict.map(|(state, _)| state);
            c.health_at = verdict.and_then(|(_, at)| at);
        }
        let (asks, reject_asks) = if env.manual {
            self.promotion_asks(policy, &repo, scoped).await?
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(EnvView {
            name: env.name.clone(),
            repo,
            head_sha,
            versions,
            history,
            pr_envs,
            asks,
            reject_asks,
        })
    }
}

impl Engine {
    /// The newest `/promote` and `/reject` (or `/unreject`) comment of each
    /// open PR on a landscape repo, with what the policy and the forge say
    /// of their authors.
    async fn promotion_asks(
        &self,
        policy: &Policy,
        repo: &RepoId,
        scoped: bool,
    ) -> Result<(Vec<PromotionAsk>, Vec<RejectAsk>)> {
        let mut asks = Vec::new();
        let mut rejects = Vec::new();
        let now = self.clock.now();
        let open = match self
            .scope
            .listing(repo, now, LISTING_MAX_AGE)
            .filter(|_| scoped)
        {
            Some(open) => open,
            None => {
                let open = self.forge.list_open_pulls(repo).await?;
                self.scope.store_listing(repo, now, &open);
                open
            }
        };
        for pr in open {
            let cached = if scoped {
                self.scope.ask(repo, &pr)
            } else {
                None
            };
            let ask = match cached {
                Some(ask) => ask,
                None => {
                    let ask = self.promotion_ask(policy, repo, pr.number).await?;
                    self.scope.store_ask(repo, &pr, &ask);
                    ask
                }
            };
            asks.extend(ask.promote);
            rejects.extend(ask.reject);
        }
        Ok((asks, rejects))
    }

    /// The newest `/promote` and `/reject` comments of one landscape PR.
    async fn promotion_ask(
        &self,
        policy: &Policy,
        repo: &RepoId,
        number: u64,
    ) -> Result<LandscapeAsks> {
        let me = self.me().await?;
        let product = self.config.product_repo();
        let comments = self.forge.list_comments(repo, number).await?;
        let sticky = sticky_in(&comments, &me);
        let promoter = |by: String| {
            let forge = self.forge.clone();
            let product = product.clone();
            async move {
                authority::resolve(
                    forge.as_ref(),
                    &product,
                    "promoters",
                    &policy.people.promoters,
                    &by,
                )
                .await
            }
        };
        let newest_reject = comments.iter().rev().find_map(|c| {
            (c.author != me)
                .then(|| rejection::parse_command(&c.body).map(|p| (c.id, c.author.clone(), p)))
                .flatten()
        });
        let reject = match newest_reject {
            Some((comment, by, (tag, undo, reason))) => Some(RejectAsk {
                pr: number,
                comment,
                as_promoter: promoter(by.clone()).await?,
                by,
                tag,
                undo,
                reason,
                sticky: sticky.clone(),
            }),
            None => None,
        };
        let newest = comments.iter().rev().find_map(|c| {
            (c.author != me)
                .then(|| {
                    parse_promote_command(&c.body).map(|p| (c.author.clone(), c.created_at, p))
                })
                .flatten()
        });
        let Some((by, asked_at, (tag, override_reason))) = newest else {
            return Ok(LandscapeAsks {
                promote: None,
                reject,
            });
        };
        let as_promoter = promoter(by.clone()).await?;
        let as_hotfixer = authority::resolve(
            self.forge.as_ref(),
            &product,
            "hotfixers",
            &policy.people.hotfixers,
            &by,
        )
        .await?;
        Ok(LandscapeAsks {
            promote: Some(PromotionAsk {
                pr: number,
                by,
                tag,
                override_reason,
                asked_at,
                as_promoter,
                as_hotfixer,
                sticky,
            }),
            reject,
        })
    }
}

/// The bot's sticky comments among a PR's comments, by topic.
fn sticky_in(comments: &[crate::forge::Comment], me: &str) -> BTreeMap<String, String> {
    let mut sticky = BTreeMap::new();
    for c in comments.iter().filter(|c| c.author == me) {
        if let Some(rest) = c.body.strip_prefix("<!-- stagecoach:") {
            if let Some((topic, body)) = rest.split_once(" -->\n") {
                sticky.insert(topic.to_string(), body.to_string());
            }
        }
    }
    sticky
}

/// `Stagecoach-Product` value of a product PR: `acme/product#12`.
pub fn pr_key(repo: &RepoId, number: u64) -> String {
    format!("{repo}#{number}")
}

/// A landscape file path for one component on one cluster.
/// A `files[].path` or `files[].key` of an environment with its
/// placeholders filled: the key may name the component too (one file per
/// cluster, `{component}.image.tag`), so both are filled alike.
pub fn landscape_path(template: &str, env: &str, cluster: &str, component: &str) -> String {
    template
        .replace("{env}", env)
        .replace("{cluster}", cluster)
        .replace("{component}", component)
}

/// What a PR head changes in the manifest relative to where it branched
/// from main, so main moving on is never mistaken for the PR's change.
fn pr_changes(
    ws: &Workspace,
    main_sha: &str,
    head: &str,
    path: &str,
    main_manifest: &ProductManifest,
) -> std::result::Result<Vec<ComponentChange>, String> {
    let r = ws.repo();
    let (Ok(main), Ok(head_oid)) = (git2::Oid::from_str(main_sha), git2::Oid::from_str(head))
    else {
        return Err("bad commit id".into());
    };
    let base = r
        .merge_base(main, head_oid)
        .map_err(|_| "the PR's head commit is not in the product repository".to_string())?;
    let read = |rev: &str| -> std::result::Result<ProductManifest, String> {
        let text = ws
            .read_file(rev, path)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("`{path}` is missing"))?;
        ProductManifest::parse(&text, path).map_err(|e| e.to_string())
    };
    let base_manifest = if base == main {
        main_manifest.clone()
    } else {
        read(&base.to_string())?
    };
    let head_manifest = read(head)?;
    let changes = super::tag::manifest_changes(&base_manifest, &head_manifest);
    if !changes.is_empty() {
        // The bot deploys and may merge a bump by itself: it must be only a
        // bump, or a policy or gate change would ride along unreviewed.
        let others = other_changed_files(r, base, head_oid, path)?;
        if !others.is_empty() {
            return Err(format!(
                "it bumps a component and also changes {}; a product PR the bot deploys and merges may change only `{path}`. Put the other changes in their own PR, for people to review",
                others.join(", ")
            ));
        }
    }
    Ok(changes)
}

/// Paths other than `path` that differ between two commits.
fn other_changed_files(
    r: &git2::Repository,
    base: git2::Oid,
    head: git2::Oid,
    path: &str,
) -> std::result::Result<Vec<String>, String> {
    let tree = |oid| {
        r.find_commit(oid)
            .and_then(|c| c.tree())
            .map_err(|e| format!("cannot read commit {oid}: {e}"))
    };
    let (old, new) = (tree(base)?, tree(head)?);
    let diff = r
        .diff_tree_to_tree(Some(&old), Some(&new), None)
        .map_err(|e| format!("cannot compare the PR with main: {e}"))?;
    let mut others: Vec<String> = diff
        .deltas()
        .filter_map(|d| d.new_file().path().or_else(|| d.old_file().path()))
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| p != path)
        .collect();
    others.sort();
    others.dedup();
    Ok(others)
}

fn is_bump(c: &git2::Commit<'_>) -> bool {
    Trailers::parse(c.message().unwrap_or("")).get(trailer::ACTION) == Some(trailer::action::BUMP)
}

/// Whether these commits (what main gained) are only bumps and the merges
/// that brought them: nothing a bump's verdicts did not already cover.
fn only_bumps<'a, 'r: 'a>(mut gained: impl Iterator<Item = &'a git2::Commit<'r>>) -> bool {
    gained.all(|c| c.parent_count() > 1 || is_bump(c))
}

/// Whether `main` moved on from `head`'s branch, and only by bumps, read
/// from git at the moment of acting (a merge re-checks what its decision
/// saw). A branch not behind main is not: there is nothing to rebuild on.
pub(super) fn main_moved_on_by_bumps_only(r: &git2::Repository, main: &str, head: &str) -> bool {
    let (Ok(main), Ok(head)) = (git2::Oid::from_str(main), git2::Oid::from_str(head)) else {
        return false;
    };
    let Ok(base) = r.merge_base(main, head) else {
        return false;
    };
    let Ok(mut walk) = r.revwalk() else {
        return false;
    };
    if walk.push(main).is_err() || walk.hide(base).is_err() {
        return false;
    }
    // A commit that cannot be read is not known to be a bump.
    let gained: Option<Vec<git2::Commit<'_>>> = walk
        .map(|oid| oid.ok().and_then(|oid| r.find_commit(oid).ok()))
        .collect();
    gained.is_some_and(|g| !g.is_empty() && only_bumps(g.iter()))
}

/// Where a PR's branch stands against main (see `BranchState`), and the
/// `Stagecoach-From` of its newest bump commit. Read from git only.
fn branch_state(
    ws: &Workspace,
    main_sha: &str,
    head: &str,
    bot_email: &str,
) -> (BranchState, Option<String>) {
    let r = ws.repo();
    let (Ok(main), Ok(head)) = (git2::Oid::from_str(main_sha), git2::Oid::from_str(head)) else {
        return (BranchState::default(), None);
    };
    let Ok(base) = r.merge_base(main, head) else {
        return (BranchState::default(), None);
    };
    // Commits reachable from `tip` but not from `base`, newest first.
    let since = |tip: git2::Oid| -> Vec<git2::Commit<'_>> {
        let Ok(mut walk) = r.revwalk() else {
            return Vec::new();
        };
        if walk.push(tip).is_err() || walk.hide(base).is_err() {
            return Vec::new();
        }
        walk.filter_map(|oid| oid.ok().and_then(|oid| r.find_commit(oid).ok()))
            .collect()
    };
    let on_branch = since(head);
    let bot_owned = !on_branch.is_empty()
        && on_branch
            .iter()
            .all(|c| is_bump(c) && c.committer().email().ok() == Some(bot_email));
    let bump_from = on_branch.iter().find(|c| is_bump(c)).and_then(|c| {
        Trailers::parse(c.message().unwrap_or(""))
            .get(trailer::FROM)
            .map(str::to_string)
    });
    let main_gained_only_bumps = only_bumps(since(main).iter());
    (
        BranchState {
            bot_owned,
            behind: base != main,
            main_gained_only_bumps,
        },
        bump_from,
    )
}
