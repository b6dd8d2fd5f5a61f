//! The bot's counters, rendered in the Prometheus text format for `/metrics`.
//!
//! Written by hand rather than through a metrics crate: a few families of
//! labelled counters and one gauge are all we need, and the text format is
//! small enough to get exactly right here.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

type Labels = Vec<(&'static str, String)>;

/// Shared by the webhook server, the GitHub client and the engine.
#[derive(Debug, Default)]
pub struct Metrics {
    webhooks: Counter,
    actions: Counter,
    github_requests: Counter,
    decisions: Counter,
    /// The request budget: points spent, requests held back and for how
    /// long (in milliseconds, rendered as seconds), rate-limit refusals.
    budget_points: Counter,
    budget_waits: Counter,
    budget_wait_ms: Counter,
    rate_limited: Counter,
    queue_depth: AtomicI64,
    /// Reconcile passes finished (`Engine::passes`): the progress a test or
    /// an operator follows ("has the bot looked again since?").
    passes: AtomicU64,
    /// Families computed from git history on each pass (lead times, what
    /// runs where), already in the text format; replaced whole each time.
    road: Mutex<String>,
    /// The delivery metrics: promotions, failures, lead times, restores,
    /// each event of the landscape record counted once.
    delivery: Mutex<crate::delivery::tally::Tally>,
    /// What the policy guard found on the last pass (`stagecoach_policy_ok`,
    /// `/readyz`).
    policy: Mutex<crate::engine::policy_guard::PolicyHealth>,
}

#[derive(Debug, Default)]
struct Counter(Mutex<BTreeMap<Labels, u64>>);

impl Counter {
    fn inc(&self, labels: Labels) {
        self.add(labels, 1);
    }

    fn add(&self, labels: Labels, n: u64) {
        // A poisoned lock only means another thread panicked mid-increment;
        // the map itself is still sound, so keep counting.
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let value = map.entry(labels).or_insert(0);
        *value = value.saturating_add(n);
    }

    fn get(&self, labels: &Labels) -> u64 {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(labels).copied().unwrap_or(0)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        self.render_scaled(out, name, help, 1);
    }

    /// Render each value divided by `divisor` (milliseconds as seconds).
    fn render_scaled(&self, out: &mut String, name: &str, help: &str, divisor: u64) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for (labels, value) in map.iter() {
            let rendered: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                .collect();
            let value = if divisor == 1 {
                value.to_string()
            } else {
                format!("{:.3}", *value as f64 / divisor as f64)
            };
            let _ = writeln!(out, "{name}{{{}}} {value}", rendered.join(","));
        }
    }
}

/// What became of one webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Parsed and handed to the engine.
    Queued,
    /// An event or action the bot does not read.
    Ignored,
    /// The same `X-GitHub-Delivery` seen again.
    Duplicate,
    /// The engine's queue was full; the periodic resync will see the change.
    Dropped,
    /// Missing or wrong signature, or no secret configured.
    Unauthorized,
    /// A payload of an event we read that is not the JSON it should be.
    Malformed,
    /// Body over the size limit.
    TooLarge,
}

impl WebhookOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Queued => "queued",
            WebhookOutcome::Ignored => "ignored",
            WebhookOutcome::Duplicate => "duplicate",
            WebhookOutcome::Dropped => "dropped",
            WebhookOutcome::Unauthorized => "unauthorized",
            WebhookOutcome::Malformed => "malformed",
            WebhookOutcome::TooLarge => "too_large",
        }
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// One webhook delivery of `event` (the `X-GitHub-Event` header, or
    /// `unknown` before it could be trusted) and what became of it.
    pub fn webhook(&self, event: &str, outcome: WebhookOutcome) {
        self.webhooks.inc(vec![
            ("event", event.to_string()),
            ("outcome", outcome.as_str().to_string()),
        ]);
    }

    pub fn webhook_count(&self, event: &str, outcome: WebhookOutcome) -> u64 {
        self.webhooks.get(&vec![
            ("event", event.to_string()),
            ("outcome", outcome.as_str().to_string()),
        ])
    }

    /// An action the engine took (`kind`: "open_pull", "merge", ...) and its
    /// outcome ("ok", "refused", "error", ...).
    pub fn action(&self, kind: &str, outcome: &str) {
        self.actions.inc(vec![
            ("kind", kind.to_string()),
            ("outcome", outcome.to_string()),
        ]);
    }

    pub fn action_count(&self, kind: &str, outcome: &str) -> u64 {
        self.actions.get(&vec![
            ("kind", kind.to_string()),
            ("outcome", outcome.to_string()),
        ])
    }

    /// One HTTP answer from GitHub; `status` is the code, or `error` when no
    /// answer came (connection refused, timeout).
    pub fn github_request(&self, family: &str, status: &str) {
        self.github_requests.inc(vec![
            ("family", family.to_string()),
            ("status", status.to_string()),
        ]);
    }

    pub fn github_request_count(&self, family: &str, status: &str) -> u64 {
        self.github_requests.get(&vec![
            ("family", family.to_string()),
            ("status", status.to_string()),
        ])
    }

    /// Points of GitHub's secondary limit spent on one request (`api`:
    /// `rest` or `graphql`).
    pub fn budget_points(&self, api: &str, points: u32) {
        self.budget_points
            .add(vec![("api", api.to_string())], u64::from(points));
    }

    pub fn budget_points_count(&self, api: &str) -> u64 {
        self.budget_points.get(&vec![("api", api.to_string())])
    }

    /// The request budget held a request back for `waited` (`reason`:
    /// `points`, `write_spacing`, `secondary_limit`, ...).
    pub fn budget_wait(&self, reason: &str, waited: Duration) {
        let labels = vec![("reason", reason.to_string())];
        self.budget_waits.inc(labels.clone());
        let ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
        self.budget_wait_ms.add(labels, ms);
    }

    pub fn budget_wait_count(&self, reason: &str) -> u64 {
        self.budget_waits.get(&vec![("reason", reason.to_string())])
    }

    /// GitHub refused a request for a rate limit (`kind`: `primary` or
    /// `secondary`).
    pub fn rate_limited(&self, kind: &str) {
        self.rate_limited.inc(vec![("kind", kind.to_string())]);
    }

    pub fn rate_limited_count(&self, kind: &str) -> u64 {
        self.rate_limited.get(&vec![("kind", kind.to_string())])
    }

    /// A decision about a product PR at a risk level (`deploy_ci`,
    /// `risk_label`, ...), so risk mix and outcomes can be charted.
    pub fn decision(&self, level: &str, decision: &str) {
        self.decisions.inc(vec![
            ("decision", decision.to_string()),
            ("level", level.to_string()),
        ]);
    }

    pub fn decision_count(&self, level: &str, decision: &str) -> u64 {
        self.decisions.get(&vec![
            ("decision", decision.to_string()),
            ("level", level.to_string()),
        ])
    }

    /// Replace the families computed from git history (text format, each
    /// with its own `# HELP`/`# TYPE` lines).
    pub fn set_road(&self, text: String) {
        *self.road.lock().unwrap_or_else(|p| p.into_inner()) = text;
    }

    /// Count the delivery events of a pass's record not counted before.
    pub fn count_delivery(&self, events: Vec<(String, crate::delivery::Event)>) {
        self.delivery
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add(events);
    }

    /// What the policy guard found on the last pass.
    pub fn set_policy(&self, health: crate::engine::policy_guard::PolicyHealth) {
        *self.policy.lock().unwrap_or_else(|p| p.into_inner()) = health;
    }

    /// What the policy guard found on the last pass (not read yet: `ok: None`).
    pub fn policy(&self) -> crate::engine::policy_guard::PolicyHealth {
        self.policy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// One reconcile pass finished.
    pub fn pass(&self) {
        self.passes.fetch_add(1, Ordering::SeqCst);
    }

    /// Reconcile passes finished since start.
    pub fn passes(&self) -> u64 {
        self.passes.load(Ordering::SeqCst)
    }

    /// Events waiting for the engine (set by the server from the channel).
    pub fn set_queue_depth(&self, depth: usize) {
        self.queue_depth
            .store(i64::try_from(depth).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// The whole registry in the Prometheus text exposition format (0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.webhooks.render(
            &mut out,
            "stagecoach_webhooks_total",
            "Webhook deliveries by event and outcome.",
        );
        self.actions.render(
            &mut out,
            "stagecoach_actions_total",
            "Actions the engine took, by kind and outcome.",
        );
        self.github_requests.render(
            &mut out,
            "stagecoach_github_requests_total",
            "Requests to the GitHub API by endpoint family and HTTP status.",
        );
        self.decisions.render(
            &mut out,
            "stagecoach_decisions_total",
            "Decisions about product PRs, by decision and risk level.",
        );
        self.budget_points.render(
            &mut out,
            "stagecoach_github_budget_points_total",
            "Secondary-rate-limit points spent, by API (REST: GET 1, writes 5).",
        );
        self.budget_waits.render(
            &mut out,
            "stagecoach_github_budget_waits_total",
            "Requests the request budget held back, by reason.",
        );
        self.budget_wait_ms.render_scaled(
            &mut out,
            "stagecoach_github_budget_wait_seconds_total",
            "Time requests were held back by the request budget, by reason.",
            1000,
        );
        self.rate_limited.render(
            &mut out,
            "stagecoach_github_rate_limited_total",
            "Requests GitHub refused for a rate limit, by kind (primary, secondary).",
        );
        let _ = writeln!(
            out,
            "# HELP stagecoach_queue_depth Events waiting for the engine.\n# TYPE stagecoach_queue_depth gauge\nstagecoach_queue_depth {}",
            self.queue_depth.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP stagecoach_passes_total Reconcile passes finished since start.\n# TYPE stagecoach_passes_total counter\nstagecoach_passes_total {}",
            self.passes()
        );
        // Only once known, so a starting bot does not page as if broken.
        if let Some(ok) = self.policy().ok {
            let _ = writeln!(
                out,
                "# HELP stagecoach_policy_ok 1 when the policy on the product's main parses, 0 when it is refused.\n# TYPE stagecoach_policy_ok gauge\nstagecoach_policy_ok {}",
                u8::from(ok)
            );
        }
        out.push_str(&self.road.lock().unwrap_or_else(|p| p.into_inner()));
        self.delivery
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .render(&mut out);
        out
    }
}

/// Label values may hold any text; the format wants `\`, `"` and newlines escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_with_sorted_labels_and_types() {
        let m = Metrics::new();
        m.webhook("push", WebhookOutcome::Queued);
        m.webhook("push", WebhookOutcome::Queued);
        m.webhook("ping", WebhookOutcome::Ignored);
        m.action("merge", "ok");
        m.github_request("pulls", "200");
        m.set_queue_depth(3);
        m.pass();
        m.pass();
        let text = m.render();
        assert!(text.contains("# TYPE stagecoach_webhooks_total counter\n"));
        assert!(
            text.contains("stagecoach_webhooks_total{event=\"push\",outcome=\"queued\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("stagecoach_webhooks_total{event=\"ping\",outcome=\"ignored\"} 1\n"));
        assert!(text.contains("stagecoach_actions_total{kind=\"merge\",outcome=\"ok\"} 1\n"));
        assert!(
            text.contains("stagecoach_github_requests_total{family=\"pulls\",status=\"200\"} 1\n")
        );
        assert!(text.contains("# TYPE stagecoach_queue_depth gauge\nstagecoach_queue_depth 3\n"));
        assert!(
            text.contains("# TYPE stagecoach_passes_total counter\nstagecoach_passes_total 2\n"),
            "{text}"
        );
        assert_eq!(m.webhook_count("push", WebhookOutcome::Queued), 2);
    }

    #[test]
    fn budget_use_renders_points_waits_seconds_and_refusals() {
        let m = Metrics::new();
        m.budget_points("rest", 1);
        m.budget_points("rest", 5);
        m.budget_wait("write_spacing", Duration::from_millis(1500));
        m.budget_wait("write_spacing", Duration::from_millis(250));
        m.rate_limited("secondary");
        let text = m.render();
        assert!(
            text.contains("stagecoach_github_budget_points_total{api=\"rest\"} 6\n"),
            "{text}"
        );
        assert!(
            text.contains("stagecoach_github_budget_waits_total{reason=\"write_spacing\"} 2\n")
        );
        assert!(text.contains(
            "stagecoach_github_budget_wait_seconds_total{reason=\"write_spacing\"} 1.750\n"
        ));
        assert!(text.contains("stagecoach_github_rate_limited_total{kind=\"secondary\"} 1\n"));
        assert_eq!(m.budget_wait_count("write_spacing"), 2);
        assert_eq!(m.rate_limited_count("secondary"), 1);
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::new();
        m.webhook("we\"ird\\\n", WebhookOutcome::Ignored);
        assert!(
            m.render()
                .contains("event=\"we\\\"ird\\\\\\n\",outcome=\"ignored\"")
        );
    }
}
