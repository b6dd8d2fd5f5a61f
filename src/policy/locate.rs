//! Key paths (`environments[2].follows`) and finding them in YAML text.
//!
//! Checks that span several fields run on the typed policy, where positions
//! are gone; this finds the line again so the message can point at it.

use std::fmt;

use granit_parser::{Event, Parser, Span};

/// One step into a YAML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path from the document root, displayed as `risk.levels.medium` or
/// `environments[2].waves[0][1]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    pub fn root() -> Self {
        Self::default()
    }

    pub fn key(&self, key: &str) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_owned()));
        Self(segs)
    }

    pub fn index(&self, index: usize) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        Self(segs)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A YAML node with where it starts; only what locating needs.
enum Node {
    Leaf(Span),
    Seq(Span, Vec<Node>),
    Map(Span, Vec<(Node, Node)>),
}

impl Node {
    fn span(&self) -> Span {
        match self {
            Node::Leaf(s) | Node::Seq(s, _) | Node::Map(s, _) => *s,
        }
    }

    fn key_text<'t>(&self, text: &'t str) -> Option<&'t str> {
        match self {
            Node::Leaf(s) => s
                .slice(text)
                .map(|k| k.trim_matches(|c| c == '"' || c == '\'')),
            _ => None,
        }
    }
}

/// 1-based line and column of the deepest part of `path` present in `text`:
/// the key itself for a mapping entry, the item for a sequence index.
pub(super) fn locate(text: &str, path: &KeyPath) -> Option<(usize, usize)> {
    let root = parse(text)?;
    let mut node = &root;
    let mut best = None;
    for seg in &path.0 {
        match (seg, node) {
            (Seg::Key(k), Node::Map(_, entries)) => {
                let Some((key, value)) = entries
                    .iter()
                    .find(|(key, _)| key.key_text(text) == Some(k.as_str()))
                else {
                    break;
                };
                best = Some(key.span());
                node = value;
            }
            (Seg::Index(i), Node::Seq(_, items)) => {
                let Some(item) = items.get(*i) else { break };
                best = Some(item.span());
                node = item;
            }
            _ => break,
        }
    }
    best.map(|s| (s.start.line(), s.start.col() + 1))
}

/// The key path of the deepest entry that starts at or before 1-based
/// `line`:`col` (where a reader error points), so errors found while reading
/// name their key as cross-field ones do. `None` for the root or bad YAML.
pub(super) fn path_at(text: &str, line: usize, col: usize) -> Option<KeyPath> {
    let root = parse(text)?;
    let at = (line, col);
    let starts = |s: Span| (s.start.line(), s.start.col() + 1);
    let mut path = KeyPath::root();
    let mut node = &root;
    loop {
        match node {
            Node::Map(_, entries) => {
                let Some((key, value)) = entries.iter().rev().find(|(k, _)| starts(k.span()) <= at)
                else {
                    break;
                };
                path = path.key(key.key_text(text)?);
                node = value;
            }
            Node::Seq(_, items) => {
                let Some((i, item)) = items
                    .iter()
                    .enumerate()
                    .rev()
                    .find(|(_, item)| starts(item.span()) <= at)
                else {
                    break;
                };
                path = path.index(i);
                node = item;
            }
            Node::Leaf(_) => break,
        }
    }
    (!path.0.is_empty()).then_some(path)
}

fn parse(text: &str) -> Option<Node> {
    let mut events = Parser::new_from_str(text).filter_map(|e| match e {
        Ok((Event::Comment(..), _)) | Ok((Event::Anchor(..), _)) => None,
        other => Some(other),
    });
    loop {
        match events.next()?.ok()? {
            (Event::StreamStart, _) | (Event::DocumentStart(..), _) => continue,
            (event, span) => return node(event, span, &mut events, 0),
        }
    }
}

/// Deep enough for any policy; keeps hostile nesting from exhausting the stack.
const MAX_DEPTH: usize = 64;

fn node<'a, I>(event: Event<'a>, span: Span, events: &mut I, depth: usize) -> Option<Node>
where
    I: Iterator<Item = Result<(Event<'a>, Span), granit_parser::ScanError>>,
{
    if depth > MAX_DEPTH {
        return None;
    }
    match event {
        Event::SequenceStart(..) => {
            let mut items = Vec::new();
            loop {
                let (e, s) = events.next()?.ok()?;
                if matches!(e, Event::SequenceEnd) {
                    return Some(Node::Seq(span, items));
                }
                items.push(node(e, s, events, depth + 1)?);
            }
        }
        Event::MappingStart(..) => {
            let mut entries = Vec::new();
            loop {
                let (e, s) = events.next()?.ok()?;
                if matches!(e, Event::MappingEnd) {
                    return Some(Node::Map(span, entries));
                }
                let key = node(e, s, events, depth + 1)?;
                let (e, s) = events.next()?.ok()?;
                let value = node(e, s, events, depth + 1)?;
                entries.push((key, value));
            }
        }
        _ => Some(Node::Leaf(span)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
risk:
  levels: {medium: 70, high: 40}
environments:
  - name: ci
    follows: product-prs
  - name: prod
    # a comment
    follows: \"qa\"
    waves:
      - [eu-1]
      - [eu-2, us-9]
";

    #[test]
    fn finds_a_key_in_a_flow_mapping() {
        let path = KeyPath::root().key("risk").key("levels").key("high");
        assert_eq!(locate(TEXT, &path), Some((2, 24)));
    }

    #[test]
    fn finds_a_key_inside_a_list_item() {
        let path = KeyPath::root().key("environments").index(1).key("follows");
        assert_eq!(path.to_string(), "environments[1].follows");
        assert_eq!(locate(TEXT, &path), Some((8, 5)));
    }

    #[test]
    fn finds_an_item_of_a_nested_list() {
        let path = KeyPath::root()
            .key("environments")
            .index(1)
            .key("waves")
            .index(1)
            .index(1);
        assert_eq!(path.to_string(), "environments[1].waves[1][1]");
        assert_eq!(locate(TEXT, &path), Some((11, 16)));
    }

    #[test]
    fn a_position_names_the_key_path_it_is_in() {
        let path = |l, c| path_at(TEXT, l, c).map(|p| p.to_string());
        assert_eq!(path(2, 24).as_deref(), Some("risk.levels.high"));
        assert_eq!(path(8, 14).as_deref(), Some("environments[1].follows"));
        assert_eq!(path(11, 16).as_deref(), Some("environments[1].waves[1][1]"));
        assert_eq!(path_at(": : [", 1, 1), None);
    }

    #[test]
    fn a_missing_key_falls_back_to_its_nearest_parent() {
        let path = KeyPath::root().key("environments").index(0).key("waves");
        assert_eq!(locate(TEXT, &path), Some((4, 5)));
        assert_eq!(locate("{}", &path), None);
        assert_eq!(locate(": : [", &path), None);
    }
}
