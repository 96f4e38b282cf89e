//! Allocation tracking for the whole test binary: the largest single
//! allocation, the peak of live bytes and the number of allocations on the
//! current thread, to show hostile inputs allocate nothing large and bombs
//! stay within the bounds, without a clock.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Tracking;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn note_alloc(size: usize) {
    let _ = LARGEST.try_with(|m| m.set(m.get().max(size)));
    let _ = COUNT.try_with(|c| c.set(c.get() + 1));
    let _ = LIVE.try_with(|live| {
        let now = live.get() + size as isize;
        live.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

fn note_dealloc(size: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get() - size as isize));
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_dealloc(layout.size());
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_dealloc(layout.size());
        note_alloc(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// Runs `f`; returns its result, the largest single allocation and the peak
/// of extra live bytes on this thread while it ran.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    LARGEST.with(|m| m.set(0));
    let base = LIVE.with(|l| l.get());
    PEAK.with(|p| p.set(base));
    let out = f();
    let largest = LARGEST.with(|m| m.get());
    let peak = PEAK.with(|p| p.get()) - base;
    (out, largest, peak.max(0) as usize)
}

/// Runs `f`; returns its result and how many allocations (reallocations
/// included) it made on this thread: a measure of the work done.
pub fn count_allocations<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = COUNT.with(|c| c.get());
    let out = f();
    (out, COUNT.with(|c| c.get()) - base)
}
