//! The data portwho talks about: sockets, the processes that hold them, and their labels.

mod change;
mod container;
mod entry;
mod exposure;
mod finding;
mod host;
mod process;
mod socket;

mod scan;
#[cfg(test)]
pub mod testing;
mod warning;

pub use scan::{Detail, Owners, ProcessDetails, ScanStats, SocketQuery};
pub use warning::Warning;

pub use change::{Change, Listener, Spelled, describe, programs};
pub use container::{Container, ProxyTarget, Runtime};
pub use entry::{Category, Entry};
pub use exposure::Exposure;
pub(crate) use exposure::canonical;
pub use finding::{Finding, Severity};
pub use host::Host;
pub use process::{Ancestor, Manager, Process};
pub use socket::{Family, Proto, Socket, State};
