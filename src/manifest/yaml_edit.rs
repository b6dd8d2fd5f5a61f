//! Change one YAML scalar and nothing else: comments, key order, quoting,
//! indentation and anchors stay as people wrote them (as toml_edit does for
//! TOML), so the bot's commits on landscape and product files are one-line
//! diffs a reviewer can trust.
//!
//! The edit splices the scalar's bytes, then re-parses and checks that the
//! only difference is that value (as Renovate does) before handing the text
//! back. A file that does not parse, a missing or ambiguous path, a value that
//! is not a scalar, or one shared through anchors is refused, never guessed.

use std::io::Write;
use std::path::Path;

use granit_parser::{Event, ScalarStyle};

use crate::error::{Error, Result};
use crate::manifest::yaml_tree::{self, Node, NodeKind};

/// Name used in messages when the text did not come from a file.
const UNNAMED: &str = "<yaml>";

/// One step of a key path: `image`, `"a.b"`, `[0]`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl std::fmt::Display for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Segment::Key(k) if k.contains(['.', '[', ']', '"']) || k.is_empty() => {
                write!(f, ".{k:?}")
            }
            Segment::Key(k) => write!(f, ".{k}"),
            Segment::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// `image.tag`, `env[0].value`, `"a.b".c`, `'a.b'.c`.
fn parse_path(path: &str) -> Result<Vec<Segment>> {
    let bad = |why: &str| Error::input(format!("key path {path:?}: {why}"));
    let chars: Vec<char> = path.chars().collect();
    let mut segments = Vec::new();
    let mut i = 0;
    let mut expect_key = true;
    while i < chars.len() {
        match chars[i] {
            '[' => {
                let close = chars[i..]
                    .iter()
                    .position(|c| *c == ']')
                    .ok_or_else(|| bad("`[` without `]`"))?;
                let digits: String = chars[i + 1..i + close].iter().collect();
                let index = digits
                    .parse::<usize>()
                    .map_err(|_| bad(&format!("`[{digits}]` is not a list index")))?;
                segments.push(Segment::Index(index));
                i += close + 1;
                expect_key = false;
            }
            '.' if !expect_key => {
                i += 1;
                expect_key = true;
                if i == chars.len() {
                    return Err(bad("ends with `.`"));
                }
            }
            quote @ ('"' | '\'') if expect_key => {
                let close = chars[i + 1..]
                    .iter()
                    .position(|c| *c == quote)
                    .ok_or_else(|| bad("unclosed quote"))?;
                segments.push(Segment::Key(chars[i + 1..i + 1 + close].iter().collect()));
                i += close + 2;
                expect_key = false;
            }
            _ if expect_key => {
                let len = chars[i..]
                    .iter()
                    .position(|c| matches!(c, '.' | '['))
                    .unwrap_or(chars.len() - i);
                if len == 0 {
                    return Err(bad("empty key"));
                }
                segments.push(Segment::Key(chars[i..i + len].iter().collect()));
                i += len;
                expect_key = false;
            }
            other => return Err(bad(&format!("unexpected `{other}`"))),
        }
    }
    if segments.is_empty() {
        return Err(bad("empty"));
    }
    Ok(segments)
}

fn show(segments: &[Segment]) -> String {
    let text: String = segments.iter().map(ToString::to_string).collect();
    text.strip_prefix('.').map(str::to_owned).unwrap_or(text)
}

fn at(source: &str, node: &Node) -> String {
    format!("{source}:{}:{}", node.position.line, node.position.column)
}

/// Follow `segments` from `node`; `Ok(None)` when a key or index is absent.
fn resolve<'n>(
    node: &'n Node,
    segments: &[Segment],
    source: &str,
    whole: &[Segment],
) -> Result<Option<&'n Node>> {
    let mut current = node;
    for (depth, segment) in segments.iter().enumerate() {
        let here = show(&whole[..depth + 1]);
        current = match (&current.kind, segment) {
            (NodeKind::Mapping(pairs), Segment::Key(key)) => {
                let mut matches = pairs.iter().filter(|(k, _)| k.as_scalar() == Some(key));
                let Some((_, value)) = matches.next() else {
                    return Ok(None);
                };
                if let Some((dup, _)) = matches.next() {
                    return Err(Error::input(format!(
                        "{}: key {here} appears twice; refusing to guess which to use",
                        at(source, dup)
                    )));
                }
                value
            }
            (NodeKind::Sequence(items), Segment::Index(i)) => match items.get(*i) {
                Some(item) => item,
                None => return Ok(None),
            },
            (NodeKind::Alias(_), _) => {
                return Err(Error::input(format!(
                    "{}: {} is an alias (*name); edit the anchored node instead",
                    at(source, current),
                    show(&whole[..depth]),
                )));
            }
            (_, Segment::Key(_)) => {
                return Err(Error::input(format!(
                    "{}: {here}: found {} where a mapping was expected",
                    at(source, current),
                    current.kind_name()
                )));
            }
            (_, Segment::Index(_)) => {
                return Err(Error::input(format!(
                    "{}: {here}: found {} where a sequence was expected",
                    at(source, current),
                    current.kind_name()
                )));
            }
        };
    }
    Ok(Some(current))
}

/// The one node `path` names across all documents; `None` when absent.
fn locate<'n>(
    documents: &'n [Node],
    segments: &[Segment],
    source: &str,
) -> Result<Option<&'n Node>> {
    let mut found: Option<&Node> = None;
    for document in documents {
        if let Some(node) = resolve(document, segments, source, segments)? {
            if let Some(first) = found {
                return Err(Error::input(format!(
                    "{}: {} exists in more than one YAML document (also at line {}); refusing to guess",
                    at(source, node),
                    show(segments),
                    first.position.line
                )));
            }
            found = Some(node);
        }
    }
    Ok(found)
}

fn find_anchor(node: &Node, id: usize) -> Option<&Node> {
    if node.anchor == id {
        return Some(node);
    }
    match &node.kind {
        NodeKind::Mapping(pairs) => pairs
            .iter()
            .find_map(|(k, v)| find_anchor(k, id).or_else(|| find_anchor(v, id))),
        NodeKind::Sequence(items) => items.iter().find_map(|n| find_anchor(n, id)),
        _ => None,
    }
}

fn is_aliased(node: &Node, id: usize) -> bool {
    match &node.kind {
        NodeKind::Alias(target) => *target == id,
        NodeKind::Mapping(pairs) => pairs
            .iter()
            .any(|(k, v)| is_aliased(k, id) || is_aliased(v, id)),
        NodeKind::Sequence(items) => items.iter().any(|n| is_aliased(n, id)),
        NodeKind::Scalar { .. } => false,
    }
}

/// The scalar at `path`; `None` when the path is absent. Aliases are followed.
pub fn get_scalar(text: &str, path: &str) -> Result<Option<String>> {
    let segments = parse_path(path)?;
    let stream = yaml_tree::parse(text, UNNAMED)?;
    let Some(node) = locate(&stream.documents, &segments, UNNAMED)? else {
        return Ok(None);
    };
    let node = match node.kind {
        NodeKind::Alias(id) => stream
            .documents
            .iter()
            .find_map(|d| find_anchor(d, id))
            .unwrap_or(node),
        _ => node,
    };
    match node.as_scalar() {
        Some(value) => Ok(Some(value.to_owned())),
        None => Err(Error::input(format!(
            "{}: {} is {}, not a scalar",
            at(UNNAMED, node),
            show(&segments),
            node.kind_name()
        ))),
    }
}

/// `text` with the scalar at `path` set to `value`.
pub fn set_scalar(text: &str, path: &str, value: &str) -> Result<String> {
    set_scalar_in(text, UNNAMED, path, value)
}

/// [`set_scalar`] with `source` (a file name) used in messages.
pub fn set_scalar_in(text: &str, source: &str, path: &str, value: &str) -> Result<String> {
    let segments = parse_path(path)?;
    let stream = yaml_tree::parse(text, source)?;
    let node = locate(&stream.documents, &segments, source)?
        .ok_or_else(|| Error::input(format!("{source}: no value at {}", show(&segments))))?;
    let (current, style, bytes) = match &node.kind {
        NodeKind::Scalar {
            value,
            style,
            bytes,
        } => (value, *style, bytes.clone()),
        NodeKind::Alias(_) => {
            return Err(Error::input(format!(
                "{}: {} is an alias (*name); edit the anchored value instead",
                at(source, node),
                show(&segments)
            )));
        }
        _ => {
            return Err(Error::input(format!(
                "{}: {} is {}, not a scalar",
                at(source, node),
                show(&segments),
                node.kind_name()
            )));
        }
    };
    if node.anchor != 0 && stream.documents.iter().any(|d| is_aliased(d, node.anchor)) {
        return Err(Error::input(format!(
            "{}: {} is anchored (&name) and repeated by aliases; changing it would change them too",
            at(source, node),
            show(&segments)
        )));
    }
    if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
        return Err(Error::input(format!(
            "{}: {} is a block scalar (| or >); only single-line values can be set",
            at(source, node),
            show(&segments)
        )));
    }
    if current == value && !bytes.is_empty() {
        return Ok(text.to_owned());
    }

    // An implicit null (`key:`) has no bytes: write after its colon.
    let (splice, lead) = if bytes.is_empty() {
        if text.as_bytes().get(bytes.start) != Some(&b':') {
            return Err(Error::input(format!(
                "{}: {} is empty and has no place to write a value",
                at(source, node),
                show(&segments)
            )));
        }
        (bytes.start + 1..bytes.start + 1, " ")
    } else {
        (bytes, "")
    };

    let mut last_problem = String::new();
    for candidate in renderings(value, style, current) {
        let (Some(before), Some(after)) = (text.get(..splice.start), text.get(splice.end..)) else {
            return Err(Error::world(format!(
                "{}: the YAML parser reported a position outside the text",
                at(source, node)
            )));
        };
        let edited = [before, lead, &candidate, after].concat();
        match only_target_changed(&stream.events, &edited, node.event_index, value) {
            Ok(()) => return Ok(edited),
            Err(problem) => last_problem = problem,
        }
    }
    Err(Error::input(format!(
        "{}: cannot write {value:?} at {} without changing the file's meaning ({last_problem})",
        at(source, node),
        show(&segments)
    )))
}

/// Ways to write `value`, best first: the original quoting style, then double quotes.
fn renderings(value: &str, style: ScalarStyle, current: &str) -> Vec<String> {
    let double = serde_json::to_string(value).unwrap_or_else(|_| format!("\"{value}\""));
    let first = match style {
        ScalarStyle::Plain if !changes_type(current, value) => value.to_owned(),
        ScalarStyle::SingleQuoted if !value.contains(['\n', '\r']) => {
            format!("'{}'", value.replace('\'', "''"))
        }
        _ => return vec![double],
    };
    vec![first, double]
}

/// Whether writing `new` plain where `old` was plain would change what a YAML
/// reader gets: a tag `v1` replaced by plain `1.10` would become the number 1.1.
fn changes_type(old: &str, new: &str) -> bool {
    let old_kind = core_schema_kind(old);
    old_kind != "null" && old_kind != core_schema_kind(new)
}

/// The YAML 1.2 core-schema type a plain scalar resolves to.
fn core_schema_kind(s: &str) -> &'static str {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return "null",
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => return "bool",
        ".inf" | ".Inf" | ".INF" | "-.inf" | "-.Inf" | "-.INF" | "+.inf" | "+.Inf" | "+.INF"
        | ".nan" | ".NaN" | ".NAN" => return "float",
        _ => {}
    }
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    let is_int = (!unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()))
        || s.strip_prefix("0x")
            .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
        || s.strip_prefix("0o")
            .is_some_and(|o| !o.is_empty() && o.bytes().all(|b| (b'0'..=b'7').contains(&b)));
    if is_int {
        return "int";
    }
    let looks_float = unsigned.bytes().any(|b| b.is_ascii_digit())
        && unsigned
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && unsigned.parse::<f64>().is_ok();
    if looks_float { "float" } else { "str" }
}

/// Re-parse `edited` and check that, event by event, only `target` differs and
/// it now holds `value`.
fn only_target_changed(
    before: &[Event<'_>],
    edited: &str,
    target: usize,
    value: &str,
) -> std::result::Result<(), String> {
    let after = yaml_tree::parse(edited, UNNAMED).map_err(|e| e.to_string())?;
    if after.events.len() != before.len() {
        return Err("the document structure changed".to_owned());
    }
    for (i, (old, new)) in before.iter().zip(&after.events).enumerate() {
        if i == target {
            match (old, new) {
                (Event::Scalar(_, _, old_anchor, old_tag), Event::Scalar(v, _, anchor, tag))
                    if v == value && anchor == old_anchor && tag == old_tag => {}
                _ => return Err("the value did not read back as written".to_owned()),
            }
        } else if old != new {
            return Err("another part of the document changed".to_owned());
        }
    }
    Ok(())
}

/// Set the scalar at `path` in `file`; `false` when it already held `value`.
///
/// The file is replaced atomically (a temporary file in the same directory,
/// then a rename), so a reader never sees half a file and a refused edit
/// leaves it byte for byte as it was.
pub fn set_in_file(file: &Path, path: &str, value: &str) -> Result<bool> {
    let source = file.display().to_string();
    let bytes = std::fs::read(file).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::input(format!("{source}: no such file")),
        _ => Error::world(format!("{source}: cannot read: {e}")),
    })?;
    let text =
        String::from_utf8(bytes).map_err(|_| Error::input(format!("{source}: not UTF-8 text")))?;
    let edited = set_scalar_in(&text, &source, path, value)?;
    if edited == text {
        return Ok(false);
    }
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let world = |what: &str, e: &dyn std::fmt::Display| {
        Error::world(format!("{source}: cannot {what}: {e}"))
    };
    let mut temp =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| world("create a temporary file", &e))?;
    temp.write_all(edited.as_bytes())
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| world("write", &e))?;
    if let Ok(meta) = std::fs::metadata(file) {
        temp.as_file()
            .set_permissions(meta.permissions())
            .map_err(|e| world("keep permissions", &e))?;
    }
    temp.persist(file)
        .map_err(|e| world("replace the file", &e.error))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUES: &str = "\
# Helm values for payments
image:
  repository: ghcr.io/acme/payments   # where CI pushes
  tag: 1.4.2 # bumped by stagecoach
  pullPolicy: 'IfNotPresent'
env:
  - name: MODE
    value: \"live\"
  - {name: LEVEL, value: info}
\"a.b\":
  c: x
";

    #[test]
    fn plain_value_changes_alone() {
        let out = set_scalar(VALUES, "image.tag", "1.5.0").unwrap();
        assert_eq!(out, VALUES.replace("tag: 1.4.2 #", "tag: 1.5.0 #"));
    }

    #[test]
    fn quoting_style_is_kept() {
        let out = set_scalar(VALUES, "image.pullPolicy", "Always").unwrap();
        assert_eq!(out, VALUES.replace("'IfNotPresent'", "'Always'"));
        let out = set_scalar(VALUES, "env[0].value", "dry \"run\"").unwrap();
        assert_eq!(out, VALUES.replace("\"live\"", "\"dry \\\"run\\\"\""));
        let out = set_scalar(VALUES, "image.pullPolicy", "it's").unwrap();
        assert!(out.contains("pullPolicy: 'it''s'"), "{out}");
    }

    #[test]
    fn flow_mappings_and_quoted_keys_work() {
        let out = set_scalar(VALUES, "env[1].value", "debug").unwrap();
        assert_eq!(out, VALUES.replace("value: info}", "value: debug}"));
        let out = set_scalar(VALUES, "\"a.b\".c", "y").unwrap();
        assert_eq!(out, VALUES.replace("  c: x", "  c: y"));
        let product = "components:\n  payments: {repo: acme/payments, version: 1.4.2}\n";
        assert_eq!(
            set_scalar(product, "components.payments.version", "1.5.0").unwrap(),
            "components:\n  payments: {repo: acme/payments, version: 1.5.0}\n"
        );
    }

    #[test]
    fn plain_values_that_would_change_meaning_get_quoted() {
        let out = set_scalar("tag: v1 # x\n", "tag", "1.10").unwrap();
        assert_eq!(out, "tag: \"1.10\" # x\n");
        let out = set_scalar("tag: a\n", "tag", "x: y").unwrap();
        assert_eq!(out, "tag: \"x: y\"\n");
        let out = set_scalar("tag: a\n", "tag", "# not a comment").unwrap();
        assert_eq!(out, "tag: \"# not a comment\"\n");
        let out = set_scalar("{a: b, c: d}\n", "a", "x,y").unwrap();
        assert_eq!(out, "{a: \"x,y\", c: d}\n");
        // A number stays a number.
        assert_eq!(
            set_scalar("replicas: 2\n", "replicas", "3").unwrap(),
            "replicas: 3\n"
        );
    }

    #[test]
    fn empty_value_gets_written_after_the_colon() {
        assert_eq!(
            set_scalar("tag:\nx: 1\n", "tag", "1.0.0").unwrap(),
            "tag: 1.0.0\nx: 1\n"
        );
    }

    #[test]
    fn same_value_returns_the_text_unchanged() {
        assert_eq!(set_scalar(VALUES, "image.tag", "1.4.2").unwrap(), VALUES);
    }

    #[test]
    fn anchors_survive_and_shared_values_are_refused() {
        let text = "base: &v 1.0.0\nother: *v\nlone: &l 2\n";
        let e = set_scalar(text, "base", "1.1.0").unwrap_err();
        assert!(
            e.message().contains("1:10") && e.message().contains("alias"),
            "{e}"
        );
        let e = set_scalar(text, "other", "1.1.0").unwrap_err();
        assert!(e.message().contains("alias"), "{e}");
        assert_eq!(
            set_scalar(text, "lone", "3").unwrap(),
            "base: &v 1.0.0\nother: *v\nlone: &l 3\n"
        );
        assert_eq!(get_scalar(text, "other").unwrap().as_deref(), Some("1.0.0"));
    }

    #[test]
    fn refusals_are_one_line_bad_input_with_a_place() {
        let cases = [
            ("a: [1\n", "a", "not valid YAML"),
            ("a: 1\n", "b", "no value at b"),
            ("a: {b: 1}\n", "a", "not a scalar"),
            ("a: 1\n", "a.b", "where a mapping was expected"),
            ("a: 1\na: 2\n", "a", "appears twice"),
            ("a: 1\n---\na: 2\n", "a", "more than one YAML document"),
            ("a: |\n  x\n", "a", "block scalar"),
            ("a: 1\n", "a[", "`[` without `]`"),
            ("a: 1\n", "", "empty"),
        ];
        for (text, path, expected) in cases {
            let e = set_scalar(text, path, "9").unwrap_err();
            assert_eq!(e.exit_code(), 2, "{path}");
            assert!(e.message().contains(expected), "{path}: {e}");
            assert!(!e.message().contains('\n'));
        }
    }

    #[test]
    fn multi_document_files_are_fine_when_the_path_is_unique() {
        let text = "kind: A\n---\nimage:\n  tag: 1 # c\n";
        assert_eq!(
            set_scalar(text, "image.tag", "2").unwrap(),
            "kind: A\n---\nimage:\n  tag: 2 # c\n"
        );
    }

    #[test]
    fn get_reads_scalars_and_misses_quietly() {
        assert_eq!(
            get_scalar(VALUES, "image.tag").unwrap().as_deref(),
            Some("1.4.2")
        );
        assert_eq!(
            get_scalar(VALUES, "env[1].name").unwrap().as_deref(),
            Some("LEVEL")
        );
        assert_eq!(get_scalar(VALUES, "image.nope").unwrap(), None);
        assert_eq!(get_scalar(VALUES, "env[9]").unwrap(), None);
        assert!(get_scalar(VALUES, "image").is_err());
    }

    #[test]
    fn file_edit_is_atomic_and_refusal_leaves_bytes_alone() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("values.yaml");
        std::fs::write(&file, VALUES).unwrap();
        assert!(set_in_file(&file, "image.tag", "2.0.0").unwrap());
        assert!(!set_in_file(&file, "image.tag", "2.0.0").unwrap());
        let after = std::fs::read_to_string(&file).unwrap();
        assert_eq!(after, VALUES.replace("1.4.2", "2.0.0"));
        let e = set_in_file(&file, "image.missing", "x").unwrap_err();
        assert!(e.message().starts_with(&file.display().to_string()), "{e}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), after);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    proptest::proptest! {
        #[test]
        fn setting_any_value_never_panics_and_reads_back(value in "\\PC{0,20}") {
            if let Ok(out) = set_scalar(VALUES, "image.tag", &value) {
                proptest::prop_assert_eq!(get_scalar(&out, "image.tag").unwrap(), Some(value.clone()));
                let repository = get_scalar(&out, "image.repository").unwrap();
                proptest::prop_assert_eq!(repository.as_deref(), Some("ghcr.io/acme/payments"));
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in "[a-z:{}\\[\\], #&*'\"\\n-]{0,40}", path in "[a-z.\\[\\]0-9\"]{0,8}") {
            let _ = set_scalar(&text, &path, "v");
            let _ = get_scalar(&text, &path);
        }
    }
}
