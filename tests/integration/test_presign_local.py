"""Presigned URLs of the local provider, served by the daemon on `listen`
(src/presign_server.c), driven with curl against a real mount.

URLs come from `objfs-ctl --config F --direct presign` (signed with the
provider's own secret, no daemon involved) or, for requests objfs-ctl will
not sign (a key outside every tenant, a read-only tenant's PUT, malformed
keys), from sign() below, which computes the documented HMAC
(src/presign_local.h) with ROOT/.objfs/presign.key.

    OBJFS_BUILD=$PWD/build /usr/bin/python3 -m pytest -q tests/integration/test_presign_local.py
"""

import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse

import pytest

from conftest import (OBJFS_CTL, DaemonFailure, free_port, read_file, sha256,
                      wait_until, write_file)

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")

MiB = 1024 * 1024


# -- helpers -------------------------------------------------------------------

def presign(o, path, method="GET", ttl=None):
    """objfs-ctl presign of TENANT/KEY; the URL.  Tries --direct first and
    falls back to the older `--config F presign` (no --direct) form."""
    opts = []
    if method != "GET":
        opts += ["--method", method]
    if ttl is not None:
        opts += ["--ttl", str(ttl)]
    last = None
    for direct in (["--direct"], []):
        cmd = [OBJFS_CTL, "--config", o.config_path] + direct + ["presign"] + opts + [path]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if r.returncode == 0:
            url = r.stdout.strip()
            assert url.startswith("http://"), url
            return url
        last = r
        if r.returncode != 2:        # 2: bad usage (an objfs-ctl without --direct)
            break
    raise AssertionError("objfs-ctl presign %s failed (%d): %s"
                         % (path, last.returncode, last.stderr.strip()))


def secret(o):
    with open(os.path.join(o.config["provider local"]["root"], ".objfs", "presign.key"),
              "rb") as f:
        return f.read()


def sign(o, method, bucket, key, expires=None, quote_key=True):
    """A URL for (method, bucket, key) signed like the local provider does.
    key is str or bytes (raw); quote_key=False puts it into the URL as is."""
    if expires is None:
        expires = int(time.time()) + 600
    kb = key.encode() if isinstance(key, str) else key
    msg = b"OBJFS-HMAC-SHA256\n%s\n%s\n%s\n%d" % (method.encode(), bucket.encode(), kb,
                                                  expires)
    sig = hmac.new(secret(o), msg, hashlib.sha256).hexdigest()
    path = urllib.parse.quote(kb, safe="/-._~") if quote_key else key
    return "http://%s/%s/%s?X-Objfs-Method=%s&X-Objfs-Expires=%d&X-Objfs-Signature=%s" % (
        o.config["provider local"]["listen"], bucket, path, method, expires, sig)


class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def h(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return "<%d %r %r>" % (self.status, self.headers, self.body[:200])


def curl(url, method=None, upload=None, headers=(), head=False, extra=(), timeout=120):
    """One request with curl (--path-as-is: no dot-segment cleanup); Answer."""
    with tempfile.TemporaryDirectory(prefix="ps-curl-") as d:
        body_f, hdr_f = os.path.join(d, "body"), os.path.join(d, "hdr")
        cmd = ["curl", "-sS", "--path-as-is", "-o", body_f, "-D", hdr_f,
               "-w", "%{http_code}", "--max-time", str(timeout)]
        if head:
            cmd.append("-I")
        if method:
            cmd += ["-X", method]
        if upload is not None:
            cmd += ["-T", upload]
        for hv in headers:
            cmd += ["-H", hv]
        cmd += list(extra) + [url]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 10)
        assert r.returncode == 0, "curl failed (%d): %s" % (r.returncode, r.stderr)
        hdrs = {}
        with open(hdr_f, "rb") as f:
            # the last block (after a 100 Continue)
            blocks = f.read().decode("latin-1").split("\r\n\r\n")
            blocks = [b for b in blocks if b.strip()]
            for line in blocks[-1].split("\r\n")[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    hdrs[k.strip().lower()] = v.strip()
        body = read_file(body_f) if os.path.exists(body_f) else b""
        return Answer(int(r.stdout.strip()), hdrs, body)


def put_bytes(url, data, tmp, headers=(), method=None):
    path = os.path.join(tmp, "upload-%d" % len(data))
    write_file(path, data)
    return curl(url, upload=path, headers=headers, method=method)


def tamper(url, name, fn):
    """url with query parameter name replaced by fn(old value)."""
    u = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qsl(u.query)
    q = [(k, fn(v) if k == name else v) for k, v in q]
    return urllib.parse.urlunsplit(u._replace(query=urllib.parse.urlencode(q)))


def with_path(url, path):
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(u._replace(path=path))


def tmp_entries(o):
    d = os.path.join(o.cache_dir, "presign-tmp")
    return os.listdir(d) if os.path.isdir(d) else []


def audit_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# -- GET, HEAD, Range ----------------------------------------------------------

def test_get_head_range(objfs_factory, tmp_path):
    o = objfs_factory().start()
    data = os.urandom(300000)
    os.makedirs(o.p("acme", "dir"))
    write_file(o.p("acme", "dir", "f.bin"), data)
    o.wait_landed("acme", "dir/f.bin", data)
    url = presign(o, "acme/dir/f.bin")

    a = curl(url)
    assert a.status == 200, a
    assert a.body == data
    assert a.h("content-length") == str(len(data))
    assert a.h("etag") and a.h("etag").startswith('"')
    assert a.h("last-modified") and a.h("last-modified").endswith("GMT")
    assert a.h("accept-ranges") == "bytes"

    h = curl(url, head=True)
    assert h.status == 200, h
    # curl -I writes the header block to -o: nothing may follow it
    assert h.body.startswith(b"HTTP/1.1 200") and h.body.endswith(b"\r\n\r\n"), h
    assert h.body.count(b"\r\n\r\n") == 1
    assert h.h("content-length") == str(len(data))
    assert h.h("etag") == a.h("etag")

    n = len(data)
    for rng, lo, hi in (("bytes=0-99", 0, 99), ("bytes=1000-1999", 1000, 1999),
                        ("bytes=%d-" % (n - 100), n - 100, n - 1), ("bytes=-100", n - 100, n - 1),
                        ("bytes=%d-%d" % (n - 10, n + 1000), n - 10, n - 1),
                        ("bytes=-%d" % (n + 5), 0, n - 1)):
        r = curl(url, headers=["Range: " + rng])
        assert r.status == 206, (rng, r)
        assert r.body == data[lo:hi + 1], rng
        assert r.h("content-range") == "bytes %d-%d/%d" % (lo, hi, n), rng
        assert r.h("content-length") == str(hi - lo + 1)
    for rng in ("bytes=%d-" % n, "bytes=%d-%d" % (n + 10, n + 20), "bytes=-0"):
        r = curl(url, headers=["Range: " + rng])
        assert r.status == 416, (rng, r)
        assert r.h("content-range") == "bytes */%d" % n
    # several ranges, another unit, a malformed one: the whole object
    for rng in ("bytes=0-9,20-29", "items=0-5", "bytes=9-3", "bytes=abc"):
        r = curl(url, headers=["Range: " + rng])
        assert r.status == 200, (rng, r)
        assert r.body == data, rng

    # an empty object; a key that needs encoding; a tenant behind a prefix
    write_file(o.p("acme", "empty"), b"")
    r = curl(presign(o, "acme/empty"))
    assert (r.status, r.body, r.h("content-length")) == (200, b"", "0")
    assert curl(presign(o, "acme/empty"), headers=["Range: bytes=0-"]).status == 416
    odd = "dir/a b+ü%41?#.txt"
    write_file(o.p("acme", odd), b"odd key")
    u = presign(o, "acme/" + odd)
    assert "%25" in u and "%20" in u
    assert curl(u).body == b"odd key"
    write_file(o.p("globex", "g.txt"), b"globex data")
    u = presign(o, "globex/g.txt")
    assert "/shared-bucket/tenants/globex/g.txt?" in u
    assert curl(u).body == b"globex data"

    # missing object, a directory, the tenant root: 404
    assert curl(presign(o, "acme/nope")).status == 404
    assert curl(presign(o, "acme/dir")).status == 404
    assert curl(sign(o, "GET", "acme-uploads", "dir/")).status in (403, 404)
    o.stop()
