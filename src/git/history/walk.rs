//! The commits of `(from, to]`, each read from the object database once.
//!
//! libgit2's revwalk reads every commit to learn its parents and date, and
//! `find_commit` then reads it again for the message: on a 100,000-commit
//! history that second inflate was half the time. This walk reads the raw
//! commit once, keeps its parents and committer date for the walk, and hands
//! the message to the caller right away, who keeps only what it needs.
//!
//! The walk is git's and libgit2's "limited" walk, so it lists the same
//! commits in the same order: a queue ordered by committer date (newest
//! first, ties in the order found); commits reachable from `from` are marked
//! uninteresting as they are met, and the walk stops once only uninteresting
//! commits are left (with the same five-commit slop for clock skew); commits
//! marked uninteresting after they were queued are dropped at the end. Merged
//! branches are walked like the first-parent line. Shallow clones and
//! `info/grafts` are honoured as libgit2 does.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use git2::{ObjectType, Odb, Oid, Repository};

use crate::error::{Error, Result};

/// One commit as read, for the caller to keep what it needs from.
pub struct RawCommit<'a> {
    pub oid: Oid,
    pub parents: &'a [Oid],
    /// As `git2::Commit::message_bytes`: leading newlines dropped, cut at a NUL.
    pub message: &'a [u8],
}

/// Run `read` once on every commit of `(from, to]` (reachable from `to`, not
/// from `from`) and return what it made, newest first, as `git log from..to`.
pub fn walk<T>(
    repo: &Repository,
    from: Option<Oid>,
    to: Oid,
    read: impl FnMut(&RawCommit<'_>) -> T,
) -> Result<Vec<T>> {
    let mut graph = Graph::new(repo, read)?;
    let to = graph.node(to);
    let from = from.map(|f| graph.node(f));
    if let Some(f) = from {
        graph.nodes[f].uninteresting = true;
    }
    if let Some(f) = from {
        graph.parse(f)?;
        graph.mark_parents_uninteresting(f);
        graph.nodes[f].seen = true;
    }
    graph.parse(to)?;
    if graph.nodes[to].uninteresting {
        graph.mark_parents_uninteresting(to);
    }
    let mut queue = Queue::default();
    if !graph.nodes[to].seen {
        graph.nodes[to].seen = true;
        queue.push(&graph.nodes[to], to);
    }

    let mut listed = Vec::new();
    let mut newest_listed = i64::MAX;
    let mut slop = SLOP;
    // libgit2 starts from its input list as given, `[from, to]`, and keeps
    // everything after that in date order: `from` goes first whatever its date.
    let mut first = from;
    while let Some(index) = first.take().or_else(|| queue.pop()) {
        graph.add_parents(index, &mut queue)?;
        if graph.nodes[index].uninteresting {
            graph.mark_parents_uninteresting(index);
            slop = still_interesting(&queue, &graph.nodes, newest_listed, slop);
            if slop > 0 {
                continue;
            }
            break;
        }
        newest_listed = graph.nodes[index].time;
        listed.push(index);
    }
    let mut made = Vec::with_capacity(listed.len());
    for i in listed {
        if !graph.nodes[i].uninteresting {
            made.extend(graph.made[i].take());
        }
    }
    Ok(made)
}

/// How many more uninteresting commits the walk looks at once nothing
/// interesting seems left, in case a commit's date is off (git's `SLOP`).
const SLOP: u32 = 5;

/// git's `still_interesting`: the slop left, 0 to stop.
fn still_interesting(queue: &Queue, nodes: &[Node], newest_listed: i64, slop: u32) -> u32 {
    let Some(newest_queued) = queue.newest_time() else {
        return 0;
    };
    if newest_listed <= newest_queued {
        return SLOP;
    }
    let busy = queue
        .indexes()
        .any(|i| !nodes[i].uninteresting || nodes[i].time > newest_listed);
    if busy { SLOP } else { slop - 1 }
}

struct Node {
    oid: Oid,
    time: i64,
    /// Range of this commit's parents in `Graph::parents`.
    parents: (usize, usize),
    parsed: bool,
    seen: bool,
    added: bool,
    uninteresting: bool,
}

/// Commits by committer date, newest first; equal dates in the order queued.
#[derive(Default)]
struct Queue {
    heap: BinaryHeap<(i64, Reverse<u64>, usize)>,
    queued: u64,
}

impl Queue {
    fn push(&mut self, node: &Node, index: usize) {
        self.heap.push((node.time, Reverse(self.queued), index));
        self.queued += 1;
    }

    fn pop(&mut self) -> Option<usize> {
        self.heap.pop().map(|(_, _, index)| index)
    }

    fn newest_time(&self) -> Option<i64> {
        self.heap.peek().map(|(time, _, _)| *time)
    }

    fn indexes(&self) -> impl Iterator<Item = usize> + '_ {
        self.heap.iter().map(|(_, _, index)| *index)
    }
}

/// Object ids are uniformly random: their first eight bytes are a good hash.
#[derive(Default)]
struct OidHasher(u64);

impl Hasher for OidHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8).take(1) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }

    fn write_usize(&mut self, _length_prefix: usize) {}
}

type OidMap<V> = HashMap<Oid, V, BuildHasherDefault<OidHasher>>;

struct Graph<'r, T, F> {
    odb: Odb<'r>,
    /// Commits whose parents the repository overrides (shallow boundary, grafts).
    grafts: OidMap<Vec<Oid>>,
    index: OidMap<usize>,
    nodes: Vec<Node>,
    parents: Vec<usize>,
    /// What `read` made of each commit read while it was still interesting.
    made: Vec<Option<T>>,
    read: F,
    scratch: Vec<Oid>,
}

impl<'r, T, F: FnMut(&RawCommit<'_>) -> T> Graph<'r, T, F> {
    fn new(repo: &'r Repository, read: F) -> Result<Self> {
        Ok(Graph {
            odb: repo.odb()?,
            grafts: grafts(repo),
            index: OidMap::default(),
            nodes: Vec::new(),
            parents: Vec::new(),
            made: Vec::new(),
            read,
            scratch: Vec::new(),
        })
    }

    fn node(&mut self, oid: Oid) -> usize {
        let next = self.nodes.len();
        let index = *self.index.entry(oid).or_insert(next);
        if index == next {
            self.nodes.push(Node {
                oid,
                time: 0,
                parents: (0, 0),
                parsed: false,
                seen: false,
                added: false,
                uninteresting: false,
            });
            self.made.push(None);
        }
        index
    }

    fn parents_of(&self, index: usize) -> std::ops::Range<usize> {
        let (start, end) = self.nodes[index].parents;
        start..end
    }

    /// Read a commit once: its date and parents, and `read` on it while it is
    /// not known to be uninteresting.
    fn parse(&mut self, index: usize) -> Result<()> {
        let i = index;
        if self.nodes[i].parsed {
            return Ok(());
        }
        let oid = self.nodes[i].oid;
        let mut parents = std::mem::take(&mut self.scratch);
        parents.clear();
        let time = {
            let object = self.odb.read(oid)?;
            if object.kind() != ObjectType::Commit {
                return Err(Error::world(format!(
                    "git: object {oid} is a {}, not a commit",
                    object.kind()
                )));
            }
            let raw = parse_commit(object.data(), &mut parents)
                .ok_or_else(|| Error::world(format!("git: commit {oid} is malformed")))?;
            if let Some(grafted) = self.grafts.get(&oid) {
                parents.clone_from(grafted);
            }
            if !self.nodes[i].uninteresting {
                let made = (self.read)(&RawCommit {
                    oid,
                    parents: &parents,
                    message: raw.message,
                });
                self.made[i] = Some(made);
            }
            raw.time
        };
        let start = self.parents.len();
        for &parent in &parents {
            let p = self.node(parent);
            self.parents.push(p);
        }
        let node = &mut self.nodes[i];
        node.time = time;
        node.parents = (start, self.parents.len());
        node.parsed = true;
        self.scratch = parents;
        Ok(())
    }

    /// libgit2's `add_parents_to_list`: queue the parents of a commit taken
    /// from the queue, spreading uninteresting-ness.
    fn add_parents(&mut self, index: usize, queue: &mut Queue) -> Result<()> {
        if self.nodes[index].added {
            return Ok(());
        }
        self.nodes[index].added = true;
        let uninteresting = self.nodes[index].uninteresting;
        for k in self.parents_of(index) {
            let p = self.parents[k];
            if uninteresting {
                self.nodes[p].uninteresting = true;
                self.parse(p)?;
                self.mark_parents_uninteresting(p);
                self.nodes[p].seen = true;
                queue.push(&self.nodes[p], p);
            } else {
                self.parse(p)?;
                if !self.nodes[p].seen {
                    self.nodes[p].seen = true;
                    queue.push(&self.nodes[p], p);
                }
            }
        }
        Ok(())
    }

    /// Mark everything already read below `index` uninteresting.
    fn mark_parents_uninteresting(&mut self, index: usize) {
        let mut stack: Vec<usize> = self.parents[self.parents_of(index)].to_vec();
        while let Some(p) = stack.pop() {
            let node = &mut self.nodes[p];
            if node.uninteresting {
                continue;
            }
            node.uninteresting = true;
            if node.parsed {
                stack.extend_from_slice(&self.parents[self.parents_of(p)]);
            }
        }
    }
}

/// What the walk needs of a raw commit.
struct Parsed<'a> {
    time: i64,
    message: &'a [u8],
}

/// Split a raw commit object: parents into `parents`, the committer date and
/// the message. `None` when a parent line does not hold an object id.
fn parse_commit<'a>(data: &'a [u8], parents: &mut Vec<Oid>) -> Option<Parsed<'a>> {
    let mut time = 0;
    let mut rest = data;
    let message = loop {
        let (line, after) = match rest.iter().position(|&b| b == b'\n') {
            Some(end) => (&rest[..end], &rest[end + 1..]),
            None => (rest, &[][..]),
        };
        if line.is_empty() {
            break if rest.is_empty() { rest } else { after };
        }
        if let Some(hex) = line.strip_prefix(b"parent ") {
            let hex = std::str::from_utf8(hex).ok()?;
            parents.push(Oid::from_str(hex).ok()?);
        } else if let Some(who) = line.strip_prefix(b"committer ") {
            time = committer_time(who);
        }
        rest = after;
    };
    let start = message
        .iter()
        .position(|&b| b != b'\n')
        .unwrap_or(message.len());
    let message = &message[start..];
    let end = message
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(message.len());
    Some(Parsed {
        time,
        message: &message[..end],
    })
}

/// `Name <mail> 1700000000 +0000` → 1700000000; 0 when unreadable, as git.
fn committer_time(who: &[u8]) -> i64 {
    let after_mail = match who.iter().rposition(|&b| b == b'>') {
        Some(i) => &who[i + 1..],
        None => return 0,
    };
    std::str::from_utf8(after_mail)
        .ok()
        .and_then(|s| s.split_ascii_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// `shallow` (commits shown without parents) and `info/grafts` (commits with
/// other parents), as libgit2 applies them to its walks.
fn grafts(repo: &Repository) -> OidMap<Vec<Oid>> {
    let mut grafts = OidMap::default();
    let oids = |line: &str| -> Option<Vec<Oid>> {
        line.split_ascii_whitespace()
            .map(|hex| Oid::from_str(hex).ok())
            .collect()
    };
    let read = |name: &str| std::fs::read_to_string(repo.path().join(name)).unwrap_or_default();
    for line in read("info/grafts").lines().chain(read("shallow").lines()) {
        if let Some((commit, parents)) = oids(line).as_deref().and_then(<[Oid]>::split_first) {
            grafts.insert(*commit, parents.to_vec());
        }
    }
    grafts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_commit_gives_parents_date_and_message() {
        let raw = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\
parent 0101010101010101010101010101010101010101\n\
parent 0202020202020202020202020202020202020202\n\
author A <a@x> 1 +0000\n\
committer C <c@x> 1700000000 +0200\n\
gpgsig -----BEGIN PGP SIGNATURE-----\n \n -----END PGP SIGNATURE-----\n\
\n\
\nfeat: x\n\nbody\n";
        let mut parents = Vec::new();
        let parsed = parse_commit(raw, &mut parents).unwrap();
        assert_eq!(parents.len(), 2);
        assert_eq!(parents[1].to_string(), "02".repeat(20));
        assert_eq!(parsed.time, 1_700_000_000);
        assert_eq!(parsed.message, b"feat: x\n\nbody\n");
    }

    #[test]
    fn odd_raw_commits_do_not_panic() {
        for raw in [
            &b""[..],
            b"\n",
            b"tree x",
            b"committer nobody\n\nmsg",
            b"committer A <a> not-a-date\n\nmsg\0hidden",
            b"parent zz\n\n",
        ] {
            let mut parents = Vec::new();
            if let Some(parsed) = parse_commit(raw, &mut parents) {
                assert_eq!(parsed.time, 0);
                assert!(!parsed.message.contains(&0));
            }
        }
    }

    /// A small random history: merges, several roots, equal dates and dates
    /// that go back in time (clock skew), all written with libgit2.
    fn random_history(seed: u64, count: usize) -> (tempfile::TempDir, Repository, Vec<Oid>) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let tree_id = repo.treebuilder(None).unwrap().write().unwrap();
        let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut oids: Vec<Oid> = Vec::new();
        let mut time = 1_700_000_000i64;
        for i in 0..count {
            time += match next(10) {
                0 => 0,
                1 => -(next(5_000) as i64),
                _ => next(600) as i64,
            };
            let sig = git2::Signature::new("D", "d@x", &git2::Time::new(time, 0)).unwrap();
            let mut parents = Vec::new();
            if !oids.is_empty() && next(25) != 0 {
                // Mostly a recent commit, sometimes an old one.
                let back = if next(4) == 0 {
                    next(oids.len())
                } else {
                    next(oids.len().min(4))
                };
                parents.push(oids[oids.len() - 1 - back]);
                if next(4) == 0 {
                    let other = oids[next(oids.len())];
                    if !parents.contains(&other) {
                        parents.push(other);
                    }
                }
            }
            let parents: Vec<git2::Commit> = parents
                .iter()
                .map(|p| repo.find_commit(*p).unwrap())
                .collect();
            let refs: Vec<&git2::Commit> = parents.iter().collect();
            let message = format!("\n\nfeat: commit {i}\n\nbody {seed}\n");
            let tree = repo.find_tree(tree_id).unwrap();
            let oid = repo
                .commit(None, &sig, &sig, &message, &tree, &refs)
                .unwrap();
            oids.push(oid);
        }
        (dir, repo, oids)
    }

    #[test]
    fn lists_what_libgit2_revwalk_lists_in_its_order() {
        for seed in 0..24u64 {
            let (_dir, repo, oids) = random_history(seed, 70);
            let n = oids.len();
            let ranges = [
                (None, n - 1),
                (Some(0), n - 1),
                (Some(n / 2), n - 1),
                (Some(n - 1), n / 2),
                (Some(n - 1), n - 1),
                (Some(n / 3), 2 * n / 3),
                (Some(n - 2), n - 1),
            ];
            for (from, to) in ranges {
                let (from, to) = (from.map(|f| oids[f]), oids[to]);
                let mut revwalk = repo.revwalk().unwrap();
                revwalk.push(to).unwrap();
                if let Some(f) = from {
                    revwalk.hide(f).unwrap();
                }
                let expected: Vec<(Oid, Vec<u8>, usize)> = revwalk
                    .map(|oid| {
                        let commit = repo.find_commit(oid.unwrap()).unwrap();
                        (
                            commit.id(),
                            commit.message_bytes().to_vec(),
                            commit.parent_count(),
                        )
                    })
                    .collect();
                let listed = walk(&repo, from, to, |c| {
                    (c.oid, c.message.to_vec(), c.parents.len())
                })
                .unwrap();
                assert_eq!(listed, expected, "seed {seed}, {from:?}..{to}");
            }
        }
    }

    #[test]
    fn a_shallow_boundary_ends_the_walk() {
        let (_dir, repo, oids) = random_history(7, 30);
        let last = *oids.last().unwrap();
        let boundary = repo.find_commit(last).unwrap().parent_id(0).unwrap();
        std::fs::write(repo.path().join("shallow"), format!("{boundary}\n")).unwrap();
        let listed = walk(&repo, None, boundary, |c| (c.oid, c.parents.len())).unwrap();
        assert_eq!(listed, vec![(boundary, 0)]);
    }

    #[test]
    fn a_missing_commit_is_an_error_not_a_panic() {
        let (_dir, repo, _) = random_history(3, 3);
        let missing = Oid::from_str(&"ab".repeat(20)).unwrap();
        assert!(walk(&repo, None, missing, |_| ()).is_err());
    }
}
