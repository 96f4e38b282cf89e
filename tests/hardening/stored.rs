//! Stored sparse archives loaded as views of the map (`read_npz_stored`):
//! truncated, misaligned, bit-flipped and hostile archives give typed
//! errors or bounds-checked views, never a panic. Mapped members' CRC and
//! index bounds are not checked on load (that would read every entry), so
//! hostile indices must be harmless to every accessor.

use onedata::sparse::{read_npz_stored, read_npz_stored_bytes, write_npz_with, NpzOptions};
use onedata::{ErrorKind, Fault};
use sprs::CsMatI;

fn aligned_file() -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.npz");
    // 4 x 3 CSC, indptr [0, 2, 3, 5]
    let m = CsMatI::<f64, i32>::new_csc(
        (4, 3),
        vec![0, 2, 3, 5],
        vec![0, 3, 1, 0, 2],
        vec![1.0, 2.0, 3.0, 4.0, 5.0],
    );
    write_npz_with(&path, &m, NpzOptions::ALIGNED).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    (dir, path, bytes)
}

/// Exercises every accessor of whatever loads.
fn poke(bytes: &[u8]) {
    if let Ok(s) = read_npz_stored_bytes("m.npz", bytes) {
        let _ = format!("{s:?}");
        if let Ok(v) = s.view::<f64, i32>() {
            for k in 0..v.lanes() + 2 {
                let _ = v.lane(k);
            }
            for r in 0..6 {
                for c in 0..5 {
                    let _ = v.get(r, c);
                }
            }
            let _ = v.to_sprs();
        }
    }
}

#[test]
fn truncated_stored_archives_are_refused() {
    let (_dir, path, bytes) = aligned_file();
    for cut in 0..bytes.len() {
        let err = read_npz_stored_bytes(&path, &bytes[..cut]).expect_err("truncated");
        assert!(
            matches!(err.kind(), ErrorKind::Invalid { .. }),
            "cut {cut}: {err}"
        );
        assert!(err.to_string().contains("m.npz"), "{err}");
    }
    let f = path.with_file_name("cut.npz");
    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    assert!(read_npz_stored(&f).is_err());
    assert!(read_npz_stored(&path).unwrap().is_mapped());
}

#[test]
fn flipped_bytes_never_panic() {
    let (_dir, _path, bytes) = aligned_file();
    for i in 0..bytes.len() {
        for v in [0u8, 0xff, 0x7f, 0x80] {
            let mut bad = bytes.clone();
            bad[i] = v;
            poke(&bad);
        }
    }
}

/// Where `needle` sits in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("found")
}

#[test]
fn hostile_structure_is_refused_or_bounds_checked() {
    let (dir, _path, bytes) = aligned_file();
    let indptr: &[u8] = bytemuck::cast_slice(&[0i32, 2, 3, 5]);
    let at = find(&bytes, indptr);
    let write = |name: &str, patch: &dyn Fn(&mut Vec<u8>)| {
        let mut b = bytes.clone();
        patch(&mut b);
        let p = dir.path().join(name);
        std::fs::write(&p, &b).unwrap();
        p
    };
    // The index pointer decreases, or ends past the entries, or starts
    // above 0: refused from the index pointer alone (CRC unchecked).
    for (name, values) in [
        ("decreasing.npz", [0i32, 3, 2, 5]),
        ("past_end.npz", [0, 2, 3, 6]),
        ("not_zero.npz", [1, 2, 3, 5]),
        ("negative.npz", [0, -1, 3, 5]),
    ] {
        let p = write(name, &|b| {
            b[at..at + 16].copy_from_slice(bytemuck::cast_slice(&values))
        });
        let err = read_npz_stored(&p).expect_err(name);
        assert!(
            matches!(
                err.kind(),
                ErrorKind::Invalid {
                    fault: Fault::Sparse(onedata::SparseError::BadIndptr(_)),
                    ..
                }
            ),
            "{name}: {err:?}"
        );
    }
    // Indices out of range are not checked on load: accessors stay in bounds.
    let indices: &[u8] = bytemuck::cast_slice(&[0i32, 3, 1, 0, 2]);
    let ia = find(&bytes, indices);
    let p = write("hostile_indices.npz", &|b| {
        b[ia..ia + 20].copy_from_slice(bytemuck::cast_slice(&[i32::MAX, -1, i32::MIN, 9, 2]))
    });
    let s = read_npz_stored(&p).unwrap();
    assert!(s.is_mapped());
    let v = s.view::<f64, i32>().unwrap();
    assert_eq!(v.get(0, 0), None);
    assert_eq!(v.get(2, 2), Some(&5.0));
    assert_eq!(v.lane(2).unwrap().1, &[4.0, 5.0]);
    assert!(v.lane(3).is_none());
    assert!(v.to_sprs().is_err());
    poke(&std::fs::read(&p).unwrap());
    // The full reader still checks the CRC of the same file.
    assert!(onedata::sparse::read_npz(&p).is_err());
}

#[test]
fn plain_stored_members_are_copied_when_misaligned() {
    // A plain stored file, laid out as save_npz(compressed=False) lays it
    // out: members land wherever the headers leave them.
    let (dir, _path, _) = aligned_file();
    let m = CsMatI::<f64, i64>::new((2, 2), vec![0, 1, 2], vec![1, 0], vec![7.0, 8.0]);
    let p = dir.path().join("plain.npz");
    write_npz_with(&p, &m, NpzOptions::STORED).unwrap();
    let s = read_npz_stored(&p).unwrap();
    let v = s.view::<f64, i32>().unwrap();
    assert_eq!(v.get(0, 1), Some(&7.0));
    assert_eq!(v.get(1, 0), Some(&8.0));
    // Copies are counted, and views are of aligned memory whatever the file.
    assert!(s.is_mapped() || s.owned_bytes() > 0);
    assert_eq!(v.data().as_ptr() as usize % 8, 0);
    // Requests for other types are typed errors.
    let err = s.view::<f32, i32>().unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::TypeMismatch { .. }),
        "{err:?}"
    );
}
