//! URLs on the command line: `ls`, `info`, `digest` and `digest --session`
//! of sessions and files in object storage (`s3://`, `gs://`, `az://`,
//! `http(s)://`), printing what the same commands print for the same
//! session on disk.
//!
//! A `file://` URL is the local folder or file it names.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use onedata::describe::{describe_file, Description};
use onedata::npy::Dtype;
use onedata::remote::{Remote, RemoteUrl, Scheme};
use onedata::session::{ONE_DIR, ONE_DIR_LOWER, VALUES_FILE};
use onedata::{Error, RemoteFault, Result, SessionId};

use crate::info::shell_word;
use crate::ls::{print_table, row_for, Row};

/// What a path argument names: a local path, or a URL of a store.
pub enum Target {
    /// A local file or folder (also what a `file://` URL names).
    Local(PathBuf),
    /// The URL of an object or a prefix in a store.
    Url(String),
}

/// Whether `text` begins with a URL scheme: `s3://`, `https://`, ...
fn looks_like_url(text: &str) -> bool {
    match text.split_once("://") {
        Some((scheme, _)) => {
            !scheme.is_empty()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        }
        None => false,
    }
}

/// What the argument `path` names: a URL when it begins with a scheme
/// (`file://` URLs are the local path they name), else a local path.
///
/// # Errors
///
/// A [`RemoteFault::InvalidUrl`] for a URL onedata cannot use.
pub fn target(path: &Path) -> Result<Target> {
    let Some(text) = path.to_str().filter(|t| looks_like_url(t)) else {
        return Ok(Target::Local(path.to_path_buf()));
    };
    let url = RemoteUrl::parse(text)?;
    if url.scheme() == Scheme::File {
        return url.url().to_file_path().map(Target::Local).map_err(|()| {
            Error::remote(
                text,
                RemoteFault::InvalidUrl {
                    reason: "it does not name a local path".into(),
                },
            )
        });
    }
    Ok(Target::Url(text.to_string()))
}

/// The last segment of a URL's path: the object's file name.
fn last_segment(url: &str) -> &str {
    let url = url.strip_suffix('/').unwrap_or(url);
    url.rsplit('/').next().unwrap_or(url)
}

/// The URL without its last segment.
fn parent_url(url: &str) -> &str {
    let url = url.strip_suffix('/').unwrap_or(url);
    url.rsplit_once('/').map_or(url, |(parent, _)| parent)
}

fn is_one_dir_name(name: &str) -> bool {
    name == ONE_DIR || name == ONE_DIR_LOWER
}

/// Runs `f` on every item, up to 8 at a time, keeping their order. Remote
/// requests block on onedata's runtime, which serves many threads at once.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let workers = items.len().clamp(1, 8);
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        mine.push((i, f(item)));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// Files up to this size are fetched whole rather than read by a header
/// GET: the GET of the header would read as many bytes.
const SMALL_FILE: u64 = 4096;

/// Describes the remote file `file` (named `name`, of `listed_size` bytes
/// when a listing said) as [`describe_file`] describes a local one: a dense
/// `.npy` from its header alone (one ranged GET); anything else (an `.npz`,
/// a recipe or another object array, a header onedata refuses) and any
/// small file from a copy fetched into the cache, so that the description,
/// or the fault, is the local one. Also returns the size of the object
/// when a request gave it.
fn describe_remote(
    file: &Remote,
    name: &str,
    listed_size: Option<u64>,
) -> Result<(Description, Option<u64>)> {
    let small = listed_size.is_some_and(|n| n <= SMALL_FILE);
    if name.ends_with(".npy") && !small {
        match file.npy_header() {
            Ok(h) if *h.header.dtype() != Dtype::Object => {
                return Ok((Description::Dense(h.header), Some(h.size)))
            }
            Ok(_) => {}
            Err(e) if e.remote_fault().is_some() => return Err(e),
            // A malformed header, or a zip archive named .npy: the local
            // description of the fetched file says what it is.
            Err(_) => {}
        }
    }
    let path = file.fetch(false)?;
    let size = std::fs::metadata(&path).ok().map(|m| m.len());
    Ok((describe_file(&path)?, size))
}

/// `onedata ls URL`: a session URL, its `oneData/` prefix, or a root above
/// sessions (`<root>/<mouse>/<YYYY-MM-DD>/<session_id>/oneData/`).
pub fn ls(url: &str) -> Result<()> {
    let remote = Remote::open(url)?;
    if is_one_dir_name(last_segment(url)) {
        return list_one(&remote);
    }
    let dirs = remote.list_dirs()?;
    if let Some(one) = [ONE_DIR, ONE_DIR_LOWER]
        .into_iter()
        .find(|n| dirs.iter().any(|d| d == n))
    {
        return list_one(&remote.join(one)?);
    }
    list_sessions(&remote, &dirs)
}

/// Lists the onedata files of the remote `oneData` prefix `one`, reading
/// their headers concurrently.
fn list_one(one: &Remote) -> Result<()> {
    let mut entries: Vec<_> = one
        .list()?
        .into_iter()
        .filter(|e| e.name.ends_with(".npy") || e.name.ends_with(".npz"))
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let rows: Vec<[String; 5]> = par_map(&entries, |entry| {
        let described = one
            .join(&entry.name)
            .and_then(|file| describe_remote(&file, &entry.name, Some(entry.size)));
        let Row {
            name,
            kind,
            dtype,
            shape,
            size,
        } = row_for(
            entry.name.clone(),
            crate::info::human_bytes(entry.size),
            described.map(|(d, _)| d),
        );
        [name, kind, dtype, shape, size]
    });
    print_table(["name", "kind", "dtype", "shape", "size"], &rows, &[4]);
    out!(
        "{} onedata file(s) in {}",
        rows.len(),
        one.url().as_str().trim_end_matches('/')
    );
    Ok(())
}

/// One session found under a remote root.
struct Found {
    id: SessionId,
    url: Remote,
    files: usize,
    bytes: u64,
}

/// Lists the sessions under the remote root `root`, whose sub-folders are
/// `mice`: `<mouse>/<YYYY-MM-DD>/<session_id>/oneData/`, as `ls ROOT` does.
fn list_sessions(root: &Remote, mice: &[String]) -> Result<()> {
    let visible = |names: Vec<String>| -> Vec<String> {
        names.into_iter().filter(|n| !n.starts_with('.')).collect()
    };
    let mut candidates = Vec::new();
    for mouse in visible(mice.to_vec()) {
        let mouse_dir = root.join(&mouse)?;
        let dates = visible(mouse_dir.list_dirs()?);
        let ids = par_map(&dates, |date| mouse_dir.join(date)?.list_dirs());
        for (date, ids) in dates.iter().zip(ids) {
            for id in visible(ids?) {
                let folder = format!("{mouse}/{date}/{id}");
                if let Some(sid) = SessionId::from_path(Path::new(&folder)) {
                    candidates.push((sid, folder));
                }
            }
        }
    }
    let listed = par_map(&candidates, |(sid, folder)| -> Result<Option<Found>> {
        let session = root.join(folder)?;
        let files: Vec<_> = session
            .join(ONE_DIR)?
            .list()?
            .into_iter()
            .filter(|e| e.name.ends_with(".npy") || e.name.ends_with(".npz"))
            .collect();
        // A prefix exists only while objects are under it: a session
        // without onedata files has no oneData/ to find.
        if files.is_empty() {
            return Ok(None);
        }
        Ok(Some(Found {
            id: sid.clone(),
            url: session,
            files: files.len(),
            bytes: files.iter().map(|e| e.size).sum(),
        }))
    });
    let mut found = Vec::new();
    for f in listed {
        found.extend(f?);
    }
    found.sort_by(|a, b| (&a.id, a.url.url().as_str()).cmp(&(&b.id, b.url.url().as_str())));
    let root_text = root.url().as_str().trim_end_matches('/');
    let Some(first) = found.first() else {
        return Err(Error::argument(format!(
            "{root_text}: no onedata here: not a session (no {ONE_DIR}/ under it), not a {ONE_DIR}/ prefix, \
             and no sessions under it as <mouse>/<YYYY-MM-DD>/<session_id>/{ONE_DIR}/"
        )));
    };
    let first = first.url.url().as_str().trim_end_matches('/').to_string();
    let rows: Vec<[String; 4]> = found
        .iter()
        .map(|f| {
            [
                f.id.session_print("/"),
                f.files.to_string(),
                crate::info::human_bytes(f.bytes),
                f.url.url().as_str().trim_end_matches('/').to_string(),
            ]
        })
        .collect();
    print_table(["session", "files", "size", "path"], &rows, &[1, 2]);
    out!(
        "{} session(s) under {root_text}; list one with: onedata ls {}",
        rows.len(),
        shell_word(&first)
    );
    Ok(())
}

/// `onedata digest --session SESSION NAME` for the file at `url`, when its
/// parent is a `oneData` prefix; else the command with SESSION to fill in.
pub fn digest_command(url: &str) -> String {
    let name = last_segment(url);
    let stem = name
        .strip_suffix(".npy")
        .or_else(|| name.strip_suffix(".npz"))
        .unwrap_or(name);
    let parent = parent_url(url);
    if is_one_dir_name(last_segment(parent)) && parent.contains("://") {
        format!(
            "onedata digest --session {} {}",
            shell_word(parent_url(parent)),
            shell_word(stem)
        )
    } else {
        format!(
            "onedata digest --session SESSION_URL {} (SESSION_URL: the prefix whose oneData/ holds it)",
            shell_word(stem)
        )
    }
}

/// `onedata info URL`: describes one remote file as `info FILE` does.
pub fn info(url: &str, as_json: bool) -> Result<()> {
    let file = Remote::open(url)?;
    let (description, size) = describe_remote(&file, last_segment(url), None)?;
    let size = match size {
        Some(size) => size,
        None => file.head()?.size,
    };
    let mut value = description.to_json(Path::new(last_segment(url)), size)?;
    if let Some(command) = value.get_mut("digest_with") {
        *command = serde_json::Value::String(digest_command(url));
    }
    crate::info::print_info(url, &value, as_json);
    Ok(())
}

/// `onedata digest URL`: fetches the file into the cache and digests it as
/// `digest FILE` does.
pub fn digest(url: &str) -> Result<()> {
    let path = Remote::open(url)?.fetch(false)?;
    crate::info::digest_file(&path, url, &digest_command(url))
}

/// Whether the object `file` exists: cached, or a HEAD finds it.
fn exists(file: &Remote) -> Result<bool> {
    if file.is_cached() {
        return Ok(true);
    }
    match file.head() {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.remote_fault(), Some(RemoteFault::NotFound)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The session at `url`, opened as `digest --session DIR` opens a folder:
/// a vrAnalysis B2 session when it has `vrExperimentValues.json`, else a
/// plain one. Also returns the session's [`Remote`].
///
/// The first open lists the session prefix (one LIST) and fetches its
/// values file; the library keeps what it saw in the cache folder, so a
/// later open, and a load of a file already cached, make no request.
pub fn open_session(url: &str) -> Result<(Box<dyn onedata::SessionData>, Remote)> {
    let remote = Remote::open(url)?;
    let plain = onedata::Session::open_remote(remote.clone())?;
    let session: Box<dyn onedata::SessionData> = if onedata::SessionData::data_path(&plain)
        .join(VALUES_FILE)
        .is_file()
    {
        Box::new(onedata::b2::B2Session::open_remote(remote.clone())?)
    } else {
        Box::new(plain)
    };
    Ok((session, remote))
}

/// Whether the session at `session`, whose onedata folder is named
/// `one_dir` (`oneData`, or `onedata`), has the onedata file `file_name`.
pub fn has_one_file(session: &Remote, one_dir: &str, file_name: &str) -> bool {
    session
        .join(&format!("{one_dir}/{file_name}"))
        .and_then(|f| exists(&f))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_paths() {
        assert!(looks_like_url("s3://b/p"));
        assert!(looks_like_url("https://host/p"));
        assert!(!looks_like_url("/data/s3:/x"));
        assert!(!looks_like_url("relative/a://b"));
        assert!(!looks_like_url("://x"));
    }

    #[test]
    fn a_file_url_is_its_local_path() {
        match target(Path::new("file:///tmp/x")).unwrap() {
            Target::Local(p) => assert_eq!(p, Path::new("/tmp/x")),
            Target::Url(u) => panic!("{u}"),
        }
    }

    #[test]
    fn the_digest_command_names_the_session_url() {
        assert_eq!(
            digest_command("s3://b/root/m/2024-01-01/1/oneData/mpci.roiActivityF.npy"),
            "onedata digest --session s3://b/root/m/2024-01-01/1 mpci.roiActivityF"
        );
        assert!(digest_command("s3://b/x.npy").contains("SESSION_URL x"));
    }
}
