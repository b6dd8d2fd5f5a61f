//! Label parsing: any label set, under the built-in policy, never panics;
//! every problem names a label that was given (or says which one is missing)
//! in one line; `complete()` succeeds exactly when there is no problem and
//! agrees with the set; and whether a set is complete does not depend on the
//! order of its labels.
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
    for problem in &set.problems {
        match &problem.label {
            Some(label) => assert!(
                labels.contains(label),
                "a problem names a label that was not given: {problem:?}"
            ),
            None => assert!(
                problem.message.starts_with("missing label "),
                "a problem without a label is not a missing one: {problem:?}"
            ),
        }
        assert!(
            !problem.message.contains(['\n', '\r']),
            "a problem message breaks its line: {problem:?}"
        );
    }
    let complete = set.complete();
    match &complete {
        Ok(l) => {
            assert!(set.problems.is_empty(), "complete with problems: {set:?}");
            assert_eq!(Some(&l.component), set.component.as_ref());
            assert_eq!(Some(&l.change), set.change.as_ref());
            assert_eq!(Some(l.coverage), set.coverage);
            assert_eq!(Some(l.functional), set.functional);
            assert!(l.coverage <= 100, "coverage above 100: {l:?}");
        }
        Err(problems) => {
            assert!(!problems.is_empty(), "incomplete without a reason: {set:?}");
            assert_eq!(problems, &set.problems);
        }
    }
    // Order does not decide completeness (conflicts are conflicts either way).
    let mut reversed = labels.clone();
    reversed.reverse();
    let other = parse_labels(policy, &reversed).complete();
    assert_eq!(
        complete.is_ok(),
        other.is_ok(),
        "the label order changed completeness: {labels:?}"
    );
    if let (Ok(a), Ok(b)) = (&complete, &other) {
        assert_eq!(a, b, "the label order changed the labels read: {labels:?}");
    }
});
