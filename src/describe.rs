//! What a onedata file holds, read from its headers: what `onedata info`
//! and `onedata ls` print.
//!
//! [`describe_file`] opens the file once, tells a scipy `.npz` archive from
//! a `.npy` file by its first bytes, and reads no more than it needs: the
//! `.npy` header of a dense array, the small members of a sparse archive,
//! the pickle of an object array (a loading recipe or another value).
//!
//! ```
//! # fn main() -> onedata::Result<()> {
//! use onedata::describe::{describe_file, Description};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("mpci.times.npy");
//! onedata::npy::write_npy(&path, &ndarray::Array1::<f64>::zeros(20_000))?;
//! match describe_file(&path)? {
//!     Description::Dense(header) => {
//!         assert_eq!(header.dtype().descr(), "<f8");
//!         assert_eq!(header.shape(), &[20_000]);
//!     }
//!     other => panic!("expected a dense array, not {other:?}"),
//! }
//!
//! let recipe = onedata::LoadingRecipe::new("S2P", Some("F"), ["transpose"]);
//! let path = dir.path().join("mpci.roiActivityF.npy");
//! onedata::recipe::write_recipe(&path, &recipe)?;
//! assert!(matches!(describe_file(&path)?, Description::Recipe(r) if r == recipe));
//! # Ok(()) }
//! ```

use std::path::Path;

use std::path::PathBuf;

use serde_json::json;

use crate::error::{Error, Result};
use crate::npy::{Dtype, Header, OpenedFile};
use crate::recipe::{LoadingRecipe, ObjectFile, PyValue};
use crate::sparse::SparseInfo;

/// What a onedata file holds.
#[derive(Debug, Clone)]
pub enum Description {
    /// A dense array: its validated header.
    Dense(Header),
    /// A scipy sparse matrix (`save_npz`).
    Sparse(SparseInfo),
    /// A vrAnalysis loading recipe.
    Recipe(LoadingRecipe),
    /// An object array that is not a loading recipe: its header and the
    /// value it holds (see [`OneData::Object`](crate::OneData::Object)).
    Object(Header, PyValue),
}

impl Description {
    /// `dense`, `sparse`, `recipe` or `object`.
    pub fn kind(&self) -> &'static str {
        match self {
            Description::Dense(_) => "dense",
            Description::Sparse(_) => "sparse",
            Description::Recipe(_) => "recipe",
            Description::Object(..) => "object",
        }
    }

    /// What `onedata info --json` prints for the file at `path` (of
    /// `file_bytes` bytes) that this describes: a JSON object whose `kind`
    /// is `dense`, `sparse`, `recipe` or `object`, then what the header (or
    /// the small members, or the recipe, or the value) says.
    ///
    /// ```
    /// # fn main() -> onedata::Result<()> {
    /// use onedata::describe::describe_file;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("mpci.times.npy");
    /// onedata::npy::write_npy(&path, &ndarray::Array1::<f32>::zeros(3))?;
    /// let json = describe_file(&path)?.to_json(&path, 140)?;
    /// assert_eq!(json["kind"], "dense");
    /// assert_eq!(json["descr"], "<f4");
    /// assert_eq!(json["shape"], serde_json::json!([3]));
    /// assert_eq!(json["file_bytes"], 140);
    /// # Ok(()) }
    /// ```
    pub fn to_json(&self, path: &Path, file_bytes: u64) -> Result<serde_json::Value> {
        let value = match self {
            Description::Dense(header) => {
                let (major, minor) = header.version();
                json!({
                    "kind": "dense",
                    "descr": header.dtype().descr(),
                    "shape": header.shape(),
                    "fortran_order": header.fortran_order(),
                    "version": format!("{major}.{minor}"),
                    // Numbers view as typed arrays; strings, datetimes, records,
                    // voids and long doubles load with their own accessors.
                    "supported": header.dtype().kind().is_some()
                        || header.dtype().other_kind().is_some(),
                    "element": element_text(header.dtype()),
                    "data_offset": header.data_offset(),
                    "data_bytes": header.data_len(),
                    "file_bytes": file_bytes,
                })
            }
            Description::Sparse(i) => json!({
                "kind": "sparse",
                "format": i.format.as_str(),
                "descr": i.dtype.descr(),
                "shape": i.shape,
                "nnz": i.nnz,
                "index_descr": i.index_dtype.descr(),
                "is_array": i.is_array,
                "file_bytes": file_bytes,
            }),
            Description::Recipe(r) => {
                // The JSON tree of the kwargs (ints beyond 64 bits print as
                // digits, see `json_text`; sets, arrays, ... as `$`-objects).
                let kwargs =
                    r.to_dict().to_json_tree(crate::recipe::ArrayBytes::Count)["kwargs"].take();
                json!({
                    "kind": "recipe",
                    "loader_type": r.loader_type,
                    "source_arg": r.source_arg,
                    "transforms": r.transforms,
                    "kwargs": kwargs,
                    "file_bytes": file_bytes,
                    "note": format!("{}, not an array", recipe_summary(r)),
                    "digest_with": digest_command(path),
                })
            }
            Description::Object(header, v) => json!({
                "kind": "object",
                "descr": "|O",
                "shape": header.shape(),
                "summary": v.summary(),
                "file_bytes": file_bytes,
                "value": v.to_json_tree(crate::recipe::ArrayBytes::Count),
            }),
        };
        Ok(value)
    }
}

/// Describes the file at `path`, opening it once: a zip archive (an `.npz`
/// file, whatever its name) as a sparse matrix, a `.npy` file by its
/// header, an object array of one element (0-d, or of shape `(1,)`, ...)
/// holding a recipe as that loading recipe, and
/// any other object array as the value it holds.
///
/// A malformed file is an error naming the file and the fault, as a load
/// of it would be.
pub fn describe_file(path: impl AsRef<Path>) -> Result<Description> {
    let path = path.as_ref();
    let file = OpenedFile::open(path)?;
    let named_npz = path.extension().is_some_and(|e| e == "npz");
    if named_npz || file.is_zip() {
        return crate::sparse::read_opened_npz_info(&file).map(Description::Sparse);
    }
    let (header, mapped) = file.npy_header()?;
    if *header.dtype() != Dtype::Object {
        return Ok(Description::Dense(header));
    }
    let storage = match mapped {
        Some(storage) => storage,
        None => file.map()?,
    };
    let data = storage
        .as_bytes()
        .get(header.data_offset()..)
        .unwrap_or(&[]);
    match crate::recipe::object_file_from_parts(path, &header, data)? {
        ObjectFile::Recipe(recipe) => Ok(Description::Recipe(recipe)),
        ObjectFile::Value(value) => Ok(Description::Object(header, value)),
    }
}

/// [`describe_file`] of the file at `path`, as [`Description::to_json`]
/// gives it (with the file's size): what `onedata info --json` prints.
///
/// ```
/// # fn main() -> onedata::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("x.npy");
/// onedata::npy::write_npy(&path, &ndarray::Array1::<i64>::zeros(2))?;
/// let json = onedata::describe::describe_json(&path)?;
/// assert_eq!(json["element"], "i64");
/// assert_eq!(json["file_bytes"], 144);
/// # Ok(()) }
/// ```
pub fn describe_json(path: impl AsRef<Path>) -> Result<serde_json::Value> {
    let path = path.as_ref();
    let file_bytes = std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| Error::io(path, e))?;
    describe_file(path)?.to_json(path, file_bytes)
}

/// What one element is, for `info`: `float32`, `unicode (6 chars)`, ...
fn element_text(dtype: &crate::npy::Dtype) -> String {
    use crate::npy::OtherKind;
    if let Some(kind) = dtype.kind() {
        return format!("{kind:?}").to_lowercase();
    }
    match dtype.other_kind() {
        Some(OtherKind::Unicode { chars }) => format!("unicode ({chars} chars)"),
        Some(OtherKind::Bytes { len }) => format!("bytes ({len})"),
        Some(OtherKind::Datetime(unit)) => format!("datetime64 [{}], as i64", unit_text(unit)),
        Some(OtherKind::Timedelta(unit)) => {
            format!("timedelta64 [{}], as i64", unit_text(unit))
        }
        Some(OtherKind::Structured) => match dtype.fields() {
            Some(fields) => format!(
                "record of {} field(s): {}",
                fields.len(),
                fields
                    .iter()
                    .map(|f| f.name.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => "record".to_string(),
        },
        Some(other) => format!("{other:?}").to_lowercase(),
        None => "object".to_string(),
    }
}

/// A datetime unit as numpy spells it: `D`, `25ms`, `generic`.
fn unit_text(unit: crate::npy::DatetimeUnit) -> String {
    match (unit.count, unit.base.code()) {
        (_, "") => "generic".to_string(),
        (1, code) => code.to_string(),
        (n, code) => format!("{n}{code}"),
    }
}

/// `a loading recipe (loader S2P, source F, then transpose)`.
pub fn recipe_summary(r: &LoadingRecipe) -> String {
    let source = match &r.source_arg {
        Some(s) => format!("source {s}"),
        None => "no source".to_string(),
    };
    let then = if r.transforms.is_empty() {
        String::new()
    } else {
        format!(", then {}", r.transforms.join(", "))
    };
    format!(
        "a loading recipe (loader {}, {source}{then})",
        r.loader_type
    )
}

/// The session folder and onedata name of a file in a session's `oneData`
/// folder (`DIR/oneData/NAME.npy`), or `None` when it is not in one.
pub fn session_of(path: &Path) -> Option<(PathBuf, String)> {
    let in_one = |p: &Path| {
        p.parent()
            .and_then(Path::file_name)
            .is_some_and(|n| n == crate::session::ONE_DIR || n == crate::session::ONE_DIR_LOWER)
    };
    let path = if in_one(path) {
        path.to_path_buf()
    } else {
        let full = std::fs::canonicalize(path).ok()?;
        if !in_one(&full) {
            return None;
        }
        full
    };
    let name = path.file_stem()?.to_str()?.to_string();
    let dir = path.parent()?.parent()?;
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir.to_path_buf()
    };
    Some((dir, name))
}

/// `onedata digest --session DIR NAME` for a recipe file, with DIR and NAME
/// filled in when the file is in a session's `oneData` folder.
pub fn digest_command(path: &Path) -> String {
    match session_of(path) {
        Some((dir, name)) => format!(
            "onedata digest --session {} {}",
            shell_word(&dir.display().to_string()),
            shell_word(&name)
        ),
        None => {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            format!(
                "onedata digest --session SESSION_DIR {} (SESSION_DIR: the folder whose oneData/ holds it)",
                shell_word(&name)
            )
        }
    }
}

/// `s` as one shell word: as it is when it holds nothing a shell would
/// split or expand, else in single quotes.
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./,:=+@%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
