//! Gauges for `/metrics` of what git says now: product tags, their
//! stability scores, and what runs where. (The delivery metrics — lead
//! times, promotions, failures, restores — are counters and histograms in
//! `delivery::tally`.)

use std::fmt::Write as _;

use super::*;

/// Gauges computed from git history, in the Prometheus text format: hotfix
/// tags, each tag's stability score, and what runs where.
pub fn road_metrics(o: &Observed) -> String {
    let mut out = String::new();
    let tags = &o.snapshot.product.tags;
    let _ = writeln!(
        out,
        "# HELP stagecoach_product_tags Product tags, by kind.\n# TYPE stagecoach_product_tags gauge\nstagecoach_product_tags{{kind=\"hotfix\"}} {}\nstagecoach_product_tags{{kind=\"main\"}} {}",
        tags.iter().filter(|t| t.is_hotfix()).count(),
        tags.iter().filter(|t| !t.is_hotfix()).count()
    );
    let _ = writeln!(
        out,
        "# HELP stagecoach_stability_score Final stability score of each scored product tag.\n# TYPE stagecoach_stability_score gauge"
    );
    for t in tags {
        if let Some(n) = t.note.as_deref().and_then(stability::parse_note) {
            let _ = writeln!(
                out,
                "stagecoach_stability_score{{tag=\"{}\"}} {}",
                label(&t.name),
                n.score
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP stagecoach_env_tag The product tag each environment runs (value 1).\n# TYPE stagecoach_env_tag gauge"
    );
    for e in &o.snapshot.envs {
        if let Some(tag) = e.current_tag() {
            let _ = writeln!(
                out,
                "stagecoach_env_tag{{env=\"{}\",tag=\"{}\"}} 1",
                label(&e.name),
                label(tag)
            );
        }
    }
    out
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
