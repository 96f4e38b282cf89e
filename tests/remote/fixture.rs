//! The local S3 server of the remote tests: `tests/remote/s3_fixture.py`
//! (moto behind a counting, fault-injecting proxy), run with the python
//! named by `ONEDATA_MOTO_PYTHON`, the client options that reach it, and
//! [`block_on`] for the tests' own requests.
//!
//! Shared by the library's remote tests (`tests/remote/main.rs`) and the
//! command-line tool's (`cli/tests/remote.rs`, which includes this file
//! with `#[path]`); each keeps one server for its whole run.

use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use onedata::remote::RemoteOptions;
use serde_json::Value;

/// A running fixture.
pub struct Fixture {
    /// The proxy, which the clients talk to: `http://127.0.0.1:PORT`.
    pub endpoint: String,
    pub bucket: String,
    /// The fixture process and its stdin: the server runs until the stdin
    /// closes, which happens when this test process exits.
    _server: Mutex<(Child, ChildStdin)>,
}

impl Fixture {
    /// Starts the fixture script `script` and waits for the line that says
    /// where it listens. Panics, saying what to set up, when
    /// `ONEDATA_MOTO_PYTHON` is unset or the script does not start.
    pub fn start(script: &str) -> Fixture {
        let python = std::env::var_os("ONEDATA_MOTO_PYTHON").unwrap_or_else(|| {
            panic!(
                "ONEDATA_MOTO_PYTHON is unset: the remote tests need a local S3 server (moto). \
                 Create its venv and point the variable at its python:\n  \
                 python3 -m venv /tmp/venv-s3 && /tmp/venv-s3/bin/pip install 'moto[server]==5.2.5'\n  \
                 export ONEDATA_MOTO_PYTHON=/tmp/venv-s3/bin/python"
            )
        });
        let mut child = Command::new(&python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.to_string_lossy()));
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let info: Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            panic!("{script} did not start (it printed {line:?}; its errors are above)")
        });
        Fixture {
            endpoint: info["endpoint"].as_str().unwrap().to_string(),
            bucket: info["bucket"].as_str().unwrap().to_string(),
            _server: Mutex::new((child, stdin)),
        }
    }

    /// Client options that reach the fixture, with one quick retry.
    pub fn options(&self) -> RemoteOptions {
        RemoteOptions {
            retries: 1,
            retry_timeout: Duration::from_secs(5),
            config: Vec::new(),
        }
        .with_config("aws_endpoint", &self.endpoint)
        .with_config("aws_allow_http", "true")
        .with_config("aws_region", "us-east-1")
        .with_config("aws_access_key_id", "test")
        .with_config("aws_secret_access_key", "test")
    }

    /// One plain HTTP/1.1 request to the proxy's own endpoints; the body of
    /// the answer.
    pub fn proxy_call(&self, method: &str, path: &str, body: &str) -> Vec<u8> {
        let addr = self.endpoint.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).unwrap();
        let split = reply.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        assert!(reply.starts_with(b"HTTP/1.1 200"), "{path}");
        reply[split + 4..].to_vec()
    }

    /// The requests the proxy recorded whose path (or list prefix) names
    /// `prefix`.
    pub fn requests_for(&self, prefix: &str) -> Vec<Value> {
        let log: Vec<Value> =
            serde_json::from_slice(&self.proxy_call("GET", "/__log", "")).unwrap();
        log.into_iter()
            .filter(|e| e["path"].as_str().unwrap().contains(prefix))
            .collect()
    }
}

/// The output of `future`, run on onedata's runtime
/// ([`onedata::remote::block_on`]), which must start.
pub fn block_on<F>(future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    onedata::remote::block_on(future).expect("onedata's runtime starts")
}
