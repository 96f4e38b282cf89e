//! B2Session: recipes resolve through the S2P loader and transforms exactly
//! as vrAnalysis resolves them (reference computed with numpy), and the
//! recipe registries refuse what they do not know.

use crate::common;

use std::path::Path;

use onedata::b2::{B2Session, SpksType};
use onedata::demo::{write_demo_session, DemoSpec};
use onedata::recipe::LoadingRecipe;
use onedata::{Error, ErrorKind, Session, SessionData};

fn demo(root: &Path) -> std::path::PathBuf {
    let spec = DemoSpec {
        frames: 257,
        rois_per_plane: vec![11, 6, 9],
        ..DemoSpec::default()
    };
    write_demo_session(root, &spec).unwrap()
}

#[test]
fn demo_recipes_resolve_exactly_as_vranalysis() {
    common::require_scipy();
    let root = tempfile::tempdir().unwrap();
    let dir = demo(root.path());
    let out = common::run_python(
        common::py_script("b2_reference.py"),
        &[dir.to_str().unwrap()],
    );
    let reference: serde_json::Value = serde_json::from_str(&out).unwrap();
    let recipes = reference["recipes"].as_object().unwrap();
    let names: Vec<&str> = recipes.keys().map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "mpci.roiActivityDeconvolved",
            "mpci.roiActivityF",
            "mpci.roiNeuropilActivityF",
            "mpciROIs.isCell"
        ]
    );
    let session = B2Session::open(&dir).unwrap();
    for (name, want) in recipes {
        // The recipe fields as numpy unpickled them.
        let recipe =
            onedata::recipe::read_recipe(session.one_path().join(format!("{name}.npy"))).unwrap();
        assert_eq!(
            recipe.loader_type,
            want["recipe"]["loader_type"].as_str().unwrap()
        );
        assert_eq!(
            recipe.source_arg.as_deref(),
            want["recipe"]["source_arg"].as_str()
        );
        let transforms: Vec<&str> = want["recipe"]["transforms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(recipe.transforms, transforms);

        let data = session.loadone(name).unwrap();
        let ours = onedata::digest::to_hex(&data.digest().unwrap());
        assert_eq!(ours, want["sha256"].as_str().unwrap(), "{name}");
        let dense = data.dense().unwrap();
        assert_eq!(
            dense.dtype().descr(),
            want["descr"].as_str().unwrap(),
            "{name}"
        );
        let shape: Vec<usize> = serde_json::from_value(want["shape"].clone()).unwrap();
        assert_eq!(dense.shape(), shape.as_slice(), "{name}");
    }

    // Transposed recipes are views of the one concatenated copy.
    let f = session.loadone("mpci.roiActivityF").unwrap();
    let f = f.dense().unwrap();
    assert_eq!(f.shape(), &[257, 26]);
    assert!(f.is_fortran());
    let s2p = session.load_s2p("F").unwrap();
    assert_eq!(s2p.shape(), &[26, 257]);
    assert_eq!(f.view2::<f32>().unwrap(), s2p.view2::<f32>().unwrap().t());

    // Significant spks, the default: the sparse file densified as scipy's
    // toarray() gives it, values and memory order.
    let sig = session.spks().unwrap();
    let want = &reference["significant"];
    let dense = sig.dense().unwrap();
    assert_eq!(
        serde_json::json!(dense.shape()),
        want["shape"],
        "significant shape"
    );
    assert_eq!(
        onedata::digest::to_hex(&sig.digest().unwrap()),
        want["sha256"].as_str().unwrap()
    );
    assert_eq!(
        dense.is_fortran(),
        want["fortran"].as_bool().unwrap(),
        "significant order"
    );

    // Corrected spks: F - c * (Fneu - mean over frames), bit-exact with numpy.
    let corrected = session.get_spks(SpksType::Corrected).unwrap();
    let want = &reference["corrected"];
    assert_eq!(corrected.shape(), &[257, 26]);
    assert_eq!(
        onedata::digest::to_hex(&corrected.digest().unwrap()),
        want["sha256"].as_str().unwrap()
    );
}

#[test]
fn spks_types_load_their_onedata() {
    let root = tempfile::tempdir().unwrap();
    let dir = demo(root.path());
    let session = B2Session::open(&dir).unwrap();
    assert_eq!(session.spks_type(), SpksType::Significant);
    for (t, name) in [
        (SpksType::Oasis, "mpci.roiActivityDeconvolvedOasis"),
        (SpksType::Raw, "mpci.roiActivityF"),
        (SpksType::Neuropil, "mpci.roiNeuropilActivityF"),
        (SpksType::Deconvolved, "mpci.roiActivityDeconvolved"),
    ] {
        let spks = session.clone_with_spks_type(t).spks().unwrap();
        let direct = session.loadone(name).unwrap();
        assert!(std::sync::Arc::ptr_eq(&spks, &direct), "{t:?}");
        assert_eq!(spks.shape(), &[257, 26]);
    }
    // The default, significant: the sparse CSC file densified (in the order
    // checked against scipy above), with the values of the matrix.
    let sig = session.spks().unwrap();
    let dense = sig.as_dense().unwrap();
    assert_eq!(dense.shape(), &[257, 26]);
    let kept = session
        .loadone_with(
            "mpci.roiSignificantFluorescence",
            onedata::LoadOptions::sparse(true),
        )
        .unwrap();
    let kept = kept.as_sparse().unwrap();
    assert_eq!(kept.format(), onedata::sparse::SparseFormat::Csc);
    assert_eq!(
        dense.view2::<f32>().unwrap(),
        kept.to_dense().unwrap().view2::<f32>().unwrap()
    );
    assert_eq!(
        "corrected".parse::<SpksType>().unwrap(),
        SpksType::Corrected
    );
    assert!("nonsense".parse::<SpksType>().is_err());
    assert_eq!(session.neuropil_coefficient(), 0.7);
    assert_eq!(
        session.get_value::<Vec<usize>>("roiPerPlane").unwrap(),
        [11, 6, 9]
    );
    // iscell keeps both columns; idx_column1 picks the second.
    let iscell = session.loadone("mpciROIs.isCell").unwrap();
    assert_eq!(iscell.shape(), &[26, 2]);
    let recipe = LoadingRecipe::new("S2P", Some("iscell"), ["idx_column1"]);
    session
        .saveone(&recipe, "mpciROIs.cellProbability")
        .unwrap();
    let prob = session.loadone("mpciROIs.cellProbability").unwrap();
    let full = iscell.view2::<f64>().unwrap();
    assert_eq!(prob.view1::<f64>().unwrap(), full.column(1));
}

#[test]
fn unknown_loaders_and_transforms_are_named() {
    let root = tempfile::tempdir().unwrap();
    let dir = demo(root.path());
    let session = B2Session::open(&dir).unwrap();
    session
        .saveone(
            &LoadingRecipe::new("redcellProcessing", None, Vec::<String>::new()),
            "x.pos",
        )
        .unwrap();
    match session.loadone("x.pos").map_err(Error::into_kind) {
        Err(ErrorKind::UnknownRecipeLoader {
            loader, registered, ..
        }) => {
            assert_eq!(loader, "redcellProcessing");
            assert_eq!(registered, ["S2P", "roiPosition"]);
        }
        other => panic!("{other:?}"),
    }
    session
        .saveone(&LoadingRecipe::new("S2P", Some("F"), ["flip"]), "x.flip")
        .unwrap();
    let err = session.loadone("x.flip").unwrap_err();
    match err.kind() {
        ErrorKind::UnknownRecipeTransform {
            transform,
            registered,
            ..
        } => {
            assert_eq!(transform, "flip");
            assert_eq!(registered, &["transpose", "idx_column1"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("transpose, idx_column1"), "{err}");
    session
        .saveone(
            &LoadingRecipe::new("S2P", Some("stat"), Vec::<String>::new()),
            "x.stat",
        )
        .unwrap();
    let err = session.loadone("x.stat").unwrap_err();
    assert!(err.to_string().contains("not available"), "{err}");

    // A plain session registers no loaders at all, and says so.
    let plain = Session::open(&dir).unwrap();
    let err = plain.loadone("mpci.roiActivityF").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::UnknownRecipeLoader { .. }));
    assert!(
        err.to_string().contains("registers no recipe loaders"),
        "{err}"
    );
}

/// A suite2p plane that does not fit the others is a fault of that plane's
/// file, naming its dtype and shape, not an argument error.
#[test]
fn a_misfit_suite2p_plane_is_a_fault_naming_its_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = demo(root.path());
    let plane = dir.join("suite2p/plane1/F.npy");
    // 200 frames where the others have at least numFrames = 257.
    onedata::npy::write_npy(&plane, &ndarray::Array2::<f32>::zeros((6, 200))).unwrap();
    let session = B2Session::open(&dir).unwrap();
    let err = session.loadone("mpci.roiActivityF").unwrap_err();
    assert_eq!(err.path(), Some(plane.as_path()), "{err}");
    match err.fault() {
        Some(onedata::Fault::Suite2p {
            descr,
            shape,
            expected,
        }) => {
            assert_eq!(descr, "<f4");
            assert_eq!(shape, &[6, 200]);
            assert!(expected.contains("257"), "{expected}");
        }
        other => panic!("expected a suite2p fault, got {other:?}: {err}"),
    }
}

/// A `.npy` file holding `a` (descr, shape, order, bytes), read back as an
/// [`onedata::npy::NpyArray`], so its digest is onedata's.
fn py_array_digest(a: &onedata::recipe::PyArray) -> String {
    let onedata::recipe::ArrayData::Raw(raw) = &a.data else {
        panic!("not a numeric array: {a:?}")
    };
    let dims: Vec<String> = a.shape.iter().map(|d| d.to_string()).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let order = if a.fortran { "True" } else { "False" };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': {order}, 'shape': {shape}, }}",
        a.descr
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(raw);
    let array = onedata::npy::NpyArray::from_bytes("plane", &bytes).unwrap();
    onedata::digest::to_hex(&onedata::digest::digest(&array).unwrap())
}

/// A dense result against numpy's description of its array.
fn check_dense(name: &str, ours: &onedata::npy::NpyArray, want: &serde_json::Value) {
    assert_eq!(want["type"], "array", "{name}: numpy gives {want}");
    assert_eq!(
        onedata::digest::to_hex(&onedata::digest::digest(ours).unwrap()),
        want["sha256"].as_str().unwrap(),
        "{name}: values"
    );
    assert_eq!(
        ours.dtype().descr(),
        want["descr"].as_str().unwrap(),
        "{name}: dtype"
    );
    assert_eq!(
        serde_json::json!(ours.shape()),
        want["shape"],
        "{name}: shape"
    );
    assert_eq!(
        ours.is_fortran(),
        want["fortran"].as_bool().unwrap(),
        "{name}: order"
    );
}

/// An element of a list or object array against numpy's description.
fn check_value(name: &str, ours: &onedata::PyValue, want: &serde_json::Value) {
    use onedata::PyValue;
    match ours {
        PyValue::Array(a) => {
            assert_eq!(want["type"], "array", "{name}: numpy gives {want}");
            assert_eq!(
                py_array_digest(a),
                want["sha256"].as_str().unwrap(),
                "{name}"
            );
            assert_eq!(a.descr, want["descr"].as_str().unwrap(), "{name}: dtype");
            assert_eq!(serde_json::json!(a.shape), want["shape"], "{name}: shape");
            assert_eq!(
                a.fortran,
                want["fortran"].as_bool().unwrap(),
                "{name}: order"
            );
        }
        PyValue::Dict(items) => {
            let keys: Vec<&str> = items.iter().map(|(k, _)| k.as_str().unwrap()).collect();
            let want_keys: Vec<&str> = want["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap())
                .collect();
            assert_eq!(keys, want_keys, "{name}: keys");
            for (key, w) in want["arrays"].as_object().unwrap() {
                check_value(&format!("{name}[{key:?}]"), ours.get(key).unwrap(), w);
            }
        }
        other => panic!("{name}: unexpected {other:?}"),
    }
}

/// A suite2p-shaped session written by numpy (planes of mixed dtypes and
/// memory orders, stat and ops object arrays) and recipes saved as
/// vrAnalysis saves them: every recipe resolves to what vrAnalysis'
/// load_s2p and get_roi_position give, values bit for bit, dtype, shape and
/// memory order, lists of planes, stat's object array and ops' dicts.
#[test]
fn suite2p_recipes_resolve_exactly_as_vranalysis() {
    use onedata::PyValue;
    let root = tempfile::tempdir().unwrap();
    let dir = demo(root.path());
    let out = common::run_python(common::py_script("b2_suite2p.py"), &[dir.to_str().unwrap()]);
    let reference: serde_json::Value = serde_json::from_str(&out).unwrap();
    let session = B2Session::open(&dir).unwrap();
    let reference = reference.as_object().unwrap();
    assert!(reference.len() > 20);
    for (name, want) in reference {
        let data = session
            .loadone(name)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        match want["type"].as_str().unwrap() {
            "array" => check_dense(name, data.dense().unwrap(), want),
            "list" => {
                let Some(PyValue::List(items)) = data.as_object().map(|o| o.value()) else {
                    panic!("{name}: expected a list, got {data:?}")
                };
                let w = want["items"].as_array().unwrap();
                assert_eq!(items.len(), w.len(), "{name}");
                for (i, (item, w)) in items.iter().zip(w).enumerate() {
                    check_value(&format!("{name}[{i}]"), item, w);
                }
            }
            "objects" => {
                let Some(PyValue::Array(a)) = data.as_object().map(|o| o.value()) else {
                    panic!("{name}: expected an object array, got {data:?}")
                };
                assert_eq!(serde_json::json!(a.shape), want["shape"], "{name}");
                let onedata::recipe::ArrayData::Objects(items) = &a.data else {
                    panic!("{name}: not objects")
                };
                let w = want["items"].as_array().unwrap();
                assert_eq!(items.len(), w.len(), "{name}");
                for (i, (item, w)) in items.iter().zip(w).enumerate() {
                    check_value(&format!("{name}[{i}]"), item, w);
                }
            }
            other => panic!("{other}"),
        }
    }
    // The same through the API.
    use onedata::b2::RoiPositionMode;
    for (mode, name) in [
        (RoiPositionMode::WeightedMean, "t.posWeighted"),
        (RoiPositionMode::Median, "t.posMedian"),
    ] {
        check_dense(
            name,
            &session.get_roi_position(mode).unwrap(),
            &reference[name],
        );
    }
    check_dense(
        "t.Fone",
        &session.load_s2p("F").unwrap(),
        &reference["t.Fone"],
    );
    assert_eq!(
        "median".parse::<RoiPositionMode>().unwrap(),
        RoiPositionMode::Median
    );
    assert!("med".parse::<RoiPositionMode>().is_err());
}

/// Recipes vrAnalysis refuses with a TypeError are refused: varName given
/// twice, no variable at all, unknown keyword arguments; and a list of
/// planes has no transpose.
#[test]
fn s2p_recipe_arguments_bind_as_python_binds_them() {
    let root = tempfile::tempdir().unwrap();
    let dir = demo(root.path());
    let session = B2Session::open(&dir).unwrap();
    let cases = [
        (
            LoadingRecipe::new("S2P", Some("F"), Vec::<String>::new()).with_kwarg("varName", "F"),
            "multiple values",
        ),
        (
            LoadingRecipe::new("S2P", None, Vec::<String>::new()),
            "varName",
        ),
        (
            LoadingRecipe::new("S2P", Some("F"), Vec::<String>::new()).with_kwarg("axis", 1i64),
            "no keyword argument",
        ),
        (
            LoadingRecipe::new("S2P", Some("F"), ["transpose"]).with_kwarg("concatenate", false),
            "object",
        ),
        (
            LoadingRecipe::new("roiPosition", Some("mean"), Vec::<String>::new()),
            "not recognized",
        ),
        (
            LoadingRecipe::new("roiPosition", Some("median"), Vec::<String>::new())
                .with_kwarg("mode", "median"),
            "multiple values",
        ),
    ];
    for (i, (recipe, message)) in cases.into_iter().enumerate() {
        let name = format!("x.case{i}");
        session.saveone(&recipe, &name).unwrap();
        let err = session.loadone(&name).unwrap_err();
        assert!(err.to_string().contains(message), "{recipe:?}: {err}");
    }
    // Falsy concatenate: the untrimmed planes, as a list.
    let planes = session.load_s2p_data("F", false).unwrap();
    let Some(onedata::PyValue::List(items)) = planes.as_object().map(|o| o.value()) else {
        panic!("{planes:?}")
    };
    let shapes: Vec<Vec<u64>> = items
        .iter()
        .map(|v| match v {
            onedata::PyValue::Array(a) => a.shape.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(shapes, [vec![11, 257], vec![6, 258], vec![9, 259]]);
}
