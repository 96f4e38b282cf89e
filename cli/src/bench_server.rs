//! The server of `onedata bench --remote` and what it was asked for:
//! tests/remote/s3_fixture.py started and stopped, its requests taken from
//! the proxy's log or s3s-fs's own, and counted per method and bytes.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use onedata::{Error, Result};
use serde_json::{json, Value};

use crate::bench::round;
use crate::bench_remote::{err, SETUP};

/// The server: s3s-fs logging its requests, or moto behind a proxy that
/// records them.
const FIXTURE: &str = include_str!("../../tests/remote/s3_fixture.py");

/// The running fixture; closing its stdin stops it.
pub(crate) struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    host: String,
    pub(crate) endpoint: String,
    pub(crate) bucket: String,
    /// The S3 server behind the proxy: `moto` or `s3s-fs`.
    pub(crate) kind: String,
    /// s3s-fs's own log of the requests it serves, when it is the server:
    /// the bench then talks to it straight (`endpoint` is its address) and
    /// counts from this log, from `log_offset` on.
    pub(crate) server_log: Option<PathBuf>,
    log_offset: std::cell::Cell<u64>,
}

impl Server {
    pub(crate) fn start(python: &Path) -> Result<Server> {
        let mut child = Command::new(python)
            .arg("-c")
            .arg(FIXTURE)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| err(format!("{} did not start ({e}); {SETUP}", python.display())))?;
        let stdin = child.stdin.take();
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let mut server = Server {
            child,
            stdin,
            host: String::new(),
            endpoint: String::new(),
            bucket: String::new(),
            kind: String::new(),
            server_log: None,
            log_offset: std::cell::Cell::new(0),
        };
        let info: Value = serde_json::from_str(&line).map_err(|_| {
            err(format!(
                "the S3 server did not start with {} (is moto[server] installed there?); {SETUP}",
                python.display()
            ))
        })?;
        server.endpoint = info["endpoint"].as_str().unwrap_or_default().to_string();
        server.bucket = info["bucket"].as_str().unwrap_or_default().to_string();
        // moto, or s3s-fs when ONEDATA_S3S_FS names its binary.
        server.kind = info["server"].as_str().unwrap_or("moto").to_string();
        if let (Some(log), Some(direct)) = (info["server_log"].as_str(), info["moto"].as_str()) {
            // Straight to s3s-fs, nothing between: its log does the counting.
            server.server_log = Some(PathBuf::from(log));
            server.endpoint = direct.to_string();
        }
        server.host = server
            .endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        Ok(server)
    }

    /// The requests recorded since the last call, and the record emptied.
    pub(crate) fn take_log(&self) -> Result<Vec<Value>> {
        if let Some(path) = &self.server_log {
            let text = std::fs::read(path).map_err(|e| Error::io(path.clone(), e))?;
            let from = usize::try_from(self.log_offset.get()).unwrap_or(usize::MAX);
            let new = text.get(from..).unwrap_or_default();
            // Whole lines only: a line being written is read next time.
            let end = new.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            self.log_offset.set((from + end) as u64);
            return Ok(parse_s3s_log(&String::from_utf8_lossy(&new[..end])));
        }
        let fail = |e: std::io::Error| err(format!("the proxy's /__log: {e}"));
        let mut conn = TcpStream::connect(&self.host).map_err(fail)?;
        conn.set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(fail)?;
        write!(
            conn,
            "GET /__log?clear=1 HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.host
        )
        .map_err(fail)?;
        let mut reply = Vec::new();
        conn.read_to_end(&mut reply).map_err(fail)?;
        let body = reply
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| &reply[i + 4..])
            .ok_or_else(|| err("the proxy's /__log gave no body"))?;
        match serde_json::from_slice(body) {
            Ok(Value::Array(entries)) => Ok(entries),
            _ => Err(err("the proxy's /__log is not a JSON list")),
        }
    }
}

/// The requests in a piece of s3s-fs's log (s3s's debug events, each
/// followed by the line of its span, which names the request by its start
/// time), as the proxy's log gives them: `{"m", "path", "range", "status"}`
/// in the order they came. A request whose answer is not in the piece has
/// a null status.
fn parse_s3s_log(text: &str) -> Vec<Value> {
    let mut entries: Vec<Value> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut event: Option<&str> = None;
    let between = |line: &str, from: &str, to: &str| -> Option<String> {
        let rest = &line[line.find(from)? + from.len()..];
        Some(rest[..rest.find(to).unwrap_or(rest.len())].to_string())
    };
    for line in text.lines() {
        if line.contains(" s3s::service: ") {
            event = Some(line);
            continue;
        }
        let Some(start) = line.split("with start_time: ").nth(1) else {
            continue;
        };
        let Some(ev) = event.take() else {
            continue;
        };
        if let Some(method) = between(ev, "req: Request { method: ", ",") {
            index.insert(start.to_string(), entries.len());
            entries.push(json!({
                "m": method,
                "path": between(ev, ", uri: ", ", version:"),
                "range": between(ev, "\"range\": \"", "\""),
                "status": Value::Null,
            }));
        } else if let Some(&i) = index.get(start) {
            // The answer: its status, or a server error.
            let status = between(ev, "resp: Response { status: ", ",")
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(500);
            entries[i]["status"] = json!(status);
        }
    }
    entries
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// What one side asked the server for, over `ops` operations.
#[derive(Default)]
pub(crate) struct Traffic {
    pub(crate) ops: usize,
    pub(crate) requests: usize,
    pub(crate) by_method: BTreeMap<String, usize>,
    pub(crate) bytes: u64,
}

impl Traffic {
    /// Adds the requests of `log`; `bytes` counts the bodies of the GETs of
    /// the object at `key` (of `size` bytes), from their Range headers.
    pub(crate) fn add(&mut self, log: &[Value], key: &str, size: u64) {
        for e in log {
            let method = e["m"].as_str().unwrap_or("?").to_string();
            self.requests += 1;
            *self.by_method.entry(method.clone()).or_default() += 1;
            let path = e["path"].as_str().unwrap_or("");
            let ok = e["status"].as_u64().is_some_and(|s| s < 300);
            if method == "GET" && ok && path.split('?').next() == Some(key) {
                self.bytes += range_len(e["range"].as_str(), size);
            }
        }
    }

    pub(crate) fn per_op(&self) -> Value {
        let ops = self.ops.max(1) as f64;
        let by: serde_json::Map<String, Value> = self
            .by_method
            .iter()
            .map(|(m, n)| (m.clone(), json!(round(*n as f64 / ops))))
            .collect();
        json!({
            "requests": round(self.requests as f64 / ops),
            "by_method": by,
            "bytes": (self.bytes as f64 / ops).round(),
        })
    }
}

/// The body length of a GET with this Range header of an object of `size`.
fn range_len(range: Option<&str>, size: u64) -> u64 {
    let Some(spec) = range.and_then(|r| r.strip_prefix("bytes=")) else {
        return size;
    };
    let (a, b) = spec.split_once('-').unwrap_or((spec, ""));
    match (a.trim().parse::<u64>(), b.trim().parse::<u64>()) {
        (Ok(a), Ok(b)) => (b.min(size.saturating_sub(1)) + 1).saturating_sub(a),
        (Ok(a), Err(_)) => size.saturating_sub(a),
        (Err(_), Ok(n)) => n.min(size),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A piece of s3s-fs 0.14's log, as it writes it (headers shortened):
    /// a PUT, a ranged GET and a GET of a missing key.
    const LOG: &str = r#"  2026-12-02T06:54:45.472018Z DEBUG s3s::service: req: Request { method: PUT, uri: /onedata-test/a/b.bin, version: HTTP/1.1, headers: {"host": "127.0.0.1:39999", "expect": "100-continue"}, body: Body }
    at /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/s3s-0.14.1/src/service.rs:615
    in s3s::service::call with start_time: 2026-12-02 6:54:45.471982438 +00:00:00

  2026-12-02T06:54:45.477192Z DEBUG s3s::service: req: Request { method: GET, uri: /onedata-test/a/b.bin?partNumber=1, version: HTTP/1.1, headers: {"host": "127.0.0.1:39999", "range": "bytes=10-99", "x-amz-date": "20261202T065445Z"}, body: Body }
    at /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/s3s-0.14.1/src/service.rs:615
    in s3s::service::call with start_time: 2026-12-02 6:54:45.477175528 +00:00:00

  2026-12-02T06:54:45.473752Z DEBUG s3s::service: duration: 1.68148ms, resp: Response { status: 200, version: HTTP/1.1, headers: {"etag": "\"d5816f35916d1d9482fb0f1ec201101d\""}, body: Body }
    at /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/s3s-0.14.1/src/service.rs:642
    in s3s::service::call with start_time: 2026-12-02 6:54:45.471982438 +00:00:00

  2026-12-02T06:54:45.477542Z DEBUG s3s::service: duration: 331.972µs, resp: Response { status: 206, version: HTTP/1.1, headers: {"content-length": "90"}, body: Body }
    at /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/s3s-0.14.1/src/service.rs:642
    in s3s::service::call with start_time: 2026-12-02 6:54:45.477175528 +00:00:00

  2026-12-02T06:54:45.524410Z DEBUG s3s::service: req: Request { method: GET, uri: /onedata-test/a/nope, version: HTTP/1.1, headers: {"host": "127.0.0.1:39999"}, body: Body }
    at /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/s3s-0.14.1/src/service.rs:615
    in s3s::service::call with start_time: 2026-12-02 6:54:45.524393049 +00:00:00

  2026-12-02T06:54:45.524589Z ERROR s3s::service: duration: 139.627µs, err: S3Error { code: NoSuchKey }
    at /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/s3s-0.14.1/src/service.rs:645
    in s3s::service::call with start_time: 2026-12-02 6:54:45.524393049 +00:00:00

  2026-12-02T06:54:45.600000Z DEBUG s3s::service: req: Request { method: HEAD, uri: /onedata-test/a/b.bin, version: HTTP/1.1, headers: {}, body: Body }
    at /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/s3s-0.14.1/src/service.rs:615
    in s3s::service::call with start_time: 2026-12-02 6:54:45.599000000 +00:00:00
"#;

    #[test]
    fn the_server_log_gives_each_request_with_its_range_and_status() {
        let entries = parse_s3s_log(LOG);
        let want = json!([
            {"m": "PUT", "path": "/onedata-test/a/b.bin", "range": null, "status": 200},
            {"m": "GET", "path": "/onedata-test/a/b.bin?partNumber=1", "range": "bytes=10-99", "status": 206},
            {"m": "GET", "path": "/onedata-test/a/nope", "range": null, "status": 500},
            {"m": "HEAD", "path": "/onedata-test/a/b.bin", "range": null, "status": null},
        ]);
        assert_eq!(Value::Array(entries.clone()), want);
        let mut traffic = Traffic::default();
        traffic.add(&entries, "/onedata-test/a/b.bin", 100_000);
        assert_eq!(traffic.requests, 4);
        assert_eq!(traffic.by_method["GET"], 2);
        // Only the successful GET of the key counts: bytes 10..=99.
        assert_eq!(traffic.bytes, 90);
    }
}
