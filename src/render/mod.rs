//! Rendering finished entries: one trait, one module per format.

pub mod audit;
pub mod card;
pub mod escape;
pub mod json;
pub mod table;
pub mod time;

use std::io::{self, Write};
use std::net::SocketAddr;

use crate::model::Entry;

/// A way of writing entries out.
pub trait Render {
    fn render(&self, entries: &[Entry], out: &mut dyn Write) -> io::Result<()>;
}

/// `127.0.0.1:80`, `[::1]:80`.
pub fn format_addr(addr: SocketAddr) -> String {
    addr.to_string()
}
