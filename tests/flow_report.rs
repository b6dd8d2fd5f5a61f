//! `stagecoach report` on the sandbox after real promotions: releases to
//! canary and prod, a rollback of prod, a hotfix sent to canary and prod;
//! every figure of `-o json` checked against what git and the forge say.

mod support;

use std::process::Command;

use chrono::{DateTime, Utc};
use serde_json::Value;
use support::{LOW, Road, wait_for};

fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stagecoach"))
        .args(args)
        .output()
        .expect("run stagecoach");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A config file for the command line, as the bot's user.
fn config_file(road: &Road) -> std::path::PathBuf {
    let path = road.dir.join("report.yaml");
    let text = format!(
        "forge: {{api_url: \"{api}\", token: \"{token}\", budget: {budget}}}\n\
         git: {{url: \"{url}\", cache_dir: \"{cache}\"}}\n\
         product: {{repo: acme/product}}\n",
        api = road.sb.api_url,
        token = road.sb.world.bot_token(),
        budget = stagecoach::sandbox::BOT_BUDGET,
        url = road.sb.git_http_url_template(),
        cache = road.dir.join("cache-report").display(),
    );
    std::fs::write(&path, text).expect("config");
    path
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("a time: {v}"))
}

/// When git says the final wave of `tag`'s first promotion on `env` landed.
fn final_wave(road: &Road, env: &str, tag: &str) -> DateTime<Utc> {
    let repo = road.bare(&format!("landscape-{env}"));
    let mut walk = repo.revwalk().expect("walk");
    walk.push_ref("refs/heads/main").expect("main");
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)
        .expect("sort");
    for oid in walk {
        let c = repo.find_commit(oid.expect("oid")).expect("commit");
        let m = c.message().unwrap_or("");
        if m.contains(&format!("Stagecoach-Product: {tag}\n")) && m.contains("Stagecoach-Wave: 2/2")
        {
            return DateTime::from_timestamp(c.time().seconds(), 0).expect("time");
        }
    }
    panic!("no final wave of {tag} on {env}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_counts_promotions_a_rollback_and_a_hotfix_as_git_recorded_them() {
    let road = Road::start().await;
    road.wait_staging("v1.0.0").await;
    // A component PR that goes all the way: checkout 2.1.0 → v1.1.0.
    let n = road
        .component_pr(
            "alice",
            "checkout",
            "feat/saved-carts",
            "feat(cart): saved carts",
            LOW,
        )
        .await;
    road.merge_and_release("alice", "checkout", n, "v2.1.0")
        .await;
    road.wait_staging("v1.1.0").await;
    wait_for("v1.0.0 released", || async {
        road.release("v1.0.0").await.filter(|r| r["draft"] == false)
    })
    .await;
    let merged_at = time(&road.pull("checkout", n).await["merged_at"]);

    let rita = road.engine_as("rita");
    rita.promote("v1.0.0", "canary", None)
        .await
        .expect("canary");
    rita.promote("v1.0.0", "prod", None).await.expect("prod");
    rita.promote("v1.1.0", "canary", Some("saved carts for a demo".into()))
        .await
        .expect("v1.1.0 on canary");
    rita.promote("v1.1.0", "prod", None)
        .await
        .expect("v1.1.0 on prod");
    let arrived = final_wave(&road, "prod", "v1.1.0");
    rita.rollback("prod", None)
        .await
        .expect("rollback to v1.0.0");
    // On-call's hotfix of v1.1.0 goes to canary, then prod.
    road.component_release("checkout", "fix(cart): keep saved carts", "v2.1.1")
        .await;
    let olga = road.engine_as("olga");
    let hotfix = olga
        .hotfix_by_hand("v1.1.0", "checkout", &semver::Version::new(2, 1, 1))
        .await
        .expect("hotfix");
    road.wait_landscape("canary", "canary-1", "checkout", "2.1.1")
        .await;
    olga.promote(&hotfix, "prod", None)
        .await
        .expect("hotfix on prod");

    let config = config_file(&road);
    let cfg = config.to_str().expect("utf8");
    let (code, out, err) = cli(&["report", "--config", cfg, "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).expect("report json");
    assert_eq!(report["product"], "acme/product");
    assert_eq!(report["days"], 30.0);
    assert_eq!(report["prod"], "prod");
    let env = |name: &str| -> Value {
        report["environments"]
            .as_array()
            .expect("environments")
            .iter()
            .find(|e| e["env"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {report}"))
    };
    let names: Vec<&str> = report["environments"]
        .as_array()
        .expect("environments")
        .iter()
        .filter_map(|e| e["env"].as_str())
        .collect();
    assert_eq!(
        names,
        ["staging", "canary", "prod"],
        "CI tests PRs, it is not measured"
    );

    let prod = env("prod");
    let f = &prod["deployment_frequency"];
    assert_eq!(
        (
            &f["promotions"],
            &f["releases"],
            &f["hotfixes"],
            &f["rollbacks"]
        ),
        (
            &Value::from(4),
            &Value::from(2),
            &Value::from(1),
            &Value::from(1)
        ),
        "{prod}"
    );
    assert_eq!(f["per_day"], 0.133);
    assert_eq!(f["per_week"], 0.933);
    // v1.1.0 was rolled back; v1.0.0 and the hotfix stand.
    let c = &prod["change_failure_rate"];
    assert_eq!(
        (
            &c["changes"],
            &c["failed"],
            &c["rolled_back"],
            &c["hotfixed"],
            &c["failed_waves"]
        ),
        (
            &Value::from(3),
            &Value::from(1),
            &Value::from(1),
            &Value::from(0),
            &Value::from(0)
        ),
        "{prod}"
    );
    assert_eq!(c["rate"], 0.333);
    // The rollback is the one incident, over once its last wave was healthy.
    let r = &prod["time_to_restore"];
    assert_eq!(
        (&r["incidents"], &r["open"]),
        (&Value::from(1), &Value::from(0))
    );
    assert_eq!(r["restored"]["count"], 1);
    assert!(r["restored"]["median_seconds"].as_i64().is_some(), "{r}");
    // The one PR: merged, then running in prod when v1.1.0's last wave landed.
    let lead = (arrived - merged_at).num_seconds();
    let l = &prod["lead_time"];
    assert_eq!(l["count"], 1, "{prod}");
    assert_eq!(l["median_seconds"], lead);
    assert_eq!(l["p90_seconds"], lead);
    let checkout = prod["components"]
        .as_array()
        .expect("components")
        .iter()
        .find(|c| c["component"] == "checkout")
        .cloned()
        .expect("checkout");
    // Each promotion changed checkout's version; the first pinned everything.
    assert_eq!(checkout["promotions"], 4, "{checkout}");
    assert_eq!(checkout["failed"], 1);
    assert_eq!(checkout["lead_time"]["median_seconds"], lead);
    assert_eq!(prod["daily"].as_array().map(Vec::len), Some(30));

    // Canary: v1.0.0, v1.1.0 (followed by the hotfix), the hotfix.
    let canary = env("canary");
    let c = &canary["change_failure_rate"];
    assert_eq!(
        (&c["changes"], &c["failed"], &c["hotfixed"]),
        (&Value::from(3), &Value::from(1), &Value::from(1)),
        "{canary}"
    );
    assert_eq!(canary["time_to_restore"]["incidents"], 0);
    assert!(canary["time_to_restore"]["restored"]["median_seconds"].is_null());
    // Staging took v1.0.0 and v1.1.0 from the bot; nothing failed.
    let staging = env("staging");
    assert_eq!(
        staging["deployment_frequency"]["promotions"], 2,
        "{staging}"
    );
    assert_eq!(staging["change_failure_rate"]["rate"], 0.0);

    // The same figures for people, and a window with nothing in it.
    let (code, text, err) = cli(&["report", "--config", cfg]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("prod (prod)"), "{text}");
    assert!(
        text.contains("deployment frequency   4 promotions in 30 days: 0.13 a day, 0.93 a week (2 releases, 1 hotfix, 1 rollback)"),
        "{text}"
    );
    assert!(text.contains("1 of 3 changes failed: 33.3%"), "{text}");

    // Bad input is one line and exit code 2.
    let (code, out, err) = cli(&["report", "--config", cfg, "--since", "soon"]);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--since `soon`"), "{err}");
    road.stop().await;
}
