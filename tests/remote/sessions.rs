//! Sessions opened from a URL: the same session tests that run on local
//! folders, on the bucket, with the requests counted by the proxy.

use std::path::{Path, PathBuf};

use ndarray::{Array2, Array3};
use onedata::npy::NpyArray;
use onedata::remote::object_store::path::Path as ObjPath;
use onedata::remote::object_store::{ObjectStoreExt, PutPayload};
use onedata::remote::{Remote, PART_SIZE};
use onedata::sparse::SparseMatrix;
use onedata::{ErrorKind, LoadOptions, LoadingRecipe, RemoteFault, Session, SessionData};
use serde_json::Value;

use super::{block_on, fixture, options, requests_for, set_fault, store};

/// The prefix `prefix` of the fixture's bucket, cached in `cache`.
fn remote(prefix: &str, cache: &Path) -> Remote {
    let url = format!("s3://{}/{prefix}", fixture().bucket);
    Remote::open_with(&url, &options(), cache.to_path_buf()).unwrap()
}

/// The session folder `<prefix>/ATL001/2024-05-03/701`.
const SESSION: &str = "ATL001/2024-05-03/701";

fn gets(entries: &[Value]) -> Vec<&Value> {
    entries.iter().filter(|e| e["m"] == "GET").collect()
}

/// A local session with dense arrays of several kinds (one larger than a
/// download part), a sparse matrix, a recipe and values; returns its
/// folder.
fn local_session(root: &Path) -> PathBuf {
    let dir = root.join(SESSION);
    let s = Session::open(&dir).unwrap();
    let frames = 2600;
    let rois = 1000; // 10.4 MB of f32: two download parts
    let spks = Array2::from_shape_fn((frames, rois), |(i, j)| (i * rois + j) as f32 * 0.25);
    s.saveone(&spks, "mpci.roiActivityDeconvolvedOasis")
        .unwrap();
    s.saveone(
        &Array3::from_shape_fn((4, 3, 2), |(a, b, c)| (a * 100 + b * 10 + c) as i64),
        "x.cube",
    )
    .unwrap();
    s.saveone(&ndarray::array![true, false, true], "x.flags")
        .unwrap();
    let fortran = NpyArray::from_array(
        "f",
        &Array2::from_shape_fn((5, 3), |(i, j)| (i * 3 + j) as f64),
    )
    .transposed();
    s.saveone(&fortran, "x.fortran").unwrap();
    let csr = sprs::CsMatI::<f32, i32>::new(
        (3, 4),
        vec![0i32, 1, 2, 3],
        vec![1i32, 3, 0],
        vec![1.5f32, 2.5, 3.5],
    );
    s.saveone(&SparseMatrix::from_csmat("m", csr), "x.sparse")
        .unwrap();
    s.saveone(
        &LoadingRecipe::new("S2P", Some("F"), ["transpose"]),
        "mpci.roiActivityF",
    )
    .unwrap();
    s.set_value("numFrames", &frames).unwrap();
    s.save_values().unwrap();
    dir
}

/// Uploads every file of the local session folder `dir` under `prefix`.
fn upload_session(dir: &Path, prefix: &str) {
    let (_, store) = store(prefix);
    for entry in walk(dir) {
        let rel = entry
            .strip_prefix(dir)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if rel.contains(".onedata-") {
            continue;
        }
        let key = ObjPath::from(format!("{prefix}/{SESSION}/{rel}"));
        let bytes = std::fs::read(&entry).unwrap();
        block_on(store.put(&key, PutPayload::from(bytes))).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// A save's or a download's temporary file (`.onedata-*.tmp`).
fn is_temporary(path: &Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    name.starts_with(".onedata-") && name.ends_with(".tmp")
}

fn same_array(a: &NpyArray, b: &NpyArray) {
    assert_eq!(a.shape(), b.shape());
    assert_eq!(a.dtype(), b.dtype());
    assert_eq!(a.is_fortran(), b.is_fortran());
    assert_eq!(a.data_bytes(), b.data_bytes());
}

#[test]
fn a_session_in_a_bucket_loads_as_it_does_on_disk() {
    let prefix = "t-session";
    let local_root = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let dir = local_session(local_root.path());
    upload_session(&dir, prefix);
    let local = Session::open(&dir).unwrap();

    let remote_session =
        Session::open_remote(remote(prefix, cache.path()).join(SESSION).unwrap()).unwrap();
    assert_eq!(remote_session.session_print("/"), SESSION);
    assert_eq!(
        remote_session.data_path(),
        cache.path().join("onedata-test").join(prefix).join(SESSION)
    );
    assert_eq!(
        remote_session.print_saved_one(false, true).unwrap(),
        local.print_saved_one(false, true).unwrap()
    );
    assert_eq!(remote_session.values(), local.values());
    assert_eq!(
        remote_session.get_value::<usize>("numFrames").unwrap(),
        2600
    );

    for name in [
        "mpci.roiActivityDeconvolvedOasis",
        "x.cube",
        "x.flags",
        "x.fortran",
    ] {
        let a = local.loadone(name).unwrap();
        let b = remote_session.loadone(name).unwrap();
        same_array(a.dense().unwrap(), b.dense().unwrap());
        assert!(
            b.dense().unwrap().is_mapped(),
            "{name}: a cached file is mapped"
        );
    }
    let sparse = LoadOptions::sparse(true);
    let a = local.loadone_with("x.sparse", sparse).unwrap();
    let b = remote_session.loadone_with("x.sparse", sparse).unwrap();
    assert_eq!(
        a.as_sparse().unwrap().toarray().unwrap().data_bytes(),
        b.as_sparse().unwrap().toarray().unwrap().data_bytes()
    );
    // A recipe is read (into the cache) and resolved by the session type:
    // a plain session has no S2P loader, locally or remotely.
    let local_err = local.loadone("mpci.roiActivityF").unwrap_err();
    let remote_err = remote_session.loadone("mpci.roiActivityF").unwrap_err();
    assert!(
        matches!(local_err.kind(), ErrorKind::UnknownRecipeLoader { .. }),
        "{local_err}"
    );
    assert!(
        matches!(remote_err.kind(), ErrorKind::UnknownRecipeLoader { .. }),
        "{remote_err}"
    );

    // The spks download: one GET of the first part, then the rest in
    // parts, each If-Match the first answer's ETag.
    let key = format!("{prefix}/{SESSION}/oneData/mpci.roiActivityDeconvolvedOasis.npy");
    let log = requests_for(&key);
    let spks_gets = gets(&log);
    let size = std::fs::metadata(dir.join("oneData/mpci.roiActivityDeconvolvedOasis.npy"))
        .unwrap()
        .len();
    assert_eq!(spks_gets.len() as u64, size.div_ceil(PART_SIZE), "{log:?}");
    assert_eq!(spks_gets[0]["range"], format!("bytes=0-{}", PART_SIZE - 1));
    assert_eq!(spks_gets[0]["if_match"], Value::Null);
    assert_eq!(
        spks_gets[1]["range"],
        format!("bytes={}-{}", PART_SIZE, size - 1)
    );
    assert!(spks_gets[1]["if_match"].as_str().unwrap().starts_with('"'));

    // Warm: the session cache, then the download cache, and a session
    // opened afresh, make no request for the file.
    let before = requests_for(&key).len();
    remote_session.clear_cache(None);
    let again = remote_session
        .loadone("mpci.roiActivityDeconvolvedOasis")
        .unwrap();
    let reopened =
        Session::open_remote(remote(prefix, cache.path()).join(SESSION).unwrap()).unwrap();
    let third = reopened
        .loadone("mpci.roiActivityDeconvolvedOasis")
        .unwrap();
    assert_eq!(requests_for(&key).len(), before);
    same_array(again.dense().unwrap(), third.dense().unwrap());
    // No temporary file is left in the cache.
    let left: Vec<_> = walk(cache.path())
        .into_iter()
        .filter(|p| is_temporary(p))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn rows_are_read_with_ranged_gets_and_close_ranges_are_merged() {
    let prefix = "t-rows";
    let local_root = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let dir = local_session(local_root.path());
    upload_session(&dir, prefix);
    let local = Session::open(&dir).unwrap();
    let s = Session::open_remote(remote(prefix, cache.path()).join(SESSION).unwrap()).unwrap();
    let name = "mpci.roiActivityDeconvolvedOasis";
    let key = format!("{prefix}/{SESSION}/oneData/{name}.npy");

    let rows = s.loadone_rows(name, 100..110).unwrap();
    same_array(&rows, &local.loadone_rows(name, 100..110).unwrap());
    assert_eq!(
        rows.view2::<f32>().unwrap()[[0, 1]],
        (100 * 1000 + 1) as f32 * 0.25
    );
    let log = requests_for(&key);
    let g = gets(&log);
    assert_eq!(g.len(), 2, "{log:?}");
    assert_eq!(g[0]["range"], "bytes=0-4095");
    let row = 4000u64;
    let start = 128 + 100 * row;
    assert_eq!(
        g[1]["range"],
        format!("bytes={start}-{}", start + 10 * row - 1)
    );
    assert!(g[1]["if_match"].as_str().is_some());
    assert!(!s.core().is_cached(&format!("{name}.npy")));
    assert!(!cache
        .path()
        .join("onedata-test")
        .join(prefix)
        .join(SESSION)
        .join("oneData")
        .join(format!("{name}.npy"))
        .exists());

    // Three ranges 50 rows (200 KB) apart: one request; one 2000 rows
    // (8 MB) further: another.
    let f = s
        .core()
        .remote()
        .unwrap()
        .join(&format!("oneData/{name}.npy"))
        .unwrap();
    let ranges = [0..5, 55..60, 110..112, 2400..2401];
    let before = gets(&requests_for(&key)).len();
    let parts = f.read_row_ranges(&ranges).unwrap();
    for (part, r) in parts.iter().zip(&ranges) {
        same_array(part, &local.loadone_rows(name, r.clone()).unwrap());
    }
    let log = requests_for(&key);
    let g = gets(&log);
    assert_eq!(
        g.len() - before,
        3,
        "header, the merged three, the far one: {log:?}"
    );
    // The two data requests run at once: compare them in order of range.
    let mut data: Vec<String> = g[before + 1..]
        .iter()
        .map(|e| e["range"].as_str().unwrap().to_string())
        .collect();
    data.sort_by_key(|r| r.len());
    assert_eq!(
        data,
        [
            format!("bytes=128-{}", 128 + 112 * row - 1),
            format!("bytes={}-{}", 128 + 2400 * row, 128 + 2401 * row - 1)
        ]
    );

    // Refusals name the URL and say what to do.
    let err = s.loadone_rows(name, 2000..3000).unwrap_err();
    assert!(
        err.to_string().contains("not within its 2600 rows"),
        "{err}"
    );
    // Fortran-order rows are not one byte range: the file is loaded whole,
    // then sliced, as locally.
    same_array(
        &s.loadone_rows("x.fortran", 1..3).unwrap(),
        &local.loadone_rows("x.fortran", 1..3).unwrap(),
    );
    let direct = s
        .core()
        .remote()
        .unwrap()
        .join("oneData/x.fortran.npy")
        .unwrap();
    let err = direct.read_rows(0..2).unwrap_err();
    assert!(err.to_string().contains("fetch the whole file"), "{err}");
    // No rows: an empty array of the right shape, and no request for rows.
    let before = gets(&requests_for(&key)).len();
    let none = s.loadone_rows(name, 3..3).unwrap();
    assert_eq!(none.shape(), [0, 1000]);
    assert_eq!(
        gets(&requests_for(&key)).len(),
        before + 1,
        "the header only"
    );
    // A missing name is the usual NotFound.
    let err = s.loadone_rows("x.absent", 0..1).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotFound { .. }), "{err}");
    // Once downloaded, rows come from the map: no request.
    s.loadone(name).unwrap();
    let before = requests_for(&key).len();
    same_array(
        &s.loadone_rows(name, 7..9).unwrap(),
        &local.loadone_rows(name, 7..9).unwrap(),
    );
    assert_eq!(requests_for(&key).len(), before);
}

#[test]
fn saves_upload_and_a_stale_copy_is_not_overwritten() {
    let prefix = "t-save";
    let cache = tempfile::tempdir().unwrap();
    let other_cache = tempfile::tempdir().unwrap();
    let s = Session::open_remote(remote(prefix, cache.path()).join(SESSION).unwrap()).unwrap();
    assert!(s.get_saved_one().unwrap().is_empty());
    let a = Array2::from_shape_fn((300, 7), |(i, j)| (i * 7 + j) as f64);
    s.saveone(&a, "x.saved").unwrap();
    let key = format!("{prefix}/{SESSION}/oneData/x.saved.npy");
    let puts: Vec<Value> = requests_for(&key)
        .into_iter()
        .filter(|e| e["m"] == "PUT")
        .collect();
    assert_eq!(puts.len(), 1);
    assert_eq!(puts[0]["if_match"], Value::Null);

    // The object is byte for byte the file numpy would read.
    let (_, store) = store(prefix);
    let stored =
        block_on(async { store.get(&ObjPath::from(key.as_str())).await?.bytes().await }).unwrap();
    let cached = std::fs::read(s.one_path().join("x.saved.npy")).unwrap();
    assert_eq!(&stored[..], &cached[..]);
    // The upload warmed the cache: loading it makes no request.
    let before = requests_for(&key).len();
    s.clear_cache(None);
    assert_eq!(s.loadone("x.saved").unwrap().view2::<f64>().unwrap(), a);
    assert_eq!(requests_for(&key).len(), before);

    // Another machine (another cache) replaces it.
    let t =
        Session::open_remote(remote(prefix, other_cache.path()).join(SESSION).unwrap()).unwrap();
    let b = a.mapv(|x| -x);
    t.loadone("x.saved").unwrap();
    t.saveone(&b, "x.saved").unwrap();
    let puts: Vec<Value> = requests_for(&key)
        .into_iter()
        .filter(|e| e["m"] == "PUT")
        .collect();
    assert!(
        puts[1]["if_match"].as_str().is_some(),
        "a save over a loaded copy is conditional"
    );
    // The first machine's copy is stale: its save is refused, not a lost update.
    let err = s.saveone(&a, "x.saved").unwrap_err();
    assert!(
        matches!(err.remote_fault(), Some(RemoteFault::Precondition { .. })),
        "{err}"
    );
    // And so is the same save tried again (its copy was rewritten, but the
    // cache still knows which version it last saw).
    let err = s.saveone(&a, "x.saved").unwrap_err();
    assert!(
        matches!(err.remote_fault(), Some(RemoteFault::Precondition { .. })),
        "{err}"
    );
    s.clear_cache(None);
    assert_eq!(t.loadone("x.saved").unwrap().view2::<f64>().unwrap(), b);
    // Revalidating fetches the new version.
    let f = s
        .core()
        .remote()
        .unwrap()
        .join("oneData/x.saved.npy")
        .unwrap();
    let fresh = f.fetch(true).unwrap();
    assert_eq!(NpyArray::open(&fresh).unwrap().view2::<f64>().unwrap(), b);

    // clear_one_data deletes the object and the copy.
    let cleared = s.clear_one_data(Some(&["x.saved"]), true).unwrap();
    assert!(
        matches!(cleared, onedata::ClearOutcome::Cleared(ref v) if v.len() == 1),
        "{cleared:?}"
    );
    assert!(s.get_saved_one().unwrap().is_empty());
    assert!(!fresh.exists());
    // The other machine last saw the object it deleted: its save creates it
    // anew instead of being refused for ever.
    t.saveone(&b, "x.saved").unwrap();
    assert_eq!(
        s.loadone_with("x.saved", LoadOptions::force())
            .unwrap()
            .view2::<f64>()
            .unwrap(),
        b
    );
}

#[test]
fn a_large_save_is_a_multipart_upload() {
    let prefix = "t-multipart";
    let cache = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let s = Session::open_remote(remote(prefix, cache.path()).join(SESSION).unwrap()).unwrap();
    // 68 MB of f32, past the 64 MiB threshold.
    let a = Array2::from_shape_fn((17_000, 1000), |(i, j)| (i ^ j) as f32);
    s.saveone(&a, "x.large").unwrap();
    let key = format!("{prefix}/{SESSION}/oneData/x.large.npy");
    let log = requests_for(&key);
    let posts = log.iter().filter(|e| e["m"] == "POST").count();
    let parts = log.iter().filter(|e| e["m"] == "PUT").count();
    assert_eq!(posts, 2, "create and complete: {log:?}");
    assert_eq!(parts as u64, (68_000_128u64).div_ceil(PART_SIZE), "{log:?}");
    let t = Session::open_remote(remote(prefix, other.path()).join(SESSION).unwrap()).unwrap();
    assert_eq!(t.loadone("x.large").unwrap().view2::<f32>().unwrap(), a);
    // Someone replaces it: a large save over the stale copy is refused
    // too (a HEAD checks the ETag before the multipart upload).
    let (_, store) = store(prefix);
    block_on(store.put(
        &ObjPath::from(key.as_str()),
        PutPayload::from(vec![0u8; 10]),
    ))
    .unwrap();
    let err = s.saveone(&a, "x.large").unwrap_err();
    assert!(
        matches!(err.remote_fault(), Some(RemoteFault::Precondition { .. })),
        "{err}"
    );
}

#[test]
fn faults_are_typed_and_leave_nothing_in_the_cache() {
    let prefix = "t-faults";
    let local_root = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let dir = local_session(local_root.path());
    upload_session(&dir, prefix);
    let s = Session::open_remote(remote(prefix, cache.path()).join(SESSION).unwrap()).unwrap();
    let name = "mpci.roiActivityDeconvolvedOasis";
    let key = format!("{prefix}/{SESSION}/oneData/{name}.npy");
    let target = s.one_path().join(format!("{name}.npy"));
    let url = format!("s3://onedata-test/{key}");
    let no_file_left = || {
        assert!(!target.exists());
        let temps: Vec<_> = walk(cache.path())
            .into_iter()
            .filter(|p| is_temporary(p))
            .collect();
        assert!(temps.is_empty(), "{temps:?}");
    };

    // The server stops mid-download (every attempt).
    set_fault(serde_json::json!({"key": key, "cut_after": 100_000}));
    let err = s.loadone(name).unwrap_err();
    set_fault(serde_json::json!({"key": key}));
    assert!(
        matches!(
            err.remote_fault(),
            Some(RemoteFault::Truncated { .. }) | Some(RemoteFault::Request { .. })
        ),
        "{err}"
    );
    assert!(err.to_string().starts_with(&url), "{err}");
    no_file_left();

    // The object changes under the download (its ETag no longer matches),
    // again on the second try.
    set_fault(serde_json::json!({"key": key, "etag": "feedfacefeedface"}));
    let err = s.loadone(name).unwrap_err();
    set_fault(serde_json::json!({"key": key}));
    assert!(
        matches!(err.remote_fault(), Some(RemoteFault::Changed { .. })),
        "{err}"
    );
    assert!(err.to_string().starts_with(&url), "{err}");
    no_file_left();

    // Wrong credentials.
    set_fault(serde_json::json!({"key": key, "status": 403}));
    let err = s.loadone(name).unwrap_err();
    set_fault(serde_json::json!({"key": key}));
    assert!(
        matches!(err.remote_fault(), Some(RemoteFault::Auth { .. })),
        "{err}"
    );
    no_file_left();

    // A truncated object: shorter than its header promises.
    let (_, store) = store(prefix);
    let bytes = std::fs::read(dir.join(format!("oneData/{name}.npy"))).unwrap();
    let short = format!("{prefix}/{SESSION}/oneData/x.short.npy");
    block_on(store.put(
        &ObjPath::from(short.as_str()),
        PutPayload::from(bytes[..50_000].to_vec()),
    ))
    .unwrap();
    let err = s.loadone("x.short").unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("s3://onedata-test/{short}: file is truncated")),
        "{err}"
    );
    let err = s.loadone_rows("x.short", 0..1).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("s3://onedata-test/{short}")),
        "{err}"
    );

    // No such file: the usual NotFound, listing what the session has.
    let err = s.loadone("x.absent").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("x.cube.npy"), "{err}");

    // No such bucket.
    let err = Session::open_remote(
        Remote::open_with(
            "s3://onedata-no-such-bucket/root/ATL001/2024-05-03/701",
            &options(),
            cache.path().to_path_buf(),
        )
        .unwrap(),
    )
    .unwrap_err();
    assert!(
        matches!(err.remote_fault(), Some(RemoteFault::NoBucket { .. })),
        "{err}"
    );
    assert!(
        err.to_string().starts_with("s3://onedata-no-such-bucket/"),
        "{err}"
    );

    // With the faults gone, the same load works.
    same_array(
        s.loadone(name).unwrap().dense().unwrap(),
        Session::open(&dir)
            .unwrap()
            .loadone(name)
            .unwrap()
            .dense()
            .unwrap(),
    );
}

#[test]
fn an_empty_object_is_fetched_as_an_empty_file() {
    let prefix = "t-empty";
    let cache = tempfile::tempdir().unwrap();
    let (_, store) = store(prefix);
    let key = format!("{prefix}/empty.bin");
    block_on(store.put(
        &ObjPath::from(key.as_str()),
        PutPayload::from(Vec::<u8>::new()),
    ))
    .unwrap();
    let r = remote(prefix, cache.path()).join("empty.bin").unwrap();
    let local = r.fetch(false).unwrap();
    assert_eq!(std::fs::read(&local).unwrap(), b"");
    assert!(r.is_cached());
    assert_eq!(r.head().unwrap().size, 0);
}

#[test]
fn a_b2_session_resolves_its_recipes_from_the_bucket_and_reopens_with_no_request() {
    let prefix = "t-b2";
    let local_root = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let spec = onedata::demo::DemoSpec {
        frames: 300,
        rois_per_plane: vec![4, 3],
        ..onedata::demo::DemoSpec::default()
    };
    let dir = onedata::demo::write_demo_session(local_root.path(), &spec).unwrap();
    let rel = dir
        .strip_prefix(local_root.path())
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let (_, store) = store(prefix);
    for path in walk(&dir) {
        let key = format!(
            "{prefix}/{rel}/{}",
            path.strip_prefix(&dir).unwrap().to_str().unwrap()
        );
        block_on(store.put(
            &ObjPath::from(key.as_str()),
            PutPayload::from(std::fs::read(&path).unwrap()),
        ))
        .unwrap();
    }
    let local = onedata::b2::B2Session::open(&dir).unwrap();
    let open = || {
        onedata::b2::B2Session::open_remote(remote(prefix, cache.path()).join(&rel).unwrap())
            .unwrap()
    };
    let names = local.print_saved_one(false, false).unwrap();
    let s = open();
    assert_eq!(s.print_saved_one(false, false).unwrap(), names);
    assert_eq!(s.values(), local.values());
    // Every name, recipes included (they read suite2p/<plane>/F.npy and
    // friends, which are fetched into the cache), loads as on disk.
    let mut recipes = 0;
    for name in &names {
        let file = dir.join("oneData").join(format!("{name}.npy"));
        if !file.exists() {
            continue; // the .npz, loaded below
        }
        let a = local.loadone(name).unwrap();
        let b = s.loadone(name).unwrap();
        // Bit for bit: the digest of the elements, for arrays and objects.
        assert_eq!(a.kind(), b.kind(), "{name}");
        assert_eq!(a.shape(), b.shape(), "{name}");
        match (a.as_object(), b.as_object()) {
            (Some(x), Some(y)) => assert_eq!(x.value(), y.value(), "{name}"),
            _ => assert_eq!(a.digest().unwrap(), b.digest().unwrap(), "{name}"),
        }
        if onedata::recipe::read_recipe(&file).is_ok() {
            recipes += 1;
        }
    }
    assert!(recipes >= 2, "the demo has recipes: {recipes}");
    assert!(s.data_path().join("suite2p").is_dir());
    // Warm: opening again and loading every name makes no request at all.
    let before = requests_for(&format!("{prefix}/")).len();
    let again = open();
    for name in &names {
        if dir.join("oneData").join(format!("{name}.npy")).exists() {
            again.loadone(name).unwrap();
        }
    }
    assert_eq!(requests_for(&format!("{prefix}/")).len(), before);
}
