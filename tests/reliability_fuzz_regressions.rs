//! Inputs the fuzzers turned up, kept as plain tests so the normal suite
//! guards them (see RELIABILITY.md for the fuzzing runs).

use stagecoach::conventional::parse;

/// `"\n\nz:\tz"`: leading blank lines are skipped (git strips them too), so
/// the subject is the first non-blank line. The first fuzz oracle expected
/// the literal first line; the parser is right, the oracle was fixed.
/// Since the parser follows the spec's "colon and space" (issue 12), the
/// input itself reads as no commit; the same message with a space guards
/// the blank lines.
#[test]
fn a_message_that_starts_with_blank_lines_is_read_from_its_first_text_line() {
    assert!(
        parse("\n\nz:\tz").is_none(),
        "a tab is not the spec's space"
    );
    let commit = parse("\n\nz: z").expect("a commit");
    assert_eq!(commit.kind, "z");
    assert_eq!(commit.description, "z");
}

/// Found by the `trailers` fuzz target: a message whose only text line is a
/// `#` line (a markdown heading, as in a changelog) lost the trailers written
/// under it, so the bot would not know its own tag or commit again.
#[test]
fn trailers_under_a_heading_only_message_are_read_back() {
    use stagecoach::git::trailers::Trailers;
    for message in ["#\u{fffd}\t\u{10}", "# v1.2.0", "## Fixes"] {
        let full = Trailers::new()
            .with("Stagecoach-Action", "tag")
            .append_to(message);
        assert_eq!(
            Trailers::parse(&full).get("Stagecoach-Action"),
            Some("tag"),
            "{full:?}"
        );
    }
    // Comment lines after the block still do not hide it.
    let t = Trailers::parse("subject\n\nKey: v\n\n# a comment\n");
    assert_eq!(t.get("Key"), Some("v"));
    // A message that is only trailers still has none (git reads a subject).
    assert!(Trailers::parse("Key: v\n").is_empty());
}
