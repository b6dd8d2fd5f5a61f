//! (being written)

pub mod gates;
pub mod http;
pub mod stability;
