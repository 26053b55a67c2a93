//! The rows of Windows's TCP and UDP tables with their owner pids, decoded from the bytes
//! `GetExtendedTcpTable` and `GetExtendedUdpTable` fill in (`TCP_TABLE_OWNER_PID_*`,
//! `UDP_TABLE_OWNER_PID`). Plain Rust over bytes, so it is compiled and tested on every
//! platform, on the hand-made tables in `fixtures/windows/`.
//!
//! The layouts (iphlpapi's `tcpmib.h` and `udpmib.h`): a table is a `DWORD dwNumEntries`
//! followed by that many rows, every field a `DWORD` (little-endian: Windows runs only on
//! little-endian machines) or a byte array.
//!
//! | row | fields | bytes |
//! |---|---|---|
//! | `MIB_TCPROW_OWNER_PID` | state, local addr, local port, remote addr, remote port, pid | 24 |
//! | `MIB_TCP6ROW_OWNER_PID` | local addr\[16\], local scope, local port, remote addr\[16\], remote scope, remote port, state, pid | 56 |
//! | `MIB_UDPROW_OWNER_PID` | local addr, local port, pid | 12 |
//! | `MIB_UDP6ROW_OWNER_PID` | local addr\[16\], local scope, local port, pid | 28 |
//!
//! Addresses are in network byte order. A port is a `DWORD` whose first two bytes hold
//! the port in network byte order; Microsoft documents the upper two as possibly
//! uninitialized, so they are ignored.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

#[cfg(any(test, windows))]
use crate::model::Owners;
use crate::model::{Family, Proto, Socket, State, made_key};

/// One of the four tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Tcp4,
    Tcp6,
    Udp4,
    Udp6,
}

impl Table {
    pub const ALL: [Table; 4] = [Table::Tcp4, Table::Tcp6, Table::Udp4, Table::Udp6];

    pub fn proto(self) -> Proto {
        match self {
            Table::Tcp4 | Table::Tcp6 => Proto::Tcp,
            Table::Udp4 | Table::Udp6 => Proto::Udp,
        }
    }

    pub fn family(self) -> Family {
        match self {
            Table::Tcp4 | Table::Udp4 => Family::Ipv4,
            Table::Tcp6 | Table::Udp6 => Family::Ipv6,
        }
    }

    /// The size of one row.
    pub fn row_len(self) -> usize {
        match self {
            Table::Tcp4 => 24,
            Table::Tcp6 => 56,
            Table::Udp4 => 12,
            Table::Udp6 => 28,
        }
    }

    /// The row type's name in Microsoft's documentation.
    pub fn row_name(self) -> &'static str {
        match self {
            Table::Tcp4 => "MIB_TCPROW_OWNER_PID",
            Table::Tcp6 => "MIB_TCP6ROW_OWNER_PID",
            Table::Udp4 => "MIB_UDPROW_OWNER_PID",
            Table::Udp6 => "MIB_UDP6ROW_OWNER_PID",
        }
    }
}

/// One socket and the process that owns it (pid 0: none, as for TIME_WAIT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub socket: Socket,
    pub pid: u32,
}

/// A table's rows, and how many were skipped for a state this version does not know.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub rows: Vec<Row>,
    pub unknown_states: usize,
}

/// A buffer that is not a table of the kind asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a table of {row} rows of {len} bytes cannot hold the {count} rows its header counts")]
pub struct Malformed {
    pub row: &'static str,
    pub len: usize,
    pub count: u64,
}

/// Decode a whole table as the API returned it.
///
/// Every socket gets a key ([`made_key`]) from what tells it apart in the table — protocol,
/// addresses and ports, owner — so that a later read finds the same socket under the same
/// key: `--kill` checks that a process still holds what it planned to signal that way.
/// Rows alike in all of these (two sockets of one process on one port, `SO_REUSEADDR`) are
/// told apart by their order.
pub fn decode(table: Table, bytes: &[u8]) -> Result<Decoded, Malformed> {
    let malformed = |count| Malformed {
        row: table.row_name(),
        len: bytes.len(),
        count,
    };
    let count = dword(bytes, 0).ok_or_else(|| malformed(0))?;
    let rows = bytes.get(4..).unwrap_or_default();
    let wanted = usize::try_from(count)
        .ok()
        .and_then(|n| n.checked_mul(table.row_len()))
        .filter(|&need| need <= rows.len())
        .ok_or_else(|| malformed(u64::from(count)))?;
    let mut decoded = Decoded::default();
    let mut seen: HashMap<u64, u64> = HashMap::new();
    for raw in rows[..wanted].chunks_exact(table.row_len()) {
        let Some(mut row) = decode_row(table, raw) else {
            decoded.unknown_states += 1;
            continue;
        };
        let identity = identity(&row);
        let nth = seen.entry(identity).or_default();
        row.socket.inode = made_key(fnv1a(&[identity, *nth]));
        *nth += 1;
        decoded.rows.push(row);
    }
    Ok(decoded)
}

/// One row; `None` for a TCP state this version does not know.
fn decode_row(table: Table, raw: &[u8]) -> Option<Row> {
    let field = |at| dword(raw, at).unwrap_or(0);
    let (local, remote, state, pid) = match table {
        Table::Tcp4 => (
            v4(raw, 4, 8),
            Some(v4(raw, 12, 16)),
            tcp_state(field(0))?,
            field(20),
        ),
        Table::Tcp6 => (
            v6(raw, 0, 16, 20),
            Some(v6(raw, 24, 40, 44)),
            tcp_state(field(48))?,
            field(52),
        ),
        Table::Udp4 => (v4(raw, 0, 4), None, State::Unconn, field(8)),
        Table::Udp6 => (v6(raw, 0, 16, 20), None, State::Unconn, field(24)),
    };
    // A listener's peer is the unspecified address and port 0: no peer.
    let remote = remote.filter(|r| !(r.port() == 0 && r.ip().is_unspecified()));
    Some(Row {
        socket: Socket {
            proto: table.proto(),
            local,
            remote,
            state,
            // Windows records no owner uid and no inode; v6only is not in the table.
            uid: None,
            inode: 0,
            v6only: None,
            netns: 0,
        },
        pid,
    })
}

/// Who holds the wanted sockets, as the tables name them: one owner a row. Pid 0 is no
/// process (a socket in TIME_WAIT; wine names no owner at all).
#[cfg(any(test, windows))]
pub(crate) fn owners(rows: &[Row], wanted: &std::collections::HashSet<u64>) -> Owners {
    let mut owners = Owners::default();
    let mut pids = std::collections::HashSet::new();
    for row in rows {
        if row.pid != 0 && wanted.contains(&row.socket.inode) {
            let holders = owners.by_inode.entry(row.socket.inode).or_default();
            if !holders.contains(&row.pid) {
                holders.push(row.pid);
            }
            pids.insert(row.pid);
        }
    }
    owners.stats.processes = pids.len();
    owners
}

/// `MIB_TCP_STATE`: 1 CLOSED … 12 DELETE_TCB (a connection being torn down).
fn tcp_state(code: u32) -> Option<State> {
    Some(match code {
        1 | 12 => State::Close,
        2 => State::Listen,
        3 => State::SynSent,
        4 => State::SynRecv,
        5 => State::Established,
        6 => State::FinWait1,
        7 => State::FinWait2,
        8 => State::CloseWait,
        9 => State::Closing,
        10 => State::LastAck,
        11 => State::TimeWait,
        _ => return None,
    })
}

fn dword(bytes: &[u8], at: usize) -> Option<u32> {
    let four = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(four.try_into().ok()?))
}

/// The port in the first two bytes of its `DWORD`, in network byte order.
fn port(raw: &[u8], at: usize) -> u16 {
    raw.get(at..at + 2)
        .map_or(0, |two| u16::from_be_bytes([two[0], two[1]]))
}

/// An IPv4 address (network byte order) and the port at `port_at`.
fn v4(raw: &[u8], addr_at: usize, port_at: usize) -> SocketAddr {
    let mut octets = [0u8; 4];
    if let Some(four) = raw.get(addr_at..addr_at + 4) {
        octets.copy_from_slice(four);
    }
    SocketAddr::new(IpAddr::V4(Ipv4Addr::from(octets)), port(raw, port_at))
}

/// An IPv6 address, its scope id and the port. The scope id is kept for link-local
/// addresses only, where it names the interface (`fe80::1%7`); on others it means nothing
/// to a reader (wine gives `::1` a scope id of 4096).
fn v6(raw: &[u8], addr_at: usize, scope_at: usize, port_at: usize) -> SocketAddr {
    let mut octets = [0u8; 16];
    if let Some(sixteen) = raw.get(addr_at..addr_at + 16) {
        octets.copy_from_slice(sixteen);
    }
    let ip = Ipv6Addr::from(octets);
    let scope = match ip.is_unicast_link_local() {
        true => dword(raw, scope_at).unwrap_or(0),
        false => 0,
    };
    SocketAddr::V6(SocketAddrV6::new(ip, port(raw, port_at), 0, scope))
}

/// What tells a row apart: protocol, local and remote address and port, owner.
fn identity(row: &Row) -> u64 {
    let s = &row.socket;
    let mut words = vec![
        s.proto as u64,
        u64::from(s.local.port()),
        u64::from(row.pid),
        s.remote.map_or(0, |r| u64::from(r.port()) + 1),
    ];
    for ip in std::iter::once(s.local.ip()).chain(s.remote.map(|r| r.ip())) {
        let v6 = match ip {
            IpAddr::V4(ip) => ip.to_ipv6_mapped(),
            IpAddr::V6(ip) => ip,
        };
        let bits = v6.to_bits();
        words.extend([(bits >> 64) as u64, bits as u64]);
    }
    fnv1a(&words)
}

/// FNV-1a over the words' bytes: stable from run to run, unlike std's hasher.
fn fnv1a(words: &[u64]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in words.iter().flat_map(|w| w.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/fixtures/windows/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// `proto local remote state pid`, as the tests below spell what a table holds.
    fn lines(decoded: &Decoded) -> Vec<String> {
        decoded
            .rows
            .iter()
            .map(|r| {
                let s = &r.socket;
                let remote = s.remote.map_or("*".to_string(), |r| r.to_string());
                format!(
                    "{} {} {remote} {} {}",
                    s.proto.as_str(),
                    s.local,
                    s.state.as_str(),
                    r.pid
                )
            })
            .collect()
    }

    #[test]
    fn tcp4_rows() {
        let decoded = decode(Table::Tcp4, &fixture("tcp4.bin")).unwrap();
        assert_eq!(
            lines(&decoded),
            [
                "tcp 0.0.0.0:135 * LISTEN 1020",
                "tcp 0.0.0.0:445 * LISTEN 4",
                "tcp 127.0.0.1:8080 * LISTEN 4242",
                "tcp 127.0.0.1:8080 127.0.0.1:50000 ESTABLISHED 4242",
                "tcp 127.0.0.1:50000 127.0.0.1:8080 ESTABLISHED 5150",
                "tcp 127.0.0.1:8080 127.0.0.1:49999 TIME_WAIT 0",
                "tcp 192.168.1.20:49712 93.184.216.34:443 CLOSE_WAIT 5150",
                "tcp 10.0.0.5:3389 10.0.0.9:61000 CLOSE 1100",
            ]
        );
        assert_eq!(decoded.unknown_states, 1, "state 13 is no MIB_TCP_STATE");
        // The port's upper, uninitialized bytes (0xDEAD in the fixture's 445 row) are not
        // part of it.
        assert!(decoded.rows.iter().all(|r| r.socket.uid.is_none()));
    }

    #[test]
    fn tcp6_rows_keep_scope_ids() {
        let decoded = decode(Table::Tcp6, &fixture("tcp6.bin")).unwrap();
        assert_eq!(
            lines(&decoded),
            [
                "tcp [::]:135 * LISTEN 1020",
                "tcp [::1]:5432 * LISTEN 3300",
                "tcp [fe80::1%7]:5432 [fe80::2%7]:51000 ESTABLISHED 3300",
                "tcp [2001:db8::5]:443 [2001:db8::9]:62000 SYN_RECV 880",
            ]
        );
        assert_eq!(decoded.unknown_states, 0);
        assert!(decoded.rows.iter().all(|r| r.socket.v6only.is_none()));
    }

    #[test]
    fn udp_rows_are_unconnected() {
        let decoded = decode(Table::Udp4, &fixture("udp4.bin")).unwrap();
        assert_eq!(
            lines(&decoded),
            [
                "udp 0.0.0.0:5353 * UNCONN 2200",
                "udp 127.0.0.1:53 * UNCONN 3300",
                "udp 0.0.0.0:5353 * UNCONN 2200",
            ]
        );
        let decoded = decode(Table::Udp6, &fixture("udp6.bin")).unwrap();
        assert_eq!(
            lines(&decoded),
            [
                "udp [::]:5353 * UNCONN 2200",
                "udp [fe80::abcd%12]:546 * UNCONN 1400",
            ]
        );
    }

    #[test]
    fn keys_are_made_stable_and_distinct() {
        let bytes = fixture("udp4.bin");
        let first = decode(Table::Udp4, &bytes).unwrap();
        let again = decode(Table::Udp4, &bytes).unwrap();
        let keys: Vec<u64> = first.rows.iter().map(|r| r.socket.inode).collect();
        assert_eq!(
            keys,
            again
                .rows
                .iter()
                .map(|r| r.socket.inode)
                .collect::<Vec<_>>()
        );
        // Rows 0 and 2 are alike (one process bound 5353 twice): still two sockets.
        assert_ne!(keys[0], keys[2]);
        for row in &first.rows {
            assert_ne!(row.socket.inode, 0);
            assert_eq!(row.socket.inode_known(), None, "JSON shows no inode");
        }
        // The same socket in another state (a later read) keeps its key.
        let tcp = decode(Table::Tcp4, &fixture("tcp4.bin")).unwrap();
        let mut moved = fixture("tcp4.bin");
        // Row 3 (127.0.0.1:8080 ↔ :50000) from ESTABLISHED (5) to CLOSE_WAIT (8).
        moved[4 + 3 * 24] = 8;
        let later = decode(Table::Tcp4, &moved).unwrap();
        assert_eq!(later.rows[3].socket.state, State::CloseWait);
        assert_eq!(later.rows[3].socket.inode, tcp.rows[3].socket.inode);
    }

    #[test]
    fn owners_are_the_rows_pids_and_pid_0_is_none() {
        let mut rows = decode(Table::Tcp4, &fixture("tcp4.bin")).unwrap().rows;
        rows.extend(decode(Table::Udp6, &fixture("udp6.bin")).unwrap().rows);
        let key = |port: u16, state: State| {
            rows.iter()
                .find(|r| r.socket.local.port() == port && r.socket.state == state)
                .map(|r| r.socket.inode)
                .unwrap()
        };
        let listener = key(8080, State::Listen);
        let waiting = key(8080, State::TimeWait);
        let smb = key(445, State::Listen);
        let dhcp = key(546, State::Unconn);
        let wanted = std::collections::HashSet::from([listener, waiting, smb, dhcp]);
        let owners = owners(&rows, &wanted);
        assert_eq!(owners.by_inode.get(&listener), Some(&vec![4242]));
        assert_eq!(
            owners.by_inode.get(&smb),
            Some(&vec![4]),
            "the System process"
        );
        assert_eq!(owners.by_inode.get(&dhcp), Some(&vec![1400]));
        assert_eq!(owners.by_inode.get(&waiting), None, "pid 0 holds nothing");
        assert_eq!(owners.by_inode.len(), 3, "only what was asked for");
        assert_eq!(owners.stats.processes, 3);
        assert!(
            !owners.stats.someone_hidden(),
            "the table names every owner"
        );
    }

    #[test]
    fn malformed_tables_are_refused_whole() {
        for name in ["empty.bin", "short-header.bin", "truncated.bin"] {
            let bytes = fixture(name);
            for table in Table::ALL {
                let e = decode(table, &bytes).unwrap_err();
                assert_eq!(e.len, bytes.len(), "{name}");
                assert!(e.to_string().contains(table.row_name()), "{e}");
            }
        }
        // A count that overflows the size computation.
        let huge = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert_eq!(
            decode(Table::Tcp6, &huge).unwrap_err().count,
            u64::from(u32::MAX)
        );
        // An empty table is a table.
        let none = decode(Table::Tcp4, &[0, 0, 0, 0]).unwrap();
        assert!(none.rows.is_empty());
    }

    #[test]
    fn bytes_past_the_counted_rows_are_ignored() {
        // The API's buffer is often larger than the table it holds.
        let mut bytes = fixture("udp6.bin");
        bytes.extend([0xAB; 100]);
        assert_eq!(decode(Table::Udp6, &bytes).unwrap().rows.len(), 2);
    }
}
