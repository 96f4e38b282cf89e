//! Names that try to leave `oneData` are refused, and nothing is created
//! outside the session folder; symlinks in it are not written through.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use ndarray::Array1;
use onedata::{ClearOutcome, Error, ErrorKind, LoadOptions, SessionData};

use super::{npy_bytes, one_dir, sample_recipe, session_in, small_csr};

/// Every file and folder under `root`, with file contents.
fn tree(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                out.insert(path.clone(), None);
                stack.push(path);
            } else if meta.file_type().is_symlink() {
                out.insert(path.clone(), Some(b"<symlink>".to_vec()));
            } else {
                out.insert(path.clone(), Some(fs::read(&path).unwrap()));
            }
        }
    }
    out
}

#[test]
fn names_that_leave_one_data_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let root_path = root.path().canonicalize().unwrap();
    let s = session_in(&root_path);
    let one = one_dir(&s);
    let data = s.data_path().to_path_buf();
    // Decoys a traversal would reach: valid arrays, so a load would succeed.
    let decoy = npy_bytes(&Array1::from_vec(vec![13.0f64, 37.0]));
    let decoys = [
        data.join("x.npy"),
        data.join("x.npz"),
        data.parent().unwrap().join("b.npy"),
        root_path.join("x.npy"),
        root_path.join("etc").join("passwd.npy"),
        root_path.join("a\\..\\b.npy"),
    ];
    for d in &decoys {
        fs::create_dir_all(d.parent().unwrap()).unwrap();
        fs::write(d, &decoy).unwrap();
    }
    let before = tree(&root_path);

    let abs = format!("{}/x", data.display());
    let long = "a".repeat(300);
    let bad: Vec<&str> = vec![
        "../x",
        "..",
        ".",
        "a/../../b",
        "../../b",
        "./x",
        "x/",
        "/etc/passwd",
        &abs,
        "a\\..\\b",
        "..\\x",
        "C:\\x",
        "\\\\server\\share\\x",
        "a\0b",
        "x\0",
        "\0",
        "",
        "C:x",
        "a:b",
        "x.npy:stream",
        "mpci/x",
        "../",
        "..\\",
        "./.",
        "/",
        &long,
        // Windows' rules, on every platform.
        "CON",
        "con.x",
        "nul .npy",
        "COM1",
        "lpt\u{b9}",
        "a?b",
        "a*",
        "a|b",
        "a<b>",
        "a\"b",
        "tab\there",
        "line\n",
    ];
    let arr = Array1::from_vec(vec![1.0f64, 2.0]);
    for &name in &bad {
        let shown = name.escape_debug().to_string();
        let refused = |r: Result<(), Error>, what: &str| match r.map_err(Error::into_kind) {
            Err(ErrorKind::InvalidName { .. }) => {}
            other => panic!("{what}({shown:?}): expected an invalid-name error, got {other:?}"),
        };
        refused(s.loadone(name).map(|_| ()), "loadone");
        refused(
            s.loadone_with(name, LoadOptions::force()).map(|_| ()),
            "loadone_with(force)",
        );
        refused(
            s.loadone_with(name, LoadOptions::sparse(true)).map(|_| ()),
            "loadone_with(sparse)",
        );
        refused(s.saveone(&arr, name).map(|_| ()), "saveone");
        refused(s.saveone(&small_csr(), name).map(|_| ()), "saveone(sparse)");
        refused(
            s.saveone(&sample_recipe(), name).map(|_| ()),
            "saveone(recipe)",
        );
        refused(s.get_one_filename(name).map(|_| ()), "get_one_filename");
        refused(
            session_in(&root_path).with_spks_name(name).map(|_| ()),
            "with_spks_name",
        );
        // clear_one_data matches names against the files in oneData: a
        // name that leaves it matches nothing (or is refused outright).
        match s.clear_one_data(Some(&[name]), true) {
            Ok(ClearOutcome::Cleared(deleted)) => {
                assert!(deleted.is_empty(), "clear_one_data({shown:?}): {deleted:?}")
            }
            Ok(other) => panic!("clear_one_data({shown:?}): {other:?}"),
            Err(e) if matches!(e.kind(), ErrorKind::InvalidName { .. }) => {}
            Err(e) => panic!("clear_one_data({shown:?}): {e}"),
        }
        s.clear_cache(Some(&[name]));
    }
    assert_eq!(
        tree(&root_path),
        before,
        "something changed outside the rules"
    );
    for d in &decoys {
        assert_eq!(fs::read(d).unwrap(), decoy, "{}", d.display());
    }

    // Odd but valid names stay inside oneData.
    let odd = [
        "x y",
        "~",
        "-rf",
        // Empty components stay inside oneData (vrAnalysis'
        // `saveone(x, "mpci", "")` writes `mpci..npy`), and so do dot-files.
        "mpci.",
        "a..b",
        ".x",
        "x.",
        "...",
        "....",
        "mpci..x",
        ".hidden",
        "ünïcödé.名前",
        "a.b.c.d",
        "$HOME",
        "%PATH%",
        "console",
        "com10.x",
        "x.con",
    ];
    for name in odd {
        let path = s.saveone(&arr, name).unwrap();
        assert_eq!(path.parent().unwrap(), one, "{name}");
        assert_eq!(s.loadone(name).unwrap().view1::<f64>().unwrap(), arr);
    }
    let after = tree(&root_path);
    for (path, _) in after.iter().filter(|(p, _)| !before.contains_key(*p)) {
        assert!(
            path.starts_with(&one),
            "created outside oneData: {}",
            path.display()
        );
    }
    let cleared = s.clear_one_data(Some(&odd), true).unwrap();
    assert!(matches!(cleared, ClearOutcome::Cleared(ref d) if d.len() == odd.len()));
    for d in &decoys {
        assert_eq!(fs::read(d).unwrap(), decoy, "{}", d.display());
    }
}

/// A symlink in oneData pointing outside: saving replaces the link, never
/// writes through it, and clearing removes the link, not its target.
#[cfg(unix)]
#[test]
fn symlinks_in_one_data_are_not_written_through() {
    let root = tempfile::tempdir().unwrap();
    let s = session_in(root.path());
    let one = one_dir(&s);
    let outside = root.path().join("outside.npy");
    let decoy = npy_bytes(&Array1::from_vec(vec![13i64, 37]));
    fs::write(&outside, &decoy).unwrap();
    std::os::unix::fs::symlink(&outside, one.join("link.npy")).unwrap();
    // Reading through the link is allowed (the user made it).
    assert_eq!(
        s.loadone("link").unwrap().view1::<i64>().unwrap().to_vec(),
        [13, 37]
    );
    s.saveone(&Array1::from_vec(vec![1i64, 2, 3]), "link")
        .unwrap();
    assert_eq!(fs::read(&outside).unwrap(), decoy);
    assert!(!fs::symlink_metadata(one.join("link.npy"))
        .unwrap()
        .file_type()
        .is_symlink());
    std::os::unix::fs::symlink(&outside, one.join("link2.npy")).unwrap();
    let cleared = s.clear_one_data(Some(&["link2"]), true).unwrap();
    assert!(matches!(cleared, ClearOutcome::Cleared(ref d) if d.len() == 1));
    assert_eq!(fs::read(&outside).unwrap(), decoy);
}
