//! Every bad policy in `fixtures/policies/` is refused with exit code 2 and
//! one line that says where (file:line:col and the key path, as
//! docs/policy.md promises) and what was expected.

use std::path::Path;
use std::process::{Command, Output};

/// (fixture, where the message must point, what it must say)
const CASES: &[(&str, &str, &str)] = &[
    (
        "unknown_key.yaml",
        ":3:3: risk.weigths: ",
        "unknown field `weigths`, expected one of weights",
    ),
    (
        "thresholds_out_of_order.yaml",
        ":3:5: risk.levels.medium: ",
        "must be below high (40); expected 1 <= medium < high <= 100",
    ),
    (
        "negative_weight.yaml",
        ":4:13: risk.weights.change: ",
        "weight `-10` is out of range; expected a whole number 0..=",
    ),
    (
        "bad_cron.yaml",
        ":6:39: environments[0].when.schedule: ",
        "cron `0 6 * *` has 4 fields; expected five fields",
    ),
    (
        "follows_later.yaml",
        ":4:5: environments[0].follows: ",
        "`prod` is not an environment listed before `canary`; expected one of",
    ),
    (
        "follows_missing.yaml",
        ":8:5: environments[1].follows: ",
        "`qa` is not an environment listed before `prod`; expected one of product-prs, product-tags, releases, ci",
    ),
    (
        "wave_unknown_cluster.yaml",
        ":8:16: environments[0].waves[1][1]: ",
        "cluster `us-1` is not in this environment's clusters; expected one of eu-1, eu-2",
    ),
    (
        "duplicate_environment.yaml",
        ":6:5: environments[1].name: ",
        "environment `ci` is defined twice; expected unique names",
    ),
    (
        "bad_duration.yaml",
        ":6:11: environments[0].soak: ",
        "`a day` is not a duration",
    ),
    (
        "bad_repo.yaml",
        ":3:11: environments[0].repo: ",
        "repository `landscape-ci`: expected `owner/name`",
    ),
    (
        "bad_principal.yaml",
        ":2:15: people.approvers[0]: ",
        "`@acme` is not a team; expected a user like `alice` or a team",
    ),
    (
        "broken_yaml.yaml",
        ":2:13: ",
        "expected weight as a whole number",
    ),
    (
        "cron_never_fires.yaml",
        ":6:22: environments[0].when.schedule: ",
        "cron `0 0 30 2 *` never fires (no such date)",
    ),
    ("duplicate_key.yaml", ":4:1: sizes: ", "duplicate"),
    (
        "empty_signals.yaml",
        ":6:26: environments[0].stability.signals: ",
        "is empty; expected at least one signal",
    ),
    (
        "freeze_bad_cron.yaml",
        ":5:11: freezes[0].cron: ",
        "cron `0 18 * 5` has 4 fields; expected five fields",
    ),
    (
        "freeze_bad_duration.yaml",
        ":6:15: freezes[0].duration: ",
        "`all weekend` is not a duration",
    ),
    (
        "freeze_unknown_timezone.yaml",
        ":7:15: freezes[0].timezone: ",
        "`Europe/Bonn` is not a time zone; expected an IANA name",
    ),
    (
        "freeze_unknown_environment.yaml",
        ":7:26: freezes[0].environments[1]: ",
        "`qa` is not an environment of the policy; expected one of prod",
    ),
];

fn risk_with_policy(path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stagecoach"))
        .args(["risk", "--policy"])
        .arg(path)
        .args(["--label", "component: S", "--label", "change: S"])
        .args(["--label", "ft-coverage: 90", "--label", "functional: true"])
        .output()
        .expect("the binary runs")
}

#[test]
fn every_bad_policy_is_refused_with_its_location_and_what_was_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/policies");
    for (file, at, says) in CASES {
        let path = dir.join(file);
        let out = risk_with_policy(&path);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        assert!(out.stdout.is_empty(), "{file}");
        assert_eq!(err.lines().count(), 1, "{file}: {err}");
        let expected_at = format!("{}{at}", path.display());
        assert!(
            err.contains(&expected_at),
            "{file}: expected `{expected_at}` in {err}"
        );
        assert!(err.contains(says), "{file}: expected `{says}` in {err}");
    }
    let fixtures = std::fs::read_dir(&dir).expect("fixtures").count();
    assert_eq!(
        CASES.len(),
        fixtures,
        "every fixture in {} has a case",
        dir.display()
    );
}

#[test]
fn the_shipped_default_policy_is_accepted() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/default.yaml");
    let out = risk_with_policy(&path);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
