//! What libproc says about a process's sockets, decoded from the bytes
//! `proc_pidinfo(PROC_PIDLISTFDS)` and `proc_pidfdinfo(PROC_PIDFDSOCKETINFO)` fill in — the
//! data `lsof` reads. Plain Rust over bytes, so it is compiled and tested on every platform,
//! on the hand-made records in `fixtures/macos/`.
//!
//! The layouts are XNU's `bsd/sys/proc_info.h`, as both macOS targets lay them out
//! (little-endian, 8-byte alignment for 64-bit fields):
//!
//! | struct | at | size |
//! |---|---|---|
//! | `proc_fdinfo` { `proc_fd`, `proc_fdtype` } | | 8 |
//! | `socket_fdinfo` { `proc_fileinfo pfi`; `socket_info psi` } | | 792 |
//! | `psi.soi_stat.vst_uid` (the socket's owner) | 40 | 4 |
//! | `psi.soi_so` (opaque handle of the socket) | 160 | 8 |
//! | `psi.soi_type`, `soi_protocol`, `soi_family` | 176, 180, 184 | 4 each |
//! | `psi.soi_kind` (`SOCKINFO_IN` 1, `SOCKINFO_TCP` 2) | 256 | 4 |
//! | `psi.soi_proto.pri_in` (`in_sockinfo`) | 264 | 80 |
//! | … `insi_fport`, `insi_lport` | +0, +4 | 4 each |
//! | … `insi_flags` (`inp_flags`: `IN6P_IPV6_V6ONLY` 0x8000) | +16 | 4 |
//! | … `insi_vflag` (`INI_IPV4` 1, `INI_IPV6` 2) | +24 | 1 |
//! | … `insi_faddr`, `insi_laddr` (`in6_addr`, or `in4in6_addr`: IPv4 in the last 4) | +32, +48 | 16 each |
//! | `psi.soi_proto.pri_tcp.tcpsi_state` (`TSI_S_*`) | 264 + 80 | 4 |
//!
//! Ports are `int`s holding the port in network byte order in their first two bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use crate::model::{Proto, Socket, State, made_key};

/// `sizeof(struct socket_fdinfo)`: what `PROC_PIDFDSOCKETINFO` fills.
pub const SOCKET_FDINFO_SIZE: usize = 792;
/// `sizeof(struct proc_fdinfo)`: one entry of `PROC_PIDLISTFDS`.
pub const PROC_FDINFO_SIZE: usize = 8;

const PROX_FDTYPE_SOCKET: u32 = 2;
const AF_INET: u32 = 2;
const AF_INET6: u32 = 30;
const IPPROTO_TCP: u32 = 6;
const IPPROTO_UDP: u32 = 17;
const SOCKINFO_TCP: u32 = 2;
const INI_IPV6: u8 = 0x2;
const IN6P_IPV6_V6ONLY: u32 = 0x8000;

const PSI: usize = 24;
const UID: usize = PSI + 16;
const SO: usize = PSI + 136;
const PROTOCOL: usize = PSI + 156;
const FAMILY: usize = PSI + 160;
const KIND: usize = PSI + 232;
const IN: usize = PSI + 240;
const TCP_STATE: usize = IN + 80;

/// The fds among a `PROC_PIDLISTFDS` answer that are sockets. A trailing partial entry
/// (the answer is cut to the buffer) is left out.
pub fn socket_fds(list: &[u8]) -> Vec<i32> {
    list.chunks_exact(PROC_FDINFO_SIZE)
        .filter(|entry| word(entry, 4) == Some(PROX_FDTYPE_SOCKET))
        .filter_map(|entry| word(entry, 0).map(|fd| fd as i32))
        .collect()
}

/// What one socket fd is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fd {
    /// A TCP or UDP socket over IPv4 or IPv6; its `inode` is a key made from the kernel's
    /// handle of the socket (`soi_so`), the same in every process that holds it.
    Ip(Socket),
    /// Another kind of socket: Unix, a kernel control or event socket, raw IP, SCTP, …
    Other,
    /// A TCP socket whose state the kernel did not give, or gave as a number this version
    /// does not know; with its key, so that a socket several processes hold is counted
    /// once.
    UnknownState { key: u64 },
}

/// A record too short to be a `socket_fdinfo`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a socket_fdinfo is {SOCKET_FDINFO_SIZE} bytes, not {0}")]
pub struct Malformed(pub usize);

/// Decode one `socket_fdinfo`.
pub fn decode_socket(info: &[u8]) -> Result<Fd, Malformed> {
    if info.len() < SOCKET_FDINFO_SIZE {
        return Err(Malformed(info.len()));
    }
    let field = |at| word(info, at).unwrap_or(0);
    let family = field(FAMILY);
    let proto = match field(PROTOCOL) {
        IPPROTO_TCP => Proto::Tcp,
        IPPROTO_UDP => Proto::Udp,
        _ => return Ok(Fd::Other),
    };
    if family != AF_INET && family != AF_INET6 {
        return Ok(Fd::Other);
    }
    let so = u64::from(field(SO)) | (u64::from(field(SO + 4)) << 32);
    let key = made_key(so);
    let vflag = info[IN + 24];
    let local = address(info, family, vflag, IN + 48, IN + 4);
    let remote = Some(address(info, family, vflag, IN + 32, IN)).filter(|r| {
        // An unconnected socket's peer is the unspecified address and port 0.
        !(r.port() == 0 && r.ip().is_unspecified())
    });
    let state = match (proto, field(KIND)) {
        (Proto::Udp, _) if remote.is_some() => State::Established,
        (Proto::Udp, _) => State::Unconn,
        (Proto::Tcp, SOCKINFO_TCP) => match tcp_state(field(TCP_STATE)) {
            Some(state) => state,
            None => return Ok(Fd::UnknownState { key }),
        },
        // SOCKINFO_IN: the TCP control block is gone (the socket is being torn down).
        (Proto::Tcp, _) => return Ok(Fd::UnknownState { key }),
    };
    Ok(Fd::Ip(Socket {
        proto,
        local,
        remote,
        state,
        uid: Some(field(UID)),
        inode: key,
        v6only: (family == AF_INET6).then_some(field(IN + 16) & IN6P_IPV6_V6ONLY != 0),
        netns: 0,
    }))
}

/// What a walk over processes' socket fds found: each socket once, every pid that holds
/// it, and the sockets in states this version does not know.
#[cfg(any(test, target_os = "macos"))]
#[derive(Debug, Default, Clone)]
pub(crate) struct Holdings {
    pub sockets: Vec<Socket>,
    pub holders: crate::hash::IntMap<u64, Vec<u32>>,
    pub unknown: std::collections::HashSet<u64>,
}

#[cfg(any(test, target_os = "macos"))]
impl Holdings {
    /// One socket fd of `pid`. A socket the query admits is listed once, however many
    /// processes (or fds of one process) hold it; its holders ascend.
    pub(crate) fn add(&mut self, pid: u32, fd: Fd, query: &crate::model::SocketQuery) {
        match fd {
            Fd::Ip(socket) if crate::backend::admits(query, &socket) => {
                let holders = self.holders.entry(socket.inode).or_default();
                if holders.is_empty() {
                    self.sockets.push(socket);
                }
                if let Err(at) = holders.binary_search(&pid) {
                    holders.insert(at, pid);
                }
            }
            Fd::UnknownState { key } => {
                self.unknown.insert(key);
            }
            Fd::Ip(_) | Fd::Other => {}
        }
    }
}

/// `TSI_S_*`: XNU numbers TCP's states in RFC 793's order from CLOSED 0.
fn tcp_state(code: u32) -> Option<State> {
    Some(match code {
        0 => State::Close,
        1 => State::Listen,
        2 => State::SynSent,
        3 => State::SynRecv,
        4 => State::Established,
        5 => State::CloseWait,
        6 => State::FinWait1,
        7 => State::Closing,
        8 => State::LastAck,
        9 => State::FinWait2,
        10 => State::TimeWait,
        _ => return None,
    })
}

/// An address of a socket of `family`. An `AF_INET6` socket that carries IPv4 (its vflag
/// lacks `INI_IPV6`: it was connected or bound to an IPv4-mapped address) holds the IPv4
/// address in the union's last four bytes; it is shown mapped, as Linux shows it. A
/// link-local IPv6 address carries its interface's index in its second 16-bit word (KAME's
/// embedded scope, as XNU keeps it); it becomes the scope id.
fn address(info: &[u8], family: u32, vflag: u8, addr_at: usize, port_at: usize) -> SocketAddr {
    let port = u16::from_be_bytes([info[port_at], info[port_at + 1]]);
    let mut sixteen = [0u8; 16];
    sixteen.copy_from_slice(&info[addr_at..addr_at + 16]);
    let mut four = [0u8; 4];
    four.copy_from_slice(&sixteen[12..]);
    let v4 = Ipv4Addr::from(four);
    if family == AF_INET {
        return SocketAddr::new(IpAddr::V4(v4), port);
    }
    if vflag & INI_IPV6 == 0 {
        return SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), port);
    }
    let embeds_scope = (sixteen[0] == 0xfe && sixteen[1] & 0xc0 == 0x80)
        || (sixteen[0] == 0xff && matches!(sixteen[1] & 0x0f, 1 | 2));
    let mut scope = 0;
    if embeds_scope {
        scope = u32::from(u16::from_be_bytes([sixteen[2], sixteen[3]]));
        sixteen[2] = 0;
        sixteen[3] = 0;
    }
    SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(sixteen), port, 0, scope))
}

fn word(bytes: &[u8], at: usize) -> Option<u32> {
    let four = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(four.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/fixtures/macos/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn ip(name: &str) -> Socket {
        match decode_socket(&fixture(name)) {
            Ok(Fd::Ip(socket)) => socket,
            other => panic!("{name}: {other:?}"),
        }
    }

    fn line(s: &Socket) -> String {
        let remote = s.remote.map_or("*".to_string(), |r| r.to_string());
        format!(
            "{} {} {remote} {} uid={:?} v6only={:?}",
            s.proto.as_str(),
            s.local,
            s.state.as_str(),
            s.uid,
            s.v6only
        )
    }

    #[test]
    fn tcp_sockets() {
        let cases = [
            (
                "tcp4-listen.bin",
                "tcp 127.0.0.1:8080 * LISTEN uid=Some(501) v6only=None",
            ),
            (
                "tcp6-dual-stack-listen.bin",
                "tcp [::]:5432 * LISTEN uid=Some(0) v6only=Some(false)",
            ),
            (
                "tcp6-established.bin",
                "tcp [::1]:8080 [::1]:50000 ESTABLISHED uid=Some(501) v6only=Some(true)",
            ),
            (
                "tcp6-mapped-established.bin",
                "tcp [::ffff:127.0.0.1]:50001 [::ffff:127.0.0.1]:8080 ESTABLISHED uid=Some(501) v6only=Some(false)",
            ),
            (
                "tcp4-time-wait.bin",
                "tcp 127.0.0.1:8080 127.0.0.1:49999 TIME_WAIT uid=Some(501) v6only=None",
            ),
        ];
        for (name, expected) in cases {
            assert_eq!(line(&ip(name)), expected, "{name}");
        }
    }

    #[test]
    fn udp_sockets() {
        assert_eq!(
            line(&ip("udp4-unconnected.bin")),
            "udp 0.0.0.0:5353 * UNCONN uid=Some(65) v6only=None"
        );
        assert_eq!(
            line(&ip("udp6-connected.bin")),
            "udp [fe80::1%4]:546 [fe80::2%4]:547 ESTABLISHED uid=Some(0) v6only=Some(true)"
        );
    }

    #[test]
    fn the_key_is_the_kernels_handle_of_the_socket() {
        let listener = ip("tcp4-listen.bin");
        assert_eq!(listener.inode, made_key(0xffff_ff80_1234_5678));
        assert_eq!(listener.inode_known(), None, "JSON shows no inode");
        assert_ne!(ip("tcp6-established.bin").inode, listener.inode);
    }

    #[test]
    fn other_sockets_and_unknown_states() {
        assert_eq!(decode_socket(&fixture("unix.bin")), Ok(Fd::Other));
        assert_eq!(decode_socket(&fixture("icmp.bin")), Ok(Fd::Other));
        assert_eq!(
            decode_socket(&fixture("tcp4-no-tcpcb.bin")),
            Ok(Fd::UnknownState {
                key: made_key(0xffff_ff80_1234_c000)
            }),
            "a TCP socket reported as SOCKINFO_IN has no state"
        );
        let mut bad_state = fixture("tcp4-listen.bin");
        bad_state[TCP_STATE] = 11;
        assert_eq!(
            decode_socket(&bad_state),
            Ok(Fd::UnknownState {
                key: made_key(0xffff_ff80_1234_5678)
            })
        );
    }

    #[test]
    fn a_socket_held_by_several_processes_is_listed_once_with_each() {
        let query = crate::model::SocketQuery::default();
        let mut found = Holdings::default();
        // A forked server: parent 700 and child 702 share the listener; 702 also holds a
        // connection; 701 a UDP socket, twice (dup'd), and a Unix socket.
        for (pid, name) in [
            (702, "tcp4-listen.bin"),
            (700, "tcp4-listen.bin"),
            (702, "tcp6-established.bin"),
            (701, "udp4-unconnected.bin"),
            (701, "udp4-unconnected.bin"),
            (701, "unix.bin"),
            (700, "tcp4-no-tcpcb.bin"),
            (702, "tcp4-no-tcpcb.bin"),
        ] {
            found.add(pid, decode_socket(&fixture(name)).unwrap(), &query);
        }
        let ports: Vec<u16> = found.sockets.iter().map(|s| s.local.port()).collect();
        assert_eq!(
            ports,
            [8080, 8080, 5353],
            "the listener, the connection, UDP"
        );
        let holders = |s: &Socket| found.holders[&s.inode].clone();
        assert_eq!(holders(&found.sockets[0]), [700, 702]);
        assert_eq!(holders(&found.sockets[1]), [702]);
        assert_eq!(holders(&found.sockets[2]), [701]);
        assert_eq!(found.unknown.len(), 1, "one socket, held twice");

        let listening = crate::model::SocketQuery {
            listening_only: true,
            ..query
        };
        let mut listeners = Holdings::default();
        listeners.add(
            1,
            decode_socket(&fixture("tcp6-established.bin")).unwrap(),
            &listening,
        );
        assert!(listeners.sockets.is_empty() && listeners.holders.is_empty());
    }

    #[test]
    fn short_records_are_refused() {
        let whole = fixture("tcp4-listen.bin");
        assert_eq!(whole.len(), SOCKET_FDINFO_SIZE);
        for len in [0, 1, 263, 344, SOCKET_FDINFO_SIZE - 1] {
            assert_eq!(decode_socket(&whole[..len]), Err(Malformed(len)));
        }
        // Longer is fine: the record is read from the front.
        let mut longer = whole.clone();
        longer.extend([0xff; 8]);
        assert_eq!(decode_socket(&longer), decode_socket(&whole));
    }

    #[test]
    fn socket_fds_from_the_fd_list() {
        // fds 0-2 vnodes, 3 a socket, 4 a pipe, 5 a kqueue, 7 and 9 sockets, and half an
        // entry at the end.
        assert_eq!(socket_fds(&fixture("fds.bin")), [3, 7, 9]);
        assert!(socket_fds(&[]).is_empty());
        assert!(socket_fds(&[3, 0, 0]).is_empty());
    }
}
