//! Reading just the header of a `.npy` file.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::header::{Header, MAX_HEADER_CHARS};
use crate::error::{Error, Fault, HeaderError, Result};

/// Reads and validates the header of the `.npy` file at `path` without
/// touching its data: what `onedata info` reports.
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
    let path = path.as_ref();
    let io = |e| Error::io(path, e);
    let mut file = File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    let mut prefix = Vec::with_capacity(12);
    (&mut file).take(12).read_to_end(&mut prefix).map_err(io)?;
    let needed = Header::required_len(&prefix).map_err(|e| Error::invalid(path, e))?;
    if needed as u64 > file_len {
        return Err(Error::invalid(
            path,
            Header::length_past_end(&prefix, file_len),
        ));
    }
    // numpy refuses headers over 10000 characters (at most 4 bytes each in
    // UTF-8): refuse longer ones before reading them.
    if needed > 12 + 4 * MAX_HEADER_CHARS {
        return Err(Error::invalid(path, HeaderError::TooLarge(needed - 12)));
    }
    let mut bytes = Vec::with_capacity(needed);
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.take(needed as u64)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let header = Header::parse(&bytes).map_err(|e| Error::invalid(path, e))?;
    // Refuse, as numpy does, a file shorter than its header promises.
    if let Some(data_len) = header.data_len() {
        let available = file_len.saturating_sub(header.data_offset() as u64);
        if (data_len as u64) > available {
            return Err(Error::invalid(
                path,
                Fault::Truncated {
                    offset: header.data_offset() as u64,
                    expected: data_len as u64,
                    actual: available,
                },
            ));
        }
    }
    Ok(header)
}
