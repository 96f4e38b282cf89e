//! onedata names and file names.
//!
//! A onedata name is what vrAnalysis passes to `loadone`: dot-separated
//! components such as `mpci.roiActivityF`, which become the file
//! `oneData/mpci.roiActivityF.npy` (or `.npz` for sparse data). Names are
//! checked so that none can reach outside `oneData`: no name holds `/`,
//! `\`, `:` or NUL, and none is `.` or `..` as a whole.
//!
//! Names are also checked against Windows' rules for file names, on every
//! platform, so that a session written on one system can be read on any:
//! no control characters (U+0001 to U+001F) nor any of `< > " | ? *`, no
//! drive prefix (`C:x`), and no reserved device name (`CON`, `PRN`, `AUX`,
//! `NUL`, `COM0`-`COM9`, `LPT0`-`LPT9` and `COM¹`-`COM³`, `LPT¹`-`LPT³`, in
//! any case) before the file name's first dot: Windows opens the device for
//! `CON.npy`, `con.anything.npy` or `NUL .x.npy`. The rules apply to the
//! whole file name, `name` + `.npy`: Windows strips a trailing `.` or space
//! from a file name, but no onedata file name ends in one.
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
//! assert_eq!(one_file_name("console.x", Extension::Npy).unwrap(), "console.x.npy");
//! assert!(one_file_name("../../etc/passwd", Extension::Npy).is_err());
//! assert!(one_file_name("..", Extension::Npy).is_err());
//! assert!(one_file_name("C:x", Extension::Npy).is_err());
//! assert!(one_file_name("con.x", Extension::Npy).is_err()); // the device CON
//! assert!(one_file_name("COM1", Extension::Npz).is_err());
//! assert!(one_file_name("a?b", Extension::Npy).is_err());
//! assert!(one_file_name("tab\there", Extension::Npy).is_err());
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
/// and make a file name of at most 255 bytes that Windows also accepts (see
/// the [module docs](self)). Empty dot-separated components (`mpci.`,
/// `a..b`, `.x`) are valid, as in vrAnalysis.
///
/// ```
/// use onedata::names::check_name;
/// use onedata::ErrorKind;
/// assert!(check_name("mpci.roiActivityF").is_ok());
/// assert!(check_name("mpci.").is_ok()); // the file mpci..npy
/// assert!(check_name("aux2.x").is_ok()); // AUX2 is no device
/// let err = check_name("aux.x").unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::InvalidName { .. }));
/// assert!(err.to_string().contains("device"), "{err}");
/// assert!(check_name("Lpt\u{b9}").is_err()); // LPT¹
/// assert!(check_name("C:data").unwrap_err().to_string().contains("drive"));
/// ```
pub fn check_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("the name is empty")
    } else if name == "." || name == ".." {
        Some("a name may not be '.' or '..'")
    } else if name.len() + 4 > NAME_MAX {
        Some("the file name would exceed 255 bytes; use a shorter name")
    } else {
        // `name` + `.npy` has the characters of `name`, the same part
        // before its first dot, and no trailing dot or space.
        character_fault(name).or_else(|| device_fault(name))
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(Error::new(ErrorKind::InvalidName {
            name: name.to_string(),
            reason,
        })),
    }
}

/// Checks a whole file name (with extension), as a session type's own
/// `get_one_filename` may make it: one file inside `oneData`, of at most
/// 255 bytes, that Windows also accepts, which also means it does not end
/// in `.` or a space (Windows strips them, so `x.` and `x` are one file).
///
/// ```
/// use onedata::names::check_file_name;
/// assert!(check_file_name("mpci..npy").is_ok());
/// assert!(check_file_name("lab.mpci.spks.npy").is_ok());
/// assert!(check_file_name("x.npy.").is_err());
/// assert!(check_file_name("x.npy ").is_err());
/// assert!(check_file_name("PRN.npy").is_err());
/// assert!(check_file_name("a|b.npy").is_err());
/// ```
pub fn check_file_name(file_name: &str) -> Result<()> {
    let reason = if file_name.is_empty() {
        Some("the name is empty")
    } else if file_name == "." || file_name == ".." {
        Some("a name may not be '.' or '..'")
    } else if file_name.len() > NAME_MAX {
        Some("the file name would exceed 255 bytes; use a shorter name")
    } else {
        character_fault(file_name)
            .or_else(|| device_fault(file_name))
            .or_else(|| {
                file_name.ends_with(['.', ' ']).then_some(
                    "a file name may not end in '.' or a space (Windows drops them); \
                     end it in its extension",
                )
            })
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(Error::new(ErrorKind::InvalidName {
            name: file_name.to_string(),
            reason,
        })),
    }
}

/// Why a character of `s` is refused, if one is.
fn character_fault(s: &str) -> Option<&'static str> {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Some(
            "a name may not start with a drive prefix such as 'C:' (Windows reads it as \
             another drive); name the file only, without a drive or folder",
        );
    }
    s.bytes().find_map(|c| match c {
        b'/' | b'\\' => Some(
            "a name may not contain '/' or '\\'; name one file in oneData, without folders \
             (join parts with '.')",
        ),
        b':' => Some(
            "a name may not contain ':' (Windows reads it as a drive or an NTFS stream); \
             use '.' or '_' instead",
        ),
        0 => Some("a name may not contain NUL; remove it"),
        1..=0x1f => Some(
            "a name may not contain control characters (U+0001 to U+001F, such as a tab \
             or a newline), which Windows refuses; remove them",
        ),
        b'<' | b'>' | b'"' | b'|' | b'?' | b'*' => Some(
            "a name may not contain any of < > \" | ? *, which Windows refuses; \
             use '_' instead",
        ),
        _ => None,
    })
}

/// The reserved device names of Windows, upper case.
const DEVICES: [&str; 4] = ["CON", "PRN", "AUX", "NUL"];

/// Why `file_name` names a Windows device, if it does: the part before its
/// first dot, with trailing spaces trimmed, is one of [`DEVICES`], or `COM`
/// or `LPT` and one digit 0-9 or superscript ¹, ² or ³, in any case.
fn device_fault(file_name: &str) -> Option<&'static str> {
    let stem = file_name.split('.').next().unwrap_or_default();
    let stem = stem.trim_end_matches(' ');
    let reserved = match stem.len() {
        3 => DEVICES.iter().any(|d| stem.eq_ignore_ascii_case(d)),
        // Three ASCII letters and a digit, or a two-byte superscript.
        4 | 5 => {
            let (Some(port), Some(n)) = (stem.get(..3), stem.get(3..)) else {
                return None;
            };
            let port = port.eq_ignore_ascii_case("COM") || port.eq_ignore_ascii_case("LPT");
            let digit = matches!(n, "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9")
                || matches!(n, "\u{b9}" | "\u{b2}" | "\u{b3}");
            port && digit
        }
        _ => false,
    };
    reserved.then_some(
        "the part before the first '.' is a Windows device name (CON, PRN, AUX, NUL, \
         COM0-COM9, LPT0-LPT9), which Windows opens instead of a file; add to it, \
         e.g. 'con_' or 'my_con'",
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The reason `name` is refused, failing if it is not.
    #[track_caller]
    fn refused(name: &str) -> &'static str {
        match check_name(name).map_err(Error::into_kind) {
            Err(ErrorKind::InvalidName {
                name: shown,
                reason,
            }) => {
                assert_eq!(shown, name);
                reason
            }
            other => panic!("{name:?}: expected an invalid name, got {other:?}"),
        }
    }

    #[test]
    fn vranalysis_names_stay_valid() {
        for name in [
            "mpci.roiActivityF",
            "mpci.roiActivityDeconvolvedOasis",
            "mpci.",
            "a..b",
            ".hidden",
            "...x",
            "plain.name",
            "positionTracking.position",
            "trials.info",
            "con_x",
            "console",
            "auxiliary.data",
            "nul_",
            "com10",
            "lpt",
            "COM",
            "x.con",
            "x.COM1",
            " con",
            "ünïcode.näme",
            "a b",
        ] {
            assert!(check_name(name).is_ok(), "{name:?}: {:?}", check_name(name));
            assert!(check_file_name(&format!("{name}.npy")).is_ok(), "{name:?}");
        }
    }

    #[test]
    fn reserved_device_names_are_refused_before_any_dot() {
        for name in [
            "CON",
            "con",
            "Con",
            "PRN",
            "prn",
            "AUX",
            "aux",
            "NUL",
            "nul",
            "COM0",
            "com1",
            "COM9",
            "LPT0",
            "lpt5",
            "LPT9",
            "CON.npy",
            "con.anything",
            "NUL.x",
            "aux.a.b",
            "CON ",
            "con  .x",
            "COM\u{b9}",
            "com\u{b2}",
            "LPT\u{b3}",
            "lpt\u{b9}.x",
        ] {
            assert!(refused(name).contains("device name"), "{name:?}");
        }
        assert!(check_file_name("LPT1.npy").is_err());
        assert!(check_file_name("nul .npz").is_err());
        // Other superscripts and digit-like characters are no devices.
        assert!(check_name("COM\u{b4}").is_ok());
        assert!(check_name("COM\u{2074}").is_ok());
        assert!(check_name("COM\u{0661}").is_ok());
        // Multi-byte characters where the port name would be do not panic.
        assert!(check_name("éé\u{b9}").is_ok());
        assert!(check_name("\u{b9}\u{b9}").is_ok());
    }

    #[test]
    fn drive_prefixes_and_colons_say_which() {
        for name in ["C:x", "c:", "Z:data.x", "C:\\x", "a:b"] {
            assert!(refused(name).contains("drive prefix"), "{name:?}");
        }
        for name in ["ab:c", "x.npy:stream", "1:x", "::"] {
            let reason = refused(name);
            assert!(
                reason.contains("':'") && !reason.contains("prefix"),
                "{name:?}"
            );
        }
    }

    #[test]
    fn windows_forbidden_characters_are_refused() {
        for name in ["a<b", "a>b", "a\"b", "a|b", "a?b", "a*", "*"] {
            assert!(refused(name).contains("< > \" | ? *"), "{name:?}");
        }
        for name in ["tab\there", "new\nline", "\u{1}", "x\u{1f}y", "\r"] {
            assert!(refused(name).contains("control characters"), "{name:?}");
        }
        // DEL and characters past ASCII are fine for Windows.
        assert!(check_name("del\u{7f}").is_ok());
        assert!(refused("a\0b").contains("NUL"));
        assert!(refused("a/b").contains("'/'"));
        assert!(refused("a\\b").contains("'/'"));
    }

    #[test]
    fn old_rules_still_hold() {
        assert!(refused("").contains("empty"));
        assert!(refused(".").contains("'.'"));
        assert!(refused("..").contains("'.'"));
        assert!(refused(&"a".repeat(252)).contains("255 bytes"));
        assert!(check_name(&"a".repeat(251)).is_ok());
    }

    #[test]
    fn whole_file_names_may_not_end_in_a_dot_or_space() {
        for file in ["x.npy.", "x.npy ", "x.", "x "] {
            let reason = match check_file_name(file).map_err(Error::into_kind) {
                Err(ErrorKind::InvalidName { reason, .. }) => reason,
                other => panic!("{file:?}: {other:?}"),
            };
            assert!(reason.contains("end in '.' or a space"), "{file:?}");
        }
        assert!(check_file_name("mpci..npy").is_ok());
        assert!(check_file_name(&"a".repeat(256)).is_err());
        assert!(check_file_name(&"a".repeat(255)).is_ok());
        assert!(check_file_name("").is_err());
        assert!(check_file_name("..").is_err());
        assert!(check_file_name("a/b.npy").is_err());
    }
}
