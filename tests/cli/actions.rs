//! `--kill`, `--free`, `--wait-listen` and `--wait-free` against live loopback sockets.

// Every target here is `127.0.0.1:PORT/tcp` for a port the test's own listener holds: a
// bare `:PORT` also matches other programs' IPv6 or UDP sockets that happen to use the same
// number, and `--kill` would signal them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

const STUBBORN: &str = "import signal, socket, time\n\
    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n\
    s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
    print(s.getsockname()[1], flush=True)\n\
    time.sleep(60)\n";

/// Closes its listener on SIGUSR1 and keeps running.
const CLOSER: &str = "import signal, socket, time\n\
    s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
    signal.signal(signal.SIGUSR1, lambda *_: s.close())\n\
    print(s.getsockname()[1], flush=True)\n\
    while True: time.sleep(60)\n";

fn client_of(port: u32) -> Helper {
    Helper::python(&format!(
        "import socket, time\n\
         c = socket.create_connection(('127.0.0.1', {port}))\n\
         print(c.getsockname()[1], flush=True)\n\
         time.sleep(60)\n"
    ))
}

fn exact(port: impl std::fmt::Display) -> String {
    format!("127.0.0.1:{port}/tcp")
}

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn kill_stops_the_listener_and_spares_its_client() {
    let mut server = Helper::python(LISTENER);
    let port = server.numbers[0];
    let mut client = client_of(port);
    let r = portwho_run(&["--kill", "--yes", &exact(port)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, format!("port {port} is free\n"));
    assert!(
        r.stderr
            .contains(&format!("sent SIGTERM to {} python3", server.pid())),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "left alone 1 process with only connections on or to the port: {} python3",
            client.pid()
        )),
        "{}",
        r.stderr
    );
    let status = server.exited_within(5 * SECOND).expect("server stopped");
    assert_eq!(status.signal(), Some(15));
    assert!(client.alive(), "the client must survive");
}

#[test]
fn kill_all_includes_the_clients() {
    let mut server = Helper::python(LISTENER);
    let port = server.numbers[0];
    let mut client = client_of(port);
    let r = portwho_run(&["--kill", "--yes", "--all", &exact(port)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(server.exited_within(5 * SECOND).is_some());
    assert!(client.exited_within(5 * SECOND).is_some(), "{}", r.stderr);
}

#[test]
fn kill_reaches_every_process_of_a_forked_server() {
    let (mut helper, port, child) = forked_server();
    let r = portwho_run(&["--kill", "--yes", &exact(port)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains(&format!("sent SIGTERM to {child} ")));
    assert!(helper.exited_within(5 * SECOND).is_some());
}

#[test]
fn kill_without_yes_refuses_when_stdin_is_not_a_terminal() {
    let mut server = Helper::python(LISTENER);
    let r = portwho_run(&["--kill", &exact(server.numbers[0])]);
    assert_eq!(r.code, 2);
    assert_eq!(r.stdout, "");
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("add --yes"), "{}", r.stderr);
    assert!(server.alive());
}

#[test]
fn kill_refuses_everything_and_bogus_signals() {
    for args in [
        &["--kill"][..],
        &["--kill", "--yes"],
        &["--kill", "--yes", "-l"],
    ] {
        let r = portwho_run(args);
        assert_eq!(r.code, 2, "{args:?}");
        assert!(r.stderr.contains("--kill needs a TARGET"), "{}", r.stderr);
    }
    let mut server = Helper::python(LISTENER);
    let r = portwho_run(&[
        "--kill",
        "--yes",
        "--signal",
        "BOGUS",
        &exact(server.numbers[0]),
    ]);
    assert_eq!(r.code, 2);
    assert_eq!(r.stderr.lines().count(), 1);
    assert!(r.stderr.contains("unknown signal 'BOGUS'"), "{}", r.stderr);
    assert!(server.alive());
}

#[test]
fn signal_kill_stops_a_process_that_ignores_term() {
    let mut stubborn = Helper::python(STUBBORN);
    let r = portwho_run(&[
        "--kill",
        "--yes",
        "--signal",
        "KILL",
        &exact(stubborn.numbers[0]),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("sent SIGKILL"), "{}", r.stderr);
    let status = stubborn.exited_within(5 * SECOND).expect("stopped");
    assert_eq!(status.signal(), Some(9));
}

#[test]
fn term_ignored_times_out_naming_the_process() {
    let mut stubborn = Helper::python(STUBBORN);
    let port = stubborn.numbers[0];
    let start = Instant::now();
    let r = portwho_run(&["--kill", "--yes", "--timeout", "0.5", &exact(port)]);
    let took = start.elapsed();
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stdout, "");
    let pid = stubborn.pid();
    assert!(
        r.stderr.contains(&format!(
            "port {port} is still held after 0.5s by {pid} python3"
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("try --signal KILL"), "{}", r.stderr);
    assert!(
        took >= Duration::from_millis(500) && took < 3 * SECOND,
        "{took:?}"
    );
    assert!(stubborn.alive());
}

#[test]
fn never_signals_its_parent() {
    // portwho's parent is this test process, which holds the listener.
    let listener = on_unused_port(|p| TcpListener::bind(("127.0.0.1", p))).unwrap();
    let port = listener.local_addr().unwrap().port();
    let r = portwho_run(&["--kill", "--yes", "--timeout", "0.2", &exact(port)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let me = std::process::id();
    assert!(
        r.stderr.contains(&format!("not signalling {me} "))
            && r.stderr.contains("it is portwho's parent"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("sent SIG"), "{}", r.stderr);
    // Still listening.
    std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
}

#[test]
fn never_signals_itself() {
    // python3 makes an inheritable listener and becomes portwho (same pid), which then finds
    // itself among the holders.
    let r = run(Command::new(python3())
        .arg("-c")
        .arg(
            "import os, socket, sys\n\
             s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
             os.set_inheritable(s.fileno(), True)\n\
             target = '127.0.0.1:%d/tcp' % s.getsockname()[1]\n\
             os.execv(sys.argv[1], [sys.argv[1], '--kill', '--yes', '--timeout', '0.2', target])\n",
        )
        .arg(env!("CARGO_BIN_EXE_portwho")));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("it is portwho itself"), "{}", r.stderr);
    assert!(!r.stderr.contains("sent SIG"), "{}", r.stderr);
}

/// portwho on a pseudo-terminal (python's pty module), so it asks; the test answers.
struct Terminal {
    child: Child,
    lines: BufReader<std::process::ChildStdout>,
}

const PTY_DRIVER: &str = "import os, pty, sys\n\
    pid, fd = pty.fork()\n\
    if pid == 0:\n    os.execv(sys.argv[1], sys.argv[1:])\n\
    buf = b''\n\
    while b'[y/N]' not in buf:\n    chunk = os.read(fd, 1024)\n    buf += chunk\n    if not chunk: break\n\
    print('asked', flush=True)\n\
    os.write(fd, sys.stdin.readline().encode())\n\
    while True:\n    try:\n        chunk = os.read(fd, 1024)\n    except OSError:\n        break\n    if not chunk: break\n    buf += chunk\n\
    _, status = os.waitpid(pid, 0)\n\
    print(buf.decode(errors='replace').replace('\\r', ''))\n\
    print('EXIT', os.waitstatus_to_exitcode(status), flush=True)\n";

impl Terminal {
    fn start(args: &[&str]) -> Terminal {
        let mut child = Command::new(python3())
            .arg("-c")
            .arg(PTY_DRIVER)
            .arg(env!("CARGO_BIN_EXE_portwho"))
            .args(args)
            .env_remove("NO_COLOR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("pty driver");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        lines.read_line(&mut line).expect("driver line");
        assert_eq!(line, "asked\n", "portwho did not ask");
        Terminal { child, lines }
    }

    /// Type the answer; return what the terminal showed and portwho's exit status.
    fn answer(mut self, answer: &str) -> (String, i32) {
        let mut stdin = self.child.stdin.take().expect("stdin");
        writeln!(stdin, "{answer}").expect("answer");
        let mut rest = String::new();
        self.lines.read_to_string(&mut rest).expect("driver output");
        let _ = self.child.wait();
        let (shown, code) = rest.rsplit_once("EXIT ").expect("exit line");
        (shown.to_string(), code.trim().parse().expect("exit code"))
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn have_python_pty() -> bool {
    Command::new(python3())
        .args(["-c", "import pty"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn on_a_terminal_it_asks_and_yes_signals() {
    if !have_python_pty() {
        eprintln!("skipped: python3 has no pty module");
        return;
    }
    let mut server = Helper::python(LISTENER);
    let port = server.numbers[0];
    let (shown, code) = Terminal::start(&["--kill", &exact(port)]).answer("y");
    assert!(
        shown.contains(&format!("kill {} python3 (", server.pid())),
        "{shown}"
    );
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains(&format!("port {port} is free")), "{shown}");
    assert!(server.exited_within(5 * SECOND).is_some());
}

#[test]
fn on_a_terminal_no_means_no() {
    if !have_python_pty() {
        eprintln!("skipped: python3 has no pty module");
        return;
    }
    let mut server = Helper::python(LISTENER);
    let port = server.numbers[0];
    let (shown, code) = Terminal::start(&["--kill", &exact(port)]).answer("n");
    assert_eq!(code, 1, "{shown}");
    assert!(
        shown.contains(&format!("skipped {}", server.pid())),
        "{shown}"
    );
    assert!(shown.contains("(not signalled)"), "{shown}");
    assert!(server.alive());
}

/// The process holds the socket when portwho looks, closes it while the question is on the
/// screen, and keeps running: it is no longer the process the user agreed to stop.
#[test]
fn a_process_that_closed_the_socket_is_not_signalled() {
    if !have_python_pty() {
        eprintln!("skipped: python3 has no pty module");
        return;
    }
    let mut closer = Helper::python(CLOSER);
    let port = closer.numbers[0];
    let terminal = Terminal::start(&["--kill", &exact(port)]);
    let pid = rustix::process::Pid::from_raw(i32::try_from(closer.pid()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::USR1).unwrap();
    let deadline = Instant::now() + 5 * SECOND;
    while portwho_run(&["-q", &exact(port)]).code == 0 {
        assert!(
            Instant::now() < deadline,
            "the helper did not close its socket"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (shown, code) = terminal.answer("y");
    assert!(
        shown.contains(&format!("skipped {} python3 (", closer.pid()))
            && shown.contains("it no longer holds the socket"),
        "{shown}"
    );
    assert!(!shown.contains("sent SIG"), "{shown}");
    // Nothing was signalled, and the port is free now.
    assert_eq!(code, 0, "{shown}");
    assert!(
        closer.alive(),
        "a process that let go must not be signalled"
    );
}

#[test]
fn free_skips_a_held_port_and_gives_bindable_ones() {
    let held = on_unused_port(|p| TcpListener::bind(("127.0.0.1", p))).unwrap();
    let port = held.local_addr().unwrap().port();
    let r = portwho_run(&["--free", &port.to_string()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let found: u16 = r.stdout.trim().parse().unwrap();
    assert!(found > port, "{found} <= {port}");
    TcpListener::bind(("127.0.0.1", found)).expect("the port --free printed binds");

    let r = portwho_run(&["--free", &port.to_string(), "--count", "3"]);
    let ports: Vec<u16> = r.stdout.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(ports.len(), 3, "{}", r.stdout);
    assert!(ports.windows(2).all(|w| w[0] < w[1]), "{ports:?}");
    assert!(ports[0] > port);

    let (code, json) = json(&["--free", &port.to_string(), "--count", "2"]);
    assert_eq!(code, 0);
    assert_eq!(json.len(), 2);
    assert!(json.iter().all(|v| v.as_u64().is_some()));
}

#[test]
fn free_outside_the_ephemeral_range() {
    let Ok(text) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range") else {
        return;
    };
    let range: Vec<u16> = text
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let r = portwho_run(&["--free", &range[0].to_string()]);
    if range[1] == u16::MAX {
        assert_eq!(r.code, 1);
        return;
    }
    assert_eq!(r.code, 0, "{}", r.stderr);
    let found: u16 = r.stdout.trim().parse().unwrap();
    assert!(found > range[1], "{found} is in {range:?}");
}

#[test]
fn wait_listen_returns_once_something_listens() {
    let port = free_port();
    let mut waiting = portwho()
        .args(["--wait-listen", &exact(port), "--timeout", "5"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let mut out = String::new();
    waiting
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let status = waiting.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(out, format!("listening: tcp 127.0.0.1:{port}\n"));
    drop(listener);
}

#[test]
fn wait_listen_times_out() {
    let port = free_port();
    let start = Instant::now();
    let r = portwho_run(&["--wait-listen", &exact(port), "--timeout", "0.3"]);
    assert!(start.elapsed() < SECOND, "{:?}", start.elapsed());
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr,
        format!("portwho: nothing listens on 127.0.0.1:{port}/tcp after 0.3s\n")
    );
}

#[test]
fn wait_free_returns_once_the_listener_is_gone() {
    let listener = on_unused_port(|p| TcpListener::bind(("127.0.0.1", p))).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut waiting = portwho()
        .args(["--wait-free", &exact(port), "--timeout", "5"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(waiting.try_wait().unwrap().is_none(), "returned while held");
    drop(listener);
    let mut out = String::new();
    waiting
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(waiting.wait().unwrap().code(), Some(0));
    assert_eq!(out, format!("127.0.0.1:{port}/tcp is free\n"));
}

#[test]
fn wait_free_times_out_naming_the_holder() {
    let server = Helper::python(LISTENER);
    let port = server.numbers[0];
    let r = portwho_run(&["--wait-free", &exact(port), "--timeout", "0.2"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains(&format!("held by {} python3", server.pid())),
        "{}",
        r.stderr
    );
}

#[test]
fn waits_need_a_target() {
    for flag in ["--wait-listen", "--wait-free"] {
        let r = portwho_run(&[flag]);
        assert_eq!(r.code, 2);
        assert!(r.stderr.contains("needs a TARGET"), "{}", r.stderr);
    }
}
