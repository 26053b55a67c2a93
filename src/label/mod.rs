//! Labels for sockets: service names and port ranges.

pub mod services;
mod services_table;
