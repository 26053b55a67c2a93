//! The first packet of a new connection from another host, as the input hook sees it, and
//! the kernel's registers loaded from it. Each byte is known, partly known (bits), or not
//! known at all; an unknown byte remembers what it depends on where that rules values out.

use std::net::IpAddr;
use std::ops::Range;

use crate::model::PayloadBase;

/// Bytes of data registers: four of 16 bytes, which sixteen of 4 bytes overlay.
pub(super) const REGS_LEN: usize = 64;

/// What an unknown byte is known *not* to be, so that `iif lo` rules never match and a
/// wildcard socket's destination is never a loopback address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tag {
    Any,
    /// The incoming interface's index: not loopback's, which is always 1.
    Iif,
    /// The incoming interface's name: not `lo`.
    Iifname,
    /// The first byte of the IPv4 destination of a wildcard socket: not 127.
    Daddr4Head,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Byte {
    pub(super) value: u8,
    /// The bits of `value` that are known.
    pub(super) known: u8,
    pub(super) tag: Tag,
}

impl Byte {
    pub(super) const UNKNOWN: Byte = Byte::tagged(Tag::Any);

    pub(super) const fn known(value: u8) -> Byte {
        Byte {
            value,
            known: 0xff,
            tag: Tag::Any,
        }
    }

    const fn tagged(tag: Tag) -> Byte {
        Byte {
            value: 0,
            known: 0,
            tag,
        }
    }

    /// Some bits known: `value` where `known` has a 1.
    const fn bits(value: u8, known: u8) -> Byte {
        Byte {
            value: value & known,
            known,
            tag: Tag::Any,
        }
    }

    pub(super) fn is_known(self) -> bool {
        self.known == 0xff
    }
}

/// The byte span of register `reg` holding `len` bytes: registers 1–4 are 16 bytes each,
/// 8–23 the 4-byte ones over the same storage (`NFT_REG32_00` is register 1's first word).
/// `None` for the verdict register, numbers the kernel does not have, and spans that run
/// past the last register: the kernel refuses them, a decoded rule may still hold them.
pub(super) fn span(reg: u32, len: usize) -> Option<Range<usize>> {
    let start = match reg {
        1..=4 => (reg as usize - 1) * 16,
        8..=23 => (reg as usize - 8) * 4,
        _ => return None,
    };
    let end = start.checked_add(len)?;
    (len > 0 && end <= REGS_LEN).then_some(start..end)
}

pub(super) struct Regs {
    bytes: [Byte; REGS_LEN],
}

impl Regs {
    pub(super) fn new() -> Regs {
        Regs {
            bytes: [Byte::UNKNOWN; REGS_LEN],
        }
    }

    /// Forget everything: what an expression portwho does not evaluate may have written.
    pub(super) fn clear(&mut self) {
        self.bytes = [Byte::UNKNOWN; REGS_LEN];
    }

    pub(super) fn get(&self, span: Range<usize>) -> &[Byte] {
        &self.bytes[span]
    }

    /// Store as the kernel does: the last 32-bit word is zeroed first, so a 2-byte port
    /// in a 4-byte register reads back as the port and two zeros (a set key that
    /// concatenates fields relies on it).
    pub(super) fn store(&mut self, span: Range<usize>, bytes: impl IntoIterator<Item = Byte>) {
        let padded = span.end.div_ceil(4) * 4;
        for b in &mut self.bytes[span.end..padded.min(REGS_LEN)] {
            *b = Byte::known(0);
        }
        for (slot, b) in self.bytes[span].iter_mut().zip(bytes) {
            *slot = b;
        }
    }
}

/// The address family of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Ip {
    V4,
    V6,
}

impl Ip {
    pub(super) fn name(self) -> &'static str {
        match self {
            Ip::V4 => "IPv4",
            Ip::V6 => "IPv6",
        }
    }

    /// `NFPROTO_IPV4`, `NFPROTO_IPV6`.
    fn nfproto(self) -> u8 {
        match self {
            Ip::V4 => 2,
            Ip::V6 => 10,
        }
    }

    pub(super) fn addr_len(self) -> usize {
        match self {
            Ip::V4 => 4,
            Ip::V6 => 16,
        }
    }
}

/// `IPPROTO_TCP`, `IPPROTO_UDP`.
pub(super) const TCP: u8 = 6;
pub(super) const UDP: u8 = 17;

/// What a load expression leaves in its register, or that the rule stops there
/// (`NFT_BREAK`: a socket's owner asked for before the connection has a socket).
pub(super) enum Load {
    Value(Value),
    Break,
}

/// Up to 16 bytes (an interface name, an IPv6 address).
pub(super) struct Value {
    bytes: [Byte; 16],
    len: usize,
}

impl Value {
    fn of(bytes: impl IntoIterator<Item = Byte>) -> Value {
        let mut value = Value {
            bytes: [Byte::UNKNOWN; 16],
            len: 0,
        };
        for b in bytes.into_iter().take(16) {
            value.bytes[value.len] = b;
            value.len += 1;
        }
        value
    }

    fn unknown(len: usize, tag: Tag) -> Value {
        Value::of(std::iter::repeat_n(Byte::tagged(tag), len))
    }

    fn known(bytes: &[u8]) -> Value {
        Value::of(bytes.iter().map(|&b| Byte::known(b)))
    }

    /// A 32-bit value in the host's byte order, as the kernel keeps `ct state` and
    /// `ct status`, with only the bits of `known` known.
    fn host_u32(value: u32, known: u32) -> Value {
        let v = value.to_ne_bytes();
        let k = known.to_ne_bytes();
        Value::of((0..4).map(|i| Byte::bits(v[i], k[i])))
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn bytes(&self) -> impl Iterator<Item = Byte> + '_ {
        self.bytes[..self.len].iter().copied()
    }
}

/// The first packet of a new connection from another host to a listening socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Packet {
    pub(super) ip: Ip,
    pub(super) proto: u8,
    pub(super) dport: u16,
    /// The socket's own address; `None` for a wildcard socket, which receives on any of the
    /// host's addresses.
    pub(super) daddr: Option<IpAddr>,
}

// NFT_META_* and NFT_CT_* keys the packet answers for.
const META_PROTOCOL: u32 = 1;
const META_IIF: u32 = 4;
const META_OIF: u32 = 5;
const META_IIFNAME: u32 = 6;
const META_OIFNAME: u32 = 7;
const META_SKUID: u32 = 10;
const META_SKGID: u32 = 11;
const META_NFPROTO: u32 = 15;
const META_L4PROTO: u32 = 16;
const META_PKTTYPE: u32 = 19;
/// Keys whose value is an interface or kind name (16 bytes).
const META_NAMES: [u32; 6] = [META_IIFNAME, META_OIFNAME, 17, 18, 26, 27];
const CT_STATE: u32 = 0;
const CT_DIRECTION: u32 = 1;
const CT_STATUS: u32 = 2;
const CT_L3PROTOCOL: u32 = 7;
const CT_SRC: u32 = 8;
const CT_DST: u32 = 9;
const CT_PROTOCOL: u32 = 10;
const CT_PROTO_SRC: u32 = 11;
const CT_PROTO_DST: u32 = 12;
const CT_LABELS: u32 = 13;
const CT_HELPER: u32 = 6;
const CT_SRC_IP: u32 = 19;
const CT_DST_IP: u32 = 20;
const CT_SRC_IP6: u32 = 21;
const CT_DST_IP6: u32 = 22;

/// `ct state new`: the bit of `IP_CT_NEW`.
pub(super) const CT_STATE_NEW: u32 = 8;
/// `ct status`: expected, seen-reply, assured, confirmed, snat, dnat are all clear on the
/// first packet of a connection nothing translated; the other bits are not known.
const CT_STATUS_KNOWN: u32 = 0x3f;

impl Packet {
    /// The header byte at `at`, or unknown past what the packet is known to carry.
    fn byte(&self, base: PayloadBase, at: usize) -> Byte {
        match base {
            PayloadBase::Network => self.network(at),
            PayloadBase::Transport => self.transport(at),
            PayloadBase::Link | PayloadBase::Inner => Byte::UNKNOWN,
        }
    }

    pub(super) fn payload(&self, base: PayloadBase, offset: u32, len: usize) -> Value {
        let start = offset as usize;
        Value::of((start..start.saturating_add(len)).map(|at| self.byte(base, at)))
    }

    fn network(&self, at: usize) -> Byte {
        match self.ip {
            Ip::V4 => match at {
                // Version 4; the header length may carry options.
                0 => Byte::bits(0x40, 0xf0),
                // The first (reassembled) fragment: no offset, no "more fragments".
                6 => Byte::bits(0, 0xbf),
                7 => Byte::known(0),
                9 => Byte::known(self.proto),
                16..20 => self.daddr_byte(at - 16),
                _ => Byte::UNKNOWN,
            },
            Ip::V6 => match at {
                0 => Byte::bits(0x60, 0xf0),
                // No extension headers: the next header is the transport's.
                6 => Byte::known(self.proto),
                24..40 => self.daddr_byte(at - 24),
                _ => Byte::UNKNOWN,
            },
        }
    }

    fn daddr_byte(&self, i: usize) -> Byte {
        match self.daddr {
            Some(IpAddr::V4(a)) => a.octets().get(i).map_or(Byte::UNKNOWN, |&b| Byte::known(b)),
            Some(IpAddr::V6(a)) => a.octets().get(i).map_or(Byte::UNKNOWN, |&b| Byte::known(b)),
            None if i == 0 && self.ip == Ip::V4 => Byte::tagged(Tag::Daddr4Head),
            None => Byte::UNKNOWN,
        }
    }

    fn transport(&self, at: usize) -> Byte {
        let port = self.dport.to_be_bytes();
        match at {
            2 => Byte::known(port[0]),
            3 => Byte::known(port[1]),
            // A SYN: no FIN, RST, PSH, ACK or URG; ECE and CWR depend on the sender.
            13 if self.proto == TCP => Byte::bits(0x02, 0x3f),
            _ => Byte::UNKNOWN,
        }
    }

    fn daddr(&self) -> Value {
        let len = self.ip.addr_len();
        let first = match self.ip {
            Ip::V4 => 16,
            Ip::V6 => 24,
        };
        Value::of((first..first + len).map(|at| self.network(at)))
    }

    /// `meta KEY`.
    pub(super) fn meta(&self, key: u32) -> Load {
        Load::Value(match key {
            META_L4PROTO => Value::known(&[self.proto, 0, 0, 0]),
            META_NFPROTO => Value::known(&[self.ip.nfproto(), 0, 0, 0]),
            META_PROTOCOL => {
                let ethertype: u16 = match self.ip {
                    Ip::V4 => 0x0800,
                    Ip::V6 => 0x86dd,
                };
                let [a, b] = ethertype.to_be_bytes();
                Value::known(&[a, b, 0, 0])
            }
            // PACKET_HOST: addressed to this host.
            META_PKTTYPE => Value::known(&[0, 0, 0, 0]),
            META_IIF => Value::unknown(4, Tag::Iif),
            META_IIFNAME => Value::unknown(16, Tag::Iifname),
            // No output device on the input path: index 0, an empty name.
            META_OIF => Value::known(&[0; 4]),
            META_OIFNAME => Value::known(&[0; 16]),
            // No local socket yet, so no owner: the kernel breaks off the rule.
            META_SKUID | META_SKGID => return Load::Break,
            key if META_NAMES.contains(&key) => Value::unknown(16, Tag::Any),
            _ => Value::unknown(4, Tag::Any),
        })
    }

    /// `ct KEY` of a new connection in the original direction.
    pub(super) fn ct(&self, key: u32) -> Load {
        let port = self.dport.to_be_bytes();
        Load::Value(match key {
            CT_STATE => Value::host_u32(CT_STATE_NEW, u32::MAX),
            CT_DIRECTION => Value::known(&[0, 0, 0, 0]),
            CT_STATUS => Value::host_u32(0, CT_STATUS_KNOWN),
            CT_L3PROTOCOL => Value::known(&[self.ip.nfproto(), 0, 0, 0]),
            CT_PROTOCOL => Value::known(&[self.proto, 0, 0, 0]),
            CT_PROTO_DST => Value::known(&[port[0], port[1], 0, 0]),
            CT_PROTO_SRC => Value::unknown(4, Tag::Any),
            CT_SRC => Value::unknown(self.ip.addr_len(), Tag::Any),
            CT_DST => self.daddr(),
            CT_SRC_IP | CT_DST_IP if self.ip != Ip::V4 => return Load::Break,
            CT_SRC_IP6 | CT_DST_IP6 if self.ip != Ip::V6 => return Load::Break,
            CT_SRC_IP | CT_SRC_IP6 => Value::unknown(self.ip.addr_len(), Tag::Any),
            CT_DST_IP | CT_DST_IP6 => self.daddr(),
            CT_LABELS | CT_HELPER => Value::unknown(16, Tag::Any),
            _ => Value::unknown(4, Tag::Any),
        })
    }
}

/// Whether a value the connection cannot have is what `bytes` would have to be: loopback's
/// interface index or name, or a loopback destination for a wildcard socket.
pub(super) fn ruled_out(bytes: &[Byte], candidate: &[u8]) -> bool {
    let Some(first) = bytes.first() else {
        return false;
    };
    match first.tag {
        Tag::Iif => {
            bytes.len() == 4
                && bytes.iter().all(|b| b.tag == Tag::Iif)
                && candidate == 1u32.to_ne_bytes()
        }
        // The name's bytes up to its NUL are `lo`: a wildcard `lo*` (no NUL) stays open.
        Tag::Iifname => {
            bytes.len() >= 3
                && bytes[..3].iter().all(|b| b.tag == Tag::Iifname)
                && candidate.get(..3) == Some(b"lo\0")
        }
        Tag::Daddr4Head => candidate.first() == Some(&127),
        Tag::Any => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_are_laid_out_as_the_kernel_lays_them_out() {
        assert_eq!(span(1, 4), Some(0..4));
        assert_eq!(span(8, 4), Some(0..4));
        assert_eq!(span(9, 2), Some(4..6));
        assert_eq!(span(2, 16), Some(16..32));
        assert_eq!(span(23, 4), Some(60..64));
        assert_eq!(span(4, 17), None);
        assert_eq!(span(0, 4), None);
        assert_eq!(span(5, 4), None);
        assert_eq!(span(1, 0), None);
    }

    #[test]
    fn a_store_zeroes_the_rest_of_its_last_word() {
        let mut regs = Regs::new();
        regs.store(0..2, [Byte::known(0), Byte::known(22)]);
        let got: Vec<(u8, u8)> = regs.get(0..5).iter().map(|b| (b.value, b.known)).collect();
        assert_eq!(got, [(0, 0xff), (22, 0xff), (0, 0xff), (0, 0xff), (0, 0)]);
    }

    #[test]
    fn the_packet_knows_its_port_and_protocol_not_its_source() {
        let p = Packet {
            ip: Ip::V4,
            proto: TCP,
            dport: 8080,
            daddr: None,
        };
        let dport: Vec<u8> = p
            .payload(PayloadBase::Transport, 2, 2)
            .bytes()
            .map(|b| b.value)
            .collect();
        assert_eq!(dport, 8080u16.to_be_bytes());
        assert!(
            p.payload(PayloadBase::Network, 12, 4)
                .bytes()
                .all(|b| b.known == 0)
        );
        assert!(
            p.payload(PayloadBase::Network, 9, 1)
                .bytes()
                .all(Byte::is_known)
        );
        let head = p.payload(PayloadBase::Network, 16, 1);
        assert!(ruled_out(&head.bytes().collect::<Vec<_>>(), &[127]));
    }
}
