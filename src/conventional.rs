//! Conventional Commits 1.0.0 messages, parsed by hand.
//!
//! Hand-written rather than a regex because it runs over every commit of a
//! history (100,000 and more) and must never panic on whatever people typed:
//! it only slices at ASCII boundaries it has just found.
//!
//! Git's own revert messages (`Revert "feat: x"` with `This reverts commit
//! <sha>.`) are read as commits of type `revert`, as the reference tools
//! (conventional-changelog's `conventionalcommits` preset) do: they release a
//! patch and are listed under Reverts. docs/conventional-commits.md has the
//! whole grammar and where it differs from the reference parser.

/// One conventional commit message, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// The type (`feat`, `fix`, ...), lowercased so `Feat:` and `feat:` group together.
    pub kind: String,
    pub scope: Option<String>,
    /// `!` before the colon, or a `BREAKING CHANGE:` / `BREAKING-CHANGE:` footer.
    pub breaking: bool,
    /// The subject after `: `, trimmed; PR references like `(#123)` stay.
    pub description: String,
    pub body: Option<String>,
    /// `(token, value)` in message order; values keep their inner line breaks.
    pub footers: Vec<(String, String)>,
    /// The text of the first breaking-change footer, when there is one.
    pub breaking_note: Option<String>,
    /// For a git revert message: the commit it names in `This reverts commit <sha>.`
    pub reverts: Option<String>,
}

/// Parse a commit message; `None` when its subject is not conventional.
pub fn parse(message: &str) -> Option<Commit> {
    let message = message.trim_start_matches(['\n', '\r', ' ', '\t']);
    let (subject, rest) = match message.find('\n') {
        Some(i) => (&message[..i], &message[i + 1..]),
        None => (message, ""),
    };
    let subject = subject.trim_end();
    if let Some(reverted) = git_revert_subject(subject) {
        let (body, footers) = split_body_and_footers(rest);
        let breaking_note = first_breaking_note(&footers);
        return Some(Commit {
            kind: "revert".to_owned(),
            scope: None,
            breaking: breaking_note.is_some(),
            description: reverted,
            reverts: body.as_deref().and_then(reverted_sha),
            body,
            footers,
            breaking_note,
        });
    }
    let header = parse_header(subject)?;
    let (body, footers) = split_body_and_footers(rest);
    let breaking_note = first_breaking_note(&footers);
    Some(Commit {
        kind: header.kind.to_ascii_lowercase(),
        scope: header.scope.map(str::to_owned),
        breaking: header.bang || breaking_note.is_some(),
        description: header.description.to_owned(),
        body,
        footers,
        breaking_note,
        reverts: None,
    })
}

fn first_breaking_note(footers: &[(String, String)]) -> Option<String> {
    footers
        .iter()
        .find(|(token, _)| is_breaking_token(token))
        .map(|(_, value)| value.clone())
}

/// `Revert "feat: x"` (as `git revert` writes it, maybe with a squash merge's
/// ` (#13)` after it) → `feat: x` (followed by ` (#13)`).
fn git_revert_subject(subject: &str) -> Option<String> {
    let quoted = subject.strip_prefix("Revert \"")?;
    let close = quoted.rfind('"')?;
    let inner = quoted[..close].trim();
    if inner.is_empty() {
        return None;
    }
    let after = quoted[close + 1..].trim();
    Some(if after.is_empty() {
        inner.to_owned()
    } else {
        format!("{inner} {after}")
    })
}

/// The sha in git's `This reverts commit <sha>.` line.
fn reverted_sha(body: &str) -> Option<String> {
    let at = body.find("This reverts commit ")?;
    let rest = &body[at + "This reverts commit ".len()..];
    let len = rest
        .bytes()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(rest.len());
    (len >= 4).then(|| rest[..len].to_owned())
}

/// Only the subject line: enough to decide a bump when no footer can matter.
struct Header<'a> {
    kind: &'a str,
    scope: Option<&'a str>,
    bang: bool,
    description: &'a str,
}

fn parse_header(subject: &str) -> Option<Header<'_>> {
    let bytes = subject.as_bytes();
    let kind_len = bytes
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_'))
        .unwrap_or(bytes.len());
    if kind_len == 0 || !bytes[0].is_ascii_alphabetic() {
        return None;
    }
    let kind = &subject[..kind_len];
    let mut rest = &subject[kind_len..];

    let mut scope = None;
    if let Some(after_paren) = rest.strip_prefix('(') {
        let close = after_paren.find(')')?;
        let inner = &after_paren[..close];
        if inner.trim().is_empty() || inner.contains('(') {
            return None;
        }
        scope = Some(inner.trim());
        rest = &after_paren[close + 1..];
    }
    let bang = if let Some(r) = rest.strip_prefix('!') {
        rest = r;
        true
    } else {
        false
    };
    // The spec asks for a colon and a space; `fix:typo` is not conventional.
    let rest = rest.strip_prefix(": ")?;
    let description = rest.trim();
    if description.is_empty() {
        return None;
    }
    Some(Header {
        kind,
        scope,
        bang,
        description,
    })
}

fn is_breaking_token(token: &str) -> bool {
    token == "BREAKING CHANGE" || token == "BREAKING-CHANGE"
}

/// The footer token a line starts with, and where its value starts.
///
/// `Token: value`, `Token #value`, and the one token with a space,
/// `BREAKING CHANGE: value`.
fn footer_start(line: &str) -> Option<(&str, &str)> {
    if let Some(value) = line.strip_prefix("BREAKING CHANGE: ") {
        return Some(("BREAKING CHANGE", value));
    }
    let bytes = line.as_bytes();
    let token_len = bytes
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || *b == b'-'))
        .unwrap_or(bytes.len());
    if token_len == 0 || !bytes[0].is_ascii_alphabetic() {
        return None;
    }
    let token = &line[..token_len];
    let rest = &line[token_len..];
    if let Some(value) = rest.strip_prefix(": ") {
        Some((token, value))
    } else if let Some(value) = rest.strip_prefix(" #") {
        Some((token, value))
    } else {
        None
    }
}

/// The footer section starts at the first paragraph whose first line is a
/// footer (Conventional Commits 1.0.0: footers come one blank line after the
/// body); from there on every line that starts with a token and separator
/// opens a footer, and every other line, blank ones included, continues the
/// value before it. So `Signed-off-by:` or `Closes #12` after a breaking
/// note, in the same paragraph or another, end the note without hiding it.
fn split_body_and_footers(rest: &str) -> (Option<String>, Vec<(String, String)>) {
    let lines: Vec<&str> = rest.lines().collect();
    let footer_section = (0..lines.len())
        .find(|&i| (i == 0 || lines[i - 1].trim().is_empty()) && footer_start(lines[i]).is_some());
    let body_end = footer_section.unwrap_or(lines.len());

    let mut footers: Vec<(String, String)> = Vec::new();
    for line in &lines[body_end..] {
        match footer_start(line) {
            Some((token, value)) => footers.push((token.to_owned(), value.to_owned())),
            None => {
                if let Some((_, value)) = footers.last_mut() {
                    value.push('\n');
                    value.push_str(line);
                }
            }
        }
    }
    for (_, value) in &mut footers {
        let trimmed = value.trim();
        if trimmed.len() != value.len() {
            *value = trimmed.to_owned();
        }
    }
    let body = lines[..body_end].join("\n");
    let body = body.trim();
    let body = (!body.is_empty()).then(|| body.to_owned());
    (body, footers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_scope_and_description_are_split() {
        let c = parse("feat(api): add the /releases endpoint (#123)").unwrap();
        assert_eq!(c.kind, "feat");
        assert_eq!(c.scope.as_deref(), Some("api"));
        assert!(!c.breaking);
        assert_eq!(c.description, "add the /releases endpoint (#123)");
        assert_eq!(c.body, None);
        assert!(c.footers.is_empty());
    }

    #[test]
    fn type_is_lowercased() {
        assert_eq!(parse("Fix: crash").unwrap().kind, "fix");
    }

    #[test]
    fn bang_marks_breaking_with_or_without_scope() {
        assert!(parse("feat!: drop v1").unwrap().breaking);
        let c = parse("refactor(core)!: new engine").unwrap();
        assert!(c.breaking);
        assert_eq!(c.scope.as_deref(), Some("core"));
        assert_eq!(c.breaking_note, None);
    }

    #[test]
    fn breaking_change_footer_marks_breaking_and_keeps_its_note() {
        let c = parse(
            "feat: new config\n\nThe body explains.\n\nBREAKING CHANGE: `env` is now a map\nof names\nRefs: #42\n",
        )
        .unwrap();
        assert!(c.breaking);
        assert_eq!(c.body.as_deref(), Some("The body explains."));
        assert_eq!(
            c.breaking_note.as_deref(),
            Some("`env` is now a map\nof names")
        );
        assert_eq!(
            c.footers,
            vec![
                (
                    "BREAKING CHANGE".to_owned(),
                    "`env` is now a map\nof names".to_owned()
                ),
                ("Refs".to_owned(), "#42".to_owned()),
            ]
        );
    }

    #[test]
    fn hyphenated_breaking_footer_counts_too() {
        let c = parse("fix: x\n\nBREAKING-CHANGE: y").unwrap();
        assert!(c.breaking);
        assert_eq!(c.breaking_note.as_deref(), Some("y"));
    }

    #[test]
    fn hash_footers_and_trailers_are_footers() {
        let c = parse("fix: x\n\nbody line\n\nCloses #7\nSigned-off-by: A <a@b>").unwrap();
        assert_eq!(c.body.as_deref(), Some("body line"));
        assert_eq!(
            c.footers,
            vec![
                ("Closes".to_owned(), "7".to_owned()),
                ("Signed-off-by".to_owned(), "A <a@b>".to_owned())
            ]
        );
    }

    #[test]
    fn a_last_paragraph_that_is_prose_stays_body() {
        let c = parse("fix: x\n\nfirst\n\nsecond paragraph\n").unwrap();
        assert_eq!(c.body.as_deref(), Some("first\n\nsecond paragraph"));
        assert!(c.footers.is_empty());
    }

    /// Issue 12, point 1: the footer section is everything from its first
    /// footer on, so trailers in a paragraph of their own do not hide a note.
    #[test]
    fn breaking_note_counts_wherever_it_sits_in_the_footer_section() {
        let cases = [
            // git commit -s -m 'feat: new api' -m 'BREAKING CHANGE: ...'
            (
                "feat: new api\n\nBREAKING CHANGE: the old api is gone\n\nSigned-off-by: A <a@b.c>\n",
                "the old api is gone",
            ),
            // A GitHub squash merge.
            (
                "feat: new api (#4)\n\n* wip\n\nBREAKING CHANGE: gone\n\nCo-authored-by: B <b@c.d>",
                "gone",
            ),
            // An issue reference after the note, same paragraph.
            (
                "fix: x\n\nbody\n\nBREAKING-CHANGE: a\nsecond line\nCloses #12",
                "a\nsecond line",
            ),
            // A note of several paragraphs, then trailers.
            (
                "feat: y\n\nBREAKING CHANGE: one\n\ntwo\n\nthree\n\nRefs: #1\nSigned-off-by: A <a@b.c>",
                "one\n\ntwo\n\nthree",
            ),
            // Trailers before the note.
            ("feat: z\n\nCloses #3\n\nBREAKING CHANGE: late", "late"),
        ];
        for (message, note) in cases {
            let c = parse(message).unwrap();
            assert!(c.breaking, "{message:?}");
            assert_eq!(c.breaking_note.as_deref(), Some(note), "{message:?}");
        }
        let c = parse(cases[1].0).unwrap();
        assert_eq!(c.body.as_deref(), Some("* wip"));
        assert_eq!(
            c.footers.last(),
            Some(&("Co-authored-by".to_owned(), "B <b@c.d>".to_owned()))
        );
    }

    #[test]
    fn breaking_words_inside_the_body_are_not_a_footer() {
        for message in [
            "feat: x\n\nThis is no BREAKING CHANGE: really",
            "feat: x\n\nprose first\nBREAKING CHANGE: mid-paragraph is body",
            "feat: x\n\n  BREAKING CHANGE: indented",
            "feat: x\n\nbreaking change: lowercase",
        ] {
            assert!(!parse(message).unwrap().breaking, "{message:?}");
        }
    }

    /// Issue 12, point 2: git's revert messages are reverts.
    #[test]
    fn git_revert_messages_are_reverts() {
        let c = parse(
            "Revert \"feat(api): add x\"\n\nThis reverts commit 0123456789abcdef0123456789abcdef01234567.\n",
        )
        .unwrap();
        assert_eq!(c.kind, "revert");
        assert_eq!(c.description, "feat(api): add x");
        assert!(!c.breaking);
        assert_eq!(
            c.reverts.as_deref(),
            Some("0123456789abcdef0123456789abcdef01234567")
        );
        // GitHub's revert button, squash-merged: no sha, a PR number after.
        let c = parse("Revert \"feat!: drop v1\" (#13)\n\nReverts acme/payments#12").unwrap();
        assert_eq!((c.kind.as_str(), c.breaking), ("revert", false));
        assert_eq!(c.description, "feat!: drop v1 (#13)");
        assert_eq!(c.reverts, None);
        // The revert's own breaking footer still counts.
        let c = parse("Revert \"feat: x\"\n\nThis reverts commit abcdef0.\n\nBREAKING CHANGE: y")
            .unwrap();
        assert_eq!((c.breaking, c.breaking_note.as_deref()), (true, Some("y")));
        assert_eq!(c.reverts.as_deref(), Some("abcdef0"));
        assert!(parse("Revert \"\"").is_none());
        assert!(parse("Revert the last change").is_none());
    }

    #[test]
    fn non_conventional_subjects_are_none() {
        for m in [
            "",
            "Merge branch 'main'",
            "fix:no space",
            "fix: ",
            "fix:\tafter a tab",
            "(scope): x",
            "feat(): empty scope",
            "feat(a(b)): nested",
            "feat(open: x",
            "1fix: digit first",
            "feat x: space in type",
            "WIP",
        ] {
            assert!(parse(m).is_none(), "{m:?} should not parse");
        }
    }

    #[test]
    fn crlf_messages_parse() {
        let c = parse("fix(ui): x\r\n\r\nbody\r\n\r\nRefs: #1\r\n").unwrap();
        assert_eq!(c.scope.as_deref(), Some("ui"));
        assert_eq!(c.body.as_deref(), Some("body"));
        assert_eq!(c.footers, vec![("Refs".to_owned(), "#1".to_owned())]);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse(&s);
        }

        #[test]
        fn never_panics_on_near_conventional_text(
            s in "[a-zA-Z(]{0,6}[()!: #\\n\u{e9}]{0,6}[a-z \\n:#-]{0,30}"
        ) {
            let _ = parse(&s);
        }
    }
}
