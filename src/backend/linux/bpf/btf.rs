//! Just enough of the kernel's BTF (its own description of its types) to write the
//! iterator program: the id of the iterator's attach point and the offsets of the fields it
//! reads.
//!
//! Struct layouts differ between kernel builds (configuration, randomized `task_struct`),
//! so the offsets are looked up in the running kernel's BTF rather than compiled in. The
//! verifier checks every load against the same BTF; a wrong offset is refused, not read.
//!
//! The BTF is read in pieces into one reused buffer, and only as far as needed: sysfs
//! hands out `/sys/kernel/btf/vmlinux` (5 MB) 4 KiB per read, and reading it whole into a
//! fresh buffer cost 3.4 ms here, nearly all of it page faults on the buffer.

use std::io;

use thiserror::Error;

/// What the program needs to know about the running kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
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
    /// `struct task_struct` → `group_leader`, the process's main thread: a thread with an
    /// fd table of its own is visited for its process, whose name and start are the leader's.
    pub task_group_leader: u32,
    /// `struct task_struct` → `real_parent`.
    pub task_real_parent: u32,
    /// `struct task_struct` → `start_boottime`: nanoseconds from boot to the start.
    pub task_start_boottime: u32,
    /// `struct task_struct` → `comm`, the name (16 bytes, NUL-padded).
    pub task_comm: u32,
    /// `struct task_struct` → `cred`.
    pub task_cred: u32,
    /// `struct cred` → `euid`.
    pub cred_euid: u32,
    /// `struct task_struct` → `mm`, `struct mm_struct` → `exe_file`: the executable.
    pub task_mm: u32,
    pub mm_exe_file: u32,
    /// `struct file` → `f_path`, `struct path` → `dentry`: the executable's name.
    pub file_path: u32,
    pub path_dentry: u32,
    /// `struct dentry` → `d_hash`, `struct hlist_bl_node` → `pprev`, `struct dentry` →
    /// `d_parent`: a name no longer in the directory cache and not a root is one removed
    /// from its directory, which `/proc/PID/exe` says with " (deleted)".
    pub dentry_hash: u32,
    pub hash_pprev: u32,
    pub dentry_parent: u32,
    /// `struct path` → `mnt`: with the dentry, which name a path has.
    pub path_mnt: u32,
    /// `struct task_struct` → `cgroups`: the set of cgroups it is in, shared by every
    /// process in the same ones.
    pub task_cgroups: u32,
    /// `struct task_struct` → `fs`, `struct fs_struct` → `pwd`: the working directory.
    pub task_fs: u32,
    pub fs_pwd: u32,
}

#[derive(Debug, Error)]
pub(crate) enum BtfError {
    #[error("not BTF data")]
    NotBtf,
    #[error("truncated BTF data")]
    Truncated,
    #[error("unknown BTF kind {0}")]
    UnknownKind(u32),
    #[error("no {0} in the kernel's BTF")]
    Missing(&'static str),
    #[error("{0}")]
    Read(#[from] io::Error),
}

/// Where BTF is read from: the sysfs file, or bytes in memory (tests).
pub(crate) trait Source {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

impl Source for std::fs::File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(self, buf, offset)
    }
}

impl Source for [u8] {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let rest = usize::try_from(offset)
            .ok()
            .and_then(|at| self.get(at..))
            .unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }
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

/// How much is read at a time.
const CHUNK: usize = 64 * 1024;

/// How many times the types may be walked again to find anonymous members' types.
const MAX_WALKS: u32 = 64;

const ITER_FUNC: &str = "bpf_iter_task_file";

/// The fields wanted: (struct, member, what to call it when missing).
const FIELDS: [(&str, &str, &str); 21] = [
    ("file", "f_inode", "struct file's f_inode"),
    ("inode", "i_mode", "struct inode's i_mode"),
    ("inode", "i_ino", "struct inode's i_ino"),
    ("task_struct", "tgid", "struct task_struct's tgid"),
    (
        "task_struct",
        "group_leader",
        "struct task_struct's group_leader",
    ),
    (
        "task_struct",
        "real_parent",
        "struct task_struct's real_parent",
    ),
    (
        "task_struct",
        "start_boottime",
        "struct task_struct's start_boottime",
    ),
    ("task_struct", "comm", "struct task_struct's comm"),
    ("task_struct", "cred", "struct task_struct's cred"),
    ("cred", "euid", "struct cred's euid"),
    ("task_struct", "mm", "struct task_struct's mm"),
    ("mm_struct", "exe_file", "struct mm_struct's exe_file"),
    ("file", "f_path", "struct file's f_path"),
    ("path", "dentry", "struct path's dentry"),
    ("dentry", "d_hash", "struct dentry's d_hash"),
    ("hlist_bl_node", "pprev", "struct hlist_bl_node's pprev"),
    ("dentry", "d_parent", "struct dentry's d_parent"),
    ("path", "mnt", "struct path's mnt"),
    ("task_struct", "cgroups", "struct task_struct's cgroups"),
    ("task_struct", "fs", "struct task_struct's fs"),
    ("fs_struct", "pwd", "struct fs_struct's pwd"),
];

/// Find the layout in raw BTF (`/sys/kernel/btf/vmlinux`).
pub(crate) fn layout<S: Source + ?Sized>(source: &S) -> Result<Layout, BtfError> {
    layout_in_chunks(source, CHUNK)
}

fn layout_in_chunks<S: Source + ?Sized>(source: &S, chunk: usize) -> Result<Layout, BtfError> {
    let mut btf = Btf::new(source, chunk)?;
    // Names are compared as offsets into the string section: vmlinux BTF is deduplicated,
    // so each name is there once, and one search of the strings is far cheaper than
    // reading the name of each of the ~100 000 types.
    let mut names = vec![ITER_FUNC];
    for (strukt, member, _) in FIELDS {
        names.extend([strukt, member]);
    }
    let offsets = btf.string_offsets(&names)?;
    let offset_of = |name: &str| {
        names
            .iter()
            .position(|n| *n == name)
            .and_then(|i| offsets[i])
    };

    // One pass over the types, until the function and each field are found.
    let func_name = offset_of(ITER_FUNC);
    let mut func = None;
    // Per field: None until its struct is seen, then whether the member was found in it.
    let mut fields: [Option<Option<u32>>; FIELDS.len()] = [None; FIELDS.len()];
    // Anonymous struct and union members of the wanted structs, for a field not found
    // directly: (field, member type, bit offset).
    let mut anonymous: Vec<(usize, u32, u32)> = Vec::new();
    let mut at = 0;
    let mut id = 0u32;
    while at < btf.types_len && (func.is_none() || fields.iter().any(Option::is_none)) {
        id += 1;
        let t = btf.type_at(at)?;
        if t.kind() == KIND_FUNC && Some(t.name) == func_name {
            func = func.or(Some(id));
        }
        if t.kind() == KIND_STRUCT {
            for (field, (strukt, member, _)) in FIELDS.iter().enumerate() {
                if fields[field].is_some() || Some(t.name) != offset_of(strukt) {
                    continue;
                }
                let member_name = offset_of(member);
                for (name, ty, bits) in btf.members(&t)? {
                    if name == 0 {
                        anonymous.push((field, ty, bits));
                    } else if Some(name) == member_name {
                        // A bitfield cannot be loaded on its own.
                        fields[field] = Some((bits % 8 == 0).then_some(bits / 8));
                    }
                }
                fields[field].get_or_insert(None);
            }
        }
        at = t.next;
    }
    // Rare (none of the fields used are in one on current kernels): look into anonymous
    // members, finding each one's type by walking the types again, a bounded number of
    // times (each walk may read all of the types).
    let mut walks = MAX_WALKS;
    for (field, ty, bits) in anonymous {
        if fields[field] != Some(None) {
            continue;
        }
        if let Some(inner) = btf.member_in(ty, offset_of(FIELDS[field].1), 0, &mut walks)? {
            fields[field] = Some(Some(bits / 8 + inner));
        }
    }
    let iter_func = func.ok_or(BtfError::Missing("function bpf_iter_task_file"))?;
    let field = |i: usize| fields[i].flatten().ok_or(BtfError::Missing(FIELDS[i].2));
    Ok(Layout {
        iter_func,
        file_inode: field(0)?,
        inode_mode: field(1)?,
        inode_ino: field(2)?,
        task_tgid: field(3)?,
        task_group_leader: field(4)?,
        task_real_parent: field(5)?,
        task_start_boottime: field(6)?,
        task_comm: field(7)?,
        task_cred: field(8)?,
        cred_euid: field(9)?,
        task_mm: field(10)?,
        mm_exe_file: field(11)?,
        file_path: field(12)?,
        path_dentry: field(13)?,
        dentry_hash: field(14)?,
        hash_pprev: field(15)?,
        dentry_parent: field(16)?,
        path_mnt: field(17)?,
        task_cgroups: field(18)?,
        task_fs: field(19)?,
        fs_pwd: field(20)?,
    })
}

/// BTF read through a window that moves forward a chunk at a time.
struct Btf<'a, S: Source + ?Sized> {
    source: &'a S,
    chunk: usize,
    window: Vec<u8>,
    /// Where the window starts in the source, and how much of it holds data.
    window_at: u64,
    window_len: usize,
    types_at: u64,
    types_len: usize,
    strings_at: u64,
    strings_len: usize,
}

/// One type record: name offset, info, and where the next record starts.
struct Type {
    at: usize,
    name: u32,
    info: u32,
    size_or_type: u32,
    next: usize,
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

fn u32_at(data: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&data[at..at + 4]);
    u32::from_le_bytes(word)
}

impl<'a, S: Source + ?Sized> Btf<'a, S> {
    fn new(source: &'a S, chunk: usize) -> Result<Self, BtfError> {
        let mut btf = Btf {
            source,
            chunk,
            window: Vec::new(),
            window_at: 0,
            window_len: 0,
            types_at: 0,
            types_len: 0,
            strings_at: 0,
            strings_len: 0,
        };
        let header = match btf.bytes(0, HEADER_LEN) {
            Ok(header) => header,
            Err(BtfError::Truncated) => return Err(BtfError::NotBtf),
            Err(e) => return Err(e),
        };
        // The kernel writes BTF in its own byte order; portwho only loads programs on
        // little-endian machines (see `prepare`), where that is little-endian.
        if header[..2] != MAGIC.to_le_bytes() {
            return Err(BtfError::NotBtf);
        }
        let word = |at| u32_at(header, at) as usize;
        let (header_len, types_off, types_len, strings_off, strings_len) =
            (word(4), word(8), word(12), word(16), word(20));
        if header_len < HEADER_LEN {
            return Err(BtfError::NotBtf);
        }
        btf.types_at = (header_len + types_off) as u64;
        btf.types_len = types_len;
        btf.strings_at = (header_len + strings_off) as u64;
        btf.strings_len = strings_len;
        // Both sections must be there to their ends. The reading stops as soon as it has
        // found what it looks for, so without this a section cut short was noticed or not
        // depending on where the names happened to be and how much was read at a time.
        for end in [
            btf.types_at + types_len as u64,
            btf.strings_at + strings_len as u64,
        ] {
            if let Some(last) = end.checked_sub(1) {
                btf.bytes(last, 1)?;
            }
        }
        Ok(btf)
    }

    /// `len` bytes at `at` in the source.
    fn bytes(&mut self, at: u64, len: usize) -> Result<&[u8], BtfError> {
        let end = at + len as u64;
        if at < self.window_at || end > self.window_at + self.window_len as u64 {
            let want = len.max(self.chunk);
            if self.window.len() < want {
                self.window.resize(want, 0);
            }
            let mut filled = 0;
            while filled < want {
                match self
                    .source
                    .read_at(&mut self.window[filled..want], at + filled as u64)
                {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.into()),
                }
            }
            self.window_at = at;
            self.window_len = filled;
            if filled < len {
                return Err(BtfError::Truncated);
            }
        }
        let start = (at - self.window_at) as usize;
        Ok(&self.window[start..start + len])
    }

    /// The offset of each name as a whole string in the string section, searching a
    /// window at a time and stopping once all are found.
    fn string_offsets(&mut self, names: &[&str]) -> Result<Vec<Option<u32>>, BtfError> {
        let needles: Vec<Vec<u8>> = names
            .iter()
            .map(|name| [&[0], name.as_bytes(), &[0]].concat())
            .collect();
        let finders: Vec<memchr::memmem::Finder> =
            needles.iter().map(memchr::memmem::Finder::new).collect();
        // Consecutive windows overlap by this much, so a name across the edge is whole in
        // the second.
        let overlap = needles.iter().map(Vec::len).max().unwrap_or(0);
        let step = self.chunk.max(2 * overlap);
        let mut found = vec![None; names.len()];
        let mut at = 0;
        while at < self.strings_len && found.iter().any(Option::is_none) {
            let len = step.min(self.strings_len - at);
            let window = self.bytes(self.strings_at + at as u64, len)?;
            for (slot, finder) in found.iter_mut().zip(&finders) {
                if slot.is_none()
                    && let Some(i) = finder.find(window)
                {
                    *slot = u32::try_from(at + i + 1).ok();
                }
            }
            if at + len >= self.strings_len {
                break;
            }
            at += len - overlap + 1;
        }
        Ok(found)
    }

    /// The type record at `at` in the type section.
    fn type_at(&mut self, at: usize) -> Result<Type, BtfError> {
        let header = self.bytes(self.types_at + at as u64, TYPE_LEN)?;
        let (name, info, size_or_type) = (u32_at(header, 0), u32_at(header, 4), u32_at(header, 8));
        let mut t = Type {
            at,
            name,
            info,
            size_or_type,
            next: 0,
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
        t.next = at + TYPE_LEN + extra;
        if t.next > self.types_len {
            return Err(BtfError::Truncated);
        }
        Ok(t)
    }

    /// A struct's or union's members: (name offset, type id, offset in bits).
    fn members(&mut self, t: &Type) -> Result<Vec<(u32, u32, u32)>, BtfError> {
        let kind_flag = t.kind_flag();
        let data = self.bytes(
            self.types_at + (t.at + TYPE_LEN) as u64,
            t.vlen() * MEMBER_LEN,
        )?;
        Ok(data
            .chunks_exact(MEMBER_LEN)
            .map(|m| {
                let offset = u32_at(m, 8);
                let bits = if kind_flag {
                    offset & 0x00ff_ffff
                } else {
                    offset
                };
                (u32_at(m, 0), u32_at(m, 4), bits)
            })
            .collect())
    }

    /// The type record with this id, through typedefs and qualifiers; each step is a walk
    /// from the first type, paid from `walks`.
    fn resolve(&mut self, mut id: u32, walks: &mut u32) -> Result<Option<Type>, BtfError> {
        for _ in 0..16 {
            let Some(index) = id.checked_sub(1) else {
                return Ok(None);
            };
            let Some(left) = walks.checked_sub(1) else {
                return Ok(None);
            };
            *walks = left;
            let mut at = 0;
            for _ in 0..index {
                if at >= self.types_len {
                    return Ok(None);
                }
                at = self.type_at(at)?.next;
            }
            if at >= self.types_len {
                return Ok(None);
            }
            let t = self.type_at(at)?;
            match t.kind() {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = t.size_or_type;
                }
                _ => return Ok(Some(t)),
            }
        }
        Ok(None)
    }

    /// The byte offset of the member named `name` in struct or union `id`, looking into
    /// anonymous members as C does.
    fn member_in(
        &mut self,
        id: u32,
        name: Option<u32>,
        depth: u32,
        walks: &mut u32,
    ) -> Result<Option<u32>, BtfError> {
        let Some(name) = name else { return Ok(None) };
        let Some(t) = self.resolve(id, walks)? else {
            return Ok(None);
        };
        if !matches!(t.kind(), KIND_STRUCT | KIND_UNION) || depth > 8 {
            return Ok(None);
        }
        for (member, ty, bits) in self.members(&t)? {
            if member == name {
                return Ok((bits % 8 == 0).then_some(bits / 8));
            }
            if member == 0
                && let Some(inner) = self.member_in(ty, Some(name), depth + 1, walks)?
            {
                return Ok(Some(bits / 8 + inner));
            }
        }
        Ok(None)
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
        let void_ptr = w.ty("", KIND_PTR, 0, 0, &[]);
        let hash = w.aggregate(
            KIND_STRUCT,
            "hlist_bl_node",
            false,
            &[("next", void_ptr, 0), ("pprev", void_ptr, 64)],
        );
        w.aggregate(
            KIND_STRUCT,
            "dentry",
            false,
            &[
                ("d_flags", int, 0),
                ("d_hash", hash, 64),
                ("d_parent", void_ptr, 192),
            ],
        );
        let path = w.aggregate(
            KIND_STRUCT,
            "path",
            false,
            &[("mnt", void_ptr, 0), ("dentry", void_ptr, 64)],
        );
        w.aggregate(
            KIND_STRUCT,
            "file",
            false,
            &[
                ("f_count", int, 0),
                ("", anon_const, 128),
                ("f_path", path, 256),
            ],
        );
        // As in the kernel: mm_struct's fields sit in an anonymous struct.
        let fields = w.aggregate(
            KIND_STRUCT,
            "",
            false,
            &[("mm_count", int, 0), ("exe_file", void_ptr, 1024)],
        );
        let mm = w.aggregate(KIND_STRUCT, "mm_struct", false, &[("", fields, 0)]);
        let mm_ptr = w.ty("", KIND_PTR, 0, mm, &[]);
        let cred = w.aggregate(
            KIND_STRUCT,
            "cred",
            false,
            &[("usage", int, 0), ("uid", int, 32), ("euid", int, 160)],
        );
        let cred_ptr = w.ty("", KIND_PTR, 0, cred, &[]);
        let task_ptr = w.ty("", KIND_PTR, 0, 0, &[]);
        let comm = w.ty("", KIND_ARRAY, 0, 0, &[int, int, 16]);
        w.aggregate(
            KIND_STRUCT,
            "task_struct",
            true,
            &[
                ("flags", int, 1 << 24 | 3),
                ("tgid", int, 2400),
                ("real_parent", task_ptr, 2432),
                ("group_leader", task_ptr, 2496),
                ("start_boottime", ulong, 2560),
                ("cred", cred_ptr, 2624),
                ("comm", comm, 2688),
                ("mm", mm_ptr, 2816),
                ("cgroups", void_ptr, 2880),
                ("fs", void_ptr, 2944),
            ],
        );
        w.aggregate(
            KIND_STRUCT,
            "fs_struct",
            false,
            &[("users", int, 0), ("root", path, 64), ("pwd", path, 192)],
        );
        let func = w.ty("bpf_iter_task_file", KIND_FUNC, 1, proto, &[]);
        w.ty("", KIND_ENUM, 2, 4, &[0, 1, 0, 2]);
        (w.bytes(), func)
    }

    #[test]
    fn finds_the_function_and_the_offsets() {
        let (bytes, func) = kernel();
        let want = Layout {
            iter_func: func,
            file_inode: 16,
            inode_mode: 0,
            inode_ino: 64,
            task_tgid: 300,
            task_real_parent: 304,
            task_group_leader: 312,
            task_start_boottime: 320,
            task_cred: 328,
            task_comm: 336,
            cred_euid: 20,
            task_mm: 352,
            mm_exe_file: 128,
            file_path: 32,
            path_dentry: 8,
            dentry_hash: 8,
            hash_pprev: 8,
            dentry_parent: 24,
            path_mnt: 0,
            task_cgroups: 360,
            task_fs: 368,
            fs_pwd: 24,
        };
        assert_eq!(layout(bytes.as_slice()).unwrap(), want);
        // Read a few bytes at a time, names and records fall across the window's edge.
        for chunk in [1, 12, 13, 20, 31, 64, 100, 1000] {
            assert_eq!(
                layout_in_chunks(bytes.as_slice(), chunk).unwrap(),
                want,
                "{chunk}"
            );
        }
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let (bytes, _) = kernel();
        let short = &bytes[..bytes.len() - 40];
        assert!(matches!(layout(short), Err(BtfError::Truncated)));
        assert!(matches!(layout(&bytes[..30]), Err(BtfError::Truncated)));
        assert!(matches!(layout(&bytes[..10]), Err(BtfError::NotBtf)));
        assert!(matches!(layout(&[][..]), Err(BtfError::NotBtf)));
        let mut wrong = bytes.clone();
        wrong[0] = 0;
        assert!(matches!(layout(wrong.as_slice()), Err(BtfError::NotBtf)));

        let mut w = Writer::new();
        w.ty("", 31, 0, 0, &[]);
        assert!(matches!(
            layout(w.bytes().as_slice()),
            Err(BtfError::UnknownKind(31))
        ));

        let mut w = Writer::new();
        let int = w.ty("int", KIND_INT, 0, 4, &[32]);
        w.aggregate(KIND_STRUCT, "file", false, &[("f_inode", int, 0)]);
        assert!(matches!(
            layout(w.bytes().as_slice()),
            Err(BtfError::Missing("function bpf_iter_task_file"))
        ));
    }

    /// A field that is a bitfield, or absent, is missing: the program cannot load it.
    #[test]
    fn a_bitfield_is_not_a_field_to_load() {
        let mut w = Writer::new();
        let int = w.ty("int", KIND_INT, 0, 4, &[32]);
        let ptr = w.ty("", KIND_PTR, 0, int, &[]);
        w.aggregate(KIND_STRUCT, "file", false, &[("f_inode", ptr, 64)]);
        w.aggregate(
            KIND_STRUCT,
            "inode",
            false,
            &[("i_mode", int, 0), ("i_ino", int, 64)],
        );
        w.aggregate(
            KIND_STRUCT,
            "task_struct",
            true,
            &[("tgid", int, 4 << 24 | 3)],
        );
        let proto = w.ty("", KIND_FUNC_PROTO, 0, int, &[]);
        w.ty("bpf_iter_task_file", KIND_FUNC, 1, proto, &[]);
        assert!(matches!(
            layout(w.bytes().as_slice()),
            Err(BtfError::Missing("struct task_struct's tgid"))
        ));
    }

    /// A section that runs past the end is refused whatever the reading's pieces: a name
    /// found early must not hide it (proptest found a header whose string section, moved by
    /// one damaged byte, ran past the end of the data).
    #[test]
    fn a_section_past_the_end_is_truncated_read_whole_or_in_pieces() {
        let (mut bytes, _) = kernel();
        let end = bytes.len();
        // The low byte of the string section's offset, one more.
        bytes[16] = bytes[16].checked_add(1).unwrap();
        assert!(u32_at(&bytes, 16) as usize + HEADER_LEN + u32_at(&bytes, 20) as usize > end);
        for chunk in [1, 2, 40, 63, CHUNK] {
            assert!(
                matches!(
                    layout_in_chunks(bytes.as_slice(), chunk),
                    Err(BtfError::Truncated)
                ),
                "chunk {chunk}"
            );
        }
    }

    proptest::proptest! {
        /// Damaged BTF is refused or read, never a panic or a hang, and reading it in
        /// small pieces gives the same answer as reading it whole.
        #[test]
        fn damaged_btf_never_panics(
            flips in proptest::collection::vec((0usize..4096, proptest::prelude::any::<u8>()), 1..8),
            cut in 0usize..4096,
            chunk in 1usize..64,
        ) {
            let (mut bytes, _) = kernel();
            for (at, value) in flips {
                let len = bytes.len();
                bytes[at % len] = value;
            }
            bytes.truncate(cut.max(1).min(bytes.len()));
            let whole = layout(bytes.as_slice()).map_err(|e| e.to_string());
            let pieces = layout_in_chunks(bytes.as_slice(), chunk).map_err(|e| e.to_string());
            proptest::prop_assert_eq!(whole, pieces);
        }
    }

    /// The running kernel's BTF, where there is one to read.
    #[test]
    fn reads_the_running_kernel() {
        let Ok(file) = std::fs::File::open("/sys/kernel/btf/vmlinux") else {
            eprintln!("skipped: no /sys/kernel/btf/vmlinux");
            return;
        };
        let found = layout(&file).unwrap();
        assert!(found.iter_func > 0);
        // i_mode is the first field of struct inode on every kernel since 2.6.
        assert_eq!(found.inode_mode, 0);
        assert!(found.inode_ino > 0 && found.file_inode > 0 && found.task_tgid > 0);
        let task = [
            found.task_group_leader,
            found.task_real_parent,
            found.task_start_boottime,
            found.task_comm,
            found.task_cred,
        ];
        assert!(task.iter().all(|&at| at > 0), "{task:?}");
        // struct cred begins with its use count, then uid, gid, suid, sgid, euid.
        assert!(found.cred_euid >= 20, "{}", found.cred_euid);
        // The same as reading it whole.
        let whole = std::fs::read("/sys/kernel/btf/vmlinux").unwrap();
        assert_eq!(layout(whole.as_slice()).unwrap(), found);
    }
}
