//! Running the built binary with a clean environment, and helper processes that are always
//! stopped by pid.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

/// The binary, with nothing in the environment that could change its output.
pub fn portwho() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portwho"));
    for var in [
        "NO_COLOR",
        "COLUMNS",
        "LINES",
        "CLICOLOR",
        "CLICOLOR_FORCE",
        "TERM",
        "PORTWHO_BPF",
    ] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run portwho");
    Run {
        code: status.code().expect("exited, not killed"),
        stdout: String::from_utf8(stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(stderr).expect("utf-8 stderr"),
    }
}

pub fn portwho_run(args: &[&str]) -> Run {
    run(portwho().args(args))
}

/// `--json -v` with owners found through `/proc` only (`PORTWHO_BPF=never`) or, where
/// portwho can load it, with the kernel's iterator (`PORTWHO_BPF=always`: on a host with
/// few open files the default walks /proc), parsed, and the `-v` note.
pub fn json_through(proc_only: bool, args: &[&str]) -> (Vec<Value>, String) {
    let mut cmd = portwho();
    cmd.arg("--json").arg("-v").args(args);
    cmd.env("PORTWHO_BPF", if proc_only { "never" } else { "always" });
    let r = run(&mut cmd);
    let value: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", r.stdout, r.stderr));
    (value.as_array().expect("an array").clone(), r.stderr)
}

/// Whether a `-v` note says the kernel's iterator found the owners. Where it could not be
/// loaded for a reason of the machine (not root, a kernel without BTF), says so and
/// returns false; any other reason fails the test.
pub fn used_kernel_iterator(note: &str) -> bool {
    if note.contains("with the kernel's task_file iterator") {
        return true;
    }
    let why = note
        .split("not the kernel's iterator: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no reason given: {note}"));
    assert!(
        why.starts_with("not root") || why.starts_with("cannot read the kernel's BTF"),
        "{note}"
    );
    eprintln!("the kernel's iterator is not available here: {why}");
    false
}

/// `--json` output, parsed; panics with stderr when it is not JSON.
pub fn json(args: &[&str]) -> (i32, Vec<Value>) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let r = portwho_run(&all);
    let value: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", r.stdout, r.stderr));
    (r.code, value.as_array().expect("an array").clone())
}

pub fn pids_of(record: &Value) -> Vec<u64> {
    let mut pids: Vec<u64> = record["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .map(|p| p["pid"].as_u64().expect("pid"))
        .collect();
    pids.sort_unstable();
    pids
}

/// A helper process (python3) that prints one line of numbers when its sockets are ready,
/// killed with every pid it reported when dropped.
pub struct Helper {
    child: Child,
    pub numbers: Vec<u32>,
    /// Pids besides the helper itself (forked children) to stop on drop.
    pub extra_pids: Vec<u32>,
}

impl Helper {
    pub fn python(script: &str) -> Helper {
        Self::spawn(Command::new(python3()).arg("-c").arg(script))
    }

    pub fn spawn(cmd: &mut Command) -> Helper {
        Self::try_spawn(cmd).expect("the helper exited before it was ready")
    }

    /// `None` when the helper ends without its ready line (for example, an exec that failed
    /// with ETXTBSY because another test's fork still held a freshly written executable).
    pub fn try_spawn(cmd: &mut Command) -> Option<Helper> {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn helper");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("helper line");
        if line.is_empty() {
            let _ = child.wait();
            return None;
        }
        let numbers = line
            .split_whitespace()
            .map(|n| n.parse().unwrap_or_else(|_| panic!("helper said {line:?}")))
            .collect();
        Some(Helper {
            child,
            numbers,
            extra_pids: Vec::new(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How the helper ended, if it ends within `limit`.
    pub fn exited_within(
        &mut self,
        limit: std::time::Duration,
    ) -> Option<std::process::ExitStatus> {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if start.elapsed() >= limit {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Still running (not exited, not a zombie waiting to be reaped).
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        for &pid in &self.extra_pids {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A python3 that any user can run (pyenv shims under /root are not).
pub fn python3() -> &'static str {
    if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// A port nothing holds right now: bind port 0, note the port, release it.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A port no socket of this namespace uses, in any protocol, family or state: what
/// `free_port` gives is free for TCP on 127.0.0.1 only, and a busy host may use the same
/// number for UDP or on another address.
pub fn unused_port() -> u16 {
    // `  sl  local_address ...`, then `   0: 0100007F:1F90 ...`: the port is the hex after
    // the local address's colon.
    let used: std::collections::HashSet<u16> = ["tcp", "tcp6", "udp", "udp6"]
        .iter()
        .flat_map(|table| {
            let text = std::fs::read_to_string(format!("/proc/net/{table}")).unwrap_or_default();
            text.lines()
                .skip(1)
                .filter_map(|line| {
                    let local = line.split_whitespace().nth(1)?;
                    u16::from_str_radix(local.rsplit(':').next()?, 16).ok()
                })
                .collect::<Vec<u16>>()
        })
        .collect();
    (0..100)
        .map(|_| free_port())
        .find(|port| !used.contains(port))
        .expect("a port no socket uses")
}

/// `bind` on a port no socket uses (`unused_port`), again on another should a concurrent
/// test take that one first.
pub fn on_unused_port<T>(bind: impl Fn(u16) -> std::io::Result<T>) -> std::io::Result<T> {
    for _ in 0..20 {
        match bind(unused_port()) {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            done => return done,
        }
    }
    bind(unused_port())
}

pub fn inode_of(fd: std::os::fd::RawFd) -> u64 {
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).expect("fd link");
    let text = link.to_string_lossy();
    text.trim_start_matches("socket:[")
        .trim_end_matches(']')
        .parse()
        .expect("socket inode")
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A python3 script that listens on 127.0.0.1, prints its port and sleeps: run it with
/// `Helper::python(LISTENER)`, or under another user or namespace with `-c LISTENER`.
pub const LISTENER: &str = "import socket, time\n\
    s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
    print(s.getsockname()[1], flush=True)\n\
    time.sleep(60)\n";

/// A python3 server on 127.0.0.1 that forks once after listening, so parent and child share
/// one listener: (helper, port, child pid). Both are stopped when the helper is dropped.
pub fn forked_server() -> (Helper, u32, u32) {
    // A port no other socket uses, so that a query of it finds this listener alone.
    let mut helper = Helper::python(&format!(
        "import os, socket, time\n\
         s = socket.socket(); s.bind(('127.0.0.1', {})); s.listen()\n\
         pid = os.fork()\n\
         if pid == 0:\n    time.sleep(60); os._exit(0)\n\
         print(s.getsockname()[1], pid, flush=True)\n\
         time.sleep(60)\n",
        unused_port()
    ));
    let (port, child) = (helper.numbers[0], helper.numbers[1]);
    helper.extra_pids.push(child);
    (helper, port, child)
}

/// A python process with a dual-stack listener on [::]:PORT (IPV6_V6ONLY off), which
/// takes the port on 0.0.0.0 too; `numbers[0]` is the port.
pub fn dual_stack_server() -> Helper {
    Helper::python(&format!(
        "import socket, time\n\
         s = socket.socket(socket.AF_INET6); s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\n\
         s.bind(('::', {})); s.listen()\n\
         print(s.getsockname()[1], flush=True)\n\
         time.sleep(60)\n",
        unused_port()
    ))
}

/// Two SO_REUSEPORT listeners on 127.0.0.1:PORT: the parent's, which its forked child
/// inherits, and the child's own. Returns the helper, the port and the child's pid.
pub fn reuseport_pair() -> (Helper, u32, u32) {
    let mut helper = Helper::python(&format!(
        "import os, socket, time\n\
         def sock(port):\n    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)\n    s.bind(('127.0.0.1', port)); s.listen(); return s\n\
         a = sock({}); port = a.getsockname()[1]\n\
         pid = os.fork()\n\
         if pid == 0:\n    b = sock(port); time.sleep(60); os._exit(0)\n\
         time.sleep(0.3)\n\
         print(port, pid, flush=True)\n\
         time.sleep(60)\n",
        unused_port()
    ));
    let (port, child) = (helper.numbers[0], helper.numbers[1]);
    helper.extra_pids.push(child);
    (helper, port, child)
}

/// A listener on 127.0.0.1 with a TIME_WAIT socket on its port: the side that closes first
/// keeps TIME_WAIT, here the accepted (server) side.
pub fn listener_with_time_wait() -> (std::net::TcpListener, u16) {
    use std::io::Read;
    let l = on_unused_port(|p| std::net::TcpListener::bind(("127.0.0.1", p))).expect("bind");
    let port = l.local_addr().expect("addr").port();
    let client = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (server, _) = l.accept().expect("accept");
    drop(server);
    // Wait for the FIN so the client's close does not race it.
    let _ = (&client).read(&mut [0u8; 1]);
    drop(client);
    std::thread::sleep(std::time::Duration::from_millis(50));
    (l, port)
}

/// A network namespace with loopback up and a veth pair carrying 192.0.2.1/24 (TEST-NET-1),
/// deleted on drop.
pub struct Netns {
    name: String,
}

impl Netns {
    pub fn new() -> Option<Netns> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        if !is_root() || Command::new("ip").arg("-V").output().is_err() {
            eprintln!("skipped: needs root and ip(8)");
            return None;
        }
        let name = format!(
            "portwho-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let ok = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ok(&["netns", "add", &name]) {
            eprintln!("skipped: ip netns add failed");
            return None;
        }
        let ns = Netns { name };
        let n = ns.name.as_str();
        for args in [
            vec!["-n", n, "link", "set", "lo", "up"],
            vec![
                "-n", n, "link", "add", "pwa", "type", "veth", "peer", "name", "pwb",
            ],
            vec!["-n", n, "addr", "add", "192.0.2.1/24", "dev", "pwa"],
            vec!["-n", n, "link", "set", "pwa", "up"],
            vec!["-n", n, "link", "set", "pwb", "up"],
        ] {
            assert!(ok(&args), "ip {args:?}");
        }
        Some(ns)
    }

    /// Its `ip netns` name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The inode of its namespace, as `--netns` reports it.
    pub fn inode(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(format!("/run/netns/{}", self.name))
            .expect("its /run/netns file")
            .ino()
    }

    pub fn exec(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// A python3 helper inside the namespace; `binds` is a list of (kind, address, port).
    pub fn listen(&self, binds: &str) -> Helper {
        let script = format!(
            "import socket, time\n\
             socks = []\n\
             for kind, addr, port in {binds}:\n\
             \x20   fam = socket.AF_INET6 if ':' in addr else socket.AF_INET\n\
             \x20   s = socket.socket(fam, socket.SOCK_DGRAM if kind == 'udp' else socket.SOCK_STREAM)\n\
             \x20   s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             \x20   s.bind((addr, port))\n\
             \x20   if kind == 'tcp': s.listen()\n\
             \x20   socks.append(s)\n\
             print(*[s.getsockname()[1] for s in socks], flush=True)\n\
             time.sleep(60)\n"
        );
        Helper::spawn(self.exec(python3()).args(["-c", &script]))
    }

    pub fn portwho(&self, args: &[&str]) -> Run {
        let mut cmd = self.exec(env!("CARGO_BIN_EXE_portwho"));
        cmd.args(args)
            .env_remove("NO_COLOR")
            .env_remove("PORTWHO_BPF");
        run(&mut cmd)
    }

    pub fn json(&self, args: &[&str]) -> (i32, Vec<Value>) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let r = self.portwho(&all);
        let records: Vec<Value> = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr));
        (r.code, records)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
