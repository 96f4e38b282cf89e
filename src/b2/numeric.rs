//! numpy's arithmetic where results must be bit-exact: pairwise sums,
//! means and medians, the values of pickled suite2p arrays, and the
//! corrected fluorescence.

use super::*;

/// The elements of a raw 1-d array as `(kind, native-order bytes)`.
pub(super) fn raw_elements(a: &PyArray) -> Option<(ElementKind, Vec<u8>)> {
    let ArrayData::Raw(bytes) = &a.data else {
        return None;
    };
    let dtype = Dtype::parse(&a.descr)?;
    let kind = dtype.kind()?;
    let mut bytes = bytes.clone();
    if !dtype.is_native() && kind.itemsize() > 1 {
        for chunk in bytes.chunks_mut(kind.swap_unit()) {
            chunk.reverse();
        }
    }
    Some((kind, bytes))
}

/// A 1-d array of 32- or 64-bit integers, as f64 (numpy's cast when a
/// float32 array multiplies it, which promotes to float64).
pub(super) fn wide_int_values(a: &PyArray) -> Option<Vec<f64>> {
    use ElementKind as K;
    let (kind, bytes) = raw_elements(a)?;
    if !matches!(kind, K::I32 | K::U32 | K::I64 | K::U64) {
        return None;
    }
    Some(
        bytes
            .chunks(kind.itemsize())
            .map(|b| match read_scalar(kind, b) {
                Scalar::Int(i) => i as f64,
                _ => unreachable!(),
            })
            .collect(),
    )
}

/// A 1-d float32 or float64 array, as f64 (exact).
pub(super) fn float_values(a: &PyArray) -> Option<Vec<f64>> {
    let (kind, bytes) = raw_elements(a)?;
    if !matches!(kind, ElementKind::F32 | ElementKind::F64) {
        return None;
    }
    Some(
        bytes
            .chunks(kind.itemsize())
            .map(|b| match read_scalar(kind, b) {
                Scalar::Float(f) => f,
                _ => unreachable!(),
            })
            .collect(),
    )
}

pub(super) fn lam_is_f32(a: &PyArray) -> Option<bool> {
    Some(raw_elements(a)?.0 == ElementKind::F32)
}

/// `np.sum(a)` of a contiguous 1-d array: numpy's pairwise summation in
/// blocks of 8192, accumulated in `T`.
pub(super) fn numpy_sum<T: Float>(a: &[T]) -> T {
    let mut acc = T::ZERO;
    for block in a.chunks(8192) {
        acc = acc + pairwise_sum(block);
    }
    acc
}

/// `np.median(a)` in float64: the middle value, or the mean of the two
/// middle values (`(lo + hi) / 2`); NaN for an empty array.
pub(super) fn numpy_median(mut a: Vec<f64>) -> f64 {
    let n = a.len();
    if n == 0 {
        return f64::NAN;
    }
    a.sort_by(f64::total_cmp);
    if n % 2 == 1 {
        a[n / 2]
    } else {
        (a[n / 2 - 1] + a[n / 2]) / 2.0
    }
}

/// numpy's pairwise summation of a contiguous run (`pairwise_sum` in its
/// loops), which numpy applies in blocks of 8192 elements for reductions.
pub(super) fn pairwise_sum<T: Float>(a: &[T]) -> T {
    let n = a.len();
    if n < 8 {
        let mut res = T::ZERO;
        for &x in a {
            res = res + x;
        }
        res
    } else if n <= 128 {
        let mut r = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]];
        let mut i = 8;
        while i < n - n % 8 {
            for j in 0..8 {
                r[j] = r[j] + a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res = res + a[i];
            i += 1;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// `np.mean(row)` for a contiguous row, bit for bit.
pub(super) fn numpy_mean<T: Float>(row: &[T]) -> T {
    let mut acc = T::ZERO;
    for block in row.chunks(8192) {
        acc = acc + pairwise_sum(block);
    }
    acc / T::from_usize(row.len())
}

/// The float types corrected fluorescence is computed in.
pub(super) trait Float:
    Copy
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + crate::npy::Element
    + bytemuck::AnyBitPattern
{
    const ZERO: Self;
    fn from_usize(n: usize) -> Self;
}

impl Float for f32 {
    const ZERO: f32 = 0.0;
    fn from_usize(n: usize) -> f32 {
        n as f32
    }
}

impl Float for f64 {
    const ZERO: f64 = 0.0;
    fn from_usize(n: usize) -> f64 {
        n as f64
    }
}

/// F - c * (Fneu - mean(Fneu, axis=1)) for ROIs x frames `f` and `fneu`.
pub(super) fn fcorr<T: Float>(
    label: &Path,
    f: &NpyArray,
    fneu: &NpyArray,
    c: T,
) -> Result<NpyArray> {
    let fv = f.view_dim::<T, Ix2>()?;
    let nv = fneu.view_dim::<T, Ix2>()?;
    if fv.dim() != nv.dim() {
        return Err(Error::argument(format!(
            "{}: F has shape {:?} but Fneu has shape {:?}",
            label.display(),
            fv.shape(),
            nv.shape()
        )));
    }
    let (rois, frames) = fv.dim();
    let mut out = Array2::<T>::from_elem((rois, frames), T::ZERO);
    for r in 0..rois {
        let row = nv.row(r);
        let mean = match row.as_slice() {
            Some(s) => numpy_mean(s),
            // Not contiguous: numpy adds frame by frame.
            None => {
                let mut acc = T::ZERO;
                for &x in row.iter() {
                    acc = acc + x;
                }
                acc / T::from_usize(frames)
            }
        };
        for t in 0..frames {
            out[[r, t]] = fv[[r, t]] - c * (nv[[r, t]] - mean);
        }
    }
    Ok(NpyArray::from_array(label, &out))
}
