//! Risk of a change, from its labels and semver bump, with every factor's
//! share shown so a developer can see why a PR waits.
//!
//! Each factor is a fraction in 0..=1 (smallest size 0, largest 1; coverage
//! 100% is 0; patch 0, minor ½, major 1), weighted by the policy and
//! normalised by the sum of weights so the score is 0..=100 whatever the
//! weights add up to. Exact integer arithmetic keeps the score monotone.

use serde::Serialize;

use crate::labels::Labelled;
use crate::policy::{Policy, RiskLevel};
use crate::version::Bump;

/// One factor's contribution; the points of all factors add up to the score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Factor {
    /// Stable name: `component`, `change`, `coverage`, `bump`.
    pub name: String,
    /// The input as a person reads it: `M`, `80%`, `minor`.
    pub value: String,
    pub points: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    /// 0..=100.
    pub score: u32,
    pub level: RiskLevel,
    pub auto_merge: bool,
    pub needs_approval: bool,
    /// Only functional changes go on to the product.
    pub product_pr: bool,
    pub factors: Vec<Factor>,
}

/// A factor before normalisation: `weight * num / den` of the whole.
struct Raw {
    name: &'static str,
    value: String,
    weight: u32,
    num: u64,
    den: u64,
}

pub fn bump_name(bump: Bump) -> &'static str {
    match bump {
        Bump::Patch => "patch",
        Bump::Minor => "minor",
        Bump::Major => "major",
    }
}

pub fn assess(policy: &Policy, labels: &Labelled, bump: Bump) -> Assessment {
    let w = policy.risk.weights;
    // A size the policy does not know (labels come from `parse_labels`, so
    // only by misuse) counts as the largest: unknown is risky.
    let steps = policy.sizes.len().saturating_sub(1).max(1) as u64;
    let rank = |size: &str| {
        policy
            .size_rank(size)
            .map_or(steps, |r| (r as u64).min(steps))
    };
    let coverage = u64::from(labels.coverage.min(100));
    let raws = [
        Raw {
            name: "component",
            value: labels.component.clone(),
            weight: w.component,
            num: rank(&labels.component),
            den: steps,
        },
        Raw {
            name: "change",
            value: labels.change.clone(),
            weight: w.change,
            num: rank(&labels.change),
            den: steps,
        },
        Raw {
            name: "coverage",
            value: format!("{coverage}%"),
            weight: w.coverage,
            num: 100 - coverage,
            den: 100,
        },
        Raw {
            name: "bump",
            value: bump_name(bump).to_owned(),
            weight: w.bump,
            num: match bump {
                Bump::Patch => 0,
                Bump::Minor => 1,
                Bump::Major => 2,
            },
            den: 2,
        },
    ];
    let (score, points) = apportion(&raws, u64::from(w.total()));
    let level = policy.risk.levels.level(score);
    Assessment {
        score,
        level,
        auto_merge: policy.risk.auto_merge.contains(&level),
        needs_approval: policy.risk.approval.contains(&level),
        product_pr: labels.functional,
        factors: raws
            .into_iter()
            .zip(points)
            .map(|(r, points)| Factor {
                name: r.name.to_owned(),
                value: r.value,
                points,
            })
            .collect(),
    }
}

/// The rounded score and each factor's whole points, summing exactly to the
/// score (largest remainder first). Every factor is scaled to the common
/// denominator `q = 100 * total * lcm-free product of denominators`.
fn apportion(raws: &[Raw], total_weight: u64) -> (u32, Vec<u32>) {
    if total_weight == 0 {
        return (0, vec![0; raws.len()]);
    }
    let dens: u128 = raws.iter().map(|r| u128::from(r.den.max(1))).product();
    let q = u128::from(total_weight) * dens;
    // Exact points of each factor, times q.
    let exact: Vec<u128> = raws
        .iter()
        .map(|r| {
            let num = u128::from(r.num.min(r.den));
            100 * u128::from(r.weight) * num * (dens / u128::from(r.den.max(1)))
        })
        .collect();
    let sum: u128 = exact.iter().sum();
    let score = ((sum + q / 2) / q).min(100);
    let mut points: Vec<u128> = exact.iter().map(|e| e / q).collect();
    let mut order: Vec<usize> = (0..raws.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(exact[i] % q));
    let floor_sum: u128 = points.iter().sum();
    for &i in order.iter().take(score.saturating_sub(floor_sum) as usize) {
        points[i] += 1;
    }
    let to_u32 = |v: u128| u32::try_from(v).unwrap_or(u32::MAX);
    (to_u32(score), points.into_iter().map(to_u32).collect())
}

impl Assessment {
    /// A markdown table for the product PR's body.
    pub fn explain_markdown(&self) -> String {
        let mut out = format!(
            "**Risk: {}** (score {} of 100)\n\n| factor | value | points |\n| --- | --- | ---: |\n",
            self.level, self.score
        );
        for f in &self.factors {
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                f.name,
                crate::labels::quote(&f.value).trim_matches('"'),
                f.points
            ));
        }
        out.push_str(&format!("| **total** | | **{}** |\n\n", self.score));
        let merge = if self.auto_merge {
            "merges automatically once CI is green"
        } else if self.needs_approval {
            "waits for an approval from an authorised approver"
        } else {
            "merges by hand once CI is green"
        };
        out.push_str(&format!("This change {merge}.\n"));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labelled(component: &str, change: &str, coverage: u8) -> Labelled {
        Labelled {
            component: component.into(),
            change: change.into(),
            coverage,
            functional: true,
            toggle: false,
        }
    }

    #[test]
    fn the_smallest_best_covered_patch_scores_zero_and_merges() {
        let a = assess(&Policy::default(), &labelled("S", "S", 100), Bump::Patch);
        assert_eq!(a.score, 0);
        assert_eq!(a.level, RiskLevel::Low);
        assert!(a.auto_merge && !a.needs_approval && a.product_pr);
    }

    #[test]
    fn the_largest_uncovered_major_scores_100_and_needs_approval() {
        let a = assess(&Policy::default(), &labelled("XL", "XL", 0), Bump::Major);
        assert_eq!(a.score, 100);
        assert_eq!(a.level, RiskLevel::High);
        assert!(!a.auto_merge && a.needs_approval);
    }

    #[test]
    fn factors_follow_the_default_weights_and_add_up_to_the_score() {
        // component M = 1/3 of 25, change L = 2/3 of 35, coverage 80% = 1/5 of 25, minor = 1/2 of 15
        let a = assess(&Policy::default(), &labelled("M", "L", 80), Bump::Minor);
        let points: Vec<u32> = a.factors.iter().map(|f| f.points).collect();
        // exact: 8.33 + 23.33 + 5 + 7.5 = 44.17
        assert_eq!(a.score, 44);
        assert_eq!(points.iter().sum::<u32>(), 44);
        assert_eq!(points, vec![8, 23, 5, 8]);
        assert_eq!(a.level, RiskLevel::Medium);
        assert_eq!(a.factors[2].value, "80%");
        assert_eq!(a.factors[3].value, "minor");
    }

    #[test]
    fn weights_are_normalised_by_their_sum() {
        let mut policy = Policy::default();
        policy.risk.weights.component = 1;
        policy.risk.weights.change = 0;
        policy.risk.weights.coverage = 0;
        policy.risk.weights.bump = 1;
        let a = assess(&policy, &labelled("XL", "XL", 0), Bump::Patch);
        assert_eq!(a.score, 50);
    }

    #[test]
    fn the_markdown_explanation_is_a_table_with_the_total() {
        let a = assess(&Policy::default(), &labelled("M", "L", 80), Bump::Minor);
        let md = a.explain_markdown();
        assert!(md.contains("| component | M | 8 |"), "{md}");
        assert!(md.contains("| **total** | | **44** |"), "{md}");
        assert!(md.starts_with("**Risk: medium**"), "{md}");
    }

    fn size() -> impl Strategy<Value = usize> {
        0usize..4
    }

    fn bump() -> impl Strategy<Value = Bump> {
        prop_oneof![Just(Bump::Patch), Just(Bump::Minor), Just(Bump::Major)]
    }

    fn weights() -> impl Strategy<Value = [u32; 4]> {
        prop::array::uniform4(0u32..1000).prop_filter("some weight", |w| w.iter().any(|x| *x > 0))
    }

    const SIZES: [&str; 4] = ["S", "M", "L", "XL"];

    fn score(w: [u32; 4], c: usize, ch: usize, cov: u8, b: Bump) -> Assessment {
        let mut policy = Policy::default();
        policy.risk.weights.component = w[0];
        policy.risk.weights.change = w[1];
        policy.risk.weights.coverage = w[2];
        policy.risk.weights.bump = w[3];
        assess(&policy, &labelled(SIZES[c], SIZES[ch], cov), b)
    }

    proptest! {
        #[test]
        fn score_is_within_0_and_100_and_factors_add_up(w in weights(), c in size(), ch in size(), cov in 0u8..=100, b in bump()) {
            let a = score(w, c, ch, cov, b);
            prop_assert!(a.score <= 100);
            prop_assert_eq!(a.factors.iter().map(|f| f.points).sum::<u32>(), a.score);
        }

        #[test]
        fn a_worse_factor_never_lowers_the_score(w in weights(), c in size(), ch in size(), cov in 0u8..=100, b in bump(), which in 0usize..4) {
            let before = score(w, c, ch, cov, b);
            let after = match which {
                0 => score(w, (c + 1).min(3), ch, cov, b),
                1 => score(w, c, (ch + 1).min(3), cov, b),
                2 => score(w, c, ch, cov.saturating_sub(1), b),
                _ => score(w, c, ch, cov, match b { Bump::Patch => Bump::Minor, _ => Bump::Major }),
            };
            prop_assert!(after.score >= before.score, "{} -> {}", before.score, after.score);
        }

        #[test]
        fn the_level_is_monotone_in_the_score(medium in 1u32..100, gap in 1u32..100, s1 in 0u32..=100, s2 in 0u32..=100) {
            let mut policy = Policy::default();
            policy.risk.levels.medium = medium;
            policy.risk.levels.high = (medium + gap).min(100);
            prop_assume!(policy.risk.levels.medium < policy.risk.levels.high);
            let (lo, hi) = (s1.min(s2), s1.max(s2));
            prop_assert!(policy.risk.levels.level(lo) <= policy.risk.levels.level(hi));
        }
    }
}
