//! The command line, as clap sees it: the one definition help, man page and completions use.

use std::path::PathBuf;

use clap::{ArgAction, Parser, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  portwho                          what is listening on this host (TCP and UDP)
  portwho :8080                    who holds port 8080, in any state
  portwho 127.0.0.1:5432/tcp       one address, one protocol
  portwho 8000-8100 -t             a range of TCP ports
  portwho :postgresql              a port by service name
  portwho --all -u -6              every IPv6 UDP socket
  portwho -c nginx                 what nginx holds
  portwho --json | jq '.[].local_port'
  portwho -q :8080 && echo busy    scripts: exit 0 if held, 1 if free
  portwho --audit                  findings on what this host exposes
  portwho --listening --json > baseline.json; portwho --diff baseline.json

Exit status: 0 a socket matched, 1 nothing matched (--diff: something changed), 2 usage
error or failure to read, 3 --audit found something at or above --fail-on.";

/// Who is listening on this port, what holds it, what this host exposes.
///
/// Lists TCP and UDP sockets with every process that holds them, the service name and
/// the port's range. Without TARGET, lists listening sockets; with TARGET, every socket
/// on those local ports, listeners first.
#[derive(Debug, Parser)]
#[command(name = "portwho", version, after_long_help = EXAMPLES)]
pub struct Cli {
    /// Local ports to show: PORT, :PORT, LOW-HIGH, ADDR:PORT, [IPV6]:PORT or :SERVICE,
    /// each optionally followed by /tcp or /udp. Several are OR-ed.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,

    /// Listening sockets only: TCP in LISTEN, UDP bound and unconnected (the default
    /// without TARGET).
    #[arg(short, long, conflicts_with = "all")]
    pub listening: bool,

    /// Sockets in every state (ESTABLISHED, TIME_WAIT, ...).
    #[arg(short, long)]
    pub all: bool,

    /// TCP sockets only.
    #[arg(short, long)]
    pub tcp: bool,

    /// UDP sockets only.
    #[arg(short, long)]
    pub udp: bool,

    /// IPv4 sockets only.
    #[arg(short = '4', long = "ipv4")]
    pub ipv4: bool,

    /// IPv6 sockets only.
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,

    /// Sockets held by this process (repeatable).
    #[arg(short, long = "pid", value_name = "PID", value_parser = parse_pid, action = ArgAction::Append)]
    pub pids: Vec<u32>,

    /// Sockets held by processes with this name (as in ps's COMMAND or argv[0]; repeatable).
    #[arg(short, long = "command", value_name = "NAME", action = ArgAction::Append)]
    pub commands: Vec<String>,

    /// Sockets held by this user, a name or a numeric uid (repeatable).
    #[arg(short = 'U', long = "user", value_name = "USER", action = ArgAction::Append)]
    pub users: Vec<String>,

    /// Show port numbers only, no service names.
    #[arg(short, long)]
    pub numeric: bool,

    /// Print a JSON array of sockets on stdout, and nothing else there.
    #[arg(long, conflicts_with = "quiet")]
    pub json: bool,

    /// Print nothing; the exit status answers (0 matched, 1 nothing matched).
    #[arg(short, long)]
    pub quiet: bool,

    /// When to use colour.
    #[arg(long, value_name = "WHEN", default_value = "auto")]
    pub color: ColorChoice,

    /// Audit what this host exposes: listening sockets with findings, most severe first.
    /// Exit status 3 when a finding is at or above --fail-on.
    #[arg(long, conflicts_with_all = ["all", "diff"])]
    pub audit: bool,

    /// With --audit, the least severity that makes the exit status 3.
    #[arg(
        long,
        value_name = "SEVERITY",
        default_value = "high",
        requires = "audit"
    )]
    pub fail_on: FailOn,

    /// Compare the listening sockets with a baseline saved by
    /// `portwho --listening --json > FILE`: what is new, gone, or held by another program.
    /// Exit status 1 when anything changed.
    #[arg(long, value_name = "FILE", conflicts_with = "all")]
    pub diff: Option<PathBuf>,

    /// Also say on stderr what the scan read and skipped.
    #[arg(short, long)]
    pub verbose: bool,

    /// Write a man page or a shell completion script to stdout and exit.
    #[arg(long, value_name = "WHAT", hide = true, exclusive = true)]
    pub generate: Option<Generate>,

    /// Read sockets and processes from this proc tree instead of the live system (for
    /// captured trees; disables netlink).
    #[arg(long, value_name = "DIR", hide = true)]
    pub proc_root: Option<PathBuf>,
}

/// `--color` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// `--fail-on` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Low,
    Medium,
    High,
}

/// What `--generate` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Generate {
    Man,
    CompleteBash,
    CompleteZsh,
    CompleteFish,
}

/// A pid, with a hint for `ss -tulpn` habits, where `-p` takes no value.
fn parse_pid(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => Err(format!(
            "'{text}' is not a process id (portwho shows processes without -p; -p takes a PID)"
        )),
    }
}
