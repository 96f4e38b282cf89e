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

// The parts, by use: `id` (a session's identity and folder), `state` (the
// SessionCore every session type holds), `locks` (its per-name locks, which
// turn recipe cycles into errors), `data` (the SessionData trait and its
// options), `save` (what saveone writes), `values` (vrExperimentValues.json).
mod data;
mod id;
mod locks;
#[cfg(feature = "remote")]
mod remote;
mod save;
mod state;
mod values;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cache::CacheLimits;
use crate::data::OneData;
use crate::error::Result;
use crate::names::{one_file_name, Extension};

pub use self::data::{ClearOutcome, LoadOptions, SessionData};
pub use self::id::{IntoSessionDate, SessionId};
#[cfg(feature = "remote")]
pub(crate) use self::remote::{folder_under, id_from_url};
pub use self::save::{Aligned, SaveOne};
pub use self::state::SessionCore;
pub(crate) use self::values::{python_json, read_json_object};

/// The folder inside a session that holds onedata files.
pub const ONE_DIR: &str = "oneData";

/// The lower-case spelling of [`ONE_DIR`] some vrAnalysis versions use.
pub const ONE_DIR_LOWER: &str = "onedata";

/// The file in a session folder that holds its options (vrAnalysis B2 sessions).
pub const OPTIONS_FILE: &str = "vrExperimentOptions.json";

/// The file in a session folder that holds its values (vrAnalysis B2 sessions).
pub const VALUES_FILE: &str = "vrExperimentValues.json";

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
        Session::with_core(SessionCore::new(id, data_path)?)
    }

    /// The session in `data_path`, its identity read from the folder names
    /// (`.../<mouse>/<YYYY-MM-DD>[/<session_id>]`).
    pub fn open(data_path: impl Into<PathBuf>) -> Result<Session> {
        let data_path = data_path.into();
        let id = SessionId::read_from_path(&data_path)?;
        Session::at(data_path, id)
    }

    /// The session `id` under the root URL `root`
    /// (`s3://bucket/root`, see [`crate::remote`]), in vrAnalysis' layout
    /// `root/mouse/date/session_id`; cached in the download cache folder.
    /// One LIST of the session prefix is made (see
    /// [`SessionCore::open_remote`]).
    #[cfg(feature = "remote")]
    pub fn from_url(root: &str, id: SessionId) -> Result<Session> {
        let folder = remote::folder_under(root, &id)?;
        Session::with_core(SessionCore::open_remote(id, folder)?)
    }

    /// The session at the URL `url` (`s3://bucket/root/mouse/date/id`), its
    /// identity read from the URL's last segments.
    #[cfg(feature = "remote")]
    pub fn open_url(url: &str) -> Result<Session> {
        Session::open_remote(crate::remote::Remote::open(url)?)
    }

    /// The session at the store prefix `folder` (a
    /// [`Remote`](crate::remote::Remote) built with options and a cache
    /// folder of its own), its identity read from the URL's last segments.
    #[cfg(feature = "remote")]
    pub fn open_remote(folder: crate::remote::Remote) -> Result<Session> {
        let id = remote::id_from_url(&folder)?;
        Session::with_core(SessionCore::open_remote(id, folder)?)
    }

    fn with_core(core: SessionCore) -> Result<Session> {
        let mut session = Session {
            core,
            spks_name: "mpci.roiActivityDeconvolvedOasis".to_string(),
        };
        session.additional_loading()?;
        Ok(session)
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

    /// Sets when loads map their files and when they read them into memory
    /// (see [`MapPolicy`](crate::npy::MapPolicy); the default, `Auto`, maps
    /// only what no other program can change under a view).
    ///
    /// ```
    /// # fn main() -> onedata::Result<()> {
    /// use onedata::npy::MapPolicy;
    /// use onedata::{Session, SessionData};
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("ATL001/2024-03-05/701");
    /// let s = Session::open(path)?.with_map_policy(MapPolicy::Never);
    /// s.saveone(&ndarray::array![1.5f32, 2.5], "mpci.x")?;
    /// s.clear_cache(None);
    /// let x = s.loadone("mpci.x")?;
    /// assert!(!x.dense().unwrap().is_mapped());
    /// # Ok(()) }
    /// ```
    pub fn with_map_policy(self, policy: crate::npy::MapPolicy) -> Session {
        self.core.set_map_policy(policy);
        self
    }

    /// Sets whether saves `fsync` what they write (see
    /// [`Durability`](crate::Durability); the default, `Durable`, syncs the
    /// file before its rename and the folder after it). `Scratch` is for
    /// data that can be recomputed: saves are as quick as `np.save`, and a
    /// power cut may lose or tear the latest ones.
    ///
    /// ```
    /// # fn main() -> onedata::Result<()> {
    /// use onedata::{Durability, Session, SessionData};
    /// let dir = tempfile::tempdir().unwrap();
    /// let s = Session::open(dir.path().join("ATL001/2024-03-05/701"))?
    ///     .with_durability(Durability::Scratch);
    /// assert_eq!(s.core().durability(), Durability::Scratch);
    /// s.saveone(&ndarray::array![1.5f32, 2.5], "mpci.x")?;
    /// assert_eq!(s.loadone("mpci.x")?.view1::<f32>()?[1], 2.5);
    /// # Ok(()) }
    /// ```
    pub fn with_durability(self, durability: crate::Durability) -> Session {
        self.core.set_durability(durability);
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
