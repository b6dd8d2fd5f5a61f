//! `yaml-set`'s edit read back by go-yaml v2 itself (what Helm, Argo CD and
//! kubectl read values with), on generated documents and values: after each
//! edit go-yaml reads the exact string that was set at the target, and every
//! other value exactly as before. Issue 12, point 7.
//!
//! Needs Debian's `golang-go` and `golang-gopkg-yaml.v2-dev` (`.ci/run`
//! installs them); the small reader in scripts/differential/yamlread.go is
//! built once into target/differential/. Without them the test fails saying
//! what to install, unless STAGECOACH_SKIP_DIFFERENTIAL=1.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use stagecoach::manifest::yaml_edit;

const GOPATH: &str = "/usr/share/gocode";

/// The built reader; `None` when the run opted out.
fn go_reader() -> Option<PathBuf> {
    if std::env::var("STAGECOACH_SKIP_DIFFERENTIAL").as_deref() == Ok("1") {
        eprintln!("skipped: STAGECOACH_SKIP_DIFFERENTIAL=1");
        return None;
    }
    let install = "install go-yaml v2 to run this test: `apt-get install golang-go golang-gopkg-yaml.v2-dev` (as .ci/run does), or set STAGECOACH_SKIP_DIFFERENTIAL=1 to skip it";
    let go_found = Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(go_found, "no `go` on PATH; {install}");
    assert!(
        Path::new(GOPATH).join("src/gopkg.in/yaml.v2").is_dir(),
        "no {GOPATH}/src/gopkg.in/yaml.v2; {install}"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = root.join("scripts/differential/yamlread.go");
    let out_dir = root.join("target/differential");
    let binary = out_dir.join("yamlread");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = matches!((modified(&binary), modified(&source)), (Some(b), Some(s)) if b >= s);
    if !fresh {
        std::fs::create_dir_all(&out_dir).unwrap();
        let built = Command::new("go")
            .args(["build", "-o"])
            .arg(&binary)
            .arg(&source)
            .env("GO111MODULE", "off")
            .env("GOPATH", GOPATH)
            .env("GOCACHE", out_dir.join("gocache"))
            .output()
            .unwrap();
        assert!(
            built.status.success(),
            "building {} failed: {}; {install}",
            source.display(),
            String::from_utf8_lossy(&built.stderr)
        );
    }
    Some(binary)
}

/// What go-yaml read from one text: per document, path → (type, text).
type GoRead = Result<Vec<BTreeMap<String, (String, String)>>, String>;

fn go_read_all(reader: &Path, texts: &[String]) -> Vec<GoRead> {
    let mut child = Command::new(reader)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input = serde_json::to_vec(texts).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "the go reader failed");
    let results: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    results
        .into_iter()
        .map(|r| {
            if let Some(e) = r["error"].as_str() {
                return Err(e.to_owned());
            }
            Ok(r["docs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|doc| {
                    doc.as_array()
                        .unwrap()
                        .iter()
                        .map(|s| {
                            let field = |i: usize| s[i].as_str().unwrap().to_owned();
                            (field(0), (field(1), field(2)))
                        })
                        .collect()
                })
                .collect())
        })
        .collect()
}

/// xorshift64*: the same cases on every run, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Values people set, values every YAML reader types differently, and
/// characters some readers refuse.
const VALUES: &[&str] = &[
    "1.4.2",
    "1.20",
    "1.2",
    "1.10",
    "v1.20",
    "1.5.0-rc.1",
    "1.2.3+build.5",
    "latest",
    "sha-0a1b2c3",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "Y",
    "NO",
    "True",
    "false",
    "~",
    "null",
    "1_000",
    "0x1F",
    "0o17",
    "0b11",
    "0755",
    "08",
    "1:20",
    "1:20.5",
    "190:20:30",
    ".inf",
    "-.Inf",
    ".NaN",
    "1e3",
    "6.8523015e+5",
    "2024-05-01",
    "2024-05-01T10:00:00Z",
    "2001-12-14 21:59:43.10 -5",
    "<<",
    "=",
    "",
    " ",
    "a b",
    "a: b",
    "a #b",
    "#c",
    "- x",
    "[x]",
    "{x}",
    "*x",
    "&x",
    "!x",
    "%x",
    "@x",
    "`x",
    "'x'",
    "\"x\"",
    "x,y",
    "a\tb",
    "a\u{2028}b",
    "a\u{85}b",
    "a\u{2029}b",
    "\u{feff}x",
    "tab\t",
    "ünïcode ✓",
    "back\\slash",
    "new\nline",
    "12",
    "-3",
    "0",
    "3.0",
];

/// Characters random values are made of: the ones that change a scalar's type.
const ALPHABET: &[&str] = &[
    "0", "1", "9", ".", ":", "_", "x", "e", "E", "-", "+", "y", "n", "o", "~", " ", "#", "\t",
    "\u{2028}", "\u{85}", "ü", "'", "\"", "\\", ",", "[", "<", "=", "T", "Z",
];

/// Documents holding `image.tag` (as `{}`), with neighbours that must not change.
const DOCUMENTS: &[&str] = &[
    "image:\n  repository: ghcr.io/acme/payments # where CI pushes\n  tag: {}\n  pullPolicy: IfNotPresent\n",
    "%YAML 1.1\n---\nimage:\n  tag: {} # bumped\nreplicas: 2\nenabled: yes\n",
    "defaults: &defaults\n  pullPolicy: Always\n  port: 8080\nimage:\n  <<: *defaults\n  tag: {}\nsidecar:\n  <<: *defaults\n",
    "image: {{repository: x, tag: {}}}\nlist: [1.20, on, '1:20']\n",
    "kind: A\nversion: 1.10\n---\nimage:\n  tag: {}\n---\n",
    "# header\nimage:\n    tag: {}\nenv:\n  - name: MODE\n    value: \"live\"\n  - {{name: N, value: 0x1F}}\n",
];

/// How the target is written before the edit.
const TARGETS: &[&str] = &["", "~", "null", "1.4.2", "'1.4.2'", "\"1.4.2\"", "2", "v1"];

#[test]
fn every_edit_reads_back_in_go_yaml_v2_as_the_string_set_and_nothing_else_changes() {
    let Some(reader) = go_reader() else {
        return;
    };
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    let mut values: Vec<String> = VALUES.iter().map(|v| (*v).to_owned()).collect();
    for _ in 0..300 {
        let len = 1 + rng.below(6);
        values.push((0..len).map(|_| rng.pick(ALPHABET)).collect());
    }

    // (document before, document after, value, whether go should read a number)
    let mut edits: Vec<(String, String, String, bool)> = Vec::new();
    let mut refused = 0usize;
    for document in DOCUMENTS {
        for target in TARGETS {
            let before = document
                .replace("{}", target)
                .replace("{{", "{")
                .replace("}}", "}");
            for value in &values {
                match yaml_edit::set_scalar(&before, "image.tag", value) {
                    Ok(after) => {
                        // Re-read by the Rust parser too.
                        assert_eq!(
                            yaml_edit::get_scalar(&after, "image.tag")
                                .unwrap()
                                .as_deref(),
                            Some(value.as_str()),
                            "{after}"
                        );
                        // An integer over an integer, in the one spelling every
                        // reader agrees on, stays a number (docs/yaml-values.md).
                        let canonical_int =
                            value.parse::<i64>().is_ok_and(|n| n.to_string() == *value);
                        let stays_number = *target == "2" && canonical_int;
                        edits.push((before.clone(), after, value.clone(), stays_number));
                    }
                    Err(_) => refused += 1,
                }
            }
        }
    }
    assert!(
        edits.len() > 10 * refused,
        "too many refusals to prove anything: {refused} refused, {} edited",
        edits.len()
    );

    let texts: Vec<String> = edits
        .iter()
        .flat_map(|(before, after, _, _)| [before.clone(), after.clone()])
        .collect();
    let read = go_read_all(&reader, &texts);
    let mut checked = 0usize;
    for ((before_text, after_text, value, stays_number), pair) in edits.iter().zip(read.chunks(2)) {
        let before = pair[0]
            .as_ref()
            .unwrap_or_else(|e| panic!("go-yaml refused a test document: {e}\n{before_text}"));
        let after = pair[1].as_ref().unwrap_or_else(|e| {
            panic!("go-yaml cannot read the edit of {value:?}: {e}\n{after_text}")
        });
        assert_eq!(
            before.len(),
            after.len(),
            "documents changed:\n{after_text}"
        );
        let target_doc = before
            .iter()
            .position(|doc| doc.contains_key(".image.tag"))
            .unwrap_or_else(|| panic!("no .image.tag in go's reading of\n{before_text}"));
        for (i, (old, new)) in before.iter().zip(after).enumerate() {
            for (path, old_value) in old {
                if i == target_doc && path == ".image.tag" {
                    continue;
                }
                assert_eq!(
                    new.get(path),
                    Some(old_value),
                    "setting {value:?} changed {path} for go-yaml:\n{after_text}"
                );
            }
            assert_eq!(
                old.len(),
                new.len(),
                "paths appeared or vanished:\n{after_text}"
            );
        }
        let (kind, text) = &after[target_doc][".image.tag"];
        let expected_kind = if *stays_number { "int" } else { "string" };
        assert_eq!(
            (kind.as_str(), text.as_str()),
            (expected_kind, value.as_str()),
            "go-yaml reads the edit of {value:?} differently:\n{after_text}"
        );
        checked += 1;
    }
    assert_eq!(checked, edits.len());
}
