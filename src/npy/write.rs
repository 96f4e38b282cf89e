//! Writing arrays as `.npy` files, byte for byte as `numpy.save` writes them.

use std::io::{self, Write};
use std::path::Path;

use ndarray::{ArrayBase, Data, Dimension};

use super::array::NpyArray;
use super::dtype::{Dtype, Element};
use super::header::Header;
use crate::atomic::{write_atomic, Durability};
use crate::error::{Error, Result};

/// Elements gathered per write when the array is not contiguous.
const CHUNK_ELEMENTS: usize = 1 << 16;

/// The header `numpy.save` writes for `array`: `fortran_order` is true only
/// for arrays that are Fortran- but not C-contiguous, as numpy decides.
pub fn header_for<S, D>(array: &ArrayBase<S, D>) -> Header
where
    S: Data,
    S::Elem: Element,
    D: Dimension,
{
    let fortran = !array.is_standard_layout() && array.t().is_standard_layout();
    Header::new(Dtype::native(S::Elem::KIND), fortran, array.shape())
}

/// Writes `array` in `.npy` format to `w`: the same bytes as `numpy.save`.
///
/// ```
/// use ndarray::array;
/// let mut bytes = Vec::new();
/// onedata::npy::write_npy_to(&mut bytes, &array![1u8, 2, 3]).unwrap();
/// assert_eq!(bytes.len(), 128 + 3);
/// assert_eq!(&bytes[127..], &[b'\n', 1, 2, 3][..]);
/// ```
pub fn write_npy_to<W, S, D>(mut w: W, array: &ArrayBase<S, D>) -> io::Result<()>
where
    W: Write,
    S: Data,
    S::Elem: Element,
    D: Dimension,
{
    let header = header_for(array);
    w.write_all(&header.to_bytes())?;
    if let Some(slice) = array.as_slice() {
        return w.write_all(bytemuck::cast_slice(slice));
    }
    if header.fortran_order() {
        if let Some(slice) = array.t().as_slice() {
            return w.write_all(bytemuck::cast_slice(slice));
        }
    }
    // Neither C- nor Fortran-contiguous: numpy writes it in C order.
    let mut chunk = Vec::with_capacity(CHUNK_ELEMENTS.min(array.len()));
    for &x in array.iter() {
        chunk.push(x);
        if chunk.len() == CHUNK_ELEMENTS {
            w.write_all(bytemuck::cast_slice(&chunk))?;
            chunk.clear();
        }
    }
    w.write_all(bytemuck::cast_slice(&chunk))
}

/// Writes `array` to `path` atomically: the bytes go to a temporary file in
/// the same folder, which is then renamed over `path`. A reader that has the
/// old file mapped keeps a valid view of the old contents. The save is
/// durable: the temporary file is `fsync`ed before the rename and the folder
/// after it, so that a power cut leaves the old file or the new one
/// ([`write_npy_with`] and [`Durability::Scratch`] skip the syncs).
///
/// On Linux, C- or Fortran-contiguous arrays of 64 MiB and more are written
/// with direct I/O (`O_DIRECT`) where the filesystem takes it: the bytes go
/// from the array to the device through two 8 MiB aligned buffers, written in
/// parallel, instead of through the page cache. Saving a many-GB spks matrix
/// then neither evicts the arrays an analysis is reading nor leaves gigabytes
/// of dirty pages to stall later writes; the first read of the new file
/// comes from the device. The file is the same either way; filesystems
/// without direct I/O get the usual buffered write.
///
/// ```
/// use ndarray::Array2;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("a.npy");
/// onedata::npy::write_npy(&path, &Array2::<f64>::zeros((2, 3))).unwrap();
/// let back = onedata::npy::NpyArray::open(&path).unwrap();
/// assert_eq!(back.shape(), &[2, 3]);
/// ```
pub fn write_npy<P, S, D>(path: P, array: &ArrayBase<S, D>) -> Result<()>
where
    P: AsRef<Path>,
    S: Data,
    S::Elem: Element,
    D: Dimension,
{
    write_npy_with(path, array, Durability::Durable)
}

/// [`write_npy`] with the given [`Durability`]: `Scratch` skips the
/// `fsync`s, for data that can be recomputed.
///
/// ```
/// use ndarray::Array1;
/// use onedata::Durability;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("scratch.npy");
/// onedata::npy::write_npy_with(&path, &Array1::<u16>::ones(4), Durability::Scratch).unwrap();
/// let back = onedata::npy::NpyArray::open(&path).unwrap();
/// assert_eq!(back.view1::<u16>().unwrap().sum(), 4);
/// ```
pub fn write_npy_with<P, S, D>(
    path: P,
    array: &ArrayBase<S, D>,
    durability: Durability,
) -> Result<()>
where
    P: AsRef<Path>,
    S: Data,
    S::Elem: Element,
    D: Dimension,
{
    let path = path.as_ref();
    #[cfg(target_os = "linux")]
    if let Some(data) = contiguous_bytes(array) {
        if data.len() >= direct::MIN_BYTES {
            let header = header_for(array).to_bytes();
            return crate::atomic::write_atomic_file(path, durability, |file, tmp| {
                if direct::write(tmp, &header, data)? {
                    return Ok(());
                }
                let mut w = io::BufWriter::with_capacity(1 << 16, file);
                w.write_all(&header)?;
                w.write_all(data)?;
                w.flush()
            });
        }
    }
    write_atomic(path, durability, |w| write_npy_to(w, array))
}

/// The header `numpy.save` writes for a loaded array: its dtype as held in
/// memory (native byte order for numbers, `U`, datetimes and long doubles),
/// and Fortran order only when the array is not also C-contiguous.
fn header_for_npy(array: &NpyArray) -> Result<Header> {
    array.itemsize()?;
    let dims_over_one = array.shape().iter().filter(|&&d| d > 1).count();
    let fortran = array.is_fortran() && dims_over_one > 1 && !array.is_empty();
    Ok(Header::new(array.dtype().clone(), fortran, array.shape()))
}

/// Writes a loaded array in `.npy` format to `w`, whatever its dtype but
/// objects: the bytes `numpy.save` writes for the same array (the header
/// with the same descr, then the element bytes in the array's memory order).
///
/// ```
/// # fn main() -> onedata::Result<()> {
/// use onedata::npy::{write_npy_array_to, Dtype, Header, NpyArray};
/// let mut file = Header::new(Dtype::parse("|S2").unwrap(), false, &[2]).to_bytes();
/// file.extend_from_slice(b"ab\0c");
/// let a = NpyArray::from_bytes("a.npy", &file)?;
/// let mut out = Vec::new();
/// write_npy_array_to(&mut out, &a)?;
/// assert_eq!(out, file);
/// # Ok(()) }
/// ```
pub fn write_npy_array_to<W: Write>(mut w: W, array: &NpyArray) -> Result<()> {
    let header = header_for_npy(array)?;
    let io = |e| Error::io(array.path(), e);
    w.write_all(&header.to_bytes()).map_err(io)?;
    w.write_all(array.data_bytes()).map_err(io)
}

/// Writes a loaded array to `path` atomically and durably, as [`write_npy`]
/// writes an ndarray: byte for byte what `numpy.save` writes for the same array, for
/// every dtype but objects (strings, bytes, datetimes, long doubles, void
/// and structured records included).
pub fn write_npy_array(path: impl AsRef<Path>, array: &NpyArray) -> Result<()> {
    write_npy_array_with(path, array, Durability::Durable)
}

/// [`write_npy_array`] with the given [`Durability`].
pub fn write_npy_array_with(
    path: impl AsRef<Path>,
    array: &NpyArray,
    durability: Durability,
) -> Result<()> {
    let header = header_for_npy(array)?.to_bytes();
    write_atomic(path.as_ref(), durability, |w| {
        w.write_all(&header)?;
        w.write_all(array.data_bytes())
    })
}

/// Writes a `.npy` file atomically from a header already encoded (for
/// example by numpy's own `numpy.lib.format`, as the Python package does)
/// and the element bytes: temporary file, `fsync`, rename, `fsync` of the
/// folder, with direct I/O for large arrays as in [`write_npy`].
///
/// The header is parsed and checked first: a header onedata cannot read, or
/// one whose shape and dtype do not account for exactly `data.len()` bytes,
/// is an [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument)
/// and nothing is written. Object arrays (`|O`, whose data is a pickle) are
/// written as given.
///
/// ```
/// # fn main() -> onedata::Result<()> {
/// use onedata::npy::{write_npy_parts, Dtype, Header, NpyArray};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("a.npy");
/// let header = Header::new(Dtype::parse("<u2").unwrap(), false, &[2]).to_bytes();
/// write_npy_parts(&path, &header, &[1, 0, 2, 0])?;
/// assert_eq!(NpyArray::open(&path)?.view1::<u16>()?.to_vec(), [1, 2]);
/// assert!(write_npy_parts(&path, &header, &[1, 0]).is_err());
/// # Ok(()) }
/// ```
pub fn write_npy_parts(path: impl AsRef<Path>, header: &[u8], data: &[u8]) -> Result<()> {
    write_npy_parts_with(path, header, data, Durability::Durable)
}

/// [`write_npy_parts`] with the given [`Durability`].
pub fn write_npy_parts_with(
    path: impl AsRef<Path>,
    header: &[u8],
    data: &[u8],
    durability: Durability,
) -> Result<()> {
    let path = path.as_ref();
    let parsed = Header::parse(header).map_err(|e| {
        Error::argument(format!(
            "cannot write {}: its .npy header does not parse: {e}",
            path.display()
        ))
    })?;
    if parsed.data_offset() != header.len() {
        return Err(Error::argument(format!(
            "cannot write {}: the header is {} bytes but says the data starts at byte {}",
            path.display(),
            header.len(),
            parsed.data_offset()
        )));
    }
    if let Some(n) = parsed.data_len().filter(|&n| n != data.len()) {
        return Err(Error::argument(format!(
            "cannot write {}: the header describes {n} data bytes, {} were given",
            path.display(),
            data.len()
        )));
    }
    #[cfg(target_os = "linux")]
    if data.len() >= direct::MIN_BYTES {
        return crate::atomic::write_atomic_file(path, durability, |file, tmp| {
            if direct::write(tmp, header, data)? {
                return Ok(());
            }
            let mut w = io::BufWriter::with_capacity(1 << 16, file);
            w.write_all(header)?;
            w.write_all(data)?;
            w.flush()
        });
    }
    write_atomic(path, durability, |w| {
        w.write_all(header)?;
        w.write_all(data)
    })
}

/// The bytes of `array` in the order `write_npy_to` writes them, when they
/// lie contiguously in memory.
fn contiguous_bytes<S, D>(array: &ArrayBase<S, D>) -> Option<&[u8]>
where
    S: Data,
    S::Elem: Element,
    D: Dimension,
{
    if let Some(slice) = array.as_slice() {
        return Some(bytemuck::cast_slice(slice));
    }
    if header_for(array).fortran_order() {
        return array.as_slice_memory_order().map(bytemuck::cast_slice);
    }
    None
}

/// Direct I/O for large arrays: the bytes go from the array to the device
/// through a small aligned buffer, without passing through the page cache.
///
/// A buffered write of a many-GB spks matrix first fills that much page
/// cache with dirty pages, pushing out the arrays an analysis is reading and
/// stalling later writes while they drain. With direct I/O the write costs
/// what the device takes, and the page cache keeps what it held. Files are
/// byte for byte the same either way.
#[cfg(target_os = "linux")]
mod direct {
    use std::fs::{File, OpenOptions};
    use std::io;
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    use std::path::Path;

    /// Arrays from this many data bytes on are written with direct I/O.
    pub(super) const MIN_BYTES: usize = 64 << 20;
    /// Bytes per write: a multiple of every logical block size.
    const CHUNK: usize = 8 << 20;
    /// Alignment of offsets, lengths and the buffer for `O_DIRECT`.
    const ALIGN: usize = 4096;

    /// Writes `header` then `data` to the file at `path` with `O_DIRECT`.
    /// `Ok(false)` when the filesystem does not take direct I/O: the caller
    /// then writes the file the usual way, from the start.
    pub(super) fn write(path: &Path, header: &[u8], data: &[u8]) -> io::Result<bool> {
        let file = match OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Ok(false),
            Err(e) => return Err(e),
        };
        let total = header.len() + data.len();
        let chunks = total.div_ceil(CHUNK);
        // Two writers, each with its own buffer, over the two halves of the
        // file: one fills its buffer while the other's write is in flight.
        let half = chunks.div_ceil(2);
        let outcome = std::thread::scope(|s| {
            let second = s.spawn(|| write_chunks(&file, header, data, half..chunks));
            let first = write_chunks(&file, header, data, 0..half);
            let second = second
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            first.and(second)
        });
        match outcome {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                file.set_len(0)?;
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
        // The last write was padded up to the alignment. A durable save
        // syncs the file, data and this length, after `write` returns
        // (`atomic::write_atomic_file`, through its own descriptor).
        file.set_len(total as u64)?;
        Ok(true)
    }

    /// Writes chunks `range` of the stream `header` + `data`.
    fn write_chunks(
        file: &File,
        header: &[u8],
        data: &[u8],
        range: std::ops::Range<usize>,
    ) -> io::Result<()> {
        if range.is_empty() {
            return Ok(());
        }
        let total = header.len() + data.len();
        let mut buf = memmap2::MmapMut::map_anon(CHUNK)?;
        for k in range {
            let start = k * CHUNK;
            let end = total.min(start + CHUNK);
            let len = end - start;
            fill(&mut buf[..len], header, data, start);
            let padded = len.next_multiple_of(ALIGN);
            buf[len..padded].fill(0);
            file.write_all_at(&buf[..padded], start as u64)?;
        }
        Ok(())
    }

    /// Copies bytes `start..start + out.len()` of `header` + `data` to `out`.
    fn fill(out: &mut [u8], header: &[u8], data: &[u8], start: usize) {
        let mut pos = start;
        let mut written = 0;
        if pos < header.len() {
            let n = (header.len() - pos).min(out.len());
            out[..n].copy_from_slice(&header[pos..pos + n]);
            written = n;
            pos += n;
        }
        let rest = out.len() - written;
        let from = pos - header.len();
        out[written..].copy_from_slice(&data[from..from + rest]);
    }
}
