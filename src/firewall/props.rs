//! Properties over random rulesets: nothing panics, whatever a decoder hands over; an
//! expression portwho does not evaluate is never read as an accept; the index and the
//! shared walks change no verdict.

use proptest::prelude::*;

use crate::model::{
    CmpOp, Expr, Firewall, FirewallVerdict, Hook, Immediate, NatKind, NfChain, NfFamily, NfRule,
    NfSet, NfSetElement, NfTable, PayloadBase, Proto, Ruleset, Socket, State, Verdict,
};

use super::testing::*;
use super::{Firewalls, forwards};

const PORTS: [u16; 8] = [22, 53, 80, 443, 1000, 1005, 8080, 65535];
const CHAINS: [&str; 4] = ["a", "b", "c", "input"];
const SETS: [&str; 5] = ["ports", "ranges", "vm", "nets", "pairs"];

fn port() -> impl Strategy<Value = u16> {
    prop_oneof![proptest::sample::select(PORTS.to_vec()), any::<u16>()]
}

fn proto() -> impl Strategy<Value = u8> {
    prop_oneof![Just(TCP), Just(UDP), Just(1u8)]
}

fn chain_name() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(CHAINS.to_vec()).prop_map(String::from),
        Just("missing".to_string())
    ]
}

fn any_verdict() -> impl Strategy<Value = Verdict> {
    prop_oneof![
        Just(Verdict::Accept),
        Just(Verdict::Drop),
        Just(Verdict::Continue),
        Just(Verdict::Return),
        Just(Verdict::Queue),
        chain_name().prop_map(Verdict::Jump),
        chain_name().prop_map(Verdict::Goto),
        any::<i32>().prop_map(Verdict::Other),
    ]
}

/// Tests nft writes, on the fields a listening socket's packet has or lacks.
fn test_part() -> impl Strategy<Value = Vec<Expr>> {
    let op = proptest::sample::select(vec![
        CmpOp::Eq,
        CmpOp::Neq,
        CmpOp::Lt,
        CmpOp::Lte,
        CmpOp::Gt,
        CmpOp::Gte,
    ]);
    prop_oneof![
        (proto(), port()).prop_map(|(p, n)| dport(p, n)),
        (proto(), port(), port()).prop_map(|(p, a, b)| dport_range(p, a.min(b), a.max(b))),
        (proto(), proptest::sample::select(SETS.to_vec())).prop_map(|(p, s)| dport_in(p, s)),
        (proto(), op, port()).prop_map(|(p, o, n)| {
            let mut e = l4proto(p);
            e.extend([load_dport(), cmp(o, &n.to_be_bytes())]);
            e
        }),
        proto().prop_map(l4proto),
        any::<bool>().prop_map(|inet| saddr("10.0.0.0/8", inet)),
        any::<bool>().prop_map(|inet| saddr("2001:db8::/33", inet)),
        any::<bool>().prop_map(|inet| daddr("192.168.1.5", inet)),
        any::<bool>().prop_map(nfproto),
        Just(iif_lo()),
        Just(iifname(CmpOp::Eq, "lo")),
        Just(iifname(CmpOp::Neq, "docker0")),
        Just(iifname(CmpOp::Eq, "eth*")),
        (0u32..128).prop_map(ct_state),
        Just(vec![meta(3), eq(&[1, 0, 0, 0])]),
        Just(vec![meta(10), eq(&[0; 4])]),
        Just(vec![Expr::Passive("counter".into())]),
        Just(vec![Expr::Other("limit".into())]),
        Just(vec![Expr::Other("fib".into())]),
        // `ip saddr . tcp dport @pairs`.
        Just({
            let mut e = nfproto(false);
            e.extend(l4proto(TCP));
            e.extend([
                Expr::Payload {
                    base: PayloadBase::Network,
                    offset: 12,
                    len: 4,
                    dreg: 1,
                },
                Expr::Payload {
                    base: PayloadBase::Transport,
                    offset: 2,
                    len: 2,
                    dreg: 9,
                },
                lookup("pairs", None),
            ]);
            e
        }),
    ]
}

fn verdict_part() -> impl Strategy<Value = Vec<Expr>> {
    prop_oneof![
        any_verdict().prop_map(|v| vec![immediate(v)]),
        Just(vec![Expr::Reject]),
        Just(vec![lookup("vm", Some(0))]),
        Just(Vec::new()),
    ]
}

fn sane_rule() -> impl Strategy<Value = NfRule> {
    (proptest::collection::vec(test_part(), 0..3), verdict_part())
        .prop_map(|(tests, verdict)| rule(tests.into_iter().chain([verdict])))
}

fn sets() -> impl Strategy<Value = Vec<NfSet>> {
    let ports = proptest::collection::vec(port(), 0..5);
    let ranges = proptest::collection::vec((port(), port()), 0..3);
    let vm = proptest::collection::vec((port(), any_verdict()), 0..4);
    let pairs = proptest::collection::vec(
        (
            proptest::sample::select(vec![[10u8, 0, 0, 1], [192, 168, 1, 5]]),
            port(),
        ),
        0..4,
    );
    (ports, ranges, vm, pairs).prop_map(|(ports, ranges, vm, pairs)| {
        let mut ranges: Vec<(u16, u16)> = ranges
            .into_iter()
            .map(|(a, b)| (a.min(b), a.max(b)))
            .collect();
        ranges.sort_unstable();
        // nft sends disjoint ranges: merge the ones that touch.
        let mut merged: Vec<(u16, u16)> = Vec::new();
        for (a, b) in ranges {
            match merged.last_mut() {
                Some(last) if u32::from(a) <= u32::from(last.1) + 1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        let mut vm: Vec<(u16, Verdict)> = vm;
        vm.sort_by_key(|(p, _)| *p);
        vm.dedup_by_key(|(p, _)| *p);
        vec![
            port_set("ports", &ports),
            port_intervals("ranges", &merged),
            port_vmap("vm", &vm),
            addr_intervals("nets", &["10.0.0.0/8"]),
            NfSet {
                name: "pairs".into(),
                key_len: 8,
                elements: pairs
                    .into_iter()
                    .map(|(a, p)| {
                        let mut key = a.to_vec();
                        key.extend(p.to_be_bytes());
                        key.extend([0, 0]);
                        NfSetElement {
                            key,
                            ..NfSetElement::default()
                        }
                    })
                    .collect(),
                ..NfSet::default()
            },
        ]
    })
}

fn chains(rule: BoxedStrategy<NfRule>) -> impl Strategy<Value = Vec<NfChain>> {
    let rules = move || proptest::collection::vec(rule.clone(), 0..6);
    let policy = prop_oneof![Just(Verdict::Accept), Just(Verdict::Drop), any_verdict()];
    (rules(), rules(), rules(), rules(), policy, -10i32..10).prop_map(
        |(input_rules, a, b, c, policy, priority)| {
            vec![
                base("input", Hook::Input, priority, policy, input_rules),
                regular("a", a),
                regular("b", b),
                regular("c", c),
            ]
        },
    )
}

fn family() -> impl Strategy<Value = NfFamily> {
    proptest::sample::select(vec![
        NfFamily::Inet,
        NfFamily::Ip,
        NfFamily::Ip6,
        NfFamily::Arp,
    ])
}

fn ruleset_of(rule: BoxedStrategy<NfRule>) -> impl Strategy<Value = Ruleset> {
    let one =
        (family(), chains(rule), sets()).prop_map(|(f, chains, sets)| table(f, "t", chains, sets));
    proptest::collection::vec(one, 0..3).prop_map(|tables| {
        let tables = tables
            .into_iter()
            .enumerate()
            .map(|(i, t)| NfTable {
                name: format!("t{i}"),
                ..t
            })
            .collect();
        ruleset(tables)
    })
}

fn socket() -> impl Strategy<Value = Socket> {
    let addr = proptest::sample::select(vec![
        "0.0.0.0",
        "[::]",
        "192.168.1.5",
        "10.0.0.1",
        "[::ffff:192.168.1.5]",
        "[2001:db8::1]",
        "127.0.0.1",
    ]);
    (
        addr,
        port(),
        any::<bool>(),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(|(addr, port, udp, v6only)| {
            let local = format!("{addr}:{port}");
            Socket {
                v6only,
                ..if udp {
                    bound_udp(&local)
                } else {
                    listening(&local)
                }
            }
        })
}

/// Anything a decoder might produce: registers and lengths the kernel refuses, sets and
/// chains that are not there, data of any length.
fn garbage_expr() -> impl Strategy<Value = Expr> {
    let reg = 0u32..26;
    let bytes = proptest::collection::vec(any::<u8>(), 0..20);
    let base = proptest::sample::select(vec![
        PayloadBase::Link,
        PayloadBase::Network,
        PayloadBase::Transport,
        PayloadBase::Inner,
    ]);
    let op = proptest::sample::select(vec![
        CmpOp::Eq,
        CmpOp::Neq,
        CmpOp::Lt,
        CmpOp::Lte,
        CmpOp::Gt,
        CmpOp::Gte,
    ]);
    prop_oneof![
        (base, 0u32..50, 0u32..70, reg.clone()).prop_map(|(base, offset, len, dreg)| {
            Expr::Payload {
                base,
                offset,
                len,
                dreg,
            }
        }),
        (0u32..40, reg.clone()).prop_map(|(key, dreg)| Expr::Meta { key, dreg }),
        (0u32..30, reg.clone()).prop_map(|(key, dreg)| Expr::Ct { key, dreg }),
        (reg.clone(), op.clone(), bytes.clone()).prop_map(|(sreg, op, data)| Expr::Cmp {
            sreg,
            op,
            data
        }),
        (
            reg.clone(),
            reg.clone(),
            0u32..20,
            bytes.clone(),
            bytes.clone()
        )
            .prop_map(|(sreg, dreg, len, mask, xor)| Expr::Bitwise {
                sreg,
                dreg,
                len,
                mask,
                xor
            }),
        (reg.clone(), op, bytes.clone(), bytes.clone())
            .prop_map(|(sreg, op, from, to)| Expr::Range { sreg, op, from, to }),
        (
            reg.clone(),
            proptest::sample::select(SETS.to_vec()),
            proptest::option::of(reg.clone()),
            any::<bool>()
        )
            .prop_map(|(sreg, set, dreg, invert)| Expr::Lookup {
                sreg,
                set: set.into(),
                dreg,
                invert
            }),
        (reg.clone(), bytes.clone()).prop_map(|(dreg, v)| Expr::Immediate {
            dreg,
            data: Immediate::Value(v)
        }),
        (reg.clone(), any_verdict()).prop_map(|(dreg, v)| Expr::Immediate {
            dreg,
            data: Immediate::Verdict(v)
        }),
        (
            proptest::option::of(reg.clone()),
            proptest::option::of(reg.clone()),
            any::<bool>()
        )
            .prop_map(|(a, p, dnat)| {
                Expr::Nat {
                    kind: if dnat { NatKind::Dnat } else { NatKind::Snat },
                    family: Some(NfFamily::Ip),
                    addr_min: a,
                    addr_max: None,
                    proto_min: p,
                    proto_max: None,
                }
            }),
        proptest::option::of(reg).prop_map(|p| Expr::Redir {
            proto_min: p,
            proto_max: None
        }),
        Just(Expr::Reject),
        "[a-z]{1,8}".prop_map(Expr::Other),
    ]
}

fn garbage_rule() -> impl Strategy<Value = NfRule> {
    prop_oneof![
        sane_rule(),
        proptest::collection::vec(garbage_expr(), 0..8)
            .prop_map(|exprs| NfRule { handle: 1, exprs }),
    ]
}

fn garbage_set() -> impl Strategy<Value = NfSet> {
    let element = (
        proptest::collection::vec(any::<u8>(), 0..6),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..6)),
        any::<bool>(),
        proptest::option::of(any_verdict()),
    )
        .prop_map(|(key, key_end, interval_end, v)| NfSetElement {
            key,
            key_end,
            interval_end,
            data: v.map(Immediate::Verdict),
            catchall: false,
        });
    (
        proptest::sample::select(SETS.to_vec()),
        any::<bool>(),
        0u32..8,
        proptest::collection::vec(element, 0..6),
    )
        .prop_map(|(name, interval, key_len, elements)| NfSet {
            name: name.into(),
            interval,
            key_len,
            elements,
            ..NfSet::default()
        })
}

proptest! {
    #[test]
    fn nothing_a_decoder_hands_over_panics(
        mut rs in ruleset_of(garbage_rule().boxed()),
        extra in proptest::collection::vec(garbage_set(), 0..3),
        sockets in proptest::collection::vec(socket(), 1..6),
    ) {
        if let Some(t) = rs.tables.first_mut() {
            t.sets.extend(extra);
            t.chains.push(base("pre", Hook::Prerouting, -100, Verdict::Accept, t.chains[0].rules.clone()));
        }
        let mut firewalls = Firewalls::new(&rs);
        for s in &sockets {
            let f = firewalls.verdict(s);
            prop_assert!(f.rule.is_some() || f.verdict == FirewallVerdict::Accept, "{:?}", f);
        }
        for f in forwards(&rs) {
            prop_assert!(f.redirect == f.to_addr.is_none());
        }
    }

    #[test]
    fn an_unknown_expression_every_connection_meets_is_never_an_accept(
        rs in ruleset_of(sane_rule().boxed()),
        socket in socket(),
        name in "[a-z]{1,8}".prop_filter("not a limit", |n| !super::rule::is_limit(n)),
        before in proptest::collection::vec(prop_oneof![Just(Expr::Passive("counter".into())), Just(Expr::Passive("log".into()))], 0..2),
        then in verdict_part(),
        priority in -20i32..20,
        in_a_jump in any::<bool>(),
        rest in proptest::collection::vec(sane_rule(), 0..4),
    ) {
        // A base chain every packet of the socket's families passes, whose first rule
        // (or the chain it first jumps to) holds the expression.
        let proto = if socket.proto == Proto::Tcp { TCP } else { UDP };
        let mut first = rule([dport(proto, socket.local.port()), before, vec![Expr::Other(name)], then]);
        let mut chains = Vec::new();
        if in_a_jump {
            chains.push(regular("unknown", vec![first]));
            first = rule([vec![jump("unknown")]]);
        }
        let mut rules = vec![first];
        rules.extend(rest);
        chains.push(base("gate", Hook::Input, priority, Verdict::Accept, rules));
        let mut rs = rs;
        rs.tables.push(table(NfFamily::Inet, "gate", chains, Vec::new()));
        let f = Firewalls::new(&rs).verdict(&socket);
        prop_assert_ne!(f.verdict, FirewallVerdict::Accept, "{:?}", f);
    }

    #[test]
    fn the_index_and_the_shared_walks_change_no_verdict(
        rs in ruleset_of(sane_rule().boxed()),
        sockets in proptest::collection::vec(socket(), 1..12),
    ) {
        let mut fast = Firewalls::new(&rs);
        let mut plain = Firewalls::plain(&rs);
        for s in &sockets {
            let (a, b): (Firewall, Firewall) = (fast.verdict(s), plain.verdict(s));
            prop_assert_eq!(a, b, "{:?}", s);
        }
    }
}

#[test]
fn a_loopback_socket_is_not_asked_about() {
    // `applies` is the caller's filter; a verdict for a loopback address is still an
    // answer, not a panic.
    let s = Socket {
        state: State::Listen,
        ..listening("127.0.0.1:80")
    };
    assert!(!super::applies(&s));
    let rs = inet_input(Verdict::Drop, vec![]);
    assert_eq!(
        Firewalls::new(&rs).verdict(&s).verdict,
        FirewallVerdict::Drop
    );
}
