//! One error type for the whole crate, split by whose fault it is.
//!
//! The command line maps `Input` to exit code 2 (the user can fix it: a bad
//! file, label, flag or path), `Denied` to exit code 3 (the person asking may
//! not do this: not a promoter, not on call) and `World` to exit code 1 (the
//! network, git, GitHub or the disk failed). Every message is one line that names the file,
//! line, field or label at fault and what was expected, so it can be shown to
//! a person as it is, in a terminal or in a PR comment.

use std::fmt;

/// Whose fault an error is; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad input: a file, flag, label or path the user gave. Exit code 2.
    Input,
    /// The world failed: network, git, forge, disk, a command. Exit code 1.
    World,
    /// Not allowed: the person asking lacks the right (policy people, repo
    /// access). Exit code 3.
    Denied,
}

impl Kind {
    /// The word scripts see in JSON errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Input => "input",
            Kind::World => "world",
            Kind::Denied => "denied",
        }
    }
}

/// A one-line, human-readable error with its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: Kind,
    message: String,
}

impl Error {
    /// Bad input the user can fix (exit code 2).
    pub fn input(message: impl Into<String>) -> Self {
        Self::new(Kind::Input, message)
    }

    /// A failure of the world: network, git, forge, disk (exit code 1).
    pub fn world(message: impl Into<String>) -> Self {
        Self::new(Kind::World, message)
    }

    /// The person asking may not do this (exit code 3).
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(Kind::Denied, message)
    }

    fn new(kind: Kind, message: impl Into<String>) -> Self {
        // Keep the one-line promise even when a message wraps a multi-line cause.
        let message = message
            .into()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        Self { kind, message }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The process exit code for this error: 2 bad input, 3 not allowed, 1 the world.
    pub fn exit_code(&self) -> i32 {
        match self.kind {
            Kind::Input => 2,
            Kind::World => 1,
            Kind::Denied => 3,
        }
    }

    /// The error as one JSON object, for `-o json`: `{"error", "kind", "exit_code"}`.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "error": self.message,
            "kind": self.kind.as_str(),
            "exit_code": self.exit_code(),
        })
        .to_string()
    }

    /// Prefix the message with where it happened ("product.yaml: ...").
    pub fn context(self, what: impl fmt::Display) -> Self {
        Self {
            kind: self.kind,
            message: format!("{what}: {}", self.message),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<git2::Error> for Error {
    fn from(e: git2::Error) -> Self {
        Error::world(format!("git: {}", e.message()))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::world(format!("i/o: {e}"))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_causes_become_one_line() {
        let e = Error::input("policies/x.yaml:3:1: bad\n  expected a map\n");
        assert_eq!(e.message(), "policies/x.yaml:3:1: bad expected a map");
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn denied_exits_three_and_errors_render_as_json() {
        let e = Error::denied("bob may not promote to prod");
        assert_eq!(e.exit_code(), 3);
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap_or_default();
        assert_eq!(v["kind"], "denied");
        assert_eq!(v["exit_code"], 3);
        assert_eq!(v["error"], "bob may not promote to prod");
    }

    #[test]
    fn world_errors_exit_one() {
        assert_eq!(Error::world("git: fetch failed").exit_code(), 1);
    }
}
