//! The owner card: everything about each process holding the asked-for port, and how to
//! stop it.

use std::io::{self, Write};

use super::time::{elapsed, rfc3339};
use crate::model::{Container, ContainerState, Entry, Firewall, FirewallVerdict, Process, Runtime};
use crate::text::escape;
use crate::text::format_addr;

/// Renders one card per distinct holder of the entries, after the table of `portwho :PORT`.
pub(crate) struct Cards {
    /// Seconds since the Unix epoch, for "how long it has run".
    pub now: u64,
    /// Cut long lines to this width (on a terminal only).
    pub width: Option<usize>,
    pub color: bool,
    /// The TARGET arguments as typed, for the `portwho --kill` suggestion.
    pub targets: Vec<String>,
}

impl Cards {
    fn line(&self, out: &mut dyn Write, label: &str, value: &str) -> io::Result<()> {
        let text = format!("  {label:<8} {value}");
        match self.width {
            Some(width) if text.chars().count() > width && width > 1 => {
                let cut: String = text.chars().take(width - 1).collect();
                writeln!(out, "{cut}…")
            }
            _ => writeln!(out, "{text}"),
        }
    }

    fn card(&self, out: &mut dyn Write, p: &Process, entries: &[Entry]) -> io::Result<()> {
        let title = who(p);
        if self.color {
            writeln!(out, "\x1b[1m{title}\x1b[0m")?;
        } else {
            writeln!(out, "{title}")?;
        }
        if !p.cmdline.is_empty() {
            self.line(out, "command", &command_line(&p.cmdline))?;
        }
        if let Some(exe) = &p.exe {
            let deleted = if p.exe_deleted {
                " (deleted: replaced or removed on disk since it started)"
            } else {
                ""
            };
            self.line(out, "exe", &format!("{}{deleted}", escape(exe)))?;
        }
        if let Some(cwd) = &p.cwd {
            self.line(out, "cwd", &escape(cwd))?;
        }
        if let Some(started) = p.started {
            let when = rfc3339(started).replace('T', " ").replace('Z', " UTC");
            let ago = elapsed(self.now.saturating_sub(started));
            self.line(out, "started", &format!("{when}, {ago} ago"))?;
        }
        if !p.ancestors.is_empty() {
            let chain: Vec<String> = p
                .ancestors
                .iter()
                .map(|a| format!("{}({})", escape(&a.name), a.pid))
                .collect();
            self.line(out, "parents", &chain.join(" › "))?;
        }
        if let Some(managed) = managed_by(p) {
            self.line(out, "managed", &managed)?;
        }
        if let Some(t) = &p.proxy {
            let forward = held_by(entries, p).find_map(|e| e.forward.as_ref());
            let to = match forward.and_then(|f| f.place.as_ref()?.container.as_deref()) {
                Some(c) => format!(", {}", container_words(c)),
                None => " (a published container port)".to_string(),
            };
            self.line(
                out,
                "forwards",
                &format!(
                    "{} {}:{} → {}:{}{to}",
                    t.proto.as_str(),
                    t.host_ip,
                    t.host_port,
                    t.container_ip,
                    t.container_port
                ),
            )?;
            if let Some(f) = forward.filter(|f| !f.processes.is_empty()) {
                let there: Vec<String> = f.processes.iter().map(|h| who(h)).collect();
                self.line(out, "", &format!("held there by {}", there.join(", ")))?;
            }
        }
        let mut said: Vec<String> = Vec::new();
        for line in held_by(entries, p).filter_map(|e| e.firewall.as_ref().map(firewall_line)) {
            if !said.contains(&line) {
                self.line(out, "firewall", &line)?;
                said.push(line);
            }
        }
        for e in held_by(entries, p) {
            let s = &e.socket;
            let peer = s
                .remote
                .map_or(String::new(), |r| format!(" from {}", format_addr(r)));
            self.line(
                out,
                "holds",
                &format!(
                    "{} {}{peer} {}",
                    s.proto.as_str(),
                    format_addr(s.local),
                    s.state.as_str()
                ),
            )?;
        }
        self.line(out, "stop", &self.stop_hint(p, entries))
    }

    fn stop_hint(&self, p: &Process, entries: &[Entry]) -> String {
        // A forked worker is restarted by its master: stopping the master is the answer.
        let master = entries
            .iter()
            .flat_map(|e| &e.processes)
            .find(|h| Some(h.pid) == p.ppid);
        if let Some(master) = master {
            return format!(
                "its parent {} {} holds the same socket and likely restarts it: stop that one",
                master.pid,
                escape(&master.name)
            );
        }
        let kill = if self.targets.is_empty() {
            format!("kill {}", p.pid)
        } else {
            format!(
                "kill {}, or: portwho --kill {}",
                p.pid,
                self.targets.join(" ")
            )
        };
        if let Some(t) = &p.proxy {
            let target = held_by(entries, p)
                .filter_map(|e| e.forward.as_ref()?.place.as_ref()?.container.as_deref())
                .next();
            return match target {
                Some(c) => state_stop(c),
                None => format!(
                    "stop the container that publishes port {}: docker ps --filter publish={}, then docker stop ID",
                    t.host_port, t.host_port
                ),
            };
        }
        if let Some(c) = &p.manager.container {
            return container_stop(c);
        }
        match p.manager.unit.as_deref() {
            // A service is restarted by systemd after a plain kill; stop the unit.
            Some(unit) if unit.ends_with(".service") => match unit.rsplit_once(" › ") {
                Some((_, inner)) => {
                    format!("systemctl --user stop {} (as its user)", escape(inner))
                }
                None => format!("systemctl stop {}", escape(unit)),
            },
            _ => kill,
        }
    }
}

/// `drops new connections: table inet filter, chain input, policy drop`.
fn firewall_line(f: &Firewall) -> String {
    let verb = match f.verdict {
        FirewallVerdict::Accept => "accepts new connections".to_string(),
        FirewallVerdict::Drop => "drops new connections".to_string(),
        FirewallVerdict::Reject => "rejects new connections".to_string(),
        // Who it is open to is the point: the reason says.
        FirewallVerdict::Conditional => format!(
            "accepts new connections only for some ({})",
            escape(&f.reason)
        ),
        FirewallVerdict::Unknown => "unknown".to_string(),
    };
    match &f.rule {
        Some(r) => format!(
            "{verb}: table {} {}, chain {}, {}",
            r.family,
            escape(&r.table),
            escape(&r.chain),
            escape(&r.text),
        ),
        None => format!("{verb}: {}", escape(&f.reason)),
    }
}

/// The entries a process holds.
fn held_by<'a>(entries: &'a [Entry], p: &'a Process) -> impl Iterator<Item = &'a Entry> {
    entries
        .iter()
        .filter(|e| e.processes.iter().any(|h| h.pid == p.pid))
}

/// `1499 nginx (root)`.
fn who(p: &Process) -> String {
    let user = match (&p.user, p.uid) {
        (Some(user), _) => escape(user).into_owned(),
        (None, Some(uid)) => format!("uid {uid}"),
        (None, None) => "unknown user".to_string(),
    };
    format!("{} {} ({user})", p.pid, escape(&p.name))
}

/// `container web (nginx:1.25)`, `pod api-7f9 in namespace shop`, `container 3f2a1b4c5d6e`.
fn container_words(c: &ContainerState) -> String {
    let mut text = match (&c.pod, &c.pod_namespace) {
        (Some(pod), Some(namespace)) => {
            format!(
                "pod {} in namespace {}, container",
                escape(pod),
                escape(namespace)
            )
        }
        _ => "container".to_string(),
    };
    text.push(' ');
    text.push_str(&escape(c.name.as_deref().unwrap_or(short_id(&c.id))));
    if let Some(image) = &c.image {
        text.push_str(&format!(" ({})", escape(image)));
    }
    text
}

/// How to stop a container the runtime's state names: by its name, as its user knows it.
fn state_stop(c: &ContainerState) -> String {
    let name = escape(c.name.as_deref().unwrap_or(short_id(&c.id))).into_owned();
    match (c.runtime, &c.pod, &c.pod_namespace) {
        (_, Some(pod), Some(namespace)) => {
            format!(
                "kubectl delete pod {} -n {}",
                escape(pod),
                escape(namespace)
            )
        }
        (Some(Runtime::Podman), _, _) => format!("podman stop {name}"),
        (Some(Runtime::Containerd), _, _) => format!("nerdctl stop {name}"),
        _ => format!("docker stop {name}"),
    }
}

/// `nginx.service (systemd)`, `docker container 3f2a…`, `kubernetes pod …, container …`.
fn managed_by(p: &Process) -> Option<String> {
    let unit = p
        .manager
        .unit
        .as_deref()
        .map(|u| format!("{} (systemd)", escape(u)));
    let container = p.manager.container.as_ref().map(|c| {
        let mut text = format!(
            "{} container {}",
            c.runtime.as_str(),
            escape(c.name.as_deref().unwrap_or(short_id(&c.id)))
        );
        if let Some(pod) = &c.pod {
            text.push_str(&format!(" in pod {}", escape(pod)));
        }
        text
    });
    match (container, unit) {
        (Some(c), Some(u)) => Some(format!("{c}, under {u}")),
        (c, u) => c.or(u),
    }
}

/// Container ids are shown as the runtimes' own `ps` shows them: 12 characters.
fn short_id(id: &str) -> &str {
    if id.len() > 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        &id[..12]
    } else {
        id
    }
}

/// How each runtime stops a container (kubernetes restarts what `crictl stop` stops, so
/// its pod is what to change).
fn container_stop(c: &Container) -> String {
    // The name the runtime's state gives it, where read, is what its user typed.
    let id = escape(c.name.as_deref().unwrap_or(short_id(&c.id))).into_owned();
    match c.runtime {
        Runtime::Docker => format!("docker stop {id}"),
        Runtime::Podman | Runtime::PodmanConmon => format!("podman stop {id}"),
        Runtime::Containerd => {
            format!("nerdctl stop {id} (or: ctr task kill {})", escape(&c.id))
        }
        Runtime::CriO | Runtime::CriOConmon => format!("crictl stop {id}"),
        Runtime::Kubernetes => format!(
            "change or delete its pod (kubectl get pods -A | grep …); crictl stop {id} stops it until kubernetes restarts it"
        ),
        Runtime::Lxc | Runtime::LxcMonitor => format!("lxc-stop -n {}", escape(&c.id)),
        Runtime::SystemdNspawn => format!("machinectl stop {}", escape(&c.id)),
    }
}

/// Arguments joined with spaces, quoted where a space or nothing would be ambiguous.
fn command_line(args: &[String]) -> String {
    args.iter()
        .map(|arg| {
            let arg = escape(arg);
            if arg.is_empty() || arg.contains(char::is_whitespace) || arg.contains('\'') {
                format!("'{}'", arg.replace('\'', "'\\''"))
            } else {
                arg.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Cards {
    /// Every entry at once.
    pub(crate) fn render(&self, entries: &[Entry], out: &mut dyn Write) -> io::Result<()> {
        let mut seen = Vec::new();
        for e in entries {
            for p in &e.processes {
                if seen.contains(&p.pid) {
                    continue;
                }
                seen.push(p.pid);
                writeln!(out)?;
                self.card(out, p, entries)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Ancestor, Proto, Socket, State, testing};

    fn sample() -> Vec<Entry> {
        let process = Process {
            pid: 4242,
            name: "py\x1bthon3".into(),
            cmdline: vec![
                "python3".into(),
                "-c".into(),
                "print('a b')".into(),
                "".into(),
            ],
            user: Some("alice".into()),
            uid: Some(1000),
            ppid: Some(812),
            exe: Some("/usr/bin/python3.11".into()),
            exe_deleted: true,
            cwd: Some("/srv/app".into()),
            started: Some(1_700_000_000),
            ancestors: vec![
                Ancestor {
                    pid: 812,
                    name: "bash".into(),
                },
                Ancestor {
                    pid: 1,
                    name: "systemd".into(),
                },
            ],
            ..Process::default()
        };
        let socket = Socket {
            uid: Some(1000),
            inode: 7,
            ..testing::socket("127.0.0.1:8080", Proto::Tcp, State::Listen)
        };
        vec![Entry {
            processes: vec![process.into()],
            ..testing::entry(socket)
        }]
    }

    fn render(cards: &Cards) -> String {
        let mut out = Vec::new();
        cards.render(&sample(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn card_has_every_detail() {
        let text = render(&Cards {
            now: 1_700_000_000 + 3725,
            width: None,
            color: false,
            targets: vec![":8080".into()],
        });
        let expected = "
4242 py\\x1bthon3 (alice)
  command  python3 -c 'print('\\''a b'\\'')' ''
  exe      /usr/bin/python3.11 (deleted: replaced or removed on disk since it started)
  cwd      /srv/app
  started  2023-11-14 22:13:20 UTC, 1h 2m ago
  parents  bash(812) › systemd(1)
  holds    tcp 127.0.0.1:8080 LISTEN
  stop     kill 4242, or: portwho --kill :8080
";
        assert_eq!(text, expected);
    }

    #[test]
    fn forked_worker_points_at_its_master() {
        let mut entries = sample();
        let mut worker = (*entries[0].processes[0]).clone();
        worker.pid = 4243;
        worker.ppid = Some(4242);
        entries[0].processes.push(worker.into());
        let mut out = Vec::new();
        Cards {
            now: 1_700_000_000,
            width: None,
            color: false,
            targets: vec![":8080".into()],
        }
        .render(&entries, &mut out)
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("stop     kill 4242, or: portwho --kill :8080"),
            "{text}"
        );
        assert!(
            text.contains("stop     its parent 4242 py\\x1bthon3 holds the same socket"),
            "{text}"
        );
    }

    fn stop_line(p: Process) -> String {
        let mut entries = sample();
        entries[0].processes = vec![p.into()];
        let mut out = Vec::new();
        Cards {
            now: 1_700_000_000,
            width: None,
            color: false,
            targets: vec![":80".into()],
        }
        .render(&entries, &mut out)
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let managed = text
            .lines()
            .find(|l| l.starts_with("  managed"))
            .unwrap_or("");
        let stop = text.lines().find(|l| l.starts_with("  stop")).unwrap();
        format!("{}|{}", managed.trim(), stop.trim())
    }

    #[test]
    fn stop_fits_the_manager() {
        use crate::model::{Container, Manager, ProxyTarget};
        let with = |unit: Option<&str>, container: Option<Container>| Process {
            pid: 7,
            name: "srv".into(),
            manager: Manager {
                unit: unit.map(str::to_string),
                container,
            },
            ..Process::default()
        };
        assert_eq!(
            stop_line(with(Some("nginx.service"), None)),
            "managed  nginx.service (systemd)|stop     systemctl stop nginx.service"
        );
        assert_eq!(
            stop_line(with(Some("user@1000.service › app.service"), None)),
            "managed  user@1000.service › app.service (systemd)|stop     systemctl --user stop app.service (as its user)"
        );
        assert_eq!(
            stop_line(with(Some("session-3.scope"), None)),
            "managed  session-3.scope (systemd)|stop     kill 7, or: portwho --kill :80"
        );
        let docker = Container {
            runtime: Runtime::Docker,
            id: "3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708".into(),
            pod: None,
            name: None,
            image: None,
        };
        assert_eq!(
            stop_line(with(Some("docker-3f2a.scope"), Some(docker))),
            "managed  docker container 3f2a1b4c5d6e, under docker-3f2a.scope (systemd)|stop     docker stop 3f2a1b4c5d6e"
        );
        let pod = Container {
            runtime: Runtime::Kubernetes,
            id: "abcdef0123456789".into(),
            pod: Some("1234-5678".into()),
            name: None,
            image: None,
        };
        let line = stop_line(with(None, Some(pod)));
        assert!(
            line.starts_with("managed  kubernetes container abcdef012345 in pod 1234-5678|"),
            "{line}"
        );
        assert_eq!(
            stop_line(with(None, None)),
            "|stop     kill 7, or: portwho --kill :80"
        );
        let mut proxy = with(Some("docker.service"), None);
        proxy.proxy = Some(ProxyTarget {
            proto: Proto::Tcp,
            host_ip: "0.0.0.0".parse().unwrap(),
            host_port: 8080,
            container_ip: "172.17.0.2".parse().unwrap(),
            container_port: 80,
        });
        let mut entries = sample();
        entries[0].processes = vec![proxy.into()];
        let mut out = Vec::new();
        Cards {
            now: 0,
            width: None,
            color: false,
            targets: vec![],
        }
        .render(&entries, &mut out)
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("forwards tcp 0.0.0.0:8080 → 172.17.0.2:80"),
            "{text}"
        );
        assert!(text.contains("docker ps --filter publish=8080"), "{text}");
    }

    #[test]
    fn lines_are_cut_on_a_terminal() {
        let text = render(&Cards {
            now: 1_700_000_000,
            width: Some(30),
            color: false,
            targets: vec![],
        });
        assert!(text.lines().all(|l| l.chars().count() <= 30), "{text}");
        assert!(text.contains('…'));
    }
}
