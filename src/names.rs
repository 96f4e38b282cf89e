//! onedata names and file names.
//!
//! A onedata name is what vrAnalysis passes to `loadone`: dot-separated
//! components such as `mpci.roiActivityF`, which become the file
//! `oneData/mpci.roiActivityF.npy` (or `.npz` for sparse data). Names are
//! checked so that none can reach outside `oneData`: no name holds `/`,
//! `\`, `:` or NUL, and none is `.` or `..` as a whole.
//!
//! Components may be empty, as in vrAnalysis: `saveone(x, "mpci", "")`
//! joins its names into `mpci.` and saves `mpci..npy`, which onedata loads
//! as the name `"mpci."`. Such a file stays inside `oneData`, so it is
//! valid; so are dot-files such as `.hidden` (`.hidden.npy`).
//!
//! ```
//! use onedata::names::{one_file_name, Extension};
//! assert_eq!(one_file_name("mpci.roiActivityF", Extension::Npy).unwrap(), "mpci.roiActivityF.npy");
//! assert_eq!(one_file_name("mpci.", Extension::Npy).unwrap(), "mpci..npy");
//! assert!(one_file_name("../../etc/passwd", Extension::Npy).is_err());
//! assert!(one_file_name("..", Extension::Npy).is_err());
//! assert!(one_file_name("C:x", Extension::Npy).is_err());
//! ```

use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};

/// The longest file name most file systems accept.
const NAME_MAX: usize = 255;

/// The extension of a onedata file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Extension {
    /// `.npy`: dense arrays and loading recipes.
    Npy,
    /// `.npz`: scipy sparse matrices.
    Npz,
}

impl Extension {
    /// `".npy"` or `".npz"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Extension::Npy => ".npy",
            Extension::Npz => ".npz",
        }
    }
}

/// Checks a onedata name (without extension): it must be non-empty, not `.`
/// or `..`, hold no `/`, `\`, `:` (a Windows drive or NTFS stream) or NUL,
/// and make a file name of at most 255 bytes. Empty dot-separated
/// components (`mpci.`, `a..b`, `.x`) are valid, as in vrAnalysis.
pub fn check_name(name: &str) -> Result<()> {
    let refuse = |reason| {
        Err(Error::new(ErrorKind::InvalidName {
            name: name.to_string(),
            reason,
        }))
    };
    if name.is_empty() {
        return refuse("the name is empty");
    }
    if name == "." || name == ".." {
        return refuse("a name may not be '.' or '..'");
    }
    if name.contains(['/', '\\']) {
        return refuse("a name may not contain '/' or '\\'");
    }
    if name.contains(':') {
        return refuse("a name may not contain ':'");
    }
    if name.contains('\0') {
        return refuse("a name may not contain NUL");
    }
    if name.len() + 4 > NAME_MAX {
        return refuse("the file name would exceed 255 bytes");
    }
    Ok(())
}

/// The file name for a onedata name: `name` + `.npy` or `.npz`, after
/// [`check_name`].
pub fn one_file_name(name: &str, ext: Extension) -> Result<String> {
    check_name(name)?;
    let mut s = String::with_capacity(name.len() + 4);
    s.push_str(name);
    s.push_str(ext.as_str());
    Ok(s)
}

/// The `.npy` and `.npz` files directly in `one_path`, sorted; empty when the
/// folder does not exist.
///
/// As vrAnalysis' `glob("*.npy") + glob("*.npz")`, dot-files such as
/// `.hidden.npy` are included. Unlike it, only regular files (or symlinks to
/// them) are listed: a folder named `dir.like.npy` or a broken symlink is
/// not. Temporary files of interrupted saves (`.onedata-*.tmp`) never match.
pub fn saved_one_files(one_path: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(one_path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(one_path, e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(one_path, e))?;
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let is_one = name.ends_with(".npy") || name.ends_with(".npz");
        if is_one && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// A saved file as `print_saved_one` shows it: the stem, optionally with
/// extension and folder.
pub fn format_saved(path: &Path, include_path: bool, include_extension: bool) -> String {
    let shown = if include_extension {
        path.file_name()
    } else {
        path.file_stem()
    };
    let shown = shown
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match (include_path, path.parent()) {
        (true, Some(parent)) => parent.join(shown).display().to_string(),
        _ => shown,
    }
}
