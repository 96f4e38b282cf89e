//! Writing compressed sparse matrices as `scipy.sparse.save_npz` writes
//! them: members `indices`, `indptr`, `format`, `shape`, `data` and
//! `_is_array`, in that order, each a `.npy` file as `numpy.save` writes it,
//! in a zip laid out as `numpy.savez` (stored) or `numpy.savez_compressed`
//! (deflate at zlib's default level) lays it out.

use std::io::{self, Write};
use std::ops::Deref;
use std::path::Path;

use flate2::write::DeflateEncoder;
use flate2::Compression;
use sprs::{CsMatBase, SpIndex};

use super::zip::{ZipWriter, DEFLATED, STORED};
use crate::atomic::{write_atomic, Durability};
use crate::error::{Error, Result};
use crate::npy::{Dtype, Element, ElementKind, Header, ARRAY_ALIGN};

/// Elements converted per step when index types differ.
const CHUNK: usize = 1 << 15;
/// Members up to this size are deflated in one call (see `Member::deflate`).
const WHOLE_DEFLATE_MAX: u64 = 256 << 20;
/// Payload bytes from which a member is compressed on its own thread.
const PARALLEL_MIN_BYTES: u64 = 1 << 20;

type Sink<'s> = &'s mut dyn FnMut(&[u8]) -> io::Result<()>;
type Emit<'a> = Box<dyn Fn(Sink<'_>) -> io::Result<()> + Sync + 'a>;

/// One `.npy` member to write: its header and a way to stream its data.
struct Member<'a> {
    name: &'static str,
    header: Vec<u8>,
    payload_len: u64,
    emit: Emit<'a>,
}

impl<'a> Member<'a> {
    fn bytes(name: &'static str, header: Header, bytes: &'a [u8]) -> Member<'a> {
        Member {
            name,
            header: header.to_bytes(),
            payload_len: bytes.len() as u64,
            emit: Box::new(move |sink| {
                for c in bytes.chunks(1 << 20) {
                    sink(c)?;
                }
                Ok(())
            }),
        }
    }

    /// Integers of any sprs index type, less `sub`, as `int32` or `int64`.
    fn ints<X: SpIndex>(name: &'static str, src: &'a [X], sub: usize, wide: bool) -> Member<'a> {
        let kind = if wide {
            ElementKind::I64
        } else {
            ElementKind::I32
        };
        let header = Header::new(Dtype::native(kind), false, &[src.len()]);
        Member {
            name,
            header: header.to_bytes(),
            payload_len: (src.len() * kind.itemsize()) as u64,
            emit: Box::new(move |sink| {
                if wide {
                    let mut buf: Vec<i64> = Vec::with_capacity(CHUNK.min(src.len()));
                    for c in src.chunks(CHUNK) {
                        buf.clear();
                        buf.extend(
                            c.iter()
                                .map(|v| v.index_unchecked().wrapping_sub(sub) as i64),
                        );
                        sink(bytemuck::cast_slice(&buf))?;
                    }
                } else {
                    let mut buf: Vec<i32> = Vec::with_capacity(CHUNK.min(src.len()));
                    for c in src.chunks(CHUNK) {
                        buf.clear();
                        buf.extend(
                            c.iter()
                                .map(|v| v.index_unchecked().wrapping_sub(sub) as i32),
                        );
                        sink(bytemuck::cast_slice(&buf))?;
                    }
                }
                Ok(())
            }),
        }
    }

    fn crc(&self) -> io::Result<u32> {
        let mut h = crc32fast::Hasher::new();
        h.update(&self.header);
        (self.emit)(&mut |b| {
            h.update(b);
            Ok(())
        })?;
        Ok(h.finalize())
    }

    fn uncompressed(&self) -> u64 {
        self.header.len() as u64 + self.payload_len
    }

    /// The member deflated (raw deflate at zlib's default level 6), and its
    /// CRC. Members up to [`WHOLE_DEFLATE_MAX`] bytes are compressed in one
    /// call of libdeflate, whose streams are smaller than zlib's at the same
    /// level and quicker for every inflater to decode; larger ones are
    /// streamed through zlib so that no second copy of them is held.
    fn deflate(&self) -> io::Result<(Vec<u8>, u32)> {
        if self.uncompressed() <= WHOLE_DEFLATE_MAX {
            self.deflate_whole()
        } else {
            self.deflate_stream()
        }
    }

    /// The member deflated in one call of libdeflate.
    fn deflate_whole(&self) -> io::Result<(Vec<u8>, u32)> {
        let mut whole = Vec::with_capacity(self.uncompressed() as usize);
        whole.extend_from_slice(&self.header);
        (self.emit)(&mut |b| {
            whole.extend_from_slice(b);
            Ok(())
        })?;
        let crc = crc32fast::hash(&whole);
        let level = libdeflater::CompressionLvl::new(6).unwrap_or_default();
        let mut c = libdeflater::Compressor::new(level);
        let mut out = vec![0u8; c.deflate_compress_bound(whole.len())];
        let n = c
            .deflate_compress(&whole, &mut out)
            .map_err(|e| io::Error::other(format!("deflate: {e}")))?;
        out.truncate(n);
        Ok((out, crc))
    }

    /// The member deflated by zlib as it is emitted.
    fn deflate_stream(&self) -> io::Result<(Vec<u8>, u32)> {
        let mut h = crc32fast::Hasher::new();
        let guess = (self.uncompressed() / 2).min(1 << 30) as usize;
        let mut enc = DeflateEncoder::new(Vec::with_capacity(guess), Compression::default());
        h.update(&self.header);
        enc.write_all(&self.header)?;
        (self.emit)(&mut |b| {
            h.update(b);
            enc.write_all(b)
        })?;
        Ok((enc.finish()?, h.finalize()))
    }
}

/// The bytes of a slice of elements as `numpy.save` writes them (native order).
fn element_bytes<N: Element>(data: &[N]) -> &[u8] {
    bytemuck::cast_slice(data)
}

/// Whether `X`'s in-memory integers are already those of `int32` or
/// `int64` (`wide`): same size, and values are non-negative and in range.
fn same_layout<X>(wide: bool) -> bool {
    std::mem::size_of::<X>() == if wide { 8 } else { 4 }
}

/// How [`write_npz_with`] lays out a sparse `.npz` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct NpzOptions {
    /// Deflate every member (`save_npz`'s default) rather than store it.
    pub compressed: bool,
    /// For stored files: start every member's data at a multiple of 64
    /// bytes in the file, so that [`read_npz_stored`](super::read_npz_stored)
    /// views it in place. The local headers are padded with an extra field,
    /// as Android's `zipalign` pads them; `scipy.sparse.load_npz` and every
    /// zip reader skip it. Ignored when `compressed`.
    pub aligned: bool,
    /// Whether the save `fsync`s the file and its folder (see
    /// [`Durability`]; the default is [`Durability::Durable`]).
    pub durability: Durability,
}

impl NpzOptions {
    /// Deflated, as `save_npz` writes by default.
    pub const COMPRESSED: NpzOptions = NpzOptions {
        compressed: true,
        aligned: false,
        durability: Durability::Durable,
    };
    /// Stored, byte for byte as `save_npz(..., compressed=False)` writes.
    pub const STORED: NpzOptions = NpzOptions {
        compressed: false,
        aligned: false,
        durability: Durability::Durable,
    };
    /// Stored, each member's data 64-byte aligned in the file: the layout
    /// that loads as a zero-copy view of the mapped file.
    pub const ALIGNED: NpzOptions = NpzOptions {
        compressed: false,
        aligned: true,
        durability: Durability::Durable,
    };

    /// These options with the given [`Durability`].
    ///
    /// ```
    /// # fn main() -> onedata::Result<()> {
    /// use onedata::sparse::{read_npz, write_npz_with, NpzOptions};
    /// use onedata::Durability;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("m.npz");
    /// let m = sprs::CsMatI::<f32, i32>::new_csc((2, 2), vec![0, 1, 1], vec![1], vec![4.0]);
    /// let scratch = NpzOptions::COMPRESSED.with_durability(Durability::Scratch);
    /// write_npz_with(&path, &m, scratch)?;
    /// assert_eq!(read_npz(&path)?.nnz(), 1);
    /// # Ok(()) }
    /// ```
    pub const fn with_durability(self, durability: Durability) -> NpzOptions {
        NpzOptions { durability, ..self }
    }
}

/// Writes `matrix` as [`write_npz`](super::write_npz) does, laid out as
/// `options` say (a `csc_array` or `csr_array`, written atomically).
///
/// ```
/// # fn main() -> onedata::Result<()> {
/// use onedata::sparse::{read_npz_stored, write_npz_with, NpzOptions};
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("m.npz");
/// let m = sprs::CsMatI::<f64, i32>::new_csc((3, 2), vec![0, 1, 2], vec![0, 2], vec![1.5, -2.0]);
/// write_npz_with(&path, &m, NpzOptions::ALIGNED)?;
/// let stored = read_npz_stored(&path)?;
/// assert!(stored.is_mapped());
/// assert_eq!(stored.view::<f64, i32>()?.get(2, 1), Some(&-2.0));
/// # Ok(()) }
/// ```
pub fn write_npz_with<N, I, Iptr, IpS, IS, DS>(
    path: impl AsRef<Path>,
    matrix: &CsMatBase<N, I, IpS, IS, DS, Iptr>,
    options: NpzOptions,
) -> Result<()>
where
    N: Element,
    I: SpIndex + bytemuck::NoUninit,
    Iptr: SpIndex + bytemuck::NoUninit,
    IpS: Deref<Target = [Iptr]>,
    IS: Deref<Target = [I]>,
    DS: Deref<Target = [N]>,
{
    write_cs_with(path.as_ref(), matrix, options, true)
}

impl super::SparseMatrix {
    /// [`SparseMatrix::write_npz`](super::SparseMatrix::write_npz), laid out
    /// as `options` say (see [`NpzOptions`]).
    pub fn write_npz_with(&self, path: impl AsRef<Path>, options: NpzOptions) -> Result<()> {
        let path = path.as_ref();
        super::element::with_values!(&self.values, m, T => match m {
            super::CsMatrix::I32(m) => write_cs_with(path, m, options, self.is_array),
            super::CsMatrix::I64(m) => write_cs_with(path, m, options, self.is_array),
        })
    }
}

/// Writes `matrix` to `path` as scipy's `save_npz` writes a sparse array.
pub(crate) fn write_cs<N, I, Iptr, IpS, IS, DS>(
    path: &Path,
    matrix: &CsMatBase<N, I, IpS, IS, DS, Iptr>,
    compressed: bool,
    is_array: bool,
) -> Result<()>
where
    N: Element,
    I: SpIndex + bytemuck::NoUninit,
    Iptr: SpIndex + bytemuck::NoUninit,
    IpS: Deref<Target = [Iptr]>,
    IS: Deref<Target = [I]>,
    DS: Deref<Target = [N]>,
{
    let options = NpzOptions {
        compressed,
        ..NpzOptions::STORED
    };
    write_cs_with(path, matrix, options, is_array)
}

/// [`write_cs`] laid out as `options` say.
pub(crate) fn write_cs_with<N, I, Iptr, IpS, IS, DS>(
    path: &Path,
    matrix: &CsMatBase<N, I, IpS, IS, DS, Iptr>,
    options: NpzOptions,
    is_array: bool,
) -> Result<()>
where
    N: Element,
    I: SpIndex + bytemuck::NoUninit,
    Iptr: SpIndex + bytemuck::NoUninit,
    IpS: Deref<Target = [Iptr]>,
    IS: Deref<Target = [I]>,
    DS: Deref<Target = [N]>,
{
    let NpzOptions {
        compressed,
        aligned,
        durability,
    } = options;
    // Every .npy header is a multiple of 64 bytes long, so a member whose
    // bytes start 64-aligned has its data 64-aligned too.
    let align = if aligned { ARRAY_ALIGN as u64 } else { 1 };
    if N::KIND == ElementKind::F16 {
        return Err(Error::argument(format!(
            "{}: scipy.sparse does not support float16 data; convert it to float32 first",
            path.display()
        )));
    }
    let indptr_view = matrix.indptr();
    let indptr = indptr_view.raw_storage();
    let first = indptr.first().map_or(0, |v| v.index_unchecked());
    let last = indptr.last().map_or(0, |v| v.index_unchecked());
    // sprs keeps the index pointer of a slice as it was (not starting at 0),
    // with indices and data starting at its first entry.
    let nnz = last.saturating_sub(first);
    let (indices, data) = match (matrix.indices().get(..nnz), matrix.data().get(..nnz)) {
        (Some(i), Some(d)) => (i, d),
        _ => {
            return Err(Error::argument(format!(
                "{}: the matrix's index pointer runs past its indices or data",
                path.display()
            )))
        }
    };
    let (rows, cols) = (matrix.rows(), matrix.cols());
    // scipy's get_index_dtype: int32 unless a dimension or nnz needs int64.
    let wide = rows.max(cols).max(nnz) > i32::MAX as usize;
    let index_kind = if wide {
        ElementKind::I64
    } else {
        ElementKind::I32
    };
    let format: &'static [u8] = if matrix.is_csc() { b"csc" } else { b"csr" };
    let shape_values = [rows as i64, cols as i64];
    let shape_bytes: &[u8] = bytemuck::cast_slice(&shape_values);
    let s3 = Dtype::parse("|S3").ok_or_else(|| Error::argument("no |S3 dtype"))?;
    let mut members: Vec<Member<'_>> = Vec::with_capacity(6);
    members.push(if same_layout::<I>(wide) {
        Member::bytes(
            "indices.npy",
            Header::new(Dtype::native(index_kind), false, &[nnz]),
            bytemuck::cast_slice(indices),
        )
    } else {
        Member::ints("indices.npy", indices, 0, wide)
    });
    members.push(if same_layout::<Iptr>(wide) && first == 0 {
        Member::bytes(
            "indptr.npy",
            Header::new(Dtype::native(index_kind), false, &[indptr.len()]),
            bytemuck::cast_slice(indptr),
        )
    } else {
        Member::ints("indptr.npy", indptr, first, wide)
    });
    members.push(Member::bytes(
        "format.npy",
        Header::new(s3, false, &[]),
        format,
    ));
    members.push(Member::bytes(
        "shape.npy",
        Header::new(Dtype::native(ElementKind::I64), false, &[2]),
        shape_bytes,
    ));
    members.push(Member::bytes(
        "data.npy",
        Header::new(Dtype::native(N::KIND), false, &[nnz]),
        element_bytes(data),
    ));
    if is_array {
        members.push(Member::bytes(
            "_is_array.npy",
            Header::new(Dtype::native(ElementKind::Bool), false, &[]),
            &[1u8],
        ));
    }
    write_members(path, &members, compressed, align, durability)
}

/// Writes `members` as a zip archive, atomically (and durably, as
/// `durability` says): deflated when `compressed`, else stored with data
/// starting at multiples of `align`.
fn write_members(
    path: &Path,
    members: &[Member<'_>],
    compressed: bool,
    align: u64,
    durability: Durability,
) -> Result<()> {
    if compressed {
        let deflated = deflate_all(members).map_err(|e| Error::io(path, e))?;
        write_atomic(path, durability, |w| {
            let mut zip = ZipWriter::new(w);
            for (m, (bytes, crc)) in members.iter().zip(&deflated) {
                zip.begin(m.name, DEFLATED, *crc, m.uncompressed(), bytes.len() as u64)?;
                zip.data(bytes)?;
            }
            zip.finish().map(|_| ())
        })
    } else {
        let crcs = members
            .iter()
            .map(Member::crc)
            .collect::<io::Result<Vec<u32>>>()
            .map_err(|e| Error::io(path, e))?;
        write_atomic(path, durability, |w| {
            let mut zip = ZipWriter::new(w);
            for (m, crc) in members.iter().zip(&crcs) {
                zip.begin_aligned(
                    m.name,
                    STORED,
                    *crc,
                    m.uncompressed(),
                    m.uncompressed(),
                    align,
                )?;
                zip.data(&m.header)?;
                (m.emit)(&mut |b| zip.data(b))?;
            }
            zip.finish().map(|_| ())
        })
    }
}

/// The member names `scipy.sparse.save_npz` writes, in the archive's spelling.
const SCIPY_MEMBERS: [&str; 9] = [
    "indices.npy",
    "indptr.npy",
    "row.npy",
    "col.npy",
    "offsets.npy",
    "format.npy",
    "shape.npy",
    "data.npy",
    "_is_array.npy",
];

/// Writes a sparse `.npz` file from its members as `scipy.sparse.save_npz`
/// gathers them (`indices`, `indptr`, `row`, `col`, `offsets`, `format`,
/// `shape`, `data`, `_is_array`): each given as its key, the `.npy` header
/// `numpy.save` writes for it and its data bytes, written in the order
/// given, laid out as `options` say (deflated as `numpy.savez_compressed`,
/// stored as `numpy.savez`, or stored with 64-byte aligned data for
/// [`read_npz_stored`](super::read_npz_stored) and
/// [`read_npz_parts`](super::read_npz_parts) to view in place). The file is
/// written atomically. Each header must parse and promise exactly the bytes
/// given; nothing else about the matrix is checked here.
///
/// ```
/// # fn main() -> onedata::Result<()> {
/// use onedata::npy::{Dtype, ElementKind, Header};
/// use onedata::sparse::{read_npz, write_npz_members, NpzOptions, SparseFormat};
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("m.npz");
/// let i32s = |n| Header::new(Dtype::native(ElementKind::I32), false, &[n]).to_bytes();
/// let (row, col, data) = ([1i32, 0], [0i32, 2], [2.5f64, -1.0]);
/// let shape = [2i64, 3];
/// write_npz_members(
///     &path,
///     &[
///         ("row", &i32s(2), bytemuck::cast_slice(&row)),
///         ("col", &i32s(2), bytemuck::cast_slice(&col)),
///         ("format", &Header::new(Dtype::parse("|S3").unwrap(), false, &[]).to_bytes(), b"coo"),
///         ("shape", &Header::new(Dtype::native(ElementKind::I64), false, &[2]).to_bytes(),
///          bytemuck::cast_slice(&shape)),
///         ("data", &Header::new(Dtype::native(ElementKind::F64), false, &[2]).to_bytes(),
///          bytemuck::cast_slice(&data)),
///     ],
///     NpzOptions::COMPRESSED,
/// )?;
/// let m = read_npz(&path)?;
/// assert_eq!(m.format(), SparseFormat::Coo);
/// assert_eq!(m.to_dense()?.view2::<f64>()?[[1, 0]], 2.5);
/// # Ok(()) }
/// ```
pub fn write_npz_members(
    path: impl AsRef<Path>,
    members: &[(&str, &[u8], &[u8])],
    options: NpzOptions,
) -> Result<()> {
    let path = path.as_ref();
    let refuse = |what: String| Error::argument(format!("{}: {what}", path.display()));
    let mut out: Vec<Member<'_>> = Vec::with_capacity(members.len());
    for &(key, header, data) in members {
        let name = SCIPY_MEMBERS
            .iter()
            .copied()
            .find(|n| n.strip_suffix(".npy") == Some(key))
            .ok_or_else(|| refuse(format!("{key:?} is not a member save_npz writes")))?;
        if out.iter().any(|m| m.name == name) {
            return Err(refuse(format!("member {key:?} given twice")));
        }
        let parsed = Header::parse(header)
            .map_err(|e| refuse(format!("member {key:?} has a bad .npy header: {e}")))?;
        if parsed.data_offset() != header.len() || parsed.data_len() != Some(data.len()) {
            return Err(refuse(format!(
                "member {key:?}: its header does not promise the {} bytes given",
                data.len()
            )));
        }
        out.push(Member {
            name,
            header: header.to_vec(),
            payload_len: data.len() as u64,
            emit: Box::new(move |sink| {
                for c in data.chunks(1 << 20) {
                    sink(c)?;
                }
                Ok(())
            }),
        });
    }
    let align = if options.aligned && !options.compressed {
        ARRAY_ALIGN as u64
    } else {
        1
    };
    write_members(path, &out, options.compressed, align, options.durability)
}

/// Deflates every member, the large ones on threads of their own.
fn deflate_all(members: &[Member<'_>]) -> io::Result<Vec<(Vec<u8>, u32)>> {
    let big: Vec<bool> = members
        .iter()
        .map(|m| m.payload_len >= PARALLEL_MIN_BYTES)
        .collect();
    if big.iter().filter(|&&b| b).count() < 2 {
        return members.iter().map(Member::deflate).collect();
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = members
            .iter()
            .zip(&big)
            .map(|(m, &b)| {
                if b {
                    Some(s.spawn(move || m.deflate()))
                } else {
                    None
                }
            })
            .collect();
        members
            .iter()
            .zip(handles)
            .map(|(m, h)| match h {
                Some(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
                None => m.deflate(),
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ways of deflating a member give a stream that inflates to the
    /// member's bytes, with their CRC.
    #[test]
    fn whole_and_streamed_deflate_inflate_to_the_member() {
        let values: Vec<f32> = (0..200_000)
            .map(|i| ((i * 7919) % 1013) as f32 * 0.5)
            .collect();
        let header = Header::new(Dtype::native(ElementKind::F32), false, &[values.len()]);
        let m = Member::bytes("data", header, element_bytes(&values));
        let mut want = m.header.clone();
        want.extend_from_slice(element_bytes(&values));
        for (how, (stream, crc)) in [
            ("whole", m.deflate_whole().unwrap()),
            ("streamed", m.deflate_stream().unwrap()),
        ] {
            let mut got = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::DeflateDecoder::new(&stream[..]),
                &mut got,
            )
            .unwrap();
            assert!(got == want, "{how}: inflated bytes differ");
            assert_eq!(crc, crc32fast::hash(&want), "{how}");
            assert!(
                stream.len() < want.len() / 2,
                "{how}: {} bytes",
                stream.len()
            );
        }
    }
}
