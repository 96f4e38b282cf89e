//! Hardening: hostile and damaged inputs never panic, never reach outside
//! `oneData`, and never cost unbounded memory.
//!
//! - Valid `.npy` files (several dtypes, C and Fortran order, header versions
//!   1.0, 2.0 and 3.0), `.npz` sparse matrices and loading recipes truncated
//!   at every byte offset (a spread of offsets for larger files): every
//!   reader returns an error that names the file.
//! - 10,000 random headers (proptest: random bytes, a token soup of dict-ish
//!   text, random length fields): the parser never panics, and every header
//!   it accepts has consistent sizes.
//! - Files replaced (atomically) while mapped: old views keep the old values,
//!   fresh loads see the new ones.
//! - Zip bombs in `.npz` files are refused without inflating them.
//! - Malformed `bsr` and `dia` archives are typed faults naming the member;
//!   their shape bombs are refused before anything of their size is made.
//! - Deeply nested pickles are refused without overflowing the stack.
//! - Suite2p planes whose headers claim huge shapes (`(2**40, 0)`) and
//!   values claiming huge ROI counts are concatenated or refused without
//!   allocating or looping by the claimed size.
//! - Recipes that ask for themselves (directly, through a cycle, across
//!   threads) are a `RecipeCycle` error naming the cycle, never a deadlock.
//! - Names that try to leave `oneData` are refused, and nothing is created
//!   outside the session folder.
//! - Eight threads share one `Session` (`stress`): every read is one
//!   complete version some thread wrote, and the cache stays fresh.
//! - A saver SIGKILLed mid-save 200 times (`crash`) leaves every file at
//!   its old version or its new one; `strace` shows durable saves syncing
//!   the file before the rename and the folder after it, and scratch saves
//!   syncing nothing.
//!
//! Everything is deterministic: the random parts are proptest strategies
//! run with a fixed seed (`ONEDATA_HARDENING_SEED` overrides it).

#[path = "../common/mod.rs"]
mod common;

mod bsr_dia;
mod crash;
mod cycles;
mod huge_shapes;
mod mapped;
mod names;
mod pickles;
mod random_headers;
mod stored;
mod stress;
mod truncation;
mod writers;
mod zip_bombs;

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use onedata::npy::write_npy_to;
use onedata::recipe::{LoadingRecipe, PyValue};
use onedata::{Session, SessionData, SessionId};

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// The seed of the random tests' proptest runs: `ONEDATA_HARDENING_SEED`,
/// or a fixed one, so that every run draws the same cases.
fn seed() -> u64 {
    std::env::var("ONEDATA_HARDENING_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0x0ed4_7a5e_ed00_2024)
}

fn session_in(root: &Path) -> Session {
    let id = SessionId::new("ATL027", "2024-06-12", Some("701")).unwrap();
    Session::from_root(root, id).unwrap()
}

/// The session's `oneData` folder, created.
fn one_dir(s: &Session) -> PathBuf {
    let p = s.one_path().to_path_buf();
    fs::create_dir_all(&p).unwrap();
    p
}

/// Fails unless `result` is an error whose message names `path`.
#[track_caller]
fn expect_err_naming<T: std::fmt::Debug>(result: onedata::Result<T>, path: &Path, what: &str) {
    match result {
        Ok(v) => panic!("{what}: accepted {} ({v:?})", path.display()),
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&path.display().to_string()),
                "{what}: the error does not name {}: {msg}",
                path.display()
            );
        }
    }
}

/// Runs `body` in a thread of its own; fails if it takes over 30 s, so that
/// a deadlock or an endless loop fails the test instead of hanging the suite.
fn within_30s<R: Send + 'static>(body: impl FnOnce() -> R + Send + 'static) -> R {
    use std::sync::mpsc;
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(body());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(30)) {
        Ok(r) => {
            handle.join().unwrap();
            r
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("no answer in 30 s: deadlocked or looping")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(p) => std::panic::resume_unwind(p),
            Ok(()) => unreachable!("the body sent nothing and did not panic"),
        },
    }
}

/// Runs `f`, turning a panic into a test failure that shows `case`.
#[track_caller]
fn no_panic<R>(case: &dyn Fn() -> String, f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("panicked ({msg}) on {}", case())
        }
    }
}

fn npy_bytes<S, D>(a: &ndarray::ArrayBase<S, D>) -> Vec<u8>
where
    S: ndarray::Data,
    S::Elem: onedata::npy::Element,
    D: ndarray::Dimension,
{
    let mut v = Vec::new();
    write_npy_to(&mut v, a).unwrap();
    v
}

/// The dict text of a version 1.0 file (padding and newline removed) and its data.
fn split_v1(bytes: &[u8]) -> (String, &[u8]) {
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let text = std::str::from_utf8(&bytes[10..10 + len]).unwrap();
    (text.trim_end().to_string(), &bytes[10 + len..])
}

/// A whole `.npy` file in `version` around `dict`, padded as numpy pads.
fn npy_file(version: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    let len_size = if version == 1 { 2 } else { 4 };
    let pre = 8 + len_size;
    let total = (pre + dict.len() + 1).div_ceil(64) * 64;
    let text_len = total - pre;
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(text_len as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(text_len as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    out.extend_from_slice(data);
    out
}

fn small_csr() -> sprs::CsMatI<f64, i32> {
    sprs::CsMatI::new(
        (4, 5),
        vec![0, 2, 2, 3, 6],
        vec![0, 3, 1, 0, 2, 4],
        vec![1.5, -2.0, 3.25, 4.0, -0.5, 6.0],
    )
}

fn sample_recipe() -> LoadingRecipe {
    LoadingRecipe::new("s2p", Some("F"), ["transpose", "zscore"])
        .with_kwarg("planes", vec![PyValue::Int(0), PyValue::Int(1)])
        .with_kwarg("keep_planes", PyValue::None)
        .with_kwarg("scale", PyValue::Float(0.5))
        .with_kwarg("label", PyValue::Str("spks ünïcode".into()))
}

/// A member of a zip archive built by [`zip`].
struct ZipMember {
    name: &'static str,
    method: u16,
    crc: u32,
    uncompressed: u64,
    data: Vec<u8>,
}

fn stored(name: &'static str, npy: Vec<u8>) -> ZipMember {
    ZipMember {
        name,
        method: 0,
        crc: crc32fast::hash(&npy),
        uncompressed: npy.len() as u64,
        data: npy,
    }
}

/// A zip archive of `members`, with a zip64 field for sizes past 4 GiB.
fn zip(members: &[ZipMember]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for m in members {
        let offset = out.len() as u32;
        let big = m.uncompressed >= u32::MAX as u64;
        let usize32 = if big { u32::MAX } else { m.uncompressed as u32 };
        let mut fixed = Vec::new();
        fixed.extend_from_slice(&20u16.to_le_bytes()); // version needed
        fixed.extend_from_slice(&0u16.to_le_bytes()); // flags
        fixed.extend_from_slice(&m.method.to_le_bytes());
        fixed.extend_from_slice(&0u16.to_le_bytes()); // time
        fixed.extend_from_slice(&0x21u16.to_le_bytes()); // date
        fixed.extend_from_slice(&m.crc.to_le_bytes());
        fixed.extend_from_slice(&(m.data.len() as u32).to_le_bytes());
        fixed.extend_from_slice(&usize32.to_le_bytes());
        fixed.extend_from_slice(&(m.name.len() as u16).to_le_bytes());
        let extra: Vec<u8> = if big {
            let mut e = vec![1, 0, 8, 0];
            e.extend_from_slice(&m.uncompressed.to_le_bytes());
            e
        } else {
            Vec::new()
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&fixed);
        out.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        out.extend_from_slice(m.name.as_bytes());
        out.extend_from_slice(&extra);
        out.extend_from_slice(&m.data);

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // made by
        central.extend_from_slice(&fixed);
        central.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 6]); // comment, disk, internal attributes
        central.extend_from_slice(&0u32.to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(m.name.as_bytes());
        central.extend_from_slice(&extra);
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&[0; 2]);
    out
}

fn proc_status_kb(field: &str) -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the peak RSS if the kernel lets us; returns the RSS (KiB) to
/// measure the peak against.
fn reset_peak_rss() -> Option<u64> {
    let reset = fs::write("/proc/self/clear_refs", "5").is_ok();
    let rss = proc_status_kb("VmRSS:")?;
    if reset {
        Some(rss)
    } else {
        // Without a reset the peak can only be measured above the old one.
        proc_status_kb("VmHWM:")
    }
}
