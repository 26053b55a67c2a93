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

fn man_page() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("man/portwho.1")
}

#[test]
fn man_page_passes_mandoc_lint() {
    // mandoc's STYLE notes (lines over 80 bytes, trailing spaces) are about clap_mangen's
    // layout, not the rendered page; warnings and errors are not.
    let Ok(out) = std::process::Command::new("mandoc")
        .args(["-T", "lint", "-W", "warning"])
        .arg(man_page())
        .output()
    else {
        eprintln!("skipped: mandoc is not installed");
        return;
    };
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn man_page_has_exit_status_and_see_also() {
    let page = std::fs::read_to_string(man_page()).unwrap();
    let section = |name: &str| -> String {
        let start = page
            .find(&format!(".SH \"{name}\"\n"))
            .or_else(|| page.find(&format!(".SH {name}\n")))
            .unwrap_or_else(|| panic!("no {name} section"));
        let rest = &page[start + 4..];
        rest[..rest.find("\n.SH ").unwrap_or(rest.len())].to_string()
    };
    let exit = section("EXIT STATUS");
    for code in ["0", "1", "2", "3"] {
        assert!(
            exit.contains(&format!("\\fB{code}\\fR")),
            "exit status {code}"
        );
    }
    for action in ["kill", "free", "wait\\-listen", "audit", "diff"] {
        assert!(exit.contains(&format!("\\-\\-{action}")), "{action}");
    }
    let see_also = section("SEE ALSO");
    for page in ["ss", "lsof", "netstat", "fuser"] {
        assert!(see_also.contains(&format!("\\fI{page}\\fR")), "{page}");
    }
    for (page, n) in [("ss", 8), ("lsof", 8), ("netstat", 8), ("fuser", 1)] {
        assert!(
            see_also.contains(&format!("{page}\\fR({n})")),
            "{page}({n}): {see_also}"
        );
    }
    for name in ["TARGETS", "OUTPUT", "JSON OUTPUT", "EXAMPLES"] {
        section(name);
    }
}

#[test]
fn man_page_renders_without_warnings() {
    let Ok(out) = std::process::Command::new("groff")
        .args(["-ww", "-z", "-man"])
        .arg(man_page())
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

/// The rows of the README's "### Exit status" table: (mode, status, meaning), with the
/// Markdown code marks taken off.
fn readme_exit_statuses() -> Vec<[String; 3]> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let section = readme
        .split_once("\n### Exit status\n")
        .expect("README has no ### Exit status")
        .1;
    let section = section.split("\n#").next().unwrap();
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        // The header and the |---| line.
        .skip(2)
        .map(|l| {
            let cells: Vec<String> = l
                .trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().replace('`', ""))
                .collect();
            cells
                .try_into()
                .unwrap_or_else(|c| panic!("not 3 cells: {c:?}"))
        })
        .collect()
}

#[test]
fn readme_exit_statuses_are_the_table_help_prints() {
    let table: Vec<[String; 3]> = portwho::exit::STATUSES
        .iter()
        .map(|s| {
            let code = s.code.code().to_string();
            [s.mode.name().into(), code, s.meaning.into()]
        })
        .collect();
    assert_eq!(readme_exit_statuses(), table, "README.md's ### Exit status");
    let help = portwho_run(&["--help"]);
    assert!(
        help.stdout.contains(&portwho::exit::help()),
        "--help lacks the exit status table:\n{}",
        help.stdout
    );
}
