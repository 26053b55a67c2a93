//! Fleet output with the real tools: node_exporter's textfile collector serving
//! `--prometheus --output`, promtool judging the format, a reader racing the rewrites, and
//! `--watch` seeing listeners come and go.
//!
//! node_exporter and promtool come from Debian's `prometheus-node-exporter` and
//! `prometheus`. Without them these tests skip with a note, unless
//! `PORTWHO_TEST_FLEET=required` (then they fail; `.ci/run` installs them and sets it).
//! Traffic goes to 127.0.0.1 only.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;
use crate::privilege;

/// The first of `names` found as an executable on PATH (or by absolute path), or `None`
/// with a note; with `PORTWHO_TEST_FLEET=required`, a missing tool fails the test.
fn tool(names: &[&str]) -> Option<PathBuf> {
    let setting = std::env::var("PORTWHO_TEST_FLEET").unwrap_or_default();
    if setting == "skip" {
        eprintln!("skipped: PORTWHO_TEST_FLEET=skip");
        return None;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let note = format!(
            "{} not installed (Debian: apt-get install prometheus-node-exporter prometheus)",
            names.join(" or ")
        );
        assert!(setting != "required", "PORTWHO_TEST_FLEET=required: {note}");
        eprintln!("skipped: {note}");
    }
    found
}

/// A fresh directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "portwho-{what}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// The names of the files in it, sorted.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A process of ours, killed by its pid when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path` over HTTP/1.0 on 127.0.0.1:port: the body, or `None` when nothing answers.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.").then(|| body.to_string())
}

/// A python3 listener on 127.0.0.1 that names itself `name` (PR_SET_NAME, the `comm`
/// every tool shows) before listening; `numbers[0]` is its port.
fn named_listener(name: &str) -> Helper {
    let script = format!(
        "import ctypes, socket, time\n\
         ctypes.CDLL(None).prctl(15, {name:?}.encode(), 0, 0, 0)\n\
         s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
         print(s.getsockname()[1], flush=True)\n\
         time.sleep(60)\n"
    );
    Helper::python(&script)
}

/// The label set of `line`'s series, parsed as the format reads it (escapes undone).
fn labels(line: &str) -> Vec<(String, String)> {
    let Some(start) = line.find('{') else {
        return Vec::new();
    };
    let mut chars = line[start + 1..].chars();
    let mut labels = Vec::new();
    loop {
        let name: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if name.is_empty() || chars.next() != Some('"') {
            return labels;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => break,
                },
                c => value.push(c),
            }
        }
        labels.push((name.trim_start_matches(',').to_string(), value));
        if chars.next() != Some(',') {
            return labels;
        }
    }
}

fn label<'a>(labels: &'a [(String, String)], name: &str) -> Option<&'a str> {
    labels
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The `portwho_socket_listening` series of a TCP port on 127.0.0.1 (where the tests'
/// listeners are) in an exposition text; a busy host may use the number elsewhere.
fn series_of(text: &str, port: u32) -> Vec<(Vec<(String, String)>, String)> {
    text.lines()
        .filter(|l| l.starts_with("portwho_socket_listening{"))
        .map(|l| (labels(l), l.rsplit(' ').next().unwrap_or("").to_string()))
        .filter(|(labels, _)| {
            label(labels, "port") == Some(&port.to_string())
                && label(labels, "proto") == Some("tcp")
                && label(labels, "addr") == Some("127.0.0.1")
        })
        .collect()
}

const HOSTILE: &str = "x\"} 1\n";

#[test]
fn node_exporter_serves_the_textfile_portwho_writes() {
    let Some(exporter) = tool(&["prometheus-node-exporter", "node_exporter"]) else {
        return;
    };
    let dir = TempDir::new("textfile");
    let file = dir.path().join("portwho.prom");
    let plain = Helper::python(LISTENER);
    let hostile = named_listener(HOSTILE);
    let (port, hostile_port) = (plain.numbers[0], hostile.numbers[0]);
    let r = portwho_run(&["--prometheus", "--output", file.to_str().unwrap()]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{}", r.stderr);
    assert_eq!(dir.names(), ["portwho.prom"], "no temporary file left");

    let web = free_port();
    let log = std::env::temp_dir().join(format!("portwho-exporter-{web}.log"));
    let exporter = Killed(
        Command::new(exporter)
            .args([
                "--collector.disable-defaults",
                "--collector.textfile",
                &format!("--collector.textfile.directory={}", dir.path().display()),
                &format!("--web.listen-address=127.0.0.1:{web}"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start node_exporter"),
    );
    let start = Instant::now();
    let metrics = loop {
        if let Some(body) = http_get(web, "/metrics")
            && body.contains("portwho_")
        {
            break body;
        }
        let log_text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "node_exporter (pid {}) served no portwho metrics in 20 s: {log_text}",
            exporter.0.id()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(exporter);
    let _ = std::fs::remove_file(&log);

    assert!(
        metrics.contains("\nnode_textfile_scrape_error 0\n"),
        "the collector refused the file:\n{metrics}"
    );
    let found = series_of(&metrics, port);
    assert_eq!(found.len(), 1, "{found:?}\n{metrics}");
    let (set, value) = &found[0];
    assert_eq!(value, "1");
    let user = if is_root() {
        "root".to_string()
    } else {
        whoami()
    };
    for (name, want) in [
        ("proto", "tcp"),
        ("family", "ipv4"),
        ("addr", "127.0.0.1"),
        ("process", "python3"),
        ("user", user.as_str()),
        ("exposure", "loopback"),
        ("netns", "host"),
    ] {
        assert_eq!(label(set, name), Some(want), "{name} in {set:?}");
    }
    // node_exporter read the hostile name back as it was, and wrote it escaped again.
    let found = series_of(&metrics, hostile_port);
    assert_eq!(found.len(), 1, "{metrics}");
    assert_eq!(label(&found[0].0, "process"), Some(HOSTILE));
    assert!(metrics.contains(r#"process="x\"} 1\n""#), "{metrics}");
    for family in [
        "portwho_sockets",
        "portwho_findings",
        "portwho_hidden_owners",
        "portwho_last_run_timestamp_seconds",
        "portwho_scrape_duration_seconds",
    ] {
        assert!(
            metrics.contains(&format!("# TYPE {family} gauge\n")),
            "{family}:\n{metrics}"
        );
    }
}

fn whoami() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn promtool_accepts_the_metrics_and_the_hostile_name_is_escaped() {
    let Some(promtool) = tool(&["promtool"]) else {
        return;
    };
    let hostile = named_listener(HOSTILE);
    let forked = forked_server();
    let r = portwho_run(&["--prometheus"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(r.stdout.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        r.stdout
    );
    let line = r
        .stdout
        .lines()
        .find(|l| {
            l.contains(&format!("port=\"{}\"", hostile.numbers[0]))
                && l.contains("proto=\"tcp\"")
                && l.contains("addr=\"127.0.0.1\"")
        })
        .unwrap_or_else(|| panic!("no series for the hostile listener:\n{}", r.stdout));
    assert!(line.contains(r#",process="x\"} 1\n","#), "{line}");
    assert_eq!(line.lines().count(), 1);
    assert_eq!(label(&labels(line), "process"), Some(HOSTILE));
    // A forked server is one series, named after its master (the parent).
    let (helper, port, _child) = &forked;
    let found = series_of(&r.stdout, *port);
    assert_eq!(found.len(), 1, "{}", r.stdout);
    assert_eq!(found[0].1, "1");
    assert_eq!(label(&found[0].0, "process"), Some("python3"));
    let _ = helper;
    // Every severity, 0 or not; no socket selected is still metrics, and exit 0.
    let r = portwho_run(&["--prometheus", "-t", &format!(":{}", unused_port())]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for severity in ["high", "medium", "low"] {
        assert!(
            r.stdout
                .contains(&format!("portwho_findings{{severity=\"{severity}\"}} 0\n")),
            "{}",
            r.stdout
        );
    }
    assert!(
        r.stdout
            .contains("portwho_sockets{state=\"LISTEN\",proto=\"tcp\"} 0\n")
    );
    assert!(!r.stdout.contains("portwho_socket_listening{"));
}

#[test]
fn a_reader_racing_fifty_rewrites_never_sees_half_a_file() {
    let dir = TempDir::new("race");
    let file = dir.path().join("portwho.prom");
    let _listeners: Vec<Helper> = (0..3).map(|_| Helper::python(LISTENER)).collect();
    let args = ["--prometheus", "--output", file.to_str().unwrap()];
    assert_eq!(portwho_run(&args).code, 0);
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (done, file) = (Arc::clone(&done), file.clone());
        std::thread::spawn(move || {
            let (mut reads, mut partial) = (0u32, Vec::new());
            while !done.load(Ordering::Relaxed) {
                let text = std::fs::read_to_string(&file).expect("the file is always there");
                reads += 1;
                let whole = text.starts_with("# HELP portwho_socket_listening ")
                    && text.ends_with('\n')
                    && text
                        .lines()
                        .last()
                        .is_some_and(|l| l.starts_with("portwho_scrape_duration_seconds "));
                if !whole {
                    partial.push(text);
                }
            }
            (reads, partial)
        })
    };
    for _ in 0..50 {
        let r = portwho_run(&args);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    done.store(true, Ordering::Relaxed);
    let (reads, partial) = reader.join().unwrap();
    assert!(
        partial.is_empty(),
        "{} partial reads: {partial:?}",
        partial.len()
    );
    assert!(reads > 50, "only {reads} reads");
    assert_eq!(dir.names(), ["portwho.prom"]);
}

#[test]
fn output_works_with_every_format() {
    let dir = TempDir::new("formats");
    let helper = Helper::python(LISTENER);
    // The listener alone: the two runs compared must see the same sockets, and another
    // test's connection may take the same port number for a moment.
    let target = format!("127.0.0.1:{}/tcp", helper.numbers[0]);
    for format in [&[][..], &["--json"], &["--jsonl"], &["-n"]] {
        let file = dir.path().join("out");
        let mut args: Vec<&str> = format.to_vec();
        args.extend(["-l", &target]);
        let shown = portwho_run(&args);
        args.extend(["--output", file.to_str().unwrap()]);
        let written = portwho_run(&args);
        assert_eq!((written.code, written.stdout.as_str()), (0, ""));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), shown.stdout);
    }
    // --free too, and exit 1 with nothing matched still writes the (empty) answer.
    let file = dir.path().join("free");
    let r = portwho_run(&[
        "--free",
        "20000",
        "--jsonl",
        "--output",
        file.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(&file).unwrap();
    let port: Value = serde_json::from_str(text.trim()).unwrap();
    assert!(port["port"].as_u64().unwrap() >= 20000, "{text}");
    assert_eq!(dir.names(), ["free", "out"]);
}

#[test]
fn output_errors_are_one_line_exit_2_and_leave_nothing_behind() {
    let dir = TempDir::new("errors");
    let missing = dir.path().join("no/such/dir/portwho.prom");
    let r = portwho_run(&["--prometheus", "--output", missing.to_str().unwrap()]);
    assert_eq!((r.code, r.stdout.as_str()), (2, ""));
    assert_eq!(
        r.stderr,
        format!(
            "portwho: cannot write {}: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
    let r = portwho_run(&["--output", dir.path().to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.ends_with(": is a directory\n"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1);

    // A run that fails after the file was opened leaves neither file nor temporary.
    let file = dir.path().join("portwho.prom");
    let r = portwho_run(&[
        "--prometheus",
        "--output",
        file.to_str().unwrap(),
        "--proc-root",
        dir.path().join("no-proc").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(dir.names().is_empty(), "{:?}", dir.names());

    // No permission: a directory only root may write, as nobody.
    if privilege::can_switch_user() {
        let _turn = privilege::nobody_turn();
        let bin = privilege::binary_for_nobody();
        let file = dir.path().join("portwho.prom");
        let r = run(privilege::as_nobody(bin.to_str().unwrap())
            .args(["--prometheus", "--output", file.to_str().unwrap()])
            .stdin(Stdio::null()));
        let _ = std::fs::remove_dir_all(bin.parent().unwrap());
        assert_eq!((r.code, r.stdout.as_str()), (2, ""), "{}", r.stderr);
        assert_eq!(
            r.stderr,
            format!(
                "portwho: cannot write {}: Permission denied (os error 13)\n",
                file.display()
            )
        );
        assert!(dir.names().is_empty(), "{:?}", dir.names());
    } else {
        eprintln!("skipped the permission case: needs root and setpriv");
    }
}

/// `portwho --watch ARGS` with stdout and stderr read line by line on threads.
struct Watch {
    child: Killed,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl Watch {
    fn start(args: &[&str]) -> Watch {
        let mut child = portwho()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start portwho --watch");
        let lines = |pipe: Box<dyn Read + Send>| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            rx
        };
        let stdout = lines(Box::new(child.stdout.take().unwrap()));
        let stderr = lines(Box::new(child.stderr.take().unwrap()));
        let watch = Watch {
            child: Killed(child),
            stdout,
            stderr,
        };
        // The first look is done when it says so.
        let said = watch
            .stderr
            .recv_timeout(Duration::from_secs(20))
            .expect("portwho --watch said nothing");
        assert!(
            said.starts_with("portwho: watching ") && said.ends_with("; changes follow"),
            "{said}"
        );
        watch
    }

    /// The next stdout line that `wanted` accepts, within `limit`.
    fn next(&self, limit: Duration, wanted: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) if wanted(&line) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.0.id()).unwrap());
        nix::sys::signal::kill(pid, signal).unwrap();
    }

    /// The exit status, within 5 seconds.
    fn exit_code(&mut self) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Some(status) = self.child.0.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

const INTERVAL: f64 = 0.5;

/// Two intervals, and a second for a busy machine.
fn within_two_intervals() -> Duration {
    Duration::from_secs_f64(2.0 * INTERVAL + 1.0)
}

#[test]
fn watch_jsonl_sees_a_listener_open_and_close_and_sigterm_ends_it_with_0() {
    let interval = INTERVAL.to_string();
    let mut watch = Watch::start(&["--watch", &interval, "--jsonl"]);
    let helper = Helper::python(LISTENER);
    let port = u64::from(helper.numbers[0]);
    let event = |line: &str| -> Value {
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
    };
    let on_port = |line: &str| event(line)["local_port"] == port;
    let opened = watch
        .next(within_two_intervals(), on_port)
        .expect("no open event");
    let opened = event(&opened);
    assert_eq!(opened["event"], "open");
    assert_eq!(opened["state"], "LISTEN");
    assert_eq!(opened["processes"][0]["pid"], u64::from(helper.pid()));
    assert_eq!(opened["processes"][0]["name"], "python3");
    let time = opened["time"].as_str().unwrap();
    assert!(time.len() == 20 && time.ends_with('Z'), "{time}");
    drop(helper);
    let closed = watch
        .next(within_two_intervals(), on_port)
        .expect("no close event");
    let closed = event(&closed);
    assert_eq!(closed["event"], "close");
    assert_eq!(closed["inode"], opened["inode"]);
    assert_eq!(
        closed["processes"], opened["processes"],
        "the row as first seen"
    );
    watch.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(watch.exit_code(), Some(0));
    assert!(watch.stderr.try_recv().is_err(), "nothing more on stderr");
}

#[test]
fn watch_prints_a_line_an_event_and_sigint_ends_it_with_0() {
    let interval = INTERVAL.to_string();
    let mut watch = Watch::start(&["--watch", &interval, "-t"]);
    let helper = Helper::python(LISTENER);
    let local = format!(" 127.0.0.1:{} ", helper.numbers[0]);
    let line = watch
        .next(within_two_intervals(), |l| l.contains(&local))
        .expect("no open line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&fields[1..4], ["open", "tcp", local.trim()], "{line}");
    assert!(
        line.contains(&format!("  {}/python3  ", helper.pid())),
        "{line}"
    );
    watch.signal(nix::sys::signal::Signal::SIGINT);
    assert_eq!(watch.exit_code(), Some(0));
}

#[test]
fn watch_ends_quietly_when_its_reader_goes_away() {
    let interval = INTERVAL.to_string();
    let mut watch = Watch::start(&["--watch", &interval]);
    // The reader goes: the next events cannot be written.
    drop(std::mem::replace(&mut watch.stdout, mpsc::channel().1));
    let mut helpers = Vec::new();
    let mut code = None;
    for _ in 0..10 {
        helpers.push(Helper::python(LISTENER));
        if let Some(c) = watch.exit_code() {
            code = Some(c);
            break;
        }
    }
    assert_eq!(code, Some(0), "portwho --watch | head ends with 0");
    assert!(watch.stderr.try_recv().is_err(), "and says nothing");
}

#[test]
fn watch_refuses_0_and_what_is_not_a_number() {
    for args in [
        &["--watch", "0"][..],
        &["--watch", "0.0"],
        &["--watch", "soon"],
        &["--watch", ":8080"],
        &["--watch", "-1"],
        &["--watch", "2", "--json"],
        &["--watch", "2", "--prometheus"],
        &["--watch", "2", "--output", "x"],
    ] {
        let r = portwho_run(args);
        assert_eq!((r.code, r.stdout.as_str()), (2, ""), "{args:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.starts_with("portwho: "), "{}", r.stderr);
    }
}
