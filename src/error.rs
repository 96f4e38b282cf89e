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
    /// The dtype is recognised but cannot be viewed as numbers.
    #[error(
        "unsupported dtype {descr}: only bool, integer, float and complex arrays can be loaded"
    )]
    UnsupportedDtype {
        /// The dtype as spelled in the header.
        descr: String,
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

/// What is wrong with the pickle of an object array. Each variant names one
/// fault; offsets are byte offsets into the pickle (the `.npy` data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PickleError {
    /// A byte that is not a pickle opcode.
    #[error("unknown opcode 0x{opcode:02x} at offset {offset}")]
    UnknownOpcode {
        /// The byte.
        opcode: u8,
        /// Where it is.
        offset: usize,
    },
    /// A pickle opcode the restricted decoder does not run (object
    /// construction, persistent ids, extensions, sets, out-of-band buffers,
    /// the text opcodes of protocols 0 and 1).
    #[error("opcode {name} at offset {offset} is not supported")]
    UnsupportedOpcode {
        /// The opcode's name as `pickletools` spells it.
        name: &'static str,
        /// Where it is.
        offset: usize,
    },
    /// A `PROTO` opcode names a protocol newer than 5.
    #[error("unsupported pickle protocol {0}")]
    UnsupportedProtocol(u8),
    /// A global other than the few a numpy object array needs. Nothing is
    /// imported or called: the pickle is refused when it names the global.
    #[error("global {module}.{name} at offset {offset} is forbidden: only numpy's array, scalar and dtype reconstructors are allowed")]
    ForbiddenGlobal {
        /// The module named (shortened if very long).
        module: String,
        /// The attribute named (shortened if very long).
        name: String,
        /// Where the `GLOBAL` or `STACK_GLOBAL` opcode is.
        offset: usize,
    },
    /// The pickle ends inside an opcode or before `STOP`.
    #[error("pickle is truncated: the opcode at offset {offset} needs {needed} more bytes, {available} are left")]
    Truncated {
        /// Where the opcode (or its argument) starts.
        offset: usize,
        /// Bytes needed.
        needed: u64,
        /// Bytes left in the input.
        available: usize,
    },
    /// Containers nested deeper than the limit.
    #[error("values nested deeper than {limit} levels")]
    DepthExceeded {
        /// The nesting limit.
        limit: usize,
    },
    /// The pickle builds (or, through shared references, expands to) more
    /// values or bytes than the limit.
    #[error("pickle expands to more than {limit} {what}")]
    TooLarge {
        /// What was counted: `values` or `bytes`.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// An opcode needs more values than the stack holds above the last mark.
    #[error("stack underflow at {opcode} (offset {offset})")]
    StackUnderflow {
        /// The opcode's name.
        opcode: &'static str,
        /// Where it is.
        offset: usize,
    },
    /// An opcode needs a mark and there is none.
    #[error("{opcode} at offset {offset} without a MARK")]
    MarkMissing {
        /// The opcode's name.
        opcode: &'static str,
        /// Where it is.
        offset: usize,
    },
    /// A memo get of an index never put.
    #[error("memo index {index} read at offset {offset} was never stored")]
    MemoMissing {
        /// The memo index.
        index: u32,
        /// Where the get is.
        offset: usize,
    },
    /// An integer that does not fit in 128 bits.
    #[error("integer of {bytes} bytes at offset {offset} does not fit in 128 bits")]
    IntTooLarge {
        /// Its length in bytes.
        bytes: u64,
        /// Where it is.
        offset: usize,
    },
    /// A string that is not valid UTF-8 (or ASCII, for Python 2 strings),
    /// or holds a lone surrogate.
    #[error("invalid {encoding} text at offset {offset}")]
    BadText {
        /// The encoding expected.
        encoding: &'static str,
        /// Where the string is.
        offset: usize,
    },
    /// An opcode applied to a value it does not accept (appending to a
    /// non-list, an unhashable dict key, a call with the wrong arguments, ...).
    #[error("{what} at offset {offset}")]
    BadValue {
        /// What is wrong.
        what: String,
        /// Where the opcode is.
        offset: usize,
    },
    /// A numpy scalar of a type that has no recipe value: complex numbers,
    /// datetimes, voids (bool, int, float, str and bytes scalars are read
    /// as the Python value they equal).
    #[error("numpy scalar of dtype {dtype} at offset {offset} is not a recipe value: only bool, int, float, str and bytes scalars are")]
    UnsupportedScalar {
        /// The scalar's dtype, as numpy's `dtype.str` spells it.
        dtype: String,
        /// Where the call that builds it is.
        offset: usize,
    },
    /// A value refers to itself (a recursive list or dict).
    #[error("recursive value: a container holds itself")]
    Recursive,
    /// The pickle holds something onedata does not return as a value.
    #[error("pickle holds {found}, not plain Python data")]
    NotPlainData {
        /// What it holds, e.g. `a numpy array`.
        found: &'static str,
    },
    /// An object array was expected, and the pickle holds something else.
    #[error("pickle holds {found}, not a numpy array")]
    NotAnArray {
        /// What it holds, e.g. `a dict`.
        found: &'static str,
    },
    /// The pickled array's dtype is not `object`.
    #[error("pickled array has dtype {dtype}, not object")]
    NotObjectArray {
        /// The dtype as pickled, with the byte order of its state (e.g. `<f8`).
        dtype: String,
    },
    /// The pickled object array is not 0-d.
    #[error("pickled object array has shape {}; only 0-d object arrays (one Python object) are supported", py_shape(.shape))]
    NotZeroDim {
        /// Its shape.
        shape: Vec<u64>,
    },
}

/// A shape as Python writes the tuple: `()`, `(2,)`, `(2, 3)`.
fn py_shape<T: std::fmt::Display>(shape: &[T]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    match dims.as_slice() {
        [one] => format!("({one},)"),
        _ => format!("({})", dims.join(", ")),
    }
}

/// Why a file or value is not a loading recipe (see [`crate::recipe`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecipeError {
    /// The array is not an object array, so it holds numbers, not a recipe.
    #[error("array of dtype {descr} is not a loading recipe (a recipe is a 0-d object array)")]
    NotObjectArray {
        /// The dtype as spelled in the header.
        descr: String,
    },
    /// The object array is not 0-d.
    #[error("object array of shape {} is not a loading recipe (a recipe is a 0-d object array); onedata cannot return arbitrary Python objects", py_shape(.shape))]
    NotZeroDim {
        /// Its shape.
        shape: Vec<usize>,
    },
    /// The object array holds something other than a recipe dict.
    #[error("object array is not a loading recipe; onedata cannot return arbitrary Python objects (it holds {holds})")]
    NotARecipe {
        /// What it holds, e.g. `a dict without the '__LOADING_RECIPE__' marker`.
        holds: String,
    },
    /// A recipe dict with a missing or mistyped field.
    #[error("malformed loading recipe: {0}")]
    Malformed(String),
    /// A recipe that cannot be written so that numpy (and onedata) read it
    /// back equal: unhashable or duplicate dict keys, too deep, too large.
    #[error("cannot write loading recipe: {0}")]
    Unwritable(String),
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
    /// The header length field points past the end of the file. Counted as
    /// numpy counts (`expected 118 bytes got 90`): the header text the
    /// length field announces against the bytes after the length field.
    #[error("header is truncated: expected {length} bytes, got {available} (the file has {file_len} bytes)")]
    LengthPastEnd {
        /// Length announced by the header.
        length: u64,
        /// Bytes present after the length field.
        available: u64,
        /// Bytes in the whole file.
        file_len: u64,
    },
    /// The header is longer than numpy agrees to read: its length in
    /// characters (in bytes, for a version 3.0 header of over 40000 bytes,
    /// which is refused before it is decoded).
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

/// What is wrong with a scipy sparse `.npz` file (see [`crate::sparse`]):
/// the zip container, one of its `.npy` members, or the sparse structure.
/// Member names are as stored in the archive (`indices.npy`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SparseError {
    /// The file is not a zip archive (an `.npz` file is one).
    #[error("not a zip archive (.npz): {0}")]
    NotZip(&'static str),
    /// The zip archive is damaged or truncated.
    #[error("damaged or truncated zip archive: {0}")]
    BadZip(String),
    /// An archive member the sparse format needs is missing.
    #[error("archive member {0:?} is missing")]
    MissingMember(String),
    /// A member's `.npy` header promises a different size than the zip
    /// directory records for it, or than its compressed stream holds.
    #[error("archive member {member:?}: its .npy header promises {header} bytes, the archive holds {zip}")]
    MemberSizeMismatch {
        /// The member's name in the archive.
        member: String,
        /// Bytes promised by the member's `.npy` header, header included.
        header: u64,
        /// Bytes the zip directory or the compressed stream holds.
        zip: u64,
    },
    /// A member claims more bytes than its compressed bytes can expand to:
    /// a zip bomb, or a damaged directory.
    #[error("archive member {member:?} claims {claimed} bytes, more than its {compressed} compressed bytes can hold")]
    ImplausibleSize {
        /// The member's name in the archive.
        member: String,
        /// Uncompressed size claimed by the zip directory.
        claimed: u64,
        /// Compressed size recorded in the zip directory.
        compressed: u64,
    },
    /// A member's compressed data is corrupt or truncated.
    #[error("archive member {member:?}: {detail}")]
    Decompress {
        /// The member's name in the archive.
        member: String,
        /// What the decompressor found.
        detail: String,
    },
    /// A member's CRC-32 does not match its contents.
    #[error("archive member {member:?}: CRC-32 mismatch (directory says {expected:08x}, contents give {actual:08x})")]
    CrcMismatch {
        /// The member's name in the archive.
        member: String,
        /// CRC-32 recorded in the zip directory.
        expected: u32,
        /// CRC-32 of the decompressed contents.
        actual: u32,
    },
    /// A member is encrypted or uses a compression method other than stored
    /// and deflate.
    #[error(
        "archive member {member:?}: unsupported {what} (numpy writes stored or deflate members)"
    )]
    UnsupportedCompression {
        /// The member's name in the archive.
        member: String,
        /// What is unsupported, e.g. `compression method 12` or `encryption`.
        what: String,
    },
    /// A member's `.npy` header is malformed.
    #[error("archive member {member:?}: bad .npy header: {error}")]
    MemberHeader {
        /// The member's name in the archive.
        member: String,
        /// What is wrong with the header.
        error: HeaderError,
    },
    /// A member has a dtype the sparse format does not allow there.
    #[error("archive member {member:?} has dtype {found}, expected {expected}")]
    MemberDtype {
        /// The member's name in the archive.
        member: String,
        /// The dtype found, as numpy spells it.
        found: String,
        /// What the format requires there.
        expected: &'static str,
    },
    /// A member has a shape the sparse format does not allow there.
    #[error("archive member {member:?} has shape {found:?}, expected {expected}")]
    MemberShape {
        /// The member's name in the archive.
        member: String,
        /// The shape found.
        found: Vec<usize>,
        /// What the format requires there.
        expected: String,
    },
    /// The `format` member names no sparse format scipy knows.
    #[error("unknown sparse format {0:?}")]
    UnknownFormat(String),
    /// The `format` member names a scipy format onedata does not load.
    #[error("sparse format {0:?} is not supported (csc, csr and coo are)")]
    UnsupportedFormat(String),
    /// The `shape` member is not a valid 2-d shape.
    #[error("bad sparse shape {shape:?}: {reason}")]
    BadShape {
        /// The shape as stored.
        shape: Vec<i128>,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The index pointer (`indptr`) is malformed.
    #[error("bad indptr: {0}")]
    BadIndptr(String),
    /// An index is negative or not less than its dimension.
    #[error("archive member {member:?}: entry {position} is {value}, outside 0..{bound}")]
    IndexOutOfBounds {
        /// The member holding the index (`indices.npy`, `row.npy`, ...).
        member: String,
        /// Position of the entry in the member.
        position: usize,
        /// The index found.
        value: i128,
        /// The dimension it must be less than.
        bound: u64,
    },
    /// Two members that must have the same length do not.
    #[error("archive members {first:?} ({first_len} entries) and {second:?} ({second_len} entries) must have the same length")]
    LengthMismatch {
        /// One member.
        first: String,
        /// Its length.
        first_len: usize,
        /// The other member.
        second: String,
        /// Its length.
        second_len: usize,
    },
    /// Memory for an array could not be had.
    #[error("cannot allocate {bytes} bytes for {what}")]
    TooLarge {
        /// What the memory was for.
        what: String,
        /// How many bytes were asked for.
        bytes: u128,
    },
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
