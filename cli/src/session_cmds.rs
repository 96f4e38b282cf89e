//! `onedata digest --session`.

use std::path::Path;

use onedata::b2::B2Session;
use std::sync::Arc;

use onedata::session::ONE_DIR;
use onedata::{Error, ErrorKind, LoadOptions, OneData, Result, Session, SessionData};

use crate::info::shell_word;

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
        Some(stem) if sparse => Err(Error::argument(format!(
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
    let session = open_session(dir)?;
    let one_path = session.one_path();
    digest_in(
        &*session,
        &dir.display().to_string(),
        target,
        sparse,
        |file_name| one_path.join(file_name).is_file(),
        |session, name, opts| session.loadone_with(name, opts),
    )
}

/// [`digest_session`] of the session at the URL `url`: what `loadone`
/// returns, downloaded into the cache (a warm cache makes no request for it).
pub fn digest_session_url(url: &str, target: &str, sparse: bool) -> Result<()> {
    // Refuse a malformed name before any request.
    parse_target(target, sparse)?;
    let (session, remote) = crate::remote::open_session(url)?;
    let one_dir = session
        .one_path()
        .file_name()
        .map_or(ONE_DIR.into(), |n| n.to_string_lossy().into_owned());
    digest_in(
        &*session,
        url,
        target,
        sparse,
        |file_name| crate::remote::has_one_file(&remote, &one_dir, file_name),
        |session, name, opts| session.loadone_with(name, opts),
    )
}

/// Prints the digest of what `session` (shown as `shown`) loads for
/// `target` with `load`; `saved(file_name)` says whether a onedata file
/// exists, for the hint about the other form.
fn digest_in(
    session: &dyn SessionData,
    shown: &str,
    target: &str,
    sparse: bool,
    saved: impl Fn(&str) -> bool,
    load: impl Fn(&dyn SessionData, &str, LoadOptions) -> Result<Arc<OneData>>,
) -> Result<()> {
    let (name, sparse) = parse_target(target, sparse)?;
    let opts = LoadOptions {
        sparse,
        ..LoadOptions::default()
    };
    let data = match load(session, name, opts) {
        Ok(data) => data,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound { .. }) => {
            return Err(other_form_hint(session, shown, name, sparse, saved).unwrap_or(e))
        }
        Err(e) => return Err(e),
    };
    out!("{}", onedata::digest::to_hex(&data.digest()?));
    Ok(())
}

/// When `name` is missing in the form asked for but saved in the other
/// (`.npz` for a dense load, `.npy` for `--sparse`): the error that says
/// so, with the command to type.
fn other_form_hint(
    session: &dyn SessionData,
    shown: &str,
    name: &str,
    sparse: bool,
    saved: impl Fn(&str) -> bool,
) -> Option<Error> {
    let (asked, other) = if sparse {
        (".npz", ".npy")
    } else {
        (".npy", ".npz")
    };
    if !saved(&format!("{name}{other}")) {
        return None;
    }
    let command = format!(
        "onedata digest --session {} {}",
        shell_word(shown),
        shell_word(name)
    );
    let text = if sparse {
        format!(
            "session {}: onedata {name}{asked} does not exist, but {name}{other} does (a dense array or a recipe): \
             did you mean without --sparse? {command}",
            session.session_print("/")
        )
    } else {
        format!(
            "session {}: onedata {name}{asked} does not exist, but {name}{other} does (a sparse matrix): \
             did you mean --sparse? {command} --sparse",
            session.session_print("/")
        )
    };
    Some(Error::argument(text))
}
