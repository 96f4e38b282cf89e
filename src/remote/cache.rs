//! The download cache of [`Remote`]: each object's verified local copy.
//!
//! [`Remote::fetch`] downloads a whole object into the cache, in parts
//! fetched in parallel, each checked against the first part's ETag
//! (`If-Match`), into a temporary file that is renamed only once every byte
//! has come. A sidecar beside it records the URL, endpoint, ETag, size and
//! modification time; while they match the file, a fetch makes no request.
//! Downloads and saves of one copy take turns under its lock
//! ([`Remote::lock_copy`]).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::{Remote, PARALLEL_PARTS, PART_SIZE};
use crate::error::{Error, Result};
use crate::RemoteFault;

/// The sidecar of a cached file: what it was downloaded (or uploaded) as.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Sidecar {
    url: String,
    /// The endpoint the URL was reached at (`AWS_ENDPOINT_URL`): one bucket
    /// name on two endpoints is two objects.
    #[serde(default)]
    endpoint: String,
    etag: Option<String>,
    size: u64,
    /// The cached file's modification time, in nanoseconds since the epoch:
    /// a file rewritten locally no longer matches.
    mtime_ns: u128,
}

/// The lock of a cached copy ([`Remote::lock_copy`]), held until dropped.
#[derive(Debug)]
pub struct CopyLock {
    _file: File,
}

/// A file's modification time in nanoseconds since the epoch (0 when the
/// platform cannot tell).
pub(crate) fn mtime_ns(meta: &std::fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

impl Remote {
    pub(super) fn sidecar_path(local: &Path) -> PathBuf {
        Self::beside(local, "onedata-remote.json")
    }

    /// `.<name>.<suffix>` beside `local`.
    fn beside(local: &Path, suffix: &str) -> PathBuf {
        let name = local
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        local.with_file_name(format!(".{name}.{suffix}"))
    }

    /// The sidecar of `local` written for this URL and endpoint, whether or
    /// not it still describes the file.
    fn sidecar(&self, local: &Path) -> Option<Sidecar> {
        let text = std::fs::read(Self::sidecar_path(local)).ok()?;
        let sidecar: Sidecar = serde_json::from_slice(&text).ok()?;
        (sidecar.url == self.url.as_str() && sidecar.endpoint == self.endpoint).then_some(sidecar)
    }

    /// The sidecar of `local`, if it describes the file as it is.
    fn valid_sidecar(&self, local: &Path) -> Option<Sidecar> {
        let sidecar = self.sidecar(local)?;
        let meta = std::fs::metadata(local).ok()?;
        (meta.is_file() && meta.len() == sidecar.size && mtime_ns(&meta) == sidecar.mtime_ns)
            .then_some(sidecar)
    }

    /// Records that `local` is this object with `etag`.
    pub(super) fn write_sidecar(&self, local: &Path, etag: Option<String>) -> Result<()> {
        let meta = std::fs::metadata(local).map_err(|e| Error::io(local, e))?;
        let sidecar = Sidecar {
            url: self.url.as_str().to_string(),
            endpoint: self.endpoint.clone(),
            etag,
            size: meta.len(),
            mtime_ns: mtime_ns(&meta),
        };
        let text = serde_json::to_vec(&sidecar).unwrap_or_default();
        let path = Self::sidecar_path(local);
        crate::atomic::write_atomic(&path, crate::Durability::Scratch, |w| {
            std::io::Write::write_all(w, &text)
        })
    }

    /// Takes the lock of this object's copy in the cache (an `flock` on a
    /// file beside it, `.<name>.onedata-lock`), waiting for it: downloads
    /// and saves of one copy, in this process or another, take turns, so a
    /// sidecar always describes the file renamed last.
    pub fn lock_copy(&self) -> Result<CopyLock> {
        let local = self.cache_path()?;
        let dir = local.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = Self::beside(&local, "onedata-lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        // Filesystems without locks go without: the sidecar then only
        // checks the file's size and time.
        let _ = file.lock();
        Ok(CopyLock { _file: file })
    }

    /// Whether the cache holds a complete copy of this object, as the
    /// sidecar describes it (no request is made).
    pub fn is_cached(&self) -> bool {
        self.cache_path()
            .is_ok_and(|local| self.valid_sidecar(&local).is_some())
    }

    /// The ETag the cached copy was downloaded (or uploaded) with, if the
    /// cache holds a complete copy.
    pub fn cached_etag(&self) -> Option<String> {
        let local = self.cache_path().ok()?;
        self.valid_sidecar(&local)?.etag
    }

    /// The ETag this cache last saw the object at (downloaded or uploaded),
    /// even if the copy has been rewritten since (a save that has not been
    /// uploaded yet, or whose upload was refused).
    pub fn last_seen_etag(&self) -> Option<String> {
        let local = self.cache_path().ok()?;
        self.sidecar(&local)?.etag
    }

    /// The local path of a complete copy of this object, downloading it
    /// into the cache unless the cache holds one already.
    ///
    /// A cached copy whose sidecar matches it is used without any request;
    /// with `revalidate`, one HEAD checks that its ETag and size are still
    /// the object's, and a changed object is downloaded again.
    ///
    /// A download reads the first 8 MiB with one GET, whose answer gives the
    /// size and ETag; as soon as its headers come, the rest follow in 8 MiB
    /// parts, 8 in flight with the first, each
    /// `If-Match` that ETag (`If-Unmodified-Since` its time, for a store
    /// without ETags), into a temporary file beside the target. The file is
    /// renamed into place only when every byte has come; then the sidecar
    /// is written, under the copy's lock ([`Remote::lock_copy`]). An object
    /// that changes mid-download is downloaded again, once.
    ///
    /// # Errors
    ///
    /// [`RemoteFault::NotFound`], [`RemoteFault::NoBucket`],
    /// [`RemoteFault::Auth`], [`RemoteFault::Truncated`] (the answer ended
    /// early), [`RemoteFault::Changed`] (the object changed twice),
    /// [`RemoteFault::Request`]; I/O errors of the cache folder (a full
    /// disk included).
    /// No partial file is left under the target's name.
    pub fn fetch(&self, revalidate: bool) -> Result<PathBuf> {
        let local = self.cache_path()?;
        if !revalidate && self.valid_sidecar(&local).is_some() {
            return Ok(local);
        }
        let _lock = self.lock_copy()?;
        if let Some(sidecar) = self.valid_sidecar(&local) {
            // Another download finished while this one waited for the lock.
            if !revalidate {
                return Ok(local);
            }
            let now = self.head()?;
            if now.etag == sidecar.etag && now.size == sidecar.size {
                return Ok(local);
            }
        }
        match self.download(&local) {
            Err(e) if matches!(e.remote_fault(), Some(RemoteFault::Changed { .. })) => {
                self.download(&local)
            }
            other => other,
        }?;
        Ok(local)
    }

    /// Downloads the object into a temporary file beside `local`, then
    /// renames it over `local` and writes the sidecar (the caller holds
    /// the copy's lock).
    fn download(&self, local: &Path) -> Result<()> {
        let dir = local.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut etag_seen = None;
        let mut fault = None;
        // The cache can always be downloaded again: it is written without
        // fsync. The sidecar is written after the rename and checks the
        // file's size and time, so a file cut short is never taken whole.
        let written = crate::atomic::write_atomic_file(
            local,
            crate::Durability::Scratch,
            |file, _| match self.download_into(file) {
                Ok(etag) => {
                    etag_seen = Some(etag);
                    Ok(())
                }
                Err(e) => {
                    fault = Some(e);
                    Err(std::io::Error::other("download failed"))
                }
            },
        );
        if let Some(e) = fault {
            return Err(e);
        }
        written?;
        self.write_sidecar(local, etag_seen.flatten())
    }

    /// Writes the whole object into `file`; returns its ETag. A server that
    /// claims a huge object costs disk, not memory: the download ends with
    /// the I/O error of a full disk, and the temporary file is removed.
    fn download_into(&self, file: &File) -> Result<Option<String>> {
        self.block_on(async {
            // The first answer gives the size and the version; the other
            // parts start then, while its body is still coming.
            let first = self.open_range(0..PART_SIZE, None).await?;
            let version = first.version.clone();
            let size = version.size;
            let version = &version;
            let head = async move {
                let bytes = self.read_body(first).await?;
                write_at(file, &bytes, 0).map_err(|e| self.io_fault(e))
            };
            // The part starts, made one at a time (never a list sized by
            // what the server claims).
            let starts = std::iter::successors(Some(PART_SIZE), |s| s.checked_add(PART_SIZE))
                .take_while(|s| *s < size);
            let rest = futures::stream::iter(starts)
                .map(|start| async move {
                    let end = start.saturating_add(PART_SIZE).min(size);
                    let (bytes, _) = self.get_range(start..end, Some(version)).await?;
                    write_at(file, &bytes, start).map_err(|e| self.io_fault(e))
                })
                .buffer_unordered(PARALLEL_PARTS.saturating_sub(1).max(1))
                .try_collect::<Vec<()>>();
            futures::try_join!(head, rest)?;
            file.set_len(size).map_err(|e| self.io_fault(e))?;
            Ok(version.etag.clone())
        })?
    }

    fn io_fault(&self, e: std::io::Error) -> Error {
        match self.cache_path() {
            Ok(p) => Error::io(&p, e),
            Err(err) => err,
        }
    }
}

#[cfg(unix)]
fn write_at(file: &File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
}

#[cfg(windows)]
fn write_at(file: &File, mut bytes: &[u8], mut offset: u64) -> std::io::Result<()> {
    while !bytes.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_write(file, bytes, offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[n..];
        offset += n as u64;
    }
    Ok(())
}
