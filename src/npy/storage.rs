//! Where array bytes live: a read-only memory map or an owned, 8-byte aligned
//! buffer. This is the only module of the crate with `unsafe` code.

use std::fs::File;
use std::io;

use memmap2::Mmap;

/// The bytes behind one or more arrays, shared through `Arc` by every handle.
pub(crate) enum Storage {
    /// A read-only private map of a whole file.
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
        // SAFETY: the map is read-only and private, and onedata never writes
        // to a file it has mapped: `saveone` writes a new file and renames it
        // over the old one, so existing maps keep the old inode's contents.
        // Another program truncating the file in place while it is mapped
        // could still make later reads fault; that hazard is inherent to
        // memory maps and documented in the crate docs.
        let map = unsafe { memmap2::MmapOptions::new().len(len).map(file)? };
        Ok(Storage::Mapped(map))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => m,
            Storage::Owned(b) => b.as_bytes(),
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
    words: Vec<u64>,
    len: usize,
}

impl AlignedBuf {
    /// A zeroed buffer of `len` bytes. The caller bounds `len` by the size of
    /// a file or of a header it has already validated.
    pub(crate) fn zeroed(len: usize) -> AlignedBuf {
        AlignedBuf {
            words: vec![0u64; len.div_ceil(8)],
            len,
        }
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

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.len]
    }

    pub(crate) fn as_bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.words)[..self.len]
    }
}
