//! Element and index types of sparse matrices, and the type-erased matrix.

use std::fmt::Debug;

use bytemuck::{AnyBitPattern, NoUninit};
use half::f16;
use num_complex::Complex;
use sprs::{CsMatI, SpIndex};

use crate::npy::{Element, ElementKind, NpBool};

/// A numpy element type a sparse matrix can hold: every numeric type of
/// [`Element`] that can be viewed (so [`NpBool`], not `bool`).
///
/// `accumulate` is how scipy's sparsetools add two stored values when they
/// sum duplicates or densify: wrapping for integers, logical or for booleans,
/// IEEE addition for floats (`f16` through `f32`, as numpy adds halves) and
/// complex numbers.
pub trait SparseElement: Element + AnyBitPattern + Debug + sealed::Sealed {
    /// `*self += other`, as scipy adds stored values.
    fn accumulate(&mut self, other: Self);

    #[doc(hidden)]
    fn wrap(m: CsMatrix<Self>) -> Values;
    #[doc(hidden)]
    fn peek(v: &Values) -> Option<&CsMatrix<Self>>;
    #[doc(hidden)]
    fn take(v: Values) -> Result<CsMatrix<Self>, Values>;
}

/// An index type of the sprs matrices onedata builds: `i32` or `i64`, the
/// index dtypes scipy uses.
pub trait SparseIndex: SpIndex + NoUninit + AnyBitPattern + sealed::SealedIndex {
    /// The numpy kind (`I32` or `I64`).
    const KIND: ElementKind;
    #[doc(hidden)]
    fn wrap_cs<T>(m: CsMatI<T, Self>) -> CsMatrix<T>;
    #[doc(hidden)]
    fn peek<T>(m: &CsMatrix<T>) -> Option<&CsMatI<T, Self>>;
    #[doc(hidden)]
    fn take<T>(m: CsMatrix<T>) -> Result<CsMatI<T, Self>, CsMatrix<T>>;
    #[doc(hidden)]
    fn from_i128(v: i128) -> Option<Self>;
    #[doc(hidden)]
    fn as_i128(self) -> i128;
    #[doc(hidden)]
    fn as_index(self) -> usize;
}

mod sealed {
    pub trait Sealed {}
    pub trait SealedIndex {}
}

impl sealed::SealedIndex for i32 {}
impl sealed::SealedIndex for i64 {}

impl SparseIndex for i32 {
    const KIND: ElementKind = ElementKind::I32;
    fn wrap_cs<T>(m: CsMatI<T, i32>) -> CsMatrix<T> {
        CsMatrix::I32(m)
    }
    fn peek<T>(m: &CsMatrix<T>) -> Option<&CsMatI<T, i32>> {
        match m {
            CsMatrix::I32(m) => Some(m),
            CsMatrix::I64(_) => None,
        }
    }
    fn take<T>(m: CsMatrix<T>) -> Result<CsMatI<T, i32>, CsMatrix<T>> {
        match m {
            CsMatrix::I32(m) => Ok(m),
            other => Err(other),
        }
    }
    #[inline]
    fn from_i128(v: i128) -> Option<Self> {
        i32::try_from(v).ok()
    }
    #[inline]
    fn as_i128(self) -> i128 {
        self as i128
    }
    #[inline]
    fn as_index(self) -> usize {
        self as usize
    }
}

impl SparseIndex for i64 {
    const KIND: ElementKind = ElementKind::I64;
    fn wrap_cs<T>(m: CsMatI<T, i64>) -> CsMatrix<T> {
        CsMatrix::I64(m)
    }
    fn peek<T>(m: &CsMatrix<T>) -> Option<&CsMatI<T, i64>> {
        match m {
            CsMatrix::I64(m) => Some(m),
            CsMatrix::I32(_) => None,
        }
    }
    fn take<T>(m: CsMatrix<T>) -> Result<CsMatI<T, i64>, CsMatrix<T>> {
        match m {
            CsMatrix::I64(m) => Ok(m),
            other => Err(other),
        }
    }
    #[inline]
    fn from_i128(v: i128) -> Option<Self> {
        i64::try_from(v).ok()
    }
    #[inline]
    fn as_i128(self) -> i128 {
        self as i128
    }
    #[inline]
    fn as_index(self) -> usize {
        self as usize
    }
}

/// A canonical compressed (CSC or CSR) sprs matrix with `i32` or `i64`
/// indices, as read from the file: indices sorted and unique in each lane.
#[derive(Clone, PartialEq)]
pub enum CsMatrix<T> {
    /// `int32` indices and index pointer.
    I32(CsMatI<T, i32>),
    /// `int64` indices and index pointer.
    I64(CsMatI<T, i64>),
}

/// Runs `$body` with `$m` bound to the inner `&CsMatI<T, I>` of a `&CsMatrix<T>`.
macro_rules! with_cs {
    ($cs:expr, $m:ident => $body:expr) => {
        match $cs {
            $crate::sparse::CsMatrix::I32($m) => $body,
            $crate::sparse::CsMatrix::I64($m) => $body,
        }
    };
}
#[allow(unused_imports)]
pub(crate) use with_cs;

impl<T> CsMatrix<T> {
    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        with_cs!(self, m => (m.rows(), m.cols()))
    }

    /// Entries held (after duplicates were summed).
    pub fn nnz(&self) -> usize {
        with_cs!(self, m => m.nnz())
    }

    /// Whether the matrix is stored by columns (CSC) rather than rows (CSR).
    pub fn is_csc(&self) -> bool {
        with_cs!(self, m => m.is_csc())
    }

    /// The index kind, `I32` or `I64`.
    pub fn index_kind(&self) -> ElementKind {
        match self {
            CsMatrix::I32(_) => ElementKind::I32,
            CsMatrix::I64(_) => ElementKind::I64,
        }
    }

    /// A copy with `usize` indices: sprs' default `CsMat<T>`, which most of
    /// its algorithms take.
    pub fn to_usize_indices(&self) -> sprs::CsMat<T>
    where
        T: Clone,
    {
        with_cs!(self, m => {
            let indptr: Vec<usize> = m.indptr().raw_storage().iter().map(|&i| SparseIndex::as_index(i)).collect();
            let indices: Vec<usize> = m.indices().iter().map(|&i| SparseIndex::as_index(i)).collect();
            let data = m.data().to_vec();
            let shape = (m.rows(), m.cols());
            // Same valid structure, wider indices: cannot fail.
            let built = if m.is_csc() {
                sprs::CsMat::try_new_csc(shape, indptr, indices, data)
            } else {
                sprs::CsMat::try_new(shape, indptr, indices, data)
            };
            match built {
                Ok(c) => c,
                Err((_, _, _, e)) => unreachable!("a valid matrix stays valid with usize indices: {e}"),
            }
        })
    }

    /// Heap bytes held by the index pointer, indices and data.
    pub fn owned_bytes(&self) -> usize {
        with_cs!(self, m => {
            std::mem::size_of_val(m.indptr().raw_storage())
                + std::mem::size_of_val(m.indices())
                + std::mem::size_of_val(m.data())
        })
    }
}

impl<T> Debug for CsMatrix<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (rows, cols) = self.shape();
        f.debug_struct("CsMatrix")
            .field("storage", &if self.is_csc() { "csc" } else { "csr" })
            .field("shape", &(rows, cols))
            .field("nnz", &self.nnz())
            .field("index", &self.index_kind().code())
            .finish()
    }
}

macro_rules! values {
    ($($V:ident => $T:ty),* $(,)?) => {
        /// A [`CsMatrix`] of any element type.
        #[derive(Clone, PartialEq)]
        pub enum Values {
            $(
                #[allow(missing_docs)]
                $V(CsMatrix<$T>),
            )*
        }

        $(
            impl SparseElement for $T {
                #[inline]
                fn accumulate(&mut self, other: Self) {
                    Accumulate::acc(self, other)
                }
                fn wrap(m: CsMatrix<Self>) -> Values {
                    Values::$V(m)
                }
                fn peek(v: &Values) -> Option<&CsMatrix<Self>> {
                    match v {
                        Values::$V(m) => Some(m),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    }
                }
                fn take(v: Values) -> Result<CsMatrix<Self>, Values> {
                    match v {
                        Values::$V(m) => Ok(m),
                        #[allow(unreachable_patterns)]
                        other => Err(other),
                    }
                }
            }
            impl sealed::Sealed for $T {}
        )*

    };
}

values! {
    Bool => NpBool,
    I8 => i8,
    U8 => u8,
    I16 => i16,
    U16 => u16,
    I32 => i32,
    U32 => u32,
    I64 => i64,
    U64 => u64,
    F16 => f16,
    F32 => f32,
    F64 => f64,
    C64 => Complex<f32>,
    C128 => Complex<f64>,
}

/// Runs `$body` with `$m` bound to the `CsMatrix<$T>` inside a [`Values`]
/// (by reference or by value, as `$v` is) and `$T` to its element type.
macro_rules! with_values {
    ($v:expr, $m:ident, $T:ident => $body:expr) => {
        match $v {
            $crate::sparse::element::Values::Bool($m) => {
                #[allow(dead_code)]
                type $T = $crate::npy::NpBool;
                $body
            }
            $crate::sparse::element::Values::I8($m) => {
                #[allow(dead_code)]
                type $T = i8;
                $body
            }
            $crate::sparse::element::Values::U8($m) => {
                #[allow(dead_code)]
                type $T = u8;
                $body
            }
            $crate::sparse::element::Values::I16($m) => {
                #[allow(dead_code)]
                type $T = i16;
                $body
            }
            $crate::sparse::element::Values::U16($m) => {
                #[allow(dead_code)]
                type $T = u16;
                $body
            }
            $crate::sparse::element::Values::I32($m) => {
                #[allow(dead_code)]
                type $T = i32;
                $body
            }
            $crate::sparse::element::Values::U32($m) => {
                #[allow(dead_code)]
                type $T = u32;
                $body
            }
            $crate::sparse::element::Values::I64($m) => {
                #[allow(dead_code)]
                type $T = i64;
                $body
            }
            $crate::sparse::element::Values::U64($m) => {
                #[allow(dead_code)]
                type $T = u64;
                $body
            }
            $crate::sparse::element::Values::F16($m) => {
                #[allow(dead_code)]
                type $T = half::f16;
                $body
            }
            $crate::sparse::element::Values::F32($m) => {
                #[allow(dead_code)]
                type $T = f32;
                $body
            }
            $crate::sparse::element::Values::F64($m) => {
                #[allow(dead_code)]
                type $T = f64;
                $body
            }
            $crate::sparse::element::Values::C64($m) => {
                #[allow(dead_code)]
                type $T = num_complex::Complex<f32>;
                $body
            }
            $crate::sparse::element::Values::C128($m) => {
                #[allow(dead_code)]
                type $T = num_complex::Complex<f64>;
                $body
            }
        }
    };
}
pub(crate) use with_values;

impl Values {
    pub(crate) fn kind(&self) -> ElementKind {
        with_values!(self, _m, T => <T as Element>::KIND)
    }
}

/// scipy's `+=` on stored values.
trait Accumulate {
    fn acc(&mut self, other: Self);
}

macro_rules! wrapping {
    ($($t:ty),*) => {$(
        impl Accumulate for $t {
            #[inline]
            fn acc(&mut self, other: Self) {
                *self = self.wrapping_add(other);
            }
        }
    )*};
}
wrapping!(i8, u8, i16, u16, i32, u32, i64, u64);

// When both operands are NaN, the hardware returns one of them, and which
// one depends on the register order the compiler picked. scipy's
// sparsetools (`a += b`) gives `a`'s NaN, quieted: do that whatever the
// codegen. A single NaN operand, or a NaN made by the addition itself, is
// the hardware's answer whatever the order.
macro_rules! ieee {
    ($($t:ty => $quiet:expr),*) => {$(
        impl Accumulate for $t {
            #[inline]
            fn acc(&mut self, other: Self) {
                let a = *self;
                *self = if a.is_nan() {
                    <$t>::from_bits(a.to_bits() | $quiet)
                } else {
                    a + other
                };
            }
        }
    )*};
}
ieee!(f32 => 1 << 22, f64 => 1 << 51);

impl<T: Accumulate> Accumulate for Complex<T> {
    #[inline]
    fn acc(&mut self, other: Self) {
        self.re.acc(other.re);
        self.im.acc(other.im);
    }
}

impl Accumulate for f16 {
    /// As numpy adds halves: through `f32`, rounded back.
    #[inline]
    fn acc(&mut self, other: Self) {
        *self = if self.is_nan() {
            f16::from_bits(self.to_bits() | 0x0200)
        } else {
            f16::from_f32(self.to_f32() + other.to_f32())
        };
    }
}

impl Accumulate for NpBool {
    #[inline]
    fn acc(&mut self, other: Self) {
        *self = NpBool((self.0 != 0 || other.0 != 0) as u8);
    }
}
