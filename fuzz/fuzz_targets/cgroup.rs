//! `/proc/PID/cgroup`: cgroup names are chosen by whoever created the cgroup.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portwho::fuzzing::parse_cgroup as parse;

fuzz_target!(|data: &[u8]| {
    let manager = parse(&String::from_utf8_lossy(data));
    if let Some(c) = manager.container {
        assert!(!c.id.is_empty());
    }
});
