//! The host's rules for binding: ephemeral and reserved ranges, privileged ports.

/// Facts about this host that decide whether a port can be bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Host {
    /// The range the kernel picks client ports from (`ip_local_port_range`).
    pub ephemeral: std::ops::RangeInclusive<u16>,
    /// Ports the kernel never picks as client ports (`ip_local_reserved_ports`).
    pub reserved: Vec<std::ops::RangeInclusive<u16>>,
    /// Ports below this need privilege (`ip_unprivileged_port_start`).
    pub unprivileged_port_start: u16,
    /// This process is root or has CAP_NET_BIND_SERVICE.
    pub may_bind_privileged: bool,
}

impl Default for Host {
    /// Linux's defaults.
    fn default() -> Self {
        Host {
            ephemeral: 32768..=60999,
            reserved: Vec::new(),
            unprivileged_port_start: 1024,
            may_bind_privileged: false,
        }
    }
}
