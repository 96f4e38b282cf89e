//! Faults of `.npy` headers.

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
