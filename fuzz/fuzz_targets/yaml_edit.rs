//! The format-keeping YAML edit on random documents and paths: either the
//! edit is refused (and nothing was written), or the result re-parses, reads
//! back the value at the path, every other YAML event is unchanged, and a
//! reader that follows aliases and `<<:` merges sees at most one value
//! changed (shared values are refused, not edited behind the reader's back).
//!
//! Input: `document \0 path \0 value`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stagecoach::manifest::{yaml_edit, yaml_tree};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\0');
    let (Some(doc), Some(path), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let Ok(edited) = yaml_edit::set_scalar(doc, path, value) else {
        return;
    };
    let before = yaml_tree::parse(doc, "before").expect("an edited document parsed before");
    let after = yaml_tree::parse(&edited, "after")
        .unwrap_or_else(|e| panic!("the edit broke the document: {e}\n{edited}"));
    assert_eq!(
        before.events.len(),
        after.events.len(),
        "the edit changed the document's structure:\n{doc}\n---\n{edited}"
    );
    let changed = before
        .events
        .iter()
        .zip(&after.events)
        .filter(|(a, b)| a != b)
        .count();
    assert!(
        changed <= 1,
        "{changed} events changed:\n{doc}\n---\n{edited}"
    );
    let seen_before = yaml_edit::reader_view(doc).expect("an edited document expanded before");
    let seen_after = yaml_edit::reader_view(&edited).expect("the edit expands");
    let changed_paths = seen_before
        .iter()
        .filter(|(p, v)| seen_after.get(*p) != Some(*v))
        .count()
        + seen_after
            .keys()
            .filter(|p| !seen_before.contains_key(*p))
            .count();
    assert!(
        changed_paths <= 1,
        "{changed_paths} values changed for a reader:\n{doc}\n---\n{edited}"
    );
    let read = yaml_edit::get_scalar(&edited, path).expect("the edited path reads back");
    assert_eq!(
        read.as_deref(),
        Some(value),
        "wrote {value:?}, read {read:?}"
    );
});
