//! Object store clients built from a [`RemoteUrl`] and the environment, the
//! local cache folder, and `object_store` errors as onedata's.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::http::HttpBuilder;
use object_store::{BackoffConfig, ObjectStore, RetryConfig};

use super::{RemoteUrl, Scheme};
use crate::{Error, RemoteFault, Result};

/// Retries of a failed request, unless `ONEDATA_REMOTE_RETRIES` says otherwise.
pub const DEFAULT_RETRIES: usize = 3;

/// How long a request is retried at most, from its first attempt.
pub const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(10);

/// How a store client retries and what it is told beyond the environment.
///
/// `object_store`'s own default retries a request for up to three minutes;
/// onedata retries a few times within seconds, so that a dead server or a
/// wrong endpoint is reported while the user still waits for it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteOptions {
    /// Retries of a failed request (0: none).
    pub retries: usize,
    /// How long a request is retried at most.
    pub retry_timeout: Duration,
    /// Configuration keys applied after the environment, as `object_store`
    /// names them for the URL's store (`aws_endpoint`, `aws_allow_http`,
    /// `aws_access_key_id`, `google_service_account`, `azure_storage_account_name`,
    /// ...); for HTTP, the client keys (`allow_http`, `timeout`, ...).
    pub config: Vec<(String, String)>,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            retries: DEFAULT_RETRIES,
            retry_timeout: DEFAULT_RETRY_TIMEOUT,
            config: Vec::new(),
        }
    }
}

impl RemoteOptions {
    /// The defaults, with `retries` from `ONEDATA_REMOTE_RETRIES` when set.
    ///
    /// # Errors
    ///
    /// [`RemoteFault::Config`] if the variable is not a whole number.
    pub fn from_env() -> Result<RemoteOptions> {
        RemoteOptions::from_retries_var(std::env::var_os("ONEDATA_REMOTE_RETRIES"))
    }

    /// The defaults, with `retries` from `value` (the value of
    /// `ONEDATA_REMOTE_RETRIES`) when given.
    ///
    /// # Errors
    ///
    /// [`RemoteFault::Config`] if `value` is not a whole number.
    pub fn from_retries_var(value: Option<OsString>) -> Result<RemoteOptions> {
        let mut options = RemoteOptions::default();
        if let Some(value) = value {
            let text = value.to_string_lossy();
            options.retries = text.trim().parse().map_err(|_| {
                Error::remote(
                    "ONEDATA_REMOTE_RETRIES",
                    RemoteFault::Config {
                        message: format!("ONEDATA_REMOTE_RETRIES={text:?} is not a whole number"),
                    },
                )
            })?;
        }
        Ok(options)
    }

    /// Adds the configuration key `key` with `value` (see
    /// [`RemoteOptions::config`]).
    pub fn with_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.push((key.into(), value.into()));
        self
    }

    fn retry(&self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_secs(2),
                base: 2.0,
            },
            max_retries: self.retries,
            retry_timeout: self.retry_timeout,
        }
    }
}

fn config_error(url: &RemoteUrl, message: impl std::fmt::Display) -> Error {
    Error::remote(
        url.as_str(),
        RemoteFault::Config {
            message: message.to_string(),
        },
    )
}

fn parse_key<K: std::str::FromStr>(url: &RemoteUrl, key: &str) -> Result<K>
where
    K::Err: std::fmt::Display,
{
    key.parse()
        .map_err(|e: K::Err| config_error(url, format!("configuration key {key:?}: {e}")))
}

/// The `object_store` client for `url`'s bucket (or host): configured from
/// the environment (as `object_store`'s `from_env` builders read it: the
/// `AWS_*`, `GOOGLE_*` and `AZURE_*` variables, including
/// `AWS_ENDPOINT_URL` and `AWS_ALLOW_HTTP`), then from `options`.
///
/// Paths in the store are relative to the bucket: `url.object_path()` is
/// the session prefix in it.
///
/// # Errors
///
/// [`RemoteFault::Config`] if the client cannot be configured (an unknown
/// key, a malformed endpoint, missing account), and
/// [`RemoteFault::Unsupported`] for a `file://` URL, which is read as a
/// local folder.
pub fn build_store(url: &RemoteUrl, options: &RemoteOptions) -> Result<Arc<dyn ObjectStore>> {
    let retry = options.retry();
    // The four builders share these calls but no trait: each arm applies
    // the retry, the connect timeout and the caller's configuration keys.
    // The timeout is one key, not a whole `ClientOptions`, which would
    // replace what `from_env` read (AWS_ALLOW_HTTP, AWS_PROXY_URL, ...).
    macro_rules! configured {
        ($builder:expr) => {{
            let mut b = $builder.with_retry(retry);
            b = b.with_config(parse_key(url, "connect_timeout")?, "5s");
            for (k, v) in &options.config {
                b = b.with_config(parse_key(url, k)?, v);
            }
            Arc::new(b.build().map_err(|e| config_error(url, chain(&e)))?)
        }};
    }
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        Scheme::S3 => configured!(AmazonS3Builder::from_env().with_url(url.as_str())),
        Scheme::Gcs => configured!(GoogleCloudStorageBuilder::from_env().with_url(url.as_str())),
        Scheme::Azure => configured!(MicrosoftAzureBuilder::from_env().with_url(url.as_str())),
        Scheme::Http => {
            let origin = &url.url()[..url::Position::BeforePath];
            configured!(HttpBuilder::new().with_url(origin))
        }
        Scheme::File => {
            return Err(Error::remote(
                url.as_str(),
                RemoteFault::Unsupported(
                    "a file:// URL is a local folder: open it as a local session".to_string(),
                ),
            ))
        }
    };
    Ok(store)
}

/// The local cache folder: `ONEDATA_CACHE_DIR` when set, else the
/// platform's cache folder with `onedata` under it (`~/.cache/onedata` on
/// Linux).
///
/// # Errors
///
/// [`RemoteFault::Cache`] if neither is known.
pub fn cache_root() -> Result<PathBuf> {
    cache_root_from(std::env::var_os("ONEDATA_CACHE_DIR"))
}

/// [`cache_root`] with `value` standing for `ONEDATA_CACHE_DIR` (`None`:
/// unset; an empty value counts as unset).
///
/// # Errors
///
/// [`RemoteFault::Cache`] if `value` is unset and the platform has no
/// cache folder.
pub fn cache_root_from(value: Option<OsString>) -> Result<PathBuf> {
    match value.filter(|v| !v.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => dirs::cache_dir().map(|d| d.join("onedata")).ok_or_else(|| {
            Error::remote(
                "ONEDATA_CACHE_DIR",
                RemoteFault::Cache {
                    reason: "ONEDATA_CACHE_DIR is unset and the platform has no cache folder"
                        .to_string(),
                },
            )
        }),
    }
}

/// An error and its sources, joined by `: `.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = e.source();
    }
    text
}

/// `error`, from a request for `url`, as onedata's [`ErrorKind::Remote`](crate::ErrorKind::Remote).
pub fn map_store_error(url: &str, error: object_store::Error) -> Error {
    let message = chain(&error);
    let fault = match error {
        object_store::Error::NotFound { .. } => RemoteFault::NotFound,
        object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. } => {
            RemoteFault::Precondition { message }
        }
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => RemoteFault::Auth { message },
        object_store::Error::UnknownConfigurationKey { .. } => RemoteFault::Config { message },
        _ => RemoteFault::Request { message },
    };
    Error::remote(url, fault)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_folder_comes_from_the_variable_or_the_platform() {
        assert_eq!(
            cache_root_from(Some("/scratch/od-cache".into())).unwrap(),
            PathBuf::from("/scratch/od-cache")
        );
        let platform = cache_root_from(None);
        let empty = cache_root_from(Some(OsString::new()));
        match dirs::cache_dir() {
            Some(d) => {
                assert_eq!(platform.unwrap(), d.join("onedata"));
                assert_eq!(empty.unwrap(), d.join("onedata"));
            }
            None => assert!(platform.is_err()),
        }
    }

    #[test]
    fn retries_default_to_a_few_and_the_variable_sets_them() {
        let d = RemoteOptions::from_retries_var(None).unwrap();
        assert_eq!(d.retries, 3);
        assert_eq!(d.retry_timeout, Duration::from_secs(10));
        assert_eq!(
            RemoteOptions::from_retries_var(Some("0".into()))
                .unwrap()
                .retries,
            0
        );
        let err = RemoteOptions::from_retries_var(Some("many".into())).unwrap_err();
        assert!(err.to_string().contains("not a whole number"), "{err}");
    }

    #[test]
    fn stores_are_built_for_each_scheme() {
        let options = RemoteOptions::default()
            .with_config("aws_region", "us-east-1")
            .with_config("aws_endpoint", "http://127.0.0.1:1")
            .with_config("aws_allow_http", "true");
        let s3 = RemoteUrl::parse("s3://bkt/root").unwrap();
        assert!(build_store(&s3, &options).is_ok());
        let http = RemoteUrl::parse("http://127.0.0.1:1/archive").unwrap();
        let http_opts = RemoteOptions::default().with_config("allow_http", "true");
        assert!(build_store(&http, &http_opts).is_ok());
        let gcs = RemoteUrl::parse("gs://bkt/root").unwrap();
        let gcs_opts = RemoteOptions::default().with_config("google_skip_signature", "true");
        assert!(build_store(&gcs, &gcs_opts).is_ok());

        let bad_key = RemoteOptions::default().with_config("aws_no_such_key", "1");
        let err = build_store(&s3, &bad_key).err().unwrap();
        assert!(matches!(
            err.remote_fault(),
            Some(RemoteFault::Config { .. })
        ));
        assert!(err.to_string().starts_with("s3://bkt/root: "), "{err}");

        let file = RemoteUrl::parse("file:///data").unwrap();
        let err = build_store(&file, &RemoteOptions::default()).err().unwrap();
        assert!(matches!(
            err.remote_fault(),
            Some(RemoteFault::Unsupported(_))
        ));
    }

    #[test]
    fn a_dead_server_fails_fast_with_a_request_error() {
        use object_store::ObjectStoreExt;
        // Port 1 on loopback: nothing listens, the connection is refused.
        let options = RemoteOptions {
            retries: 1,
            retry_timeout: Duration::from_secs(2),
            config: Vec::new(),
        }
        .with_config("aws_region", "us-east-1")
        .with_config("aws_endpoint", "http://127.0.0.1:1")
        .with_config("aws_allow_http", "true")
        .with_config("aws_access_key_id", "test")
        .with_config("aws_secret_access_key", "test");
        let url = RemoteUrl::parse("s3://bkt/root").unwrap();
        let store = build_store(&url, &options).unwrap();
        let path = object_store::path::Path::from("root/x.npy");
        let err = super::super::block_on(store.head(&path))
            .unwrap()
            .unwrap_err();
        let err = map_store_error("s3://bkt/root/x.npy", err);
        assert!(
            matches!(err.remote_fault(), Some(RemoteFault::Request { .. })),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("s3://bkt/root/x.npy: request failed"),
            "{err}"
        );
    }
}
