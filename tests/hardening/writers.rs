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
/// length, then twice it; prints how many saves it made. Used where a
/// session's maps meet repeated rewrites.
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

/// One round of `np.save` over each file in place: file `k` in round `r`
/// gets `[10, 1_000_000, 2_000_000][(r + k) % 3]` elements of `-(r + 1)`.
const WRITER_ROUND: &str = r#"
import sys, numpy as np
r, paths = int(sys.argv[1]), sys.argv[2:]
for k, p in enumerate(paths):
    np.save(p, np.full([10, 1_000_000, 2_000_000][(r + k) % 3], -float(r + 1)))
print(len(paths))
"#;

fn round_values(r: usize, k: usize) -> Array1<f64> {
    Array1::from_elem([10, 1_000_000, 2_000_000][(r + k) % 3], -((r + 1) as f64))
}

/// Three rounds; each maps the files afresh (every map leased), then a
/// second process rewrites each in place while two threads scan the maps.
/// Over the rounds every file gets a shorter, a same-length and a longer
/// rewrite, each over a live leased map.
#[cfg(target_os = "linux")]
#[test]
fn np_save_over_mapped_files_changes_no_view() {
    require_numpy();
    let dir = tempfile::tempdir().unwrap();
    let len = 1_000_000;
    let paths = write_files(dir.path(), 3, len);
    let mut expected: Vec<Array1<f64>> = (0..3).map(|k| first_version(k, len)).collect();
    let mut kept = Vec::new();
    for r in 0..3 {
        let views: Vec<NpyArray> = paths.iter().map(|p| NpyArray::open(p).unwrap()).collect();
        for (v, want) in views.iter().zip(&expected) {
            assert!(v.is_mapped() && v.is_protected(), "a local file is leased");
            assert_eq!(v.view1::<f64>().unwrap(), want);
        }
        let shared = Arc::new((views, expected.clone()));
        let done = Arc::new(AtomicBool::new(false));
        // Two threads scan every view until the writer is done, comparing
        // it bit for bit with what it held when it was mapped.
        let scanners: Vec<_> = (0..2)
            .map(|_| {
                let (shared, done) = (shared.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut scans = 0u64;
                    loop {
                        let finished = done.load(Ordering::SeqCst);
                        for (k, (v, want)) in shared.0.iter().zip(&shared.1).enumerate() {
                            let got = v.view1::<f64>().unwrap();
                            assert!(
                                got.len() == want.len()
                                    && got
                                        .iter()
                                        .zip(want)
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
        let out = Command::new(python())
            .arg("-c")
            .arg(WRITER_ROUND)
            .arg(r.to_string())
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
            "3",
            "every np.save completed"
        );
        for s in scanners {
            assert!(s.join().unwrap() >= 1);
        }
        // The maps were copied, each keeping its values; fresh loads see
        // numpy's files.
        for (k, (v, p)) in shared.0.iter().zip(&paths).enumerate() {
            assert_eq!(v.view1::<f64>().unwrap(), expected[k]);
            assert!(v.is_protected());
            assert_eq!(v.mapped_bytes(), 0, "view {k} was copied");
            let fresh = NpyArray::open(p).unwrap();
            assert_eq!(fresh.view1::<f64>().unwrap(), round_values(r, k));
        }
        kept.push(shared);
        expected = (0..3).map(|k| round_values(r, k)).collect();
    }
    // Views of every round still hold what they held.
    for (r, shared) in kept.iter().enumerate() {
        for (k, v) in shared.0.iter().enumerate() {
            let want = if r == 0 {
                first_version(k, len)
            } else {
                round_values(r - 1, k)
            };
            assert_eq!(v.view1::<f64>().unwrap(), want, "round {r} view {k}");
        }
    }
}

/// The hazard the leases remove, shown in a child process: a map without
/// a lease (`MapPolicy::Always` on a file held open for writing) read past
/// the end `np.save` truncated it to dies of SIGBUS.
#[cfg(target_os = "linux")]
#[test]
fn without_a_lease_a_shorter_np_save_faults_the_map() {
    use std::os::unix::process::ExitStatusExt;
    require_numpy();
    let dir = tempfile::tempdir().unwrap();
    let path = write_files(dir.path(), 1, 1_000_000).remove(0);
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "writers::child_reads_past_a_truncation",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ONEDATA_TEST_UNLEASED_FILE", &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("mapped unprotected"), "{stdout}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGBUS),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Run by `without_a_lease_a_shorter_np_save_faults_the_map`.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "run by without_a_lease_a_shorter_np_save_faults_the_map; dies of SIGBUS"]
fn child_reads_past_a_truncation() {
    use onedata::npy::MapPolicy;
    let Some(path) = std::env::var_os("ONEDATA_TEST_UNLEASED_FILE") else {
        return;
    };
    let writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let a = NpyArray::open_with(&path, MapPolicy::Always).unwrap();
    assert!(a.is_mapped() && !a.is_protected());
    println!("\nmapped unprotected");
    drop(writer);
    let out = Command::new(python())
        .arg("-c")
        .arg(WRITER_ROUND)
        .arg("0")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    // Past the 10 elements the file now holds: the page is gone.
    let v = a.view1::<f64>().unwrap();
    println!("read {}", v[v.len() - 1]);
}

/// Where no lease can be had (here: another handle holds the file open for
/// writing, so the kernel refuses a read lease), the policy decides:
/// `Auto` reads into owned memory, `Always` maps unprotected, `Never`
/// reads into owned memory; each array says which it got.
#[test]
fn without_a_lease_the_policy_decides_and_says_so() {
    use onedata::npy::MapPolicy;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mpci.x.npy");
    let values = first_version(3, 5000);
    write_npy(&path, &values).unwrap();

    let check = |policy, mapped: bool, protected: bool| {
        let a = NpyArray::open_with(&path, policy).unwrap();
        assert_eq!(a.view1::<f64>().unwrap(), values, "{policy:?}");
        assert_eq!(
            (a.is_mapped(), a.is_protected()),
            (mapped, protected),
            "{policy:?}"
        );
    };
    let leases = cfg!(target_os = "linux");
    check(MapPolicy::Auto, leases, true);
    check(MapPolicy::Always, true, leases);
    check(MapPolicy::Never, false, true);

    let writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    check(MapPolicy::Auto, false, true);
    check(MapPolicy::Always, true, false);
    check(MapPolicy::Never, false, true);
    drop(writer);
    check(MapPolicy::Auto, leases, true);

    // A session's policy applies to its loads.
    use onedata::SessionData;
    let root = tempfile::tempdir().unwrap();
    let s = crate::session_in(root.path()).with_map_policy(MapPolicy::Never);
    assert_eq!(s.core().map_policy(), MapPolicy::Never);
    s.saveone(&values, "mpci.x").unwrap();
    s.clear_cache(None);
    let got = s.loadone("mpci.x").unwrap();
    assert!(!got.dense().unwrap().is_mapped());
    assert!(got.dense().unwrap().is_protected());
    assert_eq!(got.view1::<f64>().unwrap(), values);
}

/// A file on tmpfs (`/dev/shm`) is local: leased and mapped under `Auto`.
#[cfg(target_os = "linux")]
#[test]
fn tmpfs_files_are_leased() {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() {
        panic!("/dev/shm is missing: this test needs a tmpfs mounted there");
    }
    let dir = tempfile::tempdir_in(shm).unwrap();
    let path = dir.path().join("a.npy");
    write_npy(&path, &first_version(1, 100)).unwrap();
    let a = NpyArray::open(&path).unwrap();
    assert!(a.is_mapped() && a.is_protected());
}

/// A lease break copies a map into memory: the session's cache counts the
/// copy as owned bytes from then on and evicts to keep `max_owned_bytes`,
/// so a copy that no caller holds is freed; a held one keeps its values.
#[cfg(target_os = "linux")]
#[test]
fn copies_count_against_the_cache_limits() {
    use onedata::{CacheLimits, SessionData};
    require_numpy();
    let root = tempfile::tempdir().unwrap();
    let s = crate::session_in(root.path()).with_cache_limits(CacheLimits {
        max_owned_bytes: 1 << 20,
        ..CacheLimits::default()
    });
    let len = 1_000_000;
    for k in 0..2 {
        s.saveone(&first_version(k, len), &format!("mpci.part{k}"))
            .unwrap();
    }
    let paths: Vec<PathBuf> = (0..2)
        .map(|k| s.one_path().join(format!("mpci.part{k}.npy")))
        .collect();
    let file_len = std::fs::metadata(&paths[0]).unwrap().len() as usize;
    let held = s.loadone("mpci.part0").unwrap();
    s.loadone("mpci.part1").unwrap();
    assert!(held.dense().unwrap().is_protected());
    let before = s.core().cache_stats();
    assert_eq!((before.entries, before.owned_bytes), (2, 0));
    assert_eq!(before.mapped_bytes, 2 * file_len);

    let out = Command::new(python())
        .arg("-c")
        .arg(WRITER)
        .arg("1")
        .args(&paths)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Both maps were copied (each np.save waited for its copy). Counted as
    // owned, they exceed the 1 MiB limit: the least recently used entry
    // goes; the other stays, alone over the limit, as the newest always may.
    let after = s.core().cache_stats();
    assert_eq!(after.entries, 1);
    assert_eq!((after.owned_bytes, after.mapped_bytes), (file_len, 0));
    assert!(!s.core().is_cached("mpci.part0.npy"));
    assert!(s.core().is_cached("mpci.part1.npy"));
    let a = held.dense().unwrap();
    assert_eq!(a.owned_bytes(), file_len);
    assert_eq!(a.mapped_bytes(), 0);
    assert!(a.is_protected());
    assert_eq!(a.view1::<f64>().unwrap(), first_version(0, len));
    // A fresh load sees numpy's file.
    let fresh = s.loadone("mpci.part0").unwrap();
    assert_eq!(fresh.view1::<f64>().unwrap(), Array1::from_elem(10, -1.0));
}

/// `CAP_LEASE` (`<linux/capability.h>`; the `libc` crate lacks it).
#[cfg(target_os = "linux")]
const CAP_LEASE: libc::c_ulong = 28;

/// `fcntl(F_SETLEASE)` needs the file's owner or `CAP_LEASE`. A child of
/// this test without `CAP_LEASE` (dropped from its bounding set before
/// `exec`) opens a file owned by another user (uid 65534): no lease can be
/// had, and the policy decides, as documented: `Auto` reads into memory,
/// `Always` maps unprotected, `Never` reads; each array says which.
#[cfg(target_os = "linux")]
#[test]
fn a_file_of_another_user_gets_the_documented_policy() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mpci.theirs.npy");
    write_npy(&path, &first_version(7, 5000)).unwrap();
    if let Err(e) = std::os::unix::fs::chown(&path, Some(65534), Some(65534)) {
        assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}");
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root, which this test needs to give a file to another user (chown: {e})"
        );
        eprintln!("skipped: giving a file to another user needs root (chown: {e})");
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args([
            "--exact",
            "writers::child_opens_a_file_of_another_user",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ONEDATA_TEST_THEIR_FILE", &path);
    // SAFETY: the closure runs in the forked child before exec and calls
    // only prctl, which is async-signal-safe.
    unsafe {
        child.pre_exec(|| {
            if libc::prctl(libc::PR_CAPBSET_DROP, CAP_LEASE, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = child.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("policy "))
        .collect();
    assert_eq!(
        report,
        [
            "policy no-cap-lease",
            "policy Auto mapped=false protected=true",
            "policy Always mapped=true protected=false",
            "policy Never mapped=false protected=true",
        ],
        "{stdout}"
    );
}

/// Run by `a_file_of_another_user_gets_the_documented_policy` in a child
/// without `CAP_LEASE`; does nothing otherwise.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "run by a_file_of_another_user_gets_the_documented_policy"]
fn child_opens_a_file_of_another_user() {
    use onedata::npy::MapPolicy;
    let Some(path) = std::env::var_os("ONEDATA_TEST_THEIR_FILE") else {
        return;
    };
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    if eff & (1 << CAP_LEASE) == 0 {
        // A new line first: the harness has not ended its own.
        println!("\npolicy no-cap-lease");
    }
    for policy in [MapPolicy::Auto, MapPolicy::Always, MapPolicy::Never] {
        let a = NpyArray::open_with(&path, policy).unwrap();
        assert_eq!(a.view1::<f64>().unwrap(), first_version(7, 5000));
        println!(
            "policy {policy:?} mapped={} protected={}",
            a.is_mapped(),
            a.is_protected()
        );
    }
}
