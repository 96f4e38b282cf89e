//! `onedata bench`: the load workloads timed side by side with numpy and
//! scipy (run by python3 on the same files, in the same run) and with the
//! physical floor of a mapped load.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use ndarray::Array2;
use onedata::{Durability, Error, LoadOptions, Result, Session, SessionData, SessionId};
use serde_json::{json, Value};

/// How many times each workload runs; medians are reported.
struct Plan {
    cold: usize,
    scan: usize,
    sparse: usize,
    save: usize,
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Untimed runs before each timed workload, on both sides: the first runs
/// pay for memory the kernel (or a virtual machine's host) hands out for the
/// first time, and for files not yet in the page cache.
const WARMUP: usize = 3;

/// Microseconds of each of `n` timed runs of `f`, each preceded by
/// `setup`, after `warmup` untimed runs.
fn samples_us(
    n: usize,
    warmup: usize,
    mut setup: impl FnMut(),
    mut f: impl FnMut() -> Result<()>,
) -> Result<Vec<f64>> {
    let mut times = Vec::with_capacity(n);
    for k in 0..warmup + n {
        setup();
        let start = Instant::now();
        f()?;
        if k >= warmup {
            times.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    Ok(times)
}

/// The numpy/scipy side, run by python3 for the whole bench on the same
/// files. It prints the versions, then answers each request line
/// `CASE RUNS WARMUP` with one JSON line `{"samples": [microseconds, ...]}`
/// (`null` for a case it cannot run).
const PYTHON_SIDE: &str = include_str!("bench_side.py");

/// Timed runs of each side are split into this many blocks, alternating
/// ours and numpy's, so that a machine growing slower or faster during the
/// bench affects both sides alike.
const BLOCKS: usize = 3;

/// The running python3 side.
pub(crate) struct Theirs {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pub(crate) versions: Value,
}

impl Theirs {
    /// Starts python3 with numpy on the bench files, or says what is missing.
    fn start(python: &str, args: &[String]) -> std::result::Result<Theirs, String> {
        Theirs::start_script(python, PYTHON_SIDE, args, "pip install numpy scipy")
    }

    /// Starts `python` running `script` with `args`; `install` says how to
    /// install what the script needs, should it not start.
    pub(crate) fn start_script(
        python: &str,
        script: &str,
        args: &[String],
        install: &str,
    ) -> std::result::Result<Theirs, String> {
        let mut child = Command::new(python)
            .arg("-c")
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                format!("{python} not found ({e}); install python3 with numpy and scipy")
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(format!("{python} could not be talked to"));
        };
        let mut theirs = Theirs {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            versions: Value::Null,
        };
        match theirs.read_line() {
            Some(v) => {
                theirs.versions = v;
                Ok(theirs)
            }
            None => Err(format!(
                "the python side ({python}) did not run ({}); install with: {install}",
                theirs.stop()
            )),
        }
    }

    fn read_line(&mut self) -> Option<Value> {
        let mut line = String::new();
        self.stdout.read_line(&mut line).ok()?;
        serde_json::from_str(&line).ok()
    }

    /// The samples (microseconds) of `runs` timed runs of `case` after
    /// `warmup` untimed ones; `None` if the case cannot run there.
    fn run(&mut self, case: &str, runs: usize, warmup: usize) -> Option<Vec<f64>> {
        let reply = self.reply(case, runs, warmup)?;
        let samples = reply["samples"].as_array()?;
        samples.iter().map(Value::as_f64).collect()
    }

    /// The whole reply line to `CASE RUNS WARMUP`.
    pub(crate) fn reply(&mut self, case: &str, runs: usize, warmup: usize) -> Option<Value> {
        writeln!(self.stdin, "{case} {runs} {warmup}").ok()?;
        self.stdin.flush().ok()?;
        self.read_line()
    }

    /// Ends the python side; returns the last line it wrote to stderr.
    pub(crate) fn stop(mut self) -> String {
        drop(self.stdin);
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let _ = self.child.wait();
        err.lines().last().unwrap_or("").to_string()
    }
}

/// Ours and theirs for one case, in alternating blocks: the medians of our
/// samples and of theirs (`None` when their side cannot run it). The first
/// block of each side begins with `warmup` untimed runs.
fn interleaved(
    case: &str,
    runs: usize,
    warmup: usize,
    theirs: &mut Option<Theirs>,
    mut ours: impl FnMut(usize, usize) -> Result<Vec<f64>>,
) -> Result<(f64, Option<f64>)> {
    let runs = runs.max(1);
    let blocks = BLOCKS.min(runs);
    let mut mine = Vec::with_capacity(runs);
    let mut other: Option<Vec<f64>> = theirs.as_ref().map(|_| Vec::with_capacity(runs));
    for b in 0..blocks {
        let n = runs / blocks + usize::from(b < runs % blocks);
        let w = if b == 0 { warmup } else { 0 };
        // Which side goes first alternates from block to block.
        if b % 2 == 0 {
            mine.extend(ours(n, w)?);
        }
        if let (Some(t), Some(acc)) = (theirs.as_mut(), other.as_mut()) {
            match t.run(case, n, w) {
                Some(v) => acc.extend(v),
                None => other = None,
            }
        }
        if b % 2 == 1 {
            mine.extend(ours(n, w)?);
        }
    }
    Ok((median(mine), other.filter(|v| !v.is_empty()).map(median)))
}

/// Runs the benchmark and prints a table, or JSON with `as_json`.
pub fn bench(as_json: bool, size_mb: usize, quick: bool, plot: Option<&Path>) -> Result<()> {
    let plan = if quick {
        Plan {
            cold: 200,
            scan: 3,
            sparse: 3,
            save: 2,
        }
    } else {
        Plan {
            cold: 2000,
            scan: 7,
            sparse: 15,
            save: 5,
        }
    };
    let tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let id = SessionId::new("BENCH", "2024-01-01", Some("1"))?;
    let session = Session::from_root(tmp.path(), id)?;
    let rois = 1000;
    let frames = (size_mb << 20) / 4 / rois;
    let large = Array2::from_shape_fn((frames.max(1), rois), |(t, r)| {
        ((t * 31 + r) % 1000) as f32 * 0.01
    });
    let small = Array2::from_shape_fn((8, 256), |(t, r)| (t * 256 + r) as f32);
    session.saveone(&small, "bench.small")?;
    session.saveone(&large, "bench.large")?;
    let sparse = onedata::demo::random_csc(40_000, 2_500, 0.05, 11);
    session.saveone(&sparse, "bench.sparse")?;
    // The same matrix stored, its members 64-byte aligned: viewed in the map.
    session.saveone(&onedata::Aligned(&sparse), "bench.sparseStored")?;
    let one = session.one_path().to_path_buf();
    let (small_path, large_path) = (one.join("bench.small.npy"), one.join("bench.large.npy"));
    let npz_path = one.join("bench.sparse.npz");
    let stored_path = one.join("bench.sparseStored.npz");
    session.clear_cache(None);

    let save_to = one.join("numpy.saved.npy");
    let python = std::env::var("ONEDATA_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".into());
    let args = [
        small_path.display().to_string(),
        large_path.display().to_string(),
        npz_path.display().to_string(),
        save_to.display().to_string(),
        stored_path.display().to_string(),
    ];
    let (mut theirs, mut missing) = match Theirs::start(&python, &args) {
        Ok(t) => (Some(t), None),
        Err(m) => (None, Some(m)),
    };
    let versions = theirs.as_ref().map_or(Value::Null, |t| t.versions.clone());
    if missing.is_none() && versions["scipy"].is_null() {
        missing = Some("scipy is missing: the sparse cases have no scipy side; install with: pip install scipy".into());
    }

    let clear = || session.clear_cache(None);
    // A cold load ends with a typed view in hand and no page of data read,
    // as `np.load(mmap_mode='r')` ends with a memmap and none read: reading
    // a page costs the kernel's page fault on either side.
    let session = &session;
    let cold = |name: &'static str| {
        move |n, w| {
            samples_us(n, w, clear, || {
                let d = session.loadone(name)?;
                std::hint::black_box(d.view2::<f32>()?.dim());
                Ok(())
            })
        }
    };
    let (cold_small, np_small) = interleaved(
        "cold_load_small",
        plan.cold,
        WARMUP,
        &mut theirs,
        cold("bench.small"),
    )?;
    let (cold_large, np_mmap) = interleaved(
        "cold_load_large_mmap",
        plan.cold,
        WARMUP,
        &mut theirs,
        cold("bench.large"),
    )?;
    // numpy's full read of 400 MB (ours maps it), timed as often as the scans.
    let np_large = theirs
        .as_mut()
        .and_then(|t| t.run("cold_load_large", plan.scan.max(3), WARMUP))
        .filter(|v| !v.is_empty())
        .map(median);
    // The floor's map is unmapped outside the timing, as the loads' maps are.
    let floor_map = std::cell::RefCell::new(None);
    let large_len = std::fs::metadata(&large_path)
        .map_err(|e| Error::io(large_path.clone(), e))?
        .len() as usize;
    let floor = median(samples_us(
        plan.cold,
        WARMUP,
        || drop(floor_map.take()),
        || {
            let (byte, map) = onedata::npy::floor_open_read_map(&large_path, large_len)
                .map_err(|e| Error::io(large_path.clone(), e))?;
            std::hint::black_box(byte);
            *floor_map.borrow_mut() = Some(map);
            Ok(())
        },
    )?);
    drop(floor_map);
    session.loadone("bench.large")?;
    let (cache_hit, np_hit) = interleaved("cache_hit", 200, 0, &mut theirs, |n, _| {
        let reps = 1000;
        let mut hits = Vec::with_capacity(n);
        for _ in 0..n {
            let start = Instant::now();
            for _ in 0..reps {
                std::hint::black_box(session.loadone(std::hint::black_box("bench.large"))?);
            }
            hits.push(start.elapsed().as_secs_f64() * 1e6 / reps as f64);
        }
        Ok(hits)
    })?;
    let (scan, np_scan) =
        interleaved("full_scan_large", plan.scan, WARMUP, &mut theirs, |n, w| {
            samples_us(n, w, clear, || {
                let d = session.loadone("bench.large")?;
                let arr = d.dense()?;
                arr.prefetch();
                std::hint::black_box(arr.view2::<f32>()?.sum());
                Ok(())
            })
        })?;
    // Kept sparse, then densified.
    let mut sparse_case = |case: &str, keep_sparse: bool| {
        interleaved(case, plan.sparse, WARMUP, &mut theirs, |n, w| {
            samples_us(n, w, clear, || {
                let opts = LoadOptions::sparse(keep_sparse);
                std::hint::black_box(session.loadone_with("bench.sparse", opts)?);
                Ok(())
            })
        })
    };
    let (sparse_load, np_sparse) = sparse_case("sparse_load", true)?;
    let (sparse_dense, np_dense) = sparse_case("sparse_dense", false)?;
    // Kept sparse from the aligned stored file: a view of the map, ready
    // for typed access, against scipy's load_npz of the same file. The map
    // is unmapped outside the timing, as the dense loads' maps are (they
    // stay in the cache until the next run's setup clears it).
    let held = std::cell::RefCell::new(None);
    let (sparse_stored, np_stored) = interleaved(
        "sparse_load_stored",
        plan.sparse.max(plan.cold / 10),
        WARMUP,
        &mut theirs,
        |n, w| {
            samples_us(
                n,
                w,
                || drop(held.take()),
                || {
                    let m = onedata::sparse::read_npz_stored(&stored_path)?;
                    std::hint::black_box(m.view::<f32, i32>()?.nnz());
                    *held.borrow_mut() = Some(m);
                    Ok(())
                },
            )
        },
    )?;
    // Ours against the dense cold open, both about 10 us: timed in ten
    // alternating blocks of `plan.cold` runs each, so that the load of the
    // machine at the time weighs on both alike (the medians above come
    // from different moments).
    let (mut paired_stored, mut paired_dense) = (Vec::new(), Vec::new());
    for b in 0..10 {
        let w = if b == 0 { WARMUP } else { 0 };
        paired_stored.extend(samples_us(
            plan.cold / 10,
            w,
            || drop(held.take()),
            || {
                let m = onedata::sparse::read_npz_stored(&stored_path)?;
                std::hint::black_box(m.view::<f32, i32>()?.nnz());
                *held.borrow_mut() = Some(m);
                Ok(())
            },
        )?);
        paired_dense.extend(cold("bench.large")(plan.cold / 10, w)?);
    }
    let (paired_stored, paired_dense) = (median(paired_stored), median(paired_dense));
    drop(held);
    session.clear_cache(None);
    // Each save writes a new file with no dirty pages pending, as numpy's
    // does; nothing is deleted while timing. No warm-up on either side.
    // `save_large` is durable (the default: the file synced before its
    // rename, the folder after), against np.save followed by an fsync of
    // the file and of the folder; `save_large_scratch` syncs nothing, as
    // plain np.save.
    let count = std::cell::Cell::new(0);
    let saves = |n, w| {
        samples_us(
            n,
            w,
            || {
                count.set(count.get() + 1);
                let _ = Command::new("sync").status();
            },
            || {
                session.saveone(&large, &format!("bench.saved{}", count.get()))?;
                Ok(())
            },
        )
    };
    let (save, np_save) = interleaved("save_large", plan.save, 0, &mut theirs, saves)?;
    session.core().set_durability(Durability::Scratch);
    let scratch = interleaved("save_large_scratch", plan.save, 0, &mut theirs, saves);
    session.core().set_durability(Durability::Durable);
    let (save_scratch, np_save_scratch) = scratch?;
    // From Python: the onedata package and numpy/scipy in one process, on
    // the same files. Each of ours is paired with the numpy/scipy timing of
    // the same task.
    let mut py_pair = |ours: &str, numpy: &str, runs: usize| -> (Option<f64>, Option<f64>) {
        // Blocks alternate the two sides (taking turns at going first), as
        // `interleaved` does for the Rust cases.
        let Some(t) = theirs.as_mut() else {
            return (None, None);
        };
        let runs = runs.max(1);
        let blocks = BLOCKS.min(runs);
        let (mut a, mut b) = (Some(Vec::new()), Some(Vec::new()));
        for blk in 0..blocks {
            let n = runs / blocks + usize::from(blk < runs % blocks);
            let w = if blk == 0 { WARMUP } else { 0 };
            let order = if blk % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            };
            for is_ours in order {
                let (case, acc) = if is_ours {
                    (ours, &mut a)
                } else {
                    (numpy, &mut b)
                };
                if let Some(v) = acc.as_mut() {
                    match t.run(case, n, w) {
                        Some(s) => v.extend(s),
                        None => *acc = None,
                    }
                }
            }
        }
        let m = |v: Option<Vec<f64>>| v.filter(|v| !v.is_empty()).map(median);
        (m(a), m(b))
    };
    let (py_load, np_mmap2) = py_pair("py_load_large", "cold_load_large_mmap", plan.cold);
    let (py_copy, np_copy) = py_pair("py_load_large_copy", "cold_load_large", plan.sparse);
    let (py_cold, vr_cold) = py_pair("py_loadone_cold", "vr_loadone_cold", plan.scan.max(3));
    let (py_hit, np_hit2) = py_pair("py_loadone_hit", "cache_hit", 200);
    let (py_scan, np_scan2) = py_pair("py_full_scan_large", "full_scan_large", plan.sparse);
    let (py_npz, np_npz) = py_pair("py_load_npz", "sparse_load", plan.sparse);
    let onedata_python = versions
        .get("onedata_python")
        .cloned()
        .unwrap_or(Value::Null);
    if onedata_python.is_null() && missing.is_none() {
        missing = Some(format!(
            "the onedata Python package is not installed for {python}: the Python cases are left out; install it with: {python} -m pip install ./python"
        ));
    }
    if let Some(t) = theirs {
        t.stop();
    }
    session.clear_cache(None);
    for i in 1..=count.get() {
        let _ = std::fs::remove_file(one.join(format!("bench.saved{i}.npy")));
    }
    drop(large);

    let case = |name: &str, ours: f64, numpy: Option<f64>| {
        let mut c = json!({
            "name": name,
            "onedata_us": round(ours),
            "numpy_us": numpy.map(round),
            "ratio_vs_numpy": numpy.map(|n| round(n / ours)),
        });
        if name == "cold_load_large" {
            c["numpy_mmap_us"] = json!(np_mmap.map(round));
            c["ratio_vs_numpy_mmap"] = json!(np_mmap.map(|n| round(n / ours)));
            c["floor_us"] = json!(round(floor));
            c["ratio_vs_floor"] = json!(round(ours / floor));
        }
        if name == "save_large" {
            c["numpy_side"] = json!("np.save + fsync of the file and of the folder");
        }
        if name == "save_large_scratch" {
            c["numpy_side"] = json!("np.save");
        }
        if name == "sparse_load_stored" {
            c["paired_onedata_us"] = json!(round(paired_stored));
            c["dense_cold_us"] = json!(round(paired_dense));
            c["ratio_vs_dense_cold"] = json!(round(paired_stored / paired_dense));
        }
        c
    };
    let py_case = |name: &str, ours: Option<f64>, numpy: Option<f64>, goal: f64| {
        ours.map(|ours| {
            let mut c = case(name, ours, numpy);
            c["side"] = json!("python");
            c["goal_ratio"] = json!(goal);
            c
        })
    };
    let python_cases: Vec<Value> = [
        py_case("py_load_large", py_load, np_mmap2, 5.0),
        py_case("py_load_large_copy", py_copy, np_copy, 1.5),
        py_case("py_loadone_cold", py_cold, vr_cold, 1.0),
        py_case("py_loadone_hit", py_hit, np_hit2, 1.0),
        py_case("py_full_scan_large", py_scan, np_scan2, 2.0),
        py_case("py_load_npz", py_npz, np_npz, 3.0),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut cases = vec![
        case("cold_load_small", cold_small, np_small),
        case("cold_load_large", cold_large, np_large),
        case("cache_hit", cache_hit, np_hit),
        case("full_scan_large", scan, np_scan),
        case("sparse_load", sparse_load, np_sparse),
        case("sparse_dense", sparse_dense, np_dense),
        case("sparse_load_stored", sparse_stored, np_stored),
        case("save_large", save, np_save),
        case("save_large_scratch", save_scratch, np_save_scratch),
    ];
    cases.extend(python_cases);
    let report = json!({
        "size_mb": size_mb,
        "large_shape": [frames, rois],
        "sparse_shape": [40_000, 2_500],
        "sparse_density": 0.05,
        "numpy": versions["numpy"],
        "scipy": versions["scipy"],
        "onedata_python": onedata_python,
        "missing": missing,
        "warmup_runs": WARMUP,
        "timed_runs": {"cold": plan.cold, "scan": plan.scan, "sparse": plan.sparse, "save": plan.save},
        "cases": cases,
    });
    // Printed before the plot is drawn, so that a bad --plot path does not
    // lose the run.
    if as_json {
        out!("{report}");
    } else {
        print_table(&report, &cases, frames, rois);
    }
    match plot {
        Some(png) => crate::plot::write_png(&report, png),
        None => Ok(()),
    }
}

/// The human-readable report.
fn print_table(report: &Value, cases: &[Value], frames: usize, rois: usize) {
    let size_mb = &report["size_mb"];
    out!(
        "onedata bench: {size_mb} MB float32 spks ({frames} x {rois}), 40000 x 2500 float32 CSC at 5%; medians"
    );
    out!(
        "{:<18} {:>14} {:>14} {:>10}",
        "case",
        "onedata (us)",
        "numpy (us)",
        "numpy/ours"
    );
    let mut python_header = false;
    for c in cases {
        if c["side"] == "python" && !python_header {
            python_header = true;
            out!(
                "from Python (onedata {} beside numpy/scipy, one process; goal = numpy/ours at least):",
                report["onedata_python"].as_str().unwrap_or("?")
            );
        }
        let f = |k: &str| c[k].as_f64().map_or("-".to_string(), |v| format!("{v}"));
        out!(
            "{:<18} {:>14} {:>14} {:>10}",
            c["name"].as_str().unwrap_or(""),
            f("onedata_us"),
            f("numpy_us"),
            f("ratio_vs_numpy")
        );
    }
    let large_case = &cases[1];
    let show = |k: &str| {
        large_case[k]
            .as_f64()
            .map_or("-".to_string(), |v| v.to_string())
    };
    out!(
        "cold_load_large: numpy mmap_mode='r' {} us ({}x ours); floor (open + read 128 B + lease + mmap + close) {} us, ours/floor {}",
        show("numpy_mmap_us"),
        show("ratio_vs_numpy_mmap"),
        show("floor_us"),
        show("ratio_vs_floor")
    );
    if let Some(c) = cases.iter().find(|c| c["name"] == "sparse_load_stored") {
        let show = |k: &str| c[k].as_f64().map_or("-".to_string(), |v| v.to_string());
        out!(
            "sparse_load_stored: aligned stored .npz viewed in the map; ours/dense cold open {}",
            show("ratio_vs_dense_cold")
        );
    }
    println!(
        "save_large: durable (fsync of the file, then of the folder) against np.save + the same fsyncs; save_large_scratch: no fsync, against np.save"
    );
    if let Some(m) = report["missing"].as_str() {
        out!("note: {m}");
    }
}

pub(crate) fn round(x: f64) -> f64 {
    if x >= 100.0 {
        x.round()
    } else {
        (x * 1000.0).round() / 1000.0
    }
}
