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

/// Issue 12, point 1: `git commit -s` puts `Signed-off-by:` in a paragraph
/// after the note; the changelog still shows the change as breaking, with the
/// whole note (both paragraphs), and a git revert under Reverts.
#[test]
fn the_whole_breaking_note_is_kept_when_trailers_follow_it() {
    let mut repo = Repo::new();
    repo.commit("feat: first");
    repo.tag("v1.0.0");
    repo.commit(
        "feat: new api\n\nBREAKING CHANGE: the old api is gone.\n\nCall /v2 instead.\n\nSigned-off-by: Ann <ann@example.com>\nCo-authored-by: Bob <bob@example.com>\n",
    );
    repo.commit(
        "Revert \"fix: flaky\"\n\nThis reverts commit 0123456789abcdef0123456789abcdef01234567.\n",
    );
    let path = repo.path().to_str().unwrap();
    let out = stagecoach(&["changelog", "--repo", path, "--from", "v1.0.0"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let breaking = text
        .find("### ⚠ Breaking changes")
        .expect("a breaking section");
    let note = text
        .find("  the old api is gone.\n\n  Call /v2 instead.\n")
        .expect("the whole note");
    assert!(breaking < note, "{text}");
    assert!(!text.contains("Signed-off-by"), "{text}");
    assert!(text.contains("### Reverts\n\n- fix: flaky ("), "{text}");

    let out = stagecoach(&["version", "next", "--repo", path]);
    assert_eq!(stdout(&out), "2.0.0\n", "{}", stderr(&out));
}

/// Issue 10, point 4: a partial that includes itself is refused in one line
/// (exit 2) instead of overflowing the stack.
#[test]
fn a_template_whose_partial_includes_itself_is_refused_in_one_line() {
    let repo = sample_repo();
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("changelog.hbs");
    std::fs::write(
        &template,
        "{{#*inline \"entry\"}}- {{description}}\n{{> entry}}{{/inline}}{{#each sections}}{{#each groups}}{{#each entries}}{{> entry}}{{/each}}{{/each}}{{/each}}",
    )
    .unwrap();
    let out = stagecoach(&[
        "changelog",
        "--repo",
        repo.path().to_str().unwrap(),
        "--from",
        "v1.0.0",
        "--template",
        template.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("changelog.hbs") && err.contains("\"entry\" includes itself"),
        "{err}"
    );
}

#[test]
fn a_shallow_clone_is_refused_like_version_next() {
    let repo = sample_repo();
    let clones = tempfile::tempdir().unwrap();
    let shallow = clones.path().join("shallow");
    let url = format!("file://{}", repo.path().display());
    let cloned = std::process::Command::new("git")
        .args(["clone", "--quiet", "--depth", "2", &url])
        .arg(&shallow)
        .status()
        .expect("git must be installed to run this test (apt-get install git)");
    assert!(cloned.success());
    let out = stagecoach(&["changelog", "--repo", shallow.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("git fetch --unshallow"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).lines().count(), 1);
}
