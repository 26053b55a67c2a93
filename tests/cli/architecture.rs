//! The rules of ARCHITECTURE.md, read off the source: who may use whom, and no cycles.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers that take data and return data: they never name the backend, the gathering
/// step, the actions or the composition root, and do no I/O of their own.
const PURE: &[&str] = &[
    "model", "text", "hash", "target", "filter", "join", "forward", "firewall", "label",
    "diagnose", "diff", "render", "exit", "signal",
];

/// What only the composition root (lib.rs, list.rs, config.rs), the gathering step and the
/// actions may name.
const COMPOSITION: &[&str] = &[
    "backend", "gather", "action", "list", "config", "cli", "generate", "messages", "watch",
    "output", "parts",
];

/// Each top-level module of `src/` (a file or a directory), with the text of its files,
/// test modules cut off: tests may build what they like.
fn modules() -> BTreeMap<String, Vec<(PathBuf, String)>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules: BTreeMap<String, Vec<(PathBuf, String)>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&src).unwrap();
            let first = relative.components().next().unwrap().as_os_str();
            let name = first.to_str().unwrap().trim_end_matches(".rs").to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            let code = match text.find("#[cfg(test)]\nmod tests") {
                Some(at) => text[..at].to_string(),
                None => text,
            };
            modules.entry(name).or_default().push((path, code));
        }
    }
    modules
}

/// The top-level modules a text names through `crate::`.
fn uses(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    modules()
        .into_iter()
        .map(|(name, files)| {
            let mut used: BTreeSet<String> = files.iter().flat_map(|(_, t)| uses(t)).collect();
            used.remove(&name);
            (name, used)
        })
        .collect()
}

#[test]
fn pure_layers_never_name_the_backend_or_the_composition_root() {
    let graph = graph();
    for pure in PURE {
        let used = graph
            .get(*pure)
            .unwrap_or_else(|| panic!("no module {pure}"));
        let wrong: Vec<&String> = used
            .iter()
            .filter(|u| COMPOSITION.contains(&u.as_str()))
            .collect();
        assert!(
            wrong.is_empty(),
            "{pure} uses {wrong:?}: see ARCHITECTURE.md"
        );
    }
}

#[test]
fn pure_layers_do_no_io() {
    for (name, files) in modules() {
        if !PURE.contains(&name.as_str()) {
            continue;
        }
        for (path, text) in files {
            for io in [
                "std::fs",
                "std::env",
                "std::net::TcpStream",
                "std::thread",
                "Command",
            ] {
                assert!(
                    !text.contains(io),
                    "{} uses {io}: only backend/ reads the system",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn only_the_gathering_step_reads_sockets_and_owners() {
    for (name, files) in modules() {
        if name == "gather" || name == "backend" {
            continue;
        }
        for (path, text) in files {
            for call in [
                ".sockets(&",
                ".owners(&",
                ".processes(&",
                ".prepare_owners(",
            ] {
                assert!(
                    !text.contains(&format!("backend{call}")),
                    "{} calls backend{call}: read through gather::Snapshot",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn model_stands_alone() {
    let graph = graph();
    let used: Vec<&String> = graph["model"].iter().filter(|u| *u != "hash").collect();
    assert!(
        used.is_empty(),
        "model/ uses {used:?}: it must use no other layer"
    );
}

#[test]
fn the_generated_service_table_does_not_use_its_reader() {
    let table = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/label/services_table.rs");
    let text = std::fs::read_to_string(table).unwrap();
    assert!(text.contains("@generated by tools/gen-services.py"));
    assert!(
        !text.contains("services::"),
        "a cycle with label/services.rs"
    );
}

#[test]
fn no_cycle_between_modules() {
    let graph = graph();
    // Kahn's algorithm: what cannot be ordered lies on a cycle. lib.rs declares every
    // module and is left out.
    let nodes: BTreeSet<&String> = graph
        .keys()
        .filter(|n| *n != "lib" && *n != "main")
        .collect();
    let mut indegree: BTreeMap<&String, usize> = nodes.iter().map(|n| (*n, 0)).collect();
    for n in &nodes {
        for d in graph[*n].iter().filter(|d| nodes.contains(d)) {
            *indegree.get_mut(d).unwrap() += 1;
        }
    }
    let mut ready: Vec<&String> = indegree
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(n, _)| *n)
        .collect();
    let mut ordered = 0;
    while let Some(n) = ready.pop() {
        ordered += 1;
        for d in graph[n].iter().filter(|d| nodes.contains(d)) {
            let left = indegree.get_mut(d).unwrap();
            *left -= 1;
            if *left == 0 {
                ready.push(nodes.get(d).unwrap());
            }
        }
    }
    let cyclic: Vec<&&String> = indegree
        .iter()
        .filter(|(_, d)| **d > 0)
        .map(|(n, _)| n)
        .collect();
    assert_eq!(ordered, nodes.len(), "modules on a cycle: {cyclic:?}");
}

#[test]
fn only_the_backend_switches_on_the_platform() {
    // Above `backend/`, the code is the same on every platform; lib.rs lists the Linux
    // parsers for the fuzz targets, and the model marks its few Linux-only variants as not
    // dead elsewhere.
    let switches = |line: &str| {
        line.contains("cfg")
            && ["target_os", "windows", "unix"]
                .iter()
                .any(|os| line.contains(os))
    };
    for (name, files) in modules() {
        for (path, text) in files {
            for line in text.lines().map(str::trim).filter(|l| switches(l)) {
                let allowed = name == "backend"
                    || name == "lib"
                    || (name == "model"
                        && line == "#[cfg_attr(not(target_os = \"linux\"), allow(dead_code))]");
                assert!(
                    allowed,
                    "{} switches on the platform ({line}): only backend/ may, see ARCHITECTURE.md",
                    path.display()
                );
            }
        }
    }
}
