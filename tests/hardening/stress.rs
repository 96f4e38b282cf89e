//! Stress: eight threads share one `Session` for a fixed number of
//! operations each (1000, or `ONEDATA_STRESS_OPS` for a longer soak),
//! loading, saving, clearing the cache and force-reloading a handful of names
//! at random. No clock is involved: each thread draws its operations from its
//! own seeded generator, so every run does the same operations (in whatever
//! interleaving the threads find).
//!
//! Every array written is one *version*: a float64 or int64 1-d array whose
//! element 0 is the version number, whose middle elements derive from
//! (version, index), and whose last element is a checksum of the others; its
//! length and dtype derive from the version too. So every array read can be
//! checked to be exactly one complete version, never a torn mix, and one that
//! some thread wrote.
//!
//! Saves of one name are serialized by a per-name lock held around `saveone`
//! and the recording of the version saved, so "the last version saved" is
//! well defined. Then:
//!
//! - every read is a complete version that was written;
//! - handles kept across later saves and cache clears still read their version;
//! - after the run, every name loads (after `clear_cache`, and forced) the
//!   last version saved for it, `oneData` holds exactly the names written
//!   and no temporary files.
//!
//! Two checks concern the cache's freshness: right after `saveone(v)`
//! returns, a `loadone` of that name (with the name's save lock still held,
//! so no newer save exists) returns `v`, and after the run the cached entry
//! of every name is its last version. Loads, saves and deletions of one name
//! take turns, so a load that read the old file cannot cache it over a newer
//! save; `eight_threads_never_see_a_stale_cache` and the deterministic
//! `loadone_racing_saveone_keeps_the_new_version` assert it.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ndarray::Array1;
use std::sync::Barrier;

use ndarray::array;
use onedata::npy::NpyArray;
use onedata::{
    CacheLimits, LoadOptions, LoadingRecipe, OneData, Session, SessionCore, SessionData, SessionId,
};

const THREADS: usize = 8;
const NAMES: [&str; 5] = [
    "stress.alpha",
    "stress.beta",
    "mpci.roiActivityF",
    "positionTracking.times",
    "stress.e",
];

/// Operations per thread: `ONEDATA_STRESS_OPS`, or `default`.
fn ops_per_thread(default: usize) -> usize {
    std::env::var("ONEDATA_STRESS_OPS")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// SplitMix64's finalizer: a deterministic 64-bit mix.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        mix(self.0.wrapping_mul(0x2545_f491_4f6c_dd1d))
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

// ---------------------------------------------------------------------------
// Versions
// ---------------------------------------------------------------------------

/// Versions alternate dtypes: even ones are float64, odd ones int64.
fn is_float(version: u64) -> bool {
    version.is_multiple_of(2)
}

/// The number of elements of a version: 3 to 4098, varying.
fn len_of(version: u64) -> usize {
    3 + (mix(version ^ 0x5eed) % 4096) as usize
}

/// Element `i` (0 < i < len - 1) of a version, as raw 64 bits.
fn element_bits(version: u64, i: usize) -> u64 {
    mix(version.wrapping_mul(0x1_0000_0001) ^ (i as u64).wrapping_mul(0xd6e8_feb8_6659_fd93))
}

/// A float64 exactly representable: a 52-bit integer over 1024, signed.
fn as_f64(bits: u64) -> f64 {
    let magnitude = (bits >> 12) as f64 / 1024.0;
    if bits & 1 == 1 {
        -magnitude
    } else {
        magnitude
    }
}

/// The checksum of elements 0..len-1 given as raw bits.
fn checksum(bits: impl Iterator<Item = u64>) -> u64 {
    bits.fold(0xcbf2_9ce4_8422_2325, |c, b| {
        (c.rotate_left(7) ^ b).wrapping_mul(0x100_0000_01b3)
    })
}

fn float_version(version: u64) -> Array1<f64> {
    let n = len_of(version);
    let mut v = Vec::with_capacity(n);
    v.push(version as f64);
    v.extend((1..n - 1).map(|i| as_f64(element_bits(version, i))));
    let c = checksum(v.iter().map(|x| x.to_bits()));
    v.push((c >> 12) as f64);
    Array1::from_vec(v)
}

fn int_version(version: u64) -> Array1<i64> {
    let n = len_of(version);
    let mut v = Vec::with_capacity(n);
    v.push(version as i64);
    v.extend((1..n - 1).map(|i| element_bits(version, i) as i64));
    let c = checksum(v.iter().map(|&x| x as u64));
    v.push(c as i64);
    Array1::from_vec(v)
}

/// Checks that `data` is exactly one complete version and returns it.
fn version_of(data: &OneData) -> Result<u64, String> {
    let dense = data.dense().map_err(|e| e.to_string())?;
    if let Ok(view) = dense.view1::<f64>() {
        let v = view.as_slice().ok_or("not contiguous")?;
        let first = *v.first().ok_or("empty")?;
        if !(first >= 0.0 && first < 2f64.powi(53) && first.fract() == 0.0) {
            return Err(format!("float element 0 is not a version: {first}"));
        }
        let version = first as u64;
        if !is_float(version) {
            return Err(format!("version {version} read as float64"));
        }
        if v.len() != len_of(version) {
            return Err(format!(
                "version {version}: {} elements, expected {}",
                v.len(),
                len_of(version)
            ));
        }
        let n = v.len();
        for (i, &x) in v.iter().enumerate().take(n - 1).skip(1) {
            let want = as_f64(element_bits(version, i));
            if x.to_bits() != want.to_bits() {
                return Err(format!(
                    "version {version}: element {i} is {x}, expected {want}"
                ));
            }
        }
        let c = checksum(v[..n - 1].iter().map(|x| x.to_bits()));
        if v[n - 1] != (c >> 12) as f64 {
            return Err(format!("version {version}: checksum mismatch"));
        }
        return Ok(version);
    }
    let view = dense.view1::<i64>().map_err(|e| e.to_string())?;
    let v = view.as_slice().ok_or("not contiguous")?;
    let first = *v.first().ok_or("empty")?;
    if first < 0 {
        return Err(format!("int element 0 is not a version: {first}"));
    }
    let version = first as u64;
    if is_float(version) {
        return Err(format!("version {version} read as int64"));
    }
    if v.len() != len_of(version) {
        return Err(format!(
            "version {version}: {} elements, expected {}",
            v.len(),
            len_of(version)
        ));
    }
    let n = v.len();
    for (i, &x) in v.iter().enumerate().take(n - 1).skip(1) {
        if x as u64 != element_bits(version, i) {
            return Err(format!("version {version}: element {i} is {x}"));
        }
    }
    if v[n - 1] as u64 != checksum(v[..n - 1].iter().map(|&x| x as u64)) {
        return Err(format!("version {version}: checksum mismatch"));
    }
    Ok(version)
}

// ---------------------------------------------------------------------------
// The shared state of a run
// ---------------------------------------------------------------------------

struct Shared {
    session: Session,
    /// The next version number to hand out.
    next_version: AtomicU64,
    /// Every version some thread has written (or is about to write).
    written: Mutex<HashSet<u64>>,
    /// Per name: the lock held around `saveone` + recording, and the last
    /// version saved.
    last_saved: Vec<Mutex<u64>>,
    stop: AtomicBool,
    failed: AtomicBool,
    loads: AtomicUsize,
    forced: AtomicUsize,
    saves: AtomicUsize,
    clears: AtomicUsize,
    rechecks: AtomicUsize,
    /// Read-your-write checks that saw an older version than just saved.
    stale_after_save: AtomicUsize,
    read_your_writes: AtomicUsize,
    /// Whether an outside process rewrites `OUTSIDE` names meanwhile.
    outside: bool,
    /// Loads of outside names: complete versions, and typed errors (a file
    /// caught half-written by numpy).
    outside_loads: AtomicUsize,
    outside_errors: AtomicUsize,
}

/// Names another process rewrites in place with `np.save` during the run.
const OUTSIDE: [&str; 2] = ["outside.alpha", "outside.beta"];

/// The outside writer: `np.save`s version after version of each outside
/// name in place (truncating the same inode) until `stop` exists; version
/// `v` is `v` repeated `outside_len(v)` times. Prints the saves it made.
const OUTSIDE_WRITER: &str = r#"
import os, sys, numpy as np
folder, stop = sys.argv[1], sys.argv[2]
names = sys.argv[3:]
n, v = 0, 0
while not os.path.exists(stop):
    for name in names:
        v += 1
        np.save(os.path.join(folder, name + ".npy"), np.full(1000 + (v * 7919) % 5000, float(v)))
        n += 1
print(n)
"#;

/// Checks that `data` is one complete outside version.
fn outside_version(data: &OneData) -> Result<u64, String> {
    let dense = data.dense().map_err(|e| e.to_string())?;
    let view = dense.view1::<f64>().map_err(|e| e.to_string())?;
    let v = view.as_slice().ok_or("not contiguous")?;
    let first = *v.first().ok_or("empty")?;
    let version = first as u64;
    if first != version as f64 || v.len() != 1000 + (version as usize * 7919) % 5000 {
        return Err(format!("{} elements of {first}: not a version", v.len()));
    }
    if let Some(x) = v.iter().find(|x| x.to_bits() != first.to_bits()) {
        return Err(format!("version {version} holds {x}: a torn read"));
    }
    Ok(version)
}

impl Shared {
    /// Checks a loaded handle: a complete version that some thread wrote.
    fn check(&self, data: &OneData, what: &str, name: &str) -> u64 {
        let version = version_of(data).unwrap_or_else(|e| panic!("{what} {name}: {e}"));
        assert!(
            self.written.lock().unwrap().contains(&version),
            "{what} {name}: version {version} was never written"
        );
        version
    }

    /// Saves a new version of `NAMES[k]`, with the name's save lock held.
    fn save(&self, k: usize, check_after: bool) -> u64 {
        let name = NAMES[k];
        let mut last = self.last_saved[k].lock().unwrap();
        let version = self.next_version.fetch_add(1, Ordering::Relaxed);
        self.written.lock().unwrap().insert(version);
        if is_float(version) {
            self.session.saveone(&float_version(version), name)
        } else {
            self.session.saveone(&int_version(version), name)
        }
        .unwrap_or_else(|e| panic!("saveone {name} version {version}: {e}"));
        *last = version;
        self.saves.fetch_add(1, Ordering::Relaxed);
        if check_after {
            // No newer save of this name can exist while the lock is held.
            let data = self
                .session
                .loadone(name)
                .unwrap_or_else(|e| panic!("loadone {name} after saving: {e}"));
            let seen = self.check(&data, "loadone after saveone", name);
            self.read_your_writes.fetch_add(1, Ordering::Relaxed);
            if seen != version {
                assert!(seen < version, "{name}: saw {seen} after saving {version}");
                self.stale_after_save.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "{name}: loadone right after saving version {version} returned version {seen}"
                );
            }
        }
        version
    }
}

/// Marks the run failed if the thread panics, so that the others stop.
struct FailOnPanic<'a>(&'a Shared);

impl Drop for FailOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.failed.store(true, Ordering::SeqCst);
            self.0.stop.store(true, Ordering::SeqCst);
        }
    }
}

/// Runs `ops` random operations (fewer if another thread fails).
fn worker(shared: &Shared, thread: usize, ops: usize) {
    let _guard = FailOnPanic(shared);
    let mut rng = Rng(0x5eed_0000 + thread as u64 * 0x1_0000_0000);
    let s = &shared.session;
    // Handles kept across saves and clears: (name, version, handle).
    let mut held: Vec<(usize, u64, Arc<OneData>)> = Vec::new();
    for _ in 0..ops {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        if shared.outside && rng.below(4) == 0 {
            let name = OUTSIDE[rng.below(OUTSIDE.len())];
            let opts = if rng.below(2) == 0 {
                LoadOptions::default()
            } else {
                LoadOptions::force()
            };
            match s.loadone_with(name, opts) {
                Ok(data) => {
                    if let Err(e) = outside_version(&data) {
                        panic!("loadone {name} while numpy rewrites it: {e}");
                    }
                    shared.outside_loads.fetch_add(1, Ordering::Relaxed);
                    if rng.below(4) == 0 {
                        if held.len() >= 6 {
                            held.swap_remove(rng.below(held.len()));
                        }
                        held.push((usize::MAX, outside_version(&data).unwrap(), data));
                    }
                }
                // Caught half-written and still so after the retries: a
                // typed error naming the file, never a torn array.
                Err(e) if e.to_string().contains(name) => {
                    shared.outside_errors.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => panic!("loadone {name}: {e}"),
            }
            continue;
        }
        let k = rng.below(NAMES.len());
        let name = NAMES[k];
        match rng.below(100) {
            0..=54 => {
                let data = s
                    .loadone(name)
                    .unwrap_or_else(|e| panic!("loadone {name}: {e}"));
                let version = shared.check(&data, "loadone", name);
                shared.loads.fetch_add(1, Ordering::Relaxed);
                if rng.below(8) == 0 {
                    if held.len() >= 6 {
                        held.swap_remove(rng.below(held.len()));
                    }
                    held.push((k, version, data));
                }
            }
            55..=59 => {
                let data = s
                    .loadone_with(name, LoadOptions::force())
                    .unwrap_or_else(|e| panic!("loadone_with(force) {name}: {e}"));
                shared.check(&data, "loadone_with(force)", name);
                shared.forced.fetch_add(1, Ordering::Relaxed);
            }
            60..=84 => {
                shared.save(k, rng.below(2) == 0);
            }
            85..=94 => {
                if rng.below(2) == 0 {
                    s.clear_cache(None);
                } else {
                    let file = format!("{name}.npy");
                    s.clear_cache(Some(&[file.as_str()]));
                }
                shared.clears.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                // Handles taken earlier still read their own version.
                for (k, version, data) in &held {
                    if *k == usize::MAX {
                        let again = outside_version(data)
                            .unwrap_or_else(|e| panic!("a held outside handle changed: {e}"));
                        assert_eq!(again, *version, "a held outside handle changed");
                        continue;
                    }
                    let again = shared.check(data, "held handle", NAMES[*k]);
                    assert_eq!(again, *version, "a held handle of {} changed", NAMES[*k]);
                }
                shared.rechecks.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// What a run saw.
struct Report {
    loads: usize,
    saves: usize,
    read_your_writes: usize,
    stale_after_save: usize,
    stale_at_end: Vec<String>,
}

/// Runs the threads for `ops` operations each, checks everything but the
/// cache's freshness, and reports what it saw.
fn run(ops: usize) -> Report {
    run_with(ops, false)
}

fn run_with(ops: usize, outside: bool) -> Report {
    let root = tempfile::tempdir().unwrap();
    let id = SessionId::new("ATL027", "2024-06-12", Some("701")).unwrap();
    // Fewer entries than names: the LRU evicts while threads hold handles.
    let session = Session::from_root(root.path(), id)
        .unwrap()
        .with_cache_limits(CacheLimits {
            max_entries: 3,
            ..CacheLimits::default()
        });
    let shared = Shared {
        session,
        next_version: AtomicU64::new(1),
        written: Mutex::new(HashSet::new()),
        last_saved: NAMES.iter().map(|_| Mutex::new(0)).collect(),
        stop: AtomicBool::new(false),
        failed: AtomicBool::new(false),
        loads: AtomicUsize::new(0),
        forced: AtomicUsize::new(0),
        saves: AtomicUsize::new(0),
        clears: AtomicUsize::new(0),
        rechecks: AtomicUsize::new(0),
        stale_after_save: AtomicUsize::new(0),
        read_your_writes: AtomicUsize::new(0),
        outside,
        outside_loads: AtomicUsize::new(0),
        outside_errors: AtomicUsize::new(0),
    };
    // Every name exists before the threads start.
    for k in 0..NAMES.len() {
        shared.save(k, true);
    }
    let stop_file = root.path().join("stop-outside-writer");
    let writer = outside.then(|| {
        crate::common::require_numpy();
        let one = shared.session.one_path().to_path_buf();
        for name in OUTSIDE {
            // Version 0, so the names exist before the threads start.
            onedata::npy::write_npy(
                one.join(format!("{name}.npy")),
                &Array1::from_elem(1000, 0.0f64),
            )
            .unwrap();
        }
        std::process::Command::new(crate::common::python())
            .arg("-c")
            .arg(OUTSIDE_WRITER)
            .arg(&one)
            .arg(&stop_file)
            .args(OUTSIDE)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    });

    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let shared = &shared;
                std::thread::Builder::new()
                    .name(format!("stress-{t}"))
                    .spawn_scoped(scope, move || worker(shared, t, ops))
                    .unwrap()
            })
            .collect();
        for h in handles {
            if let Err(p) = h.join() {
                std::panic::resume_unwind(p);
            }
        }
    });
    assert!(!shared.failed.load(Ordering::SeqCst));
    let count = |c: &AtomicUsize| c.load(Ordering::Relaxed);
    if let Some(writer) = writer {
        std::fs::write(&stop_file, b"").unwrap();
        let out = writer.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "np.save failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let saves: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        eprintln!(
            "outside writer: {saves} np.save calls in place; {} outside loads, each one complete version, {} typed errors (caught half-written)",
            count(&shared.outside_loads),
            count(&shared.outside_errors)
        );
        assert!(saves > 0, "the outside writer made no save");
        assert!(
            count(&shared.outside_loads) > 0,
            "no outside load succeeded"
        );
        std::fs::remove_file(&stop_file).unwrap();
        for name in OUTSIDE {
            std::fs::remove_file(shared.session.one_path().join(format!("{name}.npy"))).unwrap();
        }
    }
    eprintln!(
        "stress: {THREADS} threads x {ops} operations: {} loads, {} forced loads, {} saves ({} read back at once, {} of them stale), {} cache clears, {} rechecks of held handles",
        count(&shared.loads),
        count(&shared.forced),
        count(&shared.saves),
        count(&shared.read_your_writes),
        count(&shared.stale_after_save),
        count(&shared.clears),
        count(&shared.rechecks),
    );
    // Every operation of every thread was done, each counted once (the
    // first save of each name came before the threads).
    assert_eq!(
        count(&shared.loads)
            + count(&shared.forced)
            + (count(&shared.saves) - NAMES.len())
            + count(&shared.clears)
            + count(&shared.rechecks)
            + count(&shared.outside_loads)
            + count(&shared.outside_errors),
        THREADS * ops,
        "operations lost"
    );
    assert!(count(&shared.loads) > 100, "too little work done");
    assert!(count(&shared.saves) > 20, "too little work done");

    // Nothing is lost: every name holds the last version saved, from disk
    // and forced.
    let s = &shared.session;
    let last: Vec<u64> = shared
        .last_saved
        .iter()
        .map(|m| *m.lock().unwrap())
        .collect();
    let mut stale_at_end = Vec::new();
    for (k, name) in NAMES.iter().enumerate() {
        let cached = shared.check(&s.loadone(name).unwrap(), "final loadone", name);
        assert!(
            cached <= last[k],
            "{name}: {cached} is newer than the last save"
        );
        if cached != last[k] {
            stale_at_end.push(format!(
                "{name}: the cache holds version {cached}, the last saved is {}",
                last[k]
            ));
        }
    }
    s.clear_cache(None);
    for (k, name) in NAMES.iter().enumerate() {
        let fresh = shared.check(&s.loadone(name).unwrap(), "loadone from disk", name);
        assert_eq!(fresh, last[k], "{name}: the file holds another version");
        let cached = shared.check(&s.loadone(name).unwrap(), "cached loadone", name);
        assert_eq!(cached, last[k], "{name}");
        let forced = s.loadone_with(name, LoadOptions::force()).unwrap();
        assert_eq!(shared.check(&forced, "forced loadone", name), last[k]);
    }
    let mut expected: Vec<String> = NAMES.iter().map(|n| format!("{n}.npy")).collect();
    expected.sort();
    assert_eq!(
        files_in(s.one_path()),
        expected,
        "oneData holds other files"
    );
    let mut saved = s.print_saved_one(false, false).unwrap();
    saved.sort();
    let mut names: Vec<String> = NAMES.iter().map(|n| n.to_string()).collect();
    names.sort();
    assert_eq!(saved, names);
    for line in &stale_at_end {
        eprintln!("stale cache entry at the end: {line}");
    }
    Report {
        loads: count(&shared.loads),
        saves: count(&shared.saves),
        read_your_writes: count(&shared.read_your_writes),
        stale_after_save: count(&shared.stale_after_save),
        stale_at_end,
    }
}

#[test]
fn eight_threads_share_one_session() {
    let report = run(ops_per_thread(1000));
    assert!(report.loads > 0 && report.saves > 0);
}

/// The same, while another process rewrites two more files of the session
/// in place with `np.save`: every load of those is one complete version
/// (or a typed error for a file caught half-written), handles held across
/// the rewrites keep their values, and nothing of the session's own names
/// is lost.
#[test]
fn eight_threads_share_one_session_with_an_outside_writer() {
    let report = run_with(ops_per_thread(1000), true);
    assert!(report.loads > 0 && report.saves > 0);
}

/// The cache's freshness under concurrency (see the module docs).
#[test]
fn eight_threads_never_see_a_stale_cache() {
    let report = run(ops_per_thread(1000).min(500));
    assert!(
        report.stale_at_end.is_empty(),
        "a load that raced a save left an old version cached:\n{}",
        report.stale_at_end.join("\n")
    );
    assert_eq!(
        report.stale_after_save, 0,
        "loadone right after saveone returned an older version {} times in {} checks",
        report.stale_after_save, report.read_your_writes
    );
}

/// A session type whose recipe loader blocks until told to go on: it holds
/// a `loadone` between reading the file and caching the result.
struct GatedSession {
    core: SessionCore,
    entered: Barrier,
    proceed: Barrier,
}

impl SessionData for GatedSession {
    fn core(&self) -> &SessionCore {
        &self.core
    }

    fn spks(&self) -> onedata::Result<Arc<OneData>> {
        self.loadone("spks")
    }

    fn recipe_loaders(&self) -> Vec<&str> {
        vec!["gated"]
    }

    fn load_recipe_source(&self, _recipe: &LoadingRecipe) -> onedata::Result<OneData> {
        self.entered.wait();
        self.proceed.wait();
        Ok(OneData::Dense(NpyArray::from_array("old", &array![1.0f64])))
    }
}

/// Deterministic form of the race: thread A's `loadone("x")` has read the
/// old file (a recipe here, so that it can be held at that point) when
/// `saveone(new, "x")` is called. The save waits for A, then writes and
/// caches the new array, so every later `loadone("x")` returns the new data.
#[test]
fn loadone_racing_saveone_keeps_the_new_version() {
    let root = tempfile::tempdir().unwrap();
    let id = SessionId::new("ATL027", "2024-06-12", Some("701")).unwrap();
    let session = GatedSession {
        core: SessionCore::new(id.clone(), id.path_under(root.path())).unwrap(),
        entered: Barrier::new(2),
        proceed: Barrier::new(2),
    };
    session
        .saveone(
            &LoadingRecipe::new("gated", None, Vec::<String>::new()),
            "x",
        )
        .unwrap();
    std::thread::scope(|scope| {
        let loader = scope.spawn(|| session.loadone("x").unwrap());
        session.entered.wait();
        // The save waits for the load holding the name; let the load go on
        // once the save has started.
        let saver = scope.spawn(|| session.saveone(&array![2.0f64], "x").unwrap());
        std::thread::sleep(Duration::from_millis(50));
        session.proceed.wait();
        // The racing caller sees the old value: it asked first.
        let raced = loader.join().unwrap();
        assert_eq!(raced.view1::<f64>().unwrap(), array![1.0]);
        saver.join().unwrap();
    });
    let on_disk = NpyArray::open(session.one_path().join("x.npy")).unwrap();
    assert_eq!(on_disk.view1::<f64>().unwrap(), array![2.0]);
    // Everyone after the save must see the new value.
    let after = session.loadone("x").unwrap();
    assert_eq!(
        after.view1::<f64>().unwrap(),
        array![2.0],
        "loadone returned the version the racing load read, not the saved one"
    );
}
