//! The command line, as clap sees it: the one definition help, man page and completions use.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, ArgGroup, Parser, ValueEnum, ValueHint};

/// Under `--help`; the exit statuses follow, added from `exit.rs` by `generate::command`.
const EXAMPLES: &str = "\
Examples:
  portwho                          what is listening on this host (TCP and UDP)
  portwho --listening              the same, said explicitly (-l)
  portwho :8080                    who holds port 8080, in any state, and why
  portwho 127.0.0.1:5432/tcp       one address, one protocol
  portwho 8000-8100 -t             a range of TCP ports
  portwho :postgresql              a port by service name
  portwho --all -u -6              every IPv6 UDP socket
  portwho -c nginx                 what nginx holds
  portwho -q :8080 && echo busy    scripts: exit 0 if held, 1 if free
  portwho --json | jq -r '.[] | select(.exposure == \"all\") | .local_port'
                                   ports other hosts can reach, for scripts
  portwho --audit                  findings on what this host exposes
  portwho --listening --json > baseline.json; portwho --diff baseline.json
                                   later: what is new, gone, or changed hands
  portwho --kill :3000             stop the dev server left on 3000 (asks first),
                                   then wait until the port is free
  portwho --kill --yes --signal KILL 127.0.0.1:3000/tcp
  portwho --free 8000 --count 3    three unused ports from 8000 on
  portwho --wait-listen :5432 --timeout 30 && psql ...
  portwho --watch                  listeners as they open and close, every 2 s
  portwho --prometheus --output /var/lib/prometheus/node-exporter/portwho.prom
                                   metrics for node_exporter's textfile collector";

/// Under `-h`: a taste, and where the rest is.
const SHORT_EXAMPLES: &str = "\
Examples: portwho :8080   portwho --listening   portwho --kill :3000
More examples and the exit status: portwho --help; everything: man portwho";

/// Who is listening on this port, what holds it, what this host exposes.
///
/// Lists TCP and UDP sockets with every process that holds them, the service name and
/// the port's range. Without TARGET, lists listening sockets; with TARGET, every socket
/// on those local ports, listeners first.
#[derive(Debug, Parser)]
#[command(name = "portwho", version, after_help = SHORT_EXAMPLES, after_long_help = EXAMPLES)]
#[command(group = ArgGroup::new("action").args(["kill", "free", "wait_listen", "wait_free"]))]
#[command(group = ArgGroup::new("waiting").args(["kill", "wait_listen", "wait_free"]))]
pub struct Cli {
    /// Local ports: PORT, :PORT, LOW-HIGH, ADDR:PORT or :SERVICE, optionally /tcp or /udp.
    ///
    /// PORT or :PORT is that port; LOW-HIGH every port in the range, both ends included;
    /// ADDR:PORT or [IPV6]:PORT that local address and port; :SERVICE a service name such as
    /// :http or :postgresql. Each may end in /tcp or /udp. Several TARGETs are OR-ed.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,

    /// Listening sockets only (the default without TARGET).
    ///
    /// TCP sockets in LISTEN, UDP sockets bound and unconnected.
    #[arg(short, long, conflicts_with = "all")]
    pub listening: bool,

    /// Sockets in every state.
    ///
    /// LISTEN, ESTABLISHED, TIME_WAIT and the rest. With --kill: also signal the processes
    /// that hold only connections on or to the port.
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

    /// Sockets held by processes with this name (repeatable).
    ///
    /// The name is matched exactly against the process name (as in ps's COMMAND) and the
    /// file name of argv[0].
    #[arg(short, long = "command", value_name = "NAME", action = ArgAction::Append)]
    pub commands: Vec<String>,

    /// Sockets held by this user, a name or a numeric uid (repeatable).
    #[arg(
        short = 'U',
        long = "user",
        value_name = "USER",
        value_hint = ValueHint::Username,
        action = ArgAction::Append
    )]
    pub users: Vec<String>,

    /// Show port numbers only, no service names.
    #[arg(short, long)]
    pub numeric: bool,

    /// Do not look for the processes that hold the sockets, like ss without -p.
    ///
    /// Skips the walk over every process's open files, which is most of the time on a busy
    /// host. The PROCESS column is left out, USER is the socket's owner, and in JSON
    /// "processes" is empty.
    #[arg(
        long,
        conflicts_with_all = ["pids", "commands", "users", "audit", "diff", "kill"]
    )]
    pub no_owners: bool,

    /// Also read other network namespaces: all, an `ip netns` NAME, or a PID's.
    ///
    /// ss, netstat and lsof see only their own network namespace. `all` reads every one on
    /// the host: those of all processes, the names in /run/netns and docker's; a container's
    /// sockets then show with its name, and the table gains a NETNS column. NAME is a name
    /// `ip netns list` shows; PID reads the namespace that process lives in. Entering other
    /// namespaces needs root; those that cannot be entered are counted on stderr.
    #[arg(long, value_name = "all|NAME|PID", conflicts_with = "proc_root")]
    pub netns: Option<String>,

    /// Print a JSON array of sockets on stdout, and nothing else there.
    #[arg(long, conflicts_with = "quiet")]
    pub json: bool,

    /// Print one JSON object a line instead of one array, for log pipelines.
    ///
    /// The records are --json's: a socket a line for the listing and --audit; for --diff a
    /// change a line, the socket's record with "change" first ("added", "removed" with the
    /// baseline's record, "changed" with the baseline's as "before"); for --free
    /// {"port": N} a line; with --watch an event a line.
    #[arg(long, conflicts_with_all = ["json", "quiet"])]
    pub jsonl: bool,

    /// Print the selection as Prometheus metrics (the text exposition format).
    ///
    /// portwho_socket_listening, one series per listening socket (the process label names
    /// a forked server's master), portwho_sockets by state and protocol, portwho_findings by
    /// severity (as --audit judges them), portwho_hidden_owners,
    /// portwho_last_run_timestamp_seconds and
    /// portwho_scrape_duration_seconds. Exits 0 once written, even when nothing matched. With
    /// --output, for node_exporter's textfile collector.
    #[arg(
        long,
        conflicts_with_all = ["json", "jsonl", "quiet", "audit", "diff", "kill", "free", "wait_listen", "wait_free", "forwards"]
    )]
    pub prometheus: bool,

    /// Write the answer to FILE instead of stdout, atomically.
    ///
    /// Written to a temporary file in FILE's directory, flushed to disk, then renamed over
    /// FILE: a reader sees the old file or the new one, never half of one. Any format; for
    /// node_exporter, --prometheus --output /var/lib/prometheus/node-exporter/portwho.prom.
    #[arg(
        long,
        value_name = "FILE",
        value_hint = ValueHint::FilePath,
        conflicts_with_all = ["quiet", "kill", "wait_listen", "wait_free"]
    )]
    pub output: Option<PathBuf>,

    /// Keep running, and every SECS seconds (default 2) print the sockets that opened and
    /// closed since the last look.
    ///
    /// One line an event (open or close, with the time), or with --jsonl one JSON object
    /// {"event", "time", ...the socket's record}. The first look prints nothing: only
    /// what changes after it, as ss -E and inotifywait do (stderr says how many sockets it
    /// started with). A socket is known by its inode and namespace, so a restarted server is
    /// a close and an open. Fractions are allowed (0.5). A TARGET goes before --watch or
    /// after its SECS (portwho --watch 2 :8080). Stops with exit status 0 on SIGINT or
    /// SIGTERM.
    #[arg(
        long,
        value_name = "SECS",
        num_args = 0..=1,
        default_missing_value = "2",
        value_parser = parse_interval,
        conflicts_with_all = [
            "json", "quiet", "prometheus", "output", "audit", "diff", "kill", "free",
            "wait_listen", "wait_free", "forwards",
        ]
    )]
    pub watch: Option<Duration>,

    /// Print nothing; the exit status answers (for a listing: 0 matched, 1 nothing matched).
    #[arg(short, long)]
    pub quiet: bool,

    /// When to use colour: auto, always or never.
    ///
    /// auto: only when stdout is a terminal and NO_COLOR is unset or empty.
    // The help text names the values, so clap's own list would say them twice.
    #[arg(
        long,
        value_name = "WHEN",
        default_value = "auto",
        hide_possible_values = true
    )]
    pub color: ColorChoice,

    /// List the port forwards instead of sockets: DNAT and REDIRECT rules, and docker-proxy.
    ///
    /// Read from the kernel's nftables ruleset (nft, iptables-nft, ufw, firewalld, docker),
    /// with where each goes and who answers there; with a TARGET, those on its host port.
    /// Reading the ruleset needs root.
    #[arg(
        long,
        conflicts_with_all = ["audit", "diff", "kill", "free", "wait_listen", "wait_free", "no_owners"]
    )]
    pub forwards: bool,

    /// Audit what this host exposes; exit 3 on a finding at or above --fail-on.
    ///
    /// Lists the listening sockets with findings (cleartext logins, unauthenticated data
    /// stores, control planes beyond loopback, deleted executables, ephemeral ports, root
    /// on every interface, owners that could not be read), most severe first.
    #[arg(long, conflicts_with_all = ["all", "diff"])]
    pub audit: bool,

    /// With --audit, the lowest severity for exit status 3: low, medium or high.
    #[arg(
        long,
        value_name = "SEVERITY",
        default_value = "high",
        requires = "audit",
        hide_possible_values = true
    )]
    pub fail_on: FailOn,

    /// Compare the listening sockets with a saved baseline; exit 1 when anything changed.
    ///
    /// Save the baseline with `portwho --listening --json > FILE`. Prints what is new, gone,
    /// or held by another program (compared by executable, not pid).
    #[arg(
        long,
        value_name = "FILE",
        value_hint = ValueHint::FilePath,
        conflicts_with = "all"
    )]
    pub diff: Option<PathBuf>,

    /// Also say on stderr how the owners were found and what the scan read and skipped.
    #[arg(short, long)]
    pub verbose: bool,

    /// Signal the processes listening on the selected ports, then wait until they are free.
    ///
    /// Signals the processes that hold the selected listening sockets (SIGTERM unless
    /// --signal), then waits until the port is free. Asks per process when stdin is a
    /// terminal; needs a TARGET, --pid or --command. Processes with only connections on the
    /// port (clients) are left alone unless --all.
    #[arg(long, conflicts_with_all = ["json", "proc_root"])]
    pub kill: bool,

    /// The signal --kill sends (default TERM).
    ///
    /// TERM, KILL, HUP, INT, QUIT, ABRT, USR1, USR2 or ALRM, with or without SIG, in any
    /// case, or its number.
    #[arg(long, value_name = "SIG", requires = "kill")]
    pub signal: Option<String>,

    /// Signal without asking; required when stdin is not a terminal.
    #[arg(short = 'y', long, requires = "kill")]
    pub yes: bool,

    /// How long --kill, --wait-listen and --wait-free wait, in seconds.
    ///
    /// --kill waits 5 seconds for the port to be freed unless told; --wait-listen and
    /// --wait-free wait 30. Fractions are allowed (0.5).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, requires = "waiting")]
    pub timeout: Option<Duration>,

    /// Print the first unused TCP port at or after PORT.
    ///
    /// The port is one that no TCP socket uses, in any state, outside this host's ephemeral
    /// range (ip_local_port_range) and reserved ports (ip_local_reserved_ports).
    #[arg(
        long,
        value_name = "PORT",
        value_parser = clap::value_parser!(u16).range(1..),
        conflicts_with_all = [
            "targets", "listening", "all", "tcp", "udp", "ipv4", "ipv6",
            "pids", "commands", "users",
        ],
    )]
    pub free: Option<u16>,

    /// How many ports --free prints, one per line, ascending.
    #[arg(
        long,
        value_name = "N",
        requires = "free",
        value_parser = clap::value_parser!(u16).range(1..),
    )]
    pub count: Option<u16>,

    /// Wait until something listens on TARGET, then print it (exit 1 after --timeout).
    #[arg(long, conflicts_with_all = WAIT_CONFLICTS)]
    pub wait_listen: bool,

    /// Wait until no socket but TIME_WAIT uses TARGET (exit 1 after --timeout).
    #[arg(long, conflicts_with_all = WAIT_CONFLICTS)]
    pub wait_free: bool,

    /// Write a man page or a shell completion script to stdout and exit.
    #[arg(long, value_name = "WHAT", hide = true, exclusive = true)]
    pub generate: Option<Generate>,

    /// Read sockets and processes from this proc tree instead of the live system (for
    /// captured trees; disables netlink).
    #[arg(long, value_name = "DIR", hide = true)]
    pub proc_root: Option<PathBuf>,
}

/// Options the waits cannot honour: owner filters would need a /proc scan every round.
const WAIT_CONFLICTS: [&str; 6] = ["json", "pids", "commands", "users", "listening", "all"];

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

/// Seconds, fractions allowed: `5`, `0.5`.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| format!("'{text}' is not a number of seconds (such as 5 or 0.5)"))
}

/// `--watch`'s interval: seconds above 0, fractions allowed. A TARGET right after `--watch`
/// lands here too, since SECS may be left out.
fn parse_interval(text: &str) -> Result<Duration, String> {
    match parse_seconds(text) {
        Ok(interval) if !interval.is_zero() => Ok(interval),
        Ok(_) => Err(format!(
            "'{text}' is no interval: give a number of seconds above 0 (such as 2 or 0.5)"
        )),
        Err(_) => Err(format!(
            "'{text}' is not a number of seconds (such as 2 or 0.5); a TARGET goes before --watch or after its SECS"
        )),
    }
}
