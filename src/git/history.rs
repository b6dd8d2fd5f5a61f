//! Reading a component's release history from git: its newest semver tag, the
//! commits since, and the version those commits call for.
//!
//! One walk per question that reads each commit once (`walk.rs`), and no
//! per-commit work beyond reading the message: this runs over histories of
//! 100,000 commits on every product merge.

use std::collections::{BTreeMap, HashMap};

use git2::{Oid, Repository};
use semver::Version;

use crate::conventional;
use crate::error::{Error, Result};
use crate::version::{Bump, bump_for, effective_bump, parse_tag};

mod walk;
use walk::walk;

/// One commit as the changelog and version logic need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryCommit {
    pub sha: String,
    /// The first line of the message.
    pub summary: String,
    pub message: String,
    /// More than one parent: skipped by versioning and changelogs, since the
    /// merged commits are walked themselves.
    pub is_merge: bool,
}

/// What the commits since the last release call for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextVersion {
    /// The version of the range's start tag; `None` when there is no tag yet.
    pub current: Option<Version>,
    pub current_tag: Option<String>,
    /// `None` when no commit in the range releases anything.
    pub next: Option<Version>,
    /// The bump applied to `current` (after the pre-1.0 rule).
    pub bump: Option<Bump>,
    /// Conventional, non-merge commits considered.
    pub commits: usize,
}

/// Open a repository the user named; a path that is not one is bad input.
pub fn open_repo(path: &std::path::Path) -> Result<Repository> {
    Repository::open(path).map_err(|e| {
        Error::input(format!(
            "{}: not a git repository ({})",
            path.display(),
            e.message()
        ))
    })
}

/// Settle libgit2 for a process that reads one history once and exits (the
/// `version` and `changelog` commands).
///
/// libgit2 keeps every object it reads in a cache and hashes it again to check
/// its id; the walk reads each commit exactly once, so on a 100,000-commit
/// history that is a fifth of the run for nothing. `git log` does not check
/// ids on read either (zlib's own checksum still catches a damaged object).
/// Process-wide, so the long-running bot does not call it.
pub fn settle_for_one_pass() {
    git2::opts::enable_caching(false);
    git2::opts::strict_hash_verification(false);
}

/// Refuse a shallow clone: its history stops early, so the tag search finds
/// no tag (or an old one) and the answer looks right while it is wrong.
/// Failure of the world (exit 1): the arguments are fine, the checkout is not.
pub fn refuse_shallow(repo: &Repository, path: &std::path::Path) -> Result<()> {
    if repo.is_shallow() {
        return Err(Error::world(format!(
            "{}: a shallow clone, so the history and its tags are incomplete; fetch all of it first (`git fetch --unshallow --tags`, or `fetch-depth: 0` for actions/checkout)",
            path.display()
        )));
    }
    Ok(())
}

/// A tag that looks like a release but was not taken as one, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredTag {
    pub name: String,
    pub reason: String,
}

/// Tags that look like releases but are not release tags for `prefix`:
/// without the prefix, with it in another case, pre-releases (never a
/// release to count from), and the prefix followed by something not semver.
/// Tags that look like nothing of the kind (`latest`, `deploy-42`) are left out.
pub fn ignored_tags(repo: &Repository, prefix: &str) -> Result<Vec<IgnoredTag>> {
    let names = repo.tag_names(None)?;
    let mut ignored = Vec::new();
    for name in names.iter().filter_map(|name| name.ok().flatten()) {
        if let Some(reason) = why_ignored(name, prefix) {
            ignored.push(IgnoredTag {
                name: name.to_owned(),
                reason,
            });
        }
    }
    Ok(ignored)
}

/// Why `tag` is not a release tag for `prefix`; `None` when it is one, or
/// when it does not look like a version at all.
pub fn why_ignored(tag: &str, prefix: &str) -> Option<String> {
    let semver = |s: &str| Version::parse(s).ok();
    if let Some(rest) = tag.strip_prefix(prefix) {
        return match semver(rest) {
            Some(v) if v.pre.is_empty() => None,
            Some(_) => Some("a pre-release, not a release to count from".to_owned()),
            None => Some(format!("not semver after the prefix {prefix:?}")),
        };
    }
    let head = tag
        .get(..prefix.len())
        .filter(|h| h.eq_ignore_ascii_case(prefix));
    if let Some(rest) = head.and_then(|_| tag.get(prefix.len()..)) {
        if semver(rest).is_some() {
            return Some(format!("prefix in another case than {prefix:?}"));
        }
    }
    let bare = tag.strip_prefix(['v', 'V']).unwrap_or(tag);
    semver(bare).map(|_| format!("no prefix {prefix:?}"))
}

/// The commit a revision names; an unknown revision is bad input.
fn resolve_commit(repo: &Repository, rev: &str) -> Result<Oid> {
    let object = repo.revparse_single(rev).map_err(|e| {
        Error::input(format!(
            "revision {rev:?}: not found in the repository ({})",
            e.message()
        ))
    })?;
    let commit = object
        .peel_to_commit()
        .map_err(|_| Error::input(format!("revision {rev:?}: does not name a commit")))?;
    Ok(commit.id())
}

/// Release tags (`prefix` + semver, no pre-release), highest version first,
/// with the commit each names.
fn release_tags(repo: &Repository, prefix: &str) -> Result<Vec<(Version, String, Oid)>> {
    let pattern = format!("{prefix}*");
    let names = repo.tag_names(Some(&pattern))?;
    let mut tags = Vec::new();
    for name in names.iter().filter_map(|name| name.ok().flatten()) {
        let Some(version) = parse_tag(name, prefix).filter(|v| v.pre.is_empty()) else {
            continue;
        };
        let Ok(object) = repo.revparse_single(&format!("refs/tags/{name}")) else {
            continue;
        };
        let Ok(commit) = object.peel_to_commit() else {
            continue;
        };
        tags.push((version, name.to_owned(), commit.id()));
    }
    tags.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    Ok(tags)
}

/// The highest release tag (`prefix` + semver, no pre-release) reachable from `rev`.
///
/// Highest rather than most recent in time: a tag put on an older commit by a
/// late backport must not hide the real latest release. One walk back from
/// `rev` that stops as soon as the highest tag of all is met, which in the
/// usual case is after exactly the commits a release range covers anyway
/// (`graph_descendant_of` per tag cost a full history walk each).
pub fn newest_semver_tag(
    repo: &Repository,
    rev: &str,
    prefix: &str,
) -> Result<Option<(String, Version)>> {
    let head = resolve_commit(repo, rev)?;
    let tags = release_tags(repo, prefix)?;
    let Some(highest) = tags.first().map(|t| t.0.clone()) else {
        return Ok(None);
    };
    // Tagged commit → its highest tag (the list is sorted, so the first wins).
    let mut tagged: HashMap<Oid, (&Version, &str)> = HashMap::new();
    for (version, name, oid) in &tags {
        tagged.entry(*oid).or_insert((version, name));
    }
    let mut best: Option<(&Version, &str)> = None;
    let mut revwalk = repo.revwalk()?;
    revwalk.push(head)?;
    for oid in revwalk {
        if let Some(&found) = tagged.get(&oid?) {
            if best.is_none_or(|b| found.0 > b.0) {
                best = Some(found);
            }
            if *found.0 == highest {
                break;
            }
        }
    }
    Ok(best.map(|(v, name)| (name.to_owned(), v.clone())))
}

/// Commits in `(from, to]`, newest first, as `git log from..to` lists them.
pub fn commits_between(
    repo: &Repository,
    from: Option<&str>,
    to: &str,
) -> Result<Vec<HistoryCommit>> {
    let to = resolve_commit(repo, to)?;
    let from = from.map(|f| resolve_commit(repo, f)).transpose()?;
    walk(repo, from, to, |commit| {
        let message = String::from_utf8_lossy(commit.message).into_owned();
        let summary = message.lines().next().unwrap_or("").to_owned();
        HistoryCommit {
            sha: commit.oid.to_string(),
            summary,
            message,
            is_merge: commit.parents.len() > 1,
        }
    })
}

/// What a range of commits asks for.
#[derive(Default)]
struct Tally {
    wanted: Option<Bump>,
    considered: usize,
    /// Some commit in the range has `from` as a parent: `from` is reachable.
    touches_from: bool,
}

/// One commit's share of a [`Tally`], worked out when the commit is read.
struct Counted {
    bump: Option<Bump>,
    conventional: bool,
    child_of_from: bool,
}

fn tally(
    repo: &Repository,
    from: Option<Oid>,
    to: Oid,
    rules: &BTreeMap<String, Bump>,
) -> Result<Tally> {
    let counted = walk(repo, from, to, |commit| {
        let child_of_from = from.is_some_and(|f| commit.parents.contains(&f));
        let parsed = if commit.parents.len() > 1 {
            None
        } else {
            conventional::parse(&String::from_utf8_lossy(commit.message))
        };
        Counted {
            bump: parsed.as_ref().and_then(|p| bump_for(p, rules)),
            conventional: parsed.is_some(),
            child_of_from,
        }
    })?;
    let mut tally = Tally::default();
    for c in counted {
        tally.touches_from |= c.child_of_from;
        tally.considered += usize::from(c.conventional);
        tally.wanted = tally.wanted.max(c.bump);
    }
    Ok(tally)
}

/// The next version for the commits after `from` (default: the highest release
/// tag reachable from `to`) up to `to`.
///
/// Without any tag, the history is taken to start at 0.0.0 (so a first `feat`
/// gives 0.1.0 and a first `fix` 0.0.1); release-please would start at 1.0.0,
/// but a component that never tagged has promised nothing yet. A `from` that
/// is not a release tag (a sha, a branch) bounds the range but gives no
/// current version, so the next one is also counted from 0.0.0.
///
/// The tag search and the range walk are one walk: the walk hiding a tag is
/// exactly `(tag, to]`, and the tag is reachable from `to` exactly when some
/// commit of that range has it as a parent. Only an unreachable higher tag
/// (say, on a release branch) costs another walk.
pub fn next_version(
    repo: &Repository,
    from: Option<&str>,
    to: &str,
    prefix: &str,
    rules: &BTreeMap<String, Bump>,
) -> Result<NextVersion> {
    let to_oid = resolve_commit(repo, to)?;
    let (current, current_tag, counted) = match from {
        Some(f) => {
            let current = parse_tag(f, prefix).ok_or_else(|| {
                Error::input(format!(
                    "--from {f:?}: not a release tag; expected {prefix:?} followed by a semver (e.g. {prefix}1.2.3)"
                ))
            })?;
            let from_oid = resolve_commit(repo, f)?;
            let tally = tally(repo, Some(from_oid), to_oid, rules)?;
            (Some(current), Some(f.to_owned()), tally)
        }
        None => {
            let mut chosen = None;
            for (version, name, oid) in release_tags(repo, prefix)? {
                if oid == to_oid {
                    chosen = Some((version, name, Tally::default()));
                    break;
                }
                let counted = tally(repo, Some(oid), to_oid, rules)?;
                if counted.touches_from {
                    chosen = Some((version, name, counted));
                    break;
                }
            }
            match chosen {
                Some((version, name, counted)) => (Some(version), Some(name), counted),
                None => (None, None, tally(repo, None, to_oid, rules)?),
            }
        }
    };

    let base = current.clone().unwrap_or_else(|| Version::new(0, 0, 0));
    let bump = counted.wanted.map(|b| effective_bump(b, &base));
    Ok(NextVersion {
        next: bump.map(|b| b.apply(&base)),
        current,
        current_tag,
        bump,
        commits: counted.considered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::default_bump_rules;
    use git2::Signature;

    /// A repo whose commits are written straight into the object database,
    /// with increasing times so the walk order is deterministic.
    struct TestRepo {
        _dir: tempfile::TempDir,
        repo: Repository,
        time: i64,
    }

    impl TestRepo {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let repo = Repository::init(dir.path()).unwrap();
            TestRepo {
                _dir: dir,
                repo,
                time: 1_700_000_000,
            }
        }

        fn commit_with_parents(&mut self, message: &str, parents: &[Oid]) -> Oid {
            self.time += 60;
            let sig =
                Signature::new("Dev", "dev@example.com", &git2::Time::new(self.time, 0)).unwrap();
            let tree_id = self.repo.treebuilder(None).unwrap().write().unwrap();
            let tree = self.repo.find_tree(tree_id).unwrap();
            let parents: Vec<git2::Commit> = parents
                .iter()
                .map(|p| self.repo.find_commit(*p).unwrap())
                .collect();
            let refs: Vec<&git2::Commit> = parents.iter().collect();
            let oid = self
                .repo
                .commit(None, &sig, &sig, message, &tree, &refs)
                .unwrap();
            self.repo
                .reference("refs/heads/main", oid, true, "test")
                .unwrap();
            self.repo.set_head("refs/heads/main").unwrap();
            oid
        }

        fn commit(&mut self, message: &str) -> Oid {
            let parents: Vec<Oid> = self
                .repo
                .head()
                .ok()
                .and_then(|h| h.target())
                .into_iter()
                .collect();
            self.commit_with_parents(message, &parents)
        }

        fn tag(&self, name: &str, oid: Oid) {
            let object = self.repo.find_object(oid, None).unwrap();
            self.repo.tag_lightweight(name, &object, false).unwrap();
        }

        fn next(&self, from: Option<&str>) -> NextVersion {
            next_version(&self.repo, from, "HEAD", "v", &default_bump_rules()).unwrap()
        }
    }

    #[test]
    fn feature_after_tag_bumps_minor() {
        let mut r = TestRepo::new();
        let c = r.commit("feat: first");
        r.tag("v1.2.3", c);
        r.commit("fix: a bug");
        r.commit("docs: words");
        r.commit("feat(api): more (#12)");
        let n = r.next(None);
        assert_eq!(n.current, Some(Version::new(1, 2, 3)));
        assert_eq!(n.current_tag.as_deref(), Some("v1.2.3"));
        assert_eq!(n.next, Some(Version::new(1, 3, 0)));
        assert_eq!(n.bump, Some(Bump::Minor));
        assert_eq!(n.commits, 3);
    }

    #[test]
    fn only_non_releasing_commits_give_no_release() {
        let mut r = TestRepo::new();
        let c = r.commit("feat: first");
        r.tag("v1.0.0", c);
        r.commit("chore: tidy");
        r.commit("Update README");
        let n = r.next(None);
        assert_eq!(n.next, None);
        assert_eq!(n.bump, None);
        assert_eq!(n.commits, 1);
    }

    #[test]
    fn no_tag_starts_from_zero() {
        let mut r = TestRepo::new();
        r.commit("fix: first");
        r.commit("feat: second");
        let n = r.next(None);
        assert_eq!(n.current, None);
        assert_eq!(n.next, Some(Version::new(0, 1, 0)));
    }

    #[test]
    fn breaking_change_in_zero_x_bumps_minor_and_in_one_x_major() {
        let mut r = TestRepo::new();
        let c = r.commit("feat: first");
        r.tag("v0.3.1", c);
        let c = r.commit("feat!: drop the old API");
        assert_eq!(r.next(None).next, Some(Version::new(0, 4, 0)));
        r.tag("v1.0.0", c);
        r.commit("fix: x\n\nBREAKING CHANGE: y");
        let n = r.next(None);
        assert_eq!(n.next, Some(Version::new(2, 0, 0)));
        assert_eq!(n.bump, Some(Bump::Major));
    }

    #[test]
    fn highest_reachable_tag_wins_and_unreachable_ones_are_ignored() {
        let mut r = TestRepo::new();
        let base = r.commit("feat: base");
        r.tag("v1.0.0", base);
        let side = r.commit_with_parents("feat: on a side branch", &[base]);
        r.tag("v9.0.0", side);
        let main = r.commit_with_parents("fix: on main", &[base]);
        r.tag("v1.1.0-rc.1", main);
        r.tag("not-a-version", main);
        let found = newest_semver_tag(&r.repo, &main.to_string(), "v").unwrap();
        assert_eq!(found, Some(("v1.0.0".to_owned(), Version::new(1, 0, 0))));
    }

    #[test]
    fn next_version_skips_a_higher_tag_on_another_branch() {
        let mut r = TestRepo::new();
        let base = r.commit("feat: base");
        r.tag("v1.0.0", base);
        let side = r.commit_with_parents("feat: release branch", &[base]);
        r.tag("v2.0.0", side);
        r.commit_with_parents("fix: on main", &[base]);
        let n = r.next(None);
        assert_eq!(n.current_tag.as_deref(), Some("v1.0.0"));
        assert_eq!(n.next, Some(Version::new(1, 0, 1)));
    }

    #[test]
    fn tag_on_head_means_nothing_to_release() {
        let mut r = TestRepo::new();
        let c = r.commit("feat: a");
        r.tag("v1.0.0", c);
        let n = r.next(None);
        assert_eq!(n.current, Some(Version::new(1, 0, 0)));
        assert_eq!((n.next, n.commits), (None, 0));
    }

    #[test]
    fn merge_commits_are_listed_but_not_counted() {
        let mut r = TestRepo::new();
        let base = r.commit("feat: base");
        r.tag("v1.0.0", base);
        let side = r.commit_with_parents("fix: side", &[base]);
        let main = r.commit_with_parents("docs: main", &[base]);
        r.commit_with_parents("feat: merge pull request #4", &[main, side]);
        let commits = commits_between(&r.repo, Some("v1.0.0"), "HEAD").unwrap();
        assert_eq!(commits.len(), 3);
        assert!(commits[0].is_merge);
        assert_eq!(commits[0].summary, "feat: merge pull request #4");
        let n = r.next(None);
        assert_eq!(n.next, Some(Version::new(1, 0, 1)));
        assert_eq!(n.commits, 2);
    }

    #[test]
    fn explicit_from_overrides_the_tag_search() {
        let mut r = TestRepo::new();
        let first = r.commit("feat: a");
        r.tag("v1.0.0", first);
        let second = r.commit("feat: b");
        r.tag("v1.1.0", second);
        r.commit("fix: c");
        assert_eq!(r.next(Some("v1.0.0")).next, Some(Version::new(1, 1, 0)));
    }

    /// Issue 10, point 5: a `from` that is no release tag is bad input, not
    /// a silent count from 0.0.0.
    #[test]
    fn a_from_that_is_not_a_release_tag_is_bad_input() {
        let mut r = TestRepo::new();
        let first = r.commit("feat: a");
        r.tag("v1.0.0", first);
        r.commit("fix: c");
        for from in [first.to_string(), "main".to_owned(), "1.0.0".to_owned()] {
            let e =
                next_version(&r.repo, Some(&from), "HEAD", "v", &default_bump_rules()).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{from}");
            assert!(e.message().contains("not a release tag"), "{e}");
        }
    }

    #[test]
    fn tags_that_look_like_releases_but_are_not_say_why() {
        let cases = [
            ("v1.2.3", None),
            ("1.2.3", Some("no prefix \"v\"")),
            ("V1.2.3", Some("prefix in another case than \"v\"")),
            (
                "v1.3.0-rc.1",
                Some("a pre-release, not a release to count from"),
            ),
            ("v1.2", Some("not semver after the prefix \"v\"")),
            ("latest", None),
            ("deploy-42", None),
        ];
        for (tag, why) in cases {
            assert_eq!(why_ignored(tag, "v").as_deref(), why, "{tag}");
        }
        assert_eq!(
            why_ignored("Payments-v1.0.0", "payments-v").as_deref(),
            Some("prefix in another case than \"payments-v\"")
        );
    }

    #[test]
    fn unknown_revision_is_bad_input_naming_it() {
        let mut r = TestRepo::new();
        r.commit("feat: a");
        let e = commits_between(&r.repo, Some("v7.7.7"), "HEAD").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.message().contains("v7.7.7"), "{e}");
    }

    #[test]
    fn commits_are_newest_first_and_exclude_from() {
        let mut r = TestRepo::new();
        let a = r.commit("feat: a");
        r.commit("fix: b");
        r.commit("perf: c");
        let commits = commits_between(&r.repo, Some(&a.to_string()), "HEAD").unwrap();
        let summaries: Vec<&str> = commits.iter().map(|c| c.summary.as_str()).collect();
        assert_eq!(summaries, ["perf: c", "fix: b"]);
        assert_eq!(commits[0].sha.len(), 40);
    }
}
