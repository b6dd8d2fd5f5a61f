//! The demo world: its repos, tags, files, people and scripts, and the
//! `stagecoach sandbox` command that serves it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use stagecoach::sandbox::create_world;

fn file_at(repo: &git2::Repository, rev: &str, path: &str) -> String {
    let commit = repo
        .revparse_single(rev)
        .expect("rev")
        .peel_to_commit()
        .expect("commit");
    let entry = commit
        .tree()
        .expect("tree")
        .get_path(std::path::Path::new(path))
        .expect(path);
    let blob = repo.find_blob(entry.id()).expect("blob");
    String::from_utf8(blob.content().to_vec()).expect("utf8")
}

#[test]
fn the_world_has_components_with_tags_a_product_and_landscapes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let world = create_world(tmp.path()).expect("world");
    let payments = git2::Repository::open_bare(world.repo_path("payments")).expect("payments");
    for tag in ["v1.3.0", "v1.4.0", "v1.4.2"] {
        assert!(payments.revparse_single(tag).is_ok(), "payments {tag}");
    }
    let product = git2::Repository::open_bare(world.repo_path("product")).expect("product");
    let manifest = file_at(&product, "v1.0.0", "product.yaml");
    assert!(
        manifest.contains("payments: {repo: acme/payments, version: 1.4.2}"),
        "{manifest}"
    );
    assert!(
        manifest.contains("checkout: {repo: acme/checkout, version: 2.0.1}"),
        "{manifest}"
    );
    assert!(manifest.starts_with('#'), "commented");
    let policy = file_at(&product, "main", "policies/default.yaml");
    assert!(
        policy.contains(&format!("{}/bin/health.sh", world.dir.display())),
        "{policy}"
    );
    assert!(!policy.contains("{{"), "placeholders are filled");
    let prod = git2::Repository::open_bare(world.repo_path("landscape-prod")).expect("prod");
    for cluster in ["eu-1", "eu-2", "us-1"] {
        let values = file_at(
            &prod,
            "main",
            &format!("clusters/{cluster}/payments/values.yaml"),
        );
        assert!(values.contains("tag: \"1.4.2\""), "{values}");
    }
    assert!(world.token("rita").is_some_and(|t| t.starts_with("ghp_")));
}

#[test]
fn creating_the_world_twice_reuses_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let first = create_world(tmp.path()).expect("world");
    let second = create_world(tmp.path()).expect("again");
    assert_eq!(first.token("alice"), second.token("alice"));
    let product = git2::Repository::open_bare(first.repo_path("product")).expect("product");
    let mut walk = product.revwalk().expect("walk");
    walk.push_ref("refs/heads/main").expect("main");
    assert_eq!(walk.count(), 1, "no second history");
}

fn run_script(
    dir: &std::path::Path,
    script: &str,
    component: &str,
    version: &str,
    toggle: &str,
) -> std::process::Output {
    Command::new(dir.join("bin").join(script))
        .env("STAGECOACH_ENV", "ci")
        .env("STAGECOACH_COMPONENT", component)
        .env("STAGECOACH_VERSION", version)
        .env("STAGECOACH_CLUSTER", "ci-1")
        .env("STAGECOACH_TOGGLE", toggle)
        .output()
        .expect("runs")
}

#[test]
fn health_and_smoke_fail_only_for_listed_versions() {
    let tmp = tempfile::tempdir().expect("tmp");
    let world = create_world(tmp.path()).expect("world");
    let dir = &world.dir;
    assert!(
        run_script(dir, "health.sh", "payments", "1.5.0", "on")
            .status
            .success()
    );
    std::fs::write(dir.join("world/unhealthy"), "payments@1.5.0\n").expect("write");
    let out = run_script(dir, "health.sh", "payments", "1.5.0", "on");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("payments@1.5.0"));
    assert!(
        run_script(dir, "health.sh", "payments", "1.4.2", "on")
            .status
            .success()
    );

    std::fs::write(dir.join("world/smoke-fails"), "checkout@2.1.0 toggle=off\n").expect("write");
    assert!(
        run_script(dir, "smoke.sh", "checkout", "2.1.0", "on")
            .status
            .success()
    );
    assert_eq!(
        run_script(dir, "smoke.sh", "checkout", "2.1.0", "off")
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn the_sandbox_command_reports_the_address_it_bound_and_writes_the_bot_config() {
    // Port 0: the sandbox binds a free port itself and says which on its
    // first line (how fast it comes up is `cargo bench --bench sandbox_start`).
    let tmp = tempfile::tempdir().expect("tmp");
    let mut child = Command::new(env!("CARGO_BIN_EXE_stagecoach"))
        .args(["sandbox", "--dir"])
        .arg(tmp.path())
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("a line").expect("text");
    let api = first
        .strip_prefix("sandbox: ")
        .unwrap_or_else(|| panic!("the first line names the sandbox: {first}"))
        .to_string();
    let port: u16 = api
        .strip_prefix("http://127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a loopback URL with a port: {api}"));
    assert_ne!(port, 0, "the real port, not the one asked for");
    let user = std::net::TcpStream::connect(("127.0.0.1", port));
    let _ = child.kill();
    let _ = child.wait();
    assert!(user.is_ok(), "the sandbox listens where it says: {api}");
    let config = stagecoach::config::Config::load(&tmp.path().join("stagecoach.yaml"))
        .expect("valid config");
    assert_eq!(config.forge.api_url, api);
    assert_eq!(config.product.repo, "acme/product");
    assert!(
        config
            .forge
            .token
            .as_ref()
            .is_some_and(|t| t.starts_with("ghp_"))
    );
    // Git over the sandbox's HTTP, on the port it bound, as against GitHub.
    let git_url = config.git_url(&config.product_repo());
    assert!(
        git_url.starts_with("http://127.0.0.1:") && git_url.ends_with("/git/acme/product.git"),
        "{git_url}"
    );
}

/// Start `stagecoach sandbox` with `extra` flags; its first stdout line once up.
fn sandbox_command(dir: &std::path::Path, extra: &[&str]) -> (std::process::Child, u16, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let mut child = Command::new(env!("CARGO_BIN_EXE_stagecoach"))
        .args(["sandbox", "--dir"])
        .arg(dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let first = BufReader::new(stdout)
        .lines()
        .next()
        .map(|l| l.unwrap_or_default())
        .unwrap_or_default();
    (child, port, first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_command_grows_the_world_to_n_components_and_m_open_prs() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (mut child, port, first) =
        sandbox_command(tmp.path(), &["--components", "30", "--open-prs", "5"]);
    let api = format!("http://127.0.0.1:{port}");
    let config = stagecoach::config::Config::load(&tmp.path().join("stagecoach.yaml"));
    let answers = async {
        let token = config.expect("valid config").forge.token.expect("a token");
        let http = stagecoach::engine::http::client_builder()
            .build()
            .expect("http");
        let get = |path: String| {
            let req = http
                .get(format!("{api}{path}"))
                .header("Authorization", format!("Bearer {token}"));
            async move { req.send().await.expect("send") }
        };
        let open: serde_json::Value =
            get("/repos/acme/product/pulls?state=open&per_page=100".into())
                .await
                .json()
                .await
                .expect("json");
        let heads: Vec<String> = open
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|p| p["head"]["ref"].as_str().map(str::to_string))
            .collect();
        // 30 components: the demo's 3 and svc-0001 … svc-0027.
        let last = get("/repos/acme/svc-0027".into()).await.status().as_u16();
        let beyond = get("/repos/acme/svc-0028".into()).await.status().as_u16();
        let payments = get("/repos/acme/payments".into()).await.status().as_u16();
        (heads, last, beyond, payments)
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(first, format!("sandbox: {api}"));
    let (mut heads, last, beyond, payments) = answers;
    heads.sort();
    let want: Vec<String> = (1..=5).map(|i| format!("bump/svc-{i:04}")).collect();
    assert_eq!(
        heads, want,
        "five open product PRs, one per grown component"
    );
    assert_eq!((last, beyond, payments), (200, 404, 200));

    // Restarted on the same directory: the same world, no PR opened twice.
    let (mut child, port, _) = sandbox_command(tmp.path(), &["--open-prs", "5"]);
    let token = stagecoach::config::Config::load(&tmp.path().join("stagecoach.yaml"))
        .expect("config")
        .forge
        .token
        .expect("token");
    let again: serde_json::Value = stagecoach::engine::http::client_builder()
        .build()
        .expect("http")
        .get(format!(
            "http://127.0.0.1:{port}/repos/acme/product/pulls?state=open&per_page=100"
        ))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(again.as_array().map(Vec::len), Some(5), "{again}");
}

#[test]
fn the_sandbox_command_refuses_a_world_size_it_cannot_make() {
    let tmp = tempfile::tempdir().expect("tmp");
    for (args, needle) in [
        (vec!["--components", "2"], "--components 2: at least 3"),
        (
            vec!["--components", "5", "--open-prs", "3"],
            "--open-prs 3: at most 2",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_stagecoach"))
            .args(["sandbox", "--dir"])
            .arg(tmp.path().join(args.join("-")))
            .args(["--listen", "127.0.0.1:0"])
            .args(&args)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
}
