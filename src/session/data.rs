//! The [`SessionData`] trait: vrAnalysis' session API (`loadone`,
//! `saveone`, `clear_cache`, `clear_one_data`, `get_saved_one`, values...),
//! provided for every session type over its [`SessionCore`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::values::write_values;
use super::{SaveOne, SessionCore, SessionId, VALUES_FILE};
use crate::data::OneData;
use crate::error::{Error, ErrorKind, Result};
use crate::names::{one_file_name, Extension};
use crate::npy::{Dtype, NpyArray};
use crate::pyjson::{dict_get, dict_insert, from_pyjson, to_pyjson, PyJson};
use crate::recipe::LoadingRecipe;

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
    /// folder does not exist). Dot-files (`.hidden.npy`) are included, as in
    /// vrAnalysis; folders and broken symlinks are not (vrAnalysis lists a
    /// folder named `x.npy`, then fails to load it).
    ///
    /// For a session opened from a URL, the objects of its `oneData/`
    /// prefix (one LIST), as paths in its cache folder.
    fn get_saved_one(&self) -> Result<Vec<PathBuf>> {
        if let Some(listed) = self.core().remote_saved_one() {
            return listed;
        }
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
    /// name read the file once. A missing file is an [`ErrorKind::NotFound`](crate::ErrorKind::NotFound)
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
                None => self
                    .load_uncached(&file_name, opts)
                    .map_err(|e| core.named_in_store(&file_name, e))
                    .map(|data| {
                        let data = Arc::new(data);
                        core.cache.lock().insert(file_name.clone(), data.clone());
                        data
                    }),
            }
        })
    }

    /// Rows `rows` (frames, along the first axis) of the dense array `name`,
    /// as a copy owning its memory: numpy's `loadone(name)[a:b].copy()`.
    ///
    /// A local session, or a remote one whose file is in the cache, copies
    /// them from the (cached) map. A remote session whose file is not
    /// cached reads just those bytes, with ranged GETs (one for the header,
    /// one for the rows), and downloads nothing else. Recipes and sparse
    /// files are loaded whole, then sliced.
    ///
    /// ```
    /// # fn main() -> onedata::Result<()> {
    /// use onedata::{Session, SessionData};
    /// let dir = tempfile::tempdir().unwrap();
    /// let s = Session::open(dir.path().join("ATL001/2024-03-05/701"))?;
    /// s.saveone(&ndarray::array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]], "mpci.x")?;
    /// let rows = s.loadone_rows("mpci.x", 1..3)?;
    /// assert_eq!(rows.view2::<f32>()?, ndarray::array![[3.0f32, 4.0], [5.0, 6.0]]);
    /// # Ok(()) }
    /// ```
    fn loadone_rows(&self, name: &str, rows: std::ops::Range<usize>) -> Result<NpyArray> {
        let file_name = one_file_name(name, Extension::Npy)?;
        if let Some(read) = self.core().remote_rows(&file_name, &rows) {
            return read;
        }
        let data = self.loadone(name)?;
        data.dense()?.rows(rows)
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
        // A remote session's file comes into the cache first (no request
        // when it is there already), then loads as a local one.
        if !self.core().fetch_one(file_name)? {
            return Err(not_found());
        }
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
        match NpyArray::open_with(&path, self.core().map_policy()) {
            Ok(array) if *array.dtype() == Dtype::Object => {
                use crate::recipe::ObjectFile;
                // A loading recipe is resolved through this session type;
                // any other object array is its value.
                match crate::recipe::object_file_from_parts(
                    &path,
                    array.header(),
                    array.data_bytes(),
                )? {
                    ObjectFile::Recipe(recipe) => self.resolve_recipe(&recipe),
                    ObjectFile::Value(value) => {
                        Ok(OneData::Object(crate::data::ObjectData::new(&path, value)))
                    }
                }
            }
            Ok(array) => Ok(OneData::Dense(array)),
            Err(e) if e.is_file_not_found() => Err(not_found()),
            Err(e) => Err(e),
        }
    }

    /// Saves `data` as `name` in `oneData` (atomically: readers holding the
    /// old file keep a valid view) and caches it, as vrAnalysis does.
    /// Returns the path written. The file and the folder are `fsync`ed
    /// unless the session's [`durability`](SessionCore::durability) is
    /// [`Durability::Scratch`](crate::Durability::Scratch). The session's
    /// first save also deletes the temporary files killed saves left (see
    /// [`remove_stale_temporaries`](crate::remove_stale_temporaries)).
    fn saveone(&self, data: &dyn SaveOne, name: &str) -> Result<PathBuf> {
        let file_name = one_file_name(name, data.extension())?;
        let one_path = self.one_path();
        std::fs::create_dir_all(one_path).map_err(|e| Error::io(one_path, e))?;
        let path = one_path.join(&file_name);
        let core = self.core();
        core.sweep_once();
        // Under the name's lock, so that a load that read the old file
        // cannot cache it after the new one is written.
        core.with_name_lock(&file_name, || {
            // A remote session's copy is locked from its write to the end of
            // its upload: a download of the same file (another session,
            // another process) cannot rename an older version in between.
            let _copy = core.copy_lock(&file_name)?;
            let etag = core.cached_etag(&file_name);
            data.write_to_with(&path, core.durability())?;
            // A remote session uploads what it wrote; the cached copy then
            // stands for the new object.
            if let Err(e) = core.push(&file_name, &path, etag, true) {
                core.cache.lock().remove(&file_name);
                return Err(e);
            }
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
    ///
    /// Unlike vrAnalysis, an empty list deletes nothing: vrAnalysis'
    /// `clear_one_data([], certainty=True)` treats the (falsy) empty list as
    /// "all" and deletes every file, while `clear_one_data(Some(&[]), true)`
    /// here clears nothing. Pass `None` to delete everything.
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
                match self.core().delete_remote(&file_name) {
                    Some(deleted) => deleted?,
                    None => std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?,
                }
                self.core().cache.lock().remove(&file_name);
                Ok(())
            })?;
            deleted.push(path);
        }
        Ok(ClearOutcome::Cleared(deleted))
    }

    /// The value stored under `key`, exactly as Python's `json.load` reads
    /// it: NaN and the infinities are floats, integers of any size are
    /// exact (see [`crate::pyjson`]).
    fn get_value_py(&self, key: &str) -> Result<PyJson> {
        dict_get(&self.core().values.read(), key)
            .cloned()
            .ok_or_else(|| {
                Error::new(ErrorKind::MissingValue {
                    session: self.session_print("/"),
                    key: key.to_string(),
                })
            })
    }

    /// The value stored under `key` as a [`serde_json::Value`]. A value that
    /// `serde_json` cannot hold exactly (NaN, an infinity or an integer
    /// beyond 64 bits, anywhere inside it) is an
    /// [`ErrorKind::InvalidArgument`]: read it with
    /// [`get_value`](Self::get_value) (`get_value::<f64>` gives `f64::NAN`)
    /// or [`get_value_py`](Self::get_value_py).
    fn get_value_json(&self, key: &str) -> Result<Value> {
        self.get_value_py(key)?.to_serde().ok_or_else(|| {
            Error::argument(format!(
                "{}: value {key:?} holds NaN, an infinity or an integer beyond 64 bits, \
                 which serde_json cannot hold; use get_value or get_value_py",
                self.session_print("/")
            ))
        })
    }

    /// The value stored under `key`, deserialized as `T`. NaN, `Infinity`
    /// and `-Infinity` read as the `f64` (or `f32`) values.
    fn get_value<T: DeserializeOwned>(&self, key: &str) -> Result<T>
    where
        Self: Sized,
    {
        let value = self.get_value_py(key)?;
        from_pyjson(&value).map_err(|e| {
            Error::argument(format!(
                "{}: value {key:?} has an unexpected type: {e}",
                self.session_print("/")
            ))
        })
    }

    /// Stores `value` under `key` (a key already there keeps its place, as
    /// in a Python dict). When the session has a `vrExperimentValues.json`,
    /// the file is rewritten (atomically) as Python's
    /// `json.dump(values, f, ensure_ascii=False)` writes it.
    fn set_value_py(&self, key: &str, value: PyJson) -> Result<()> {
        let core = self.core();
        let mut values = core.values.write();
        dict_insert(&mut values, key.to_string(), value);
        if let Some(path) = &core.values_path {
            let etag = core.cached_etag_of_folder_file(VALUES_FILE);
            write_values(path, &values, core.durability())?;
            core.push(VALUES_FILE, path, etag, false)?;
        }
        Ok(())
    }

    /// Stores a JSON value under `key` (see [`set_value_py`](Self::set_value_py)).
    fn set_value_json(&self, key: &str, value: Value) -> Result<()> {
        self.set_value_py(key, PyJson::from(&value))
    }

    /// Stores `value` (anything serde can serialize) under `key` (see
    /// [`set_value_py`](Self::set_value_py)). Non-finite floats are kept and
    /// written as `NaN`, `Infinity` and `-Infinity`, as Python writes them.
    fn set_value<T: Serialize>(&self, key: &str, value: &T) -> Result<()>
    where
        Self: Sized,
    {
        let value = to_pyjson(value)
            .map_err(|e| Error::argument(format!("value {key:?} cannot be stored: {e}")))?;
        self.set_value_py(key, value)
    }

    /// All values, as a JSON object, in their order. `serde_json` cannot
    /// hold every value: NaN and the infinities are `null` here, integers
    /// beyond 64 bits the nearest float (see [`PyJson::to_serde_lossy`]);
    /// [`values_py`](Self::values_py) has them exactly.
    fn values(&self) -> Map<String, Value> {
        self.core()
            .values
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.to_serde_lossy()))
            .collect()
    }

    /// All values, exactly, in their order.
    fn values_py(&self) -> Vec<(String, PyJson)> {
        self.core().values.read().clone()
    }

    /// Writes the values to `vrExperimentValues.json` in the session folder,
    /// creating it if needed. Returns its path.
    fn save_values(&self) -> Result<PathBuf> {
        let core = self.core();
        let path = core.data_path.join(VALUES_FILE);
        std::fs::create_dir_all(&core.data_path).map_err(|e| Error::io(&core.data_path, e))?;
        core.sweep_once();
        let etag = core.cached_etag_of_folder_file(VALUES_FILE);
        write_values(&path, &core.values.read(), core.durability())?;
        core.push(VALUES_FILE, &path, etag, false)?;
        Ok(path)
    }
}
