//! Reads of part of a dense `.npy` object, without downloading the rest.
//!
//! - [`Remote::npy_header`] reads a `.npy` header with one small ranged GET.
//! - [`Remote::read_rows`] and [`Remote::read_row_ranges`] read rows of a
//!   dense array, ranges close together merged into one request.

use std::ops::Range;
use std::path::Path;

use futures::{StreamExt, TryStreamExt};

use super::object::Version;
use super::{Remote, RemoteHeader, PART_SIZE};
use crate::error::{Error, Result};
use crate::npy::{Dtype, Header, NpyArray};
use crate::RemoteFault;

/// Row ranges whose gap is at most this many bytes are read by one request.
/// Smaller than `object_store`'s 1 MiB: on the loopback server of the bench
/// the bytes a merge adds cost more than the requests it saves (see the
/// README's remote figures); over a slow link a larger gap pays.
pub const COALESCE_GAP: u64 = 256 << 10;

/// How many row-range requests of one read are in flight at once. A store
/// is slow per request (each waits out the server's latency), so scattered
/// reads go wide: on the bench's server 64 read 200 ranges in about half
/// the time 32 took (see the README's remote figures).
pub const RANGE_PARALLEL: usize = 64;

/// How many bytes of a `.npy` file the first header request asks for.
const HEADER_PROBE: u64 = 4096;

impl Remote {
    /// The `.npy` header of this object, read with one ranged GET of its
    /// first 4 KiB (a second when the header is longer).
    ///
    /// # Errors
    ///
    /// The remote faults of [`Remote::fetch`], and
    /// [`ErrorKind::Invalid`](crate::ErrorKind::Invalid) naming the URL for
    /// a header that is not a valid `.npy` header or promises more data
    /// than the object holds.
    pub fn npy_header(&self) -> Result<RemoteHeader> {
        self.block_on(self.npy_header_async())?
            .map(|(header, _)| header)
    }

    async fn npy_header_async(&self) -> Result<(RemoteHeader, Version)> {
        let label = Path::new(self.url.as_str());
        let (mut bytes, version) = self.get_range(0..HEADER_PROBE, None).await?;
        let needed = Header::required_len(&bytes).map_err(|e| Error::invalid(label, e))?;
        // Past the longest header `Header::parse` accepts, the parse below
        // refuses it: no second request for a forged length.
        let longest = 12 + 4 * crate::npy::MAX_HEADER_CHARS;
        if needed > bytes.len() && needed <= longest && (needed as u64) <= version.size {
            let (rest, _) = self
                .get_range(bytes.len() as u64..needed as u64, Some(&version))
                .await?;
            bytes.extend_from_slice(&rest);
        }
        let header = Header::parse(&bytes).map_err(|e| Error::invalid(label, e))?;
        if let Some(data) = header.data_len() {
            let have = version.size.saturating_sub(header.data_offset() as u64);
            if (data as u64) > have {
                return Err(Error::invalid(
                    label,
                    crate::error::Fault::Truncated {
                        offset: header.data_offset() as u64,
                        expected: data as u64,
                        actual: have,
                    },
                ));
            }
        }
        let remote = RemoteHeader {
            header,
            size: version.size,
            etag: version.etag.clone(),
        };
        Ok((remote, version))
    }

    /// Rows `rows` (along the first axis) of the dense `.npy` array at this
    /// URL, read with ranged GETs: one for the header, one for the rows.
    /// The result owns its memory.
    ///
    /// # Errors
    ///
    /// As [`Remote::read_row_ranges`].
    pub fn read_rows(&self, rows: Range<usize>) -> Result<NpyArray> {
        let mut arrays = self.read_row_ranges(std::slice::from_ref(&rows))?;
        arrays
            .pop()
            .ok_or_else(|| Error::argument(format!("{}: no rows were read", self.url.as_str())))
    }

    /// The row ranges `ranges` of the dense `.npy` array at this URL, one
    /// array each, in the order asked. One GET reads the header; the rows
    /// are read by ranged GETs, ranges at most [`COALESCE_GAP`] apart
    /// merged into one request of at most [`PART_SIZE`] (a range longer
    /// than that is one request of its own), up to `RANGE_PARALLEL` (64) requests at a time,
    /// each `If-Match` the header's ETag (a file rewritten meanwhile is
    /// [`RemoteFault::Changed`], never a mix of two versions). Empty ranges
    /// make no request.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument)
    /// for a range past the rows or backwards, for an object array, or for
    /// a Fortran-order array (whose rows are not contiguous: fetch the
    /// whole file); the remote faults of [`Remote::fetch`].
    pub fn read_row_ranges(&self, ranges: &[Range<usize>]) -> Result<Vec<NpyArray>> {
        self.block_on(async {
            let (header, version) = self.npy_header_async().await?;
            self.rows_of(&header, &version, ranges).await
        })?
    }

    /// [`Remote::read_row_ranges`] with the header already read.
    pub fn read_row_ranges_with(
        &self,
        header: &RemoteHeader,
        ranges: &[Range<usize>],
    ) -> Result<Vec<NpyArray>> {
        let version = Version {
            size: header.size,
            etag: header.etag.clone(),
            modified: None,
        };
        self.block_on(self.rows_of(header, &version, ranges))?
    }

    async fn rows_of(
        &self,
        header: &RemoteHeader,
        version: &Version,
        ranges: &[Range<usize>],
    ) -> Result<Vec<NpyArray>> {
        let label = Path::new(self.url.as_str());
        let h = &header.header;
        let (byte_ranges, _) = row_byte_ranges(self.url.as_str(), h, ranges)?;
        let merged = merge_ranges(&byte_ranges, COALESCE_GAP, PART_SIZE);
        let fetched: Vec<Vec<u8>> = futures::stream::iter(merged.iter().cloned())
            .map(|r| async move { self.get_range(r, Some(version)).await.map(|(b, _)| b) })
            .buffered(RANGE_PARALLEL)
            .try_collect()
            .await?;
        let mut arrays = Vec::with_capacity(ranges.len());
        for (rows, bytes) in ranges.iter().zip(&byte_ranges) {
            let slice = slice_of(&merged, &fetched, bytes).ok_or_else(|| {
                self.fault(RemoteFault::Truncated {
                    expected: bytes.end - bytes.start,
                    received: 0,
                })
            })?;
            let mut shape = h.shape().to_vec();
            shape[0] = rows.end - rows.start;
            let part = Header::new(h.dtype().clone(), false, &shape);
            let mut file = part.to_bytes();
            file.extend_from_slice(slice);
            arrays.push(NpyArray::from_bytes(label, &file)?);
        }
        Ok(arrays)
    }
}

/// `ranges` sorted and merged: ranges at most `gap` apart become one, as
/// long as the merged range stays within `cap` bytes (a single range longer
/// than `cap` stays whole). Empty ranges are left out.
fn merge_ranges(ranges: &[Range<u64>], gap: u64, cap: u64) -> Vec<Range<u64>> {
    let mut sorted: Vec<Range<u64>> = ranges.iter().filter(|r| r.start < r.end).cloned().collect();
    sorted.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<u64>> = Vec::new();
    for r in sorted {
        match merged.last_mut() {
            Some(last)
                if r.start <= last.end.saturating_add(gap)
                    && r.end.max(last.end) - last.start <= cap =>
            {
                last.end = last.end.max(r.end);
            }
            _ => merged.push(r),
        }
    }
    merged
}

/// The bytes of `range` in what was fetched for the merged ranges
/// `merged` (`None` if no merged range holds it whole). An empty range is
/// empty.
fn slice_of<'a>(
    merged: &[Range<u64>],
    fetched: &'a [Vec<u8>],
    range: &Range<u64>,
) -> Option<&'a [u8]> {
    if range.start >= range.end {
        return Some(&[]);
    }
    let i = merged
        .partition_point(|m| m.start <= range.start)
        .checked_sub(1)?;
    let m = &merged[i];
    let start = usize::try_from(range.start.checked_sub(m.start)?).ok()?;
    let end = usize::try_from(range.end.checked_sub(m.start)?).ok()?;
    fetched.get(i)?.get(start..end)
}

/// The byte ranges of `ranges` of rows of the array `header` describes,
/// and the bytes of one row.
fn row_byte_ranges(
    url: &str,
    header: &Header,
    ranges: &[Range<usize>],
) -> Result<(Vec<Range<u64>>, u64)> {
    let refuse = |why: String| Err(Error::argument(format!("{url}: {why}")));
    if *header.dtype() == Dtype::Object {
        return refuse("an object array has no rows to read by range: fetch the file".into());
    }
    if header.fortran_order() && header.shape().len() > 1 {
        return refuse(
            "its rows are not contiguous (a Fortran-order array): fetch the whole file".into(),
        );
    }
    let Some(&rows) = header.shape().first() else {
        return refuse("a 0-d array has no rows".into());
    };
    let row_elems: usize = header.shape()[1..].iter().product();
    let Some(item) = header.dtype().itemsize() else {
        return refuse("its dtype has no fixed item size".into());
    };
    let row_bytes = (row_elems as u64).saturating_mul(item as u64);
    let offset = header.data_offset() as u64;
    let mut out = Vec::with_capacity(ranges.len());
    for r in ranges {
        if r.start > r.end || r.end > rows {
            return refuse(format!(
                "rows {}..{} are not within its {rows} rows",
                r.start, r.end
            ));
        }
        let start = (r.start as u64).checked_mul(row_bytes);
        let end = (r.end as u64).checked_mul(row_bytes);
        match (start, end) {
            (Some(s), Some(e)) => out.push(offset + s..offset + e),
            _ => return refuse("its size overflows".into()),
        }
    }
    Ok((out, row_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_ranges_merge_within_the_cap_and_empty_ones_drop() {
        let merged = merge_ranges(&[10..20, 0..5, 30..40, 40..40, 100..200], 10, 50);
        assert_eq!(merged, [0..40, 100..200]);
        // The cap splits what the gap would merge; a long range stays whole.
        assert_eq!(merge_ranges(&[0..30, 35..60], 10, 50), [0..30, 35..60]);
        let long = std::iter::once(0..500).collect::<Vec<_>>();
        assert_eq!(merge_ranges(&long, 10, 50), long);
        let empty = std::iter::once(5..5).collect::<Vec<_>>();
        assert!(merge_ranges(&empty, 10, 50).is_empty());
    }

    #[test]
    fn each_range_is_sliced_from_its_merged_read() {
        let merged = vec![0..40, 100..200];
        let fetched = vec![(0..40u8).collect::<Vec<u8>>(), vec![7u8; 100]];
        assert_eq!(
            slice_of(&merged, &fetched, &(10..12)),
            Some(&[10u8, 11][..])
        );
        assert_eq!(
            slice_of(&merged, &fetched, &(150..152)),
            Some(&[7u8, 7][..])
        );
        assert_eq!(slice_of(&merged, &fetched, &(3..3)), Some(&[][..]));
        // Past what was fetched (a short answer): None, never a panic.
        let short = vec![vec![1u8; 5], vec![]];
        assert_eq!(slice_of(&merged, &short, &(10..12)), None);
        assert_eq!(slice_of(&merged, &fetched, &(50..60)), None);
    }
}
