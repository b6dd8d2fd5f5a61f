//! When a value may be written plain, and how to quote it otherwise, so it
//! reads back as the same string in every YAML reader people use: YAML 1.2
//! (the core schema) and YAML 1.1 (go-yaml v2, which Helm, Argo CD and kubectl
//! read values with, and PyYAML).
//!
//! The rule (docs/yaml-values.md): a plain scalar is written only when no
//! reader of either version resolves it to anything but a string. The one
//! exception keeps a number a number and a boolean a boolean: a plain
//! integer may be replaced by another integer in the one spelling every reader
//! agrees on (`3`, `-12`), and `true`/`false` by each other. Everything else
//! (`1.20`, `yes`, `on`, `1_000`, `0x1F`, `1:20`, `.inf`, `2024-05-01`, `~`,
//! `<<`) is double-quoted, with tabs and line separators escaped.

use std::sync::LazyLock;

use regex::RegexSet;

/// What a plain scalar might be read as by some reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolved {
    Str,
    Null,
    Bool,
    Int,
    /// Floats, timestamps, merge and value keys: never kept plain.
    Other,
}

/// Patterns of every non-string plain scalar, as the union of the YAML 1.2
/// core schema, the YAML 1.1 type repository (as PyYAML reads it) and
/// go-yaml v2's resolver (which also reads `0o17`, `0b1` and `08` as
/// numbers). Wider than any one reader: quoting too often is harmless.
static NULL: LazyLock<RegexSet> = LazyLock::new(|| set(&[r"^(~|null|Null|NULL)?$"]));
static BOOL: LazyLock<RegexSet> = LazyLock::new(|| {
    set(&[
        r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
    ])
});
static INT: LazyLock<RegexSet> = LazyLock::new(|| {
    set(&[
        // Decimal, octal (0755, 0o755), hexadecimal and binary, with `_` as YAML 1.1 allows.
        r"^[-+]?[0-9][0-9_]*$",
        r"^[-+]?0[xX][0-9a-fA-F_]*$",
        r"^[-+]?0[oO][0-7_]*$",
        r"^[-+]?0[bB][01_]*$",
        // YAML 1.1 sexagesimal: 1:20 is 80.
        r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+$",
    ])
});
static OTHER: LazyLock<RegexSet> = LazyLock::new(|| {
    set(&[
        // Floats: 1.20, .5, 1e3, 1_000.5, 6.8523015e+5.
        r"^[-+]?(\.[0-9_]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?$",
        // YAML 1.1 sexagesimal floats: 1:20.5.
        r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*$",
        r"^[-+]?\.(inf|Inf|INF)$",
        r"^\.(nan|NaN|NAN)$",
        // YAML 1.1 timestamps: 2024-05-01, 2024-05-01T10:00:00Z, 2024-5-1 10:00:00.
        r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt \t].*)?$",
        // YAML 1.1 merge and value keys.
        r"^(<<|=)$",
    ])
});

fn set(patterns: &[&str]) -> RegexSet {
    // The patterns are constants checked by the tests below.
    RegexSet::new(patterns).unwrap_or_else(|_| RegexSet::empty())
}

fn resolve(plain: &str) -> Resolved {
    if NULL.is_match(plain) {
        Resolved::Null
    } else if BOOL.is_match(plain) {
        Resolved::Bool
    } else if INT.is_match(plain) {
        Resolved::Int
    } else if OTHER.is_match(plain) {
        Resolved::Other
    } else {
        Resolved::Str
    }
}

/// What some reader takes the plain scalar `plain` for when it is not a
/// string: `null`, `bool`, `int`, or `other` (floats, timestamps, merge keys).
pub fn non_string_reading(plain: &str) -> Option<&'static str> {
    match resolve(plain) {
        Resolved::Str => None,
        Resolved::Null => Some("null"),
        Resolved::Bool => Some("bool"),
        Resolved::Int => Some("int"),
        Resolved::Other => Some("other"),
    }
}

/// The integer and boolean spellings every reader agrees on.
fn canonical(plain: &str, kind: Resolved) -> bool {
    match kind {
        Resolved::Int => {
            let digits = plain.strip_prefix('-').unwrap_or(plain);
            !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'))
        }
        Resolved::Bool => plain == "true" || plain == "false",
        _ => false,
    }
}

/// Characters some reader refuses or changes in a plain or single-quoted
/// scalar: control characters (tab included), NEL, the line and paragraph
/// separators and the byte-order mark.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// Whether `new` may replace the plain scalar `old` unquoted. The caller
/// still re-parses the result, which catches what plain text cannot hold
/// (`: `, ` #`, a leading indicator, a `,` in a flow collection).
pub fn plain_keeps(old: &str, new: &str) -> bool {
    if new.is_empty() || new.trim() != new || new.chars().any(needs_escape) || !plain_syntax(new) {
        return false;
    }
    match resolve(new) {
        Resolved::Str => true,
        kind @ (Resolved::Int | Resolved::Bool) => {
            resolve(old) == kind && canonical(old, kind) && canonical(new, kind)
        }
        Resolved::Null | Resolved::Other => false,
    }
}

/// Plain text every reader parses the same way in block and flow context:
/// no leading indicator (a `-` only before a non-space, as in `-3`), no
/// flow indicator anywhere, no `: ` and no ` #`. Stricter than YAML 1.2
/// (`:x` is plain there, but go-yaml v2 refuses it in a flow mapping).
fn plain_syntax(text: &str) -> bool {
    let mut chars = text.chars();
    let first = chars.next();
    let leading_ok = match first {
        Some('-') => chars.next().is_some_and(|c| !c.is_whitespace()),
        Some(c) => !"?:,[]{}#&*!|>'\"%@`".contains(c),
        None => false,
    };
    leading_ok
        && !text.contains([',', '[', ']', '{', '}'])
        && !text.contains(": ")
        && !text.ends_with(':')
        && !text.contains(" #")
}

/// Whether `value` can be written between single quotes (which escape nothing but `'`).
pub fn single_quote_safe(value: &str) -> bool {
    !value
        .chars()
        .any(|c| needs_escape(c) || c == '\n' || c == '\r')
}

/// `value` between double quotes, escaped so every reader gets it back:
/// `\\`, `\"`, named escapes for the usual control characters, `\uXXXX` for
/// NEL, the line and paragraph separators, the byte-order mark and other
/// control characters.
pub fn double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if needs_escape(c) => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patterns_compile() {
        for set in [&*NULL, &*BOOL, &*INT, &*OTHER] {
            assert!(!set.is_empty());
        }
    }

    #[test]
    fn values_some_reader_would_not_read_as_strings_are_quoted() {
        for value in [
            "1.20",
            "1.2",
            "1e3",
            ".5",
            "1_000",
            "0x1F",
            "0o17",
            "0b101",
            "0755",
            "08",
            "1:20",
            "1:20.5",
            ".inf",
            "-.Inf",
            ".NaN",
            "2024-05-01",
            "2024-05-01T10:00:00Z",
            "yes",
            "No",
            "ON",
            "off",
            "y",
            "N",
            "true",
            "False",
            "~",
            "null",
            "NULL",
            "<<",
            "=",
            "12",
            "-3",
        ] {
            for old in ["", "~", "v1", "1.2.3", "x"] {
                assert!(!plain_keeps(old, value), "{value:?} over {old:?}");
            }
        }
    }

    #[test]
    fn versions_and_image_tags_stay_plain() {
        for value in [
            "1.4.2",
            "v1.20",
            "1.5.0-rc.1",
            "2024-05-01-abc",
            "sha-0a1b2c3",
            "latest",
            "1.2.3+build.5",
            "ünïcode",
            "1.2.3.4",
        ] {
            assert!(plain_keeps("1.4.2", value), "{value:?}");
        }
    }

    #[test]
    fn a_number_stays_a_number_only_in_the_spelling_every_reader_agrees_on() {
        assert!(plain_keeps("2", "3"));
        assert!(plain_keeps("-1", "10"));
        assert!(plain_keeps("true", "false"));
        assert!(!plain_keeps("2", "03"));
        assert!(!plain_keeps("2", "1_0"));
        assert!(
            !plain_keeps("010", "3"),
            "the old value is read differently already"
        );
        assert!(!plain_keeps("1.5", "1.6"), "floats lose trailing zeros");
        assert!(!plain_keeps("yes", "no"));
        assert!(!plain_keeps("2", "true"));
    }

    #[test]
    fn separators_and_tabs_are_escaped() {
        assert_eq!(
            double_quoted("a\tb\u{2028}c\u{85}d\u{2029}\u{feff}\u{1b}\"\\"),
            "\"a\\tb\\u2028c\\u0085d\\u2029\\uFEFF\\u001B\\\"\\\\\""
        );
        for value in [
            "a\tb",
            "a\u{2028}b",
            "a\u{85}b",
            " lead",
            "trail ",
            ":#x",
            "x: y",
            "x #y",
            "x:",
            "- x",
            "-",
            "[x]",
            "x,y",
            "{x",
            "&a",
            "*a",
            "!t",
            "%x",
            "@x",
            "`x",
            "'x",
            "\"x",
            "?x",
            "|x",
            ">x",
            "#x",
        ] {
            assert!(!plain_keeps("x", value), "{value:?}");
        }
        assert!(!single_quote_safe("a\tb"));
        assert!(single_quote_safe("it's"));
    }
}
