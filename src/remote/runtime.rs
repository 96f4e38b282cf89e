//! onedata's own async runtime for object store requests: created on first
//! use, and created anew in a forked child.
//!
//! The clients `object_store` builds (reqwest over hyper) need a tokio
//! runtime with IO and timers. onedata keeps one multi-threaded runtime of
//! two workers, so that concurrent callers (Python threads that released the
//! GIL) and the parallel range requests of one caller share it.
//!
//! After `fork` the child has the parent's memory but none of its threads:
//! the parent's runtime is unusable there and must not be dropped either
//! (its drop would wait for worker threads that do not exist). The runtime
//! remembers the process id that made it; a caller in another process
//! leaks the old one and makes its own. Clients made in the parent belong to
//! the parent's runtime and must be built again in the child.
//!
//! A runtime (or, inside another runtime, a thread to run on) that cannot
//! be started is an error, [`RemoteFault::Runtime`], never a panic; the
//! next request tries again.

use std::future::Future;

use parking_lot::Mutex;
use tokio::runtime::{Builder, Handle, Runtime};

use crate::error::{Error, Result};
use crate::RemoteFault;

/// The runtime and the process that made it. The runtime is leaked on
/// purpose: it lives as long as its process, and a forked child must never
/// drop its parent's.
static RUNTIME: Mutex<Option<(u32, &'static Runtime)>> = Mutex::new(None);

/// The runtime of this process, made on first use. Fails when its worker
/// threads cannot be started (the process is out of threads or memory);
/// the next call tries again.
fn runtime() -> std::io::Result<&'static Runtime> {
    let pid = std::process::id();
    let mut slot = RUNTIME.lock();
    if let Some((owner, rt)) = *slot {
        if owner == pid {
            return Ok(rt);
        }
    }
    // First use, or a forked child holding its parent's runtime: the old
    // one stays leaked (never dropped), and this process gets its own.
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("onedata-io")
        .enable_all()
        .build()?;
    let rt: &'static Runtime = Box::leak(Box::new(rt));
    *slot = Some((pid, rt));
    Ok(rt)
}

/// Runs `future` to completion on onedata's runtime and returns its output.
///
/// Works from any thread, including one that is itself running inside a
/// tokio runtime (an async caller's): the future then runs on a short-lived
/// thread of its own, since a runtime cannot block inside another.
///
/// # Errors
///
/// [`ErrorKind::Remote`](crate::ErrorKind::Remote) with
/// [`RemoteFault::Runtime`] when the runtime (or the short-lived thread)
/// cannot be started: the future has not run. No URL is concerned, so the
/// error's is empty; [`Remote`](super::Remote)'s requests name theirs.
///
/// ```
/// let answer = onedata::remote::block_on(async { 6 * 7 })?;
/// assert_eq!(answer, 42);
/// # Ok::<(), onedata::Error>(())
/// ```
pub fn block_on<F>(future: F) -> Result<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    block_on_for("", future)
}

/// [`block_on`] for a request about `url`, which names it in the error of
/// a runtime that cannot be started.
pub(crate) fn block_on_for<F>(url: &str, future: F) -> Result<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let unavailable = |e: std::io::Error| {
        Error::remote(
            url,
            RemoteFault::Runtime {
                message: e.to_string(),
            },
        )
    };
    if Handle::try_current().is_ok() {
        std::thread::scope(|scope| {
            let worker = std::thread::Builder::new()
                .spawn_scoped(scope, || runtime().map(|rt| rt.block_on(future)))
                .map_err(unavailable)?;
            worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                .map_err(unavailable)
        })
    } else {
        Ok(runtime().map_err(unavailable)?.block_on(future))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_on_works_inside_another_runtime() {
        let outer = Builder::new_current_thread().build().unwrap();
        let got = outer.block_on(async { block_on(async { 7 }) }).unwrap();
        assert_eq!(got, 7);
    }

    #[test]
    fn block_on_runs_timers_and_spawned_tasks() {
        let got = block_on(async {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            tokio::spawn(async { 5 }).await.unwrap()
        })
        .unwrap();
        assert_eq!(got, 5);
    }

    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    mod fork {
        use super::super::*;

        /// What the child reports through its exit status.
        const WORKED: i32 = 0;
        const WRONG_ANSWER: i32 = 3;
        const SAME_RUNTIME: i32 = 4;

        #[test]
        fn a_forked_child_gets_a_runtime_of_its_own() {
            // The parent's runtime exists and has run timers and tasks.
            let parent_rt = runtime().unwrap() as *const Runtime as usize;
            assert_eq!(
                block_on(async {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    tokio::spawn(async { 1 }).await.unwrap()
                })
                .unwrap(),
                1
            );
            // SAFETY: after fork the child may only rely on memory, not on
            // other threads. It runs block_on (which takes RUNTIME's lock,
            // builds a runtime with new threads and runs a future) and then
            // leaves with _exit, which runs no destructors and no atexit
            // handlers on the parent's state. No lock of ours is held here;
            // another test thread may hold RUNTIME's lock or an allocator
            // lock at the moment of the fork, in which case the child hangs
            // and this test with it: it cannot pass wrongly.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
            if pid == 0 {
                let status = std::panic::catch_unwind(|| {
                    let answer = block_on(async {
                        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                        tokio::spawn(async { 42 }).await.unwrap()
                    })
                    .unwrap();
                    if runtime().unwrap() as *const Runtime as usize == parent_rt {
                        SAME_RUNTIME
                    } else if answer != 42 {
                        WRONG_ANSWER
                    } else {
                        WORKED
                    }
                })
                .unwrap_or(2);
                // SAFETY: _exit ends the child at once; nothing of the
                // parent's state is touched after this point.
                unsafe { libc::_exit(status) };
            }
            let mut status = 0;
            // SAFETY: pid is our child; status is a valid out pointer.
            let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
            assert_eq!(waited, pid);
            assert!(libc::WIFEXITED(status), "child status {status:#x}");
            assert_eq!(libc::WEXITSTATUS(status), WORKED);
            // The parent's runtime is still the one it had and still works.
            assert_eq!(runtime().unwrap() as *const Runtime as usize, parent_rt);
            assert_eq!(block_on(async { 2 }).unwrap(), 2);
        }
    }
}
