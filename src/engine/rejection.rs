//! Rejected product tags: a release manager marks a tag as bad, and no
//! promotion takes it again until someone un-rejects it the same way.
//!
//! The record is a git note on the tag's commit in its own notes ref
//! (`refs/notes/rejections`, beside the stability notes, which it never
//! touches): one line per event, oldest first, the last line of a tag being
//! its state now —
//!
//! ```text
//! v1.0.0 rejected 2025-01-10T03:00:00Z by rita: checkout crashes on empty carts
//! v1.0.0 unrejected 2025-01-10T05:00:00Z by rita via comment 17: fixed by config
//! ```
//!
//! Pure: the note's format, and the decisions on `/reject` and `/unreject`
//! comments and on `stagecoach reject`.

use chrono::{DateTime, Utc};

use crate::policy::Policy;

use super::action::Action;
use super::snapshot::{Authority, ProductTag, RejectAsk, Snapshot};
use super::text;

/// One reject or un-reject of a tag, as the note records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectionEvent {
    pub tag: String,
    /// `true`: rejected; `false`: un-rejected.
    pub rejected: bool,
    pub at: DateTime<Utc>,
    pub by: String,
    pub reason: String,
    /// The `/reject` or `/unreject` comment that asked, so each is applied once.
    pub comment: Option<u64>,
}

impl RejectionEvent {
    /// `rejected by rita on 2025-01-10 03:00 UTC: why`.
    pub fn describe(&self) -> String {
        format!(
            "{} by {} on {}: {}",
            if self.rejected {
                "rejected"
            } else {
                "un-rejected"
            },
            self.by,
            self.at.format("%Y-%m-%d %H:%M UTC"),
            self.reason
        )
    }
}

/// The event as one note line (the reason kept to one line).
pub fn render_event(e: &RejectionEvent) -> String {
    let reason: String = e.reason.split_whitespace().collect::<Vec<_>>().join(" ");
    format!(
        "{} {} {} by {}{}: {}",
        e.tag,
        if e.rejected { "rejected" } else { "unrejected" },
        e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        e.by,
        e.comment
            .map(|id| format!(" via comment {id}"))
            .unwrap_or_default(),
        reason
    )
}

/// Every event in a note, oldest first; lines it cannot read are skipped
/// (a person's edit of the note never stops the bot).
pub fn parse_note(note: &str) -> Vec<RejectionEvent> {
    note.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<RejectionEvent> {
    let (head, reason) = line.split_once(": ")?;
    let words: Vec<&str> = head.split_whitespace().collect();
    let (tag, verb, at, by_word, by) = (
        words.first()?,
        words.get(1)?,
        words.get(2)?,
        words.get(3)?,
        words.get(4)?,
    );
    if *by_word != "by" {
        return None;
    }
    let rejected = match *verb {
        "rejected" => true,
        "unrejected" => false,
        _ => return None,
    };
    let comment = match words.get(5..) {
        Some(["via", "comment", id]) => Some(id.parse().ok()?),
        Some([]) => None,
        _ => return None,
    };
    Some(RejectionEvent {
        tag: tag.to_string(),
        rejected,
        at: DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc),
        by: by.to_string(),
        reason: reason.trim().to_string(),
        comment,
    })
}

/// The note with `event` added, unless it is there already (the same
/// comment applied twice, or the same line).
pub fn with_event(note: &str, event: &RejectionEvent) -> Option<String> {
    let events = parse_note(note);
    let seen = events.iter().any(|e| {
        e.tag == event.tag
            && match event.comment {
                Some(id) => e.comment == Some(id),
                None => *e == *event,
            }
    });
    if seen {
        return None;
    }
    let mut text = note.trim_end().to_string();
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(&render_event(event));
    text.push('\n');
    Some(text)
}

/// Why a promotion of `tag` is refused because it was rejected, if it was.
pub fn refusal(tag: &ProductTag) -> Option<String> {
    let r = tag.rejection()?;
    Some(format!(
        "{} was {}; un-reject it first (`stagecoach reject --undo {} --reason \"…\"` or `/unreject {} reason`)",
        tag.name,
        r.describe(),
        tag.name,
        tag.name
    ))
}

/// What `stagecoach reject [--undo] TAG --reason WHY` asks, judged: the
/// action to take, `Ok(None)` when the tag is in that state already, or why
/// not (the authority refusal comes first, as the CLI maps it to exit 3).
pub fn decide_by_hand(
    snap: &Snapshot,
    tag: &str,
    undo: bool,
    by: &str,
    reason: &str,
    authority: &Authority,
) -> Result<Option<Action>, Refused> {
    let verb = if undo { "un-reject" } else { "reject" };
    if let Authority::Refused(why) = authority {
        return Err(Refused::Denied(format!("{by} may not {verb} {tag}: {why}")));
    }
    let Some(t) = snap.product.tags.iter().find(|t| t.name == tag) else {
        return Err(Refused::Input(format!("no product tag `{tag}`")));
    };
    if reason.trim().is_empty() {
        return Err(Refused::Input(format!(
            "cannot {verb} {tag} without a reason; expected --reason \"why\""
        )));
    }
    if t.rejection().is_some() != undo {
        return Ok(None);
    }
    Ok(Some(Action::Reject {
        tag: tag.to_string(),
        rejected: !undo,
        by: by.to_string(),
        reason: reason.trim().to_string(),
        comment: None,
    }))
}

/// Why `stagecoach reject` did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The person lacks the right (exit 3).
    Denied(String),
    /// A tag that does not exist, a missing reason (exit 2).
    Input(String),
}

/// `/reject` and `/unreject` comments on landscape PRs: each applied once
/// (oldest comment first, so the newest word stands), refused in words when
/// the author is not a promoter, and answered in the PR's sticky comment.
pub fn decide(_policy: &Policy, snap: &Snapshot) -> Vec<Action> {
    let mut asks: Vec<(&RejectAsk, &super::snapshot::EnvView)> = snap
        .envs
        .iter()
        .flat_map(|v| v.reject_asks.iter().map(move |a| (a, v)))
        .collect();
    asks.sort_by_key(|(a, _)| a.comment);
    let mut actions = Vec::new();
    for (ask, view) in asks {
        let who = text::inert(&ask.by);
        let tag_name = text::inert(&ask.tag);
        let verb = if ask.undo { "un-reject" } else { "reject" };
        let tag = snap.product.tags.iter().find(|t| t.name == ask.tag);
        let answer = match (tag, &ask.as_promoter) {
            (_, Authority::Refused(why)) => format!(
                "❌ {who} may not {verb} {tag_name}: {}. Nothing was recorded; someone listed under `people.promoters` must ask.",
                text::inert(why)
            ),
            (None, _) => format!("❌ {who}, there is no product tag `{tag_name}` to {verb}."),
            (Some(_), _) if ask.reason.trim().is_empty() => format!(
                "❌ {who}, say why: `/{} {tag_name} reason`. Nothing was recorded.",
                if ask.undo { "unreject" } else { "reject" }
            ),
            (Some(t), Authority::Allowed) => {
                match t.rejections.iter().find(|e| e.comment == Some(ask.comment)) {
                    Some(done) if done.rejected => format!(
                        "🚫 {tag_name} is rejected by {}: {}. It will not be promoted (by hand, `/promote` or the bot) until someone un-rejects it (`/unreject {tag_name} reason`); a hotfix may still be cut from it.",
                        text::inert(&done.by),
                        text::inert(&done.reason)
                    ),
                    Some(done) => format!(
                        "✅ {tag_name} is no longer rejected ({} by {}: {}); it may be promoted again.",
                        "un-rejected",
                        text::inert(&done.by),
                        text::inert(&done.reason)
                    ),
                    None => {
                        actions.push(Action::Reject {
                            tag: ask.tag.clone(),
                            rejected: !ask.undo,
                            by: ask.by.clone(),
                            reason: ask.reason.trim().to_string(),
                            comment: Some(ask.comment),
                        });
                        continue;
                    }
                }
            }
        };
        if ask.sticky.get("reject") != Some(&answer) {
            actions.push(Action::Comment {
                repo: view.repo.clone(),
                pr: ask.pr,
                topic: "reject".into(),
                body: answer,
            });
        }
    }
    actions
}

/// Read a `/reject vX.Y.Z reason` or `/unreject vX.Y.Z reason` command:
/// (tag, undo, reason). The reason may be empty (then it is refused in words).
pub fn parse_command(body: &str) -> Option<(String, bool, String)> {
    let line = body.trim().lines().next()?.trim();
    let (undo, rest) = if let Some(rest) = line.strip_prefix("/unreject") {
        (true, rest)
    } else {
        (false, line.strip_prefix("/reject")?)
    };
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let rest = rest.trim();
    let (tag, reason) = match rest.split_once(char::is_whitespace) {
        Some((t, r)) => (t, r.trim()),
        None => (rest, ""),
    };
    if tag.is_empty() || tag.starts_with('-') {
        return None;
    }
    let reason = reason.trim_matches('"').trim().to_string();
    Some((tag.to_string(), undo, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(rejected: bool, comment: Option<u64>) -> RejectionEvent {
        RejectionEvent {
            tag: "v1.0.0".into(),
            rejected,
            at: DateTime::from_timestamp(1_736_478_000, 0).unwrap_or_default(),
            by: "rita".into(),
            reason: "checkout crashes: empty carts".into(),
            comment,
        }
    }

    #[test]
    fn events_are_written_one_line_each_and_read_back() {
        let e = event(true, None);
        let line = render_event(&e);
        assert_eq!(
            line,
            "v1.0.0 rejected 2025-01-10T03:00:00Z by rita: checkout crashes: empty carts"
        );
        let undo = event(false, Some(17));
        let note = with_event(&(line + "\n"), &undo).expect("added");
        assert_eq!(parse_note(&note), vec![e, undo.clone()]);
        assert_eq!(with_event(&note, &undo), None, "one comment, one event");
        assert!(parse_note("garbage\nv1 rejected soon by x: y\n").is_empty());
    }

    #[test]
    fn a_reason_on_several_lines_stays_on_one() {
        let mut e = event(true, None);
        e.reason = "first\nsecond".into();
        assert!(render_event(&e).ends_with(": first second"));
    }

    #[test]
    fn commands_are_read_with_their_reason() {
        assert_eq!(
            parse_command("/reject v1.2.0 crashes on start\nthanks"),
            Some(("v1.2.0".into(), false, "crashes on start".into()))
        );
        assert_eq!(
            parse_command("/unreject v1.2.0 \"fixed by config\""),
            Some(("v1.2.0".into(), true, "fixed by config".into()))
        );
        assert_eq!(
            parse_command("/reject v1.2.0"),
            Some(("v1.2.0".into(), false, String::new()))
        );
        assert_eq!(parse_command("/rejected v1"), None);
        assert_eq!(parse_command("/reject"), None);
        assert_eq!(parse_command("please /reject v1 x"), None);
    }
}
