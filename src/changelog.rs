//! Changelogs: commits grouped into sections (one per component, so a product
//! changelog is several components' sections) and rendered through a
//! handlebars template the user can replace.

use std::collections::{BTreeMap, BTreeSet};

use handlebars::template::{Parameter, Template, TemplateElement};
use handlebars::{Handlebars, handlebars_helper};
use serde::Serialize;

use crate::conventional;
use crate::error::{Error, Result};
use crate::git::history::HistoryCommit;

/// The built-in template; `--template` replaces it.
pub const DEFAULT_TEMPLATE: &str = include_str!("../templates/changelog.md.hbs");

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changelog {
    pub version: Option<String>,
    pub date: Option<String>,
    pub sections: Vec<Section>,
}

/// The changes of one repo over one range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    /// The component's name; `None` for a single repo's changelog.
    pub name: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// Listed first and only here, whatever their type.
    pub breaking: Vec<Entry>,
    pub groups: Vec<Group>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    pub title: String,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub scope: Option<String>,
    pub description: String,
    pub short_hash: String,
    pub breaking: bool,
    pub breaking_note: Option<String>,
}

/// Types in the order readers look for them, with their headings. The first
/// five release (see `version::default_bump_rules`) and are always shown; the
/// others only with `show_all_types`.
const GROUPS: &[(&str, &str, bool)] = &[
    ("feat", "Features", true),
    ("fix", "Bug Fixes", true),
    ("perf", "Performance", true),
    ("revert", "Reverts", true),
    ("deps", "Dependencies", true),
    ("refactor", "Refactoring", false),
    ("docs", "Documentation", false),
    ("test", "Tests", false),
    ("build", "Build", false),
    ("ci", "CI", false),
    ("style", "Style", false),
    ("chore", "Chores", false),
];

/// Group a range's commits; merges and non-conventional messages are left out.
pub fn section_from_commits(
    name: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    commits: &[HistoryCommit],
    show_all_types: bool,
) -> Section {
    let mut breaking = Vec::new();
    let mut known: Vec<Vec<Entry>> = vec![Vec::new(); GROUPS.len()];
    // Types outside GROUPS, in order of first appearance (only shown with all types).
    let mut other: Vec<Group> = Vec::new();

    for commit in commits.iter().filter(|c| !c.is_merge) {
        let Some(parsed) = conventional::parse(&commit.message) else {
            continue;
        };
        let entry = Entry {
            scope: parsed.scope,
            description: parsed.description,
            short_hash: commit.sha.chars().take(7).collect(),
            breaking: parsed.breaking,
            breaking_note: parsed.breaking_note,
        };
        if entry.breaking {
            breaking.push(entry);
            continue;
        }
        match GROUPS.iter().position(|(kind, _, _)| *kind == parsed.kind) {
            Some(i) => known[i].push(entry),
            None => match other.iter_mut().find(|g| g.title == parsed.kind) {
                Some(group) => group.entries.push(entry),
                None => other.push(Group {
                    title: parsed.kind,
                    entries: vec![entry],
                }),
            },
        }
    }

    let mut groups: Vec<Group> = GROUPS
        .iter()
        .zip(known)
        .filter(|((_, _, releases), entries)| !entries.is_empty() && (*releases || show_all_types))
        .map(|((_, title, _), entries)| Group {
            title: (*title).to_owned(),
            entries,
        })
        .collect();
    if show_all_types {
        groups.extend(other);
    }
    Section {
        name: name.map(str::to_owned),
        from: from.map(str::to_owned),
        to: to.map(str::to_owned),
        breaking,
        groups,
    }
}

handlebars_helper!(indent: |text: str| text.replace('\n', "\n  "));

/// A template larger than this is refused before it is parsed.
pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;
/// Blocks (`{{#each}}`, `{{#if}}`, inline partials) nested deeper than this are refused.
pub const MAX_BLOCK_DEPTH: usize = 32;
/// Partials calling partials deeper than this are refused (a partial may never call itself).
pub const MAX_PARTIAL_DEPTH: usize = 8;
/// Rendering stops with an error once the text grows past this (GitHub
/// refuses release bodies far smaller).
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;

/// Render a changelog as markdown with `template` (handlebars text) or the
/// built-in one.
///
/// HTML escaping is off (this is markdown, and `&` or `<` in a commit must
/// stay readable); commit text cannot inject template code because it only
/// ever arrives as data. Blank-line runs are folded so templates can be laid
/// out for reading.
///
/// A template comes from the product repository, so it is checked before it
/// runs: size, block depth, and partials that call themselves (directly or
/// through others), which would otherwise recurse until the stack overflows
/// and aborts the process. The output is capped too.
pub fn render(changelog: &Changelog, template: Option<&str>) -> Result<String> {
    let source = template.unwrap_or(DEFAULT_TEMPLATE);
    check_source_limits(source)?;
    let compiled = Template::compile(source).map_err(|e| {
        let place = e
            .pos()
            .map(|(line, col)| format!(" line {line}, column {col}"))
            .unwrap_or_default();
        Error::input(format!("changelog template{place}: {}", e.reason()))
    })?;
    check_partials(&compiled)?;

    let mut registry = Handlebars::new();
    registry.register_escape_fn(handlebars::no_escape);
    registry.register_helper("indent", Box::new(indent));
    registry.register_template(ROOT, compiled);
    let mut out = CappedOutput::default();
    let rendered = registry.render_to_write(ROOT, changelog, &mut out);
    if out.overflowed {
        return Err(Error::input(format!(
            "changelog template: the rendered text passed {MAX_OUTPUT_BYTES} bytes; refusing it"
        )));
    }
    rendered.map_err(|e| {
        let place = match (e.line_no, e.column_no) {
            (Some(line), Some(col)) => format!(" line {line}, column {col}"),
            _ => String::new(),
        };
        Error::input(format!("changelog template{place}: {}", e.reason()))
    })?;
    let text = String::from_utf8(out.bytes)
        .map_err(|_| Error::input("changelog template: rendered text is not UTF-8"))?;
    Ok(fold_blank_lines(&text))
}

/// The name the template is registered under (a partial of that name would be the template itself).
const ROOT: &str = "changelog";

/// A writer that refuses to grow past [`MAX_OUTPUT_BYTES`].
#[derive(Default)]
struct CappedOutput {
    bytes: Vec<u8>,
    overflowed: bool,
}

impl std::io::Write for CappedOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_OUTPUT_BYTES {
            self.overflowed = true;
            return Err(std::io::Error::other("changelog too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Size and block depth, read from the text before the (recursive) parser sees it.
fn check_source_limits(source: &str) -> Result<()> {
    if source.len() > MAX_TEMPLATE_BYTES {
        return Err(Error::input(format!(
            "changelog template: {} bytes, more than the {MAX_TEMPLATE_BYTES} allowed",
            source.len()
        )));
    }
    let mut depth = 0usize;
    for (line_no, line) in source.lines().enumerate() {
        for (at, _) in line.match_indices("{{") {
            let tag = line[at + 2..].trim_start_matches(['~', ' ']);
            if tag.starts_with('#') {
                depth += 1;
                if depth > MAX_BLOCK_DEPTH {
                    return Err(Error::input(format!(
                        "changelog template line {}: blocks nested more than {MAX_BLOCK_DEPTH} deep",
                        line_no + 1
                    )));
                }
            } else if tag.starts_with('/') {
                depth = depth.saturating_sub(1);
            }
        }
    }
    Ok(())
}

/// Partials may call other partials, never themselves (directly or through
/// others), and no deeper than [`MAX_PARTIAL_DEPTH`]; their names must be
/// written out, so the calls can be checked before anything runs.
fn check_partials(template: &Template) -> Result<()> {
    let mut calls: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    calls.insert(ROOT.to_owned(), BTreeSet::new());
    collect_partial_calls(template, ROOT, &mut calls)?;

    // Longest call chain from each partial, by repeated relaxation: after k
    // passes a partial on a cycle is at least k deep, so a cycle always shows
    // up as a chain past the limit.
    let mut depth: BTreeMap<&str, usize> = calls.keys().map(|n| (n.as_str(), 0)).collect();
    for _ in 0..MAX_PARTIAL_DEPTH + 2 {
        let mut changed = false;
        for (caller, callees) in &calls {
            let deepest = callees
                .iter()
                .filter_map(|c| depth.get(c.as_str()).map(|d| d + 1))
                .max()
                .unwrap_or(0);
            if deepest > depth[caller.as_str()] {
                depth.insert(caller.as_str(), deepest);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    for (caller, callees) in &calls {
        if callees.contains(caller) {
            return Err(Error::input(format!(
                "changelog template: partial {caller:?} includes itself; a partial may not recurse"
            )));
        }
    }
    if let Some((name, _)) = depth
        .iter()
        .filter(|(_, d)| **d > MAX_PARTIAL_DEPTH)
        .max_by_key(|(_, d)| **d)
    {
        return Err(Error::input(format!(
            "changelog template: partial {name:?} includes itself through other partials, or calls them more than {MAX_PARTIAL_DEPTH} deep; a partial may not recurse"
        )));
    }
    Ok(())
}

fn collect_partial_calls(
    template: &Template,
    owner: &str,
    calls: &mut BTreeMap<String, BTreeSet<String>>,
) -> Result<()> {
    for element in &template.elements {
        match element {
            TemplateElement::HelperBlock(helper) => {
                for inner in [&helper.template, &helper.inverse].into_iter().flatten() {
                    collect_partial_calls(inner, owner, calls)?;
                }
            }
            TemplateElement::DecoratorBlock(decorator)
            | TemplateElement::DecoratorExpression(decorator) => {
                let defined = match (decorator.name.as_name(), decorator.params.first()) {
                    (Some("inline"), Some(name)) => Some(partial_name(name)?),
                    _ => None,
                };
                let inner_owner = match &defined {
                    Some(name) => {
                        calls.entry(name.clone()).or_default();
                        name.as_str()
                    }
                    None => owner,
                };
                if let Some(inner) = &decorator.template {
                    collect_partial_calls(inner, inner_owner, calls)?;
                }
            }
            TemplateElement::PartialExpression(partial)
            | TemplateElement::PartialBlock(partial) => {
                let name = partial_name(&partial.name)?;
                if name != "@partial-block" {
                    calls.entry(owner.to_owned()).or_default().insert(name);
                }
                if let Some(inner) = &partial.template {
                    collect_partial_calls(inner, owner, calls)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn partial_name(parameter: &Parameter) -> Result<String> {
    match parameter {
        Parameter::Literal(serde_json::Value::String(name)) => Ok(name.clone()),
        other => match other.as_name() {
            Some(name) => Ok(name.to_owned()),
            None => Err(Error::input(
                "changelog template: a partial's name must be written out, not computed",
            )),
        },
    }
}

/// At most one blank line in a row, none at the start, one newline at the end.
fn fold_blank_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0usize;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() && blank_run > 0 {
            out.push('\n');
        }
        blank_run = 0;
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(sha_seed: u8, message: &str) -> HistoryCommit {
        HistoryCommit {
            sha: format!("{sha_seed:02x}").repeat(20),
            summary: message.lines().next().unwrap_or("").to_owned(),
            message: message.to_owned(),
            is_merge: false,
        }
    }

    fn sample() -> Vec<HistoryCommit> {
        vec![
            commit(1, "feat(api): add releases endpoint (#123)"),
            commit(2, "fix: crash on empty label"),
            commit(3, "docs: explain risk"),
            commit(
                4,
                "feat!: drop v1 webhooks\n\nBREAKING CHANGE: re-register hooks\nat /v2",
            ),
            commit(5, "perf(git): one revwalk"),
            commit(6, "Merge branch 'x'"),
            commit(7, "revert: feat: flaky thing"),
            commit(8, "fix(ui): `<b>` & {{version}} stay as written"),
        ]
    }

    #[test]
    fn groups_follow_the_reading_order_and_hide_non_releasing_types() {
        let s = section_from_commits(None, Some("v1.0.0"), Some("HEAD"), &sample(), false);
        let titles: Vec<&str> = s.groups.iter().map(|g| g.title.as_str()).collect();
        assert_eq!(titles, ["Features", "Bug Fixes", "Performance", "Reverts"]);
        assert_eq!(s.breaking.len(), 1);
        assert_eq!(s.breaking[0].description, "drop v1 webhooks");
        assert_eq!(
            s.groups[0].entries.len(),
            1,
            "breaking feat is not repeated"
        );
        assert_eq!(s.groups[0].entries[0].short_hash, "0101010");
    }

    #[test]
    fn all_types_shows_the_others_too() {
        let mut commits = sample();
        commits.push(commit(9, "wip: half done"));
        let s = section_from_commits(None, None, None, &commits, true);
        let titles: Vec<&str> = s.groups.iter().map(|g| g.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Features",
                "Bug Fixes",
                "Performance",
                "Reverts",
                "Documentation",
                "wip"
            ]
        );
    }

    #[test]
    fn default_template_renders_breaking_first_with_scopes_hashes_and_pr_refs() {
        let section = section_from_commits(None, Some("v1.0.0"), Some("HEAD"), &sample(), false);
        let log = Changelog {
            version: Some("2.0.0".into()),
            date: Some("2024-05-01".into()),
            sections: vec![section],
        };
        let text = render(&log, None).unwrap();
        let expected = "\
## 2.0.0 (2024-05-01)

### ⚠ Breaking changes

- drop v1 webhooks (0404040)
  re-register hooks
  at /v2

### Features

- **api:** add releases endpoint (#123) (0101010)

### Bug Fixes

- crash on empty label (0202020)
- **ui:** `<b>` & {{version}} stay as written (0808080)

### Performance

- **git:** one revwalk (0505050)

### Reverts

- feat: flaky thing (0707070)
";
        assert_eq!(text, expected);
    }

    #[test]
    fn product_changelog_has_one_subsection_per_component() {
        let a = section_from_commits(
            Some("payments"),
            Some("v1.4.2"),
            Some("v1.5.0"),
            &[commit(1, "feat: refunds")],
            false,
        );
        let b = section_from_commits(
            Some("checkout"),
            Some("v2.0.1"),
            Some("v2.0.2"),
            &[commit(2, "chore: deps")],
            false,
        );
        let text = render(
            &Changelog {
                version: Some("3.1.0".into()),
                date: None,
                sections: vec![a, b],
            },
            None,
        )
        .unwrap();
        assert!(
            text.contains(
                "### payments v1.5.0 (since v1.4.2)\n\n#### Features\n\n- refunds (0101010)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("### checkout v2.0.2 (since v2.0.1)\n\nNo notable changes.\n"),
            "{text}"
        );
    }

    #[test]
    fn custom_template_is_used() {
        let log = Changelog {
            version: None,
            date: None,
            sections: vec![section_from_commits(None, None, None, &sample(), false)],
        };
        let text = render(
            &log,
            Some("{{#each sections}}{{#each groups}}{{title}}={{len entries}};{{/each}}{{/each}}"),
        )
        .unwrap();
        assert_eq!(text, "Features=1;Bug Fixes=2;Performance=1;Reverts=1;\n");
    }

    /// Issue 12, point 1: the note is kept whole in the product changelog,
    /// even with trailers after it and several paragraphs.
    #[test]
    fn product_changelog_keeps_the_whole_breaking_note() {
        let commits = [commit(
            1,
            "feat(api): v2 routes\n\nBREAKING CHANGE: the v1 routes are gone.\n\nMove callers to /v2 first.\n\nSigned-off-by: A <a@b.c>\nCo-authored-by: B <b@c.d>",
        )];
        let section = section_from_commits(
            Some("payments"),
            Some("1.4.2"),
            Some("2.0.0"),
            &commits,
            false,
        );
        let text = render(
            &Changelog {
                version: Some("3.0.0".into()),
                date: None,
                sections: vec![section],
            },
            None,
        )
        .unwrap();
        assert!(
            text.contains(
                "#### ⚠ Breaking changes\n\n- **api:** v2 routes (0101010)\n  the v1 routes are gone.\n\n  Move callers to /v2 first.\n"
            ),
            "{text}"
        );
        assert!(!text.contains("Signed-off-by"), "{text}");
    }

    /// Issue 12, point 2: a git revert is listed under Reverts.
    #[test]
    fn git_reverts_are_listed_under_reverts() {
        let commits = [commit(
            3,
            "Revert \"feat: flaky thing\"\n\nThis reverts commit 0707070707070707070707070707070707070707.",
        )];
        let s = section_from_commits(None, None, None, &commits, false);
        assert_eq!(s.groups.len(), 1);
        assert_eq!(s.groups[0].title, "Reverts");
        assert_eq!(s.groups[0].entries[0].description, "feat: flaky thing");
    }

    fn empty_log() -> Changelog {
        Changelog {
            version: None,
            date: None,
            sections: vec![section_from_commits(None, None, None, &sample(), false)],
        }
    }

    /// Issue 10, point 4: a partial that includes itself is refused in one
    /// line, before it runs (it used to overflow the stack).
    #[test]
    fn recursive_partials_are_refused_before_they_run() {
        for template in [
            "{{#*inline \"p\"}}x{{> p}}{{/inline}}{{> p}}",
            "{{#*inline \"a\"}}{{> b}}{{/inline}}{{#*inline \"b\"}}{{#each sections}}{{> a}}{{/each}}{{/inline}}{{> a}}",
            "{{#*inline \"p\"}}{{#> p}}fallback{{/p}}{{/inline}}{{> p}}",
            "{{> changelog}}",
        ] {
            let e = render(&empty_log(), Some(template)).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{template}");
            assert!(e.message().contains("may not recurse"), "{template}: {e}");
            assert!(!e.message().contains('\n'));
        }
        let fine = "{{#*inline \"item\"}}- {{description}}\n{{/inline}}{{#*inline \"group\"}}{{title}}\n{{#each entries}}{{> item}}{{/each}}{{/inline}}{{#each sections}}{{#each groups}}{{> group}}{{/each}}{{/each}}";
        let text = render(&empty_log(), Some(fine)).unwrap();
        assert!(
            text.starts_with("Features\n- add releases endpoint (#123)\n"),
            "{text}"
        );
    }

    #[test]
    fn templates_past_the_size_depth_and_output_limits_are_refused() {
        let huge = "x".repeat(MAX_TEMPLATE_BYTES + 1);
        let deep = format!(
            "{}{}",
            "{{#if version}}".repeat(MAX_BLOCK_DEPTH + 1),
            "{{/if}}".repeat(MAX_BLOCK_DEPTH + 1)
        );
        let chain: String = (0..=MAX_PARTIAL_DEPTH)
            .map(|i| {
                format!(
                    "{{{{#*inline \"p{i}\"}}}}{{{{> p{}}}}}{{{{/inline}}}}",
                    i + 1
                )
            })
            .chain([format!(
                "{{{{#*inline \"p{}\"}}}}end{{{{/inline}}}}{{{{> p0}}}}",
                MAX_PARTIAL_DEPTH + 1
            )])
            .collect();
        // 2^12 copies of a 300-byte line: past the output cap without any recursion.
        let mut wide = "{{#*inline \"l0\"}}{{#each sections}}{{#each groups}}{{title}}{{/each}}{{/each}}......................................................................................................................................................................................................................................................................................\n{{/inline}}".to_owned();
        for i in 1..=7 {
            wide.push_str(&format!(
                "{{{{#*inline \"l{i}\"}}}}{{{{> l{p}}}}}{{{{> l{p}}}}}{{{{> l{p}}}}}{{{{> l{p}}}}}{{{{/inline}}}}",
                p = i - 1
            ));
        }
        wide.push_str("{{> l7}}{{> l7}}");
        for (template, expected) in [
            (huge.as_str(), "bytes, more than"),
            (deep.as_str(), "nested more than"),
            (chain.as_str(), "may not recurse"),
            (wide.as_str(), "rendered text passed"),
            ("{{> (lookup this \"x\")}}", "must be written out"),
        ] {
            let e = render(&empty_log(), Some(template)).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.message().contains(expected), "{expected}: {e}");
        }
    }

    #[test]
    fn broken_template_is_bad_input_with_its_position() {
        let log = Changelog {
            version: None,
            date: None,
            sections: vec![],
        };
        let e = render(&log, Some("ok\n{{#each sections}}\n{{/if}}\n")).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.message().contains("line 3"), "{e}");
        assert!(!e.message().contains('\n'));
    }
}
