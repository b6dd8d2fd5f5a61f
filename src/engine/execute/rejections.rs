//! Acting on rejections: a line added to the tag's note in
//! `refs/notes/rejections` (who, when, why, and the comment that asked),
//! on the notes as the remote has them now, never replacing another line.

use crate::error::{Error, Result};

use super::super::rejection::{self, RejectionEvent};
use super::super::snapshot::Snapshot;
use super::super::{Engine, NOTES_REJECTIONS};

impl Engine {
    pub(super) async fn record_rejection(
        &self,
        snap: &Snapshot,
        tag: &str,
        rejected: bool,
        by: &str,
        reason: &str,
        comment: Option<u64>,
    ) -> Result<String> {
        let t = snap
            .product
            .tags
            .iter()
            .find(|t| t.name == tag)
            .ok_or_else(|| Error::input(format!("no product tag `{tag}`")))?;
        let event = RejectionEvent {
            tag: tag.to_string(),
            rejected,
            at: snap.now,
            by: by.to_string(),
            reason: reason.to_string(),
            comment,
        };
        let sha = t.sha.clone();
        let verb = if rejected { "rejected" } else { "un-rejected" };
        let written = self
            .with_repo(&snap.product.repo, move |ws| {
                // Look, then act: the note as fetched now, this event once.
                let current = ws.read_note(NOTES_REJECTIONS, &sha)?.unwrap_or_default();
                match rejection::with_event(&current, &event) {
                    Some(text) => ws.write_note(NOTES_REJECTIONS, &sha, &text),
                    None => Ok(false),
                }
            })
            .await?;
        Ok(if written {
            format!("{tag} {verb} by {by}")
        } else {
            "nothing to do".into()
        })
    }
}
