//! (being written)

pub mod history;
