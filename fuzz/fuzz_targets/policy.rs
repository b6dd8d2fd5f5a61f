//! Policy files: any text is a policy or one error line naming the source,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stagecoach::policy::Policy;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = Policy::parse(text, "fuzz.yaml") {
        let msg = e.to_string();
        assert!(
            msg.contains("fuzz.yaml"),
            "the error does not name the file: {msg}"
        );
    }
});
