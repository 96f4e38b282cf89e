//! The one read path: open a file once, read its first bytes with one
//! positioned read, parse and check the `.npy` header, map the file.
//!
//! [`NpyArray::open`](super::NpyArray::open), [`read_header`], the recipe
//! reader, the sparse reader and [`crate::describe`] all start here, so a
//! file is opened once per load and every reader refuses the same files the
//! same way.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use super::header::Header;
use super::storage::{AlignedBuf, Storage};
use crate::error::{Error, ErrorKind, Fault, HeaderError, Result};

/// Bytes read from the start of a file with the first read: `numpy.save`'s
/// headers are 128 bytes (64 for old files), and a page holds all but
/// hostile ones.
const HEAD_READ: usize = 4096;

/// A file opened for reading, with its length and its first bytes.
pub(crate) struct OpenedFile<'p> {
    path: &'p Path,
    file: Arc<File>,
    len: usize,
    /// The device the file is on (for the filesystem kind, cached by device).
    #[cfg(target_os = "linux")]
    dev: u64,
    head: Head,
    got: usize,
    /// What fstat said at open (length, modification and change times), to
    /// tell whether the file changed while it was read without a lease.
    stamp: Stamp,
    /// The read lease taken right after `open` (Linux), handed to the map.
    #[cfg(target_os = "linux")]
    lease: std::cell::Cell<Option<super::lease::Lease>>,
}

type Stamp = (u64, Option<std::time::SystemTime>, i64, i64);

fn stamp(meta: &std::fs::Metadata) -> Stamp {
    #[cfg(unix)]
    let (ctime, ctime_ns) = {
        use std::os::unix::fs::MetadataExt;
        (meta.ctime(), meta.ctime_nsec())
    };
    #[cfg(not(unix))]
    let (ctime, ctime_ns) = (0, 0);
    (meta.len(), meta.modified().ok(), ctime, ctime_ns)
}

/// The first bytes, 64-byte aligned in memory as a map's bytes are (so
/// that elements the file holds aligned are aligned in the copy too).
#[repr(C, align(64))]
struct Head([u8; HEAD_READ]);

impl<'p> OpenedFile<'p> {
    /// Opens `path` and reads up to its first 4096 bytes: open, fstat and
    /// one `pread`, touching no page of a later map. On Linux a read lease
    /// is taken between the open and the fstat (two `fcntl` calls), so that
    /// from the length on, nothing the load sees can change without the
    /// service moving a map of it into private memory first (see `lease`).
    pub(crate) fn open(path: &'p Path) -> Result<OpenedFile<'p>> {
        OpenedFile::open_leased(path, true)
    }

    /// [`OpenedFile::open`] without the lease, for reads that make no map
    /// (a header, a copy into memory): nothing to protect, and no wait for
    /// a file open for writing.
    pub(crate) fn open_unleased(path: &'p Path) -> Result<OpenedFile<'p>> {
        OpenedFile::open_leased(path, false)
    }

    fn open_leased(path: &'p Path, leased: bool) -> Result<OpenedFile<'p>> {
        let io = |e| Error::io(path, e);
        let file = Arc::new(File::open(path).map_err(io)?);
        #[cfg(target_os = "linux")]
        let lease = if leased {
            super::lease::Lease::take(&file)
        } else {
            None
        };
        #[cfg(not(target_os = "linux"))]
        let _ = leased;
        let meta = file.metadata().map_err(io)?;
        let len = usize::try_from(meta.len())
            .map_err(|_| Error::invalid(path, HeaderError::DimensionTooLarge))?;
        let mut head = Head([0u8; HEAD_READ]);
        let got = read_at(&file, &mut head.0, 0).map_err(io)?;
        Ok(OpenedFile {
            path,
            file,
            len,
            #[cfg(target_os = "linux")]
            dev: std::os::unix::fs::MetadataExt::dev(&meta),
            head,
            got,
            stamp: stamp(&meta),
            #[cfg(target_os = "linux")]
            lease: std::cell::Cell::new(lease),
        })
    }

    /// The path, for errors.
    pub(crate) fn path(&self) -> &'p Path {
        self.path
    }

    /// Whether the lease taken at open is still waiting for its map (false
    /// off Linux, or where none could be had).
    pub(crate) fn is_leased(&self) -> bool {
        #[cfg(target_os = "linux")]
        {
            let lease = self.lease.take();
            let held = lease.is_some();
            self.lease.set(lease);
            held
        }
        #[cfg(not(target_os = "linux"))]
        false
    }

    /// Whether fstat still says what it said at open: no writer has changed
    /// the file's length or contents since (as far as its times tell).
    pub(crate) fn unchanged(&self) -> Result<bool> {
        let meta = self.file.metadata().map_err(|e| Error::io(self.path, e))?;
        Ok(stamp(&meta) == self.stamp)
    }

    /// Whether the file is on a network or FUSE filesystem.
    pub(crate) fn is_remote(&self) -> bool {
        #[cfg(target_os = "linux")]
        return super::lease::is_remote_fs(&self.file, self.dev);
        #[cfg(not(target_os = "linux"))]
        return false;
    }

    /// The file's length when it was opened.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The first bytes of the file (all of it, for files under 4 KiB).
    pub(crate) fn prefix(&self) -> &[u8] {
        &self.head.0[..self.got]
    }

    /// Reads the bytes `at..at + len` with one positioned read (more only
    /// if the kernel returns less), into a buffer 8-byte aligned in memory:
    /// fewer bytes if the file ends first. Touches no page of a map.
    pub(crate) fn read_at(&self, at: usize, len: usize) -> Result<AlignedBuf> {
        let io = |e| Error::io(self.path, e);
        let mut buf = AlignedBuf::try_zeroed(len).ok_or_else(|| {
            Error::new(ErrorKind::OutOfMemory {
                what: format!("a read of {}", self.path.display()),
                bytes: len as u128,
            })
        })?;
        let got = read_at(&self.file, buf.as_bytes_mut(), at as u64).map_err(io)?;
        buf.truncate(got);
        Ok(buf)
    }

    /// Reads `buf.len()` bytes from offset `at` of the file, splitting the
    /// read across up to `threads` threads (positioned reads, so they share
    /// the one open file). Fails if the file ends early.
    pub(crate) fn read_exact_at(&self, buf: &mut [u8], at: u64, threads: usize) -> Result<()> {
        let io = |e| Error::io(self.path, e);
        // Below a few MB one thread is as fast as several.
        let threads = if buf.len() < (8 << 20) {
            1
        } else {
            threads.max(1)
        };
        let chunk = buf.len().div_ceil(threads).max(1);
        let file = &self.file;
        std::thread::scope(|scope| {
            let mut handles = Vec::new();
            for (i, part) in buf.chunks_mut(chunk).enumerate() {
                let offset = at + (i * chunk) as u64;
                handles.push(scope.spawn(move || read_fully_at(file, part, offset)));
            }
            handles.into_iter().try_for_each(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("a read thread failed")))
            })
        })
        .map_err(io)
    }

    /// Whether the file starts as a zip archive (an `.npz` file) does.
    pub(crate) fn is_zip(&self) -> bool {
        self.prefix().starts_with(b"PK\x03\x04")
    }

    /// Maps the whole file read-only.
    pub(crate) fn map(&self) -> Result<Storage> {
        #[cfg(target_os = "linux")]
        let lease = self.lease.take();
        #[cfg(not(target_os = "linux"))]
        let lease = None;
        Storage::map(&self.file, self.len, lease).map_err(|e| Error::io(self.path, e))
    }

    /// Parses and checks the `.npy` header: the header is well-formed, and
    /// the file holds every data byte it promises, so that no view can
    /// reach past the end of the file. Returns the header and, when the
    /// header was longer than the first read and had to be parsed from a
    /// map, that map.
    pub(crate) fn npy_header(&self) -> Result<(Header, Option<Storage>)> {
        let path = self.path;
        let mut mapped = None;
        let header = match Header::parse(self.prefix()) {
            Ok(h) => h,
            Err(HeaderError::LengthPastEnd { .. }) if self.got == HEAD_READ => {
                // A header longer than the first read (numpy allows up to
                // 10000 characters; a hostile file may claim 4 GiB): parse
                // it from the map, which costs no memory whatever it claims.
                let storage = self.map()?;
                let header =
                    Header::parse(storage.as_bytes()).map_err(|e| Error::invalid(path, e))?;
                mapped = Some(storage);
                header
            }
            Err(e) => return Err(Error::invalid(path, e)),
        };
        let offset = header.data_offset();
        let available = self.len.saturating_sub(offset);
        if let Some(n) = header.data_len().filter(|&n| n > available) {
            return Err(Error::invalid(
                path,
                Fault::Truncated {
                    offset: offset as u64,
                    expected: n as u64,
                    actual: available as u64,
                },
            ));
        }
        Ok((header, mapped))
    }
}

/// Reads from offset `at` of `file` until `buf` is full or the file ends;
/// returns the bytes read.
fn read_at(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        let pos = at.saturating_add(got as u64);
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(file, &mut buf[got..], pos);
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(file, &mut buf[got..], pos);
        match n {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Reads exactly `buf.len()` bytes from `offset` of `file`.
fn read_fully_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(file, &mut buf[got..], offset + got as u64);
        #[cfg(windows)]
        let n =
            std::os::windows::fs::FileExt::seek_read(file, &mut buf[got..], offset + got as u64);
        match n {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file ended before its data did (was it truncated while being read?)",
                ))
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads and validates the header of the `.npy` file at `path` without
/// touching its data: what `onedata info` reports. A file shorter than its
/// header promises is refused, as [`NpyArray::open`](super::NpyArray::open)
/// refuses it.
///
/// ```
/// use ndarray::Array3;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("a.npy");
/// onedata::npy::write_npy(&path, &Array3::<i16>::zeros((2, 3, 4))).unwrap();
/// let header = onedata::npy::read_header(&path).unwrap();
/// assert_eq!(header.dtype().descr(), "<i2");
/// assert_eq!(header.shape(), &[2, 3, 4]);
/// ```
pub fn read_header(path: impl AsRef<Path>) -> Result<Header> {
    let (header, _) = OpenedFile::open_unleased(path.as_ref())?.npy_header()?;
    Ok(header)
}
