//! The content digest shared by `onedata digest` and the tests: SHA-256 of
//! the elements in C (row-major) order, each little-endian, booleans as one
//! byte 0 or 1, complex numbers as real then imaginary part.
//!
//! Two arrays with the same digest hold the same values bit for bit, whatever
//! their file's byte order or memory order, so digests computed by onedata and
//! by numpy (`np.ascontiguousarray(a, a.dtype.newbyteorder('<')).tobytes()`, booleans first
//! as `(a != 0).astype('u1')`)
//! can be compared directly.
//!
//! The other dtypes follow numpy's element bytes, in C order:
//!
//! - `U` strings: the UTF-32 code units little-endian, NUL padding
//!   included; `S` bytes, void (`V`) and structured records: the element
//!   bytes as stored (record fields are not reordered or byte-swapped);
//! - datetimes and timedeltas (`M8`, `m8`): the `i64` counts little-endian
//!   (the unit is not hashed);
//! - long doubles (`f16`, `c32`): the platform's bytes, little-endian.
//!
//! numpy's expression is the numeric one for `U`, `S`, datetimes and long
//! doubles, `np.ascontiguousarray(a, a.dtype.newbyteorder('<')).tobytes()`,
//! and `np.ascontiguousarray(a).tobytes()` for void and records. Object
//! arrays have no digest.

use bytemuck::AnyBitPattern;
use ndarray::{ArrayBase, Data, Dimension};
use sha2::{Digest as _, Sha256};

use crate::error::Result;
use crate::npy::{with_element_type, Element, ElementKind, NpyArray};

/// Bytes hashed per update when elements must be converted first.
const CHUNK: usize = 1 << 16;

/// The digest of a loaded array.
///
/// ```
/// use ndarray::{array, Array2, ShapeBuilder};
/// let a = array![[1u8, 2], [3, 4]];
/// let d = onedata::digest::digest_array(&a);
/// assert_eq!(onedata::digest::to_hex(&d).len(), 64);
/// // The same values in Fortran order: the same digest.
/// let mut f = Array2::<u8>::zeros((2, 2).f());
/// f.assign(&a);
/// assert_eq!(d, onedata::digest::digest_array(&f));
/// // Other values (the transpose): another digest.
/// assert_ne!(d, onedata::digest::digest_array(&a.t()));
/// ```
pub fn digest(array: &NpyArray) -> Result<[u8; 32]> {
    let Some(kind) = array.dtype().kind() else {
        return digest_other(array);
    };
    with_element_type!(kind, T => Ok(digest_array(&array.view::<T>()?)))
}

/// The digest of an array of strings, bytes, datetimes, long doubles, void
/// or records: each element's bytes in C order, the multi-byte units of
/// `U`, datetimes and long doubles little-endian (see the module docs).
fn digest_other(array: &NpyArray) -> Result<[u8; 32]> {
    let size = array.itemsize()?;
    let swap = if cfg!(target_endian = "big") {
        array.dtype().other_swap_unit()
    } else {
        None
    };
    let mut hasher = Sha256::new();
    let c_order = !array.is_fortran() || array.shape().iter().filter(|&&d| d > 1).count() <= 1;
    if c_order && swap.is_none() {
        hasher.update(array.data_bytes());
        return Ok(hasher.finalize().into());
    }
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + size);
    for element in array.element_bytes()? {
        let start = buf.len();
        buf.extend_from_slice(element);
        if let Some(unit) = swap {
            for c in buf[start..].chunks_exact_mut(unit) {
                c.reverse();
            }
        }
        if buf.len() >= CHUNK {
            hasher.update(&buf);
            buf.clear();
        }
    }
    hasher.update(&buf);
    Ok(hasher.finalize().into())
}

/// The digest of any array of numpy elements.
pub fn digest_array<S, D>(array: &ArrayBase<S, D>) -> [u8; 32]
where
    S: Data,
    S::Elem: Element + AnyBitPattern,
    D: Dimension,
{
    let mut hasher = Sha256::new();
    let kind = S::Elem::KIND;
    let raw_ok = kind != ElementKind::Bool && cfg!(target_endian = "little");
    match array.as_slice() {
        Some(slice) if raw_ok => hasher.update(bytemuck::cast_slice::<_, u8>(slice)),
        _ => {
            let unit = kind.swap_unit();
            let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + kind.itemsize());
            for x in array.iter() {
                let bytes = bytemuck::bytes_of(x);
                let start = buf.len();
                buf.extend_from_slice(bytes);
                if kind == ElementKind::Bool {
                    buf[start] = (buf[start] != 0) as u8;
                } else if cfg!(target_endian = "big") {
                    for c in buf[start..].chunks_exact_mut(unit) {
                        c.reverse();
                    }
                }
                if buf.len() >= CHUNK {
                    hasher.update(&buf);
                    buf.clear();
                }
            }
            hasher.update(&buf);
        }
    }
    hasher.finalize().into()
}

/// The digest of an object value (an object-array file that is not a
/// loading recipe, [`OneData::Object`](crate::OneData::Object)): SHA-256 of
/// the value's canonical serialization,
/// [`PyValue::write_canonical`](crate::PyValue::write_canonical). numpy
/// arrays inside it are hashed as pickled (dtype, shape, memory order and
/// raw bytes in the dtype's byte order), sets independently of their order.
///
/// ```
/// use onedata::PyValue;
/// let a = PyValue::Set(vec![PyValue::Int(1), PyValue::Int(2)]);
/// let b = PyValue::Set(vec![PyValue::Int(2), PyValue::Int(1)]);
/// assert_eq!(onedata::digest::digest_value(&a), onedata::digest::digest_value(&b));
/// ```
pub fn digest_value(value: &crate::PyValue) -> [u8; 32] {
    let mut hasher = Sha256::new();
    value.write_canonical(&mut |b| hasher.update(b));
    hasher.finalize().into()
}

/// Lower-case hexadecimal.
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
