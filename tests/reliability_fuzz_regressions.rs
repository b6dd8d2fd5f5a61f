//! Inputs the fuzzers turned up, kept as plain tests so the normal suite
//! guards them (see RELIABILITY.md for the fuzzing runs).

use stagecoach::conventional::parse;

/// `"\n\nz:\tz"`: leading blank lines are skipped (git strips them too), so
/// the subject is the first non-blank line. The first fuzz oracle expected
/// the literal first line; the parser is right, the oracle was fixed.
#[test]
fn a_message_that_starts_with_blank_lines_is_read_from_its_first_text_line() {
    let commit = parse("\n\nz:\tz").expect("a commit");
    assert_eq!(commit.kind, "z");
    assert_eq!(commit.description, "z");
}
