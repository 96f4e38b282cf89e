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

/// Row ranges whose gap is at most this many bytes are read by one request
/// (`object_store`'s own default).
pub const COALESCE_GAP: u64 = object_store::OBJECT_STORE_COALESCE_DEFAULT;

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
    etag: Option<String>,
    size: u64,
    /// The cached file's modification time, in nanoseconds since the epoch:
    /// a file rewritten locally no longer matches.
    mtime_ns: u128,
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

fn mtime_ns(meta: &std::fs::Metadata) -> u128 {
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
        Ok(Remote {
            url,
            store,
            cache_root,
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
        let name = local
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        local.with_file_name(format!(".{name}.onedata-remote.json"))
    }

    /// The sidecar of `local`, if it describes the file as it is.
    fn valid_sidecar(&self, local: &Path) -> Option<Sidecar> {
        let text = std::fs::read(Self::sidecar_path(local)).ok()?;
        let sidecar: Sidecar = serde_json::from_slice(&text).ok()?;
        let meta = std::fs::metadata(local).ok()?;
        (sidecar.url == self.url.as_str()
            && meta.is_file()
            && meta.len() == sidecar.size
            && mtime_ns(&meta) == sidecar.mtime_ns)
            .then_some(sidecar)
    }

    /// Records that `local` is this object with `etag`.
    fn write_sidecar(&self, local: &Path, etag: Option<String>) -> Result<()> {
        let meta = std::fs::metadata(local).map_err(|e| Error::io(local, e))?;
        let sidecar = Sidecar {
            url: self.url.as_str().to_string(),
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

    /// The local path of a complete copy of this object, downloading it
    /// into the cache unless the cache holds one already.
    ///
    /// A cached copy whose sidecar matches it is used without any request;
    /// with `revalidate`, one HEAD checks that its ETag and size are still
    /// the object's, and a changed object is downloaded again.
    ///
    /// A download reads the first 8 MiB with one GET, which also gives the
    /// size and ETag, then the rest in 8 MiB parts, 8 at a time, each
    /// `If-Match` that ETag, into a temporary file beside the target. The
    /// file is renamed into place only when every byte has come; then the
    /// sidecar is written. An object that changes mid-download is
    /// downloaded again, once.
    ///
    /// # Errors
    ///
    /// [`RemoteFault::NotFound`], [`RemoteFault::NoBucket`],
    /// [`RemoteFault::Auth`], [`RemoteFault::Truncated`] (the answer ended
    /// early), [`RemoteFault::Changed`] (the object changed twice),
    /// [`RemoteFault::Request`]; I/O errors of the cache folder. No partial
    /// file is left under the target's name.
    pub fn fetch(&self, revalidate: bool) -> Result<PathBuf> {
        let local = self.cache_path()?;
        if let Some(sidecar) = self.valid_sidecar(&local) {
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

    /// One GET of `range`, `If-Match` `etag` when given: the bytes and
    /// the object's size and ETag. A 412 is [`RemoteFault::Changed`]; fewer
    /// bytes than asked for (within the object) is
    /// [`RemoteFault::Truncated`].
    async fn get_range(
        &self,
        range: Range<u64>,
        etag: Option<String>,
    ) -> Result<(Vec<u8>, u64, Option<String>)> {
        let options = GetOptions {
            if_match: etag,
            range: Some(GetRange::Bounded(range.clone())),
            ..GetOptions::default()
        };
        let result = match self.store.get_opts(self.path(), options).await {
            Ok(r) => r,
            Err(object_store::Error::Precondition { source, .. }) => {
                return Err(self.fault(RemoteFault::Changed {
                    message: source.to_string(),
                }))
            }
            Err(e) => return Err(self.fail(e)),
        };
        let size = result.meta.size;
        let etag = result.meta.e_tag.clone();
        let expected = range.end.min(size).saturating_sub(range.start);
        let mut bytes = Vec::new();
        bytes
            .try_reserve_exact(usize::try_from(expected).unwrap_or(usize::MAX))
            .map_err(|_| Error::out_of_memory(self.url.as_str().to_string(), expected.into()))?;
        let mut stream = result.into_stream();
        loop {
            match stream.next().await {
                None => break,
                Some(Ok(chunk)) => {
                    if (bytes.len() + chunk.len()) as u64 > expected {
                        // More than the range holds: a server that ignored
                        // the range. Keep what was asked for.
                        let keep = (expected as usize).saturating_sub(bytes.len());
                        bytes.extend_from_slice(&chunk[..keep.min(chunk.len())]);
                        break;
                    }
                    bytes.extend_from_slice(&chunk);
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
        Ok((bytes, size, etag))
    }

    /// Downloads the object into a temporary file beside `local`, then
    /// renames it over `local` and writes the sidecar.
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

    /// Writes the whole object into `file`; returns its ETag.
    fn download_into(&self, file: &File) -> Result<Option<String>> {
        block_on(async {
            let (first, size, etag) = self.get_range(0..PART_SIZE, None).await?;
            write_at(file, &first, 0).map_err(|e| self.io_fault(e))?;
            let mut starts = Vec::new();
            let mut at = PART_SIZE;
            while at < size {
                starts.push(at);
                at = at.saturating_add(PART_SIZE);
            }
            let etag_ref = &etag;
            futures::stream::iter(starts)
                .map(|start| async move {
                    let end = start.saturating_add(PART_SIZE).min(size);
                    let (bytes, part_size, _) =
                        self.get_range(start..end, etag_ref.clone()).await?;
                    if part_size != size {
                        return Err(self.fault(RemoteFault::Changed {
                            message: format!("its size went from {size} to {part_size} bytes"),
                        }));
                    }
                    write_at(file, &bytes, start).map_err(|e| self.io_fault(e))
                })
                .buffer_unordered(PARALLEL_PARTS)
                .try_collect::<Vec<()>>()
                .await?;
            file.set_len(size).map_err(|e| self.io_fault(e))?;
            Ok(etag)
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
    /// [`ErrorKind::InvalidFile`](crate::ErrorKind::InvalidFile) naming
    /// the URL for a header that is not a valid `.npy` header or promises
    /// more data than the object holds.
    pub fn npy_header(&self) -> Result<RemoteHeader> {
        block_on(self.npy_header_async())
    }

    async fn npy_header_async(&self) -> Result<RemoteHeader> {
        let label = Path::new(self.url.as_str());
        let (mut bytes, size, etag) = self.get_range(0..HEADER_PROBE, None).await?;
        let needed = Header::required_len(&bytes).map_err(|e| Error::invalid(label, e))?;
        if needed > bytes.len() && (needed as u64) <= size {
            let (rest, _, _) = self
                .get_range(bytes.len() as u64..needed as u64, etag.clone())
                .await?;
            bytes.extend_from_slice(&rest);
        }
        let header = Header::parse(&bytes).map_err(|e| Error::invalid(label, e))?;
        if let Some(data) = header.data_len() {
            let have = size.saturating_sub(header.data_offset() as u64);
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
        Ok(RemoteHeader { header, size, etag })
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
    /// merged into one request, up to 10 requests at a time, each
    /// `If-Match` the header's ETag (a file rewritten meanwhile is
    /// [`RemoteFault::Changed`], never a mix of two versions).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for a range past the rows or
    /// backwards, for an object array, or for a Fortran-order array (whose
    /// rows are not contiguous: fetch the whole file); the remote faults of
    /// [`Remote::fetch`].
    pub fn read_row_ranges(&self, ranges: &[Range<usize>]) -> Result<Vec<NpyArray>> {
        block_on(async {
            let header = self.npy_header_async().await?;
            self.rows_of(&header, ranges).await
        })
    }

    /// [`Remote::read_row_ranges`] with the header already read.
    pub fn read_row_ranges_with(
        &self,
        header: &RemoteHeader,
        ranges: &[Range<usize>],
    ) -> Result<Vec<NpyArray>> {
        block_on(self.rows_of(header, ranges))
    }

    async fn rows_of(
        &self,
        header: &RemoteHeader,
        ranges: &[Range<usize>],
    ) -> Result<Vec<NpyArray>> {
        let label = Path::new(self.url.as_str());
        let h = &header.header;
        let (byte_ranges, row_bytes) = row_byte_ranges(self.url.as_str(), h, ranges)?;
        let etag = header.etag.clone();
        let fetched = object_store::coalesce_ranges(
            &byte_ranges,
            |r| {
                let etag = etag.clone();
                async move { self.get_range(r, etag).await.map(|(b, _, _)| b.into()) }
            },
            COALESCE_GAP,
        )
        .await?;
        let mut arrays = Vec::with_capacity(ranges.len());
        for (rows, bytes) in ranges.iter().zip(fetched) {
            let bytes: &[u8] = &bytes;
            let n = rows.end - rows.start;
            if bytes.len() as u64 != (n as u64) * row_bytes {
                return Err(self.fault(RemoteFault::Truncated {
                    expected: (n as u64) * row_bytes,
                    received: bytes.len() as u64,
                }));
            }
            let mut shape = h.shape().to_vec();
            shape[0] = n;
            let part = Header::new(h.dtype().clone(), false, &shape);
            let mut file = part.to_bytes();
            file.extend_from_slice(bytes);
            arrays.push(NpyArray::from_bytes(label, &file)?);
        }
        Ok(arrays)
    }

    /// Uploads the local file `local` as this object so that readers never
    /// see part of it: one conditional PUT up to [`MULTIPART_THRESHOLD`]
    /// (`If-Match` the ETag the cache last saw, when it saw one), and a
    /// multipart upload past it, which the store makes visible only when
    /// complete. When `local` is this object's cache path, its sidecar is
    /// updated, so that the next load makes no request.
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
            let mode = match expected_etag {
                Some(e_tag) => PutMode::Update(UpdateVersion {
                    e_tag: Some(e_tag),
                    version: None,
                }),
                None => PutMode::Overwrite,
            };
            let options = PutOptions {
                mode,
                ..PutOptions::default()
            };
            let put = block_on(self.store.put_opts(&path, PutPayload::from(bytes), options));
            put.map_err(|e| self.fail(e))?.e_tag
        } else {
            block_on(async {
                let upload = self
                    .store
                    .put_multipart(&path)
                    .await
                    .map_err(|e| self.fail(e))?;
                let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE as usize);
                let mut file = File::open(local).map_err(|e| Error::io(local, e))?;
                let mut buf = vec![0u8; PART_SIZE as usize];
                loop {
                    let n = std::io::Read::read(&mut file, &mut buf)
                        .map_err(|e| Error::io(local, e))?;
                    if n == 0 {
                        break;
                    }
                    if let Err(e) = writer.wait_for_capacity(PARALLEL_PARTS).await {
                        return Err(self.fail(e));
                    }
                    writer.write(&buf[..n]);
                }
                writer.finish().await.map_err(|e| self.fail(e))
            })?
            .e_tag
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
