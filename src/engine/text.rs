//! Every sentence the bot says on a PR, in one place, so the voice stays the
//! same and hostile input (label text, commit text) is always made inert.

use crate::labels::{LabelProblem, Labelled};
use crate::policy::Policy;

/// Make outside text safe inside markdown: one line, no HTML/markdown
/// control, bounded.
pub fn inert(s: &str) -> String {
    let mut out: String = s
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .map(|c| match c {
            '`' => '\'',
            '<' => '‹',
            '>' => '›',
            '@' => '＠',
            c => c,
        })
        .collect();
    if s.chars().count() > 200 {
        out.push('…');
    }
    out
}

pub fn label_problems(policy: &Policy, problems: &[LabelProblem]) -> String {
    let mut body =
        String::from("**Stagecoach cannot take this PR further yet: its labels need fixing.**\n\n");
    for p in problems {
        body.push_str(&format!("- {}\n", inert(&p.to_string())));
    }
    body.push_str(&format!(
        "\nExpected labels: `{}`, `{}`, `{}`, `{}` (and `{}` when the change ships behind a feature toggle).\n",
        fill(&policy.labels.component, &policy.sizes.join("|")),
        fill(&policy.labels.change, &policy.sizes.join("|")),
        fill(&policy.labels.coverage, "0..100"),
        fill(&policy.labels.functional, "true|false"),
        policy.labels.toggle,
    ));
    body
}

pub fn not_functional() -> String {
    "This change is labelled `functional: false`: Stagecoach opens no product PR for it \
     (nothing to deploy or test). Relabel `functional: true` if that is wrong."
        .to_string()
}

/// What a merged PR is told when its change is only in tags that are not
/// releases (`release-7`, `v1.2`, `v1.5.0-rc.1`): which, why, and what counts.
pub fn ignored_tags(
    policy: &crate::policy::Policy,
    component: &str,
    tags: &[(String, String)],
) -> String {
    let mut body = String::from(
        "This change is in tags Stagecoach does not take as releases, so no product PR is opened for them:\n\n",
    );
    for (name, why) in tags {
        body.push_str(&format!("- `{}`: {}\n", inert(name), inert(why)));
    }
    body.push_str(&format!(
        "\nA release tag is `{}` followed by a semver version without a pre-release (e.g. `{}1.2.3`); the next one that contains this change opens the product PR.",
        inert(policy.component_tag_prefix(component)),
        inert(policy.component_tag_prefix(component)),
    ));
    body
}

/// Put a value into a label format: the one `{...}` placeholder is replaced.
pub fn fill(format: &str, value: &str) -> String {
    match (format.find('{'), format.find('}')) {
        (Some(a), Some(b)) if a < b => format!("{}{}{}", &format[..a], value, &format[b + 1..]),
        _ => format.to_string(),
    }
}

/// The labels a product PR carries: the riskiest reading of its sources
/// (largest sizes, lowest coverage), so combining PRs never lowers the risk.
pub fn combined_labels(policy: &Policy, sources: &[&Labelled]) -> Vec<String> {
    let rank = |s: &str| policy.sizes.iter().position(|x| x == s).unwrap_or(0);
    let largest = |f: fn(&Labelled) -> &str| {
        sources
            .iter()
            .map(|l| f(l))
            .max_by_key(|s| rank(s))
            .unwrap_or("")
            .to_string()
    };
    let component = largest(|l| l.component.as_str());
    let change = largest(|l| l.change.as_str());
    let coverage = sources.iter().map(|l| l.coverage).min().unwrap_or(0);
    let mut labels = vec![
        fill(&policy.labels.component, &component),
        fill(&policy.labels.change, &change),
        fill(&policy.labels.coverage, &coverage.to_string()),
        fill(&policy.labels.functional, "true"),
    ];
    if sources.iter().any(|l| l.toggle) {
        labels.push(policy.labels.toggle.clone());
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inert_text_cannot_mention_or_inject_markup() {
        let s = inert("@acme/all <script>`rm`\n{{x}}");
        assert!(!s.contains('@') && !s.contains('<') && !s.contains('`') && !s.contains('\n'));
    }

    #[test]
    fn fill_replaces_the_placeholder() {
        assert_eq!(fill("component: {size}", "XL"), "component: XL");
        assert_eq!(fill("feature-toggle", "x"), "feature-toggle");
    }
}
