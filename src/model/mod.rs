//! The data portwho talks about: sockets, the processes that hold them, and their labels.

mod change;
mod container;
mod entry;
mod exposure;
mod finding;
mod firewall;
mod host;
mod netns;
mod process;
mod socket;

mod scan;
#[cfg(test)]
pub(crate) mod testing;
mod warning;

pub(crate) use scan::{Detail, Owners, ProcessDetails, ScanStats, SocketQuery};
pub(crate) use warning::Warning;

pub(crate) use change::{Change, Listener, Spelled, describe, place_name, programs};
pub use container::Runtime;
pub use container::{Container, ProxyTarget};
pub(crate) use entry::{Category, Entry};
pub(crate) use exposure::Exposure;
pub(crate) use exposure::canonical;
pub(crate) use finding::{Finding, Severity};
pub use firewall::{
    CmpOp, Expr, Hook, Immediate, NatKind, NfChain, NfFamily, NfRule, NfSet, NfSetElement, NfTable,
    PayloadBase, Ruleset, Verdict,
};
pub(crate) use firewall::{Firewall, FirewallVerdict, NoRuleset, RuleForward, RuleRef};
pub(crate) use host::Host;
pub use netns::{ContainerState, PortBinding};
pub(crate) use netns::{
    Containers, Forward, Namespace, NamespaceList, Netns, NetnsChoice, NotEntered, Place,
    PortForward, Published, Via,
};
pub use process::Manager;
pub(crate) use process::{Ancestor, Process};
pub use socket::{Family, Proto};
pub(crate) use socket::{Socket, State, made_key};
