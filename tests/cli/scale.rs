//! Scale: 10 000 and 100 000 sockets in a private network namespace. Slow (about 20 s in a
//! debug build), so `#[ignore]`d; `.ci/run` runs it explicitly.

use serde_json::Value;

use crate::common::*;

const SCALE: &str = include_str!("helpers/scale.py");

#[test]
#[ignore = "slow: run by .ci/run with --ignored"]
fn hundred_thousand_sockets() {
    if !std::path::Path::new("/usr/bin/time").exists() {
        eprintln!("skipped: needs /usr/bin/time (Debian package time)");
        return;
    }
    let Some(ns) = Netns::new() else { return };
    // Run from a file: with `-c`, the whole script would be every worker's argv, and so
    // in each of the 100 000 JSON records.
    let script = std::env::temp_dir().join(format!("portwho-scale-{}.py", std::process::id()));
    std::fs::write(&script, SCALE).unwrap();
    let r = run(ns.exec(python3()).args([
        script.to_str().unwrap(),
        env!("CARGO_BIN_EXE_portwho"),
        "10000,100000",
    ]));
    std::fs::remove_file(&script).unwrap();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let steps: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(steps.len(), 2, "{}", r.stdout);
    for step in &steps {
        let sockets = step["sockets"].as_u64().unwrap();
        assert_eq!(step["json_exit"], 0, "{step}");
        assert_eq!(step["table_exit"], 0, "{step}");
        assert_eq!(step["stderr"], "", "{step}");
        // Every socket, and nothing but the namespace's.
        assert_eq!(step["json_records"].as_u64().unwrap(), sockets, "{step}");
        eprintln!(
            "scale: {sockets} sockets in {} processes: --all --json {:.2} s, peak {:.1} MB ({} B/socket); --all table {:.2} s, peak {:.1} MB",
            step["workers"],
            step["json_s"].as_f64().unwrap(),
            mb(&step["json_peak_rss"]),
            step["json_peak_rss"].as_u64().unwrap() / sockets,
            step["table_s"].as_f64().unwrap(),
            mb(&step["table_peak_rss"]),
        );
    }
    // Linear growth: what each further socket costs, from 10k to 100k.
    for key in ["json_peak_rss", "table_peak_rss"] {
        let (small, large) = (&steps[0], &steps[1]);
        let added = large["sockets"].as_u64().unwrap() - small["sockets"].as_u64().unwrap();
        let grown = large[key].as_u64().unwrap() - small[key].as_u64().unwrap();
        eprintln!("scale: {key}: {} B per further socket", grown / added);
        assert!(
            grown / added < 2048,
            "{key}: {} B per socket",
            grown / added
        );
    }
}

fn mb(bytes: &Value) -> f64 {
    bytes.as_u64().unwrap() as f64 / 1e6
}
