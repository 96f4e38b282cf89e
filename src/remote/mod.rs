//! Sessions in object storage (the `remote` feature).
//!
//! A session's root may be a URL: `s3://bucket/prefix`, `gs://bucket/prefix`,
//! `az://container/prefix` (and the other spellings `object_store` accepts:
//! `s3a://`, `abfs(s)://`, `adl://`, `azure://` and the `https://` hosts of
//! the clouds), `http(s)://host/path`, or `file:///absolute/path`. This
//! module holds the parts every remote read builds on:
//!
//! - [`RemoteUrl`]: a parsed, checked URL, with its scheme, bucket (or host)
//!   and key prefix, and the local folder it is cached in
//!   ([`RemoteUrl::cache_path`]).
//! - [`build_store`]: the `object_store` client for a URL, configured from
//!   the usual environment variables (`AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`,
//!   `AWS_ACCESS_KEY_ID`, `GOOGLE_APPLICATION_CREDENTIALS`,
//!   `AZURE_STORAGE_ACCOUNT_NAME`, ...) with few, short retries
//!   ([`RemoteOptions`]), so that a dead server fails fast.
//! - [`block_on`]: runs a request on onedata's own lazily created runtime,
//!   which a forked child recreates for itself.
//!
//! Every fault is an [`ErrorKind::Remote`](crate::ErrorKind::Remote) naming
//! the URL and a [`RemoteFault`](crate::RemoteFault) saying what to do.
//!
//! ```
//! use onedata::remote::{RemoteUrl, Scheme};
//!
//! let url = RemoteUrl::parse("s3://lab-data/sessions/mouse1").unwrap();
//! assert_eq!(url.scheme(), Scheme::S3);
//! assert_eq!(url.bucket(), "lab-data");
//! assert_eq!(url.prefix(), "sessions/mouse1");
//! let cache = url.cache_path(std::path::Path::new("/tmp/cache")).unwrap();
//! assert_eq!(cache, std::path::Path::new("/tmp/cache/lab-data/sessions/mouse1"));
//!
//! let err = RemoteUrl::parse("s3://lab-data/sessions/../other").unwrap_err();
//! assert_eq!(err.url(), Some("s3://lab-data/sessions/../other"));
//! ```

mod address;
mod cache;
mod object;
mod rows;
mod runtime;
mod store;
mod upload;

pub use address::{RemoteUrl, Scheme};
pub(crate) use cache::mtime_ns;
pub use cache::CopyLock;
pub use object::{Remote, RemoteEntry, RemoteHeader, PARALLEL_PARTS, PART_SIZE};
pub use rows::COALESCE_GAP;
pub use runtime::block_on;
pub use store::{
    build_store, cache_root, cache_root_from, map_store_error, RemoteOptions, DEFAULT_RETRIES,
    DEFAULT_RETRY_TIMEOUT,
};
pub use upload::MULTIPART_THRESHOLD;

/// The `object_store` crate onedata is built with, for callers that need
/// its types (paths, options, the `ObjectStoreExt` methods).
pub use object_store;
