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

/// Issue 10, point 6: a symlink's target is edited and the link stays a link.
#[cfg(unix)]
#[test]
fn a_symlink_is_followed_and_stays_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let real = copy_fixture(&dir, "values.yaml");
    let link = dir.path().join("link.yaml");
    std::os::unix::fs::symlink("values.yaml", &link).unwrap();
    let out = yaml_set(&link, "image.tag", "1.5.0");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("values.yaml"));
    let expected = fixture("values.yaml").replace("tag: \"1.4.2\"", "tag: \"1.5.0\"");
    assert_eq!(std::fs::read_to_string(&real).unwrap(), expected);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no temp file left"
    );

    let dangling = dir.path().join("dangling.yaml");
    std::os::unix::fs::symlink("gone.yaml", &dangling).unwrap();
    let out = yaml_set(&dangling, "image.tag", "1.5.0");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

/// Issue 10, point 6: a read-only file is refused in one line and left alone
/// (even for root, who could replace it).
#[cfg(unix)]
#[test]
fn a_read_only_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = copy_fixture(&dir, "values.yaml");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444)).unwrap();
    let out = yaml_set(&file, "image.tag", "1.5.0");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("read-only"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        fixture("values.yaml")
    );
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o444);
}

/// Issue 10, point 6: a FIFO is refused without opening it (opening one with
/// no writer would block for ever); the command returns on its own.
#[cfg(unix)]
#[test]
fn a_fifo_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("values.yaml");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo failed");
    let out = yaml_set(&fifo, "image.tag", "1.5.0");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("a FIFO; only regular files are edited"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let dir_out = yaml_set(dir.path(), "image.tag", "1.5.0");
    assert_eq!(dir_out.status.code(), Some(2));
}
