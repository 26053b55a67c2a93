//! Container runtimes' state files: docker's `config.v2.json` and `hostconfig.json`, an OCI
//! bundle's `config.json` and `init.pid`, containers/storage's `containers.json`. Root
//! writes them, but a captured tree can hold anything, and a crash can leave them cut.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portwho::fuzzing::{
    Parsed, parse_containerd, parse_docker, parse_podman, parse_podman_list,
};

/// What every parser promises of what it keeps.
fn check(parsed: &Parsed) {
    let state = &parsed.state;
    assert!(!state.id.is_empty());
    assert!(state.pid != Some(0));
    assert!(parsed.skipped <= 2);
    for text in [&state.name, &state.image, &state.pod, &state.network_mode] {
        assert!(text.as_ref().is_none_or(|t| !t.is_empty()));
    }
    assert!(state.ports.iter().all(|p| p.host_port != 0));
    assert!(state.ports.windows(2).all(|w| w[0] != w[1]));
    assert!(state.ports.iter().all(|p| p.host_addr.is_none_or(|a| !a.is_unspecified())));
}

fuzz_target!(|data: &[u8]| {
    // The same bytes as each file of a container: the secondary files (hostconfig.json,
    // init.pid, the spec and pidfile of a storage entry) then are garbage as often as not.
    if let Ok(parsed) = parse_docker(data, Some(data)) {
        check(&parsed);
        assert!(!parsed.state.name.as_deref().is_some_and(|n| n.starts_with('/')));
    }
    if let Ok(parsed) = parse_docker(data, None) {
        check(&parsed);
        assert_eq!(parsed.skipped, 0);
    }
    if let Ok(parsed) = parse_containerd("fuzz", data, Some(data)) {
        check(&parsed);
        assert_eq!(parsed.state.id, "fuzz");
    }
    if let Ok(entries) = parse_podman_list(data) {
        for entry in &entries {
            if let Ok(parsed) = parse_podman(entry, Some(data), Some(data)) {
                check(&parsed);
            }
        }
    }
});
