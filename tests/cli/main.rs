//! Integration tests: the real binary against live loopback sockets, fixtures and bad input.

// Panicking on an unexpected value is how a test fails.
#![allow(clippy::unwrap_used)]
// Tests start helper processes and write scratch files; portwho itself does neither
// (clippy.toml).
#![allow(clippy::disallowed_methods)]

mod actions;
mod architecture;
mod audit;
mod common;
mod completion;
mod containers;
mod diagnosis;
mod dockerd;
mod docs;
mod errors;
mod firewall;
mod fixtures;
mod fleet;
mod live;
mod netns;
mod output;
mod privilege;
mod races;
mod scale;
mod terminal;
