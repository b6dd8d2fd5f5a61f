//! The product manifest (`product.yaml`): which version of every component
//! belongs to the product, and which feature toggles are on.
//!
//! Read from the spanned YAML tree rather than through serde so that every
//! complaint names the line and column a person has to fix.

use std::collections::BTreeMap;

use semver::Version;

use crate::error::{Error, Result};
use crate::manifest::yaml_edit;
use crate::manifest::yaml_tree::{self, Node, NodeKind};

/// One component as the product pins it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentPin {
    /// `owner/name` on the forge.
    pub repo: String,
    /// Bare (`1.4.2`); the component's tags carry a prefix (`v1.4.2`).
    pub version: Version,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProductManifest {
    pub components: BTreeMap<String, ComponentPin>,
    pub features: BTreeMap<String, bool>,
}

fn at(source: &str, node: &Node) -> String {
    format!("{source}:{}:{}", node.position.line, node.position.column)
}

fn mapping<'n>(node: &'n Node, source: &str, what: &str) -> Result<&'n [(Node, Node)]> {
    match &node.kind {
        NodeKind::Mapping(pairs) => Ok(pairs),
        _ => Err(Error::input(format!(
            "{}: {what}: expected a mapping, found {}",
            at(source, node),
            node.kind_name()
        ))),
    }
}

fn key<'n>(node: &'n Node, source: &str, what: &str) -> Result<&'n str> {
    node.as_scalar().ok_or_else(|| {
        Error::input(format!(
            "{}: {what}: keys must be plain names, found {}",
            at(source, node),
            node.kind_name()
        ))
    })
}

fn scalar<'n>(node: &'n Node, source: &str, what: &str) -> Result<&'n str> {
    node.as_scalar().ok_or_else(|| {
        Error::input(format!(
            "{}: {what}: expected a single value, found {}",
            at(source, node),
            node.kind_name()
        ))
    })
}

impl ProductManifest {
    /// Parse and check a manifest; `source` names it in messages.
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let stream = yaml_tree::parse(text, source)?;
        let root = match stream.documents.as_slice() {
            [root] => root,
            [] => {
                return Err(Error::input(format!(
                    "{source}: empty; expected `components:`"
                )));
            }
            [_, second, ..] => {
                return Err(Error::input(format!(
                    "{}: a product manifest is one YAML document",
                    at(source, second)
                )));
            }
        };
        let mut manifest = ProductManifest::default();
        let mut saw_components = false;
        for (k, v) in mapping(root, source, "product manifest")? {
            match key(k, source, "product manifest")? {
                "components" => {
                    saw_components = true;
                    for (name, pin) in mapping(v, source, "components")? {
                        let name = key(name, source, "components")?;
                        let pin = parse_pin(pin, source, name)?;
                        if manifest.components.insert(name.to_owned(), pin).is_some() {
                            return Err(Error::input(format!(
                                "{}: component {name} is listed twice",
                                at(source, v)
                            )));
                        }
                    }
                }
                "features" => {
                    for (name, on) in mapping(v, source, "features")? {
                        let name = key(name, source, "features")?;
                        let what = format!("features.{name}");
                        let on = match scalar(on, source, &what)? {
                            "true" | "True" | "TRUE" => true,
                            "false" | "False" | "FALSE" => false,
                            other => {
                                return Err(Error::input(format!(
                                    "{}: {what}: expected true or false, found {other:?}",
                                    at(source, on)
                                )));
                            }
                        };
                        manifest.features.insert(name.to_owned(), on);
                    }
                }
                other => {
                    return Err(Error::input(format!(
                        "{}: unknown key {other:?}; expected components or features",
                        at(source, k)
                    )));
                }
            }
        }
        if !saw_components {
            return Err(Error::input(format!(
                "{}: missing `components:`",
                at(source, root)
            )));
        }
        Ok(manifest)
    }
}

fn parse_pin(node: &Node, source: &str, name: &str) -> Result<ComponentPin> {
    let what = format!("components.{name}");
    let mut repo = None;
    let mut version = None;
    for (k, v) in mapping(node, source, &what)? {
        match key(k, source, &what)? {
            "repo" => {
                let text = scalar(v, source, &format!("{what}.repo"))?;
                let valid = text
                    .split_once('/')
                    .is_some_and(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'));
                if !valid {
                    return Err(Error::input(format!(
                        "{}: {what}.repo: expected owner/name, found {text:?}",
                        at(source, v)
                    )));
                }
                repo = Some(text.to_owned());
            }
            "version" => {
                let text = scalar(v, source, &format!("{what}.version"))?;
                let parsed = Version::parse(text).map_err(|_| {
                    let hint = if text.starts_with('v') {
                        " (versions here are bare; tags carry the prefix)"
                    } else {
                        ""
                    };
                    Error::input(format!(
                        "{}: {what}.version: expected a semver like 1.4.2, found {text:?}{hint}",
                        at(source, v)
                    ))
                })?;
                version = Some(parsed);
            }
            other => {
                return Err(Error::input(format!(
                    "{}: {what}: unknown key {other:?}; expected repo and version",
                    at(source, k)
                )));
            }
        }
    }
    match (repo, version) {
        (Some(repo), Some(version)) => Ok(ComponentPin { repo, version }),
        (None, _) => Err(Error::input(format!(
            "{}: {what}: missing repo",
            at(source, node)
        ))),
        (_, None) => Err(Error::input(format!(
            "{}: {what}: missing version",
            at(source, node)
        ))),
    }
}

/// `text` with one component's pinned version changed, nothing else touched.
pub fn set_component_version(text: &str, component: &str, version: &Version) -> Result<String> {
    let quoted = component.replace('"', "");
    if quoted != component {
        return Err(Error::input(format!(
            "component {component:?}: names cannot contain `\"`"
        )));
    }
    let path = format!("components.\"{component}\".version");
    if yaml_edit::get_scalar(text, &format!("components.\"{component}\""))
        .is_ok_and(|v| v.is_none())
    {
        return Err(Error::input(format!(
            "product manifest: no component {component:?} under components"
        )));
    }
    yaml_edit::set_scalar(text, &path, &version.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "\
# product repo: product.yaml
components:
  payments: {repo: acme/payments, version: 1.4.2}
  checkout:
    repo: acme/checkout   # moved in 2024
    version: \"2.0.1\"
features:                      # feature toggles, on by default once shipped
  new-checkout: true
";

    #[test]
    fn design_example_parses() {
        let m = ProductManifest::parse(MANIFEST, "product.yaml").unwrap();
        assert_eq!(m.components["payments"].repo, "acme/payments");
        assert_eq!(m.components["payments"].version, Version::new(1, 4, 2));
        assert_eq!(m.components["checkout"].version, Version::new(2, 0, 1));
        assert!(m.features["new-checkout"]);
    }

    #[test]
    fn mistakes_name_line_column_and_field() {
        let cases = [
            (
                "components:\n  p: {repo: acme/p, version: v1.0.0}\n",
                "product.yaml:2:30: components.p.version",
                "bare",
            ),
            (
                "components:\n  p: {repo: acme, version: 1.0.0}\n",
                "product.yaml:2:13: components.p.repo",
                "owner/name",
            ),
            (
                "components:\n  p: {repo: a/p}\n",
                "product.yaml:2:6: components.p",
                "missing version",
            ),
            (
                "components: {}\nfeatures: {x: maybe}\n",
                "product.yaml:2:15: features.x",
                "true or false",
            ),
            (
                "features: {}\n",
                "product.yaml:1:1",
                "missing `components:`",
            ),
            (
                "components: {}\nextra: 1\n",
                "product.yaml:2:1",
                "unknown key",
            ),
            (
                "components: [a]\n",
                "product.yaml:1:13: components",
                "expected a mapping",
            ),
        ];
        for (text, place, what) in cases {
            let e = ProductManifest::parse(text, "product.yaml").unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.message().starts_with(place), "{e}");
            assert!(e.message().contains(what), "{e}");
        }
    }

    #[test]
    fn setting_a_component_version_touches_only_that_value() {
        let out = set_component_version(MANIFEST, "checkout", &Version::new(2, 1, 0)).unwrap();
        assert_eq!(out, MANIFEST.replace("\"2.0.1\"", "\"2.1.0\""));
        let out = set_component_version(MANIFEST, "payments", &Version::new(1, 5, 0)).unwrap();
        assert_eq!(out, MANIFEST.replace("version: 1.4.2", "version: 1.5.0"));
        let e = set_component_version(MANIFEST, "ledger", &Version::new(1, 0, 0)).unwrap_err();
        assert!(e.message().contains("no component \"ledger\""), "{e}");
    }
}
