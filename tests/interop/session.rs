//! The session layer: identity, loadone/saveone, the cache, names, values,
//! discovery, and numpy reading what onedata writes.

use crate::common;

use std::path::Path;
use std::sync::{Arc, Barrier};

use ndarray::{Array1, Array2, Array3, ShapeBuilder};
use onedata::demo::{write_demo_session, DemoSpec};
use onedata::{
    CacheLimits, ClearOutcome, Error, ErrorKind, LoadOptions, Session, SessionData, SessionId,
};

fn session_in(root: &Path) -> Session {
    let id = SessionId::new("ATL001", "2024-05-03", Some("701")).unwrap();
    Session::from_root(root, id).unwrap()
}

#[test]
fn identity_and_paths_follow_vranalysis() {
    let root = tempfile::tempdir().unwrap();
    let s = session_in(root.path());
    assert_eq!(s.session_name(), ["ATL001", "2024-05-03", "701"]);
    assert_eq!(s.session_print("/"), "ATL001/2024-05-03/701");
    assert_eq!(s.session_print("_"), "ATL001_2024-05-03_701");
    assert_eq!(s.session_uid(), "ATL001.2024-05-03.701");
    assert_eq!(s.data_path(), root.path().join("ATL001/2024-05-03/701"));
    assert_eq!(
        s.one_path(),
        root.path().join("ATL001/2024-05-03/701/oneData")
    );
    assert_eq!(
        s.get_one_filename("mpci.roiActivityF").unwrap(),
        "mpci.roiActivityF.npy"
    );

    let two = SessionId::new("ATL001", "2024-05-03", None).unwrap();
    assert_eq!(two.session_name(), ["ATL001", "2024-05-03"]);
    let direct = Session::at(root.path().join("elsewhere"), two).unwrap();
    assert_eq!(direct.data_path(), root.path().join("elsewhere"));

    // Dates: strings and chrono values normalise to YYYY-MM-DD; others are refused.
    let d = chrono::NaiveDate::from_ymd_opt(2023, 1, 9).unwrap();
    assert_eq!(SessionId::new("m", d, None).unwrap().date(), "2023-01-09");
    let dt = d.and_hms_opt(13, 5, 0).unwrap();
    assert_eq!(SessionId::new("m", dt, None).unwrap().date(), "2023-01-09");
    let utc = chrono::DateTime::<chrono::Utc>::from_naive_utc_and_offset(dt, chrono::Utc);
    assert_eq!(SessionId::new("m", utc, None).unwrap().date(), "2023-01-09");
    for bad in [
        "2023-1-9",
        "2023-02-30",
        "09/01/2023",
        "",
        "2023-01-09T00:00",
    ] {
        assert!(SessionId::new("m", bad, None).is_err(), "{bad}");
    }
    assert!(SessionId::new("", "2023-01-09", None).is_err());
    assert!(SessionId::new("a/b", "2023-01-09", None).is_err());
    assert!(SessionId::new("m", "2023-01-09", Some("..")).is_err());

    // Identity read back from the folder layout.
    let found = SessionId::from_path(&root.path().join("ATL001/2024-05-03/701")).unwrap();
    assert_eq!(found.session_print("/"), "ATL001/2024-05-03/701");
    // With `.` and `..`, the folder on disk is what counts.
    let day = root.path().join("ATL001/2024-05-03");
    std::fs::create_dir_all(day.join("701")).unwrap();
    std::fs::create_dir_all(day.join("702")).unwrap();
    for (path, want) in [
        (day.join("701/."), "ATL001/2024-05-03/701"),
        (day.join("701/../702"), "ATL001/2024-05-03/702"),
        (day.join("701/.."), "ATL001/2024-05-03"),
    ] {
        let id = SessionId::read_from_path(&path).unwrap();
        assert_eq!(id.session_print("/"), want, "{}", path.display());
    }
    assert!(SessionId::read_from_path(&day.join("missing/..")).is_err());
}

#[test]
fn saveone_then_loadone_every_dtype_and_dimension() {
    let root = tempfile::tempdir().unwrap();
    let s = session_in(root.path());
    let a1 = Array1::from_iter((0..17).map(|i| i as i16 - 8));
    let a2 = Array2::from_shape_fn((30, 7), |(i, j)| (i * 7 + j) as f32 * 0.5);
    let a3 = Array3::from_shape_fn((2, 3, 4).f(), |(i, j, k)| (i + 10 * j + 100 * k) as u64);
    let a0 = ndarray::arr0(std::f64::consts::PI);
    let c = Array1::from_iter((0..5).map(|i| num_complex::Complex::new(i as f32, -(i as f32))));
    let b = Array1::from_vec(vec![true, false, true]);
    s.saveone(&a1, "trials.index").unwrap();
    s.saveone(&a2, "mpci.roiActivityDeconvolvedOasis").unwrap();
    s.saveone(&a3, "x.fortran").unwrap();
    s.saveone(&a0, "x.scalar").unwrap();
    s.saveone(&c, "x.complex").unwrap();
    s.saveone(&b, "x.flags").unwrap();

    // Saved data goes into the cache, as in vrAnalysis.
    assert!(s.core().is_cached("mpci.roiActivityDeconvolvedOasis.npy"));
    assert_eq!(s.core().cache_stats().entries, 6);
    // Cached after save and loaded fresh agree.
    s.clear_cache(None);
    assert_eq!(s.core().cache_stats().entries, 0);
    assert_eq!(
        s.loadone("trials.index").unwrap().view1::<i16>().unwrap(),
        a1
    );
    assert_eq!(
        s.loadone("mpci.roiActivityDeconvolvedOasis")
            .unwrap()
            .view2::<f32>()
            .unwrap(),
        a2
    );
    let f = s.loadone("x.fortran").unwrap();
    assert!(f.dense().unwrap().is_fortran());
    assert_eq!(
        f.view::<u64>()
            .unwrap()
            .into_dimensionality::<ndarray::Ix3>()
            .unwrap(),
        a3
    );
    assert_eq!(
        s.loadone("x.scalar")
            .unwrap()
            .view::<f64>()
            .unwrap()
            .into_dimensionality::<ndarray::Ix0>()
            .unwrap()[()],
        std::f64::consts::PI
    );
    assert_eq!(
        s.loadone("x.complex")
            .unwrap()
            .view1::<num_complex::Complex<f32>>()
            .unwrap(),
        c
    );
    assert_eq!(
        s.loadone("x.flags")
            .unwrap()
            .dense()
            .unwrap()
            .to_bool()
            .unwrap(),
        b.into_dyn()
    );
    // Mapped, so the cache holds no heap copy.
    assert!(s
        .loadone("mpci.roiActivityDeconvolvedOasis")
        .unwrap()
        .dense()
        .unwrap()
        .is_mapped());
    assert_eq!(s.core().cache_stats().owned_bytes, 0);

    let saved = s.print_saved_one(false, false).unwrap();
    assert_eq!(
        saved,
        [
            "mpci.roiActivityDeconvolvedOasis",
            "trials.index",
            "x.complex",
            "x.flags",
            "x.fortran",
            "x.scalar"
        ]
    );
    let with_ext = s.print_saved_one(false, true).unwrap();
    assert_eq!(with_ext[1], "trials.index.npy");
    let with_path = s.print_saved_one(true, true).unwrap();
    assert_eq!(
        with_path[1],
        s.one_path().join("trials.index.npy").display().to_string()
    );
    assert_eq!(s.get_saved_one().unwrap().len(), 6);
}

#[test]
fn cache_hits_share_the_handle_and_force_reloads() {
    let root = tempfile::tempdir().unwrap();
    let s = session_in(root.path());
    s.saveone(&Array1::<f64>::zeros(4), "a.b").unwrap();
    let first = s.loadone("a.b").unwrap();
    let second = s.loadone("a.b").unwrap();
    assert!(Arc::ptr_eq(&first, &second));

    // Another program replaces the file: the cache still serves the old
    // version until force reloads it.
    onedata::npy::write_npy(s.one_path().join("a.b.npy"), &Array1::<f64>::ones(4)).unwrap();
    assert_eq!(s.loadone("a.b").unwrap().view1::<f64>().unwrap()[0], 0.0);
    let forced = s.loadone_with("a.b", LoadOptions::force()).unwrap();
    assert!(!Arc::ptr_eq(&first, &forced));
    assert_eq!(forced.view1::<f64>().unwrap()[0], 1.0);
    assert!(Arc::ptr_eq(&forced, &s.loadone("a.b").unwrap()));
    // The old handle still reads the old version (its file was replaced, not changed).
    assert_eq!(first.view1::<f64>().unwrap()[0], 0.0);

    // clear_cache by file name.
    s.clear_cache(Some(&["a.b.npy"]));
    assert!(!s.core().is_cached("a.b.npy"));
}

#[test]
fn eviction_never_invalidates_held_views() {
    let root = tempfile::tempdir().unwrap();
    let s = session_in(root.path()).with_cache_limits(CacheLimits {
        max_entries: 2,
        max_owned_bytes: 1 << 20,
        max_mapped_bytes: Some(10_000),
    });
    let mut held = Vec::new();
    for i in 0..6 {
        let a = Array1::from_elem(1000, i as f32);
        s.saveone(&a, &format!("x.v{i}")).unwrap();
        s.clear_cache(None);
        held.push(s.loadone(&format!("x.v{i}")).unwrap());
    }
    let stats = s.core().cache_stats();
    assert!(stats.entries <= 2, "{stats:?}");
    assert!(stats.mapped_bytes <= 10_000, "{stats:?}");
    assert!(!s.core().is_cached("x.v0.npy"));
    assert!(s.core().is_cached("x.v5.npy"));
    // Every handle, evicted or not, still reads its values.
    for (i, h) in held.iter().enumerate() {
        let v = h.view1::<f32>().unwrap();
        assert_eq!(v.len(), 1000);
        assert!(v.iter().all(|&x| x == i as f32));
    }
    // An entry larger than a limit is still cached on its own.
    let big = Array1::<f32>::zeros(5000);
    s.saveone(&big, "x.big").unwrap();
    assert!(s.core().is_cached("x.big.npy"));
    assert_eq!(s.core().cache_stats().entries, 1);
}

#[test]
fn eight_threads_load_same_and_different_names() {
    let root = tempfile::tempdir().unwrap();
    let s = Arc::new(session_in(root.path()));
    for i in 0..4usize {
        s.saveone(&Array2::from_elem((50, 20), i as i32), &format!("m.n{i}"))
            .unwrap();
    }
    s.clear_cache(None);
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8usize)
        .map(|t| {
            let s = s.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let mut got = Vec::new();
                for round in 0..50 {
                    let same = s.loadone("m.n0").unwrap();
                    let other = s.loadone(&format!("m.n{}", (t + round) % 4)).unwrap();
                    assert_eq!(same.view2::<i32>().unwrap()[[49, 19]], 0);
                    let expect = ((t + round) % 4) as i32;
                    assert!(other.view2::<i32>().unwrap().iter().all(|&x| x == expect));
                    got.push(same);
                }
                got
            })
        })
        .collect();
    let all: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    // Every thread got the one handle that was loaded for m.n0: the file was
    // opened and mapped once.
    assert!(all.iter().all(|h| Arc::ptr_eq(h, &all[0])));
    assert_eq!(s.core().cache_stats().entries, 4);
}

#[test]
fn names_that_leave_onedata_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let s = session_in(root.path());
    let a = Array1::<u8>::zeros(3);
    for bad in [
        "", "..", "../x", "a/b", "a\\b", ".", "C:x", "nul\0x", "/abs", "../..npy",
    ] {
        for err in [
            s.saveone(&a, bad).err(),
            s.loadone(bad).err(),
            s.get_one_filename(bad).err(),
        ] {
            assert!(
                matches!(
                    err.as_ref().map(Error::kind),
                    Some(ErrorKind::InvalidName { .. })
                ),
                "{bad:?}: {err:?}"
            );
        }
    }
    assert!(!root.path().join("x.npy").exists());
    assert!(s.get_saved_one().unwrap().is_empty());
}

/// vrAnalysis' `saveone(x, "mpci", "")` file `mpci..npy` and a dot-file
/// load; a folder named like a onedata file is not listed (vrAnalysis' glob
/// lists it).
#[test]
fn vranalysis_names_with_empty_components_and_dot_files() {
    let root = tempfile::tempdir().unwrap();
    let s = session_in(root.path());
    let out = common::run_python(
        common::py_script("vranalysis_names.py"),
        &[s.one_path().to_str().unwrap()],
    );
    let py: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        py["listed"],
        serde_json::json!([".hidden.npy", "dir.like.npy", "mpci..npy", "plain.name.npy"])
    );
    assert_eq!(
        py["files"],
        serde_json::json!([".hidden.npy", "mpci..npy", "plain.name.npy"])
    );
    assert!(s.one_path().join("dir.like.npy").is_dir());

    // Listing: pathlib's glob, regular files only, sorted.
    assert_eq!(
        s.print_saved_one(false, true).unwrap(),
        [".hidden.npy", "mpci..npy", "plain.name.npy"]
    );
    assert_eq!(
        s.print_saved_one(false, false).unwrap(),
        [".hidden", "mpci.", "plain.name"]
    );
    assert_eq!(s.get_one_filename("mpci.").unwrap(), "mpci..npy");
    let mpci = s.loadone("mpci.").unwrap();
    assert_eq!(
        mpci.view2::<f64>().unwrap(),
        Array2::from_shape_vec((2, 3), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap()
    );
    let hidden = s.loadone(".hidden").unwrap();
    assert_eq!(hidden.view1::<i32>().unwrap().to_vec(), [1, 2, 3]);
    match s.loadone("dir.like").map_err(Error::into_kind) {
        Err(ErrorKind::NotFound { available, .. }) => {
            assert_eq!(available, [".hidden.npy", "mpci..npy", "plain.name.npy"])
        }
        Err(ErrorKind::Io { .. }) => {}
        other => panic!("a folder loaded as onedata: {other:?}"),
    }

    // onedata writes the same file names.
    s.saveone(&Array1::<u8>::zeros(2), "x.").unwrap();
    assert!(s.one_path().join("x..npy").is_file());

    // An empty list deletes nothing (vrAnalysis' `[]` means "all").
    assert_eq!(
        s.clear_one_data(Some(&[]), true).unwrap(),
        ClearOutcome::Cleared(vec![])
    );
    assert_eq!(s.get_saved_one().unwrap().len(), 4);
    let out = s.clear_one_data(Some(&["mpci.", ".hidden"]), true).unwrap();
    assert_eq!(
        out,
        ClearOutcome::Cleared(vec![
            s.one_path().join(".hidden.npy"),
            s.one_path().join("mpci..npy"),
        ])
    );
    let out = s.clear_one_data(None, true).unwrap();
    assert_eq!(
        out,
        ClearOutcome::Cleared(vec![
            s.one_path().join("plain.name.npy"),
            s.one_path().join("x..npy"),
        ])
    );
    // The folder is left alone.
    assert!(s.one_path().join("dir.like.npy").is_dir());
}

#[test]
fn missing_file_error_lists_saved_names() {
    let root = tempfile::tempdir().unwrap();
    let s = session_in(root.path());
    s.saveone(&Array1::<u8>::zeros(3), "mpci.times").unwrap();
    s.saveone(&Array1::<u8>::zeros(3), "trials.index").unwrap();
    let err = s.loadone("mpci.roiActivityF").unwrap_err();
    match err.kind() {
        ErrorKind::NotFound {
            file, available, ..
        } => {
            assert_eq!(file, "mpci.roiActivityF.npy");
            assert_eq!(available, &["mpci.times.npy", "trials.index.npy"]);
        }
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("ATL001/2024-05-03/701") && msg.contains("trials.index.npy"),
        "{msg}"
    );
}

#[test]
fn clear_one_data_needs_certainty() {
    let root = tempfile::tempdir().unwrap();
    let s = session_in(root.path());
    for name in ["a.x", "a.y", "b.z"] {
        s.saveone(&Array1::<u8>::zeros(3), name).unwrap();
    }
    assert_eq!(
        s.clear_one_data(None, false).unwrap(),
        ClearOutcome::NotCertain
    );
    assert_eq!(s.get_saved_one().unwrap().len(), 3);
    assert!(s.core().is_cached("a.x.npy"));

    let out = s.clear_one_data(Some(&["a.x", "b.z"]), true).unwrap();
    assert_eq!(
        out,
        ClearOutcome::Cleared(vec![
            s.one_path().join("a.x.npy"),
            s.one_path().join("b.z.npy")
        ])
    );
    assert_eq!(s.print_saved_one(false, false).unwrap(), ["a.y"]);
    assert!(!s.core().is_cached("a.x.npy"));
    assert!(s.core().is_cached("a.y.npy"));
    assert!(matches!(
        s.loadone("a.x").map_err(Error::into_kind),
        Err(ErrorKind::NotFound { .. })
    ));

    let out = s.clear_one_data(None, true).unwrap();
    assert_eq!(
        out,
        ClearOutcome::Cleared(vec![s.one_path().join("a.y.npy")])
    );
    assert!(s.get_saved_one().unwrap().is_empty());
    assert_eq!(s.core().cache_stats().entries, 0);
}

#[test]
fn values_round_trip_with_python_json() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("ATL001/2024-05-03/701");
    std::fs::create_dir_all(&dir).unwrap();
    let values_file = dir.join("vrExperimentValues.json");

    // Python writes, onedata reads.
    let out = common::run_python(
        common::py_script("values_roundtrip.py"),
        &["write", values_file.to_str().unwrap()],
    );
    let known: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let s = Session::open(&dir).unwrap();
    assert_eq!(
        s.get_value::<Vec<String>>("planeNames").unwrap(),
        ["plane0", "plane1"]
    );
    assert_eq!(
        s.get_value::<Vec<usize>>("roiPerPlane").unwrap(),
        [640, 612]
    );
    assert_eq!(s.get_value::<u64>("numFrames").unwrap(), 20000);
    assert_eq!(s.get_value::<f64>("fs").unwrap(), 6.0);
    assert_eq!(s.get_value::<f64>("ratio").unwrap(), 0.1);
    assert_eq!(serde_json::Value::Object(s.values()), known);
    match s.get_value::<u64>("noSuchKey").map_err(Error::into_kind) {
        Err(ErrorKind::MissingValue { key, .. }) => assert_eq!(key, "noSuchKey"),
        other => panic!("{other:?}"),
    }
    assert!(s.get_value::<u64>("planeNames").is_err());

    // onedata writes (through to the file), Python reads.
    #[derive(serde::Serialize)]
    struct Opts {
        tau: f64,
        planes: Vec<u32>,
        label: String,
    }
    s.set_value("neuropilCoefficient", &0.7).unwrap();
    s.set_value(
        "opts",
        &Opts {
            tau: 1.5,
            planes: vec![0, 2],
            label: "été".into(),
        },
    )
    .unwrap();
    let mut expect = known.as_object().unwrap().clone();
    expect.insert("neuropilCoefficient".into(), serde_json::json!(0.7));
    expect.insert(
        "opts".into(),
        serde_json::json!({"tau": 1.5, "planes": [0, 2], "label": "été"}),
    );
    let expect = serde_json::Value::Object(expect).to_string();
    let ok = common::run_python(
        common::py_script("values_roundtrip.py"),
        &["check", values_file.to_str().unwrap(), &expect],
    );
    assert_eq!(ok.trim(), "ok");
    // A reopened session sees the new values.
    let again = Session::open(&dir).unwrap();
    assert_eq!(again.get_value::<f64>("neuropilCoefficient").unwrap(), 0.7);
}

/// A values file as vrAnalysis' `json.dump(values, f, ensure_ascii=False)`
/// writes it, NaN, Infinity, big ints and all: onedata opens the session,
/// reads the exact values, and rewrites the file byte for byte as Python
/// would.
#[test]
fn values_with_nan_infinity_and_big_ints_round_trip_with_python_json() {
    use onedata::pyjson::{dumps, PyJson};

    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("ATL001/2024-05-03/701");
    let raw_dir = root.path().join("ATL001/2024-05-03/702");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&raw_dir).unwrap();
    let values_file = dir.join("vrExperimentValues.json");
    let raw_file = raw_dir.join("vrExperimentValues.json");
    let script = common::py_script("values_nonfinite.py");
    let raw_python = common::run_python(
        &script,
        &[
            "write",
            values_file.to_str().unwrap(),
            raw_file.to_str().unwrap(),
        ],
    );
    let written = std::fs::read_to_string(&values_file).unwrap();
    assert!(
        written.contains("NaN") && written.contains("-Infinity"),
        "{written}"
    );

    let s = Session::open(&dir).unwrap();
    assert!(s
        .get_value::<f64>("samplingDeviationMedianPercentError")
        .unwrap()
        .is_nan());
    assert_eq!(
        s.get_value::<f64>("samplingDeviationMaximumPercentError")
            .unwrap(),
        f64::INFINITY
    );
    assert_eq!(s.get_value::<f64>("neg").unwrap(), f64::NEG_INFINITY);
    assert_eq!(s.get_value::<f64>("small").unwrap(), 1e-5);
    assert_eq!(s.get_value::<f64>("tiny").unwrap(), 1e-7);
    assert_eq!(s.get_value::<f64>("big").unwrap(), 1e16);
    assert_eq!(s.get_value::<f32>("f32").unwrap(), 0.1f32);
    let neg0 = s.get_value::<f64>("neg0").unwrap();
    assert!(neg0 == 0.0 && neg0.is_sign_negative());
    let arr: Vec<serde_json::Value> = s.get_value("arr").unwrap();
    assert_eq!(arr.len(), 5);
    let arr: (
        f64,
        f64,
        f64,
        Vec<Vec<u8>>,
        std::collections::HashMap<String, u8>,
    ) = s.get_value("arr").unwrap();
    assert!(arr.0 == 1.5 && arr.1.is_nan() && arr.2 == f64::NEG_INFINITY);
    assert_eq!(s.get_value::<u128>("bigint").unwrap(), 1 << 70);
    assert_eq!(
        s.get_value_py("bigint").unwrap(),
        PyJson::Int(1_180_591_620_717_411_303_424)
    );
    assert_eq!(
        s.get_value_py("negbig").unwrap(),
        PyJson::BigInt("-10000000000000000000000000000000000000007".into())
    );
    assert_eq!(s.get_value::<i64>("i64max").unwrap(), i64::MAX);
    assert_eq!(s.get_value::<Option<u8>>("none").unwrap(), None);
    assert_eq!(
        s.get_value::<String>("unicode").unwrap(),
        "été 名前 😀 \u{2028} \u{7f} \"q\" \\ \n\t\u{1}/"
    );
    #[derive(serde::Deserialize)]
    struct Deep {
        x: f64,
    }
    #[derive(serde::Deserialize)]
    struct Nested {
        #[serde(rename = "1")]
        one: Option<u8>,
        #[serde(rename = "2")]
        two: Vec<bool>,
        deep: Deep,
    }
    let nested: Nested = s.get_value("nested").unwrap();
    assert_eq!((nested.one, nested.two), (None, vec![true, false]));
    assert_eq!(nested.deep.x, f64::INFINITY);
    // The whole dict, in Python's order, writes back as Python wrote it.
    assert_eq!(dumps(&PyJson::Dict(s.values_py())), written);
    // serde_json::Value cannot hold NaN: get_value_json says so, values()
    // shows null (serde_json's own convention), finite values are exact.
    assert!(matches!(
        s.get_value_json("samplingDeviationMedianPercentError")
            .map_err(Error::into_kind),
        Err(ErrorKind::InvalidArgument(_))
    ));
    assert!(s.get_value_json("bigint").is_err());
    assert_eq!(s.get_value_json("small").unwrap(), serde_json::json!(1e-5));
    let lossy = s.values();
    assert_eq!(
        lossy["samplingDeviationMedianPercentError"],
        serde_json::Value::Null
    );
    assert_eq!(lossy["planeNames"], serde_json::json!(["plane0", "plane1"]));

    // onedata writes: an existing key keeps its place, new keys go last,
    // NaN and infinities stay, and the file is what json.dumps writes.
    #[derive(serde::Serialize)]
    struct Added {
        tau: f64,
        nan: f64,
        inf: f32,
        label: String,
        big: u128,
    }
    s.set_value("numFrames", &1001u32).unwrap();
    s.set_value(
        "added",
        &Added {
            tau: 1e-7,
            nan: f64::NAN,
            inf: f32::NEG_INFINITY,
            label: "ü\n".into(),
            big: 1 << 100,
        },
    )
    .unwrap();
    s.set_value("nanValue", &f64::NAN).unwrap();
    let ok = common::run_python(&script, &["check", values_file.to_str().unwrap()]);
    assert_eq!(ok.trim(), "ok");
    let again = Session::open(&dir).unwrap();
    assert!(again.get_value::<f64>("nanValue").unwrap().is_nan());
    assert_eq!(again.get_value::<u32>("numFrames").unwrap(), 1001);
    assert_eq!(
        dumps(&PyJson::Dict(again.values_py())),
        std::fs::read_to_string(&values_file).unwrap()
    );

    // Hand-written text json.loads accepts: onedata reads what Python reads
    // (duplicate keys: the last value at the first key's place; 1e400 is
    // infinity; surrogate pairs), and rewrites it as Python would.
    let raw = Session::open(&raw_dir).unwrap();
    assert_eq!(dumps(&PyJson::Dict(raw.values_py())), raw_python.trim_end());
    assert_eq!(raw.get_value::<u8>("a").unwrap(), 3);
    assert_eq!(
        raw.get_value::<Vec<f64>>("e").unwrap()[5..7],
        [f64::INFINITY, f64::NEG_INFINITY]
    );
    raw.set_value("touched", &1).unwrap();
    let ok = common::run_python(&script, &["check-raw", raw_file.to_str().unwrap()]);
    assert_eq!(ok.trim(), "ok");

    // Text Python's json refuses is refused, with Python's message.
    for (bad, message) in [
        (r#"{"a": nan}"#, "Expecting value: line 1 column 7 (char 6)"),
        (
            r#"{"a": -NaN}"#,
            "Expecting value: line 1 column 7 (char 6)",
        ),
        (r#"{"a": 1,}"#, "line 1 column 9 (char 8)"),
    ] {
        std::fs::write(&values_file, bad).unwrap();
        match Session::open(&dir).map_err(Error::into_kind) {
            Err(ErrorKind::Values { message: m, .. }) => assert!(m.contains(message), "{bad}: {m}"),
            other => panic!("{bad}: {other:?}"),
        }
    }

    // B2 options are read with the same grammar.
    std::fs::write(
        dir.join("vrExperimentOptions.json"),
        r#"{"neuropilCoefficient": 0.5, "fs": NaN, "tau": Infinity}"#,
    )
    .unwrap();
    std::fs::write(&values_file, "{}").unwrap();
    let b2 = onedata::b2::B2Session::open(&dir).unwrap();
    assert_eq!(b2.neuropil_coefficient(), 0.5);
    assert!(matches!(b2.options_py()[1], (ref k, PyJson::Float(f)) if k == "fs" && f.is_nan()));
    assert_eq!(b2.options()["fs"], serde_json::Value::Null);
    assert_eq!(b2.options()["neuropilCoefficient"], serde_json::json!(0.5));
}

#[test]
fn sessions_are_discovered_sorted() {
    let root = tempfile::tempdir().unwrap();
    let layout = [
        ("ATL002", "2024-01-02", "1", true),
        ("ATL001", "2024-02-01", "10", true),
        ("ATL001", "2024-02-01", "9", true),
        ("ATL001", "2024-01-15", "1", true),
        ("ATL001", "2024-01-16", "1", false), // no oneData: not a session
        ("ATL001", "not-a-date", "1", true),
    ];
    for (m, d, i, one) in layout {
        let p = root.path().join(m).join(d).join(i);
        std::fs::create_dir_all(if one { p.join("oneData") } else { p }).unwrap();
    }
    std::fs::write(root.path().join("README.txt"), "not a mouse").unwrap();
    let found = onedata::discover::iter_sessions(root.path()).unwrap();
    let names: Vec<String> = found.iter().map(|s| s.id.session_print("/")).collect();
    assert_eq!(
        names,
        [
            "ATL001/2024-01-15/1",
            "ATL001/2024-02-01/10",
            "ATL001/2024-02-01/9",
            "ATL002/2024-01-02/1"
        ]
    );
    assert_eq!(found[0].path, root.path().join("ATL001/2024-01-15/1"));
}

#[test]
fn numpy_reads_the_demo_session_and_digests_agree() {
    let root = tempfile::tempdir().unwrap();
    let spec = DemoSpec {
        frames: 300,
        rois_per_plane: vec![12, 9],
        ..DemoSpec::default()
    };
    let dir = write_demo_session(root.path(), &spec).unwrap();
    let out = common::run_python(
        common::py_script("session_digests.py"),
        &[dir.to_str().unwrap()],
    );
    let numpy: serde_json::Value = serde_json::from_str(&out).unwrap();
    let files = numpy["files"].as_object().unwrap();
    for name in [
        "mpci.times",
        "positionTracking.times",
        "positionTracking.position",
        "trials.environmentIndex",
        "mpci.roiActivityDeconvolvedOasis",
    ] {
        assert!(files.contains_key(name), "numpy did not find {name}");
    }
    assert_eq!(files["mpci.roiActivityDeconvolvedOasis"]["descr"], "<f4");
    assert_eq!(
        files["mpci.roiActivityDeconvolvedOasis"]["shape"],
        serde_json::json!([300, 21])
    );

    let s = Session::open(&dir).unwrap();
    // Every file numpy reads as an array is listed (the others are recipes).
    let saved = s.print_saved_one(false, false).unwrap();
    assert!(files.keys().all(|k| saved.contains(k)), "{saved:?}");
    for (name, info) in files {
        // The library agrees with numpy, value for value (the CLI's tests
        // check that `digest --session` agrees with the library).
        let data = s.loadone(name).unwrap();
        let ours = onedata::digest::to_hex(&data.digest().unwrap());
        assert_eq!(ours, info["sha256"].as_str().unwrap(), "{name}");
        assert_eq!(
            data.dense().unwrap().dtype().descr(),
            info["descr"].as_str().unwrap()
        );
    }
    let values = &numpy["values"];
    assert_eq!(values["numFrames"], 300);
    assert_eq!(values["roiPerPlane"], serde_json::json!([12, 9]));
    assert_eq!(
        values["planeNames"],
        serde_json::json!(["plane0", "plane1"])
    );
    assert_eq!(s.get_value::<usize>("numFrames").unwrap(), 300);
}
