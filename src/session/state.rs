//! [`SessionCore`]: the state every session type shares.

use crate::npy::MapPolicy;
use crate::Durability;
use std::fmt;
use std::path::{Path, PathBuf};

use super::locks::NameLocks;
use super::values::{read_json_object, Values};
use super::{SessionId, ONE_DIR, ONE_DIR_LOWER, VALUES_FILE};
use crate::cache::{CacheLimits, CacheStats, OneCache};
use crate::error::{Error, ErrorKind, Result};
use parking_lot::{Mutex, RwLock};

/// The state every session type shares: identity, paths, values and the
/// onedata cache. Session types hold one and hand it out through
/// [`SessionData::core`](super::SessionData::core).
pub struct SessionCore {
    pub(super) id: SessionId,
    pub(super) data_path: PathBuf,
    pub(super) one_path: PathBuf,
    pub(super) values: RwLock<Values>,
    pub(super) values_path: Option<PathBuf>,
    pub(super) cache: Mutex<OneCache>,
    pub(super) name_locks: NameLocks,
    /// The [`MapPolicy`] of dense loads, as its index in `POLICIES`.
    pub(super) map_policy: std::sync::atomic::AtomicU8,
    /// Whether saves skip the `fsync`s ([`Durability::Scratch`]).
    pub(super) scratch_saves: std::sync::atomic::AtomicBool,
    /// Whether a save has swept `oneData` of left-over temporary files.
    pub(super) swept: std::sync::atomic::AtomicBool,
    /// Where a session opened from a URL lives: its `oneData/` prefix in the
    /// store (`data_path` is then its folder in the download cache).
    #[cfg(feature = "remote")]
    pub(super) remote: Option<super::remote::RemoteSession>,
}

const POLICIES: [MapPolicy; 3] = [MapPolicy::Auto, MapPolicy::Always, MapPolicy::Never];

impl fmt::Debug for SessionCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCore")
            .field("id", &self.id)
            .field("data_path", &self.data_path)
            .field("cache", &*self.cache.lock())
            .finish()
    }
}

impl SessionCore {
    /// The state of a session kept at `data_path`. Values are read from
    /// `vrExperimentValues.json` there, if it exists.
    pub fn new(id: SessionId, data_path: impl Into<PathBuf>) -> Result<SessionCore> {
        let data_path = data_path.into();
        // vrAnalysis has used both spellings; prefer `oneData` unless only
        // `onedata` exists.
        let one_path = match (
            data_path.join(ONE_DIR).is_dir(),
            data_path.join(ONE_DIR_LOWER).is_dir(),
        ) {
            (false, true) => data_path.join(ONE_DIR_LOWER),
            _ => data_path.join(ONE_DIR),
        };
        let candidate = data_path.join(VALUES_FILE);
        let (values, values_path) = if candidate.is_file() {
            (read_json_object(&candidate)?, Some(candidate))
        } else {
            (Values::new(), None)
        };
        Ok(SessionCore {
            id,
            data_path,
            one_path,
            values: RwLock::new(values),
            values_path,
            cache: Mutex::new(OneCache::new(CacheLimits::default())),
            name_locks: NameLocks::default(),
            map_policy: std::sync::atomic::AtomicU8::new(0),
            scratch_saves: std::sync::atomic::AtomicBool::new(false),
            swept: std::sync::atomic::AtomicBool::new(false),
            #[cfg(feature = "remote")]
            remote: None,
        })
    }

    /// When this session's loads map their files (see [`MapPolicy`]; the
    /// default is [`MapPolicy::Auto`]).
    pub fn map_policy(&self) -> MapPolicy {
        let i = self.map_policy.load(std::sync::atomic::Ordering::Relaxed);
        POLICIES[usize::from(i).min(POLICIES.len() - 1)]
    }

    /// Sets the map policy of later loads (arrays already loaded, and the
    /// cache, keep theirs: `clear_cache` to reload under the new one).
    pub fn set_map_policy(&self, policy: MapPolicy) {
        let i = POLICIES.iter().position(|p| *p == policy).unwrap_or(0) as u8;
        self.map_policy
            .store(i, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether this session's saves (`saveone`, the values file) `fsync`
    /// what they write (see [`Durability`]; the default is
    /// [`Durability::Durable`]).
    pub fn durability(&self) -> Durability {
        if self
            .scratch_saves
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            Durability::Scratch
        } else {
            Durability::Durable
        }
    }

    /// Sets the durability of later saves.
    pub fn set_durability(&self, durability: Durability) {
        self.scratch_saves.store(
            durability == Durability::Scratch,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Replaces the cache limits (entries already cached are evicted as needed
    /// on the next insert).
    pub fn set_cache_limits(&self, limits: CacheLimits) {
        let mut cache = self.cache.lock();
        let mut fresh = OneCache::new(limits);
        for key in cache.keys().into_iter().rev() {
            if let Some(v) = cache.get(&key) {
                fresh.insert(key, v);
            }
        }
        *cache = fresh;
    }

    /// The cache limits in force.
    pub fn cache_limits(&self) -> CacheLimits {
        self.cache.lock().limits()
    }

    /// What the cache holds.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.lock().stats()
    }

    /// Whether the file `file_name` (with extension) is cached.
    pub fn is_cached(&self, file_name: &str) -> bool {
        self.cache.lock().contains(file_name)
    }

    /// Runs `f` holding the lock of one file name: loads, saves and
    /// deletions of one name take turns, so the cache never keeps a version
    /// older than the file.
    ///
    /// A name this thread already holds, or one whose holder waits (through
    /// any chain of threads) for a name this thread holds, would never be
    /// released: that is a recipe asking for a name being loaded, and an
    /// [`ErrorKind::RecipeCycle`] naming the files along the cycle, without
    /// running `f`.
    pub(super) fn with_name_lock<R>(
        &self,
        file_name: &str,
        f: impl FnOnce() -> Result<R>,
    ) -> Result<R> {
        let _guard = self.name_locks.lock(file_name).map_err(|files| {
            Error::new(ErrorKind::RecipeCycle {
                session: self.id.session_print("/"),
                files,
            })
        })?;
        f()
    }

    /// On the session's first save, deletes what saves killed mid-write
    /// left in the session folder and its `oneData` (see
    /// [`remove_stale_temporaries`](crate::remove_stale_temporaries)). Best
    /// effort: it only frees space, and never touches a save in progress.
    pub(super) fn sweep_once(&self) {
        if !self.swept.swap(true, std::sync::atomic::Ordering::Relaxed) {
            for dir in [&self.one_path, &self.data_path] {
                let _ = crate::remove_stale_temporaries(dir);
            }
        }
    }

    /// The identity.
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// The session folder.
    pub fn data_path(&self) -> &Path {
        &self.data_path
    }

    /// The values file, if the session has one.
    pub fn values_path(&self) -> Option<&Path> {
        self.values_path.as_deref()
    }
}

/// Without the `remote` feature every session is local: nothing to list in
/// a store, fetch, upload or delete there.
#[cfg(not(feature = "remote"))]
impl SessionCore {
    pub(super) fn remote_saved_one(&self) -> Option<Result<Vec<PathBuf>>> {
        None
    }

    pub(crate) fn fetch_folder_file(&self, _relative: &str) -> Result<()> {
        Ok(())
    }

    pub(super) fn fetch_one(&self, _file_name: &str) -> Result<bool> {
        Ok(true)
    }

    pub(super) fn cached_etag(&self, _file_name: &str) -> Option<String> {
        None
    }

    pub(super) fn copy_lock(&self, _file_name: &str) -> Result<Option<()>> {
        Ok(None)
    }

    pub(super) fn cached_etag_of_folder_file(&self, _file_name: &str) -> Option<String> {
        None
    }

    pub(super) fn push(
        &self,
        _file_name: &str,
        _path: &Path,
        _etag: Option<String>,
        _in_one: bool,
    ) -> Result<()> {
        Ok(())
    }

    pub(super) fn remote_rows(
        &self,
        _file_name: &str,
        _rows: &std::ops::Range<usize>,
    ) -> Option<Result<crate::npy::NpyArray>> {
        None
    }

    pub(super) fn named_in_store(&self, _file_name: &str, error: Error) -> Error {
        error
    }

    pub(super) fn delete_remote(&self, _file_name: &str) -> Option<Result<()>> {
        None
    }
}
