//! onedata's `.npy` header parser against numpy's.
//!
//! Every case below is written as a file with enough data after the header
//! and judged by numpy (`tests/py/load_headers.py`, one Python run for the
//! whole table, which documents what "numpy accepts" means: `np.load` with
//! `mmap_mode='r'`). [`Header::parse`] must give the same verdict and, when
//! both accept, the same dtype (`dtype.str`), shape and memory order. Two
//! seeded generators add random header layouts and random Python literals,
//! judged the same way (`ONEDATA_HEADER_SEED` and `ONEDATA_HEADER_CASES`
//! explore further, `ONEDATA_KEEP_CASES=1` keeps the files). Proptests check
//! that parsing never panics and that written headers read back, and
//! `numpy.save` output is compared byte for byte with [`Header::to_bytes`].
//!
//! numpy is required: without it these tests fail, they never skip.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use onedata::npy::{Dtype, Header, MAGIC};
use onedata::HeaderError;

mod random;
mod table;
mod written;

// ---------------------------------------------------------------------------
// Python and numpy.

const NUMPY_REQUIRED: &str =
    "numpy is required for the interop tests: pip install numpy==2.2.6 scipy==1.15.3";

/// `$ONEDATA_PYTHON`, or `python3`.
fn python_exe() -> String {
    match std::env::var("ONEDATA_PYTHON") {
        Ok(p) if !p.trim().is_empty() => p,
        _ => "python3".into(),
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/load_headers.py")
}

/// Runs `load_headers.py` with `args` and `stdin`; panics (never skips) when
/// Python or numpy is missing.
fn run_script(args: &[&std::ffi::OsStr], stdin: &str) -> String {
    let (out, status) = try_script(args, stdin);
    if !status.success() {
        panic!(
            "{NUMPY_REQUIRED}\n({:?} {} failed ({status}): {})",
            python_exe(),
            script().display(),
            out.1.trim()
        );
    }
    out.0
}

/// Runs `load_headers.py`; returns stdout, stderr and the exit status.
/// Panics only when Python cannot start or numpy is missing.
fn try_script(
    args: &[&std::ffi::OsStr],
    stdin: &str,
) -> ((String, String), std::process::ExitStatus) {
    let py = python_exe();
    let mut child = Command::new(&py)
        .arg(script())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{NUMPY_REQUIRED}\n(cannot run {py:?}: {e}; set ONEDATA_PYTHON to choose another)"
            )
        });
    {
        use std::io::Write;
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).expect("write to python");
    }
    let out = child.wait_with_output().expect("wait for python");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if out.status.code() == Some(3) {
        // load_headers.py could not import numpy.
        panic!("{NUMPY_REQUIRED}\n({py:?}: {})", stderr.trim());
    }
    let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
    ((stdout, stderr), out.status)
}

/// numpy's verdict on one file.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    Accepted {
        descr: String,
        structured: bool,
        shape: Vec<u64>,
        fortran: bool,
    },
    Refused(String),
}

/// Writes every case to a folder and has numpy judge them all in one run
/// (`ONEDATA_KEEP_CASES=1` keeps the folder). A file that crashes numpy
/// counts as refused, and the run resumes after it.
fn numpy_verdicts(cases: &[Case]) -> Vec<Verdict> {
    let dir = tempfile::tempdir().expect("temp dir");
    for (i, case) in cases.iter().enumerate() {
        std::fs::write(dir.path().join(file_name(i)), &case.bytes).expect("write case");
    }
    let mut by_file = BTreeMap::new();
    loop {
        let ((out, stderr), status) = try_script(&[dir.path().as_os_str()], "");
        read_verdicts(&out, &mut by_file);
        if status.success() {
            break;
        }
        if status.code().is_some() {
            panic!("{} failed ({status}): {stderr}", script().display());
        }
        // Killed by a signal: numpy crashed on the first file it did not
        // judge (an empty record dtype with a negative dimension raises
        // SIGFPE in numpy 2.2). That is a refusal.
        let crashed = (0..cases.len())
            .map(file_name)
            .find(|f| !by_file.contains_key(f))
            .unwrap_or_else(|| panic!("{} failed ({status}): {stderr}", script().display()));
        let message = format!("numpy crashed ({status})");
        let index: usize = crashed[4..9].parse().expect("case index");
        eprintln!("{message} on {}", cases[index].name);
        by_file.insert(crashed, Verdict::Refused(message));
        for judged in by_file.keys() {
            let _ = std::fs::remove_file(dir.path().join(judged));
        }
    }
    if std::env::var_os("ONEDATA_KEEP_CASES").is_some() {
        let kept = dir.keep();
        eprintln!("cases kept in {}", kept.display());
    }
    (0..cases.len())
        .map(|i| {
            by_file
                .remove(&file_name(i))
                .unwrap_or_else(|| panic!("numpy did not judge {}", file_name(i)))
        })
        .collect()
}

fn read_verdicts(out: &str, by_file: &mut BTreeMap<String, Verdict>) {
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json line from python");
        let file = v["file"].as_str().expect("file").to_string();
        let verdict = if v["ok"].as_bool() == Some(true) {
            Verdict::Accepted {
                descr: v["descr"].as_str().expect("descr").to_string(),
                structured: v["structured"].as_bool().expect("structured"),
                shape: v["shape"]
                    .as_array()
                    .expect("shape")
                    .iter()
                    .map(|d| d.as_u64().expect("dimension"))
                    .collect(),
                fortran: v["fortran"].as_bool().expect("fortran"),
            }
        } else {
            Verdict::Refused(v["error"].as_str().unwrap_or("?").to_string())
        };
        by_file.insert(file, verdict);
    }
}

fn file_name(i: usize) -> String {
    format!("case{i:05}.npy")
}

// ---------------------------------------------------------------------------
// Building header files.

/// Data bytes after each header: more than any accepted case needs, so that
/// numpy never refuses for lack of data.
const DATA: usize = 4096;

struct Case {
    name: String,
    bytes: Vec<u8>,
}

/// A `.npy` file: magic, version, length field, `text` (latin-1 in versions
/// 1.0 and 2.0, UTF-8 in 3.0) and `data` zero bytes.
fn file(version: (u8, u8), text: &str, data: usize) -> Vec<u8> {
    let encoded: Vec<u8> = if version.0 == 3 {
        text.as_bytes().to_vec()
    } else {
        text.chars()
            .map(|c| u8::try_from(c as u32).expect("latin-1 text"))
            .collect()
    };
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[version.0, version.1]);
    if version.0 == 1 {
        let len = u16::try_from(encoded.len()).expect("v1 header length");
        out.extend_from_slice(&len.to_le_bytes());
    } else {
        out.extend_from_slice(&(encoded.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(&encoded);
    out.resize(out.len() + data, 0);
    out
}

/// The dict text in numpy's own style.
fn dict(descr: &str, fortran: &str, shape: &str) -> String {
    format!("{{'descr': {descr}, 'fortran_order': {fortran}, 'shape': {shape}, }}")
}

/// `dict` padded as numpy pads it (spaces to a multiple of 64, newline).
fn padded(version: (u8, u8), text: &str) -> String {
    let prefix = if version.0 == 1 { 10 } else { 12 };
    let len = prefix + text.len() + 1;
    format!("{text}{}\n", " ".repeat(64 - len % 64))
}

/// A Python string literal for `s`.
fn py_str(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[derive(Default)]
struct Cases(Vec<Case>);

impl Cases {
    fn bytes(&mut self, name: &str, bytes: Vec<u8>) {
        assert!(
            self.0.iter().all(|c| c.name != name),
            "duplicate case name {name}"
        );
        self.0.push(Case {
            name: name.to_string(),
            bytes,
        });
    }

    /// A version 1.0 file with `text` and data (3.0 if `text` is not latin-1).
    fn v1(&mut self, name: &str, text: &str) {
        let version = if text.chars().all(|c| (c as u32) < 0x100) {
            (1, 0)
        } else {
            (3, 0)
        };
        self.bytes(name, file(version, text, DATA));
    }

    fn version(&mut self, name: &str, version: (u8, u8), text: &str) {
        self.bytes(name, file(version, text, DATA));
    }
}

fn summary_numpy(v: &Verdict) -> String {
    match v {
        Verdict::Accepted {
            descr,
            shape,
            fortran,
            structured,
        } => format!(
            "ok {}{descr} {shape:?}{}",
            if *structured { "record " } else { "" },
            if *fortran { " F" } else { "" }
        ),
        Verdict::Refused(e) => format!("refused: {}", truncate(e, 70)),
    }
}

fn summary_ours(r: &Result<Header, HeaderError>) -> String {
    match r {
        Ok(h) => format!(
            "ok {} {:?}{}",
            truncate(&h.dtype().descr(), 40),
            h.shape(),
            if h.fortran_order() { " F" } else { "" }
        ),
        Err(e) => format!("refused: {}", truncate(&e.to_string(), 70)),
    }
}

fn truncate(s: &str, n: usize) -> String {
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { '·' } else { c })
        .collect();
    if s.chars().count() <= n {
        s
    } else {
        s.chars().take(n).collect::<String>() + "…"
    }
}

/// numpy refused only because the file lacks the data the header promises
/// (more than [`DATA`] bytes): onedata accepts such a header and refuses the
/// file later, when it opens the array.
fn lacks_data(numpy: &Verdict, ours: &Result<Header, HeaderError>) -> bool {
    matches!(numpy, Verdict::Refused(e) if e.contains("mmap length is greater than file size"))
        && matches!(ours, Ok(h) if h.data_len().is_none_or(|n| n > DATA))
}

/// A known difference: numpy accepts a comma-string descr that onedata refuses.
fn comma_string_descr(numpy: &Verdict, ours: &Result<Header, HeaderError>) -> bool {
    let comma = |d: &str| {
        let b = d.trim_start_matches(['<', '>', '|', '=']).as_bytes();
        d.contains(',') || b.first().is_some_and(|c| c.is_ascii_digit()) || b.starts_with(b"()")
    };
    matches!(numpy, Verdict::Accepted { .. })
        && matches!(ours, Err(HeaderError::UnknownDescr(d)) if comma(d))
}

/// Why our result disagrees with numpy's, if it does.
fn disagreement(numpy: &Verdict, ours: &Result<Header, HeaderError>) -> Option<&'static str> {
    if lacks_data(numpy, ours) {
        return None;
    }
    match (numpy, ours) {
        (Verdict::Refused(_), Err(_)) => None,
        (Verdict::Refused(_), Ok(_)) => Some("numpy refuses, onedata accepts"),
        (Verdict::Accepted { .. }, Err(_)) => Some("numpy accepts, onedata refuses"),
        (
            Verdict::Accepted {
                descr,
                structured,
                shape,
                fortran,
            },
            Ok(h),
        ) => {
            let our_shape: Vec<u64> = h.shape().iter().map(|&d| d as u64).collect();
            // A record list keeps its header text (a list, or a dict, set or
            // empty bytes numpy iterates): no dtype string's order character.
            let record = |d: &str| !d.starts_with(['<', '>', '|']);
            let descr_ok = if *structured {
                // numpy's descr is `|V<itemsize>`: the size onedata reads
                // (none for records that hold objects).
                matches!(h.dtype(), Dtype::Other { descr: ours, itemsize }
                    if record(ours) && itemsize.is_none_or(|n| format!("|V{n}") == *descr))
            } else {
                h.dtype().descr() == *descr
            };
            if !descr_ok {
                Some("different dtype")
            } else if our_shape != *shape {
                Some("different shape")
            } else if h.fortran_order() != *fortran {
                Some("different fortran_order")
            } else {
                None
            }
        }
    }
}

/// Compares every case with numpy; panics with a table of the disagreements.
fn check_against_numpy(cases: &[Case], known: &[(&str, &str)]) -> usize {
    let verdicts = numpy_verdicts(cases);
    let mut table = String::new();
    let mut failures = 0;
    for (case, numpy) in cases.iter().zip(&verdicts) {
        let ours = Header::parse(&case.bytes);
        let problem = match known.iter().find(|(name, _)| *name == case.name) {
            Some(_) => match (numpy, &ours) {
                (Verdict::Accepted { .. }, Err(_)) => None,
                _ => Some("listed as a known difference, but is not one"),
            },
            None => disagreement(numpy, &ours),
        };
        if let Some(problem) = problem {
            failures += 1;
            let _ = writeln!(
                table,
                "{:<28} | {:<36} | numpy: {:<60} | onedata: {}",
                truncate(&case.name, 28),
                problem,
                summary_numpy(numpy),
                summary_ours(&ours)
            );
        }
    }
    assert!(
        failures == 0,
        "{failures} of {} header cases disagree with numpy:\n{table}",
        cases.len()
    );
    cases.len()
}
