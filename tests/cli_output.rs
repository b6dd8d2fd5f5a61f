//! The command line people expect: `-o json` (and the old `--format`),
//! errors as JSON when JSON was asked for, no panic on a closed pipe, no
//! ANSI when stderr is not a terminal, exit codes 0/1/2/3, `status` of an
//! unknown version refused, and people acting as themselves on the sandbox
//! (`--token-env`, `D/people/<login>.yaml`) with their token never printed.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use stagecoach::sandbox::{self, SandboxOptions};

const LABELS: &[&str] = &[
    "--label",
    "component: S",
    "--label",
    "change: S",
    "--label",
    "ft-coverage: 90",
    "--label",
    "functional: true",
];

fn stagecoach(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stagecoach"));
    c.args(args)
        .env_remove("STAGECOACH_TOKEN")
        .env_remove("NO_COLOR");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run stagecoach")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn dash_o_json_and_the_old_format_flag_print_the_same_json() {
    let a = stagecoach(&[&["risk", "-o", "json"], LABELS].concat(), &[]);
    let b = stagecoach(&[&["risk", "--output", "json"], LABELS].concat(), &[]);
    let c = stagecoach(&[&["risk", "--format", "json"], LABELS].concat(), &[]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a.stderr));
    let v: serde_json::Value = serde_json::from_slice(&a.stdout).expect("json");
    assert_eq!(v["level"], "low");
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(a.stdout, c.stdout);
    let help = text(&stagecoach(&["risk", "--help"], &[]).stdout);
    assert!(help.contains("-o, --output"), "{help}");
    assert!(!help.contains("--format"), "the alias stays hidden: {help}");
}

#[test]
fn errors_are_json_on_stderr_when_json_was_asked_for() {
    let out = stagecoach(&["risk", "-o", "json", "--label", "component: XXL"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&err).expect("a JSON error");
    assert_eq!(v["kind"], "input");
    assert_eq!(v["exit_code"], 2);
    assert!(
        v["error"].as_str().unwrap_or("").contains("component: XXL"),
        "{v}"
    );
    // Text stays text.
    let out = stagecoach(&["risk", "--label", "component: XXL"], &[]);
    assert!(
        text(&out.stderr).starts_with("stagecoach: label"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_closed_pipe_ends_quietly_without_a_panic() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stagecoach"))
        .args(["risk"])
        .args(LABELS)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // The reader goes away before anything is written, like `| head -0`.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}

fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut full: Vec<&str> = args.to_vec();
    let config = dir.join("stagecoach.yaml");
    let config = config.to_string_lossy().into_owned();
    if !args.contains(&"--config") {
        full.extend(["--config", &config]);
    }
    let out = stagecoach(&full, env);
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_act_as_themselves_and_the_exit_code_says_who_may_not() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = sandbox::start(SandboxOptions::new(tmp.path()))
        .await
        .expect("sandbox");
    stagecoach::cli::sandbox::write_configs(&sb.world, &sb.api_url, "s3cret").expect("configs");
    let dir = tmp.path().to_path_buf();
    let rita = sb.world.token("rita").expect("rita").to_string();
    let bob = sb.world.token("bob").expect("bob").to_string();
    for login in ["alice", "bob", "ron", "rita", "olga"] {
        let p = dir.join(format!("people/{login}.yaml"));
        let cfg = std::fs::read_to_string(&p).unwrap_or_else(|_| panic!("{}", p.display()));
        let token = sb.world.token(login).expect("user");
        assert!(cfg.contains(token), "{login}'s config has their token");
    }
    let steps = tokio::task::spawn_blocking(move || {
        // bob (a developer) asks through his own config: not allowed, exit 3.
        let bob_cfg = dir.join("people/bob.yaml");
        let bob_cfg = bob_cfg.to_string_lossy().into_owned();
        let (code, out, err) = run_in(
            &dir,
            &[
                "promote",
                "v1.0.0",
                "--to",
                "canary",
                "--override",
                "test",
                "--config",
                &bob_cfg,
            ],
            &[("RUST_LOG", "info")],
        );
        assert_eq!(code, 3, "{out}{err}");
        assert!(err.contains("bob may not promote to canary"), "{err}");
        // The same with -o json: the error is a JSON object of kind denied.
        let (code, _, err) = run_in(
            &dir,
            &[
                "promote",
                "v1.0.0",
                "--to",
                "canary",
                "--override",
                "test",
                "-o",
                "json",
                "--config",
                &bob_cfg,
            ],
            &[("RUST_LOG", "off")],
        );
        assert_eq!(code, 3);
        let v: serde_json::Value = serde_json::from_str(err.trim()).expect("JSON error");
        assert_eq!(
            (v["kind"].as_str(), v["exit_code"].as_i64()),
            (Some("denied"), Some(3))
        );

        // An unset --token-env is bad input, named, with no token anywhere.
        let (code, _, err) = run_in(
            &dir,
            &[
                "promote",
                "v1.0.0",
                "--to",
                "canary",
                "--token-env",
                "NOBODY_TOKEN",
            ],
            &[],
        );
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("--token-env NOBODY_TOKEN"), "{err}");

        // rita, the release manager, with the bot's config but her own token.
        let (code, out, err) = run_in(
            &dir,
            &[
                "promote",
                "v1.0.0",
                "--to",
                "canary",
                "--override",
                "first canary",
                "--token-env",
                "RITA_TOKEN",
            ],
            &[("RITA_TOKEN", &rita), ("RUST_LOG", "info")],
        );
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("v1.0.0 runs on canary"), "{out}");
        assert!(
            err.contains("stagecoach action"),
            "the log is on stderr: {err}"
        );
        assert!(
            !err.contains('\u{1b}'),
            "no ANSI on a stderr that is not a terminal: {err:?}"
        );
        assert!(
            !out.contains(&rita) && !err.contains(&rita) && !err.contains(&bob),
            "a token is never printed"
        );
        (dir, out)
    })
    .await
    .expect("join");
    let (dir, _) = steps;
    // The promotion happened, with the override recorded.
    let canary =
        git2::Repository::open_bare(dir.join("repos/acme/landscape-canary.git")).expect("canary");
    let head = canary
        .revparse_single("main^{commit}")
        .expect("main")
        .peel_to_commit()
        .expect("commit");
    let message = head.message().unwrap_or("").to_string();
    assert!(
        message.contains("Stagecoach-Override: first canary"),
        "{message}"
    );

    // `status` of a version nothing has is bad input, not an empty road.
    let d = dir.clone();
    let (code, out, err) =
        tokio::task::spawn_blocking(move || run_in(&d, &["status", "checkout@9.9.9"], &[]))
            .await
            .expect("join");
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("checkout has no version 9.9.9"), "{err}");
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        run_in(&dir, &["status", "checkout", "-o", "json"], &[])
    })
    .await
    .expect("join");
    assert_eq!(code, 0, "{err}");
    serde_json::from_str::<serde_json::Value>(&out).expect("status -o json");
    sb.shutdown().await;
}
