//! `--signal` values (`TERM`, `SIGTERM`, `term`, `15`) parsed into the signals `--kill` sends.

use std::fmt;

/// A signal `--kill` may send. Only signals whose default action ends the process are
/// offered: `--kill` waits for the port to be freed afterwards, which a stopped process
/// (SIGSTOP) never does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Signal {
    Hup,
    Int,
    Quit,
    Abrt,
    Kill,
    Usr1,
    Usr2,
    Alrm,
    Term,
}

/// Name without `SIG`, and the number on Linux's generic ABI (x86, arm, riscv, powerpc,
/// s390). The backend sends by variant, not by number, so the numbers only decide what
/// `--signal 9` means; the Linux backend's tests check them against the platform.
const TABLE: &[(Signal, &str, i32)] = &[
    (Signal::Hup, "HUP", 1),
    (Signal::Int, "INT", 2),
    (Signal::Quit, "QUIT", 3),
    (Signal::Abrt, "ABRT", 6),
    (Signal::Kill, "KILL", 9),
    (Signal::Usr1, "USR1", 10),
    (Signal::Usr2, "USR2", 12),
    (Signal::Alrm, "ALRM", 14),
    (Signal::Term, "TERM", 15),
];

/// Why a `--signal` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown signal '{0}': expected one of HUP, INT, QUIT, ABRT, KILL, USR1, USR2, ALRM, TERM \
     (with or without SIG, any case) or its number"
)]
pub struct UnknownSignal(pub String);

impl Signal {
    /// Every signal `--kill` accepts.
    #[cfg(test)]
    pub(crate) fn all() -> impl Iterator<Item = Signal> {
        TABLE.iter().map(|&(s, _, _)| s)
    }

    /// Parse a name (`TERM`, `SIGTERM`, `term`, `sigterm`) or a number (`15`).
    pub(crate) fn parse(text: &str) -> Result<Signal, UnknownSignal> {
        let unknown = || UnknownSignal(text.to_string());
        if let Ok(number) = text.parse::<i32>() {
            return TABLE
                .iter()
                .find(|&&(_, _, n)| n == number)
                .map(|&(s, _, _)| s)
                .ok_or_else(unknown);
        }
        let upper = text.to_ascii_uppercase();
        let name = upper.strip_prefix("SIG").unwrap_or(&upper);
        // SIGIOT and SIGABRT are one signal; `kill -l` users know both names.
        let name = if name == "IOT" { "ABRT" } else { name };
        TABLE
            .iter()
            .find(|&&(_, n, _)| n == name)
            .map(|&(s, _, _)| s)
            .ok_or_else(unknown)
    }

    /// The name without `SIG`, as `kill -l` prints it.
    pub(crate) fn name(self) -> &'static str {
        TABLE
            .iter()
            .find(|&&(s, _, _)| s == self)
            .map_or("?", |&(_, n, _)| n)
    }

    /// The number on Linux's generic ABI.
    #[cfg(test)]
    pub(crate) fn number(self) -> i32 {
        TABLE
            .iter()
            .find(|&&(s, _, _)| s == self)
            .map_or(0, |&(_, _, n)| n)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIG{}", self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_spellings() {
        for text in ["TERM", "SIGTERM", "term", "sigTerm", "15"] {
            assert_eq!(Signal::parse(text), Ok(Signal::Term), "{text}");
        }
        for text in ["KILL", "9", "SIGKILL", "kill"] {
            assert_eq!(Signal::parse(text), Ok(Signal::Kill), "{text}");
        }
        assert_eq!(Signal::parse("HUP"), Ok(Signal::Hup));
        assert_eq!(Signal::parse("int"), Ok(Signal::Int));
        assert_eq!(Signal::parse("QUIT"), Ok(Signal::Quit));
        assert_eq!(Signal::parse("usr1"), Ok(Signal::Usr1));
        assert_eq!(Signal::parse("SIGUSR2"), Ok(Signal::Usr2));
        assert_eq!(Signal::parse("IOT"), Ok(Signal::Abrt));
    }

    #[test]
    fn unknown_signals() {
        for text in [
            "BOGUS", "", "0", "-9", "99", "SIG", "STOP", "SIGSTOP", "19", " TERM",
        ] {
            let e = Signal::parse(text).unwrap_err();
            assert!(e.to_string().contains(&format!("'{text}'")), "{e}");
        }
    }

    #[test]
    fn round_trip() {
        for s in Signal::all() {
            assert_eq!(Signal::parse(s.name()), Ok(s));
            assert_eq!(Signal::parse(&s.number().to_string()), Ok(s));
            assert_eq!(Signal::parse(&s.to_string()), Ok(s));
        }
        assert_eq!(Signal::Term.to_string(), "SIGTERM");
    }
}
