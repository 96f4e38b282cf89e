//! [`Remote`]: one object (or key prefix) in a store, the client that
//! reaches it and the cache folder its copy goes to; its listings, HEAD and
//! DELETE requests, and the conditional ranged GET every read is made of.
//!
//! The rest of `Remote` is in the files of each concern: the download
//! cache ([`Remote::fetch`], in `cache.rs`), reads of `.npy` headers and
//! rows ([`Remote::npy_header`], [`Remote::read_rows`], in `rows.rs`) and
//! uploads ([`Remote::upload`], in `upload.rs`).

use std::future::Future;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use object_store::path::Path as ObjPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};
use parking_lot::Mutex;

use super::runtime::block_on_for;
use super::{build_store, cache_root, RemoteOptions, RemoteUrl, Scheme};
use crate::error::{Error, Result};
use crate::npy::Header;
use crate::RemoteFault;

/// The size of the parts a download fetches in parallel, and of the first
/// request, which also learns the object's size and ETag.
pub const PART_SIZE: u64 = 8 << 20;

/// How many parts of one download are in flight at once.
pub const PARALLEL_PARTS: usize = 8;

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

/// Which version of an object a read is of: the first answer's size, ETag
/// and time, which later requests are conditional on.
#[derive(Debug, Clone)]
pub(super) struct Version {
    pub(super) size: u64,
    pub(super) etag: Option<String>,
    pub(super) modified: Option<chrono::DateTime<chrono::Utc>>,
}

/// A GET whose answer's headers have come and been checked: the object's
/// version and the length of the body still to be read.
pub(super) struct Answer {
    result: object_store::GetResult,
    pub(super) version: Version,
    expected: u64,
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
    pub(super) url: RemoteUrl,
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) cache_root: PathBuf,
    /// The endpoint the store is reached at, recorded in sidecars.
    pub(super) endpoint: String,
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

    pub(super) fn path(&self) -> &ObjPath {
        self.url.object_path()
    }

    pub(super) fn fail(&self, error: object_store::Error) -> Error {
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

    pub(super) fn fault(&self, fault: RemoteFault) -> Error {
        Error::remote(self.url.as_str(), fault)
    }

    /// Runs a request of this object on onedata's runtime
    /// ([`block_on`](super::block_on)); a runtime that cannot be started is
    /// [`RemoteFault::Runtime`] naming this URL.
    pub(super) fn block_on<F>(&self, future: F) -> Result<F::Output>
    where
        F: Future + Send,
        F::Output: Send,
    {
        block_on_for(self.url.as_str(), future)
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
        let listed = self
            .block_on(self.store.list_with_delimiter(Some(&prefix)))?
            .map_err(|e| self.fail(e))?;
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
        let meta = self
            .block_on(self.store.head(&path))?
            .map_err(|e| self.fail(e))?;
        Ok(RemoteEntry {
            name: meta.location.filename().unwrap_or_default().to_string(),
            size: meta.size,
            etag: meta.e_tag,
        })
    }

    /// One GET of `range`, conditional on `version` when given: the bytes
    /// and the object's version. A failed condition is
    /// [`RemoteFault::Changed`]; fewer bytes than asked for (within the
    /// object) is [`RemoteFault::Truncated`]; with `version`, an object
    /// whose size is not the version's is [`RemoteFault::Changed`].
    pub(super) async fn get_range(
        &self,
        range: Range<u64>,
        version: Option<&Version>,
    ) -> Result<(Vec<u8>, Version)> {
        let answer = self.open_range(range, version).await?;
        let got = answer.version.clone();
        Ok((self.read_body(answer).await?, got))
    }

    /// The first half of [`Remote::get_range`]: the GET sent and its
    /// answer's headers checked, the body still to come (a download starts
    /// its other parts as soon as the first answer gives the size).
    pub(super) async fn open_range(
        &self,
        range: Range<u64>,
        version: Option<&Version>,
    ) -> Result<Answer> {
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
        Ok(Answer {
            result,
            version: got,
            expected,
        })
    }

    /// The second half of [`Remote::get_range`]: the answer's body, exactly
    /// the bytes its range holds.
    pub(super) async fn read_body(&self, answer: Answer) -> Result<Vec<u8>> {
        let expected = answer.expected;
        let mut bytes = Vec::new();
        bytes
            .try_reserve_exact(usize::try_from(expected).unwrap_or(usize::MAX))
            .map_err(|_| Error::out_of_memory(self.url.as_str().to_string(), expected.into()))?;
        let mut stream = answer.result.into_stream();
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
        Ok(bytes)
    }

    /// Deletes the object, and its copy and sidecar in the cache.
    pub fn delete(&self) -> Result<()> {
        let path = self.path().clone();
        self.block_on(self.store.delete(&path))?
            .map_err(|e| self.fail(e))?;
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
