//! onedata against the installed numpy and scipy: `.npy` files and headers,
//! sparse `.npz` archives, loading recipes, B2 sessions and session folders,
//! each checked against what numpy and scipy write and read, and values JSON
//! against Python's `json` (`values`).
//!
//! One test binary, one module per concern. The fixtures Python generates
//! are made once per run and shared by the tests that read them
//! (`common::run_dir`). numpy and scipy are required: without them these
//! tests fail, they never skip.

#[path = "../common/mod.rs"]
mod common;

mod allocations;
mod b2;
mod npy_headers;
mod npy_interop;
mod recipe;
mod session;
mod sparse;
mod sparse_stored;
mod values;
