//! What portwho reads of a process: comm, cmdline and stat (its own decoders) and status
//! (procfs's parser, as `process::read` calls it). A process writes its own name and
//! arguments, and status and stat carry that name too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portwho::fuzzing::{decode_cmdline, decode_comm, parse_stat};
use procfs::FromRead;
use procfs::process::Status;

fuzz_target!(|data: &[u8]| {
    let comm = decode_comm(data);
    assert!(comm.len() <= data.len() * 3);
    let args = decode_cmdline(data);
    if !data.is_empty() {
        let nuls = data.iter().filter(|&&b| b == 0).count();
        assert!(args.len() == nuls || args.len() == nuls + 1);
    }
    if let Some(stat) = parse_stat(data) {
        assert!(stat.ppid != Some(0));
    }
    let _ = Status::from_read(data);
});
