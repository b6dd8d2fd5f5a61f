//! Changelogs: commits grouped into sections (one per component, so a product
//! changelog is several components' sections) and rendered through a
//! handlebars template the user can replace.

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

/// Render a changelog as markdown with `template` (handlebars text) or the
/// built-in one.
///
/// HTML escaping is off (this is markdown, and `&` or `<` in a commit must
/// stay readable); commit text cannot inject template code because it only
/// ever arrives as data. Blank-line runs are folded so templates can be laid
/// out for reading.
pub fn render(changelog: &Changelog, template: Option<&str>) -> Result<String> {
    let mut registry = Handlebars::new();
    registry.register_escape_fn(handlebars::no_escape);
    registry.register_helper("indent", Box::new(indent));
    registry
        .register_template_string("changelog", template.unwrap_or(DEFAULT_TEMPLATE))
        .map_err(|e| {
            let place = e
                .pos()
                .map(|(line, col)| format!(" line {line}, column {col}"))
                .unwrap_or_default();
            Error::input(format!("changelog template{place}: {}", e.reason()))
        })?;
    let text = registry.render("changelog", changelog).map_err(|e| {
        let place = match (e.line_no, e.column_no) {
            (Some(line), Some(col)) => format!(" line {line}, column {col}"),
            _ => String::new(),
        };
        Error::input(format!("changelog template{place}: {}", e.reason()))
    })?;
    Ok(fold_blank_lines(&text))
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
