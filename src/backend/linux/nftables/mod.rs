//! The nftables ruleset of a network namespace, read from the kernel over nfnetlink
//! (NETLINK_NETFILTER), as `nft list ruleset` reads it: never by running `nft` or
//! `iptables`. Rules that iptables-nft, docker, ufw or firewalld wrote are nftables rules
//! too; rules of legacy iptables (x_tables) are not, and [`legacy_iptables_in_use`] says when
//! a namespace has some.
//!
//! One socket asks for the generation, dumps tables, chains, sets and rules, then each set's
//! elements, then the generation again: a ruleset changed meanwhile is read again.

pub(crate) mod decode;
#[cfg(test)]
mod tests;

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Duration;

use rustix::io::Errno;
use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::sockopt::{self, Timeout};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

use self::decode::{
    Assembly, DecodeError, NFGENMSG_LEN, NFNL_SUBSYS_NFTABLES, NFT_MSG_GETCHAIN, NFT_MSG_GETGEN,
    NFT_MSG_GETRULE, NFT_MSG_GETSET, NFT_MSG_GETSETELEM, NFT_MSG_GETTABLE, NFTA_SET_ELEM_LIST_SET,
    NFTA_SET_ELEM_LIST_TABLE, NLMSG_HDRLEN,
};
use super::netns::{self, Unreadable};
use crate::model::{Namespace, Ruleset};

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
/// Every family at once: tables, chains, sets and rules of `inet`, `ip`, `ip6`, ...
const NFPROTO_UNSPEC: u8 = 0;
const NFNETLINK_V0: u8 = 0;
/// How many times a ruleset that changed while it was read is read again.
const ATTEMPTS: usize = 3;
/// The kernel fills dump datagrams up to 32 KiB; one rule larger than that still arrives
/// whole in 64 KiB, and a larger one is caught by MSG_TRUNC rather than cut.
const RECV_BUFFER: usize = 64 * 1024;
/// A kernel that stops answering must not hang the caller.
const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the ruleset could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NftError {
    /// nfnetlink refuses every request without CAP_NET_ADMIN, reads included.
    #[error("reading the nftables ruleset needs CAP_NET_ADMIN (root)")]
    NotPermitted,
    /// No nf_tables in this kernel, or netlink refused.
    #[error("this kernel does not answer nftables requests: {0}")]
    Unsupported(#[source] io::Error),
    #[error("the ruleset changed while it was read ({ATTEMPTS} times)")]
    Changed,
    /// Parts of the answer could not be decoded: the ruleset would be incomplete.
    #[error("{0} parts of the kernel's nftables answer could not be decoded")]
    Malformed(usize),
    /// The namespace could not be entered.
    #[error("cannot enter the network namespace: {0}")]
    NotEntered(#[source] Unreadable),
    #[error("nfnetlink {op} failed: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: io::Error,
    },
}

impl NftError {
    /// What an errno from the kernel (positive) means here.
    fn from_errno(op: &'static str, errno: i32) -> Self {
        let e = Errno::from_raw_os_error(errno);
        match e {
            Errno::PERM | Errno::ACCESS => NftError::NotPermitted,
            Errno::PROTONOSUPPORT
            | Errno::NOENT
            | Errno::NOPROTOOPT
            | Errno::OPNOTSUPP
            | Errno::AFNOSUPPORT => NftError::Unsupported(e.into()),
            // A dump the kernel gave up because the ruleset changed under it.
            Errno::INTR | Errno::AGAIN => NftError::Changed,
            _ => NftError::Io {
                op,
                source: e.into(),
            },
        }
    }
}

/// The ruleset of the calling thread's network namespace.
pub(crate) fn read() -> Result<Ruleset, NftError> {
    let mut link = Link::open()?;
    read_with(&mut link)
}

/// The ruleset of `ns`: in place for the caller's own namespace, else from a thread that
/// enters it and reads it there.
pub(crate) fn read_in(ns: &Namespace, proc_root: &Path) -> Result<Ruleset, NftError> {
    if ns.own {
        return read();
    }
    netns::run_inside(ns, proc_root, |_| read()).map_err(NftError::NotEntered)?
}

/// Whether legacy iptables (x_tables) has tables in this namespace: `PROC/net/ip_tables_names`
/// or `ip6_tables_names` is not empty. Their rules are not in the nftables ruleset, so the
/// ruleset alone does not say what the firewall does.
pub(crate) fn legacy_iptables_in_use(proc_root: &Path) -> bool {
    ["ip_tables_names", "ip6_tables_names"].iter().any(|name| {
        std::fs::read(proc_root.join("net").join(name))
            .is_ok_and(|names| names.iter().any(|b| !b.is_ascii_whitespace()))
    })
}

/// [`legacy_iptables_in_use`] for `ns`, from a thread inside it (`PROC/thread-self/net`).
pub(crate) fn legacy_iptables_in(ns: &Namespace, proc_root: &Path) -> Result<bool, Unreadable> {
    if ns.own {
        return Ok(legacy_iptables_in_use(proc_root));
    }
    netns::run_inside(ns, proc_root, legacy_iptables_in_use)
}

/// Read until a ruleset is read whole within one generation.
fn read_with(link: &mut Link) -> Result<Ruleset, NftError> {
    for _ in 0..ATTEMPTS {
        match read_once(link) {
            // The rest of an interrupted dump may still be on its way: a new socket.
            Err(NftError::Changed) => *link = Link::open()?,
            other => return other,
        }
    }
    Err(NftError::Changed)
}

fn read_once(link: &mut Link) -> Result<Ruleset, NftError> {
    let before = link.generation("gen")?;
    let mut assembly = Assembly::default();
    for (phase, kind) in [
        ("tables", NFT_MSG_GETTABLE),
        ("chains", NFT_MSG_GETCHAIN),
        ("sets", NFT_MSG_GETSET),
        ("rules", NFT_MSG_GETRULE),
    ] {
        let request = request(kind, NLM_F_DUMP, NFPROTO_UNSPEC, link.next_seq(), &[]);
        link.exchange(phase, &request, &mut assembly)?;
    }
    for (family, table, set) in assembly.sets() {
        let mut attrs = Vec::new();
        attribute(&mut attrs, NFTA_SET_ELEM_LIST_TABLE, &table);
        attribute(&mut attrs, NFTA_SET_ELEM_LIST_SET, &set);
        let request = request(
            NFT_MSG_GETSETELEM,
            NLM_F_DUMP,
            family,
            link.next_seq(),
            &attrs,
        );
        match link.exchange("elements", &request, &mut assembly) {
            // The set (or its table) was deleted since it was listed.
            Err(NftError::Unsupported(_)) => return Err(NftError::Changed),
            other => other?,
        }
    }
    if link.generation("gen-after")? != before {
        return Err(NftError::Changed);
    }
    let decoded = assembly.finish();
    if decoded.dropped > 0 {
        return Err(NftError::Malformed(decoded.dropped));
    }
    Ok(Ruleset {
        generation: before,
        ..decoded.ruleset
    })
}

/// Datagrams as received, each with the phase of the read that asked for it.
type Datagrams = Vec<(&'static str, Vec<u8>)>;

/// A NETLINK_NETFILTER socket, its receive buffer, the last sequence number sent, and (for
/// the fixture capture) every datagram received, by phase.
struct Link {
    fd: OwnedFd,
    buf: Vec<u8>,
    seq: u32,
    record: Option<Datagrams>,
}

impl Link {
    fn open() -> Result<Link, NftError> {
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            Some(netlink::NETFILTER),
        )
        .map_err(|e| NftError::from_errno("socket", e.raw_os_error()))?;
        sockopt::set_socket_timeout(&fd, Timeout::Recv, Some(RECV_TIMEOUT)).map_err(|e| {
            NftError::Io {
                op: "setsockopt",
                source: e.into(),
            }
        })?;
        Ok(Link {
            fd,
            buf: vec![0; RECV_BUFFER],
            seq: 0,
            record: None,
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// NFT_MSG_GETGEN: the ruleset's generation now.
    fn generation(&mut self, phase: &'static str) -> Result<u32, NftError> {
        let seq = self.next_seq();
        let request = request(NFT_MSG_GETGEN, NLM_F_ACK, NFPROTO_UNSPEC, seq, &[]);
        let mut assembly = Assembly::default();
        self.exchange(phase, &request, &mut assembly)?;
        assembly.generation().ok_or(NftError::Malformed(1))
    }

    /// Send one request and feed every datagram of its answer to `into`, up to its end.
    fn exchange(
        &mut self,
        phase: &'static str,
        request: &[u8],
        into: &mut Assembly,
    ) -> Result<(), NftError> {
        send(&self.fd, request)?;
        loop {
            let Some(len) = recv(&self.fd, &mut self.buf)? else {
                continue;
            };
            let datagram = self.buf.get(..len).unwrap_or_default();
            if let Some(record) = &mut self.record {
                record.push((phase, datagram.to_vec()));
            }
            match decode::decode_datagram(datagram, Some(self.seq), into) {
                Ok(progress) if progress.done => return Ok(()),
                Ok(_) => {}
                Err(DecodeError::Kernel(errno)) => return Err(NftError::from_errno(phase, errno)),
                Err(DecodeError::Interrupted) => return Err(NftError::Changed),
                Err(DecodeError::Malformed(_)) => return Err(NftError::Malformed(1)),
            }
        }
    }
}

/// One nf_tables request: `nlmsghdr`, `nfgenmsg`, then the attributes given.
fn request(kind: u16, flags: u16, family: u8, seq: u32, attrs: &[u8]) -> Vec<u8> {
    let len = NLMSG_HDRLEN + NFGENMSG_LEN + attrs.len();
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_ne_bytes());
    msg.extend_from_slice(&(NFNL_SUBSYS_NFTABLES << 8 | kind).to_ne_bytes());
    msg.extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    // nfgenmsg: family, version, resource id (big-endian, 0).
    msg.extend_from_slice(&[family, NFNETLINK_V0, 0, 0]);
    msg.extend_from_slice(attrs);
    msg
}

/// Append an NLA_STRING attribute (NUL-terminated, padded to 4 bytes).
fn attribute(out: &mut Vec<u8>, kind: u16, value: &str) {
    let len = 4 + value.len() + 1;
    out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value.as_bytes());
    out.push(0);
    out.resize(out.len().next_multiple_of(4), 0);
}

fn send(fd: &OwnedFd, message: &[u8]) -> Result<(), NftError> {
    let kernel = SocketAddrNetlink::new(0, 0);
    loop {
        match rustix::net::sendto(fd, message, SendFlags::empty(), &kernel) {
            Ok(sent) if sent == message.len() => return Ok(()),
            Ok(_) => {
                return Err(NftError::Io {
                    op: "sendto",
                    source: io::ErrorKind::WriteZero.into(),
                });
            }
            Err(Errno::INTR) => continue,
            Err(e) => return Err(NftError::from_errno("sendto", e.raw_os_error())),
        }
    }
}

/// Receive one datagram; `None` when it did not come from the kernel.
fn recv(fd: &OwnedFd, buf: &mut [u8]) -> Result<Option<usize>, NftError> {
    loop {
        // TRUNC makes the kernel report the full length, so a cut datagram is caught.
        match rustix::net::recvfrom(fd, &mut *buf, RecvFlags::TRUNC) {
            Ok((_, len, from)) => {
                if len > buf.len() || len == 0 {
                    return Err(NftError::Malformed(1));
                }
                // Any local process may send to our port id; only the kernel (pid 0)
                // answers requests.
                let from_kernel = from
                    .and_then(|addr| SocketAddrNetlink::try_from(addr).ok())
                    .is_some_and(|addr| addr.pid() == 0);
                return Ok(from_kernel.then_some(len));
            }
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => {
                return Err(NftError::Io {
                    op: "recvfrom",
                    source: io::ErrorKind::TimedOut.into(),
                });
            }
            // ENOBUFS: the socket's buffer overflowed, datagrams were lost.
            Err(e) => return Err(NftError::from_errno("recvfrom", e.raw_os_error())),
        }
    }
}

/// Every datagram one whole read received, by phase (`gen`, `tables`, `chains`, `sets`,
/// `rules`, `elements`, `gen-after`): what the fixtures hold.
#[cfg(test)]
pub(crate) fn read_raw() -> Result<(Ruleset, Datagrams), NftError> {
    let mut link = Link::open()?;
    link.record = Some(Vec::new());
    let ruleset = read_once(&mut link)?;
    Ok((ruleset, link.record.take().unwrap_or_default()))
}
