//! `stagecoach changelog` on real repositories.

mod history_support;

use history_support::{Repo, stagecoach, stderr, stdout};

fn sample_repo() -> Repo {
    let mut repo = Repo::new();
    repo.commit("feat: first");
    repo.tag("v1.0.0");
    repo.commit("feat(api): add releases endpoint (#123)");
    repo.commit("fix: crash on empty label");
    repo.commit("docs: explain risk");
    repo.commit("feat!: drop v1 webhooks\n\nBREAKING CHANGE: re-register your hooks");
    repo.commit("chore: {{#each x}}injected{{/each}}");
    repo.commit("fix(ui): render {{version}} literally");
    repo
}

#[test]
fn range_renders_breaking_first_then_groups() {
    let repo = sample_repo();
    let out = stagecoach(&[
        "changelog",
        "--repo",
        repo.path().to_str().unwrap(),
        "--from",
        "v1.0.0",
        "--to",
        "HEAD",
        "--version",
        "2.0.0",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let shape: Vec<String> = lines
        .iter()
        .map(|l| {
            // Hide the hashes, which change with every run.
            match l.rfind(" (") {
                Some(i) if l.starts_with("- ") && l.ends_with(')') => format!("{} (#)", &l[..i]),
                _ => (*l).to_owned(),
            }
        })
        .collect();
    assert_eq!(
        shape,
        [
            "## 2.0.0",
            "### ⚠ Breaking changes",
            "- drop v1 webhooks (#)",
            "  re-register your hooks",
            "### Features",
            "- **api:** add releases endpoint (#123) (#)",
            "### Bug Fixes",
            "- **ui:** render {{version}} literally (#)",
            "- crash on empty label (#)",
        ]
    );
}

#[test]
fn all_types_shows_docs_and_chores_as_plain_text() {
    let repo = sample_repo();
    let out = stagecoach(&[
        "changelog",
        "--repo",
        repo.path().to_str().unwrap(),
        "--from",
        "v1.0.0",
        "--all-types",
    ]);
    let text = stdout(&out);
    assert!(
        text.contains("### Documentation\n\n- explain risk ("),
        "{text}"
    );
    assert!(text.contains("- {{#each x}}injected{{/each}} ("), "{text}");
}

#[test]
fn custom_template_file_is_used_and_a_broken_one_is_bad_input() {
    let repo = sample_repo();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.hbs");
    std::fs::write(
        &good,
        "{{#each sections}}{{#each groups}}{{title}}: {{len entries}}\n{{/each}}{{/each}}",
    )
    .unwrap();
    let repo_path = repo.path().to_str().unwrap();
    let out = stagecoach(&[
        "changelog",
        "--repo",
        repo_path,
        "--from",
        "v1.0.0",
        "--template",
        good.to_str().unwrap(),
    ]);
    assert_eq!(
        stdout(&out),
        "Features: 1\nBug Fixes: 2\n",
        "{}",
        stderr(&out)
    );

    let bad = dir.path().join("bad.hbs");
    std::fs::write(&bad, "## x\n{{#each sections}}\n{{/if}}\n").unwrap();
    let out = stagecoach(&[
        "changelog",
        "--repo",
        repo_path,
        "--from",
        "v1.0.0",
        "--template",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("bad.hbs") && err.contains("line 3"), "{err}");
}

#[test]
fn missing_repo_and_bad_revision_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = stagecoach(&[
        "changelog",
        "--repo",
        dir.path().to_str().unwrap(),
        "--from",
        "v1.0.0",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    let repo = sample_repo();
    let out = stagecoach(&[
        "changelog",
        "--repo",
        repo.path().to_str().unwrap(),
        "--from",
        "v9.9.9",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("v9.9.9"), "{}", stderr(&out));
}
