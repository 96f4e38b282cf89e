//! Maps that no other program can change or truncate under a view (Linux).
//!
//! A shared map shows its file's inode as it is now: `np.save` to the same
//! path truncates and rewrites that inode, and a view of the old map would
//! change values under a live `&[T]`, or fault with SIGBUS past the new
//! end. So each map of a local file holds a read lease on it
//! (`fcntl(F_SETLEASE, F_RDLCK)`). When another process opens the file for
//! writing or truncates it, the kernel holds that `open` (or `truncate`)
//! and signals onedata: the signal handler only writes the file descriptor
//! to a pipe; a service thread reads it, copies the mapped bytes into
//! anonymous memory and moves that memory over the very same addresses
//! (`mremap(MREMAP_FIXED)`), so every view keeps its values at its address;
//! then it releases the lease and the writer goes on. The writer waits for
//! one copy of the map; the process then holds that copy in memory until
//! the last view of it is dropped.
//!
//! A lease cannot be had when the file is already open for writing, when
//! the process is neither the file's owner nor has `CAP_LEASE`, on
//! filesystems without leases (NFS, SMB, FUSE), in a forked child of the
//! process that set up the service, or when `/proc/sys/fs/leases-enable` is
//! 0. [`Lease::take`] then returns `None` and the caller chooses by its
//! [`MapPolicy`](super::MapPolicy).
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

/// A read lease on one open file, and the map it protects.
pub(crate) struct Lease {
    inner: Arc<Inner>,
}

struct Inner {
    /// The file the lease was set on (the lease belongs to its open file
    /// description, which this keeps open; closing it releases the lease).
    file: Arc<File>,
    state: Mutex<State>,
}

impl Inner {
    fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

#[derive(Clone, Copy)]
enum State {
    /// Leased; no map registered yet.
    Leased,
    /// Leased, protecting the map at `ptr` of `len` bytes.
    Mapped { ptr: usize, len: usize },
    /// The lease was broken or released: the file is no longer watched.
    /// `copied`: the map it protected is now anonymous memory holding the
    /// bytes it had. False when there was no map, or when the copy could
    /// not be made (no memory), leaving the map on the file, unprotected.
    Detached { copied: bool },
}

/// Bumped each time a lease break copies a map into memory, so that caches
/// know to count again what they hold in memory (see [`copies`]).
static COPIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many maps lease breaks have copied into memory so far.
pub(crate) fn copies() -> u64 {
    COPIES.load(std::sync::atomic::Ordering::Acquire)
}

/// The service: the pipe the signal handler writes to, and the leases by
/// descriptor.
struct Service {
    leases: Mutex<HashMap<RawFd, Arc<Inner>>>,
}

/// Set in a forked child: the service thread lives only in the parent.
static FORKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn in_forked_child() {
    FORKED.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// The write end of the service's pipe, for the signal handler.
static PIPE_WRITE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

static SERVICE: OnceLock<Option<Service>> = OnceLock::new();

/// `fcntl`'s F_SETSIG (Linux's `<fcntl.h>`; the `libc` crate lacks it).
const F_SETSIG: libc::c_int = 10;

/// The signal onedata sets on leased descriptors: a real-time signal, so
/// that breaks queue rather than merge, and the handler learns the
/// descriptor from `si_fd`.
fn lease_signal() -> libc::c_int {
    libc::SIGRTMIN() + 6
}

extern "C" fn on_lease_break(
    _sig: libc::c_int,
    info: *mut libc::siginfo_t,
    _ctx: *mut libc::c_void,
) {
    // Only async-signal-safe calls here: read `si_fd`, write 4 bytes.
    if info.is_null() {
        return;
    }
    // SAFETY: the kernel passes a valid siginfo_t for an SA_SIGINFO handler;
    // for a lease signal set with F_SETSIG it is a SIGPOLL-style record
    // whose `si_fd` field sits right after `si_band` (glibc's layout:
    // si_signo, si_errno, si_code, then on 64-bit a 4-byte pad, then the
    // union whose sigpoll arm is `long si_band; int si_fd;`).
    let fd: libc::c_int = unsafe {
        let base = info as *const u8;
        let union_at = std::mem::size_of::<libc::c_int>() * 3
            + if cfg!(target_pointer_width = "64") {
                4
            } else {
                0
            };
        let fd_at = union_at + std::mem::size_of::<libc::c_long>();
        std::ptr::read_unaligned(base.add(fd_at) as *const libc::c_int)
    };
    let pipe = PIPE_WRITE.load(std::sync::atomic::Ordering::Relaxed);
    if pipe >= 0 {
        let bytes = fd.to_ne_bytes();
        // SAFETY: `write` is async-signal-safe and never blocks here (the
        // pipe's write end is non-blocking); `bytes` is a live 4-byte
        // buffer; a failed write (a full pipe) loses one notice, after which
        // the kernel breaks the lease itself at lease-break-time. errno,
        // which a failed write sets, is put back as the interrupted code
        // left it (`__errno_location` is the calling thread's errno).
        unsafe {
            let errno = libc::__errno_location();
            let saved = *errno;
            libc::write(pipe, bytes.as_ptr().cast(), bytes.len());
            *errno = saved;
        }
    }
}

/// The service, started on first use; `None` in a forked child (whose
/// leases would signal it, with no thread to serve them: its loads go
/// without leases, as on a filesystem without them).
fn service() -> Option<&'static Service> {
    if FORKED.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    SERVICE.get_or_init(|| start().ok()).as_ref()
}

fn start() -> io::Result<Service> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // The handler's end never blocks: with the pipe full (65536 bytes of
    // notices unread) a notice is lost rather than the handler stuck.
    // SAFETY: fcntl on the descriptor pipe2 just returned.
    if unsafe { libc::fcntl(fds[1], libc::F_SETFL, libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two fresh descriptors that nothing else owns.
    let (read_end, write_end) =
        unsafe { (File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: `action` is zero-initialised (a valid sigaction: empty mask)
    // and then given a handler of the SA_SIGINFO signature.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_lease_break as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(lease_signal(), &action, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: registers a plain function that stores to an atomic, which
    // is async-signal-safe as the child side of fork requires.
    unsafe {
        libc::pthread_atfork(None, None, Some(in_forked_child));
    }
    PIPE_WRITE.store(
        std::os::fd::IntoRawFd::into_raw_fd(write_end),
        std::sync::atomic::Ordering::Relaxed,
    );
    std::thread::Builder::new()
        .name("onedata-leases".into())
        .spawn(move || serve(read_end))?;
    Ok(Service {
        leases: Mutex::new(HashMap::new()),
    })
}

/// The service thread: one lease break at a time.
fn serve(mut pipe: File) {
    let mut buf = [0u8; 4];
    while pipe.read_exact(&mut buf).is_ok() {
        let fd = RawFd::from_ne_bytes(buf);
        let Some(service) = SERVICE.get().and_then(|s| s.as_ref()) else {
            continue;
        };
        let inner = service.leases.lock().remove(&fd);
        if let Some(inner) = inner {
            detach(&inner);
        }
    }
}

/// Moves the protected map (if any) into anonymous memory and releases
/// the lease.
fn detach(inner: &Inner) {
    let mut state = inner.state.lock();
    let mut copied = false;
    if let State::Mapped { ptr, len } = *state {
        // If the copy cannot be made (no memory), the lease is released all
        // the same, or the writer would wait for the kernel's timeout; the
        // map then shows the file as the writer leaves it, and says it is
        // no longer protected.
        copied = copy_in_place(&inner.file, ptr, len).is_ok();
    }
    *state = State::Detached { copied };
    drop(state);
    if copied {
        COPIES.fetch_add(1, std::sync::atomic::Ordering::Release);
    }
    // SAFETY: fcntl on a descriptor this lease owns; releasing a lease
    // has no other effect.
    unsafe {
        libc::fcntl(inner.fd(), libc::F_SETLEASE, libc::F_UNLCK);
    }
}

/// Replaces the shared file map at `ptr..ptr + len` (the file's bytes from
/// offset 0) by private anonymous memory holding the same bytes, at the
/// same addresses. The bytes are read with `pread` on two threads, which
/// copies from the page cache without faulting in the map page by page.
fn copy_in_place(file: &File, ptr: usize, len: usize) -> io::Result<()> {
    // SAFETY: a fresh private anonymous map, owned here until it is moved.
    let fresh = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if fresh == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fresh` is `len` writable bytes owned here, and nothing else
    // refers to them until the mremap below.
    let dest = unsafe {
        libc::madvise(fresh, len, libc::MADV_HUGEPAGE);
        std::slice::from_raw_parts_mut(fresh as *mut u8, len)
    };
    if let Err(e) = read_fully(file, dest) {
        // SAFETY: `fresh` is the map made above, not yet moved.
        unsafe { libc::munmap(fresh, len) };
        return Err(e);
    }
    // SAFETY: the file cannot have changed since it was mapped (the lease
    // holds every writer in `open`/`truncate` until it is released, after
    // this), so `dest` now holds exactly the bytes of the map at `ptr`.
    // mremap atomically replaces the old map by the new one at the old
    // address (MREMAP_FIXED unmaps what was there; the owner of the map
    // waits on the state lock we hold, so it is still mapped), and readers
    // of the old addresses see the same bytes before and after.
    unsafe {
        libc::mprotect(fresh, len, libc::PROT_READ);
        let moved = libc::mremap(
            fresh,
            len,
            len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            ptr as *mut libc::c_void,
        );
        if moved == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            libc::munmap(fresh, len);
            return Err(e);
        }
    }
    Ok(())
}

/// Reads the file's first `out.len()` bytes into `out`, the two halves on
/// two threads for large files.
fn read_fully(file: &File, out: &mut [u8]) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    if out.len() < (8 << 20) {
        return file.read_exact_at(out, 0);
    }
    let half = out.len() / 2;
    let (a, b) = out.split_at_mut(half);
    std::thread::scope(|s| {
        let other = s.spawn(|| file.read_exact_at(b, half as u64));
        let first = file.read_exact_at(a, 0);
        first.and(
            other
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("a read thread failed"))),
        )
    })
}

/// For `onedata bench`'s floor: sets the read lease a load takes on
/// `file`, with nothing registered for it (closing the file releases it).
/// False where no lease can be had.
pub(crate) fn floor_lease(file: &File) -> bool {
    if service().is_none() {
        return false;
    }
    let raw = file.as_raw_fd();
    // SAFETY: as in `Lease::take`: fcntl on a descriptor open for this
    // call, changing only how this open file is watched. The signal's
    // handler is installed (the service is running), and a break finds
    // the descriptor unregistered, so the service only drops the notice.
    unsafe {
        libc::fcntl(raw, F_SETSIG, lease_signal()) == 0
            && libc::fcntl(raw, libc::F_SETLEASE, libc::F_RDLCK) == 0
    }
}

impl Lease {
    /// Takes a read lease on `file` (open read-only), or `None` when none
    /// can be had (see the module docs).
    pub(crate) fn take(file: &Arc<File>) -> Option<Lease> {
        let service = service()?;
        let raw = file.as_raw_fd();
        // SAFETY: fcntl on a descriptor open for this call; F_SETSIG
        // changes only which signal reports on this open file.
        if unsafe { libc::fcntl(raw, F_SETSIG, lease_signal()) } != 0 {
            return None;
        }
        // EAGAIN: the file is open for writing somewhere. Often only for a
        // moment: a child forked by another thread holds every descriptor
        // of the parent (a save's file among them) until it execs. So the
        // lease is asked for again, three times over about 3 ms, before the
        // load goes without one; other refusals are final.
        let mut waits = [100u64, 500, 2_000].into_iter();
        loop {
            // The table stays locked from the lease to its entry: a break
            // signalled in between finds the service waiting on the table,
            // and then the entry, so no notice is dropped.
            let mut leases = service.leases.lock();
            // SAFETY: as above; F_SETLEASE changes only how this open file
            // is watched.
            if unsafe { libc::fcntl(raw, libc::F_SETLEASE, libc::F_RDLCK) } == 0 {
                let inner = Arc::new(Inner {
                    file: file.clone(),
                    state: Mutex::new(State::Leased),
                });
                leases.insert(raw, inner.clone());
                return Some(Lease { inner });
            }
            drop(leases);
            let busy = io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN);
            match waits.next() {
                Some(us) if busy => std::thread::sleep(std::time::Duration::from_micros(us)),
                _ => return None,
            }
        }
    }

    /// Registers the map this lease protects. Returns false if the lease
    /// was broken before (the caller must not rely on the map then).
    pub(crate) fn protect(&self, map: &[u8]) -> bool {
        let mut state = self.inner.state.lock();
        match *state {
            State::Leased => {
                *state = State::Mapped {
                    ptr: map.as_ptr() as usize,
                    len: map.len(),
                };
                true
            }
            State::Mapped { .. } | State::Detached { .. } => false,
        }
    }

    /// Whether a lease break moved the map into private memory: its bytes
    /// are then the process's own, no longer the page cache's. False while
    /// a copy is in progress (the service holds the state): callers such
    /// as the cache's count never wait for one.
    pub(crate) fn is_copied(&self) -> bool {
        self.inner
            .state
            .try_lock()
            .is_some_and(|s| matches!(*s, State::Detached { copied: true }))
    }

    /// Whether the map is safe from other writers: leased (and served), or
    /// already copied. False when a break found no memory for the copy,
    /// and in a forked child for a map still on the file: the child's map
    /// is its own, and no service of the child answers a break. True while
    /// a copy is in progress (the map is leased until it is done).
    pub(crate) fn holds(&self) -> bool {
        let forked = FORKED.load(std::sync::atomic::Ordering::Relaxed);
        match self.inner.state.try_lock() {
            None => !forked,
            Some(s) => match *s {
                State::Detached { copied } => copied,
                State::Leased | State::Mapped { .. } => !forked,
            },
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // In a forked child the lease is the parent's (it belongs to the
        // open file both share): releasing it would leave the parent's map
        // unprotected, and the locks may have been held by a parent thread
        // at the fork. The child only closes its copy of the descriptor.
        if FORKED.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        // Unregister first, so the descriptor number is never looked up
        // after it is closed; then wait out a detach in progress (the
        // service thread holds the state lock while it copies), so the map
        // is unmapped only after the service is done with it.
        let fd = self.inner.fd();
        if let Some(service) = SERVICE.get().and_then(|s| s.as_ref()) {
            let mut leases = service.leases.lock();
            if leases.get(&fd).is_some_and(|l| Arc::ptr_eq(l, &self.inner)) {
                leases.remove(&fd);
            }
        }
        let mut state = self.inner.state.lock();
        // Released explicitly rather than by the close: a forked child may
        // hold the same open file, which would keep the lease alive with no
        // service to answer a writer.
        if !matches!(*state, State::Detached { .. }) {
            // SAFETY: as in `detach`.
            unsafe {
                libc::fcntl(fd, libc::F_SETLEASE, libc::F_UNLCK);
            }
        }
        *state = State::Detached { copied: false };
    }
}

/// Whether `file` is on a network or FUSE filesystem (by `fstatfs`'s
/// `f_type`), where maps are slow and can fault, and leases are refused.
/// Answers are cached by device, so a session's loads pay one `fstatfs`.
pub(crate) fn is_remote_fs(file: &File, dev: u64) -> bool {
    static KNOWN: Mutex<Vec<(u64, bool)>> = parking_lot::const_mutex(Vec::new());
    if let Some(&(_, remote)) = KNOWN.lock().iter().find(|(d, _)| *d == dev) {
        return remote;
    }
    let remote = statfs_remote(file);
    let mut known = KNOWN.lock();
    if known.len() < 64 {
        known.push((dev, remote));
    }
    remote
}

fn statfs_remote(file: &File) -> bool {
    // SAFETY: `buf` is a zeroed statfs for fstatfs to fill; the descriptor
    // is open for the whole call.
    let kind = unsafe {
        let mut buf: libc::statfs = std::mem::zeroed();
        if libc::fstatfs(file.as_raw_fd(), &mut buf) != 0 {
            return false;
        }
        buf.f_type as i64
    };
    is_remote_magic(kind)
}

/// The `statfs` magic numbers of network and FUSE filesystems.
pub(crate) fn is_remote_magic(kind: i64) -> bool {
    const REMOTE: [i64; 10] = [
        0x6969,      // NFS
        0x517B,      // SMB
        0xFF53_4D42, // CIFS
        0xFE53_4D42, // SMB2
        0x6573_5546, // FUSE
        0x0BD0_0BD0, // Lustre
        0x00C3_6400, // Ceph
        0x0102_1997, // 9p (v9fs)
        0x5346_414F, // AFS
        0x4750_4653, // GPFS
    ];
    REMOTE.contains(&kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_and_fuse_filesystems_are_remote() {
        for magic in [0x6969, 0xFF53_4D42, 0xFE53_4D42, 0x6573_5546, 0x0BD0_0BD0] {
            assert!(is_remote_magic(magic), "{magic:#x}");
        }
        // ext4, xfs, btrfs, tmpfs, overlayfs are local.
        for magic in [0xEF53, 0x5846_5342, 0x9123_683E, 0x0102_1994, 0x794C_7630] {
            assert!(!is_remote_magic(magic), "{magic:#x}");
        }
        let here = File::open(env!("CARGO_MANIFEST_DIR")).unwrap();
        assert!(!statfs_remote(&here), "the checkout is on a local disk");
    }
}
