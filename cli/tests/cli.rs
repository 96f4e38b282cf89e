//! The command-line tool: `info`, `digest`, `ls`, `demo`, `bench`, and
//! errors on bad files.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Output};

use ndarray::{Array3, ShapeBuilder};
use onedata::npy::write_npy;

fn onedata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_onedata"))
        .args(args)
        .output()
        .expect("run onedata")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "onedata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The one line onedata printed on stderr, after checking it failed with
/// status 1 and printed nothing on stdout.
fn error_line(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    err.trim_end().to_string()
}

/// The cells of a table row as onedata prints it: separated by two spaces
/// or more.
fn cells(line: &str) -> Vec<String> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect()
}

/// A small demo session (B2 layout, with recipes and a sparse file) under
/// `root`; returns the session folder.
fn small_demo(root: &Path) -> std::path::PathBuf {
    let spec = onedata::demo::DemoSpec {
        frames: 40,
        rois_per_plane: vec![5, 3],
        ..onedata::demo::DemoSpec::default()
    };
    onedata::demo::write_demo_session(root, &spec).unwrap()
}

/// The library's digest of what `loadone` returns for `name` in the demo session.
fn library_digest(dir: &Path, name: &str, sparse: bool) -> String {
    use onedata::SessionData;
    let session = onedata::b2::B2Session::open(dir).unwrap();
    let opts = onedata::LoadOptions {
        sparse,
        ..onedata::LoadOptions::default()
    };
    let data = session.loadone_with(name, opts).unwrap();
    onedata::digest::to_hex(&data.digest().unwrap())
}

#[test]
fn info_json_describes_a_dense_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mpci.times.npy");
    write_npy(&path, &ndarray::Array2::<f32>::ones((3, 4))).unwrap();
    let out = stdout(&onedata(&["info", "--json", s(&path)]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kind"], "dense");
    assert_eq!(v["descr"], "<f4");
    assert_eq!(v["shape"], serde_json::json!([3, 4]));
    assert_eq!(v["fortran_order"], false);
    assert_eq!(v["data_bytes"], 48);

    let fortran = Array3::<i16>::zeros((2, 3, 4).f());
    let fpath = dir.path().join("f.npy");
    write_npy(&fpath, &fortran).unwrap();
    let out = stdout(&onedata(&["info", "--json", s(&fpath)]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["descr"], "<i2");
    assert_eq!(v["fortran_order"], true);
    assert_eq!(v["shape"], serde_json::json!([2, 3, 4]));

    let text = stdout(&onedata(&["info", s(&fpath)]));
    assert!(text.contains("(2, 3, 4)"), "{text}");
}

#[test]
fn digest_depends_only_on_values() {
    let dir = tempfile::tempdir().unwrap();
    let c = Array3::<f64>::from_shape_fn((2, 3, 4), |(i, j, k)| (i * 100 + j * 10 + k) as f64);
    let mut f = Array3::<f64>::zeros((2, 3, 4).f());
    f.assign(&c);
    let (pc, pf) = (dir.path().join("c.npy"), dir.path().join("f.npy"));
    write_npy(&pc, &c).unwrap();
    write_npy(&pf, &f).unwrap();
    let dc = stdout(&onedata(&["digest", s(&pc)]));
    let df = stdout(&onedata(&["digest", s(&pf)]));
    assert_eq!(dc, df);
    assert_eq!(
        dc.trim(),
        onedata::digest::to_hex(&onedata::digest::digest_array(&c))
    );
    // The digest of the C-order little-endian bytes, computed independently.
    let mut bytes = Vec::new();
    for x in c.iter() {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    use sha2::Digest;
    let expect = onedata::digest::to_hex(&sha2::Sha256::digest(&bytes));
    assert_eq!(dc.trim(), expect);
}

#[test]
fn bad_files_give_one_error_line_and_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 4] = [
        ("empty.npy", b"", "magic"),
        ("text.npy", b"hello, world, not numpy", "magic"),
        (
            "short.npy",
            b"\x93NUMPY\x01\x00\xff\xff{'descr'",
            "header is truncated: expected 65535 bytes, got 8 (the file has 18 bytes)",
        ),
        (
            "version.npy",
            b"\x93NUMPY\x09\x00\x10\x00{}              ",
            "version 9.0",
        ),
    ];
    for (name, bytes, fault) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        for cmd in ["info", "digest"] {
            let out = onedata(&[cmd, s(&path)]);
            assert_eq!(out.status.code(), Some(1), "{cmd} {name}");
            let err = String::from_utf8(out.stderr).unwrap();
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.starts_with("error: "), "{err}");
            assert!(err.contains(name), "{err}");
            assert!(err.contains(fault), "{cmd} {name}: {err}");
        }
    }
    let out = onedata(&["digest", s(&dir.path().join("missing.npy"))]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.npy"));
}

/// `info` and `digest` of a loading recipe say what it is and give the
/// command that digests what it loads, with the session folder and name.
#[test]
fn a_recipe_file_points_to_digest_session() {
    let root = tempfile::tempdir().unwrap();
    let dir = small_demo(root.path());
    let file = dir.join("oneData").join("mpci.roiActivityF.npy");
    let command = format!(
        "onedata digest --session {} mpci.roiActivityF",
        dir.display()
    );
    let what = "a loading recipe (loader S2P, source F, then transpose), not an array";

    let text = stdout(&onedata(&["info", s(&file)]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], "kind           recipe", "{text}");
    assert!(lines.contains(&"loader_type    S2P"), "{text}");
    assert!(lines.contains(&"source_arg     F"), "{text}");
    assert!(
        lines.contains(&format!("note           {what}").as_str()),
        "{text}"
    );
    assert!(
        lines.contains(&format!("digest_with    {command}").as_str()),
        "{text}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&stdout(&onedata(&["info", "--json", s(&file)]))).unwrap();
    assert_eq!(v["kind"], "recipe");
    assert_eq!(v["digest_with"], command.as_str());

    assert_eq!(
        error_line(&onedata(&["digest", s(&file)])),
        format!(
            "error: {}: {what}: it has no elements to digest; digest what it loads with: {command}",
            file.display()
        )
    );
    // The command it names works, and digests what the recipe loads.
    let args: Vec<&str> = command.split(' ').skip(1).collect();
    assert_eq!(
        stdout(&onedata(&args)).trim(),
        library_digest(&dir, "mpci.roiActivityF", false)
    );

    // Outside a session's oneData folder the command has a placeholder.
    let loose = root.path().join("loose.npy");
    std::fs::copy(&file, &loose).unwrap();
    assert_eq!(
        error_line(&onedata(&["digest", s(&loose)])),
        format!(
            "error: {}: {what}: it has no elements to digest; digest what it loads with: \
             onedata digest --session SESSION_DIR loose (SESSION_DIR: the folder whose oneData/ holds it)",
            loose.display()
        )
    );
}

/// `digest --session` takes a file name too: `NAME.npy` is NAME, and
/// `NAME.npz` is NAME with `--sparse`.
#[test]
fn digest_session_accepts_file_names() {
    let root = tempfile::tempdir().unwrap();
    let dir = small_demo(root.path());
    let digest = |args: &[&str]| {
        let mut all = vec!["digest", "--session", s(&dir)];
        all.extend_from_slice(args);
        stdout(&onedata(&all)).trim().to_string()
    };
    for name in ["mpci.times", "mpci.roiActivityF"] {
        let want = library_digest(&dir, name, false);
        assert_eq!(digest(&[name]), want, "{name}");
        assert_eq!(digest(&[&format!("{name}.npy")]), want, "{name}.npy");
    }
    let sparse = "mpci.roiSignificantFluorescence";
    let want = library_digest(&dir, sparse, true);
    assert_eq!(digest(&[sparse, "--sparse"]), want);
    assert_eq!(digest(&[&format!("{sparse}.npz")]), want);
    assert_eq!(digest(&[&format!("{sparse}.npz"), "--sparse"]), want);
    // A .npy name with --sparse is a contradiction, said as one.
    assert_eq!(
        error_line(&onedata(&[
            "digest",
            "--session",
            s(&dir),
            "mpci.times.npy",
            "--sparse"
        ])),
        "error: mpci.times.npy names a .npy file, but --sparse loads mpci.times.npz: \
         drop --sparse, or name mpci.times.npz"
    );
}

/// A sparse name without `--sparse` (only NAME.npz saved) asks whether
/// `--sparse` was meant, with the command to type; and the other way round.
#[test]
fn digest_session_suggests_the_form_that_is_saved() {
    let root = tempfile::tempdir().unwrap();
    let dir = small_demo(root.path());
    let run = |args: &[&str]| {
        let mut all = vec!["digest", "--session", s(&dir)];
        all.extend_from_slice(args);
        onedata(&all)
    };
    let sparse = "mpci.roiSignificantFluorescence";
    let command = format!(
        "onedata digest --session {} {sparse} --sparse",
        dir.display()
    );
    assert_eq!(
        error_line(&run(&[sparse])),
        format!(
            "error: session ATL027/2024-06-12/701: onedata {sparse}.npy does not exist, \
             but {sparse}.npz does (a sparse matrix): did you mean --sparse? {command}"
        )
    );
    // The command it gives works.
    let args: Vec<&str> = command.split(' ').skip(1).collect();
    assert_eq!(
        stdout(&onedata(&args)).trim(),
        library_digest(&dir, sparse, true)
    );
    assert_eq!(
        error_line(&run(&["mpci.times", "--sparse"])),
        format!(
            "error: session ATL027/2024-06-12/701: onedata mpci.times.npz does not exist, \
             but mpci.times.npy does (a dense array or a recipe): did you mean without --sparse? \
             onedata digest --session {} mpci.times",
            dir.display()
        )
    );
    // A name saved in neither form still lists what is saved.
    let err = error_line(&run(&["mpci.nothing"]));
    assert!(
        err.starts_with(
            "error: session ATL027/2024-06-12/701: onedata mpci.nothing.npy does not exist; \
             saved onedata: mpci.roiActivityDeconvolved.npy, "
        ),
        "{err}"
    );
}

/// `ls` lists a session folder, its `oneData` folder alike, and the
/// sessions under a data root.
#[test]
fn ls_lists_a_session_its_onedata_folder_and_a_root() {
    let root = tempfile::tempdir().unwrap();
    let dir = small_demo(root.path());
    let one = dir.join("oneData");
    let session = stdout(&onedata(&["ls", s(&dir)]));
    let lines: Vec<&str> = session.lines().collect();
    assert_eq!(lines.len(), 12, "{session}");
    assert!(lines[0].starts_with("name "), "{session}");
    let times = lines
        .iter()
        .find(|l| l.starts_with("mpci.times.npy"))
        .unwrap();
    let cells: Vec<&str> = times.split_whitespace().collect();
    assert_eq!(
        cells,
        ["mpci.times.npy", "dense", "<f8", "(40,)", "448", "B"]
    );
    assert_eq!(
        lines[11],
        format!("10 onedata file(s) in {}", one.display())
    );
    // The oneData folder itself: the same table.
    let folder = stdout(&onedata(&["ls", s(&one)]));
    assert_eq!(folder, session);

    // A root: the sessions under it, sorted, with their file counts.
    let spec = onedata::demo::DemoSpec {
        frames: 10,
        rois_per_plane: vec![2],
        session_id: "702".into(),
        ..onedata::demo::DemoSpec::default()
    };
    let second = onedata::demo::write_demo_session(root.path(), &spec).unwrap();
    std::fs::create_dir_all(root.path().join("notes/misc/x")).unwrap();
    let text = stdout(&onedata(&["ls", s(root.path())]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    let cells: Vec<Vec<&str>> = lines
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(cells[0], ["session", "files", "size", "path"]);
    assert_eq!(cells[1][..2], ["ATL027/2024-06-12/701", "10"]);
    assert_eq!(cells[1][4], s(&dir));
    assert_eq!(cells[2][..2], ["ATL027/2024-06-12/702", "10"]);
    assert_eq!(cells[2][4], s(&second));
    assert_eq!(
        lines[3],
        format!(
            "2 session(s) under {}; list one with: onedata ls {}",
            root.path().display(),
            dir.display()
        )
    );

    // A folder that is none of these says what was looked for.
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        error_line(&onedata(&["ls", s(empty.path())])),
        format!(
            "error: {}: no onedata here: not a session folder (no oneData inside), \
             not a oneData folder, and no sessions under it as \
             <mouse>/<YYYY-MM-DD>/<session_id>/oneData",
            empty.path().display()
        )
    );
}

/// Runs `onedata ARGS` as a user that file permissions apply to: as
/// itself, or when the tests run as root (as CI does, where `chmod 000`
/// stops no read), as `nobody` through setpriv or runuser. `dirs` are made
/// traversable for that user; the binary is copied into `dirs[0]` if
/// `nobody` cannot reach it where it is.
#[cfg(unix)]
fn onedata_unprivileged(args: &[&str], dirs: &[&Path]) -> Output {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return onedata(args);
    }
    for dir in dirs {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let exe = Path::new(env!("CARGO_BIN_EXE_onedata"));
    let others_may = |p: &Path, bits: u32| {
        std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & bits == bits)
    };
    let reachable = others_may(exe, 0o005)
        && exe
            .ancestors()
            .skip(1)
            .filter(|a| !a.as_os_str().is_empty())
            .all(|a| others_may(a, 0o001));
    let exe = if reachable {
        exe.to_path_buf()
    } else {
        let copy = dirs[0].join("onedata");
        std::fs::copy(exe, &copy).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
        copy
    };
    let runners: [(&str, &[&str]); 2] = [
        (
            "setpriv",
            &["--reuid=65534", "--regid=65534", "--clear-groups", "--"],
        ),
        ("runuser", &["-u", "nobody", "--"]),
    ];
    for (runner, prefix) in runners {
        let out = Command::new(runner)
            .args(prefix)
            .arg(&exe)
            .args(args)
            .output();
        match out {
            Ok(out) => return out,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("cannot run {runner}: {e}"),
        }
    }
    panic!(
        "the tests run as root, where file permissions do not stop reads, and neither \
         setpriv nor runuser (util-linux) is installed to run onedata as nobody: \
         install util-linux, or run the tests as another user"
    );
}

/// A file `ls` may not read is listed as unreadable, with the OS's reason;
/// the other files are listed as usual.
#[cfg(unix)]
#[test]
fn ls_lists_an_unreadable_file_with_the_os_error() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let dir = small_demo(root.path());
    let locked = dir.join("oneData").join("mpci.times.npy");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let out = onedata_unprivileged(&["ls", s(&dir)], &[root.path()]);
    let text = stdout(&out);
    let row = |name: &str| -> Vec<String> {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {text}"));
        cells(line)
    };
    assert_eq!(
        row("mpci.times.npy"),
        [
            "mpci.times.npy",
            "unreadable",
            "-",
            "Permission denied (os error 13)",
            "448 B"
        ],
        "{text}"
    );
    assert_eq!(
        row("positionTracking.times.npy")[..4],
        ["positionTracking.times.npy", "dense", "<f8", "(400,)"],
        "{text}"
    );
    let last = format!("10 onedata file(s) in {}\n", dir.join("oneData").display());
    assert!(text.ends_with(&last), "{text}");
}

/// Every file under `dir`, recursively: how many, and their bytes.
fn files_and_bytes(dir: &Path) -> (usize, u64) {
    let (mut count, mut bytes) = (0, 0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        if meta.is_dir() {
            let (c, b) = files_and_bytes(&entry.path());
            count += c;
            bytes += b;
        } else {
            count += 1;
            bytes += meta.len();
        }
    }
    (count, bytes)
}

/// `demo` labels recipes with their loader, shows the sizes `ls` shows,
/// the total it wrote, and which spks it loaded.
#[test]
fn demo_labels_recipes_and_shows_what_it_wrote() {
    let root = tempfile::tempdir().unwrap();
    let args = [
        "demo",
        s(root.path()),
        "--frames",
        "40",
        "--rois",
        "5",
        "--planes",
        "2",
    ];
    let text = stdout(&onedata(&args));
    let lines: Vec<&str> = text.lines().collect();
    let dir = root.path().join("ATL027/2024-06-12/701");
    let (count, bytes) = files_and_bytes(&dir);
    assert_eq!(
        count, 21,
        "4 suite2p files per plane, 10 onedata files, 3 json files"
    );
    let first = format!(
        "wrote demo session {} (40 frames x 10 ROIs in 2 planes): {count} files, ",
        dir.display()
    );
    assert!(lines[0].starts_with(&first), "{text}");
    assert!(
        lines[0].contains(&format!(" ({bytes} bytes) in ")),
        "{text}"
    );
    assert_eq!(
        cells(lines[2]),
        [
            "name",
            "kind",
            "shape",
            "on disk",
            "in memory",
            "load / cache hit"
        ]
    );
    let rows: Vec<Vec<String>> = lines[3..13].iter().map(|l| cells(l)).collect();
    let kind = |name: &str| {
        rows.iter()
            .find(|r| r[0] == name)
            .unwrap_or_else(|| panic!("no {name} in {text}"))[1]
            .clone()
    };
    assert_eq!(kind("mpci.roiActivityF"), "recipe S2P(F) -> transpose");
    assert_eq!(
        kind("mpci.roiNeuropilActivityF"),
        "recipe S2P(Fneu) -> transpose"
    );
    assert_eq!(
        kind("mpci.roiActivityDeconvolved"),
        "recipe S2P(spks) -> transpose"
    );
    assert_eq!(kind("mpciROIs.isCell"), "recipe S2P(iscell)");
    assert_eq!(kind("mpci.roiActivityDeconvolvedOasis"), "dense <f4");
    assert_eq!(kind("mpci.roiSignificantFluorescence"), "sparse csc <f4");
    // The sizes on disk are the ones `ls` shows.
    let ls = stdout(&onedata(&["ls", s(&dir)]));
    for row in &rows {
        let listed = ls
            .lines()
            .map(cells)
            .find(|c| {
                c[0].rsplit_once('.')
                    .is_some_and(|(stem, _)| stem == row[0])
            })
            .unwrap_or_else(|| panic!("{} not in {ls}", row[0]));
        assert_eq!(row[3], listed[4], "{}: {text}\n{ls}", row[0]);
    }
    assert_eq!(
        lines[13],
        "spks (significant): dense <f4 (40, 10) from mpci.roiSignificantFluorescence.npz (owned)"
    );
    assert_eq!(lines.len(), 14, "{text}");

    // A second run refuses to overwrite the session, unless given --force.
    assert_eq!(
        error_line(&onedata(&args)),
        format!(
            "error: {} is not empty (a session written before?): the demo does not overwrite it \
             unless given --force; to replace its files: onedata {} --force",
            dir.display(),
            args.join(" ")
        )
    );
    let mut forced = args.to_vec();
    forced.push("--force");
    let again = stdout(&onedata(&forced));
    assert!(again.starts_with(&first), "{again}");
    assert_eq!(files_and_bytes(&dir), (count, bytes));
}

#[test]
fn truncated_data_is_refused_before_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.npy");
    write_npy(&path, &ndarray::Array1::<f64>::zeros(100)).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    let out = onedata(&["digest", s(&path)]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("truncated") && err.contains("800 bytes"),
        "{err}"
    );
    // info refuses it too, as numpy does.
    let out = onedata(&["info", "--json", s(&path)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated"));
}

const BENCH_CASES: [&str; 9] = [
    "cold_load_small",
    "cold_load_large",
    "cache_hit",
    "full_scan_large",
    "sparse_load",
    "sparse_dense",
    "sparse_load_stored",
    "save_large",
    "save_large_scratch",
];

/// The cases run through the onedata Python package, after the Rust ones.
const PYTHON_CASES: [&str; 6] = [
    "py_load_large",
    "py_load_large_copy",
    "py_loadone_cold",
    "py_loadone_hit",
    "py_full_scan_large",
    "py_load_npz",
];

fn bench_json(python: Option<&str>, extra: &[&str]) -> serde_json::Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_onedata"));
    cmd.args(["bench", "--quick", "--size-mb", "4", "--json"])
        .args(extra);
    if let Some(p) = python {
        cmd.env("ONEDATA_PYTHON", p);
    }
    let out = cmd.output().expect("run onedata bench");
    serde_json::from_str(&stdout(&out)).expect("bench --json prints one JSON object")
}

/// `bench --json` reports every case on both sides, with ratios that are
/// numpy's time over ours, and draws the plot.
#[test]
fn bench_json_reports_every_case_beside_numpy() {
    common::require_scipy();
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("bench.png");
    let r = bench_json(Some(&common::python()), &["--plot", s(&png)]);
    assert_eq!(r["missing"], serde_json::Value::Null);
    assert_eq!(r["numpy"].as_str().unwrap(), common::numpy_version());
    assert_eq!(r["size_mb"], 4);
    assert_eq!(r["large_shape"], serde_json::json!([1048, 1000]));
    let cases = r["cases"].as_array().unwrap();
    let names: Vec<&str> = cases.iter().map(|c| c["name"].as_str().unwrap()).collect();
    let expected: Vec<&str> = BENCH_CASES.iter().chain(&PYTHON_CASES).copied().collect();
    assert_eq!(
        names, expected,
        "is the onedata Python package installed? (pip install ./python)"
    );
    for c in &cases[BENCH_CASES.len()..] {
        assert_eq!(c["side"], "python", "{c}");
        assert!(c["goal_ratio"].as_f64().unwrap() >= 1.0, "{c}");
    }
    // The JSON rounds times to 0.001 us (to 1 us from 100 us on) and ratios
    // the same way; the ratio was taken before rounding.
    let half_unit = |x: f64| if x >= 100.0 { 0.5 } else { 0.0005 };
    let close = |ratio: f64, a: f64, b: f64| {
        let relative = half_unit(a) / a + half_unit(b) / b;
        (ratio - a / b).abs() <= (a / b) * relative * 1.01 + half_unit(ratio) + 1e-9
    };
    for c in cases {
        let ours = c["onedata_us"].as_f64().unwrap();
        let theirs = c["numpy_us"].as_f64().unwrap();
        assert!(ours > 0.0 && theirs > 0.0, "{c}");
        assert!(
            close(c["ratio_vs_numpy"].as_f64().unwrap(), theirs, ours),
            "{c}"
        );
    }
    let large = &cases[1];
    let (ours, mmap, floor) = (
        large["onedata_us"].as_f64().unwrap(),
        large["numpy_mmap_us"].as_f64().unwrap(),
        large["floor_us"].as_f64().unwrap(),
    );
    assert!(
        close(large["ratio_vs_numpy_mmap"].as_f64().unwrap(), mmap, ours),
        "{large}"
    );
    assert!(
        close(large["ratio_vs_floor"].as_f64().unwrap(), ours, floor),
        "{large}"
    );
    let stored = cases
        .iter()
        .find(|c| c["name"] == "sparse_load_stored")
        .unwrap();
    // The ratio is of the paired runs: ours and the dense cold open timed
    // in alternating blocks.
    let (ours, dense) = (
        stored["paired_onedata_us"].as_f64().unwrap(),
        stored["dense_cold_us"].as_f64().unwrap(),
    );
    assert!(stored["onedata_us"].as_f64().unwrap() > 0.0 && dense > 0.0);
    assert!(
        close(stored["ratio_vs_dense_cold"].as_f64().unwrap(), ours, dense),
        "{stored}"
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
}

/// Without python3 the bench still measures our side, and says what is
/// missing and how to install it.
#[test]
fn bench_without_python_measures_our_side_and_says_what_is_missing() {
    let r = bench_json(Some("/nonexistent/python3"), &[]);
    let missing = r["missing"].as_str().unwrap();
    assert!(
        missing.contains("not found") && missing.contains("numpy"),
        "{missing}"
    );
    let cases = r["cases"].as_array().unwrap();
    assert_eq!(cases.len(), BENCH_CASES.len());
    for c in cases {
        assert!(c["onedata_us"].as_f64().unwrap() > 0.0, "{c}");
        assert_eq!(c["numpy_us"], serde_json::Value::Null, "{c}");
        assert_eq!(c["ratio_vs_numpy"], serde_json::Value::Null, "{c}");
    }
}

/// `bench --remote` without a python for the S3 server says how to make one.
#[test]
fn bench_remote_without_a_server_python_says_how_to_set_one_up() {
    let out = Command::new(env!("CARGO_BIN_EXE_onedata"))
        .args(["bench", "--remote", "--quick", "--size-mb", "4"])
        .env_remove("ONEDATA_MOTO_PYTHON")
        .output()
        .expect("run onedata bench --remote");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--remote-python") && err.contains("moto[server]==5.2.5"),
        "{err}"
    );
}

/// `bench --remote` on the local S3 server (ONEDATA_MOTO_PYTHON): every
/// case reported, the requests counted from the proxy's log (a warm load
/// makes none), and the s3fs side either measured or said to be missing.
/// Fails, as the other remote tests do, when ONEDATA_MOTO_PYTHON is unset
/// (`.ci/test` sets it).
#[test]
fn bench_remote_counts_the_requests_of_each_case() {
    let python = std::env::var("ONEDATA_MOTO_PYTHON").unwrap_or_else(|_| {
        panic!(
            "ONEDATA_MOTO_PYTHON is unset: bench --remote needs a local S3 server (moto). \
             python3 -m venv /tmp/venv-s3 && /tmp/venv-s3/bin/pip install 'moto[server]==5.2.5' && \
             export ONEDATA_MOTO_PYTHON=/tmp/venv-s3/bin/python"
        )
    });
    let out = Command::new(env!("CARGO_BIN_EXE_onedata"))
        .args(["bench", "--remote", "--quick", "--size-mb", "4", "--json"])
        .args(["--remote-python", &python])
        .output()
        .expect("run onedata bench --remote");
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("one JSON object");
    assert_eq!(r["section"], "remote");
    assert_eq!(r["shape"], serde_json::json!([200, 5000]));
    assert_eq!(r["ranges"]["count"], 200);
    let cases = r["cases"].as_array().unwrap();
    let names: Vec<&str> = cases.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "remote_cold_load",
            "remote_row_ranges",
            "remote_row_ranges_vs_get_per_range",
            "remote_warm_load",
            "server_one_range"
        ]
    );
    let requests = |c: &serde_json::Value| c["onedata_per_op"]["requests"].as_f64().unwrap();
    // A cold load gets the whole file; 4 MB is one part.
    assert!(requests(&cases[0]) >= 1.0, "{}", cases[0]);
    assert_eq!(
        cases[0]["onedata_per_op"]["bytes"].as_f64().unwrap(),
        r["size_bytes"].as_f64().unwrap()
    );
    // The header, then the rows (4 MB of rows: one coalesced GET).
    assert_eq!(requests(&cases[1]), 2.0, "{}", cases[1]);
    assert_eq!(requests(&cases[3]), 0.0, "{}", cases[3]);
    assert!(cases[3]["onedata_us"].as_f64().unwrap() > 0.0);
    if r["versions"]["s3fs"].is_null() {
        assert!(r["missing"].as_str().unwrap().contains("s3fs"), "{r}");
    } else {
        assert_eq!(r["missing"], serde_json::Value::Null);
        // One GET per range on their side.
        assert_eq!(
            cases[1]["theirs_per_op"]["requests"].as_f64().unwrap(),
            200.0
        );
        assert!(cases[1]["ratio"].as_f64().unwrap() > 0.0);
    }
}

/// `digest --session` gives, for every file of a B2 demo session (dense
/// arrays, the four recipes through B2Session, the sparse file), the
/// digest of what the library's `loadone` returns, which the interop
/// tests check against numpy; and `ls` lists every one of them.
#[test]
fn digest_session_and_ls_agree_with_the_library_on_every_demo_file() {
    let root = tempfile::tempdir().unwrap();
    let spec = onedata::demo::DemoSpec {
        frames: 257,
        rois_per_plane: vec![11, 6, 9],
        ..onedata::demo::DemoSpec::default()
    };
    let dir = onedata::demo::write_demo_session(root.path(), &spec).unwrap();
    let files = onedata::names::saved_one_files(&dir.join("oneData")).unwrap();
    assert_eq!(files.len(), 10);
    let listing = stdout(&onedata(&["ls", s(&dir)]));
    let mut recipes = 0;
    for path in &files {
        let file_name = onedata::names::format_saved(path, false, true);
        let name = onedata::names::format_saved(path, false, false);
        let sparse = file_name.ends_with(".npz");
        let mut args = vec!["digest", "--session", s(&dir), name.as_str()];
        if sparse {
            args.push("--sparse");
        }
        let cli = stdout(&onedata(&args));
        assert_eq!(cli.trim(), library_digest(&dir, &name, sparse), "{name}");
        let row = listing
            .lines()
            .find(|l| cells(l).first() == Some(&file_name))
            .unwrap_or_else(|| panic!("ls does not list {file_name}:\n{listing}"));
        if cells(row)[1] == "recipe" {
            recipes += 1;
        }
    }
    assert_eq!(recipes, 4, "{listing}");
    assert!(listing.contains("(257, 26)"), "{listing}");
}

/// A `.npy` object array of `shape` (`()` or `(n,)`) whose pickle's element
/// list is `elements` (pickle fragments, each pushing one value): the
/// protocol 3 layout numpy 1.x writes, memo opcodes dropped.
fn object_npy(shape: &[usize], elements: &[&[u8]]) -> Vec<u8> {
    let mut out = onedata::npy::Header::new(onedata::npy::Dtype::Object, false, shape).to_bytes();
    out.extend_from_slice(b"\x80\x03cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R(K\x01");
    match shape {
        [] => out.push(b')'),
        [n] => out.extend_from_slice(&[b'K', *n as u8, 0x85]),
        _ => unreachable!(),
    }
    out.extend_from_slice(b"cnumpy\ndtype\nX\x02\x00\x00\x00O8\x89\x88\x87R(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb\x89](");
    for e in elements {
        out.extend_from_slice(e);
    }
    out.extend_from_slice(b"etb.");
    out
}

/// `{'v': np.array([1.5, 2.0]), 'big': 2**70, 'xs': [1, 2, 3]}` as a pickle fragment.
fn dict_fragment() -> Vec<u8> {
    let mut d = b"}(X\x01\x00\x00\x00vcnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R(K\x01K\x02\x85cnumpy\ndtype\nX\x02\x00\x00\x00f8\x89\x88\x87R(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89C\x10".to_vec();
    d.extend_from_slice(&1.5f64.to_le_bytes());
    d.extend_from_slice(&2.0f64.to_le_bytes());
    d.extend_from_slice(b"tbX\x03\x00\x00\x00big\x8a\x09");
    d.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0x40]);
    d.extend_from_slice(b"X\x02\x00\x00\x00xs](K\x01K\x02K\x03eu");
    d
}

#[test]
fn object_arrays_that_are_not_recipes_are_described_listed_and_digested() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("oneData");
    std::fs::create_dir_all(&one).unwrap();
    let dict = dict_fragment();
    let zero_d = one.join("x.dict.npy");
    std::fs::write(&zero_d, object_npy(&[], &[&dict])).unwrap();
    let stat = one.join("x.stat.npy");
    std::fs::write(&stat, object_npy(&[2], &[&dict, b"}"])).unwrap();

    let v: serde_json::Value =
        serde_json::from_str(&stdout(&onedata(&["info", "--json", s(&zero_d)]))).unwrap();
    assert_eq!(v["kind"], "object");
    assert_eq!(v["summary"], "dict[3]");
    // Ints beyond 64 bits print as digits, as json.dumps writes them.
    let out = stdout(&onedata(&["info", "--json", s(&zero_d)]));
    assert!(out.contains(r#""big":1180591620717411303424"#), "{out}");
    assert_eq!(v["value"]["xs"], serde_json::json!([1, 2, 3]));
    assert_eq!(
        v["value"]["v"],
        serde_json::json!({"$ndarray": {"dtype": "<f8", "shape": [2], "fortran": false, "nbytes": 16}})
    );
    let v: serde_json::Value =
        serde_json::from_str(&stdout(&onedata(&["info", "--json", s(&stat)]))).unwrap();
    assert_eq!(v["summary"], "object array (2,)");
    assert_eq!(v["shape"], serde_json::json!([2]));
    let text = stdout(&onedata(&["info", s(&zero_d)]));
    assert!(text.contains("dict[3]"), "{text}");

    let listing = stdout(&onedata(&["ls", s(&one)]));
    let row =
        |name: &str| cells(listing.lines().find(|l| l.starts_with(name)).unwrap())[..4].to_vec();
    assert_eq!(row("x.dict.npy"), ["x.dict.npy", "object", "|O", "dict[3]"]);
    assert_eq!(
        row("x.stat.npy"),
        ["x.stat.npy", "object", "|O", "object array (2,)"]
    );

    // digest: SHA-256 of the canonical serialization, as the library's.
    for path in [&zero_d, &stat] {
        let printed = stdout(&onedata(&["digest", s(path)]));
        let onedata::describe::Description::Object(_, value) =
            onedata::describe::describe_file(path).unwrap()
        else {
            panic!("not an object value")
        };
        let want = onedata::digest::to_hex(&onedata::digest::digest_value(&value));
        assert_eq!(printed.trim(), want);
    }
}

/// `info` of strings, datetimes and records: every dtype numpy writes loads,
/// and `info` says what one element is.
#[test]
fn info_describes_the_element_of_every_dtype() {
    common::require_numpy();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    common::run_python(
        "-c",
        &[
            "import numpy as np, sys; d = sys.argv[1]; \
             np.save(d + '/u.npy', np.array(['abc', 'd\\u00e9f'], dtype='<U6')); \
             np.save(d + '/m.npy', np.array(['2024-01-01', 'NaT'], dtype='M8[D]')); \
             np.save(d + '/g.npy', np.array([1, 2], dtype='m8[25ms]')); \
             np.save(d + '/r.npy', np.zeros(3, dtype=[('a', '<i4'), ('b', '<f8')]))",
            d,
        ],
    );
    for (file, element) in [
        ("u.npy", "unicode (6 chars)"),
        ("m.npy", "datetime64 [D], as i64"),
        ("g.npy", "timedelta64 [25ms], as i64"),
        ("r.npy", "record of 2 field(s): a, b"),
    ] {
        let out = stdout(&onedata(&["info", "--json", &format!("{d}/{file}")]));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["supported"], true, "{file}: {out}");
        assert_eq!(v["element"], element, "{file}: {out}");
    }
}

/// `info --json` of a recipe whose kwargs hold ints past 64 and 128 bits,
/// sets, complex numbers and arrays: the ints print as JSON digits, which
/// Python's `json.loads` reads back exact, as `json.dumps` would write them.
#[test]
fn info_json_prints_recipe_ints_past_64_bits_as_digits() {
    use onedata::recipe::{write_recipe, ArrayData, LoadingRecipe, PyArray, PyValue};
    common::require_numpy();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mpci.big.npy");
    let mut b130 = vec![0u8; 17];
    b130[16] = 4; // 2**130
    let recipe = LoadingRecipe::new("s2p", Some("F"), ["transpose"])
        .with_kwarg("i70", PyValue::Int(1 << 70))
        .with_kwarg("neg70", PyValue::Int(-(1 << 70)))
        .with_kwarg("i130", PyValue::BigInt(b130))
        .with_kwarg("small", 3)
        .with_kwarg(
            "ints",
            PyValue::List(vec![PyValue::Int(1 << 100), PyValue::Int(-1)]),
        )
        .with_kwarg(
            "planes",
            PyValue::Set(vec![PyValue::Int(0), PyValue::Int(1)]),
        )
        .with_kwarg("z", PyValue::Complex(1.0, -2.0))
        .with_kwarg(
            "a",
            PyValue::Array(Box::new(PyArray {
                descr: "<f8".into(),
                shape: vec![2],
                fortran: false,
                data: ArrayData::Raw(vec![0; 16]),
            })),
        );
    write_recipe(&path, &recipe).unwrap();
    let out = stdout(&onedata(&["info", "--json", s(&path)]));
    assert!(
        out.contains(
            r#""kwargs":{"i70":1180591620717411303424,"neg70":-1180591620717411303424,"i130":1361129467683753853853498429727072845824,"small":3,"ints":[1267650600228229401496703205376,-1],"planes":{"$set":[0,1]},"z":{"$complex":[1.0,-2.0]},"a":{"$ndarray":{"dtype":"<f8","shape":[2],"fortran":false,"nbytes":16}}}"#
        ),
        "{out}"
    );
    // Python reads the same ints back.
    let check = common::run_python(
        "-c",
        &[
            "import json, sys; k = json.loads(sys.argv[1])['kwargs']; \
             assert k['i70'] == 2**70 and k['neg70'] == -2**70 and k['i130'] == 2**130, k; \
             assert k['ints'] == [2**100, -1] and type(k['i70']) is int, k; print('ok')",
            out.trim(),
        ],
    );
    assert_eq!(check.trim(), "ok");
    let text = stdout(&onedata(&["info", s(&path)]));
    assert!(text.contains("1180591620717411303424"), "{text}");
}

/// A reader that stops early (`onedata ls ROOT | head -1`) ends the listing
/// quietly: status 0, nothing on stderr, no panic.
#[test]
fn a_closed_stdout_ends_quietly() {
    let root = tempfile::tempdir().unwrap();
    let session = small_demo(root.path());
    let (read_end, write_end) = std::io::pipe().unwrap();
    drop(read_end);
    let out = Command::new(env!("CARGO_BIN_EXE_onedata"))
        .args(["ls", s(&session)])
        .stdout(write_end)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
