//! `stagecoach yaml-set` on real files: only the value changes, and a refusal
//! leaves the file byte for byte as it was.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/yaml")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

fn copy_fixture(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, fixture(name)).unwrap();
    path
}

fn yaml_set(file: &Path, key: &str, value: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stagecoach"))
        .args(["yaml-set", file.to_str().unwrap(), key, value])
        .output()
        .unwrap()
}

#[test]
fn only_the_target_value_changes() {
    let dir = tempfile::tempdir().unwrap();
    let file = copy_fixture(&dir, "values.yaml");
    let out = yaml_set(&file, "image.tag", "1.5.0");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let expected = fixture("values.yaml").replace("tag: \"1.4.2\"", "tag: \"1.5.0\"");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), expected);

    let out = yaml_set(&file, "env[1].value", "debug");
    assert_eq!(out.status.code(), Some(0));
    let expected = expected.replace("value: 'info'", "value: 'debug'");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), expected);
}

#[test]
fn same_value_is_a_noted_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let file = copy_fixture(&dir, "values.yaml");
    let out = yaml_set(&file, "image.tag", "1.4.2");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("unchanged"));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        fixture("values.yaml")
    );
}

#[test]
fn broken_yaml_is_bad_input_and_the_file_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let file = copy_fixture(&dir, "broken.yaml");
    let before = std::fs::read(&file).unwrap();
    let out = yaml_set(&file, "image.tag", "1.5.0");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.yaml:"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

#[test]
fn missing_path_and_non_scalar_are_bad_input_and_the_file_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let file = copy_fixture(&dir, "values.yaml");
    let before = std::fs::read(&file).unwrap();
    for (key, expected) in [
        ("image.digest", "no value at image.digest"),
        ("image", "not a scalar"),
        ("env[5].value", "no value at env[5].value"),
        ("probe", "not a scalar"),
    ] {
        let out = yaml_set(&file, key, "x");
        assert_eq!(out.status.code(), Some(2), "{key}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{key}: {err}");
        assert_eq!(std::fs::read(&file).unwrap(), before);
    }
}

#[test]
fn missing_file_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = yaml_set(&dir.path().join("nope.yaml"), "a", "b");
    assert_eq!(out.status.code(), Some(2));
}
