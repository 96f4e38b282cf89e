//! The command-line tool on URLs: `ls`, `info`, `digest` and
//! `digest --session` of a session in a bucket print what they print for
//! the same session on disk, and a warm cache makes no GET.
//!
//! Against a local S3 server: moto behind the counting proxy of
//! `tests/remote/s3_fixture.py`, run with the python named by
//! `ONEDATA_MOTO_PYTHON`:
//!
//! ```text
//! python3 -m venv /tmp/venv-s3 && /tmp/venv-s3/bin/pip install 'moto[server]==5.2.5'
//! ONEDATA_MOTO_PYTHON=/tmp/venv-s3/bin/python cargo test -p onedata-cli --test remote
//! ```
//!
//! Each test keeps to its own key prefix (`t-cli-<name>/`) and counts only
//! its own requests in the proxy's log.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use onedata::remote::object_store::path::Path as ObjPath;
use onedata::remote::object_store::{ObjectStoreExt, PutPayload};
use onedata::remote::{build_store, RemoteUrl};
use serde_json::Value;

#[path = "../../tests/remote/fixture.rs"]
mod fixture;

use fixture::{block_on, Fixture};

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        Fixture::start(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/remote/s3_fixture.py"
        ))
    })
}

/// The requests the proxy recorded whose path (or list prefix) names `prefix`.
fn requests_for(prefix: &str) -> Vec<Value> {
    fixture().requests_for(prefix)
}

/// Whether the recorded request `e` is a LIST.
fn is_list(e: &Value) -> bool {
    e["path"].as_str().unwrap().contains("list-type=2")
}

/// The GET requests (LISTs included) recorded for `prefix`.
fn gets_for(prefix: &str) -> Vec<Value> {
    requests_for(prefix)
        .into_iter()
        .filter(|e| e["m"] == "GET")
        .collect()
}

/// Uploads every file under `dir` to `prefix/<its path below dir>` in the
/// fixture's bucket.
fn upload_dir(dir: &Path, prefix: &str) {
    let f = fixture();
    let url = RemoteUrl::parse(&format!("s3://{}/{prefix}", f.bucket)).unwrap();
    let store = build_store(&url, &f.options()).unwrap();
    let mut stack = vec![dir.to_path_buf()];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    block_on(async {
        for path in files {
            let rel = path.strip_prefix(dir).unwrap().to_str().unwrap();
            let key = ObjPath::from(format!("{prefix}/{rel}"));
            let bytes = std::fs::read(&path).unwrap();
            store.put(&key, PutPayload::from(bytes)).await.unwrap();
        }
    });
}

/// Runs `onedata` with the fixture's credentials and `cache` as its cache.
fn onedata(args: &[&str], cache: &Path) -> Output {
    let f = fixture();
    Command::new(env!("CARGO_BIN_EXE_onedata"))
        .args(args)
        .env("AWS_ENDPOINT_URL", &f.endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("ONEDATA_REMOTE_RETRIES", "1")
        .env("ONEDATA_CACHE_DIR", cache)
        .output()
        .expect("run onedata")
}

/// What `onedata` printed, after checking it succeeded.
fn stdout(args: &[&str], cache: &Path) -> String {
    let out = onedata(args, cache);
    assert!(
        out.status.success(),
        "onedata {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The one line onedata printed on stderr, after checking it failed with
/// status 1 and printed nothing on stdout.
fn error_line(args: &[&str], cache: &Path) -> String {
    let out = onedata(args, cache);
    assert_eq!(
        out.status.code(),
        Some(1),
        "onedata {args:?}: stdout {}, stderr {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "{args:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    err.trim_end().to_string()
}

/// The cells of each line as onedata prints them (separated by two spaces
/// or more): tables compare by cell, since a longer path widens a column.
fn cells(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|line| {
            line.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        })
        .collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A small demo session (B2 layout, with recipes and a sparse file) under
/// `root`, uploaded whole to `prefix/<mouse>/<date>/<id>/`; returns the
/// session folder and its URL.
fn demo_in_bucket(root: &Path, prefix: &str) -> (PathBuf, String) {
    let spec = onedata::demo::DemoSpec {
        frames: 400,
        rois_per_plane: vec![5, 3],
        ..onedata::demo::DemoSpec::default()
    };
    let dir = onedata::demo::write_demo_session(root, &spec).unwrap();
    let rel = dir
        .strip_prefix(root)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    upload_dir(&dir, &format!("{prefix}/{rel}"));
    let url = format!("s3://{}/{prefix}/{rel}", fixture().bucket);
    (dir, url)
}

/// The onedata files of the session folder `dir`, by file name.
fn one_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("oneData"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// `ls`, `info` and `digest` of a session URL print what they print for
/// the session folder, with the URL where the folder's path was.
#[test]
fn ls_info_and_digest_of_a_url_match_the_folder() {
    let prefix = "t-cli-same";
    let root = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (dir, url) = demo_in_bucket(root.path(), prefix);
    let local_one = dir.join("oneData");
    let remote_one = format!("{url}/oneData");

    // ls: the same table; the last line names the URL.
    let listed = stdout(&["ls", s(&dir)], cache.path());
    let expected = listed.replace(s(&local_one), &remote_one);
    let before = requests_for(prefix).len();
    assert_eq!(stdout(&["ls", &url], cache.path()), expected);
    // One LIST of the session (for its oneData/), one of oneData/, and one
    // GET per file: a ranged GET of a dense header, or a small file (a
    // recipe) or a sparse one fetched whole into the cache.
    let made = requests_for(prefix).split_off(before);
    let lists = made.iter().filter(|e| is_list(e)).count();
    let gets: Vec<&Value> = made
        .iter()
        .filter(|e| e["m"] == "GET" && !is_list(e))
        .collect();
    assert_eq!(lists, 2, "{made:#?}");
    assert_eq!(gets.len(), 10, "{made:#?}");
    assert_eq!(made.len(), 12, "{made:#?}");
    let mut paths: Vec<&str> = gets.iter().map(|e| e["path"].as_str().unwrap()).collect();
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), 10, "{gets:#?}");
    assert!(
        gets.iter().any(|e| e["range"] == "bytes=0-4095"),
        "no header GET: {gets:#?}"
    );
    assert_eq!(stdout(&["ls", &remote_one], cache.path()), expected);
    assert_eq!(listed.lines().count(), 12, "{listed}");

    let names = one_files(&dir);
    assert_eq!(names.len(), 10, "{names:?}");
    for name in &names {
        let file = local_one.join(name);
        let file_url = format!("{remote_one}/{name}");
        let to_url = |text: String| text.replace(s(&file), &file_url).replace(s(&dir), &url);
        for flags in [&[][..], &["--json"][..]] {
            let args = |target: &str| {
                let mut args = vec!["info"];
                args.extend_from_slice(flags);
                args.push(target);
                args.into_iter().map(String::from).collect::<Vec<_>>()
            };
            let run = |target: &str| {
                let args = args(target);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                stdout(&args, cache.path())
            };
            assert_eq!(
                run(&file_url),
                to_url(run(s(&file))),
                "info {flags:?} {name}"
            );
        }
        // digest FILE: the digest, or for a recipe the same error.
        let local = onedata(&["digest", s(&file)], cache.path());
        if local.status.success() {
            assert_eq!(
                stdout(&["digest", &file_url], cache.path()),
                String::from_utf8(local.stdout).unwrap(),
                "digest {name}"
            );
        } else {
            let local = String::from_utf8(local.stderr).unwrap();
            assert!(local.contains("recipe"), "{name}: {local}");
            assert_eq!(
                error_line(&["digest", &file_url], cache.path()),
                to_url(local.trim_end().to_string()),
                "digest {name}"
            );
        }
    }

    // digest --session: a cold cache downloads what loadone needs ...
    let session_cache = tempfile::tempdir().unwrap();
    let digest_all = || -> Vec<(String, String)> {
        names
            .iter()
            .map(|name| {
                let local = stdout(
                    &["digest", "--session", s(&dir), name],
                    session_cache.path(),
                );
                let remote = stdout(&["digest", "--session", &url, name], session_cache.path());
                (local, remote)
            })
            .collect()
    };
    for ((local, remote), name) in digest_all().into_iter().zip(&names) {
        assert_eq!(remote, local, "digest --session {name}");
    }
    assert!(!gets_for(prefix).is_empty());
    let cold = requests_for(prefix).len();
    // ... and a second run of every name makes no GET (no LIST, no HEAD
    // either: no request at all).
    for ((local, remote), name) in digest_all().into_iter().zip(&names) {
        assert_eq!(remote, local, "digest --session {name}, warm");
    }
    let warm: Vec<Value> = requests_for(prefix).split_off(cold);
    assert!(
        warm.is_empty(),
        "a warm digest --session made requests: {warm:#?}"
    );
}

/// `ls` of a root URL lists the sessions under it as `ls ROOT` does.
#[test]
fn ls_of_a_root_url_lists_its_sessions() {
    let prefix = "t-cli-root";
    let root = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (_, first) = demo_in_bucket(root.path(), prefix);
    let spec = onedata::demo::DemoSpec {
        frames: 20,
        rois_per_plane: vec![2],
        session_id: "702".into(),
        ..onedata::demo::DemoSpec::default()
    };
    let second = onedata::demo::write_demo_session(root.path(), &spec).unwrap();
    let rel = second.strip_prefix(root.path()).unwrap().to_str().unwrap();
    upload_dir(&second, &format!("{prefix}/{rel}"));
    let root_url = format!("s3://{}/{prefix}", fixture().bucket);

    let local = stdout(&["ls", s(root.path())], cache.path());
    let remote = stdout(&["ls", &root_url], cache.path());
    assert_eq!(
        cells(&remote),
        cells(&local.replace(s(root.path()), &root_url)),
        "{remote}\n{local}"
    );
    assert!(remote.contains(&first), "{remote}");
}

/// A missing bucket, file or name is one line `error: s3://...: ...` and
/// status 1, never a panic.
#[test]
fn remote_faults_are_one_error_line() {
    let prefix = "t-cli-faults";
    let root = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (dir, url) = demo_in_bucket(root.path(), prefix);
    let bucket = &fixture().bucket;
    let missing_bucket = url.replacen(bucket.as_str(), "no-such-bucket-onedata", 1);
    let missing_file = format!("{url}/oneData/nothing.here.npy");
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            vec!["ls", &missing_bucket],
            "s3://no-such-bucket-onedata",
            "no such bucket",
        ),
        (vec!["info", &missing_file], &missing_file, "no such object"),
        (
            vec!["digest", &missing_file],
            &missing_file,
            "no such object",
        ),
        (
            vec!["digest", "--session", &missing_bucket, "mpci.times"],
            "s3://no-such-bucket-onedata",
            "no such bucket",
        ),
        (
            vec!["info", "s3://bucket/a/../b.npy"],
            "s3://bucket/a/../b.npy",
            "segment",
        ),
    ];
    for (args, url_start, says) in cases {
        let line = error_line(&args, cache.path());
        assert!(
            line.starts_with(&format!("error: {url_start}")),
            "{args:?}: {line}"
        );
        assert!(line.contains(says), "{args:?}: {line}");
    }
    // A name saved only in the other form: the hint the folder gives, with
    // the URL for the folder.
    for args in [
        ["mpci.roiSignificantFluorescence", ""],
        ["mpci.times", "--sparse"],
    ] {
        let with = |session: &str| {
            let mut all = vec!["digest", "--session", session, args[0]];
            all.extend(args[1..].iter().filter(|a| !a.is_empty()));
            error_line(&all, cache.path())
        };
        let local = with(s(&dir));
        assert!(local.contains("did you mean"), "{local}");
        assert_eq!(with(&url), local.replace(s(&dir), &url));
    }
    // A name the session does not have: the session's error, one line.
    let line = error_line(&["digest", "--session", &url, "no.suchName"], cache.path());
    assert!(line.starts_with("error: "), "{line}");
    assert!(line.contains("no.suchName"), "{line}");
    // An empty prefix is no session.
    let line = error_line(
        &["ls", &format!("s3://{bucket}/{prefix}-nothing")],
        cache.path(),
    );
    assert!(line.starts_with("error: s3://"), "{line}");
    assert!(line.contains("no onedata here"), "{line}");
}
