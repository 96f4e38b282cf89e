//! Where array bytes live: a read-only memory map or an owned, 8-byte aligned
//! buffer. This is the only module of the crate with `unsafe` code: the crate
//! root denies `unsafe_code` and allows it here alone, for the two calls that
//! map a file.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;

use memmap2::Mmap;

/// The bytes behind one or more arrays, shared through `Arc` by every handle.
pub(crate) enum Storage {
    /// A read-only shared map of a whole file (`PROT_READ`, `MAP_SHARED`).
    Mapped(Mmap),
    /// Bytes decoded or copied into memory.
    Owned(AlignedBuf),
}

impl Storage {
    /// Maps the whole of `file` read-only.
    ///
    /// The caller has already checked that the file is at least as long as
    /// its header promises; `len` is the length it saw.
    pub(crate) fn map(file: &File, len: usize) -> io::Result<Storage> {
        // SAFETY: memmap2 maps the file read-only and shared (PROT_READ,
        // MAP_SHARED), so the map reflects the file's inode as it is now and
        // later. onedata never writes to a file in place: `saveone` writes a
        // new file and renames it over the old one, which leaves this inode
        // and so this map unchanged. `len` is the length fstat gave, so the
        // map covers no byte past the end of the file as opened, and every
        // view of it is checked against `len`. What this does not cover:
        // another program that truncates or rewrites this inode in place
        // (`np.save` to the same path does) changes the bytes under a live
        // view, and a read past a truncation raises SIGBUS. The crate docs and
        // the README state this hazard and the rename pattern that avoids it.
        let map = unsafe { memmap2::MmapOptions::new().len(len).map(file)? };
        Ok(Storage::Mapped(map))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => m,
            Storage::Owned(b) => b.as_bytes(),
        }
    }

    /// Asks the kernel to read the mapped pages in now, in one call, rather
    /// than one page fault at a time as they are first touched. Best effort:
    /// kernels without `MADV_POPULATE_READ` get `MADV_WILLNEED`.
    pub(crate) fn prefetch(&self) {
        if let Storage::Mapped(m) = self {
            #[cfg(target_os = "linux")]
            if m.advise(memmap2::Advice::PopulateRead).is_ok() {
                return;
            }
            #[cfg(unix)]
            let _ = m.advise(memmap2::Advice::WillNeed);
        }
    }

    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self, Storage::Mapped(_))
    }

    /// Bytes held in memory (zero for a map, whose pages belong to the page cache).
    pub(crate) fn owned_bytes(&self) -> usize {
        match self {
            Storage::Mapped(_) => 0,
            Storage::Owned(b) => b.len(),
        }
    }
}

/// A byte buffer whose start is aligned for every element type onedata views.
pub(crate) struct AlignedBuf {
    mem: Mem,
    len: usize,
}

enum Mem {
    Words(Vec<u64>),
    /// A private anonymous map (zero pages, transparent huge pages advised):
    /// for large buffers computed from untrusted sizes.
    Anon(memmap2::MmapMut),
}

/// Buffers from this size on are anonymous maps with huge pages advised,
/// as numpy advises them for its large arrays.
const ANON_MIN: usize = 4 << 20;

impl AlignedBuf {
    /// A zeroed buffer of `len` bytes. The caller bounds `len` by the size of
    /// a file or of a header it has already validated.
    pub(crate) fn zeroed(len: usize) -> AlignedBuf {
        AlignedBuf {
            mem: Mem::Words(vec![0u64; len.div_ceil(8)]),
            len,
        }
    }

    /// A zeroed buffer of `len` bytes, or `None` when that much memory
    /// cannot be had: for sizes computed from untrusted shapes, which must
    /// give an error rather than abort the process. Large buffers are fresh
    /// anonymous maps with transparent huge pages advised (fewer, cheaper
    /// page faults when they are filled).
    pub(crate) fn try_zeroed(len: usize) -> Option<AlignedBuf> {
        if len >= ANON_MIN {
            let map = memmap2::MmapOptions::new().len(len).map_anon().ok()?;
            #[cfg(target_os = "linux")]
            let _ = map.advise(memmap2::Advice::HugePage);
            return Some(AlignedBuf {
                mem: Mem::Anon(map),
                len,
            });
        }
        let mut words: Vec<u64> = Vec::new();
        words.try_reserve_exact(len.div_ceil(8)).ok()?;
        words.resize(len.div_ceil(8), 0);
        Some(AlignedBuf {
            mem: Mem::Words(words),
            len,
        })
    }

    /// A copy of `bytes`.
    pub(crate) fn copy_from(bytes: &[u8]) -> AlignedBuf {
        let mut buf = AlignedBuf::zeroed(bytes.len());
        buf.as_bytes_mut().copy_from_slice(bytes);
        buf
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Keeps the first `len` bytes (no change if there are fewer).
    pub(crate) fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match &self.mem {
            Mem::Words(w) => &bytemuck::cast_slice(w)[..self.len],
            Mem::Anon(m) => &m[..self.len],
        }
    }

    pub(crate) fn as_bytes_mut(&mut self) -> &mut [u8] {
        match &mut self.mem {
            Mem::Words(w) => &mut bytemuck::cast_slice_mut(w)[..self.len],
            Mem::Anon(m) => &mut m[..self.len],
        }
    }
}

/// The least any mapped load can cost, for `onedata bench`: open the file,
/// read its first 128 bytes, map its `len` bytes (known to the caller, as
/// the length of a file it wrote), close it. Returns the first byte read and
/// the map, which the caller unmaps outside its timing (as a load's map is
/// unmapped only when the array is dropped).
#[doc(hidden)]
pub fn floor_open_read_map(path: &std::path::Path, len: usize) -> io::Result<(u8, Mmap)> {
    use std::io::Read;
    let mut file = File::open(path)?;
    let mut head = [0u8; 128];
    let n = file.read(&mut head)?;
    // SAFETY: a read-only shared map of a file this function does not
    // modify, of the length its caller wrote; the caller only drops it, so
    // no page of it is ever read and no change to the file can be observed.
    let map = unsafe { memmap2::MmapOptions::new().len(len).map(&file)? };
    Ok((head[..n].first().copied().unwrap_or(0), map))
}
