//! Git notes on commits (the stability score of a product tag lives in
//! `refs/notes/stability`), written like every other change: computed on the
//! remote's current notes, pushed without force, retried when someone else's
//! note landed first.
//!
//! A note attaches to the commit a revision names (a tag is peeled to its
//! commit), so `git log --notes=stability` shows it next to the commit.

use git2::{ErrorCode, Reference};
use rand::Rng;

use super::remote::RefUpdate;
use super::workspace::{Step, Workspace};
use crate::{Error, Result};

impl Workspace {
    /// The note under `notes_ref` (e.g. `refs/notes/stability`) on the commit
    /// `target` names, as of the last fetch.
    pub fn read_note(&self, notes_ref: &str, target: &str) -> Result<Option<String>> {
        check_notes_ref(notes_ref)?;
        let commit = self.resolve_commit(target)?.id();
        match self.repo.find_note(Some(notes_ref), commit) {
            Ok(note) => Ok(Some(
                String::from_utf8_lossy(note.message_bytes()).into_owned(),
            )),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Write or replace the note on `target` and push `notes_ref`. The same
    /// content already there is `Ok(false)`; notes others added meanwhile are kept.
    pub fn write_note(&self, notes_ref: &str, target: &str, content: &str) -> Result<bool> {
        check_notes_ref(notes_ref)?;
        if content.contains('\0') {
            return Err(Error::input(format!(
                "note for {target}: contains a NUL byte"
            )));
        }
        self.with_retries(&format!("writing a note in {notes_ref}"), |ws| {
            let commit = ws.resolve_commit(target)?.id();
            let remote_notes = match ws.repo.refname_to_id(notes_ref) {
                Ok(oid) => Some(oid),
                Err(e) if e.code() == ErrorCode::NotFound => None,
                Err(e) => return Err(e.into()),
            };
            if let Some(current) = ws.read_note(notes_ref, target)? {
                if current.trim_end() == content.trim_end() {
                    return Ok(Step::Done(false));
                }
            }
            let notes_commit = ws.note_commit(remote_notes, commit, content)?;
            Ok(Step::Push(
                RefUpdate {
                    name: notes_ref.to_string(),
                    new: Some(notes_commit),
                    old: remote_notes,
                },
                true,
            ))
        })
    }

    /// A notes commit on top of `parent` (the remote's notes) adding the note,
    /// built on a private scratch ref so the local mirror keeps showing the
    /// remote until the push succeeds.
    fn note_commit(
        &self,
        parent: Option<git2::Oid>,
        target: git2::Oid,
        content: &str,
    ) -> Result<git2::Oid> {
        let scratch = format!(
            "refs/stagecoach/scratch/notes-{:016x}",
            rand::rng().random::<u64>()
        );
        if let Some(parent) = parent {
            self.repo
                .reference(&scratch, parent, true, "note scratch (stagecoach)")?;
        }
        let signature = self.signature()?;
        let written = self
            .repo
            .note(
                &signature,
                &signature,
                Some(&scratch),
                target,
                content,
                true,
            )
            .and_then(|_| self.repo.refname_to_id(&scratch));
        if let Ok(mut reference) = self.repo.find_reference(&scratch) {
            let _ = reference.delete();
        }
        Ok(written?)
    }
}

fn check_notes_ref(notes_ref: &str) -> Result<()> {
    if notes_ref.starts_with("refs/notes/") && Reference::is_valid_name(notes_ref) {
        Ok(())
    } else {
        Err(Error::input(format!(
            "notes ref '{notes_ref}': expected a ref under refs/notes/ (like refs/notes/stability)"
        )))
    }
}
