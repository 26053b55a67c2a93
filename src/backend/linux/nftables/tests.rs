//! Tests of the nftables reader and decoder: captured dumps of real rulesets
//! (`fixtures/nftables/`) against what `nft -a -j list ruleset` said of them, every
//! truncation and corruption, and live namespaces (root only).

// The capture and the live tests make namespaces and load rulesets with ip(8), nft(8) and
// iptables-nft; portwho itself runs no program (clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::decode::{Assembly, DecodeError, Decoded, decode_datagram, decode_dump};
use super::*;
use crate::model::{
    CmpOp, Expr, Hook, Immediate, NatKind, NfChain, NfFamily, NfSet, NfTable, PayloadBase, Verdict,
};

/// The phases of a read, in the order the reader asks; each fixture file holds one's
/// datagrams, back to back.
const PHASES: [&str; 7] = [
    "gen",
    "tables",
    "chains",
    "sets",
    "rules",
    "elements",
    "gen-after",
];

const FIXTURES: [&str; 8] = [
    "inet-filter",
    "two-tables",
    "iptables-nft",
    "docker-host",
    "docker-published",
    "ufw-like",
    "firewalld-like",
    "nat-vmap",
];

fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/nftables")
        .join(name)
}

/// A fixture's whole dump, its phases one after another.
fn dump_bytes(name: &str) -> Vec<u8> {
    let dir = fixture_dir(name);
    let mut bytes = Vec::new();
    for phase in PHASES {
        let path = dir.join(format!("{phase}.bin"));
        bytes.extend(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
    }
    bytes
}

fn decoded(name: &str) -> Decoded {
    let decoded = decode_dump(&dump_bytes(name));
    assert_eq!((decoded.dropped, decoded.opaque), (0, 0), "{name}");
    decoded
}

fn nft_json(name: &str) -> Vec<Value> {
    let path = fixture_dir(name).join("nft.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: Value = serde_json::from_str(&text).expect("nft's JSON");
    json["nftables"]
        .as_array()
        .expect("an nftables array")
        .clone()
}

fn table<'a>(decoded: &'a Decoded, family: NfFamily, name: &str) -> &'a NfTable {
    decoded
        .ruleset
        .tables
        .iter()
        .find(|t| t.family == Some(family) && t.name == name)
        .unwrap_or_else(|| panic!("no table {} {name}", family.as_str()))
}

fn chain<'a>(table: &'a NfTable, name: &str) -> &'a NfChain {
    table
        .chains
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no chain {name} in {}", table.name))
}

fn set<'a>(table: &'a NfTable, name: &str) -> &'a NfSet {
    table
        .sets
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no set {name} in {}", table.name))
}

fn hook_name(hook: Hook) -> String {
    match hook {
        Hook::Prerouting => "prerouting".into(),
        Hook::Input => "input".into(),
        Hook::Forward => "forward".into(),
        Hook::Output => "output".into(),
        Hook::Postrouting => "postrouting".into(),
        Hook::Other(n) => format!("hook {n}"),
    }
}

fn verdict_name(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Accept => "accept".into(),
        Verdict::Drop => "drop".into(),
        other => format!("{other:?}"),
    }
}

/// Everything `nft -a -j` says of tables, chains, rules and named sets is what the decoder
/// found, in the same order: families, names, hooks, priorities, policies, types, handles.
fn assert_agrees(what: &str, ruleset: &Ruleset, json: &[Value]) {
    let (mut tables, mut chains, mut rules, mut sets) = (vec![], vec![], vec![], vec![]);
    // A dormant table is the only one nft gives flags (nft 1.0.6 spells them wrong); the
    // decoder leaves it out with all it holds.
    let mut dormant = Vec::new();
    for item in json {
        let text = |v: &Value, key: &str| v[key].as_str().unwrap_or_default().to_string();
        let of_dormant = item
            .as_object()
            .and_then(|o| o.values().next())
            .is_some_and(|v| dormant.contains(&(text(v, "family"), text(v, "table"))));
        if of_dormant {
            continue;
        }
        if let Some(t) = item.get("table") {
            if t.get("flags").is_some() {
                dormant.push((text(t, "family"), text(t, "name")));
                continue;
            }
            tables.push((text(t, "family"), text(t, "name")));
        } else if let Some(c) = item.get("chain") {
            chains.push((
                (text(c, "family"), text(c, "table"), text(c, "name")),
                c.get("hook").map(|_| text(c, "hook")),
                c["prio"].as_i64().unwrap_or(0),
                c.get("policy").map(|_| text(c, "policy")),
                c.get("type").map(|_| text(c, "type")),
            ));
        } else if let Some(r) = item.get("rule") {
            rules.push((
                (text(r, "family"), text(r, "table"), text(r, "chain")),
                r["handle"].as_u64().expect("a handle"),
            ));
        } else if let Some(s) = item.get("set").or_else(|| item.get("map")) {
            sets.push((text(s, "family"), text(s, "table"), text(s, "name")));
        }
    }
    let family = |t: &NfTable| t.family.map_or("?", NfFamily::as_str).to_string();
    let ours: Vec<_> = ruleset
        .tables
        .iter()
        .map(|t| (family(t), t.name.clone()))
        .collect();
    assert_eq!(ours, tables, "{what}: tables");
    let (mut our_chains, mut our_rules, mut our_sets) = (vec![], vec![], vec![]);
    for t in &ruleset.tables {
        for c in &t.chains {
            let key = (family(t), t.name.clone(), c.name.clone());
            our_chains.push((
                key.clone(),
                c.hook.map(hook_name),
                i64::from(c.priority),
                c.policy.as_ref().map(verdict_name),
                c.kind.clone(),
            ));
            our_rules.extend(c.rules.iter().map(|r| (key.clone(), r.handle)));
        }
        // nft prints anonymous sets inside their rules.
        our_sets.extend(
            t.sets
                .iter()
                .filter(|s| !s.name.starts_with("__"))
                .map(|s| (family(t), t.name.clone(), s.name.clone())),
        );
    }
    // nft lists chains table by table in the kernel's order, as the decoder keeps them.
    assert_eq!(our_chains, chains, "{what}: chains");
    // nft lists rules chain by chain, each chain's in the kernel's order (a stable sort
    // keeps it).
    rules.sort_by(|a, b| a.0.cmp(&b.0));
    our_rules.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(our_rules, rules, "{what}: rules and their handles");
    assert_eq!(our_sets, sets, "{what}: named sets");
}

#[test]
fn every_fixture_agrees_with_nft() {
    for name in FIXTURES {
        let decoded = decoded(name);
        assert_agrees(name, &decoded.ruleset, &nft_json(name));
        assert_ne!(decoded.ruleset.generation, 0, "{name}");
    }
}

/// The rules nft wrote for `tcp dport 22`, with the protocol check before the port.
fn tcp_dport(port: u16) -> Vec<Expr> {
    vec![
        Expr::Meta { key: 16, dreg: 1 },
        Expr::Cmp {
            sreg: 1,
            op: CmpOp::Eq,
            data: vec![6],
        },
        Expr::Payload {
            base: PayloadBase::Transport,
            offset: 2,
            len: 2,
            dreg: 1,
        },
        Expr::Cmp {
            sreg: 1,
            op: CmpOp::Eq,
            data: port.to_be_bytes().to_vec(),
        },
    ]
}

fn verdict(verdict: Verdict) -> Expr {
    Expr::Immediate {
        dreg: 0,
        data: Immediate::Verdict(verdict),
    }
}

fn with(mut exprs: Vec<Expr>, more: impl IntoIterator<Item = Expr>) -> Vec<Expr> {
    exprs.extend(more);
    exprs
}

#[test]
fn inet_filter_rules_exactly() {
    let decoded = decoded("inet-filter");
    assert_eq!(decoded.ruleset.tables.len(), 1);
    let table = table(&decoded, NfFamily::Inet, "filter");
    let input = chain(table, "input");
    assert_eq!(
        (
            input.hook,
            input.priority,
            &input.policy,
            input.kind.as_deref()
        ),
        (Some(Hook::Input), 0, &Some(Verdict::Drop), Some("filter"))
    );
    let user = chain(table, "user");
    assert_eq!(
        (user.hook, &user.policy, user.kind.as_deref()),
        (None, &None, None)
    );
    let rules: Vec<&[Expr]> = input.rules.iter().map(|r| r.exprs.as_slice()).collect();
    assert_eq!(rules.len(), 7);
    // ct state established,related accept: a mask over the state bits, compared to zero.
    assert_eq!(
        rules[0],
        [
            Expr::Ct { key: 0, dreg: 1 },
            Expr::Bitwise {
                sreg: 1,
                dreg: 1,
                len: 4,
                mask: vec![6, 0, 0, 0],
                xor: vec![0; 4],
            },
            Expr::Cmp {
                sreg: 1,
                op: CmpOp::Neq,
                data: vec![0; 4],
            },
            verdict(Verdict::Accept),
        ]
    );
    // iif lo accept: the interface index, 1 for lo.
    assert_eq!(
        rules[1],
        [
            Expr::Meta { key: 4, dreg: 1 },
            Expr::Cmp {
                sreg: 1,
                op: CmpOp::Eq,
                data: 1u32.to_ne_bytes().to_vec(),
            },
            verdict(Verdict::Accept),
        ]
    );
    assert_eq!(rules[2], with(tcp_dport(22), [verdict(Verdict::Accept)]));
    // tcp dport { 80, 8080 }: a lookup in the anonymous set, whose elements are the ports.
    let mut lookup = tcp_dport(0);
    lookup[3] = Expr::Lookup {
        sreg: 1,
        set: "__set0".into(),
        dreg: None,
        invert: false,
    };
    assert_eq!(rules[3], with(lookup, [verdict(Verdict::Accept)]));
    let anonymous = set(table, "__set0");
    let keys: Vec<&[u8]> = anonymous
        .elements
        .iter()
        .map(|e| e.key.as_slice())
        .collect();
    assert_eq!(keys, [&80u16.to_be_bytes()[..], &8080u16.to_be_bytes()[..]]);
    assert_eq!(
        (anonymous.key_len, anonymous.map, anonymous.interval),
        (2, false, false)
    );
    // ip saddr 10.0.0.0/8 in an inet table: first that the packet is IPv4.
    assert_eq!(
        rules[4][..5],
        [
            Expr::Meta { key: 15, dreg: 1 },
            Expr::Cmp {
                sreg: 1,
                op: CmpOp::Eq,
                data: vec![2],
            },
            Expr::Payload {
                base: PayloadBase::Network,
                offset: 12,
                len: 1,
                dreg: 1,
            },
            Expr::Cmp {
                sreg: 1,
                op: CmpOp::Eq,
                data: vec![10],
            },
            tcp_dport(0)[0].clone(),
        ]
    );
    let mut udp53 = tcp_dport(53);
    udp53[1] = Expr::Cmp {
        sreg: 1,
        op: CmpOp::Eq,
        data: vec![17],
    };
    assert_eq!(rules[5], with(udp53, [Expr::Reject]));
    assert_eq!(rules[6], [verdict(Verdict::Jump("user".into()))]);
    assert_eq!(
        user.rules[0].exprs,
        with(tcp_dport(9000), [verdict(Verdict::Accept)])
    );
    // The handles nft -a printed.
    let handles: Vec<u64> = input.rules.iter().map(|r| r.handle).collect();
    assert_eq!(handles, [3, 4, 5, 7, 8, 9, 10]);
}

#[test]
fn nat_forwards_verdict_maps_and_intervals() {
    let decoded = decoded("nat-vmap");
    let nat = table(&decoded, NfFamily::Ip, "nat");
    let prerouting = chain(nat, "prerouting");
    assert_eq!(
        (
            prerouting.hook,
            prerouting.priority,
            prerouting.kind.as_deref()
        ),
        (Some(Hook::Prerouting), -100, Some("nat"))
    );
    // tcp dport 8080 dnat to 10.1.2.3:80
    assert_eq!(
        prerouting.rules[0].exprs,
        with(
            tcp_dport(8080),
            [
                Expr::Immediate {
                    dreg: 1,
                    data: Immediate::Value(vec![10, 1, 2, 3]),
                },
                Expr::Immediate {
                    dreg: 2,
                    data: Immediate::Value(80u16.to_be_bytes().to_vec()),
                },
                Expr::Nat {
                    kind: NatKind::Dnat,
                    family: Some(NfFamily::Ip),
                    addr_min: Some(1),
                    addr_max: Some(1),
                    proto_min: Some(2),
                    proto_max: Some(2),
                },
            ]
        )
    );
    // tcp dport 3000 redirect to :3001
    assert_eq!(
        prerouting.rules[1].exprs,
        with(
            tcp_dport(3000),
            [
                Expr::Immediate {
                    dreg: 1,
                    data: Immediate::Value(3001u16.to_be_bytes().to_vec()),
                },
                Expr::Redir {
                    proto_min: Some(1),
                    proto_max: Some(1),
                },
            ]
        )
    );
    let filter = table(&decoded, NfFamily::Inet, "filter");
    let input = chain(filter, "input");
    // tcp dport vmap { 22 : accept, 23 : drop }: a lookup whose value is the verdict.
    let mut vmap = tcp_dport(0);
    vmap[3] = Expr::Lookup {
        sreg: 1,
        set: "__map0".into(),
        dreg: Some(0),
        invert: false,
    };
    assert_eq!(input.rules[1].exprs, vmap);
    let map = set(filter, "__map0");
    assert!(map.map && map.verdict_map && !map.interval);
    let entries: Vec<_> = map
        .elements
        .iter()
        .map(|e| (e.key.clone(), e.data.clone()))
        .collect();
    assert_eq!(
        entries,
        [
            (vec![0, 22], Some(Immediate::Verdict(Verdict::Accept))),
            (vec![0, 23], Some(Immediate::Verdict(Verdict::Drop))),
        ]
    );
    // tcp dport 1000-2000: two comparisons, as nft writes a range on its own.
    assert_eq!(
        input.rules[2].exprs[3..5],
        [
            Expr::Cmp {
                sreg: 1,
                op: CmpOp::Gte,
                data: 1000u16.to_be_bytes().to_vec(),
            },
            Expr::Cmp {
                sreg: 1,
                op: CmpOp::Lte,
                data: 2000u16.to_be_bytes().to_vec(),
            },
        ]
    );
    // ip saddr != @trusted: an inverted lookup.
    assert!(input.rules[3].exprs.contains(&Expr::Lookup {
        sreg: 1,
        set: "trusted".into(),
        dreg: None,
        invert: true,
    }));
    // { 10.0.0.0/8, 192.168.1.0/24, 172.16.5.1 }: starts and the first key past each.
    let trusted = set(filter, "trusted");
    assert!(trusted.interval && !trusted.map);
    let ranges: Vec<(Vec<u8>, bool)> = trusted
        .elements
        .iter()
        .map(|e| (e.key.clone(), e.interval_end))
        .collect();
    assert_eq!(
        ranges,
        [
            (vec![10, 0, 0, 0], false),
            (vec![11, 0, 0, 0], true),
            (vec![172, 16, 5, 1], false),
            (vec![172, 16, 5, 2], true),
            (vec![192, 168, 1, 0], false),
            (vec![192, 168, 2, 0], true),
        ]
    );
}

#[test]
fn catch_all_elements_and_dormant_tables() {
    let decoded = decoded("nat-vmap");
    // udp dport vmap { 53 : accept, * : drop }: the catch-all has no key.
    let filter = table(&decoded, NfFamily::Inet, "filter");
    let map = set(filter, "__map1");
    let entries: Vec<_> = map
        .elements
        .iter()
        .map(|e| (e.key.clone(), e.catchall, e.data.clone()))
        .collect();
    assert_eq!(
        entries,
        [
            (vec![], true, Some(Immediate::Verdict(Verdict::Drop))),
            (
                vec![0, 53],
                false,
                Some(Immediate::Verdict(Verdict::Accept))
            ),
        ]
    );
    // `table ip sleepy` is dormant: attached to no hook, left out.
    assert!(decoded.ruleset.tables.iter().all(|t| t.name != "sleepy"));
    assert_eq!(decoded.ruleset.tables.len(), 2);
}

#[test]
fn two_tables_on_one_hook_keep_their_priorities() {
    let decoded = decoded("two-tables");
    let early = chain(table(&decoded, NfFamily::Inet, "early"), "input");
    let late = chain(table(&decoded, NfFamily::Ip, "late"), "input");
    assert_eq!((early.hook, early.priority), (Some(Hook::Input), 0));
    assert_eq!((late.hook, late.priority), (Some(Hook::Input), 10));
    assert_eq!(early.policy, Some(Verdict::Accept));
    assert_eq!(
        late.rules[1].exprs,
        with(
            tcp_dport(8080),
            [Expr::Passive("counter".into()), verdict(Verdict::Drop)]
        )
    );
}

#[test]
fn iptables_nft_rules_keep_x_tables_matches_by_name_and_nat_targets_as_nft_writes_them() {
    let decoded = decoded("iptables-nft");
    let filter = table(&decoded, NfFamily::Ip, "filter");
    let input = chain(filter, "INPUT");
    assert_eq!(
        (input.hook, input.priority, &input.policy),
        (Some(Hook::Input), 0, &Some(Verdict::Drop))
    );
    assert_eq!(
        input.rules[0].exprs[0],
        Expr::Other("match conntrack".into())
    );
    assert_eq!(
        input.rules[2].exprs,
        with(
            tcp_dport(22),
            [Expr::Passive("counter".into()), verdict(Verdict::Accept)]
        )
    );
    assert_eq!(
        input.rules[6].exprs.last(),
        Some(&Expr::Other("target LOG".into()))
    );
    assert!(input.rules[6].exprs.contains(&Expr::Other("limit".into())));
    // -j DNAT and -j REDIRECT are x_tables targets; they read as nft writes the same.
    let nat = table(&decoded, NfFamily::Ip, "nat");
    let prerouting = chain(nat, "PREROUTING");
    assert_eq!(prerouting.priority, -100);
    assert_eq!(
        prerouting.rules[0].exprs,
        with(
            tcp_dport(8080),
            [
                Expr::Passive("counter".into()),
                Expr::Immediate {
                    dreg: 1,
                    data: Immediate::Value(vec![10, 1, 2, 3]),
                },
                Expr::Immediate {
                    dreg: 3,
                    data: Immediate::Value(vec![0, 80]),
                },
                Expr::Nat {
                    kind: NatKind::Dnat,
                    family: Some(NfFamily::Ip),
                    addr_min: Some(1),
                    addr_max: Some(1),
                    proto_min: Some(3),
                    proto_max: Some(3),
                },
            ]
        )
    );
    assert_eq!(
        prerouting.rules[1].exprs,
        with(
            tcp_dport(3000),
            [
                Expr::Passive("counter".into()),
                Expr::Immediate {
                    dreg: 1,
                    data: Immediate::Value(3001u16.to_be_bytes().to_vec()),
                },
                Expr::Redir {
                    proto_min: Some(1),
                    proto_max: Some(1),
                },
            ]
        )
    );
    let ip6 = chain(table(&decoded, NfFamily::Ip6, "filter"), "INPUT");
    assert_eq!(ip6.policy, Some(Verdict::Drop));
}

#[test]
fn docker_and_firewalld_rulesets() {
    let decoded = decoded("docker-host");
    let filter = table(&decoded, NfFamily::Ip, "filter");
    let forward = chain(filter, "FORWARD");
    assert_eq!(
        (forward.hook, &forward.policy),
        (Some(Hook::Forward), &Some(Verdict::Drop))
    );
    assert_eq!(
        forward.rules[0].exprs,
        [
            Expr::Passive("counter".into()),
            verdict(Verdict::Jump("DOCKER-USER".into()))
        ]
    );
    // docker run -p 8080:80: the DNAT in the nat table's DOCKER chain.
    let decoded = self::decoded("docker-published");
    let docker = chain(table(&decoded, NfFamily::Ip, "nat"), "DOCKER");
    assert_eq!(
        docker.rules[1].exprs[7..],
        [
            Expr::Immediate {
                dreg: 1,
                data: Immediate::Value(vec![172, 17, 0, 2]),
            },
            Expr::Immediate {
                dreg: 3,
                data: Immediate::Value(vec![0, 80]),
            },
            Expr::Nat {
                kind: NatKind::Dnat,
                family: Some(NfFamily::Ip),
                addr_min: Some(1),
                addr_max: Some(1),
                proto_min: Some(3),
                proto_max: Some(3),
            },
        ]
    );
    // Its MASQUERADE is another x_tables target, kept by name.
    let postrouting = chain(table(&decoded, NfFamily::Ip, "nat"), "POSTROUTING");
    assert_eq!(
        postrouting.rules[0].exprs.last(),
        Some(&Expr::Other("target MASQUERADE".into()))
    );
    let decoded = self::decoded("firewalld-like");
    let firewalld = table(&decoded, NfFamily::Inet, "firewalld");
    let input = chain(firewalld, "filter_INPUT");
    assert_eq!(
        (input.priority, &input.policy),
        (10, &Some(Verdict::Accept))
    );
    let zones = chain(firewalld, "filter_INPUT_ZONES");
    assert_eq!(
        zones.rules[1].exprs,
        [verdict(Verdict::Goto("filter_IN_public".into()))]
    );
    // reject with icmpx admin-prohibited ends the base chain.
    assert_eq!(
        input.rules.last().map(|r| r.exprs.clone()),
        Some(vec![Expr::Reject])
    );
    let dnat = &chain(firewalld, "nat_PRE_public").rules[0].exprs;
    assert!(matches!(
        dnat.last(),
        Some(Expr::Nat {
            kind: NatKind::Dnat,
            family: Some(NfFamily::Ip),
            ..
        })
    ));
}

// ---- The capture of the fixtures. ----

/// An `ip netns` namespace with loopback up, deleted on drop (a failed test too).
struct Scratch {
    name: String,
}

impl Scratch {
    fn new(what: &str) -> Scratch {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("pwcap-{}-{what}-{n}", std::process::id());
        assert!(run("ip", &["netns", "add", &name]), "ip netns add {name}");
        let scratch = Scratch { name };
        assert!(run("ip", &["-n", &scratch.name, "link", "set", "lo", "up"]));
        scratch
    }

    fn namespace(&self) -> Namespace {
        netns::resolve(&self.name, Path::new("/proc"), Path::new("/run")).expect("resolve")
    }

    /// Run a program inside.
    fn exec(&self, program: &str, args: &[&str]) -> std::process::Output {
        let output = Command::new("ip")
            .args(["netns", "exec", &self.name, program])
            .args(args)
            .output()
            .expect("ip netns exec");
        assert!(
            output.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Load a fixture's `setup.nft` (nft -f) or `setup.sh` (sh) inside.
    fn load(&self, dir: &Path) {
        let nft = dir.join("setup.nft");
        if nft.exists() {
            self.exec("nft", &["-f", &nft.to_string_lossy()]);
        } else {
            self.exec("sh", &[&dir.join("setup.sh").to_string_lossy()]);
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.name]);
    }
}

fn run(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

/// Root, with ip(8) and nft(8): else the live tests skip, saying so.
fn can_load_rulesets() -> bool {
    let ok = rustix::process::geteuid().is_root()
        && Command::new("ip")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
        && Command::new("nft")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: needs root, ip(8) and nft(8)");
    }
    ok
}

fn write_capture(dir: &Path, raw: &[(&'static str, Vec<u8>)], json: &[u8]) {
    for phase in PHASES {
        let bytes: Vec<u8> = raw
            .iter()
            .filter(|(p, _)| *p == phase)
            .flat_map(|(_, datagram)| datagram.iter().copied())
            .collect();
        std::fs::write(dir.join(format!("{phase}.bin")), bytes).expect("write a phase");
    }
    let json: Value = serde_json::from_slice(json).expect("nft -j");
    let pretty = serde_json::to_string_pretty(&json).expect("JSON") + "\n";
    std::fs::write(dir.join("nft.json"), pretty).expect("write nft.json");
}

/// Capture every fixture again: `PORTWHO_CAPTURE_NFT=1 cargo test --lib
/// nftables::tests::capture -- --ignored`. Each ruleset is loaded in a namespace made for
/// it (removed after); `docker-host` is this host's own ruleset, read and never written.
#[test]
#[ignore = "writes fixtures/nftables; PORTWHO_CAPTURE_NFT=1"]
fn capture() {
    if std::env::var_os("PORTWHO_CAPTURE_NFT").is_none() || !can_load_rulesets() {
        eprintln!("skipped: set PORTWHO_CAPTURE_NFT=1, as root");
        return;
    }
    for name in FIXTURES {
        let dir = fixture_dir(name);
        if dir.join("HOST").exists() {
            let (_, raw) = read_raw().expect("read the host's ruleset");
            let json = Command::new("nft")
                .args(["-a", "-j", "list", "ruleset"])
                .output()
                .expect("nft");
            write_capture(&dir, &raw, &json.stdout);
            continue;
        }
        let scratch = Scratch::new(name);
        scratch.load(&dir);
        let (_, raw) = netns::run_inside(&scratch.namespace(), Path::new("/proc"), |_| read_raw())
            .expect("enter")
            .expect("read the ruleset");
        let json = scratch.exec("nft", &["-a", "-j", "list", "ruleset"]);
        write_capture(&dir, &raw, &json.stdout);
    }
}

// ---- Malformed, truncated and hostile input. ----

/// Every message of a fixture's dump, as (header, payload) spans.
fn messages(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes(rest[..4].try_into().unwrap()) as usize;
        out.push(&rest[..len]);
        rest = &rest[(len + 3) & !3..];
    }
    out
}

/// A message whose header says it is `len` long, its payload cut there: every attribute
/// that ran past it is now truncated.
fn cut(message: &[u8], len: usize) -> Vec<u8> {
    let mut cut = message[..len].to_vec();
    cut[..4].copy_from_slice(&(len as u32).to_ne_bytes());
    cut
}

fn objects(decoded: &Decoded) -> usize {
    decoded
        .ruleset
        .tables
        .iter()
        .map(|t| {
            1 + t.chains.len()
                + t.chains.iter().map(|c| c.rules.len()).sum::<usize>()
                + t.sets.len()
                + t.sets.iter().map(|s| s.elements.len()).sum::<usize>()
        })
        .sum()
}

/// Every prefix of every dump, and every message cut at every byte (its header fixed up to
/// match), decodes without a panic, to no more than the whole held; a cut message is
/// dropped and counted, or loses only what was cut.
#[test]
fn every_truncation_is_survived() {
    for name in FIXTURES {
        let bytes = dump_bytes(name);
        let whole = decoded(name);
        let all = objects(&whole);
        for len in 0..bytes.len() {
            let part = decode_dump(&bytes[..len]);
            assert!(objects(&part) <= all, "{name}: prefix {len}");
        }
        for message in messages(&bytes) {
            for len in NLMSG_HDRLEN..message.len() {
                let one = cut(message, len);
                let part = decode_dump(&one);
                assert!(objects(&part) <= all, "{name}: message cut at {len}");
                let mut assembly = Assembly::default();
                let _ = decode_datagram(&one, None, &mut assembly);
            }
        }
    }
}

#[test]
fn objects_that_name_nothing_are_dropped_and_counted() {
    let bytes = dump_bytes("inet-filter");
    let find = |kind: u16| {
        messages(&bytes)
            .into_iter()
            .find(|m| u16::from_ne_bytes([m[4], m[5]]) == NFNL_SUBSYS_NFTABLES << 8 | kind)
            .expect("a message of that kind")
            .to_vec()
    };
    // Rules, sets and elements without their tables and chains.
    for kind in [6, 9, 12] {
        let decoded = decode_dump(&find(kind));
        assert!(decoded.ruleset.tables.is_empty());
        assert_eq!(decoded.dropped, 1, "message type {kind}");
    }
    // A table twice: the second is dropped.
    let table = find(0);
    let decoded = decode_dump(&[table.clone(), table].concat());
    assert_eq!((decoded.ruleset.tables.len(), decoded.dropped), (1, 1));
    // A message with no nfgenmsg.
    let decoded = decode_dump(&cut(&find(0), NLMSG_HDRLEN + 2));
    assert_eq!(decoded.dropped, 1);
}

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

#[test]
fn kernel_answers_that_end_or_refuse() {
    let decode = |buf: &[u8], seq| decode_datagram(buf, seq, &mut Assembly::default());
    // NLMSG_DONE, NLMSG_ERROR as an ack, and as a refusal (-EPERM).
    assert_eq!(
        decode(&nlmsg(3, 2, 7, &0i32.to_ne_bytes()), Some(7)).map(|p| p.done),
        Ok(true)
    );
    assert_eq!(
        decode(&nlmsg(2, 0, 7, &[0; 20]), Some(7)).map(|p| p.done),
        Ok(true)
    );
    let mut refused = (-1i32).to_ne_bytes().to_vec();
    refused.extend_from_slice(&[0; 16]);
    assert_eq!(
        decode(&nlmsg(2, 0, 7, &refused), Some(7)),
        Err(DecodeError::Kernel(1))
    );
    // A dump that failed part way.
    let failed = nlmsg(3, 2, 7, &(-16i32).to_ne_bytes());
    assert_eq!(decode(&failed, Some(7)), Err(DecodeError::Kernel(16)));
    // The ruleset changed during the dump.
    let table = &messages(&dump_bytes("inet-filter"))[2].to_vec();
    let mut interrupted = table.clone();
    interrupted[6] |= 0x10;
    let seq = u32::from_ne_bytes(table[8..12].try_into().unwrap());
    assert_eq!(
        decode(&interrupted, Some(seq)),
        Err(DecodeError::Interrupted)
    );
    assert!(matches!(
        decode(table, Some(seq + 1)),
        Err(DecodeError::Malformed(_))
    ));
    assert_eq!(decode(table, Some(seq)).map(|p| p.done), Ok(false));
    // Another subsystem's message; a truncated header; an error without its code.
    assert!(matches!(
        decode(&nlmsg(0x0101, 0, 1, &[0; 4]), None),
        Err(DecodeError::Malformed(_))
    ));
    assert!(matches!(
        decode(&[1, 2, 3], None),
        Err(DecodeError::Malformed(_))
    ));
    assert!(matches!(
        decode(&nlmsg(2, 0, 1, &[0; 2]), None),
        Err(DecodeError::Malformed(_))
    ));
}

#[test]
fn errnos_become_typed_errors() {
    use rustix::io::Errno;
    let of = |e: Errno| NftError::from_errno("test", e.raw_os_error());
    assert!(matches!(of(Errno::PERM), NftError::NotPermitted));
    assert!(matches!(of(Errno::ACCESS), NftError::NotPermitted));
    for unsupported in [
        Errno::PROTONOSUPPORT,
        Errno::NOENT,
        Errno::NOPROTOOPT,
        Errno::OPNOTSUPP,
    ] {
        assert!(
            matches!(of(unsupported), NftError::Unsupported(_)),
            "{unsupported:?}"
        );
    }
    assert!(matches!(of(Errno::INTR), NftError::Changed));
    assert!(matches!(of(Errno::NOBUFS), NftError::Io { .. }));
    assert_eq!(
        NftError::Changed.to_string(),
        "the ruleset changed while it was read (3 times)"
    );
}

#[test]
fn requests_are_laid_out_as_the_kernel_reads_them() {
    let mut attrs = Vec::new();
    attribute(&mut attrs, 1, "filter");
    assert_eq!(
        attrs,
        [11, 0, 1, 0, b'f', b'i', b'l', b't', b'e', b'r', 0, 0]
    );
    let msg = request(13, NLM_F_DUMP, 1, 9, &attrs);
    assert_eq!(msg.len(), 16 + 4 + 12);
    assert_eq!(u32::from_ne_bytes(msg[..4].try_into().unwrap()), 32);
    assert_eq!(u16::from_ne_bytes([msg[4], msg[5]]), 0x0a0d);
    assert_eq!(u16::from_ne_bytes([msg[6], msg[7]]), 0x301);
    assert_eq!(u32::from_ne_bytes(msg[8..12].try_into().unwrap()), 9);
    assert_eq!(msg[16..20], [1, 0, 0, 0]);
}

#[test]
fn legacy_tables_are_seen_in_a_proc_tree() {
    let dir = std::env::temp_dir().join(format!("portwho-nft-legacy-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("net")).unwrap();
    // No files at all: a kernel without x_tables.
    assert!(!legacy_iptables_in_use(&dir));
    std::fs::write(dir.join("net/ip_tables_names"), "").unwrap();
    std::fs::write(dir.join("net/ip6_tables_names"), "").unwrap();
    assert!(!legacy_iptables_in_use(&dir));
    std::fs::write(dir.join("net/ip6_tables_names"), "filter\n").unwrap();
    assert!(legacy_iptables_in_use(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
}

mod corruption {
    use super::*;
    use proptest::prelude::*;

    fn all_fixtures() -> Vec<Vec<u8>> {
        FIXTURES.iter().map(|name| dump_bytes(name)).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Bytes of a real dump overwritten, inserted or removed anywhere: never a panic,
        /// and never more objects than bytes could hold.
        #[test]
        fn corrupted_dumps_never_panic(
            which in 0..FIXTURES.len(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
        ) {
            let mut bytes = all_fixtures().swap_remove(which);
            for (at, byte, how) in edits {
                if bytes.is_empty() {
                    break;
                }
                let i = at.index(bytes.len());
                match how {
                    0 => bytes[i] = byte,
                    1 => bytes.insert(i, byte),
                    _ => {
                        bytes.remove(i);
                    }
                }
            }
            let decoded = decode_dump(&bytes);
            prop_assert!(objects(&decoded) * 4 <= bytes.len());
            let _ = decode_datagram(&bytes, Some(1), &mut Assembly::default());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_dump(&bytes);
            let _ = decode_datagram(&bytes, None, &mut Assembly::default());
        }
    }
}

// ---- Live namespaces: root only. Rulesets are loaded only in namespaces made here. ----

#[test]
fn live_read_in_another_namespace_agrees_with_nft() {
    if !can_load_rulesets() {
        return;
    }
    let scratch = Scratch::new("live");
    let ns = scratch.namespace();
    // Nothing loaded yet: no tables.
    let empty = read_in(&ns, Path::new("/proc")).expect("read the empty ruleset");
    assert!(empty.tables.is_empty(), "{empty:?}");
    scratch.load(&fixture_dir("inet-filter"));
    let here = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    let ruleset = read_in(&ns, Path::new("/proc")).expect("read the ruleset");
    let json = scratch.exec("nft", &["-a", "-j", "list", "ruleset"]);
    let json: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_agrees("live", &ruleset, json["nftables"].as_array().unwrap());
    assert!(ruleset.generation > empty.generation);
    // The same rules as the captured fixture, whatever their handles.
    let exprs = |r: &Ruleset| -> Vec<Vec<Expr>> {
        r.tables[0].chains[0]
            .rules
            .iter()
            .map(|r| r.exprs.clone())
            .collect()
    };
    assert_eq!(exprs(&ruleset), exprs(&decoded("inet-filter").ruleset));
    // Only the reading thread entered it.
    assert_eq!(
        std::fs::read_link("/proc/thread-self/ns/net").unwrap(),
        here
    );
}

#[test]
fn live_without_cap_net_admin_is_not_permitted() {
    if !rustix::process::geteuid().is_root() {
        // Not root: this process has no CAP_NET_ADMIN to begin with.
        assert!(matches!(read(), Err(NftError::NotPermitted)));
        return;
    }
    // Capabilities are per thread: this one drops CAP_NET_ADMIN and ends.
    let refused = std::thread::spawn(|| {
        use rustix::thread::{CapabilitySet, capabilities, set_capabilities};
        let mut sets = capabilities(None).expect("capget");
        sets.effective.remove(CapabilitySet::NET_ADMIN);
        set_capabilities(None, sets).expect("capset");
        read()
    })
    .join()
    .unwrap();
    assert!(
        matches!(refused, Err(NftError::NotPermitted)),
        "{refused:?}"
    );
}

#[test]
fn live_legacy_iptables_in_a_namespace() {
    let legacy = Command::new("iptables-legacy").arg("--version").output();
    if !can_load_rulesets() || !legacy.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: needs iptables-legacy");
        return;
    }
    let scratch = Scratch::new("legacy");
    let ns = scratch.namespace();
    assert_eq!(
        legacy_iptables_in(&ns, Path::new("/proc")).ok(),
        Some(false)
    );
    scratch.exec("iptables-legacy", &["-A", "INPUT", "-j", "ACCEPT"]);
    assert_eq!(legacy_iptables_in(&ns, Path::new("/proc")).ok(), Some(true));
    // Its rules are not nftables': the ruleset is empty.
    let ruleset = read_in(&ns, Path::new("/proc")).expect("read");
    assert!(ruleset.tables.is_empty(), "{ruleset:?}");
}

#[test]
fn live_read_of_the_own_namespace_agrees_with_nft() {
    if !can_load_rulesets() {
        return;
    }
    // Read only: whatever this namespace holds (docker's rules on a host, nothing in a
    // fresh namespace).
    let ruleset = read().expect("read the ruleset");
    let json = Command::new("nft")
        .args(["-a", "-j", "list", "ruleset"])
        .output()
        .expect("nft");
    let json: Value = serde_json::from_slice(&json.stdout).unwrap();
    let again = read().expect("read the ruleset");
    if again.generation != ruleset.generation {
        eprintln!("skipped: the ruleset changed meanwhile");
        return;
    }
    assert_agrees("own", &ruleset, json["nftables"].as_array().unwrap());
}
