//! [`NpyStored`]: a `.npy` file's data bytes exactly as the file holds
//! them, for callers that interpret every dtype themselves.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use super::header::Header;
use super::read::OpenedFile;
use super::storage::{AlignedBuf, Storage};
use super::{MapPolicy, NpyArray};
use crate::error::{Error, ErrorKind, Result};

/// A `.npy` file opened as it is stored: its validated header and its data
/// bytes in the file's own byte order and alignment, mapped (never copied,
/// whatever the dtype: big-endian numbers, strings, datetimes, records,
/// long doubles and the pickle of an object array alike).
///
/// [`NpyArray`] is the typed reader: it decodes big-endian and misaligned
/// files into native order so that its views are plain Rust slices. This is
/// the reader for a consumer that understands the file's dtype itself, as
/// numpy does: the Python package hands these bytes to numpy, which views
/// any dtype in place.
///
/// ```
/// # fn main() -> onedata::Result<()> {
/// use ndarray::array;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("a.npy");
/// onedata::npy::write_npy(&path, &array![1.0f64, 2.0])?;
/// let stored = onedata::npy::NpyStored::open(&path)?;
/// assert_eq!(stored.header().dtype().descr(), "<f8");
/// assert!(stored.is_mapped());
/// assert_eq!(stored.bytes(), [1.0f64.to_le_bytes(), 2.0f64.to_le_bytes()].concat());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct NpyStored {
    storage: Arc<Storage>,
    header: Header,
    data: Range<usize>,
    path: Arc<Path>,
}

impl std::fmt::Debug for NpyStored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NpyStored")
            .field("path", &self.path)
            .field("dtype", &self.header.dtype().descr())
            .field("shape", &self.header.shape())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}

impl NpyStored {
    /// Opens and maps a `.npy` file, validating its header and checking that
    /// the file holds every data byte the header promises (so no access
    /// within [`NpyStored::bytes`] can fault on a missing page). For object
    /// arrays, whose length the header does not tell, the data is the rest
    /// of the file.
    pub fn open(path: impl AsRef<Path>) -> Result<NpyStored> {
        NpyStored::open_with(path, MapPolicy::Auto)
    }

    /// [`NpyStored::open`] with a choice of when to map the file and when
    /// to read it into memory (see [`MapPolicy`]).
    pub fn open_with(path: impl AsRef<Path>, policy: MapPolicy) -> Result<NpyStored> {
        let path = path.as_ref();
        // A file read without a lease is read again if it changed while it
        // was read (another program rewriting it), so that the bytes are
        // one version, the one the header was parsed from.
        let mut attempt = 0;
        let (header, storage) = loop {
            attempt += 1;
            let file = if policy == MapPolicy::Never {
                OpenedFile::open_unleased(path)?
            } else {
                OpenedFile::open(path)?
            };
            // The header is checked against the file's length here. A file
            // caught half-written by another program fails this; if it is
            // still changing, it is read again.
            let (header, mapped) = match file.npy_header() {
                Ok(h) => h,
                Err(_) if attempt < ATTEMPTS && !file.unchanged()? => {
                    std::thread::yield_now();
                    continue;
                }
                Err(e) => return Err(e),
            };
            let storage = match mapped {
                // A header too long for the first read was parsed from a map.
                Some(storage) if policy != MapPolicy::Never => Some(storage),
                _ => policy.storage(&file)?,
            };
            match storage {
                Some(storage) => break (header, storage),
                None if attempt < ATTEMPTS => std::thread::yield_now(),
                None => return Err(kept_changing(path)),
            }
        };
        let offset = header.data_offset();
        let available = storage.as_bytes().len().saturating_sub(offset);
        let len = header.data_len().unwrap_or(available);
        Ok(NpyStored {
            storage: Arc::new(storage),
            header,
            data: offset..offset + len,
            path: Arc::from(path),
        })
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The validated header: dtype (with its byte order), shape, memory order.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The data bytes as stored: shape product x itemsize bytes, in the
    /// dtype's byte order and the header's memory order.
    pub fn bytes(&self) -> &[u8] {
        &self.storage.as_bytes()[self.data.clone()]
    }

    /// Whether the bytes are a map of the file (see [`MapPolicy`]).
    pub fn is_mapped(&self) -> bool {
        self.storage.is_mapped()
    }

    /// Whether no other program can change these bytes under a view: true
    /// for owned bytes, and for a map holding a lease on its file (Linux,
    /// local filesystems: a writer that opens or truncates the file waits
    /// until the map has moved into private memory, with the same values at
    /// the same addresses). False for a map without a lease, whose bytes
    /// follow the file if another program rewrites it in place. See
    /// [`MapPolicy`](crate::npy::MapPolicy).
    pub fn is_protected(&self) -> bool {
        self.storage.is_protected()
    }

    /// The typed array over the same bytes: zero copy when the file is in
    /// native byte order and aligned, decoded into native order otherwise
    /// (as [`NpyArray::open`] does).
    pub fn into_array(self) -> Result<NpyArray> {
        let offset = self.data.start;
        NpyArray::with_data_at_shared(self.path, self.storage, self.header, offset)
    }
}

/// A `.npy` file's data read into memory of its own, as stored (the file's
/// byte order and memory order), writeable: what `np.load` without
/// `mmap_mode` gives, for callers that will modify the array.
///
/// The data is read with positioned reads split across a few threads
/// straight into a fresh buffer (large buffers are anonymous maps with
/// transparent huge pages advised), so a large file costs one pass over
/// its bytes, shared between cores.
///
/// ```
/// # fn main() -> onedata::Result<()> {
/// use ndarray::array;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("a.npy");
/// onedata::npy::write_npy(&path, &array![1u8, 2, 3])?;
/// let mut owned = onedata::npy::NpyOwned::read(&path)?;
/// owned.bytes_mut()[0] = 9;
/// assert_eq!(owned.bytes(), [9, 2, 3]);
/// # Ok(()) }
/// ```
pub struct NpyOwned {
    header: Header,
    buf: AlignedBuf,
    path: Arc<Path>,
}

impl std::fmt::Debug for NpyOwned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NpyOwned")
            .field("path", &self.path)
            .field("dtype", &self.header.dtype().descr())
            .field("shape", &self.header.shape())
            .finish()
    }
}

impl NpyOwned {
    /// Reads a `.npy` file (any dtype whose size the header tells: not
    /// object arrays) into memory, after validating its header and checking
    /// that the file holds every data byte it promises.
    pub fn read(path: impl AsRef<Path>) -> Result<NpyOwned> {
        let path = path.as_ref();
        // Read again if another program changed the file meanwhile (by
        // `fstat`, as `NpyStored::open_with` checks), so that the bytes are
        // the one version the header was parsed from.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let read = NpyOwned::read_once(path)?;
            match read {
                Some(owned) => return Ok(owned),
                None if attempt < ATTEMPTS => std::thread::yield_now(),
                None => return Err(kept_changing(path)),
            }
        }
    }

    fn read_once(path: &Path) -> Result<Option<NpyOwned>> {
        let file = OpenedFile::open_unleased(path)?;
        let (header, _) = match file.npy_header() {
            Ok(h) => h,
            Err(_) if !file.unchanged()? => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(len) = header.data_len() else {
            return Err(Error::new(ErrorKind::TypeMismatch {
                path: path.to_path_buf(),
                requested: "an array of fixed-size elements",
                found: header.dtype().descr(),
            }));
        };
        let mut buf = AlignedBuf::try_for_overwrite(len).ok_or_else(|| {
            Error::new(ErrorKind::OutOfMemory {
                what: format!("the data of {}", path.display()),
                bytes: len as u128,
            })
        })?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let read = file.read_exact_at(buf.as_bytes_mut(), header.data_offset() as u64, threads);
        if !file.unchanged()? {
            return Ok(None);
        }
        read?;
        Ok(Some(NpyOwned {
            header,
            buf,
            path: Arc::from(path),
        }))
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The validated header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The data bytes as stored.
    pub fn bytes(&self) -> &[u8] {
        self.buf.as_bytes()
    }

    /// The data bytes, writeable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        self.buf.as_bytes_mut()
    }
}

/// How many times a load reads a file that changes while it is read.
const ATTEMPTS: usize = 5;

/// The error of a load whose file changed each of the [`ATTEMPTS`] times
/// it was read.
fn kept_changing(path: &Path) -> Error {
    Error::io(
        path,
        std::io::Error::other(format!(
            "the file changed each of {ATTEMPTS} times it was read \
             (another program is writing it); load it again when it is done"
        )),
    )
}
