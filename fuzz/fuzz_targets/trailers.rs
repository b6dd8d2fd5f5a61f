//! Trailers: any commit message parses without a panic, and trailers the bot
//! writes (from any key and value) read back as one line each, with no
//! trailer smuggled in by a newline in a value.
//!
//! Input: `message \0 key \0 value`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stagecoach::git::trailers::Trailers;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = Trailers::parse(&text);
    let mut parts = text.splitn(3, '\0');
    let (Some(message), Some(key), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let written = Trailers::new()
        .with("Stagecoach-Action", "deploy")
        .with(key, value);
    let full = written.append_to(message);
    let read = Trailers::parse(&full);
    assert_eq!(
        read.get("Stagecoach-Action"),
        Some("deploy"),
        "our own trailer was lost:\n{full}"
    );
    assert_eq!(
        read.0.len(),
        written.0.len(),
        "trailers were added or lost:\n{full}\nwritten: {written:?}\nread: {read:?}"
    );
});
