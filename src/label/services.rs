//! Service names for ports: IANA's registry, a short overlay, and optional host aliases.

use std::cmp::Ordering;

use super::service_name::Name;
use super::services_table::IANA;
use crate::model::Proto;

/// OVERLAY: names that beat IANA's in `ServiceTable::name`.
///
/// IANA assigns many ports that developer and infrastructure servers took over by
/// convention, so its name misleads on a typical host (9090 reads "websm" where
/// Prometheus listens). The overlay names the common squatters instead. Ports several
/// dev servers share get the neutral "http-dev" and name the frameworks in
/// `OVERLAY_ALIASES`, since a wrong product name next to the real process is worse than
/// none. 80 and 631 are here because the source package keeps IANA's last-listed name
/// per port ("www-http", "ipps"), not the primary one that users and `ss` know.
///
/// Rules: lowercase, at most 15 characters (RFC 6335, and a table column), spelled so a TARGET can
/// name it, and different from IANA's name (the tests check all of these). Sorted by
/// (port, proto) for binary search.
static OVERLAY: &[(u16, Proto, Name)] = &[
    (80, Proto::Tcp, Name::new("http")),
    (80, Proto::Udp, Name::new("http")),
    (631, Proto::Tcp, Name::new("ipp")),
    (2376, Proto::Tcp, Name::new("docker-tls")),
    (2380, Proto::Tcp, Name::new("etcd-peer")),
    (3000, Proto::Tcp, Name::new("http-dev")),
    (5000, Proto::Tcp, Name::new("http-dev")),
    (5173, Proto::Tcp, Name::new("vite")),
    (6443, Proto::Tcp, Name::new("kubernetes-api")),
    (8000, Proto::Tcp, Name::new("http-dev")),
    (8888, Proto::Tcp, Name::new("jupyter")),
    (9000, Proto::Tcp, Name::new("php-fpm")),
    (9090, Proto::Tcp, Name::new("prometheus")),
    (9100, Proto::Tcp, Name::new("node-exporter")),
    (9200, Proto::Tcp, Name::new("elasticsearch")),
    (10000, Proto::Tcp, Name::new("webmin")),
    (10250, Proto::Tcp, Name::new("kubelet")),
    (11211, Proto::Tcp, Name::new("memcached")),
    (11211, Proto::Udp, Name::new("memcached")),
];

/// Names users type for the ports the overlay calls "http-dev"; for `lookup` only.
static OVERLAY_ALIASES: &[(&str, Proto, u16)] = &[
    ("grafana", Proto::Tcp, 3000),
    ("flask", Proto::Tcp, 5000),
    ("django", Proto::Tcp, 8000),
];

/// Port ↔ service-name table.
///
/// `name` answers from the built-in data alone, so output is the same on every host;
/// names from the host's `/etc/services` only widen what `lookup` accepts.
#[derive(Debug, Clone)]
pub struct ServiceTable {
    /// `(name, proto, port)` from `/etc/services`, names and aliases alike; sorted.
    host: Vec<(String, Proto, u16)>,
}

impl ServiceTable {
    /// IANA's registry with the overlay, and no host names.
    pub fn builtin() -> ServiceTable {
        ServiceTable { host: Vec::new() }
    }

    /// Also accept the names and aliases in `text`, the contents of an `/etc/services`
    /// file, in `lookup`. Lines that do not parse are skipped: the file is the host's,
    /// and a bad line there must not stop portwho.
    pub fn with_etc_services(mut self, text: &str) -> ServiceTable {
        for line in text.lines() {
            let line = line.split_once('#').map_or(line, |(data, _)| data);
            let mut fields = line.split_whitespace();
            let (Some(name), Some(port_proto)) = (fields.next(), fields.next()) else {
                continue;
            };
            let Some((port, proto)) = parse_port_proto(port_proto) else {
                continue;
            };
            for name in std::iter::once(name).chain(fields) {
                if is_service_name(name) {
                    self.host.push((name.to_string(), proto, port));
                }
            }
        }
        self.host.sort_unstable();
        self.host.dedup();
        self
    }

    /// The service name of a port: the overlay's, else IANA's.
    pub fn name(&self, port: u16, proto: Proto) -> Option<&'static str> {
        find(OVERLAY, port, proto).or_else(|| find(IANA, port, proto))
    }

    /// Every (protocol, port) a name stands for, case-insensitively: TCP before UDP,
    /// then by port, without repeats. Empty for an unknown name.
    pub fn lookup(&self, name: &str) -> Vec<(Proto, u16)> {
        let builtin = OVERLAY
            .iter()
            .chain(IANA)
            .filter(|(_, _, n)| n.as_str().eq_ignore_ascii_case(name))
            .map(|&(port, proto, _)| (proto, port));
        let aliases = OVERLAY_ALIASES
            .iter()
            .filter(|(n, _, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, proto, port)| (proto, port));
        let host = self
            .host
            .iter()
            .filter(|(n, _, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, proto, port)| (proto, port));
        let mut found: Vec<(Proto, u16)> = builtin.chain(aliases).chain(host).collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    /// Every name `lookup` accepts, sorted case-insensitively, each once (lowercase
    /// spelling preferred). A few IANA names hold '/' or '*', which a TARGET cannot.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        let mut all: Vec<&str> = OVERLAY
            .iter()
            .chain(IANA)
            .map(|(_, _, n)| n.as_str())
            .chain(OVERLAY_ALIASES.iter().map(|&(n, _, _)| n))
            .chain(self.host.iter().map(|(n, _, _)| n.as_str()))
            .collect();
        // Lowercase bytes sort after uppercase, so `b.cmp(a)` puts them first in a tie.
        all.sort_unstable_by(|a, b| cmp_ignore_case(a, b).then_with(|| b.cmp(a)));
        all.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        all.into_iter()
    }
}

fn find(table: &'static [(u16, Proto, Name)], port: u16, proto: Proto) -> Option<&'static str> {
    let i = table
        .binary_search_by(|&(p, pr, _)| (p, pr).cmp(&(port, proto)))
        .ok()?;
    table.get(i).map(|(_, _, n)| n.as_str())
}

fn cmp_ignore_case(a: &str, b: &str) -> Ordering {
    let lower = |s: &str| {
        s.bytes()
            .map(|c| c.to_ascii_lowercase())
            .collect::<Vec<u8>>()
    };
    lower(a).cmp(&lower(b))
}

/// `80/tcp` → (80, Tcp). Only plain digits: `str::parse` would take "+80" too.
fn parse_port_proto(text: &str) -> Option<(u16, Proto)> {
    let (port, proto) = text.split_once('/')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port = port.parse::<u16>().ok()?;
    let proto = if proto.eq_ignore_ascii_case("tcp") {
        Proto::Tcp
    } else if proto.eq_ignore_ascii_case("udp") {
        Proto::Udp
    } else {
        return None;
    };
    Some((port, proto))
}

/// RFC 6335 wants at least one letter, which also keeps a name from passing for a port.
fn is_service_name(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_graphic()) && text.bytes().any(|b| b.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Proto::{Tcp, Udp};

    fn table() -> ServiceTable {
        ServiceTable::builtin()
    }

    #[test]
    fn generated_table_is_sorted_and_unique() {
        assert!(
            IANA.len() > 5000,
            "IANA table looks truncated: {}",
            IANA.len()
        );
        for pair in IANA.windows(2) {
            let (a, b) = ((pair[0].0, pair[0].1), (pair[1].0, pair[1].1));
            assert!(a < b, "IANA table not strictly sorted at {a:?}, {b:?}");
        }
        assert!(IANA.iter().all(|(_, _, n)| !n.as_str().is_empty()));
    }

    #[test]
    fn overlay_is_sorted_unique_and_well_formed() {
        for pair in OVERLAY.windows(2) {
            let (a, b) = ((pair[0].0, pair[0].1), (pair[1].0, pair[1].1));
            assert!(a < b, "OVERLAY not strictly sorted at {a:?}, {b:?}");
        }
        let names = OVERLAY
            .iter()
            .map(|(_, _, n)| n.as_str())
            .chain(OVERLAY_ALIASES.iter().map(|&(n, _, _)| n));
        for name in names {
            assert!(name.len() <= 15, "{name} is too long for the column");
            // The characters a TARGET accepts as a service name, lowercased.
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'-' | b'_' | b'.' | b'+')),
                "{name} is not a lowercase TARGET name"
            );
        }
    }

    #[test]
    fn overlay_differs_from_iana() {
        // An entry IANA has caught up with is dead weight: drop it from the overlay.
        for (port, proto, name) in OVERLAY {
            assert_ne!(
                find(IANA, *port, *proto),
                Some(name.as_str()),
                "{port}/{proto:?}"
            );
        }
    }

    #[test]
    fn iana_names_resolve() {
        let t = table();
        assert_eq!(t.lookup("http"), [(Tcp, 80), (Udp, 80)]);
        assert!(t.lookup("https").contains(&(Tcp, 443)));
        assert_eq!(t.lookup("postgresql"), [(Tcp, 5432), (Udp, 5432)]);
        assert!(t.lookup("http-alt").contains(&(Tcp, 8080)));
        assert_eq!(t.lookup("domain"), [(Tcp, 53), (Udp, 53)]);
        assert!(t.lookup("ntp").contains(&(Udp, 123)));
        assert_eq!(t.lookup("ssh"), [(Tcp, 22), (Udp, 22)]);
        assert_eq!(t.lookup("mysql"), [(Tcp, 3306), (Udp, 3306)]);
    }

    #[test]
    fn lookup_is_case_insensitive_ordered_and_deduplicated() {
        let t = table();
        assert_eq!(t.lookup("HTTP"), t.lookup("http"));
        assert_eq!(t.lookup("Redis"), [(Tcp, 6379)]);
        // IANA's http-alt covers 591, 8008 and 8080 on both protocols.
        let alt = t.lookup("http-alt");
        let mut sorted = alt.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(alt, sorted);
        assert_eq!(alt.first(), Some(&(Tcp, 591)));
        assert!(
            alt.iter()
                .skip_while(|(p, _)| *p == Tcp)
                .all(|(p, _)| *p == Udp)
        );
    }

    #[test]
    fn udp_only_names() {
        let t = table();
        assert_eq!(t.lookup("syslog"), [(Udp, 514)]);
        assert_eq!(t.lookup("who"), [(Udp, 513)]);
        assert_eq!(t.name(514, Udp), Some("syslog"));
    }

    #[test]
    fn unknown_names_and_ports() {
        let t = table();
        assert!(t.lookup("nosuch-service").is_empty());
        assert!(t.lookup("").is_empty());
        assert_eq!(t.name(4, Tcp), None); // Unassigned in IANA
        assert_eq!(t.name(6379, Udp), None); // Reserved: no name
        assert_eq!(t.name(65535, Udp), None);
    }

    #[test]
    fn overlay_wins_for_name() {
        let t = table();
        assert_eq!(t.name(3000, Tcp), Some("http-dev"));
        assert_eq!(t.name(9090, Tcp), Some("prometheus"));
        assert_eq!(t.name(80, Tcp), Some("http"));
        assert_eq!(t.name(631, Tcp), Some("ipp"));
        // Only the protocols the overlay lists are overridden.
        assert_eq!(t.name(3000, Udp), Some("remoteware-cl"));
        // IANA already has these right.
        assert_eq!(t.name(2375, Tcp), Some("docker"));
        assert_eq!(t.name(2379, Tcp), Some("etcd-client"));
        assert_eq!(t.name(6379, Tcp), Some("redis"));
        assert_eq!(t.name(27017, Tcp), Some("mongodb"));
        assert_eq!(t.name(443, Tcp), Some("https"));
        // IANA's name still finds the port.
        assert_eq!(t.lookup("remoteware-cl"), [(Tcp, 3000), (Udp, 3000)]);
        assert_eq!(t.lookup("www-http"), [(Tcp, 80), (Udp, 80)]);
    }

    #[test]
    fn overlay_names_and_aliases_resolve() {
        let t = table();
        for (port, proto, name) in OVERLAY {
            let name = name.as_str();
            assert!(t.lookup(name).contains(&(*proto, *port)), "{name}");
        }
        for &(name, proto, port) in OVERLAY_ALIASES {
            assert_eq!(t.lookup(name), [(proto, port)], "{name}");
        }
        assert_eq!(t.lookup("vite"), [(Tcp, 5173)]);
        assert_eq!(t.lookup("jupyter"), [(Tcp, 8888)]);
        assert_eq!(t.lookup("memcached"), [(Tcp, 11211), (Udp, 11211)]);
        assert_eq!(
            t.lookup("http-dev"),
            [(Tcp, 3000), (Tcp, 5000), (Tcp, 8000)]
        );
    }

    #[test]
    fn etc_services_adds_lookup_names_only() {
        let text = "\
# /etc/services: a comment line
\n\
http\t\t80/tcp\t\twww www-http\t# WorldWideWeb HTTP\r\n\
postgresql\t5432/tcp\tpostgres\n\
domain 53/udp\n\
   \t  \n\
this is garbage\n\
onlyname\n\
bigport 70000/tcp\n\
sctpthing 9/sctp\n\
ddpthing 1/ddp\n\
plusport +81/tcp\n\
negport -1/tcp\n\
noport /tcp\n\
1234 1234/tcp\n\
ctl\u{7}name 7/tcp good-alias\n\
halfcomment 8080/tcp#not-an-alias\n\
kerberos 88/tcp kerberos5 krb5 # Kerberos v5\n\
kerberos 88/udp kerberos5 krb5\n";
        let t = table().with_etc_services(text);
        assert_eq!(t.lookup("www"), [(Tcp, 80)]);
        assert_eq!(t.lookup("WWW"), [(Tcp, 80)]);
        assert_eq!(t.lookup("postgres"), [(Tcp, 5432)]);
        assert_eq!(t.lookup("domain"), [(Tcp, 53), (Udp, 53)]);
        assert_eq!(t.lookup("krb5"), [(Tcp, 88), (Udp, 88)]);
        assert_eq!(t.lookup("good-alias"), [(Tcp, 7)]);
        assert_eq!(t.lookup("halfcomment"), [(Tcp, 8080)]);
        for skipped in [
            "this",
            "garbage",
            "onlyname",
            "bigport",
            "sctpthing",
            "ddpthing",
            "plusport",
            "negport",
            "noport",
            "1234",
            "ctl\u{7}name",
            "not-an-alias",
            "WorldWideWeb",
        ] {
            assert!(t.lookup(skipped).is_empty(), "{skipped}");
        }
        // Output stays the same on every host.
        assert_eq!(t.name(80, Tcp), Some("http"));
        assert_eq!(t.name(5432, Tcp), Some("postgresql"));
        assert_eq!(t.name(7, Tcp), Some("echo"));
        assert!(t.names().any(|n| n == "postgres"));
        assert!(!table().names().any(|n| n == "postgres"));
    }

    #[test]
    fn etc_services_tolerates_empty_and_binary_text() {
        let t = table().with_etc_services("");
        assert_eq!(t.lookup("http"), [(Tcp, 80), (Udp, 80)]);
        let t = table().with_etc_services("\u{0}\u{0}\n/\n//\n 80/tcp\n\u{feff}x 1/tcp\n");
        assert!(t.lookup("x").is_empty());
        assert_eq!(t.lookup("ssh"), [(Tcp, 22), (Udp, 22)]);
    }

    #[test]
    fn names_are_sorted_unique_and_complete() {
        let t = table();
        let names: Vec<&str> = t.names().collect();
        for pair in names.windows(2) {
            assert_eq!(
                cmp_ignore_case(pair[0], pair[1]),
                Ordering::Less,
                "{} then {}",
                pair[0],
                pair[1]
            );
        }
        for wanted in ["http", "https", "redis", "vite", "grafana", "www-http"] {
            assert!(names.contains(&wanted), "{wanted}");
        }
        assert_eq!(names.iter().filter(|n| **n == "http-dev").count(), 1);
    }
}
