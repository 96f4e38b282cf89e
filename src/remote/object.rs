//! [`Remote`]: one object (or key prefix) in a store, with its verified
//! local copy in the download cache.
//!
//! Reads take three shapes:
//!
//! - [`Remote::fetch`] downloads a whole object into the cache, in parts
//!   fetched in parallel, each checked against the first part's ETag
//!   (`If-Match`), into a temporary file that is renamed only once every
//!   byte has come. A sidecar beside it records the URL, ETag, size and
//!   modification time; while they match the file, a fetch makes no
//!   request.
//! - [`Remote::npy_header`] reads a `.npy` header with one small ranged GET.
//! - [`Remote::read_rows`] and [`Remote::read_row_ranges`] read rows of a
//!   dense array without downloading the rest, ranges close together
//!   merged into one request.

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjPath;
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    UpdateVersion, WriteMultipart,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::{block_on, build_store, cache_root, RemoteOptions, RemoteUrl, Scheme};
use crate::error::{Error, Result};
use crate::npy::{Dtype, Header, NpyArray};
use crate::RemoteFault;

/// The size of the parts a download fetches in parallel, and of the first
/// request, which also learns the object's size and ETag.
pub const PART_SIZE: u64 = 8 << 20;

/// How many parts of one download are in flight at once.
pub const PARALLEL_PARTS: usize = 8;

/// Row ranges whose gap is at most this many bytes are read by one request.
/// Smaller than `object_store`'s 1 MiB: on the loopback server of the bench
/// the bytes a merge adds cost more than the requests it saves (see the
/// README's remote figures); over a slow link a larger gap pays.
pub const COALESCE_GAP: u64 = 256 << 10;

/// How many row-range requests of one read are in flight at once.
pub const RANGE_PARALLEL: usize = 32;

/// Files past this size are uploaded in parts (multipart upload).
pub const MULTIPART_THRESHOLD: u64 = 64 << 20;

/// How many bytes of a `.npy` file the first header request asks for.
const HEADER_PROBE: u64 = 4096;

/// What a store lists for one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    /// The last segment of its key (`mpci.roiActivityF.npy`).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag, when the store gives one.
    pub etag: Option<String>,
}

/// A `.npy` header read from a store, with the object's size and ETag.
#[derive(Debug, Clone)]
pub struct RemoteHeader {
    /// The parsed, checked header.
    pub header: Header,
    /// The object's size in bytes.
    pub size: u64,
    /// The object's ETag, when the store gives one.
    pub etag: Option<String>,
}

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

/// Which version of an object a read is of: the first answer's size, ETag
/// and time, which later requests are conditional on.
#[derive(Debug, Clone)]
struct Version {
    size: u64,
    etag: Option<String>,
    modified: Option<chrono::DateTime<chrono::Utc>>,
}

/// The lock of a cached copy ([`Remote::lock_copy`]), held until dropped.
#[derive(Debug)]
pub struct CopyLock {
    _file: File,
}

/// One object, or a key prefix, in a store: its URL, the client that
/// reaches it, and the cache folder its copies go to. Cheap to clone;
/// clones share the client.
///
/// ```no_run
/// # fn main() -> onedata::Result<()> {
/// use onedata::remote::Remote;
/// let session = Remote::open("s3://lab-data/sessions/ATL001/2024-05-03/701")?;
/// for entry in session.join("oneData")?.list()? {
///     println!("{} {}", entry.name, entry.size);
/// }
/// let spks = session.join("oneData/mpci.roiActivityDeconvolvedOasis.npy")?;
/// let first = spks.read_rows(0..100)?; // two small GETs, no download
/// let local = spks.fetch(false)?; // the whole file, into the cache
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Remote {
    url: RemoteUrl,
    store: Arc<dyn ObjectStore>,
    cache_root: PathBuf,
    /// The endpoint the store is reached at, recorded in sidecars.
    endpoint: String,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.url.as_str())
            .field("cache_root", &self.cache_root)
            .finish()
    }
}

/// Clients built in this process, by store and options: one connection
/// pool per bucket. A forked child finds its parent's entries and builds
/// its own (their connections belong to the parent's runtime).
type StoreKey = (u32, String, String);
static STORES: Mutex<Vec<(StoreKey, Arc<dyn ObjectStore>)>> = Mutex::new(Vec::new());

fn shared_store(url: &RemoteUrl, options: &RemoteOptions) -> Result<Arc<dyn ObjectStore>> {
    let origin = match url.scheme() {
        Scheme::Http => url.url()[..url::Position::BeforePath].to_string(),
        s => format!("{}://{}", s.as_str(), url.bucket()),
    };
    let key = (std::process::id(), origin, format!("{options:?}"));
    let mut stores = STORES.lock();
    if let Some((_, store)) = stores.iter().find(|(k, _)| *k == key) {
        return Ok(store.clone());
    }
    // Entries of a parent process are never dropped: their drop would
    // touch a runtime whose threads do not exist here.
    let store = build_store(url, options)?;
    stores.push((key, store.clone()));
    Ok(store)
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
    /// The object or prefix at `url`, reached with a client configured from
    /// the environment ([`build_store`], [`RemoteOptions::from_env`]) and
    /// cached under [`cache_root`].
    ///
    /// # Errors
    ///
    /// [`RemoteFault::InvalidUrl`] for a URL onedata refuses,
    /// [`RemoteFault::Config`] for a client that cannot be configured,
    /// [`RemoteFault::Cache`] when no cache folder is known.
    pub fn open(url: &str) -> Result<Remote> {
        Remote::open_with(url, &RemoteOptions::from_env()?, cache_root()?)
    }

    /// [`Remote::open`] with the client options and the cache folder given.
    pub fn open_with(url: &str, options: &RemoteOptions, cache_root: PathBuf) -> Result<Remote> {
        let url = RemoteUrl::parse(url)?;
        let store = shared_store(&url, options)?;
        let endpoint = endpoint_of(&url, options);
        Ok(Remote {
            url,
            store,
            cache_root,
            endpoint,
        })
    }

    /// The URL.
    pub fn url(&self) -> &RemoteUrl {
        &self.url
    }

    /// The cache folder this object's copy goes under.
    pub fn cache_root(&self) -> &Path {
        &self.cache_root
    }

    /// The object or prefix `relative` (`"oneData/x.npy"`) below this one,
    /// on the same client. Each segment is checked as [`RemoteUrl::parse`]
    /// checks a URL's.
    pub fn join(&self, relative: &str) -> Result<Remote> {
        let base = self.url.as_str().trim_end_matches('/');
        let url = RemoteUrl::parse(&format!("{base}/{relative}"))?;
        Ok(Remote {
            url,
            store: self.store.clone(),
            cache_root: self.cache_root.clone(),
            endpoint: self.endpoint.clone(),
        })
    }

    /// The local path of this object's copy in the cache:
    /// `<cache>/<bucket>/<key...>`.
    pub fn cache_path(&self) -> Result<PathBuf> {
        self.url.cache_path(&self.cache_root)
    }

    fn path(&self) -> &ObjPath {
        self.url.object_path()
    }

    fn fail(&self, error: object_store::Error) -> Error {
        let e = super::map_store_error(self.url.as_str(), error);
        // S3 answers 404 for a missing bucket as for a missing key; its body
        // tells them apart.
        if let Some(RemoteFault::NotFound | RemoteFault::Request { .. }) = e.remote_fault() {
            if e.to_string().contains("NoSuchBucket") {
                return self.fault(RemoteFault::NoBucket {
                    bucket: self.url.bucket().to_string(),
                });
            }
        }
        e
    }

    fn fault(&self, fault: RemoteFault) -> Error {
        Error::remote(self.url.as_str(), fault)
    }

    /// The objects directly under this prefix (one level, as a folder
    /// listing), sorted by name. A prefix with nothing under it lists
    /// empty; a missing bucket is [`RemoteFault::NoBucket`].
    pub fn list(&self) -> Result<Vec<RemoteEntry>> {
        self.listing().map(|(objects, _)| objects)
    }

    /// The "folders" directly under this prefix (the next key segments
    /// that have objects below them), sorted.
    pub fn list_dirs(&self) -> Result<Vec<String>> {
        self.listing().map(|(_, dirs)| dirs)
    }

    /// [`Remote::list`] and [`Remote::list_dirs`] from one listing.
    pub fn listing(&self) -> Result<(Vec<RemoteEntry>, Vec<String>)> {
        let prefix = self.path().clone();
        let listed =
            block_on(self.store.list_with_delimiter(Some(&prefix))).map_err(|e| self.fail(e))?;
        let mut entries: Vec<RemoteEntry> = listed
            .objects
            .into_iter()
            .filter_map(|m| {
                Some(RemoteEntry {
                    name: m.location.filename()?.to_string(),
                    size: m.size,
                    etag: m.e_tag,
                })
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let mut dirs: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        dirs.sort();
        Ok((entries, dirs))
    }

    /// The object's size and ETag, with one HEAD request.
    pub fn head(&self) -> Result<RemoteEntry> {
        let path = self.path().clone();
        let meta = block_on(self.store.head(&path)).map_err(|e| self.fail(e))?;
        Ok(RemoteEntry {
            name: meta.location.filename().unwrap_or_default().to_string(),
            size: meta.size,
            etag: meta.e_tag,
        })
    }

    fn sidecar_path(local: &Path) -> PathBuf {
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
    fn write_sidecar(&self, local: &Path, etag: Option<String>) -> Result<()> {
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
    /// A download reads the first 8 MiB with one GET, which also gives the
    /// size and ETag, then the rest in 8 MiB parts, 8 at a time, each
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

    /// One GET of `range`, conditional on `version` when given: the bytes
    /// and the object's version. A failed condition is
    /// [`RemoteFault::Changed`]; fewer bytes than asked for (within the
    /// object) is [`RemoteFault::Truncated`]; with `version`, an object
    /// whose size is not the version's is [`RemoteFault::Changed`].
    async fn get_range(
        &self,
        range: Range<u64>,
        version: Option<&Version>,
    ) -> Result<(Vec<u8>, Version)> {
        let conditions = |options: GetOptions| match version {
            Some(Version {
                etag: Some(etag), ..
            }) => GetOptions {
                if_match: Some(etag.clone()),
                ..options
            },
            Some(Version { modified, .. }) => GetOptions {
                if_unmodified_since: *modified,
                ..options
            },
            None => options,
        };
        let options = conditions(GetOptions {
            range: Some(GetRange::Bounded(range.clone())),
            ..GetOptions::default()
        });
        let mut answer = self.store.get_opts(self.path(), options).await;
        if range.start == 0 && answer.as_ref().is_err_and(is_unsatisfiable) {
            // An empty object has no byte 0 to start a range at: ask for
            // all of it.
            answer = self
                .store
                .get_opts(self.path(), conditions(GetOptions::default()))
                .await;
        }
        let result = match answer {
            Ok(r) => r,
            Err(object_store::Error::Precondition { source, .. }) => {
                return Err(self.fault(RemoteFault::Changed {
                    message: source.to_string(),
                }))
            }
            Err(e) => return Err(self.fail(e)),
        };
        let got = Version {
            size: result.meta.size,
            etag: result.meta.e_tag.clone(),
            modified: Some(result.meta.last_modified),
        };
        if let Some(v) = version {
            if v.size != got.size {
                return Err(self.fault(RemoteFault::Changed {
                    message: format!("its size went from {} to {} bytes", v.size, got.size),
                }));
            }
        }
        let expected = range.end.min(got.size).saturating_sub(range.start);
        let mut bytes = Vec::new();
        bytes
            .try_reserve_exact(usize::try_from(expected).unwrap_or(usize::MAX))
            .map_err(|_| Error::out_of_memory(self.url.as_str().to_string(), expected.into()))?;
        let mut stream = result.into_stream();
        loop {
            match stream.next().await {
                None => break,
                Some(Ok(chunk)) => {
                    let room = (expected as usize).saturating_sub(bytes.len());
                    // More than the range holds (a server that ignored the
                    // range): keep what was asked for.
                    bytes.extend_from_slice(&chunk[..room.min(chunk.len())]);
                    if chunk.len() >= room {
                        break;
                    }
                }
                Some(Err(object_store::Error::Precondition { source, .. })) => {
                    return Err(self.fault(RemoteFault::Changed {
                        message: source.to_string(),
                    }))
                }
                Some(Err(_)) => {
                    return Err(self.fault(RemoteFault::Truncated {
                        expected,
                        received: bytes.len() as u64,
                    }))
                }
            }
        }
        if (bytes.len() as u64) < expected {
            return Err(self.fault(RemoteFault::Truncated {
                expected,
                received: bytes.len() as u64,
            }));
        }
        Ok((bytes, got))
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
        block_on(async {
            let (first, version) = self.get_range(0..PART_SIZE, None).await?;
            let size = version.size;
            write_at(file, &first, 0).map_err(|e| self.io_fault(e))?;
            // The part starts, made one at a time (never a list sized by
            // what the server claims).
            let starts = std::iter::successors(Some(PART_SIZE), |s| s.checked_add(PART_SIZE))
                .take_while(|s| *s < size);
            let version = &version;
            futures::stream::iter(starts)
                .map(|start| async move {
                    let end = start.saturating_add(PART_SIZE).min(size);
                    let (bytes, _) = self.get_range(start..end, Some(version)).await?;
                    write_at(file, &bytes, start).map_err(|e| self.io_fault(e))
                })
                .buffer_unordered(PARALLEL_PARTS)
                .try_collect::<Vec<()>>()
                .await?;
            file.set_len(size).map_err(|e| self.io_fault(e))?;
            Ok(version.etag.clone())
        })
    }

    fn io_fault(&self, e: std::io::Error) -> Error {
        match self.cache_path() {
            Ok(p) => Error::io(&p, e),
            Err(err) => err,
        }
    }

    /// The `.npy` header of this object, read with one ranged GET of its
    /// first 4 KiB (a second when the header is longer).
    ///
    /// # Errors
    ///
    /// The remote faults of [`Remote::fetch`], and
    /// [`ErrorKind::Invalid`](crate::ErrorKind::Invalid) naming the URL for
    /// a header that is not a valid `.npy` header or promises more data
    /// than the object holds.
    pub fn npy_header(&self) -> Result<RemoteHeader> {
        block_on(self.npy_header_async()).map(|(header, _)| header)
    }

    async fn npy_header_async(&self) -> Result<(RemoteHeader, Version)> {
        let label = Path::new(self.url.as_str());
        let (mut bytes, version) = self.get_range(0..HEADER_PROBE, None).await?;
        let needed = Header::required_len(&bytes).map_err(|e| Error::invalid(label, e))?;
        // Past the longest header `Header::parse` accepts, the parse below
        // refuses it: no second request for a forged length.
        let longest = 12 + 4 * crate::npy::MAX_HEADER_CHARS;
        if needed > bytes.len() && needed <= longest && (needed as u64) <= version.size {
            let (rest, _) = self
                .get_range(bytes.len() as u64..needed as u64, Some(&version))
                .await?;
            bytes.extend_from_slice(&rest);
        }
        let header = Header::parse(&bytes).map_err(|e| Error::invalid(label, e))?;
        if let Some(data) = header.data_len() {
            let have = version.size.saturating_sub(header.data_offset() as u64);
            if (data as u64) > have {
                return Err(Error::invalid(
                    label,
                    crate::error::Fault::Truncated {
                        offset: header.data_offset() as u64,
                        expected: data as u64,
                        actual: have,
                    },
                ));
            }
        }
        let remote = RemoteHeader {
            header,
            size: version.size,
            etag: version.etag.clone(),
        };
        Ok((remote, version))
    }

    /// Rows `rows` (along the first axis) of the dense `.npy` array at this
    /// URL, read with ranged GETs: one for the header, one for the rows.
    /// The result owns its memory.
    ///
    /// # Errors
    ///
    /// As [`Remote::read_row_ranges`].
    pub fn read_rows(&self, rows: Range<usize>) -> Result<NpyArray> {
        let mut arrays = self.read_row_ranges(std::slice::from_ref(&rows))?;
        arrays
            .pop()
            .ok_or_else(|| Error::argument(format!("{}: no rows were read", self.url.as_str())))
    }

    /// The row ranges `ranges` of the dense `.npy` array at this URL, one
    /// array each, in the order asked. One GET reads the header; the rows
    /// are read by ranged GETs, ranges at most [`COALESCE_GAP`] apart
    /// merged into one request of at most [`PART_SIZE`] (a range longer
    /// than that is one request of its own), up to [`RANGE_PARALLEL`] requests at a time,
    /// each `If-Match` the header's ETag (a file rewritten meanwhile is
    /// [`RemoteFault::Changed`], never a mix of two versions). Empty ranges
    /// make no request.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument)
    /// for a range past the rows or backwards, for an object array, or for
    /// a Fortran-order array (whose rows are not contiguous: fetch the
    /// whole file); the remote faults of [`Remote::fetch`].
    pub fn read_row_ranges(&self, ranges: &[Range<usize>]) -> Result<Vec<NpyArray>> {
        block_on(async {
            let (header, version) = self.npy_header_async().await?;
            self.rows_of(&header, &version, ranges).await
        })
    }

    /// [`Remote::read_row_ranges`] with the header already read.
    pub fn read_row_ranges_with(
        &self,
        header: &RemoteHeader,
        ranges: &[Range<usize>],
    ) -> Result<Vec<NpyArray>> {
        let version = Version {
            size: header.size,
            etag: header.etag.clone(),
            modified: None,
        };
        block_on(self.rows_of(header, &version, ranges))
    }

    async fn rows_of(
        &self,
        header: &RemoteHeader,
        version: &Version,
        ranges: &[Range<usize>],
    ) -> Result<Vec<NpyArray>> {
        let label = Path::new(self.url.as_str());
        let h = &header.header;
        let (byte_ranges, _) = row_byte_ranges(self.url.as_str(), h, ranges)?;
        let merged = merge_ranges(&byte_ranges, COALESCE_GAP, PART_SIZE);
        let fetched: Vec<Vec<u8>> = futures::stream::iter(merged.iter().cloned())
            .map(|r| async move { self.get_range(r, Some(version)).await.map(|(b, _)| b) })
            .buffered(RANGE_PARALLEL)
            .try_collect()
            .await?;
        let mut arrays = Vec::with_capacity(ranges.len());
        for (rows, bytes) in ranges.iter().zip(&byte_ranges) {
            let slice = slice_of(&merged, &fetched, bytes).ok_or_else(|| {
                self.fault(RemoteFault::Truncated {
                    expected: bytes.end - bytes.start,
                    received: 0,
                })
            })?;
            let mut shape = h.shape().to_vec();
            shape[0] = rows.end - rows.start;
            let part = Header::new(h.dtype().clone(), false, &shape);
            let mut file = part.to_bytes();
            file.extend_from_slice(slice);
            arrays.push(NpyArray::from_bytes(label, &file)?);
        }
        Ok(arrays)
    }

    /// Uploads the local file `local` as this object so that readers never
    /// see part of it: one PUT up to [`MULTIPART_THRESHOLD`], and a
    /// multipart upload past it, which the store makes visible only when
    /// complete (and which is aborted on failure). With `expected_etag`
    /// (the ETag this cache last saw the object at), the PUT is `If-Match`
    /// it; a multipart upload checks it with a HEAD first (another writer
    /// could still slip in between the HEAD and the completion). When
    /// `local` is this object's cache path, its sidecar is updated, so that
    /// the next load makes no request.
    ///
    /// # Errors
    ///
    /// [`RemoteFault::Precondition`] when the object changed since the
    /// cache last saw it (another writer's save would be lost: load it
    /// again), the other remote faults, and I/O errors reading `local`.
    pub fn upload(&self, local: &Path, expected_etag: Option<String>) -> Result<RemoteEntry> {
        let meta = std::fs::metadata(local).map_err(|e| Error::io(local, e))?;
        let size = meta.len();
        let path = self.path().clone();
        let etag = if size <= MULTIPART_THRESHOLD {
            let bytes = std::fs::read(local).map_err(|e| Error::io(local, e))?;
            let conditional = expected_etag.is_some();
            let mode = match expected_etag {
                Some(e_tag) => PutMode::Update(UpdateVersion {
                    e_tag: Some(e_tag),
                    version: None,
                }),
                None => PutMode::Overwrite,
            };
            let payload = PutPayload::from(bytes);
            let options = PutOptions {
                mode,
                ..PutOptions::default()
            };
            let put = block_on(self.store.put_opts(&path, payload.clone(), options));
            match put {
                Err(object_store::Error::Precondition { .. })
                    if conditional && self.is_gone()? =>
                {
                    // Deleted since this cache saw it (another machine's
                    // clear_one_data): nothing to lose, so create it anew.
                    let create = PutOptions {
                        mode: PutMode::Create,
                        ..PutOptions::default()
                    };
                    block_on(self.store.put_opts(&path, payload, create))
                }
                other => other,
            }
            .map_err(|e| self.fail(e))?
            .e_tag
        } else {
            if let Some(expected) = &expected_etag {
                let now = match self.head() {
                    Ok(now) => Some(now.etag),
                    // Deleted since this cache saw it: nothing to lose.
                    Err(e) if matches!(e.remote_fault(), Some(RemoteFault::NotFound)) => None,
                    Err(e) => return Err(e),
                };
                if let Some(now) = now.filter(|now| now.as_ref() != Some(expected)) {
                    return Err(self.fault(RemoteFault::Precondition {
                        message: format!(
                            "its ETag is {} where this cache last saw {expected}",
                            now.as_deref().unwrap_or("none (deleted)")
                        ),
                    }));
                }
            }
            block_on(self.multipart(local, &path))?.e_tag
        };
        if self.cache_path().is_ok_and(|p| p == local) {
            self.write_sidecar(local, etag.clone())?;
        }
        Ok(RemoteEntry {
            name: path.filename().unwrap_or_default().to_string(),
            size,
            etag,
        })
    }

    async fn multipart(&self, local: &Path, path: &ObjPath) -> Result<object_store::PutResult> {
        let upload = self
            .store
            .put_multipart(path)
            .await
            .map_err(|e| self.fail(e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE as usize);
        let sent: Result<()> = async {
            let mut file = File::open(local).map_err(|e| Error::io(local, e))?;
            let mut buf = vec![0u8; PART_SIZE as usize];
            loop {
                let n =
                    std::io::Read::read(&mut file, &mut buf).map_err(|e| Error::io(local, e))?;
                if n == 0 {
                    return Ok(());
                }
                writer
                    .wait_for_capacity(PARALLEL_PARTS)
                    .await
                    .map_err(|e| self.fail(e))?;
                writer.write(&buf[..n]);
            }
        }
        .await;
        match sent {
            Ok(()) => writer.finish().await.map_err(|e| self.fail(e)),
            Err(e) => {
                // The store keeps the parts of an upload never completed:
                // abort it (best effort; the error is the first fault).
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }

    /// Whether the object is missing from the store (one HEAD).
    fn is_gone(&self) -> Result<bool> {
        match self.head() {
            Ok(_) => Ok(false),
            Err(e) if matches!(e.remote_fault(), Some(RemoteFault::NotFound)) => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Deletes the object, and its copy and sidecar in the cache.
    pub fn delete(&self) -> Result<()> {
        let path = self.path().clone();
        block_on(self.store.delete(&path)).map_err(|e| self.fail(e))?;
        if let Ok(local) = self.cache_path() {
            let _ = std::fs::remove_file(Self::sidecar_path(&local));
            let _ = std::fs::remove_file(&local);
        }
        Ok(())
    }
}

/// Whether `error` is a 416: a range that starts past the object's end.
fn is_unsatisfiable(error: &object_store::Error) -> bool {
    let text = error.to_string();
    text.contains("416 Range Not Satisfiable") || text.contains("<Code>InvalidRange</Code>")
}

/// The endpoint `url`'s store is reached at, when the configuration names
/// one (a store's own default endpoint is the empty string).
fn endpoint_of(url: &RemoteUrl, options: &RemoteOptions) -> String {
    let keys: &[&str] = match url.scheme() {
        Scheme::S3 => &[
            "aws_endpoint",
            "aws_endpoint_url",
            "endpoint",
            "endpoint_url",
        ],
        Scheme::Azure => &["azure_storage_endpoint", "azure_endpoint", "endpoint"],
        Scheme::Gcs => &["google_base_url", "base_url"],
        _ => &[],
    };
    let env: &[&str] = match url.scheme() {
        Scheme::S3 => &["AWS_ENDPOINT_URL", "AWS_ENDPOINT"],
        Scheme::Azure => &["AZURE_STORAGE_ENDPOINT", "AZURE_ENDPOINT"],
        Scheme::Gcs => &["GOOGLE_BASE_URL"],
        _ => &[],
    };
    let configured = options
        .config
        .iter()
        .rev()
        .find(|(k, _)| keys.contains(&k.to_ascii_lowercase().as_str()))
        .map(|(_, v)| v.clone());
    configured
        .or_else(|| env.iter().find_map(|k| std::env::var(k).ok()))
        .unwrap_or_default()
}

/// `ranges` sorted and merged: ranges at most `gap` apart become one, as
/// long as the merged range stays within `cap` bytes (a single range longer
/// than `cap` stays whole). Empty ranges are left out.
fn merge_ranges(ranges: &[Range<u64>], gap: u64, cap: u64) -> Vec<Range<u64>> {
    let mut sorted: Vec<Range<u64>> = ranges.iter().filter(|r| r.start < r.end).cloned().collect();
    sorted.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<u64>> = Vec::new();
    for r in sorted {
        match merged.last_mut() {
            Some(last)
                if r.start <= last.end.saturating_add(gap)
                    && r.end.max(last.end) - last.start <= cap =>
            {
                last.end = last.end.max(r.end);
            }
            _ => merged.push(r),
        }
    }
    merged
}

/// The bytes of `range` in what was fetched for the merged ranges
/// `merged` (`None` if no merged range holds it whole). An empty range is
/// empty.
fn slice_of<'a>(
    merged: &[Range<u64>],
    fetched: &'a [Vec<u8>],
    range: &Range<u64>,
) -> Option<&'a [u8]> {
    if range.start >= range.end {
        return Some(&[]);
    }
    let i = merged
        .partition_point(|m| m.start <= range.start)
        .checked_sub(1)?;
    let m = &merged[i];
    let start = usize::try_from(range.start.checked_sub(m.start)?).ok()?;
    let end = usize::try_from(range.end.checked_sub(m.start)?).ok()?;
    fetched.get(i)?.get(start..end)
}

/// The byte ranges of `ranges` of rows of the array `header` describes,
/// and the bytes of one row.
fn row_byte_ranges(
    url: &str,
    header: &Header,
    ranges: &[Range<usize>],
) -> Result<(Vec<Range<u64>>, u64)> {
    let refuse = |why: String| Err(Error::argument(format!("{url}: {why}")));
    if *header.dtype() == Dtype::Object {
        return refuse("an object array has no rows to read by range: fetch the file".into());
    }
    if header.fortran_order() && header.shape().len() > 1 {
        return refuse(
            "its rows are not contiguous (a Fortran-order array): fetch the whole file".into(),
        );
    }
    let Some(&rows) = header.shape().first() else {
        return refuse("a 0-d array has no rows".into());
    };
    let row_elems: usize = header.shape()[1..].iter().product();
    let Some(item) = header.dtype().itemsize() else {
        return refuse("its dtype has no fixed item size".into());
    };
    let row_bytes = (row_elems as u64).saturating_mul(item as u64);
    let offset = header.data_offset() as u64;
    let mut out = Vec::with_capacity(ranges.len());
    for r in ranges {
        if r.start > r.end || r.end > rows {
            return refuse(format!(
                "rows {}..{} are not within its {rows} rows",
                r.start, r.end
            ));
        }
        let start = (r.start as u64).checked_mul(row_bytes);
        let end = (r.end as u64).checked_mul(row_bytes);
        match (start, end) {
            (Some(s), Some(e)) => out.push(offset + s..offset + e),
            _ => return refuse("its size overflows".into()),
        }
    }
    Ok((out, row_bytes))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_ranges_merge_within_the_cap_and_empty_ones_drop() {
        let merged = merge_ranges(&[10..20, 0..5, 30..40, 40..40, 100..200], 10, 50);
        assert_eq!(merged, [0..40, 100..200]);
        // The cap splits what the gap would merge; a long range stays whole.
        assert_eq!(merge_ranges(&[0..30, 35..60], 10, 50), [0..30, 35..60]);
        let long = std::iter::once(0..500).collect::<Vec<_>>();
        assert_eq!(merge_ranges(&long, 10, 50), long);
        let empty = std::iter::once(5..5).collect::<Vec<_>>();
        assert!(merge_ranges(&empty, 10, 50).is_empty());
    }

    #[test]
    fn each_range_is_sliced_from_its_merged_read() {
        let merged = vec![0..40, 100..200];
        let fetched = vec![(0..40u8).collect::<Vec<u8>>(), vec![7u8; 100]];
        assert_eq!(
            slice_of(&merged, &fetched, &(10..12)),
            Some(&[10u8, 11][..])
        );
        assert_eq!(
            slice_of(&merged, &fetched, &(150..152)),
            Some(&[7u8, 7][..])
        );
        assert_eq!(slice_of(&merged, &fetched, &(3..3)), Some(&[][..]));
        // Past what was fetched (a short answer): None, never a panic.
        let short = vec![vec![1u8; 5], vec![]];
        assert_eq!(slice_of(&merged, &short, &(10..12)), None);
        assert_eq!(slice_of(&merged, &fetched, &(50..60)), None);
    }
}
