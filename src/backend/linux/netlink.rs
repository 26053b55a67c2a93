//! Socket tables from the kernel's NETLINK_SOCK_DIAG interface, the one `ss` uses.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::io::Errno;
use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::sockopt::{self, Timeout};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

use crate::model::SocketQuery;
use crate::model::{Family, Proto, Socket, State};

// Wire constants from <linux/netlink.h>, <linux/sock_diag.h> and <linux/inet_diag.h>.
const NLMSG_HDRLEN: usize = 16;
const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// The request older than SOCK_DIAG_BY_FAMILY. Still served, and the only one that dumps
/// TCP over IPv4 and IPv6 in a single walk of the kernel's hash tables.
const TCPDIAG_GETSOCK: u16 = 18;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP_INTR: u16 = 0x10;
const NLM_F_DUMP: u16 = 0x300;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const INET_DIAG_REQ_V2_LEN: usize = 56;
/// The legacy `struct inet_diag_req` of TCPDIAG_GETSOCK.
const INET_DIAG_REQ_LEN: usize = 60;
const INET_DIAG_MSG_LEN: usize = 72;
const INET_DIAG_REQ_BYTECODE: u16 = 1;
/// Reply attribute the kernel adds to every AF_INET6 socket: IPV6_V6ONLY as one byte.
const INET_DIAG_SKV6ONLY: u16 = 11;
const INET_DIAG_BC_JMP: u8 = 1;
const INET_DIAG_BC_S_GE: u8 = 2;
const INET_DIAG_BC_S_LE: u8 = 3;
const TCP_CLOSE: u8 = 7;
const TCP_LISTEN: u8 = 10;
/// Every state from TCP_ESTABLISHED (1) to TCP_NEW_SYN_RECV (12).
const ALL_STATES: u32 = 0x1ffe;

/// Above this many port ranges the filter program grows past what is worth sending;
/// the caller filters exactly anyway, so the kernel then dumps every port.
pub(crate) const MAX_RANGES: usize = 32;

/// The kernel caps one dump datagram at a little under 32 KiB, so this never truncates.
const RECV_BUFFER: usize = 32 * 1024;

/// A kernel that stops answering must not hang the caller, who can still read `/proc`.
const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a netlink dump failed; the caller then reads `/proc/net` instead.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("cannot open a NETLINK_SOCK_DIAG socket: {0}")]
    Open(#[source] io::Error),
    #[error(
        "the kernel refused the {} {} socket dump: {}",
        .proto.as_str(),
        family_name(*.family),
        io::Error::from_raw_os_error(*.errno)
    )]
    Kernel {
        proto: Proto,
        family: Option<Family>,
        errno: i32,
    },
    #[error("malformed sock_diag reply: {0}")]
    Malformed(&'static str),
    #[error("no sock_diag reply from the kernel within {0:?}")]
    Timeout(Duration),
    #[error("sock_diag {op} failed: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: io::Error,
    },
}

/// One dump the kernel answers: a protocol in one address family, or (`family: None`)
/// TCP in both at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub proto: Proto,
    pub family: Option<Family>,
}

/// What one received datagram contributed to a dump.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// NLMSG_DONE was seen: the dump is complete.
    pub done: bool,
    /// Sockets left out because their state number is not one the model knows.
    pub skipped: usize,
}

/// The sockets of a whole dump, and how many had to be left out.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Dump {
    pub sockets: Vec<Socket>,
    pub skipped: usize,
}

/// Read the sockets `query` asks for, asking the kernel to filter by state and port.
#[cfg(test)]
pub(crate) fn dump(query: &SocketQuery) -> Result<Vec<Socket>, NetlinkError> {
    dump_counted(query).map(|dump| dump.sockets)
}

/// Like [`dump`], and also say how many sockets had an unknown state.
///
/// Sockets come TCP before UDP and IPv4 before IPv6 within each, as four separate
/// dumps would give them.
pub(crate) fn dump_counted(query: &SocketQuery) -> Result<Dump, NetlinkError> {
    let tables = tables(query);
    if tables.is_empty() {
        return Ok(Dump::default());
    }
    let mut link = Link {
        fd: open()?,
        buf: vec![0; RECV_BUFFER],
        seq: 0,
    };
    dump_tables(&mut link, &tables, query)
}

/// Ask `kernel` for each of `tables` in turn.
fn dump_tables(
    kernel: &mut impl Dumper,
    tables: &[Table],
    query: &SocketQuery,
) -> Result<Dump, NetlinkError> {
    let mut dump = Dump::default();
    for &table in tables {
        let before = (dump.sockets.len(), dump.skipped);
        match kernel.dump(table, query, &mut dump) {
            Ok(()) => {}
            // A kernel that refuses the legacy request still answers each family alone.
            Err(NetlinkError::Kernel { .. }) if table.family.is_none() => {
                dump.sockets.truncate(before.0);
                dump.skipped = before.1;
                for family in [Family::Ipv4, Family::Ipv6] {
                    let table = Table {
                        family: Some(family),
                        ..table
                    };
                    kernel.dump(table, query, &mut dump)?;
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(dump)
}

/// A netlink socket, its receive buffer and the last sequence number sent.
struct Link {
    fd: OwnedFd,
    buf: Vec<u8>,
    seq: u32,
}

/// What answers one dump request: the kernel through a [`Link`], or a test's stand-in.
trait Dumper {
    /// Ask for one dump and append its sockets to `dump`.
    fn dump(
        &mut self,
        table: Table,
        query: &SocketQuery,
        dump: &mut Dump,
    ) -> Result<(), NetlinkError>;
}

impl Dumper for Link {
    fn dump(
        &mut self,
        table: Table,
        query: &SocketQuery,
        dump: &mut Dump,
    ) -> Result<(), NetlinkError> {
        self.seq += 1;
        let ports = query.ports.as_deref();
        send(
            &self.fd,
            &request(table, self.seq, query.listening_only, ports),
        )?;
        // A dump of both families interleaves them in hash order; IPv6 waits here so that
        // IPv4 comes first, as from two dumps, without a second copy of the whole table.
        let (mut datagram, mut v6) = (Vec::new(), Vec::new());
        loop {
            let Some(len) = recv(&self.fd, &mut self.buf)? else {
                continue;
            };
            let reply = self
                .buf
                .get(..len)
                .ok_or(NetlinkError::Malformed("reply longer than read"))?;
            let progress = if table.family.is_none() {
                let progress = decode(reply, table, self.seq, &mut datagram)?;
                for socket in datagram.drain(..) {
                    match socket.family() {
                        Family::Ipv4 => dump.sockets.push(socket),
                        Family::Ipv6 => v6.push(socket),
                    }
                }
                progress
            } else {
                decode(reply, table, self.seq, &mut dump.sockets)?
            };
            dump.skipped += progress.skipped;
            if progress.done {
                dump.sockets.append(&mut v6);
                return Ok(());
            }
        }
    }
}

/// The dumps a query needs. Each walks a whole kernel hash table, most of it cold in the
/// cache, so TCP over both families is one dump; UDP has no request that spans
/// families, so it takes one per family.
fn tables(query: &SocketQuery) -> Vec<Table> {
    let mut tables = Vec::new();
    for (wanted, proto) in [(query.tcp, Proto::Tcp), (query.udp, Proto::Udp)] {
        if !wanted {
            continue;
        }
        if proto == Proto::Tcp && query.ipv4 && query.ipv6 {
            tables.push(Table {
                proto,
                family: None,
            });
            continue;
        }
        for (wanted, family) in [(query.ipv4, Family::Ipv4), (query.ipv6, Family::Ipv6)] {
            if wanted {
                tables.push(Table {
                    proto,
                    family: Some(family),
                });
            }
        }
    }
    tables
}

fn open() -> Result<OwnedFd, NetlinkError> {
    let fd = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        Some(netlink::SOCK_DIAG),
    )
    .map_err(|e| NetlinkError::Open(e.into()))?;
    sockopt::set_socket_timeout(&fd, Timeout::Recv, Some(RECV_TIMEOUT)).map_err(|e| {
        NetlinkError::Io {
            op: "setsockopt",
            source: e.into(),
        }
    })?;
    Ok(fd)
}

fn send(fd: &OwnedFd, message: &[u8]) -> Result<(), NetlinkError> {
    let kernel = SocketAddrNetlink::new(0, 0);
    loop {
        match rustix::net::sendto(fd, message, SendFlags::empty(), &kernel) {
            Ok(sent) if sent == message.len() => return Ok(()),
            Ok(_) => {
                return Err(NetlinkError::Io {
                    op: "sendto",
                    source: io::ErrorKind::WriteZero.into(),
                });
            }
            Err(Errno::INTR) => continue,
            Err(e) => {
                return Err(NetlinkError::Io {
                    op: "sendto",
                    source: e.into(),
                });
            }
        }
    }
}

/// Receive one datagram; `None` when it did not come from the kernel.
fn recv(fd: &OwnedFd, buf: &mut [u8]) -> Result<Option<usize>, NetlinkError> {
    loop {
        // TRUNC makes the kernel report the full length, so a cut datagram is caught
        // instead of silently losing the sockets at its end.
        match rustix::net::recvfrom(fd, &mut *buf, RecvFlags::TRUNC) {
            Ok((_, len, from)) => {
                if len > buf.len() {
                    return Err(NetlinkError::Malformed("datagram larger than the buffer"));
                }
                if len == 0 {
                    return Err(NetlinkError::Malformed("empty datagram"));
                }
                // Any local process may send to our port id; only the kernel (pid 0)
                // answers requests.
                let from_kernel = from
                    .and_then(|addr| SocketAddrNetlink::try_from(addr).ok())
                    .is_some_and(|addr| addr.pid() == 0);
                return Ok(from_kernel.then_some(len));
            }
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => return Err(NetlinkError::Timeout(RECV_TIMEOUT)),
            Err(e) => {
                return Err(NetlinkError::Io {
                    op: "recvfrom",
                    source: e.into(),
                });
            }
        }
    }
}

/// Encode one dump request: `nlmsghdr`, then `inet_diag_req_v2` (SOCK_DIAG_BY_FAMILY)
/// or, for TCP over both families, the legacy `inet_diag_req` (TCPDIAG_GETSOCK), then an
/// optional bytecode filter keeping sockets whose local port is in `ports`.
///
/// An empty list, or one longer than [`MAX_RANGES`], sends no filter: every port.
pub(crate) fn request(
    table: Table,
    seq: u32,
    listening_only: bool,
    ports: Option<&[RangeInclusive<u16>]>,
) -> Vec<u8> {
    let states: u32 = match (listening_only, table.proto) {
        (false, _) => ALL_STATES,
        (true, Proto::Tcp) => 1 << TCP_LISTEN,
        // UDP has no listen state: a bound, unconnected socket is TCP_CLOSE.
        (true, Proto::Udp) => 1 << TCP_CLOSE,
    };
    let filter = match ports {
        Some(ranges) if ranges.len() <= MAX_RANGES => bytecode(ranges),
        _ => Vec::new(),
    };
    let attr_len = if filter.is_empty() {
        0
    } else {
        4 + filter.len()
    };
    let body = match table.family {
        Some(_) => INET_DIAG_REQ_V2_LEN,
        None => INET_DIAG_REQ_LEN,
    };
    let len = NLMSG_HDRLEN + body + attr_len;

    let mut msg = Vec::with_capacity(len);
    // nlmsghdr, host byte order.
    msg.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_ne_bytes());
    msg.extend_from_slice(&message_kind(table).to_ne_bytes());
    msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    // The sockid stays all zero: a dump matches on states and bytecode, not on one
    // socket's identity.
    match table.family {
        Some(family) => {
            // inet_diag_req_v2: family, protocol, ext, pad, states, sockid.
            msg.push(match family {
                Family::Ipv4 => AF_INET,
                Family::Ipv6 => AF_INET6,
            });
            msg.push(match table.proto {
                Proto::Tcp => IPPROTO_TCP,
                Proto::Udp => IPPROTO_UDP,
            });
            msg.extend_from_slice(&[0, 0]);
            msg.extend_from_slice(&states.to_ne_bytes());
            msg.resize(NLMSG_HDRLEN + body, 0);
        }
        None => {
            // inet_diag_req: family (the kernel dumps both, whatever it says), src_len,
            // dst_len, ext, sockid, states, dbs. The message type names the protocol.
            msg.resize(NLMSG_HDRLEN + 4 + 48, 0);
            msg.extend_from_slice(&states.to_ne_bytes());
            msg.extend_from_slice(&0u32.to_ne_bytes());
        }
    }
    if !filter.is_empty() {
        msg.extend_from_slice(&u16::try_from(attr_len).unwrap_or(u16::MAX).to_ne_bytes());
        msg.extend_from_slice(&INET_DIAG_REQ_BYTECODE.to_ne_bytes());
        msg.extend_from_slice(&filter);
    }
    msg
}

/// The netlink message type of a request for `table`, and of the kernel's answers to it.
fn message_kind(table: Table) -> u16 {
    match table.family {
        Some(_) => SOCK_DIAG_BY_FAMILY,
        None => TCPDIAG_GETSOCK,
    }
}

/// An inet_diag filter program accepting a socket whose local port is in any range.
///
/// The kernel runs it as a list of `{code, yes, no}` ops: a true test advances by
/// `yes`, a false one by `no`; landing exactly on the end accepts, past it rejects.
/// Its audit walks only the `yes` chain, so every `yes` must step to the next op, and
/// every `no` must land on an op of that chain, on the end, or 4 bytes past the end.
///
/// Each range is `S_GE lo; S_LE hi` (16 bytes) whose `no` jumps land 4 bytes past
/// the range, and ranges are joined by a 4-byte `JMP` to the end (accept), as `ss`
/// joins an `or`. So a failing range skips the JMP into the next range, and a failing
/// last range lands past the end: reject.
fn bytecode(ranges: &[RangeInclusive<u16>]) -> Vec<u8> {
    const RANGE: usize = 16;
    const JOINED: usize = RANGE + 4;
    let total = (ranges.len() * JOINED).saturating_sub(4);
    let mut code = Vec::with_capacity(total);
    for (i, range) in ranges.iter().enumerate() {
        // Both compares fail to the op just past this range's JMP.
        code.extend(op(INET_DIAG_BC_S_GE, 8, 20));
        code.extend(op(0, 0, *range.start()));
        code.extend(op(INET_DIAG_BC_S_LE, 8, 12));
        code.extend(op(0, 0, *range.end()));
        if i + 1 < ranges.len() {
            // JMP always takes `no`: straight to the end, which accepts.
            let to_end = total - code.len();
            code.extend(op(
                INET_DIAG_BC_JMP,
                4,
                u16::try_from(to_end).unwrap_or(u16::MAX),
            ));
        }
    }
    code
}

/// One `inet_diag_bc_op`; a port operand is an op whose `no` holds the port.
fn op(code: u8, yes: u8, no: u16) -> [u8; 4] {
    let no = no.to_ne_bytes();
    [code, yes, no[0], no[1]]
}

/// Decode one received datagram of a dump of `table` sent with sequence number `seq`,
/// appending its sockets to `out`.
///
/// Pure and total: any byte string gives `Ok` or `Err`, never a panic.
pub fn decode(
    buf: &[u8],
    table: Table,
    seq: u32,
    out: &mut Vec<Socket>,
) -> Result<Progress, NetlinkError> {
    let mut progress = Progress::default();
    let mut rest = buf;
    while !rest.is_empty() {
        let header = rest
            .get(..NLMSG_HDRLEN)
            .ok_or(NetlinkError::Malformed("truncated message header"))?;
        let len = usize::try_from(ne_u32(header, 0)?)
            .map_err(|_| NetlinkError::Malformed("message length out of range"))?;
        let kind = ne_u16(header, 4)?;
        let flags = ne_u16(header, 6)?;
        if len < NLMSG_HDRLEN {
            return Err(NetlinkError::Malformed("message shorter than its header"));
        }
        let payload = rest
            .get(NLMSG_HDRLEN..len)
            .ok_or(NetlinkError::Malformed("message runs past the datagram"))?;
        if ne_u32(header, 8)? != seq {
            return Err(NetlinkError::Malformed(
                "sequence number of another request",
            ));
        }
        if flags & NLM_F_DUMP_INTR != 0 {
            return Err(NetlinkError::Malformed(
                "dump interrupted by a table change",
            ));
        }
        match kind {
            NLMSG_NOOP => {}
            NLMSG_DONE => {
                // A dump that failed part way says so in DONE's payload.
                if let Some(code) = payload.get(..4).map(|b| ne_i32(b, 0)).transpose()? {
                    if code < 0 {
                        return Err(kernel_error(table, code));
                    }
                }
                progress.done = true;
                return Ok(progress);
            }
            NLMSG_ERROR => {
                let code = ne_i32(payload, 0)?;
                if code == 0 {
                    return Err(NetlinkError::Malformed("acknowledgement nobody asked for"));
                }
                return Err(kernel_error(table, code));
            }
            NLMSG_OVERRUN => return Err(NetlinkError::Malformed("overrun reported")),
            kind if kind == message_kind(table) => match socket(payload, table)? {
                Some(socket) => out.push(socket),
                None => progress.skipped += 1,
            },
            _ => return Err(NetlinkError::Malformed("unexpected message type")),
        }
        // Messages are 4-byte aligned; the last one's padding may be left off.
        let next = len.saturating_add(3) & !3;
        rest = rest.get(next..).unwrap_or_default();
    }
    Ok(progress)
}

fn kernel_error(table: Table, code: i32) -> NetlinkError {
    NetlinkError::Kernel {
        proto: table.proto,
        family: table.family,
        // The kernel sends a negated errno.
        errno: code.wrapping_neg(),
    }
}

/// Decode one `inet_diag_msg`; `None` when its state is not one `State` knows.
fn socket(msg: &[u8], table: Table) -> Result<Option<Socket>, NetlinkError> {
    if msg.len() < INET_DIAG_MSG_LEN {
        return Err(NetlinkError::Malformed("truncated inet_diag_msg"));
    }
    let family = match (msg[0], table.family) {
        (AF_INET, Some(Family::Ipv4) | None) => Family::Ipv4,
        (AF_INET6, Some(Family::Ipv6) | None) => Family::Ipv6,
        _ => return Err(NetlinkError::Malformed("socket of another address family")),
    };
    let Some(state) = State::from_kernel(table.proto, msg[1]) else {
        return Ok(None);
    };
    // inet_diag_sockid at offset 4: sport, dport (big-endian), src[16], dst[16].
    let local = endpoint(family, be_u16(msg, 4)?, bytes16(msg, 8)?);
    let remote = endpoint(family, be_u16(msg, 6)?, bytes16(msg, 24)?);
    let remote = (remote.port() != 0 || !remote.ip().is_unspecified()).then_some(remote);
    Ok(Some(Socket {
        proto: table.proto,
        local,
        remote,
        state,
        uid: Some(ne_u32(msg, 64)?),
        inode: u64::from(ne_u32(msg, 68)?),
        v6only: (family == Family::Ipv6)
            .then(|| attribute_u8(&msg[INET_DIAG_MSG_LEN..], INET_DIAG_SKV6ONLY).map(|v| v != 0))
            .flatten(),
        // The caller knows which namespace it asked.
        netns: 0,
    }))
}

/// The one-byte payload of the first attribute of `kind` among `struct rtattr`s, if any.
fn attribute_u8(mut attrs: &[u8], kind: u16) -> Option<u8> {
    while attrs.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([attrs[0], attrs[1]]));
        let this = u16::from_ne_bytes([attrs[2], attrs[3]]);
        if len < 4 || len > attrs.len() {
            return None;
        }
        if this == kind {
            return attrs.get(4).copied().filter(|_| len > 4);
        }
        attrs = attrs.get(len.next_multiple_of(4)..).unwrap_or_default();
    }
    None
}

/// Addresses are in network order; IPv4 uses the first 4 of the 16 bytes.
fn endpoint(family: Family, port: u16, addr: [u8; 16]) -> SocketAddr {
    let ip = match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3])),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::from(addr)),
    };
    SocketAddr::new(ip, port)
}

fn family_name(family: Option<Family>) -> &'static str {
    match family {
        Some(Family::Ipv4) => "IPv4",
        Some(Family::Ipv6) => "IPv6",
        None => "IPv4 and IPv6",
    }
}

fn array<const N: usize>(buf: &[u8], at: usize) -> Result<[u8; N], NetlinkError> {
    buf.get(at..at.saturating_add(N))
        .and_then(|b| b.try_into().ok())
        .ok_or(NetlinkError::Malformed("truncated field"))
}

fn ne_u16(buf: &[u8], at: usize) -> Result<u16, NetlinkError> {
    array(buf, at).map(u16::from_ne_bytes)
}

fn be_u16(buf: &[u8], at: usize) -> Result<u16, NetlinkError> {
    array(buf, at).map(u16::from_be_bytes)
}

fn ne_u32(buf: &[u8], at: usize) -> Result<u32, NetlinkError> {
    array(buf, at).map(u32::from_ne_bytes)
}

fn ne_i32(buf: &[u8], at: usize) -> Result<i32, NetlinkError> {
    array(buf, at).map(i32::from_ne_bytes)
}

fn bytes16(buf: &[u8], at: usize) -> Result<[u8; 16], NetlinkError> {
    array(buf, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP4: Table = Table {
        proto: Proto::Tcp,
        family: Some(Family::Ipv4),
    };
    const TCP6: Table = Table {
        proto: Proto::Tcp,
        family: Some(Family::Ipv6),
    };
    const TCP: Table = Table {
        proto: Proto::Tcp,
        family: None,
    };
    const UDP4: Table = Table {
        proto: Proto::Udp,
        family: Some(Family::Ipv4),
    };
    const UDP6: Table = Table {
        proto: Proto::Udp,
        family: Some(Family::Ipv6),
    };

    struct Diag {
        family: u8,
        state: u8,
        sport: u16,
        dport: u16,
        src: Vec<u8>,
        dst: Vec<u8>,
        uid: u32,
        inode: u32,
    }

    /// An `inet_diag_msg` as the kernel lays it out.
    fn diag(d: &Diag) -> Vec<u8> {
        let mut msg = vec![d.family, d.state, 0, 0];
        msg.extend_from_slice(&d.sport.to_be_bytes());
        msg.extend_from_slice(&d.dport.to_be_bytes());
        let mut src = d.src.clone();
        src.resize(16, 0);
        let mut dst = d.dst.clone();
        dst.resize(16, 0);
        msg.extend_from_slice(&src);
        msg.extend_from_slice(&dst);
        msg.extend_from_slice(&7u32.to_ne_bytes()); // interface
        msg.extend_from_slice(&[0xaa; 8]); // cookie
        msg.extend_from_slice(&[0; 12]); // expires, rqueue, wqueue
        msg.extend_from_slice(&d.uid.to_ne_bytes());
        msg.extend_from_slice(&d.inode.to_ne_bytes());
        assert_eq!(msg.len(), INET_DIAG_MSG_LEN);
        msg
    }

    /// One netlink message, padded to 4 bytes.
    fn nlmsg(kind: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let len = NLMSG_HDRLEN + payload.len();
        let mut msg = Vec::new();
        msg.extend_from_slice(&(len as u32).to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(&flags.to_ne_bytes());
        msg.extend_from_slice(&seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(payload);
        msg.resize((len + 3) & !3, 0);
        msg
    }

    fn data(payload: &[u8], seq: u32) -> Vec<u8> {
        nlmsg(SOCK_DIAG_BY_FAMILY, 2, seq, payload)
    }

    fn done(seq: u32) -> Vec<u8> {
        nlmsg(NLMSG_DONE, 2, seq, &0i32.to_ne_bytes())
    }

    fn listen4() -> Vec<u8> {
        diag(&Diag {
            family: AF_INET,
            state: TCP_LISTEN,
            sport: 8080,
            dport: 0,
            src: vec![127, 0, 0, 1],
            dst: vec![],
            uid: 1000,
            inode: 4242,
        })
    }

    fn established6() -> Vec<u8> {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::5:6".parse().unwrap();
        diag(&Diag {
            family: AF_INET6,
            state: 1,
            sport: 443,
            dport: 51000,
            src: src.octets().to_vec(),
            dst: dst.octets().to_vec(),
            uid: 33,
            inode: 0xdead_beef,
        })
    }

    fn decode_all(
        buf: &[u8],
        table: Table,
        seq: u32,
    ) -> Result<(Vec<Socket>, Progress), NetlinkError> {
        let mut out = Vec::new();
        decode(buf, table, seq, &mut out).map(|p| (out, p))
    }

    #[test]
    fn decodes_ipv4_listen() {
        let (sockets, progress) = decode_all(&data(&listen4(), 9), TCP4, 9).unwrap();
        assert_eq!(
            progress,
            Progress {
                done: false,
                skipped: 0
            }
        );
        assert_eq!(
            sockets,
            vec![Socket {
                proto: Proto::Tcp,
                local: "127.0.0.1:8080".parse().unwrap(),
                remote: None,
                state: State::Listen,
                uid: Some(1000),
                inode: 4242,
                v6only: None,
                netns: 0,
            }]
        );
    }

    #[test]
    fn reads_v6only_from_attributes() {
        let attr = |kind: u16, payload: &[u8]| {
            let mut a = ((4 + payload.len()) as u16).to_ne_bytes().to_vec();
            a.extend_from_slice(&kind.to_ne_bytes());
            a.extend_from_slice(payload);
            a.resize(a.len().next_multiple_of(4), 0);
            a
        };
        let mut msg = established6();
        msg.extend(attr(5, &[0x10])); // INET_DIAG_TOS first, to be skipped
        msg.extend(attr(INET_DIAG_SKV6ONLY, &[1]));
        let (sockets, _) = decode_all(&data(&msg, 1), TCP6, 1).unwrap();
        assert_eq!(sockets[0].v6only, Some(true));
        let mut msg = established6();
        msg.extend(attr(INET_DIAG_SKV6ONLY, &[0]));
        let (sockets, _) = decode_all(&data(&msg, 1), TCP6, 1).unwrap();
        assert_eq!(sockets[0].v6only, Some(false));
        // Absent, or a broken attribute length: unknown, not an error.
        assert_eq!(attribute_u8(&[], INET_DIAG_SKV6ONLY), None);
        assert_eq!(attribute_u8(&[200, 0, 11, 0, 1], INET_DIAG_SKV6ONLY), None);
        assert_eq!(attribute_u8(&[4, 0, 11, 0], INET_DIAG_SKV6ONLY), None);
    }

    #[test]
    fn decodes_ipv6_established() {
        let (sockets, _) = decode_all(&data(&established6(), 1), TCP6, 1).unwrap();
        assert_eq!(
            sockets,
            vec![Socket {
                proto: Proto::Tcp,
                local: "[2001:db8::1]:443".parse().unwrap(),
                remote: Some("[2001:db8::5:6]:51000".parse().unwrap()),
                state: State::Established,
                uid: Some(33),
                inode: 0xdead_beef,
                v6only: None,
                netns: 0,
            }]
        );
    }

    #[test]
    fn decodes_udp_unconnected_and_connected() {
        let unconn = diag(&Diag {
            family: AF_INET,
            state: TCP_CLOSE,
            sport: 53,
            dport: 0,
            src: vec![0, 0, 0, 0],
            dst: vec![],
            uid: 0,
            inode: 77,
        });
        let connected = diag(&Diag {
            family: AF_INET,
            state: 1,
            sport: 40000,
            dport: 53,
            src: vec![10, 0, 0, 2],
            dst: vec![10, 0, 0, 1],
            uid: 0,
            inode: 78,
        });
        let buf = [data(&unconn, 3), data(&connected, 3), done(3)].concat();
        let (sockets, progress) = decode_all(&buf, UDP4, 3).unwrap();
        assert!(progress.done);
        assert_eq!(sockets.len(), 2);
        assert_eq!(sockets[0].state, State::Unconn);
        assert_eq!(sockets[0].local, "0.0.0.0:53".parse().unwrap());
        assert_eq!(sockets[0].remote, None);
        assert_eq!(sockets[1].state, State::Established);
        assert_eq!(sockets[1].remote, Some("10.0.0.1:53".parse().unwrap()));
    }

    #[test]
    fn remote_port_zero_with_an_address_is_kept() {
        let msg = diag(&Diag {
            family: AF_INET,
            state: 2,
            sport: 1,
            dport: 0,
            src: vec![127, 0, 0, 1],
            dst: vec![127, 0, 0, 2],
            uid: 0,
            inode: 1,
        });
        let (sockets, _) = decode_all(&data(&msg, 1), TCP4, 1).unwrap();
        assert_eq!(sockets[0].remote, Some("127.0.0.2:0".parse().unwrap()));
    }

    #[test]
    fn skips_and_counts_unknown_states() {
        // 10 is LISTEN, which UDP never has; 0 and 13 are nothing at all.
        let mut bad = listen4();
        let mut buf = data(&bad, 5);
        bad[1] = 0;
        buf.extend(data(&bad, 5));
        bad[1] = 13;
        buf.extend(data(&bad, 5));
        buf.extend(done(5));
        let (sockets, progress) = decode_all(&buf, UDP4, 5).unwrap();
        assert!(sockets.is_empty());
        assert_eq!(
            progress,
            Progress {
                done: true,
                skipped: 3
            }
        );
    }

    #[test]
    fn stops_at_done() {
        let buf = [data(&listen4(), 2), data(&listen4(), 2), done(2)].concat();
        let (sockets, progress) = decode_all(&buf, TCP4, 2).unwrap();
        assert_eq!(sockets.len(), 2);
        assert!(progress.done);
        let (sockets, progress) = decode_all(&done(2), TCP4, 2).unwrap();
        assert!(sockets.is_empty());
        assert!(progress.done);
        // Very old kernels send DONE with no payload.
        let (_, progress) = decode_all(&nlmsg(NLMSG_DONE, 2, 2, &[]), TCP4, 2).unwrap();
        assert!(progress.done);
    }

    #[test]
    fn noop_is_ignored() {
        let buf = [nlmsg(NLMSG_NOOP, 0, 1, &[]), data(&listen4(), 1)].concat();
        assert_eq!(decode_all(&buf, TCP4, 1).unwrap().0.len(), 1);
    }

    #[test]
    fn kernel_errors_carry_errno_proto_and_family() {
        let mut payload = (-13i32).to_ne_bytes().to_vec();
        payload.extend(request(TCP6, 4, false, None).get(..16).unwrap());
        let err = decode_all(&nlmsg(NLMSG_ERROR, 0, 4, &payload), TCP6, 4).unwrap_err();
        assert!(matches!(
            err,
            NetlinkError::Kernel {
                proto: Proto::Tcp,
                family: Some(Family::Ipv6),
                errno: 13
            }
        ));
        let text = err.to_string();
        assert!(text.contains("tcp IPv6"), "{text}");
        assert!(text.contains("ermission denied"), "{text}");
        // A dump that fails part way reports it in DONE.
        let err =
            decode_all(&nlmsg(NLMSG_DONE, 2, 4, &(-12i32).to_ne_bytes()), TCP6, 4).unwrap_err();
        assert!(matches!(err, NetlinkError::Kernel { errno: 12, .. }));
        // Absurd codes must still not panic when shown.
        let err =
            decode_all(&nlmsg(NLMSG_ERROR, 0, 4, &i32::MIN.to_ne_bytes()), TCP6, 4).unwrap_err();
        let _ = err.to_string();
    }

    #[test]
    fn malformed_replies_are_errors() {
        let malformed = |buf: &[u8], table: Table| {
            matches!(decode_all(buf, table, 1), Err(NetlinkError::Malformed(_)))
        };
        let good = data(&listen4(), 1);
        // Wrong sequence number.
        assert!(malformed(&data(&listen4(), 2), TCP4));
        // An IPv4 socket in the IPv6 table.
        assert!(malformed(&good, TCP6));
        // inet_diag_msg one byte short.
        assert!(malformed(&data(listen4().get(..71).unwrap(), 1), TCP4));
        // Length smaller than the header, and past the datagram.
        for len in [0u32, 1, 15, good.len() as u32 + 1, u32::MAX] {
            let mut bad = good.clone();
            bad[..4].copy_from_slice(&len.to_ne_bytes());
            assert!(malformed(&bad, TCP4), "len {len}");
        }
        // NLMSG_ERROR without an errno, an ack, an overrun, an unknown type.
        assert!(malformed(&nlmsg(NLMSG_ERROR, 0, 1, &[0xff; 3]), TCP4));
        assert!(malformed(
            &nlmsg(NLMSG_ERROR, 0, 1, &0i32.to_ne_bytes()),
            TCP4
        ));
        assert!(malformed(&nlmsg(NLMSG_OVERRUN, 0, 1, &[]), TCP4));
        assert!(malformed(&nlmsg(99, 0, 1, &[]), TCP4));
        // A dump the kernel marks as inconsistent.
        assert!(malformed(
            &nlmsg(SOCK_DIAG_BY_FAMILY, 2 | NLM_F_DUMP_INTR, 1, &listen4()),
            TCP4
        ));
    }

    #[test]
    fn never_panics_on_truncation_or_corruption() {
        let buf = [data(&listen4(), 1), data(&established6(), 1), done(1)].concat();
        for table in [TCP4, TCP6, UDP4] {
            for end in 0..=buf.len() {
                let _ = decode_all(&buf[..end], table, 1);
                let _ = decode_all(&buf[end..], table, 1);
            }
            for at in 0..buf.len() {
                for byte in [0x00, 0x01, 0x0f, 0x10, 0x7f, 0x80, 0xff] {
                    let mut bad = buf.clone();
                    bad[at] = byte;
                    let _ = decode_all(&bad, table, 1);
                }
            }
        }
        // A valid prefix cut before DONE is not a finished dump.
        let cut = buf.len() - done(1).len();
        let (sockets, progress) = decode_all(&buf[..cut], TCP4, 1).unwrap_or_default();
        assert!(!progress.done);
        assert!(sockets.len() <= 1);
    }

    #[test]
    fn request_without_filter() {
        let msg = request(TCP4, 0x0102_0304, false, None);
        assert_eq!(msg.len(), NLMSG_HDRLEN + INET_DIAG_REQ_V2_LEN);
        assert_eq!(ne_u32(&msg, 0).unwrap() as usize, msg.len());
        assert_eq!(ne_u16(&msg, 4).unwrap(), SOCK_DIAG_BY_FAMILY);
        assert_eq!(ne_u16(&msg, 6).unwrap(), NLM_F_REQUEST | NLM_F_DUMP);
        assert_eq!(ne_u32(&msg, 8).unwrap(), 0x0102_0304);
        assert_eq!(ne_u32(&msg, 12).unwrap(), 0);
        assert_eq!(msg[16..20], [AF_INET, IPPROTO_TCP, 0, 0]);
        assert_eq!(ne_u32(&msg, 20).unwrap(), ALL_STATES);
        assert!(msg[24..].iter().all(|&b| b == 0));

        let msg = request(TCP6, 1, true, None);
        assert_eq!(msg[16..18], [AF_INET6, IPPROTO_TCP]);
        assert_eq!(ne_u32(&msg, 20).unwrap(), 1 << 10);
        let msg = request(UDP4, 1, true, None);
        assert_eq!(msg[16..18], [AF_INET, IPPROTO_UDP]);
        assert_eq!(ne_u32(&msg, 20).unwrap(), 1 << 7);
        // Empty and overlong port lists send no filter.
        let many: Vec<_> = (0..=MAX_RANGES as u16).map(|p| p..=p).collect();
        assert_eq!(request(TCP4, 1, false, Some(&[])).len(), 72);
        assert_eq!(request(TCP4, 1, false, Some(&many)).len(), 72);
        assert!(request(TCP4, 1, false, Some(&many[1..])).len() > 72);
    }

    #[test]
    fn tcp_over_both_families_is_one_legacy_request() {
        let msg = request(TCP, 7, false, Some(&[8080..=8080]));
        assert_eq!(msg.len(), NLMSG_HDRLEN + INET_DIAG_REQ_LEN + 4 + 16);
        assert_eq!(ne_u32(&msg, 0).unwrap() as usize, msg.len());
        assert_eq!(ne_u16(&msg, 4).unwrap(), TCPDIAG_GETSOCK);
        assert_eq!(ne_u16(&msg, 6).unwrap(), NLM_F_REQUEST | NLM_F_DUMP);
        assert_eq!(ne_u32(&msg, 8).unwrap(), 7);
        // inet_diag_req: family..ext and the sockid all zero, then states and dbs.
        assert!(msg[16..68].iter().all(|&b| b == 0));
        assert_eq!(ne_u32(&msg, 68).unwrap(), ALL_STATES);
        assert_eq!(ne_u32(&msg, 72).unwrap(), 0);
        assert_eq!(ne_u16(&msg, 76).unwrap(), 20);
        assert_eq!(ne_u16(&msg, 78).unwrap(), INET_DIAG_REQ_BYTECODE);
        assert_eq!(msg[80..84], op(INET_DIAG_BC_S_GE, 8, 20));
        assert_eq!(
            ne_u32(&request(TCP, 1, true, None), 68).unwrap(),
            1 << TCP_LISTEN
        );

        let both = SocketQuery::default();
        assert_eq!(tables(&both), [TCP, UDP4, UDP6]);
        let v6 = SocketQuery {
            ipv4: false,
            ..both.clone()
        };
        assert_eq!(tables(&v6), [TCP6, UDP6]);
        let tcp4 = SocketQuery {
            udp: false,
            ipv6: false,
            ..both
        };
        assert_eq!(tables(&tcp4), [TCP4]);
    }

    #[test]
    fn legacy_answers_hold_both_families_under_their_own_type() {
        let answer = |payload: &[u8]| nlmsg(TCPDIAG_GETSOCK, 2, 3, payload);
        let buf = [answer(&established6()), answer(&listen4())].concat();
        let (sockets, progress) = decode_all(&buf, TCP, 3).unwrap();
        assert!(!progress.done);
        assert_eq!(sockets.len(), 2);
        assert_eq!(sockets[0].family(), Family::Ipv6);
        assert_eq!(sockets[1].family(), Family::Ipv4);
        // Each type belongs to its own request.
        assert!(decode_all(&data(&listen4(), 3), TCP, 3).is_err());
        assert!(decode_all(&answer(&listen4()), TCP4, 3).is_err());
    }

    /// Answers from canned sockets, refusing the legacy request part way like a kernel
    /// without it would.
    struct OldKernel {
        asked: Vec<Table>,
    }

    impl Dumper for OldKernel {
        fn dump(
            &mut self,
            table: Table,
            _: &SocketQuery,
            dump: &mut Dump,
        ) -> Result<(), NetlinkError> {
            self.asked.push(table);
            let mut one = |payload: Vec<u8>| {
                let (sockets, _) = decode_all(&data(&payload, 1), TCP4, 1)
                    .or_else(|_| decode_all(&data(&payload, 1), TCP6, 1))
                    .unwrap();
                dump.sockets.extend(sockets);
            };
            match table.family {
                Some(Family::Ipv4) => one(listen4()),
                Some(Family::Ipv6) => one(established6()),
                None => {
                    one(listen4());
                    dump.skipped += 1;
                    return Err(kernel_error(table, -22));
                }
            }
            Ok(())
        }
    }

    #[test]
    fn a_refused_legacy_dump_is_redone_per_family_without_its_partial_answer() {
        let mut kernel = OldKernel { asked: Vec::new() };
        let query = SocketQuery::default();
        let dump = dump_tables(&mut kernel, &[TCP, UDP4], &query).unwrap();
        assert_eq!(kernel.asked, [TCP, TCP4, TCP6, UDP4]);
        let families: Vec<Family> = dump.sockets.iter().map(Socket::family).collect();
        assert_eq!(
            families,
            [Family::Ipv4, Family::Ipv6, Family::Ipv4],
            "{dump:?}"
        );
        assert_eq!(dump.skipped, 0);
    }

    #[test]
    fn request_with_one_port() {
        let msg = request(TCP4, 1, false, Some(&[8080..=8080]));
        assert_eq!(msg.len(), 72 + 4 + 16);
        assert_eq!(ne_u32(&msg, 0).unwrap() as usize, msg.len());
        assert_eq!(ne_u16(&msg, 72).unwrap(), 20);
        assert_eq!(ne_u16(&msg, 74).unwrap(), INET_DIAG_REQ_BYTECODE);
        let code = &msg[76..];
        assert_eq!(code[..4], op(INET_DIAG_BC_S_GE, 8, 20));
        assert_eq!(code[4..8], op(0, 0, 8080));
        assert_eq!(code[8..12], op(INET_DIAG_BC_S_LE, 8, 12));
        assert_eq!(code[12..16], op(0, 0, 8080));
    }

    #[test]
    fn request_with_a_range_and_more() {
        let msg = request(UDP4, 1, false, Some(&[1000..=2000, 53..=53]));
        let code = &msg[76..];
        assert_eq!(ne_u16(&msg, 72).unwrap() as usize, 4 + code.len());
        assert_eq!(code.len(), 16 + 4 + 16);
        assert_eq!(code[4..8], op(0, 0, 1000));
        assert_eq!(code[12..16], op(0, 0, 2000));
        assert_eq!(code[16..20], op(INET_DIAG_BC_JMP, 4, 20));
        assert_eq!(code[24..28], op(0, 0, 53));
    }

    /// `inet_diag_bc_audit` from net/ipv4/inet_diag.c, for the ops this module emits.
    fn kernel_audit(code: &[u8]) -> bool {
        let valid_cc = |cc: i64| {
            let mut len = code.len() as i64;
            let mut at = 0usize;
            while len >= 0 {
                if cc > len {
                    return false;
                }
                if cc == len {
                    return true;
                }
                let yes = i64::from(code[at + 1]);
                if yes < 4 || yes & 3 != 0 {
                    return false;
                }
                len -= yes;
                at += yes as usize;
            }
            false
        };
        if code.len() < 4 {
            return false;
        }
        let mut len = code.len() as i64;
        let mut at = 0usize;
        while len > 0 {
            let (kind, yes, no) = (
                code[at],
                i64::from(code[at + 1]),
                i64::from(ne_u16(code, at + 2).unwrap()),
            );
            let min_len = match kind {
                INET_DIAG_BC_S_GE | INET_DIAG_BC_S_LE => {
                    if len < 8 {
                        return false;
                    }
                    8
                }
                INET_DIAG_BC_JMP | 0 => 4,
                _ => return false,
            };
            if kind != 0 {
                if no < min_len || no > len + 4 || no & 3 != 0 {
                    return false;
                }
                if no < len && !valid_cc(len - no) {
                    return false;
                }
            }
            if yes < min_len || yes > len + 4 || yes & 3 != 0 {
                return false;
            }
            at += yes as usize;
            len -= yes;
        }
        len == 0
    }

    /// `inet_diag_bc_run`: does a socket with this local port pass?
    fn kernel_run(code: &[u8], sport: u16) -> bool {
        let mut len = code.len() as i64;
        let mut at = 0usize;
        while len > 0 {
            let operand = || ne_u16(code, at + 6).unwrap();
            let yes = match code[at] {
                INET_DIAG_BC_JMP => false,
                INET_DIAG_BC_S_GE => sport >= operand(),
                INET_DIAG_BC_S_LE => sport <= operand(),
                _ => true,
            };
            let step = if yes {
                i64::from(code[at + 1])
            } else {
                i64::from(ne_u16(code, at + 2).unwrap())
            };
            len -= step;
            at = at.wrapping_add(step as usize);
        }
        len == 0
    }

    #[test]
    fn bytecode_passes_the_kernel_audit_and_matches_exactly_the_ranges() {
        let cases: Vec<Vec<RangeInclusive<u16>>> = vec![
            vec![80..=80],
            vec![0..=0],
            vec![65535..=65535],
            vec![0..=65535],
            vec![1000..=2000, 22..=22, 443..=443],
            vec![RangeInclusive::new(10, 5), 7..=7],
            (0..MAX_RANGES as u16)
                .map(|i| i * 1000..=i * 1000 + 10)
                .collect(),
        ];
        for ranges in cases {
            let code = bytecode(&ranges);
            assert!(kernel_audit(&code), "audit rejects {ranges:?}");
            for port in 0..=u16::MAX {
                let want = ranges.iter().any(|r| r.contains(&port));
                assert_eq!(kernel_run(&code, port), want, "port {port} in {ranges:?}");
            }
        }
    }

    // ---- Live tests against this host's kernel, on loopback only. ----

    use std::collections::HashSet;
    use std::net::{TcpListener, TcpStream, UdpSocket};
    use std::os::fd::AsRawFd;

    fn inode_of(fd: &impl AsRawFd) -> u64 {
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        let link = link.to_str().unwrap();
        link.strip_prefix("socket:[")
            .and_then(|s| s.strip_suffix(']'))
            .unwrap()
            .parse()
            .unwrap()
    }

    fn find(sockets: &[Socket], inode: u64) -> Option<&Socket> {
        sockets.iter().find(|s| s.inode == inode)
    }

    /// A listener on [::1], unless this host has no IPv6 loopback.
    fn listen6() -> Option<TcpListener> {
        match TcpListener::bind("[::1]:0") {
            Ok(listener) => Some(listener),
            Err(e) => {
                eprintln!("skipping IPv6 checks: {e}");
                None
            }
        }
    }

    struct Pair {
        listener: TcpListener,
        client: TcpStream,
        server: TcpStream,
    }

    fn pair() -> Pair {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        Pair {
            listener,
            client,
            server,
        }
    }

    #[test]
    fn live_dump_finds_this_process_sockets() {
        let uid = rustix::process::getuid().as_raw();
        let tcp4 = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp6 = listen6();
        let udp4 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let pair = pair();

        let sockets = dump(&SocketQuery::default()).unwrap();

        let s = find(&sockets, inode_of(&tcp4)).expect("IPv4 listener");
        assert_eq!(
            (s.proto, s.state, s.uid),
            (Proto::Tcp, State::Listen, Some(uid))
        );
        assert_eq!(s.local, tcp4.local_addr().unwrap());
        assert_eq!(s.remote, None);
        if let Some(tcp6) = &tcp6 {
            let s = find(&sockets, inode_of(tcp6)).expect("IPv6 listener");
            assert_eq!(
                (s.proto, s.state, s.uid),
                (Proto::Tcp, State::Listen, Some(uid))
            );
            assert_eq!(s.local, tcp6.local_addr().unwrap());
            assert_eq!(s.family(), Family::Ipv6);
            assert_eq!(s.remote, None);
        }
        let s = find(&sockets, inode_of(&udp4)).expect("UDP socket");
        assert_eq!(
            (s.proto, s.state, s.uid),
            (Proto::Udp, State::Unconn, Some(uid))
        );
        assert_eq!(s.local, udp4.local_addr().unwrap());
        assert_eq!(s.remote, None);
        for (stream, what) in [(&pair.client, "client"), (&pair.server, "server")] {
            let s = find(&sockets, inode_of(stream)).expect(what);
            assert_eq!(
                (s.proto, s.state, s.uid),
                (Proto::Tcp, State::Established, Some(uid))
            );
            assert_eq!(s.local, stream.local_addr().unwrap());
            assert_eq!(s.remote, Some(stream.peer_addr().unwrap()));
        }
        assert!(find(&sockets, inode_of(&pair.listener)).is_some());
    }

    #[test]
    fn live_port_filter_keeps_only_that_local_port() {
        let pair = pair();
        let port = pair.listener.local_addr().unwrap().port();
        let query = SocketQuery {
            ports: Some(vec![port..=port]),
            ..SocketQuery::default()
        };
        let sockets = dump(&query).unwrap();
        assert!(
            sockets.iter().all(|s| s.local.port() == port),
            "{sockets:?}"
        );
        assert!(find(&sockets, inode_of(&pair.listener)).is_some());
        assert!(find(&sockets, inode_of(&pair.server)).is_some());
        // The client's remote port is `port`, its local one is not.
        assert!(find(&sockets, inode_of(&pair.client)).is_none());
    }

    #[test]
    fn live_kernel_accepts_many_ranges() {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (pa, pb) = (
            a.local_addr().unwrap().port(),
            b.local_addr().unwrap().port(),
        );
        // Ranges that cannot hold an ephemeral port, around the two that matter.
        let mut ranges: Vec<_> = (1..MAX_RANGES as u16 - 1)
            .map(|i| i * 3..=i * 3 + 1)
            .collect();
        ranges.insert(5, pa..=pa);
        ranges.push(pb..=pb);
        assert_eq!(ranges.len(), MAX_RANGES);
        let sockets = dump(&SocketQuery {
            ports: Some(ranges.clone()),
            ..SocketQuery::default()
        })
        .unwrap();
        assert!(find(&sockets, inode_of(&a)).is_some());
        assert!(find(&sockets, inode_of(&b)).is_some());
        let port_in = |p: u16| ranges.iter().any(|r| r.contains(&p));
        assert!(
            sockets.iter().all(|s| port_in(s.local.port())),
            "{sockets:?}"
        );
    }

    #[test]
    fn live_listening_only_leaves_out_connections() {
        let pair = pair();
        let udp4 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let connected = UdpSocket::bind("127.0.0.1:0").unwrap();
        connected.connect(udp4.local_addr().unwrap()).unwrap();
        let query = SocketQuery {
            listening_only: true,
            ..SocketQuery::default()
        };
        let sockets = dump(&query).unwrap();
        assert!(
            sockets.iter().all(|s| s.state.is_listening()),
            "{sockets:?}"
        );
        assert!(find(&sockets, inode_of(&pair.listener)).is_some());
        assert!(find(&sockets, inode_of(&udp4)).is_some());
        assert!(find(&sockets, inode_of(&pair.client)).is_none());
        assert!(find(&sockets, inode_of(&connected)).is_none());
    }

    #[test]
    fn live_protocol_and_family_switches() {
        let tcp4 = TcpListener::bind("127.0.0.1:0").unwrap();
        let udp4 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tcp6 = listen6();
        let udp_only = dump(&SocketQuery {
            tcp: false,
            ..SocketQuery::default()
        })
        .unwrap();
        assert!(udp_only.iter().all(|s| s.proto == Proto::Udp));
        assert!(find(&udp_only, inode_of(&udp4)).is_some());
        let v4_only = dump(&SocketQuery {
            ipv6: false,
            ..SocketQuery::default()
        })
        .unwrap();
        assert!(v4_only.iter().all(|s| s.family() == Family::Ipv4));
        assert!(find(&v4_only, inode_of(&tcp4)).is_some());
        if let Some(tcp6) = &tcp6 {
            assert!(find(&v4_only, inode_of(tcp6)).is_none());
        }
        let nothing = SocketQuery {
            tcp: false,
            udp: false,
            ..SocketQuery::default()
        };
        assert_eq!(dump(&nothing).unwrap(), vec![]);
    }

    #[test]
    fn live_legacy_dump_equals_the_two_family_dumps() {
        let pair = pair();
        let tcp6 = listen6();
        let mut ours = vec![
            inode_of(&pair.listener),
            inode_of(&pair.client),
            inode_of(&pair.server),
        ];
        ours.extend(tcp6.as_ref().map(inode_of));
        let query = SocketQuery {
            udp: false,
            ..SocketQuery::default()
        };
        let mut link = Link {
            fd: open().unwrap(),
            buf: vec![0; RECV_BUFFER],
            seq: 0,
        };
        let mut dump_of = |tables: &[Table]| {
            let mut dump = Dump::default();
            for &table in tables {
                link.dump(table, &query, &mut dump).unwrap();
            }
            dump.sockets
        };
        let legacy = dump_of(&[TCP]);
        let separate = dump_of(&[TCP4, TCP6]);
        // IPv4 first, as from the two dumps.
        assert!(legacy.iter().map(Socket::family).is_sorted(), "{legacy:?}");
        // Other tests open and close sockets meanwhile: compare this test's own.
        for inode in ours {
            let (Some(a), Some(b)) = (find(&legacy, inode), find(&separate, inode)) else {
                panic!("socket {inode} missing: {legacy:?}");
            };
            assert_eq!(a, b);
        }
        let mut inodes: Vec<u64> = legacy.iter().map(|s| s.inode).filter(|&i| i != 0).collect();
        let listed = inodes.len();
        inodes.sort_unstable();
        inodes.dedup();
        assert_eq!(inodes.len(), listed, "a socket listed twice");
    }

    /// Socket inodes listed in `/proc/net/<name>`.
    fn proc_inodes(name: &str) -> HashSet<u64> {
        let Ok(text) = std::fs::read_to_string(format!("/proc/net/{name}")) else {
            return HashSet::new();
        };
        text.lines()
            .skip(1)
            .filter_map(|line| line.split_whitespace().nth(9)?.parse().ok())
            .collect()
    }

    #[test]
    fn live_dump_agrees_with_proc_net() {
        let tcp4 = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp6 = listen6();
        let pair = pair();
        let udp4 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut tcp_ours = vec![
            inode_of(&tcp4),
            inode_of(&pair.listener),
            inode_of(&pair.client),
            inode_of(&pair.server),
        ];
        tcp_ours.extend(tcp6.as_ref().map(inode_of));

        let sockets = dump(&SocketQuery::default()).unwrap();
        let netlink: HashSet<u64> = sockets.iter().map(|s| s.inode).collect();
        let tcp_proc: HashSet<u64> = proc_inodes("tcp")
            .union(&proc_inodes("tcp6"))
            .copied()
            .collect();
        let udp_proc: HashSet<u64> = proc_inodes("udp")
            .union(&proc_inodes("udp6"))
            .copied()
            .collect();
        for inode in tcp_ours {
            assert!(netlink.contains(&inode), "netlink lacks {inode}");
            assert!(tcp_proc.contains(&inode), "/proc/net/tcp* lacks {inode}");
        }
        assert!(netlink.contains(&inode_of(&udp4)));
        assert!(udp_proc.contains(&inode_of(&udp4)));
        // Every socket /proc shows on our ports is one netlink found too.
        let ports: HashSet<u16> = [&tcp4, &pair.listener]
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        for s in sockets
            .iter()
            .filter(|s| s.proto == Proto::Tcp && ports.contains(&s.local.port()))
        {
            assert!(s.inode == 0 || tcp_proc.contains(&s.inode), "{s:?}");
        }
    }

    /// Time one full dump with a few thousand sockets open:
    /// `cargo test --release --lib netlink::tests::timing -- --ignored --nocapture`.
    #[test]
    #[ignore = "measurement, not a check"]
    fn timing() {
        use std::time::Instant;
        const N: usize = 1000;
        let listeners: Vec<_> = (0..N)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let pairs: Vec<_> = (0..N).map(|_| pair()).collect();
        let udp: Vec<_> = (0..N)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let opened = listeners.len() + pairs.len() * 3 + udp.len();

        let mut times = Vec::new();
        let mut count = 0;
        for _ in 0..25 {
            let start = Instant::now();
            count = dump(&SocketQuery::default()).unwrap().len();
            times.push(start.elapsed());
        }
        times.sort();
        println!(
            "netlink dump: {count} sockets ({opened} opened by the test): min {:?}, median {:?}, max {:?}",
            times[0],
            times[times.len() / 2],
            times[times.len() - 1]
        );

        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..25 {
            let start = Instant::now();
            bytes = ["tcp", "tcp6", "udp", "udp6"]
                .iter()
                .map(|n| std::fs::read(format!("/proc/net/{n}")).map_or(0, |b| b.len()))
                .sum::<usize>();
            times.push(start.elapsed());
        }
        times.sort();
        println!(
            "reading /proc/net/{{tcp,tcp6,udp,udp6}} ({bytes} bytes, no parsing): min {:?}, median {:?}",
            times[0],
            times[times.len() / 2]
        );
    }
}
