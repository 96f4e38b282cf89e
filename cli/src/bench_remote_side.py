"""The s3fs side of `onedata bench --remote`, run by a python with s3fs and
numpy against the bench's local S3 server: see bench_remote.rs.

Arguments: ENDPOINT BUCKET KEY ROIS RANGES, where KEY is the spks object in
BUCKET and RANGES a JSON list of [start, end) byte ranges of it (the frame
ranges the Rust side reads, as byte offsets past the header). It prints the
versions, then answers each request line `CASE RUNS WARMUP` with one JSON line
`{"samples": [microseconds, ...], "bytes": N}` (`null` samples for a case it
cannot run; `bytes` is what one run returned)."""
import io, json, sys, time

endpoint, bucket, key, rois, ranges = sys.argv[1:6]
rois = int(rois)
ranges = json.loads(ranges)
path = f"{bucket}/{key}"
try:
    import numpy as np
except ImportError:
    np = None
try:
    import s3fs, fsspec, botocore, aiobotocore
except ImportError:
    s3fs = None

versions = {
    "numpy": None if np is None else np.__version__,
    "s3fs": None if s3fs is None else s3fs.__version__,
}
if s3fs is not None:
    versions.update(fsspec=fsspec.__version__, aiobotocore=aiobotocore.__version__,
                    botocore=botocore.__version__)

cases = {}
if np is not None and s3fs is not None:
    fs = s3fs.S3FileSystem(key="test", secret="test",
                           client_kwargs={"endpoint_url": endpoint, "region_name": "us-east-1"})
    starts = [r[0] for r in ranges]
    ends = [r[1] for r in ranges]

    def samples(f, runs, warmup):
        t, got = [], 0
        for k in range(warmup + runs):
            # No listing or file details kept from the run before.
            fs.invalidate_cache()
            s = time.perf_counter(); r = f(); e = time.perf_counter() - s
            got = r
            del r
            if k >= warmup:
                t.append(e * 1e6)
        return t, got

    def load():
        a = np.load(io.BytesIO(fs.cat_file(path)))
        return a.nbytes

    def frames(blobs):
        # Each range as the float32 frames it holds, as ours returns them.
        out = [np.frombuffer(b, dtype="<f4").reshape(-1, rois) for b in blobs]
        return sum(a.nbytes for a in out)

    def cat_ranges():
        blobs = fs.cat_ranges([path] * len(ranges), starts, ends, on_error="raise")
        return frames(blobs)

    def get_per_range():
        return frames([fs.cat_file(path, start=s, end=e) for s, e in ranges])

    cases = {"s3fs_load": load, "s3fs_cat_ranges": cat_ranges, "s3fs_get_per_range": get_per_range}

print(json.dumps(versions), flush=True)
for line in sys.stdin:
    name, runs, warmup = line.split()
    f = cases.get(name)
    if f is None:
        print(json.dumps({"samples": None, "bytes": None}), flush=True)
        continue
    t, got = samples(f, int(runs), int(warmup))
    print(json.dumps({"samples": t, "bytes": got}), flush=True)
