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
        serde_json::json!({"current": "1.2.3", "next": "1.3.0", "bump": "minor", "commits": 2, "ignored_tags": []})
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
        serde_json::json!({"current": "2.0.0", "next": null, "bump": null, "commits": 1, "ignored_tags": []})
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

/// Issue 10, point 5: a shallow clone (what CI checks out by default) is
/// refused with how to fetch enough, instead of answering from a stub history.
#[test]
fn shallow_clone_is_refused_with_how_to_fetch_enough() {
    let mut repo = Repo::new();
    repo.commit("feat: first");
    repo.tag("v1.2.3");
    repo.commit("fix: a");
    repo.commit("fix: b");
    let clones = tempfile::tempdir().unwrap();
    let shallow = clones.path().join("shallow");
    let url = format!("file://{}", repo.path().display());
    let cloned = std::process::Command::new("git")
        .args(["clone", "--quiet", "--depth", "1", &url])
        .arg(&shallow)
        .status()
        .expect("git must be installed to run this test (apt-get install git)");
    assert!(cloned.success());
    let out = stagecoach(&["version", "next", "--repo", shallow.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("shallow clone"), "{err}");
    assert!(
        err.contains("git fetch --unshallow") && err.contains("fetch-depth: 0"),
        "{err}"
    );
    assert!(stdout(&out).is_empty());
}

/// Issue 10, point 5: tags that look like releases but are not taken as one
/// are named with the reason; the answer on stdout stays the version alone.
#[test]
fn tags_seen_and_ignored_are_named_with_the_reason() {
    let mut repo = Repo::new();
    repo.commit("feat: first");
    repo.tag("v1.0.0");
    repo.commit("feat: second");
    repo.tag("2.0.0");
    repo.tag("V3.0.0");
    repo.tag("v4.0.0-rc.1");
    repo.tag("v5.0");
    repo.tag("latest");
    repo.commit("fix: third");

    let out = next(&repo, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "1.1.0\n");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    for expected in [
        "2.0.0 (no prefix \"v\")",
        "V3.0.0 (prefix in another case than \"v\")",
        "v4.0.0-rc.1 (a pre-release, not a release to count from)",
        "v5.0 (not semver after the prefix \"v\")",
    ] {
        assert!(err.contains(expected), "{expected}: {err}");
    }
    assert!(!err.contains("latest"), "{err}");

    let json: serde_json::Value =
        serde_json::from_str(&stdout(&next(&repo, &["--format", "json"]))).unwrap();
    let tags: Vec<&str> = json["ignored_tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["2.0.0", "V3.0.0", "v4.0.0-rc.1", "v5.0"]);
}

#[test]
fn pre_release_only_history_counts_from_zero_and_says_why() {
    let mut repo = Repo::new();
    repo.commit("feat: first");
    repo.tag("v1.0.0-rc.1");
    repo.commit("fix: a");
    let out = next(&repo, &[]);
    assert_eq!(stdout(&out), "0.1.0\n");
    assert!(
        stderr(&out).contains("v1.0.0-rc.1 (a pre-release"),
        "{}",
        stderr(&out)
    );
}

/// Issue 10, point 5: a `--from` that is not a release tag is bad input.
#[test]
fn non_semver_from_is_bad_input() {
    let mut repo = Repo::new();
    let first = repo.commit("feat: a");
    repo.tag("v1.0.0");
    repo.commit("fix: b");
    for from in [first.to_string().as_str(), "HEAD~1", "v1.0", "1.0.0"] {
        let out = next(&repo, &["--from", from]);
        assert_eq!(out.status.code(), Some(2), "{from}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(err.contains("not a release tag"), "{from}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}
