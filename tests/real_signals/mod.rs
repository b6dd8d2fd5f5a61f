//! Real Prometheus and Alertmanager on 127.0.0.1 for tests: Debian's
//! `prometheus` and `prometheus-alertmanager` binaries started on free ports,
//! a scrape target served by the test, a recording and an alerting rule, and
//! helpers to post alerts and silences through Alertmanager's v2 API.
//!
//! The binaries are required: without them a test fails with the line to
//! install them, unless `STAGECOACH_SKIP_REAL_SIGNALS=1` opts out (then
//! `start` answers `None` and the test returns after saying so).

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};

/// Set to 1 to skip the tests that need real Prometheus and Alertmanager.
pub const SKIP_VAR: &str = "STAGECOACH_SKIP_REAL_SIGNALS";
/// What to install when the binaries are missing.
pub const INSTALL: &str = "apt-get install prometheus prometheus-alertmanager";
/// How long starting a process or waiting for a result may take. Generous:
/// the suite runs side by side on two cores.
const STEP: Duration = Duration::from_secs(60);
/// Between two looks while waiting for progress.
const POLL: Duration = Duration::from_millis(100);

/// The rules Prometheus evaluates every second: a recording rule over the
/// scrape target's gauges, and an alert that fires while the target says its
/// error budget burns.
const RULES: &str = r#"groups:
  - name: stagecoach-test
    interval: 1s
    rules:
      - record: job:app_error_ratio:max
        expr: max(app_error_ratio)
      - alert: ErrorBudgetBurn
        expr: app_error_budget_burning > 0
        labels: {severity: page}
        annotations: {summary: "the error budget burns"}
"#;

/// Alertmanager's routing (one receiver that sends nowhere) and one
/// inhibition: while `StagingDown` fires, `severity="warning"` alerts are
/// muted.
const ALERTMANAGER_CONFIG: &str = r#"route:
  receiver: nowhere
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: nowhere
inhibit_rules:
  - source_matchers: ['alertname="StagingDown"']
    target_matchers: ['severity="warning"']
"#;

/// A running Prometheus and Alertmanager, stopped when dropped.
pub struct Monitoring {
    /// `http://127.0.0.1:<port>` of Prometheus.
    pub prometheus: String,
    /// `http://127.0.0.1:<port>` of Alertmanager.
    pub alertmanager: String,
    exposition: Arc<Mutex<String>>,
    prometheus_process: Process,
    alertmanager_process: Process,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// Start Prometheus (scraping a target served here every second, rules
/// evaluated every second, alerts sent to the Alertmanager) and Alertmanager,
/// and wait until both say they are ready and the first scrape is in.
/// `metrics` is the target's first answer (Prometheus text format).
pub async fn start(metrics: &str) -> Option<Monitoring> {
    if std::env::var(SKIP_VAR).as_deref() == Ok("1") {
        eprintln!("skipped: {SKIP_VAR}=1 (real Prometheus and Alertmanager not started)");
        return None;
    }
    let prometheus_bin = find_binary(&["prometheus"]);
    let alertmanager_bin = find_binary(&["prometheus-alertmanager", "alertmanager"]);
    let (Some(prometheus_bin), Some(alertmanager_bin)) = (prometheus_bin, alertmanager_bin) else {
        panic!(
            "real Prometheus and Alertmanager are needed and not installed: \
             {INSTALL} (or set {SKIP_VAR}=1 to skip these tests)"
        );
    };
    let dir = tempfile::Builder::new()
        .prefix("stagecoach-signals-")
        .tempdir()
        .expect("tempdir");
    let exposition = Arc::new(Mutex::new(metrics.to_string()));
    let target = serve_metrics(exposition.clone()).await;

    write(dir.path(), "alertmanager.yml", ALERTMANAGER_CONFIG);
    let alertmanager_process = Process::start(
        "alertmanager",
        Command::new(&alertmanager_bin).args([
            format!(
                "--config.file={}",
                dir.path().join("alertmanager.yml").display()
            ),
            format!("--storage.path={}", dir.path().join("am").display()),
            "--web.listen-address=127.0.0.1:0".into(),
            // No gossip: one Alertmanager, and no port outside loopback.
            "--cluster.listen-address=".into(),
        ]),
    );
    let alertmanager = format!("http://{}", alertmanager_process.address());

    write(dir.path(), "rules.yml", RULES);
    let config = format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
         rule_files: [\"{rules}\"]\n\
         alerting:\n  alertmanagers:\n    - static_configs: [{{targets: [\"{am}\"]}}]\n\
         scrape_configs:\n  - job_name: app\n    static_configs: [{{targets: [\"{target}\"]}}]\n",
        rules = dir.path().join("rules.yml").display(),
        am = alertmanager_process.address(),
    );
    write(dir.path(), "prometheus.yml", &config);
    let prometheus_process = Process::start(
        "prometheus",
        Command::new(&prometheus_bin).args([
            format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ),
            format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()),
            "--web.listen-address=127.0.0.1:0".into(),
        ]),
    );
    let prometheus = format!("http://{}", prometheus_process.address());

    let monitoring = Monitoring {
        prometheus,
        alertmanager,
        exposition,
        prometheus_process,
        alertmanager_process,
        http: stagecoach::engine::http::client_builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client"),
        _dir: dir,
    };
    monitoring.wait_ready(&monitoring.alertmanager).await;
    monitoring.wait_ready(&monitoring.prometheus).await;
    monitoring
        .wait_query("the first scrape", "up{job=\"app\"} == 1", |r| {
            !result(r).is_empty()
        })
        .await;
    Some(monitoring)
}

impl Monitoring {
    /// What the scrape target answers from now on (Prometheus text format).
    pub fn set_metrics(&self, text: &str) {
        *self.exposition.lock().expect("lock") = text.to_string();
    }

    /// Prometheus's answer to an instant query.
    pub async fn query(&self, query: &str) -> Value {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/query", self.prometheus),
            &[("query", query)],
        )
        .expect("query url");
        self.http
            .get(url)
            .send()
            .await
            .expect("query prometheus")
            .json()
            .await
            .expect("prometheus json")
    }

    /// Wait until Prometheus's answer to `query` satisfies `ok` (a scrape or
    /// a rule evaluation has happened); returns that answer.
    pub async fn wait_query(&self, what: &str, query: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + STEP;
        loop {
            let answer = self.query(query).await;
            if ok(&answer) {
                return answer;
            }
            assert!(
                Instant::now() < deadline,
                "waited {STEP:?} for {what}; prometheus answers `{query}` with {answer}\n{}",
                self.prometheus_process.log_tail()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Post one alert to Alertmanager (`POST /api/v2/alerts`), firing from
    /// now for an hour.
    pub async fn post_alert(&self, labels: &[(&str, &str)]) {
        let labels: serde_json::Map<String, Value> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let now = chrono::Utc::now();
        let body = json!([{
            "labels": labels,
            "annotations": {"summary": "posted by the test"},
            "startsAt": now.to_rfc3339(),
            "endsAt": (now + chrono::Duration::hours(1)).to_rfc3339(),
            "generatorURL": "http://127.0.0.1/test"
        }]);
        let response = self
            .http
            .post(format!("{}/api/v2/alerts", self.alertmanager))
            .json(&body)
            .send()
            .await
            .expect("post alert");
        assert!(
            response.status().is_success(),
            "alertmanager refused the alert: {}",
            response.status()
        );
    }

    /// Silence alerts whose `name` label equals `value` for an hour
    /// (`POST /api/v2/silences`); returns the silence id.
    pub async fn silence(&self, name: &str, value: &str) -> String {
        let now = chrono::Utc::now();
        let body = json!({
            "matchers": [{"name": name, "value": value, "isRegex": false, "isEqual": true}],
            "startsAt": now.to_rfc3339(),
            "endsAt": (now + chrono::Duration::hours(1)).to_rfc3339(),
            "createdBy": "stagecoach-test",
            "comment": "known noise"
        });
        let answer: Value = self
            .http
            .post(format!("{}/api/v2/silences", self.alertmanager))
            .json(&body)
            .send()
            .await
            .expect("post silence")
            .json()
            .await
            .expect("silence json");
        answer["silenceID"]
            .as_str()
            .unwrap_or_else(|| panic!("no silenceID in {answer}"))
            .to_string()
    }

    /// Every alert Alertmanager knows, with its status (no filter).
    pub async fn all_alerts(&self) -> Vec<Value> {
        self.http
            .get(format!("{}/api/v2/alerts", self.alertmanager))
            .send()
            .await
            .expect("get alerts")
            .json()
            .await
            .expect("alerts json")
    }

    /// Wait until Alertmanager's full list satisfies `ok`.
    pub async fn wait_alerts(&self, what: &str, ok: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + STEP;
        loop {
            let alerts = self.all_alerts().await;
            if ok(&alerts) {
                return alerts;
            }
            assert!(
                Instant::now() < deadline,
                "waited {STEP:?} for {what}; alertmanager has {alerts:?}\n{}",
                self.alertmanager_process.log_tail()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Stop Prometheus for good: its port then refuses connections.
    pub fn stop_prometheus(&mut self) {
        self.prometheus_process.stop();
    }

    /// Freeze Prometheus (SIGSTOP): its socket still accepts connections, but
    /// nothing answers, as with an overloaded server.
    pub fn freeze_prometheus(&self) {
        self.prometheus_process.signal(libc::SIGSTOP);
    }

    /// Let a frozen Prometheus run again (SIGCONT).
    pub fn thaw_prometheus(&self) {
        self.prometheus_process.signal(libc::SIGCONT);
    }

    async fn wait_ready(&self, base: &str) {
        let deadline = Instant::now() + STEP;
        loop {
            let ready = self
                .http
                .get(format!("{base}/-/ready"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{base}/-/ready not ready after {STEP:?}\n{}\n{}",
                self.prometheus_process.log_tail(),
                self.alertmanager_process.log_tail()
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

/// `data.result` of a Prometheus answer, empty when absent.
pub fn result(answer: &Value) -> Vec<Value> {
    answer["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Alerts carrying `alertname`.
pub fn named<'a>(alerts: &'a [Value], alertname: &str) -> Vec<&'a Value> {
    alerts
        .iter()
        .filter(|a| a["labels"]["alertname"] == alertname)
        .collect()
}

/// A child process with its log kept, killed (and reaped) when dropped.
struct Process {
    name: &'static str,
    child: Option<Child>,
    address: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Process {
    /// Start and wait for the `Listening on ... address=127.0.0.1:<port>`
    /// line both Prometheus and Alertmanager log once their port is bound.
    fn start(name: &'static str, command: &mut Command) -> Process {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}; {INSTALL}"));
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let (found, address) = mpsc::channel();
        if let Some(stderr) = child.stderr.take() {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if line.contains("Listening on")
                        && let Some(addr) = logfmt_value(&line, "address")
                    {
                        let _ = found.send(addr);
                    }
                    log.lock().expect("log").push(line);
                }
            });
        }
        let mut process = Process {
            name,
            child: Some(child),
            address: String::new(),
            log,
        };
        match address.recv_timeout(STEP) {
            Ok(addr) => process.address = addr,
            Err(_) => panic!(
                "{name} did not say which port it listens on within {STEP:?}\n{}",
                process.log_tail()
            ),
        }
        process
    }

    fn address(&self) -> &str {
        &self.address
    }

    fn log_tail(&self) -> String {
        let log = self.log.lock().expect("log");
        let start = log.len().saturating_sub(15);
        format!("--- {} log ---\n{}", self.name, log[start..].join("\n"))
    }

    fn signal(&self, signal: libc::c_int) {
        let Some(pid) = self
            .child
            .as_ref()
            .and_then(|c| libc::pid_t::try_from(c.id()).ok())
        else {
            return;
        };
        // SAFETY: kill(2) on the pid of a child we started and have not reaped.
        unsafe {
            libc::kill(pid, signal);
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL also ends a frozen (SIGSTOPped) process.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `key=value` or `key="value"` in a logfmt line.
fn logfmt_value(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!(" {key}="))? + key.len() + 2;
    let rest = &line[start..];
    let value = match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next()?,
        None => rest.split_whitespace().next()?,
    };
    Some(value.to_string())
}

fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write config");
}

/// The scrape target: `GET /metrics` answers the current exposition text.
async fn serve_metrics(exposition: Arc<Mutex<String>>) -> String {
    async fn metrics(State(text): State<Arc<Mutex<String>>>) -> String {
        text.lock().map(|t| t.clone()).unwrap_or_default()
    }
    let app = Router::new()
        .route("/metrics", get(metrics))
        .with_state(exposition);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind scrape target");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr.to_string()
}
