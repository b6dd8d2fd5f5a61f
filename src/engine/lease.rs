//! Which running bot acts: a lease in the product repo (branch
//! `stagecoach/lease`, one file), claimed and renewed by compare-and-swap
//! push, so two `serve` processes on one world (a rolling update, or two
//! replicas by mistake) never act at once, and the second takes over when the
//! first stops or dies. As Kubernetes controllers elect a leader with a Lease
//! object; here the record lives where the bot's other state does, in git.
//!
//! The decision is pure ([`decide`]); the git edge is [`Engine::hold_lease`].

use chrono::{DateTime, Duration, Utc};

use crate::error::Result;

use super::Engine;

/// The branch that holds the lease, and its one file.
pub const BRANCH: &str = "stagecoach/lease";
const FILE: &str = "lease.yaml";

/// Who holds the lease, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub holder: String,
    pub until: DateTime<Utc>,
}

impl Lease {
    fn parse(text: &str) -> Option<Lease> {
        let mut holder = None;
        let mut until = None;
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("holder: ") {
                holder = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("until: ") {
                until = DateTime::parse_from_rfc3339(v.trim())
                    .ok()
                    .map(|t| t.with_timezone(&Utc));
            }
        }
        Some(Lease {
            holder: holder?,
            until: until?,
        })
    }

    fn render(&self) -> String {
        format!(
            "# Which Stagecoach acts: written by the bot, renewed while it runs.\nholder: {}\nuntil: {}\n",
            self.holder,
            self.until
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        )
    }
}

/// What to do about the lease in this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// It is ours with more than half its time left: act, write nothing.
    Hold,
    /// Ours, or free (never taken, expired, released): take it until `until`, then act.
    Take { until: DateTime<Utc> },
    /// Someone else's until `until`: observe, do not act.
    Follow {
        holder: String,
        until: DateTime<Utc>,
    },
}

/// The lease step for `me` at `now`, holding leases for `ttl`.
pub fn decide(current: Option<&Lease>, me: &str, now: DateTime<Utc>, ttl: Duration) -> Step {
    match current {
        Some(l) if l.holder != me && l.until > now => Step::Follow {
            holder: l.holder.clone(),
            until: l.until,
        },
        Some(l) if l.holder == me && l.until - ttl / 2 > now => Step::Hold,
        _ => Step::Take { until: now + ttl },
    }
}

impl Engine {
    /// Whether this bot may start an action now: without a lease configured
    /// always; with one, while it is known to be ours with more than half its
    /// time left, else after holding, renewing or taking it in git.
    pub(super) async fn may_act(&self) -> Result<bool> {
        let Some((_, ttl)) = self.lease.clone() else {
            return Ok(true);
        };
        let fresh = || {
            let known = self.lease_until.lock().ok().and_then(|u| *u);
            known.is_some_and(|until| until - ttl / 2 > self.clock.now())
        };
        if fresh() {
            return Ok(true);
        }
        let _renewing = self.lease_renewal.lock().await;
        if fresh() {
            return Ok(true);
        }
        let held = self.hold_lease().await?;
        if let Ok(mut until) = self.lease_until.lock() {
            *until = held;
        }
        Ok(held.is_some())
    }

    /// Keep the lease ours while a pass's actions run, until `acting` says
    /// they are done: an action can outlast the lease (a request the budget
    /// holds for a minute after GitHub's secondary limit), and a twin must
    /// not take the lease from a bot still inside an action. If it is lost
    /// all the same (git down for longer than the lease), `lease_lost` stops
    /// the roads from starting another action. A renewal in flight is never
    /// cut short: it holds the product repo's cache.
    pub(super) async fn keep_lease_while(
        &self,
        mut acting: tokio::sync::watch::Receiver<bool>,
        lease_lost: &std::sync::atomic::AtomicBool,
    ) {
        let Some((_, ttl)) = self.lease.clone() else {
            return;
        };
        let every = (ttl / 4)
            .to_std()
            .unwrap_or(std::time::Duration::from_secs(1))
            .max(std::time::Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = acting.wait_for(|done| *done) => return,
                () = tokio::time::sleep(every) => {}
            }
            match self.may_act().await {
                Ok(true) => {}
                Ok(false) => {
                    if !lease_lost.swap(true, std::sync::atomic::Ordering::SeqCst) {
                        tracing::warn!(
                            "the lease went to another Stagecoach while acting: no new action starts"
                        );
                    }
                    return;
                }
                Err(e) => tracing::warn!("renewing the lease while acting: {e}"),
            }
        }
    }

    /// Hold, renew or take the lease in git: until when it is ours, or
    /// `None` when another bot holds it.
    async fn hold_lease(&self) -> Result<Option<DateTime<Utc>>> {
        let Some((me, ttl)) = self.lease.clone() else {
            return Ok(None);
        };
        let now = self.clock.now();
        let repo = self.config.product_repo();
        let taken = self
            .with_repo(&repo, move |ws| {
                let head = ws.branch_head(BRANCH)?;
                let current = match &head {
                    Some(h) => ws.read_file(h, FILE)?.and_then(|t| Lease::parse(&t)),
                    None => None,
                };
                match decide(current.as_ref(), &me, now, ttl) {
                    Step::Hold => Ok(current.map(|c| c.until)),
                    Step::Follow { holder, until } => {
                        tracing::debug!(%holder, %until, "another Stagecoach holds the lease: observing only");
                        Ok(None)
                    }
                    Step::Take { until } => {
                        let lease = Lease {
                            holder: me.clone(),
                            until,
                        };
                        let message = format!("chore(stagecoach): the lease, held by {me}");
                        // Lost to another bot that wrote first: it holds it now.
                        let took =
                            ws.replace_with_file(BRANCH, head.as_deref(), &message, FILE, &lease.render())?;
                        if took && current.as_ref().is_none_or(|c| c.holder != me) {
                            tracing::info!(%until, "took the lease: this Stagecoach acts");
                        }
                        Ok(took.then_some(until))
                    }
                }
            })
            .await;
        taken.map_err(|e| e.context(format!("the lease in {repo} ({BRANCH})")))
    }

    /// Give the lease up (a graceful stop), so a twin takes over at once.
    pub async fn release_lease(&self) -> Result<()> {
        let Some((me, _)) = self.lease.clone() else {
            return Ok(());
        };
        if let Ok(mut until) = self.lease_until.lock() {
            *until = None;
        }
        let now = self.clock.now();
        let repo = self.config.product_repo();
        self.with_repo(&repo, move |ws| {
            let Some(head) = ws.branch_head(BRANCH)? else {
                return Ok(());
            };
            let current = ws.read_file(&head, FILE)?.and_then(|t| Lease::parse(&t));
            if current.is_none_or(|c| c.holder != me || c.until <= now) {
                return Ok(());
            }
            let lease = Lease {
                holder: me.clone(),
                until: now,
            };
            let message = format!("chore(stagecoach): the lease, released by {me}");
            if ws.replace_with_file(BRANCH, Some(&head), &message, FILE, &lease.render())? {
                tracing::info!("released the lease");
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap_or_default()
    }

    fn lease(holder: &str, until: i64) -> Lease {
        Lease {
            holder: holder.into(),
            until: at(until),
        }
    }

    const TTL: Duration = Duration::seconds(30);

    #[test]
    fn a_free_lease_is_taken() {
        assert_eq!(decide(None, "a", at(0), TTL), Step::Take { until: at(30) });
        // Expired, or released (until = then).
        assert_eq!(
            decide(Some(&lease("b", -1)), "a", at(0), TTL),
            Step::Take { until: at(30) }
        );
        assert_eq!(
            decide(Some(&lease("b", 0)), "a", at(0), TTL),
            Step::Take { until: at(30) }
        );
    }

    #[test]
    fn someone_elses_live_lease_is_followed() {
        assert_eq!(
            decide(Some(&lease("b", 10)), "a", at(0), TTL),
            Step::Follow {
                holder: "b".into(),
                until: at(10)
            }
        );
    }

    #[test]
    fn ones_own_lease_is_renewed_with_half_its_time_left() {
        assert_eq!(decide(Some(&lease("a", 16)), "a", at(0), TTL), Step::Hold);
        assert_eq!(
            decide(Some(&lease("a", 15)), "a", at(0), TTL),
            Step::Take { until: at(30) }
        );
    }

    #[test]
    fn the_lease_file_reads_back() {
        let l = lease("host-1/42", 7);
        assert_eq!(Lease::parse(&l.render()), Some(l));
        assert_eq!(Lease::parse("holder: x\n"), None);
    }
}
