//! Firewall verdicts and forwards, on rulesets the tests load into network namespaces they
//! made (`ip netns exec NS nft -f FILE`, `iptables`), never the host's; no traffic is sent.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::common::{Netns, run};

/// A namespace with a ruleset loaded, and a python3 server in it on 192.0.2.1 (its veth
/// address: beyond loopback) for each port.
struct Host {
    ns: Netns,
    _servers: Vec<crate::common::Helper>,
}

fn nft(ns: &Netns, ruleset: &str) {
    let mut child = ns
        .exec("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("nft");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(ruleset.as_bytes())
        .expect("ruleset");
    assert!(child.wait().expect("nft").success(), "nft -f:\n{ruleset}");
}

fn with(ruleset: &str, listeners: &str) -> Option<Host> {
    let ns = Netns::new()?;
    if Command::new("nft").arg("--version").output().is_err() {
        eprintln!("skipped: needs nft (Debian's nftables)");
        return None;
    }
    if !ruleset.is_empty() {
        nft(&ns, ruleset);
    }
    let server = ns.listen(listeners);
    Some(Host {
        ns,
        _servers: vec![server],
    })
}

/// The `firewall` object of the listener on a port.
fn firewall(host: &Host, port: u16, args: &[&str]) -> Value {
    let (_, records) = host.ns.json(args);
    records
        .into_iter()
        .find(|r| r["local_port"] == port && r["state"] != "ESTABLISHED")
        .unwrap_or_else(|| panic!("nothing on {port}"))["firewall"]
        .clone()
}

#[test]
fn without_rules_everything_is_open_and_loopback_is_not_judged() {
    let Some(host) = with(
        "",
        "[('tcp', '192.0.2.1', 2222), ('tcp', '127.0.0.1', 2223)]",
    ) else {
        return;
    };
    let f = firewall(&host, 2222, &[]);
    assert_eq!(f["verdict"], "accept", "{f}");
    assert_eq!(f["rule"], Value::Null);
    assert_eq!(f["reason"], "no firewall rules");
    assert_eq!(firewall(&host, 2223, &[]), Value::Null, "loopback: null");
}

const INPUT: &str = "table inet filter {
  set web { type inet_service; elements = { 80, 8080 } }
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iif lo accept
    tcp dport 22 accept
    tcp dport @web accept
    ip saddr 10.0.0.0/8 tcp dport 5432 accept
    udp dport 53 reject
    tcp dport 7000 reject with tcp reset
    jump user
  }
  chain user {
    tcp dport 9000 accept
  }
}";

#[test]
fn policy_drop_with_accepts_sets_jumps_and_rejects() {
    let Some(host) = with(
        INPUT,
        "[('tcp', '192.0.2.1', 22), ('tcp', '192.0.2.1', 8080), ('tcp', '192.0.2.1', 5432),
          ('udp', '192.0.2.1', 53), ('tcp', '192.0.2.1', 7000), ('tcp', '192.0.2.1', 9000),
          ('tcp', '0.0.0.0', 6000)]",
    ) else {
        return;
    };
    let expect = |port: u16, verdict: &str| {
        let f = firewall(&host, port, &[]);
        assert_eq!(f["verdict"], verdict, "port {port}: {f}");
        f
    };
    let ssh = expect(22, "accept");
    assert_eq!(ssh["rule"]["family"], "inet");
    assert_eq!(ssh["rule"]["table"], "filter");
    assert_eq!(ssh["rule"]["chain"], "input");
    assert_eq!(ssh["rule"]["handle"], handle_of(&host.ns, "input", 22));
    expect(8080, "accept");
    let db = expect(5432, "conditional");
    assert!(
        db["reason"].as_str().unwrap().contains("10.0.0.0/8"),
        "{db}"
    );
    expect(53, "reject");
    expect(7000, "reject");
    let user = expect(9000, "accept");
    assert_eq!(user["rule"]["chain"], "user");
    let closed = expect(6000, "drop");
    assert_eq!(closed["rule"]["text"], "policy drop");
    assert_eq!(closed["rule"]["handle"], Value::Null);
}

/// The handle `nft -a -j list ruleset` gives the rule of a chain that names a port.
fn handle_of(ns: &Netns, chain: &str, port: u64) -> u64 {
    let out = ns
        .exec("nft")
        .args(["-a", "-j", "list", "ruleset"])
        .output()
        .expect("nft");
    let json: Value = serde_json::from_slice(&out.stdout).expect("nft -j");
    json["nftables"]
        .as_array()
        .expect("nftables")
        .iter()
        .filter_map(|o| o.get("rule"))
        .find(|r| r["chain"] == chain && r.to_string().contains(&format!("\"right\":{port}")))
        .and_then(|r| r["handle"].as_u64())
        .unwrap_or_else(|| panic!("no rule on {port} in {chain}: {json}"))
}

#[test]
fn a_later_table_on_the_input_hook_can_still_drop() {
    let Some(host) = with(
        "table ip first {
  chain input {
    type filter hook input priority 0;
    tcp dport 8443 accept
  }
}
table ip second {
  chain input {
    type filter hook input priority 10; policy drop;
  }
}",
        "[('tcp', '192.0.2.1', 8443)]",
    ) else {
        return;
    };
    let f = firewall(&host, 8443, &[]);
    assert_eq!(f["verdict"], "drop", "{f}");
    assert_eq!(f["rule"]["table"], "second");
}

#[test]
fn iptables_nft_rules_are_read_too() {
    let Some(host) = with("", "[('tcp', '192.0.2.1', 22), ('tcp', '192.0.2.1', 25)]") else {
        return;
    };
    for args in [
        &["-P", "INPUT", "DROP"][..],
        &["-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"],
    ] {
        let ok = host
            .ns
            .exec("iptables-nft")
            .args(args)
            .status()
            .expect("iptables");
        assert!(ok.success(), "iptables-nft {args:?}");
    }
    assert_eq!(firewall(&host, 22, &[])["verdict"], "accept");
    let smtp = firewall(&host, 25, &[]);
    assert_eq!(smtp["verdict"], "drop", "{smtp}");
    assert_eq!(smtp["rule"]["table"], "filter");
    assert_eq!(smtp["rule"]["chain"], "INPUT");
}

#[test]
fn legacy_iptables_makes_the_verdict_unknown() {
    let Some(host) = with("", "[('tcp', '192.0.2.1', 22)]") else {
        return;
    };
    let ok = host
        .ns
        .exec("iptables-legacy")
        .args(["-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"])
        .status();
    if !ok.is_ok_and(|s| s.success()) {
        eprintln!("skipped: iptables-legacy cannot load ip_tables here");
        return;
    }
    let f = firewall(&host, 22, &[]);
    assert_eq!(f["verdict"], "unknown", "{f}");
    assert!(f["reason"].as_str().unwrap().contains("legacy"), "{f}");
}

#[test]
fn without_cap_net_admin_the_verdict_is_unknown() {
    let Some(host) = with(INPUT, "[('tcp', '192.0.2.1', 22)]") else {
        return;
    };
    if !crate::privilege::can_switch_user() {
        return;
    }
    let _turn = crate::privilege::nobody_turn();
    let bin = crate::privilege::binary_for_nobody();
    let mut cmd = host.ns.exec("setpriv");
    cmd.args([
        "--reuid",
        "65534",
        "--regid",
        "65534",
        "--clear-groups",
        "--",
    ])
    .arg(&bin)
    .arg("--json");
    let r = run(&mut cmd);
    std::fs::remove_dir_all(bin.parent().unwrap()).unwrap();
    let records: Vec<Value> = serde_json::from_str(&r.stdout).unwrap();
    let f = &records.iter().find(|r| r["local_port"] == 22).unwrap()["firewall"];
    assert_eq!(f["verdict"], "unknown", "{f}");
    assert!(f["reason"].as_str().unwrap().contains("root"), "{f}");
}

const NAT: &str = "table ip nat {
  chain prerouting {
    type nat hook prerouting priority -100;
    tcp dport 8080 dnat to 192.0.2.1:80
    tcp dport 3000 redirect to :3001
  }
}";

#[test]
fn dnat_and_redirect_are_forwards_and_explain_a_port_no_socket_holds() {
    let Some(host) = with(NAT, "[('tcp', '0.0.0.0', 80), ('tcp', '0.0.0.0', 3001)]") else {
        return;
    };
    let (code, forwards) = host.ns.json(&["--forwards"]);
    assert_eq!(code, 0);
    let dnat = forwards
        .iter()
        .find(|f| f["via"] == "dnat")
        .unwrap_or_else(|| panic!("{forwards:?}"));
    assert_eq!(dnat["host_port"], 8080);
    assert_eq!(dnat["host_addr"], Value::Null);
    assert_eq!(dnat["to_addr"], "192.0.2.1");
    assert_eq!(dnat["to_port"], 80);
    assert_eq!(dnat["rule"]["table"], "nat");
    assert_eq!(dnat["rule"]["chain"], "prerouting");
    let redirect = forwards.iter().find(|f| f["via"] == "redirect").unwrap();
    assert_eq!(redirect["host_port"], 3000);
    assert_eq!(redirect["to_addr"], Value::Null);
    assert_eq!(redirect["to_port"], 3001);
    let (code, only) = host.ns.json(&["--forwards", ":3000"]);
    assert_eq!((code, only.len()), (0, 1));
    let (code, none) = host.ns.json(&["--forwards", ":9"]);
    assert_eq!((code, none.len()), (1, 0));

    // Port 8080: no socket, but a forward: still exit 1, and the diagnosis says where to.
    let r = host.ns.portwho(&[":8080"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains(
            "* no socket holds port 8080 here, but nftables forwards tcp 8080 to 192.0.2.1:80"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("table ip nat, chain prerouting"),
        "{}",
        r.stdout
    );
    let (code, json) = host.ns.json(&[":8080"]);
    assert_eq!((code, json.len()), (1, 0), "no socket holds it");
}

#[test]
fn the_audit_counts_a_closed_port_one_severity_lower() {
    let Some(host) = with(
        "table inet filter {
  chain input {
    type filter hook input priority 0; policy drop;
    tcp dport 6380 accept
  }
}",
        "[('tcp', '0.0.0.0', 6379), ('tcp', '0.0.0.0', 6380)]",
    ) else {
        return;
    };
    // Port 6379 is redis's: a high finding when anyone can reach it.
    let (_, found) = host.ns.json(&["--audit"]);
    let on = |port: u64| {
        found
            .iter()
            .find(|r| r["local_port"] == port)
            .unwrap_or_else(|| panic!("{found:?}"))["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == "unauthenticated-datastore")
            .cloned()
    };
    let closed = on(6379).expect("a finding on 6379");
    assert_eq!(closed["severity"], "medium", "{closed}");
    assert_eq!(closed["firewall"]["verdict"], "drop");
    assert!(
        closed["message"]
            .as_str()
            .unwrap()
            .contains("the firewall closes it")
    );
    let r = host.ns.portwho(&[":6379"]);
    assert!(
        r.stdout.contains(
            "  firewall drops new connections: table inet filter, chain input, policy drop"
        ),
        "{}",
        r.stdout
    );
    // The metrics count the audit's severities: the closed datastore is medium, not high.
    let r = host.ns.portwho(&["--prometheus"]);
    for line in [
        "portwho_findings{severity=\"high\"} 0\n",
        "portwho_findings{severity=\"medium\"} 1\n",
    ] {
        assert!(r.stdout.contains(line), "{line} in\n{}", r.stdout);
    }
}
