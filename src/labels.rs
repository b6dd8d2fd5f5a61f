//! Reading a pull request's labels by the policy's formats.
//!
//! Labels are typed by people, so matching is forgiving (case, spaces around
//! the value) while every value is checked. Each problem becomes a sentence the
//! bot posts on the PR; label text is attacker-controlled, so it is quoted and
//! neutralised before it is echoed.

use std::fmt;

use crate::policy::{Policy, RiskLevel};

/// What a PR's labels say, plus everything wrong with them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSet {
    /// The size as spelled in `policy.sizes` (not as typed).
    pub component: Option<String>,
    pub change: Option<String>,
    pub coverage: Option<u8>,
    pub functional: Option<bool>,
    pub risk: Option<RiskLevel>,
    pub hotfix_to: Option<semver::Version>,
    pub toggle: bool,
    pub problems: Vec<LabelProblem>,
}

/// The labels a component PR must carry, all present and valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled {
    pub component: String,
    pub change: String,
    pub coverage: u8,
    pub functional: bool,
    pub toggle: bool,
}

/// One thing wrong with a PR's labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelProblem {
    /// The offending label as it is on the PR (raw: never echo it, use
    /// `message`), or `None` when a label is missing.
    pub label: Option<String>,
    /// A sentence for developers, safe to post in markdown.
    pub message: String,
}

impl fmt::Display for LabelProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Several problems as one line, as the command line prints them.
pub fn join_problems(problems: &[LabelProblem]) -> String {
    problems
        .iter()
        .map(|p| p.message.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The kinds of label the policy names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Component,
    Change,
    Coverage,
    Functional,
    Risk,
    Hotfix,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Component,
        Kind::Change,
        Kind::Coverage,
        Kind::Functional,
        Kind::Risk,
        Kind::Hotfix,
    ];

    fn format(self, policy: &Policy) -> (&str, &'static str) {
        let l = &policy.labels;
        match self {
            Kind::Component => (&l.component, "{size}"),
            Kind::Change => (&l.change, "{size}"),
            Kind::Coverage => (&l.coverage, "{n}"),
            Kind::Functional => (&l.functional, "{bool}"),
            Kind::Risk => (&l.risk, "{level}"),
            Kind::Hotfix => (&l.hotfix, "{version}"),
        }
    }

    /// The accepted form, for messages: `component: S|M|L|XL`.
    fn form(self, policy: &Policy) -> String {
        let (format, placeholder) = self.format(policy);
        let values = match self {
            Kind::Component | Kind::Change => policy.sizes.join("|"),
            Kind::Coverage => "0..100".to_owned(),
            Kind::Functional => "true|false".to_owned(),
            Kind::Risk => "low|medium|high".to_owned(),
            Kind::Hotfix => "X.Y.Z".to_owned(),
        };
        format.replace(placeholder, &values)
    }

    /// A valid example, for messages: `ft-coverage: 80`.
    fn example(self, policy: &Policy) -> String {
        let (format, placeholder) = self.format(policy);
        let middle = policy.sizes.get(policy.sizes.len().saturating_sub(1) / 2);
        let value = match self {
            Kind::Component | Kind::Change => middle.map_or("M", String::as_str),
            Kind::Coverage => "80",
            Kind::Functional => "true",
            Kind::Risk => "low",
            Kind::Hotfix => "1.4.2",
        };
        format.replace(placeholder, value)
    }
}

/// The fixed text a format's labels start with (`component:`); for a format
/// without a placeholder, the whole label. Two formats whose stems are
/// prefixes of each other could not be told apart.
pub fn stem(format: &str) -> String {
    format
        .split('{')
        .next()
        .unwrap_or(format)
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The value part of `label` if it is of this format (`"M"` of
/// `"Component : M"`), trimmed; `None` if the label is not of this format.
/// Case and whitespace in the fixed text do not matter.
fn value_of<'l>(label: &'l str, format: &str, placeholder: &str) -> Option<&'l str> {
    let (before, after) = format.split_once(placeholder)?;
    let mut rest = strip_fixed(label.trim(), before)?;
    let after = after.trim();
    if !after.is_empty() {
        let cut = rest.len().checked_sub(after.len());
        if let Some(tail) = cut.and_then(|c| rest.get(c..)) {
            if tail.eq_ignore_ascii_case(after) {
                rest = rest.get(..rest.len() - after.len()).unwrap_or(rest);
            }
        }
    }
    Some(rest.trim())
}

/// `label` after the fixed text `fixed`, comparing case-insensitively and
/// skipping whitespace on both sides; `None` if it does not start so.
fn strip_fixed<'l>(label: &'l str, fixed: &str) -> Option<&'l str> {
    let mut wanted = fixed.chars().filter(|c| !c.is_whitespace()).peekable();
    wanted.peek()?;
    for (i, c) in label.char_indices() {
        if c.is_whitespace() {
            continue;
        }
        match wanted.next() {
            Some(w) if w.to_lowercase().eq(c.to_lowercase()) => {}
            _ => return None,
        }
        if wanted.peek().is_none() {
            return label.get(i + c.len_utf8()..);
        }
    }
    None
}

/// A parsed value of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Size(String),
    Coverage(u8),
    Bool(bool),
    Risk(RiskLevel),
    Version(semver::Version),
}

fn parse_value(policy: &Policy, kind: Kind, raw: &str) -> Result<Value, String> {
    match kind {
        Kind::Component | Kind::Change => policy
            .size_rank(raw)
            .and_then(|i| policy.sizes.get(i))
            .map(|s| Value::Size(s.clone()))
            .ok_or_else(|| format!("size must be one of {}", policy.sizes.join(", "))),
        Kind::Coverage => raw
            .trim_end_matches('%')
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|n| *n <= 100)
            .map(Value::Coverage)
            .ok_or_else(|| "coverage must be 0..100".to_owned()),
        Kind::Functional => match raw.to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err("functional must be true or false".to_owned()),
        },
        Kind::Risk => raw
            .parse::<RiskLevel>()
            .map(Value::Risk)
            .map_err(|()| "risk must be low, medium or high".to_owned()),
        Kind::Hotfix => semver::Version::parse(raw)
            .map(Value::Version)
            .map_err(|_| "the version must be semver X.Y.Z".to_owned()),
    }
}

/// Read every label the policy knows; unrelated labels are ignored.
pub fn parse_labels(policy: &Policy, labels: &[String]) -> LabelSet {
    let mut set = LabelSet::default();
    let mut seen: Vec<(Kind, &str, Value)> = Vec::new();
    let toggle = policy.labels.toggle.trim();
    for label in labels {
        if !toggle.is_empty() && label.trim().eq_ignore_ascii_case(toggle) {
            set.toggle = true;
            continue;
        }
        let Some((kind, raw)) = Kind::ALL.into_iter().find_map(|k| {
            let (format, placeholder) = k.format(policy);
            value_of(label, format, placeholder).map(|v| (k, v))
        }) else {
            continue;
        };
        let value = match parse_value(policy, kind, raw) {
            Ok(v) => v,
            Err(why) => {
                set.problems.push(LabelProblem {
                    label: Some(label.clone()),
                    message: format!(
                        "label {}: {why}, e.g. \"{}\"",
                        quote(label),
                        kind.example(policy)
                    ),
                });
                continue;
            }
        };
        if let Some((_, first, _)) = seen.iter().find(|(k, _, v)| *k == kind && *v != value) {
            set.problems.push(LabelProblem {
                label: Some(label.clone()),
                message: format!(
                    "labels {} and {} conflict: keep one \"{}\" label",
                    quote(first),
                    quote(label),
                    kind.form(policy)
                ),
            });
            continue;
        }
        if seen.iter().any(|(k, _, _)| *k == kind) {
            continue;
        }
        match &value {
            Value::Size(s) if kind == Kind::Component => set.component = Some(s.clone()),
            Value::Size(s) => set.change = Some(s.clone()),
            Value::Coverage(n) => set.coverage = Some(*n),
            Value::Bool(b) => set.functional = Some(*b),
            Value::Risk(r) => set.risk = Some(*r),
            Value::Version(v) => set.hotfix_to = Some(v.clone()),
        }
        seen.push((kind, label, value));
    }
    set.problems.extend(missing(policy, &set));
    set
}

/// The required labels that are absent (and not merely malformed).
fn missing(policy: &Policy, set: &LabelSet) -> Vec<LabelProblem> {
    let present = |kind: Kind| {
        set.problems.iter().any(|p| {
            p.label.as_deref().is_some_and(|l| {
                let (format, placeholder) = kind.format(policy);
                value_of(l, format, placeholder).is_some()
            })
        })
    };
    let required = [
        (Kind::Component, set.component.is_some()),
        (Kind::Change, set.change.is_some()),
        (Kind::Coverage, set.coverage.is_some()),
        (Kind::Functional, set.functional.is_some()),
    ];
    required
        .into_iter()
        .filter(|(kind, has)| !has && !present(*kind))
        .map(|(kind, _)| LabelProblem {
            label: None,
            message: format!("missing label \"{}\"", kind.form(policy)),
        })
        .collect()
}

impl LabelSet {
    /// The four required labels, or every problem (malformed, conflicting
    /// or missing labels, including a bad risk or hotfix label).
    pub fn complete(&self) -> Result<Labelled, Vec<LabelProblem>> {
        match (
            &self.component,
            &self.change,
            self.coverage,
            self.functional,
        ) {
            (Some(component), Some(change), Some(coverage), Some(functional))
                if self.problems.is_empty() =>
            {
                Ok(Labelled {
                    component: component.clone(),
                    change: change.clone(),
                    coverage,
                    functional,
                    toggle: self.toggle,
                })
            }
            _ => Err(self.problems.clone()),
        }
    }
}

/// Longest label text echoed back; GitHub labels are at most 50 characters.
const MAX_ECHO: usize = 60;

/// A label in double quotes, safe to post in markdown or print on a
/// terminal: control and bidi characters dropped, markdown, HTML and template
/// syntax escaped, mentions defused, length capped.
pub fn quote(label: &str) -> String {
    let mut out = String::from("\"");
    let visible = label.chars().filter(|c| !is_invisible(*c));
    for (n, c) in visible.enumerate() {
        if n == MAX_ECHO {
            out.push('…');
            break;
        }
        match c {
            '`' | '\\' | '*' | '<' | '>' | '[' | ']' | '|' | '{' | '}' | '"' | '!' => {
                out.push('\\');
                out.push(c);
            }
            // A fullwidth at sign looks the same and pings nobody.
            '@' => out.push('＠'),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(ls: &[&str]) -> LabelSet {
        let owned: Vec<String> = ls.iter().map(|s| s.to_string()).collect();
        parse_labels(&Policy::default(), &owned)
    }

    fn messages(set: &LabelSet) -> Vec<&str> {
        set.problems.iter().map(|p| p.message.as_str()).collect()
    }

    #[test]
    fn a_complete_set_reads_every_value_and_ignores_unrelated_labels() {
        let set = labels(&[
            "component: M",
            "bug",
            "change: xl",
            "ft-coverage: 80%",
            "Functional: TRUE",
            "feature-toggle",
            "risk: medium",
            "hotfix-to/v1.4.2",
        ]);
        assert_eq!(set.problems, vec![]);
        let done = set.complete().expect("complete");
        assert_eq!(done.component, "M");
        assert_eq!(done.change, "XL");
        assert_eq!(done.coverage, 80);
        assert!(done.functional && done.toggle);
        assert_eq!(set.risk, Some(RiskLevel::Medium));
        assert_eq!(set.hotfix_to, Some(semver::Version::new(1, 4, 2)));
    }

    #[test]
    fn spaces_around_the_colon_do_not_matter() {
        let set = labels(&[
            "component:S",
            "change :  L ",
            "ft-coverage:0",
            "functional:false",
        ]);
        let done = set.complete().expect("complete");
        assert_eq!((done.component.as_str(), done.change.as_str()), ("S", "L"));
    }

    #[test]
    fn missing_labels_name_the_accepted_form() {
        let set = labels(&["component: S"]);
        assert_eq!(
            messages(&set),
            vec![
                "missing label \"change: S|M|L|XL\"",
                "missing label \"ft-coverage: 0..100\"",
                "missing label \"functional: true|false\"",
            ]
        );
        assert!(set.complete().is_err());
    }

    #[test]
    fn coverage_over_100_is_refused_with_an_example() {
        let set = labels(&[
            "component: S",
            "change: S",
            "ft-coverage: 120",
            "functional: true",
        ]);
        assert_eq!(
            messages(&set),
            vec!["label \"ft-coverage: 120\": coverage must be 0..100, e.g. \"ft-coverage: 80\""]
        );
        assert_eq!(set.problems[0].label.as_deref(), Some("ft-coverage: 120"));
        assert_eq!(set.complete().expect_err("bad").len(), 1);
    }

    #[test]
    fn an_unknown_size_lists_the_sizes() {
        let set = labels(&["component: XXL"]);
        assert!(
            messages(&set)[0]
                .starts_with("label \"component: XXL\": size must be one of S, M, L, XL"),
            "{:?}",
            messages(&set)
        );
    }

    #[test]
    fn two_different_component_labels_conflict_but_repeats_do_not() {
        let set = labels(&["component: S", "component: L"]);
        assert!(messages(&set)[0].starts_with(
            "labels \"component: S\" and \"component: L\" conflict: keep one \"component: S|M|L|XL\" label"
        ));
        let same = labels(&["component: S", "Component: s"]);
        assert_eq!(same.component.as_deref(), Some("S"));
        assert!(!messages(&same).iter().any(|m| m.contains("conflict")));
    }

    #[test]
    fn bad_risk_and_hotfix_labels_block_completion() {
        let set = labels(&[
            "component: S",
            "change: S",
            "ft-coverage: 1",
            "functional: true",
            "hotfix-to/vnext",
        ]);
        assert!(messages(&set)[0].contains("the version must be semver X.Y.Z"));
        assert!(set.complete().is_err());
    }

    #[test]
    fn hostile_label_text_is_inert_when_echoed() {
        let hostile = "component: `x`\n<img src=x> @acme/all {{evil}} \u{202E}";
        let set = labels(&[hostile]);
        let m = &set.problems[0].message;
        assert!(!m.contains('\n') && !m.contains('\u{202E}'), "{m}");
        assert!(
            m.contains("\\`x\\`") && m.contains("\\<img") && m.contains("\\{\\{"),
            "{m}"
        );
        assert!(!m.contains("@acme"), "{m}");
        let long = format!("component: {}", "x".repeat(500));
        let m = &labels(&[long.as_str()]).problems[0].message;
        assert!(m.len() < 200 && m.contains('…'), "{m}");
    }

    #[test]
    fn formats_from_the_policy_are_used() {
        let mut policy = Policy::default();
        policy.labels.component = "size/{size}".into();
        policy.labels.coverage = "coverage-{n}-pct".into();
        let ls: Vec<String> = ["size/L", "change: S", "coverage-75-pct", "functional: true"]
            .map(String::from)
            .to_vec();
        let done = parse_labels(&policy, &ls).complete().expect("complete");
        assert_eq!((done.component.as_str(), done.coverage), ("L", 75));
    }
}
