//! Faults of object storage: [`RemoteFault`], carried by
//! [`ErrorKind::Remote`](super::ErrorKind::Remote) with the URL concerned.

/// What went wrong with a session URL or a request to object storage.
///
/// Each message says what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteFault {
    /// The URL is not one onedata reads sessions from.
    #[error("not a session URL onedata can use: {reason}; give s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, http(s)://host/path or file:///absolute/path")]
    InvalidUrl {
        /// What is wrong with it.
        reason: String,
    },
    /// onedata was built without the `remote` feature, or the URL's scheme
    /// is read another way (a `file://` URL is a local folder).
    #[error("{0}")]
    Unsupported(String),
    /// The client for the store could not be configured.
    #[error("cannot configure the object store client: {message}; check the AWS_*, GOOGLE_* or AZURE_* environment variables (or ONEDATA_REMOTE_RETRIES)")]
    Config {
        /// What the client said.
        message: String,
    },
    /// The local cache folder for the URL cannot be had.
    #[error("no local cache folder: {reason}; set ONEDATA_CACHE_DIR to a writable folder")]
    Cache {
        /// Why.
        reason: String,
    },
    /// The store has no object at the URL.
    #[error("no such object")]
    NotFound,
    /// A conditional request failed: the object changed (its ETag no
    /// longer matches) or already exists.
    #[error("the object changed or already exists (a conditional request failed: {message}); load it again")]
    Precondition {
        /// What the store said.
        message: String,
    },
    /// The store refused the credentials, or the credentials do not allow
    /// the request.
    #[error("access denied ({message}); check the credentials in the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_ACCOUNT_KEY, ...)")]
    Auth {
        /// What the store said.
        message: String,
    },
    /// The bucket (or container) does not exist.
    #[error("no such bucket {bucket:?}; check the URL and the endpoint (AWS_ENDPOINT_URL)")]
    NoBucket {
        /// The bucket named by the URL.
        bucket: String,
    },
    /// An answer ended before the bytes it announced: the server stopped
    /// mid-download, or the object is shorter than its listed size.
    #[error("the answer ended after {received} of {expected} bytes (the server stopped mid-download, or the object is shorter than its size); nothing was kept in the cache: load it again")]
    Truncated {
        /// The bytes asked for.
        expected: u64,
        /// The bytes that came.
        received: u64,
    },
    /// The object changed while it was being read (its ETag no longer
    /// matched), and kept changing when it was read again.
    #[error("the object changed while it was read ({message}); nothing was kept in the cache: load it again once its writer is done")]
    Changed {
        /// What the store said.
        message: String,
    },
    /// A request failed (the server is unreachable, stopped mid-answer, or
    /// answered with an error) after the configured retries.
    #[error("request failed: {message}; check that the server is reachable (retries: ONEDATA_REMOTE_RETRIES)")]
    Request {
        /// What the client said.
        message: String,
    },
    /// onedata's runtime for requests (two tokio worker threads) could not
    /// be started: no request was made.
    #[error("cannot start onedata's runtime for requests: {message}; the process may be out of threads or memory (check its limits)")]
    Runtime {
        /// What the operating system said.
        message: String,
    },
}
