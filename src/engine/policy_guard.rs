//! The policy guard: a policy on main that does not parse never stops the bot silently.
//!
//! Each pass reads the policy from the product's main. When it parses, it
//! becomes the last good policy. When it does not (a duplicate key, a cron
//! that never fires, a deleted file), the bot keeps working on the last good
//! policy — kept in memory, or found again in git after a restart: the newest
//! commit on main whose policy parses — or, with none, stops acting. Either
//! way it says so where people look: a failing `stagecoach/policy` status on
//! the offending commit with the one-line error, [`PolicyHealth`] for the
//! dashboard's banner, `/readyz` and the `stagecoach_policy_ok` gauge. The
//! fixing commit gets a success status and everything clears.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Engine;
use crate::error::{Error, Result};
use crate::forge::{CommitStatus, StatusState};
use crate::policy::Policy;

/// Commit-status context the guard sets on product commits.
pub const POLICY_CONTEXT: &str = "stagecoach/policy";
/// How far back on main a restarted bot looks for a policy that parses.
const HISTORY_LIMIT: usize = 200;
/// GitHub refuses status descriptions longer than this.
const DESCRIPTION_MAX: usize = 140;

/// What the guard knows, for readers (dashboard, `/readyz`, `/metrics`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PolicyHealth {
    /// `None` until the first pass read the policy.
    pub ok: Option<bool>,
    /// The one-line parse error of main's policy, when it does not parse.
    pub error: Option<String>,
    /// Main's head whose policy does not parse.
    pub broken_commit: Option<String>,
    /// The commit whose policy the bot acts on; `None` while it stops acting.
    pub acting_on: Option<String>,
    /// Since when main's policy has been broken.
    pub since: Option<DateTime<Utc>>,
}

impl PolicyHealth {
    /// Ready: a policy was read and it parses.
    pub fn ready(&self) -> bool {
        self.ok == Some(true)
    }

    /// One line saying why the bot is not ready, or `None` when it is.
    pub fn reason(&self) -> Option<String> {
        match (self.ok, &self.error) {
            (Some(true), _) => None,
            (None, _) => Some("the policy has not been read yet".into()),
            (Some(false), error) => {
                let error = error.as_deref().unwrap_or("unknown error");
                let at = self.broken_commit.as_deref().map(short).unwrap_or("?");
                Some(match &self.acting_on {
                    Some(good) => format!(
                        "the policy on main ({at}) is refused: {error}; acting on the last good policy ({})",
                        short(good)
                    ),
                    None => format!(
                        "the policy on main ({at}) is refused: {error}; no earlier policy parses, so the bot stopped acting"
                    ),
                })
            }
        }
    }
}

/// What one read of main found (plain data, so the decision is testable).
#[derive(Debug)]
pub struct PolicyRead {
    pub head: String,
    pub policy: Result<Policy>,
    /// The newest earlier commit whose policy parses, when it was asked for.
    pub fallback: Option<(String, Policy)>,
}

/// The guard's memory; lives in the engine.
#[derive(Debug, Default)]
pub struct PolicyGuard {
    state: Mutex<GuardState>,
}

#[derive(Debug, Default)]
struct GuardState {
    last_good: Option<(String, Policy)>,
    health: PolicyHealth,
    /// The last status the guard set, so it is set once per commit and verdict.
    status_sent: Option<(String, bool)>,
}

/// What to do after a read: the policy to act on (or the error to stop
/// with), the new health, and a status to set.
#[derive(Debug)]
pub struct Verdict {
    pub policy: Result<Policy>,
    pub health: PolicyHealth,
    pub last_good: Option<(String, Policy)>,
    pub status: Option<(String, CommitStatus)>,
}

/// The decision, pure: from what was read, what was remembered and the time.
pub fn judge(
    read: PolicyRead,
    last_good: Option<(String, Policy)>,
    previous: &PolicyHealth,
    status_sent: Option<&(String, bool)>,
    now: DateTime<Utc>,
) -> Verdict {
    let head = read.head;
    match read.policy {
        Ok(policy) => {
            // A success is worth saying only when it clears a failure.
            let clears = previous.ok == Some(false)
                || status_sent.is_some_and(|(sha, ok)| !ok && sha != &head);
            let status = clears.then(|| {
                (
                    head.clone(),
                    CommitStatus {
                        context: POLICY_CONTEXT.into(),
                        state: StatusState::Success,
                        description: "the policy parses; the bot acts on it".into(),
                        target_url: None,
                        updated_at: None,
                    },
                )
            });
            Verdict {
                policy: Ok(policy.clone()),
                health: PolicyHealth {
                    ok: Some(true),
                    error: None,
                    broken_commit: None,
                    acting_on: Some(head.clone()),
                    since: None,
                },
                last_good: Some((head, policy)),
                status,
            }
        }
        Err(e) => {
            let last_good = last_good.or(read.fallback);
            let error = e.message().to_string();
            let status = (status_sent != Some(&(head.clone(), false))).then(|| {
                (
                    head.clone(),
                    CommitStatus {
                        context: POLICY_CONTEXT.into(),
                        state: StatusState::Failure,
                        description: truncate(&error, DESCRIPTION_MAX),
                        target_url: None,
                        updated_at: None,
                    },
                )
            });
            let health = PolicyHealth {
                ok: Some(false),
                error: Some(error.clone()),
                broken_commit: Some(head.clone()),
                acting_on: last_good.as_ref().map(|(sha, _)| sha.clone()),
                since: previous
                    .since
                    .filter(|_| previous.ok == Some(false))
                    .or(Some(now)),
            };
            let policy = match &last_good {
                Some((_, p)) => Ok(p.clone()),
                None => Err(Error::input(format!(
                    "stopped acting: {error}; no earlier commit on main has a policy that parses"
                ))),
            };
            Verdict {
                policy,
                health,
                last_good,
                status,
            }
        }
    }
}

impl PolicyGuard {
    /// What the guard knows now.
    pub fn health(&self) -> PolicyHealth {
        self.state
            .lock()
            .map(|s| s.health.clone())
            .unwrap_or_default()
    }
}

impl Engine {
    /// The policy to act on this pass: main's when it parses, else the last
    /// good one (said loudly), else an error that stops the pass.
    pub async fn guarded_policy(&self) -> Result<Policy> {
        let (has_last_good, previous, status_sent) = {
            let s = self
                .policy_guard
                .state
                .lock()
                .map_err(|_| Error::world("policy guard: poisoned lock"))?;
            (
                s.last_good.is_some(),
                s.health.clone(),
                s.status_sent.clone(),
            )
        };
        let read = self.read_policy_on_main(!has_last_good).await?;
        let last_good = self
            .policy_guard
            .state
            .lock()
            .ok()
            .and_then(|s| s.last_good.clone());
        let verdict = judge(
            read,
            last_good,
            &previous,
            status_sent.as_ref(),
            self.clock.now(),
        );
        if let Some(reason) = verdict.health.reason() {
            tracing::warn!(policy_ok = false, "{reason}");
        }
        let mut sent = status_sent;
        if let Some((sha, status)) = &verdict.status {
            let repo = self.config.product_repo();
            match self.forge.set_status(&repo, sha, status).await {
                Ok(()) => sent = Some((sha.clone(), status.state == StatusState::Success)),
                // The next pass tries again; the health below still tells.
                Err(e) => tracing::warn!("cannot set {POLICY_CONTEXT} on {}: {e}", short(sha)),
            }
        }
        if let Some(m) = &self.metrics {
            m.set_policy(verdict.health.clone());
        }
        if let Ok(mut s) = self.policy_guard.state.lock() {
            s.health = verdict.health;
            s.last_good = verdict.last_good;
            s.status_sent = sent;
        }
        verdict.policy
    }

    /// What the policy guard knows (for the dashboard and status views).
    pub fn policy_health(&self) -> PolicyHealth {
        self.policy_guard.health()
    }

    /// Main's head and its policy; with `want_fallback`, when it does not
    /// parse, also the newest earlier commit whose policy does.
    async fn read_policy_on_main(&self, want_fallback: bool) -> Result<PolicyRead> {
        let repo = self.config.product_repo();
        let path = self.config.product.policy.clone();
        let branch = self.config.product.branch.clone();
        let source = format!("{repo}:{path}");
        self.with_repo(&repo, move |ws| {
            let head = ws.branch_head(&branch)?.ok_or_else(|| {
                Error::world(format!("{source}: the branch `{branch}` does not exist"))
            })?;
            let parse_at = |rev: &str| -> Result<Policy> {
                match ws.read_file(rev, &path)? {
                    Some(text) => Policy::parse(&text, &source),
                    None => Err(Error::input(format!(
                        "{source}: no policy file at `{path}` on {branch}"
                    ))),
                }
            };
            let policy = parse_at(&head);
            let fallback = if policy.is_err() && want_fallback {
                ws.log(&head, HISTORY_LIMIT)?
                    .into_iter()
                    .skip(1)
                    .find_map(|c| parse_at(&c.sha).ok().map(|p| (c.sha, p)))
            } else {
                None
            };
            Ok(PolicyRead {
                head,
                policy,
                fallback,
            })
        })
        .await
    }
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Policy {
        Policy::builtin()
    }

    fn read(head: &str, ok: bool) -> PolicyRead {
        PolicyRead {
            head: head.into(),
            policy: if ok {
                Ok(good())
            } else {
                Err(Error::input("p.yaml:3:1: sizes: duplicate key"))
            },
            fallback: None,
        }
    }

    #[test]
    fn a_broken_policy_keeps_the_last_good_one_and_fails_the_commit() {
        let now = Utc::now();
        let v = judge(
            read("bbbbbbbb", false),
            Some(("aaaaaaaa".into(), good())),
            &PolicyHealth::default(),
            None,
            now,
        );
        assert!(v.policy.is_ok(), "keeps working on the last good policy");
        assert_eq!(v.health.ok, Some(false));
        assert_eq!(v.health.acting_on.as_deref(), Some("aaaaaaaa"));
        let (sha, status) = v.status.expect("a status on the offending commit");
        assert_eq!(sha, "bbbbbbbb");
        assert_eq!(status.state, StatusState::Failure);
        assert!(status.description.contains("duplicate key"));
        let reason = v.health.reason().expect("unready");
        assert!(
            reason.contains("bbbbbbb") && reason.contains("last good policy (aaaaaaa)"),
            "{reason}"
        );
    }

    #[test]
    fn with_no_good_policy_anywhere_the_bot_stops_acting() {
        let v = judge(
            read("b", false),
            None,
            &PolicyHealth::default(),
            None,
            Utc::now(),
        );
        let e = v.policy.expect_err("stops");
        assert!(e.message().starts_with("stopped acting: p.yaml:3:1"), "{e}");
        assert!(
            v.health
                .reason()
                .unwrap_or_default()
                .contains("stopped acting")
        );
    }

    #[test]
    fn the_fallback_from_git_is_used_after_a_restart() {
        let mut r = read("b", false);
        r.fallback = Some(("a".into(), good()));
        let v = judge(r, None, &PolicyHealth::default(), None, Utc::now());
        assert!(v.policy.is_ok());
        assert_eq!(v.health.acting_on.as_deref(), Some("a"));
    }

    #[test]
    fn the_failure_is_set_once_per_commit_and_a_fix_clears_it() {
        let now = Utc::now();
        let first = judge(
            read("b", false),
            Some(("a".into(), good())),
            &PolicyHealth::default(),
            None,
            now,
        );
        let sent = ("b".to_string(), false);
        let again = judge(
            read("b", false),
            first.last_good.clone(),
            &first.health,
            Some(&sent),
            now,
        );
        assert!(
            again.status.is_none(),
            "no second status on the same commit"
        );
        assert_eq!(again.health.since, first.health.since);
        let fixed = judge(
            read("c", true),
            again.last_good,
            &again.health,
            Some(&sent),
            now,
        );
        let (sha, status) = fixed.status.expect("success on the fixing commit");
        assert_eq!((sha.as_str(), status.state), ("c", StatusState::Success));
        assert!(fixed.health.ready() && fixed.health.reason().is_none());
        let quiet = judge(
            read("d", true),
            fixed.last_good,
            &fixed.health,
            Some(&("c".into(), true)),
            now,
        );
        assert!(
            quiet.status.is_none(),
            "a good policy on a good one says nothing"
        );
    }

    #[test]
    fn long_errors_fit_a_status_description() {
        let t = truncate(&"x".repeat(500), DESCRIPTION_MAX);
        assert_eq!(t.chars().count(), DESCRIPTION_MAX);
    }
}
