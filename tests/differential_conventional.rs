//! Stagecoach's reading of commit messages against the reference parser
//! (`conventional-commits-parser` with the `conventionalcommits` preset, as
//! conventional-changelog and conventional-recommended-bump use it), on
//! messages generated to cover the grammar: types, scopes, `!`, bodies,
//! footers in every position, the trailers git and GitHub add, whitespace,
//! unicode and git's revert messages. Issue 12, point 3.
//!
//! Both readings must agree on what decides a release and a changelog line
//! (conventional or not, type, scope, description, breaking, the breaking
//! note, revert), and so on the bump (`version next`) and the changelog
//! group. Where they disagree the spec wins, and the case must be one of the
//! differences listed in docs/conventional-commits.md.
//!
//! Needs node and `npm ci` in scripts/differential (`.ci/run` does it);
//! without them the test fails saying what to run, unless
//! STAGECOACH_SKIP_DIFFERENTIAL=1.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use stagecoach::conventional;
use stagecoach::version::{bump_for, default_bump_rules};

fn reference_readings(messages: &[String]) -> Option<Vec<serde_json::Value>> {
    if std::env::var("STAGECOACH_SKIP_DIFFERENTIAL").as_deref() == Ok("1") {
        eprintln!("skipped: STAGECOACH_SKIP_DIFFERENTIAL=1");
        return None;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/differential");
    let setup = format!(
        "run `npm ci --prefix {}` (as .ci/run does; needs node 20 or later), or set STAGECOACH_SKIP_DIFFERENTIAL=1 to skip it",
        dir.display()
    );
    assert!(
        dir.join("node_modules/conventional-commits-parser")
            .is_dir()
            && dir
                .join("node_modules/conventional-changelog-conventionalcommits")
                .is_dir(),
        "the reference parser is not installed; {setup}"
    );
    let mut child = Command::new("node")
        .arg(dir.join("conventional.mjs"))
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node ({e}); install node, then {setup}"));
    let input = serde_json::to_vec(messages).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "the reference parser failed: {}; {setup}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// What decides a release and a changelog line, as either parser reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reading {
    conventional: bool,
    kind: Option<String>,
    scope: Option<String>,
    description: Option<String>,
    breaking: bool,
    /// The breaking note's text, when a footer gave one.
    note: Option<String>,
    revert: bool,
}

fn ours(message: &str) -> Reading {
    let Some(c) = conventional::parse(message) else {
        return Reading::not_conventional();
    };
    Reading {
        conventional: true,
        revert: c.reverts.is_some(),
        kind: Some(c.kind),
        scope: c.scope,
        description: Some(c.description),
        breaking: c.breaking,
        note: c.breaking_note,
    }
}

impl Reading {
    fn not_conventional() -> Reading {
        Reading {
            conventional: false,
            kind: None,
            scope: None,
            description: None,
            breaking: false,
            note: None,
            revert: false,
        }
    }
}

/// The reference's reading in the same terms: its type lowercased (the spec
/// makes types case-insensitive), a git revert as type `revert`, breaking
/// when it has a note (the preset's only note keywords are the breaking ones).
fn theirs(read: &serde_json::Value, our_note: bool) -> Reading {
    let text = |v: &serde_json::Value| v.as_str().map(|s| s.trim().to_owned());
    let revert = !read["revert"].is_null();
    let kind = if revert {
        Some("revert".to_owned())
    } else {
        text(&read["type"]).map(|t| t.to_lowercase())
    };
    if kind.is_none() {
        return Reading::not_conventional();
    }
    let notes = read["notes"].as_array().cloned().unwrap_or_default();
    Reading {
        conventional: true,
        kind,
        scope: if revert { None } else { text(&read["scope"]) },
        description: if revert {
            text(&read["revert"]["header"])
        } else {
            text(&read["subject"])
        },
        breaking: !notes.is_empty(),
        // For `feat!: x` alone the reference makes the subject its note; only
        // a footer's note is compared.
        note: notes
            .first()
            .filter(|_| our_note)
            .and_then(|n| text(&n["text"])),
        revert,
    }
}

/// xorshift64*: the same messages on every run, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const TYPES: &[&str] = &[
    "feat", "fix", "docs", "chore", "perf", "refactor", "revert", "deps", "build", "ci", "test",
    "style", "Feat", "FIX", "feat-x", "feat_x", "wip", "2fix",
];
const SCOPES: &[&str] = &[
    "api", "ui-kit", "ünï", "a b", "a.b", "core/git", "API", "", "a(b)",
];
const DESCRIPTIONS: &[&str] = &[
    "add the releases endpoint",
    "ünïcode ✓ 日本語",
    "squashed (#123)",
    "with: a colon",
    "quote \"this\"",
    "x",
];
const BODIES: &[&str] = &[
    "One line of body.",
    "Two lines\nof body.",
    "Paragraph one.\n\nParagraph two.",
    "* wip\n* more wip",
    "Mentions BREAKING CHANGE: inline, which is not a footer.",
    "ünïcode body — with dashes",
    "Prose first.\nBREAKING CHANGE: in the body's paragraph",
];
const FOOTERS: &[&str] = &[
    "Signed-off-by: Ann Dev <ann@example.com>",
    "Co-authored-by: Bob <bob@example.com>",
    "Closes #12",
    "Refs: #3",
    "Reviewed-by: Cy",
    "BREAKING CHANGE: the old api is gone",
    "BREAKING-CHANGE: config moved\nto a map",
    "BREAKING CHANGE: first paragraph\n\nsecond paragraph of the note",
    "BREAKING CHANGE: ünïcode note ✓",
    "  BREAKING CHANGE: indented",
    "breaking change: lowercase",
    "BREAKING CHANGE without a colon",
];

fn header(rng: &mut Rng) -> String {
    let mut h = rng.pick(TYPES).to_owned();
    if rng.chance(40) {
        h.push_str(&format!("({})", rng.pick(SCOPES)));
    }
    if rng.chance(15) {
        h.push('!');
    }
    h.push_str(": ");
    h.push_str(rng.pick(DESCRIPTIONS));
    h
}

fn message(rng: &mut Rng) -> String {
    let mut m = if rng.chance(3) {
        format!("Revert \"{}\"\n\nReverts acme/payments#12", header(rng))
    } else if rng.chance(10) {
        let sha: String = (0..40)
            .map(|i| char::from(b"0123456789abcdef"[(i * 7 + rng.below(16)) % 16]))
            .collect();
        format!("Revert \"{}\"\n\nThis reverts commit {sha}.", header(rng))
    } else {
        header(rng)
    };
    if rng.chance(50) {
        m.push_str("\n\n");
        m.push_str(rng.pick(BODIES));
    }
    for _ in 0..rng.below(4) {
        m.push_str("\n\n");
        let lines: Vec<&str> = (0..1 + rng.below(3)).map(|_| rng.pick(FOOTERS)).collect();
        m.push_str(&lines.join("\n"));
    }
    m.push_str(rng.pick(&["", "\n", "\n\n"]));
    if rng.chance(5) {
        m = m.replace('\n', "\r\n");
    }
    m
}

/// The message with the constructs where the spec and the reference
/// disagree rewritten the way both read alike, and the ids of the rewrites
/// used; each id is a row of docs/conventional-commits.md. Stagecoach
/// follows the spec there.
fn without_known_differences(message: &str) -> (String, Vec<&'static str>) {
    let mut ids = Vec::new();
    let text = message.replace("\r\n", "\n");
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();

    // Header: type and scope.
    let subject = lines[0].clone();
    let type_end = subject.find(['(', '!', ':']).unwrap_or(subject.len());
    let (kind, rest) = subject.split_at(type_end);
    let mut kind = kind.to_owned();
    let mut rest = rest.to_owned();
    if !subject.starts_with("Revert \"") {
        if kind.contains('-') {
            ids.push("D1");
            kind = kind.replace('-', "_");
        }
        if kind.starts_with(|c: char| c.is_ascii_digit()) {
            ids.push("D2");
            kind = format!("t{kind}");
        }
        if let Some(after) = rest.strip_prefix("()") {
            ids.push("D3");
            rest = after.to_owned();
        } else if let Some(inner) = rest.strip_prefix('(') {
            let end = inner.find("): ").or_else(|| inner.find(")!: "));
            if let Some(end) = end.filter(|&e| inner[..e].contains(['(', ')'])) {
                ids.push("D4");
                let scope: String = inner[..end]
                    .chars()
                    .filter(|c| !"()".contains(*c))
                    .collect();
                rest = format!("({scope}{}", &inner[end..]);
            }
        }
    }
    lines[0] = format!("{kind}{rest}");

    // Body and footers: breaking-change lines the spec does not count.
    let footer_like =
        regex::Regex::new(r"^([A-Za-z][A-Za-z0-9-]*(: | #)|BREAKING CHANGE: )").unwrap();
    let mut in_footers = false;
    let mut kept: Vec<String> = vec![lines[0].clone()];
    for i in 1..lines.len() {
        let line = &lines[i];
        let after_blank = lines[i - 1].trim().is_empty();
        let trimmed = line.trim_start();
        let upper =
            trimmed.starts_with("BREAKING CHANGE") || trimmed.starts_with("BREAKING-CHANGE");
        let any_case = trimmed.len() >= 15 && {
            let head = trimmed.get(..15).unwrap_or("").to_ascii_uppercase();
            head == "BREAKING CHANGE" || head == "BREAKING-CHANGE"
        };
        let id = if any_case && !upper && trimmed.len() == line.len() {
            Some("D5")
        } else if any_case && trimmed.len() != line.len() {
            Some("D6")
        } else if upper && !trimmed[15..].starts_with(": ") {
            Some("D7")
        } else if upper && !after_blank && !in_footers {
            Some("D8")
        } else {
            None
        };
        if let Some(id) = id {
            ids.push(id);
            continue;
        }
        if after_blank && footer_like.is_match(line) {
            in_footers = true;
        }
        kept.push(line.clone());
    }

    // GitHub's revert button names the pull request, not the commit.
    if kept[0].starts_with("Revert \"") && !text.contains("This reverts commit ") {
        ids.push("D9");
        kept.splice(
            1..1,
            ["".to_owned(), "This reverts commit 0000000.".to_owned()],
        );
    }
    ids.sort_unstable();
    ids.dedup();
    (kept.join("\n"), ids)
}

#[test]
fn stagecoach_reads_messages_as_the_reference_parser_does_except_where_the_spec_differs() {
    let mut rng = Rng(0x00c0_ffee_1234_5678);
    let mut messages: Vec<String> = (0..2000).map(|_| message(&mut rng)).collect();
    // Hand-picked messages from the issue, besides the generated ones.
    messages.extend(
        [
            "feat: new api\n\nBREAKING CHANGE: the old api is gone\n\nSigned-off-by: A <a@b.c>\n",
            "feat: squash (#4)\n\n* wip\n\nBREAKING CHANGE: gone\n\nCo-authored-by: B <b@c.d>",
            "fix: x\n\nBREAKING CHANGE: note\nCloses #12",
            "Revert \"feat: x\"\n\nThis reverts commit 0123456789abcdef0123456789abcdef01234567.",
            "Merge branch 'main' into topic",
            "fix:no space",
            "Update README",
        ]
        .map(str::to_owned),
    );
    let Some(readings) = reference_readings(&messages) else {
        return;
    };
    assert_eq!(readings.len(), messages.len());

    let rules = default_bump_rules();
    let mut agreed = 0usize;
    let mut explained: Vec<(String, Vec<&'static str>)> = Vec::new();
    let mut undocumented = Vec::new();
    for (message, read) in messages.iter().zip(&readings) {
        let our = ours(message);
        let their = theirs(read, our.note.is_some());
        if our == their {
            agreed += 1;
            // Same reading, so the same bump (`version next`) and changelog group.
            if let Some(parsed) = conventional::parse(message) {
                let bump = bump_for(&parsed, &rules);
                assert_eq!(
                    bump.is_some(),
                    parsed.breaking || rules.contains_key(&parsed.kind)
                );
            }
            continue;
        }
        let (rewritten, ids) = without_known_differences(message);
        if ids.is_empty() {
            undocumented.push(format!(
                "{message:?}\n  ours:   {our:?}\n  theirs: {their:?}"
            ));
        } else {
            explained.push((rewritten, ids));
        }
    }
    // Rewriting the listed constructs must be all it takes to agree.
    let rewritten: Vec<String> = explained.iter().map(|(m, _)| m.clone()).collect();
    let second = reference_readings(&rewritten).unwrap_or_default();
    let mut differences: std::collections::BTreeMap<&str, usize> = Default::default();
    for ((message, ids), read) in explained.iter().zip(&second) {
        let our = ours(message);
        let their = theirs(read, our.note.is_some());
        if our == their {
            for id in ids {
                *differences.entry(id).or_default() += 1;
            }
        } else {
            undocumented.push(format!(
                "{message:?} (after rewriting {ids:?})\n  ours:   {our:?}\n  theirs: {their:?}"
            ));
        }
    }
    assert!(
        undocumented.is_empty(),
        "{} messages read differently from the reference, not listed in docs/conventional-commits.md:\n{}",
        undocumented.len(),
        undocumented
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        agreed * 10 > messages.len() * 6,
        "only {agreed} of {} agree",
        messages.len()
    );
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/conventional-commits.md"),
    )
    .unwrap();
    for id in differences.keys() {
        assert!(
            doc.contains(&format!("| {id} |")),
            "docs/conventional-commits.md does not list {id}"
        );
    }
    eprintln!(
        "{agreed} of {} agree; the others differ only where the docs say: {differences:?}",
        messages.len()
    );
}
