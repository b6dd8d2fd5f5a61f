//! Change one YAML scalar and nothing else: comments, key order, quoting,
//! indentation and anchors stay as people wrote them (as toml_edit does for
//! TOML), so the bot's commits on landscape and product files are one-line
//! diffs a reviewer can trust.
//!
//! The edit splices the scalar's bytes, then re-parses and checks that the
//! only difference is that value (as Renovate does) before handing the text
//! back. A file that does not parse, a missing or ambiguous path, a value that
//! is not a scalar, or one shared through anchors is refused, never guessed.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use granit_parser::{Event, ScalarStyle};

use crate::error::{Error, Result};
use crate::manifest::yaml_tree::{self, Node, NodeKind};

mod quoting;

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

/// `.image.tag`, `[0].name`: the form [`values_by_path`] keys paths by.
fn raw_path(segments: &[Segment]) -> String {
    segments.iter().map(ToString::to_string).collect()
}

fn show(segments: &[Segment]) -> String {
    let text: String = segments.iter().map(ToString::to_string).collect();
    text.strip_prefix('.').map(str::to_owned).unwrap_or(text)
}

fn at(source: &str, node: &Node) -> String {
    format!("{source}:{}:{}", node.position.line, node.position.column)
}

/// What following a path through one document found.
enum Lookup<'n> {
    /// The nodes from the document's root down to the target.
    Found(Vec<&'n Node>),
    Absent,
    /// The document has another shape there (a scalar where the path needs a
    /// mapping): it does not hold the path. The error is what to say when no
    /// document holds it.
    OtherShape(Error),
}

/// Follow `segments` from `node`. Duplicate keys and aliases on the way are
/// errors: the path would be ambiguous or shared.
fn resolve<'n>(node: &'n Node, segments: &[Segment], source: &str) -> Result<Lookup<'n>> {
    let mut chain = vec![node];
    let mut current = node;
    for (depth, segment) in segments.iter().enumerate() {
        let here = show(&segments[..depth + 1]);
        current = match (&current.kind, segment) {
            (NodeKind::Mapping(pairs), Segment::Key(key)) => {
                let mut matches = pairs.iter().filter(|(k, _)| k.as_scalar() == Some(key));
                let Some((_, value)) = matches.next() else {
                    return Ok(Lookup::Absent);
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
                None => return Ok(Lookup::Absent),
            },
            (NodeKind::Alias { name, .. }, _) => {
                return Err(Error::input(format!(
                    "{}: {} is an alias (*{name}); edit the anchored node instead",
                    at(source, current),
                    show(&segments[..depth]),
                )));
            }
            (_, Segment::Key(_)) => {
                return Ok(Lookup::OtherShape(Error::input(format!(
                    "{}: {here}: found {} where a mapping was expected",
                    at(source, current),
                    current.kind_name()
                ))));
            }
            (_, Segment::Index(_)) => {
                return Ok(Lookup::OtherShape(Error::input(format!(
                    "{}: {here}: found {} where a sequence was expected",
                    at(source, current),
                    current.kind_name()
                ))));
            }
        };
        chain.push(current);
    }
    Ok(Lookup::Found(chain))
}

/// The one place `path` names across all documents: the document's index and
/// the nodes from its root to the target; `None` when no document holds it.
///
/// Only documents that hold the path matter: an empty document (a trailing
/// `---`) or one of another shape is passed over, and only said to be in the
/// way when no document holds the path at all.
fn locate<'n>(
    documents: &'n [Node],
    segments: &[Segment],
    source: &str,
) -> Result<Option<(usize, Vec<&'n Node>)>> {
    let mut found: Option<(usize, Vec<&Node>)> = None;
    let mut other_shape: Option<Error> = None;
    for (index, document) in documents.iter().enumerate() {
        match resolve(document, segments, source)? {
            Lookup::Found(chain) => {
                if let Some((_, first)) = &found {
                    let (here, first) = (chain[chain.len() - 1], first[first.len() - 1]);
                    return Err(Error::input(format!(
                        "{}: {} exists in more than one YAML document (also at line {}); refusing to guess",
                        at(source, here),
                        show(segments),
                        first.position.line
                    )));
                }
                found = Some((index, chain));
            }
            Lookup::Absent => {}
            Lookup::OtherShape(e) => {
                other_shape.get_or_insert(e);
            }
        }
    }
    match (found, other_shape) {
        (Some(found), _) => Ok(Some(found)),
        (None, Some(e)) => Err(e),
        (None, None) => Ok(None),
    }
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

/// One place an anchor is repeated.
struct AliasSite {
    name: String,
    line: usize,
    /// As the value of a `<<:` merge key.
    merge: bool,
}

impl std::fmt::Display for AliasSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.merge {
            "the merge <<:"
        } else {
            "the alias"
        };
        write!(f, "{what} *{} at line {}", self.name, self.line)
    }
}

/// Where the anchor `id` is repeated, in document order.
fn alias_sites(node: &Node, id: usize, merge: bool, sites: &mut Vec<AliasSite>) {
    match &node.kind {
        NodeKind::Alias { id: target, name } if *target == id => sites.push(AliasSite {
            name: name.clone(),
            line: node.position.line,
            merge,
        }),
        NodeKind::Mapping(pairs) => {
            for (k, v) in pairs {
                alias_sites(k, id, false, sites);
                alias_sites(v, id, is_merge_key(k), sites);
            }
        }
        NodeKind::Sequence(items) => {
            for item in items {
                alias_sites(item, id, merge, sites);
            }
        }
        _ => {}
    }
}

/// The key YAML 1.1 readers (go-yaml v2, so Helm) treat as a merge of another mapping.
const MERGE_KEY: &str = "<<";

/// Refuse an edit under an anchored node that an alias or a `<<:` merge
/// repeats: changing it would change every place that repeats it, which a
/// one-value edit must not do silently.
fn refuse_shared(documents: &[Node], chain: &[&Node], source: &str, path: &str) -> Result<()> {
    let target = chain[chain.len() - 1];
    let mut shared = Vec::new();
    // Innermost first: the anchor closest to the value is the one to look at.
    for node in chain.iter().rev().filter(|n| n.anchor != 0) {
        let mut sites = Vec::new();
        for document in documents {
            alias_sites(document, node.anchor, false, &mut sites);
        }
        let Some(first) = sites.first() else {
            continue;
        };
        let what = if std::ptr::eq(*node, target) {
            format!("is anchored as &{}", first.name)
        } else {
            format!(
                "is inside &{} ({} at line {})",
                first.name,
                node.kind_name(),
                node.position.line
            )
        };
        let sites: Vec<String> = sites.iter().map(ToString::to_string).collect();
        shared.push(format!("{what}, which {} repeats", sites.join(" and ")));
    }
    if shared.is_empty() {
        return Ok(());
    }
    Err(Error::input(format!(
        "{}: {path} {}; changing it would change them too (shared values are refused: edit each place on its own)",
        at(source, target),
        shared.join(", and ")
    )))
}

/// The scalar at `path`; `None` when the path is absent. Aliases are followed.
pub fn get_scalar(text: &str, path: &str) -> Result<Option<String>> {
    let segments = parse_path(path)?;
    let stream = yaml_tree::parse(text, UNNAMED)?;
    let Some((_, chain)) = locate(&stream.documents, &segments, UNNAMED)? else {
        return Ok(None);
    };
    let node = chain[chain.len() - 1];
    let node = match node.kind {
        NodeKind::Alias { id, .. } => stream
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
    let (document, chain) = locate(&stream.documents, &segments, source)?
        .ok_or_else(|| Error::input(format!("{source}: no value at {}", show(&segments))))?;
    let node = chain[chain.len() - 1];
    let (current, style, bytes) = match &node.kind {
        NodeKind::Scalar {
            value,
            style,
            bytes,
        } => (value, *style, bytes.clone()),
        NodeKind::Alias { name, .. } => {
            return Err(Error::input(format!(
                "{}: {} is an alias (*{name}); edit the anchored value instead",
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
    refuse_shared(&stream.documents, &chain, source, &show(&segments))?;
    if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
        return Err(Error::input(format!(
            "{}: {} is a block scalar (| or >); only single-line values can be set",
            at(source, node),
            show(&segments)
        )));
    }
    // Unchanged only when readers already get the string: a plain `~` is
    // null, not "~".
    let reads_as_written = style != ScalarStyle::Plain || quoting::plain_keeps(current, value);
    if current == value && !bytes.is_empty() && reads_as_written {
        return Ok(text.to_owned());
    }
    let before_values = values_by_path(&stream.documents)
        .map_err(|why| Error::input(format!("{}: {why}; refusing to edit it", at(source, node))))?;
    let target_path = format!("{document}:{}", raw_path(&segments));

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
        // A plain integer kept plain reads back as that integer.
        let expected = if candidate == value {
            reader_value(value, ScalarStyle::Plain)
        } else {
            value.to_owned()
        };
        let check = only_target_changed(&stream.events, &edited, node.event_index, value)
            .and_then(|()| only_path_changed(&before_values, &edited, &target_path, &expected));
        match check {
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

/// Ways to write `value`, best first: the original quoting style when every
/// reader gets `value` back from it, then double quotes.
fn renderings(value: &str, style: ScalarStyle, current: &str) -> Vec<String> {
    let double = quoting::double_quoted(value);
    let first = match style {
        ScalarStyle::Plain if quoting::plain_keeps(current, value) => value.to_owned(),
        ScalarStyle::SingleQuoted if quoting::single_quote_safe(value) => {
            format!("'{}'", value.replace('\'', "''"))
        }
        _ => return vec![double],
    };
    vec![first, double]
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

/// Re-parse `edited` and check, as a reader that follows aliases and `<<:`
/// merges sees it, that exactly one path changed: the target, to `value`.
/// Events alone cannot show this, since an alias's event does not change when
/// the value it repeats does.
fn only_path_changed(
    before: &BTreeMap<String, String>,
    edited: &str,
    target: &str,
    value: &str,
) -> std::result::Result<(), String> {
    let after = yaml_tree::parse(edited, UNNAMED).map_err(|e| e.to_string())?;
    let after = values_by_path(&after.documents)?;
    let changed: Vec<&str> = before
        .iter()
        .filter(|(path, old)| after.get(*path) != Some(*old))
        .map(|(path, _)| path.as_str())
        .chain(
            after
                .keys()
                .filter(|path| !before.contains_key(*path))
                .map(String::as_str),
        )
        .collect();
    match changed.as_slice() {
        [only] if *only == target && after.get(target).map(String::as_str) == Some(value) => Ok(()),
        _ => Err(format!(
            "paths that would change: {}",
            changed
                .iter()
                .map(|p| {
                    let path = p.split_once(':').map_or(*p, |(_, path)| path);
                    path.strip_prefix('.').unwrap_or(path)
                })
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Every scalar of `text` as a reader that follows aliases and `<<:` merges
/// gets it, by `<document index>:<path>` (`0:.image.tag`): its text, or
/// `!!<type> <text>` for a plain scalar some reader takes for a null, bool,
/// number or timestamp. For checks such as the fuzz target's that an edit
/// changed one value only.
pub fn reader_view(text: &str) -> Result<BTreeMap<String, String>> {
    let stream = yaml_tree::parse(text, UNNAMED)?;
    values_by_path(&stream.documents).map_err(|why| Error::input(format!("{UNNAMED}: {why}")))
}

/// Scalars a reader gets from every path (`<document>:<path>`), with aliases
/// and `<<:` merges expanded the way go-yaml v2 and PyYAML expand them.
fn values_by_path(documents: &[Node]) -> std::result::Result<BTreeMap<String, String>, String> {
    let mut anchors = HashMap::new();
    for document in documents {
        collect_anchors(document, &mut anchors);
    }
    let mut out = BTreeMap::new();
    let mut budget = MAX_EXPANDED_VALUES;
    for (index, document) in documents.iter().enumerate() {
        expand(
            document,
            &mut format!("{index}:"),
            &anchors,
            0,
            &mut budget,
            &mut out,
        )?;
    }
    Ok(out)
}

/// An alias bomb (a few lines repeated into billions) is refused, not expanded.
const MAX_EXPANDED_VALUES: usize = 200_000;
/// Aliases of aliases deeper than this are refused.
const MAX_EXPANSION_DEPTH: usize = 64;

fn collect_anchors<'n>(node: &'n Node, anchors: &mut HashMap<usize, &'n Node>) {
    if node.anchor != 0 {
        anchors.insert(node.anchor, node);
    }
    match &node.kind {
        NodeKind::Mapping(pairs) => {
            for (k, v) in pairs {
                collect_anchors(k, anchors);
                collect_anchors(v, anchors);
            }
        }
        NodeKind::Sequence(items) => items.iter().for_each(|n| collect_anchors(n, anchors)),
        _ => {}
    }
}

fn expand(
    node: &Node,
    path: &mut String,
    anchors: &HashMap<usize, &Node>,
    depth: usize,
    budget: &mut usize,
    out: &mut BTreeMap<String, String>,
) -> std::result::Result<(), String> {
    if depth > MAX_EXPANSION_DEPTH {
        return Err(format!("nested more than {MAX_EXPANSION_DEPTH} deep"));
    }
    *budget = budget
        .checked_sub(1)
        .ok_or_else(|| format!("expands to more than {MAX_EXPANDED_VALUES} values"))?;
    match &node.kind {
        NodeKind::Scalar { value, style, .. } => {
            out.insert(path.clone(), reader_value(value, *style));
        }
        NodeKind::Alias { id, name } => {
            let target = anchors
                .get(id)
                .ok_or_else(|| format!("alias *{name} has no anchor"))?;
            expand(target, path, anchors, depth + 1, budget, out)?;
        }
        NodeKind::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                expand(item, path, anchors, depth + 1, budget, out)?;
                path.truncate(len);
            }
        }
        NodeKind::Mapping(pairs) => {
            // Merged keys first, so the mapping's own keys win (as readers do).
            for (_, v) in pairs.iter().filter(|(k, _)| is_merge_key(k)) {
                let sources: Vec<&Node> = match &v.kind {
                    NodeKind::Sequence(items) => items.iter().rev().collect(),
                    _ => vec![v],
                };
                for source in sources {
                    expand(source, path, anchors, depth + 1, budget, out)?;
                }
            }
            for (i, (k, v)) in pairs
                .iter()
                .enumerate()
                .filter(|(_, (k, _))| !is_merge_key(k))
            {
                let len = path.len();
                match k.as_scalar() {
                    Some(key) => path.push_str(&Segment::Key(key.to_owned()).to_string()),
                    None => path.push_str(&format!(".<key {i}>")),
                }
                expand(v, path, anchors, depth + 1, budget, out)?;
                path.truncate(len);
            }
        }
    }
    Ok(())
}

/// A scalar as [`values_by_path`] records it: its text when every reader
/// gets a string, else `!!<type> <text>` (a plain `~` is `!!null ~`), so a
/// change of type shows as a change.
fn reader_value(text: &str, style: ScalarStyle) -> String {
    match quoting::non_string_reading(text).filter(|_| style == ScalarStyle::Plain) {
        Some(kind) => format!("!!{kind} {text}"),
        None => text.to_owned(),
    }
}

fn is_merge_key(key: &Node) -> bool {
    matches!(&key.kind, NodeKind::Scalar { value, style: ScalarStyle::Plain, .. } if value == MERGE_KEY)
}

/// Set the scalar at `path` in `file`; `false` when it already held `value`.
///
/// The file is replaced atomically (a temporary file in the same directory,
/// then a rename), so a reader never sees half a file and a refused edit
/// leaves it byte for byte as it was. A symlink is followed and its target
/// edited (the link stays a link); a read-only file and anything that is not
/// a regular file (a FIFO, a device, a directory) are refused before they are
/// opened, so a FIFO never blocks the edit.
pub fn set_in_file(file: &Path, path: &str, value: &str) -> Result<bool> {
    let source = file.display().to_string();
    let target = editable_target(file, &source)?;
    let bytes = std::fs::read(&target).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::input(format!("{source}: no such file")),
        _ => Error::world(format!("{source}: cannot read: {e}")),
    })?;
    let text =
        String::from_utf8(bytes).map_err(|_| Error::input(format!("{source}: not UTF-8 text")))?;
    let edited = set_scalar_in(&text, &source, path, value)?;
    if edited == text {
        return Ok(false);
    }
    let dir = match target.parent() {
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
    if let Ok(meta) = std::fs::metadata(&target) {
        temp.as_file()
            .set_permissions(meta.permissions())
            .map_err(|e| world("keep permissions", &e))?;
    }
    temp.persist(&target)
        .map_err(|e| world("replace the file", &e.error))?;
    Ok(true)
}

/// The regular, writable file an edit of `file` replaces: `file` itself, or
/// the file its symlinks lead to.
fn editable_target(file: &Path, source: &str) -> Result<std::path::PathBuf> {
    let missing = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => Error::input(format!("{source}: no such file")),
        _ => Error::world(format!("{source}: cannot read: {e}")),
    };
    let link = std::fs::symlink_metadata(file).map_err(missing)?;
    let target = if link.file_type().is_symlink() {
        std::fs::canonicalize(file).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Error::input(format!("{source}: a symlink to a file that does not exist"))
            }
            _ => Error::world(format!("{source}: cannot follow the symlink: {e}")),
        })?
    } else {
        file.to_path_buf()
    };
    let meta = std::fs::metadata(&target).map_err(missing)?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a directory"
        } else if is_fifo(&meta) {
            "a FIFO"
        } else {
            "not a regular file"
        };
        return Err(Error::input(format!(
            "{source}: {what}; only regular files are edited"
        )));
    }
    if meta.permissions().readonly() {
        return Err(Error::input(format!(
            "{source}: the file is read-only; refusing to replace it (make it writable first)"
        )));
    }
    Ok(target)
}

#[cfg(unix)]
fn is_fifo(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    meta.file_type().is_fifo()
}

#[cfg(not(unix))]
fn is_fifo(_meta: &std::fs::Metadata) -> bool {
    false
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
        let out = set_scalar(VALUES, "\"a.b\".c", "z").unwrap();
        assert_eq!(out, VALUES.replace("  c: x", "  c: z"));
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
            e.message().contains("1:10") && e.message().contains("the alias *v at line 2"),
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

    /// Issue 12, point 4: what Helm (go-yaml v2, YAML 1.1) or a YAML 1.2
    /// reader would read as anything but the string is quoted.
    #[test]
    fn values_any_reader_would_not_read_as_strings_are_quoted() {
        for empty in [
            "image:\n  tag:\n",
            "image:\n  tag: ~\n",
            "image:\n  tag: null\n",
        ] {
            let out = set_scalar(empty, "image.tag", "1.20").unwrap();
            assert_eq!(out, "image:\n  tag: \"1.20\"\n", "{empty:?}");
        }
        for value in [
            "yes",
            "no",
            "on",
            "off",
            "y",
            "n",
            "1_000",
            "0x1F",
            "1:20",
            ".inf",
            "2024-05-01",
            "1e3",
            "0755",
            "<<",
        ] {
            let out = set_scalar("tag: v1 # c\n", "tag", value).unwrap();
            assert_eq!(out, format!("tag: \"{value}\" # c\n"));
        }
        assert_eq!(
            set_scalar("tag: v1\n", "tag", "a\tb\u{2028}c\u{85}").unwrap(),
            "tag: \"a\\tb\\u2028c\\u0085\"\n"
        );
        assert_eq!(
            set_scalar("tag: 'v1'\n", "tag", "a\u{2028}b").unwrap(),
            "tag: \"a\\u2028b\"\n"
        );
        // Versions stay plain; a number stays a number.
        assert_eq!(
            set_scalar("tag:\n", "tag", "1.4.2").unwrap(),
            "tag: 1.4.2\n"
        );
        assert_eq!(set_scalar("n: 2\n", "n", "3").unwrap(), "n: 3\n");
        assert_eq!(set_scalar("n: 2\n", "n", "3.0").unwrap(), "n: \"3.0\"\n");
    }

    /// Issue 12, point 5: a value inside an anchored mapping or sequence that
    /// an alias or a `<<:` merge repeats is refused, naming them.
    #[test]
    fn values_shared_through_anchored_collections_are_refused_naming_the_aliases() {
        let text = "\
base: &base
  image:
    tag: 1.0.0
  list: &l [a, b]
prod:
  <<: *base
canary: *base
other: *l
";
        let e = set_scalar(text, "base.image.tag", "1.1.0").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        for expected in [
            "base.image.tag is inside &base (a mapping at line 2), which",
            "the merge <<: *base at line 6",
            "the alias *base at line 7",
        ] {
            assert!(e.message().contains(expected), "{expected}: {e}");
        }
        let e = set_scalar(text, "base.list[0]", "z").unwrap_err();
        assert!(
            e.message().contains(
                "base.list[0] is inside &l (a sequence at line 4), which the alias *l at line 8 repeats, and is inside &base"
            ),
            "{e}"
        );
        // An anchor nobody repeats is no reason to refuse.
        assert_eq!(
            set_scalar("a: &x {tag: 1}\nb: 2\n", "a.tag", "v2").unwrap(),
            "a: &x {tag: v2}\nb: 2\n"
        );
    }

    #[test]
    fn the_reparse_check_sees_every_path_an_alias_or_merge_changes() {
        let before = yaml_tree::parse("a: &x {t: 1}\nb: *x\nc:\n  <<: *x\n", "t").unwrap();
        let before = values_by_path(&before.documents).unwrap();
        assert_eq!(before.get("0:.b.t").map(String::as_str), Some("!!int 1"));
        assert_eq!(before.get("0:.c.t").map(String::as_str), Some("!!int 1"));
        let edited = "a: &x {t: 2}\nb: *x\nc:\n  <<: *x\n";
        let e = only_path_changed(&before, edited, "0:.a.t", "2").unwrap_err();
        assert_eq!(e, "paths that would change: a.t, b.t, c.t");
        // A merged key the mapping sets itself is not changed by the anchor.
        let before = yaml_tree::parse("a: &x {t: 1}\nc:\n  <<: *x\n  t: 5\n", "t").unwrap();
        let before = values_by_path(&before.documents).unwrap();
        assert_eq!(before.get("0:.c.t").map(String::as_str), Some("!!int 5"));
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: 1\n";
        let e = set_scalar(bomb, "g", "2").unwrap_err();
        assert!(e.message().contains("expands to more than"), "{e}");
    }

    /// Issue 12, point 6: documents that do not hold the path do not matter.
    #[test]
    fn documents_without_the_path_do_not_refuse_the_edit() {
        for (text, expected) in [
            ("image:\n  tag: 1\n---\n", "image:\n  tag: 2\n---\n"),
            (
                "image:\n  tag: 1\n---\n...\n",
                "image:\n  tag: 2\n---\n...\n",
            ),
            (
                "- a\n---\nimage:\n  tag: 1\n",
                "- a\n---\nimage:\n  tag: 2\n",
            ),
            (
                "kind: A\n---\nimage: x\n---\nimage:\n  tag: 1\n",
                "kind: A\n---\nimage: x\n---\nimage:\n  tag: 2\n",
            ),
        ] {
            assert_eq!(
                set_scalar(text, "image.tag", "2").unwrap(),
                expected,
                "{text:?}"
            );
        }
        let e = set_scalar("image: x\n---\n", "image.tag", "2").unwrap_err();
        assert!(e.message().contains("where a mapping was expected"), "{e}");
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
