//! YAML read into a small tree that remembers where every node is in the text,
//! so edits can splice bytes and errors can name a line and column.
//!
//! Only what the manifest code needs: scalars with their source bytes and
//! style, mappings, sequences, aliases and anchors. Comments are not nodes;
//! they are kept by never rewriting anything but the one scalar's bytes.

use std::ops::Range;

use granit_parser::{Event, Parser, ScalarStyle, ScanError, Span};

use crate::error::{Error, Result};

/// Where a node starts, 1-based for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    /// Anchor id defined on this node (`&name`), 0 when none.
    pub anchor: usize,
    pub position: Position,
    /// Index of this node's own event in the document's event list.
    pub event_index: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Scalar {
        value: String,
        style: ScalarStyle,
        /// The bytes the scalar occupies, quotes included; empty for an
        /// implicit null (`key:` with nothing after it).
        bytes: Range<usize>,
    },
    Mapping(Vec<(Node, Node)>),
    Sequence(Vec<Node>),
    /// `*name`, pointing at the anchor id it repeats; `name` as written, for messages.
    Alias {
        id: usize,
        name: String,
    },
}

/// The parsed stream: its documents, and its events without spans (for
/// comparing two versions of a text event by event).
#[derive(Debug)]
pub struct Stream<'a> {
    pub documents: Vec<Node>,
    pub events: Vec<Event<'a>>,
}

impl Node {
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Mapping(_) => "a mapping",
            NodeKind::Sequence(_) => "a sequence",
            NodeKind::Alias { .. } => "an alias",
        }
    }

    pub fn as_scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }
}

fn position(span: &Span) -> Position {
    Position {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

/// The `name` of `*name` at `span`; `?` when the parser gave no byte position.
fn alias_name(text: &str, span: &Span) -> String {
    let Some(written) = span.byte_range().and_then(|r| text.get(r.start..)) else {
        return "?".to_owned();
    };
    written
        .trim_start_matches('*')
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '[' | ']' | '{' | '}'))
        .collect()
}

fn scan_error(source: &str, e: &ScanError) -> Error {
    let mark = e.marker();
    Error::input(format!(
        "{source}:{}:{}: not valid YAML: {}",
        mark.line(),
        mark.col() + 1,
        e.info()
    ))
}

/// A collection being filled while its events arrive.
enum Open {
    Mapping {
        node: Node,
        pairs: Vec<(Node, Node)>,
        key: Option<Node>,
    },
    Sequence {
        node: Node,
        items: Vec<Node>,
    },
}

/// Parse `text` (named `source` in errors) into documents of nodes.
pub fn parse<'a>(text: &'a str, source: &str) -> Result<Stream<'a>> {
    let mut documents = Vec::new();
    let mut events = Vec::new();
    let mut open: Vec<Open> = Vec::new();

    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| scan_error(source, &e))?;
        let event_index = events.len();
        let at = position(&span);
        let finished = match &event {
            Event::Scalar(value, style, anchor, _) => {
                let bytes = span.byte_range().ok_or_else(|| {
                    Error::input(format!(
                        "{source}:{}:{}: scalar without a byte position",
                        at.line, at.column
                    ))
                })?;
                Some(Node {
                    kind: NodeKind::Scalar {
                        value: value.to_string(),
                        style: *style,
                        bytes,
                    },
                    anchor: *anchor,
                    position: at,
                    event_index,
                })
            }
            Event::Alias(id) => Some(Node {
                kind: NodeKind::Alias {
                    id: *id,
                    name: alias_name(text, &span),
                },
                anchor: 0,
                position: at,
                event_index,
            }),
            Event::MappingStart(_, anchor, _) => {
                open.push(Open::Mapping {
                    node: Node {
                        kind: NodeKind::Mapping(Vec::new()),
                        anchor: *anchor,
                        position: at,
                        event_index,
                    },
                    pairs: Vec::new(),
                    key: None,
                });
                None
            }
            Event::SequenceStart(_, anchor, _) => {
                open.push(Open::Sequence {
                    node: Node {
                        kind: NodeKind::Sequence(Vec::new()),
                        anchor: *anchor,
                        position: at,
                        event_index,
                    },
                    items: Vec::new(),
                });
                None
            }
            Event::MappingEnd | Event::SequenceEnd => match open.pop() {
                Some(Open::Mapping {
                    mut node, pairs, ..
                }) => {
                    node.kind = NodeKind::Mapping(pairs);
                    Some(node)
                }
                Some(Open::Sequence { mut node, items }) => {
                    node.kind = NodeKind::Sequence(items);
                    Some(node)
                }
                None => {
                    return Err(Error::input(format!(
                        "{source}:{}:{}: unbalanced YAML structure",
                        at.line, at.column
                    )));
                }
            },
            _ => None,
        };
        events.push(event);

        if let Some(node) = finished {
            match open.last_mut() {
                Some(Open::Mapping { pairs, key, .. }) => match key.take() {
                    Some(k) => pairs.push((k, node)),
                    None => *key = Some(node),
                },
                Some(Open::Sequence { items, .. }) => items.push(node),
                None => documents.push(node),
            }
        }
    }
    Ok(Stream { documents, events })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_know_their_bytes_style_and_place() {
        let text = "a: 'x'\nb:\n  - plain # note\n";
        let stream = parse(text, "t.yaml").unwrap();
        let NodeKind::Mapping(pairs) = &stream.documents[0].kind else {
            panic!("not a mapping");
        };
        let NodeKind::Scalar { bytes, style, .. } = &pairs[0].1.kind else {
            panic!("not a scalar");
        };
        assert_eq!(&text[bytes.clone()], "'x'");
        assert_eq!(*style, ScalarStyle::SingleQuoted);
        let NodeKind::Sequence(items) = &pairs[1].1.kind else {
            panic!("not a sequence");
        };
        assert_eq!(items[0].as_scalar(), Some("plain"));
        assert_eq!(items[0].position, Position { line: 3, column: 5 });
    }

    #[test]
    fn aliases_know_their_names() {
        let stream = parse("a: &base {x: 1}\nb: *base\nc: [*base, 2]\n", "t.yaml").unwrap();
        let NodeKind::Mapping(pairs) = &stream.documents[0].kind else {
            panic!("not a mapping");
        };
        let NodeKind::Alias { name, id } = &pairs[1].1.kind else {
            panic!("not an alias");
        };
        assert_eq!((name.as_str(), *id), ("base", pairs[0].1.anchor));
        let NodeKind::Sequence(items) = &pairs[2].1.kind else {
            panic!("not a sequence");
        };
        assert!(matches!(&items[0].kind, NodeKind::Alias { name, .. } if name == "base"));
    }

    #[test]
    fn broken_yaml_names_file_line_and_column() {
        let e = parse("a: [1, 2\nb: c\n", "values.yaml").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.message().starts_with("values.yaml:"), "{e}");
    }
}
