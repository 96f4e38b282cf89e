//! Atomic, and by default durable, file writes: every file onedata writes
//! (dense and sparse arrays, recipes, `vrExperimentValues.json`) goes
//! through [`write_atomic_file`].

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};

/// Whether a save waits until its file is on the device.
///
/// Every save writes a temporary file (`.onedata-*.tmp`) in the target's
/// folder and renames it over the target, so readers, and a program killed
/// mid-save, only ever see the old file or the new one. What a power cut or
/// a kernel crash leaves depends on this setting:
///
/// - [`Durable`](Durability::Durable) (the default): the temporary file is
///   `fsync`ed before the rename, and the folder is `fsync`ed after it. When
///   the save returns, the new file, its contents and its name are on the
///   device: after a power cut the target is the new version, and before the
///   save returned it is the old one or the new one, never empty or torn.
///   On platforms other than Unix the folder cannot be opened to be synced:
///   the file is synced and the rename is left to the filesystem.
/// - [`Scratch`](Durability::Scratch): no `fsync`, as `numpy.save` writes.
///   A save returns as soon as the bytes are in the page cache; a power cut
///   within the next few seconds may leave the old file, an empty file or a
///   torn one. For data that can be recomputed.
///
/// ```
/// # fn main() -> onedata::Result<()> {
/// use ndarray::array;
/// use onedata::npy::{write_npy, write_npy_with, NpyArray};
/// use onedata::Durability;
///
/// let dir = tempfile::tempdir().unwrap();
/// write_npy(dir.path().join("kept.npy"), &array![1.0f64, 2.0])?; // Durable
/// let scratch = dir.path().join("scratch.npy");
/// write_npy_with(&scratch, &array![3.0f64], Durability::Scratch)?;
/// assert_eq!(NpyArray::open(&scratch)?.view1::<f64>()?[0], 3.0);
/// assert_eq!(Durability::default(), Durability::Durable);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Durability {
    /// `fsync` the file before the rename and its folder after it.
    #[default]
    Durable,
    /// No `fsync`: atomic for readers and killed writers, not for power cuts.
    Scratch,
}

impl Durability {
    /// Whether saves `fsync`.
    pub fn is_durable(self) -> bool {
        self == Durability::Durable
    }
}

/// Writes a file atomically through a buffered `write` (see
/// [`write_atomic_file`]).
pub(crate) fn write_atomic(
    path: &Path,
    durability: Durability,
    write: impl FnOnce(&mut io::BufWriter<&File>) -> io::Result<()>,
) -> Result<()> {
    write_atomic_file(path, durability, |file, _| {
        let mut w = io::BufWriter::with_capacity(1 << 16, file);
        write(&mut w)?;
        w.flush()
    })
}

/// Writes a file atomically: `write` fills a temporary file in `path`'s
/// folder (given open, and by its path), which is then renamed over `path`.
/// When `durability` is [`Durability::Durable`], the temporary file is
/// synced (`fsync`) before the rename and the folder after it.
///
/// `write` may write through another handle it opens on the temporary path
/// (the direct I/O of large arrays does): `fsync` flushes the file the
/// descriptor refers to, whichever descriptor wrote its pages or changed
/// its length (fsync(2): "all modified in-core data of the file referred to
/// by the file descriptor").
pub(crate) fn write_atomic_file(
    path: &Path,
    durability: Durability,
    write: impl FnOnce(&File, &Path) -> io::Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX).suffix(TEMP_SUFFIX);
    // Files get the permissions `numpy.save` gives them (0666 less the umask),
    // not the private 0600 of temporary files.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let tmp = builder.tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
    // Held until the file is closed: the mark of a save in progress, which
    // `remove_stale_temporaries` never touches. Filesystems without locks
    // go without the mark.
    let _ = tmp.as_file().lock();
    write(tmp.as_file(), tmp.path()).map_err(|e| Error::io(tmp.path(), e))?;
    if durability.is_durable() {
        // The data and the length, before the name points at them: a rename
        // that reaches the device first would name a file still empty.
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io(tmp.path(), e))?;
    }
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    if durability.is_durable() {
        sync_folder(dir).map_err(|e| Error::io(dir, e))?;
    }
    Ok(())
}

/// Syncs the folder `dir`, so that a rename in it is on the device. Folders
/// whose filesystem cannot sync them (`EINVAL`, `ENOTSUP`: some network and
/// FUSE filesystems) are left as they are: the rename is then as durable as
/// that filesystem makes it.
#[cfg(unix)]
fn sync_folder(dir: &Path) -> io::Result<()> {
    match File::open(dir)?.sync_all() {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
            ) =>
        {
            Ok(())
        }
        other => other,
    }
}

/// Folders cannot be opened as files here: the rename is left to the
/// filesystem.
#[cfg(not(unix))]
fn sync_folder(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// The name of every temporary file of a save: `.onedata-<random>.tmp`.
const TEMP_PREFIX: &str = ".onedata-";
const TEMP_SUFFIX: &str = ".tmp";

/// How old a temporary file must be before it may count as left over.
const STALE_AFTER: Duration = Duration::from_secs(60);

/// Deletes the temporary files that saves killed mid-write (SIGKILL, a
/// crash, a power cut) left in `dir`, and returns their paths.
///
/// A save writes `.onedata-<random>.tmp` and renames it over its target;
/// a save that never reached the rename leaves it behind, hidden, never
/// listed or loaded, but taking space (a killed save of a large spks file
/// leaves gigabytes). A temporary file is deleted only when it is at least
/// a minute old and no process holds the lock its save keeps on it for as
/// long as the file is open (`flock`), so a save in progress, in this
/// process or any other, is never disturbed. Sessions call this on their
/// first save; a missing folder has nothing to delete.
///
/// ```
/// # fn main() -> onedata::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let left = dir.path().join(".onedata-abc123.tmp");
/// std::fs::write(&left, b"half a file").unwrap();
/// // Too recent to count as left over.
/// assert!(onedata::remove_stale_temporaries(dir.path())?.is_empty());
/// # Ok(()) }
/// ```
pub fn remove_stale_temporaries(dir: &Path) -> Result<Vec<PathBuf>> {
    remove_temporaries_older_than(dir, STALE_AFTER)
}

pub(crate) fn remove_temporaries_older_than(dir: &Path, age: Duration) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let now = SystemTime::now();
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !(name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|a| a >= age);
        if !meta.is_file() || !old {
            continue;
        }
        let Ok(file) = File::open(&path) else {
            continue;
        };
        // Taken only if no save holds it; kept until the file is deleted, so
        // that no other sweeper counts the same file twice.
        if file.try_lock().is_err() {
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
    removed.sort();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Left-over temporaries go; one whose save still holds it stays, and
    /// so do files that are not temporaries.
    #[test]
    fn only_unlocked_temporaries_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let left = dir.path().join(".onedata-left.tmp");
        std::fs::write(&left, b"torn").unwrap();
        let busy = dir.path().join(".onedata-busy.tmp");
        std::fs::write(&busy, b"in progress").unwrap();
        let held = File::open(&busy).unwrap();
        held.lock().unwrap();
        let other = dir.path().join("mpci.x.npy");
        std::fs::write(&other, b"kept").unwrap();
        let like = dir.path().join(".onedata-notes.txt");
        std::fs::write(&like, b"kept").unwrap();

        let removed = remove_temporaries_older_than(dir.path(), Duration::ZERO).unwrap();
        assert_eq!(removed, vec![left.clone()]);
        assert!(!left.exists() && busy.exists() && other.exists() && like.exists());
        drop(held);
        let removed = remove_temporaries_older_than(dir.path(), Duration::ZERO).unwrap();
        assert_eq!(removed, vec![busy.clone()]);
        // Nothing is old enough under the real age.
        std::fs::write(&left, b"torn").unwrap();
        assert!(remove_stale_temporaries(dir.path()).unwrap().is_empty());
        assert!(remove_stale_temporaries(&dir.path().join("missing"))
            .unwrap()
            .is_empty());
    }

    /// A save's temporary file is locked while it is written.
    #[test]
    fn a_save_in_progress_holds_its_lock() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.npy");
        write_atomic(&target, Durability::Scratch, |w| {
            let removed = remove_temporaries_older_than(dir.path(), Duration::ZERO)
                .map_err(io::Error::other)?;
            assert!(removed.is_empty(), "{removed:?}");
            w.write_all(b"whole")
        })
        .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"whole");
    }
}
