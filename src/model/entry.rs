//! One row of output: a socket joined with its holders and its labels.

use serde::Serialize;

use super::{Exposure, Finding, Firewall, Forward, Place, Process, Published, Socket};

/// IANA range of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub(crate) enum Category {
    #[serde(rename = "well-known")]
    WellKnown,
    #[serde(rename = "registered")]
    Registered,
    #[serde(rename = "dynamic")]
    Dynamic,
}

impl Category {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Category::WellKnown => "well-known",
            Category::Registered => "registered",
            Category::Dynamic => "dynamic",
        }
    }
}

/// A socket joined with its holders and labelled: one row of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub socket: Socket,
    /// Shared: the details of one process are read once, however many sockets it holds.
    pub processes: Vec<std::sync::Arc<Process>>,
    /// No holder is visible and some processes could not be read: the owner may be hidden.
    pub owners_hidden: bool,
    /// User name of the socket's uid, when it resolves; shared by every socket of that uid.
    pub socket_user: Option<std::sync::Arc<str>>,
    pub service: Option<&'static str>,
    pub category: Category,
    pub ephemeral: bool,
    pub exposure: Exposure,
    /// The interface of a socket bound to one specific address.
    pub interface: Option<String>,
    /// Audit findings, most severe first (listening sockets only).
    pub findings: Vec<Finding>,
    /// Its network namespace and that namespace's container, when known.
    pub place: Option<std::sync::Arc<Place>>,
    /// For a listener inside a container: the host ports that reach it.
    pub published: Vec<Published>,
    /// For a host socket that hands its traffic on: where it goes and who answers there.
    pub forward: Option<Forward>,
    /// For a listener not bound to loopback: what the firewall does with a new connection
    /// from another host.
    pub firewall: Option<Firewall>,
}
