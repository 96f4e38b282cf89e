//! Uploads: [`Remote::upload`] writes a local file as an object so that
//! readers never see part of it (one PUT, or a multipart upload for a large
//! file), conditional on the ETag this cache last saw.

use std::fs::File;
use std::path::Path;

use object_store::path::Path as ObjPath;
use object_store::{
    ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion, WriteMultipart,
};

use super::{Remote, RemoteEntry, PARALLEL_PARTS, PART_SIZE};
use crate::error::{Error, Result};
use crate::RemoteFault;

/// Files past this size are uploaded in parts (multipart upload).
pub const MULTIPART_THRESHOLD: u64 = 64 << 20;

impl Remote {
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
            let put = self.block_on(self.store.put_opts(&path, payload.clone(), options))?;
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
                    self.block_on(self.store.put_opts(&path, payload, create))?
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
            self.block_on(self.multipart(local, &path))??.e_tag
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
}
