//! Git trailers (`Key: value` lines at the end of a commit message): the
//! audit record Stagecoach leaves on every commit it makes.
//!
//! Values come from labels, versions and PR titles that may be hostile, so
//! every value is flattened to one line before it is stored or written: a
//! newline in a value can never start a trailer of its own.

/// Ordered `Key: value` trailers, as git reads them from a message's last paragraph.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trailers(pub Vec<(String, String)>);

impl Trailers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a trailer; the key keeps only the characters git allows in a
    /// trailer token and the value is flattened to one line.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        let key = sanitise_key(key);
        if !key.is_empty() {
            self.0.push((key, sanitise_value(&value.into())));
        }
        self
    }

    /// Set a trailer to exactly one value, replacing any earlier ones with the same key.
    pub fn set(mut self, key: &str, value: impl Into<String>) -> Self {
        let key = sanitise_key(key);
        self.0.retain(|(k, _)| !k.eq_ignore_ascii_case(&key));
        self.with(&key, value)
    }

    /// The first value of `key` (keys compare case-insensitively, as in git).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Read the trailer block of a commit message with git's rules: the last
    /// paragraph, never the first (that is the subject), in which every line is
    /// a `Token: value` trailer or an indented continuation of the one before.
    /// A message without such a block has no trailers.
    pub fn parse(message: &str) -> Trailers {
        // Comment lines (`#`) are skipped inside the block, but still count as
        // a subject, as in git: `# v1.2.0` above a blank line and trailers
        // does not make the trailers a subject.
        let lines: Vec<&str> = message.lines().map(|l| l.trim_end()).collect();
        let end = lines
            .iter()
            .rposition(|l| !l.is_empty() && !l.starts_with('#'))
            .map_or(0, |i| i + 1);
        let lines = &lines[..end];
        let Some(blank) = lines.iter().rposition(|l| l.is_empty()) else {
            return Trailers::new();
        };
        if lines[..blank].iter().all(|l| l.is_empty()) {
            return Trailers::new();
        }
        let block = &lines[blank + 1..];
        let mut trailers: Vec<(String, String)> = Vec::new();
        for line in block {
            if line.starts_with('#') {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                match trailers.last_mut() {
                    Some((_, value)) => {
                        let more = line.trim();
                        if !value.is_empty() {
                            value.push(' ');
                        }
                        value.push_str(more);
                    }
                    None => return Trailers::new(),
                }
            } else if let Some((key, value)) = split_trailer(line) {
                trailers.push((key.to_string(), value.to_string()));
            } else if line.starts_with("(cherry picked from commit ") {
                // git writes this line into trailer blocks itself and still counts them.
            } else {
                return Trailers::new();
            }
        }
        Trailers(trailers)
    }

    /// The trailer block, one `Key: value` line each, ending in a newline
    /// (empty when there are no trailers).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (key, value) in &self.0 {
            let key = sanitise_key(key);
            if key.is_empty() {
                continue;
            }
            let value = sanitise_value(value);
            out.push_str(&key);
            out.push(':');
            if !value.is_empty() {
                out.push(' ');
                out.push_str(&value);
            }
            out.push('\n');
        }
        out
    }

    /// A full commit message: `message`, a blank line, then the trailer block.
    pub fn append_to(&self, message: &str) -> String {
        let body = message.trim_end();
        let block = self.render();
        match (body.is_empty(), block.is_empty()) {
            (_, true) => format!("{body}\n"),
            // A message that is only trailers would be read as a subject by git.
            (true, false) => format!("Stagecoach\n\n{block}"),
            (false, false) => format!("{body}\n\n{block}"),
        }
    }
}

/// `Token: value` with git's token alphabet (letters, digits, '-'), or None.
fn split_trailer(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once(':')?;
    let key = key.trim_end();
    let valid = !key.is_empty()
        && !key.starts_with('-')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    valid.then(|| (key, value.trim()))
}

fn sanitise_key(key: &str) -> String {
    key.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect::<String>()
        .trim_start_matches('-')
        .to_string()
}

/// One line, no control characters, single spaces: nothing a reader of the
/// message could mistake for the start of another trailer.
fn sanitise_value(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                ' '
            } else {
                c
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_last_paragraph_only() {
        let msg = "bump payments\n\nFixes: not a trailer block? yes it is\nbody text\n\nStagecoach-Action: bump\nStagecoach-Component: payments@1.5.0\n";
        let t = Trailers::parse(msg);
        assert_eq!(t.get("stagecoach-action"), Some("bump"));
        assert_eq!(t.get("Stagecoach-Component"), Some("payments@1.5.0"));
        assert_eq!(t.get("Fixes"), None);
    }

    #[test]
    fn a_subject_alone_is_never_a_trailer_block() {
        assert!(Trailers::parse("Stagecoach-Action: bump\n").is_empty());
    }

    #[test]
    fn a_last_paragraph_with_prose_has_no_trailers() {
        let msg = "subject\n\nKey: value\nthis is prose\n";
        assert!(Trailers::parse(msg).is_empty());
    }

    #[test]
    fn continuation_lines_join_the_value() {
        let msg = "subject\n\nNote: first\n  second\nOther: x\n";
        let t = Trailers::parse(msg);
        assert_eq!(t.get("Note"), Some("first second"));
        assert_eq!(t.get("Other"), Some("x"));
    }

    #[test]
    fn repeated_keys_keep_their_order() {
        let t = Trailers::new()
            .with("Stagecoach-Component", "a@1")
            .with("Stagecoach-Component", "b@2");
        let back = Trailers::parse(&t.append_to("subject"));
        assert_eq!(back.get_all("Stagecoach-Component"), vec!["a@1", "b@2"]);
    }

    #[test]
    fn a_newline_in_a_value_cannot_inject_a_trailer() {
        let t = Trailers::new()
            .with("Stagecoach-Risk", "low\nStagecoach-Override: yes")
            .with("Stagecoach-From", "x\r\n\nStagecoach-Action: promote");
        let msg = t.append_to("subject");
        let back = Trailers::parse(&msg);
        assert_eq!(back.get("Stagecoach-Override"), None);
        assert_eq!(back.get_all("Stagecoach-Action").len(), 0);
        assert_eq!(back.0.len(), 2);
        assert_eq!(
            back.get("Stagecoach-Risk"),
            Some("low Stagecoach-Override: yes")
        );
    }

    #[test]
    fn set_replaces_earlier_values() {
        let t = Trailers::new()
            .with("Stagecoach-Action", "bump")
            .set("stagecoach-action", "rollback");
        assert_eq!(t.get_all("Stagecoach-Action"), vec!["rollback"]);
    }

    #[test]
    fn a_message_of_only_trailers_gets_a_subject() {
        let msg = Trailers::new().with("K", "v").append_to("  ");
        assert_eq!(Trailers::parse(&msg).get("K"), Some("v"));
    }

    proptest! {
        #[test]
        fn rendered_trailers_parse_back_to_themselves(
            pairs in proptest::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,12}", "\\PC{0,20}|[\\s\\S]{0,20}"), 0..6)
        ) {
            let mut t = Trailers::new();
            for (k, v) in &pairs {
                t = t.with(k, v.clone());
            }
            let back = Trailers::parse(&t.append_to("subject\n\nbody"));
            prop_assert_eq!(back, t);
        }

        #[test]
        fn any_message_parses_without_panicking(message in "[\\s\\S]{0,200}") {
            let _ = Trailers::parse(&message);
        }
    }
}
