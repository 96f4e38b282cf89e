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
            &LoadingRecipe::new("roiPosition", None, Vec::<String>::new()),
            "x.pos",
        )
        .unwrap();
    match session.loadone("x.pos").map_err(Error::into_kind) {
        Err(ErrorKind::UnknownRecipeLoader {
            loader, registered, ..
        }) => {
            assert_eq!(loader, "roiPosition");
            assert_eq!(registered, ["S2P"]);
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
    onedata::npy::write_npy(&plane, &ndarray::Array2::<f64>::zeros((6, 257))).unwrap();
    let session = B2Session::open(&dir).unwrap();
    let err = session.loadone("mpci.roiActivityF").unwrap_err();
    assert_eq!(err.path(), Some(plane.as_path()), "{err}");
    match err.fault() {
        Some(onedata::Fault::Suite2p {
            descr,
            shape,
            expected,
        }) => {
            assert_eq!(descr, "<f8");
            assert_eq!(shape, &[6, 257]);
            assert!(expected.contains("<f4"), "{expected}");
        }
        other => panic!("expected a suite2p fault, got {other:?}: {err}"),
    }
}
