//! The iterator program, assembled from the layout of the running kernel, and the records
//! it writes.
//!
//! The kernel calls the program once for each open file of each process (a thread with
//! its own fd table counts as its process). For a socket it writes one 12-byte record,
//! the socket's inode number and the process id, into the iterator's output; other files
//! are skipped. Nothing is written anywhere else: the program can only read.

use super::btf::Layout;

/// One BPF instruction, encoded as the kernel reads it on a little-endian machine:
/// opcode, destination and source registers (a nibble each), 16-bit offset, 32-bit
/// immediate.
pub(crate) type Insn = u64;

/// Bytes per record: the inode (u64) then the process id (u32), in native byte order.
pub(crate) const RECORD_LEN: usize = 12;

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
    let steps = [
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
        // The record on the stack: inode at fp-16, tgid at fp-8.
        Plain(insn(LDX_DW, R4, R2, inode_ino, 0)),
        Plain(insn(LDX_W, R5, R8, task_tgid, 0)),
        Plain(insn(STX_DW, FP, R4, -16, 0)),
        Plain(insn(STX_W, FP, R5, -8, 0)),
        // bpf_seq_write(ctx->meta->seq, fp - 16, RECORD_LEN)
        Plain(insn(LDX_DW, R1, R6, CTX_META, 0)),
        Plain(insn(LDX_DW, R1, R1, META_SEQ, 0)),
        Plain(insn(MOV64_REG, R2, FP, 0, 0)),
        Plain(insn(ADD64_IMM, R2, 0, 0, -16)),
        Plain(insn(MOV64_IMM, R3, 0, 0, RECORD_LEN as i32)),
        Plain(insn(CALL, 0, 0, 0, HELPER_SEQ_WRITE)),
    ];
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

/// The (inode, pid) pairs in whole records of `bytes`; what follows the last whole record
/// is left for the next read.
pub(crate) fn records(bytes: &[u8]) -> impl Iterator<Item = (u64, u32)> + '_ {
    bytes.chunks_exact(RECORD_LEN).map(|r| {
        let (inode, pid) = r.split_at(8);
        (
            u64::from_ne_bytes(inode.try_into().unwrap_or_default()),
            u32::from_ne_bytes(pid.try_into().unwrap_or_default()),
        )
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
        }
    }

    fn code(insn: Insn) -> u8 {
        insn as u8
    }

    fn off(insn: Insn) -> i16 {
        (insn >> 16) as u16 as i16
    }

    #[test]
    fn every_jump_lands_on_the_return() {
        let program = task_file(&layout()).unwrap();
        let end = program.len() - 2;
        assert_eq!(program[end], insn(MOV64_IMM, R0, 0, 0, 0));
        assert_eq!(code(program[end + 1]), EXIT);
        let jumps: Vec<usize> = (0..program.len())
            .filter(|&i| matches!(code(program[i]), JEQ_IMM | JNE_IMM))
            .collect();
        assert_eq!(jumps.len(), 4);
        for i in jumps {
            assert_eq!(i as i64 + 1 + i64::from(off(program[i])), end as i64);
        }
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
        assert_eq!(loads(LDX_W), [1268]);
        assert!(loads(LDX_DW).contains(&32) && loads(LDX_DW).contains(&64));
        // Encoding: opcode, dst | src << 4, offset, immediate.
        assert_eq!(insn(LDX_W, R5, R8, 1268, 0), 0x61 | 0x85 << 8 | 1268 << 16);
        assert_eq!(
            insn(ADD64_IMM, R2, 0, 0, -16),
            0x07 | 0x02 << 8 | 0xffff_fff0 << 32
        );

        let too_far = Layout {
            task_tgid: 40_000,
            ..layout()
        };
        assert_eq!(task_file(&too_far), None);
    }

    #[test]
    fn records_are_inode_then_pid() {
        let mut bytes = Vec::new();
        for (inode, pid) in [(4242u64, 7u32), (u64::MAX, u32::MAX)] {
            bytes.extend_from_slice(&inode.to_ne_bytes());
            bytes.extend_from_slice(&pid.to_ne_bytes());
        }
        // A record cut short by the end of a read is not decoded.
        bytes.extend_from_slice(&[1, 2, 3]);
        let read: Vec<(u64, u32)> = records(&bytes).collect();
        assert_eq!(read, [(4242, 7), (u64::MAX, u32::MAX)]);
    }
}
