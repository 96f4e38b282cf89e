//! Saves survive the saver being killed, and durable saves sync what they
//! write in the right order.
//!
//! - `sigkill_mid_save_leaves_old_or_new`: a child process saves versions
//!   k = 0, 1, 2, ... of a dense array, a sparse matrix, a recipe and the
//!   values file in a loop, and is SIGKILLed at a random point, 200 times
//!   (each child continues from the versions it finds). After every kill,
//!   every file loads and holds exactly one version, never a mix, an empty
//!   file or a missing one, and no version goes back.
//! - `durable_save_is_traced` and `scratch_save_is_not_synced`: `strace`
//!   of one `saveone`: the temporary file is `fsync`ed before it is renamed
//!   over the target and the folder after; in scratch mode nothing is.
//!
//! The children are this test binary run again on an ignored test,
//! selected by an environment variable that the parent sets.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use ndarray::Array1;
use onedata::recipe::{read_recipe, LoadingRecipe, PyValue};
use onedata::session::{ONE_DIR, VALUES_FILE};
use onedata::sparse::read_npz;
use onedata::{Durability, LoadOptions, Session, SessionData, SessionId};

/// Where the looping child saves (set by the parent).
const CRASH_ENV: &str = "ONEDATA_CRASH_CHILD_DIR";
/// Where the traced child saves once, and how (`durable` or `scratch`).
const TRACE_ENV: &str = "ONEDATA_TRACE_CHILD_DIR";
const TRACE_MODE_ENV: &str = "ONEDATA_TRACE_CHILD_MODE";
/// What the looping child prints once every file has been saved once.
const READY: &str = "onedata-crash-child: saved every file";

const DENSE: &str = "mpci.crashDense";
const SPARSE: &str = "mpci.crashSparse";
const RECIPE: &str = "mpci.crashRecipe";
const KILLS: usize = 200;

fn id() -> SessionId {
    SessionId::new("ATL027", "2024-06-12", Some("701")).unwrap()
}

/// Runs this test binary again on the ignored test `name`, with `env` set.
fn child(name: &str, env: &[(&str, &Path)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        name,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

// ---------------------------------------------------------------------------
// Versions: every file's contents follow from its version k
// ---------------------------------------------------------------------------

/// Version k of the dense array: its length changes with k (4 KB to 2 MB),
/// every element says k and its index.
fn dense(k: i64) -> Array1<f64> {
    let len = 512 + (k as usize * 7919) % (256 << 10);
    Array1::from_shape_fn(len, |i| (k * 1_000_000) as f64 + i as f64)
}

/// Version k of the sparse matrix: a diagonal whose length changes with k.
fn sparse(k: i64) -> sprs::CsMatI<f64, i32> {
    let n = 10 + (k as usize * 31) % 500;
    let indptr: Vec<i32> = (0..=n as i32).collect();
    let indices: Vec<i32> = (0..n as i32).collect();
    let data: Vec<f64> = (0..n).map(|i| k as f64 + i as f64 / 1024.0).collect();
    sprs::CsMatI::new_csc((n, n), indptr, indices, data)
}

/// Version k of the recipe.
fn recipe(k: i64) -> LoadingRecipe {
    LoadingRecipe::new("S2P", Some("F"), ["transpose"])
        .with_kwarg("version", PyValue::Int(k.into()))
        .with_kwarg("pad", PyValue::Str("x".repeat((k as usize * 13) % 3000)))
}

/// The version of every file, in the order the child saves them (dense,
/// sparse, recipe, values), checking that each file is exactly that
/// version. `None` for a file missing; an error for anything else.
fn versions_on_disk(data_path: &Path) -> Result<Vec<Option<i64>>, String> {
    let session = Session::at(data_path, id()).map_err(|e| format!("session: {e}"))?;
    let missing = |e: &onedata::Error| {
        e.is_file_not_found() || matches!(e.kind(), onedata::ErrorKind::NotFound { .. })
    };
    let mut out = Vec::new();

    out.push(match session.loadone_with(DENSE, LoadOptions::force()) {
        Ok(a) => {
            let view = a.view1::<f64>().map_err(|e| format!("dense: {e}"))?;
            let first = *view.first().ok_or("dense: empty array")?;
            let k = (first / 1_000_000.0) as i64;
            if view != dense(k) {
                return Err(format!("dense: not version {k} ({} elements)", view.len()));
            }
            Some(k)
        }
        Err(e) if missing(&e) => None,
        Err(e) => return Err(format!("dense: {e}")),
    });

    let sparse_path = session.one_path().join(format!("{SPARSE}.npz"));
    out.push(match read_npz(&sparse_path) {
        Ok(m) => {
            let dense_m = m.to_dense().map_err(|e| format!("sparse: {e}"))?;
            let view = dense_m.view2::<f64>().map_err(|e| format!("sparse: {e}"))?;
            let k = view[[0, 0]] as i64;
            let want = sparse(k);
            let n = want.rows();
            let diagonal_only = view.indexed_iter().all(|((r, c), &v)| {
                let expected = if r == c { want.data()[r] } else { 0.0 };
                v.to_bits() == expected.to_bits()
            });
            if view.dim() != (n, n) || m.nnz() != n || !diagonal_only {
                return Err(format!("sparse: not version {k}"));
            }
            Some(k)
        }
        Err(e) if missing(&e) => None,
        Err(e) => return Err(format!("sparse: {e}")),
    });

    let recipe_path = session.one_path().join(format!("{RECIPE}.npy"));
    out.push(match read_recipe(&recipe_path) {
        Ok(r) => {
            let k = match r.kwarg("version") {
                Some(&PyValue::Int(k)) => k as i64,
                other => return Err(format!("recipe: version is {other:?}")),
            };
            if r != recipe(k) {
                return Err(format!("recipe: not version {k}"));
            }
            Some(k)
        }
        Err(e) if missing(&e) => None,
        Err(e) => return Err(format!("recipe: {e}")),
    });

    // The values file, once it holds a version.
    out.push(if session.values().contains_key("version") {
        match session.get_value::<i64>("version") {
            Ok(k) => Some(k),
            Err(e) => return Err(format!("values: {e}")),
        }
    } else {
        None
    });
    Ok(out)
}

/// The child: saves every file's next version, in order, until killed
/// (or 60 s have passed, should the parent be gone).
#[test]
#[ignore = "run by sigkill_mid_save_leaves_old_or_new in a child process"]
fn child_saves_in_a_loop() {
    let Some(dir) = std::env::var_os(CRASH_ENV) else {
        return;
    };
    let data_path = PathBuf::from(dir);
    // The values file must exist for `set_value` to write it.
    if !data_path.join(VALUES_FILE).exists() {
        Session::at(&data_path, id())
            .unwrap()
            .save_values()
            .unwrap();
    }
    let session = Session::at(&data_path, id()).unwrap();
    // The values file is saved last: its version is the oldest on disk.
    let start = match versions_on_disk(&data_path).unwrap()[3] {
        Some(k) => k + 1,
        None => 0,
    };
    let began = Instant::now();
    for k in start.. {
        session.saveone(&dense(k), DENSE).unwrap();
        session.saveone(&sparse(k), SPARSE).unwrap();
        session.saveone(&recipe(k), RECIPE).unwrap();
        session.set_value("version", &k).unwrap();
        if k == start {
            println!("{READY}");
        }
        if began.elapsed() > Duration::from_secs(60) {
            return;
        }
    }
}

/// A small xorshift generator: the kill delays are random but repeatable.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[cfg(unix)]
#[test]
fn sigkill_mid_save_leaves_old_or_new() {
    use std::os::unix::process::ExitStatusExt;

    let root = tempfile::tempdir().unwrap();
    let data_path = root.path().join("ATL027/2024-06-12/701");
    std::fs::create_dir_all(&data_path).unwrap();
    let one_path = data_path.join(ONE_DIR);
    let mut rng = Rng(crate::seed() | 1);
    let mut last: Option<Vec<i64>> = None;
    let mut leftovers = 0;
    for kill in 0..KILLS {
        let mut proc = child(
            "crash::child_saves_in_a_loop",
            &[(CRASH_ENV, data_path.as_path())],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
        // Wait for the child's first round: from then on every file exists.
        let stdout = proc.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines.any(|l| l.is_ok_and(|l| l.contains(READY)));
        assert!(
            ready,
            "kill {kill}: the child ended before saving every file"
        );
        std::thread::sleep(Duration::from_micros(rng.below(30_000)));
        proc.kill().unwrap();
        let status = proc.wait().unwrap();
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "kill {kill}: {status}"
        );

        let found = versions_on_disk(&data_path)
            .unwrap_or_else(|e| panic!("kill {kill}: a file is torn or unreadable: {e}"));
        let found: Vec<i64> = found
            .iter()
            .zip(["dense", "sparse", "recipe", "values"])
            .map(|(v, what)| v.unwrap_or_else(|| panic!("kill {kill}: the {what} file is missing")))
            .collect();
        // Saved in order, one at a time: each file is at the version of the
        // one saved before it, or one behind.
        for w in found.windows(2) {
            assert!(
                w[0] == w[1] || w[0] == w[1] + 1,
                "kill {kill}: versions {found:?} are not one round"
            );
        }
        if let Some(last) = &last {
            for (now, before) in found.iter().zip(last) {
                assert!(
                    now >= before,
                    "kill {kill}: {found:?} went back from {last:?}"
                );
            }
        }
        last = Some(found);

        // A killed save leaves its temporary file; it is never listed
        // (nor loadable by a name).
        let session = Session::at(&data_path, id()).unwrap();
        let listed = session.print_saved_one(false, true).unwrap();
        let mut want = [
            format!("{DENSE}.npy"),
            format!("{RECIPE}.npy"),
            format!("{SPARSE}.npz"),
        ];
        want.sort();
        assert_eq!(listed, want, "kill {kill}");
        for dir in [&one_path, &data_path] {
            for entry in std::fs::read_dir(dir).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                if name.starts_with(".onedata-") && name.ends_with(".tmp") {
                    std::fs::remove_file(dir.join(&name)).unwrap();
                    leftovers += 1;
                }
            }
        }
    }
    let last = last.unwrap();
    assert!(
        last[0] >= KILLS as i64 / 2,
        "the children made little progress: {last:?} after {KILLS} kills"
    );
    eprintln!("{KILLS} kills, last versions {last:?}, {leftovers} temporary files left behind");
}

// ---------------------------------------------------------------------------
// strace of one saveone
// ---------------------------------------------------------------------------

/// The traced child: one `saveone`, durable or scratch as the parent says.
#[test]
#[ignore = "run by durable_save_is_traced under strace"]
fn child_saves_once() {
    let Some(dir) = std::env::var_os(TRACE_ENV) else {
        return;
    };
    let mode = std::env::var(TRACE_MODE_ENV).unwrap_or_default();
    let durability = match mode.as_str() {
        "scratch" => Durability::Scratch,
        _ => Durability::Durable,
    };
    let session = Session::at(PathBuf::from(dir), id())
        .unwrap()
        .with_durability(durability);
    std::fs::create_dir_all(session.one_path()).unwrap();
    // 64 MiB and more go through direct I/O, on a second descriptor.
    let len = if mode == "large" {
        (64 << 20) / 4 + 1000
    } else {
        1000
    };
    session
        .saveone(&Array1::<f32>::linspace(0.0, 1.0, len), "mpci.traced")
        .unwrap();
}

/// One system call of a trace: its name, its arguments and its result.
#[derive(Debug)]
struct Call {
    name: String,
    args: String,
    result: String,
}

/// The calls of an `strace -f` log in order, an interrupted call
/// (`<unfinished ...>`) joined to its resumption.
fn parse_trace(log: &str) -> Vec<Call> {
    let mut pending: HashMap<String, String> = HashMap::new();
    let mut calls = Vec::new();
    for line in log.lines() {
        let (pid, rest) = line.split_once(' ').unwrap_or(("", line));
        let rest = rest.trim_start();
        let text = if let Some(head) = rest.strip_suffix("<unfinished ...>") {
            pending.insert(pid.to_string(), head.to_string());
            continue;
        } else if let Some(tail) = rest.strip_prefix("<... ") {
            let Some((_, tail)) = tail.split_once("resumed>") else {
                continue;
            };
            match pending.remove(pid) {
                Some(head) => format!("{head}{tail}"),
                None => continue,
            }
        } else {
            rest.to_string()
        };
        let Some((name, after)) = text.split_once('(') else {
            continue;
        };
        // strace pads the result to a column: `fsync(3)      = 0`.
        let Some((args, result)) = after.rsplit_once(" = ") else {
            continue;
        };
        let Some(args) = args.trim_end().strip_suffix(')') else {
            continue;
        };
        calls.push(Call {
            name: name.to_string(),
            args: args.to_string(),
            result: result.split_whitespace().next().unwrap_or("").to_string(),
        });
    }
    calls
}

/// The quoted strings among a call's arguments.
fn quoted(args: &str) -> Vec<String> {
    args.split('"')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_string())
        .collect()
}

/// A trace of the child saving once into a fresh session, and the
/// session's `oneData` folder.
fn trace_one_save(mode: &str) -> (Vec<Call>, PathBuf) {
    let found = Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "strace is needed to trace a save and is not installed: apt-get install strace"
    );
    let root = tempfile::tempdir().unwrap();
    let data_path = root.path().join("ATL027/2024-06-12/701");
    std::fs::create_dir_all(&data_path).unwrap();
    let log = root.path().join("trace.log");
    let mut cmd = Command::new("strace");
    cmd.args([
        "-f",
        "-qq",
        "-e",
        "trace=openat,open,close,fsync,fdatasync,rename,renameat,renameat2",
        "-o",
    ])
    .arg(&log)
    .arg(std::env::current_exe().unwrap())
    .args([
        "crash::child_saves_once",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(TRACE_ENV, &data_path)
    .env(TRACE_MODE_ENV, mode);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "the traced child failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let one_path = data_path.join(ONE_DIR);
    (parse_trace(&text), one_path)
}

/// The index of the rename of a `.onedata-*.tmp` file over `target`, and
/// the temporary path.
fn rename_over(calls: &[Call], target: &Path) -> (usize, String) {
    let target = target.to_str().unwrap();
    calls
        .iter()
        .enumerate()
        .find_map(|(i, c)| {
            let paths = quoted(&c.args);
            let is_tmp = paths.first().is_some_and(|p| {
                let name = p.rsplit('/').next().unwrap_or("");
                name.starts_with(".onedata-") && name.ends_with(".tmp")
            });
            (c.name.starts_with("rename")
                && c.result == "0"
                && is_tmp
                && paths.get(1).map(String::as_str) == Some(target))
            .then(|| (i, paths[0].clone()))
        })
        .unwrap_or_else(|| panic!("no rename of a temporary file over {target} in {calls:#?}"))
}

/// The path each file descriptor is open on just before call `at` (from
/// `open`/`openat` and `close`).
fn open_fds(calls: &[Call], at: usize) -> HashMap<String, String> {
    let mut fds = HashMap::new();
    for c in &calls[..at] {
        match c.name.as_str() {
            "open" | "openat" if !c.result.starts_with('-') => {
                if let Some(p) = quoted(&c.args).first() {
                    fds.insert(c.result.clone(), p.clone());
                }
            }
            "close" => {
                fds.remove(c.args.trim());
            }
            _ => {}
        }
    }
    fds
}

fn is_sync(c: &Call) -> bool {
    (c.name == "fsync" || c.name == "fdatasync") && c.result == "0"
}

#[cfg(target_os = "linux")]
#[test]
fn durable_save_is_traced() {
    assert_synced_in_order("durable");
}

/// The same for an array of 64 MiB, written with direct I/O.
#[cfg(target_os = "linux")]
#[test]
fn durable_large_save_is_traced() {
    assert_synced_in_order("large");
}

/// The trace of one save in `mode` syncs the temporary file before its
/// rename over the target and the folder after it.
fn assert_synced_in_order(mode: &str) {
    let (calls, one_path) = trace_one_save(mode);
    let target = one_path.join("mpci.traced.npy");
    let (rename, tmp) = rename_over(&calls, &target);
    // The temporary file is synced before the rename.
    let synced_tmp = (0..rename)
        .any(|i| is_sync(&calls[i]) && open_fds(&calls, i).get(calls[i].args.trim()) == Some(&tmp));
    assert!(
        synced_tmp,
        "no fsync of {tmp} before its rename over {}: {calls:#?}",
        target.display()
    );
    // The folder is opened and synced after it.
    let folder = one_path.to_str().unwrap().to_string();
    let synced_folder = (rename + 1..calls.len()).any(|i| {
        is_sync(&calls[i]) && open_fds(&calls, i).get(calls[i].args.trim()) == Some(&folder)
    });
    assert!(
        synced_folder,
        "no fsync of the folder {folder} after the rename: {calls:#?}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn scratch_save_is_not_synced() {
    let (calls, one_path) = trace_one_save("scratch");
    rename_over(&calls, &one_path.join("mpci.traced.npy"));
    let syncs: Vec<&Call> = calls.iter().filter(|c| is_sync(c)).collect();
    assert!(syncs.is_empty(), "a scratch save synced: {syncs:#?}");
}

/// A session's first save deletes the temporary files killed saves left
/// (over a minute old, locked by no save), in `oneData` and in the session
/// folder; a recent one, which may belong to a save still running
/// elsewhere, stays.
#[test]
fn the_first_save_sweeps_what_killed_saves_left() {
    let root = tempfile::tempdir().unwrap();
    let s = Session::from_root(root.path(), id()).unwrap();
    let one = s.one_path().to_path_buf();
    std::fs::create_dir_all(&one).unwrap();
    let old = SystemTime::now() - Duration::from_secs(600);
    let stale: Vec<PathBuf> = [
        one.join(".onedata-a1b2c3.tmp"),
        s.data_path().join(".onedata-d4e5f6.tmp"),
    ]
    .into_iter()
    .inspect(|p| {
        let f = std::fs::File::create(p).unwrap();
        f.set_modified(old).unwrap();
    })
    .collect();
    let recent = one.join(".onedata-recent.tmp");
    std::fs::write(&recent, b"a save elsewhere").unwrap();
    s.saveone(&dense(3), DENSE).unwrap();
    for p in &stale {
        assert!(!p.exists(), "{} was left", p.display());
    }
    assert!(recent.exists());
    assert_eq!(s.loadone(DENSE).unwrap().view1::<f64>().unwrap(), dense(3));
}
