"""A local S3 server for onedata's remote tests: moto, behind a counting proxy.

Run with the python of a venv that has ``moto[server]==5.2.5``::

    python3 -m venv /tmp/venv-s3 && /tmp/venv-s3/bin/pip install 'moto[server]==5.2.5'
    /tmp/venv-s3/bin/python tests/remote/s3_fixture.py

It starts ``moto_server`` on a free loopback port, then a proxy on another
that forwards every request to moto and records it, creates the bucket
``onedata-test``, and prints one JSON line::

    {"endpoint": "http://127.0.0.1:PROXY", "moto": "http://127.0.0.1:MOTO", "server": "moto",
     "server_log": null, "bucket": "onedata-test"}

It runs until its stdin closes (so a test run that dies leaves no server
behind), then stops moto. Only the standard library is used here.

With ``ONEDATA_S3S_FS`` naming an ``s3s-fs`` binary (``cargo install s3s-fs
--version '~0.14' --features binary --locked``), that server stands behind
the proxy instead of moto (the bench uses it: moto copies the whole object
for every ranged GET). The tests need moto: s3s-fs does not check
``If-Match`` on reads.

s3s-fs also logs every request it serves (s3s's debug events: method, URI,
headers, then the answer's status) to the file named by ``server_log`` in
the JSON line, so that the bench can talk to it straight (``moto`` names its
address) and count from that log, with no proxy between.

The proxy answers two paths of its own:

- ``GET /__log`` gives the recorded requests as a JSON list of
  ``{"m", "path", "range", "if_match", "if_none_match", "status"}``;
  ``GET /__log?clear=1`` gives them and empties the record.
- ``POST /__fault`` with a JSON body sets the fault for requests whose path
  (without the query) ends with ``key``: ``{"key": K, "status": 403}``
  answers with that status and an S3 error body; ``{"key": K, "etag": E}``
  replaces the ETag of moto's answer with ``"E"``;
  ``{"key": K, "cut_after": N}`` announces the full length, sends N bytes
  of the body and drops the connection. Faults are kept per key (tests run
  in parallel, each with its own keys): ``{"key": K}`` clears K's, ``{}``
  clears all.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

BUCKET = "onedata-test"

# Hop-by-hop headers, which the proxy does not pass on.
# Bodies are passed on in pieces of this size.
CHUNK = 1 << 20

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as reqwest expects
    # Headers and body go out in separate writes: without TCP_NODELAY each
    # answer would wait on the client's delayed ACK (about 40 ms).
    disable_nagle_algorithm = True
    moto_port = 0
    log: list = []
    faults: dict = {}
    lock = threading.Lock()

    def log_message(self, format, *args):  # noqa: A002 - quiet: the log is /__log
        pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, headers, head: bool = False, length: int | None = None):
        self._head(status, headers, len(body) if length is None else length)
        if not head:
            self.wfile.write(body)

    def _json(self, value) -> None:
        self._send(200, json.dumps(value).encode(), [("Content-Type", "application/json")])

    def do_ANY(self) -> None:
        path = self.path.split("?")[0]
        if path == "/__log":
            self._body()
            with Proxy.lock:
                entries = list(Proxy.log)
                if "clear=1" in self.path:
                    Proxy.log.clear()
            return self._json(entries)
        if path == "/__fault":
            fault = json.loads(self._body() or b"{}")
            with Proxy.lock:
                if "key" not in fault:
                    Proxy.faults.clear()
                elif len(fault) == 1:
                    Proxy.faults.pop(fault["key"], None)
                else:
                    Proxy.faults[fault["key"]] = fault
            return self._json({})

        body = self._body()
        entry = {
            "m": self.command,
            "path": self.path,
            "range": self.headers.get("Range"),
            "if_match": self.headers.get("If-Match"),
            "if_none_match": self.headers.get("If-None-Match"),
            "status": None,
        }
        with Proxy.lock:
            Proxy.log.append(entry)
            fault = next((f for k, f in Proxy.faults.items() if k and path.endswith(k)), {})
        head = self.command == "HEAD"
        hit = bool(fault)
        if hit and "status" in fault:
            entry["status"] = fault["status"]
            error = b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>InvalidAccessKeyId</Code>" \
                b"<Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>"
            return self._send(fault["status"], error, [("Content-Type", "application/xml")], head)

        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP and k.lower() != "expect"}
        # The Host header is passed on verbatim: SigV4 signs it.
        reply = self._upstream_request(self.command, self.path, body, headers)
        try:
            reply_headers = list(reply.getheaders())
            status = reply.status
            entry["status"] = status
            if hit and "etag" in fault:
                reply_headers = [(k, v) for k, v in reply_headers if k.lower() != "etag"]
                reply_headers.append(("ETag", '"%s"' % fault["etag"]))
            length = next((int(v) for k, v in reply_headers if k.lower() == "content-length"), None)
            if head:
                reply.read()
                return self._send(status, b"", reply_headers, head=True, length=length or 0)
            if length is None:
                # A chunked (or unsized) answer: read whole, sent with its length.
                data = reply.read()
                length = len(data)
                chunks = iter([data])
            else:
                chunks = iter(lambda: reply.read(CHUNK), b"")
            if hit and "cut_after" in fault:
                # Announce everything, send the first bytes, drop the connection.
                self._head(status, reply_headers, length)
                left = fault["cut_after"]
                for chunk in chunks:
                    if left <= 0:
                        break
                    self.wfile.write(chunk[:left])
                    left -= len(chunk)
                self.wfile.flush()
                self.close_connection = True
                self._drop_upstream()
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            # The body is passed on as it comes, never held whole.
            self._head(status, reply_headers, length)
            for chunk in chunks:
                self.wfile.write(chunk)
        finally:
            self._drop_upstream()

    def _head(self, status: int, headers, length: int) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() in HOP or name.lower() == "content-length":
                continue
            self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _upstream_request(self, method, path, body, headers):
        """The server's answer, on a connection of its own. A connection kept
        alive to the server would make each answer after the first wait for
        a delayed ACK: s3s-fs sends without TCP_NODELAY."""
        self._drop_upstream()
        self._upstream = http.client.HTTPConnection("127.0.0.1", Proxy.moto_port, timeout=60)
        self._upstream.request(method, path, body=body, headers=headers)
        return self._upstream.getresponse()

    def _drop_upstream(self) -> None:
        conn = getattr(self, "_upstream", None)
        self._upstream = None
        if conn is not None:
            conn.close()

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = do_ANY


def wait_for(url_port: int, deadline: float, path: str = "/moto-api/") -> None:
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", url_port, timeout=1)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def start_moto():
    """moto_server on a free port, with the bucket: (process, port)."""
    moto_server = shutil.which("moto_server", path=os.path.dirname(sys.executable)) or shutil.which("moto_server")
    if moto_server is None:
        print("s3_fixture: moto_server not found beside %s; pip install 'moto[server]==5.2.5'" % sys.executable,
              file=sys.stderr)
        return None, 0
    port = free_port()
    moto = subprocess.Popen(
        [moto_server, "-H", "127.0.0.1", "-p", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(port, time.monotonic() + 60)
    # The bucket, created straight on moto (it does not check signatures).
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("PUT", "/" + BUCKET, headers={"Content-Length": "0"})
    reply = conn.getresponse()
    reply.read()
    conn.close()
    if reply.status not in (200, 409):
        print("s3_fixture: creating the bucket gave HTTP %d" % reply.status, file=sys.stderr)
        moto.terminate()
        return None, 0
    return moto, port


def start_s3s_fs(binary: str, root: str, log_path: str):
    """s3s-fs (the s3s crate's file-system server) on a free port over the
    folder ``root``, with the bucket as a folder in it and the credentials
    test/test: (process, port). Its reads of a range read just those bytes
    of the file, where moto copies the whole object for each request. It
    logs every request and its answer to ``log_path`` (s3s's debug events),
    so that a client can be counted talking to it straight."""
    os.makedirs(os.path.join(root, BUCKET), exist_ok=True)
    port = free_port()
    env = dict(os.environ, RUST_LOG="s3s::service=debug", NO_COLOR="1")
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [binary, "--host", "127.0.0.1", "--port", str(port), "--access-key", "test", "--secret-key", "test",
             root],
            stdin=subprocess.DEVNULL,
            stdout=log,  # where s3s-fs writes its log
            stderr=subprocess.DEVNULL,
            env=env,
        )
    wait_for(port, time.monotonic() + 60, path="/")
    return server, port


def main() -> int:
    s3s_fs = os.environ.get("ONEDATA_S3S_FS")
    if s3s_fs:
        import tempfile

        root = tempfile.mkdtemp(prefix="onedata-s3s-")
        server_log = os.path.join(root, "s3s-fs.log")
        upstream, port = start_s3s_fs(s3s_fs, os.path.join(root, "data"), server_log)
        what = "s3s-fs"
    else:
        root = server_log = None
        upstream, port = start_moto()
        what = "moto"
    if upstream is None:
        return 2
    try:
        Proxy.moto_port = port
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        proxy_port = server.server_address[1]
        print(json.dumps({
            "endpoint": "http://127.0.0.1:%d" % proxy_port,
            "moto": "http://127.0.0.1:%d" % port,
            "server": what,
            "server_log": server_log,
            "bucket": BUCKET,
        }), flush=True)
        # Serve until the parent closes our stdin (or dies).
        sys.stdin.read()
        server.shutdown()
        return 0
    finally:
        upstream.terminate()
        try:
            upstream.wait(timeout=10)
        except subprocess.TimeoutExpired:
            upstream.kill()
        if root:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
