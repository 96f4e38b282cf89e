//! When a load maps its file, and when it reads it into memory instead.

use super::read::OpenedFile;
use super::storage::{AlignedBuf, Storage};
use crate::error::{Error, ErrorKind, Result};

/// Whether loads map their files or read them into owned memory.
///
/// A map is zero copy and opens in constant time, but its bytes are the
/// file's: if another program rewrites the file in place (`np.save` to the
/// same path truncates and rewrites it), a view could change, or fault
/// past a truncation. On Linux, onedata holds a read lease on every file it
/// maps, which makes such a writer wait until the map has moved into
/// private memory ([`NpyArray::is_protected`](super::NpyArray::is_protected)).
/// Where no lease can be had, the policy decides:
///
/// | policy | local file, lease held | no lease (network or FUSE filesystem, another user's file, file open for writing, not Linux) |
/// |---|---|---|
/// | [`Auto`](MapPolicy::Auto) (default) | mapped, protected | read into owned memory |
/// | [`Always`](MapPolicy::Always) | mapped, protected | mapped, **unprotected** |
/// | [`Never`](MapPolicy::Never) | read into owned memory | read into owned memory |
///
/// Network and FUSE filesystems (NFS, SMB/CIFS, FUSE (sshfs, s3fs,
/// gcsfuse...), Lustre, Ceph, 9p, AFS, GPFS, recognised by `statfs`) are read into memory under
/// `Auto` without trying a lease: mapped reads there are slow and fault on
/// server hiccups. Object arrays, recipes and sparse archives decode into
/// owned memory whatever the policy; their short-lived maps take a lease
/// the same way.
///
/// ```
/// # fn main() -> onedata::Result<()> {
/// use onedata::npy::{write_npy, MapPolicy, NpyArray};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("a.npy");
/// write_npy(&path, &ndarray::array![1.0f64, 2.0])?;
/// let owned = NpyArray::open_with(&path, MapPolicy::Never)?;
/// assert!(!owned.is_mapped() && owned.is_protected());
/// let auto = NpyArray::open(&path)?; // MapPolicy::Auto
/// assert!(auto.is_protected());
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MapPolicy {
    /// Map with a lease; read into memory where no lease can be had.
    #[default]
    Auto,
    /// Always map (zero copy), protected where a lease can be had and
    /// unprotected elsewhere, as `np.load(mmap_mode='r')` always is.
    Always,
    /// Always read into owned memory.
    Never,
}

impl MapPolicy {
    /// The storage for a file whose header has been checked against its
    /// length: a map or the whole file read into memory; `None` if the file
    /// changed while it was read (the caller opens it again).
    pub(crate) fn storage(self, file: &OpenedFile<'_>) -> Result<Option<Storage>> {
        match self {
            MapPolicy::Never => read_whole(file),
            MapPolicy::Always => file.map().map(Some),
            // No lease was had: no map is made only to be dropped.
            MapPolicy::Auto if !file.is_leased() || file.is_remote() => read_whole(file),
            MapPolicy::Auto => {
                let map = file.map()?;
                if map.is_protected() {
                    Ok(Some(map))
                } else {
                    drop(map);
                    read_whole(file)
                }
            }
        }
    }
}

/// The whole file in fresh memory, with positioned reads on up to four
/// threads. `None` when the file changed while it was read (its length or
/// times differ from what they were at open, or it ended early): without a
/// lease, a writer may be rewriting it, and the bytes read may mix two
/// versions.
fn read_whole(file: &OpenedFile<'_>) -> Result<Option<Storage>> {
    let len = file.len();
    let mut buf = AlignedBuf::try_for_overwrite(len).ok_or_else(|| {
        Error::new(ErrorKind::OutOfMemory {
            what: format!("the bytes of {}", file.path().display()),
            bytes: len as u128,
        })
    })?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let read = file.read_exact_at(buf.as_bytes_mut(), 0, threads);
    if !file.unchanged()? {
        return Ok(None);
    }
    read?;
    Ok(Some(Storage::Owned(buf)))
}
