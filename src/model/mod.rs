//! The data portwho talks about: sockets, the processes that hold them, and their labels.

mod entry;
mod exposure;
mod finding;
mod host;
mod process;
mod socket;

#[cfg(test)]
pub mod testing;

pub use entry::{Category, Entry};
pub use exposure::Exposure;
pub(crate) use exposure::canonical;
pub use finding::{Finding, Severity};
pub use host::Host;
pub use process::{Ancestor, Container, Manager, Process, ProxyTarget};
pub use socket::{Family, Proto, Socket, State};
