//! Session URLs: parsing, the checks that keep them inside their bucket, and
//! the local cache folder of each.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use object_store::ObjectStoreScheme;
use url::Url;

use crate::{Error, RemoteFault, Result};

/// The kind of store a [`RemoteUrl`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// Amazon S3 or an S3-compatible server (`s3://`, `s3a://`, the
    /// `amazonaws.com` and `r2.cloudflarestorage.com` hosts).
    S3,
    /// Google Cloud Storage (`gs://`).
    Gcs,
    /// Azure Blob Storage or ADLS Gen2 (`az://`, `azure://`, `abfs(s)://`,
    /// `adl://`, the `*.core.windows.net` and `*.fabric.microsoft.com` hosts).
    Azure,
    /// A plain HTTP(S) server (read with GET and ranged GET; WebDAV to write).
    Http,
    /// A local folder (`file:///absolute/path`), read as any local session.
    File,
}

impl Scheme {
    /// The short name: `s3`, `gs`, `az`, `http` or `file`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::S3 => "s3",
            Scheme::Gcs => "gs",
            Scheme::Azure => "az",
            Scheme::Http => "http",
            Scheme::File => "file",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A checked session URL: its scheme, its bucket (container, or host for
/// HTTP), and the key prefix below it.
///
/// [`RemoteUrl::parse`] refuses what could reach outside the prefix or is
/// ambiguous: `.` and `..` path segments (also percent-encoded), empty
/// segments (`a//b`), an empty bucket, query strings and fragments, and a
/// `file://` URL with a host or a relative path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteUrl {
    url: Url,
    scheme: Scheme,
    bucket: String,
    prefix: object_store::path::Path,
}

fn invalid(url: &str, reason: impl Into<String>) -> Error {
    Error::remote(
        url,
        RemoteFault::InvalidUrl {
            reason: reason.into(),
        },
    )
}

/// Refuses `.`/`..` and empty segments in the path as written (the URL
/// parser would resolve dot segments away silently).
fn check_raw_path(text: &str) -> Result<()> {
    let Some((_, rest)) = text.split_once("://") else {
        return Err(invalid(text, "it has no scheme (such as s3://)"));
    };
    let path = rest.split(['?', '#']).next().unwrap_or_default();
    let Some((_, path)) = path.split_once('/') else {
        return Ok(());
    };
    let path = path.strip_suffix('/').unwrap_or(path);
    if path.is_empty() {
        return Ok(());
    }
    for segment in path.split('/') {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        if decoded == "." || decoded == ".." {
            return Err(invalid(
                text,
                format!("its path has a {decoded:?} segment, which could leave the prefix"),
            ));
        }
        if segment.is_empty() {
            return Err(invalid(text, "its path has an empty segment (//)"));
        }
    }
    Ok(())
}

impl RemoteUrl {
    /// Parses and checks `text`.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Remote`](crate::ErrorKind::Remote) with
    /// [`RemoteFault::InvalidUrl`] naming `text` and the reason.
    pub fn parse(text: &str) -> Result<RemoteUrl> {
        check_raw_path(text)?;
        let url = Url::parse(text).map_err(|e| invalid(text, e.to_string()))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(
                text,
                "it has a query string or fragment (?... or #...), which onedata does not pass on",
            ));
        }
        if url.password().is_some() {
            return Err(invalid(
                text,
                "it holds a password; give credentials through the environment instead",
            ));
        }
        // (object_store's parse error type is private: tell its two cases
        // apart by whether the scheme is one it knows.)
        let known = matches!(
            url.scheme(),
            "s3" | "s3a" | "gs" | "az" | "adl" | "azure" | "abfs" | "abfss" | "http" | "https"
        );
        if known && url.host_str().unwrap_or_default().is_empty() {
            return Err(invalid(text, "it names no bucket (or host)"));
        }
        let (store_scheme, prefix) = ObjectStoreScheme::parse(&url).map_err(|e| match e {
            e if known => invalid(text, e.to_string()),
            _ if url.scheme() == "file" => invalid(
                text,
                "a file:// URL has no host: write file:///absolute/path",
            ),
            _ => invalid(
                text,
                format!("its scheme {:?} is not one onedata reads", url.scheme()),
            ),
        })?;
        let host = url.host_str().unwrap_or_default();
        let https = url.scheme() == "https";
        let (scheme, bucket, prefix) = match store_scheme {
            ObjectStoreScheme::AmazonS3 if https && !host.starts_with("s3") => {
                // Virtual-hosted style: bucket.s3.region.amazonaws.com.
                let bucket = host.split('.').next().unwrap_or_default().to_string();
                (Scheme::S3, bucket, prefix)
            }
            ObjectStoreScheme::AmazonS3 if https => {
                // Path style: the bucket is the first path segment, which
                // object_store has stripped from the prefix.
                let bucket = url
                    .path_segments()
                    .and_then(|mut s| s.next())
                    .unwrap_or_default()
                    .to_string();
                (Scheme::S3, bucket, prefix)
            }
            ObjectStoreScheme::MicrosoftAzure if https => {
                let bucket = url
                    .path_segments()
                    .and_then(|mut s| s.next())
                    .unwrap_or_default()
                    .to_string();
                (Scheme::Azure, bucket, prefix)
            }
            ObjectStoreScheme::MicrosoftAzure if !url.username().is_empty() => {
                // abfs(s)://container@account.dfs.core.windows.net/path
                (Scheme::Azure, url.username().to_string(), prefix)
            }
            ObjectStoreScheme::AmazonS3 => (Scheme::S3, host.to_string(), prefix),
            ObjectStoreScheme::GoogleCloudStorage => (Scheme::Gcs, host.to_string(), prefix),
            ObjectStoreScheme::MicrosoftAzure => (Scheme::Azure, host.to_string(), prefix),
            ObjectStoreScheme::Http => {
                let bucket = match url.port() {
                    Some(port) => format!("{host}_{port}"),
                    None => host.to_string(),
                };
                (Scheme::Http, bucket, prefix)
            }
            ObjectStoreScheme::Local => {
                if url.to_file_path().is_err() {
                    return Err(invalid(
                        text,
                        "a file:// URL must name an absolute local path",
                    ));
                }
                (Scheme::File, String::new(), prefix)
            }
            _ => {
                return Err(invalid(
                    text,
                    format!("its scheme {:?} is not one onedata reads", url.scheme()),
                ))
            }
        };
        if scheme != Scheme::File && bucket.is_empty() {
            return Err(invalid(text, "it names no bucket (or host)"));
        }
        if scheme != Scheme::File && !url.username().is_empty() && scheme != Scheme::Azure {
            return Err(invalid(
                text,
                "it holds a user name; give credentials through the environment instead",
            ));
        }
        Ok(RemoteUrl {
            url,
            scheme,
            bucket,
            prefix,
        })
    }

    /// The URL, normalised by the URL parser.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The parsed URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The kind of store.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The bucket (S3, GCS), the container (Azure), or the host (HTTP,
    /// `host_port` with a port); empty for a `file://` URL.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key prefix below the bucket, without leading or trailing `/`
    /// (empty for the bucket's root). For `file://`, the absolute path
    /// without its leading `/`.
    pub fn prefix(&self) -> &str {
        self.prefix.as_ref()
    }

    /// The prefix as an `object_store` path.
    pub fn object_path(&self) -> &object_store::path::Path {
        &self.prefix
    }

    /// The local folder that caches this URL: `<cache_root>/<bucket>/<prefix...>`.
    /// A `file://` URL is its own folder (nothing is cached).
    ///
    /// Every component is checked to be a plain file name, so the result is
    /// always inside `cache_root`.
    ///
    /// # Errors
    ///
    /// [`RemoteFault::Cache`] if a component could leave the cache folder
    /// (a bucket or segment that the local file system reads as `..`, a
    /// separator or a drive).
    pub fn cache_path(&self, cache_root: &Path) -> Result<PathBuf> {
        if self.scheme == Scheme::File {
            return self.url.to_file_path().map_err(|()| {
                invalid(
                    self.as_str(),
                    "a file:// URL must name an absolute local path",
                )
            });
        }
        let mut path = cache_root.to_path_buf();
        let parts = std::iter::once(self.bucket.clone())
            .chain(self.prefix.parts().map(|p| p.as_ref().to_string()));
        for part in parts {
            self.check_component(&part)?;
            path.push(part);
        }
        if !path.starts_with(cache_root) {
            return Err(self.cache_fault(format!(
                "{} is outside the cache folder {}",
                path.display(),
                cache_root.display()
            )));
        }
        Ok(path)
    }

    fn cache_fault(&self, reason: String) -> Error {
        Error::remote(self.as_str(), RemoteFault::Cache { reason })
    }

    fn check_component(&self, part: &str) -> Result<()> {
        let bad = part.is_empty()
            || part.contains(['/', '\\', '\0'])
            || (cfg!(windows) && part.contains(':'));
        let mut components = Path::new(part).components();
        let plain = matches!(
            (components.next(), components.next()),
            (Some(Component::Normal(_)), None)
        );
        if bad || !plain {
            return Err(self.cache_fault(format!(
                "the path component {part:?} is not a plain local file name"
            )));
        }
        Ok(())
    }
}

impl fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RemoteUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<RemoteUrl> {
        RemoteUrl::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_their_scheme_bucket_prefix_and_cache_folder() {
        let root = Path::new("/cache/onedata");
        let table: &[(&str, Scheme, &str, &str, &str)] = &[
            ("s3://bkt", Scheme::S3, "bkt", "", "/cache/onedata/bkt"),
            ("s3://bkt/", Scheme::S3, "bkt", "", "/cache/onedata/bkt"),
            (
                "s3://bkt/root/m1/2024-01-02/701",
                Scheme::S3,
                "bkt",
                "root/m1/2024-01-02/701",
                "/cache/onedata/bkt/root/m1/2024-01-02/701",
            ),
            (
                "s3://bkt/root/",
                Scheme::S3,
                "bkt",
                "root",
                "/cache/onedata/bkt/root",
            ),
            (
                "s3a://bkt/a",
                Scheme::S3,
                "bkt",
                "a",
                "/cache/onedata/bkt/a",
            ),
            (
                "https://s3.eu-west-1.amazonaws.com/bkt/a/b",
                Scheme::S3,
                "bkt",
                "a/b",
                "/cache/onedata/bkt/a/b",
            ),
            (
                "https://bkt.s3.eu-west-1.amazonaws.com/a/b",
                Scheme::S3,
                "bkt",
                "a/b",
                "/cache/onedata/bkt/a/b",
            ),
            (
                "gs://lab/sessions",
                Scheme::Gcs,
                "lab",
                "sessions",
                "/cache/onedata/lab/sessions",
            ),
            (
                "az://cont/x/y",
                Scheme::Azure,
                "cont",
                "x/y",
                "/cache/onedata/cont/x/y",
            ),
            (
                "azure://cont/x",
                Scheme::Azure,
                "cont",
                "x",
                "/cache/onedata/cont/x",
            ),
            (
                "abfss://cont@acct.dfs.core.windows.net/x",
                Scheme::Azure,
                "cont",
                "x",
                "/cache/onedata/cont/x",
            ),
            (
                "https://acct.blob.core.windows.net/cont/x",
                Scheme::Azure,
                "cont",
                "x",
                "/cache/onedata/cont/x",
            ),
            (
                "http://127.0.0.1:9000/data/s",
                Scheme::Http,
                "127.0.0.1_9000",
                "data/s",
                "/cache/onedata/127.0.0.1_9000/data/s",
            ),
            (
                "https://example.org/archive/s1",
                Scheme::Http,
                "example.org",
                "archive/s1",
                "/cache/onedata/example.org/archive/s1",
            ),
            (
                "https://example.org/a%20b/c",
                Scheme::Http,
                "example.org",
                "a b/c",
                "/cache/onedata/example.org/a b/c",
            ),
            (
                "file:///data/sessions",
                Scheme::File,
                "",
                "data/sessions",
                "/data/sessions",
            ),
        ];
        for &(text, scheme, bucket, prefix, cache) in table {
            let url = RemoteUrl::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(url.scheme(), scheme, "{text}");
            assert_eq!(url.bucket(), bucket, "{text}");
            assert_eq!(url.prefix(), prefix, "{text}");
            assert_eq!(url.cache_path(root).unwrap(), Path::new(cache), "{text}");
        }
    }

    #[test]
    fn urls_that_could_leave_their_prefix_or_are_ambiguous_are_refused() {
        let refused: &[(&str, &str)] = &[
            ("s3://bkt/a/../b", "\"..\" segment"),
            ("s3://bkt/..", "\"..\" segment"),
            ("s3://bkt/a/%2e%2E/b", "\"..\" segment"),
            ("s3://bkt/./a", "\".\" segment"),
            ("http://host/a/../../etc", "\"..\" segment"),
            ("file:///data/../etc", "\"..\" segment"),
            ("s3://bkt/a//b", "empty segment"),
            ("s3:///a", "bucket"),
            ("s3://bkt/a?versionId=3", "query string"),
            ("s3://bkt/a?", "query string"),
            ("gs://bkt/a#frag", "fragment"),
            ("s3://key:secret@bkt/a", "password"),
            ("s3://user@bkt/a", "user name"),
            ("ftp://host/a", "scheme"),
            ("memory:///a", "scheme"),
            ("/data/sessions", "no scheme"),
            ("file://host/data", "file:///absolute/path"),
            ("s3://bkt/a%5Cb", "not a plain local file name"),
        ];
        let root = Path::new("/cache");
        for &(text, needle) in refused {
            let err = match RemoteUrl::parse(text) {
                Ok(url) => url.cache_path(root).map(|p| p.display().to_string()),
                Err(e) => Err(e),
            }
            .expect_err(text);
            assert_eq!(err.url(), Some(text), "{text}");
            assert!(
                err.to_string().contains(needle),
                "{text}: {err} does not say {needle:?}"
            );
            assert!(err.to_string().starts_with(text), "{err}");
        }
    }

    #[test]
    fn the_refusal_says_what_to_write() {
        let err = RemoteUrl::parse("s3://bkt/a/../b").unwrap_err();
        assert!(matches!(
            err.remote_fault(),
            Some(RemoteFault::InvalidUrl { .. })
        ));
        assert!(err.to_string().contains("give s3://bucket/prefix"), "{err}");
    }
}
