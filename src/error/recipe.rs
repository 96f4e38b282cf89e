//! Faults of object arrays: their pickles and the loading recipes they hold.

use super::py_shape;

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
    /// An integer that does not fit in 128 bits, in a plain pickle
    /// ([`decode_pickle`](crate::recipe::decode_pickle); recipes and object
    /// arrays hold it as a [`PyValue::BigInt`](crate::recipe::PyValue::BigInt)).
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
    /// A numpy scalar of a type onedata has no value for (voids, objects,
    /// long doubles; and for [`decode_pickle`](crate::recipe::decode_pickle),
    /// complex and datetime scalars). Bool, int, float, complex, str and
    /// bytes scalars are read as the Python value they equal.
    #[error("numpy scalar of dtype {dtype} at offset {offset} is not supported: only bool, int, float, complex, str, bytes, datetime64 and timedelta64 scalars are (complex and datetime scalars not in plain pickles)")]
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
    /// A pickled numpy array whose data is not shape product x itemsize
    /// bytes (or whose element count overflows).
    #[error("pickled array of dtype {descr} and shape {} needs {} bytes of data, but holds {found} (at offset {offset})", py_shape(.shape), .needed.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string()))]
    ArraySize {
        /// The array's dtype.
        descr: String,
        /// Its shape.
        shape: Vec<u64>,
        /// The bytes it needs (`None` if the count overflows 64 bits).
        needed: Option<u64>,
        /// The bytes the pickle holds.
        found: u64,
        /// Where the `BUILD` is.
        offset: usize,
    },
    /// The pickled object array does not hold exactly one element.
    #[error("pickled object array has shape {}; only object arrays of one element (one Python object, as `.item()` reads it) are supported", py_shape(.shape))]
    NotZeroDim {
        /// Its shape.
        shape: Vec<u64>,
    },
}

/// Why a file or value is not a loading recipe (see [`crate::recipe`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecipeError {
    /// The array is not an object array, so it holds numbers, not a recipe.
    #[error("array of dtype {descr} is not a loading recipe (a recipe is an object array of one element)")]
    NotObjectArray {
        /// The dtype as spelled in the header.
        descr: String,
    },
    /// The object array does not hold exactly one element (vrAnalysis reads
    /// a recipe with `.item()`, which needs one).
    #[error("object array of shape {} is not a loading recipe (a recipe is an object array of one element); onedata cannot return arbitrary Python objects", py_shape(.shape))]
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
