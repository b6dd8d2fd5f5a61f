//! Semantic version bumps: which one a commit asks for, and what it gives.
//!
//! Pre-1.0 rule (decided here, used by `next_version`): while the major version
//! is 0, a breaking change bumps the *minor* version, as Cargo reads 0.x minors
//! as breaking and as git-cliff and release-please do when told to respect
//! pre-1.0 semantics. Reaching 1.0.0 is a human decision: tag it. Features still
//! bump the minor in 0.x, so `feat` and `feat!` both give 0.(x+1).0.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use semver::Version;
use serde::{Deserialize, Serialize};

use crate::conventional::Commit;
use crate::error::Error;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bump {
    Patch,
    Minor,
    Major,
}

impl Bump {
    /// The bump that leads from `old` to `new`; `None` when `new` is not newer.
    pub fn between(old: &Version, new: &Version) -> Option<Bump> {
        if new <= old {
            None
        } else if new.major != old.major {
            Some(Bump::Major)
        } else if new.minor != old.minor {
            Some(Bump::Minor)
        } else {
            Some(Bump::Patch)
        }
    }

    /// The next version; pre-release and build metadata are dropped, since the
    /// result is a release.
    pub fn apply(self, v: &Version) -> Version {
        match self {
            Bump::Major => Version::new(v.major.saturating_add(1), 0, 0),
            Bump::Minor => Version::new(v.major, v.minor.saturating_add(1), 0),
            Bump::Patch => Version::new(v.major, v.minor, v.patch.saturating_add(1)),
        }
    }
}

impl fmt::Display for Bump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Bump::Patch => "patch",
            Bump::Minor => "minor",
            Bump::Major => "major",
        })
    }
}

impl FromStr for Bump {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "patch" => Ok(Bump::Patch),
            "minor" => Ok(Bump::Minor),
            "major" => Ok(Bump::Major),
            other => Err(Error::input(format!(
                "bump {other:?}: expected patch, minor or major"
            ))),
        }
    }
}

/// Types that release, and how: `feat` → minor; `fix`, `perf`, `revert`, `deps` → patch.
/// Everything else (docs, chore, ci, ...) releases nothing unless breaking.
pub fn default_bump_rules() -> BTreeMap<String, Bump> {
    [
        ("feat", Bump::Minor),
        ("fix", Bump::Patch),
        ("perf", Bump::Patch),
        ("revert", Bump::Patch),
        ("deps", Bump::Patch),
    ]
    .into_iter()
    .map(|(k, b)| (k.to_owned(), b))
    .collect()
}

/// The bump one commit asks for: breaking → major, else its type's rule.
pub fn bump_for(commit: &Commit, rules: &BTreeMap<String, Bump>) -> Option<Bump> {
    if commit.breaking {
        Some(Bump::Major)
    } else {
        rules.get(&commit.kind).copied()
    }
}

/// The bump actually applied to `current`: the pre-1.0 rule turns major into minor.
pub fn effective_bump(bump: Bump, current: &Version) -> Bump {
    if current.major == 0 && bump == Bump::Major {
        Bump::Minor
    } else {
        bump
    }
}

/// `"v1.2.3"` with prefix `"v"` → 1.2.3; `None` for anything else, including
/// a tag without the prefix. `refs/tags/` is accepted in front.
pub fn parse_tag(tag: &str, prefix: &str) -> Option<Version> {
    let tag = tag.strip_prefix("refs/tags/").unwrap_or(tag);
    Version::parse(tag.strip_prefix(prefix)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conventional::parse;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn between_names_the_highest_changed_part() {
        assert_eq!(Bump::between(&v("1.2.3"), &v("2.0.0")), Some(Bump::Major));
        assert_eq!(Bump::between(&v("1.2.3"), &v("1.3.0")), Some(Bump::Minor));
        assert_eq!(Bump::between(&v("1.2.3"), &v("1.2.4")), Some(Bump::Patch));
        assert_eq!(Bump::between(&v("1.2.3"), &v("1.2.3")), None);
        assert_eq!(Bump::between(&v("1.2.3"), &v("1.0.0")), None);
        assert_eq!(
            Bump::between(&v("1.3.0-rc.1"), &v("1.3.0")),
            Some(Bump::Patch)
        );
    }

    #[test]
    fn apply_resets_lower_parts_and_prerelease() {
        assert_eq!(Bump::Major.apply(&v("1.2.3")), v("2.0.0"));
        assert_eq!(Bump::Minor.apply(&v("1.2.3")), v("1.3.0"));
        assert_eq!(Bump::Patch.apply(&v("1.2.3-rc.1+b5")), v("1.2.4"));
        assert_eq!(
            Bump::Patch.apply(&Version::new(0, 0, u64::MAX)),
            Version::new(0, 0, u64::MAX)
        );
    }

    #[test]
    fn bump_text_round_trips_and_rejects_others() {
        for b in [Bump::Patch, Bump::Minor, Bump::Major] {
            assert_eq!(b.to_string().parse::<Bump>().unwrap(), b);
        }
        let e = "huge".parse::<Bump>().unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(serde_json::to_string(&Bump::Minor).unwrap(), "\"minor\"");
    }

    #[test]
    fn breaking_beats_type_rules() {
        let rules = default_bump_rules();
        let bump = |m: &str| bump_for(&parse(m).unwrap(), &rules);
        assert_eq!(bump("feat: x"), Some(Bump::Minor));
        assert_eq!(bump("fix: x"), Some(Bump::Patch));
        assert_eq!(bump("deps: x"), Some(Bump::Patch));
        assert_eq!(bump("docs: x"), None);
        assert_eq!(bump("docs!: x"), Some(Bump::Major));
        assert_eq!(bump("chore: x\n\nBREAKING CHANGE: y"), Some(Bump::Major));
    }

    #[test]
    fn breaking_before_one_point_oh_bumps_minor() {
        assert_eq!(effective_bump(Bump::Major, &v("0.4.1")), Bump::Minor);
        assert_eq!(effective_bump(Bump::Major, &v("1.4.1")), Bump::Major);
        assert_eq!(effective_bump(Bump::Patch, &v("0.4.1")), Bump::Patch);
    }

    #[test]
    fn tags_need_their_prefix() {
        assert_eq!(parse_tag("v1.2.3", "v"), Some(v("1.2.3")));
        assert_eq!(parse_tag("refs/tags/v1.2.3", "v"), Some(v("1.2.3")));
        assert_eq!(parse_tag("1.2.3", ""), Some(v("1.2.3")));
        assert_eq!(parse_tag("1.2.3", "v"), None);
        assert_eq!(parse_tag("payments-v2.0.0", "payments-v"), Some(v("2.0.0")));
        assert_eq!(parse_tag("vnext", "v"), None);
    }
}
