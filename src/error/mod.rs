//! The one error type of the crate.
//!
//! An [`Error`] is one boxed [`ErrorKind`], so that every `Result` carries a
//! single word on the happy path while the error itself keeps everything a
//! caller needs: every fault that comes from a file's contents is an
//! [`ErrorKind::Invalid`] that carries the path and a [`Fault`] naming
//! exactly what is wrong, so callers can both print a useful message and
//! match on the cause.
//!
//! ```
//! use onedata::{ErrorKind, Fault, HeaderError};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("broken.npy");
//! std::fs::write(&path, b"not a numpy file").unwrap();
//! let err = onedata::npy::NpyArray::open(&path).unwrap_err();
//! assert!(matches!(err.kind(), ErrorKind::Invalid { .. }));
//! assert_eq!(err.fault(), Some(&Fault::Header(HeaderError::BadMagic)));
//! assert!(err.to_string().ends_with("broken.npy: bad .npy header: not a .npy file (bad magic string)"));
//! ```

use std::io;
use std::path::{Path, PathBuf};

mod header;
mod recipe;
mod remote;
mod sparse;

pub use header::HeaderError;
pub use recipe::{PickleError, RecipeError};
pub use remote::RemoteFault;
pub use sparse::SparseError;

/// The result type used throughout onedata.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in onedata: one boxed [`ErrorKind`].
///
/// Match on [`Error::kind`]; [`Error::fault`] and [`Error::path`] answer the
/// two questions asked most.
#[derive(thiserror::Error)]
#[error(transparent)]
pub struct Error(Box<ErrorKind>);

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What went wrong: the payload of an [`Error`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
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
    /// A loading recipe cannot be written to `path` so that numpy (and
    /// onedata) read it back equal; nothing was written.
    #[error("{path}: {error}", path = .path.display())]
    Unwritable {
        /// The file that was to be written.
        path: PathBuf,
        /// Why the recipe cannot be written.
        error: RecipeError,
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
    /// Loaded onedata was asked for as a kind (dense or sparse) it is not.
    #[error("{path}: onedata is {found}, not {requested}", path = .path.display())]
    KindMismatch {
        /// The file the onedata came from.
        path: PathBuf,
        /// The kind asked for: `dense` or `sparse`.
        requested: &'static str,
        /// The kind it is.
        found: &'static str,
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
    /// A recipe names a loader the session type does not register.
    #[error("session {session}: cannot resolve a loading recipe with loader {loader:?}: {}", registered_text("loaders", .registered))]
    UnknownRecipeLoader {
        /// The session, as `mouse/date/id`.
        session: String,
        /// The loader the recipe names.
        loader: String,
        /// The loaders the session type registers.
        registered: Vec<String>,
    },
    /// A recipe names a transform the session type does not register.
    #[error("session {session}: cannot apply recipe transform {transform:?}: {}", registered_text("transforms", .registered))]
    UnknownRecipeTransform {
        /// The session, as `mouse/date/id`.
        session: String,
        /// The transform the recipe names.
        transform: String,
        /// The transforms the session type registers.
        registered: Vec<String>,
    },
    /// A loading recipe asks, directly or through other recipes, for a file
    /// that is being loaded: its loader called `loadone` (or `saveone`) on
    /// the name being resolved, or on a name whose recipe leads back to it.
    /// Resolving it would never end; nothing was loaded.
    #[error("recipe cycle in session {session}: {}; a recipe's loader asks for a name being loaded", .files.join(" -> "))]
    RecipeCycle {
        /// The session, as `mouse/date/id`.
        session: String,
        /// The file names along the cycle, the first repeated at the end:
        /// `["a.npy", "b.npy", "a.npy"]`.
        files: Vec<String>,
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
    /// Memory for a result computed from files could not be had.
    #[error("cannot allocate {bytes} bytes for {what}")]
    OutOfMemory {
        /// What the memory was for.
        what: String,
        /// How many bytes were asked for.
        bytes: u128,
    },
    /// A session URL cannot be used, or object storage refused or failed a
    /// request for it (the `remote` feature, `onedata::remote`).
    #[error("{url}: {fault}")]
    Remote {
        /// The URL concerned, as given or as the object's full URL.
        url: String,
        /// What went wrong.
        fault: RemoteFault,
    },
    /// An argument given by the caller is out of range or inconsistent.
    #[error("{0}")]
    InvalidArgument(String),
}

fn registered_text(what: &str, names: &[String]) -> String {
    if names.is_empty() {
        format!("this session type registers no recipe {what}")
    } else {
        format!("registered {what}: {}", names.join(", "))
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_string()
    } else {
        names.join(", ")
    }
}

impl Error {
    /// An error of `kind`, for session types and tools built on onedata.
    pub fn new(kind: ErrorKind) -> Error {
        Error(Box::new(kind))
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// The payload, by value.
    pub fn into_kind(self) -> ErrorKind {
        *self.0
    }

    /// The fault in a file's contents, if this is such an error.
    pub fn fault(&self) -> Option<&Fault> {
        match self.kind() {
            ErrorKind::Invalid { fault, .. } => Some(fault),
            _ => None,
        }
    }

    /// The file or folder the error concerns, where it names one.
    pub fn path(&self) -> Option<&Path> {
        match self.kind() {
            ErrorKind::Io { path, .. }
            | ErrorKind::Invalid { path, .. }
            | ErrorKind::Unwritable { path, .. }
            | ErrorKind::TypeMismatch { path, .. }
            | ErrorKind::DimensionMismatch { path, .. }
            | ErrorKind::KindMismatch { path, .. }
            | ErrorKind::Values { path, .. } => Some(path),
            _ => None,
        }
    }

    /// The URL a [`ErrorKind::Remote`] error concerns.
    pub fn url(&self) -> Option<&str> {
        match self.kind() {
            ErrorKind::Remote { url, .. } => Some(url),
            _ => None,
        }
    }

    /// The fault of a [`ErrorKind::Remote`] error.
    pub fn remote_fault(&self) -> Option<&RemoteFault> {
        match self.kind() {
            ErrorKind::Remote { fault, .. } => Some(fault),
            _ => None,
        }
    }

    /// `url` cannot be used or a request for it failed: `fault` says how.
    pub fn remote(url: impl Into<String>, fault: RemoteFault) -> Self {
        Error::new(ErrorKind::Remote {
            url: url.into(),
            fault,
        })
    }

    /// The operating system's error, if the operating system refused.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self.kind() {
            ErrorKind::Io { source, .. } => Some(source),
            _ => None,
        }
    }

    /// Whether this is the operating system saying a file does not exist.
    pub fn is_file_not_found(&self) -> bool {
        self.io_error()
            .is_some_and(|e| e.kind() == io::ErrorKind::NotFound)
    }

    /// The operating system refused an operation on `path`.
    pub fn io(path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::new(ErrorKind::Io {
            path: path.as_ref().to_path_buf(),
            source,
        })
    }

    /// The contents of `path` are at fault.
    pub fn invalid(path: impl AsRef<Path>, fault: impl Into<Fault>) -> Self {
        Error::new(ErrorKind::Invalid {
            path: path.as_ref().to_path_buf(),
            fault: fault.into(),
        })
    }

    /// An argument is out of range or inconsistent; `message` says how.
    pub fn argument(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument(message.into()))
    }

    /// `bytes` of memory for `what` could not be had.
    pub(crate) fn out_of_memory(what: impl Into<String>, bytes: u128) -> Self {
        Error::new(ErrorKind::OutOfMemory {
            what: what.into(),
            bytes,
        })
    }

    pub(crate) fn values(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Values {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        })
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
    /// The dtype is recognised but its elements cannot be viewed: object
    /// arrays, whose data is a pickle of Python objects.
    #[error("unsupported dtype {descr}: object arrays hold Python objects, not array elements")]
    UnsupportedDtype {
        /// The dtype as spelled in the header.
        descr: String,
    },
    /// An element of a `U` (unicode) array holds a code unit that is no
    /// Unicode scalar value (a surrogate, or past U+10FFFF).
    #[error(
        "element {index} of the unicode array holds {code_point:#x}, which is no Unicode character"
    )]
    InvalidCodePoint {
        /// The element's place in C order.
        index: usize,
        /// The code unit.
        code_point: u32,
    },
    /// The pickle of an object array is malformed, hostile or holds more
    /// than onedata decodes (see [`crate::recipe`]).
    #[error("bad pickle in object array: {0}")]
    Pickle(#[from] PickleError),
    /// The file is not a loading recipe, or a malformed one.
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    /// The `.npz` file is not a scipy sparse matrix onedata can load.
    #[error(transparent)]
    Sparse(#[from] SparseError),
    /// A suite2p output file holds an array that does not fit the session:
    /// a plane of another dtype or number of dimensions than the first, or
    /// fewer columns than the others.
    #[error("suite2p array of dtype {descr} and shape {}: {expected}", py_shape(.shape))]
    Suite2p {
        /// The array's dtype, as numpy's `dtype.str` spells it.
        descr: String,
        /// The array's shape.
        shape: Vec<usize>,
        /// What the session needs of it.
        expected: String,
    },
}

/// A shape as Python writes the tuple: `()`, `(2,)`, `(2, 3)`.
pub(crate) fn py_shape<T: std::fmt::Display>(shape: &[T]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    match dims.as_slice() {
        [one] => format!("({one},)"),
        _ => format!("({})", dims.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_carries_one_word() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
        assert_eq!(
            std::mem::size_of::<Result<()>>(),
            std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn the_kind_names_the_file_and_the_fault() {
        let e = Error::invalid("/s/oneData/x.npy", HeaderError::BadMagic);
        assert_eq!(e.path(), Some(Path::new("/s/oneData/x.npy")));
        assert_eq!(e.fault(), Some(&Fault::Header(HeaderError::BadMagic)));
        assert_eq!(
            e.to_string(),
            "/s/oneData/x.npy: bad .npy header: not a .npy file (bad magic string)"
        );
        let e = Error::io("/s/y.npy", io::Error::from(io::ErrorKind::NotFound));
        assert!(e.is_file_not_found());
        assert!(std::error::Error::source(&e).is_some());
        assert!(!Error::argument("x").is_file_not_found());
    }
}
