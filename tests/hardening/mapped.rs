//! Files replaced (atomically) while mapped: old views keep the old values,
//! fresh loads see the new ones.

use std::fs;

use ndarray::{Array1, Array2};
use onedata::npy::{read_header, write_npy, NpyArray};
use onedata::{LoadOptions, SessionData};

use super::session_in;

#[test]
fn replacing_a_mapped_file_keeps_old_views_intact() {
    let root = tempfile::tempdir().unwrap();
    // Maps whether or not a lease is had: another test's child, forked
    // while this one's save is open for writing, holds that descriptor
    // until it execs, and a lease asked for meanwhile is refused (`Auto`
    // would then read the file into memory). Renames need no lease.
    let s = session_in(root.path()).with_map_policy(onedata::npy::MapPolicy::Always);
    let name = "mpci.roiActivityF";
    let versions: Vec<Array2<f64>> = (0..6)
        .map(|v| {
            // Different sizes each time, bigger and smaller than the last.
            let rows = [300, 40, 1000, 7, 513, 64][v];
            Array2::from_shape_fn((rows, 9), |(i, j)| (v * 1_000_000 + i * 9 + j) as f64)
        })
        .collect();
    let mut held = Vec::new();
    for (v, a) in versions.iter().enumerate() {
        s.saveone(a, name).unwrap();
        let loaded = s.loadone(name).unwrap();
        assert!(loaded.dense().unwrap().is_mapped());
        assert_eq!(loaded.view2::<f64>().unwrap(), a);
        held.push((v, loaded));
        // Every handle taken so far still reads its own version exactly.
        for (old, h) in &held {
            assert_eq!(h.view2::<f64>().unwrap(), versions[*old], "version {old}");
        }
        // A fresh load from disk reads the newest.
        s.clear_cache(None);
        assert_eq!(s.loadone(name).unwrap().view2::<f64>().unwrap(), a);
        let forced = s.loadone_with(name, LoadOptions::force()).unwrap();
        assert_eq!(forced.view2::<f64>().unwrap(), a);
    }

    // The same through the file API, with a view borrowed across the rename.
    let path = root.path().join("plain.npy");
    let first = Array1::from_iter((0..50_000).map(|i| i as i64 * 3));
    write_npy(&path, &first).unwrap();
    let old = NpyArray::open_with(&path, onedata::npy::MapPolicy::Always).unwrap();
    assert!(old.is_mapped());
    let old_view = old.view1::<i64>().unwrap();
    let second = Array2::from_shape_fn((10, 10), |(i, j)| (i * j) as f32);
    write_npy(&path, &second).unwrap();
    assert_eq!(old_view, first);
    let fresh = NpyArray::open(&path).unwrap();
    assert_eq!(fresh.view2::<f32>().unwrap(), second);
    assert_eq!(read_header(&path).unwrap().shape(), &[10, 10]);
    // And a third time, replacing the file while both are mapped.
    write_npy(&path, &first.mapv(|x| -x)).unwrap();
    assert_eq!(old_view, first);
    assert_eq!(fresh.view2::<f32>().unwrap(), second);
    assert_eq!(
        NpyArray::open(&path).unwrap().view1::<i64>().unwrap(),
        first.mapv(|x| -x)
    );
    // No temporary files are left behind.
    let leftovers: Vec<_> = fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
