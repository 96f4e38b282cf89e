//! The `.npy` format: header parsing and writing, dtypes, mapped arrays.
//!
//! Reading goes path -> bytes (mapped, or decoded into an owned buffer) ->
//! validated [`Header`] -> typed view. Writing is the reverse and produces
//! exactly the bytes `numpy.save` produces.

mod array;
mod dtype;
mod header;
#[cfg(target_os = "linux")]
pub(crate) mod lease;
mod policy;
mod read;
mod storage;
mod stored;
mod write;

pub use array::NpyArray;
pub use dtype::{
    ByteOrder, DatetimeUnit, Dtype, Element, ElementKind, Field, NpBool, OtherKind, TimeBase, NAT,
};
pub use header::{Header, Shape, ARRAY_ALIGN, MAGIC, MAX_DIMS, MAX_HEADER_CHARS};
pub use policy::MapPolicy;
pub use read::read_header;
pub use stored::{NpyOwned, NpyStored};
pub use write::{
    header_for, write_npy, write_npy_array, write_npy_array_to, write_npy_array_with,
    write_npy_parts, write_npy_parts_with, write_npy_to, write_npy_with,
};

pub(crate) use read::OpenedFile;
#[doc(hidden)]
pub use storage::floor_open_read_map;
pub(crate) use storage::{retained, AlignedBuf, Storage};

/// Runs `$body` with `$T` bound to the Rust element type of `$kind`
/// (booleans as [`NpBool`]). Exported (hidden) for the tests and the fuzz
/// targets, which dispatch on element types the same way.
#[doc(hidden)]
#[macro_export]
macro_rules! with_element_type {
    ($kind:expr, $T:ident => $body:expr) => {{
        use $crate::npy::ElementKind as K;
        match $kind {
            K::Bool => {
                type $T = $crate::npy::NpBool;
                $body
            }
            K::I8 => {
                type $T = i8;
                $body
            }
            K::U8 => {
                type $T = u8;
                $body
            }
            K::I16 => {
                type $T = i16;
                $body
            }
            K::U16 => {
                type $T = u16;
                $body
            }
            K::I32 => {
                type $T = i32;
                $body
            }
            K::U32 => {
                type $T = u32;
                $body
            }
            K::I64 => {
                type $T = i64;
                $body
            }
            K::U64 => {
                type $T = u64;
                $body
            }
            K::F16 => {
                type $T = $crate::half::f16;
                $body
            }
            K::F32 => {
                type $T = f32;
                $body
            }
            K::F64 => {
                type $T = f64;
                $body
            }
            K::C64 => {
                type $T = $crate::num_complex::Complex<f32>;
                $body
            }
            K::C128 => {
                type $T = $crate::num_complex::Complex<f64>;
                $body
            }
        }
    }};
}
pub(crate) use crate::with_element_type;
