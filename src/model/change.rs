//! `--diff`'s data: the listeners a baseline saved, and what changed since.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use super::{Entry, Proto};

/// A field of a baseline: typed when portwho knows its spelling, else the text as saved,
/// so that a baseline written by hand or by another version is still read and reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Spelled<T> {
    Known(T),
    Unknown(String),
}

impl<T> Spelled<T> {
    /// `text` as `parse` reads it, or kept as it is when `parse` does not.
    pub(crate) fn read(text: String, parse: impl FnOnce(&str) -> Option<T>) -> Spelled<T> {
        match parse(&text) {
            Some(value) => Spelled::Known(value),
            None => Spelled::Unknown(text),
        }
    }
}

/// The value as portwho writes it, or the unknown text as saved (unescaped).
impl<T: fmt::Display> fmt::Display for Spelled<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Spelled::Known(value) => value.fmt(f),
            Spelled::Unknown(text) => f.write_str(text),
        }
    }
}

/// One listener from a baseline file: the contract's JSON object, of which only the fields
/// that identify a listener and its program are read. The object itself is kept, to be
/// echoed in `--diff --json`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Listener {
    pub proto: Spelled<Proto>,
    pub local_addr: Spelled<IpAddr>,
    pub local_port: u16,
    /// Where it lived, by a name that survives a restart: its container's, else its
    /// namespace's `ip netns` name; `None` for the caller's own and unnamed namespaces.
    pub place: Option<String>,
    /// The holders' executables (or names when the executable was not readable).
    pub programs: BTreeSet<String>,
    pub raw: serde_json::Value,
}

/// Where an entry lives, named as `Listener::place` names it.
pub(crate) fn place_name(e: &Entry) -> Option<String> {
    let place = e.place.as_deref()?;
    match (place.container.as_deref(), &place.netns.name) {
        (Some(c), _) => Some(format!("container {}", c.name.as_deref().unwrap_or(&c.id))),
        (None, Some(name)) => Some(format!("netns {name}")),
        (None, None) => None,
    }
}

/// What changed for one listener.
#[derive(Debug)]
pub(crate) enum Change<'a> {
    Added(&'a Entry),
    Removed(&'a Listener),
    /// Another program holds it now. Pids are expected to change across restarts and are
    /// not compared; the executable is.
    Changed {
        before: &'a Listener,
        after: &'a Entry,
    },
}

/// The holders' executables (or names), the identity compared across restarts.
pub(crate) fn programs(e: &Entry) -> BTreeSet<String> {
    e.processes
        .iter()
        .map(|p| p.exe.clone().unwrap_or_else(|| p.name.clone()))
        .collect()
}

/// The programs of a listener, for people.
pub(crate) fn describe(programs: &BTreeSet<String>) -> String {
    if programs.is_empty() {
        "owner unknown".to_string()
    } else {
        programs.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}
