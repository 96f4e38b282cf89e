//! Fuzzes the `.npy` header parser: `Header::parse` must never panic on any
//! bytes, and every header it accepts must write back (`Header::new` +
//! `to_bytes`) as bytes that parse to the same dtype, shape and order.

#![no_main]

use libfuzzer_sys::fuzz_target;
use onedata::npy::{Dtype, Header, MAX_DIMS, MAX_HEADER_CHARS};

fuzz_target!(|data: &[u8]| {
    let _ = Header::required_len(data);
    let Ok(header) = Header::parse(data) else {
        return;
    };

    // What a parsed header promises.
    assert!(header.data_offset() <= data.len());
    assert!(header.shape().len() <= MAX_DIMS);
    assert_eq!(
        Some(header.num_elements()),
        header
            .shape()
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
    );
    if let Some(n) = header.data_len() {
        assert!(n <= isize::MAX as usize);
    }

    // Written back, a numeric header reads back the same. (Other dtypes are
    // only reported, never written: numpy spells some of them, such as the
    // empty record `b''` it calls `|V0`, in ways its own reader refuses.)
    if header.dtype().kind().is_none() {
        return;
    }
    let again = Header::new(
        header.dtype().clone(),
        header.fortran_order(),
        header.shape(),
    );
    let bytes = again.to_bytes();
    assert_eq!(bytes.len() % 64, 0);
    assert_eq!(again.data_offset(), bytes.len());
    if header.dtype().descr() == "|T16" {
        // numpy reports StringDType as '|T16' but cannot read that spelling back.
        return;
    }
    let reread = match Header::parse(&bytes) {
        Ok(h) => h,
        // A record list near the limit can grow past it when rewritten.
        Err(onedata::HeaderError::TooLarge(n)) if n > MAX_HEADER_CHARS => return,
        Err(e) => panic!(
            "{e}: {header:?} written back as {:?}",
            String::from_utf8_lossy(&bytes)
        ),
    };
    assert_eq!(reread.dtype().descr(), header.dtype().descr());
    assert_eq!(reread.shape(), header.shape());
    assert_eq!(reread.fortran_order(), header.fortran_order());
    assert_eq!(reread.data_offset(), bytes.len());
    if !matches!(header.dtype(), Dtype::Other { .. }) {
        assert_eq!(reread, again);
    }
});
