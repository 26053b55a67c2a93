//! A docker-proxy command line, NUL-separated as `/proc/PID/cmdline` holds it; any process
//! can name itself docker-proxy and pass anything.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portwho::backend::linux::cgroup::docker_proxy_target;
use portwho::backend::linux::process::decode_cmdline;

fuzz_target!(|data: &[u8]| {
    let args = decode_cmdline(data);
    if let Some(t) = docker_proxy_target(&args) {
        assert!(!t.proto.is_empty() && !t.host_ip.is_empty() && !t.container_ip.is_empty());
    }
});
