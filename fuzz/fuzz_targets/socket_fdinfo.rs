//! macOS's libproc records: a `socket_fdinfo` (`proc_pidfdinfo(PROC_PIDFDSOCKETINFO)`) and a
//! `proc_fdinfo` list (`proc_pidinfo(PROC_PIDLISTFDS)`). Any bytes must decode or be
//! refused, never panic; what decodes is consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portwho::fuzzing::{
    Family, Fd, PROC_FDINFO_SIZE, Proto, SOCKET_FDINFO_SIZE, decode_socket, socket_fds,
};

fuzz_target!(|data: &[u8]| {
    match decode_socket(data) {
        Err(short) => assert!(data.len() < SOCKET_FDINFO_SIZE, "{short}"),
        Ok(Fd::Ip(s)) => {
            assert!(data.len() >= SOCKET_FDINFO_SIZE);
            assert!(s.inode >> 63 == 1, "the key is no inode");
            if let Some(remote) = s.remote {
                assert_eq!(Family::of(remote.ip()), Family::of(s.local.ip()));
                assert!(!(remote.port() == 0 && remote.ip().is_unspecified()));
            }
            if s.proto == Proto::Udp {
                assert_eq!(s.state.as_str() == "UNCONN", s.remote.is_none());
            }
            assert_eq!(s.v6only.is_some(), Family::of(s.local.ip()) == Family::Ipv6);
        }
        Ok(Fd::UnknownState { key }) => assert!(key >> 63 == 1),
        Ok(Fd::Other) => {}
    }
    assert!(socket_fds(data).len() <= data.len() / PROC_FDINFO_SIZE);
});
