//! Densifying a canonical compressed matrix into a zeroed buffer, in C or
//! Fortran order, as scipy's `toarray` does: each stored value is added to
//! a zero (so `-0.0` becomes `0.0`, as in scipy).
//!
//! A canonical matrix holds each position once, so every output element is
//! written once and never read: no page of the output is faulted in for
//! reading first.

use sprs::CsMatI;

use super::element::{SparseElement, SparseIndex};

/// Output bytes below which one thread does all the work.
const PARALLEL_MIN_BYTES: usize = 1 << 21;
/// Bytes of output rows one tile of the transposing fill covers: large
/// enough that each lane's cursor is visited few times, small enough to
/// stay in the last-level cache.
const TILE_BYTES: usize = 4 << 20;
/// At most this many threads.
const MAX_THREADS: usize = 8;

fn threads_for(bytes: usize) -> usize {
    if bytes < PARALLEL_MIN_BYTES {
        return 1;
    }
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_THREADS)
}

/// `0 + v`, as scipy's `toarray` adds `v` to a zeroed output.
#[inline(always)]
fn from_zero<T: SparseElement>(v: T) -> T {
    let mut z = T::zeroed();
    z.accumulate(v);
    z
}

/// Writes every stored value of `m`, added to zero, into `out`, a zeroed
/// `rows * cols` buffer in C order (`fortran == false`) or Fortran order.
pub(crate) fn densify<T: SparseElement, I: SparseIndex>(
    m: &CsMatI<T, I>,
    fortran: bool,
    out: &mut [T],
) {
    let outer = m.outer_dims();
    let inner = m.inner_dims();
    if outer == 0 || inner == 0 {
        return;
    }
    let indptr = m.indptr();
    let indptr = indptr.raw_storage();
    let indices = m.indices();
    let data = m.data();
    let threads = threads_for(std::mem::size_of_val(out));
    // The lanes (rows of a CSR, columns of a CSC) are contiguous in the
    // output when its order matches the storage.
    if m.is_csc() == fortran {
        let per = outer.div_ceil(threads);
        let work = |first_lane: usize, chunk: &mut [T]| {
            for (k, row) in chunk.chunks_exact_mut(inner).enumerate() {
                let lane = first_lane + k;
                let (s, e) = (indptr[lane].as_index(), indptr[lane + 1].as_index());
                for (i, v) in indices[s..e].iter().zip(&data[s..e]) {
                    row[i.as_index()] = from_zero(*v);
                }
            }
        };
        if threads == 1 {
            work(0, out);
        } else {
            std::thread::scope(|scope| {
                for (t, chunk) in out.chunks_mut(per * inner).enumerate() {
                    let work = &work;
                    scope.spawn(move || work(t * per, chunk));
                }
            });
        }
    } else {
        // Transposed: output row `i` gathers index `i` of every lane. Fill
        // it in tiles of output rows that stay in the last-level cache,
        // with a cursor per lane (indices are sorted in each lane).
        let per = inner.div_ceil(threads);
        let tile_rows = (TILE_BYTES / (outer * std::mem::size_of::<T>()).max(1)).max(1);
        let work = |first: usize, chunk: &mut [T]| {
            let rows_here = chunk.len() / outer;
            let end_row = first + rows_here;
            let mut cursor: Vec<usize> = (0..outer)
                .map(|lane| {
                    let (s, e) = (indptr[lane].as_index(), indptr[lane + 1].as_index());
                    s + indices[s..e].partition_point(|i| i.as_index() < first)
                })
                .collect();
            let mut tile_start = first;
            while tile_start < end_row {
                let tile_end = (tile_start + tile_rows).min(end_row);
                for (lane, c) in cursor.iter_mut().enumerate() {
                    let e = indptr[lane + 1].as_index();
                    let mut k = *c;
                    while k < e {
                        let i = indices[k].as_index();
                        if i >= tile_end {
                            break;
                        }
                        chunk[(i - first) * outer + lane] = from_zero(data[k]);
                        k += 1;
                    }
                    *c = k;
                }
                tile_start = tile_end;
            }
        };
        if threads == 1 {
            work(0, out);
        } else {
            std::thread::scope(|scope| {
                for (t, chunk) in out.chunks_mut(per * outer).enumerate() {
                    let work = &work;
                    scope.spawn(move || work(t * per, chunk));
                }
            });
        }
    }
}
