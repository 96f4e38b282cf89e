//! The per-session LRU of loaded onedata, keyed by file name.
//!
//! Entries are shared handles (`Arc`): evicting an entry only drops the
//! cache's reference, so a handle a caller still holds stays valid. Mapped
//! arrays cost no heap memory and are bounded separately from owned ones.
//!
//! A map becomes owned memory when another program opens its file for
//! writing (the lease break copies it, see `npy::lease`). The cache counts
//! such copies as owned bytes from its next call on, and evicts to keep
//! `max_owned_bytes`: a copy no caller holds is then freed.

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
    lru: LruCache<String, Entry>,
    limits: CacheLimits,
    owned: usize,
    mapped: usize,
    /// The count of lease-break copies when the entries were last counted.
    copies_seen: u64,
}

/// A cached value and the bytes it was counted at.
struct Entry {
    value: Arc<OneData>,
    owned: usize,
    mapped: usize,
}

impl Entry {
    fn new(value: Arc<OneData>) -> Entry {
        let (owned, mapped) = (value.owned_bytes(), value.mapped_bytes());
        Entry {
            value,
            owned,
            mapped,
        }
    }
}

/// How many maps lease breaks have copied into memory, process-wide.
fn lease_copies() -> u64 {
    #[cfg(target_os = "linux")]
    return crate::npy::lease::copies();
    #[cfg(not(target_os = "linux"))]
    return 0;
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
            copies_seen: lease_copies(),
        }
    }

    pub(crate) fn limits(&self) -> CacheLimits {
        self.limits
    }

    /// The entry for `key`, marked as most recently used.
    pub(crate) fn get(&mut self, key: &str) -> Option<Arc<OneData>> {
        let value = self.lru.get(key).map(|e| e.value.clone());
        self.recount();
        value
    }

    /// Whether `key` is cached, without changing its recency.
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.lru.contains(key)
    }

    /// Inserts or replaces `key`, then evicts the least recently used
    /// entries until the limits hold again. The new entry itself is never
    /// evicted, even if it alone exceeds a limit.
    pub(crate) fn insert(&mut self, key: String, value: Arc<OneData>) {
        let entry = Entry::new(value);
        self.account(&entry, true);
        if let Some(old) = self.lru.put(key, entry) {
            self.account(&old, false);
        }
        self.recount();
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

    pub(crate) fn stats(&mut self) -> CacheStats {
        self.recount();
        self.counted()
    }

    fn counted(&self) -> CacheStats {
        CacheStats {
            entries: self.lru.len(),
            owned_bytes: self.owned,
            mapped_bytes: self.mapped,
        }
    }

    fn account(&mut self, entry: &Entry, add: bool) {
        let (owned, mapped) = (entry.owned, entry.mapped);
        if add {
            self.owned = self.owned.saturating_add(owned);
            self.mapped = self.mapped.saturating_add(mapped);
        } else {
            self.owned = self.owned.saturating_sub(owned);
            self.mapped = self.mapped.saturating_sub(mapped);
        }
    }

    /// After a lease break copied a map into memory (anywhere in the
    /// process), counts again the dense entries that were mapped, and
    /// evicts to keep the limits.
    fn recount(&mut self) {
        let copies = lease_copies();
        if copies == self.copies_seen {
            return;
        }
        self.copies_seen = copies;
        let (mut owned, mut mapped) = (0usize, 0usize);
        for (_, entry) in self.lru.iter_mut() {
            if entry.mapped > 0 {
                entry.owned = entry.value.owned_bytes();
                entry.mapped = entry.value.mapped_bytes();
            }
            owned = owned.saturating_add(entry.owned);
            mapped = mapped.saturating_add(entry.mapped);
        }
        self.owned = owned;
        self.mapped = mapped;
        self.evict();
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
            .field("stats", &self.counted())
            .finish()
    }
}
