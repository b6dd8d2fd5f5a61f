//! Conventional commit messages: any text parses or is refused, never panics;
//! a parsed commit's kind comes from the message's subject (its first
//! non-blank line: git strips leading blank lines from a message), and a
//! breaking-change footer anywhere among the footers makes it breaking with
//! that footer's value as the note.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stagecoach::conventional::parse;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(commit) = parse(message) {
        let first = message.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        assert!(
            first.to_lowercase().contains(&commit.kind),
            "kind {:?} is not from the subject {first:?}",
            commit.kind
        );
        assert!(!commit.kind.is_empty(), "an empty type was accepted");
        let first_breaking = commit
            .footers
            .iter()
            .find(|(token, _)| token == "BREAKING CHANGE" || token == "BREAKING-CHANGE");
        if let Some((_, note)) = first_breaking {
            assert!(
                commit.breaking,
                "a breaking footer did not make {message:?} breaking"
            );
            assert_eq!(commit.breaking_note.as_ref(), Some(note));
        }
    }
});
