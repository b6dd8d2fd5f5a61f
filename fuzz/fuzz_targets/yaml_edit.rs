//! The format-keeping YAML edit on random documents and paths: either the
//! edit is refused (and nothing was written), or the result re-parses, reads
//! back the value at the path, and every other YAML event is unchanged.
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
    let read = yaml_edit::get_scalar(&edited, path).expect("the edited path reads back");
    assert_eq!(
        read.as_deref(),
        Some(value),
        "wrote {value:?}, read {read:?}"
    );
});
