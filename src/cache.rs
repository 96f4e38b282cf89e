//! The per-session LRU of loaded onedata, keyed by file name.
//!
//! Entries are shared handles (`Arc`): evicting an entry only drops the
//! cache's reference, so a handle a caller still holds stays valid. Mapped
//! arrays cost no heap memory and are bounded separately from owned ones.

use std::sync::Arc;

use lru::LruCache;

use crate::data::OneData;

/// Bounds on what a session keeps cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// The most entries kept (at least one).
    pub max_entries: usize,
    /// The most heap bytes held by owned entries (decoded sparse matrices,
    /// big-endian files, recipe results). Mapped arrays do not count here.
    pub max_owned_bytes: usize,
    /// The most bytes of mapped files kept open, if bounded.
    pub max_mapped_bytes: Option<usize>,
}

impl Default for CacheLimits {
    /// 1024 entries, 4 GiB of owned data, mapped files unbounded (they cost
    /// address space and page cache, which the kernel manages).
    fn default() -> Self {
        CacheLimits {
            max_entries: 1024,
            max_owned_bytes: 4 << 30,
            max_mapped_bytes: None,
        }
    }
}

/// Counters describing the cache's contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Entries held.
    pub entries: usize,
    /// Heap bytes held by owned entries.
    pub owned_bytes: usize,
    /// Bytes of mapped files held.
    pub mapped_bytes: usize,
}

/// An LRU of loaded onedata bounded by entry count, owned and mapped bytes.
pub(crate) struct OneCache {
    lru: LruCache<String, Arc<OneData>>,
    limits: CacheLimits,
    owned: usize,
    mapped: usize,
}

impl OneCache {
    pub(crate) fn new(limits: CacheLimits) -> OneCache {
        OneCache {
            lru: LruCache::unbounded(),
            limits: CacheLimits {
                max_entries: limits.max_entries.max(1),
                ..limits
            },
            owned: 0,
            mapped: 0,
        }
    }

    pub(crate) fn limits(&self) -> CacheLimits {
        self.limits
    }

    /// The entry for `key`, marked as most recently used.
    pub(crate) fn get(&mut self, key: &str) -> Option<Arc<OneData>> {
        self.lru.get(key).cloned()
    }

    /// Whether `key` is cached, without changing its recency.
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.lru.contains(key)
    }

    /// Inserts or replaces `key`, then evicts the least recently used
    /// entries until the limits hold again. The new entry itself is never
    /// evicted, even if it alone exceeds a limit.
    pub(crate) fn insert(&mut self, key: String, value: Arc<OneData>) {
        self.account(&value, true);
        if let Some(old) = self.lru.put(key, value) {
            self.account(&old, false);
        }
        self.evict();
    }

    /// Removes `key`; returns whether it was cached.
    pub(crate) fn remove(&mut self, key: &str) -> bool {
        match self.lru.pop(key) {
            Some(old) => {
                self.account(&old, false);
                true
            }
            None => false,
        }
    }

    /// Removes every entry.
    pub(crate) fn clear(&mut self) {
        self.lru.clear();
        self.owned = 0;
        self.mapped = 0;
    }

    /// The cached keys, most recently used first.
    pub(crate) fn keys(&self) -> Vec<String> {
        self.lru.iter().map(|(k, _)| k.clone()).collect()
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.lru.len(),
            owned_bytes: self.owned,
            mapped_bytes: self.mapped,
        }
    }

    fn account(&mut self, value: &OneData, add: bool) {
        let (owned, mapped) = (value.owned_bytes(), value.mapped_bytes());
        if add {
            self.owned = self.owned.saturating_add(owned);
            self.mapped = self.mapped.saturating_add(mapped);
        } else {
            self.owned = self.owned.saturating_sub(owned);
            self.mapped = self.mapped.saturating_sub(mapped);
        }
    }

    fn over_limits(&self) -> bool {
        self.lru.len() > self.limits.max_entries
            || self.owned > self.limits.max_owned_bytes
            || self
                .limits
                .max_mapped_bytes
                .is_some_and(|max| self.mapped > max)
    }

    fn evict(&mut self) {
        while self.lru.len() > 1 && self.over_limits() {
            match self.lru.pop_lru() {
                Some((_, old)) => self.account(&old, false),
                None => break,
            }
        }
    }
}

impl std::fmt::Debug for OneCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneCache")
            .field("limits", &self.limits)
            .field("stats", &self.stats())
            .finish()
    }
}
