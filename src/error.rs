//! The one error type of the crate.
//!
//! Every fault that comes from a file's contents is an [`Error::Invalid`] that
//! carries the path and a [`Fault`] naming exactly what is wrong, so callers can
//! both print a useful message and match on the cause.

use std::io;
use std::path::{Path, PathBuf};

/// The result type used throughout onedata.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in onedata.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system refused an operation on `path`.
    #[error("{path}: {source}", path = .path.display())]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The contents of `path` are malformed or unsupported.
    #[error("{path}: {fault}", path = .path.display())]
    Invalid {
        /// The file whose contents are at fault.
        path: PathBuf,
        /// What exactly is wrong.
        fault: Fault,
    },
    /// An array was asked for as an element type it does not hold.
    #[error("{path}: array holds {found}, not the requested {requested}", path = .path.display())]
    TypeMismatch {
        /// The file the array came from.
        path: PathBuf,
        /// The numpy descr of the requested element type (e.g. `<f8`).
        requested: &'static str,
        /// The numpy descr of the array's element type (e.g. `<f4`).
        found: String,
    },
    /// An array was asked for with a number of dimensions it does not have.
    #[error("{path}: array has {found} dimension(s), not the requested {requested}", path = .path.display())]
    DimensionMismatch {
        /// The file the array came from.
        path: PathBuf,
        /// The requested number of dimensions.
        requested: usize,
        /// The array's number of dimensions.
        found: usize,
    },
    /// A onedata name was refused because it could reach outside `oneData`
    /// or is otherwise not a valid file name.
    #[error("invalid onedata name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A onedata file asked for does not exist.
    #[error("session {session}: onedata {file} does not exist; saved onedata: {}", list(.available))]
    NotFound {
        /// The session, as `mouse/date/id`.
        session: String,
        /// The file name asked for.
        file: String,
        /// The saved onedata names, with extension.
        available: Vec<String>,
    },
    /// A session value asked for is not set.
    #[error("session {session}: no value {key:?}")]
    MissingValue {
        /// The session, as `mouse/date/id`.
        session: String,
        /// The key asked for.
        key: String,
    },
    /// A values file is not a JSON object.
    #[error("{path}: {message}", path = .path.display())]
    Values {
        /// The values file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// An argument given by the caller is out of range or inconsistent.
    #[error("{0}")]
    InvalidArgument(String),
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_string()
    } else {
        names.join(", ")
    }
}

impl Error {
    pub(crate) fn io(path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub(crate) fn invalid(path: impl AsRef<Path>, fault: impl Into<Fault>) -> Self {
        Error::Invalid {
            path: path.as_ref().to_path_buf(),
            fault: fault.into(),
        }
    }

    /// The fault in a file's contents, if this is such an error.
    pub fn fault(&self) -> Option<&Fault> {
        match self {
            Error::Invalid { fault, .. } => Some(fault),
            _ => None,
        }
    }
}

/// A fault in the contents of a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Fault {
    /// The `.npy` header is malformed.
    #[error("bad .npy header: {0}")]
    Header(#[from] HeaderError),
    /// The file is shorter than its header promises.
    #[error("file is truncated: the header promises {expected} bytes of data at offset {offset}, but only {actual} are there")]
    Truncated {
        /// Where the data starts.
        offset: u64,
        /// How many data bytes the header promises.
        expected: u64,
        /// How many data bytes the file holds.
        actual: u64,
    },
    /// The dtype is recognised but cannot be viewed as numbers.
    #[error(
        "unsupported dtype {descr}: only bool, integer, float and complex arrays can be loaded"
    )]
    UnsupportedDtype {
        /// The dtype as spelled in the header.
        descr: String,
    },
}

/// What is wrong with a `.npy` header. Each variant names one fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The file does not start with `\x93NUMPY`.
    #[error("not a .npy file (bad magic string)")]
    BadMagic,
    /// The file ends inside the fixed-size preamble.
    #[error("file ends inside the {0}")]
    Eof(&'static str),
    /// A format version other than 1.0, 2.0 or 3.0.
    #[error("unsupported format version {major}.{minor} (1.0, 2.0 and 3.0 are supported)")]
    UnsupportedVersion {
        /// Major version byte.
        major: u8,
        /// Minor version byte.
        minor: u8,
    },
    /// The header length field points past the end of the file.
    #[error("header length {length} runs past the end of the file ({available} bytes available)")]
    LengthPastEnd {
        /// Length announced by the header.
        length: u64,
        /// Bytes present after the length field.
        available: u64,
    },
    /// The header is longer than numpy agrees to read.
    #[error("header of {0} characters is longer than numpy's limit of 10000")]
    TooLarge(usize),
    /// The header text is not valid in its encoding (latin-1 for 1.0/2.0, UTF-8 for 3.0).
    #[error("header is not valid {0}")]
    Encoding(&'static str),
    /// The header text is not a Python literal dict.
    #[error("syntax error at byte {offset} of the header: {what}")]
    Syntax {
        /// Byte offset in the header text.
        offset: usize,
        /// What was expected or found.
        what: &'static str,
    },
    /// The dict lacks a required key.
    #[error("missing key '{0}'")]
    MissingKey(&'static str),
    /// The dict has a key other than `descr`, `fortran_order` and `shape`.
    #[error("unexpected key {0:?}")]
    UnexpectedKey(String),
    /// `shape` is not a tuple of integers.
    #[error("'shape' must be a tuple of integers")]
    ShapeNotTuple,
    /// A dimension is negative.
    #[error("negative dimension {0} in 'shape'")]
    NegativeDimension(i128),
    /// A dimension does not fit in memory addresses.
    #[error("dimension in 'shape' is too large")]
    DimensionTooLarge,
    /// More dimensions than numpy supports.
    #[error("{0} dimensions is more than numpy's limit of 64")]
    TooManyDimensions(usize),
    /// `fortran_order` is not `True` or `False`.
    #[error("'fortran_order' must be True or False")]
    FortranOrderNotBool,
    /// `descr` is not a dtype numpy knows.
    #[error("unknown descr {0:?}")]
    UnknownDescr(String),
    /// The element count or byte size overflows.
    #[error("shape {shape:?} with {itemsize}-byte elements overflows the address space")]
    SizeOverflow {
        /// The shape.
        shape: Vec<usize>,
        /// Bytes per element.
        itemsize: usize,
    },
}
