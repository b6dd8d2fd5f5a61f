//! The bot's counters, rendered in the Prometheus text format for `/metrics`.
//!
//! Written by hand rather than through a metrics crate: four families of
//! labelled counters and two gauges are all we need, and the text format is
//! small enough to get exactly right here.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

type Labels = Vec<(&'static str, String)>;

/// Shared by the webhook server, the GitHub client and the engine.
#[derive(Debug, Default)]
pub struct Metrics {
    webhooks: Counter,
    actions: Counter,
    github_requests: Counter,
    decisions: Counter,
    queue_depth: AtomicI64,
    /// Families computed from git history on each pass (lead times, what
    /// runs where), already in the text format; replaced whole each time.
    road: Mutex<String>,
    /// What the policy guard found on the last pass (`stagecoach_policy_ok`,
    /// `/readyz`).
    policy: Mutex<crate::engine::policy_guard::PolicyHealth>,
}

#[derive(Debug, Default)]
struct Counter(Mutex<BTreeMap<Labels, u64>>);

impl Counter {
    fn inc(&self, labels: Labels) {
        // A poisoned lock only means another thread panicked mid-increment;
        // the map itself is still sound, so keep counting.
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry(labels).or_insert(0) += 1;
    }

    fn get(&self, labels: &Labels) -> u64 {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(labels).copied().unwrap_or(0)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for (labels, value) in map.iter() {
            let rendered: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                .collect();
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
        let _ = writeln!(
            out,
            "# HELP stagecoach_queue_depth Events waiting for the engine.\n# TYPE stagecoach_queue_depth gauge\nstagecoach_queue_depth {}",
            self.queue_depth.load(Ordering::Relaxed)
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
        assert_eq!(m.webhook_count("push", WebhookOutcome::Queued), 2);
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
