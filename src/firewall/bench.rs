//! The cost of verdicts for a listing: 10 000 listeners against a 1000-rule ruleset, the
//! target being at most 5 ms added.
//! `cargo test --release --lib firewall::bench -- --ignored --nocapture`

use std::time::{Duration, Instant};

use crate::model::{
    CmpOp, Expr, FirewallVerdict, Hook, NfChain, NfFamily, NfRule, Ruleset, Socket, Verdict,
};

use super::testing::*;
use super::{Firewalls, applies};

/// Rules of the kinds real rulesets hold, 1000 in all: conntrack and loopback first, ports
/// one by one and in sets, sources, interfaces, rate limits, a verdict map, ranges that
/// jump to per-service chains, and a second table on the hook as iptables-nft leaves it.
fn ruleset() -> Ruleset {
    let mut input: Vec<NfRule> = vec![
        rule([ct_state(ESTABLISHED_RELATED), vec![accept()]]),
        rule([ct_state(INVALID), vec![drop()]]),
        rule([iif_lo(), vec![accept()]]),
        rule([dport_vmap(TCP, "vm")]),
    ];
    let mut sets = vec![port_vmap(
        "vm",
        &(0..100)
            .map(|i| {
                (
                    30_000 + i,
                    if i % 2 == 0 {
                        Verdict::Accept
                    } else {
                        Verdict::Drop
                    },
                )
            })
            .collect::<Vec<_>>(),
    )];
    for i in 0..400u16 {
        input.push(tcp_dport_accept(1000 + 7 * i));
    }
    for i in 0..150u16 {
        input.push(udp_dport_accept(2000 + 11 * i));
    }
    for i in 0..100u16 {
        let name = format!("__set{i}");
        let ports: Vec<u16> = (0..4).map(|k| 12_000 + 40 * i + 3 * k).collect();
        sets.push(port_set(&name, &ports));
        input.push(rule([dport_in(TCP, &name), vec![accept()]]));
    }
    for i in 0..50u16 {
        let net = format!("10.{i}.0.0/16");
        input.push(rule([
            saddr(&net, true),
            dport(TCP, 5000 + i),
            vec![accept()],
        ]));
    }
    for i in 0..10u16 {
        input.push(rule([
            iifname(CmpOp::Eq, &format!("eth{i}")),
            dport(TCP, 6000 + i),
            vec![accept()],
        ]));
        input.push(rule([
            dport(TCP, 6100 + i),
            vec![Expr::Other("limit".into()), accept()],
        ]));
    }
    let mut chains = Vec::new();
    for k in 0..20u16 {
        let name = format!("svc{k}");
        let low = 20_000 + 500 * k;
        input.push(rule([dport_range(TCP, low, low + 499), vec![jump(&name)]]));
        let mut rules = Vec::new();
        for j in 0..7u16 {
            rules.push(rule([
                saddr(&format!("192.168.{k}.{j}"), true),
                dport(TCP, low + j),
                vec![accept()],
            ]));
        }
        rules.push(rule([vec![immediate(Verdict::Return)]]));
        chains.push(regular(&name, rules));
    }
    let count = input.len() + chains.iter().map(|c| c.rules.len()).sum::<usize>();
    for i in 0..990usize.saturating_sub(count) as u16 {
        input.push(rule([
            dport(UDP, 40_000 + i),
            vec![Expr::Passive("counter".into()), drop()],
        ]));
    }
    chains.push(input_chain(input));
    let legacy: Vec<NfRule> = (0..10u16)
        .map(|i| rule([dport(TCP, 9000 + i), vec![Expr::Reject]]))
        .collect();
    let legacy = base("INPUT", Hook::Input, 0, Verdict::Accept, legacy);
    super::testing::ruleset(vec![
        table(NfFamily::Inet, "filter", chains, sets),
        table(NfFamily::Ip, "filter", vec![legacy], Vec::new()),
    ])
}

fn input_chain(rules: Vec<NfRule>) -> NfChain {
    input(Verdict::Drop, rules)
}

/// 10 000 listeners on distinct ports: TCP and UDP, wildcard, dual-stack, bound to one
/// address, and a few on loopback (which get no verdict).
fn listeners() -> Vec<Socket> {
    (1..=10_000u16)
        .map(|port| {
            let addr = match port % 20 {
                0..=11 => format!("0.0.0.0:{port}"),
                12..=16 => format!("[::]:{port}"),
                17 | 18 => format!("192.168.1.{}:{port}", port % 250),
                _ => format!("127.0.0.1:{port}"),
            };
            if port % 10 < 3 {
                bound_udp(&addr)
            } else {
                listening(&addr)
            }
        })
        .collect()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[test]
#[ignore = "measurement, not a check"]
fn verdicts_for_10k_listeners() {
    let rs = ruleset();
    let rules: usize = rs
        .tables
        .iter()
        .flat_map(|t| &t.chains)
        .map(|c| c.rules.len())
        .sum();
    assert_eq!(rules, 1000);
    let sockets = listeners();
    let mut compile = Vec::new();
    let mut total = Vec::new();
    let mut counts = [0usize; 5];
    let mut walks = 0;
    for _ in 0..31 {
        let start = Instant::now();
        let mut firewalls = Firewalls::new(&rs);
        compile.push(start.elapsed());
        counts = [0; 5];
        for s in sockets.iter().filter(|s| applies(s)) {
            let v = firewalls.verdict(s).verdict;
            counts[v as usize] += 1;
        }
        total.push(start.elapsed());
        walks = firewalls.answers.len();
    }
    let walks_alone = median(
        (0..31)
            .map(|_| {
                let start = Instant::now();
                let mut firewalls = Firewalls::new(&rs);
                for s in sockets.iter().filter(|s| applies(s)) {
                    for p in super::packets(s).into_iter().flatten() {
                        let _ = firewalls.answer(p);
                    }
                }
                start.elapsed()
            })
            .collect(),
    );
    println!("compile and walks alone, no verdict built: {walks_alone:?}");
    // One rule that reads the port in a way the classes do not follow (through a mask:
    // `tcp dport & 0xff00 == 0x1f00`): every port is its own class, every listener its own
    // walk.
    let mut each = rs.clone();
    let masked = rule([
        l4proto(TCP),
        vec![
            load_dport(),
            Expr::Bitwise {
                sreg: 1,
                dreg: 1,
                len: 2,
                mask: vec![0xff, 0],
                xor: vec![0, 0],
            },
            eq(&[0x1f, 0]),
            accept(),
        ],
    ]);
    if let Some(c) = each.tables[0].chains.iter_mut().find(|c| c.name == "input") {
        c.rules.insert(3, masked);
    }
    let every_port = median(
        (0..11)
            .map(|_| {
                let start = Instant::now();
                let mut firewalls = Firewalls::new(&each);
                for s in sockets.iter().filter(|s| applies(s)) {
                    let _ = firewalls.verdict(s);
                }
                start.elapsed()
            })
            .collect(),
    );
    println!("with every port its own class: {every_port:?}");
    let one_at_a_time = {
        let start = Instant::now();
        for s in sockets.iter().take(200) {
            let _ = super::verdict(&rs, s);
        }
        start.elapsed() / 200
    };
    let [accept, drop, reject, conditional, unknown] = counts;
    let total = median(total);
    println!(
        "{rules} rules, {} listeners ({} with a verdict): compile {:?}, all verdicts {:?} ({:?} a listener), {walks} walks",
        sockets.len(),
        counts.iter().sum::<usize>(),
        median(compile),
        total,
        total / sockets.len() as u32,
    );
    println!(
        "verdicts: {accept} accept, {drop} drop, {reject} reject, {conditional} conditional, {unknown} unknown"
    );
    println!("one socket with its own compile: {one_at_a_time:?}");
    println!(
        "target: at most 5 ms — {}",
        if total <= Duration::from_millis(5) {
            "met"
        } else {
            "NOT met"
        }
    );
    assert_eq!(FirewallVerdict::Unknown as usize, 4);
}
