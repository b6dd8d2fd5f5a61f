//! The on-call's and the operator's commands against a running sandbox:
//! `stagecoach hotfix` cuts a hotfix only for a hotfixer, and `stagecoach
//! plan` shows what the bot would do without doing it.

use std::process::Command;

use stagecoach::sandbox::{self, SandboxOptions};

fn stagecoach(dir: &std::path::Path, token: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stagecoach"))
        .args(args)
        .arg("--config")
        .arg(dir.join("stagecoach.yaml"))
        .env("STAGECOACH_TOKEN", token)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run stagecoach");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tag_commit(dir: &std::path::Path, repo: &str, tag: &str) -> Option<git2::Oid> {
    let r = git2::Repository::open_bare(dir.join(format!("repos/acme/{repo}.git"))).ok()?;
    r.revparse_single(&format!("{tag}^{{commit}}"))
        .ok()
        .map(|o| o.id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_hotfixer_cuts_a_hotfix_and_it_lands_on_canary_off_main() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = sandbox::start(SandboxOptions::new(tmp.path()))
        .await
        .expect("sandbox");
    let config = stagecoach::cli::sandbox::bot_config(&sb.world, &sb.api_url, "s3cret");
    std::fs::write(tmp.path().join("stagecoach.yaml"), config).expect("config");
    // The checkout pipeline releases a fix on its main.
    let olga = sb.person("olga").expect("olga");
    let sha = olga
        .commit_files(
            "checkout",
            "main",
            &[("src/retry.txt", "no double charge")],
            "fix(payment): no double charge on retry",
        )
        .await
        .expect("commit");
    olga.tag("checkout", "v2.0.2", &sha).await.expect("tag");

    let dir = tmp.path().to_path_buf();
    let bob = sb.world.token("bob").expect("bob").to_string();
    let olga_token = sb.world.token("olga").expect("olga").to_string();

    let d = dir.clone();
    let (code, _, err) = tokio::task::spawn_blocking(move || {
        stagecoach(
            &d,
            &bob,
            &[
                "hotfix",
                "--from",
                "v1.0.0",
                "--component",
                "checkout@2.0.2",
            ],
        )
    })
    .await
    .expect("join");
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("bob may not cut a hotfix") && err.contains("@acme/on-call"),
        "{err}"
    );
    assert!(
        tag_commit(&dir, "product", "v1.0.1").is_none(),
        "nothing was cut for bob"
    );

    let d = dir.clone();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        stagecoach(
            &d,
            &olga_token,
            &[
                "hotfix",
                "--from",
                "v1.0.0",
                "--component",
                "checkout@2.0.2",
            ],
        )
    })
    .await
    .expect("join");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("hotfix v1.0.1"), "{out}");
    let hotfix = tag_commit(&dir, "product", "v1.0.1").expect("v1.0.1 tagged");
    let product = git2::Repository::open_bare(dir.join("repos/acme/product.git")).expect("product");
    let main = product.revparse_single("main^{commit}").expect("main").id();
    assert!(
        !product.graph_descendant_of(main, hotfix).expect("graph"),
        "the hotfix is off main"
    );
    let canary =
        git2::Repository::open_bare(dir.join("repos/acme/landscape-canary.git")).expect("canary");
    let values = canary
        .revparse_single("main:clusters/canary-1/checkout/values.yaml")
        .expect("values");
    let text = String::from_utf8_lossy(values.as_blob().expect("blob").content()).into_owned();
    assert!(text.contains("2.0.2"), "canary runs the fix: {text}");

    // The dashboard's releases table calls the hotfix a hotfix, as `releases` does.
    let config = stagecoach::config::Config::load(&dir.join("stagecoach.yaml")).expect("config");
    let api = config.forge.api_url.clone();
    let forge = stagecoach::forge::github::GitHub::from_config(&config).expect("forge");
    let engine = stagecoach::engine::Engine::new(config, std::sync::Arc::new(forge));
    let observed = stagecoach::status::observe_now(&engine)
        .await
        .expect("observe");
    let html = stagecoach::dashboard::render(&observed, &[], &api).expect("render");
    let table = &html[html.find("id=\"releases-table\"").expect("releases table")..];
    let row = &table[table.find("data-tag=\"v1.0.1\"").expect("the hotfix row")..];
    let row = &row[..row.find("</tr>").expect("end of row")];
    assert!(row.contains(">hotfix</td>"), "{row}");

    // Asking twice cuts nothing new.
    let d = dir.clone();
    let olga_token = sb.world.token("olga").expect("olga").to_string();
    let (code, out, _) = tokio::task::spawn_blocking(move || {
        stagecoach(
            &d,
            &olga_token,
            &[
                "hotfix",
                "--from",
                "v1.0.0",
                "--component",
                "checkout@2.0.2",
            ],
        )
    })
    .await
    .expect("join");
    assert_eq!(code, 0);
    assert!(out.contains("hotfix v1.0.1"), "{out}");
    assert!(
        tag_commit(&dir, "product", "v1.0.2").is_none(),
        "no second hotfix tag"
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_shows_the_next_actions_and_changes_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = sandbox::start(SandboxOptions::new(tmp.path()))
        .await
        .expect("sandbox");
    let config = stagecoach::cli::sandbox::bot_config(&sb.world, &sb.api_url, "s3cret");
    std::fs::write(tmp.path().join("stagecoach.yaml"), config).expect("config");
    let dir = tmp.path().to_path_buf();
    let token = sb.world.bot_token().to_string();
    let staging = dir.join("repos/acme/landscape-staging.git");
    let before = git2::Repository::open_bare(&staging)
        .expect("staging")
        .revparse_single("main")
        .expect("main")
        .id();
    let (d, t) = (dir.clone(), token.clone());
    let (code, out, err) = tokio::task::spawn_blocking(move || stagecoach(&d, &t, &["plan"]))
        .await
        .expect("join");
    assert_eq!(code, 0, "{err}");
    // A fresh world: staging has never been promoted, so the plan is to send v1.0.0 there.
    assert!(out.contains("promote v1.0.0 to staging"), "{out}");
    // Each action comes with its reason, on the line below it.
    let lines: Vec<&str> = out.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("promote v1.0.0 to staging"))
        .expect("the promote line");
    assert!(
        lines.get(at + 1).is_some_and(
            |l| l.trim_start().starts_with("why: ") && l.contains("does not run this tag yet")
        ),
        "{out}"
    );
    // In JSON, actions are objects with their kind, reason and fields.
    let (code, out, err) =
        tokio::task::spawn_blocking(move || stagecoach(&dir, &token, &["plan", "-o", "json"]))
            .await
            .expect("join");
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    let actions = plan["actions"].as_array().expect("actions");
    let promote = actions
        .iter()
        .find(|a| a["kind"] == "promote" && a["env"] == "staging")
        .unwrap_or_else(|| panic!("a promote action object: {out}"));
    assert_eq!(promote["tag"], "v1.0.0");
    assert!(
        promote["action"]
            .as_str()
            .unwrap_or("")
            .contains("promote v1.0.0 to staging")
    );
    assert!(
        !promote["reason"].as_str().unwrap_or("").is_empty(),
        "{promote}"
    );
    let after = git2::Repository::open_bare(&staging)
        .expect("staging")
        .revparse_single("main")
        .expect("main")
        .id();
    assert_eq!(before, after, "plan is a dry run");
    sb.shutdown().await;
}

#[test]
fn a_bad_component_argument_is_bad_input() {
    let out = Command::new(env!("CARGO_BIN_EXE_stagecoach"))
        .args([
            "hotfix",
            "--from",
            "v1.0.0",
            "--component",
            "checkout",
            "--config",
            "/nonexistent.yaml",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("expected NAME@VERSION"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
