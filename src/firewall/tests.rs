//! The firewall's verdicts and forwards on hand-built rulesets shaped as nft builds them.

use crate::model::{
    CmpOp, Expr, Firewall, FirewallVerdict, Hook, NfFamily, NfSet, Proto, RuleForward, RuleRef,
    Ruleset, Socket, Verdict,
};

use super::testing::*;
use super::{Firewalls, applies, forwards, verdict};

fn check(ruleset: &Ruleset, socket: &Socket) -> Firewall {
    verdict(ruleset, socket)
}

fn kind(ruleset: &Ruleset, local: &str) -> FirewallVerdict {
    check(ruleset, &listening(local)).verdict
}

fn rule_text(f: &Firewall) -> &str {
    f.rule.as_ref().map_or("", |r| r.text.as_str())
}

#[test]
fn no_tables_accepts_with_no_rule() {
    let f = check(&ruleset(vec![]), &listening("0.0.0.0:22"));
    assert_eq!(
        f,
        Firewall {
            verdict: FirewallVerdict::Accept,
            rule: None,
            reason: "no firewall rules".into()
        }
    );
}

#[test]
fn no_input_chain_for_the_family_accepts_and_says_so() {
    let rs = ruleset(vec![table(
        NfFamily::Ip6,
        "f6",
        vec![input(Verdict::Drop, vec![])],
        vec![],
    )]);
    let f = check(&rs, &listening("0.0.0.0:22"));
    assert_eq!(f.verdict, FirewallVerdict::Accept);
    assert_eq!(f.rule, None);
    assert_eq!(f.reason, "no base chain on the input hook for IPv4");
    assert_eq!(
        kind(&rs, "[::1]:22"),
        FirewallVerdict::Drop,
        "ip6 applies to IPv6"
    );
    // A nat chain on prerouting is no input chain.
    let rs = ruleset(vec![table(
        NfFamily::Ip,
        "nat",
        vec![base("pre", Hook::Prerouting, -100, Verdict::Accept, vec![])],
        vec![],
    )]);
    assert_eq!(check(&rs, &listening("0.0.0.0:22")).rule, None);
}

#[test]
fn policy_drop_with_ssh_allowed() {
    let rs = inet_input(Verdict::Drop, vec![tcp_dport_accept(22)]);
    let ssh = check(&rs, &listening("0.0.0.0:22"));
    assert_eq!(ssh.verdict, FirewallVerdict::Accept);
    assert_eq!(
        ssh.rule,
        Some(RuleRef {
            family: "inet",
            table: "filter".into(),
            chain: "input".into(),
            handle: Some(2),
            text: "tcp dport 22 accept".into(),
        })
    );
    assert_eq!(ssh.reason, "chain input accepts tcp 22");
    let web = check(&rs, &listening("0.0.0.0:80"));
    assert_eq!(web.verdict, FirewallVerdict::Drop);
    assert_eq!(
        web.rule,
        Some(RuleRef {
            family: "inet",
            table: "filter".into(),
            chain: "input".into(),
            handle: None,
            text: "policy drop".into(),
        })
    );
    assert_eq!(
        web.reason,
        "no rule accepts tcp 80; chain input drops by policy"
    );
    // UDP 22 is not TCP 22.
    assert_eq!(
        check(&rs, &bound_udp("0.0.0.0:22")).verdict,
        FirewallVerdict::Drop
    );
}

#[test]
fn udp_rules_match_udp_sockets() {
    let rs = inet_input(Verdict::Drop, vec![udp_dport_accept(53)]);
    let dns = check(&rs, &bound_udp("0.0.0.0:53"));
    assert_eq!(dns.verdict, FirewallVerdict::Accept);
    assert_eq!(rule_text(&dns), "udp dport 53 accept");
    assert_eq!(kind(&rs, "0.0.0.0:53"), FirewallVerdict::Drop, "tcp 53");
}

#[test]
fn reject_rejects() {
    let rs = inet_input(
        Verdict::Accept,
        vec![
            rule([dport(TCP, 25), vec![Expr::Reject]]),
            rule([vec![Expr::Reject]]),
        ],
    );
    let smtp = check(&rs, &listening("0.0.0.0:25"));
    assert_eq!(smtp.verdict, FirewallVerdict::Reject);
    assert_eq!(rule_text(&smtp), "tcp dport 25 reject");
    assert_eq!(smtp.reason, "chain input rejects tcp 25");
    assert_eq!(kind(&rs, "0.0.0.0:80"), FirewallVerdict::Reject);
}

#[test]
fn a_source_address_makes_it_conditional() {
    let rs = inet_input(
        Verdict::Drop,
        vec![rule([
            saddr("10.0.0.0/8", true),
            dport(TCP, 5432),
            vec![accept()],
        ])],
    );
    let pg = check(&rs, &listening("0.0.0.0:5432"));
    assert_eq!(pg.verdict, FirewallVerdict::Conditional);
    assert_eq!(rule_text(&pg), "ip saddr 10.0.0.0/8 tcp dport 5432 accept");
    assert_eq!(pg.reason, "tcp 5432 is accepted only from 10.0.0.0/8");
    // The rule is for IPv4 sources: an IPv6-only socket is dropped.
    let v6 = Socket {
        v6only: Some(true),
        ..listening("[::]:5432")
    };
    assert_eq!(check(&rs, &v6).verdict, FirewallVerdict::Drop);
    // Another port never meets it.
    assert_eq!(kind(&rs, "0.0.0.0:5433"), FirewallVerdict::Drop);
    // A mask that is not whole bytes (`/12`), and IPv6.
    let rs = inet_input(
        Verdict::Drop,
        vec![
            rule([saddr("172.16.0.0/12", true), vec![accept()]]),
            rule([saddr("2001:db8::/64", true), vec![accept()]]),
        ],
    );
    let f = check(&rs, &listening("0.0.0.0:80"));
    assert_eq!(f.verdict, FirewallVerdict::Conditional);
    assert_eq!(f.reason, "tcp 80 is accepted only from 172.16.0.0/12");
    assert_eq!(rule_text(&f), "ip saddr 172.16.0.0/12 accept");
    let f = check(
        &rs,
        &Socket {
            v6only: Some(true),
            ..listening("[::]:80")
        },
    );
    assert_eq!(f.reason, "tcp 80 is accepted only from 2001:db8::/64");
}

#[test]
fn an_interface_makes_it_conditional() {
    let rs = inet_input(
        Verdict::Drop,
        vec![rule([
            iifname(CmpOp::Eq, "eth0"),
            dport(TCP, 9000),
            vec![accept()],
        ])],
    );
    let f = check(&rs, &listening("0.0.0.0:9000"));
    assert_eq!(f.verdict, FirewallVerdict::Conditional);
    assert_eq!(rule_text(&f), "iifname \"eth0\" tcp dport 9000 accept");
    assert_eq!(f.reason, "tcp 9000 is accepted only on interface eth0");
    let rs = inet_input(
        Verdict::Drop,
        vec![rule([iifname(CmpOp::Neq, "docker0"), vec![accept()]])],
    );
    let f = check(&rs, &listening("0.0.0.0:9000"));
    assert_eq!(
        f.reason,
        "tcp 9000 is accepted only on interfaces other than docker0"
    );
}

#[test]
fn loopback_rules_do_not_apply() {
    for lo in [iif_lo(), iifname(CmpOp::Eq, "lo")] {
        let rs = inet_input(Verdict::Drop, vec![rule([lo, vec![accept()]])]);
        let f = check(&rs, &listening("0.0.0.0:8080"));
        assert_eq!(f.verdict, FirewallVerdict::Drop, "{f:?}");
        assert_eq!(rule_text(&f), "policy drop");
    }
    let rs = inet_input(Verdict::Drop, vec![rule([iif_lo(), vec![accept()]])]);
    let text = super::text::rule_text(&rs.tables[0], &rs.tables[0].chains[0].rules[0]);
    assert_eq!(text, "iif \"lo\" accept");
    // `iif != lo` holds for every connection from another host: the anti-spoofing rule
    // drops nothing a wildcard socket receives.
    let rs = inet_input(
        Verdict::Accept,
        vec![rule([
            vec![meta(4), cmp(CmpOp::Neq, &1u32.to_ne_bytes())],
            daddr("127.0.0.0/8", true),
            vec![drop()],
        ])],
    );
    let f = check(&rs, &listening("0.0.0.0:80"));
    assert_eq!(
        (f.verdict, f.reason.as_str()),
        (
            FirewallVerdict::Accept,
            "no rule decides tcp 80; chain input accepts by policy"
        )
    );
}

#[test]
fn established_related_is_skipped_new_is_not() {
    let rs = inet_input(
        Verdict::Drop,
        vec![
            rule([ct_state(ESTABLISHED_RELATED), vec![accept()]]),
            rule([ct_state(INVALID), vec![drop()]]),
            rule([ct_state(NEW), dport(TCP, 443), vec![accept()]]),
        ],
    );
    let f = check(&rs, &listening("0.0.0.0:80"));
    assert_eq!(f.verdict, FirewallVerdict::Drop);
    assert_eq!(rule_text(&f), "policy drop");
    let f = check(&rs, &listening("0.0.0.0:443"));
    assert_eq!(f.verdict, FirewallVerdict::Accept);
    assert_eq!(rule_text(&f), "ct state new tcp dport 443 accept");
    let text = super::text::rule_text(&rs.tables[0], &rs.tables[0].chains[0].rules[0]);
    assert_eq!(text, "ct state established,related accept");
}

#[test]
fn sets_of_ports_hashed_and_intervals() {
    let rs = ruleset(vec![table(
        NfFamily::Inet,
        "filter",
        vec![input(
            Verdict::Drop,
            vec![
                rule([dport_in(TCP, "__set0"), vec![accept()]]),
                rule([dport_in(TCP, "ranges"), vec![accept()]]),
                rule([dport_range(UDP, 1000, 2000), vec![accept()]]),
            ],
        )],
        vec![
            port_set("__set0", &[80, 8080]),
            port_intervals("ranges", &[(5000, 5100), (6000, 6000)]),
        ],
    )]);
    for (port, want) in [
        (80, true),
        (8080, true),
        (81, false),
        (5000, true),
        (5100, true),
        (5101, false),
        (6000, true),
        (4999, false),
    ] {
        let f = check(&rs, &listening(&format!("0.0.0.0:{port}")));
        let accepted = f.verdict == FirewallVerdict::Accept;
        assert_eq!(accepted, want, "{port}: {f:?}");
    }
    assert_eq!(
        rule_text(&check(&rs, &listening("0.0.0.0:80"))),
        "tcp dport { 80, 8080 } accept"
    );
    assert_eq!(
        rule_text(&check(&rs, &listening("0.0.0.0:5050"))),
        "tcp dport @ranges accept"
    );
    for (port, want) in [
        (999, FirewallVerdict::Drop),
        (1000, FirewallVerdict::Accept),
        (2000, FirewallVerdict::Accept),
        (2001, FirewallVerdict::Drop),
    ] {
        assert_eq!(
            check(&rs, &bound_udp(&format!("0.0.0.0:{port}"))).verdict,
            want,
            "{port}"
        );
    }
    assert_eq!(
        rule_text(&check(&rs, &bound_udp("0.0.0.0:1500"))),
        "udp dport 1000-2000 accept"
    );
}

#[test]
fn an_anonymous_interval_set_reads_as_ranges() {
    let rs = ruleset(vec![table(
        NfFamily::Inet,
        "filter",
        vec![input(
            Verdict::Drop,
            vec![rule([dport_in(TCP, "__set1"), vec![accept()]])],
        )],
        vec![port_intervals("__set1", &[(5000, 5100), (6000, 6000)])],
    )]);
    assert_eq!(
        rule_text(&check(&rs, &listening("0.0.0.0:6000"))),
        "tcp dport { 5000-5100, 6000 } accept"
    );
}

#[test]
fn a_set_of_source_networks_is_conditional() {
    let rs = ruleset(vec![table(
        NfFamily::Inet,
        "filter",
        vec![input(
            Verdict::Drop,
            vec![rule([
                nfproto(false),
                vec![
                    Expr::Payload {
                        base: crate::model::PayloadBase::Network,
                        offset: 12,
                        len: 4,
                        dreg: 1,
                    },
                    lookup("allowed", None),
                ],
                dport(TCP, 6379),
                vec![accept()],
            ])],
        )],
        vec![addr_intervals("allowed", &["10.0.0.0/8", "192.168.1.1/32"])],
    )]);
    let f = check(&rs, &listening("0.0.0.0:6379"));
    assert_eq!(f.verdict, FirewallVerdict::Conditional);
    assert_eq!(rule_text(&f), "ip saddr @allowed tcp dport 6379 accept");
    assert_eq!(
        f.reason,
        "tcp 6379 is accepted only from the addresses in set allowed"
    );
}

#[test]
fn verdict_maps_decide_by_port() {
    let rs = ruleset(vec![table(
        NfFamily::Inet,
        "filter",
        vec![input(
            Verdict::Accept,
            vec![rule([dport_vmap(TCP, "__map0")])],
        )],
        vec![port_vmap(
            "__map0",
            &[(7000, Verdict::Accept), (7001, Verdict::Drop)],
        )],
    )]);
    let f = check(&rs, &listening("0.0.0.0:7001"));
    assert_eq!(f.verdict, FirewallVerdict::Drop);
    assert_eq!(
        rule_text(&f),
        "tcp dport vmap { 7000 : accept, 7001 : drop }"
    );
    assert_eq!(kind(&rs, "0.0.0.0:7000"), FirewallVerdict::Accept);
    // Not in the map: the rule does not match, the policy decides.
    assert_eq!(
        rule_text(&check(&rs, &listening("0.0.0.0:7002"))),
        "policy accept"
    );
}

#[test]
fn a_verdict_map_on_the_source_is_conditional() {
    let rs = ruleset(vec![table(
        NfFamily::Ip,
        "filter",
        vec![input(
            Verdict::Drop,
            vec![rule([
                vec![Expr::Payload {
                    base: crate::model::PayloadBase::Network,
                    offset: 12,
                    len: 4,
                    dreg: 1,
                }],
                vec![lookup("__map0", Some(0))],
            ])],
        )],
        vec![
            NfSet {
                key_len: 4,
                ..port_vmap("__map0", &[])
            }
            .with_addresses(&[("10.0.0.1", Verdict::Accept), ("10.0.0.2", Verdict::Drop)]),
        ],
    )]);
    let f = check(&rs, &listening("0.0.0.0:22"));
    assert_eq!(f.verdict, FirewallVerdict::Conditional, "{f:?}");
    assert_eq!(
        rule_text(&f),
        "ip saddr vmap { 10.0.0.1 : accept, 10.0.0.2 : drop }"
    );
}

trait WithAddresses {
    fn with_addresses(self, entries: &[(&str, Verdict)]) -> NfSet;
}

impl WithAddresses for NfSet {
    fn with_addresses(mut self, entries: &[(&str, Verdict)]) -> NfSet {
        self.elements = entries
            .iter()
            .map(|(a, v)| crate::model::NfSetElement {
                key: a.parse::<std::net::Ipv4Addr>().unwrap().octets().to_vec(),
                data: Some(crate::model::Immediate::Verdict(v.clone())),
                ..Default::default()
            })
            .collect();
        self
    }
}

fn with_user_chain(user: Vec<crate::model::NfRule>, how: Expr) -> Ruleset {
    ruleset(vec![table(
        NfFamily::Inet,
        "filter",
        vec![
            regular("user", user),
            input(
                Verdict::Drop,
                vec![rule([vec![how]]), tcp_dport_accept(443)],
            ),
        ],
        vec![],
    )])
}

#[test]
fn jumps_and_returns() {
    let rs = with_user_chain(
        vec![
            tcp_dport_accept(3000),
            rule([vec![immediate(Verdict::Return)]]),
        ],
        jump("user"),
    );
    let f = check(&rs, &listening("0.0.0.0:3000"));
    assert_eq!(f.verdict, FirewallVerdict::Accept);
    assert_eq!(f.rule.as_ref().map(|r| r.chain.as_str()), Some("user"));
    assert_eq!(f.reason, "chain user accepts tcp 3000");
    // Back from the user chain, the next rule of input accepts 443.
    assert_eq!(
        rule_text(&check(&rs, &listening("0.0.0.0:443"))),
        "tcp dport 443 accept"
    );
    assert_eq!(
        rule_text(&check(&rs, &listening("0.0.0.0:80"))),
        "policy drop"
    );
    let jumping = &rs.tables[0].chains[1].rules[0];
    assert_eq!(super::text::rule_text(&rs.tables[0], jumping), "jump user");
}

#[test]
fn a_goto_does_not_come_back() {
    let rs = with_user_chain(vec![tcp_dport_accept(3000)], goto("user"));
    assert_eq!(kind(&rs, "0.0.0.0:3000"), FirewallVerdict::Accept);
    // The end of `user` returns past input's rules to its policy: 443 is not accepted.
    let f = check(&rs, &listening("0.0.0.0:443"));
    assert_eq!(f.verdict, FirewallVerdict::Drop);
    assert_eq!(rule_text(&f), "policy drop");
}

#[test]
fn a_conditional_jump_splits_the_walk() {
    // firewalld's shape: interface eth0 goes to its zone, whose rules accept ssh.
    let rs = ruleset(vec![table(
        NfFamily::Inet,
        "firewalld",
        vec![
            regular("zone_public", vec![tcp_dport_accept(22)]),
            input(
                Verdict::Drop,
                vec![rule([
                    iifname(CmpOp::Eq, "eth0"),
                    vec![goto("zone_public")],
                ])],
            ),
        ],
        vec![],
    )]);
    let f = check(&rs, &listening("0.0.0.0:22"));
    assert_eq!(f.verdict, FirewallVerdict::Conditional);
    assert_eq!(
        f.rule.as_ref().map(|r| r.text.as_str()),
        Some("tcp dport 22 accept")
    );
    assert_eq!(f.reason, "tcp 22 is accepted only on interface eth0");
    assert_eq!(kind(&rs, "0.0.0.0:80"), FirewallVerdict::Drop);
}

#[test]
fn loops_of_jumps_end() {
    let rs = ruleset(vec![table(
        NfFamily::Inet,
        "filter",
        vec![
            regular("a", vec![rule([vec![jump("b")]])]),
            regular("b", vec![rule([vec![jump("a")]])]),
            regular("c", vec![rule([vec![goto("d")]])]),
            regular("d", vec![rule([vec![goto("c")]])]),
            input(
                Verdict::Accept,
                vec![
                    rule([dport(TCP, 1), vec![jump("a")]]),
                    rule([dport(TCP, 2), vec![goto("c")]]),
                ],
            ),
        ],
        vec![],
    )]);
    for port in [1, 2] {
        let f = check(&rs, &listening(&format!("0.0.0.0:{port}")));
        assert_eq!(f.verdict, FirewallVerdict::Unknown, "{f:?}");
    }
    assert_eq!(kind(&rs, "0.0.0.0:3"), FirewallVerdict::Accept);
}

#[test]
fn a_missing_chain_or_set_is_unknown() {
    let rs = inet_input(Verdict::Accept, vec![rule([vec![jump("nowhere")]])]);
    let f = check(&rs, &listening("0.0.0.0:80"));
    assert_eq!(f.verdict, FirewallVerdict::Unknown);
    assert_eq!(
        f.reason,
        "chain input jumps to chain nowhere, which table filter does not have"
    );
    let rs = inet_input(
        Verdict::Accept,
        vec![rule([dport_in(TCP, "gone"), vec![drop()]])],
    );
    let f = check(&rs, &listening("0.0.0.0:80"));
    assert_eq!(f.verdict, FirewallVerdict::Unknown);
    assert_eq!(
        f.reason,
        "chain input: a rule looks up set gone, which table filter does not have"
    );
}

#[test]
fn every_base_chain_on_the_hook_must_accept() {
    let accepting = table(
        NfFamily::Inet,
        "filter",
        vec![input(Verdict::Accept, vec![tcp_dport_accept(8080)])],
        vec![],
    );
    let dropping = table(
        NfFamily::Ip,
        "strict",
        vec![base(
            "in",
            Hook::Input,
            10,
            Verdict::Accept,
            vec![rule([dport(TCP, 8080), vec![drop()]])],
        )],
        vec![],
    );
    let rs = ruleset(vec![accepting.clone(), dropping]);
    let f = check(&rs, &listening("0.0.0.0:8080"));
    assert_eq!(f.verdict, FirewallVerdict::Drop);
    assert_eq!(
        f.rule.as_ref().map(|r| (r.family, r.table.as_str())),
        Some(("ip", "strict"))
    );
    // The ip table does not see IPv6.
    let v6 = Socket {
        v6only: Some(true),
        ..listening("[::]:8080")
    };
    let f = check(&rs, &v6);
    assert_eq!(
        (f.verdict, rule_text(&f)),
        (FirewallVerdict::Accept, "tcp dport 8080 accept")
    );
    // Priority, not the order of the tables: an earlier chain that drops decides first.
    let early = table(
        NfFamily::Ip,
        "early",
        vec![base("in", Hook::Input, -10, Verdict::Drop, vec![])],
        vec![],
    );
    let rs = ruleset(vec![accepting, early]);
    let f = check(&rs, &listening("0.0.0.0:8080"));
    assert_eq!(
        (f.verdict, f.rule.as_ref().map(|r| r.table.as_str())),
        (FirewallVerdict::Drop, Some("early"))
    );
}

#[test]
fn families_apply_to_their_packets() {
    let v4_drop = table(
        NfFamily::Ip,
        "v4",
        vec![input(Verdict::Drop, vec![])],
        vec![],
    );
    let v6_drop = table(
        NfFamily::Ip6,
        "v6",
        vec![input(Verdict::Drop, vec![])],
        vec![],
    );
    let rs = ruleset(vec![v4_drop.clone()]);
    assert_eq!(kind(&rs, "0.0.0.0:80"), FirewallVerdict::Drop);
    assert_eq!(kind(&rs, "10.1.2.3:80"), FirewallVerdict::Drop);
    let v6only = Socket {
        v6only: Some(true),
        ..listening("[::]:80")
    };
    assert_eq!(check(&rs, &v6only).verdict, FirewallVerdict::Accept);
    // A dual-stack wildcard takes IPv4 too: accepted over IPv6 only.
    let dual = Socket {
        v6only: Some(false),
        ..listening("[::]:80")
    };
    let f = check(&rs, &dual);
    assert_eq!(f.verdict, FirewallVerdict::Conditional);
    assert_eq!(
        f.reason,
        "IPv6: no base chain on the input hook for IPv6; IPv4: no rule accepts tcp 80; chain input drops by policy"
    );
    let rs = ruleset(vec![v4_drop, v6_drop]);
    assert_eq!(check(&rs, &dual).verdict, FirewallVerdict::Drop);
    // Neither family filtered: both named.
    let arp = ruleset(vec![table(
        NfFamily::Arp,
        "a",
        vec![input(Verdict::Drop, vec![])],
        vec![],
    )]);
    let f = check(&arp, &dual);
    assert_eq!(
        (f.verdict, f.reason.as_str()),
        (
            FirewallVerdict::Accept,
            "no base chain on the input hook for IPv6 or IPv4"
        )
    );
    // An IPv4-mapped address is IPv4.
    let rs = ruleset(vec![table(
        NfFamily::Ip6,
        "v6",
        vec![input(Verdict::Drop, vec![])],
        vec![],
    )]);
    assert_eq!(kind(&rs, "[::ffff:10.1.2.3]:80"), FirewallVerdict::Accept);
}

#[test]
fn the_destination_address_matters_only_when_known() {
    let rs = ruleset(vec![table(
        NfFamily::Ip,
        "filter",
        vec![input(
            Verdict::Drop,
            vec![rule([
                daddr("192.168.1.5", false),
                dport(TCP, 9500),
                vec![accept()],
            ])],
        )],
        vec![],
    )]);
    assert_eq!(kind(&rs, "192.168.1.5:9500"), FirewallVerdict::Accept);
    assert_eq!(kind(&rs, "192.168.1.6:9500"), FirewallVerdict::Drop);
    let f = check(&rs, &listening("0.0.0.0:9500"));
    assert_eq!(f.verdict, FirewallVerdict::Conditional);
    assert_eq!(
        f.reason,
        "tcp 9500 is accepted only when addressed to 192.168.1.5"
    );
}

#[test]
fn an_unknown_expression_is_never_an_accept() {
    let fib = Expr::Other("fib".into());
    let rs = inet_input(
        Verdict::Accept,
        vec![rule([vec![fib.clone()], dport(TCP, 22), vec![drop()]])],
    );
    let f = check(&rs, &listening("0.0.0.0:22"));
    assert_eq!(f.verdict, FirewallVerdict::Unknown);
    assert_eq!(
        f.reason,
        "chain input: a rule uses fib, which portwho does not evaluate"
    );
    // Another port: the rule cannot match whatever fib said.
    assert_eq!(kind(&rs, "0.0.0.0:80"), FirewallVerdict::Accept);
    // Before its dport test fails, nothing is unknown either.
    let rs = inet_input(
        Verdict::Accept,
        vec![rule([
            dport(TCP, 22),
            vec![Expr::Other("xt".into()), drop()],
        ])],
    );
    assert_eq!(kind(&rs, "0.0.0.0:80"), FirewallVerdict::Accept);
    assert_eq!(kind(&rs, "0.0.0.0:22"), FirewallVerdict::Unknown);
    // A queue hands the answer to a program.
    let rs = inet_input(
        Verdict::Accept,
        vec![rule([dport(TCP, 22), vec![immediate(Verdict::Queue)]])],
    );
    let f = check(&rs, &listening("0.0.0.0:22"));
    assert_eq!(f.verdict, FirewallVerdict::Unknown);
    assert_eq!(
        f.reason,
        "chain input queues tcp 22 to a program, whose answer is not known"
    );
    // A drop that is certain elsewhere still decides.
    let rs = ruleset(vec![
        table(
            NfFamily::Inet,
            "a",
            vec![input(
                Verdict::Accept,
                vec![rule([vec![fib.clone(), accept()]])],
            )],
            vec![],
        ),
        table(
            NfFamily::Inet,
            "b",
            vec![base("in", Hook::Input, 5, Verdict::Drop, vec![])],
            vec![],
        ),
    ]);
    assert_eq!(kind(&rs, "0.0.0.0:22"), FirewallVerdict::Drop);
}

#[test]
fn a_rate_limit_is_conditional() {
    let rs = inet_input(
        Verdict::Drop,
        vec![rule([
            dport(TCP, 22),
            vec![Expr::Other("limit".into()), accept()],
        ])],
    );
    let f = check(&rs, &listening("0.0.0.0:22"));
    assert_eq!(f.verdict, FirewallVerdict::Conditional);
    assert_eq!(rule_text(&f), "tcp dport 22 limit accept");
    assert_eq!(f.reason, "tcp 22 is accepted only up to a rate limit");
}

#[test]
fn a_drop_for_some_leaves_an_accept_with_its_exception() {
    // fail2ban's shape: a set of banned sources rejected before ssh is accepted.
    let rs = ruleset(vec![table(
        NfFamily::Inet,
        "filter",
        vec![input(
            Verdict::Drop,
            vec![
                rule([saddr("203.0.113.7", true), vec![Expr::Reject]]),
                tcp_dport_accept(22),
            ],
        )],
        vec![],
    )]);
    let f = check(&rs, &listening("0.0.0.0:22"));
    assert_eq!(f.verdict, FirewallVerdict::Accept);
    assert_eq!(
        f.reason,
        "chain input accepts tcp 22, except from 203.0.113.7"
    );
}

#[test]
fn many_sockets_share_walks_and_agree_with_one_at_a_time() {
    let rs = ruleset(vec![table(
        NfFamily::Inet,
        "filter",
        vec![input(
            Verdict::Drop,
            vec![
                tcp_dport_accept(22),
                rule([dport_range(TCP, 8000, 8100), vec![accept()]]),
                udp_dport_accept(53),
            ],
        )],
        vec![],
    )]);
    let mut many = Firewalls::new(&rs);
    for port in [21, 22, 23, 7999, 8000, 8050, 8100, 8101, 53] {
        for socket in [
            listening(&format!("0.0.0.0:{port}")),
            bound_udp(&format!("[::]:{port}")),
        ] {
            assert_eq!(many.verdict(&socket), verdict(&rs, &socket), "{socket:?}");
        }
    }
}

#[test]
fn a_concatenated_key_of_source_and_port() {
    // `ip saddr . tcp dport @pairs`: the port is the second field, padded to 4 bytes.
    let pairs = NfSet {
        name: "pairs".into(),
        key_len: 8,
        elements: [([10, 0, 0, 1], 22u16), ([10, 0, 0, 2], 80)]
            .iter()
            .map(|(a, p)| {
                let mut key = a.to_vec();
                key.extend(p.to_be_bytes());
                key.extend([0, 0]);
                crate::model::NfSetElement {
                    key,
                    ..Default::default()
                }
            })
            .collect(),
        ..NfSet::default()
    };
    let concat = rule([
        nfproto(false),
        l4proto(TCP),
        vec![
            Expr::Payload {
                base: crate::model::PayloadBase::Network,
                offset: 12,
                len: 4,
                dreg: 1,
            },
            Expr::Payload {
                base: crate::model::PayloadBase::Transport,
                offset: 2,
                len: 2,
                dreg: 9,
            },
            lookup("pairs", None),
            accept(),
        ],
    ]);
    let rs = ruleset(vec![table(
        NfFamily::Inet,
        "filter",
        vec![input(Verdict::Drop, vec![concat])],
        vec![pairs],
    )]);
    let mut many = Firewalls::new(&rs);
    for port in [21, 22, 23, 79, 80, 81, 443] {
        let s = listening(&format!("0.0.0.0:{port}"));
        let f = many.verdict(&s);
        let want = if port == 22 || port == 80 {
            FirewallVerdict::Conditional
        } else {
            FirewallVerdict::Drop
        };
        assert_eq!(f.verdict, want, "{port}: {f:?}");
        assert_eq!(f, verdict(&rs, &s));
    }
    let f = many.verdict(&listening("0.0.0.0:22"));
    assert_eq!(rule_text(&f), "ip saddr . tcp dport @pairs accept");
    assert_eq!(
        f.reason,
        "tcp 22 is accepted only when ip saddr . tcp dport @pairs"
    );
}

#[test]
fn only_listeners_off_loopback_get_a_verdict() {
    assert!(applies(&listening("0.0.0.0:22")));
    assert!(applies(&listening("[::]:22")));
    assert!(applies(&bound_udp("192.168.1.2:53")));
    assert!(!applies(&listening("127.0.0.1:22")));
    assert!(!applies(&listening("[::1]:22")));
    assert!(!applies(&listening("[::ffff:127.0.0.1]:22")));
    let connected = Socket {
        state: crate::model::State::Established,
        ..listening("10.0.0.1:22")
    };
    assert!(!applies(&connected));
}

#[test]
fn rule_texts_read_like_nft() {
    let t = table(NfFamily::Inet, "t", vec![], vec![]);
    let text = |parts: Vec<Vec<Expr>>| super::text::rule_text(&t, &rule(parts));
    assert_eq!(
        text(vec![dport(TCP, 22), vec![accept()]]),
        "tcp dport 22 accept"
    );
    assert_eq!(
        text(vec![iifname(CmpOp::Eq, "eth*"), vec![accept()]]),
        "iifname \"eth*\" accept"
    );
    assert_eq!(
        text(vec![
            dport(TCP, 9800),
            vec![Expr::Passive("counter".into()), accept()]
        ]),
        "tcp dport 9800 counter accept"
    );
    assert_eq!(
        text(vec![
            vec![meta(4), cmp(CmpOp::Neq, &1u32.to_ne_bytes())],
            vec![drop()]
        ]),
        "iif != \"lo\" drop"
    );
    let gt = vec![
        l4proto(TCP),
        vec![
            load_dport(),
            cmp(CmpOp::Gt, &1024u16.to_be_bytes()),
            accept(),
        ],
    ];
    assert_eq!(text(gt), "tcp dport > 1024 accept");
    let neq_range = vec![
        l4proto(TCP),
        vec![
            load_dport(),
            Expr::Range {
                sreg: 1,
                op: CmpOp::Neq,
                from: 1000u16.to_be_bytes().to_vec(),
                to: 2000u16.to_be_bytes().to_vec(),
            },
            accept(),
        ],
    ];
    assert_eq!(text(neq_range), "tcp dport != 1000-2000 accept");
    assert_eq!(
        text(vec![vec![meta(3), eq(&0x10u32.to_ne_bytes()), accept()]]),
        "meta mark 0x00000010 accept"
    );
    // A shape this does not read: the kernel names.
    let odd = vec![vec![
        Expr::Payload {
            base: crate::model::PayloadBase::Link,
            offset: 0,
            len: 6,
            dreg: 1,
        },
        eq(&[0; 6]),
        accept(),
    ]];
    assert_eq!(text(odd), "payload cmp immediate");
    assert_eq!(
        text(vec![dport(TCP, 2222), redirect_to(22)]),
        "tcp dport 2222 redirect to :22"
    );
    assert_eq!(
        text(vec![dport(TCP, 8080), dnat_to("172.17.0.2:80")]),
        "tcp dport 8080 dnat to 172.17.0.2:80"
    );
}

fn docker() -> Ruleset {
    // iptables-nft's docker: PREROUTING jumps to DOCKER for local addresses (`fib daddr
    // type local`, which portwho does not evaluate); DOCKER forwards 8080 from any
    // interface but the bridge.
    let fib = vec![Expr::Other("fib".into()), eq(&2u32.to_ne_bytes())];
    ruleset(vec![table(
        NfFamily::Ip,
        "nat",
        vec![
            regular(
                "DOCKER",
                vec![rule([
                    iifname(CmpOp::Neq, "docker0"),
                    dport(TCP, 8080),
                    vec![Expr::Passive("counter".into())],
                    dnat_to("172.17.0.2:80"),
                ])],
            ),
            base(
                "PREROUTING",
                Hook::Prerouting,
                -100,
                Verdict::Accept,
                vec![rule([fib.clone(), vec![jump("DOCKER")]])],
            ),
            base(
                "OUTPUT",
                Hook::Output,
                -100,
                Verdict::Accept,
                vec![rule([fib, vec![jump("DOCKER")]])],
            ),
        ],
        vec![],
    )])
}

#[test]
fn docker_forwards_are_found_through_its_chain() {
    let rs = docker();
    assert_eq!(
        forwards(&rs),
        vec![RuleForward {
            proto: Proto::Tcp,
            host_addr: None,
            host_port: 8080,
            to_addr: Some("172.17.0.2".parse().unwrap()),
            to_port: 80,
            redirect: false,
            rule: RuleRef {
                family: "ip",
                table: "nat".into(),
                chain: "DOCKER".into(),
                handle: Some(2),
                text: "iifname != \"docker0\" tcp dport 8080 counter dnat to 172.17.0.2:80".into(),
            },
        }]
    );
}

#[test]
fn redirects_ranges_sets_and_maps_are_forwards() {
    let pre = vec![
        rule([dport(TCP, 2222), redirect_to(22)]),
        rule([
            daddr("1.2.3.4", false),
            dport_range(UDP, 5000, 5002),
            dnat_to("10.0.0.4:6000"),
        ]),
        rule([dport_in(TCP, "__set0"), redirect_to(7100)]),
        rule([
            dport(TCP, 9999),
            vec![Expr::Immediate {
                dreg: 1,
                data: crate::model::Immediate::Value(vec![10, 0, 0, 3]),
            }],
            vec![Expr::Nat {
                kind: crate::model::NatKind::Dnat,
                family: Some(NfFamily::Ip),
                addr_min: Some(1),
                addr_max: None,
                proto_min: None,
                proto_max: None,
            }],
        ]),
        // `dnat to tcp dport map @fw`: address and port from a map keyed by port.
        rule([
            l4proto(TCP),
            vec![load_dport(), lookup("fw", Some(1))],
            vec![Expr::Nat {
                kind: crate::model::NatKind::Dnat,
                family: Some(NfFamily::Ip),
                addr_min: Some(1),
                addr_max: None,
                proto_min: Some(9),
                proto_max: None,
            }],
        ]),
        // Every port: not one forward per port.
        rule([l4proto(TCP), dnat_to("10.9.9.9:1")]),
    ];
    let fw_map = NfSet {
        name: "fw".into(),
        map: true,
        key_len: 2,
        elements: vec![crate::model::NfSetElement {
            key: 8081u16.to_be_bytes().to_vec(),
            data: Some(crate::model::Immediate::Value(vec![
                172, 17, 0, 3, 0, 80, 0, 0,
            ])),
            ..Default::default()
        }],
        ..NfSet::default()
    };
    let rs = ruleset(vec![table(
        NfFamily::Ip,
        "nat",
        vec![base("pre", Hook::Prerouting, -100, Verdict::Accept, pre)],
        vec![port_set("__set0", &[7000, 7001]), fw_map],
    )]);
    let got: Vec<String> = forwards(&rs)
        .into_iter()
        .map(|f| {
            let host = f.host_addr.map_or("*".to_string(), |a| a.to_string());
            let to = f
                .to_addr
                .map_or("(redirect)".to_string(), |a| a.to_string());
            format!(
                "{} {host}:{} -> {to}:{}",
                f.proto.as_str(),
                f.host_port,
                f.to_port
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "tcp *:2222 -> (redirect):22",
            "udp 1.2.3.4:5000 -> 10.0.0.4:6000",
            "udp 1.2.3.4:5001 -> 10.0.0.4:6000",
            "udp 1.2.3.4:5002 -> 10.0.0.4:6000",
            "tcp *:7000 -> (redirect):7100",
            "tcp *:7001 -> (redirect):7100",
            "tcp *:9999 -> 10.0.0.3:9999",
            "tcp *:8081 -> 172.17.0.3:80",
        ]
    );
}

#[test]
fn a_huge_port_range_is_capped() {
    let rs = ruleset(vec![table(
        NfFamily::Ip,
        "nat",
        vec![base(
            "pre",
            Hook::Prerouting,
            -100,
            Verdict::Accept,
            vec![rule([dport_range(TCP, 1, 60000), redirect_to(1)])],
        )],
        vec![],
    )]);
    assert_eq!(forwards(&rs).len(), super::forwards::MAX_PORTS_PER_RULE);
}
