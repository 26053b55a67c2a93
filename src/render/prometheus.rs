//! `--prometheus`: the selection in Prometheus' text exposition format, for node_exporter's
//! textfile collector.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::IpAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Render, Rows};
use crate::model::{Change, Entry, Family, PortForward, Process, Proto, Severity, State};
use crate::text::escape;

/// When the run started, and where: what the metrics about the run itself need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scrape {
    /// The run's start on the wall clock, since the Unix epoch.
    pub started_unix: Duration,
    /// The same moment on the monotonic clock, to time the run.
    pub started: Instant,
    /// The inode of the caller's own network namespace, which the `netns` label calls
    /// `host`; 0 where it is not known (a captured proc tree, whose sockets carry 0 too).
    pub own_netns: u64,
}

/// Writes the metrics for the rows it is given.
pub(crate) struct Prometheus {
    scrape: Option<Scrape>,
}

impl Prometheus {
    pub(crate) fn new(scrape: Option<Scrape>) -> Prometheus {
        Prometheus { scrape }
    }
}

/// The socket states a listing can always show: their series are written even at 0, so a
/// query or an alert on them never finds the series missing.
const ALWAYS: [(Proto, State); 2] = [(Proto::Tcp, State::Listen), (Proto::Udp, State::Unconn)];

/// The metrics, added up row by row.
#[derive(Debug, Default)]
struct Metrics {
    /// The label set of each listening socket in row order (where it is in `labels`), and
    /// how many sockets share it (more than one: SO_REUSEPORT, the same address and port
    /// opened again by the same program). A series appears once: node_exporter refuses a
    /// file that repeats one.
    listening: Vec<(Range<usize>, u64)>,
    /// Every label set, one after the other: one buffer, not a string a series.
    labels: String,
    /// The series on each protocol, address and port (not the IPv6 scope, which no label
    /// shows): sockets with the same labels share these, so a new label set is compared
    /// only with the few here, where hashing every label set was a third of writing the
    /// metrics.
    index: HashMap<(Proto, IpAddr, u16), Vec<usize>>,
    sockets: BTreeMap<(Proto, State), u64>,
    findings: BTreeMap<Severity, u64>,
    hidden: u64,
}

impl Metrics {
    fn add(&mut self, e: &Entry, own_netns: u64) {
        let s = &e.socket;
        *self.sockets.entry((s.proto, s.state)).or_default() += 1;
        for finding in &e.findings {
            *self.findings.entry(finding.severity).or_default() += 1;
        }
        self.hidden += u64::from(e.owners_hidden);
        if !s.state.is_listening() {
            return;
        }
        // Written at the end of the buffer, and taken back if the series exists.
        let start = self.labels.len();
        write_labels(&mut self.labels, e, own_netns);
        let new = &self.labels[start..];
        let same = self
            .index
            .entry((s.proto, s.local.ip(), s.local.port()))
            .or_default();
        let listening = &mut self.listening;
        match same
            .iter()
            .find(|&&i| self.labels[listening[i].0.clone()] == *new)
        {
            Some(&i) => {
                listening[i].1 += 1;
                self.labels.truncate(start);
            }
            None => {
                same.push(listening.len());
                listening.push((start..self.labels.len(), 1));
            }
        }
    }

    fn write(&mut self, out: &mut dyn Write, timestamp: f64, duration: f64) -> io::Result<()> {
        for key in ALWAYS {
            self.sockets.entry(key).or_default();
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let header = |text: &mut String, name: &str, help: &str| {
            let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} gauge");
        };
        header(
            &mut text,
            "portwho_socket_listening",
            "Listening sockets (TCP LISTEN, UDP bound) by address and port, with the program \
             that holds them: process is a forked server's master.",
        );
        for (labels, count) in &self.listening {
            let labels = &self.labels[labels.clone()];
            let _ = writeln!(text, "portwho_socket_listening{{{labels}}} {count}");
        }
        header(
            &mut text,
            "portwho_sockets",
            "Sockets in the selection by state and protocol.",
        );
        for ((proto, state), count) in &self.sockets {
            let _ = writeln!(
                text,
                "portwho_sockets{{state=\"{}\",proto=\"{}\"}} {count}",
                state.as_str(),
                proto.as_str()
            );
        }
        header(
            &mut text,
            "portwho_findings",
            "Audit findings on the listening sockets by severity (portwho --audit lists them).",
        );
        for severity in [Severity::High, Severity::Medium, Severity::Low] {
            let count = self.findings.get(&severity).copied().unwrap_or(0);
            let _ = writeln!(
                text,
                "portwho_findings{{severity=\"{}\"}} {count}",
                severity.as_str()
            );
        }
        header(
            &mut text,
            "portwho_hidden_owners",
            "Sockets whose holder could not be read (run portwho as root to see them).",
        );
        let _ = writeln!(text, "portwho_hidden_owners {}", self.hidden);
        header(
            &mut text,
            "portwho_last_run_timestamp_seconds",
            "When portwho wrote these metrics, in seconds since the Unix epoch.",
        );
        let _ = writeln!(text, "portwho_last_run_timestamp_seconds {timestamp:.3}");
        header(
            &mut text,
            "portwho_scrape_duration_seconds",
            "How long the run of portwho that wrote these metrics took.",
        );
        let _ = writeln!(text, "portwho_scrape_duration_seconds {duration:.6}");
        out.write_all(text.as_bytes())
    }
}

/// `proto="tcp",family="ipv4",addr="0.0.0.0",port="22",service="ssh",process="sshd",
/// user="root",exposure="all",netns="host"`, written piece by piece: one series a
/// listening socket, and `format!` of the whole was most of the cost of one.
fn write_labels(out: &mut String, e: &Entry, own_netns: u64) {
    let s = &e.socket;
    let family = match s.family() {
        Family::Ipv4 => "ipv4",
        Family::Ipv6 => "ipv6",
    };
    let master = master(&e.processes);
    let process = master.map_or(Cow::Borrowed(""), |p| value(&p.name));
    let user = match master {
        Some(p) => match (&p.user, p.uid) {
            (Some(user), _) => value(user),
            (None, Some(uid)) => Cow::Owned(uid.to_string()),
            (None, None) => Cow::Borrowed(""),
        },
        None => match &e.socket_user {
            Some(user) => value(user),
            None => s
                .uid
                .map_or(Cow::Borrowed(""), |uid| Cow::Owned(uid.to_string())),
        },
    };
    // Writing to a String cannot fail.
    push_label(out, true, "proto", s.proto.as_str());
    push_label(out, false, "family", family);
    let _ = write!(
        out,
        ",addr=\"{}\",port=\"{}\"",
        s.local.ip(),
        s.local.port()
    );
    for (name, text) in [
        ("service", &*value(e.service.unwrap_or(""))),
        ("process", &process),
        ("user", &user),
        ("exposure", e.exposure.as_str()),
        ("netns", &netns(e, own_netns)),
    ] {
        push_label(out, false, name, text);
    }
}

/// `name="text"`, after a comma unless `first`; `text` is already escaped.
fn push_label(out: &mut String, first: bool, name: &str, text: &str) {
    if !first {
        out.push(',');
    }
    out.push_str(name);
    out.push_str("=\"");
    out.push_str(text);
    out.push('"');
}

/// The holder whose parent is not another holder: a forked server's master, not one of its
/// workers. Of several (unrelated processes sharing a socket), the lowest pid.
fn master(processes: &[Arc<Process>]) -> Option<&Process> {
    let holds = |pid: u32| processes.iter().any(|p| p.pid == pid);
    processes
        .iter()
        .min_by_key(|p| (p.ppid.is_some_and(holds), p.pid))
        .map(|p| &**p)
}

/// `host` for the caller's own namespace; else its container's name, its `ip netns` name,
/// or its inode, as the table's NETNS column says.
fn netns(e: &Entry, own_netns: u64) -> Cow<'_, str> {
    if e.socket.netns == own_netns {
        return Cow::Borrowed("host");
    }
    let place = e.place.as_deref();
    let container = place
        .and_then(|p| p.container.as_deref())
        .map(|c| c.name.as_deref().unwrap_or(&c.id));
    match container.or_else(|| place.and_then(|p| p.netns.name.as_deref())) {
        Some(name) => value(name),
        None => Cow::Owned(e.socket.netns.to_string()),
    }
}

/// A label value as the format spells it: backslash, double quote and line feed escaped as
/// `\\`, `\"` and `\n` (a process can name itself `x"} 1`). Other control and bidi
/// characters, which the format cannot escape, are written as the table writes them
/// (`\x1b`, with the backslash escaped), so the file stays safe to show on a terminal.
fn value(text: &str) -> Cow<'_, str> {
    // Most values are printable ASCII, which needs nothing.
    if text
        .bytes()
        .all(|b| matches!(b, b' '..=b'~') && b != b'\\' && b != b'"')
    {
        return Cow::Borrowed(text);
    }
    if !text.chars().any(|c| {
        matches!(c, '\\' | '"') || matches!(escape(c.encode_utf8(&mut [0; 4])), Cow::Owned(_))
    }) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => match escape(c.encode_utf8(&mut [0; 4])) {
                Cow::Borrowed(plain) => out.push_str(plain),
                Cow::Owned(escaped) => out.push_str(&escaped.replace('\\', "\\\\")),
            },
        }
    }
    Cow::Owned(out)
}

impl Render for Prometheus {
    fn explains(&self) -> bool {
        false
    }

    fn rows(&self, rows: &dyn Rows, out: &mut dyn Write) -> io::Result<()> {
        let own_netns = self.scrape.map_or(0, |s| s.own_netns);
        let mut metrics = Metrics::default();
        rows.each(&mut |e| {
            metrics.add(e, own_netns);
            Ok(())
        })?;
        // The run's duration is read here, where the metrics are written after everything
        // was read: render's one look at the clock.
        let (timestamp, duration) = match self.scrape {
            Some(scrape) => {
                let took = scrape.started.elapsed();
                (
                    (scrape.started_unix + took).as_secs_f64(),
                    took.as_secs_f64(),
                )
            }
            None => (0.0, 0.0),
        };
        metrics.write(out, timestamp, duration)
    }

    fn explanation(&self, _: &[Entry], _: &[String], _: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    // `--prometheus` goes with neither `--audit`, `--diff` nor `--free` (cli.rs): the
    // listing's metrics carry the findings.
    fn findings(&self, _: &[Entry], _: usize, _: Severity, _: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    fn changes(&self, _: &[Change], _: &str, _: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    // `--prometheus` goes with neither (clap refuses them together).
    fn forwards(&self, _: &[PortForward], _: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    fn free_ports(&self, _: &[u16], _: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing::{entry, process, tcp};
    use crate::model::{Finding, Socket};

    /// The `portwho_socket_listening` series of an exposition, in order.
    fn listening(text: &str) -> Vec<&str> {
        text.lines()
            .filter(|l| l.starts_with("portwho_socket_listening{"))
            .collect()
    }

    fn run(entries: &[Entry], own_netns: u64) -> String {
        let scrape = Scrape {
            started_unix: Duration::from_secs(1_700_000_000),
            started: Instant::now(),
            own_netns,
        };
        let mut out = Vec::new();
        Prometheus::new(Some(scrape))
            .rows(&entries, &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    fn held(socket: Socket, processes: Vec<Process>) -> Entry {
        Entry {
            processes: processes.into_iter().map(Arc::new).collect(),
            ..entry(socket)
        }
    }

    #[test]
    fn a_forked_server_is_one_series_named_after_its_master() {
        let master = process(10, "nginx");
        let worker = |pid| Process {
            ppid: Some(10),
            ..process(pid, "nginx: worker")
        };
        let socket = tcp("0.0.0.0:80", State::Listen, 1);
        let text = run(&[held(socket, vec![worker(12), master, worker(11)])], 0);
        assert!(text.contains(
            "portwho_socket_listening{proto=\"tcp\",family=\"ipv4\",addr=\"0.0.0.0\",port=\"80\",\
             service=\"\",process=\"nginx\",user=\"alice\",exposure=\"all\",netns=\"host\"} 1\n"
        ), "{text}");
    }

    #[test]
    fn sockets_with_the_same_labels_are_one_series_counting_them() {
        let p = || vec![process(10, "envoy")];
        let entries = [
            held(tcp("127.0.0.1:8080", State::Listen, 1), p()),
            held(tcp("127.0.0.1:8080", State::Listen, 2), p()),
            entry(tcp("127.0.0.1:8080", State::TimeWait, 0)),
        ];
        let text = run(&entries, 0);
        let series = listening(&text);
        assert_eq!(series.len(), 1, "{text}");
        assert!(series[0].ends_with("} 2"), "{text}");
        assert!(text.contains("portwho_sockets{state=\"LISTEN\",proto=\"tcp\"} 2\n"));
        assert!(text.contains("portwho_sockets{state=\"TIME_WAIT\",proto=\"tcp\"} 1\n"));
        assert!(text.contains("portwho_sockets{state=\"UNCONN\",proto=\"udp\"} 0\n"));
    }

    /// The same labels are one series wherever they come in the rows, and an IPv6 scope,
    /// which no label shows, does not make a second one (node_exporter would refuse it).
    #[test]
    fn one_series_for_one_label_set_in_any_order_and_scope() {
        let p = |name| vec![process(10, name)];
        let entries = [
            held(tcp("[fe80::1%2]:8080", State::Listen, 1), p("envoy")),
            held(tcp("[fe80::1%2]:8080", State::Listen, 2), p("other")),
            held(tcp("127.0.0.1:9", State::Listen, 3), p("envoy")),
            held(tcp("[fe80::1%3]:8080", State::Listen, 4), p("envoy")),
        ];
        let text = run(&entries, 0);
        let series = listening(&text);
        assert_eq!(series.len(), 3, "{text}");
        assert!(series[0].contains("addr=\"fe80::1\"") && series[0].ends_with("} 2"));
        assert!(series[1].contains("process=\"other\"") && series[1].ends_with("} 1"));
        assert!(series[2].contains("port=\"9\"") && series[2].ends_with("} 1"));
    }

    #[test]
    fn label_values_are_escaped_as_the_format_says() {
        assert_eq!(value("x\"} 1\n"), "x\\\"} 1\\n");
        assert_eq!(value("a\\b"), "a\\\\b");
        assert_eq!(value("\u{1b}[2J\u{202e}"), "\\\\x1b[2J\\\\u{202e}");
        assert_eq!(value("nginx: worker"), "nginx: worker");
        let hostile = process(10, "x\"} 1\n");
        let text = run(
            &[held(tcp("127.0.0.1:1", State::Listen, 1), vec![hostile])],
            0,
        );
        assert!(text.contains(",process=\"x\\\"} 1\\n\","), "{text}");
        assert_eq!(
            text.lines().filter(|l| l.starts_with("portwho_")).count(),
            9
        );
    }

    #[test]
    fn findings_hidden_owners_and_the_run_itself() {
        let mut flagged = entry(tcp("0.0.0.0:6379", State::Listen, 1));
        flagged.findings = vec![
            Finding {
                severity: Severity::High,
                code: "unauthenticated-datastore",
                message: String::new(),
                exposed: true,
                firewall: None,
            },
            Finding {
                severity: Severity::Low,
                code: "owner-hidden",
                message: String::new(),
                exposed: false,
                firewall: None,
            },
        ];
        flagged.owners_hidden = true;
        flagged.socket.netns = 7;
        let text = run(&[flagged], 9);
        for line in [
            "portwho_findings{severity=\"high\"} 1\n",
            "portwho_findings{severity=\"medium\"} 0\n",
            "portwho_findings{severity=\"low\"} 1\n",
            "portwho_hidden_owners 1\n",
            "# TYPE portwho_last_run_timestamp_seconds gauge\nportwho_last_run_timestamp_seconds 1700000000.",
            "# TYPE portwho_scrape_duration_seconds gauge\nportwho_scrape_duration_seconds 0.",
            // Not the caller's namespace, and nothing names it.
            ",process=\"\",user=\"0\",exposure=\"all\",netns=\"7\"} 1\n",
        ] {
            assert!(text.contains(line), "{line:?} in\n{text}");
        }
    }
}
