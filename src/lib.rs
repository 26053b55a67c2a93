//! portwho: who is listening on this port, what holds it, and what this host exposes.

pub mod backend;
pub mod error;
pub mod label;
pub mod model;
pub mod target;
