//! Flow 4: every change of the product's main that bumps components gets the
//! next product version as an annotated tag with its changelog.

use semver::Version;

use crate::manifest::product::ProductManifest;
use crate::policy::Policy;
use crate::version::Bump;

use super::action::Action;
use super::snapshot::{ComponentChange, Snapshot};

/// What changed between two manifests: one entry per component whose
/// version moved (a new component counts as coming from 0.0.0).
pub fn manifest_changes(old: &ProductManifest, new: &ProductManifest) -> Vec<ComponentChange> {
    new.components
        .iter()
        .filter_map(|(name, pin)| {
            let from = old
                .components
                .get(name)
                .map(|p| p.version.clone())
                .unwrap_or_else(|| Version::new(0, 0, 0));
            (from != pin.version).then(|| ComponentChange {
                component: name.clone(),
                from,
                to: pin.version.clone(),
            })
        })
        .collect()
}

/// The product bump: a component major makes a product major, a minor a
/// minor, anything else a patch.
pub fn product_bump(changes: &[ComponentChange]) -> Option<Bump> {
    changes
        .iter()
        .map(|c| Bump::between(&c.from, &c.to).unwrap_or(Bump::Patch))
        .max()
}

pub fn decide(_policy: &Policy, snap: &Snapshot) -> Vec<Action> {
    let product = &snap.product;
    let on_main = product
        .tags
        .iter()
        .filter(|t| t.on_main)
        .max_by(|a, b| a.version.cmp(&b.version));
    let Some(last) = on_main else {
        // A product with no tag yet starts at 0.1.0 with everything it pins.
        let changes = manifest_changes(&ProductManifest::default(), &product.manifest);
        if changes.is_empty() {
            return Vec::new();
        }
        return vec![Action::TagProduct {
            version: Version::new(0, 1, 0),
            sha: product.main_sha.clone(),
            changes,
            previous: None,
        }];
    };
    if last.sha == product.main_sha {
        return Vec::new();
    }
    let Some(old) = &last.manifest else {
        return Vec::new();
    };
    let changes = manifest_changes(old, &product.manifest);
    let Some(bump) = product_bump(&changes) else {
        return Vec::new();
    };
    // A hotfix may already own the next patch number off main: skip past it.
    let mut version = bump.apply(&last.version);
    while product.tags.iter().any(|t| t.version == version) {
        version = Bump::Patch.apply(&version);
    }
    vec![Action::TagProduct {
        version,
        sha: product.main_sha.clone(),
        changes,
        previous: Some(last.name.clone()),
    }]
}
