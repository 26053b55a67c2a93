//! A docker-proxy command line, NUL-separated as `/proc/PID/cmdline` holds it; any process
//! can name itself docker-proxy and pass anything.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portwho::fuzzing::decode_cmdline;
use portwho::fuzzing::docker_proxy_target;

fuzz_target!(|data: &[u8]| {
    let args = decode_cmdline(data);
    // The target's fields are typed (protocol, addresses, ports), so what is left to check
    // is that only a program named docker-proxy gives one.
    if docker_proxy_target(&args).is_some() {
        assert!(args.first().is_some_and(|p| p.ends_with("docker-proxy")));
    }
});
