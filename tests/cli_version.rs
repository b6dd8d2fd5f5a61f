//! `stagecoach version next` on real repositories.

mod history_support;

use history_support::{Repo, stagecoach, stderr, stdout};

fn next(repo: &Repo, extra: &[&str]) -> std::process::Output {
    let path = repo.path().to_str().unwrap();
    let mut args = vec!["version", "next", "--repo", path];
    args.extend_from_slice(extra);
    stagecoach(&args)
}

#[test]
fn feature_since_last_tag_gives_next_minor_as_text_and_json() {
    let mut repo = Repo::new();
    repo.commit("feat: first");
    repo.tag("v1.2.3");
    repo.commit("fix: crash (#10)");
    repo.commit("feat(api): releases (#11)");
    repo.commit("Update README");

    let out = next(&repo, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "1.3.0\n");

    let out = next(&repo, &["--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"current": "1.2.3", "next": "1.3.0", "bump": "minor", "commits": 2})
    );
}

#[test]
fn breaking_change_gives_next_major() {
    let mut repo = Repo::new();
    repo.commit("feat: first");
    repo.tag("v1.2.3");
    repo.commit("fix: x\n\nBREAKING CHANGE: config moved");
    assert_eq!(stdout(&next(&repo, &[])), "2.0.0\n");
}

#[test]
fn nothing_releasable_says_no_release_and_null_in_json() {
    let mut repo = Repo::new();
    repo.commit("feat: first");
    repo.tag("v2.0.0");
    repo.commit("docs: typo");
    let out = next(&repo, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with("no release"), "{}", stdout(&out));
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&next(&repo, &["--format", "json"]))).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"current": "2.0.0", "next": null, "bump": null, "commits": 1})
    );
}

#[test]
fn untagged_repo_starts_from_zero_and_custom_prefix_is_honoured() {
    let mut repo = Repo::new();
    repo.commit("feat: first");
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&next(&repo, &["--format", "json"]))).unwrap();
    assert_eq!(json["current"], serde_json::Value::Null);
    assert_eq!(json["next"], "0.1.0");

    repo.tag("payments-v0.1.0");
    repo.commit("fix: a");
    assert_eq!(stdout(&next(&repo, &["--prefix", "payments-v"])), "0.1.1\n");
}

#[test]
fn explicit_range_is_used() {
    let mut repo = Repo::new();
    repo.commit("feat: a");
    repo.tag("v1.0.0");
    repo.commit("fix: b");
    repo.tag("v1.0.1");
    repo.commit("feat: c");
    let out = next(&repo, &["--from", "v1.0.0", "--to", "v1.0.1"]);
    assert_eq!(stdout(&out), "1.0.1\n", "{}", stderr(&out));
}

#[test]
fn missing_repo_is_bad_input_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let out = stagecoach(&["version", "next", "--repo", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1);
}

#[test]
fn bad_revision_is_bad_input_naming_it() {
    let mut repo = Repo::new();
    repo.commit("feat: a");
    let out = next(&repo, &["--to", "no-such-branch"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no-such-branch"), "{}", stderr(&out));
}
