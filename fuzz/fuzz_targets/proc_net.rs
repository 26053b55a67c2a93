//! `/proc/net/{tcp,tcp6,udp,udp6}`: a table the kernel writes, read back as text; a line cut
//! mid-read or a future column layout must be skipped and counted, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portwho::fuzzing::Proto;
use portwho::fuzzing::{parse_line, parse_table};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for proto in [Proto::Tcp, Proto::Udp] {
        let parsed = parse_table(&text, proto);
        let lines = text
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .count();
        assert_eq!(parsed.sockets.len() + parsed.bad_lines, lines);
        for line in text.lines() {
            if let Some(socket) = parse_line(line, proto) {
                assert_eq!(socket.proto, proto);
                // Both ends of one socket are of one family.
                if let Some(remote) = socket.remote {
                    assert_eq!(socket.local.is_ipv4(), remote.is_ipv4());
                }
            }
        }
    }
});
