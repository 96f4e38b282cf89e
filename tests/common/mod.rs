//! Helpers shared by the integration tests that compare onedata with numpy.
//!
//! Every test binary includes this module and uses a different part of it,
//! hence the `dead_code` allowances.

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// What to install when the Python side is missing.
#[allow(dead_code)]
pub const PYTHON_REQUIREMENT: &str =
    "numpy and scipy are required for the interop tests: pip install numpy==2.2.6 scipy==1.15.3";

/// The Python interpreter the interop tests run: `$ONEDATA_PYTHON`, or `python3`.
#[allow(dead_code)]
pub fn python() -> String {
    match std::env::var("ONEDATA_PYTHON") {
        Ok(p) if !p.trim().is_empty() => p,
        _ => "python3".to_string(),
    }
}

/// `tests/py/<name>`: a helper script of the interop tests.
#[allow(dead_code)]
pub fn py_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("py")
        .join(name)
}

/// Runs `python -c <code>` and panics with the requirement message if the
/// interpreter is missing or the code fails. Returns the trimmed stdout.
fn probe(code: &str, what: &str) -> String {
    let py = python();
    let out = match Command::new(&py).arg("-c").arg(code).output() {
        Ok(out) => out,
        Err(e) => panic!("{PYTHON_REQUIREMENT}\n(cannot run the Python interpreter {py:?}: {e}; set ONEDATA_PYTHON to choose another)"),
    };
    if !out.status.success() {
        panic!(
            "{PYTHON_REQUIREMENT}\n({py:?} cannot import {what}: {})",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Fails the test (never skips it) unless the interpreter runs and imports
/// numpy. Checked once per test binary.
#[allow(dead_code)]
pub fn require_numpy() {
    numpy_version();
}

/// The installed numpy's version; fails the test like [`require_numpy`].
#[allow(dead_code)]
pub fn numpy_version() -> String {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION
        .get_or_init(|| probe("import numpy; print(numpy.__version__)", "numpy"))
        .clone()
}

/// Like [`require_numpy`], for tests that also need scipy.
#[allow(dead_code)]
pub fn require_scipy() {
    static VERSION: OnceLock<String> = OnceLock::new();
    require_numpy();
    VERSION.get_or_init(|| probe("import scipy; print(scipy.__version__)", "scipy"));
}

/// Runs the Python script at `script` with `args` and returns its stdout.
/// Fails the test, showing stderr, if it cannot start or exits non-zero.
#[allow(dead_code)]
pub fn run_python<S: AsRef<std::ffi::OsStr>>(script: impl AsRef<Path>, args: &[S]) -> String {
    require_numpy();
    let script = script.as_ref();
    let py = python();
    let out: Output = Command::new(&py)
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {py:?} {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        panic!(
            "{py} {} failed ({}):\n--- stderr ---\n{}\n--- stdout ---\n{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            stdout
        );
    }
    stdout
}

/// The folder of this run of the test binary: made on first use under
/// Cargo's temporary folder for tests, and removed with all it holds when the
/// binary exits (a run that is killed leaves it under `target/tmp`).
fn run_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    extern "C" {
        fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
    }
    extern "C" fn remove_root() {
        if let Some(root) = ROOT.get() {
            let _ = fs::remove_dir_all(root);
        }
    }
    ROOT.get_or_init(|| {
        let root = tempfile::Builder::new()
            .prefix("onedata-run-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("a temporary folder for the run")
            .keep();
        // SAFETY: `atexit` is the C library's; `remove_root` takes nothing
        // and cannot unwind (it ignores the removal's errors).
        let registered = unsafe { atexit(remove_root) };
        assert_eq!(registered, 0, "atexit refused to register the cleanup");
        root
    })
}

/// An empty folder named `name`, shared by every test of this binary that
/// asks for it and removed when the binary exits: for fixtures made once per
/// run. Call it from the `OnceLock` that makes them; a second call (after a
/// failed attempt) empties it again.
#[allow(dead_code)]
pub fn run_dir(name: &str) -> PathBuf {
    let dir = run_root().join(name);
    match fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("cannot empty {}: {e}", dir.display()),
    }
    fs::create_dir(&dir).unwrap_or_else(|e| panic!("cannot make {}: {e}", dir.display()));
    dir
}

/// A file that a test rewrites once per case, thousands of times, in place:
/// truncating a file to nothing and writing it anew (as `fs::write` does)
/// makes ext4 flush it to disk at every close.
#[allow(dead_code)]
pub struct Rewritten(fs::File);

#[allow(dead_code)]
impl Rewritten {
    /// Opens (or creates) the file at `path`.
    pub fn open(path: &Path) -> Rewritten {
        let file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
        Rewritten(file)
    }

    /// Makes the file hold exactly `bytes`.
    pub fn holds(&mut self, bytes: &[u8]) {
        self.0.seek(SeekFrom::Start(0)).expect("seek");
        self.0.write_all(bytes).expect("write");
        self.0.set_len(bytes.len() as u64).expect("set the length");
    }
}
