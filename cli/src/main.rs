//! `onedata`: inspect, verify and exercise onedata session files.
//!
//! A thin layer over the library: it parses arguments, calls the library and
//! prints. Errors are one line `error: ...` on stderr and exit status 1.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `println!` that ends the program quietly (status 0) when stdout is a
/// pipe closed early, as by `onedata ls ROOT | head`, instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::write_out(format_args!($($arg)*))
    };
}

/// Writes one line to stdout; see [`out!`].
fn write_out(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"))
    {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to stdout: {e}");
        std::process::exit(1);
    }
}

mod bench;
mod bench_remote;
mod bench_server;
mod demo;
mod info;
mod ls;
mod plot;
mod remote;
mod session_cmds;

use remote::Target;

/// Fast, numpy-exact access to vrAnalysis onedata files.
#[derive(Parser)]
#[command(name = "onedata", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Describe a .npy or .npz file: kind, dtype, shape, order and sizes.
    ///
    /// FILE may be a URL (s3://, gs://, az://, http(s)://): a dense .npy is
    /// described from one small ranged GET of its header.
    Info {
        /// The file to describe, or its URL.
        file: PathBuf,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the SHA-256 of an array's elements in C order, little-endian.
    ///
    /// Booleans count as one byte 0 or 1 and complex numbers as real then
    /// imaginary part, so the digest depends only on the values: the same
    /// array saved big-endian or in Fortran order has the same digest.
    /// With --session, TARGET is a onedata name such as mpci.roiActivityF
    /// (or its file name: NAME.npy, or NAME.npz for a sparse matrix) and the
    /// digest is of what loadone returns for it.
    Digest {
        /// A .npy or .npz file (or its URL), or with --session a onedata
        /// name such as mpci.roiActivityF (NAME.npy and NAME.npz are
        /// accepted too).
        target: String,
        /// The session folder (the one holding oneData/), or its URL
        /// (s3://bucket/root/mouse/date/id): what loadone downloads goes to
        /// the cache, so a second digest makes no GET.
        #[arg(long, value_name = "SESSION_DIR")]
        session: Option<PathBuf>,
        /// With --session: load NAME.npz, a sparse matrix, densified (as
        /// naming NAME.npz does).
        #[arg(long, requires = "session")]
        sparse: bool,
    },
    /// Time the load workloads beside numpy and scipy (run by python3 on the
    /// same files in the same run) and beside the floor of a mapped load.
    Bench {
        /// Print one JSON object with every case.
        #[arg(long)]
        json: bool,
        /// Size of the large spks file in MB.
        #[arg(long, default_value_t = 400)]
        size_mb: usize,
        /// Fewer repetitions (for a quick look; figures are noisier).
        #[arg(long)]
        quick: bool,
        /// Also draw each case's speedup over numpy/scipy, and its goal,
        /// as a PNG at this path.
        #[arg(long, value_name = "PNG", conflicts_with = "remote")]
        plot: Option<PathBuf>,
        /// Time the remote section instead: a session in a local S3 server
        /// (moto behind a counting proxy), read by onedata and by s3fs in
        /// the same run, with the requests and bytes each asked for.
        #[arg(long)]
        remote: bool,
        /// The python that runs the S3 server (a venv with
        /// moto[server]==5.2.5); default $ONEDATA_MOTO_PYTHON.
        #[arg(long, value_name = "PYTHON", requires = "remote")]
        remote_python: Option<PathBuf>,
        /// The python with s3fs and numpy for the s3fs side; default
        /// $ONEDATA_S3FS_PYTHON, else the server's python.
        #[arg(long, value_name = "PYTHON", requires = "remote")]
        s3fs_python: Option<PathBuf>,
    },
    /// List every onedata file of a session: name, kind, dtype, shape, size.
    ///
    /// DIR is a session folder (the one holding oneData/) or its oneData/
    /// folder; given a data root instead, ls lists the sessions under it
    /// (`<mouse>/<YYYY-MM-DD>/<session_id>/oneData`). DIR may be a URL
    /// (s3://bucket/root/mouse/date/id): ls lists its oneData/ prefix and
    /// reads the headers concurrently.
    Ls {
        /// A session folder, its oneData/ folder, or a data root (or a URL of one).
        #[arg(value_name = "DIR")]
        session_dir: PathBuf,
    },
    /// Write a synthetic session in the vrAnalysis B2 layout under DIR, load
    /// everything back and print sizes and load times.
    Demo {
        /// Where to write the session (`DIR/<mouse>/<date>/<id>/`).
        dir: PathBuf,
        /// Imaging frames.
        #[arg(long, default_value_t = 20_000)]
        frames: usize,
        /// ROIs per plane.
        #[arg(long, default_value_t = 640)]
        rois: usize,
        /// Imaging planes.
        #[arg(long, default_value_t = 2)]
        planes: usize,
        /// Overwrite the session if DIR already holds one (its files are
        /// replaced; without --force the demo refuses).
        #[arg(long)]
        force: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info { file, json } => match remote::target(&file) {
            Ok(Target::Local(path)) => info::info(&path, json),
            Ok(Target::Url(url)) => remote::info(&url, json),
            Err(e) => Err(e),
        },
        Command::Digest {
            target,
            session: None,
            ..
        } => match remote::target(target.as_ref()) {
            Ok(Target::Local(path)) => info::digest(&path),
            Ok(Target::Url(url)) => remote::digest(&url),
            Err(e) => Err(e),
        },
        Command::Digest {
            target,
            session: Some(dir),
            sparse,
        } => match remote::target(&dir) {
            Ok(Target::Local(dir)) => session_cmds::digest_session(&dir, &target, sparse),
            Ok(Target::Url(url)) => session_cmds::digest_session_url(&url, &target, sparse),
            Err(e) => Err(e),
        },
        Command::Bench {
            json,
            size_mb,
            quick,
            remote: true,
            remote_python,
            s3fs_python,
            ..
        } => bench_remote::bench_remote(
            json,
            size_mb,
            quick,
            remote_python.as_deref(),
            s3fs_python.as_deref(),
        ),
        Command::Bench {
            json,
            size_mb,
            quick,
            plot,
            ..
        } => bench::bench(json, size_mb, quick, plot.as_deref()),
        Command::Ls { session_dir } => match remote::target(&session_dir) {
            Ok(Target::Local(dir)) => ls::ls(&dir),
            Ok(Target::Url(url)) => remote::ls(&url),
            Err(e) => Err(e),
        },
        Command::Demo {
            dir,
            frames,
            rois,
            planes,
            force,
        } => demo::demo(&dir, frames, rois, planes, force),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
