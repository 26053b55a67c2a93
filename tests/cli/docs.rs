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
