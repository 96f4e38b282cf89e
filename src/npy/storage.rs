//! Where array bytes live: a read-only memory map or an owned, 8-byte aligned
//! buffer. With `lease` (the map's protection from other writers), this is
//! the only module of the crate with `unsafe` code: the crate root denies
//! `unsafe_code` and allows it here, for the calls that map a file, and for
//! keeping and resizing freed anonymous maps.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;

use memmap2::Mmap;

/// The bytes behind one or more arrays, shared through `Arc` by every handle.
pub(crate) enum Storage {
    /// A read-only shared map of a whole file (`PROT_READ`, `MAP_SHARED`).
    Mapped(MappedFile),
    /// Bytes decoded or copied into memory.
    Owned(AlignedBuf),
}

impl Storage {
    /// Maps the whole of `file` read-only.
    ///
    /// The caller has already checked that the file is at least as long as
    /// its header promises; `len` is the length it saw.
    pub(crate) fn map(file: &File, len: usize, lease: Option<LeaseHandle>) -> io::Result<Storage> {
        // SAFETY: memmap2 maps the file read-only and shared (PROT_READ,
        // MAP_SHARED), so the map reflects the file's inode as it is now and
        // later, and `len` is the length fstat gave, taken after the lease
        // (so the file cannot have shrunk since), so no view reaches past
        // the end. onedata never writes a file in place: `saveone` writes a new
        // file and renames it over the old one, leaving this inode and map
        // unchanged. Another program that truncates or rewrites the inode
        // in place (`np.save` to the same path) must first open it for
        // writing, or truncate it, which the lease holds until the map has
        // been moved into private memory (see `lease`). Without a lease
        // (`MappedFile::is_protected` false; the policy in `MapPolicy` says
        // when such a map is made) that writer can change bytes under a
        // view, or make a read past a truncation raise SIGBUS: the crate
        // docs and the README state this.
        let map = unsafe { memmap2::MmapOptions::new().len(len).map(file)? };
        #[cfg(target_os = "linux")]
        let lease = lease.filter(|l| l.protect(&map));
        #[cfg(not(target_os = "linux"))]
        let _ = lease;
        Ok(Storage::Mapped(MappedFile {
            #[cfg(target_os = "linux")]
            lease,
            map,
        }))
    }

    /// Whether the bytes can change under a view: false for owned bytes and
    /// for a map protected by a lease (whose bytes move to private memory
    /// before any other program may change the file).
    pub(crate) fn is_protected(&self) -> bool {
        match self {
            Storage::Mapped(m) => m.is_protected(),
            Storage::Owned(_) => true,
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => &m.map,
            Storage::Owned(b) => b.as_bytes(),
        }
    }

    /// Asks the kernel to read the mapped pages in now, in one call, rather
    /// than one page fault at a time as they are first touched. Best effort:
    /// kernels without `MADV_POPULATE_READ` get `MADV_WILLNEED`.
    pub(crate) fn prefetch(&self) {
        if let Storage::Mapped(MappedFile { map: m, .. }) = self {
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

    /// Bytes held in memory: zero for a map, whose pages belong to the page
    /// cache, until a lease break copies it into private memory.
    pub(crate) fn owned_bytes(&self) -> usize {
        match self {
            Storage::Mapped(m) if m.is_copied() => m.map.len(),
            Storage::Mapped(_) => 0,
            Storage::Owned(b) => b.len(),
        }
    }

    /// Bytes still mapped from a file: those of a map not yet copied.
    pub(crate) fn mapped_bytes(&self) -> usize {
        match self {
            Storage::Mapped(m) if !m.is_copied() => m.map.len(),
            Storage::Mapped(_) | Storage::Owned(_) => 0,
        }
    }
}

#[cfg(target_os = "linux")]
pub(crate) type LeaseHandle = super::lease::Lease;
/// No leases off Linux.
#[cfg(not(target_os = "linux"))]
pub(crate) enum LeaseHandle {}

/// A map of a whole file, and the lease that keeps other programs from
/// changing it under a view (Linux; see `lease`).
pub(crate) struct MappedFile {
    /// Declared before `map`, so dropped first: the lease is released (and
    /// the service thread done with the map) before the map is unmapped.
    #[cfg(target_os = "linux")]
    lease: Option<super::lease::Lease>,
    map: Mmap,
}

impl MappedFile {
    fn is_protected(&self) -> bool {
        #[cfg(target_os = "linux")]
        return self.lease.as_ref().is_some_and(|l| l.holds());
        #[cfg(not(target_os = "linux"))]
        return false;
    }

    fn is_copied(&self) -> bool {
        #[cfg(target_os = "linux")]
        return self.lease.as_ref().is_some_and(|l| l.is_copied());
        #[cfg(not(target_os = "linux"))]
        return false;
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
            return Some(AlignedBuf {
                mem: Mem::Anon(fresh_anon(len)?),
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

    /// A buffer of `len` bytes whose contents are unspecified (zeros, or the
    /// bytes of a buffer freed earlier): for a caller that overwrites every
    /// byte before anything reads it, or fails and drops the buffer. Large
    /// buffers come from the [`retained`](crate::memory) buffers when one is
    /// free, which saves the kernel zeroing fresh pages (half the cost of
    /// reading a file from the page cache into new memory); otherwise as
    /// [`AlignedBuf::try_zeroed`].
    pub(crate) fn try_for_overwrite(len: usize) -> Option<AlignedBuf> {
        if len >= ANON_MIN {
            if let Some(map) = retained::take(len) {
                return Some(AlignedBuf {
                    mem: Mem::Anon(map),
                    len,
                });
            }
        }
        AlignedBuf::try_zeroed(len)
    }

    /// A copy of `bytes`, or `None` when that much memory cannot be had:
    /// for copies of file data, whose size the file decides.
    pub(crate) fn try_copy_from(bytes: &[u8]) -> Option<AlignedBuf> {
        let mut buf = AlignedBuf::try_for_overwrite(bytes.len())?;
        buf.as_bytes_mut().copy_from_slice(bytes);
        Some(buf)
    }

    /// A copy of `bytes`, for sizes the caller bounds (small, or already
    /// held in memory twice over without harm).
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

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        if let Mem::Anon(map) = std::mem::replace(&mut self.mem, Mem::Words(Vec::new())) {
            retained::put(map);
        }
    }
}

/// A fresh anonymous map of `len` bytes (zero pages), huge pages advised.
fn fresh_anon(len: usize) -> Option<memmap2::MmapMut> {
    let map = memmap2::MmapOptions::new().len(len).map_anon().ok()?;
    #[cfg(target_os = "linux")]
    let _ = map.advise(memmap2::Advice::HugePage);
    Some(map)
}

/// Large buffers freed recently, kept for the next load that overwrites a
/// whole buffer (see [`crate::memory`]). Linux only: the kept pages are
/// marked `MADV_FREE`, so the kernel takes them back first when memory runs
/// short, and a kept buffer costs no memory anyone else needs.
pub(crate) mod retained {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use parking_lot::Mutex;

    /// The default bound on the bytes kept.
    pub(crate) const DEFAULT_LIMIT: usize = 1 << 30;

    /// `usize::MAX` until the limit is first read (from
    /// `ONEDATA_RETAIN_MB`, else the default) or set.
    static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

    /// Kept maps, oldest first, and the bytes they hold.
    static KEPT: Mutex<(Vec<memmap2::MmapMut>, usize)> = parking_lot::const_mutex((Vec::new(), 0));

    pub(crate) fn limit() -> usize {
        match LIMIT.load(Ordering::Relaxed) {
            usize::MAX => {
                let limit = std::env::var("ONEDATA_RETAIN_MB")
                    .ok()
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .map_or(DEFAULT_LIMIT, |mb| mb.saturating_mul(1 << 20));
                let limit = limit.min(usize::MAX - 1);
                LIMIT.store(limit, Ordering::Relaxed);
                limit
            }
            limit => limit,
        }
    }

    /// Sets the bound, dropping kept buffers past it.
    pub(crate) fn set_limit(bytes: usize) {
        LIMIT.store(bytes.min(usize::MAX - 1), Ordering::Relaxed);
        let mut kept = KEPT.lock();
        trim(&mut kept, bytes);
    }

    /// The bytes kept now.
    pub(crate) fn kept_bytes() -> usize {
        KEPT.lock().1
    }

    fn trim(kept: &mut (Vec<memmap2::MmapMut>, usize), limit: usize) {
        while kept.1 > limit && !kept.0.is_empty() {
            let map = kept.0.remove(0);
            kept.1 -= map.len();
        }
    }

    /// Keeps `map` for reuse if it fits the bound; otherwise it is unmapped.
    /// Never waits: if another thread holds the list (or a fork left it
    /// held), the map is simply unmapped.
    pub(crate) fn put(map: memmap2::MmapMut) {
        if !cfg!(target_os = "linux") || map.len() > limit() {
            return;
        }
        #[cfg(target_os = "linux")]
        {
            // SAFETY: `map` is a private anonymous map owned here and
            // referenced by nothing else (its buffer was dropped);
            // MADV_FREE only lets the kernel replace its pages with zero
            // pages until they are next written, which no reader can
            // observe: a kept map is handed out only to a caller that
            // overwrites every byte before reading any.
            let freed = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::Free) };
            if freed.is_err() {
                return;
            }
        }
        if let Some(mut kept) = KEPT.try_lock() {
            kept.1 += map.len();
            kept.0.push(map);
            let limit = limit();
            trim(&mut kept, limit);
        }
    }

    /// A kept map resized to `len` bytes, or `None` when none within a
    /// factor of two of `len` is kept (or another thread holds the list).
    pub(crate) fn take(len: usize) -> Option<memmap2::MmapMut> {
        #[cfg(target_os = "linux")]
        {
            let mut map = {
                let mut kept = KEPT.try_lock()?;
                // The kept map closest in size, if it is within a factor
                // of two (a far larger one is worth keeping for a larger
                // load; a far smaller one saves little).
                let at = (0..kept.0.len())
                    .filter(|&i| {
                        let have = kept.0[i].len();
                        have / 2 <= len && len / 2 <= have
                    })
                    .min_by_key(|&i| kept.0[i].len().abs_diff(len))?;
                let map = kept.0.remove(at);
                kept.1 -= map.len();
                map
            };
            if map.len() != len {
                // SAFETY: the map is owned here and nothing points into it;
                // `remap` may move it, and the pointer is read from `map`
                // again after the call. Growing adds zero pages at the end;
                // shrinking unmaps the tail.
                let resized =
                    unsafe { map.remap(len, memmap2::RemapOptions::new().may_move(true)) };
                if resized.is_err() {
                    return None;
                }
                let _ = map.advise(memmap2::Advice::HugePage);
            }
            Some(map)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = len;
            None
        }
    }
}

/// The least any protected mapped load can cost, for `onedata bench`: open
/// the file, read its first 128 bytes, take the read lease a load takes
/// (Linux: two `fcntl` calls), map its `len` bytes (known to the caller, as
/// the length of a file it wrote), close it (which releases the lease).
/// Returns the first byte read and the map, which the caller unmaps outside
/// its timing (as a load's map is unmapped only when the array is dropped).
#[doc(hidden)]
pub fn floor_open_read_map(path: &std::path::Path, len: usize) -> io::Result<(u8, Mmap)> {
    use std::io::Read;
    let mut file = File::open(path)?;
    let mut head = [0u8; 128];
    let n = file.read(&mut head)?;
    #[cfg(target_os = "linux")]
    if !super::lease::floor_lease(&file) {
        return Err(io::Error::other("no read lease on the floor's file"));
    }
    // SAFETY: a read-only shared map of a file this function does not
    // modify, of the length its caller wrote; the caller only drops it, so
    // no page of it is ever read and no change to the file can be observed.
    let map = unsafe { memmap2::MmapOptions::new().len(len).map(&file)? };
    Ok((head[..n].first().copied().unwrap_or(0), map))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(len: usize, byte: u8) -> AlignedBuf {
        let mut buf = AlignedBuf::try_for_overwrite(len).unwrap();
        buf.as_bytes_mut().fill(byte);
        buf
    }

    /// A dropped large buffer is kept and handed to the next overwrite of a
    /// size within a factor of two (grown or shrunk to it), and a zeroed
    /// buffer never comes from the kept ones.
    #[cfg(target_os = "linux")]
    #[test]
    fn large_buffers_are_kept_and_reused() {
        // Sizes no other test of this crate allocates.
        let len = (9 << 20) + 3 * 4096 + 17;
        let a = filled(len, 0xA5);
        let at = a.as_bytes().as_ptr();
        drop(a);
        assert!(retained::kept_bytes() >= len);
        let b = AlignedBuf::try_for_overwrite(len).unwrap();
        assert_eq!(b.len(), len);
        assert_eq!(b.as_bytes().as_ptr(), at, "the kept map is reused in place");
        drop(b);

        // Zeroed buffers are fresh zero pages, whatever is kept.
        let z = AlignedBuf::try_zeroed(len).unwrap();
        assert!(z.as_bytes().iter().all(|&x| x == 0));
        drop(z);

        // A larger request grows a kept map: every byte is writable.
        let mut c = AlignedBuf::try_for_overwrite(len + (2 << 20)).unwrap();
        assert_eq!(c.len(), len + (2 << 20));
        c.as_bytes_mut().fill(7);
        assert!(c.as_bytes().iter().all(|&x| x == 7));
        drop(c);

        // Far smaller requests leave large kept maps alone.
        let kept = retained::kept_bytes();
        let small = AlignedBuf::try_for_overwrite(ANON_MIN).unwrap();
        assert_ne!(small.as_bytes().as_ptr(), at);
        assert_eq!(retained::kept_bytes(), kept);
        drop(small);
    }
}
