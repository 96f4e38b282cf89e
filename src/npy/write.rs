//! Writing arrays as `.npy` files, byte for byte as `numpy.save` writes them.

use std::io::{self, Write};
use std::path::Path;

use ndarray::{ArrayBase, Data, Dimension};

use super::dtype::{Dtype, Element};
use super::header::Header;
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
/// old file mapped keeps a valid view of the old contents.
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
    write_atomic(path.as_ref(), |w| write_npy_to(w, array))
}

/// Writes a file atomically through `write`: temporary file, then rename.
pub(crate) fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut io::BufWriter<&std::fs::File>) -> io::Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".onedata-").suffix(".tmp");
    // Files get the permissions `numpy.save` gives them (0666 less the umask),
    // not the private 0600 of temporary files.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let tmp = builder.tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
    {
        let mut w = io::BufWriter::with_capacity(1 << 16, tmp.as_file());
        write(&mut w).map_err(|e| Error::io(tmp.path(), e))?;
        w.flush().map_err(|e| Error::io(tmp.path(), e))?;
    }
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}
