//! Load latency: header parse, cold `loadone` at three sizes, cache hit,
//! a full pass over a freshly loaded spks matrix, and `saveone`.
//!
//! ```text
//! cargo bench --bench load
//! ```

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ndarray::Array2;
use onedata::npy::{Dtype, ElementKind, Header};
use onedata::{LoadOptions, Session, SessionData, SessionId};

const ROIS: usize = 1000;

/// `cargo test --benches` runs each benchmark once: keep the data small
/// there, full size under `cargo bench`.
fn scale(bytes: usize) -> usize {
    if std::env::args().any(|a| a == "--bench") {
        bytes
    } else {
        bytes.min(4 << 20)
    }
}

/// A float32 frames x ROIs matrix of about `bytes` bytes.
fn spks(bytes: usize) -> Array2<f32> {
    let frames = (bytes / 4 / ROIS).max(1);
    Array2::from_shape_fn((frames, ROIS), |(t, r)| ((t * 31 + r) % 1000) as f32 * 0.01)
}

fn session(root: &Path) -> Session {
    let id = SessionId::new("BENCH", "2024-01-01", Some("1")).unwrap();
    Session::from_root(root, id).unwrap()
}

fn header_parse(c: &mut Criterion) {
    let bytes = Header::new(Dtype::native(ElementKind::F32), false, &[104_857, 1000]).to_bytes();
    c.bench_function("header_parse", |b| {
        b.iter(|| Header::parse(black_box(&bytes)).unwrap())
    });
}

fn cold_loads(c: &mut Criterion) {
    let root = tempfile::tempdir().unwrap();
    let s = session(root.path());
    let mut group = c.benchmark_group("cold_loadone");
    for (label, size) in [("8KB", 8 << 10), ("4MB", 4 << 20), ("400MB", 400 << 20)] {
        let name = format!("bench.spks{label}");
        s.saveone(&spks(scale(size)), &name).unwrap();
        group.bench_function(label, |b| {
            b.iter_batched(
                || s.clear_cache(None),
                |()| {
                    let data = s.loadone(&name).unwrap();
                    black_box(data.view2::<f32>().unwrap().dim());
                    data
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn cache_hit(c: &mut Criterion) {
    let root = tempfile::tempdir().unwrap();
    let s = session(root.path());
    s.saveone(&spks(4 << 20), "bench.spks").unwrap();
    c.bench_function("cache_hit", |b| {
        b.iter(|| s.loadone(black_box("bench.spks")).unwrap())
    });
}

fn full_scan(c: &mut Criterion) {
    let root = tempfile::tempdir().unwrap();
    let s = session(root.path());
    let data = spks(scale(400 << 20));
    let bytes = data.len() * 4;
    s.saveone(&data, "bench.spks").unwrap();
    drop(data);
    let mut group = c.benchmark_group("full_scan");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(10);
    group.bench_function("400MB_sum", |b| {
        b.iter_batched(
            || s.clear_cache(None),
            |()| {
                let data = s.loadone("bench.spks").unwrap();
                let array = data.dense().unwrap();
                array.prefetch();
                black_box(array.view2::<f32>().unwrap().sum())
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn save(c: &mut Criterion) {
    let root = tempfile::tempdir().unwrap();
    let s = session(root.path());
    let data = spks(scale(400 << 20));
    let mut group = c.benchmark_group("saveone");
    group.throughput(Throughput::Bytes((data.len() * 4) as u64));
    group.sample_size(10);
    group.bench_function("400MB", |b| {
        b.iter(|| s.saveone(&data, "bench.saved").unwrap())
    });
    group.finish();
}

fn sparse(c: &mut Criterion) {
    let root = tempfile::tempdir().unwrap();
    let s = session(root.path());
    let (rows, cols) = if scale(usize::MAX) == usize::MAX {
        (40_000, 2_500)
    } else {
        (4_000, 250)
    };
    s.saveone(
        &onedata::demo::random_csc(rows, cols, 0.05, 11),
        "bench.sparse",
    )
    .unwrap();
    let mut group = c.benchmark_group("sparse_40000x2500_5pct");
    group.sample_size(20);
    for (label, keep) in [("kept_sparse", true), ("densified", false)] {
        group.bench_function(label, |b| {
            b.iter_batched(
                || s.clear_cache(None),
                |()| {
                    s.loadone_with("bench.sparse", LoadOptions::sparse(keep))
                        .unwrap()
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    header_parse,
    cold_loads,
    cache_hit,
    full_scan,
    sparse,
    save
);
criterion_main!(benches);
