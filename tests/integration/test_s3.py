"""The s3 provider against a real, signature-checking S3 server (s3rver).

What lands in the bucket is checked with other clients: botocore (o.store)
and the aws command line; presigned URLs are fetched with curl.
"""

import json
import os
import subprocess
import time

import pytest

from conftest import (BUILD, read_file, sha256, wait_until, write_file)

CTL = os.path.join(BUILD, "objfs-ctl")


def ctl(o, *args, env=None, check=True):
    """objfs-ctl --direct: straight against the providers, no daemon needed."""
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run([CTL, "--config", o.config_path, "--direct"] + list(args),
                       capture_output=True, timeout=60, env=e)
    if check and r.returncode != 0:
        raise AssertionError("objfs-ctl %s: %d %s" % (args, r.returncode,
                                                      r.stderr.decode(errors="replace")))
    return r


def curl(*args):
    return subprocess.run(["curl", "-s", "-o", "/dev/stdout", "-w", "\n%{http_code}"] +
                          list(args), capture_output=True, timeout=60)


def curl_status(r):
    return int(r.stdout.rsplit(b"\n", 1)[1])


def curl_body(r):
    return r.stdout.rsplit(b"\n", 1)[0]


def test_round_trip_sizes_and_metadata(s3fs):
    o = s3fs
    os.makedirs(o.p("acme", "dir"))
    files = {
        "empty": b"",
        "one": b"x",
        "dir/small.txt": os.urandom(100 * 1024),
        # over the multipart threshold (16 MiB by default): parallel parts
        "dir/big.bin": os.urandom(21 * 1024 * 1024 + 17),
    }
    for rel, data in files.items():
        write_file(o.p("acme", rel), data)
    os.chmod(o.p("acme", "dir/small.txt"), 0o640)
    for rel, data in files.items():
        obj = o.wait_landed("acme", rel, data)
        assert obj.size == len(data)
    small = o.stored("acme", "dir/small.txt")
    assert int(small.user_meta["mode"]) & 0o7777 == 0o640
    assert "mtime" in small.user_meta and "uid" in small.user_meta
    assert small.content_type == "text/plain"
    # a cold cache reads everything back from the bucket
    o.stop()
    o.restart(empty_cache=True)
    for rel, data in files.items():
        assert sha256(read_file(o.p("acme", rel))) == sha256(data), rel
    assert os.stat(o.p("acme", "dir/small.txt")).st_mode & 0o7777 == 0o640
    assert sorted(os.listdir(o.p("acme", "dir"))) == ["big.bin", "small.txt"]


def test_awscli_sees_what_the_mount_wrote_and_the_reverse(s3fs, tmp_path):
    o = s3fs
    bucket, _ = o.location("acme")
    data = os.urandom(300 * 1024)
    write_file(o.p("acme", "from mount+1%.bin"), data)
    os.utime(o.p("acme", "from mount+1%.bin"), (1600000000, 1600000000))
    o.wait_landed("acme", "from mount+1%.bin", data)
    out = tmp_path / "got"
    o.s3.aws("s3", "cp", "s3://%s/from mount+1%%.bin" % bucket, str(out))
    assert sha256(out.read_bytes()) == sha256(data)
    head = json.loads(o.s3.aws("s3api", "head-object", "--bucket", bucket, "--key",
                               "from mount+1%.bin").stdout)
    assert head["Metadata"]["mtime"] == "1600000000"
    assert int(head["Metadata"]["mode"]) == 0o100644
    # written by awscli: appears in the mount with default attributes
    src = tmp_path / "src.dat"
    src.write_bytes(b"hello from awscli\n")
    o.s3.aws("s3", "cp", str(src), "s3://%s/sub dir/ü.txt" % bucket)
    # never looked up before: found on first access
    assert read_file(o.p("acme", "sub dir", "ü.txt")) == b"hello from awscli\n"
    st = os.stat(o.p("acme", "sub dir", "ü.txt"))
    assert st.st_mode & 0o777 == 0o644 and st.st_size == 18


def test_rename_and_chmod_are_server_side(s3fs):
    o = s3fs
    os.makedirs(o.p("acme", "d", "e"))
    payload = {}
    for i in range(12):
        payload["d/e/f%02d" % i] = os.urandom(1000 + i)
    for rel, data in payload.items():
        write_file(o.p("acme", rel), data)
    for rel, data in payload.items():
        o.wait_landed("acme", rel, data)
    off = o.log_offset()
    os.rename(o.p("acme", "d"), o.p("acme", "moved"))
    for rel, data in payload.items():
        new = "moved/" + rel[2:]
        assert read_file(o.p("acme", new)) == data
        o.wait_landed("acme", new, data)
        o.wait_gone("acme", rel)
    ops = o.ops(off)
    assert ops["copy"] >= 12 and ops["put"] == 0, ops
    off = o.log_offset()
    os.chmod(o.p("acme", "moved/e/f00"), 0o600)
    os.utime(o.p("acme", "moved/e/f00"), (1500000000, 1500000000))
    wait_until(lambda: int(o.stored("acme", "moved/e/f00").user_meta["mode"]) & 0o777 == 0o600
               and o.stored("acme", "moved/e/f00").user_meta["mtime"] == "1500000000",
               20, what="metadata update to land")
    assert o.store.read(o.location("acme")[0], "moved/e/f00") == payload["d/e/f00"]
    assert o.ops(off)["put"] == 0


def test_listing_pages_and_delete_batches(s3fs):
    """More keys than one page (1,000) list right and are all deleted."""
    o = s3fs
    bucket, _ = o.location("acme")
    c = o.store.c
    n = 2100
    for i in range(n):
        c.put_object(Bucket=bucket, Key="many/k%05d" % i, Body=b"")
    names = os.listdir(o.p("acme", "many"))
    assert len(names) == n and sorted(names) == ["k%05d" % i for i in range(n)]
    subprocess.run(["rm", "-rf", o.p("acme", "many")], check=True, timeout=120)
    assert o.store.keys(bucket, "many/") == []


def test_two_mounts_close_to_open(s3_factory):
    a = s3_factory({"objfs": {"dir_ttl": "1", "attr_ttl": "1", "negative_ttl": "1",
                              "revalidate_ms": "0"}}).start()
    b = s3_factory({"objfs": {"dir_ttl": "1", "attr_ttl": "1", "negative_ttl": "1",
                              "revalidate_ms": "0"}}).start()
    write_file(a.p("acme", "shared.txt"), b"version one")
    a.wait_landed("acme", "shared.txt", b"version one")
    time.sleep(1.2)
    assert read_file(b.p("acme", "shared.txt")) == b"version one"
    write_file(b.p("acme", "shared.txt"), b"version two, longer")
    b.wait_landed("acme", "shared.txt", b"version two, longer")
    time.sleep(1.2)
    assert read_file(a.p("acme", "shared.txt")) == b"version two, longer"
    write_file(b.p("acme", "other.txt"), b"x")
    b.wait_landed("acme", "other.txt", b"x")
    wait_until(lambda: "other.txt" in os.listdir(a.p("acme")), 10,
               what="b's file in a's listing")


def test_presigned_urls_with_curl(s3fs, tmp_path):
    o = s3fs
    write_file(o.p("acme", "doc.txt"), b"presigned content")
    o.wait_landed("acme", "doc.txt", b"presigned content")
    r = o.ctl("presign", "acme/doc.txt")            # through the daemon's socket
    assert r.returncode == 0, r.stderr
    url = r.stdout.strip()
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=900" in url
    r = curl(url)
    assert curl_status(r) == 200 and curl_body(r) == b"presigned content"
    r = curl("-H", "Range: bytes=4-8", url)
    assert curl_status(r) == 206 and curl_body(r) == b"igned"
    # tampered: another key, or another signature
    assert curl_status(curl(url.replace("doc.txt", "doc.txz"))) == 403
    sig = url.rsplit("X-Amz-Signature=", 1)[1]
    bad = url.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    assert curl_status(curl(bad)) == 403
    # expired: signed an hour ago for 60 s (--direct: only our own clock moves)
    old = ctl(o, "presign", "--ttl", "60", "acme/doc.txt",
              env={"OBJFS_CTL_CLOCK_OFFSET": "-3600"}).stdout.decode().strip()
    assert curl_status(curl(old)) == 403
    # PUT through a presigned URL, then read through the mount
    r = o.ctl("presign", "--method", "PUT", "acme/up/new.bin")
    assert r.returncode == 0, r.stderr
    put = r.stdout.strip()
    body = tmp_path / "body"
    body.write_bytes(os.urandom(5000))
    r = curl("-X", "PUT", "-T", str(body), put)
    assert curl_status(r) == 200, r.stdout
    assert read_file(o.p("acme", "up", "new.bin")) == body.read_bytes()
    # bad TTLs are refused
    for ttl in ("0", "604801", "-5", "abc"):
        r = o.ctl("presign", "--ttl", ttl, "acme/doc.txt")
        assert r.returncode == 2 and "ttl" in r.stderr


def test_wrong_secret_fails_clearly_without_leaking_it(s3_factory):
    o = s3_factory(secret="definitely-Wrong-Secret-123")
    with pytest.raises(Exception) as ei:
        o.start()
    msg = str(ei.value) + o.log_text()
    assert "SignatureDoesNotMatch" in msg or "403" in msg
    assert "definitely-Wrong-Secret-123" not in msg
    r = ctl(o, "health", check=False)
    assert r.returncode == 1 and b"auth-failed" in r.stdout
    assert b"definitely-Wrong-Secret-123" not in r.stdout + r.stderr


def test_health_tells_states_apart(s3fs):
    o = s3fs
    r = o.ctl("health")                             # the daemon's view
    assert r.returncode == 0 and "acme" in r.stdout and ": ok" in r.stdout, r
    # the daemon's clock cannot be moved: skew is seen from --direct
    r = ctl(o, "health", env={"OBJFS_CTL_CLOCK_OFFSET": "7200"}, check=False)
    assert r.returncode == 1 and b"clock-skew" in r.stdout, r.stdout
    o.s3.aws("s3", "rb", "s3://%s" % o.location("globex")[0], "--force")
    # the daemon caches probes for 2 s
    r = wait_until(lambda: (lambda x: x if x.returncode == 1 else None)(o.ctl("health")), 10,
                   what="the daemon's health to notice the missing bucket")
    assert "no-bucket" in r.stdout, r.stdout
    o.stop()
    o.s3.kill()
    r = ctl(o, "health", check=False)
    assert r.returncode == 1 and b"unreachable" in r.stdout, r.stdout


@pytest.mark.watchdog(240)
def test_server_paused_and_restarted_mid_upload(s3_factory):
    o = s3_factory({"objfs": {"multipart_threshold": "5M", "chunk_size": "4M"}}).start()
    data = os.urandom(40 * 1024 * 1024)
    small = {("s%d" % i): os.urandom(2000 + i) for i in range(5)}
    # the listing is cached complete, so new names need no request
    assert os.listdir(o.p("acme")) == []
    write_file(o.p("acme", "big.bin"), data)     # closed: the upload starts
    o.s3.pause()
    try:
        for k, v in small.items():
            write_file(o.p("acme", k), v)        # closed while the store is stopped
        time.sleep(30)
    finally:
        o.s3.resume()
    o.wait_landed("acme", "big.bin", data, timeout=120)
    for k, v in small.items():
        o.wait_landed("acme", k, v, timeout=60)
    # killed and restarted on the same port and data
    data2 = os.urandom(12 * 1024 * 1024)
    o.s3.kill()
    write_file(o.p("acme", "big2.bin"), data2)
    time.sleep(3)
    o.s3.start()
    o.store.reset()
    o.wait_landed("acme", "big2.bin", data2, timeout=120)
    assert sha256(read_file(o.p("acme", "big.bin"))) == sha256(data)


@pytest.mark.watchdog(600)
def test_multi_gib_sparse_file_round_trips(s3_factory):
    o = s3_factory({"objfs": {"chunk_size": "16M", "staging_max_bytes": "256M"}}).start()
    off = (2 << 30) + 12345       # past 2 GiB
    with open(o.p("acme", "sparse.bin"), "wb") as f:
        f.write(b"head")
        f.seek(off)
        f.write(b"tail-marker")
    obj = o.wait_landed("acme", "sparse.bin", timeout=500)
    wait_until(lambda: o.stored("acme", "sparse.bin").size == off + 11, 500,
               what="the whole sparse file to land")
    bucket, _ = o.location("acme")
    r = o.store.c.get_object(Bucket=bucket, Key="sparse.bin",
                             Range="bytes=%d-%d" % (off - 2, off + 10))
    assert r["Body"].read() == b"\0\0tail-marker"
    o.restart(empty_cache=True)
    with open(o.p("acme", "sparse.bin"), "rb") as f:
        assert f.read(4) == b"head"
        f.seek(off - 2)
        assert f.read(20) == b"\0\0tail-marker"
    assert os.stat(o.p("acme", "sparse.bin")).st_size == off + 11
    del obj


def test_tenant_storage_class_sse_and_acl_are_sent(s3_factory):
    """Per-tenant defaults travel, signed, with every object written (s3rver
    keeps the storage class; it accepts and ignores SSE-S3 and ACL headers)."""
    o = s3_factory({"tenant acme": {"storage_class": "REDUCED_REDUNDANCY", "sse": "AES256",
                                    "acl": "private"}}).start()
    data = os.urandom(7000)
    write_file(o.p("acme", "classy.bin"), data)
    o.wait_landed("acme", "classy.bin", data)
    bucket, _ = o.location("acme")
    h = o.store.c.head_object(Bucket=bucket, Key="classy.bin")
    assert h.get("StorageClass") == "REDUCED_REDUNDANCY", h
    # globex has no defaults: nothing sent
    write_file(o.p("globex", "plain.bin"), data)
    o.wait_landed("globex", "plain.bin", data)
    gb, gp = o.location("globex")
    h = o.store.c.head_object(Bucket=gb, Key=gp + "plain.bin")
    assert h.get("StorageClass", "STANDARD") == "STANDARD", h
