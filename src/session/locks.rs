//! The per-name locks of a session: loads, saves and deletions of one file
//! name take turns, and a recipe that asks (directly or through other
//! recipes, in one thread or across threads) for a name being loaded is an
//! [`ErrorKind::RecipeCycle`] instead of a deadlock.
//!
//! One table, under one mutex, records which thread holds each name, the
//! names each thread holds (in the order it took them: a thread takes a
//! second name only while resolving a recipe under the first) and the name
//! each blocked thread waits for. Before blocking, a thread follows the
//! edges "name -> its holder -> the name that holder waits for -> ...": if
//! they lead back to itself, waiting would never end, and it returns the
//! names along the cycle instead. The thread that closes a cycle is always
//! the one that finds it, since it adds the last edge under the table lock.

use std::collections::HashMap;
use std::thread::{self, ThreadId};

use parking_lot::{Condvar, Mutex};

/// The lock table of one session.
#[derive(Default)]
pub(super) struct NameLocks {
    table: Mutex<Table>,
    released: Condvar,
}

#[derive(Default)]
struct Table {
    /// Name -> the thread holding it.
    holder: HashMap<String, ThreadId>,
    /// Thread -> the names it holds, in the order it took them.
    held: HashMap<ThreadId, Vec<String>>,
    /// Thread -> the name it is blocked on.
    waiting: HashMap<ThreadId, String>,
}

/// Holding a name; dropping it releases the name (also on a panic).
pub(super) struct NameGuard<'a> {
    locks: &'a NameLocks,
    name: String,
    me: ThreadId,
}

impl NameLocks {
    /// Takes `name`, waiting while another thread holds it. When waiting
    /// would close a cycle (this thread holds, directly or through the
    /// threads it would wait on, a name the holder waits for), nothing is
    /// taken and the names along the cycle are returned, first and last
    /// `name`: `["a.npy", "b.npy", "a.npy"]`.
    pub(super) fn lock(&self, name: &str) -> Result<NameGuard<'_>, Vec<String>> {
        let me = thread::current().id();
        let mut table = self.table.lock();
        loop {
            let Some(&holder) = table.holder.get(name) else {
                table.waiting.remove(&me);
                table.holder.insert(name.to_string(), me);
                table.held.entry(me).or_default().push(name.to_string());
                return Ok(NameGuard {
                    locks: self,
                    name: name.to_string(),
                    me,
                });
            };
            if let Some(cycle) = table.cycle_through(name, holder, me) {
                table.waiting.remove(&me);
                return Err(cycle);
            }
            table.waiting.insert(me, name.to_string());
            self.released.wait(&mut table);
        }
    }
}

impl Table {
    /// The cycle `me` would close by waiting for `name`, held by `holder`.
    fn cycle_through(&self, name: &str, holder: ThreadId, me: ThreadId) -> Option<Vec<String>> {
        let mut path = vec![name.to_string()];
        let (mut wanted, mut thread) = (name, holder);
        // Each step moves to another blocked thread; more steps than there
        // are blocked threads means a cycle that does not pass through `me`
        // (its own closer reports it), so stop there.
        for _ in 0..=self.waiting.len() {
            // The names `thread` took after `wanted`: the recipes it is
            // resolving under it.
            if let Some(stack) = self.held.get(&thread) {
                let from = stack.iter().position(|n| n == wanted).map_or(0, |i| i + 1);
                path.extend(stack[from..].iter().cloned());
            }
            if thread == me {
                path.push(name.to_string());
                return Some(path);
            }
            let next = self.waiting.get(&thread)?;
            path.push(next.clone());
            wanted = next;
            thread = *self.holder.get(next.as_str())?;
        }
        None
    }
}

impl Drop for NameGuard<'_> {
    fn drop(&mut self) {
        let mut table = self.locks.table.lock();
        table.holder.remove(&self.name);
        if let Some(stack) = table.held.get_mut(&self.me) {
            if let Some(i) = stack.iter().rposition(|n| *n == self.name) {
                stack.remove(i);
            }
            if stack.is_empty() {
                table.held.remove(&self.me);
            }
        }
        drop(table);
        self.locks.released.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_taken_again_by_its_holder_is_a_cycle() {
        let locks = NameLocks::default();
        let _a = locks.lock("a.npy").unwrap();
        assert_eq!(locks.lock("a.npy").err().unwrap(), ["a.npy", "a.npy"]);
        let _b = locks.lock("b.npy").unwrap();
        assert_eq!(
            locks.lock("a.npy").err().unwrap(),
            ["a.npy", "b.npy", "a.npy"]
        );
    }

    #[test]
    fn names_are_free_again_once_released() {
        let locks = NameLocks::default();
        drop(locks.lock("a.npy").unwrap());
        let a = locks.lock("a.npy").unwrap();
        drop(a);
        assert!(locks.table.lock().holder.is_empty());
        assert!(locks.table.lock().held.is_empty());
    }

    #[test]
    fn two_threads_closing_a_cycle_do_not_wait_forever() {
        let locks = NameLocks::default();
        let both_hold = std::sync::Barrier::new(2);
        let errors: Vec<Option<Vec<String>>> = std::thread::scope(|s| {
            let run = |mine: &'static str, theirs: &'static str| {
                let locks = &locks;
                let both_hold = &both_hold;
                s.spawn(move || {
                    let _mine = locks.lock(mine).unwrap();
                    both_hold.wait();
                    locks.lock(theirs).err()
                })
            };
            let t1 = run("a.npy", "b.npy");
            let t2 = run("b.npy", "a.npy");
            vec![t1.join().unwrap(), t2.join().unwrap()]
        });
        // One of them closes the cycle and is refused; the other then gets
        // the name once the first lets go of its own.
        let refused: Vec<_> = errors.iter().flatten().collect();
        assert_eq!(refused.len(), 1, "{errors:?}");
        let cycle = refused[0];
        assert!(
            cycle == &["b.npy", "a.npy", "b.npy"] || cycle == &["a.npy", "b.npy", "a.npy"],
            "{cycle:?}"
        );
    }
}
