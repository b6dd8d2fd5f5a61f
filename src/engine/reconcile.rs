//! The pure heart: from a snapshot of the world to the actions that move it
//! towards what the policy wants. No I/O, no clock but `snap.now`.

use crate::policy::Policy;

use super::action::Action;
use super::snapshot::Snapshot;
use super::{component, hotfix, product, rejection, release, staging, tag};

/// Every flow's decisions for this snapshot, in road order. Running it again
/// on the world these actions produce yields the next steps, and finally
/// nothing: that is how the engine knows it has converged.
pub fn reconcile(policy: &Policy, snap: &Snapshot) -> Vec<Action> {
    let mut actions = Vec::new();
    // Rejections first: a tag rejected in this pass is not promoted in it.
    actions.extend(rejection::decide(policy, snap));
    actions.extend(component::decide(policy, snap));
    actions.extend(product::decide(policy, snap));
    actions.extend(tag::decide(policy, snap));
    actions.extend(staging::decide(policy, snap));
    actions.extend(hotfix::decide(policy, snap));
    actions.extend(release::decide(policy, snap));
    // Two flows may want the same thing (a hotfix and the component flow
    // both carrying a release to main): do it once.
    let mut unique: Vec<Action> = Vec::with_capacity(actions.len());
    for a in actions {
        // A gate that runs already is waited for, not started again.
        let running = a
            .gate_key()
            .is_some_and(|k| snap.gates_running.contains(&k));
        if !running && !unique.contains(&a) {
            unique.push(a);
        }
    }
    unique
}
