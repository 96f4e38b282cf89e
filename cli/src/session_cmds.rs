//! `onedata digest --session`.

use std::path::Path;

use onedata::b2::B2Session;
use onedata::{Error, LoadOptions, Result, Session, SessionData};

/// The session in `dir`: a vrAnalysis B2 session (recipes resolve through
/// suite2p output) when it has `vrExperimentValues.json`, else a plain one.
pub fn open_session(dir: &Path) -> Result<Box<dyn SessionData>> {
    if dir.join(onedata::session::VALUES_FILE).is_file() {
        Ok(Box::new(B2Session::open(dir)?))
    } else {
        Ok(Box::new(Session::open(dir)?))
    }
}

/// The onedata name and whether it is sparse, from `target` as typed: a
/// name, or a file name with `.npy` (dense) or `.npz` (sparse).
fn parse_target(target: &str, sparse: bool) -> Result<(&str, bool)> {
    if let Some(stem) = target.strip_suffix(".npz") {
        return Ok((stem, true));
    }
    match target.strip_suffix(".npy") {
        Some(stem) if sparse => Err(Error::InvalidArgument(format!(
            "{target} names a .npy file, but --sparse loads {stem}.npz: drop --sparse, or name {stem}.npz"
        ))),
        Some(stem) => Ok((stem, false)),
        None => Ok((target, sparse)),
    }
}

/// Prints the digest of what `loadone` returns for `target` in the session
/// at `dir`. `target` is a onedata name, or its file name: `NAME.npy`, or
/// `NAME.npz` for a sparse matrix (as `--sparse`).
pub fn digest_session(dir: &Path, target: &str, sparse: bool) -> Result<()> {
    let (name, sparse) = parse_target(target, sparse)?;
    let session = open_session(dir)?;
    let opts = LoadOptions {
        sparse,
        ..LoadOptions::default()
    };
    let data = session.loadone_with(name, opts)?;
    println!("{}", onedata::digest::to_hex(&data.digest()?));
    Ok(())
}
