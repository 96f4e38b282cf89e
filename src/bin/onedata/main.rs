//! `onedata`: inspect, verify and exercise onedata session files.
//!
//! A thin layer over the library: it parses arguments, calls the library and
//! prints. Errors are one line `error: ...` on stderr and exit status 1.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod info;

/// Fast, numpy-exact access to vrAnalysis onedata files.
#[derive(Parser)]
#[command(name = "onedata", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Describe a .npy file: kind, dtype, shape, order and sizes.
    Info {
        /// The file to describe.
        file: PathBuf,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the SHA-256 of a file's elements in C order, little-endian.
    ///
    /// Booleans count as one byte 0 or 1 and complex numbers as real then
    /// imaginary part, so the digest depends only on the values: the same
    /// array saved big-endian or in Fortran order has the same digest.
    Digest {
        /// The file to digest.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info { file, json } => info::info(&file, json),
        Command::Digest { file } => info::digest(&file),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
