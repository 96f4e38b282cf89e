//! `onedata digest --session`.

use std::path::Path;

use onedata::b2::B2Session;
use onedata::{LoadOptions, Result, Session, SessionData};

/// The session in `dir`: a vrAnalysis B2 session (recipes resolve through
/// suite2p output) when it has `vrExperimentValues.json`, else a plain one.
pub fn open_session(dir: &Path) -> Result<Box<dyn SessionData>> {
    if dir.join(onedata::session::VALUES_FILE).is_file() {
        Ok(Box::new(B2Session::open(dir)?))
    } else {
        Ok(Box::new(Session::open(dir)?))
    }
}

/// Prints the digest of what `loadone` returns for `name` in the session at `dir`.
pub fn digest_session(dir: &Path, name: &str, sparse: bool) -> Result<()> {
    let session = open_session(dir)?;
    let opts = LoadOptions {
        sparse,
        ..LoadOptions::default()
    };
    let data = session.loadone_with(name, opts)?;
    println!("{}", onedata::digest::to_hex(&data.digest()?));
    Ok(())
}
