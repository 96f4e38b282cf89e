//! Sessions whose root is a URL (the `remote` feature).
//!
//! A remote session is a local session whose folder is its copy in the
//! download cache, `<cache>/<bucket>/<root>/<mouse>/<date>/<id>`, plus the
//! store it came from: listings ask the store, loads fetch the file into the
//! cache (no request once it is there) and then map it as any local file,
//! saves write the cached file and then upload it.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use parking_lot::Mutex;
use std::path::{Path, PathBuf};

use super::{SessionCore, SessionId, ONE_DIR, ONE_DIR_LOWER, OPTIONS_FILE, VALUES_FILE};
use crate::error::{Error, Result};
use crate::npy::{Dtype, NpyArray};
use crate::remote::Remote;
use crate::RemoteFault;

/// What the first open of a remote session saw of its folder, kept in the
/// cache folder so that the next open makes no request.
const SESSION_MARKER: &str = ".onedata-remote-session.json";

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SessionSeen {
    url: String,
    one_dir: String,
    files: Vec<String>,
}

/// Where a remote session lives in its store.
#[derive(Debug, Clone)]
pub(crate) struct RemoteSession {
    /// The session folder's prefix.
    pub(super) folder: Remote,
    /// Its `oneData/` (or `onedata/`) prefix.
    pub(super) one: Remote,
    /// The size and modification time of each `oneData/` copy this session
    /// found complete: a load whose copy still has them needs one `stat`,
    /// not the sidecar read again.
    pub(super) complete: Arc<Mutex<HashMap<String, (u64, u128)>>>,
}

impl SessionCore {
    /// The state of the session at the URL prefix `folder`, cached in its
    /// folder of the download cache.
    ///
    /// The first open lists the session prefix (one LIST) to tell
    /// `oneData/` from `onedata/` and to see whether there are
    /// `vrExperimentValues.json` and `vrExperimentOptions.json`, which are
    /// fetched into the cache; what it saw is kept in the cache folder
    /// (`.onedata-remote-session.json`), so that opening the session again
    /// makes no request. [`SessionCore::open_remote_refreshed`] lists again.
    ///
    /// # Errors
    ///
    /// The remote faults of the listing ([`RemoteFault::NoBucket`],
    /// [`RemoteFault::Auth`], ...) and of the fetches.
    pub fn open_remote(id: SessionId, folder: Remote) -> Result<SessionCore> {
        SessionCore::open_remote_with(id, folder, false)
    }

    /// [`SessionCore::open_remote`], listing the session prefix even when
    /// the cache has seen it, and revalidating its values and options files
    /// (one HEAD each).
    pub fn open_remote_refreshed(id: SessionId, folder: Remote) -> Result<SessionCore> {
        SessionCore::open_remote_with(id, folder, true)
    }

    fn open_remote_with(id: SessionId, folder: Remote, refresh: bool) -> Result<SessionCore> {
        let data_path = folder.cache_path()?;
        let marker = data_path.join(SESSION_MARKER);
        let seen = if refresh {
            None
        } else {
            std::fs::read(&marker)
                .ok()
                .and_then(|b| serde_json::from_slice::<SessionSeen>(&b).ok())
                .filter(|s| s.url == folder.url().as_str())
        };
        let seen = match seen {
            Some(seen) => seen,
            None => {
                let (files, dirs) = folder.listing()?;
                let has_dir = |name: &str| dirs.iter().any(|d| d == name);
                let one_dir = if !has_dir(ONE_DIR) && has_dir(ONE_DIR_LOWER) {
                    ONE_DIR_LOWER
                } else {
                    ONE_DIR
                };
                let files = [VALUES_FILE, OPTIONS_FILE]
                    .into_iter()
                    .filter(|name| files.iter().any(|f| f.name == *name))
                    .map(str::to_string)
                    .collect();
                SessionSeen {
                    url: folder.url().as_str().to_string(),
                    one_dir: one_dir.to_string(),
                    files,
                }
            }
        };
        for name in &seen.files {
            folder.join(name)?.fetch(refresh)?;
        }
        let one_dir = if seen.one_dir == ONE_DIR_LOWER {
            ONE_DIR_LOWER
        } else {
            ONE_DIR
        };
        std::fs::create_dir_all(&data_path).map_err(|e| Error::io(&data_path, e))?;
        let text = serde_json::to_vec(&seen).unwrap_or_default();
        crate::atomic::write_atomic(&marker, crate::Durability::Scratch, |w| {
            std::io::Write::write_all(w, &text)
        })?;
        let mut core = SessionCore::new(id, &data_path)?;
        core.one_path = data_path.join(one_dir);
        let one = folder.join(one_dir)?;
        core.remote = Some(RemoteSession {
            folder,
            one,
            complete: Arc::default(),
        });
        Ok(core)
    }

    /// For a remote session, fetches the file `relative` of the session
    /// folder (`suite2p/plane0/F.npy`) into the cache (no request when it is
    /// there); a local session has nothing to fetch.
    pub(crate) fn fetch_folder_file(&self, relative: &str) -> Result<()> {
        match &self.remote {
            Some(remote) => remote.folder.join(relative)?.fetch(false).map(|_| ()),
            None => Ok(()),
        }
    }

    /// The store prefix of a session opened from a URL (`None` for a local
    /// session).
    pub fn remote(&self) -> Option<&Remote> {
        self.remote.as_ref().map(|r| &r.folder)
    }

    /// The object `file_name` in this remote session's `oneData/`.
    pub(super) fn remote_one_file(&self, file_name: &str) -> Option<Result<Remote>> {
        let remote = self.remote.as_ref()?;
        Some(crate::names::check_file_name(file_name).and_then(|()| remote.one.join(file_name)))
    }

    /// The `.npy` and `.npz` objects in the session's `oneData/` prefix, as
    /// paths in the cache folder (which may not be downloaded yet).
    pub(super) fn remote_saved_one(&self) -> Option<Result<Vec<PathBuf>>> {
        let remote = self.remote.as_ref()?;
        Some(remote.one.list().map(|entries| {
            entries
                .into_iter()
                .filter(|e| e.name.ends_with(".npy") || e.name.ends_with(".npz"))
                .filter(|e| crate::names::check_file_name(&e.name).is_ok())
                .map(|e| self.one_path.join(e.name))
                .collect()
        }))
    }

    /// For a remote session, fetches `file_name` of `oneData/` into the
    /// cache; `Ok(false)` when the store has no such object. A local
    /// session has nothing to fetch (`Ok(true)`).
    pub(super) fn fetch_one(&self, file_name: &str) -> Result<bool> {
        let Some(session) = &self.remote else {
            return Ok(true);
        };
        let local = self.one_path.join(file_name);
        let seen = session.complete.lock().get(file_name).copied();
        if let (Some(seen), Ok(meta)) = (seen, std::fs::metadata(&local)) {
            if (meta.len(), crate::remote::mtime_ns(&meta)) == seen {
                return Ok(true);
            }
        }
        let remote =
            crate::names::check_file_name(file_name).and_then(|()| session.one.join(file_name))?;
        match remote.fetch(false) {
            Ok(path) => {
                if let Ok(meta) = std::fs::metadata(&path) {
                    let stamp = (meta.len(), crate::remote::mtime_ns(&meta));
                    session.complete.lock().insert(file_name.to_string(), stamp);
                }
                Ok(true)
            }
            Err(e) if matches!(e.remote_fault(), Some(RemoteFault::NotFound)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The ETag the cache last saw `file_name` of `oneData/` at, before a
    /// save replaces it: the upload then succeeds only if nobody else
    /// replaced the object meanwhile. Kept while a save has rewritten the
    /// copy but not uploaded it (its upload was refused), so that saving
    /// again is refused again rather than overwriting the other version.
    pub(super) fn cached_etag(&self, file_name: &str) -> Option<String> {
        self.remote_one_file(file_name)?.ok()?.last_seen_etag()
    }

    /// For a remote session, the lock of the cached copy of `file_name` of
    /// `oneData/` (see [`Remote::lock_copy`]), held by a save from the write
    /// of the copy to the end of its upload.
    pub(super) fn copy_lock(&self, file_name: &str) -> Result<Option<crate::remote::CopyLock>> {
        match self.remote_one_file(file_name) {
            Some(remote) => remote?.lock_copy().map(Some),
            None => Ok(None),
        }
    }

    /// [`SessionCore::cached_etag`] of a file of the session folder
    /// (`vrExperimentValues.json`).
    pub(super) fn cached_etag_of_folder_file(&self, file_name: &str) -> Option<String> {
        self.remote
            .as_ref()?
            .folder
            .join(file_name)
            .ok()?
            .cached_etag()
    }

    /// After a save wrote `path` (`file_name` in `oneData/`, or a file of
    /// the session folder when `in_one` is false), uploads it.
    pub(super) fn push(
        &self,
        file_name: &str,
        path: &Path,
        etag: Option<String>,
        in_one: bool,
    ) -> Result<()> {
        let Some(remote) = self.remote.as_ref() else {
            return Ok(());
        };
        let target = if in_one {
            remote.one.join(file_name)?
        } else {
            remote.folder.join(file_name)?
        };
        target.upload(path, etag).map(|_| ())
    }

    /// Rows `rows` of `file_name` of a remote session's `oneData/`, read by
    /// ranged GETs, when neither the session cache nor the download cache
    /// holds the file (`None`: load it whole, as for a missing file, an
    /// object array or a Fortran-order one, whose rows are not contiguous).
    pub(super) fn remote_rows(
        &self,
        file_name: &str,
        rows: &Range<usize>,
    ) -> Option<Result<NpyArray>> {
        if self.is_cached(file_name) {
            return None;
        }
        let remote = match self.remote_one_file(file_name)? {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        if remote.is_cached() {
            return None;
        }
        let header = match remote.npy_header() {
            Ok(h) => h,
            // A missing file is the usual NotFound of `loadone`.
            Err(e) if matches!(e.remote_fault(), Some(RemoteFault::NotFound)) => return None,
            Err(e) => return Some(Err(e)),
        };
        let h = &header.header;
        let contiguous = !h.fortran_order() || h.shape().len() < 2;
        if *h.dtype() == Dtype::Object || h.dtype().itemsize().is_none() || !contiguous {
            // Rows that are not one byte range each: load the whole file.
            return None;
        }
        Some(
            remote
                .read_row_ranges_with(&header, std::slice::from_ref(rows))
                .and_then(|mut read| {
                    read.pop().ok_or_else(|| {
                        Error::argument(format!("{}: no rows were read", remote.url().as_str()))
                    })
                }),
        )
    }

    /// `error`, from loading `file_name` of `oneData/`: a fault in the
    /// contents of a remote session's cached copy names the object's URL
    /// (the copy is the object, byte for byte).
    pub(super) fn named_in_store(&self, file_name: &str, error: Error) -> Error {
        let local = self.one_path.join(file_name);
        match (error.kind(), self.remote_one_file(file_name)) {
            (crate::ErrorKind::Invalid { path, fault }, Some(Ok(remote))) if *path == local => {
                Error::invalid(Path::new(remote.url().as_str()), fault.clone())
            }
            _ => error,
        }
    }

    /// Deletes `file_name` of `oneData/` from the store and the cache.
    pub(super) fn delete_remote(&self, file_name: &str) -> Option<Result<()>> {
        let remote = self.remote_one_file(file_name)?;
        Some(remote.and_then(|r| r.delete()))
    }
}

/// The session at `url`, its identity from the URL's last segments
/// (`.../<mouse>/<YYYY-MM-DD>[/<session_id>]`).
pub(crate) fn id_from_url(url: &Remote) -> Result<SessionId> {
    SessionId::from_path(Path::new(url.url().prefix())).ok_or_else(|| {
        Error::argument(format!(
            "{}: cannot tell mouse and date from the URL; expected .../<mouse>/<YYYY-MM-DD>/<session_id>",
            url.url().as_str()
        ))
    })
}

/// The session folder of `id` under the root URL `root`.
pub(crate) fn folder_under(root: &str, id: &SessionId) -> Result<Remote> {
    Remote::open(root)?.join(&id.session_name().join("/"))
}
