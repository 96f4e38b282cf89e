//! Other programs rewriting mapped files in place: a second process runs
//! `np.save` over the very files onedata holds mapped, in a loop (shorter,
//! same length, longer), while threads scan the views. No view changes or
//! faults, every `np.save` completes, and fresh loads see the new files.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ndarray::Array1;
use onedata::npy::{write_npy, NpyArray};

use crate::common::{python, require_numpy};

/// The values of version 0 of file `k`: distinct per file and element.
fn first_version(k: usize, len: usize) -> Array1<f64> {
    Array1::from_shape_fn(len, |i| (k * 10_000_000 + i) as f64)
}

/// `np.save`s `rounds` versions of each file in place (truncating the same
/// inode, as numpy's `open(path, "wb")` does): 10 elements, the original
/// length, then twice it; prints how many saves it made.
const WRITER: &str = r#"
import sys, numpy as np
paths = sys.argv[2:]
rounds = int(sys.argv[1])
n = 0
for r in range(rounds):
    for k, p in enumerate(paths):
        size = [10, 1_000_000, 2_000_000][(r + k) % 3]
        np.save(p, np.full(size, -float(r + 1)))
        n += 1
print(n)
"#;

fn write_files(dir: &Path, count: usize, len: usize) -> Vec<PathBuf> {
    (0..count)
        .map(|k| {
            let p = dir.join(format!("mpci.part{k}.npy"));
            write_npy(&p, &first_version(k, len)).unwrap();
            p
        })
        .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn np_save_over_mapped_files_changes_no_view() {
    require_numpy();
    let dir = tempfile::tempdir().unwrap();
    let len = 1_000_000;
    let paths = write_files(dir.path(), 3, len);
    let views: Vec<NpyArray> = paths.iter().map(|p| NpyArray::open(p).unwrap()).collect();
    for v in &views {
        assert!(v.is_mapped() && v.is_protected(), "a local file is leased");
    }
    let views = Arc::new(views);
    let done = Arc::new(AtomicBool::new(false));
    // Two threads scan every view until the writer is done, comparing it
    // bit for bit with its first version each time.
    let scanners: Vec<_> = (0..2)
        .map(|_| {
            let (views, done) = (views.clone(), done.clone());
            std::thread::spawn(move || {
                let mut scans = 0u64;
                loop {
                    let finished = done.load(Ordering::SeqCst);
                    for (k, v) in views.iter().enumerate() {
                        let got = v.view1::<f64>().unwrap();
                        assert!(
                            got.iter()
                                .zip(first_version(k, len).iter())
                                .all(|(a, b)| a.to_bits() == b.to_bits()),
                            "view {k} changed under an outside np.save"
                        );
                    }
                    scans += 1;
                    if finished {
                        return scans;
                    }
                }
            })
        })
        .collect();
    let rounds = 6;
    let out = Command::new(python())
        .arg("-c")
        .arg(WRITER)
        .arg(rounds.to_string())
        .args(&paths)
        .output()
        .unwrap();
    done.store(true, Ordering::SeqCst);
    assert!(
        out.status.success(),
        "np.save failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        (rounds * paths.len()).to_string(),
        "every np.save completed"
    );
    for s in scanners {
        assert!(s.join().unwrap() >= 1);
    }
    // The views still hold their first version; fresh loads see numpy's last.
    for (k, (v, p)) in views.iter().zip(&paths).enumerate() {
        assert_eq!(v.view1::<f64>().unwrap(), first_version(k, len));
        assert!(v.is_protected());
        let fresh = NpyArray::open(p).unwrap();
        let size = [10, 1_000_000, 2_000_000][(rounds - 1 + k) % 3];
        assert_eq!(
            fresh.view1::<f64>().unwrap(),
            Array1::from_elem(size, -(rounds as f64))
        );
    }
}
