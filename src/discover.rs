//! Finding the sessions under a data root.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::session::{SessionId, ONE_DIR};

/// A session folder found under a root.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SessionDir {
    /// Its identity, read from the folder names.
    pub id: SessionId,
    /// The session folder (the one holding `oneData/`).
    pub path: PathBuf,
}

/// The sessions under `root` in vrAnalysis' layout,
/// `root/<mouse>/<YYYY-MM-DD>/<session_id>/oneData`, sorted by mouse, date
/// and session id. Folders whose date is not `YYYY-MM-DD`, or that hold no
/// `oneData`, are not sessions and are skipped.
///
/// ```
/// # fn main() -> onedata::Result<()> {
/// let root = tempfile::tempdir().unwrap();
/// for (mouse, date, id) in [("ATL002", "2024-01-02", "1"), ("ATL001", "2024-01-03", "2")] {
///     std::fs::create_dir_all(root.path().join(mouse).join(date).join(id).join("oneData")).unwrap();
/// }
/// std::fs::create_dir_all(root.path().join("ATL001/notes/1/oneData")).unwrap();
/// let found = onedata::discover::iter_sessions(root.path())?;
/// let names: Vec<String> = found.iter().map(|s| s.id.session_print("/")).collect();
/// assert_eq!(names, ["ATL001/2024-01-03/2", "ATL002/2024-01-02/1"]);
/// # Ok(()) }
/// ```
pub fn iter_sessions(root: &Path) -> Result<Vec<SessionDir>> {
    let mut found = Vec::new();
    for mouse in subdirs(root)? {
        for date in subdirs(&mouse)? {
            for session in subdirs(&date)? {
                if !session.join(ONE_DIR).is_dir() {
                    continue;
                }
                if let Some(id) = SessionId::from_path(&session) {
                    found.push(SessionDir { id, path: session });
                }
            }
        }
    }
    found.sort();
    Ok(found)
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let hidden = entry
            .file_name()
            .to_str()
            .is_none_or(|n| n.starts_with('.'));
        if !hidden && path.is_dir() {
            out.push(path);
        }
    }
    Ok(out)
}
