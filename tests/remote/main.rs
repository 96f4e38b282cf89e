//! onedata's remote tests, against a local S3 server: moto behind a
//! counting, fault-injecting proxy (`tests/remote/s3_fixture.py`).
//!
//! The fixture runs with the python of a venv holding moto, named by
//! `ONEDATA_MOTO_PYTHON`:
//!
//! ```text
//! python3 -m venv /tmp/venv-s3 && /tmp/venv-s3/bin/pip install 'moto[server]==5.2.5'
//! ONEDATA_MOTO_PYTHON=/tmp/venv-s3/bin/python cargo test -p onedata --features remote --test remote
//! ```
//!
//! One server serves every test of the run; each test keeps to its own key
//! prefix (`t-<name>/`) and counts only its own requests in the proxy's log.

use std::sync::{Arc, OnceLock};

use onedata::remote::object_store::path::Path as ObjPath;
use onedata::remote::object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload,
};
use onedata::remote::{build_store, map_store_error, RemoteOptions, RemoteUrl};
use onedata::RemoteFault;
use serde_json::Value;

mod fixture;

use fixture::{block_on, Fixture};

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        Fixture::start(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/remote/s3_fixture.py"
        ))
    })
}

/// The requests the proxy recorded whose path (or list prefix) names `prefix`.
fn requests_for(prefix: &str) -> Vec<Value> {
    fixture().requests_for(prefix)
}

fn set_fault(fault: Value) {
    fixture().proxy_call("POST", "/__fault", &fault.to_string());
}

/// Client options that reach the fixture, with one quick retry.
fn options() -> RemoteOptions {
    fixture().options()
}

/// A store for the fixture's bucket, built by onedata from an `s3://` URL,
/// with one quick retry.
fn store(prefix: &str) -> (RemoteUrl, Arc<dyn ObjectStore>) {
    let url = RemoteUrl::parse(&format!("s3://{}/{prefix}", fixture().bucket)).unwrap();
    let store = build_store(&url, &options()).unwrap();
    (url, store)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

fn methods(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| {
            let path = e["path"].as_str().unwrap();
            let what = if path.contains("list-type=2") {
                " list"
            } else {
                ""
            };
            format!("{}{what}", e["m"].as_str().unwrap())
        })
        .collect()
}

#[test]
fn a_put_and_a_list_are_one_request_each() {
    let (_, store) = store("t-put-list");
    let path = ObjPath::from("t-put-list/oneData/a.npy");
    let data = pattern(3000);
    let listed = block_on(async {
        store
            .put(&path, PutPayload::from(data.clone()))
            .await
            .unwrap();
        use futures::TryStreamExt;
        store
            .list(Some(&ObjPath::from("t-put-list")))
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
    });
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].location, path);
    assert_eq!(listed[0].size, 3000);
    let log = requests_for("t-put-list");
    assert_eq!(methods(&log), ["PUT", "GET list"], "{log:?}");
    assert_eq!(log[0]["path"], "/onedata-test/t-put-list/oneData/a.npy");
    assert_eq!(log[0]["status"], 200);
    assert_eq!(log[1]["status"], 200);
}

#[test]
fn a_ranged_get_sends_the_range_and_returns_those_bytes() {
    let (_, store) = store("t-range");
    let path = ObjPath::from("t-range/x.bin");
    let data = pattern(10_000);
    let got = block_on(async {
        store
            .put(&path, PutPayload::from(data.clone()))
            .await
            .unwrap();
        store.get_range(&path, 4096..4196).await.unwrap()
    });
    assert_eq!(&got[..], &data[4096..4196]);
    let gets: Vec<Value> = requests_for("t-range/x.bin")
        .into_iter()
        .filter(|e| e["m"] == "GET")
        .collect();
    assert_eq!(gets.len(), 1, "{gets:?}");
    assert_eq!(gets[0]["range"], "bytes=4096-4195");
    assert_eq!(gets[0]["status"], 206);
}

#[test]
fn a_body_cut_short_is_an_error_not_a_short_success() {
    let (url, store) = store("t-cut");
    let key = "t-cut/x.bin";
    let path = ObjPath::from(key);
    let data = pattern(100_000);
    block_on(store.put(&path, PutPayload::from(data.clone()))).unwrap();
    set_fault(serde_json::json!({"key": key, "cut_after": 1000}));
    let got = block_on(async {
        let reply = store.get(&path).await?;
        reply.bytes().await
    });
    set_fault(serde_json::json!({"key": key}));
    let err = got.expect_err("a cut body must not be returned");
    let err = map_store_error(&format!("{url}/x.bin"), err);
    assert!(
        matches!(err.remote_fault(), Some(RemoteFault::Request { .. })),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("s3://onedata-test/t-cut/x.bin: "),
        "{err}"
    );
    // The first GET asked for all of it; the one retry resumed from the cut.
    let gets: Vec<Value> = requests_for(key)
        .into_iter()
        .filter(|e| e["m"] == "GET")
        .collect();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[0]["range"], Value::Null);
    assert_eq!(gets[1]["range"], "bytes=1000-99999");
    // Without the fault the same GET returns everything.
    let whole = block_on(async { store.get(&path).await?.bytes().await }).unwrap();
    assert_eq!(&whole[..], &data[..]);
}

#[test]
fn a_403_is_an_auth_error() {
    let (_, store) = store("t-403");
    let key = "t-403/x.bin";
    let path = ObjPath::from(key);
    block_on(store.put(&path, PutPayload::from(pattern(10)))).unwrap();
    set_fault(serde_json::json!({"key": key, "status": 403}));
    let got = block_on(store.get_range(&path, 0..4));
    let head = block_on(store.head(&path));
    set_fault(serde_json::json!({"key": key}));
    let err = map_store_error("s3://onedata-test/t-403/x.bin", got.unwrap_err());
    assert!(
        matches!(err.remote_fault(), Some(RemoteFault::Auth { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("InvalidAccessKeyId"), "{err}");
    assert!(head.is_err());
    // A 403 is not retried: one GET and one HEAD after the PUT.
    assert_eq!(methods(&requests_for(key)), ["PUT", "GET", "HEAD"]);
}

#[test]
fn a_changed_etag_fails_the_conditional_get() {
    let (_, store) = store("t-etag");
    let key = "t-etag/x.bin";
    let path = ObjPath::from(key);
    let data = pattern(5000);
    let put = block_on(store.put(&path, PutPayload::from(data.clone()))).unwrap();
    let real = put.e_tag.clone().unwrap();
    // The proxy now reports another ETag, as if the object had been
    // replaced after the HEAD: the If-Match GET with it is refused.
    set_fault(serde_json::json!({"key": key, "etag": "0123456789abcdef"}));
    let meta = block_on(store.head(&path)).unwrap();
    assert_eq!(meta.e_tag.as_deref(), Some("\"0123456789abcdef\""));
    let options = GetOptions {
        if_match: meta.e_tag.clone(),
        range: Some(GetRange::Bounded(0..100)),
        ..Default::default()
    };
    let got = block_on(async { store.get_opts(&path, options).await?.bytes().await });
    set_fault(serde_json::json!({"key": key}));
    let err = got.unwrap_err();
    assert!(
        matches!(
            err,
            onedata::remote::object_store::Error::Precondition { .. }
        ),
        "{err}"
    );
    let err = map_store_error("s3://onedata-test/t-etag/x.bin", err);
    assert!(
        matches!(err.remote_fault(), Some(RemoteFault::Precondition { .. })),
        "{err}"
    );
    // With the real ETag the same GET succeeds.
    let options = GetOptions {
        if_match: Some(real.clone()),
        range: Some(GetRange::Bounded(0..100)),
        ..Default::default()
    };
    let got = block_on(async { store.get_opts(&path, options).await?.bytes().await }).unwrap();
    assert_eq!(&got[..], &data[..100]);
    let gets: Vec<Value> = requests_for(key)
        .into_iter()
        .filter(|e| e["m"] == "GET")
        .collect();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[0]["if_match"], "\"0123456789abcdef\"");
    assert_eq!(gets[0]["status"], 412);
    assert_eq!(gets[1]["if_match"], Value::String(real));
    assert_eq!(gets[1]["status"], 206);
}

mod sessions;
