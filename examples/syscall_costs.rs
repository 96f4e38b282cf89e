//! What each step of a mapped load costs on this machine: open, fstat,
//! pread of the header, mmap, close, the first touch of the map (a page
//! fault, which maps a window of pages around it) and munmap. Medians of
//! RUNS (default 20000) on a FILE_MB (default 400) `.npy` file.
//!
//! ```sh
//! cargo run --release --example syscall_costs -- [FILE_MB] [RUNS]
//! ```

#[cfg(unix)]
use std::os::unix::fs::FileExt;
#[cfg(unix)]
use std::time::Instant;

#[cfg(not(unix))]
fn main() {
    eprintln!(
        "syscall_costs times unix system calls (pread, mmap); it has nothing to measure here"
    );
}

#[cfg(unix)]
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[cfg(unix)]
fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let mb = args.next().and_then(Result::ok).unwrap_or(400);
    let runs = args.next().and_then(Result::ok).unwrap_or(20000).max(1);
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("spks.npy");
    let frames = (mb << 20) / 4 / 1000;
    onedata::npy::write_npy(&path, &ndarray::Array2::<f32>::zeros((frames, 1000)))
        .expect("write the file");
    // Read it once so that it is in the page cache.
    std::hint::black_box(std::fs::read(&path).expect("read the file").len());

    let names = [
        "open",
        "fstat",
        "pread 128 B",
        "mmap",
        "close",
        "first touch",
        "munmap",
    ];
    let mut t: Vec<Vec<f64>> = vec![Vec::with_capacity(runs); names.len()];
    let mut lap = |k: usize, start: Instant| t[k].push(start.elapsed().as_secs_f64() * 1e6);
    for _ in 0..runs {
        let s = Instant::now();
        let file = std::fs::File::open(&path).expect("open");
        lap(0, s);
        let s = Instant::now();
        let len = file.metadata().expect("fstat").len() as usize;
        lap(1, s);
        let s = Instant::now();
        let mut head = [0u8; 128];
        file.read_at(&mut head, 0).expect("pread");
        lap(2, s);
        let s = Instant::now();
        // SAFETY: a read-only map of a file that nothing modifies while
        // this program runs.
        let map = unsafe { memmap2::MmapOptions::new().len(len).map(&file) }.expect("mmap");
        lap(3, s);
        let s = Instant::now();
        drop(file);
        lap(4, s);
        let s = Instant::now();
        std::hint::black_box(map[0]);
        lap(5, s);
        let s = Instant::now();
        drop(map);
        lap(6, s);
    }
    println!("{mb} MB file, medians of {runs} runs (us):");
    for (name, v) in names.iter().zip(t) {
        println!("  {name:<12} {:8.2}", median(v));
    }
}
