//! TARGET arguments, as typed by a user or pasted from anywhere.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portwho::fuzzing::Proto;
use portwho::fuzzing::escape;
use portwho::fuzzing::parse_target as parse;

fn services(name: &str) -> Vec<(Proto, u16)> {
    match name {
        "http" => vec![(Proto::Tcp, 80), (Proto::Udp, 80)],
        "ntp" => vec![(Proto::Udp, 123)],
        "odd" => vec![(Proto::Tcp, 1), (Proto::Udp, 2)],
        _ => Vec::new(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    match parse(input, &services) {
        Ok(targets) => {
            assert!(!targets.is_empty());
            for t in targets {
                assert!(t.ports.start() <= t.ports.end());
            }
        }
        Err(e) => {
            // main prints errors escaped: whatever the input, the user sees one line.
            let shown = escape(&e.to_string()).into_owned();
            assert!(!shown.contains('\n') && !shown.contains('\r'), "{shown:?}");
            assert!(shown.contains("expected PORT"));
        }
    }
});
