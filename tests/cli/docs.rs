//! The checked-in man page and completions are what the CLI definition generates.

use std::path::Path;

use crate::common::*;

fn assert_fresh(what: &str, file: &str) {
    let r = portwho_run(&["--generate", what]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        r.stdout == checked_in,
        "{file} is stale: run `cargo run -- --generate {what} > {file}`"
    );
}

#[test]
fn man_page_is_fresh() {
    assert_fresh("man", "man/portwho.1");
}

#[test]
fn completions_are_fresh() {
    assert_fresh("complete-bash", "completions/portwho.bash");
    assert_fresh("complete-zsh", "completions/_portwho");
    assert_fresh("complete-fish", "completions/portwho.fish");
}

#[test]
fn man_page_renders_without_warnings() {
    let Ok(out) = std::process::Command::new("groff")
        .args(["-ww", "-z", "-man"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("man/portwho.1"))
        .output()
    else {
        eprintln!("skipped: groff is not installed");
        return;
    };
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn short_help_is_a_summary_and_long_help_has_the_examples() {
    let short = portwho_run(&["-h"]);
    let long = portwho_run(&["--help"]);
    assert_eq!(
        (short.code, long.code),
        (0, 0),
        "{}{}",
        short.stderr,
        long.stderr
    );
    assert!(
        short.stdout.lines().count() < long.stdout.lines().count(),
        "-h:\n{}\n--help:\n{}",
        short.stdout,
        long.stdout
    );
    // What people come for, each run for real in the README.
    for example in [
        "portwho :8080 ",
        "portwho --listening ",
        "portwho --json | jq ",
        "portwho --kill :3000 ",
    ] {
        assert!(long.stdout.contains(example), "--help lacks {example:?}");
    }
    assert!(long.stdout.contains("Exit status:"));
    // -h points to the rest instead of repeating it.
    assert!(short.stdout.contains("portwho --help"));
    assert!(!short.stdout.contains("Exit status:"));
    // Hidden options stay hidden.
    for hidden in ["--generate", "--proc-root"] {
        assert!(!long.stdout.contains(hidden), "--help shows {hidden}");
    }
}
