//! The errors portwho reports; each prints as one line for the user.

use std::io;
use std::path::PathBuf;

/// Everything that can stop portwho. `main` prints it as `portwho: {error}` and exits 2.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line, as clap found it wrong.
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Target(#[from] crate::target::TargetError),
    #[error("unknown user '{0}': expected a user name or a numeric uid")]
    UnknownUser(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not a procfs mount (is /proc mounted?)")]
    NotProcfs { path: PathBuf },
    #[error("cannot use baseline {path}: {reason}")]
    Baseline { path: PathBuf, reason: String },
    #[error("cannot write output: {0}")]
    Output(#[source] io::Error),
    /// `--output FILE`: its directory is missing or not writable, or the rename failed.
    #[error("cannot write {path}: {source}")]
    OutputFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("--watch cannot catch SIGINT and SIGTERM: {0}")]
    Signals(#[source] io::Error),
    #[error("{0}")]
    Unsupported(String),
    #[error("{name}='{value}': expected {expected}")]
    Setting {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("{0}")]
    Signal(#[from] crate::signal::UnknownSignal),
    #[error(
        "--kill needs a TARGET, --pid or --command: without one it would signal every \
         listener on this host"
    )]
    KillWithoutSelection,
    #[error(
        "--kill asks before signalling, but stdin is not a terminal: add --yes to signal \
         without asking"
    )]
    KillNeedsYes,
    #[error("--{0} needs a TARGET, such as :8080")]
    WaitWithoutTarget(&'static str),
    #[error("--netns '{0}': expected all, a name from 'ip netns list', or a process id")]
    NetnsChoice(String),
    /// A namespace the user named that is not there, or cannot be opened.
    #[error("--netns: {0}")]
    Netns(String),
}

impl Error {
    /// Broken pipes are how `portwho | head -1` ends; they are not failures.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// clap's first line, without its "error: " prefix: one line, as for every other error.
/// A first line ending in ':' is completed by the indented lines that follow it ("the
/// following required arguments were not provided: --kill").
pub(crate) fn usage_line(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let mut lines = rendered.lines();
    let first = lines.next().unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let mut line = first.to_string();
    if first.ends_with(':') {
        let listed: Vec<&str> = lines
            .take_while(|l| l.starts_with(' '))
            .map(str::trim)
            .collect();
        line = format!("{line} {}", listed.join(", "));
    }
    format!("{line} (see 'portwho --help')")
}
