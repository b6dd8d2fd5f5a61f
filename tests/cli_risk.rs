//! `stagecoach risk` as a user runs it: the real binary, its stdout, stderr
//! and exit code.

use std::process::{Command, Output};

fn risk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stagecoach"))
        .arg("risk")
        .args(args)
        .output()
        .expect("the binary runs")
}

fn labels(component: &str, change: &str, coverage: &str) -> Vec<String> {
    vec![
        "--label".into(),
        format!("component: {component}"),
        "--label".into(),
        format!("change: {change}"),
        "--label".into(),
        format!("ft-coverage: {coverage}"),
        "--label".into(),
        "functional: true".into(),
    ]
}

fn run(args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    risk(&args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn json_output_follows_the_contract() {
    let mut args = labels("M", "L", "80");
    args.extend([
        "--bump".into(),
        "minor".into(),
        "--format".into(),
        "json".into(),
    ]);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with(r#"{"score":44,"level":"medium","auto_merge":false,"factors":[{"name":"component","value":"M","points":8},"#),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let points: u64 = v["factors"]
        .as_array()
        .expect("factors")
        .iter()
        .map(|f| f["points"].as_u64().expect("points"))
        .sum();
    assert_eq!(points, 44);
    assert_eq!(v["factors"][3]["value"], "minor");
}

#[test]
fn a_small_well_covered_patch_is_low_risk_and_merges_itself() {
    let mut args = labels("S", "S", "100");
    args.extend(["--format".into(), "json".into()]);
    let v: serde_json::Value = serde_json::from_slice(&run(&args).stdout).expect("json");
    assert_eq!(v["score"], 0);
    assert_eq!(v["level"], "low");
    assert_eq!(v["auto_merge"], true);
}

#[test]
fn text_output_is_a_table_with_the_level() {
    let mut args = labels("XL", "XL", "0");
    args.extend(["--bump".into(), "major".into()]);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.starts_with("risk: high (score 100 of 100)"), "{text}");
    assert!(text.contains("change"), "{text}");
    assert!(text.contains("approval needed: yes"), "{text}");
}

#[test]
fn bad_labels_exit_2_with_one_line_naming_each_label() {
    let out = risk(&[
        "--label",
        "component: XXL",
        "--label",
        "ft-coverage: 120",
        "--label",
        "wip",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(r#"label "component: XXL": size must be one of S, M, L, XL"#),
        "{err}"
    );
    assert!(
        err.contains(
            r#"label "ft-coverage: 120": coverage must be 0..100, e.g. "ft-coverage: 80""#
        ),
        "{err}"
    );
    assert!(err.contains(r#"missing label "change: S|M|L|XL""#), "{err}");
    assert!(
        err.contains(r#"missing label "functional: true|false""#),
        "{err}"
    );
    assert!(!err.contains("wip"), "{err}");
}

#[test]
fn a_missing_policy_file_exits_2_naming_it() {
    let mut args = labels("S", "S", "90");
    args.extend(["--policy".into(), "/nonexistent/policy.yaml".into()]);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/policy.yaml: cannot read policy"));
}

#[test]
fn an_unknown_bump_is_refused_as_bad_input() {
    let mut args = labels("S", "S", "90");
    args.extend(["--bump".into(), "huge".into()]);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("expected patch, minor or major"));
}

#[test]
fn a_custom_policy_changes_labels_and_weights() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("policy.yaml");
    std::fs::write(
        &path,
        "labels: {component: \"size/{size}\"}\nrisk:\n  weights: {component: 1, change: 0, coverage: 0, bump: 0}\n  levels: {medium: 40, high: 90}\n",
    )
    .expect("write");
    let out = risk(&[
        "--policy",
        path.to_str().expect("utf-8 path"),
        "--label",
        "size/L",
        "--label",
        "change: XL",
        "--label",
        "ft-coverage: 0",
        "--label",
        "functional: true",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["score"], 67);
    assert_eq!(v["level"], "medium");
}
