//! TARGET arguments (`:8080`, `8000-8100`, `[::1]:80`, `:http/udp`) parsed into `Target`s.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;

use crate::model::{Proto, Socket};

/// One selection of sockets by their local end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The local address, or `None` for any.
    pub addr: Option<IpAddr>,
    pub ports: RangeInclusive<u16>,
    /// The protocol, or `None` for both.
    pub proto: Option<Proto>,
}

impl Target {
    pub fn matches(&self, socket: &Socket) -> bool {
        self.matches_port(socket) && self.addr.is_none_or(|a| same_ip(a, socket.local.ip()))
    }
}

impl Target {
    /// The port and protocol match, whatever the address.
    pub fn matches_port(&self, socket: &Socket) -> bool {
        self.ports.contains(&socket.local.port()) && self.proto.is_none_or(|p| p == socket.proto)
    }

    /// Whether the socket is connected *to* this target: a client of the port.
    pub fn matches_remote(&self, socket: &Socket) -> bool {
        socket.remote.is_some_and(|remote| {
            self.ports.contains(&remote.port())
                && self.proto.is_none_or(|p| p == socket.proto)
                && self.addr.is_none_or(|a| same_ip(a, remote.ip()))
        })
    }
}

/// `127.0.0.1` also names the IPv4-mapped `::ffff:127.0.0.1` of a dual-stack socket.
fn same_ip(wanted: IpAddr, actual: IpAddr) -> bool {
    let canonical = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    canonical(wanted) == canonical(actual)
}

/// Why a TARGET was refused; the message names the input and the expected forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid target '{input}': {reason}; {EXPECTED}")]
pub struct TargetError {
    pub input: String,
    pub reason: String,
}

const EXPECTED: &str =
    "expected PORT, :PORT, LOW-HIGH, ADDR:PORT, [IPV6]:PORT or :SERVICE, optionally /tcp or /udp";

/// Parse one TARGET. A service name may stand for different ports per protocol, so one
/// argument can give several targets; `services` answers name → (protocol, port) pairs.
pub fn parse(
    input: &str,
    services: &dyn Fn(&str) -> Vec<(Proto, u16)>,
) -> Result<Vec<Target>, TargetError> {
    let fail = |reason: String| TargetError {
        input: input.to_string(),
        reason,
    };
    if input.trim().is_empty() {
        return Err(fail("it is empty".into()));
    }
    if input.trim() != input {
        return Err(fail("it has surrounding spaces".into()));
    }

    let (rest, proto) = split_proto(input).map_err(fail)?;
    let (addr, port_text) = split_addr(rest).map_err(fail)?;
    if port_text.is_empty() {
        return Err(fail("the port is missing".into()));
    }

    match parse_ports(port_text) {
        Ok(Some(ports)) => return Ok(vec![Target { addr, ports, proto }]),
        Ok(None) => {}
        // IANA names such as aol-1 or 4-tieropmcli look like half a range; a name wins, and
        // anything else gets the range's message.
        Err(e) if services(port_text).is_empty() => return Err(fail(e)),
        Err(_) => {}
    }

    // Not a number or range: a service name.
    if !port_text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'))
    {
        return Err(fail(format!(
            "'{port_text}' is neither a port nor a service name"
        )));
    }
    let mut targets: Vec<Target> = services(port_text)
        .into_iter()
        .filter(|(p, _)| proto.is_none_or(|want| want == *p))
        .map(|(p, port)| Target {
            addr,
            ports: port..=port,
            proto: Some(p),
        })
        .collect();
    if targets.is_empty() {
        let scope = proto.map_or(String::new(), |p| format!(" for {}", p.as_str()));
        return Err(fail(format!("unknown service name '{port_text}'{scope}")));
    }
    // One port for both protocols reads better as one target.
    if proto.is_none()
        && targets.len() == 2
        && targets[0].ports == targets[1].ports
        && targets[0].proto != targets[1].proto
    {
        targets.truncate(1);
        targets[0].proto = None;
    }
    Ok(targets)
}

fn split_proto(input: &str) -> Result<(&str, Option<Proto>), String> {
    match input.rsplit_once('/') {
        None => Ok((input, None)),
        Some((rest, suffix)) => match suffix.to_ascii_lowercase().as_str() {
            "tcp" => Ok((rest, Some(Proto::Tcp))),
            "udp" => Ok((rest, Some(Proto::Udp))),
            other => Err(format!("unknown protocol '{other}' (use /tcp or /udp)")),
        },
    }
}

/// Split `ADDR:PORT`, `[V6]:PORT`, `:PORT` and `PORT` into address and port text.
fn split_addr(text: &str) -> Result<(Option<IpAddr>, &str), String> {
    if let Some(inner) = text.strip_prefix('[') {
        let (addr, after) = inner
            .split_once(']')
            .ok_or_else(|| "the '[' of an IPv6 address is not closed".to_string())?;
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| format!("expected ':PORT' after '[{addr}]'"))?;
        let ip: Ipv6Addr = addr
            .parse()
            .map_err(|_| format!("'{addr}' is not an IPv6 address"))?;
        return Ok((Some(IpAddr::V6(ip)), port));
    }
    match text.strip_prefix(':') {
        Some(port) if !port.contains(':') => return Ok((None, port)),
        _ => {}
    }
    match text.rsplit_once(':') {
        None => Ok((None, text)),
        Some((addr, port)) => {
            if addr.contains(':') {
                return Err("an IPv6 address needs brackets, as in [::1]:8080".into());
            }
            let ip: Ipv4Addr = addr
                .parse()
                .map_err(|_| format!("'{addr}' is not an IPv4 address"))?;
            Ok((Some(IpAddr::V4(ip)), port))
        }
    }
}

/// `8080` or `8000-8100`; `Ok(None)` when the text is not numeric at all (a service name).
fn parse_ports(text: &str) -> Result<Option<RangeInclusive<u16>>, String> {
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some((low, high)) = text.split_once('-') {
        if !numeric(low) && !numeric(high) {
            return Ok(None);
        }
        if !numeric(low) || !numeric(high) {
            return Err(format!("'{text}' is not a port range like 8000-8100"));
        }
        let (low, high) = (port_number(low)?, port_number(high)?);
        if low > high {
            return Err(format!("the range {low}-{high} runs backwards"));
        }
        return Ok(Some(low..=high));
    }
    if numeric(text) {
        let port = port_number(text)?;
        return Ok(Some(port..=port));
    }
    Ok(None)
}

fn port_number(text: &str) -> Result<u16, String> {
    text.parse::<u16>()
        .map_err(|_| format!("port {text} is out of range (0-65535)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services(name: &str) -> Vec<(Proto, u16)> {
        match name {
            "http" => vec![(Proto::Tcp, 80), (Proto::Udp, 80)],
            "domain" => vec![(Proto::Tcp, 53), (Proto::Udp, 53)],
            "odd" => vec![(Proto::Tcp, 1), (Proto::Udp, 2)],
            "ntp" => vec![(Proto::Udp, 123)],
            "aol-1" => vec![(Proto::Tcp, 5190), (Proto::Udp, 5190)],
            "4-tieropmcli" => vec![(Proto::Tcp, 2934)],
            _ => vec![],
        }
    }

    fn one(input: &str) -> Target {
        let mut t = parse(input, &services).unwrap();
        assert_eq!(t.len(), 1, "{input}");
        t.remove(0)
    }

    fn err(input: &str) -> String {
        parse(input, &services).unwrap_err().to_string()
    }

    #[test]
    fn port_forms() {
        for input in [":8080", "8080"] {
            assert_eq!(
                one(input),
                Target {
                    addr: None,
                    ports: 8080..=8080,
                    proto: None
                }
            );
        }
        assert_eq!(one("8000-8100").ports, 8000..=8100);
        assert_eq!(one(":8000-8100/udp").proto, Some(Proto::Udp));
        assert_eq!(one("0").ports, 0..=0);
        assert_eq!(one("65535").ports, 65535..=65535);
    }

    #[test]
    fn address_forms() {
        let t = one("127.0.0.1:8080");
        assert_eq!(t.addr, Some("127.0.0.1".parse().unwrap()));
        let t = one("[::1]:8080/tcp");
        assert_eq!(t.addr, Some("::1".parse().unwrap()));
        assert_eq!(t.proto, Some(Proto::Tcp));
        assert_eq!(one("[::]:http").ports, 80..=80);
    }

    #[test]
    fn services_expand_per_protocol() {
        assert_eq!(one(":http").proto, None);
        assert_eq!(one(":http/udp").proto, Some(Proto::Udp));
        assert_eq!(one("ntp").proto, Some(Proto::Udp));
        assert_eq!(parse(":odd", &services).unwrap().len(), 2);
        assert!(err(":ntp/tcp").contains("unknown service name 'ntp' for tcp"));
    }

    #[test]
    fn service_names_that_look_like_half_a_range() {
        assert_eq!(one(":aol-1").ports, 5190..=5190);
        assert_eq!(one("4-tieropmcli/tcp").ports, 2934..=2934);
        assert!(err(":aol-2").contains("'aol-2' is not a port range like 8000-8100"));
        assert!(err("8000-").contains("not a port range"));
    }

    #[test]
    fn errors_name_input_and_forms() {
        let cases = [
            ("", "it is empty"),
            (" 80", "surrounding spaces"),
            ("70000", "port 70000 is out of range"),
            ("99999999999999999999", "out of range"),
            ("9000-8000", "runs backwards"),
            ("80-", "not a port range"),
            ("-80", "not a port range"),
            (":", "the port is missing"),
            ("127.0.0.1:", "the port is missing"),
            ("::1:80", "needs brackets"),
            ("[::1]80", "expected ':PORT'"),
            ("[::1:80", "not closed"),
            ("[1.2.3.4]:80", "not an IPv6 address"),
            ("300.1.1.1:80", "not an IPv4 address"),
            ("80/sctp", "unknown protocol 'sctp'"),
            (":nosuch", "unknown service name 'nosuch'"),
            (":a b", "neither a port nor a service name"),
            (":\u{1b}[31m", "neither a port nor a service name"),
        ];
        for (input, reason) in cases {
            let message = err(input);
            assert!(message.contains(reason), "{input:?}: {message}");
            assert!(message.contains("expected PORT"), "{input:?}: {message}");
            assert!(!message.contains('\n'), "{input:?}: {message}");
        }
    }

    #[test]
    fn dual_stack_mapped_addresses_match() {
        let socket = Socket {
            proto: Proto::Tcp,
            local: "[::ffff:127.0.0.1]:80".parse().unwrap(),
            remote: None,
            state: crate::model::State::Listen,
            uid: Some(0),
            inode: 1,
            v6only: None,
            netns: 0,
        };
        assert!(one("127.0.0.1:80").matches(&socket));
        assert!(!one("127.0.0.2:80").matches(&socket));
        assert!(one("80/tcp").matches(&socket));
        assert!(!one("80/udp").matches(&socket));
    }

    mod properties {
        use super::*;
        use crate::text::escape;
        use proptest::prelude::*;

        fn proto() -> impl Strategy<Value = Option<Proto>> {
            prop_oneof![Just(None), Just(Some(Proto::Tcp)), Just(Some(Proto::Udp))]
        }

        /// A suffix as a user may type it: `/tcp`, `/UDP`, `/Tcp`.
        fn suffix(proto: Option<Proto>, upper: bool) -> String {
            proto.map_or(String::new(), |p| {
                let name = p.as_str();
                format!(
                    "/{}",
                    if upper {
                        name.to_uppercase()
                    } else {
                        name.into()
                    }
                )
            })
        }

        fn ports_text(ports: &RangeInclusive<u16>) -> String {
            if ports.start() == ports.end() {
                ports.start().to_string()
            } else {
                format!("{}-{}", ports.start(), ports.end())
            }
        }

        fn ports() -> impl Strategy<Value = RangeInclusive<u16>> {
            prop_oneof![
                any::<u16>().prop_map(|p| p..=p),
                (any::<u16>(), any::<u16>()).prop_map(|(a, b)| a.min(b)..=a.max(b)),
            ]
        }

        proptest! {
            #[test]
            fn any_port_with_or_without_colon(port in any::<u16>(), proto in proto(), upper in any::<bool>()) {
                let want = Target { addr: None, ports: port..=port, proto };
                for text in [format!(":{port}"), format!("{port}")] {
                    let text = format!("{text}{}", suffix(proto, upper));
                    prop_assert_eq!(parse(&text, &services), Ok(vec![want.clone()]), "{}", text);
                }
            }

            #[test]
            fn any_address_and_ports_parse_back(
                addr in any::<Option<IpAddr>>(),
                ports in ports(),
                proto in proto(),
                upper in any::<bool>(),
            ) {
                let text = match addr {
                    None => format!(":{}", ports_text(&ports)),
                    Some(IpAddr::V4(v4)) => format!("{v4}:{}", ports_text(&ports)),
                    Some(IpAddr::V6(v6)) => format!("[{v6}]:{}", ports_text(&ports)),
                } + &suffix(proto, upper);
                let want = Target { addr, ports, proto };
                prop_assert_eq!(parse(&text, &services), Ok(vec![want]), "{}", text);
            }

            #[test]
            fn backwards_ranges_are_refused(a in any::<u16>(), b in any::<u16>()) {
                prop_assume!(a != b);
                let text = format!("{}-{}", a.max(b), a.min(b));
                let err = parse(&text, &services).unwrap_err().to_string();
                prop_assert!(err.contains("runs backwards"), "{}", err);
            }

            #[test]
            fn arbitrary_text_never_panics_and_errors_are_one_line(
                input in prop_oneof![any::<String>(), crate::text::hostile_text()],
            ) {
                if let Err(e) = parse(&input, &services) {
                    let message = e.to_string();
                    // main prints it escaped, so the user always sees one line...
                    prop_assert!(!escape(&message).contains(['\n', '\r']), "{:?}", message);
                    // ...and only the echoed input can bring a line break.
                    if !input.contains(['\n', '\r']) {
                        prop_assert_eq!(message.lines().count(), 1, "{:?}", message);
                    }
                    prop_assert!(message.contains(EXPECTED));
                }
            }

            #[test]
            fn target_like_text_never_panics(input in "[\\[\\]:0-9a-fA-F./\\-tcpud ]{0,24}") {
                match parse(&input, &services) {
                    Ok(targets) => prop_assert!(targets.iter().all(|t| t.ports.start() <= t.ports.end())),
                    Err(e) => prop_assert!(!e.to_string().contains('\n')),
                }
            }
        }
    }
}
