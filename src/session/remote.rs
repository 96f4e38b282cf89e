//! Sessions whose root is a URL (the `remote` feature).
//!
//! A remote session is a local session whose folder is its copy in the
//! download cache, `<cache>/<bucket>/<root>/<mouse>/<date>/<id>`, plus the
//! store it came from: listings ask the store, loads fetch the file into the
//! cache (no request once it is there) and then map it as any local file,
//! saves write the cached file and then upload it.

use std::ops::Range;
use std::path::{Path, PathBuf};

use super::{SessionCore, SessionId, ONE_DIR, ONE_DIR_LOWER, OPTIONS_FILE, VALUES_FILE};
use crate::error::{Error, Result};
use crate::npy::{Dtype, NpyArray};
use crate::remote::Remote;
use crate::RemoteFault;

/// Where a remote session lives in its store.
#[derive(Debug, Clone)]
pub(crate) struct RemoteSession {
    /// The session folder's prefix.
    pub(super) folder: Remote,
    /// Its `oneData/` (or `onedata/`) prefix.
    pub(super) one: Remote,
}

impl SessionCore {
    /// The state of the session at the URL prefix `folder`, cached in its
    /// folder of the download cache.
    ///
    /// One LIST of the session prefix tells `oneData/` from `onedata/` and
    /// whether there are `vrExperimentValues.json` and
    /// `vrExperimentOptions.json`, which are fetched into the cache (no
    /// request when already there).
    ///
    /// # Errors
    ///
    /// The remote faults of the listing ([`RemoteFault::NoBucket`],
    /// [`RemoteFault::Auth`], ...) and of the fetches.
    pub fn open_remote(id: SessionId, folder: Remote) -> Result<SessionCore> {
        let data_path = folder.cache_path()?;
        let (files, dirs) = folder.listing()?;
        let has_dir = |name: &str| dirs.iter().any(|d| d == name);
        let one_dir = if !has_dir(ONE_DIR) && has_dir(ONE_DIR_LOWER) {
            ONE_DIR_LOWER
        } else {
            ONE_DIR
        };
        for name in [VALUES_FILE, OPTIONS_FILE] {
            if files.iter().any(|f| f.name == name) {
                folder.join(name)?.fetch(false)?;
            }
        }
        let mut core = SessionCore::new(id, &data_path)?;
        core.one_path = data_path.join(one_dir);
        let one = folder.join(one_dir)?;
        core.remote = Some(RemoteSession { folder, one });
        Ok(core)
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
        let Some(remote) = self.remote_one_file(file_name) else {
            return Ok(true);
        };
        match remote?.fetch(false) {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.remote_fault(), Some(RemoteFault::NotFound)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The ETag the cache holds `file_name` of `oneData/` at, before a save
    /// replaces it: the upload then succeeds only if nobody else replaced
    /// the object meanwhile.
    pub(super) fn cached_etag(&self, file_name: &str) -> Option<String> {
        self.remote_one_file(file_name)?.ok()?.cached_etag()
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
    /// holds the file and it is not an object array (`None`: load it).
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
            Err(e) => return Some(Err(e)),
        };
        if *header.header.dtype() == Dtype::Object {
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
