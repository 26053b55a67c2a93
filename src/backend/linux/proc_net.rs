//! Parser for `/proc/net/{tcp,tcp6,udp,udp6}`: the fallback when netlink is unavailable.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::backend::SocketTable;
use crate::model::{Proto, Socket, SocketQuery, State, Warning};

/// A table that could not be read.
#[derive(Debug)]
pub(crate) struct Unread {
    pub path: PathBuf,
    pub source: io::Error,
}

/// Read and parse the tables `query` asks for from one `net` directory: `/proc/net` (the
/// reader's own network namespace) or `/proc/PID/net` (the namespace of process PID).
pub(crate) fn read_tables(dir: &Path, query: &SocketQuery) -> Result<SocketTable, Unread> {
    let mut table = SocketTable::default();
    let files = [
        (Proto::Tcp, false, "tcp"),
        (Proto::Tcp, true, "tcp6"),
        (Proto::Udp, false, "udp"),
        (Proto::Udp, true, "udp6"),
    ];
    for (proto, v6, file) in files {
        let wanted_proto = match proto {
            Proto::Tcp => query.tcp,
            Proto::Udp => query.udp,
        };
        if !wanted_proto || !(if v6 { query.ipv6 } else { query.ipv4 }) {
            continue;
        }
        let path = dir.join(file);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            // A kernel without IPv6 has no tcp6/udp6.
            Err(e) if v6 && e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => return Err(Unread { path, source }),
        };
        let parsed = parse_table(&text, proto);
        if parsed.bad_lines > 0 {
            table.warnings.push(Warning::MalformedLines {
                path,
                count: parsed.bad_lines,
            });
        }
        table.sockets.extend(parsed.sockets);
    }
    Ok(table)
}

/// Sockets parsed from one table, and how many lines had to be skipped.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub sockets: Vec<Socket>,
    pub bad_lines: usize,
}

/// Parse a whole table. The header line is skipped; a line that does not parse (garbage, or
/// the last line of a file truncated mid-read) is counted, never fatal.
pub fn parse_table(text: &str, proto: Proto) -> Parsed {
    let mut parsed = Parsed::default();
    for line in text.lines().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line, proto) {
            Some(socket) => parsed.sockets.push(socket),
            None => parsed.bad_lines += 1,
        }
    }
    parsed
}

/// One line: `sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...`.
pub fn parse_line(line: &str, proto: Proto) -> Option<Socket> {
    let mut fields = line.split_ascii_whitespace();
    let slot = fields.next()?;
    if !slot.ends_with(':') {
        return None;
    }
    let local = parse_endpoint(fields.next()?)?;
    let remote = parse_endpoint(fields.next()?)?;
    let state = State::from_kernel(proto, u8::from_str_radix(fields.next()?, 16).ok()?)?;
    let _queues = fields.next()?;
    let _timer = fields.next()?;
    let _retransmits = fields.next()?;
    let uid = fields.next()?.parse().ok()?;
    let _timeout = fields.next()?;
    let inode = fields.next()?.parse().ok()?;
    if local.is_ipv4() != remote.is_ipv4() {
        return None;
    }
    Some(Socket {
        proto,
        local,
        remote: (!(remote.port() == 0 && remote.ip().is_unspecified())).then_some(remote),
        state,
        uid: Some(uid),
        inode,
        v6only: None,
        netns: 0,
    })
}

/// `0100007F:1F90` or the 32-digit IPv6 form. The kernel prints each 32-bit word of the
/// address with `%08X` in host byte order, so the bytes come back with `to_ne_bytes`.
fn parse_endpoint(text: &str) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    if port.len() != 4 {
        return None;
    }
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |hex: &str| u32::from_str_radix(hex, 16).ok().map(u32::to_ne_bytes);
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(addr)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(addr.get(i * 8..i * 8 + 8)?)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

    #[test]
    fn ipv4_listener() {
        let line = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 123456 1 0000000000000000 100 0 0 10 0";
        let s = parse_line(line, Proto::Tcp).unwrap();
        assert_eq!(s.local, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(s.remote, None);
        assert_eq!(s.state, State::Listen);
        assert_eq!((s.uid, s.inode), (Some(1000), 123456));
    }

    #[test]
    fn ipv6_loopback_and_mapped() {
        let line = "   1: 00000000000000000000000001000000:0050 00000000000000000000000001000000:D431 01 00000000:00000000 00:00000000 00000000     0        0 777 1";
        let s = parse_line(line, Proto::Tcp).unwrap();
        assert_eq!(s.local, "[::1]:80".parse().unwrap());
        assert_eq!(s.remote, Some("[::1]:54321".parse().unwrap()));
        assert_eq!(s.state, State::Established);
        let mapped = "   2: 0000000000000000FFFF00000100007F:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 778 1";
        let s = parse_line(mapped, Proto::Tcp).unwrap();
        assert_eq!(s.local, "[::ffff:127.0.0.1]:80".parse().unwrap());
    }

    #[test]
    fn udp_states() {
        let unconn = "  10: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 4242 2 0000000000000000 0";
        assert_eq!(parse_line(unconn, Proto::Udp).unwrap().state, State::Unconn);
        let bogus = unconn.replace(" 07 ", " 0A ");
        assert_eq!(parse_line(&bogus, Proto::Udp), None);
    }

    #[test]
    fn garbage_and_truncation_are_counted() {
        let good = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 123456 1";
        let text = format!("{HEADER}{good}\nnonsense here\n   1: 0100007F:1F91 00000000:00\n");
        let parsed = parse_table(&text, Proto::Tcp);
        assert_eq!(parsed.sockets.len(), 1);
        assert_eq!(parsed.bad_lines, 2);
        // Every prefix of a valid table parses without panicking.
        let full = format!("{HEADER}{good}\n");
        for end in 0..full.len() {
            let _ = parse_table(&full[..end], Proto::Tcp);
        }
    }

    #[test]
    fn mixed_families_rejected() {
        let line = "   0: 0100007F:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1";
        assert_eq!(parse_line(line, Proto::Tcp), None);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// The kernel's `%08X` per 32-bit word of the address, in host byte order, then
        /// `:%04X` for the port: what `tcp4_seq_show` and `tcp6_seq_show` print.
        fn encode(addr: SocketAddr) -> String {
            let words: Vec<String> = match addr.ip() {
                IpAddr::V4(v4) => vec![format!("{:08X}", u32::from_ne_bytes(v4.octets()))],
                IpAddr::V6(v6) => v6
                    .octets()
                    .chunks_exact(4)
                    .map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
                    .collect(),
            };
            format!("{}:{:04X}", words.concat(), addr.port())
        }

        fn ip_of(v6: bool) -> BoxedStrategy<IpAddr> {
            if v6 {
                any::<Ipv6Addr>().prop_map(IpAddr::V6).boxed()
            } else {
                any::<Ipv4Addr>().prop_map(IpAddr::V4).boxed()
            }
        }

        /// A socket as the kernel could list it: both ends of one family, a state the
        /// protocol has, no peer for `*:0`.
        fn socket() -> impl Strategy<Value = Socket> {
            (any::<bool>(), any::<bool>()).prop_flat_map(|(v6, udp)| {
                let proto = if udp { Proto::Udp } else { Proto::Tcp };
                let states: Vec<u8> = if udp { vec![1, 7] } else { (1..=12).collect() };
                (
                    ip_of(v6),
                    any::<u16>(),
                    proptest::option::of((ip_of(v6), any::<u16>())),
                    proptest::sample::select(states),
                    any::<u32>(),
                    any::<u64>(),
                )
                    .prop_map(move |(ip, port, remote, state, uid, inode)| {
                        Socket {
                            proto,
                            local: SocketAddr::new(ip, port),
                            remote: remote
                                .map(|(ip, port)| SocketAddr::new(ip, port))
                                .filter(|r| !(r.port() == 0 && r.ip().is_unspecified())),
                            state: State::from_kernel(proto, state).unwrap(),
                            uid: Some(uid),
                            inode,
                            v6only: None,
                            netns: 0,
                        }
                    })
            })
        }

        fn kernel_code(state: State) -> u8 {
            match state {
                State::Unconn => 7,
                State::SynRecv => 3,
                other => (1..=12)
                    .find(|&c| State::from_kernel(Proto::Tcp, c) == Some(other))
                    .unwrap(),
            }
        }

        fn line(slot: usize, s: &Socket) -> String {
            let unspecified = match s.local.ip() {
                IpAddr::V4(_) => SocketAddr::from(([0u8; 4], 0)),
                IpAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
            };
            format!(
                "{slot:4}: {} {} {:02X} 00000000:00000000 00:00000000 00000000 {:5} 0 {} 1 0000000000000000 100 0 0 10 0",
                encode(s.local),
                encode(s.remote.unwrap_or(unspecified)),
                kernel_code(s.state),
                s.uid.unwrap_or(0),
                s.inode
            )
        }

        proptest! {
            #[test]
            fn kernel_lines_parse_back(socket in socket(), slot in 0usize..100_000) {
                prop_assert_eq!(parse_line(&line(slot, &socket), socket.proto), Some(socket));
            }

            #[test]
            fn whole_tables_parse_back(sockets in proptest::collection::vec(socket(), 0..20)) {
                for proto in [Proto::Tcp, Proto::Udp] {
                    let mine: Vec<Socket> = sockets.iter().filter(|s| s.proto == proto).cloned().collect();
                    let mut text = HEADER.to_string();
                    for (i, s) in mine.iter().enumerate() {
                        text.push_str(&line(i, s));
                        text.push('\n');
                    }
                    prop_assert_eq!(parse_table(&text, proto), Parsed { sockets: mine, bad_lines: 0 });
                }
            }

            #[test]
            fn arbitrary_text_is_counted_never_fatal(text in any::<String>()) {
                let parsed = parse_table(&text, Proto::Tcp);
                let lines = text.lines().skip(1).filter(|l| !l.trim().is_empty()).count();
                prop_assert_eq!(parsed.sockets.len() + parsed.bad_lines, lines);
            }
        }
    }
}
