//! portwho: who is listening on this port, what holds it, and what this host exposes.
#![warn(unreachable_pub)]

mod action;
mod backend;
mod cli;
mod config;
mod diagnose;
mod diff;
mod error;
pub mod exit;
mod filter;
mod firewall;
mod forward;
mod gather;
mod generate;
mod hash;
mod join;
mod label;
mod list;
mod messages;
mod model;
mod output;
mod parts;
mod render;
mod signal;
mod target;
mod text;
mod watch;

// The public surface, small on purpose: what `main.rs` composes, the exit-status table
// the documentation tests read (`exit`), and the parsers the fuzz targets feed
// (`fuzzing`). Everything else is `pub(crate)`.
pub use backend::stdout_was_closed;
pub use config::Terminal;
pub use error::Error;
pub use exit::ExitCode;
pub use messages::error as report_error;

/// The parsers of untrusted input (the kernel's tables and nftables ruleset, Windows's and
/// macOS's socket records, other processes' names and command lines, a cgroup path,
/// container runtimes' state files, what a user types), for the fuzz targets in `fuzz/`.
pub mod fuzzing {
    #[cfg(target_os = "linux")]
    pub use crate::backend::linux::{
        cgroup::{docker_proxy_target, parse as parse_cgroup},
        containers::{
            Malformed, Parsed, StorageEntry, parse_containerd, parse_docker, parse_podman,
            parse_podman_list,
        },
        netlink::{Table, decode},
        nftables::decode::{
            Assembly, DecodeError, Decoded, Progress, decode_datagram, decode_dump,
        },
        proc_net::{parse_line, parse_table},
        process::{decode_cmdline, decode_comm, parse_stat},
    };
    /// macOS's libproc records (`socket_fdinfo`, `proc_fdinfo` lists), decoded on any
    /// platform.
    pub use crate::backend::macos::fdinfo::{
        Fd, Malformed as MalformedFdinfo, PROC_FDINFO_SIZE, SOCKET_FDINFO_SIZE, decode_socket,
        socket_fds,
    };
    /// Windows's socket tables with owner pids, decoded on any platform.
    pub use crate::backend::windows::rows::{
        Decoded as WindowsRows, Malformed as MalformedTable, Row as WindowsRow,
        Table as WindowsTable, decode as decode_windows_table,
    };
    pub use crate::model::{
        CmpOp, Container, ContainerState, Expr, Family, Hook, Immediate, Manager, NatKind, NfChain,
        NfFamily, NfRule, NfSet, NfSetElement, NfTable, PayloadBase, PortBinding, Proto,
        ProxyTarget, Ruleset, Runtime, Verdict,
    };
    pub use crate::target::parse as parse_target;
    pub use crate::text::escape;
}

use std::io::Write;

use action::{Context, Guard, SystemClock, TerminalPrompt};
use backend::Backend;
use config::Config;
use config::Mode;
use label::services::ServiceTable;
use messages::Messages;

/// One run of the mode the configuration names.
///
/// Notes for the user (hidden owners, skipped lines) go to `err`, through the messages
/// module; stdout gets only the answer, written by the one printer `config` chooses.
pub(crate) fn run(
    config: &Config,
    backend: &dyn Backend,
    services: &ServiceTable,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<ExitCode, Error> {
    let started = std::time::Instant::now();
    let mut messages = Messages::new(err, config.verbose);
    let printer = render::printer(config.format, style(config, backend, started));
    let quiet = config.format == config::Format::Quiet;
    // `--output FILE`: the answer goes to a temporary file, renamed over FILE only once the
    // run succeeded; a missing directory fails here, before anything is read.
    let mut file = match &config.output {
        Some(path) => Some(output::AtomicFile::create(path)?),
        None => None,
    };
    let out: &mut dyn Write = match file.as_mut() {
        Some(file) => file,
        None => out,
    };
    let mut cx = Context {
        backend,
        prompt: &mut TerminalPrompt,
        clock: &SystemClock,
        guard: Guard::current(),
        out,
        messages: &mut messages,
    };
    let filters = &config.filters;
    let code = match &config.mode {
        Mode::Forwards if !backend.reads_firewall() => {
            return Err(backend::needs_linux(
                "--forwards needs Linux's nftables and docker",
            ));
        }
        Mode::List | Mode::Audit { .. } | Mode::Diff { .. } | Mode::Forwards => {
            let code = list::run(config, backend, services, &*printer, cx.out, cx.messages)?;
            // Metrics with no socket are still metrics, and a timer's run that wrote them
            // did not fail.
            match config.format {
                config::Format::Prometheus => ExitCode::Matched,
                _ => code,
            }
        }
        Mode::Watch { interval } => watch::run(
            config,
            backend,
            services,
            &*printer,
            *interval,
            cx.out,
            cx.messages,
        )?,
        Mode::Kill(options) => action::kill::run(filters, options, quiet, &mut cx)?,
        Mode::Free { start, count } => action::free::run(*start, *count, &*printer, &mut cx)?,
        Mode::WaitListen { timeout } => action::wait::listen(filters, *timeout, quiet, &mut cx)?,
        Mode::WaitFree { timeout } => action::wait::free(filters, *timeout, quiet, &mut cx)?,
        Mode::Generate(what) => {
            generate::write(*what, cx.out).map_err(Error::Output)?;
            ExitCode::Matched
        }
    };
    cx.out.flush().map_err(Error::Output)?;
    if let Some(file) = file {
        file.commit()?;
    }
    Ok(code)
}

/// How text for people looks, and for `--prometheus` when the run started and which
/// network namespace is the caller's own.
fn style(config: &Config, backend: &dyn Backend, started: std::time::Instant) -> render::Style {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut style = config.style(since_epoch.as_secs());
    if config.format == config::Format::Prometheus {
        // The netns label calls the caller's own namespace `host`: one readlink.
        let own = backend.namespaces(&model::NetnsChoice::Own).ok();
        style.scrape = Some(render::prometheus::Scrape {
            started_unix: since_epoch,
            started,
            own_netns: own
                .and_then(|list| list.namespaces.first().map(|ns| ns.netns.inode))
                .unwrap_or(0),
        });
    }
    style
}

/// The command line, parsed; `None` when it asked for `--help` or `--version`, which
/// are printed here.
pub fn cli_args() -> Result<Option<cli::Cli>, Error> {
    use clap::{FromArgMatches, error::ErrorKind};
    // The command that carries the exit statuses in its help; an error found after
    // matching is rendered for it, as clap's derive does.
    let parsed = generate::command()
        .try_get_matches()
        .and_then(|mut matches| {
            cli::Cli::from_arg_matches_mut(&mut matches)
                .map_err(|e| e.format(&mut generate::command()))
        });
    match parsed {
        Ok(cli) => Ok(Some(cli)),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            e.print().map_err(Error::Output)?;
            Ok(None)
        }
        Err(e) => Err(Error::Usage(error::usage_line(&e))),
    }
}

/// The system portwho reads, through this platform's backend, and its names for ports.
pub struct System {
    backend: Box<dyn Backend>,
    services: ServiceTable,
}

impl System {
    /// The live system, or a proc tree at `proc_root` (`--proc-root`); `kernel_iterator`
    /// is `PORTWHO_BPF`, when to find owners with the kernel's fd iterator.
    pub fn open(
        proc_root: Option<&std::path::Path>,
        kernel_iterator: Option<&std::ffi::OsStr>,
    ) -> Result<System, Error> {
        let backend = backend::from_env(proc_root, kernel_iterator)?;
        // IANA's table, with the names the system's own services file adds.
        let builtin = ServiceTable::builtin();
        let services = match backend.services_file() {
            Some(text) => builtin.with_etc_services(&text),
            None => builtin,
        };
        Ok(System { backend, services })
    }

    /// What the command line asks for, with its names resolved on this system.
    pub fn configure(&self, cli: cli::Cli, terminal: Terminal) -> Result<Config, Error> {
        let user_id = |name: &str| self.backend.user_id(name);
        Config::from_cli(cli, &self.services, &user_id, terminal)
    }

    /// One run of what `config` asks for.
    pub fn run(
        &self,
        config: &Config,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<ExitCode, Error> {
        run(config, &*self.backend, &self.services, out, err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::fake::FakeBackend;
    use crate::config::Terminal;
    use crate::model::testing::tcp as socket;
    use crate::model::{Process, Socket, State, testing};
    use clap::Parser;

    /// What `portwho ARGS` printed and returned against `fake`.
    fn run_on(fake: &FakeBackend, args: &[&str]) -> (ExitCode, String, String) {
        let cli = cli::Cli::try_parse_from(std::iter::once("portwho").chain(args.iter().copied()))
            .unwrap();
        let services = ServiceTable::builtin();
        let config = Config::from_cli(cli, &services, &|_| None, Terminal::default()).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(&config, fake, &services, &mut out, &mut err).unwrap();
        let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
        (code, text(out), text(err))
    }

    /// A python3 server on 8080 with one accepted connection, and a TIME_WAIT on 8080.
    fn server() -> FakeBackend {
        let fake = FakeBackend::new();
        fake.spawn(42, "python3", &[1, 2]);
        fake.add_socket(socket("127.0.0.1:8080", State::Listen, 1));
        fake.add_socket(Socket {
            remote: Some("127.0.0.1:50000".parse().unwrap()),
            ..socket("127.0.0.1:8080", State::Established, 2)
        });
        fake.add_socket(Socket {
            remote: Some("127.0.0.1:50001".parse().unwrap()),
            ..socket("127.0.0.1:8080", State::TimeWait, 0)
        });
        fake
    }

    #[test]
    fn the_listing_shows_listeners_with_their_holders() {
        let fake = server();
        let (code, out, err) = run_on(&fake, &["-n"]);
        assert_eq!(code, ExitCode::Matched, "{err}");
        assert_eq!(out.lines().count(), 2, "a header and one listener:\n{out}");
        assert!(
            out.contains("127.0.0.1:8080") && out.contains("42/python3"),
            "{out}"
        );
        assert_eq!(fake.owner_scans(), 1);
        assert_eq!(fake.socket_queries(), 1);
    }

    #[test]
    fn json_names_every_socket_on_a_port_and_its_holders() {
        let (code, out, _) = run_on(&server(), &["--json", ":8080"]);
        assert_eq!(code, ExitCode::Matched);
        let records: serde_json::Value = serde_json::from_str(&out).unwrap();
        let records = records.as_array().unwrap();
        let states: Vec<&str> = records
            .iter()
            .map(|r| r["state"].as_str().unwrap())
            .collect();
        assert_eq!(states, ["LISTEN", "ESTABLISHED", "TIME_WAIT"]);
        assert_eq!(records[0]["processes"][0]["pid"], 42);
        assert_eq!(records[2]["processes"], serde_json::json!([]));
    }

    /// `--prometheus` reads parents only where a socket has several holders, and there
    /// still names a forked server after its master, even one with a higher pid than its
    /// worker.
    #[test]
    fn prometheus_names_a_forked_server_after_its_master() {
        let fake = FakeBackend::new();
        let worker = testing::process(20, "worker");
        fake.spawn_as(
            Process {
                ppid: Some(30),
                ..worker
            },
            &[1],
        );
        fake.spawn_as(
            Process {
                ppid: Some(1),
                ..testing::process(30, "master")
            },
            &[1],
        );
        fake.spawn_as(
            Process {
                ppid: Some(1),
                ..testing::process(40, "alone")
            },
            &[2],
        );
        fake.add_socket(socket("127.0.0.1:8080", State::Listen, 1));
        fake.add_socket(socket("127.0.0.1:9090", State::Listen, 2));
        let (code, out, err) = run_on(&fake, &["--prometheus"]);
        assert_eq!(code, ExitCode::Matched, "{err}");
        let series = |port: u16| {
            out.lines()
                .find(|l| l.contains(&format!("port=\"{port}\"")))
                .unwrap_or_else(|| panic!("no series for {port}:\n{out}"))
        };
        assert!(series(8080).contains("process=\"master\""), "{out}");
        assert!(series(9090).contains("process=\"alone\""), "{out}");
    }

    #[test]
    fn a_free_port_is_explained_and_exits_1() {
        let fake = server();
        let (code, out, err) = run_on(&fake, &[":9"]);
        assert_eq!(code, ExitCode::NoMatch);
        assert!(out.contains("port 9 is free"), "{out}");
        assert_eq!(
            err, "",
            "the diagnosis says it; no 'no socket matches' note"
        );
        let (code, out, err) = run_on(&fake, &["-n", "-p", "7"]);
        assert_eq!((code, out.as_str()), (ExitCode::NoMatch, ""));
        assert_eq!(err, "portwho: no socket matches\n");
    }

    #[test]
    fn quiet_answers_from_the_socket_table_alone() {
        let fake = server();
        let (code, out, err) = run_on(&fake, &["-q", ":8080"]);
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (ExitCode::Matched, "", "")
        );
        assert_eq!(fake.owner_scans(), 0);
        // A selection by holder needs them, quiet or not.
        let (code, _, _) = run_on(&fake, &["-q", "-c", "nginx"]);
        assert_eq!(code, ExitCode::NoMatch);
        assert_eq!(fake.owner_scans(), 1);
    }

    #[test]
    fn kill_and_free_run_on_the_same_snapshot_path() {
        let fake = server();
        let (code, out, err) = run_on(&fake, &["--kill", "--yes", ":8080"]);
        assert_eq!(code, ExitCode::Matched, "{err}");
        assert_eq!(out, "port 8080 is free\n");
        assert!(!fake.alive(42));
        let (code, out, _) = run_on(&fake, &["--free", "8080", "--json"]);
        assert_eq!((code, out.as_str()), (ExitCode::Matched, "[8080]\n"));
    }

    /// A container "web" (namespace 7) whose httpd listens on 0.0.0.0:80, published on the
    /// host's 127.0.0.1:8080 through docker-proxy; a blue `ip netns` (namespace 9) whose
    /// server holds port 80 too, and which cannot be entered.
    fn containers() -> FakeBackend {
        use crate::model::{ContainerState, PortBinding, ProxyTarget};
        let fake = FakeBackend::new();
        let on = |netns, local, inode| Socket {
            netns,
            ..socket(local, State::Listen, inode)
        };
        fake.add_socket(on(0, "127.0.0.1:8080", 1));
        fake.add_socket(on(7, "0.0.0.0:80", 2));
        fake.add_socket(on(9, "0.0.0.0:80", 3));
        fake.spawn_as(
            crate::model::Process {
                proxy: Some(ProxyTarget {
                    proto: crate::model::Proto::Tcp,
                    host_ip: "127.0.0.1".parse().unwrap(),
                    host_port: 8080,
                    container_ip: "172.17.0.2".parse().unwrap(),
                    container_port: 80,
                }),
                ..testing::process(8637, "docker-proxy")
            },
            &[1],
        );
        fake.spawn(1499, "httpd", &[2]);
        fake.spawn(2000, "python3", &[3]);
        fake.add_namespace(7, None, &[1499]);
        fake.add_namespace(9, Some("blue"), &[2000]);
        fake.add_container(ContainerState {
            runtime: Some(crate::model::Runtime::Docker),
            id: "b97356f8084b8ac5".into(),
            name: Some("web".into()),
            image: Some("nginx:1.25".into()),
            pid: Some(1499),
            addresses: vec!["172.17.0.2".parse().unwrap()],
            ports: vec![PortBinding {
                proto: crate::model::Proto::Tcp,
                host_addr: Some("127.0.0.1".parse().unwrap()),
                host_port: 8080,
                container_port: 80,
            }],
            ..ContainerState::default()
        });
        fake
    }

    #[test]
    fn a_published_port_names_the_container_and_who_answers_inside() {
        let fake = containers();
        let (code, out, _) = run_on(&fake, &["--json", ":8080"]);
        assert_eq!(code, ExitCode::Matched);
        let records: serde_json::Value = serde_json::from_str(&out).unwrap();
        let forward = &records[0]["forward"];
        assert_eq!(forward["to_addr"], "172.17.0.2");
        assert_eq!(forward["to_port"], 80);
        assert_eq!(forward["via"], "docker-proxy");
        assert_eq!(forward["netns"]["inode"], 7);
        assert_eq!(forward["container"]["name"], "web");
        assert_eq!(forward["container"]["image"], "nginx:1.25");
        assert_eq!(forward["processes"][0]["pid"], 1499);
        assert_eq!(
            records[0]["netns"],
            serde_json::json!({"inode": null, "name": null})
        );
        assert_eq!(records[0]["published"], serde_json::json!([]));

        let (_, out, _) = run_on(&fake, &[":8080"]);
        assert!(
            out.contains("forwards tcp 127.0.0.1:8080 → 172.17.0.2:80, container web (nginx:1.25)"),
            "{out}"
        );
        assert!(
            out.contains("           held there by 1499 httpd (alice)"),
            "{out}"
        );
        assert!(out.contains("  stop     docker stop web"), "{out}");
    }

    #[test]
    fn every_namespace_is_listed_with_its_container_and_the_locked_ones_counted() {
        let fake = containers();
        fake.lock_namespace(9);
        let (code, out, err) = run_on(&fake, &["--netns", "all", "--json"]);
        assert_eq!(code, ExitCode::Matched);
        let records: serde_json::Value = serde_json::from_str(&out).unwrap();
        let inside = records
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["netns"]["inode"] == 7)
            .unwrap();
        assert_eq!(inside["container"]["name"], "web");
        assert_eq!(inside["processes"][0]["name"], "httpd");
        assert_eq!(
            inside["published"],
            serde_json::json!([{"proto": "tcp", "host_addr": "127.0.0.1", "host_port": 8080,
                                "via": "docker-proxy"}])
        );
        assert_eq!(
            records.as_array().unwrap().len(),
            2,
            "blue's socket is not read"
        );
        assert!(
            err.contains("1 network namespace not read: entering another namespace needs root"),
            "{err}"
        );

        let (_, out, _) = run_on(&fake, &["--netns", "all", "-n"]);
        let header = out.lines().next().unwrap();
        assert!(header.starts_with("NETNS"), "{out}");
        assert!(out.lines().any(|l| l.starts_with("web ")), "{out}");
        let (code, _, _) = run_on(&fake, &["--netns", "blue"]);
        assert_eq!(code, ExitCode::NoMatch, "blue cannot be read");
    }

    #[test]
    fn a_port_free_here_says_which_namespace_holds_it() {
        let fake = containers();
        let (code, out, _) = run_on(&fake, &[":80"]);
        assert_eq!(code, ExitCode::NoMatch);
        assert!(
            out.contains("* port 80 is free here; in network namespace 7 (container web) tcp *:80 is held by 1499 httpd"),
            "{out}"
        );
        assert!(
            out.contains(
                "* port 80 is free here; in network namespace blue tcp *:80 is held by 2000 python3"
            ),
            "{out}"
        );
        let (code, _, _) = run_on(&fake, &["--netns", "all", ":80"]);
        assert_eq!(code, ExitCode::Matched);
    }

    #[test]
    fn forwards_lists_the_proxies_with_where_they_go() {
        let fake = containers();
        let (code, out, _) = run_on(&fake, &["--forwards", "--json"]);
        assert_eq!(code, ExitCode::Matched);
        let records: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            records,
            serde_json::json!([{
                "proto": "tcp", "host_addr": "127.0.0.1", "host_port": 8080,
                "to_addr": "172.17.0.2", "to_port": 80, "via": "docker-proxy", "rule": null,
                "netns": {"inode": 7, "name": null},
                "container": {"runtime": "docker", "id": "b97356f8084b8ac5", "name": "web",
                              "image": "nginx:1.25", "pod": null, "namespace": null},
                "processes": records[0]["processes"].clone(),
            }])
        );
        assert_eq!(records[0]["processes"][0]["pid"], 1499);
        let (code, out, _) = run_on(&fake, &["--forwards", ":9090"]);
        assert_eq!((code, out.as_str()), (ExitCode::NoMatch, ""));
        let (_, out, _) = run_on(&fake, &["--forwards"]);
        assert!(out.starts_with("PROTO  HOST            TO  "), "{out}");
        assert!(
            out.contains("docker-proxy  container web  1499/httpd  -"),
            "{out}"
        );
    }

    #[test]
    fn only_listeners_beyond_loopback_get_a_firewall_verdict() {
        let fake = server();
        fake.add_socket(socket("0.0.0.0:5432", State::Listen, 5));
        let (_, out, _) = run_on(&fake, &["--json"]);
        let records: serde_json::Value = serde_json::from_str(&out).unwrap();
        let by_port = |port: u64| {
            records
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["local_port"] == port)
                .unwrap()
                .clone()
        };
        assert_eq!(
            by_port(8080)["firewall"],
            serde_json::Value::Null,
            "loopback"
        );
        assert_eq!(by_port(5432)["firewall"]["verdict"], "accept");
        assert_eq!(by_port(5432)["firewall"]["rule"], serde_json::Value::Null);
        assert_eq!(by_port(5432)["firewall"]["reason"], "no firewall rules");
    }

    #[test]
    fn a_ruleset_that_cannot_be_read_gives_unknown_verdicts_with_why() {
        use crate::model::NoRuleset;
        let fake = server();
        fake.add_socket(socket("0.0.0.0:5432", State::Listen, 5));
        fake.spawn(77, "postgres", &[5]);
        fake.set_ruleset(0, Err(NoRuleset::NotPermitted));
        let (_, out, _) = run_on(&fake, &["--json", ":5432"]);
        let records: serde_json::Value = serde_json::from_str(&out).unwrap();
        let f = &records[0]["firewall"];
        assert_eq!(f["verdict"], "unknown");
        assert!(f["reason"].as_str().unwrap().contains("run as root"), "{f}");
        fake.set_ruleset(0, Err(NoRuleset::LegacyIptables));
        let (_, out, _) = run_on(&fake, &[":5432"]);
        assert!(out.contains("  firewall unknown: legacy iptables"), "{out}");
    }
}
