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


# -- PUT -----------------------------------------------------------------------

def test_put_roundtrip(objfs_factory, tmp_path):
    audit = str(tmp_path / "audit.log")
    o = objfs_factory({"objfs": {"audit_log": audit}}).start()
    tmp = str(tmp_path)

    data = os.urandom(MiB + 123)
    a = put_bytes(presign(o, "acme/up/new.bin", method="PUT"), data, tmp)
    assert a.status == 200, a
    assert a.h("etag") and a.h("etag").startswith('"')
    assert read_file(o.p("acme", "up", "new.bin")) == data
    o.wait_landed("acme", "up/new.bin", data)
    # and back out through a GET URL
    assert curl(presign(o, "acme/up/new.bin")).body == data

    # 0 bytes; 20 MiB; new directories on the way
    a = put_bytes(presign(o, "acme/up/empty", method="PUT"), b"", tmp)
    assert a.status == 200, a
    assert os.path.getsize(o.p("acme", "up", "empty")) == 0
    o.wait_landed("acme", "up/empty", b"")
    big = os.urandom(20 * MiB)
    a = put_bytes(presign(o, "acme/deep/er/big.bin", method="PUT"), big, tmp)
    assert a.status == 200, a
    assert sha256(read_file(o.p("acme", "deep", "er", "big.bin"))) == sha256(big)
    o.wait_landed("acme", "deep/er/big.bin", big, timeout=60)

    # overwriting with something shorter leaves exactly the new bytes
    a = put_bytes(presign(o, "acme/up/new.bin", method="PUT"), b"short", tmp)
    assert a.status == 200, a
    assert read_file(o.p("acme", "up", "new.bin")) == b"short"
    o.wait_landed("acme", "up/new.bin", b"short")

    # chunked body (no Content-Length); a prefixed tenant
    path = os.path.join(tmp, "chunked")
    write_file(path, b"c" * 70000)
    a = curl(presign(o, "globex/ch.bin", method="PUT"), upload=path,
             headers=["Transfer-Encoding: chunked"])
    assert a.status == 200, a
    assert read_file(o.p("globex", "ch.bin")) == b"c" * 70000
    o.wait_landed("globex", "ch.bin", b"c" * 70000)
    assert o.store.exists("shared-bucket", "tenants/globex/ch.bin")

    # a directory is in the way: 409, nothing changes
    os.makedirs(o.p("acme", "adir"))
    assert put_bytes(presign(o, "acme/adir", method="PUT"), b"x", tmp).status == 409
    assert os.path.isdir(o.p("acme", "adir"))
    assert tmp_entries(o) == []

    recs = [r for r in audit_lines(audit) if r.get("op") == "presign-put"]
    ok = [(r["tenant"], r["path"]) for r in recs if r["result"] == "ok"]
    for want in (("acme", "up/new.bin"), ("acme", "up/empty"), ("acme", "deep/er/big.bin"),
                 ("globex", "ch.bin")):
        assert want in ok, recs
    assert all(r.get("detail") == "remote=127.0.0.1" for r in recs), recs
    assert any(r["path"] == "adir" and r["result"] == "EISDIR" for r in recs), recs
    o.stop()


def test_put_limits(objfs_factory, tmp_path):
    """max_object_size (413) and quota (507): refused before the old object changes."""
    o = objfs_factory({"tenant acme": {"max_object_size": "1M"},
                       "tenant globex": {"quota_bytes": "1M"}}).start()
    tmp = str(tmp_path)
    write_file(o.p("acme", "keep"), b"old acme")
    write_file(o.p("globex", "keep"), b"old globex")
    o.wait_landed("acme", "keep", b"old acme")
    o.wait_landed("globex", "keep", b"old globex")
    two = os.urandom(2 * MiB)

    # with Content-Length: refused before the body
    a = put_bytes(presign(o, "acme/keep", method="PUT"), two, tmp)
    assert a.status == 413, a
    # chunked: refused when the body passes the limit
    path = os.path.join(tmp, "two")
    write_file(path, two)
    a = curl(presign(o, "acme/keep", method="PUT"), upload=path,
             headers=["Transfer-Encoding: chunked"])
    assert a.status == 413, a
    assert read_file(o.p("acme", "keep")) == b"old acme"
    # exactly the limit is fine
    one = os.urandom(MiB)
    assert put_bytes(presign(o, "acme/one", method="PUT"), one, tmp).status == 200
    o.wait_landed("acme", "one", one)

    # quota: 507, the existing object keeps its bytes, a new one does not appear
    a = put_bytes(presign(o, "globex/keep", method="PUT"), two, tmp)
    assert a.status == 507, a
    assert read_file(o.p("globex", "keep")) == b"old globex"
    a = put_bytes(presign(o, "globex/new", method="PUT"), two, tmp)
    assert a.status == 507, a
    assert not os.path.exists(o.p("globex", "new"))
    o.wait_log_quiet()
    assert not o.store.exists("shared-bucket", "tenants/globex/new")
    assert o.stored("globex", "keep").read() == b"old globex"
    assert tmp_entries(o) == []
    o.stop()


def test_put_cut_off(objfs_factory, tmp_path):
    """A client that goes away mid-body leaves no object and no file."""
    audit = str(tmp_path / "audit.log")
    o = objfs_factory({"objfs": {"audit_log": audit}}).start()
    write_file(o.p("acme", "old"), b"old content")
    o.wait_landed("acme", "old", b"old content")
    host, port = o.config["provider local"]["listen"].rsplit(":", 1)

    for rel in ("cut", "old"):
        u = urllib.parse.urlsplit(presign(o, "acme/" + rel, method="PUT"))
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(("PUT %s?%s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n"
                       % (u.path, u.query, u.netloc, 4 * MiB)).encode())
            s.sendall(os.urandom(300000))
            time.sleep(0.3)
        # the server sees the close and drops the request
        wait_until(lambda: any(r.get("path") == rel and r.get("result") == "ECONNABORTED"
                               for r in audit_lines(audit)), 10,
                   what="the aborted PUT of %s in the audit log" % rel)
    assert not os.path.exists(o.p("acme", "cut"))
    assert read_file(o.p("acme", "old")) == b"old content"
    assert tmp_entries(o) == []
    o.wait_log_quiet()
    assert not o.store.exists("acme-uploads", "cut")
    assert o.stored("acme", "old").read() == b"old content"
    # the listener still answers
    assert curl(presign(o, "acme/old")).body == b"old content"

    # a client still in the middle of a body does not hold up a stop
    u = urllib.parse.urlsplit(presign(o, "acme/slow", method="PUT"))
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(("PUT %s?%s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n"
                   % (u.path, u.query, u.netloc, 4 * MiB)).encode())
        s.sendall(b"x" * 1000)
        time.sleep(0.3)
        t0 = time.monotonic()
        assert o.terminate(timeout=60) == 0
        assert time.monotonic() - t0 < 30
    o.start()
    assert not os.path.exists(o.p("acme", "slow"))
    assert not o.store.exists("acme-uploads", "slow")
    assert tmp_entries(o) == []
    o.stop()


# -- refusals -------------------------------------------------------------------

def test_refusals(objfs_factory, tmp_path):
    o = objfs_factory().start()
    tmp = str(tmp_path)
    write_file(o.p("acme", "f.txt"), b"acme data")
    write_file(o.p("initech", "secret.txt"), b"initech secret")
    write_file(o.p("globex", "g.txt"), b"globex data")
    get = presign(o, "acme/f.txt")
    put = presign(o, "acme/f.txt", method="PUT")
    assert curl(get).body == b"acme data"

    def refused(a, status=403, what=""):
        assert a.status == status, (what, a)
        assert b"acme data" not in a.body and b"initech secret" not in a.body, (what, a)

    flip = lambda v: v[:-1] + ("0" if v[-1] != "0" else "1")   # noqa: E731
    refused(curl(tamper(get, "X-Objfs-Signature", flip)), what="signature")
    refused(curl(tamper(get, "X-Objfs-Signature", lambda v: v[:40])), what="short signature")
    refused(curl(tamper(get, "X-Objfs-Expires", lambda v: str(int(v) + 1))), what="expiry")
    refused(curl(tamper(get, "X-Objfs-Method", lambda v: "PUT")), what="method param")
    refused(curl(with_path(get, "/acme-uploads/f.txx")), what="key")
    refused(curl(with_path(get, "/shared-bucket/f.txt")), what="bucket")
    refused(curl(get.split("?")[0]), what="no parameters")
    refused(curl(get + "&X-Objfs-Method=PUT"), what="repeated parameter")
    # another method than the signed one
    refused(put_bytes(get, b"evil", tmp), what="PUT with a GET URL")
    refused(curl(put), what="GET with a PUT URL")
    refused(curl(put, head=True), what="HEAD with a PUT URL")
    refused(curl(get, method="DELETE"), what="DELETE")
    refused(curl(get, method="POST"), what="POST")
    assert read_file(o.p("acme", "f.txt")) == b"acme data"

    # expired
    short = presign(o, "acme/f.txt", ttl=1)
    time.sleep(2.1)
    a = curl(short)
    refused(a, what="expired")
    assert b"expired" in a.body

    # walking out of a tenant by editing a URL: the signature no longer matches
    g = presign(o, "globex/g.txt")
    for p in ("/shared-bucket/tenants/globex/../initech/secret.txt",
              "/shared-bucket/tenants/globex/%2e%2e/initech/secret.txt",
              "/shared-bucket/tenants/globex/%2E%2E%2Finitech%2Fsecret.txt",
              "/shared-bucket/tenants/initech/secret.txt"):
        refused(curl(with_path(g, p)), what=p)
    # ... and signed walk-outs are refused by the tenant's path rules
    for p in ("globex/../initech/secret.txt", "globex/./../initech/secret.txt",
              "globex//x"):
        refused(curl(presign(o, p)), what="signed " + p)
    # decoded once: a literal "%2e%2e" segment is a name, not a way out
    u = presign(o, "globex/%2e%2e/initech/secret.txt")
    assert "%252e%252e" in u
    refused(curl(u), 404, "literal %2e%2e")
    # signed, but outside every tenant, or in a bucket no tenant uses
    refused(curl(sign(o, "GET", "shared-bucket", "tenants/other/x")), what="outside")
    refused(curl(sign(o, "GET", "shared-bucket", "tenants/initechx/secret.txt")),
            what="prefix lookalike")
    refused(curl(sign(o, "GET", "nosuch-bucket", "f.txt")), what="bucket")
    refused(put_bytes(sign(o, "PUT", "shared-bucket", "loose.txt"), b"x", tmp), what="PUT")
    assert not o.store.exists("shared-bucket", "loose.txt")

    # malformed keys: NUL, invalid UTF-8, bad escapes, over-long
    refused(curl(sign(o, "GET", "acme-uploads", "f.txt%00x", quote_key=False)), 400, "NUL")
    refused(curl(sign(o, "GET", "acme-uploads", b"f\xff.txt")), 400, "UTF-8")
    refused(curl(sign(o, "GET", "acme-uploads", "f%zz", quote_key=False)), 400, "escape")
    refused(curl(sign(o, "GET", "acme-uploads", "a/" * 520 + "x")), 400, "long")

    # a symlink in a tenant never leads out of it
    os.symlink("/etc/hostname", o.p("acme", "link"))
    os.symlink("/etc", o.p("acme", "etcdir"))
    os.symlink("f.txt", o.p("acme", "inlink"))
    for p in ("acme/link", "acme/etcdir/hostname", "acme/inlink"):
        refused(curl(presign(o, p)), 404, p)
    refused(put_bytes(presign(o, "acme/etcdir/objfs-presign-test", method="PUT"), b"x", tmp),
            409, "PUT through a symlinked directory")
    assert not os.path.exists("/etc/objfs-presign-test")
    assert curl(get).body == b"acme data"
    o.stop()


def test_read_only_tenant(objfs_factory, tmp_path):
    o = objfs_factory().start()
    write_file(o.p("initech", "r.txt"), b"read me")
    o.wait_landed("initech", "r.txt", b"read me")
    o.stop()
    o.set("tenant initech", "read_only", "true")
    o.start()
    get = presign(o, "initech/r.txt")
    assert curl(get).body == b"read me"
    # objfs-ctl will not sign a PUT here; a URL signed anyway is refused
    bucket, prefix = o.location("initech")
    a = put_bytes(sign(o, "PUT", bucket, prefix + "r.txt"), b"changed", str(tmp_path))
    assert a.status == 403, a
    assert b"read-only" in a.body
    a = put_bytes(sign(o, "PUT", bucket, prefix + "new.txt"), b"new", str(tmp_path))
    assert a.status == 403, a
    assert read_file(o.p("initech", "r.txt")) == b"read me"
    assert not os.path.exists(o.p("initech", "new.txt"))
    assert curl(get).body == b"read me"
    o.stop()


# -- start-up ------------------------------------------------------------------

def test_listen_address_in_use(objfs_factory):
    o = objfs_factory()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        addr = "127.0.0.1:%d" % s.getsockname()[1]
        o.set("provider local", "listen", addr)
        with pytest.raises(DaemonFailure):
            o.start()
    text = o.log_text()
    lines = [l for l in text.splitlines() if "cannot listen on " + addr in l]
    assert lines, text
    assert "Address already in use" in lines[0]
    assert "provider local" in lines[0]
    # the address free again: the daemon starts and serves there
    o.set("provider local", "listen", "127.0.0.1:%d" % free_port())
    o.start()
    write_file(o.p("acme", "x"), b"x")
    assert curl(presign(o, "acme/x")).body == b"x"
    o.stop()


def test_ipv6_listen(objfs_factory):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
            port = s.getsockname()[1]
    except OSError:
        pytest.skip("no ::1")
    o = objfs_factory({"provider local": {"listen": "[::1]:%d" % port}}).start()
    write_file(o.p("acme", "v6"), b"over v6")
    u = presign(o, "acme/v6")
    assert u.startswith("http://[::1]:%d/" % port), u
    assert curl(u).body == b"over v6"
    o.stop()


def test_control_socket_presign(objfs_factory):
    """A URL from the daemon's control socket (POST /v1/presign) works here too."""
    o = objfs_factory().start()
    write_file(o.p("acme", "c.txt"), b"via the socket")
    r = o.ctl("presign", "acme/c.txt")
    if r.returncode != 0 and "not implemented" in r.stderr:
        pytest.skip("objfs-ctl has no control-socket presign yet: " + r.stderr.strip())
    assert r.returncode == 0, r.stderr
    url = r.stdout.strip()
    assert curl(url).body == b"via the socket"
    r = o.ctl("presign", "--method", "PUT", o.p("acme", "d.txt"))
    assert r.returncode == 0, r.stderr
    path = o.p("acme", "c.txt")   # any local file will do as the body
    a = curl(r.stdout.strip(), upload=path)
    assert a.status == 200, a
    assert read_file(o.p("acme", "d.txt")) == b"via the socket"
    o.stop()


def test_parallel_clients(objfs_factory, tmp_path):
    """Several PUTs and GETs at once (a thread per connection)."""
    import concurrent.futures
    o = objfs_factory().start()
    tmp = str(tmp_path)
    blobs = {"p%d" % i: os.urandom(200000 + i * 7919) for i in range(12)}
    urls = {k: presign(o, "acme/par/" + k, method="PUT") for k in blobs}

    def put(k):
        d = os.path.join(tmp, k)
        os.makedirs(d)
        return put_bytes(urls[k], blobs[k], d).status
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        assert list(ex.map(put, sorted(blobs))) == [200] * len(blobs)
    gets = {k: presign(o, "acme/par/" + k) for k in blobs}
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        got = dict(zip(sorted(blobs), ex.map(lambda k: curl(gets[k]).body, sorted(blobs))))
    assert got == blobs
    for k, v in blobs.items():
        o.wait_landed("acme", "par/" + k, v)
    o.stop()
