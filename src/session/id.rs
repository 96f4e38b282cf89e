//! A session's identity: mouse, date and optional session id, and the
//! folder vrAnalysis keeps it in.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};

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
