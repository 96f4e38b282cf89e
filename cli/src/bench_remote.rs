//! `onedata bench --remote`: a session in a local S3 server, read by the
//! library and by s3fs (run by python on the same server, in the same run),
//! with the requests and bytes each side asked the server for.
//!
//! The server is started by tests/remote/s3_fixture.py: s3s-fs when
//! `ONEDATA_S3S_FS` names its binary, talked to straight and counted from
//! its own request log; else moto, behind the fixture's counting proxy.

use std::cell::RefCell;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use ndarray::Array2;
use onedata::remote::Remote;
use onedata::{Error, Result, Session, SessionData, SessionId};
use serde_json::{json, Value};

use crate::bench::{median, round, Theirs};
use crate::bench_server::{Server, Traffic};

/// The s3fs side, run by a python with s3fs and numpy.
const S3FS_SIDE: &str = include_str!("bench_remote_side.py");

/// How to make the venv the section needs.
pub(crate) const SETUP: &str = "python3 -m venv /tmp/venv-bench && /tmp/venv-bench/bin/pip install 'moto[server]==5.2.5' 's3fs==2026.9.0' 'numpy==2.2.6', then pass --remote-python /tmp/venv-bench/bin/python (or set ONEDATA_MOTO_PYTHON)";

/// ROIs of the synthetic spks: 5000 ROIs, so that 400 MB is 20000 frames.
const ROIS: usize = 5000;
/// The scattered reads: this many frame ranges, each this many frames long,
/// starting at frames drawn uniformly over the whole file with this seed.
const RANGES: usize = 200;
const RANGE_FRAMES: usize = 10;
const SEED: u64 = 16;

/// Timed runs are split into at most this many blocks, the sides taking
/// turns at going first, as in the local bench.
const BLOCKS: usize = 3;

struct Plan {
    cold: usize,
    ranges: usize,
    warm: usize,
}

pub(crate) fn err(message: impl Into<String>) -> Error {
    Error::argument(format!("bench --remote: {}", message.into()))
}

/// One side's timings and traffic for a case.
#[derive(Default)]
struct Side {
    samples: Vec<f64>,
    traffic: Traffic,
    /// Bytes of data one run returned (the s3fs side's own count).
    returned: Option<u64>,
    missing: bool,
}

impl Side {
    fn median(&self) -> Option<f64> {
        (!self.missing && !self.samples.is_empty()).then(|| median(self.samples.clone()))
    }
}

/// A side of a case: given (runs, warmup), the samples in microseconds and
/// the bytes one run returned, or `None` when it cannot run.
type Runner<'a> = Box<dyn FnMut(usize, usize) -> Result<Option<(Vec<f64>, Option<u64>)>> + 'a>;

/// Runs each side `runs` times in alternating blocks, the first block of
/// each after `warmup` untimed runs, recording each side's requests.
fn rounds(
    server: &Server,
    key: &str,
    size: u64,
    runs: usize,
    warmup: usize,
    sides: &mut [Runner<'_>],
) -> Result<Vec<Side>> {
    let runs = runs.max(1);
    let blocks = BLOCKS.min(runs);
    let mut out: Vec<Side> = sides.iter().map(|_| Side::default()).collect();
    for b in 0..blocks {
        let n = runs / blocks + usize::from(b < runs % blocks);
        let w = if b == 0 { warmup } else { 0 };
        for k in 0..sides.len() {
            let i = (b + k) % sides.len();
            if out[i].missing {
                continue;
            }
            server.take_log()?;
            let got = (sides[i])(n, w)?;
            let log = server.take_log()?;
            match got {
                Some((samples, returned)) => {
                    out[i].samples.extend(samples);
                    out[i].returned = returned;
                    out[i].traffic.ops += n + w;
                    out[i].traffic.add(&log, key, size);
                }
                None => out[i].missing = true,
            }
        }
    }
    Ok(out)
}

/// The s3fs side's `case`.
fn their_side<'a>(theirs: &'a RefCell<Option<Theirs>>, case: &'static str) -> Runner<'a> {
    Box::new(move |n, w| {
        let mut t = theirs.borrow_mut();
        let Some(t) = t.as_mut() else {
            return Ok(None);
        };
        let Some(reply) = t.reply(case, n, w) else {
            return Ok(None);
        };
        let samples: Option<Vec<f64>> = reply["samples"]
            .as_array()
            .map(|s| s.iter().filter_map(Value::as_f64).collect());
        Ok(samples.map(|s| (s, reply["bytes"].as_u64())))
    })
}

/// A loadone of `session`'s spks with its own cache cleared before each run
/// (a remote session's download cache left as it is).
fn warm_side(session: &Session) -> Runner<'_> {
    Box::new(move |n, w| {
        let t = samples_us(
            n,
            w,
            || {
                session.clear_cache(None);
                Ok(())
            },
            || {
                let d = session.loadone("bench.spks")?;
                std::hint::black_box(d.view2::<f32>()?.dim());
                Ok(())
            },
        )?;
        Ok(Some((t, None)))
    })
}

/// Microseconds of each of `n` timed runs of `f`, each preceded by
/// `setup` (untimed), after `warmup` untimed runs.
fn samples_us(
    n: usize,
    warmup: usize,
    mut setup: impl FnMut() -> Result<()>,
    mut f: impl FnMut() -> Result<()>,
) -> Result<Vec<f64>> {
    let mut times = Vec::with_capacity(n);
    for k in 0..warmup + n {
        setup()?;
        let start = Instant::now();
        f()?;
        if k >= warmup {
            times.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    Ok(times)
}

/// The frame ranges: `RANGES` starts drawn uniformly from `0..=frames -
/// RANGE_FRAMES` by splitmix64 seeded with `SEED`, in the order drawn
/// (not sorted; they may overlap).
fn frame_ranges(frames: usize) -> Vec<Range<usize>> {
    let len = RANGE_FRAMES.min(frames);
    let span = (frames - len + 1) as u64;
    let mut state = SEED;
    (0..RANGES)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let start = (z % span) as usize;
            start..start + len
        })
        .collect()
}

fn value(t: usize, r: usize) -> f32 {
    ((t * 31 + r) % 1000) as f32 * 0.01
}

fn load_average() -> Value {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| {
            let v: Vec<f64> = s
                .split_whitespace()
                .take(3)
                .filter_map(|x| x.parse().ok())
                .collect();
            json!(v)
        })
        .unwrap_or(Value::Null)
}

fn python_from(flag: Option<&Path>, var: &str) -> Option<PathBuf> {
    flag.map(Path::to_path_buf).or_else(|| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// Runs the remote section and prints a table, or JSON with `as_json`.
pub fn bench_remote(
    as_json: bool,
    size_mb: usize,
    quick: bool,
    server_python: Option<&Path>,
    s3fs_python: Option<&Path>,
) -> Result<()> {
    let server_python = python_from(server_python, "ONEDATA_MOTO_PYTHON").ok_or_else(|| {
        err(format!(
            "--remote needs a python with moto[server] for the S3 server: --remote-python PATH or ONEDATA_MOTO_PYTHON; {SETUP}"
        ))
    })?;
    let s3fs_python =
        python_from(s3fs_python, "ONEDATA_S3FS_PYTHON").unwrap_or_else(|| server_python.clone());
    let plan = if quick {
        Plan {
            cold: 2,
            ranges: 1,
            warm: 200,
        }
    } else {
        Plan {
            cold: 5,
            ranges: 3,
            warm: 2000,
        }
    };
    let load_before = load_average();
    let tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let cache_root = tmp.path().join("cache");
    std::fs::create_dir_all(&cache_root).map_err(|e| Error::io(cache_root.clone(), e))?;
    let server = Server::start(&server_python)?;
    // The library's clients read the server and the cache folder from the
    // environment; this is set before any client or runtime exists.
    for (k, v) in [
        ("AWS_ENDPOINT_URL", server.endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("ONEDATA_REMOTE_RETRIES", "1"),
    ] {
        std::env::set_var(k, v);
    }
    std::env::set_var("ONEDATA_CACHE_DIR", &cache_root);
    let moto = Command::new(&server_python)
        .args(["-c", "import moto; print(moto.__version__)"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|v| !v.is_empty());

    // The session: written locally with saveone, then uploaded.
    let id = SessionId::new("BENCH", "2024-01-01", Some("1"))?;
    let local = Session::from_root(tmp.path().join("local"), id)?;
    let frames = (size_mb * 1_000_000 / 4 / ROIS).max(RANGE_FRAMES);
    {
        let spks = Array2::from_shape_fn((frames, ROIS), |(t, r)| value(t, r));
        local.saveone(&spks, "bench.spks")?;
    }
    let local_path = local.one_path().join("bench.spks.npy");
    let size = std::fs::metadata(&local_path)
        .map_err(|e| Error::io(local_path.clone(), e))?
        .len();
    let row_bytes = (ROIS * 4) as u64;
    let data_offset = size - frames as u64 * row_bytes;
    let session_url = format!("s3://{}/bench/BENCH/2024-01-01/1", server.bucket);
    let file_url = format!("{session_url}/oneData/bench.spks.npy");
    let key = format!(
        "/{}/bench/BENCH/2024-01-01/1/oneData/bench.spks.npy",
        server.bucket
    );
    let file = Remote::open(&file_url)?;
    let upload_start = Instant::now();
    file.upload(&local_path, None)?;
    let upload_s = upload_start.elapsed().as_secs_f64();
    let mut upload = Traffic {
        ops: 1,
        ..Traffic::default()
    };
    upload.add(&server.take_log()?, &key, size);
    let remote = Session::open_url(&session_url)?;
    let clear_download = || -> Result<()> {
        std::fs::remove_dir_all(&cache_root).map_err(|e| Error::io(cache_root.clone(), e))?;
        std::fs::create_dir_all(&cache_root).map_err(|e| Error::io(cache_root.clone(), e))
    };
    clear_download()?;
    server.take_log()?;

    let ranges = frame_ranges(frames);
    let byte_ranges: Vec<[u64; 2]> = ranges
        .iter()
        .map(|r| {
            [
                data_offset + r.start as u64 * row_bytes,
                data_offset + r.end as u64 * row_bytes,
            ]
        })
        .collect();
    let range_bytes: u64 = byte_ranges.iter().map(|r| r[1] - r[0]).sum();
    let args = [
        server.endpoint.clone(),
        server.bucket.clone(),
        key.trim_start_matches(&format!("/{}/", server.bucket))
            .to_string(),
        ROIS.to_string(),
        serde_json::to_string(&byte_ranges).unwrap_or_default(),
    ];
    let install = format!(
        "{} -m pip install 's3fs==2026.9.0' 'numpy==2.2.6'",
        s3fs_python.display()
    );
    let (theirs, mut missing) =
        match Theirs::start_script(&s3fs_python.to_string_lossy(), S3FS_SIDE, &args, &install) {
            Ok(t) => (Some(t), None),
            Err(m) => (None, Some(m)),
        };
    let versions = theirs.as_ref().map_or(Value::Null, |t| t.versions.clone());
    if missing.is_none() && versions["s3fs"].is_null() {
        missing = Some(format!(
            "s3fs is missing for {}: the s3fs side is left out; install with: {install}",
            s3fs_python.display()
        ));
    }
    let theirs = RefCell::new(theirs);
    let their = |case: &'static str| their_side(&theirs, case);

    // (a) A cold loadone: the download cache emptied and the session's
    // cache cleared before each run.
    let remote = &remote;
    let cold: Runner<'_> = Box::new(|n, w| {
        let s = samples_us(
            n,
            w,
            || {
                remote.clear_cache(None);
                clear_download()
            },
            || {
                let d = remote.loadone("bench.spks")?;
                std::hint::black_box(d.view2::<f32>()?.dim());
                Ok(())
            },
        )?;
        Ok(Some((s, Some(size - data_offset))))
    });
    let cold = rounds(
        &server,
        &key,
        size,
        plan.cold,
        1,
        &mut [cold, their("s3fs_load")],
    )?;

    // (b) The frame ranges, with nothing in the download cache.
    let check = |arrays: &[onedata::npy::NpyArray]| -> Result<u64> {
        if arrays.len() != ranges.len() {
            return Err(err(format!(
                "read_row_ranges gave {} arrays for {} ranges",
                arrays.len(),
                ranges.len()
            )));
        }
        let mut bytes = 0;
        for (a, r) in arrays.iter().zip(&ranges) {
            let v = a.view2::<f32>()?;
            let last = r.len() - 1;
            if v.dim() != (r.len(), ROIS)
                || v[[0, 0]] != value(r.start, 0)
                || v[[last, ROIS - 1]] != value(r.start + last, ROIS - 1)
            {
                return Err(err(format!("read_row_ranges gave wrong rows for {r:?}")));
            }
            bytes += a.data_bytes().len() as u64;
        }
        Ok(bytes)
    };
    let rows: Runner<'_> = Box::new(|n, w| {
        let got = RefCell::new(0);
        let s = samples_us(n, w, clear_download, || {
            let arrays = file.read_row_ranges(&ranges)?;
            *got.borrow_mut() = check(&arrays)?;
            Ok(())
        })?;
        Ok(Some((s, Some(got.into_inner()))))
    });
    let scattered = rounds(
        &server,
        &key,
        size,
        plan.ranges,
        0,
        &mut [rows, their("s3fs_cat_ranges"), their("s3fs_get_per_range")],
    )?;
    // One of the ranges alone: what one ranged GET of this object costs on
    // this server.
    let one: Runner<'_> = Box::new(|n, w| {
        let s = samples_us(n, w, clear_download, || {
            std::hint::black_box(file.read_row_ranges(&ranges[..1])?);
            Ok(())
        })?;
        Ok(Some((s, None)))
    });
    let one = rounds(&server, &key, size, plan.cold, 1, &mut [one])?;

    // (c) A warm loadone (the file in the download cache, the session's own
    // cache cleared) against the cold open of a local session's copy, as
    // the local bench's cold_load_large.
    remote.clear_cache(None);
    remote.loadone("bench.spks")?;
    let warm = rounds(
        &server,
        &key,
        size,
        plan.warm,
        3,
        &mut [warm_side(remote), warm_side(&local)],
    )?;
    if let Some(t) = theirs.into_inner() {
        t.stop();
    }
    let load_after = load_average();

    let expect = |side: &Side, want: u64, what: &str| -> Result<()> {
        match side.returned {
            Some(got) if got != want && !side.missing => Err(err(format!(
                "{what} returned {got} bytes of data, not {want}"
            ))),
            _ => Ok(()),
        }
    };
    expect(&cold[1], size - data_offset, "s3fs_load")?;
    expect(&scattered[0], range_bytes, "read_row_ranges")?;
    expect(&scattered[1], range_bytes, "s3fs_cat_ranges")?;
    expect(&scattered[2], range_bytes, "s3fs_get_per_range")?;

    let case = |name: &str, ours: &Side, theirs: &Side, with: &str, goal: f64| {
        let (o, t) = (ours.median(), theirs.median());
        let ratio = o.zip(t).map(|(o, t)| t / o);
        json!({
            "name": name,
            "compared_with": with,
            "onedata_us": o.map(round),
            "theirs_us": t.map(round),
            "ratio": ratio.map(round),
            "goal_ratio": goal,
            "met": ratio.map(|r| r >= goal),
            "onedata_per_op": ours.traffic.per_op(),
            "theirs_per_op": (!theirs.missing).then(|| theirs.traffic.per_op()),
            "runs": ours.samples.len(),
        })
    };
    let (warm_us, local_us) = (warm[0].median(), warm[1].median());
    let warm_ratio = warm_us.zip(local_us).map(|(w, l)| w / l);
    let cases = vec![
        case(
            "remote_cold_load",
            &cold[0],
            &cold[1],
            "s3fs cat_file + np.load(io.BytesIO(...))",
            2.0,
        ),
        case(
            "remote_row_ranges",
            &scattered[0],
            &scattered[1],
            "s3fs cat_ranges of the same byte ranges",
            1.5,
        ),
        case(
            "remote_row_ranges_vs_get_per_range",
            &scattered[0],
            &scattered[2],
            "s3fs cat_file per range, one after another",
            10.0,
        ),
        json!({
            "name": "remote_warm_load",
            "compared_with": "a local session's cold loadone of the same file (as cold_load_large)",
            "onedata_us": warm_us.map(round),
            "theirs_us": local_us.map(round),
            "ratio_vs_local": warm_ratio.map(round),
            "goal_ratio_at_most": 2.0,
            "met": warm_ratio.map(|r| r <= 2.0),
            "onedata_per_op": warm[0].traffic.per_op(),
            "runs": warm[0].samples.len(),
        }),
        json!({
            "name": "server_one_range",
            "compared_with": "one of the frame ranges alone: the cost of one ranged GET of this object on this server",
            "onedata_us": one[0].median().map(round),
            "onedata_per_op": one[0].traffic.per_op(),
            "runs": one[0].samples.len(),
        }),
    ];
    let report = json!({
        "section": "remote",
        "server": {
            "what": if server.server_log.is_some() {
                format!("{} on loopback, talked to straight; requests counted from its own log", server.kind)
            } else {
                format!("{} behind the counting proxy of tests/remote/s3_fixture.py, on loopback", server.kind)
            },
            "kind": server.kind,
            "moto": moto,
            "python": server_python.display().to_string(),
        },
        "size_bytes": size,
        "shape": [frames, ROIS],
        "dtype": "<f4",
        "ranges": {
            "count": RANGES,
            "frames_each": RANGE_FRAMES.min(frames),
            "seed": SEED,
            "pattern": "starts drawn uniformly over the whole file (splitmix64), in the order drawn; the s3fs side is given the byte offsets (header length known)",
            "bytes": range_bytes,
        },
        "upload": {"seconds": round(upload_s), "traffic": upload.per_op()},
        "versions": versions,
        "s3fs_python": s3fs_python.display().to_string(),
        "missing": missing,
        "load_average": {"before": load_before, "after": load_after},
        "timed_runs": {"cold": plan.cold, "ranges": plan.ranges, "warm": plan.warm},
        "cases": cases,
    });
    if as_json {
        out!("{report}");
    } else {
        print_table(&report);
    }
    Ok(())
}

fn print_table(report: &Value) {
    let shape = &report["shape"];
    out!(
        "onedata bench --remote: {} bytes float32 spks ({} x {}) in {} on loopback; medians",
        report["size_bytes"],
        shape[0],
        shape[1],
        match report["server"]["kind"].as_str() {
            Some("s3s-fs") => "s3s-fs 0.14".to_string(),
            _ => format!("moto {}", report["server"]["moto"].as_str().unwrap_or("?")),
        }
    );
    let r = &report["ranges"];
    out!(
        "ranges: {} of {} frames each, starts uniform over the file (seed {}), {} bytes in all",
        r["count"],
        r["frames_each"],
        r["seed"],
        r["bytes"]
    );
    out!(
        "{:<36} {:>12} {:>12} {:>8} {:>6} {:>22} {:>22}",
        "case",
        "onedata(us)",
        "theirs(us)",
        "ratio",
        "goal",
        "ours: requests/bytes",
        "theirs: requests/bytes"
    );
    let num = |v: &Value| v.as_f64().map_or("-".to_string(), |x| format!("{x}"));
    let traffic = |v: &Value| {
        if v.is_null() {
            "-".to_string()
        } else {
            format!("{}/{}", num(&v["requests"]), num(&v["bytes"]))
        }
    };
    for c in report["cases"].as_array().into_iter().flatten() {
        let (ratio, goal) = if c["ratio_vs_local"].is_null() {
            (num(&c["ratio"]), format!(">={}", num(&c["goal_ratio"])))
        } else {
            (
                num(&c["ratio_vs_local"]),
                format!("<={}", num(&c["goal_ratio_at_most"])),
            )
        };
        let goal = if c["goal_ratio"].is_null() && c["goal_ratio_at_most"].is_null() {
            "-".to_string()
        } else {
            goal
        };
        out!(
            "{:<36} {:>12} {:>12} {:>8} {:>6} {:>22} {:>22}",
            c["name"].as_str().unwrap_or(""),
            num(&c["onedata_us"]),
            num(&c["theirs_us"]),
            ratio,
            goal,
            traffic(&c["onedata_per_op"]),
            traffic(&c["theirs_per_op"])
        );
    }
    out!(
        "ratio: theirs/ours (remote_warm_load: ours/local cold open); requests and bytes per operation, from {}",
        if report["server"]["kind"] == "s3s-fs" {
            "s3s-fs's own log (no proxy between)"
        } else {
            "the proxy's log"
        }
    );
    if let Some(m) = report["missing"].as_str() {
        out!("note: {m}");
    }
}
