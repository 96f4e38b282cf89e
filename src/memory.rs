//! Memory onedata keeps between loads.
//!
//! A load into owned memory ([`NpyOwned::read`](crate::npy::NpyOwned::read),
//! Python's `onedata.load(path, mmap=False)`, the members of a sparse file)
//! fills a fresh buffer. Fresh anonymous memory costs the kernel a zeroing
//! pass before the file's bytes are copied over it, as much again as the
//! copy. So on Linux, when a large owned buffer (4 MiB or more) is dropped,
//! onedata keeps it, up to a bound on the bytes kept, and the next owned
//! load of a size within a factor of two reuses it: the old bytes are
//! overwritten whole before anything reads them.
//!
//! Kept buffers are marked `MADV_FREE`: they count in the process's resident
//! size, but the kernel reclaims them before anything else when memory runs
//! short, so they cost no memory another program needs. The bound is
//! 1 GiB unless the environment variable `ONEDATA_RETAIN_MB` (read at the
//! first drop or load) or [`set_retained_limit`] says otherwise; `0` turns
//! keeping off. Other platforms keep nothing.
//!
//! ```
//! onedata::memory::set_retained_limit(256 << 20);
//! assert_eq!(onedata::memory::retained_limit(), 256 << 20);
//! onedata::memory::set_retained_limit(0); // frees every kept buffer
//! assert_eq!(onedata::memory::retained_bytes(), 0);
//! ```

use crate::npy::retained;

/// Sets the bound on the bytes of freed buffers kept for reuse, dropping
/// kept buffers past it (`0` keeps none).
pub fn set_retained_limit(bytes: usize) {
    retained::set_limit(bytes);
}

/// The bound on the bytes of freed buffers kept for reuse.
pub fn retained_limit() -> usize {
    retained::limit()
}

/// The bytes of freed buffers kept for reuse now.
pub fn retained_bytes() -> usize {
    retained::kept_bytes()
}

/// An empty vector with room for `n` elements, or an
/// [`ErrorKind::OutOfMemory`](crate::ErrorKind::OutOfMemory) for `what` when
/// that much memory cannot be had: for lengths read from files, which must
/// give an error rather than abort the process.
pub(crate) fn try_with_capacity<T>(
    n: usize,
    what: impl FnOnce() -> String,
) -> crate::Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        let bytes = (n as u128).saturating_mul(std::mem::size_of::<T>() as u128);
        crate::Error::out_of_memory(what(), bytes)
    })?;
    Ok(v)
}
