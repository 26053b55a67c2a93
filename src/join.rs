//! Joining sockets to their holders, and the order rows are shown in.

use std::cmp::Reverse;

use std::collections::HashMap;

use crate::backend::Owners;
use crate::model::Socket;

/// Pair each socket with the details of every process that holds it. A holder whose details
/// are missing exited after the scan and no longer holds anything, so it is left out.
///
/// The listing passes `Arc<Process>`es: one process may hold thousands of sockets, and a
/// copy of its details for each would dominate the memory portwho needs.
pub fn holders<P: Clone>(socket: &Socket, owners: &Owners, details: &HashMap<u32, P>) -> Vec<P> {
    owners
        .by_inode
        .get(&socket.inode)
        .into_iter()
        .flatten()
        .filter_map(|pid| details.get(pid).cloned())
        .collect()
}

/// Pids holding a socket, without their details.
pub fn holder_pids<'a>(socket: &Socket, owners: &'a Owners) -> &'a [u32] {
    owners
        .by_inode
        .get(&socket.inode)
        .map_or(&[], Vec::as_slice)
}

/// Listeners first, then by port, protocol, family, address and peer, so that output is
/// stable from run to run.
///
/// The key ends with the inode, so no two sockets tie (TIME_WAIT sockets, all inode 0,
/// differ in their address pairs) and an unstable sort gives the same order as a stable
/// one, without the stable sort's scratch copy of every socket.
pub fn sort(sockets: &mut [Socket]) {
    sockets.sort_unstable_by_key(|s| {
        (
            Reverse(s.state.is_listening()),
            s.local.port(),
            s.proto,
            s.family(),
            s.local.ip(),
            s.remote,
            s.state,
            s.inode,
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::ProcessDetails;
    use crate::model::{Process, Proto, State, testing};

    fn socket(local: &str, state: State, inode: u64) -> Socket {
        Socket {
            inode,
            ..testing::socket(local, Proto::Tcp, state)
        }
    }

    fn process(pid: u32) -> Process {
        Process {
            pid,
            name: format!("p{pid}"),
            cmdline: vec![],
            user: None,
            uid: Some(0),
            ..Process::default()
        }
    }

    #[test]
    fn every_holder_is_kept_and_vanished_ones_dropped() {
        let owners = Owners {
            by_inode: HashMap::from([(7, vec![10, 11, 12])]),
            ..Owners::default()
        };
        let details = ProcessDetails {
            processes: HashMap::from([(10, process(10)), (12, process(12))]),
            vanished: 1,
        };
        let s = socket("127.0.0.1:80", State::Listen, 7);
        let pids: Vec<u32> = holders(&s, &owners, &details.processes)
            .iter()
            .map(|p| p.pid)
            .collect();
        assert_eq!(pids, vec![10, 12]);
        assert_eq!(holder_pids(&s, &owners), &[10, 11, 12]);
        assert!(
            holders(
                &socket("127.0.0.1:81", State::TimeWait, 0),
                &owners,
                &details.processes
            )
            .is_empty()
        );
    }

    #[test]
    fn listeners_come_first() {
        let mut sockets = vec![
            socket("127.0.0.1:80", State::TimeWait, 0),
            socket("127.0.0.1:9000", State::Listen, 2),
            socket("127.0.0.1:80", State::Listen, 1),
        ];
        sort(&mut sockets);
        let order: Vec<(u16, State)> = sockets.iter().map(|s| (s.local.port(), s.state)).collect();
        assert_eq!(
            order,
            vec![
                (80, State::Listen),
                (9000, State::Listen),
                (80, State::TimeWait)
            ]
        );
    }
}
