//! Sessions: identity, paths, the onedata cache, `loadone`/`saveone` and the
//! rest of the vrAnalysis `SessionData` API.
//!
//! [`SessionData`] is the trait session types implement, as vrAnalysis
//! session classes subclass `SessionData`; [`Session`] implements it for
//! plain folders. The methods keep their vrAnalysis names.
//!
//! ```
//! # fn main() -> onedata::Result<()> {
//! use ndarray::Array2;
//! use onedata::{Session, SessionData, SessionId};
//!
//! let root = tempfile::tempdir().unwrap();
//! let id = SessionId::new("ATL001", "2024-05-03", Some("701"))?;
//! let session = Session::from_root(root.path(), id)?;
//! assert_eq!(session.session_print("/"), "ATL001/2024-05-03/701");
//!
//! let spks = Array2::<f32>::from_elem((100, 8), 0.5);
//! session.saveone(&spks, "mpci.roiActivityDeconvolvedOasis")?;
//! let loaded = session.loadone("mpci.roiActivityDeconvolvedOasis")?; // Arc<OneData>
//! assert_eq!(loaded.view2::<f32>()?, spks);
//! assert_eq!(session.print_saved_one(false, false)?, ["mpci.roiActivityDeconvolvedOasis"]);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::{ArrayBase, Data, Dimension};
use parking_lot::{Mutex, RwLock};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::cache::{CacheLimits, CacheStats, OneCache};
use crate::data::OneData;
use crate::error::{Error, ErrorKind, Result};
use crate::names::{one_file_name, Extension};
use crate::npy::{write_npy, Dtype, Element, NpyArray};
use crate::recipe::LoadingRecipe;
use crate::sparse::SparseMatrix;

/// The folder inside a session that holds onedata files.
pub const ONE_DIR: &str = "oneData";

/// The lower-case spelling of [`ONE_DIR`] some vrAnalysis versions use.
pub const ONE_DIR_LOWER: &str = "onedata";

/// The file in a session folder that holds its options (vrAnalysis B2 sessions).
pub const OPTIONS_FILE: &str = "vrExperimentOptions.json";

/// The file in a session folder that holds its values (vrAnalysis B2 sessions).
pub const VALUES_FILE: &str = "vrExperimentValues.json";

/// A session's identity: mouse, date and optional session id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId {
    mouse_name: String,
    date: String,
    session_id: Option<String>,
}

/// Something that names a date: a `"YYYY-MM-DD"` string or a chrono date or
/// date-time. Sessions keep it as `YYYY-MM-DD`.
pub trait IntoSessionDate {
    /// The date as `YYYY-MM-DD`, or an error for anything else.
    fn into_session_date(self) -> Result<String>;
}

impl IntoSessionDate for &str {
    fn into_session_date(self) -> Result<String> {
        let bad = || {
            Error::argument(format!(
                "invalid session date {self:?}: expected YYYY-MM-DD"
            ))
        };
        let b = self.as_bytes();
        let shape_ok = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if !shape_ok {
            return Err(bad());
        }
        chrono::NaiveDate::parse_from_str(self, "%Y-%m-%d").map_err(|_| bad())?;
        Ok(self.to_string())
    }
}

impl IntoSessionDate for &String {
    fn into_session_date(self) -> Result<String> {
        self.as_str().into_session_date()
    }
}

impl IntoSessionDate for String {
    fn into_session_date(self) -> Result<String> {
        self.as_str().into_session_date()
    }
}

impl IntoSessionDate for chrono::NaiveDate {
    fn into_session_date(self) -> Result<String> {
        Ok(self.format("%Y-%m-%d").to_string())
    }
}

impl IntoSessionDate for chrono::NaiveDateTime {
    fn into_session_date(self) -> Result<String> {
        self.date().into_session_date()
    }
}

impl<Tz: chrono::TimeZone> IntoSessionDate for chrono::DateTime<Tz> {
    fn into_session_date(self) -> Result<String> {
        self.date_naive().into_session_date()
    }
}

impl SessionId {
    /// A session identity. `date` is a `"YYYY-MM-DD"` string or a chrono
    /// date or date-time; the mouse name and session id must be usable as
    /// folder names.
    ///
    /// ```
    /// use onedata::SessionId;
    /// let id = SessionId::new("ATL001", chrono::NaiveDate::from_ymd_opt(2024, 5, 3).unwrap(), None).unwrap();
    /// assert_eq!(id.session_name(), ["ATL001", "2024-05-03"]);
    /// assert!(SessionId::new("ATL001", "03/05/2024", None).is_err());
    /// ```
    pub fn new(
        mouse_name: impl Into<String>,
        date: impl IntoSessionDate,
        session_id: Option<&str>,
    ) -> Result<SessionId> {
        let mouse_name = mouse_name.into();
        check_folder_name(&mouse_name, "mouse name")?;
        if let Some(s) = session_id {
            check_folder_name(s, "session id")?;
        }
        Ok(SessionId {
            mouse_name,
            date: date.into_session_date()?,
            session_id: session_id.map(str::to_string),
        })
    }

    /// Reads the identity from a session folder laid out as
    /// `.../<mouse>/<YYYY-MM-DD>/<session_id>`, or `.../<mouse>/<YYYY-MM-DD>`.
    pub fn from_path(dir: &Path) -> Option<SessionId> {
        let names: Vec<&str> = dir
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(s) => s.to_str(),
                _ => None,
            })
            .collect();
        match names.as_slice() {
            [.., mouse, date, sid] if date.into_session_date().is_ok() => {
                SessionId::new(*mouse, *date, Some(sid)).ok()
            }
            [.., mouse, date] if date.into_session_date().is_ok() => {
                SessionId::new(*mouse, *date, None).ok()
            }
            _ => None,
        }
    }

    /// Like [`SessionId::from_path`], with an error saying what was expected.
    /// A path with `.` or `..` in it, or too short to name the session (such
    /// as `.` in the session folder), is resolved on disk first.
    pub fn read_from_path(dir: &Path) -> Result<SessionId> {
        use std::path::Component;
        let plain = dir.components().all(|c| {
            matches!(
                c,
                Component::Normal(_) | Component::RootDir | Component::Prefix(_)
            )
        });
        let resolved = || SessionId::from_path(&std::fs::canonicalize(dir).ok()?);
        let lexical = if plain {
            SessionId::from_path(dir)
        } else {
            None
        };
        lexical.or_else(resolved).ok_or_else(|| {
            Error::argument(format!(
                "{}: cannot tell mouse and date from the path; expected .../<mouse>/<YYYY-MM-DD>/<session_id>",
                dir.display()
            ))
        })
    }

    /// The mouse name.
    pub fn mouse_name(&self) -> &str {
        &self.mouse_name
    }

    /// The date, `YYYY-MM-DD`.
    pub fn date(&self) -> &str {
        &self.date
    }

    /// The session id, if any.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// `(mouse, date)` or `(mouse, date, session_id)`, as vrAnalysis' `session_name`.
    pub fn session_name(&self) -> Vec<&str> {
        let mut parts = vec![self.mouse_name.as_str(), self.date.as_str()];
        if let Some(s) = &self.session_id {
            parts.push(s);
        }
        parts
    }

    /// The parts of the name joined by `joinby`.
    pub fn session_print(&self, joinby: &str) -> String {
        self.session_name().join(joinby)
    }

    /// The parts of the name joined by `.`: an identifier for file names.
    pub fn session_uid(&self) -> String {
        self.session_print(".")
    }

    /// `root/mouse/date[/session_id]`: where vrAnalysis keeps the session.
    pub fn path_under(&self, root: &Path) -> PathBuf {
        let mut p = root.join(&self.mouse_name).join(&self.date);
        if let Some(s) = &self.session_id {
            p.push(s);
        }
        p
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.session_print("/"))
    }
}

fn check_folder_name(name: &str, what: &'static str) -> Result<()> {
    let bad = name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']);
    if bad {
        return Err(Error::new(ErrorKind::InvalidName {
            name: name.to_string(),
            reason: match what {
                "mouse name" => "a mouse name must be a non-empty folder name",
                _ => "a session id must be a non-empty folder name",
            },
        }));
    }
    Ok(())
}

/// Options of [`SessionData::loadone_with`], as vrAnalysis' keyword arguments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Reload from disk even if the file is cached, replacing the entry.
    pub force: bool,
    /// Load `<name>.npz` (a scipy sparse matrix) instead of `<name>.npy`.
    pub sparse: bool,
    /// With `sparse`, keep the matrix sparse instead of densifying it.
    /// Densified, it is scipy's `toarray()`, in scipy's memory order
    /// (Fortran for `csc` files; see [`SparseMatrix::toarray`](crate::sparse::SparseMatrix::toarray)).
    pub keep_sparse: bool,
}

impl LoadOptions {
    /// `force = true`.
    pub fn force() -> LoadOptions {
        LoadOptions {
            force: true,
            ..LoadOptions::default()
        }
    }

    /// `sparse = true` (densified unless `keep_sparse`).
    pub fn sparse(keep_sparse: bool) -> LoadOptions {
        LoadOptions {
            sparse: true,
            keep_sparse,
            ..LoadOptions::default()
        }
    }
}

/// What [`SessionData::clear_one_data`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClearOutcome {
    /// `certainty` was false: nothing was deleted.
    NotCertain,
    /// These files were deleted.
    Cleared(Vec<PathBuf>),
}

/// Data that `saveone` can write: dense arrays now; the extension point for
/// sparse matrices and loading recipes.
pub trait SaveOne {
    /// The file extension written: [`Extension::Npy`] or [`Extension::Npz`].
    fn extension(&self) -> Extension;
    /// Writes the data to `path`, atomically.
    fn write_to(&self, path: &Path) -> Result<()>;
    /// What the cache holds for the file once written (`None`: nothing).
    fn cache_entry(&self, path: &Path) -> Result<Option<OneData>>;
}

impl<S, D> SaveOne for ArrayBase<S, D>
where
    S: Data,
    S::Elem: Element,
    D: Dimension,
{
    fn extension(&self) -> Extension {
        Extension::Npy
    }

    fn write_to(&self, path: &Path) -> Result<()> {
        write_npy(path, self)
    }

    /// The file just written, mapped: the cache holds the same values
    /// without a second copy in memory.
    fn cache_entry(&self, path: &Path) -> Result<Option<OneData>> {
        Ok(Some(OneData::Dense(NpyArray::open(path)?)))
    }
}

impl SaveOne for LoadingRecipe {
    fn extension(&self) -> Extension {
        Extension::Npy
    }

    fn write_to(&self, path: &Path) -> Result<()> {
        crate::recipe::write_recipe(path, self)
    }

    /// Nothing: the recipe resolves on the next `loadone`, as in vrAnalysis.
    fn cache_entry(&self, _path: &Path) -> Result<Option<OneData>> {
        Ok(None)
    }
}

impl SaveOne for SparseMatrix {
    fn extension(&self) -> Extension {
        Extension::Npz
    }

    /// Compressed, as `save_npz` writes by default.
    fn write_to(&self, path: &Path) -> Result<()> {
        self.write_npz(path, true)
    }

    /// Nothing, as in vrAnalysis: the next `loadone` reads the file in the
    /// form it asks for.
    fn cache_entry(&self, _path: &Path) -> Result<Option<OneData>> {
        Ok(None)
    }
}

impl<N, I> SaveOne for sprs::CsMatI<N, I>
where
    N: Element,
    I: sprs::SpIndex + bytemuck::NoUninit,
{
    fn extension(&self) -> Extension {
        Extension::Npz
    }

    /// Compressed, as `save_npz` writes by default.
    fn write_to(&self, path: &Path) -> Result<()> {
        crate::sparse::write_npz(path, self, true)
    }

    fn cache_entry(&self, _path: &Path) -> Result<Option<OneData>> {
        Ok(None)
    }
}

/// The state every session type shares: identity, paths, values and the
/// onedata cache. Session types hold one and hand it out through
/// [`SessionData::core`].
pub struct SessionCore {
    id: SessionId,
    data_path: PathBuf,
    one_path: PathBuf,
    values: RwLock<Map<String, Value>>,
    values_path: Option<PathBuf>,
    cache: Mutex<OneCache>,
    inflight: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl fmt::Debug for SessionCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCore")
            .field("id", &self.id)
            .field("data_path", &self.data_path)
            .field("cache", &*self.cache.lock())
            .finish()
    }
}

impl SessionCore {
    /// The state of a session kept at `data_path`. Values are read from
    /// `vrExperimentValues.json` there, if it exists.
    pub fn new(id: SessionId, data_path: impl Into<PathBuf>) -> Result<SessionCore> {
        let data_path = data_path.into();
        // vrAnalysis has used both spellings; prefer `oneData` unless only
        // `onedata` exists.
        let one_path = match (
            data_path.join(ONE_DIR).is_dir(),
            data_path.join(ONE_DIR_LOWER).is_dir(),
        ) {
            (false, true) => data_path.join(ONE_DIR_LOWER),
            _ => data_path.join(ONE_DIR),
        };
        let candidate = data_path.join(VALUES_FILE);
        let (values, values_path) = if candidate.is_file() {
            (read_values(&candidate)?, Some(candidate))
        } else {
            (Map::new(), None)
        };
        Ok(SessionCore {
            id,
            data_path,
            one_path,
            values: RwLock::new(values),
            values_path,
            cache: Mutex::new(OneCache::new(CacheLimits::default())),
            inflight: Mutex::new(HashMap::new()),
        })
    }

    /// Replaces the cache limits (entries already cached are evicted as needed
    /// on the next insert).
    pub fn set_cache_limits(&self, limits: CacheLimits) {
        let mut cache = self.cache.lock();
        let mut fresh = OneCache::new(limits);
        for key in cache.keys().into_iter().rev() {
            if let Some(v) = cache.get(&key) {
                fresh.insert(key, v);
            }
        }
        *cache = fresh;
    }

    /// The cache limits in force.
    pub fn cache_limits(&self) -> CacheLimits {
        self.cache.lock().limits()
    }

    /// What the cache holds.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.lock().stats()
    }

    /// Whether the file `file_name` (with extension) is cached.
    pub fn is_cached(&self, file_name: &str) -> bool {
        self.cache.lock().contains(file_name)
    }

    /// Runs `f` holding the lock of one file name: loads, saves and
    /// deletions of one name take turns, so the cache never keeps a version
    /// older than the file.
    fn with_name_lock<R>(&self, file_name: &str, f: impl FnOnce() -> R) -> R {
        let slot = self
            .inflight
            .lock()
            .entry(file_name.to_string())
            .or_default()
            .clone();
        let result = {
            let _guard = slot.lock();
            f()
        };
        let mut inflight = self.inflight.lock();
        if Arc::strong_count(&slot) == 2 {
            inflight.remove(file_name);
        }
        result
    }

    /// The identity.
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// The session folder.
    pub fn data_path(&self) -> &Path {
        &self.data_path
    }

    /// The values file, if the session has one.
    pub fn values_path(&self) -> Option<&Path> {
        self.values_path.as_deref()
    }
}

fn read_values(path: &Path) -> Result<Map<String, Value>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::new(ErrorKind::Values {
            path: path.to_path_buf(),
            message: "the file must hold one JSON object".into(),
        })),
        Err(e) => Err(Error::new(ErrorKind::Values {
            path: path.to_path_buf(),
            message: e.to_string(),
        })),
    }
}

/// Formats JSON as Python's `json.dump` does by default: one line, `", "`
/// between items and `": "` after keys.
struct PythonJson;

/// Writes `", "` before every item but the first.
fn separator<W: ?Sized + std::io::Write>(writer: &mut W, first: bool) -> std::io::Result<()> {
    if first {
        Ok(())
    } else {
        writer.write_all(b", ")
    }
}

impl serde_json::ser::Formatter for PythonJson {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        separator(writer, first)
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        separator(writer, first)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(b": ")
    }
}

/// `value` as Python's `json.dumps(value, ensure_ascii=False)` writes it.
pub(crate) fn python_json<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonJson);
    value.serialize(&mut ser)?;
    Ok(out)
}

fn write_values(path: &Path, values: &Map<String, Value>) -> Result<()> {
    let text = python_json(values).map_err(|e| Error::values(path, e.to_string()))?;
    crate::npy::write_atomic(path, |w| std::io::Write::write_all(w, &text))
}

/// A recording session, as vrAnalysis' `SessionData`.
///
/// Implementors hold a [`SessionCore`] and say how to get the session's
/// spks; every other method is provided. Session types that store loading
/// recipes override the recipe hooks, which by default refuse with an error
/// saying the type registers no loaders.
pub trait SessionData: Send + Sync {
    /// The shared state.
    fn core(&self) -> &SessionCore;

    /// The session's neural activity, frames x ROIs.
    fn spks(&self) -> Result<Arc<OneData>>;

    /// Where this session type keeps a session's data, given a root folder
    /// and the identity. vrAnalysis' layout is `root/mouse/date/session_id`.
    fn init_data_path(root: &Path, id: &SessionId) -> PathBuf
    where
        Self: Sized,
    {
        id.path_under(root)
    }

    /// Additional loading when a session is opened (vrAnalysis'
    /// `_additional_loading`); by default nothing.
    fn additional_loading(&mut self) -> Result<()> {
        Ok(())
    }

    /// The names of the recipe loaders this session type registers.
    fn recipe_loaders(&self) -> Vec<&str> {
        Vec::new()
    }

    /// The names of the recipe transforms this session type registers.
    fn recipe_transforms(&self) -> Vec<&str> {
        Vec::new()
    }

    /// Loads the data a recipe points at, as vrAnalysis'
    /// `recipe_loaders[loader_type](source_arg, **kwargs)`. Session types
    /// that store recipes override this; by default every loader is unknown.
    fn load_recipe_source(&self, recipe: &LoadingRecipe) -> Result<OneData> {
        Err(Error::new(ErrorKind::UnknownRecipeLoader {
            session: self.session_print("/"),
            loader: recipe.loader_type.clone(),
            registered: self
                .recipe_loaders()
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }))
    }

    /// Applies one recipe transform, as vrAnalysis'
    /// `recipe_transforms[name](data)`; by default every transform is unknown.
    fn apply_recipe_transform(&self, transform: &str, data: OneData) -> Result<OneData> {
        let _ = data;
        Err(self.unknown_transform(transform))
    }

    /// The error for a transform this session type does not register.
    fn unknown_transform(&self, transform: &str) -> Error {
        Error::new(ErrorKind::UnknownRecipeTransform {
            session: self.session_print("/"),
            transform: transform.to_string(),
            registered: self
                .recipe_transforms()
                .iter()
                .map(|s| s.to_string())
                .collect(),
        })
    }

    /// Resolves a recipe: its loader, then its transforms in order.
    fn resolve_recipe(&self, recipe: &LoadingRecipe) -> Result<OneData> {
        let mut data = self.load_recipe_source(recipe)?;
        for transform in &recipe.transforms {
            data = self.apply_recipe_transform(transform, data)?;
        }
        Ok(data)
    }

    /// The identity.
    fn id(&self) -> &SessionId {
        &self.core().id
    }

    /// `(mouse, date[, session_id])`.
    fn session_name(&self) -> Vec<&str> {
        self.core().id.session_name()
    }

    /// The name parts joined by `joinby`.
    fn session_print(&self, joinby: &str) -> String {
        self.core().id.session_print(joinby)
    }

    /// The name parts joined by `.`.
    fn session_uid(&self) -> String {
        self.core().id.session_uid()
    }

    /// The session folder.
    fn data_path(&self) -> &Path {
        &self.core().data_path
    }

    /// The onedata folder, `data_path/oneData`.
    fn one_path(&self) -> &Path {
        &self.core().one_path
    }

    /// The file name for `name`: `"mpci.roiActivityF"` -> `"mpci.roiActivityF.npy"`.
    /// Fails for names that could leave `oneData` (see [`crate::names`]).
    fn get_one_filename(&self, name: &str) -> Result<String> {
        one_file_name(name, Extension::Npy)
    }

    /// The `.npy` and `.npz` files in `oneData`, sorted (empty when the
    /// folder does not exist).
    fn get_saved_one(&self) -> Result<Vec<PathBuf>> {
        crate::names::saved_one_files(self.one_path())
    }

    /// The saved onedata names, optionally with folder and extension.
    fn print_saved_one(&self, include_path: bool, include_extension: bool) -> Result<Vec<String>> {
        Ok(self
            .get_saved_one()?
            .iter()
            .map(|p| crate::names::format_saved(p, include_path, include_extension))
            .collect())
    }

    /// Loads `name` (`"mpci.roiActivityF"`) with default options: the cached
    /// handle if there is one, otherwise the file, mapped.
    fn loadone(&self, name: &str) -> Result<Arc<OneData>> {
        self.loadone_with(name, LoadOptions::default())
    }

    /// Loads `name` with vrAnalysis' `force`, `sparse` and `keep_sparse`.
    ///
    /// The result is cached under its file name. Concurrent loads of the same
    /// name read the file once. A missing file is an [`Error::NotFound`]
    /// listing the saved onedata.
    fn loadone_with(&self, name: &str, opts: LoadOptions) -> Result<Arc<OneData>> {
        let ext = if opts.sparse {
            Extension::Npz
        } else {
            Extension::Npy
        };
        let file_name = one_file_name(name, ext)?;
        let core = self.core();
        // A cached `.npz` entry serves only the form asked for (kept sparse
        // or dense); the other form is loaded and replaces it.
        let fits = |d: &OneData| !opts.sparse || opts.keep_sparse == d.as_sparse().is_some();
        if !opts.force {
            if let Some(hit) = core.cache.lock().get(&file_name) {
                if fits(&hit) {
                    return Ok(hit);
                }
            }
        }
        // One loader (or saver) per file name at a time: others wait, then
        // find it cached.
        core.with_name_lock(&file_name, || {
            let cached = if opts.force {
                None
            } else {
                core.cache.lock().get(&file_name).filter(|d| fits(d))
            };
            match cached {
                Some(hit) => Ok(hit),
                None => self.load_uncached(&file_name, opts).map(|data| {
                    let data = Arc::new(data);
                    core.cache.lock().insert(file_name.clone(), data.clone());
                    data
                }),
            }
        })
    }

    /// Reads `file_name` from `oneData` without consulting the cache.
    #[doc(hidden)]
    fn load_uncached(&self, file_name: &str, opts: LoadOptions) -> Result<OneData> {
        let path = self.one_path().join(file_name);
        let not_found = || {
            Error::new(ErrorKind::NotFound {
                session: self.session_print("/"),
                file: file_name.to_string(),
                available: self.print_saved_one(false, true).unwrap_or_default(),
            })
        };
        if opts.sparse {
            let matrix = match crate::sparse::read_npz(&path) {
                Ok(m) => m,
                Err(e) if e.is_file_not_found() => return Err(not_found()),
                Err(e) => return Err(e),
            };
            return if opts.keep_sparse {
                Ok(OneData::Sparse(matrix))
            } else {
                Ok(OneData::Dense(matrix.toarray()?))
            };
        }
        // Open first and ask questions after: one system call fewer on the hot path.
        match NpyArray::open(&path) {
            Ok(array) if *array.dtype() == Dtype::Object => {
                // A loading recipe: resolve it through this session type.
                let recipe =
                    crate::recipe::recipe_from_parts(&path, array.header(), array.data_bytes())?;
                self.resolve_recipe(&recipe)
            }
            Ok(array) => Ok(OneData::Dense(array)),
            Err(e) if e.is_file_not_found() => Err(not_found()),
            Err(e) => Err(e),
        }
    }

    /// Saves `data` as `name` in `oneData` (atomically: readers holding the
    /// old file keep a valid view) and caches it, as vrAnalysis does.
    /// Returns the path written.
    fn saveone(&self, data: &dyn SaveOne, name: &str) -> Result<PathBuf> {
        let file_name = one_file_name(name, data.extension())?;
        let one_path = self.one_path();
        std::fs::create_dir_all(one_path).map_err(|e| Error::io(one_path, e))?;
        let path = one_path.join(&file_name);
        let core = self.core();
        // Under the name's lock, so that a load that read the old file
        // cannot cache it after the new one is written.
        core.with_name_lock(&file_name, || {
            data.write_to(&path)?;
            let entry = data.cache_entry(&path);
            let mut cache = core.cache.lock();
            match entry {
                Ok(Some(entry)) => cache.insert(file_name.clone(), Arc::new(entry)),
                Ok(None) => {
                    cache.remove(&file_name);
                }
                Err(e) => {
                    cache.remove(&file_name);
                    return Err(e);
                }
            }
            Ok(path.clone())
        })
    }

    /// Drops cached entries: the named files (with extension, e.g.
    /// `"mpci.roiActivityF.npy"`), or everything when `file_names` is `None`.
    fn clear_cache(&self, file_names: Option<&[&str]>) {
        let mut cache = self.core().cache.lock();
        match file_names {
            None => cache.clear(),
            Some(names) => {
                for name in names {
                    cache.remove(name);
                }
            }
        }
    }

    /// Deletes onedata files: those whose name (without extension) is in
    /// `names`, or all of them when `names` is `None`. Nothing is deleted
    /// unless `certainty` is true; the outcome says which happened. Deleted
    /// files are dropped from the cache.
    fn clear_one_data(&self, names: Option<&[&str]>, certainty: bool) -> Result<ClearOutcome> {
        if !certainty {
            return Ok(ClearOutcome::NotCertain);
        }
        for name in names.unwrap_or_default() {
            crate::names::check_name(name)?;
        }
        let mut deleted = Vec::new();
        for path in self.get_saved_one()? {
            let stem = crate::names::format_saved(&path, false, false);
            if names.is_some_and(|names| !names.contains(&stem.as_str())) {
                continue;
            }
            let file_name = crate::names::format_saved(&path, false, true);
            self.core().with_name_lock(&file_name, || {
                std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                self.core().cache.lock().remove(&file_name);
                Ok(())
            })?;
            deleted.push(path);
        }
        Ok(ClearOutcome::Cleared(deleted))
    }

    /// The value stored under `key` as JSON.
    fn get_value_json(&self, key: &str) -> Result<Value> {
        self.core().values.read().get(key).cloned().ok_or_else(|| {
            Error::new(ErrorKind::MissingValue {
                session: self.session_print("/"),
                key: key.to_string(),
            })
        })
    }

    /// The value stored under `key`, deserialized as `T`.
    fn get_value<T: DeserializeOwned>(&self, key: &str) -> Result<T>
    where
        Self: Sized,
    {
        let value = self.get_value_json(key)?;
        serde_json::from_value(value).map_err(|e| {
            Error::argument(format!(
                "{}: value {key:?} has an unexpected type: {e}",
                self.session_print("/")
            ))
        })
    }

    /// Stores `value` under `key`. When the session has a
    /// `vrExperimentValues.json`, the file is rewritten (atomically) too.
    fn set_value_json(&self, key: &str, value: Value) -> Result<()> {
        let core = self.core();
        let mut values = core.values.write();
        values.insert(key.to_string(), value);
        if let Some(path) = &core.values_path {
            write_values(path, &values)?;
        }
        Ok(())
    }

    /// Stores `value` (anything serde can serialize) under `key`.
    fn set_value<T: Serialize>(&self, key: &str, value: &T) -> Result<()>
    where
        Self: Sized,
    {
        let value = serde_json::to_value(value)
            .map_err(|e| Error::argument(format!("value {key:?} cannot be stored: {e}")))?;
        self.set_value_json(key, value)
    }

    /// All values, as a JSON object.
    fn values(&self) -> Map<String, Value> {
        self.core().values.read().clone()
    }

    /// Writes the values to `vrExperimentValues.json` in the session folder,
    /// creating it if needed. Returns its path.
    fn save_values(&self) -> Result<PathBuf> {
        let core = self.core();
        let path = core.data_path.join(VALUES_FILE);
        std::fs::create_dir_all(&core.data_path).map_err(|e| Error::io(&core.data_path, e))?;
        write_values(&path, &core.values.read())?;
        Ok(path)
    }
}

/// A session kept in a plain folder, with no recipe loaders.
#[derive(Debug)]
pub struct Session {
    core: SessionCore,
    spks_name: String,
}

impl Session {
    /// The session under `root` in vrAnalysis' layout, `root/mouse/date/session_id`.
    pub fn from_root(root: impl AsRef<Path>, id: SessionId) -> Result<Session> {
        let path = <Session as SessionData>::init_data_path(root.as_ref(), &id);
        Session::at(path, id)
    }

    /// The session kept in the folder `data_path`.
    pub fn at(data_path: impl Into<PathBuf>, id: SessionId) -> Result<Session> {
        let mut session = Session {
            core: SessionCore::new(id, data_path)?,
            spks_name: "mpci.roiActivityDeconvolvedOasis".to_string(),
        };
        session.additional_loading()?;
        Ok(session)
    }

    /// The session in `data_path`, its identity read from the folder names
    /// (`.../<mouse>/<YYYY-MM-DD>[/<session_id>]`).
    pub fn open(data_path: impl Into<PathBuf>) -> Result<Session> {
        let data_path = data_path.into();
        let id = SessionId::read_from_path(&data_path)?;
        Session::at(data_path, id)
    }

    /// Sets the onedata name `spks()` loads (default
    /// `mpci.roiActivityDeconvolvedOasis`).
    pub fn with_spks_name(mut self, name: &str) -> Result<Session> {
        one_file_name(name, Extension::Npy)?;
        self.spks_name = name.to_string();
        Ok(self)
    }

    /// Sets the cache limits.
    pub fn with_cache_limits(self, limits: CacheLimits) -> Session {
        self.core.set_cache_limits(limits);
        self
    }
}

impl SessionData for Session {
    fn core(&self) -> &SessionCore {
        &self.core
    }

    fn spks(&self) -> Result<Arc<OneData>> {
        self.loadone(&self.spks_name)
    }
}
