//! Exit statuses: the one table that `--help`, the man page and the README say.

use clap_mangen::roff::{Roff, bold, roman};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// At least one socket matched; `--audit` found nothing at or above `--fail-on`;
    /// `--diff` found no change; an action did what it was asked.
    Matched,
    /// Nothing matched (for a port: it is free); an action did not get there in time.
    NoMatch,
    /// `--diff`: something changed since the baseline.
    Changed,
    /// Usage error or a failure to read the system; `--kill` could signal nothing.
    Error,
    /// `--audit`: a finding at or above `--fail-on`.
    Findings,
}

impl ExitCode {
    pub fn code(self) -> u8 {
        match self {
            ExitCode::Matched => 0,
            ExitCode::NoMatch | ExitCode::Changed => 1,
            ExitCode::Error => 2,
            ExitCode::Findings => 3,
        }
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code())
    }
}

/// The modes whose statuses mean different things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Without an action option: the listing (and `-q`).
    List,
    /// What holds whatever the mode.
    Every,
    Audit,
    Diff,
    Kill,
    Free,
    WaitListen,
    WaitFree,
    Watch,
    Prometheus,
    Forwards,
}

impl Mode {
    /// The mode as the help, the man page and the README's table name it.
    pub fn name(self) -> &'static str {
        match self {
            Mode::List => "listing",
            Mode::Every => "every mode",
            Mode::Audit => "--audit",
            Mode::Diff => "--diff",
            Mode::Kill => "--kill",
            Mode::Free => "--free",
            Mode::WaitListen => "--wait-listen",
            Mode::WaitFree => "--wait-free",
            Mode::Watch => "--watch",
            Mode::Prometheus => "--prometheus",
            Mode::Forwards => "--forwards",
        }
    }
}

/// What one status means in one mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub mode: Mode,
    /// The variant the code returns; its number is `code.code()`, so the table cannot
    /// name a number the program does not exit with.
    pub code: ExitCode,
    pub meaning: &'static str,
}

/// Every status, grouped by mode, ascending within a mode. Each row is what the code
/// returns: `list.rs` (listing, audit, diff), `action/kill.rs`, `action/free.rs`,
/// `action/wait.rs`, `watch.rs`, `lib.rs` for `--prometheus`, and `main.rs` for errors.
pub const STATUSES: &[Status] = &[
    row(Mode::List, ExitCode::Matched, "at least one socket matched"),
    row(
        Mode::List,
        ExitCode::NoMatch,
        "nothing matched (for portwho :8080: the port is free)",
    ),
    row(
        Mode::Every,
        ExitCode::Error,
        "usage error or a failure to read the system",
    ),
    row(
        Mode::Audit,
        ExitCode::Matched,
        "no finding at or above --fail-on",
    ),
    row(
        Mode::Audit,
        ExitCode::Findings,
        "a finding at or above --fail-on (default high)",
    ),
    row(
        Mode::Diff,
        ExitCode::Matched,
        "no change since the baseline",
    ),
    row(
        Mode::Diff,
        ExitCode::Changed,
        "something is new, gone or held by another program",
    ),
    row(Mode::Kill, ExitCode::Matched, "the port is free afterwards"),
    row(
        Mode::Kill,
        ExitCode::NoMatch,
        "something still holds it, or there was nothing to signal",
    ),
    row(
        Mode::Kill,
        ExitCode::Error,
        "nothing signalled: permission denied, or owners hidden",
    ),
    row(Mode::Forwards, ExitCode::Matched, "a forward matched"),
    row(Mode::Forwards, ExitCode::NoMatch, "no forward matched"),
    row(Mode::Free, ExitCode::Matched, "found COUNT free ports"),
    row(
        Mode::Free,
        ExitCode::NoMatch,
        "fewer than COUNT free ports left below 65536",
    ),
    row(
        Mode::WaitListen,
        ExitCode::Matched,
        "something listens on TARGET",
    ),
    row(
        Mode::WaitListen,
        ExitCode::NoMatch,
        "the timeout passed first",
    ),
    row(
        Mode::WaitFree,
        ExitCode::Matched,
        "no socket but TIME_WAIT uses TARGET",
    ),
    row(
        Mode::WaitFree,
        ExitCode::NoMatch,
        "the timeout passed first",
    ),
    row(
        Mode::Watch,
        ExitCode::Matched,
        "stopped by SIGINT or SIGTERM, or its reader went away",
    ),
    row(
        Mode::Prometheus,
        ExitCode::Matched,
        "the metrics were written, even with no socket",
    ),
];

const fn row(mode: Mode, code: ExitCode, meaning: &'static str) -> Status {
    Status {
        mode,
        code,
        meaning,
    }
}

/// The rows of each mode in turn, in the table's order.
fn by_mode() -> Vec<(Mode, Vec<&'static Status>)> {
    let mut groups: Vec<(Mode, Vec<&'static Status>)> = Vec::new();
    for status in STATUSES {
        match groups.last_mut() {
            Some((mode, rows)) if *mode == status.mode => rows.push(status),
            _ => groups.push((status.mode, vec![status])),
        }
    }
    groups
}

/// The paragraph that ends `--help`: a mode column, then one status per line.
pub fn help() -> String {
    let width = STATUSES
        .iter()
        .map(|s| s.mode.name().len())
        .max()
        .unwrap_or(0);
    let mut text = String::from("Exit status:");
    for (mode, rows) in by_mode() {
        for (i, status) in rows.iter().enumerate() {
            let name = if i == 0 { mode.name() } else { "" };
            text.push_str(&format!(
                "\n  {name:width$}  {}  {}",
                status.code.code(),
                status.meaning
            ));
        }
    }
    text
}

/// The man page's EXIT STATUS section: a tag per mode, a line per status.
pub fn man(roff: &mut Roff) {
    roff.control("SH", ["EXIT STATUS"]);
    for (mode, rows) in by_mode() {
        roff.control("TP", [] as [&str; 0])
            .text([bold(mode.name())]);
        for (i, status) in rows.iter().enumerate() {
            if i > 0 {
                roff.control("br", [] as [&str; 0]);
            }
            let number = status.code.code().to_string();
            roff.text([bold(number), roman(format!(" {}", status.meaning))]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_values() {
        assert_eq!(ExitCode::Matched.code(), 0);
        assert_eq!(ExitCode::NoMatch.code(), 1);
        assert_eq!(ExitCode::Changed.code(), 1);
        assert_eq!(ExitCode::Error.code(), 2);
        assert_eq!(ExitCode::Findings.code(), 3);
    }

    #[test]
    fn every_variant_is_in_the_table() {
        // A new variant fails to compile here until it is considered.
        let all = |code: ExitCode| match code {
            ExitCode::Matched
            | ExitCode::NoMatch
            | ExitCode::Changed
            | ExitCode::Error
            | ExitCode::Findings => code,
        };
        for code in [
            ExitCode::Matched,
            ExitCode::NoMatch,
            ExitCode::Changed,
            ExitCode::Error,
            ExitCode::Findings,
        ] {
            assert!(STATUSES.iter().any(|s| s.code == all(code)), "{code:?}");
        }
    }

    #[test]
    fn each_mode_is_one_group_with_ascending_distinct_numbers() {
        let groups = by_mode();
        for (i, (mode, rows)) in groups.iter().enumerate() {
            assert!(
                groups[i + 1..].iter().all(|(m, _)| m != mode),
                "{mode:?} is split"
            );
            let numbers: Vec<u8> = rows.iter().map(|s| s.code.code()).collect();
            assert!(numbers.is_sorted_by(|a, b| a < b), "{mode:?}: {numbers:?}");
        }
    }

    #[test]
    fn help_says_every_row_within_80_columns() {
        let text = help();
        assert!(text.lines().all(|l| l.len() <= 80), "{text}");
        assert_eq!(text.lines().count(), STATUSES.len() + 1);
        // The mode on its first row only; the numbers in one column.
        assert!(
            text.contains("\n  --kill         0  the port is free"),
            "{text}"
        );
        assert!(
            text.contains("\n                 2  nothing signalled"),
            "{text}"
        );
    }

    #[test]
    fn man_tags_each_mode_and_bolds_each_status() {
        let mut roff = Roff::new();
        man(&mut roff);
        let page = roff.to_roff();
        assert!(page.starts_with(".SH \"EXIT STATUS\"\n"), "{page}");
        assert!(page.contains(".TP\n\\fB\\-\\-kill\\fR\n\\fB0\\fR the port is free"));
        assert!(
            page.contains("\n.br\n\\fB2\\fR nothing signalled"),
            "{page}"
        );
    }
}
