"""The s3 provider behind a fault-injecting proxy (faultproxy.py).

objfs talks to the S3 server (s3rver) through a proxy that answers chosen
requests with 5xx/429 errors, resets connections, delays, truncates bodies,
sends broken XML, or performs a request and then drops the answer.  Every
test checks that what was written lands intact in the bucket (read directly
from the server with botocore, by SHA-256), that it reads back right
through the mount, and that each fault really fired; the fixture fails the
test if the daemon dies or prints a sanitizer report.

The HTTP client retries 5 times (backoff below a second in all) and the
write-back retries a failed upload after 0.5-2 s, so the faults here are
either fewer than the HTTP attempts (absorbed by the client) or land on
operations whose failure the write-back repairs.
"""

import errno
import json
import os
import re
import time

import pytest

from conftest import TIMEOUT_SCALE, read_file, s3_sections, sha256, wait_until, write_file
from faultproxy import FaultProxy

MIB = 1024 * 1024
# chunk_size must be a power of two; parts are whole chunks of at least 5 MiB
MPU = {"multipart_threshold": "5M", "chunk_size": "1M"}


def part(n):
    """A regex matching the query of UploadPart number n (and no other)."""
    return re.compile(r"[?&]partNumber=%d(&|$)" % n)


@pytest.fixture
def proxy(s3server):
    p = FaultProxy("127.0.0.1", s3server.port).start()
    yield p
    p.close()
    # the proxy failing to reach s3rver would make a test mean something else
    upstream = [e for e in p.errors if e.startswith("upstream")]
    assert not upstream, "proxy could not forward: %s" % upstream[:5]


@pytest.fixture
def fault_factory(objfs_factory, s3server, proxy, tmp_path):
    """Like s3_factory, with the endpoint at the proxy; o.store talks to the
    server directly, o.proxy is the proxy."""
    from s3server import S3Store
    n = [0]
    made = []

    def make(objfs=None, tenants=None, **kw):
        n[0] += 1
        secs = s3_sections(s3server, str(tmp_path / ("cred%d" % n[0])))
        secs["provider main"]["endpoint"] = proxy.endpoint
        secs["objfs"].update(objfs or {})
        for name, conf in (tenants or {}).items():
            secs["tenant " + name] = conf
        o = objfs_factory(secs, **kw)
        o.store = S3Store(s3server)
        o.s3 = s3server
        o.proxy = proxy
        made.append(o)
        return o
    yield make
    # unmount (draining uploads) while the proxy still runs; objfs_factory
    # reports what went wrong at its own teardown
    for o in made:
        o.close()


def diag(o):
    return "\nproxy events:\n%s\nproxy errors: %s\ndaemon log:\n%s" % (
        o.proxy.event_lines(40), list(o.proxy.errors)[-10:], o.log_tail(40))


def fired(o, *faults):
    """Asserts each fault was applied as many times as it was planned."""
    for f in faults:
        assert f.remaining == 0, "%r did not fire as planned%s" % (f, diag(o))


def check_files(o, files, timeout=60):
    """Every file lands intact in the bucket and reads back through the mount."""
    for rel, data in files.items():
        try:
            o.wait_landed("acme", rel, data, timeout=timeout)
        except AssertionError as e:
            raise AssertionError("%s%s" % (e, diag(o)))
    # s3rver writes objects in place, so a retry still running (after an
    # answer lost once the store had acted) could rewrite a landed object
    # under the checks below: they wait until the daemon has nothing pending
    r = o.ctl("flush", "--timeout", str(int(timeout)))
    assert r.returncode == 0, "flush: %s%s" % (r.stdout + r.stderr, diag(o))
    for rel, data in files.items():
        obj = o.stored("acme", rel)
        assert obj.size == len(data) and obj.sha256() == sha256(data), rel
    for rel, data in files.items():
        assert sha256(read_file(o.p("acme", rel))) == sha256(data), rel
    o.check_alive()


def put_direct(o, rel, data):
    """Writes an object behind objfs's back (straight to the server)."""
    bucket, pfx = o.location("acme")
    o.store.put(bucket, pfx + rel, data)


def test_proxy_forwards_signed_requests_unchanged(fault_factory):
    """Sanity: through the proxy, signatures verify and nothing is faulted."""
    o = fault_factory().start()
    data = os.urandom(200 * 1024)
    write_file(o.p("acme", "plain.bin"), data)
    check_files(o, {"plain.bin": data})
    assert o.proxy.count(kind="put") >= 1
    assert o.proxy.count_faulted() == 0
    assert not any(e[4].endswith("upstream-error") for e in list(o.proxy.events))
    # the server checks signatures made for the proxy's host:port: a wrong
    # secret through the proxy is refused, the right one accepted
    import botocore.session
    from botocore.config import Config

    def client(secret):
        return botocore.session.Session().create_client(
            "s3", endpoint_url=o.proxy.endpoint, region_name="us-east-1",
            aws_access_key_id=o.s3.access_key, aws_secret_access_key=secret,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                          retries={"max_attempts": 0}))
    bucket, pfx = o.location("acme")
    r = client(o.s3.secret_key).get_object(Bucket=bucket, Key=pfx + "plain.bin")
    assert r["Body"].read() == data
    bad = client("not-the-secret")
    with pytest.raises(bad.exceptions.ClientError) as ei:
        bad.get_object(Bucket=bucket, Key=pfx + "plain.bin")
    assert ei.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_5xx_and_slowdown_on_put(fault_factory):
    o = fault_factory().start()
    p = o.proxy
    faults = [
        p.add("status", kind="put", match="/p500.bin", count=2, status=500),
        p.add("status", kind="put", match="/p503.bin", count=2, status=503, code="SlowDown"),
        p.add("status", kind="put", match="/p429.bin", count=1, status=429, code="SlowDown",
              retry_after=1),
        p.add("status", kind="put", match="/p502.bin", count=3, status=502),
    ]
    files = {name: os.urandom(50 * 1024 + i) for i, name in
             enumerate(("p500.bin", "p503.bin", "p429.bin", "p502.bin"))}
    for rel, data in files.items():
        write_file(o.p("acme", rel), data)
    check_files(o, files)
    fired(o, *faults)
    # each faulted PUT was sent again
    assert p.count(kind="put") >= len(files) + 8


def test_5xx_on_multipart_create_parts_and_complete(fault_factory):
    o = fault_factory(MPU).start()
    p = o.proxy
    faults = [
        p.add("status", kind="create-multipart", count=1, status=503, code="SlowDown"),
        p.add("status", kind="upload-part", match=part(2), count=2, status=500),
        p.add("status", kind="upload-part", match=part(3), count=1, status=429,
              code="SlowDown"),
        p.add("status", kind="complete-multipart", count=2, status=503),
    ]
    data = os.urandom(12 * MIB + 333)          # parts 5 + 5 + 2 MiB
    write_file(o.p("acme", "mp.bin"), data)
    check_files(o, {"mp.bin": data})
    fired(o, *faults)
    assert p.count(kind="upload-part") >= 3 + 3
    assert p.count(kind="complete-multipart") >= 3


def test_5xx_on_list_and_get(fault_factory):
    o = fault_factory().start()
    p = o.proxy
    files = {"ldir/f%d" % i: os.urandom(300 * 1024 + i) for i in range(3)}
    for rel, data in files.items():
        put_direct(o, rel, data)
    lf = [p.add("status", kind="list", count=2, status=503, code="SlowDown"),
          p.add("status", kind="list", count=1, status=500),
          p.add("status", kind="head", count=2, status=503)]
    assert sorted(os.listdir(o.p("acme", "ldir"))) == ["f0", "f1", "f2"]
    for rel, data in files.items():
        assert os.stat(o.p("acme", rel)).st_size == len(data)
    fired(o, *lf)
    gf = [p.add("status", kind="get", count=2, status=500),
          p.add("status", kind="get", count=1, status=429, code="SlowDown"),
          p.add("status", kind="get", count=1, status=503)]
    for rel, data in files.items():
        assert sha256(read_file(o.p("acme", rel))) == sha256(data), rel
    fired(o, *gf)
    o.check_alive()


def test_faults_on_the_second_page_of_a_listing(fault_factory):
    """ListObjectsV2 pages (1,000 keys) continue with a signed continuation
    token; faults on the second page are retried, the listing is whole."""
    from concurrent.futures import ThreadPoolExecutor
    o = fault_factory().start()
    p = o.proxy
    bucket, pfx = o.location("acme")
    names = ["k%05d" % i for i in range(1005)]
    c = o.store.c
    with ThreadPoolExecutor(4) as ex:     # s3rver is one node process
        list(ex.map(lambda n: c.put_object(Bucket=bucket, Key=pfx + "pages/" + n, Body=b""),
                    names))
    faults = [p.add("status", kind="list", match="continuation-token=", count=2, status=503,
                    code="SlowDown"),
              p.add("reset", kind="list", match="continuation-token=", count=1),
              p.add("truncate", kind="list", match="continuation-token=", count=1)]
    assert sorted(os.listdir(o.p("acme", "pages"))) == names
    fired(o, *faults)
    o.check_alive()


def test_connection_resets_on_put_and_get(fault_factory):
    o = fault_factory({"chunk_size": "1M"}).start()
    p = o.proxy
    pf = p.add("reset", kind="put", count=3)
    files = {"r%d.bin" % i: os.urandom(2 * MIB + 17 * i) for i in range(2)}
    for rel, data in files.items():
        write_file(o.p("acme", rel), data)
    check_files(o, files)
    fired(o, pf)
    # a cold cache: every read is a ranged GET from the bucket
    o.restart(empty_cache=True)
    gf = [p.add("reset", kind="get", count=2),
          p.add("reset", kind="get", match="r1.bin", count=2)]
    n0 = p.count(kind="get")
    for rel, data in files.items():
        with open(o.p("acme", rel), "rb") as f:
            f.seek(MIB + 5)
            assert f.read(1000) == data[MIB + 5:MIB + 1005], rel
            f.seek(0)
            assert sha256(f.read()) == sha256(data), rel
    fired(o, *gf)
    assert p.count(kind="get") > n0 + 4
    o.check_alive()


@pytest.mark.parametrize("read_cache", ["auto", "never"])
def test_truncated_get_bodies_are_retried(fault_factory, read_cache):
    """Through the read cache (blocks) and without it (reads straight into
    the caller's buffer): a cut body is fetched again, never returned short."""
    o = fault_factory({"chunk_size": "1M", "read_cache": read_cache}).start()
    p = o.proxy
    data = os.urandom(3 * MIB + 4321)
    small = os.urandom(10000)
    put_direct(o, "t/big.bin", data)
    put_direct(o, "t/small.bin", small)
    tf = [p.add("truncate", kind="get", match="big.bin", count=3),
          p.add("truncate", kind="get", match="small.bin", count=2)]
    assert read_file(o.p("acme", "t", "small.bin")) == small
    got = bytearray()
    with open(o.p("acme", "t", "big.bin"), "rb") as f:
        for _ in range(1000):
            b = f.read(256 * 1024)
            if not b:
                break
            got += b
    assert len(got) == len(data) and sha256(bytes(got)) == sha256(data)
    fired(o, *tf)
    assert all(ev[5] in (200, 206) for ev in list(p.events) if ev[4] == "truncate")
    o.check_alive()


def test_malformed_listing_fails_with_eio_then_recovers(fault_factory):
    o = fault_factory().start()
    p = o.proxy
    for name in ("a", "b"):
        put_direct(o, "mdir/" + name, b"content " + name.encode())
    mf = p.add("malformed", kind="list", count=None)     # persistent
    t0 = time.monotonic()
    for _ in range(2):
        with pytest.raises(OSError) as ei:
            names = os.listdir(o.p("acme", "mdir"))
            assert "ghost-object" not in names
        assert ei.value.errno == errno.EIO, ei.value
    assert mf.applied >= 2
    # bounded: a malformed answer is not retried forever
    assert mf.applied < 50 and time.monotonic() - t0 < 30 * TIMEOUT_SCALE, diag(o)
    o.check_alive()
    p.clear()
    assert sorted(os.listdir(o.p("acme", "mdir"))) == ["a", "b"]
    assert read_file(o.p("acme", "mdir", "a")) == b"content a"
    # a single broken answer is asked for again, not passed on
    put_direct(o, "mdir2/c", b"c")
    once = p.add("malformed", kind="list", count=1)
    assert sorted(os.listdir(o.p("acme", "mdir2"))) == ["c"]
    assert once.applied == 1
    o.check_alive()


def test_malformed_complete_multipart(fault_factory):
    """Broken answers to CompleteMultipartUpload, the request not performed
    (cm1) or performed (cm2), and a 200 carrying an <Error> (cm3, which S3
    documents for complete): retried, never a corrupt object."""
    o = fault_factory(MPU).start()
    p = o.proxy
    mf1 = p.add("malformed", kind="complete-multipart", match="/cm1.bin", count=2)
    mf2 = p.add("malformed", kind="complete-multipart", match="/cm2.bin", count=1,
                forward=True)
    mf3 = p.add("malformed", kind="complete-multipart", match="/cm3.bin", count=2,
                body=b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError'
                     b'</Code><Message>We encountered an internal error. Please try again.'
                     b'</Message><RequestId>X</RequestId></Error>')
    files = {"cm1.bin": os.urandom(11 * MIB + 1), "cm2.bin": os.urandom(10 * MIB + 7),
             "cm3.bin": os.urandom(6 * MIB + 5)}
    for rel, data in files.items():
        write_file(o.p("acme", rel), data)
    check_files(o, files)
    fired(o, mf1, mf2, mf3)
    # cm2's complete was done by the store: the retry finds the upload gone
    # and the object already there, and does not upload it again
    creates = [ev for ev in list(p.events)     # list(): one copy, proxy threads append
               if ev[3] == "create-multipart" and "/cm2.bin" in ev[2]]
    assert len(creates) == 1, "cm2.bin uploaded %d times%s" % (len(creates), diag(o))


def test_slow_responses_still_land(fault_factory):
    o = fault_factory(MPU).start()
    p = o.proxy
    slow_read = os.urandom(70000)
    put_direct(o, "slow-read.bin", slow_read)
    df = [p.add("delay", kind="put", count=2, delay=3),
          p.add("delay", kind="upload-part", match=part(1), count=1, delay=3),
          p.add("delay", kind="get", match="slow-read", count=1, delay=3)]
    files = {"s0.txt": os.urandom(1000), "s1.txt": os.urandom(70000),
             "slow-big.bin": os.urandom(7 * MIB + 3)}
    t0 = time.monotonic()
    for rel, data in files.items():
        write_file(o.p("acme", rel), data)
    # a slow read while the uploads wait for their slow answers
    assert read_file(o.p("acme", "slow-read.bin")) == slow_read
    check_files(o, files)
    fired(o, *df)
    assert time.monotonic() - t0 >= 3


def test_store_down_for_a_while_then_back(fault_factory):
    """Failures that outlast the HTTP retries: reads fail with EIO while the
    store fails and work once it is back (the failure is not cached);
    uploads stay pending and land once it is back."""
    o = fault_factory().start()
    p = o.proxy
    data = os.urandom(1500 * 1024)
    put_direct(o, "down/r.bin", data)
    os.stat(o.p("acme", "down", "r.bin"))
    gf = p.add("status", kind="get", count=None, status=503)
    with pytest.raises(OSError) as ei:
        read_file(o.p("acme", "down", "r.bin"))
    assert ei.value.errno == errno.EIO
    assert gf.applied >= 5                       # the HTTP client retried first
    pf = p.add("status", kind="put", count=None, status=500)
    new = os.urandom(3000)
    write_file(o.p("acme", "down", "w.bin"), new)
    wait_until(lambda: pf.applied >= 10, 20 * TIMEOUT_SCALE, what="upload retries")
    assert o.stored("acme", "down/w.bin") is None
    assert read_file(o.p("acme", "down", "w.bin")) == new    # from the local copy
    p.clear()
    assert sha256(read_file(o.p("acme", "down", "r.bin"))) == sha256(data)
    check_files(o, {"down/w.bin": new, "down/r.bin": data})


def test_answer_lost_after_put_and_complete(fault_factory):
    """The store performed the request but the answer never arrived."""
    o = fault_factory(MPU).start()
    p = o.proxy
    df = [p.add("drop_after_request", kind="put", match="/lost-put", count=1),
          p.add("drop_after_request", kind="complete-multipart", match="/lost-mpu", count=1),
          p.add("drop_after_request", kind="upload-part", match=part(1), count=1)]
    files = {"lost-put.txt": os.urandom(4096), "lost-mpu.bin": os.urandom(11 * MIB + 9)}
    for rel, data in files.items():
        write_file(o.p("acme", rel), data)
    check_files(o, files)
    fired(o, *df)
    # an overwrite whose answer is lost too
    new = os.urandom(5000)
    d2 = p.add("drop_after_request", kind="put", match="/lost-put", count=1)
    write_file(o.p("acme", "lost-put.txt"), new)
    check_files(o, {"lost-put.txt": new})
    fired(o, d2)


def test_lost_answer_keeps_one_trash_version(fault_factory):
    """trash_days: an overwrite whose put (or complete) landed but whose answer
    was lost is retried; the retry finds its own bytes at the key and keeps
    only the object the overwrite replaced, once (docs/trash.md)."""
    o = fault_factory(MPU, tenants={"acme": {"trash_days": "7"}}).start()
    p = o.proxy
    small, big = b"v1" * 100, os.urandom(6 * MIB + 1)
    write_file(o.p("acme", "t.txt"), small)
    write_file(o.p("acme", "t.bin"), big)
    check_files(o, {"t.txt": small, "t.bin": big})
    new_small, new_big = b"v2" * 100, os.urandom(6 * MIB + 2)
    df = [p.add("drop_after_request", kind="put", match="/t.txt", count=1),
          p.add("drop_after_request", kind="complete-multipart", match="/t.bin", count=1)]
    write_file(o.p("acme", "t.txt"), new_small)
    write_file(o.p("acme", "t.bin"), new_big)
    check_files(o, {"t.txt": new_small, "t.bin": new_big})
    fired(o, *df)
    assert o.ctl("flush", "acme").returncode == 0
    r = o.ctl("trash", "list", "--json", "acme")
    assert r.returncode == 0, r.stderr
    ents = sorted((e["path"], e["size"]) for e in json.loads(r.stdout)["entries"])
    assert ents == [("t.bin", len(big)), ("t.txt", len(small))], (ents, diag(o))
    assert "this upload's own earlier attempt" in o.log_tail(400), diag(o)


def test_rename_with_faults_on_copy_and_delete(fault_factory):
    """A rename is a server-side copy then a delete; CopyObject can fail
    with a 200 carrying an <Error>, which S3 documents: retried."""
    o = fault_factory().start()
    p = o.proxy
    files = {"ren/a%d" % i: os.urandom(20000 + i) for i in range(3)}
    os.mkdir(o.p("acme", "ren"))
    for rel, data in files.items():
        write_file(o.p("acme", rel), data)
    check_files(o, files)
    faults = [p.add("status", kind="copy", count=2, status=503, code="SlowDown"),
              p.add("malformed", kind="copy", count=1,
                    body=b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError'
                         b'</Code><Message>Please try again.</Message></Error>'),
              p.add("reset", kind="delete", count=1),
              p.add("status", kind="delete", count=1, status=500)]
    os.rename(o.p("acme", "ren"), o.p("acme", "moved"))
    moved = {"moved/" + rel[4:]: data for rel, data in files.items()}
    check_files(o, moved)
    for rel in files:
        o.wait_gone("acme", rel)
    fired(o, *faults)


@pytest.mark.watchdog(180)
def test_large_file_with_faults_on_two_parts(fault_factory):
    o = fault_factory(dict(MPU, upload_parallel_parts="4")).start()
    p = o.proxy
    faults = [p.add("reset", kind="upload-part", match=part(2), count=2),
              p.add("status", kind="upload-part", match=part(4), count=2, status=503,
                    code="SlowDown"),
              p.add("drop_after_request", kind="upload-part", match=part(5), count=1),
              # the connection breaks while the part's body is being sent
              p.add("reset", kind="upload-part", match=part(3), count=1, before_body=True)]
    data = os.urandom(24 * MIB)                # 5 parts: 4 x 5 MiB + 4 MiB
    write_file(o.p("acme", "large.bin"), data)
    check_files(o, {"large.bin": data}, timeout=90)
    fired(o, *faults)
    # read back from the bucket on a cold cache, with a fault on one range
    o.restart(empty_cache=True)
    gf = p.add("status", kind="get", match="large.bin", count=2, status=500)
    assert sha256(read_file(o.p("acme", "large.bin"))) == sha256(data)
    fired(o, gf)
    o.check_alive()
