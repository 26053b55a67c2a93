//! The Linux backend.

pub mod netlink;
