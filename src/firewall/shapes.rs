//! The test builders against nft itself: `fixtures/nftables/shapes.nft` loaded by nftables
//! 1.0.6 in a network namespace, with `--debug=netlink` (`shapes.debug.txt`: the expressions
//! nft sent the kernel) and `nft list ruleset` (`shapes.list.txt`). Each builder's rule,
//! printed as libnftnl prints it, must be that block; each rule text must read as nft lists
//! it.

use crate::model::{
    CmpOp, Expr, Immediate, NatKind, NfFamily, NfRule, NfSet, PayloadBase, Verdict,
};

use super::testing::*;

const DEBUG: &str = include_str!("../../fixtures/nftables/shapes.debug.txt");
const LIST: &str = include_str!("../../fixtures/nftables/shapes.list.txt");

/// The shapes in the order of `shapes.nft`: (table and chain as the debug output heads a
/// block, rule).
fn shapes() -> Vec<(&'static str, NfRule)> {
    let inet = "inet filter input";
    let dport_cmp = |op: CmpOp, port: u16| vec![load_dport(), cmp(op, &port.to_be_bytes())];
    let range_neq = Expr::Range {
        sreg: 1,
        op: CmpOp::Neq,
        from: 1000u16.to_be_bytes().to_vec(),
        to: 2000u16.to_be_bytes().to_vec(),
    };
    let counter = || vec![Expr::Passive("counter".into())];
    vec![
        ("inet filter user", tcp_dport_accept(3000)),
        ("inet filter user", rule([vec![immediate(Verdict::Return)]])),
        (inet, rule([ct_state(ESTABLISHED_RELATED), vec![accept()]])),
        (inet, rule([ct_state(INVALID), vec![drop()]])),
        (inet, rule([iif_lo(), vec![accept()]])),
        (inet, rule([iifname(CmpOp::Eq, "lo"), vec![accept()]])),
        (inet, tcp_dport_accept(22)),
        (inet, udp_dport_accept(53)),
        (inet, rule([dport_in(TCP, "__set0"), vec![accept()]])),
        (inet, rule([dport_range(TCP, 1000, 2000), vec![accept()]])),
        (inet, rule([dport_in(TCP, "__set1"), vec![accept()]])),
        (
            inet,
            rule([saddr("10.0.0.0/8", true), dport(TCP, 5432), vec![accept()]]),
        ),
        (inet, rule([saddr("172.16.0.0/12", true), vec![accept()]])),
        (inet, rule([saddr("2001:db8::/64", true), vec![accept()]])),
        (
            inet,
            rule([
                nfproto(false),
                vec![load_saddr4(), lookup("allowed", None)],
                dport(TCP, 6379),
                vec![accept()],
            ]),
        ),
        (inet, rule([dport_in(TCP, "ports"), vec![accept()]])),
        (inet, rule([dport_vmap(TCP, "vm")])),
        (inet, rule([dport_vmap(TCP, "__map0")])),
        (
            inet,
            rule([iifname(CmpOp::Eq, "eth0"), dport(TCP, 9000), vec![accept()]]),
        ),
        (inet, rule([iifname(CmpOp::Neq, "docker0"), vec![accept()]])),
        (inet, rule([iifname(CmpOp::Eq, "eth*"), vec![accept()]])),
        (
            inet,
            rule([
                dport(TCP, 9100),
                vec![Expr::Other("limit".into()), accept()],
            ]),
        ),
        (inet, rule([dport(TCP, 9200), vec![Expr::Reject]])),
        (
            inet,
            rule([daddr("192.168.1.5", true), dport(TCP, 9500), vec![accept()]]),
        ),
        (inet, rule([dport(TCP, 9700), vec![goto("user")]])),
        (inet, rule([vec![jump("user")]])),
        (inet, rule([dport(TCP, 9800), counter(), vec![accept()]])),
        (inet, rule([ct_state(NEW), dport(TCP, 443), vec![accept()]])),
        (
            inet,
            rule([l4proto(TCP), dport_cmp(CmpOp::Gt, 1024), vec![accept()]]),
        ),
        (
            inet,
            rule([l4proto(TCP), vec![load_dport(), range_neq, accept()]]),
        ),
        (
            inet,
            rule([vec![meta(3), eq(&0x10u32.to_ne_bytes()), accept()]]),
        ),
        (
            inet,
            rule([
                vec![meta(4), cmp(CmpOp::Neq, &1u32.to_ne_bytes())],
                daddr("127.0.0.0/8", true),
                vec![drop()],
            ]),
        ),
        (inet, rule([saddr("203.0.113.7", true), vec![Expr::Reject]])),
        (
            "ip nat DOCKER",
            rule([
                iifname(CmpOp::Neq, "docker0"),
                dport(TCP, 8080),
                counter(),
                dnat_to("172.17.0.2:80"),
            ]),
        ),
        ("ip nat pre", rule([dport(TCP, 2222), redirect_to(22)])),
        (
            "ip nat pre",
            rule([
                daddr("1.2.3.4", false),
                dport_range(UDP, 5000, 5002),
                dnat_to("10.0.0.4:6000"),
            ]),
        ),
        (
            "ip nat pre",
            rule([dport_in(TCP, "__set2"), redirect_to(7100)]),
        ),
        (
            "ip nat pre",
            rule([dport(TCP, 9999), dnat_addr("10.0.0.3")]),
        ),
    ]
}

fn load_saddr4() -> Expr {
    Expr::Payload {
        base: PayloadBase::Network,
        offset: 12,
        len: 4,
        dreg: 1,
    }
}

/// The sets of `shapes.nft`, in its order (anonymous ones where nft sends them).
fn sets() -> Vec<NfSet> {
    vec![
        addr_intervals("allowed", &["10.0.0.0/8", "192.168.1.1"]),
        port_set("ports", &[443, 8443]),
        port_vmap("vm", &[(25, Verdict::Accept), (26, Verdict::Drop)]),
        port_set("__set0", &[80, 8080]),
        port_intervals("__set1", &[(5000, 5100), (6000, 6000)]),
        port_vmap("__map0", &[(7000, Verdict::Accept), (7001, Verdict::Drop)]),
        port_set("__set2", &[7000, 7001]),
    ]
}

/// Bytes as libnftnl prints register data: 32-bit words in the host's order, zero-padded.
fn words(data: &[u8], prefix: &str) -> String {
    data.chunks(4)
        .map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            format!("{prefix}{:08x}", u32::from_ne_bytes(w))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn op(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "eq",
        CmpOp::Neq => "neq",
        CmpOp::Lt => "lt",
        CmpOp::Lte => "lte",
        CmpOp::Gt => "gt",
        CmpOp::Gte => "gte",
    }
}

/// An expression as `nft --debug=netlink` prints it; statements by their first word.
fn debug(e: &Expr) -> String {
    let verdict = |v: &Verdict| match v {
        Verdict::Jump(c) => format!("jump -> {c}"),
        Verdict::Goto(c) => format!("goto -> {c}"),
        v => super::text::verdict_text(v),
    };
    let reg =
        |name: &str, r: Option<u32>| r.map(|r| format!(" {name} reg {r}")).unwrap_or_default();
    let body = match e {
        Expr::Payload {
            base,
            offset,
            len,
            dreg,
        } => {
            let base = match base {
                PayloadBase::Link => "link",
                PayloadBase::Network => "network",
                PayloadBase::Transport => "transport",
                PayloadBase::Inner => "inner",
            };
            format!("payload load {len}b @ {base} header + {offset} => reg {dreg}")
        }
        Expr::Meta { key, dreg } => {
            let name = match key {
                3 => "mark",
                4 => "iif",
                6 => "iifname",
                15 => "nfproto",
                16 => "l4proto",
                _ => "?",
            };
            format!("meta load {name} => reg {dreg}")
        }
        Expr::Ct { key, dreg } => format!(
            "ct load {} => reg {dreg}",
            if *key == 0 { "state" } else { "?" }
        ),
        Expr::Cmp { sreg, op: o, data } => {
            format!("cmp {} reg {sreg} {}", op(*o), words(data, "0x"))
        }
        Expr::Bitwise {
            sreg,
            dreg,
            mask,
            xor,
            ..
        } => {
            format!(
                "bitwise reg {dreg} = ( reg {sreg} & {} ) ^ {}",
                words(mask, "0x"),
                words(xor, "0x")
            )
        }
        Expr::Range {
            sreg,
            op: o,
            from,
            to,
        } => format!(
            "range {} reg {sreg} {} {}",
            op(*o),
            words(from, "0x"),
            words(to, "0x")
        ),
        Expr::Lookup {
            sreg, set, dreg, ..
        } => format!(
            "lookup reg {sreg} set {}{}",
            anonymous(set),
            reg("dreg", *dreg).replace(" dreg reg", " dreg")
        ),
        Expr::Immediate {
            dreg,
            data: Immediate::Verdict(v),
        } => format!("immediate reg {dreg} {}", verdict(v)),
        Expr::Immediate {
            dreg,
            data: Immediate::Value(v),
        } => format!("immediate reg {dreg} {}", words(v, "0x")),
        Expr::Nat {
            kind,
            addr_min,
            proto_min,
            ..
        } => format!(
            "nat {} ip{}{}",
            if *kind == NatKind::Dnat {
                "dnat"
            } else {
                "snat"
            },
            reg("addr_min", *addr_min),
            reg("proto_min", *proto_min)
        ),
        Expr::Redir { proto_min, .. } => format!("redir{}", reg("proto_min", *proto_min)),
        Expr::Reject => "reject".to_string(),
        Expr::Passive(name) | Expr::Other(name) => name.clone(),
    };
    format!("[ {body} ]")
}

/// nft names anonymous sets `__set%d` until the kernel numbers them.
fn anonymous(name: &str) -> String {
    for prefix in ["__set", "__map"] {
        if let Some(rest) = name.strip_prefix(prefix) {
            if rest.chars().all(|c| c.is_ascii_digit()) {
                return format!("{prefix}%d");
            }
        }
    }
    name.to_string()
}

/// The rule blocks of the debug output: a "family table chain" line, then expressions.
fn blocks() -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut open = false;
    for line in DEBUG.lines() {
        if let Some(e) = line.strip_prefix("  [") {
            if let (true, Some(last)) = (open, out.last_mut()) {
                last.1.push(format!("[{e}"));
            }
            continue;
        }
        open = ["inet filter ", "ip nat "]
            .iter()
            .any(|p| line.starts_with(p));
        if open {
            out.push((line.to_string(), Vec::new()));
        }
    }
    out
}

/// A line of nft's output matches an expression printed here: the same text, apart from
/// what the model does not keep (nat flags, a limit's rate, a reject's type, counters).
fn same(nft: &str, ours: &str) -> bool {
    let nft = nft.split(" flags 0x").next().unwrap_or(nft);
    let nft = if nft.ends_with(']') {
        nft.to_string()
    } else {
        format!("{nft} ]")
    };
    nft == ours
        || ["[ limit ", "[ reject ", "[ counter "]
            .iter()
            .any(|p| nft.starts_with(p) && ours.starts_with(p.trim_end()))
}

#[test]
fn builders_make_what_nft_sends_the_kernel() {
    let blocks = blocks();
    let shapes = shapes();
    assert_eq!(blocks.len(), shapes.len(), "one block per shape");
    for ((head, lines), (want_head, rule)) in blocks.iter().zip(&shapes) {
        assert_eq!(head, want_head);
        let ours: Vec<String> = rule.exprs.iter().map(debug).collect();
        assert_eq!(
            lines.len(),
            ours.len(),
            "{head}:\n{}\n---\n{}",
            lines.join("\n"),
            ours.join("\n")
        );
        for (nft, ours) in lines.iter().zip(&ours) {
            assert!(same(nft, ours), "{head}:\n  nft:  {nft}\n  ours: {ours}");
        }
    }
}

#[test]
fn set_builders_hold_what_nft_sends_the_kernel() {
    // `\telement 0000bb01  : 0 [end]\telement ...`: keys as words, the flags (1: interval
    // end), a verdict map's verdict before them.
    let printed: Vec<&str> = DEBUG
        .lines()
        .filter(|l| l.starts_with("\telement"))
        .collect();
    let ours: Vec<String> = sets()
        .iter()
        .map(|s| {
            s.elements
                .iter()
                .map(|e| {
                    let verdict = match &e.data {
                        Some(Immediate::Verdict(v)) => format!("{} ", super::text::verdict_text(v)),
                        _ => String::new(),
                    };
                    format!(
                        "\telement {}  : {verdict}{} [end]",
                        words(&e.key, ""),
                        u8::from(e.interval_end)
                    )
                })
                .collect()
        })
        .collect();
    assert_eq!(printed, ours);
}

#[test]
fn rule_texts_read_as_nft_lists_them() {
    let shapes = shapes();
    let mut nft: Vec<String> = Vec::new();
    let mut in_chain = false;
    for line in LIST.lines().map(str::trim) {
        if line.starts_with("chain ") {
            in_chain = true;
        } else if line == "}" {
            in_chain = false;
        } else if in_chain && !line.starts_with("type ") && !line.is_empty() {
            nft.push(line.to_string());
        }
    }
    // The list prints chains in the order of the file; the debug output, user first too.
    assert_eq!(nft.len(), shapes.len());
    let inet = table(NfFamily::Inet, "filter", vec![], sets());
    let ip = table(NfFamily::Ip, "nat", vec![], sets());
    for (listed, (head, rule)) in nft.iter().zip(&shapes) {
        let t = if head.starts_with("inet") { &inet } else { &ip };
        // What the model does not keep: counters' numbers, a limit's rate, a reject's type.
        let listed = listed
            .replace("counter packets 0 bytes 0", "counter")
            .replace("limit rate 10/second", "limit")
            .replace("reject with icmp port-unreachable", "reject");
        assert_eq!(super::text::rule_text(t, rule), listed);
    }
}
