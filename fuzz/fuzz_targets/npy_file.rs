//! Fuzzes whole `.npy` files: `NpyArray::from_bytes` on arbitrary bytes must
//! never panic, and every array it returns must be usable as promised:
//!
//! - it loads exactly when the header parses and the data is all there;
//! - its data bytes are the file's, decoded to native byte order;
//! - the view of its own element type works, touches every element, and
//!   agrees with the data bytes in memory order; views of every other type
//!   are typed errors, as are fixed-dimension views of the wrong rank;
//! - the transpose shares the data and views as the view's transpose;
//! - `digest` hashes the elements in C order (checked against
//!   `digest_array` of the view and of the transposed view);
//! - booleans convert with `to_bool` (any non-zero byte is `true`).
//!
//! Work per input is bounded by its length: a view holds at most as many
//! elements as there are data bytes.

#![no_main]

use bytemuck::AnyBitPattern;
use libfuzzer_sys::fuzz_target;
use ndarray::Dimension;
use onedata::digest::{digest, digest_array};
use onedata::npy::{Dtype, Element, ElementKind, Header, NpBool, NpyArray, OtherKind};
use onedata::{Error, ErrorKind, Fault};

/// A view of the wrong type must be a typed error, never a panic.
fn wrong_view<T: Element + AnyBitPattern>(arr: &NpyArray) {
    match arr.view::<T>().map_err(Error::into_kind) {
        Err(ErrorKind::TypeMismatch { .. }) => {}
        Err(e) => panic!("viewing {:?} as {:?}: {e}", arr.dtype(), T::KIND),
        Ok(_) => panic!("{:?} viewed as {:?}", arr.dtype(), T::KIND),
    }
}

/// Bit-for-bit equality of two element sequences (NaN-safe).
fn same_elements<'a, T: Element + AnyBitPattern + 'a>(
    a: impl IntoIterator<Item = &'a T>,
    b: impl IntoIterator<Item = &'a T>,
) -> bool {
    let mut a = a.into_iter();
    let mut b = b.into_iter();
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if bytemuck::bytes_of(x) == bytemuck::bytes_of(y) => {}
            _ => return false,
        }
    }
}

fn check_view<T: Element + AnyBitPattern>(arr: &NpyArray) {
    let view = arr
        .view::<T>()
        .expect("the view of the array's own element type");
    assert_eq!(view.shape(), arr.shape());
    assert_eq!(view.len(), arr.len());
    let size = std::mem::size_of::<T>();
    assert_eq!(arr.data_bytes().len(), arr.len() * size);

    // Touch every element, in memory order, against the data bytes.
    let memory_order = if arr.is_fortran() {
        view.t().iter().copied().collect::<Vec<T>>()
    } else {
        view.iter().copied().collect::<Vec<T>>()
    };
    assert_eq!(memory_order.len(), arr.len());
    assert_eq!(
        bytemuck::cast_slice::<T, u8>(&memory_order),
        arr.data_bytes(),
        "view elements differ from the data bytes"
    );

    // Fixed-rank views: the right rank works, the wrong ones are typed errors.
    let ndim = arr.ndim();
    let check_dim =
        |r: std::result::Result<usize, Error>, rank: usize| match r.map_err(Error::into_kind) {
            Ok(n) => assert_eq!(
                rank, ndim,
                "a {ndim}-d array viewed as {rank}-d ({n} elements)"
            ),
            Err(ErrorKind::DimensionMismatch {
                requested, found, ..
            }) => {
                assert_ne!(rank, ndim);
                assert_eq!((requested, found), (rank, ndim));
            }
            Err(e) => panic!("{rank}-d view of a {ndim}-d array: {e}"),
        };
    check_dim(arr.view1::<T>().map(|v| v.len()), 1);
    check_dim(arr.view2::<T>().map(|v| v.len()), 2);
    check_dim(arr.view_dim::<T, ndarray::Ix0>().map(|v| v.len()), 0);
    check_dim(arr.view_dim::<T, ndarray::Ix3>().map(|v| v.len()), 3);

    // The transpose shares the data and reverses the axes.
    let t = arr.transposed();
    assert_eq!(t.data_bytes().as_ptr(), arr.data_bytes().as_ptr());
    let tv = t.view::<T>().expect("view of the transpose");
    assert_eq!(tv.raw_dim(), view.t().raw_dim());
    assert!(same_elements(tv.iter(), view.t().iter()));
    if ndim >= 2 {
        assert_ne!(t.is_fortran(), arr.is_fortran());
    }

    // The digest hashes the C-order elements, whatever the memory order.
    let d = digest(arr).expect("digest of a numeric array");
    assert_eq!(d, digest_array(&view));
    assert_eq!(
        digest(&t).expect("digest of the transpose"),
        digest_array(&view.t())
    );
    std::hint::black_box(view.raw_dim().size());
}

fn check_other_views(arr: &NpyArray, kind: Option<ElementKind>) {
    for other in ElementKind::ALL {
        if Some(other) == kind {
            continue;
        }
        match kind {
            Some(_) => onedata::with_element_type!(other, T => wrong_view::<T>(arr)),
            // Not numeric: every view is a type mismatch, or an
            // "unsupported dtype" error for objects.
            None => {
                onedata::with_element_type!(other, T => match arr.view::<T>().map_err(Error::into_kind) {
                    Err(ErrorKind::Invalid { .. } | ErrorKind::TypeMismatch { .. }) => {}
                    Err(e) => panic!("viewing {:?}: {e}", arr.dtype()),
                    Ok(_) => panic!("{:?} viewed as {other:?}", arr.dtype()),
                })
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let loaded = NpyArray::from_bytes("fuzz.npy", data);
    let header = Header::parse(data);

    // It loads exactly when the header parses and all its data is there.
    let arr = match (loaded.map_err(Error::into_kind), &header) {
        (Ok(arr), Ok(_)) => arr,
        (Err(_), Err(_)) => return,
        (
            Err(ErrorKind::Invalid {
                fault: Fault::Truncated {
                    expected, actual, ..
                },
                ..
            }),
            Ok(h),
        ) => {
            assert!(expected > actual);
            assert_eq!(Some(expected as usize), h.data_len());
            assert_eq!(actual as usize, data.len() - h.data_offset());
            return;
        }
        (Err(e), Ok(h)) => panic!("header {h:?} parses but the file does not load: {e}"),
        (Ok(arr), Err(e)) => panic!("{arr:?} loaded from a header that does not parse: {e}"),
    };
    let header = header.expect("checked above");
    assert_eq!(arr.header(), &header);
    assert_eq!(arr.shape(), header.shape());
    assert_eq!(arr.len(), header.num_elements());
    assert_eq!(arr.is_empty(), header.num_elements() == 0);
    assert_eq!(arr.is_fortran(), header.fortran_order());
    assert!(!arr.is_mapped());
    assert!(arr.dtype().is_native());

    // The data bytes are the file's, decoded to native byte order.
    let raw = &data[header.data_offset()..];
    let raw = match header.data_len() {
        Some(n) => &raw[..n],
        None => raw,
    };
    assert_eq!(arr.data_bytes().len(), raw.len());
    match header.dtype() {
        dtype if !dtype.is_native() => {
            let unit = match dtype.kind() {
                Some(kind) => kind.swap_unit(),
                // `U` by code unit, datetimes by i64, long doubles by 16 bytes.
                None => match dtype.other_kind() {
                    Some(OtherKind::Unicode { .. }) => 4,
                    Some(OtherKind::Datetime(_) | OtherKind::Timedelta(_)) => 8,
                    _ => 16,
                },
            };
            for (a, b) in arr
                .data_bytes()
                .chunks_exact(unit)
                .zip(raw.chunks_exact(unit))
            {
                assert!(a.iter().eq(b.iter().rev()), "badly decoded big-endian data");
            }
        }
        _ => assert_eq!(arr.data_bytes(), raw),
    }

    let kind = header.dtype().kind();
    assert_eq!(arr.kind().ok(), kind);
    check_other_views(&arr, kind);
    match kind {
        Some(kind) => {
            assert_eq!(arr.dtype(), &Dtype::native(kind));
            onedata::with_element_type!(kind, T => check_view::<T>(&arr));
            let t = arr.transposed();
            onedata::with_element_type!(kind, T => check_view::<T>(&t));
        }
        None => {
            // In native byte order, and with a digest and every element's
            // bytes unless it holds objects.
            assert!(arr.dtype().is_native());
            assert_eq!(arr.dtype().other_kind().is_some(), header.dtype().other_kind().is_some());
            let objects = arr.dtype().itemsize().is_none();
            assert_eq!(digest(&arr).is_err(), objects);
            if !objects {
                let elements = arr.element_bytes().expect("element bytes");
                assert_eq!(elements.len(), arr.len());
                assert_eq!(arr.raw_view().expect("raw view").len(), arr.data_bytes().len());
                let _ = arr.strings();
                let _ = arr.bytes_elements();
                let _ = arr.datetimes();
                let _ = arr.dtype().fields();
            }
        }
    }

    // Booleans as Rust bools: any non-zero byte is true.
    match arr.to_bool() {
        Ok(b) => {
            assert_eq!(kind, Some(ElementKind::Bool));
            let v = arr.view::<NpBool>().expect("bool view");
            assert_eq!(b.shape(), v.shape());
            assert!(b.iter().zip(v.iter()).all(|(&x, y)| x == (y.0 != 0)));
        }
        Err(_) => assert_ne!(kind, Some(ElementKind::Bool)),
    }
});
