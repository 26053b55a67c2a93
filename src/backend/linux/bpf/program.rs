//! The iterator program, assembled from the layout of the running kernel, and the records
//! it writes.
//!
//! The kernel calls the program once for each open file of each process (a thread with
//! its own fd table counts as its process). For a socket it writes one record: the
//! socket's inode number, the process id, and what the table and the findings need of the
//! process (its name, parent, start, effective uid, and whether its executable was
//! deleted), which otherwise cost a `/proc` read or two a process. Other files are
//! skipped. Nothing is written anywhere else: the program can
//! only read.

use super::btf::Layout;

/// One BPF instruction, encoded as the kernel reads it on a little-endian machine:
/// opcode, destination and source registers (a nibble each), 16-bit offset, 32-bit
/// immediate.
pub(crate) type Insn = u64;

/// Bytes per record, in native byte order: the inode (u64), the process id (u32), its
/// parent's (u32), its start in nanoseconds after boot (u64), its effective uid (u32),
/// flags (u32: `EXE_DELETED`), its name (16 bytes, NUL-padded), then five addresses
/// (u64) that say which processes share what `/proc` would tell of each: its set of
/// cgroups, its executable's dentry and mount, its working directory's dentry and mount.
pub(crate) const RECORD_LEN: usize = 88;

/// The `bpf_seq_write` helper: append bytes to the iterator's output.
const HELPER_SEQ_WRITE: i32 = 127;

/// The iterator context: `struct bpf_iter__task_file { meta; task; fd; file; }`, each
/// member in an 8-byte slot.
const CTX_META: i16 = 0;
const CTX_TASK: i16 = 8;
const CTX_FILE: i16 = 24;
/// `struct bpf_iter_meta` starts with the `seq_file` the output goes to.
const META_SEQ: i16 = 0;

const S_IFMT: i32 = 0o170000;
const S_IFSOCK: i32 = 0o140000;

/// Where each field of the record is built on the stack, below the frame pointer.
const AT_INODE: i16 = -88;
const AT_PID: i16 = -80;
const AT_PPID: i16 = -76;
const AT_START: i16 = -72;
const AT_EUID: i16 = -64;
const AT_FLAGS: i16 = -60;
const AT_COMM: i16 = -56;
const AT_CGROUPS: i16 = -40;
const AT_EXE_DENTRY: i16 = -32;
const AT_EXE_MNT: i16 = -24;
const AT_CWD_DENTRY: i16 = -16;
const AT_CWD_MNT: i16 = -8;

/// The flag of a process whose executable was removed or replaced on disk.
const EXE_DELETED: u32 = 1;

// Registers.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;
const R6: u8 = 6;
const R7: u8 = 7;
const R8: u8 = 8;
const R9: u8 = 9;
const FP: u8 = 10;

// Opcodes.
const LDX_DW: u8 = 0x79;
const LDX_W: u8 = 0x61;
const LDX_H: u8 = 0x69;
const STX_DW: u8 = 0x7b;
const STX_W: u8 = 0x63;
const MOV64_REG: u8 = 0xbf;
const MOV64_IMM: u8 = 0xb7;
const ADD64_IMM: u8 = 0x07;
const AND64_IMM: u8 = 0x57;
const JEQ_IMM: u8 = 0x15;
const JNE_IMM: u8 = 0x55;
const JEQ_REG: u8 = 0x1d;
const CALL: u8 = 0x85;
const EXIT: u8 = 0x95;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    u64::from(code)
        | u64::from(dst | (src << 4)) << 8
        | u64::from(off as u16) << 16
        | u64::from(imm as u32) << 32
}

/// An instruction that may jump to the end, patched once the end is known.
enum Step {
    Plain(Insn),
    /// `if dst <op> imm goto end`
    ToEnd {
        code: u8,
        dst: u8,
        imm: i32,
    },
}

/// Struct offsets from BTF are small; one that does not fit an instruction's 16-bit offset
/// is not a layout the program can use.
pub(crate) fn offset(value: u32) -> Option<i16> {
    i16::try_from(value).ok()
}

/// The program for `layout`, or `None` when an offset does not fit an instruction.
pub(crate) fn task_file(layout: &Layout) -> Option<Vec<Insn>> {
    use Step::{Plain, ToEnd};
    let file_inode = offset(layout.file_inode)?;
    let inode_mode = offset(layout.inode_mode)?;
    let inode_ino = offset(layout.inode_ino)?;
    let task_tgid = offset(layout.task_tgid)?;
    let leader = offset(layout.task_group_leader)?;
    let parent = offset(layout.task_real_parent)?;
    let start = offset(layout.task_start_boottime)?;
    let comm = offset(layout.task_comm)?;
    let comm_end = offset(layout.task_comm.checked_add(8)?)?;
    let cred = offset(layout.task_cred)?;
    let euid = offset(layout.cred_euid)?;
    let mm = offset(layout.task_mm)?;
    let exe_file = offset(layout.mm_exe_file)?;
    let dentry = offset(layout.file_path.checked_add(layout.path_dentry)?)?;
    let mnt = offset(layout.file_path.checked_add(layout.path_mnt)?)?;
    let cgroups = offset(layout.task_cgroups)?;
    let fs = offset(layout.task_fs)?;
    let pwd_dentry = offset(layout.fs_pwd.checked_add(layout.path_dentry)?)?;
    let pwd_mnt = offset(layout.fs_pwd.checked_add(layout.path_mnt)?)?;
    let pprev = offset(layout.dentry_hash.checked_add(layout.hash_pprev)?)?;
    let dentry_parent = offset(layout.dentry_parent)?;
    // `dst = *(size *)(src + off)` then `*(size *)(fp + at) = dst`, through r3.
    let copy = |load: u8, store: u8, src: u8, off: i16, at: i16| {
        [
            Plain(insn(load, R3, src, off, 0)),
            Plain(insn(store, FP, R3, at, 0)),
        ]
    };
    let head = [
        Plain(insn(MOV64_REG, R6, R1, 0, 0)),
        // file and task are NULL in the call that ends the iteration.
        Plain(insn(LDX_DW, R7, R6, CTX_FILE, 0)),
        ToEnd {
            code: JEQ_IMM,
            dst: R7,
            imm: 0,
        },
        Plain(insn(LDX_DW, R8, R6, CTX_TASK, 0)),
        ToEnd {
            code: JEQ_IMM,
            dst: R8,
            imm: 0,
        },
        Plain(insn(LDX_DW, R2, R7, file_inode, 0)),
        ToEnd {
            code: JEQ_IMM,
            dst: R2,
            imm: 0,
        },
        // Sockets only: (inode->i_mode & S_IFMT) == S_IFSOCK.
        Plain(insn(LDX_H, R3, R2, inode_mode, 0)),
        Plain(insn(AND64_IMM, R3, 0, 0, S_IFMT)),
        ToEnd {
            code: JNE_IMM,
            dst: R3,
            imm: S_IFSOCK,
        },
    ];
    // The record on the stack. Loads through the task's pointers are checked against
    // BTF by the verifier and cannot fault (a bad one reads zero).
    let record = [
        copy(LDX_DW, STX_DW, R2, inode_ino, AT_INODE),
        copy(LDX_W, STX_W, R8, task_tgid, AT_PID),
    ];
    let leader_of_task = [Plain(insn(LDX_DW, R9, R8, leader, 0))];
    let of_leader = [
        copy(LDX_DW, STX_DW, R9, start, AT_START),
        copy(LDX_DW, STX_DW, R9, comm, AT_COMM),
        copy(LDX_DW, STX_DW, R9, comm_end, AT_COMM + 8),
    ];
    let through = [
        // parent->tgid
        Plain(insn(LDX_DW, R2, R9, parent, 0)),
        Plain(insn(LDX_W, R3, R2, task_tgid, 0)),
        Plain(insn(STX_W, FP, R3, AT_PPID, 0)),
        // cred->euid
        Plain(insn(LDX_DW, R2, R9, cred, 0)),
        Plain(insn(LDX_W, R3, R2, euid, 0)),
        Plain(insn(STX_W, FP, R3, AT_EUID, 0)),
        // The executable: mm->exe_file (0 for a kernel thread, which has no mm: a load
        // through 0 reads 0), its path's mount and dentry, the dentry's hash link and
        // its parent.
        Plain(insn(LDX_DW, R2, R9, mm, 0)),
        Plain(insn(LDX_DW, R2, R2, exe_file, 0)),
        Plain(insn(LDX_DW, R3, R2, mnt, 0)),
        Plain(insn(STX_DW, FP, R3, AT_EXE_MNT, 0)),
        Plain(insn(LDX_DW, R2, R2, dentry, 0)),
        Plain(insn(STX_DW, FP, R2, AT_EXE_DENTRY, 0)),
        Plain(insn(LDX_DW, R3, R2, pprev, 0)),
        Plain(insn(LDX_DW, R4, R2, dentry_parent, 0)),
        // Deleted as d_unlinked() tells it: unhashed, and not a root (its own parent).
        Plain(insn(MOV64_IMM, R5, 0, 0, 0)),
        Plain(insn(JEQ_IMM, R2, 0, 3, 0)),
        Plain(insn(JNE_IMM, R3, 0, 2, 0)),
        Plain(insn(JEQ_REG, R4, R2, 1, 0)),
        Plain(insn(MOV64_IMM, R5, 0, 0, EXE_DELETED as i32)),
        Plain(insn(STX_W, FP, R5, AT_FLAGS, 0)),
        // The set of cgroups; the working directory: fs->pwd's dentry and mount.
        Plain(insn(LDX_DW, R3, R9, cgroups, 0)),
        Plain(insn(STX_DW, FP, R3, AT_CGROUPS, 0)),
        Plain(insn(LDX_DW, R2, R9, fs, 0)),
        Plain(insn(LDX_DW, R3, R2, pwd_dentry, 0)),
        Plain(insn(STX_DW, FP, R3, AT_CWD_DENTRY, 0)),
        Plain(insn(LDX_DW, R3, R2, pwd_mnt, 0)),
        Plain(insn(STX_DW, FP, R3, AT_CWD_MNT, 0)),
    ];
    let write = [
        // bpf_seq_write(ctx->meta->seq, fp + AT_INODE, RECORD_LEN)
        Plain(insn(LDX_DW, R1, R6, CTX_META, 0)),
        Plain(insn(LDX_DW, R1, R1, META_SEQ, 0)),
        Plain(insn(MOV64_REG, R2, FP, 0, 0)),
        Plain(insn(ADD64_IMM, R2, 0, 0, i32::from(AT_INODE))),
        Plain(insn(MOV64_IMM, R3, 0, 0, RECORD_LEN as i32)),
        Plain(insn(CALL, 0, 0, 0, HELPER_SEQ_WRITE)),
    ];
    let steps: Vec<Step> = head
        .into_iter()
        .chain(record.into_iter().flatten())
        .chain(leader_of_task)
        .chain(of_leader.into_iter().flatten())
        .chain(through)
        .chain(write)
        .collect();
    // The end: return 0 (go on with the next file).
    let end = steps.len();
    let mut program: Vec<Insn> = steps
        .iter()
        .enumerate()
        .map(|(i, step)| match *step {
            Plain(insn) => insn,
            // A jump's offset counts from the instruction after it.
            ToEnd { code, dst, imm } => insn(code, dst, 0, (end - i - 1) as i16, imm),
        })
        .collect();
    program.push(insn(MOV64_IMM, R0, 0, 0, 0));
    program.push(insn(EXIT, 0, 0, 0, 0));
    Some(program)
}

/// What a record says of the process holding the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Task {
    /// 0 for a process without one (pid 1, kernel threads).
    pub ppid: u32,
    /// Nanoseconds from boot to the process's start.
    pub start_ns: u64,
    pub euid: u32,
    /// Whether its executable was removed or replaced on disk.
    pub exe_deleted: bool,
    /// The name, NUL-padded.
    pub comm: [u8; 16],
    /// Which processes share their `/proc/PID/cgroup` (the same set of cgroups), their
    /// `exe` and their `cwd` (the same dentry on the same mount): kernel addresses, 0
    /// where there is none, compared and never shown.
    pub cgroups: u64,
    pub exe: (u64, u64),
    pub cwd: (u64, u64),
}

impl Task {
    /// The name's bytes, without the padding.
    pub(crate) fn name(&self) -> &[u8] {
        let len = memchr::memchr(0, &self.comm).unwrap_or(self.comm.len());
        &self.comm[..len]
    }
}

/// One record: a socket's inode, the pid holding it, and that process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record {
    pub inode: u64,
    pub pid: u32,
    pub task: Task,
}

/// The records in whole records of `bytes`; what follows the last whole record is left
/// for the next read.
pub(crate) fn records(bytes: &[u8]) -> impl Iterator<Item = Record> + '_ {
    // A field's place in the record: its place on the stack, counted from the record's start.
    let at = |field: i16| field.abs_diff(AT_INODE) as usize;
    bytes.chunks_exact(RECORD_LEN).map(move |r| {
        let bytes = |field: i16, len: usize| &r[at(field)..at(field) + len];
        let u32_at = |field| u32::from_ne_bytes(bytes(field, 4).try_into().unwrap_or_default());
        let u64_at = |field| u64::from_ne_bytes(bytes(field, 8).try_into().unwrap_or_default());
        Record {
            inode: u64_at(AT_INODE),
            pid: u32_at(AT_PID),
            task: Task {
                ppid: u32_at(AT_PPID),
                start_ns: u64_at(AT_START),
                euid: u32_at(AT_EUID),
                exe_deleted: u32_at(AT_FLAGS) & EXE_DELETED != 0,
                comm: bytes(AT_COMM, 16).try_into().unwrap_or_default(),
                cgroups: u64_at(AT_CGROUPS),
                exe: (u64_at(AT_EXE_DENTRY), u64_at(AT_EXE_MNT)),
                cwd: (u64_at(AT_CWD_DENTRY), u64_at(AT_CWD_MNT)),
            },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            iter_func: 1,
            file_inode: 32,
            inode_mode: 0,
            inode_ino: 64,
            task_tgid: 1268,
            task_group_leader: 1280,
            task_real_parent: 1288,
            task_start_boottime: 1400,
            task_comm: 1600,
            task_cred: 1500,
            cred_euid: 20,
            task_mm: 1000,
            mm_exe_file: 900,
            file_path: 40,
            path_dentry: 8,
            dentry_hash: 16,
            hash_pprev: 8,
            dentry_parent: 24,
            path_mnt: 0,
            task_cgroups: 1100,
            task_fs: 1200,
            fs_pwd: 32,
        }
    }

    fn code(insn: Insn) -> u8 {
        insn as u8
    }

    fn off(insn: Insn) -> i16 {
        (insn >> 16) as u16 as i16
    }

    #[test]
    fn every_jump_lands_on_the_return_or_the_flags() {
        let program = task_file(&layout()).unwrap();
        let end = program.len() - 2;
        assert_eq!(program[end], insn(MOV64_IMM, R0, 0, 0, 0));
        assert_eq!(code(program[end + 1]), EXIT);
        let flags = program
            .iter()
            .position(|&i| code(i) == STX_W && off(i) == AT_FLAGS)
            .unwrap();
        // Set only when no jump skips it.
        assert_eq!(program[flags - 1], insn(MOV64_IMM, R5, 0, 0, 1));
        let jumps: Vec<usize> = (0..program.len())
            .filter(|&i| matches!(code(program[i]), JEQ_IMM | JNE_IMM | JEQ_REG))
            .collect();
        assert_eq!(jumps.len(), 7);
        let (to_end, to_flags): (Vec<usize>, Vec<usize>) = jumps
            .iter()
            .map(|&i| (i as i64 + 1 + i64::from(off(program[i]))) as usize)
            .partition(|&to| to == end);
        assert_eq!(to_end.len(), 4);
        assert_eq!(to_flags, [flags; 3]);
    }

    #[test]
    fn offsets_come_from_the_layout() {
        let program = task_file(&layout()).unwrap();
        let loads = |opcode: u8| -> Vec<i16> {
            program
                .iter()
                .filter(|&&i| code(i) == opcode)
                .map(|&i| off(i))
                .collect()
        };
        assert_eq!(loads(LDX_H), [0]);
        // The pid, the parent's pid, the user.
        assert_eq!(loads(LDX_W), [1268, 1268, 20]);
        let mut wide = loads(LDX_DW);
        wide.sort_unstable();
        // ctx->meta, ->task, ->file, meta->seq; f_inode, i_ino; the leader, its start,
        // name (two halves), parent and cred; mm, exe_file, f_path.mnt, f_path.dentry,
        // d_hash.pprev, d_parent; cgroups; fs, pwd.mnt, pwd.dentry.
        assert_eq!(
            wide,
            [
                0, 0, 8, 24, 24, 24, 32, 32, 40, 40, 48, 64, 900, 1000, 1100, 1200, 1280, 1288,
                1400, 1500, 1600, 1608
            ]
        );
        // Encoding: opcode, dst | src << 4, offset, immediate.
        assert_eq!(insn(LDX_W, 5, R8, 1268, 0), 0x61 | 0x85 << 8 | 1268 << 16);
        assert_eq!(
            insn(ADD64_IMM, R2, 0, 0, -16),
            0x07 | 0x02 << 8 | 0xffff_fff0 << 32
        );

        let too_far = Layout {
            task_tgid: 40_000,
            ..layout()
        };
        assert_eq!(task_file(&too_far), None);
        // The name's second half is 8 bytes further.
        let name_at_the_edge = Layout {
            task_comm: i16::MAX as u32 - 4,
            ..layout()
        };
        assert_eq!(task_file(&name_at_the_edge), None);
    }

    /// Every byte of the record is written on the stack before it is handed over (the
    /// verifier refuses a read of stack never written), each field where `records`
    /// decodes it.
    #[test]
    fn the_record_is_built_whole_on_the_stack() {
        let program = task_file(&layout()).unwrap();
        let mut written = [false; RECORD_LEN];
        for &i in &program {
            let width = match code(i) {
                STX_DW => 8,
                STX_W => 4,
                _ => continue,
            };
            assert_eq!((i >> 8) & 0xf, u64::from(FP));
            let at = off(i).abs_diff(AT_INODE) as usize;
            for byte in &mut written[at..at + width] {
                assert!(!*byte, "byte {at} written twice");
                *byte = true;
            }
        }
        assert!(written.iter().all(|&w| w));
    }

    #[test]
    fn records_are_inode_pid_parent_start_user_name_and_what_is_shared() {
        let mut bytes = Vec::new();
        let mut want = Vec::new();
        for (inode, pid, ppid, start_ns, euid, name) in [
            (
                4242u64,
                7u32,
                1u32,
                12_345_678_901u64,
                1000u32,
                &b"nginx"[..],
            ),
            (
                u64::MAX,
                u32::MAX,
                0,
                u64::MAX,
                u32::MAX,
                b"0123456789abcdef",
            ),
        ] {
            bytes.extend_from_slice(&inode.to_ne_bytes());
            bytes.extend_from_slice(&pid.to_ne_bytes());
            bytes.extend_from_slice(&ppid.to_ne_bytes());
            bytes.extend_from_slice(&start_ns.to_ne_bytes());
            bytes.extend_from_slice(&euid.to_ne_bytes());
            let exe_deleted = pid == 7;
            bytes.extend_from_slice(&u32::from(exe_deleted).to_ne_bytes());
            let mut comm = [0; 16];
            comm[..name.len()].copy_from_slice(name);
            bytes.extend_from_slice(&comm);
            let shared = [u64::from(pid) << 8, 1, 2, 3, 4].map(|n| n ^ inode);
            for n in shared {
                bytes.extend_from_slice(&n.to_ne_bytes());
            }
            let task = Task {
                ppid,
                start_ns,
                euid,
                exe_deleted,
                comm,
                cgroups: shared[0],
                exe: (shared[1], shared[2]),
                cwd: (shared[3], shared[4]),
            };
            assert_eq!(task.name(), name);
            want.push(Record { inode, pid, task });
        }
        // A record cut short by the end of a read is not decoded.
        bytes.extend_from_slice(&[1, 2, 3]);
        let read: Vec<Record> = records(&bytes).collect();
        assert_eq!(read, want);
    }
}
