//! Conventional commit messages: any text parses or is refused, never panics;
//! a parsed commit's kind comes from the message's subject (its first
//! non-blank line: git strips leading blank lines from a message).
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
    }
});
