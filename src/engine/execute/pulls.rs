//! Acting on pull requests: risk labels, opening a product PR, rebuilding
//! the bot's own bump branch on a new main, and merging (a refused merge is
//! recorded as a state, never retried blindly).

use crate::error::{Error, Result};
use crate::forge::{CommitStatus, MergeMethod, MergeOutcome, NewPull, RepoId, StatusState};
use crate::git::trailers::Trailers;
use crate::git::workspace::{FileChange, Outcome, Rebuilt};
use crate::manifest::product as product_manifest;
use crate::policy::{Policy, RiskLevel};

use super::super::Engine;
use super::super::action::{MergeRebuild, context, short};
use super::super::snapshot::{ComponentChange, Snapshot};
use super::super::trailer;
use super::super::{component, text};
use super::set_status;

impl Engine {
    pub(super) async fn set_risk_label(
        &self,
        policy: &Policy,
        snap: &Snapshot,
        pr: u64,
        level: RiskLevel,
        remove: &[String],
    ) -> Result<String> {
        let product = &snap.product.repo;
        for l in remove {
            self.forge.remove_label(product, pr, l).await?;
        }
        self.forge
            .add_labels(product, pr, &[policy.label_for_risk(level)])
            .await?;
        Ok(format!("labelled risk: {level}"))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn open_product_pr(
        &self,
        policy: &Policy,
        snap: &Snapshot,
        change: &ComponentChange,
        sources: &[u64],
        labels: &[String],
        branch: &str,
        reason: &str,
    ) -> Result<String> {
        let product = snap.product.repo.clone();
        let component_repo = self.component_repo(snap, &change.component)?;
        // Open, not re-open: a PR for this branch may exist from a previous run.
        let existing = self
            .forge
            .list_open_pulls(&product)
            .await?
            .into_iter()
            .find(|p| p.head_ref == branch);
        let number = match existing {
            // Opened before a crash: finish the job (labels first).
            Some(p) => {
                let missing: Vec<String> = labels
                    .iter()
                    .filter(|l| !p.labels.contains(l))
                    .cloned()
                    .collect();
                if !missing.is_empty() {
                    self.forge.add_labels(&product, p.number, &missing).await?;
                }
                p.number
            }
            None => {
                let trailers = bump_trailers(change, &component_repo, sources);
                let base = self.config.product.branch.clone();
                self.commit_bump(
                    &product,
                    branch,
                    &base,
                    change,
                    &bump_message(change),
                    &trailers,
                )
                .await?;
                let log = self
                    .changelog(policy, snap, None, std::slice::from_ref(change))
                    .await?;
                let body = format!(
                    "Bumps **{}** from {} to {} ({reason}).\n\nFrom: {}\n\n{log}\n\n---\nOpened by Stagecoach. Risk is computed from the labels and shown in a comment; the CI landscape, gates and merge follow the product policy. The branch is the bot's: when main moves, Stagecoach rebuilds it on the new main. Push to it and it becomes yours.",
                    change.component,
                    change.from,
                    change.to,
                    sources
                        .iter()
                        .map(|n| format!("{component_repo}#{n}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
                let pr = self
                    .forge
                    .create_pull(
                        &product,
                        &NewPull {
                            title: format!("{}: {} → {}", change.component, change.from, change.to),
                            body,
                            head: branch.to_string(),
                            base: self.config.product.branch.clone(),
                        },
                    )
                    .await?;
                if !labels.is_empty() {
                    self.forge.add_labels(&product, pr.number, labels).await?;
                }
                pr.number
            }
        };
        for n in sources {
            self.forge
                .upsert_sticky_comment(
                    &component_repo,
                    *n,
                    "product",
                    &component::released_comment(&change.component, &change.to, &product, number),
                )
                .await?;
        }
        Ok(format!("product PR #{number}"))
    }

    /// Rebuild the bot's bump branch of product PR `pr` on the product's
    /// main as it is now: the same one-line edit, one commit, pushed with a
    /// lease on `old_head` (if anyone moved the branch, nothing is pushed).
    /// The statuses in `carry` are set on the new head, so a verdict that
    /// still holds is not earned twice.
    pub(super) async fn rebuild_product_pr(
        &self,
        snap: &Snapshot,
        pr: u64,
        branch: &str,
        old_head: &str,
        change: &ComponentChange,
        carry: &[CommitStatus],
    ) -> Result<String> {
        let main = self.config.product.branch.clone();
        match self
            .rebuild_bump(snap, pr, branch, old_head, change, carry, &main)
            .await?
        {
            Rebuilt::Pushed { sha } => Ok(format!("rebuilt on main as {}", short(&sha))),
            Rebuilt::Moved { head } => Ok(format!(
                "not rebuilt: the branch moved to {} since it was read",
                short(&head)
            )),
        }
    }

    /// Rebuild the bot's bump branch as one commit on `base` (main, or the
    /// commit of main a merge just checked), set the carried verdicts on the
    /// new head and say so on the PR.
    #[allow(clippy::too_many_arguments)]
    async fn rebuild_bump(
        &self,
        snap: &Snapshot,
        pr: u64,
        branch: &str,
        old_head: &str,
        change: &ComponentChange,
        carry: &[CommitStatus],
        base: &str,
    ) -> Result<Rebuilt> {
        let product = snap.product.repo.clone();
        let manifest_path = self.config.product.manifest.clone();
        let sources = self
            .bump_sources(snap, pr)
            .unwrap_or_else(|| format!("{product}#{pr}"));
        let trailers = Trailers::new()
            .with(trailer::ACTION, trailer::action::BUMP)
            .with(
                trailer::COMPONENT,
                format!("{}@{}", change.component, change.to),
            )
            .with(trailer::FROM, sources)
            .with(trailer::REBUILT_FROM, old_head.to_string());
        let message = bump_message(change);
        let (branch2, old2, change2) = (branch.to_string(), old_head.to_string(), change.clone());
        let base = base.to_string();
        let rebuilt = self
            .with_repo(&product, move |ws| {
                ws.rebuild_branch(&branch2, &base, &old2, &message, &trailers, &mut |tree| {
                    bump_edit(tree, &manifest_path, &change2)
                })
            })
            .await?;
        if let Rebuilt::Pushed { sha } = &rebuilt {
            for status in carry {
                set_status(
                    self.forge.as_ref(),
                    &product,
                    sha,
                    &status.context,
                    status.state,
                    &format!("{} (carried from {})", status.description, short(old_head)),
                )
                .await?;
            }
            let what = if carry.is_empty() {
                "CI runs again on the new head".to_string()
            } else {
                "its verdicts carry over: main only gained other verified bumps".to_string()
            };
            self.forge
                .upsert_sticky_comment(
                    &product,
                    pr,
                    "rebase",
                    &format!(
                        "Main moved, so Stagecoach rebuilt this bump on it ({} → {}); {what}.",
                        short(old_head),
                        short(sha)
                    ),
                )
                .await?;
        }
        Ok(rebuilt)
    }

    /// The `Stagecoach-From` of a bump PR's first commit: where it came from.
    fn bump_sources(&self, snap: &Snapshot, pr: u64) -> Option<String> {
        snap.product
            .pulls
            .iter()
            .find(|p| p.pr.number == pr)
            .and_then(|p| p.bump_from.clone())
    }

    /// Close a product PR (closing a closed one changes nothing).
    pub(super) async fn close_pull(&self, snap: &Snapshot, pr: u64) -> Result<String> {
        self.forge.close_pull(&snap.product.repo, pr).await?;
        Ok(format!("closed product#{pr}"))
    }

    pub(super) async fn merge(
        &self,
        snap: &Snapshot,
        pr: u64,
        head_sha: &str,
        rebuild: Option<&MergeRebuild>,
    ) -> Result<String> {
        let product = &snap.product.repo;
        let reason = match self
            .forge
            .merge_pull(product, pr, MergeMethod::Merge, head_sha)
            .await?
        {
            MergeOutcome::Merged { sha } => return Ok(format!("merged as {}", short(&sha))),
            MergeOutcome::Refused {
                reason,
                head_moved: true,
            } => {
                return Ok(format!(
                    "merge refused, the head moved: {reason}; next pass tries again"
                ));
            }
            MergeOutcome::Refused { reason, .. } => reason,
        };
        let (head, main) = match rebuild {
            Some(plan) => match self.rebuild_on_bumps(snap, pr, head_sha, plan).await? {
                OnBumps::Rebuilt { sha, main } => {
                    match self
                        .forge
                        .merge_pull(product, pr, MergeMethod::Merge, &sha)
                        .await?
                    {
                        MergeOutcome::Merged { sha: merged } => {
                            return Ok(format!(
                                "rebuilt on main as {} (git could not merge it as it was: {reason}) and merged as {}",
                                short(&sha),
                                short(&merged)
                            ));
                        }
                        MergeOutcome::Refused { reason, .. } => {
                            return self.merge_refused(product, pr, &sha, &main, &reason).await;
                        }
                    }
                }
                OnBumps::Moved { head } => {
                    return Ok(format!(
                        "merge refused ({reason}) and not rebuilt: the branch moved to {} since it was read",
                        short(&head)
                    ));
                }
                OnBumps::NotOnlyBumps => (head_sha.to_string(), snap.product.main_sha.clone()),
            },
            None => (head_sha.to_string(), snap.product.main_sha.clone()),
        };
        self.merge_refused(product, pr, &head, &main, &reason).await
    }

    /// Git could not merge a green bump as it is: if main, as it is now,
    /// moved on from the branch by other bumps only, rebuild the branch
    /// on that very commit of main with the verdicts carried.
    async fn rebuild_on_bumps(
        &self,
        snap: &Snapshot,
        pr: u64,
        head_sha: &str,
        plan: &MergeRebuild,
    ) -> Result<OnBumps> {
        let main_branch = self.config.product.branch.clone();
        let old = head_sha.to_string();
        let main = self
            // Opening the workspace fetched it: main as it is now.
            .with_repo(&snap.product.repo, move |ws| {
                Ok(ws.branch_head(&main_branch)?.filter(|main| {
                    super::super::observe::main_moved_on_by_bumps_only(ws.repo(), main, &old)
                }))
            })
            .await?;
        let Some(main) = main else {
            return Ok(OnBumps::NotOnlyBumps);
        };
        Ok(
            match self
                .rebuild_bump(
                    snap,
                    pr,
                    &plan.branch,
                    head_sha,
                    &plan.change,
                    &plan.carry,
                    &main,
                )
                .await?
            {
                Rebuilt::Pushed { sha } => OnBumps::Rebuilt { sha, main },
                Rebuilt::Moved { head } => OnBumps::Moved { head },
            },
        )
    }

    /// A refused merge is a state, not a retry: recorded on the head with
    /// the main it was refused at; the decision waits for main or the head
    /// to move (or rebuilds the bot's own branch).
    async fn merge_refused(
        &self,
        product: &RepoId,
        pr: u64,
        head_sha: &str,
        main_sha: &str,
        reason: &str,
    ) -> Result<String> {
        set_status(
            self.forge.as_ref(),
            product,
            head_sha,
            context::MERGE,
            StatusState::Failure,
            &format!("merge refused at main {}: {}", short(main_sha), reason),
        )
        .await?;
        self.forge
            .upsert_sticky_comment(
                product,
                pr,
                "merge",
                &format!(
                    "Stagecoach could not merge: {}. It tries again when main or this PR moves.",
                    text::inert(reason)
                ),
            )
            .await?;
        Ok(format!("merge refused: {reason}"))
    }

    /// Commit one component's new version into `product.yaml` on `branch`
    /// (made from `base` when new): the product PR's and the hotfix's change.
    pub(super) async fn commit_bump(
        &self,
        product: &RepoId,
        branch: &str,
        base: &str,
        change: &ComponentChange,
        message: &str,
        trailers: &Trailers,
    ) -> Result<Outcome> {
        let manifest_path = self.config.product.manifest.clone();
        let (branch, base, change) = (branch.to_string(), base.to_string(), change.clone());
        let (message, trailers) = (message.to_string(), trailers.clone());
        self.with_repo(product, move |ws| {
            ws.update_branch(&branch, Some(&base), &message, &trailers, &mut |tree| {
                bump_edit(tree, &manifest_path, &change)
            })
        })
        .await
    }
}

/// The edit of a bump: one component's version in the manifest.
fn bump_edit(
    tree: &crate::git::workspace::TreeView,
    manifest_path: &str,
    change: &ComponentChange,
) -> Result<Vec<FileChange>> {
    let text = tree
        .read_file(manifest_path)?
        .ok_or_else(|| Error::input(format!("no `{manifest_path}`")))?;
    let new = product_manifest::set_component_version(&text, &change.component, &change.to)?;
    Ok(vec![FileChange {
        path: manifest_path.to_string(),
        content: Some(new),
    }])
}

fn bump_message(change: &ComponentChange) -> String {
    format!(
        "feat({}): {} {} → {}",
        change.component, change.component, change.from, change.to
    )
}

fn bump_trailers(change: &ComponentChange, component_repo: &RepoId, sources: &[u64]) -> Trailers {
    Trailers::new()
        .with(trailer::ACTION, trailer::action::BUMP)
        .with(
            trailer::COMPONENT,
            format!("{}@{}", change.component, change.to),
        )
        .with(
            trailer::FROM,
            format!(
                "{component_repo}#{}",
                sources
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(",#")
            ),
        )
}

/// What became of a bump git could not merge as it was.
enum OnBumps {
    /// Rebuilt on `main` as `sha`, verdicts carried.
    Rebuilt { sha: String, main: String },
    /// The branch moved since it was read: the next pass looks again.
    Moved { head: String },
    /// Main did not move on from the branch, or gained something other
    /// than bumps: the refusal is recorded and the next pass decides (a
    /// rebuild with CI again, or a wait).
    NotOnlyBumps,
}
