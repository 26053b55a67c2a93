//! Exposure, `--audit` and `--diff`, inside network namespaces the tests create, so the
//! host's own listeners cannot change the answers.

use serde_json::Value;

use crate::common::*;

fn by_port(records: &[Value], port: u32) -> &Value {
    records
        .iter()
        .find(|r| r["local_port"] == port)
        .unwrap_or_else(|| panic!("no socket on {port}: {records:?}"))
}

#[test]
fn exposure_loopback_address_and_all() {
    let Some(ns) = Netns::new() else { return };
    let helper = ns.listen("[('tcp', '127.0.0.1', 0), ('tcp', '192.0.2.1', 0), ('tcp', '0.0.0.0', 0), ('udp', '::', 0)]");
    let (code, records) = ns.json(&[]);
    assert_eq!(code, 0);
    assert_eq!(
        records.len(),
        4,
        "only the namespace's sockets: {records:?}"
    );
    let n = &helper.numbers;
    assert_eq!(by_port(&records, n[0])["exposure"], "loopback");
    assert_eq!(by_port(&records, n[0])["interface"], Value::Null);
    assert_eq!(by_port(&records, n[1])["exposure"], "address");
    assert_eq!(by_port(&records, n[1])["interface"], "pwa");
    assert_eq!(by_port(&records, n[2])["exposure"], "all");
    assert_eq!(by_port(&records, n[3])["exposure"], "all");
    let table = ns.portwho(&[]);
    assert!(table.stdout.contains("EXPOSURE"), "{}", table.stdout);
    assert!(table.stdout.contains(" pwa "), "{}", table.stdout);
}

#[test]
fn audit_reports_and_fails_on_severity() {
    let Some(ns) = Netns::new() else { return };
    // redis's port on every interface (high), telnet on loopback only (nothing), a
    // listener in the ephemeral range on loopback (low).
    let _helper = ns.listen(
        "[('tcp', '0.0.0.0', 6379), ('tcp', '127.0.0.1', 23), ('tcp', '127.0.0.1', 40001)]",
    );
    let r = ns.portwho(&["--audit"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    let out = &r.stdout;
    assert!(
        out.starts_with("high    unauthenticated-datastore  tcp 0.0.0.0:6379 (all)"),
        "{out}"
    );
    assert!(out.contains("root-on-all-interfaces"), "{out}");
    assert!(
        out.contains("ephemeral-port             tcp 127.0.0.1:40001"),
        "{out}"
    );
    assert!(
        !out.contains(":23 "),
        "telnet on loopback is no finding: {out}"
    );
    assert!(
        out.contains("findings (1 high, 0 medium, 2 low) on 2 of 3 listening sockets"),
        "{out}"
    );

    let (code, records) = ns.json(&["--audit"]);
    assert_eq!(code, 3);
    assert_eq!(records.len(), 2);
    let redis = by_port(&records, 6379);
    assert_eq!(redis["findings"][0]["severity"], "high");
    assert_eq!(redis["findings"][0]["code"], "unauthenticated-datastore");
    assert!(
        redis["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("without authentication")
    );

    // Only the low findings for the loopback listener's port: exit 0 unless failing on low.
    assert_eq!(ns.portwho(&["--audit", ":40001"]).code, 0);
    assert_eq!(
        ns.portwho(&["--audit", "--fail-on", "low", ":40001"]).code,
        3
    );
    assert_eq!(
        ns.portwho(&["--audit", "--fail-on", "medium", ":40001"])
            .code,
        0
    );
    assert_eq!(ns.portwho(&["-q", "--audit"]).code, 3);
}

#[test]
fn audit_finds_a_deleted_executable() {
    let Some(ns) = Netns::new() else { return };
    let dir = std::env::temp_dir().join(format!("portwho-deleted-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("python3-copy");
    std::fs::copy(std::fs::canonicalize(python3()).unwrap(), &copy).unwrap();
    // A just-written executable can be busy (ETXTBSY) while another test's fork still holds
    // its write fd: try again briefly.
    let helper = (0..50)
        .find_map(|_| {
            let helper = Helper::try_spawn(ns.exec(copy.to_str().unwrap()).args(["-c", LISTENER]));
            if helper.is_none() {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            helper
        })
        .expect("the copied python3 never started");
    std::fs::remove_dir_all(&dir).unwrap();
    let port = helper.numbers[0].to_string();
    let r = ns.portwho(&["--audit", "--fail-on", "medium", &port]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert!(
        r.stdout.contains("medium  deleted-executable"),
        "{}",
        r.stdout
    );
    // Quiet, the audit still reads the owners it judges.
    assert_eq!(
        ns.portwho(&["-q", "--audit", "--fail-on", "medium", &port])
            .code,
        3
    );
    // Prometheus counts it too, whether the kernel's iterator tells the executable was
    // deleted or /proc's exe link does.
    for route in ["always", "never"] {
        let r = run(ns
            .exec(env!("CARGO_BIN_EXE_portwho"))
            .args(["--prometheus", "-v", &port])
            .env("PORTWHO_BPF", route));
        assert!(
            r.stdout
                .contains("portwho_findings{severity=\"medium\"} 1\n"),
            "{route}: {}",
            r.stdout
        );
        if route == "always" {
            used_kernel_iterator(&r.stderr);
        }
    }
    let (_, records) = ns.json(&[&port]);
    assert_eq!(records[0]["processes"][0]["exe_deleted"], true);
    assert!(
        !records[0]["processes"][0]["exe"]
            .as_str()
            .unwrap()
            .ends_with("(deleted)")
    );
}

#[test]
fn diff_against_a_baseline() {
    let Some(ns) = Netns::new() else { return };
    let stays = ns.listen("[('tcp', '127.0.0.1', 0)]");
    let goes = ns.listen("[('udp', '127.0.0.1', 0)]");
    let baseline = ns.portwho(&["--listening", "--json"]).stdout;
    let file = std::env::temp_dir().join(format!("portwho-baseline-{}.json", std::process::id()));
    std::fs::write(&file, &baseline).unwrap();
    let path = file.to_str().unwrap();

    let r = ns.portwho(&["--diff", path]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.starts_with("no change since"), "{}", r.stdout);

    // A new listener and one gone; pids differ from the baseline's, which is no change.
    let goes_port = goes.numbers[0];
    drop(goes);
    let new = ns.listen("[('tcp', '0.0.0.0', 0)]");
    let r = ns.portwho(&["--diff", path]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout
            .contains(&format!("+ tcp 0.0.0.0:{}  new: ", new.numbers[0])),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains(&format!("- udp 127.0.0.1:{goes_port}  gone: ")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("1 new, 1 gone, 0 changed"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains(&format!(":{} ", stays.numbers[0])));

    // Another program on the same address and port is a change.
    let edited = baseline.replace("python3", "old-daemon");
    std::fs::write(&file, edited).unwrap();
    let r = ns.portwho(&["--json", "--diff", path]);
    assert_eq!(r.code, 1);
    let value: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(value["added"].as_array().unwrap().len(), 1);
    assert_eq!(value["removed"].as_array().unwrap().len(), 1);
    let changed = value["changed"].as_array().unwrap();
    assert!(
        changed
            .iter()
            .any(|c| c["after"]["local_port"] == stays.numbers[0]),
        "{value}"
    );

    std::fs::write(&file, "not json").unwrap();
    let r = ns.portwho(&["--diff", path]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with("portwho: cannot use baseline"),
        "{}",
        r.stderr
    );
    std::fs::remove_file(&file).unwrap();
}
