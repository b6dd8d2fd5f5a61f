//! Manifests: the product's `product.yaml` and the format-keeping YAML edit
//! used on it and on landscape files.

pub mod product;
pub mod yaml_edit;
pub mod yaml_tree;
