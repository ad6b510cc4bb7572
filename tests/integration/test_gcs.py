"""The gcs provider against the GCS test server (OAuth2 JWT grants, Bearer
tokens, V4 signed URLs; ../shared/tools/gcs-test-server).

What lands is checked with another client: GcsStore (the JSON API with its
own token, tests/integration/gcsserver.py) and Google's own Node.js client
(@google-cloud/storage through tests/servers/gcs_client.js); presigned URLs
are fetched with curl.
"""

import errno
import json
import os
import re
import subprocess
import time

import pytest

from conftest import (BUILD, errname, errno_of, read_file, sha256, wait_until, write_file)

CTL = os.path.join(BUILD, "objfs-ctl")
HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT_JS = os.path.join(os.path.dirname(HERE), "servers", "gcs_client.js")


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


def node_client(server, *args, input=None):
    """Runs tests/servers/gcs_client.js (the official client); parsed JSON out."""
    env = dict(os.environ)
    env["GCS_ENDPOINT"] = server.endpoint
    env["GCS_KEY_FILE"] = server.key_file
    r = subprocess.run(["node", CLIENT_JS] + list(args), capture_output=True, timeout=120,
                       env=env, input=input)
    if r.returncode != 0:
        raise AssertionError("gcs_client.js %s: %s" % (args, r.stderr.decode(errors="replace")))
    return json.loads(r.stdout)


@pytest.fixture
def gcsfs(gcs_factory):
    return gcs_factory().start()


def test_round_trip_sizes_and_metadata(gcs_factory):
    # 2M threshold, 1M chunks: parts of 8 MiB (the provider's smallest part,
    # a multiple of 256 KiB); big.bin is a resumable upload of 3 parts, the
    # last one short (it finalizes the session)
    o = gcs_factory({"objfs": {"multipart_threshold": "2M", "chunk_size": "1M"}}).start()
    os.makedirs(o.p("acme", "dir"))
    files = {
        "empty": b"",
        "one": b"x",
        "dir/small.txt": os.urandom(100 * 1024),
        "dir/mid.bin": os.urandom(3 * 1024 * 1024 + 5),
        "dir/big.bin": os.urandom(21 * 1024 * 1024 + 17),
        "dir/aligned.bin": os.urandom(16 * 1024 * 1024),    # 2 whole parts: complete finalizes
    }
    off = o.log_offset()
    for rel, data in files.items():
        write_file(o.p("acme", rel), data)
    os.chmod(o.p("acme", "dir/small.txt"), 0o640)
    for rel, data in files.items():
        obj = o.wait_landed("acme", rel, data, timeout=60)
        assert obj.size == len(data)
    ops = o.ops(off)
    assert ops["mpu_create"] >= 3 and ops["mpu_upload_part"] >= 3 + 2, ops
    small = o.stored("acme", "dir/small.txt")
    assert int(small.user_meta["mode"]) & 0o7777 == 0o640
    assert "mtime" in small.user_meta and "uid" in small.user_meta
    assert small.content_type == "text/plain"
    big = o.stored("acme", "dir/big.bin")
    assert int(big.user_meta["mode"]) == 0o100644 and "mtime" in big.user_meta
    # ETag = generation
    st = o.store.head(o.location("acme")[0], "dir/big.bin")
    assert st.etag.isdigit()
    # a cold cache reads everything back
    o.stop()
    o.restart(empty_cache=True)
    for rel, data in files.items():
        assert sha256(read_file(o.p("acme", rel))) == sha256(data), rel
    assert os.stat(o.p("acme", "dir/small.txt")).st_mode & 0o7777 == 0o640
    assert sorted(os.listdir(o.p("acme", "dir"))) == ["aligned.bin", "big.bin", "mid.bin",
                                                      "small.txt"]
    # the shared-bucket tenants land under their prefixes
    write_file(o.p("globex", "g.txt"), b"globex data")
    o.wait_landed("globex", "g.txt", b"globex data")
    assert o.store.exists("shared-bucket", "tenants/globex/g.txt")


def test_ls_stat_chmod_utime_rename_unlink(gcsfs):
    o = gcsfs
    bucket = o.location("acme")[0]
    os.makedirs(o.p("acme", "d", "e"))
    payload = {"d/e/f%02d" % i: os.urandom(1000 + i) for i in range(6)}
    for rel, data in payload.items():
        write_file(o.p("acme", rel), data)
    for rel, data in payload.items():
        o.wait_landed("acme", rel, data)
    assert sorted(os.listdir(o.p("acme", "d", "e"))) == ["f%02d" % i for i in range(6)]
    assert os.stat(o.p("acme", "d/e/f03")).st_size == 1003
    # chmod/utime: a metadata patch, same generation, no upload
    before = o.store.head(bucket, "d/e/f00")
    off = o.log_offset()
    os.chmod(o.p("acme", "d/e/f00"), 0o600)
    os.utime(o.p("acme", "d/e/f00"), (1500000000, 1500000000))
    wait_until(lambda: int(o.stored("acme", "d/e/f00").user_meta["mode"]) & 0o777 == 0o600
               and o.stored("acme", "d/e/f00").user_meta["mtime"] == "1500000000",
               20, what="metadata update to land")
    after = o.store.head(bucket, "d/e/f00")
    assert after.generation == before.generation
    assert int(after.metageneration) > int(before.metageneration)
    assert o.ops(off)["put"] == 0
    patch = "PATCH /storage/v1/b/%s/o/d%%2Fe%%2Ff00?ifGenerationMatch=%s" % (
        bucket, before.generation)
    wait_until(lambda: patch in o.server.log_text(), 5, what="the PATCH in the server's log")
    # rename: server-side rewrites, then deletes
    off = o.log_offset()
    os.rename(o.p("acme", "d"), o.p("acme", "moved"))
    for rel, data in payload.items():
        new = "moved/" + rel[2:]
        assert read_file(o.p("acme", new)) == data
        o.wait_landed("acme", new, data)
        o.wait_gone("acme", rel)
    ops = o.ops(off)
    assert ops["copy"] >= 6 and ops["put"] == 0, ops
    assert "/rewriteTo/b/%s/o/moved%%2Fe%%2Ff01" % bucket in o.server.log_text()
    moved = o.stored("acme", "moved/e/f00")
    assert int(moved.user_meta["mode"]) & 0o777 == 0o600     # metadata copied
    st = os.stat(o.p("acme", "moved/e/f00"))
    assert st.st_mtime == 1500000000 and st.st_mode & 0o777 == 0o600
    # unlink
    os.unlink(o.p("acme", "moved/e/f05"))
    o.wait_gone("acme", "moved/e/f05")
    assert "f05" not in os.listdir(o.p("acme", "moved", "e"))
    # a cold cache lists from the store (delimiter listing, metadata included)
    o.stop()
    o.restart(empty_cache=True)
    assert sorted(os.listdir(o.p("acme", "moved", "e"))) == ["f%02d" % i for i in range(5)]
    assert os.stat(o.p("acme", "moved/e/f00")).st_mode & 0o777 == 0o600


@pytest.mark.watchdog(180)
def test_token_refresh_with_short_lived_tokens(gcs_factory, gcsserver):
    # tokens of 3 s: the provider refreshes ahead of expiry (and on a 401)
    gcsserver.restart(token_ttl=3)
    o = gcs_factory({"objfs": {"multipart_threshold": "2M", "chunk_size": "1M"}}).start()
    files = {}
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < 10 and i < 40:
        rel = "t%02d.bin" % i
        files[rel] = os.urandom(1000 + i * 100)
        write_file(o.p("acme", rel), files[rel])
        i += 1
        time.sleep(0.3)
    files["big.bin"] = os.urandom(20 * 1024 * 1024 + 3)
    write_file(o.p("acme", "big.bin"), files["big.bin"])
    for rel, data in files.items():
        o.wait_landed("acme", rel, data, timeout=60)
    log = gcsserver.log_text()
    grants = log.count("POST /token auth=- -> 200")
    assert grants >= 3, "only %d token grants in 10+ s of 3-s tokens" % grants
    # nothing failed for the daemon: every request that was refused got through later
    bad = [l for l in o.log_text().splitlines() if " warn:" in l or " error:" in l]
    assert not [l for l in bad if "upload" in l or "token" in l], bad


@pytest.mark.watchdog(240)
def test_resumable_upload_resumes_after_sigkill(gcs_factory):
    o = gcs_factory({"objfs": {"multipart_threshold": "2M", "chunk_size": "1M",
                               "staging_max_bytes": "256M"}}).start()
    part = 8 * 1024 * 1024
    data = os.urandom(12 * part + 12345)            # 13 parts, the last one short
    write_file(o.p("acme", "huge.bin"), data)
    # kill as soon as some parts are in (and before the last)
    done = wait_until(lambda: (lambda n: n if n >= 2 else None)(
        len(re.findall(r"prov main mpu_upload_part bucket=acme-uploads key=huge.bin rc=0",
                       o.log_text()))), 60, interval=0.01, what="two parts uploaded")
    o.kill9()
    assert done < 13, "the upload finished before the kill"
    assert not o.store.exists("acme-uploads", "huge.bin")
    o.start()
    o.wait_landed("acme", "huge.bin", data, timeout=120)
    second = o.log_text()
    m = re.search(r"gcs upload acme-uploads/huge.bin part (\d+): resuming the session at "
                  r"byte (\d+) \(the server's offset", second)
    assert m, second[-3000:]
    resumed_at = int(m.group(2))
    assert resumed_at >= 2 * part and resumed_at % part == 0, resumed_at
    # the same session: no new one, and only the parts the server lacked were sent
    assert second.count("prov main mpu_create bucket=acme-uploads key=huge.bin") == 0
    sent = len(re.findall(r"prov main mpu_upload_part bucket=acme-uploads key=huge.bin rc=0",
                          second))
    # one part may have reached the server but not the journal at the kill
    # (parts go one at a time): the provider is called for it again, finds
    # the server holds it and sends nothing, so at most one call more
    assert sent <= 13 - resumed_at // part + 1, (sent, resumed_at)
    assert sha256(read_file(o.p("acme", "huge.bin"))) == sha256(data)


def test_concurrent_overwrite_is_not_clobbered(gcsfs):
    o = gcsfs
    bucket = o.location("acme")[0]
    write_file(o.p("acme", "shared.txt"), b"written by objfs")
    first = o.wait_landed("acme", "shared.txt", b"written by objfs")
    # another client replaces it, knowing the generation (as objfs would)
    gen2 = o.store.put(bucket, "shared.txt", b"written by someone else", "text/plain",
                       {"owner": "other"}, if_generation_match=first.generation)
    # objfs still holds generation 1: its metadata update must not touch generation 2
    e = errno_of(os.chmod, o.p("acme", "shared.txt"), 0o600)
    now = o.store.head(bucket, "shared.txt")
    assert now.generation == gen2 and now.read() == b"written by someone else"
    assert now.user_meta == {"owner": "other"}, (e, now.user_meta)
    assert e == errno.ESTALE, errname(e)
    assert "object changed (generation %s, expected %s)" % (gen2, first.generation) \
        in o.log_text()
    # a write with a stale generation is refused by the store, not applied
    with pytest.raises(AssertionError, match="HTTP 412"):
        o.store.put(bucket, "shared.txt", b"stale", if_generation_match=first.generation)


def test_official_client_both_ways_and_gcsfuse_mtime(gcs_factory):
    o = gcs_factory({"objfs": {"multipart_threshold": "2M", "chunk_size": "1M"}}).start()
    bucket = o.location("acme")[0]
    files = {"docs/a b+%.txt": os.urandom(5000), "docs/ü.bin": os.urandom(100),
             "big/r.bin": os.urandom(9 * 1024 * 1024 + 1)}
    for rel, data in files.items():
        os.makedirs(os.path.dirname(o.p("acme", rel)), exist_ok=True)
        write_file(o.p("acme", rel), data)
    os.utime(o.p("acme", "docs/ü.bin"), (1600000000, 1600000000))
    for rel, data in files.items():
        o.wait_landed("acme", rel, data, timeout=60)
    wait_until(lambda: o.stored("acme", "docs/ü.bin").user_meta.get("mtime") == "1600000000",
               20, what="mtime to land")
    for rel, data in files.items():
        got = node_client(o.server, "read", bucket, rel)
        assert got["sha256"] == sha256(data) and got["size"] == len(data), rel
        assert int(got["metadata"]["mode"]) == 0o100644, got
        assert "mtime" in got["metadata"] and "uid" in got["metadata"], got
    assert node_client(o.server, "read", bucket, "docs/ü.bin")["metadata"]["mtime"] == "1600000000"
    assert node_client(o.server, "read", bucket, "docs/a b+%.txt")["contentType"] == "text/plain"
    # written by the official client: default attributes, gcsfuse's mtime
    node_client(o.server, "write", bucket, "fromnode/plain.txt", "text/plain", "{}",
                input=b"hello from node\n")
    node_client(o.server, "write", bucket, "fromnode/fuse.dat", "application/octet-stream",
                json.dumps({"gcsfuse_mtime": "2021-06-01T12:34:56.123456789Z"}),
                input=b"gcsfuse")
    node_client(o.server, "write", bucket, "fromnode/zone.dat", "application/octet-stream",
                json.dumps({"gcsfuse_mtime": "2021-06-01T14:34:56+02:00"}), input=b"z")
    assert read_file(o.p("acme", "fromnode", "plain.txt")) == b"hello from node\n"
    st = os.stat(o.p("acme", "fromnode", "plain.txt"))
    assert st.st_mode & 0o777 == 0o644 and st.st_size == 16
    st = os.stat(o.p("acme", "fromnode", "fuse.dat"))
    assert st.st_mtime_ns == 1622550896123456789, st.st_mtime_ns
    assert os.stat(o.p("acme", "fromnode", "zone.dat")).st_mtime == 1622550896
    assert sorted(os.listdir(o.p("acme", "fromnode"))) == ["fuse.dat", "plain.txt", "zone.dat"]
    # and through a listing (a cold cache lists with metadata)
    o.stop()
    o.restart(empty_cache=True)
    assert sorted(os.listdir(o.p("acme", "fromnode"))) == ["fuse.dat", "plain.txt", "zone.dat"]
    assert os.stat(o.p("acme", "fromnode", "fuse.dat")).st_mtime_ns == 1622550896123456789


def test_presigned_urls_with_curl(gcsfs, tmp_path):
    o = gcsfs
    write_file(o.p("acme", "doc.txt"), b"presigned content")
    o.wait_landed("acme", "doc.txt", b"presigned content")
    r = o.ctl("presign", "acme/doc.txt")            # through the daemon's socket
    assert r.returncode == 0, r.stderr
    url = r.stdout.strip()
    assert url.startswith(o.server.endpoint + "/acme-uploads/doc.txt?"), url
    for p in ("X-Goog-Algorithm=GOOG4-RSA-SHA256", "X-Goog-Credential=", "X-Goog-Date=",
              "X-Goog-Expires=900", "X-Goog-SignedHeaders=host", "X-Goog-Signature="):
        assert p in url, url
    r = curl(url)
    assert curl_status(r) == 200 and curl_body(r) == b"presigned content"
    r = curl("-H", "Range: bytes=4-8", url)
    assert curl_status(r) == 206 and curl_body(r) == b"igned"
    # tampered: another key, or another signature, or another method
    assert curl_status(curl(url.replace("doc.txt", "doc.txz"))) == 403
    sig = url.rsplit("X-Goog-Signature=", 1)[1]
    bad = url.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    assert curl_status(curl(bad)) == 403
    assert curl_status(curl("-X", "DELETE", url)) == 403
    # expired: signed an hour ago for 60 s (--direct: only our own clock moves)
    old = ctl(o, "presign", "--ttl", "60", "acme/doc.txt",
              env={"OBJFS_CTL_CLOCK_OFFSET": "-3600"}).stdout.decode().strip()
    assert curl_status(curl(old)) in (400, 403)
    # PUT through a presigned URL, then read through the mount
    r = o.ctl("presign", "--method", "PUT", "acme/up/new.bin")
    assert r.returncode == 0, r.stderr
    put = r.stdout.strip()
    body = tmp_path / "body"
    body.write_bytes(os.urandom(5000))
    r = curl("-X", "PUT", "-T", str(body), put)
    assert curl_status(r) == 200, r.stdout
    assert read_file(o.p("acme", "up", "new.bin")) == body.read_bytes()
    for ttl in ("0", "604801"):
        r = o.ctl("presign", "--ttl", ttl, "acme/doc.txt")
        assert r.returncode == 2 and "ttl" in r.stderr


def test_health_tells_states_apart(gcsfs):
    o = gcsfs
    r = o.ctl("health")
    assert r.returncode == 0 and ": ok" in r.stdout, r
    r = ctl(o, "health", env={"OBJFS_CTL_CLOCK_OFFSET": "7200"}, check=False)
    assert r.returncode == 1 and b"clock-skew" in r.stdout, r.stdout
    o.store._req("DELETE", "/storage/v1/b/acme-uploads")
    r = ctl(o, "health", check=False)
    assert r.returncode == 1 and b"no-bucket" in r.stdout, r.stdout
    o.stop()
    o.server.stop()
    r = ctl(o, "health", check=False)
    assert r.returncode == 1 and b"unreachable" in r.stdout, r.stdout


def test_bad_credentials_fail_clearly_without_leaking(gcs_factory, tmp_path):
    o = gcs_factory()
    # a different RSA key under the same service-account name: the token
    # endpoint refuses the JWT's signature
    other = tmp_path / "other.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", str(other)], check=True,
                   capture_output=True, timeout=60)
    cred = o.config["provider main"]["credentials"]
    with open(cred) as f:
        sa = json.load(f)
    sa["private_key"] = other.read_text()
    with open(cred, "w") as f:
        json.dump(sa, f)
    os.chmod(cred, 0o600)
    with pytest.raises(Exception) as ei:
        o.start()
    msg = str(ei.value) + o.log_text()
    assert "refused the service-account key" in msg and "Invalid JWT Signature" in msg, msg
    assert "PRIVATE KEY" not in msg and sa["private_key"][40:80] not in msg
    r = ctl(o, "health", check=False)
    assert r.returncode == 1 and b"auth-failed" in r.stdout, r.stdout
    assert b"PRIVATE" not in r.stdout + r.stderr
    # a key file others can read, and no key at all, are refused at once
    os.chmod(cred, 0o644)
    with pytest.raises(Exception) as ei:
        o.start()
    assert "chmod 600" in str(ei.value) + o.log_text()
    o.config["provider main"].pop("credentials")
    with pytest.raises(Exception) as ei:
        o.start()
    assert "GOOGLE_APPLICATION_CREDENTIALS" in str(ei.value) + o.log_text()


def test_parallel_composite_upload(gcs_factory):
    o = gcs_factory({"objfs": {"multipart_threshold": "2M", "chunk_size": "1M"},
                     "provider main": {"parallel_composite": "true"}}).start()
    bucket = o.location("acme")[0]
    os.makedirs(o.p("acme", "c"))
    data = os.urandom(2 * 8 * 1024 * 1024 + 777)     # 3 parts: 3 temporaries, one compose
    write_file(o.p("acme", "c", "comp.bin"), data)
    obj = o.wait_landed("acme", "c/comp.bin", data, timeout=60)
    assert obj.component_count == 3 and obj.md5 is None, obj.res
    assert int(obj.user_meta["mode"]) == 0o100644 and obj.content_type == "application/octet-stream"
    log = o.server.log_text()
    assert log.count("/o/c%2Fcomp.bin/compose") == 1
    assert "uploadType=resumable" not in log
    # the temporaries are gone, and were beside the key
    wait_until(lambda: re.search(r"DELETE /storage/v1/b/%s/o/c%%2F.objfs-compose-[0-9a-f]{16}"
                                 r"-00003 " % bucket, o.server.log_text()), 10,
               what="the temporaries' deletion")
    keys = o.store.keys(bucket, "c/")
    assert "c/comp.bin" in keys and not [k for k in keys if ".objfs-compose-" in k], keys
    got = node_client(o.server, "read", bucket, "c/comp.bin")
    assert got["sha256"] == sha256(data)
