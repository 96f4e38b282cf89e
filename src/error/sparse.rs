//! Faults of scipy sparse `.npz` files.

use super::HeaderError;

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
    #[error("sparse format {0:?} is not supported (csc, csr, coo, bsr and dia are)")]
    UnsupportedFormat(String),
    /// The `shape` member is not a valid 2-d shape.
    #[error("bad sparse shape {shape:?}: {reason}")]
    BadShape {
        /// The shape as stored.
        shape: Vec<i128>,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The blocks of a `bsr` matrix (its `data` member's last two
    /// dimensions) are empty or do not tile its shape.
    #[error("archive member {member:?}: blocks of {blocksize:?} do not tile the shape {shape:?}")]
    BadBlocksize {
        /// The member giving the blocksize (`data.npy`).
        member: String,
        /// `[R, C]`, as the member's shape gives them.
        blocksize: [usize; 2],
        /// The matrix's `[rows, cols]`.
        shape: [usize; 2],
    },
    /// A `dia` matrix stores a diagonal twice, which scipy's `dia_array`
    /// constructor (and so `load_npz`) refuses.
    #[error("archive member {member:?}: offset {offset} appears more than once (scipy refuses duplicate diagonals)")]
    DuplicateOffset {
        /// The member holding the offsets (`offsets.npy`).
        member: String,
        /// The repeated offset.
        offset: i128,
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
