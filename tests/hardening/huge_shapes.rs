//! Sizes claimed by files, not backed by their bytes: B2 plane headers
//! claiming 2**40 rows of no columns, and values files claiming more ROIs
//! than exist. Each is concatenated exactly (there is nothing to copy) or
//! refused with a typed error; nothing allocates or loops by the claimed
//! size. Each test runs under the 30 s guard, so an endless loop fails.

use std::path::{Path, PathBuf};

use onedata::b2::{B2Session, RoiPositionMode};
use onedata::demo::{write_demo_session, DemoSpec};
use onedata::{ErrorKind, SessionData};

use crate::{npy_file, within_30s};

fn demo(root: &Path) -> PathBuf {
    let spec = DemoSpec {
        frames: 40,
        rois_per_plane: vec![3, 2],
        ..DemoSpec::default()
    };
    write_demo_session(root, &spec).unwrap()
}

/// Replaces `var` of every plane with a header-only `.npy` of `shape`.
fn claim(dir: &Path, var: &str, descr: &str, shape: &str) {
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    for plane in ["plane0", "plane1"] {
        std::fs::write(
            dir.join("suite2p").join(plane).join(format!("{var}.npy")),
            npy_file(1, &dict, &[]),
        )
        .unwrap();
    }
}

/// Two planes of shape `(2**40, 0)`: numpy's concatenation is `(2**41, 0)`,
/// with no bytes; onedata gives the same without visiting 2**41 rows.
#[test]
fn planes_of_2_pow_40_rows_and_no_columns_concatenate_at_once() {
    let (shape, len, bytes) = within_30s(|| {
        let root = tempfile::tempdir().unwrap();
        let dir = demo(root.path());
        claim(&dir, "iscell", "<f4", "(1099511627776, 0)");
        let session = B2Session::open(&dir).unwrap();
        let joined = session.load_s2p_data("iscell", true).unwrap();
        let a = joined.as_dense().unwrap();
        (a.shape().to_vec(), a.len(), a.data_bytes().len())
    });
    assert_eq!(shape, [1usize << 41, 0]);
    assert_eq!((len, bytes), (0, 0));
}

/// The frame variables keep `numFrames` columns: of planes with 2**40
/// frames and no ROIs, `(0, 40)`; of 2**40 ROIs with no frames, no bytes.
#[test]
fn trimmed_frame_variables_of_claimed_shapes_hold_nothing() {
    let shapes = within_30s(|| {
        let root = tempfile::tempdir().unwrap();
        let dir = demo(root.path());
        let session = B2Session::open(&dir).unwrap();
        let mut shapes = Vec::new();
        for shape in ["(0, 1099511627776)", "(1099511627776, 0)"] {
            claim(&dir, "F", "<f8", shape);
            let joined = session.load_s2p_data("F", true).unwrap();
            shapes.push(joined.as_dense().unwrap().shape().to_vec());
        }
        shapes
    });
    assert_eq!(shapes, [vec![0, 40], vec![1usize << 41, 0]]);
}

/// Row counts whose sum overflows are a typed error, not a wrap.
#[test]
fn row_counts_past_usize_are_refused() {
    let err = within_30s(|| {
        let root = tempfile::tempdir().unwrap();
        let dir = demo(root.path());
        let huge = (usize::MAX / 2 + 1).to_string();
        claim(&dir, "iscell", "|u1", &format!("({huge}, 0)"));
        let session = B2Session::open(&dir).unwrap();
        session.load_s2p_data("iscell", true).unwrap_err()
    });
    match err.kind() {
        // The header parser may refuse the shape itself (it exceeds what
        // numpy can index), or the concatenation its sum.
        ErrorKind::InvalidArgument(msg) => assert!(msg.contains("too many rows"), "{msg}"),
        ErrorKind::Invalid { path, .. } => assert!(path.ends_with("iscell.npy"), "{err}"),
        other => panic!("expected a typed refusal, got {other:?}"),
    }
}

/// Without concatenating, each plane is copied as it is: of header-only
/// planes, empty copies with the claimed shapes.
#[test]
fn unconcatenated_claimed_planes_are_empty_copies() {
    let shapes = within_30s(|| {
        let root = tempfile::tempdir().unwrap();
        let dir = demo(root.path());
        claim(&dir, "iscell", "<f4", "(1099511627776, 0)");
        let session = B2Session::open(&dir).unwrap();
        let planes = session.load_s2p_data("iscell", false).unwrap();
        let Some(onedata::PyValue::List(items)) = planes.as_object().map(|o| o.value()) else {
            panic!("expected a list of planes, got {planes:?}")
        };
        items
            .iter()
            .map(|p| match p {
                onedata::PyValue::Array(a) => (a.shape.clone(), a.len()),
                other => panic!("{other:?}"),
            })
            .collect::<Vec<_>>()
    });
    assert_eq!(shapes, vec![(vec![1u64 << 40, 0], Some(0)); 2]);
}

/// A values file whose `roiPerPlane` claims 2**62 ROIs per plane: refused
/// before anything of that size is built (this used to collect the claimed
/// number of plane indices).
#[test]
fn claimed_roi_counts_are_checked_before_allocating() {
    let messages = within_30s(|| {
        let root = tempfile::tempdir().unwrap();
        let dir = demo(root.path());
        // Five ROIs, written by numpy as suite2p writes stat.npy.
        crate::common::require_numpy();
        let code = "import sys, numpy as np\n\
            roi = {'lam': np.ones(2, np.float32), 'ypix': np.arange(2), 'xpix': np.arange(2)}\n\
            for p, n in (('plane0', 3), ('plane1', 2)):\n    \
                np.save(sys.argv[1] + '/suite2p/' + p + '/stat.npy', np.array([roi] * n, dtype=object))\n";
        let status = std::process::Command::new(crate::common::python())
            .args(["-c", code])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success());
        let session = B2Session::open(&dir).unwrap();
        let mut available: Vec<String> = session.get_value("available").unwrap();
        available.push("stat".into());
        session.set_value("available", &available).unwrap();
        // The honest counts work.
        let positions = session
            .get_roi_position(RoiPositionMode::WeightedMean)
            .unwrap();
        assert_eq!(positions.shape(), [5, 3]);
        let mut messages = Vec::new();
        for claim in [vec![1usize << 62, 1 << 62], vec![usize::MAX, 2]] {
            session.set_value("roiPerPlane", &claim).unwrap();
            let err = session
                .get_roi_position(RoiPositionMode::WeightedMean)
                .unwrap_err();
            assert!(matches!(err.kind(), ErrorKind::InvalidArgument(_)), "{err}");
            messages.push(err.to_string());
        }
        messages
    });
    assert!(
        messages[0].contains("stat holds 5 ROIs but planeIDs/roiPerPlane give 9223372036854775808"),
        "{}",
        messages[0]
    );
    assert!(
        messages[1].contains("more than fit in memory"),
        "{}",
        messages[1]
    );
}
