//! Just enough of the kernel's BTF (its own description of its types) to write the
//! iterator program: the id of the iterator's attach point and four field offsets.
//!
//! Struct layouts differ between kernel builds (configuration, randomized `task_struct`),
//! so the offsets are looked up in the running kernel's BTF rather than compiled in. The
//! verifier checks every load against the same BTF; a wrong offset is refused, not read.

use thiserror::Error;

/// What the program needs to know about the running kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The type id of the function `bpf_iter_task_file`, the iterator's attach point.
    pub iter_func: u32,
    /// `struct file` → `f_inode`.
    pub file_inode: u32,
    /// `struct inode` → `i_mode`.
    pub inode_mode: u32,
    /// `struct inode` → `i_ino`.
    pub inode_ino: u32,
    /// `struct task_struct` → `tgid`.
    pub task_tgid: u32,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum BtfError {
    #[error("not BTF data")]
    NotBtf,
    #[error("truncated BTF data")]
    Truncated,
    #[error("unknown BTF kind {0}")]
    UnknownKind(u32),
    #[error("no {0} in the kernel's BTF")]
    Missing(&'static str),
}

const MAGIC: u16 = 0xeb9f;
const HEADER_LEN: usize = 24;

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_FLOAT: u32 = 16;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

/// A type record is 12 bytes (name, info, size or type) and then kind-specific data.
const TYPE_LEN: usize = 12;
const MEMBER_LEN: usize = 12;

const ITER_FUNC: &str = "bpf_iter_task_file";
const STRUCTS: [&str; 3] = ["file", "inode", "task_struct"];

/// Find the layout in raw BTF (`/sys/kernel/btf/vmlinux`).
pub fn layout(data: &[u8]) -> Result<Layout, BtfError> {
    let btf = Btf::new(data)?;
    // Names are compared as offsets into the string section: vmlinux BTF is deduplicated,
    // so each name is there once, and one search of the strings is far cheaper than
    // reading the name of each of the ~100 000 types (a cache miss each).
    let func_name = btf.string_offset(ITER_FUNC);
    let struct_names = STRUCTS.map(|name| btf.string_offset(name));

    let mut func = None;
    let mut structs: [Option<usize>; 3] = [None; 3];
    let mut types = btf.types();
    while func.is_none() || structs.iter().any(Option::is_none) {
        let Some(t) = types.next().transpose()? else {
            break;
        };
        match t.kind() {
            KIND_FUNC if Some(t.name) == func_name => func = Some(t.id),
            KIND_STRUCT => {
                for (slot, name) in structs.iter_mut().zip(&struct_names) {
                    if slot.is_none() && Some(t.name) == *name {
                        *slot = Some(t.at);
                    }
                }
            }
            _ => {}
        }
    }
    let iter_func = func.ok_or(BtfError::Missing("function bpf_iter_task_file"))?;
    let [file, inode, task] = structs;
    let member = |at: Option<usize>, strukt: &'static str, name: &'static str| {
        at.and_then(|at| btf.member_offset(at, name, 0))
            .ok_or(BtfError::Missing(strukt))
    };
    Ok(Layout {
        iter_func,
        file_inode: member(file, "struct file's f_inode", "f_inode")?,
        inode_mode: member(inode, "struct inode's i_mode", "i_mode")?,
        inode_ino: member(inode, "struct inode's i_ino", "i_ino")?,
        task_tgid: member(task, "struct task_struct's tgid", "tgid")?,
    })
}

struct Btf<'a> {
    types: &'a [u8],
    strings: &'a [u8],
}

/// One type record: its id, where it starts in the type section, name offset and info.
struct Type {
    id: u32,
    at: usize,
    name: u32,
    info: u32,
}

impl Type {
    fn kind(&self) -> u32 {
        (self.info >> 24) & 0x1f
    }
    fn vlen(&self) -> usize {
        (self.info & 0xffff) as usize
    }
    /// Struct and union members carry bitfield sizes in their offsets.
    fn kind_flag(&self) -> bool {
        self.info >> 31 == 1
    }
}

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

impl<'a> Btf<'a> {
    fn new(data: &'a [u8]) -> Result<Self, BtfError> {
        // The kernel writes BTF in its own byte order; portwho only loads programs on
        // little-endian machines (see `program`), where that is little-endian.
        if u16_at(data, 0) != Some(MAGIC) {
            return Err(BtfError::NotBtf);
        }
        let word = |at| {
            u32_at(data, at)
                .map(|v| v as usize)
                .ok_or(BtfError::Truncated)
        };
        let header_len = word(4)?;
        if header_len < HEADER_LEN {
            return Err(BtfError::NotBtf);
        }
        let section = |off: usize, len: usize| {
            let start = header_len.checked_add(off).ok_or(BtfError::Truncated)?;
            let end = start.checked_add(len).ok_or(BtfError::Truncated)?;
            data.get(start..end).ok_or(BtfError::Truncated)
        };
        Ok(Btf {
            types: section(word(8)?, word(12)?)?,
            strings: section(word(16)?, word(20)?)?,
        })
    }

    /// The offset of `name` as a whole string in the string section.
    fn string_offset(&self, name: &str) -> Option<u32> {
        let mut needle = Vec::with_capacity(name.len() + 2);
        needle.push(0);
        needle.extend_from_slice(name.as_bytes());
        needle.push(0);
        let at = memchr::memmem::find(self.strings, &needle)?;
        u32::try_from(at + 1).ok()
    }

    fn name(&self, offset: u32) -> &[u8] {
        let rest = self.strings.get(offset as usize..).unwrap_or_default();
        let end = memchr::memchr(0, rest).unwrap_or(rest.len());
        &rest[..end]
    }

    /// Every type in id order (ids start at 1; 0 is void).
    fn types(&self) -> impl Iterator<Item = Result<Type, BtfError>> + '_ {
        let mut at = 0;
        let mut id = 0u32;
        std::iter::from_fn(move || {
            if at >= self.types.len() {
                return None;
            }
            id += 1;
            let parsed = self.type_at(id, at);
            at = match &parsed {
                Ok((_, next)) => *next,
                // Stop after reporting the error once.
                Err(_) => self.types.len(),
            };
            Some(parsed.map(|(t, _)| t))
        })
    }

    /// The type record at `at`, and where the next one starts.
    fn type_at(&self, id: u32, at: usize) -> Result<(Type, usize), BtfError> {
        let word = |off| u32_at(self.types, at + off).ok_or(BtfError::Truncated);
        let t = Type {
            id,
            at,
            name: word(0)?,
            info: word(4)?,
        };
        let extra = match t.kind() {
            KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
            KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT
            | KIND_FUNC | KIND_FLOAT | KIND_TYPE_TAG => 0,
            KIND_ARRAY => 12,
            KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => 12 * t.vlen(),
            KIND_ENUM | KIND_FUNC_PROTO => 8 * t.vlen(),
            other => return Err(BtfError::UnknownKind(other)),
        };
        let next = at + TYPE_LEN + extra;
        if next > self.types.len() {
            return Err(BtfError::Truncated);
        }
        Ok((t, next))
    }

    /// The byte offset of `member` in the struct or union at `at`, looking into anonymous
    /// struct and union members as C does.
    fn member_offset(&self, at: usize, member: &str, depth: u32) -> Option<u32> {
        let (t, _) = self.type_at(0, at).ok()?;
        if !matches!(t.kind(), KIND_STRUCT | KIND_UNION) || depth > 8 {
            return None;
        }
        let mut anonymous = Vec::new();
        for i in 0..t.vlen() {
            let m = at + TYPE_LEN + i * MEMBER_LEN;
            let (name, ty, offset) = (
                u32_at(self.types, m)?,
                u32_at(self.types, m + 4)?,
                u32_at(self.types, m + 8)?,
            );
            let bits = if t.kind_flag() {
                offset & 0x00ff_ffff
            } else {
                offset
            };
            if name == 0 {
                anonymous.push((ty, bits));
            } else if self.name(name) == member.as_bytes() {
                // A bitfield cannot be loaded on its own.
                return (bits % 8 == 0).then_some(bits / 8);
            }
        }
        // Rare (none of the fields used are in one on current kernels): find each
        // anonymous member's type by walking the types again.
        anonymous.into_iter().find_map(|(ty, bits)| {
            let at = self.resolve(ty)?;
            Some(bits / 8 + self.member_offset(at, member, depth + 1)?)
        })
    }

    /// Where type `id` starts, through typedefs and qualifiers.
    fn resolve(&self, mut id: u32) -> Option<usize> {
        for _ in 0..16 {
            let t = self.types().nth(id.checked_sub(1)? as usize)?.ok()?;
            match t.kind() {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = u32_at(self.types, t.at + 8)?;
                }
                _ => return Some(t.at),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes BTF the way pahole does: a header, the type section, the string section
    /// (each name once, the first string empty).
    struct Writer {
        types: Vec<u8>,
        strings: Vec<u8>,
        next_id: u32,
    }

    impl Writer {
        fn new() -> Self {
            Writer {
                types: Vec::new(),
                strings: vec![0],
                next_id: 1,
            }
        }

        fn name(&mut self, name: &str) -> u32 {
            if name.is_empty() {
                return 0;
            }
            let mut needle = vec![0];
            needle.extend_from_slice(name.as_bytes());
            needle.push(0);
            if let Some(at) = memchr::memmem::find(&self.strings, &needle) {
                return at as u32 + 1;
            }
            let at = self.strings.len() as u32;
            self.strings.extend_from_slice(name.as_bytes());
            self.strings.push(0);
            at
        }

        fn words(&mut self, words: &[u32]) {
            for w in words {
                self.types.extend_from_slice(&w.to_le_bytes());
            }
        }

        /// A type with no members; `extra` words of kind-specific data follow it.
        fn ty(
            &mut self,
            name: &str,
            kind: u32,
            vlen: u32,
            size_or_type: u32,
            extra: &[u32],
        ) -> u32 {
            let name = self.name(name);
            self.words(&[name, kind << 24 | vlen, size_or_type]);
            self.words(extra);
            self.next_id += 1;
            self.next_id - 1
        }

        /// A struct or union: (name, type, offset in bits) per member.
        fn aggregate(
            &mut self,
            kind: u32,
            name: &str,
            bitfields: bool,
            members: &[(&str, u32, u32)],
        ) -> u32 {
            let name = self.name(name);
            let flag = if bitfields { 1 << 31 } else { 0 };
            self.words(&[name, flag | kind << 24 | members.len() as u32, 8]);
            for &(member, ty, offset) in members {
                let member = self.name(member);
                self.words(&[member, ty, offset]);
            }
            self.next_id += 1;
            self.next_id - 1
        }

        fn bytes(&self) -> Vec<u8> {
            let mut out = Vec::new();
            out.extend_from_slice(&MAGIC.to_le_bytes());
            out.extend_from_slice(&[1, 0]);
            let words = [
                HEADER_LEN as u32,
                0,
                self.types.len() as u32,
                self.types.len() as u32,
                self.strings.len() as u32,
            ];
            for w in words {
                out.extend_from_slice(&w.to_le_bytes());
            }
            out.extend_from_slice(&self.types);
            out.extend_from_slice(&self.strings);
            out
        }
    }

    /// A small kernel: f_inode inside an anonymous union, task_struct with bitfields, a
    /// forward declaration and another function before the ones wanted.
    fn kernel() -> (Vec<u8>, u32) {
        let mut w = Writer::new();
        let int = w.ty("int", KIND_INT, 0, 4, &[32]);
        let ulong = w.ty("unsigned long", KIND_INT, 0, 8, &[64]);
        let ushort = w.ty("unsigned short", KIND_INT, 0, 2, &[16]);
        let umode = w.ty("umode_t", KIND_TYPEDEF, 0, ushort, &[]);
        w.ty("file", KIND_FWD, 0, 0, &[]);
        let proto = w.ty("", KIND_FUNC_PROTO, 1, int, &[0, int]);
        w.ty("bpf_iter_task", KIND_FUNC, 0, proto, &[]);
        let inode = w.aggregate(
            KIND_STRUCT,
            "inode",
            false,
            &[("i_mode", umode, 0), ("i_ino", ulong, 512)],
        );
        let inode_ptr = w.ty("", KIND_PTR, 0, inode, &[]);
        let anon = w.aggregate(
            KIND_UNION,
            "",
            false,
            &[("f_llist", int, 0), ("f_inode", inode_ptr, 0)],
        );
        let anon_const = w.ty("", KIND_CONST, 0, anon, &[]);
        w.aggregate(
            KIND_STRUCT,
            "file",
            false,
            &[("f_count", int, 0), ("", anon_const, 128)],
        );
        w.aggregate(
            KIND_STRUCT,
            "task_struct",
            true,
            &[("flags", int, 1 << 24 | 3), ("tgid", int, 2400)],
        );
        let func = w.ty("bpf_iter_task_file", KIND_FUNC, 1, proto, &[]);
        w.ty("", KIND_ENUM, 2, 4, &[0, 1, 0, 2]);
        (w.bytes(), func)
    }

    #[test]
    fn finds_the_function_and_the_offsets() {
        let (bytes, func) = kernel();
        assert_eq!(
            layout(&bytes),
            Ok(Layout {
                iter_func: func,
                file_inode: 16,
                inode_mode: 0,
                inode_ino: 64,
                task_tgid: 300,
            })
        );
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let (bytes, _) = kernel();
        assert_eq!(layout(&bytes[..bytes.len() - 40]), Err(BtfError::Truncated));
        assert_eq!(layout(&bytes[..10]), Err(BtfError::Truncated));
        assert_eq!(layout(b""), Err(BtfError::NotBtf));
        let mut wrong = bytes.clone();
        wrong[0] = 0;
        assert_eq!(layout(&wrong), Err(BtfError::NotBtf));

        let mut w = Writer::new();
        w.ty("", 31, 0, 0, &[]);
        assert_eq!(layout(&w.bytes()), Err(BtfError::UnknownKind(31)));

        let mut w = Writer::new();
        let int = w.ty("int", KIND_INT, 0, 4, &[32]);
        w.aggregate(KIND_STRUCT, "file", false, &[("f_inode", int, 0)]);
        assert_eq!(
            layout(&w.bytes()),
            Err(BtfError::Missing("function bpf_iter_task_file"))
        );
    }

    #[test]
    fn a_bitfield_member_has_no_byte_offset() {
        let (bytes, _) = kernel();
        let btf = Btf::new(&bytes).unwrap();
        let task = btf
            .types()
            .map(Result::unwrap)
            .find(|t| t.kind() == KIND_STRUCT && btf.name(t.name) == b"task_struct")
            .unwrap();
        assert_eq!(btf.member_offset(task.at, "flags", 0), None);
        assert_eq!(btf.member_offset(task.at, "tgid", 0), Some(300));
        assert_eq!(btf.member_offset(task.at, "nothing", 0), None);
    }

    /// The running kernel's BTF, where there is one to read.
    #[test]
    fn reads_the_running_kernel() {
        let Ok(bytes) = std::fs::read("/sys/kernel/btf/vmlinux") else {
            eprintln!("skipped: no /sys/kernel/btf/vmlinux");
            return;
        };
        let found = layout(&bytes).unwrap();
        assert!(found.iter_func > 0);
        // i_mode is the first field of struct inode on every kernel since 2.6.
        assert_eq!(found.inode_mode, 0);
        assert!(found.inode_ino > 0 && found.file_inode > 0 && found.task_tgid > 0);
    }
}
