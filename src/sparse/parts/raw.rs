//! A member of a sparse archive as stored: its header and its bytes, in
//! place when stored and aligned, else decoded once, and its elements read
//! as integers.

use std::sync::Arc;

use super::{NpzPart, PartBytes};
use crate::error::SparseError;
use crate::npy::{AlignedBuf, ByteOrder, Dtype, ElementKind, Storage};
use crate::sparse::member::{self, Member};
use crate::sparse::zip::Archive;

/// A member as stored: its header and its bytes (in place when stored and
/// aligned for its element type, else decoded once).
pub(super) struct Raw {
    pub(super) name: &'static str,
    pub(super) dtype: Dtype,
    pub(super) kind: ElementKind,
    pub(super) shape: Vec<usize>,
    pub(super) fortran: bool,
    pub(super) bytes: PartBytes,
}

pub(super) fn raw(
    archive: &Archive<'_>,
    name: &'static str,
    bytes: &[u8],
    storage: &Arc<Storage>,
    integer: bool,
) -> Result<Raw, SparseError> {
    let m: Member<'_> = member::open(archive, name)?;
    let dtype = m.header().dtype().clone();
    let kind = dtype.kind().filter(|k| {
        !integer
            || matches!(
                k,
                ElementKind::I8
                    | ElementKind::U8
                    | ElementKind::I16
                    | ElementKind::U16
                    | ElementKind::I32
                    | ElementKind::U32
                    | ElementKind::I64
                    | ElementKind::U64
            )
    });
    let Some(kind) = kind else {
        return Err(SparseError::MemberDtype {
            member: m.name().to_string(),
            found: dtype.descr(),
            expected: if integer {
                "an integer dtype"
            } else {
                "a numeric dtype"
            },
        });
    };
    let shape = m.header().shape().to_vec();
    let fortran = m.header().fortran_order();
    if let Some(data) = m.stored_data() {
        // Where the member's bytes sit in the map: arithmetic on two
        // addresses of the same allocation, no dereference.
        let start = (data.as_ptr() as usize).wrapping_sub(bytes.as_ptr() as usize);
        let range = start..start.wrapping_add(data.len());
        if (data.as_ptr() as usize).is_multiple_of(kind.align().max(1))
            && bytes.get(range.clone()).is_some()
        {
            return Ok(Raw {
                name,
                dtype,
                kind,
                shape,
                fortran,
                bytes: PartBytes {
                    storage: Arc::clone(storage),
                    range,
                },
            });
        }
    }
    let len = m.data_len();
    if m.data_len() >= (1 << 16) {
        // One call of libdeflate into a buffer that keeps the member's
        // header in front: no copy after the inflate.
        if let Some((buf, head)) = m.inflate_whole_padded()? {
            return Ok(Raw {
                name,
                dtype,
                kind,
                shape,
                fortran,
                bytes: PartBytes {
                    storage: Arc::new(Storage::Owned(buf)),
                    range: head..head + len,
                },
            });
        }
        // Stored and misaligned: reopened and copied below.
        let m = member::open(archive, name)?;
        let mut buf = alloc(len, name)?;
        m.read_into(buf.as_bytes_mut())?;
        return Ok(Raw {
            name,
            dtype,
            kind,
            shape,
            fortran,
            bytes: PartBytes::owned(buf),
        });
    }
    let mut buf = alloc(len, name)?;
    m.read_into(buf.as_bytes_mut())?;
    Ok(Raw {
        name,
        dtype,
        kind,
        shape,
        fortran,
        bytes: PartBytes::owned(buf),
    })
}

/// A buffer for a member's data; the caller overwrites all of it (or fails).
pub(super) fn alloc(len: usize, name: &str) -> Result<AlignedBuf, SparseError> {
    AlignedBuf::try_for_overwrite(len).ok_or_else(|| SparseError::TooLarge {
        what: format!("archive member {name:?}"),
        bytes: len as u128,
    })
}

impl Raw {
    pub(super) fn member(&self) -> String {
        format!("{}.npy", self.name)
    }

    pub(super) fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub(super) fn require_dims(&self, dims: usize) -> Result<(), SparseError> {
        if self.shape.len() == dims {
            Ok(())
        } else {
            Err(SparseError::MemberShape {
                member: self.member(),
                found: self.shape.clone(),
                expected: format!("{dims}-d"),
            })
        }
    }

    pub(super) fn big(&self) -> bool {
        matches!(
            self.dtype,
            Dtype::Numeric {
                order: ByteOrder::Big,
                ..
            }
        ) && self.kind.itemsize() > 1
    }

    /// Every value, as an integer (the member has an integer kind).
    pub(super) fn values(&self) -> impl Iterator<Item = i128> + '_ {
        let (kind, big) = (self.kind, self.big());
        self.bytes
            .as_bytes()
            .chunks_exact(kind.itemsize().max(1))
            .map(move |c| int_at(kind, big, c))
    }

    /// Whether scipy's `get_index_dtype` picks `int64` for this member:
    /// when `np.can_cast(dtype, np.int32)` fails and, if scipy checks
    /// contents (for sparse matrices, not sparse arrays), the member is not
    /// empty and some value lies outside `int32`.
    pub(super) fn needs_int64(&self, check_contents: bool) -> bool {
        match self.kind {
            ElementKind::I32
            | ElementKind::I16
            | ElementKind::U16
            | ElementKind::I8
            | ElementKind::U8 => false,
            _ if !check_contents => true,
            _ => self
                .values()
                .any(|v| v < i32::MIN as i128 || v > i32::MAX as i128),
        }
    }

    /// The member in the native index type (`int32` or `int64`), as numpy's
    /// `np.array(x, dtype=...)` casts it (wrapping): in place when it is
    /// already that, else converted into memory of its own.
    pub(super) fn into_index(self, wide: bool) -> Result<NpzPart, SparseError> {
        let kind = if wide {
            ElementKind::I64
        } else {
            ElementKind::I32
        };
        let target = Dtype::native(kind);
        let bytes = if self.dtype == target {
            self.bytes.clone()
        } else {
            let n = self.len();
            let len = n
                .checked_mul(kind.itemsize())
                .ok_or_else(|| SparseError::TooLarge {
                    what: format!("archive member {:?}", self.name),
                    bytes: n as u128 * kind.itemsize() as u128,
                })?;
            let mut buf = alloc(len, self.name)?;
            let out = buf.as_bytes_mut();
            if wide {
                for (o, v) in out.chunks_exact_mut(8).zip(self.values()) {
                    o.copy_from_slice(&(v as i64).to_ne_bytes());
                }
            } else {
                for (o, v) in out.chunks_exact_mut(4).zip(self.values()) {
                    o.copy_from_slice(&(v as i32).to_ne_bytes());
                }
            }
            PartBytes::owned(buf)
        };
        Ok(NpzPart {
            name: self.name,
            dtype: target,
            shape: self.shape,
            fortran: self.fortran,
            bytes,
        })
    }

    pub(super) fn into_part(self) -> NpzPart {
        NpzPart {
            name: self.name,
            dtype: self.dtype,
            shape: self.shape,
            fortran: self.fortran,
            bytes: self.bytes,
        }
    }
}

/// The integer a member element's bytes hold.
pub(super) fn int_at(kind: ElementKind, big: bool, c: &[u8]) -> i128 {
    macro_rules! read {
        ($t:ty, $n:literal) => {{
            let mut a = [0u8; $n];
            a.copy_from_slice(&c[..$n]);
            (if big {
                <$t>::from_be_bytes(a)
            } else {
                <$t>::from_le_bytes(a)
            }) as i128
        }};
    }
    match kind {
        ElementKind::I8 => read!(i8, 1),
        ElementKind::U8 => read!(u8, 1),
        ElementKind::I16 => read!(i16, 2),
        ElementKind::U16 => read!(u16, 2),
        ElementKind::I32 => read!(i32, 4),
        ElementKind::U32 => read!(u32, 4),
        ElementKind::I64 => read!(i64, 8),
        ElementKind::U64 => read!(u64, 8),
        _ => 0,
    }
}

pub(super) fn same_len(a: &Raw, b: &Raw) -> Result<(), SparseError> {
    if a.len() == b.len() {
        Ok(())
    } else {
        Err(SparseError::LengthMismatch {
            first: a.member(),
            first_len: a.len(),
            second: b.member(),
            second_len: b.len(),
        })
    }
}
