//! `stagecoach demo`'s folder: with `--keep --dir D` it stays, with the bot's
//! and each person's config; with `--dir D` alone what the demo made is
//! removed (what was there before stays) and no deleted folder is printed.
//! Also the sandbox's smoke gate, which names a toggle only when one is tested.

use std::path::Path;
use std::process::Command;

fn demo(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stagecoach"))
        .arg("demo")
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run the demo");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn last_line(out: &str) -> &str {
    out.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
}

#[test]
fn keep_writes_the_configs_and_dir_alone_cleans_up_after_itself() {
    let tmp = tempfile::tempdir().expect("tmp");
    let kept = tmp.path().join("kept");
    let kept_s = kept.to_string_lossy().into_owned();
    let (code, out, err) = demo(&["--dir", &kept_s, "--keep"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(kept.join("repos/acme/product.git").is_dir());
    for f in ["stagecoach.yaml", "people/rita.yaml", "people/olga.yaml"] {
        let path = kept.join(f);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("--keep writes {}", path.display()));
        stagecoach::config::Config::parse(&text, f).expect("a config that loads");
    }
    assert!(
        last_line(&out).contains(&format!("kept in {kept_s}")),
        "{}",
        last_line(&out)
    );
    // Every check comes after the bot's line it checks: the first merge.
    let merge = out
        .find("bot        merge product#1")
        .expect("the merge line");
    let tagged = out
        .find("✔ check    product tagged v1.0.1")
        .expect("the tag check");
    assert!(merge < tagged, "{out}");

    // The stability score sits on the tag's commit (not the tag object), as
    // the README says: `git notes --ref=stability show v1.1.0^{commit}`.
    let product = kept.join("repos/acme/product.git");
    let notes = |rev: &str| {
        Command::new("git")
            .arg("--git-dir")
            .arg(&product)
            .args(["notes", "--ref=stability", "show", rev])
            .output()
            .expect("git runs (install git)")
    };
    let on_commit = notes("v1.1.0^{commit}");
    let score = String::from_utf8_lossy(&on_commit.stdout).into_owned();
    assert!(score.starts_with("score: "), "{score}");
    assert!(
        !notes("v1.1.0").status.success(),
        "no note on the tag object itself"
    );

    let used = tmp.path().join("used");
    std::fs::create_dir_all(&used).expect("dir");
    std::fs::write(used.join("mine.txt"), "not the demo's").expect("a file of mine");
    let used_s = used.to_string_lossy().into_owned();
    let (code, out, err) = demo(&["--dir", &used_s]);
    assert_eq!(code, 0, "{out}{err}");
    let left: Vec<String> = std::fs::read_dir(&used)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        vec!["mine.txt".to_string()],
        "only what was there before"
    );
    let last = last_line(&out);
    assert!(
        !last.contains(&used_s) && last.contains("sandbox removed"),
        "no deleted folder is printed: {last}"
    );
}

#[test]
fn the_smoke_gate_names_a_toggle_only_when_one_is_tested() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sandbox/world/smoke.sh");
    let run = |toggle: Option<&str>| {
        let mut c = Command::new("sh");
        c.arg(&script)
            .env("STAGECOACH_COMPONENT", "search")
            .env("STAGECOACH_VERSION", "0.10.0")
            .env("STAGECOACH_ENV", "pr-3")
            .env("STAGECOACH_CLUSTER", "ci-1")
            .env_remove("STAGECOACH_TOGGLE");
        if let Some(t) = toggle {
            c.env("STAGECOACH_TOGGLE", t);
        }
        let out = c.output().expect("sh runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let plain = run(None);
    assert!(
        plain.contains("passed") && !plain.contains("toggle"),
        "{plain}"
    );
    let on = run(Some("on"));
    assert!(on.contains("with the toggle on"), "{on}");
}
