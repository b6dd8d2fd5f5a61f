//! `stagecoach serve --config D/stagecoach.yaml` connects to `stagecoach
//! sandbox --dir D`, both as real processes: webhooks reach the bot, it acts,
//! `/healthz` and `/metrics` answer, and SIGTERM stops it cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    l.local_addr().expect("addr").port()
}

/// Kills the child if the test fails half-way.
struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn get(url: &str) -> Option<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let c = stagecoach::engine::http::client_builder().build().ok()?;
        let r = c.get(url).send().await.ok()?;
        r.status().is_success().then_some(())?;
        r.text().await.ok()
    })
}

#[test]
fn serve_connects_to_the_sandbox_acts_and_stops_on_sigterm() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let (sb_port, bot_port) = (free_port(), free_port());
    let mut sandbox = Command::new(env!("CARGO_BIN_EXE_stagecoach"))
        .args(["sandbox", "--dir"])
        .arg(dir)
        .args(["--listen", &format!("127.0.0.1:{sb_port}")])
        .args([
            "--webhook-url",
            &format!("http://127.0.0.1:{bot_port}/webhook"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sandbox");
    let out = sandbox.stdout.take().expect("stdout");
    let _sandbox = Guard(sandbox);
    // The sandbox prints its URL once it serves.
    let mut reader = BufReader::new(out);
    let mut first = String::new();
    reader.read_line(&mut first).expect("line");
    assert!(first.contains(&sb_port.to_string()), "{first}");
    // Keep reading, or the sandbox's next line would hit a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));

    let bot = Command::new(env!("CARGO_BIN_EXE_stagecoach"))
        .args(["serve", "--config"])
        .arg(dir.join("stagecoach.yaml"))
        .args([
            "--listen",
            &format!("127.0.0.1:{bot_port}"),
            "--log-format",
            "json",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut bot = Guard(bot);
    let base = format!("http://127.0.0.1:{bot_port}");
    wait_until("/healthz", Duration::from_secs(20), || {
        get(&format!("{base}/healthz")).as_deref() == Some("ok")
    });

    // Its first reconcile sends the newest minor tag to staging.
    let staging = dir.join("repos/acme/landscape-staging.git");
    wait_until("v1.0.0 on staging", Duration::from_secs(30), || {
        git2::Repository::open_bare(&staging)
            .ok()
            .and_then(|r| {
                r.revparse_single("main:.stagecoach/promotion.yaml")
                    .ok()
                    .and_then(|o| {
                        o.as_blob()
                            .map(|b| String::from_utf8_lossy(b.content()).contains("tag: v1.0.0"))
                    })
            })
            .unwrap_or(false)
    });
    let metrics = get(&format!("{base}/metrics")).expect("metrics");
    assert!(
        metrics.contains("promote"),
        "actions are counted: {metrics}"
    );

    // SIGTERM: the bot finishes what it holds and exits 0.
    let pid = bot.0.id() as i32;
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let start = Instant::now();
    let status = loop {
        if let Some(s) = bot.0.try_wait().expect("wait") {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "serve did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "serve exited with {status}");
}
