"""The azure provider against Azurite (Shared Key and SAS checked, loose mode off).

What lands is checked with other clients: AzureStore (Python stdlib, its own
Shared Key signer) and the official @azure/storage-blob client
(tests/servers/azure_client.js); presigned URLs are fetched with curl.
"""

import json
import os
import subprocess
import time

import pytest

from conftest import (BUILD, read_file, sha256, wait_until, write_file)
from azureserver import SERVERS, azure_sections

CTL = os.path.join(BUILD, "objfs-ctl")
CLIENT = os.path.join(SERVERS, "azure_client.js")

def cred_sections(server, base, sas=False, key=None):
    """Sections overriding the factory's credentials (SAS token, another key)."""
    return azure_sections(server, str(base), sas=sas, key=key)


@pytest.fixture
def azfs(azure_factory):
    return azure_factory().start()


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


def client(server, *args, check=True):
    """Runs tests/servers/azure_client.js (the official SDK); JSON result."""
    r = subprocess.run(["node", CLIENT] + list(args), env=server.node_env(),
                       capture_output=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError("azure_client.js %s: %d %s" % (args, r.returncode,
                                                            r.stderr.decode(errors="replace")))
    return json.loads(r.stdout) if r.stdout.strip() else None


def test_round_trip_sizes_and_metadata(azure_factory):
    o = azure_factory({"objfs": {"multipart_threshold": "3M"}}).start()
    os.makedirs(o.p("acme", "dir"))
    files = {
        "empty": b"",
        "one": b"x",
        "dir/small.txt": os.urandom(100 * 1024),
        "dir/name with spaces+plus%pct ü.bin": os.urandom(5000),
        # over multipart_threshold: blocks in parallel, Put Block List
        "dir/big.bin": os.urandom(7 * 1024 * 1024 + 17),
    }
    for rel, data in files.items():
        write_file(o.p("acme", rel), data)
    os.chmod(o.p("acme", "dir/small.txt"), 0o640)
    for rel, data in files.items():
        obj = o.wait_landed("acme", rel, data)
        assert obj.size == len(data)
        assert obj.blob_type == "BlockBlob"
    small = o.stored("acme", "dir/small.txt")
    assert int(small.user_meta["mode"]) & 0o7777 == 0o640
    assert "mtime" in small.user_meta and "uid" in small.user_meta
    assert small.content_type == "text/plain"
    big = o.stored("acme", "dir/big.bin")
    assert "mode" in big.user_meta and big.content_type == "application/octet-stream"
    assert len(o.server.requests(r'PUT /\S*big\.bin\?comp=block&')) >= 7
    assert len(o.server.requests(r'PUT /\S*big\.bin\?comp=blocklist')) == 1
    # a cold cache reads everything back from the container
    o.stop()
    o.restart(empty_cache=True)
    for rel, data in files.items():
        assert sha256(read_file(o.p("acme", rel))) == sha256(data), rel
    assert os.stat(o.p("acme", "dir/small.txt")).st_mode & 0o7777 == 0o640
    assert sorted(os.listdir(o.p("acme", "dir"))) == sorted(
        ["big.bin", "small.txt", "name with spaces+plus%pct ü.bin"])


def test_official_client_reads_what_the_mount_wrote_and_the_reverse(azure_factory, tmp_path):
    o = azure_factory({"objfs": {"multipart_threshold": "2M"}}).start()
    bucket, _ = o.location("acme")
    files = {
        "from mount+1% ü.bin": os.urandom(300 * 1024),
        "blocks/big.bin": os.urandom(5 * 1024 * 1024 + 3),
        "notes.txt": b"plain text\n",
    }
    os.makedirs(o.p("acme", "blocks"))
    for rel, data in files.items():
        write_file(o.p("acme", rel), data)
    os.utime(o.p("acme", "notes.txt"), (1600000000, 1600000000))
    os.chmod(o.p("acme", "notes.txt"), 0o600)
    for rel, data in files.items():
        o.wait_landed("acme", rel, data)
    wait_until(lambda: o.stored("acme", "notes.txt").user_meta.get("mtime") == "1600000000",
               20, what="utime to land")
    got = client(o.server, "dump", bucket)
    for rel, data in files.items():
        assert got[rel]["sha256"] == sha256(data), rel
        assert got[rel]["blobType"] == "BlockBlob"
        assert int(got[rel]["metadata"]["mode"]) & 0o170000 == 0o100000
        assert got[rel]["listedMetadata"] == got[rel]["metadata"]
    assert got["notes.txt"]["metadata"]["mtime"] == "1600000000"
    assert int(got["notes.txt"]["metadata"]["mode"]) == 0o100600
    assert got["notes.txt"]["contentType"] == "text/plain"
    # written by the official client (one shot, and in blocks): the mount
    # shows them with default attributes
    small = tmp_path / "small"
    small.write_bytes(b"hello from the azure sdk\n")
    large = tmp_path / "large"
    large.write_bytes(os.urandom(3 * 1024 * 1024 + 5))
    client(o.server, "put", bucket, "sdk dir/ü small.txt", str(small), "text/plain")
    client(o.server, "put", bucket, "sdk dir/large.bin", str(large))
    assert read_file(o.p("acme", "sdk dir", "ü small.txt")) == small.read_bytes()
    assert sha256(read_file(o.p("acme", "sdk dir", "large.bin"))) == sha256(large.read_bytes())
    st = os.stat(o.p("acme", "sdk dir", "ü small.txt"))
    assert st.st_mode & 0o777 == 0o644 and st.st_size == len(small.read_bytes())
    assert sorted(os.listdir(o.p("acme", "sdk dir"))) == ["large.bin", "ü small.txt"]


def test_rename_chmod_utime_unlink_are_server_side(azfs):
    o = azfs
    os.makedirs(o.p("acme", "d", "e"))
    payload = {"d/e/f%02d" % i: os.urandom(1000 + i) for i in range(6)}
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
    assert ops["copy"] >= 6 and ops["put"] == 0, ops
    assert len(o.server.requests(r'PUT /\S*/moved/e/f00 ')) >= 1   # Copy Blob
    off = o.log_offset()
    os.chmod(o.p("acme", "moved/e/f00"), 0o600)
    os.utime(o.p("acme", "moved/e/f00"), (1500000000, 1500000000))
    wait_until(lambda: int(o.stored("acme", "moved/e/f00").user_meta["mode"]) & 0o777 == 0o600
               and o.stored("acme", "moved/e/f00").user_meta["mtime"] == "1500000000",
               20, what="metadata update to land")
    assert o.store.read(o.location("acme")[0], "moved/e/f00") == payload["d/e/f00"]
    assert o.ops(off)["put"] == 0
    assert len(o.server.requests(r'PUT /\S*/moved/e/f00\?comp=metadata ')) >= 2
    st = os.stat(o.p("acme", "moved/e/f00"))
    assert st.st_mode & 0o777 == 0o600 and int(st.st_mtime) == 1500000000
    os.unlink(o.p("acme", "moved/e/f01"))
    o.wait_gone("acme", "moved/e/f01")
    assert sorted(os.listdir(o.p("acme", "moved/e"))) == ["f%02d" % i for i in range(6) if i != 1]


def test_concurrent_overwrite_is_not_clobbered(azfs):
    """Another client replaces the blob; a metadata change through the mount
    (If-Match on the ETag the mount saw) must not overwrite it."""
    o = azfs
    bucket, _ = o.location("acme")
    write_file(o.p("acme", "shared.txt"), b"version one")
    o.wait_landed("acme", "shared.txt", b"version one")
    os.stat(o.p("acme", "shared.txt"))
    theirs = o.store.put(bucket, "shared.txt", b"written by someone else",
                         content_type="text/plain", user_meta={"mode": "33188", "owner": "other"})
    try:
        os.chmod(o.p("acme", "shared.txt"), 0o600)
    except OSError:
        pass                                 # refused: the blob changed under us
    time.sleep(1)
    obj = o.stored("acme", "shared.txt")
    assert obj.read() == b"written by someone else"
    assert obj.etag == theirs and obj.user_meta.get("owner") == "other"
    assert "changed" in o.log_text() or "ConditionNotMet" in o.log_text()


def test_presigned_urls_with_curl(azfs, tmp_path):
    o = azfs
    write_file(o.p("acme", "doc.txt"), b"presigned content")
    o.wait_landed("acme", "doc.txt", b"presigned content")
    r = o.ctl("presign", "acme/doc.txt")            # through the daemon's socket
    assert r.returncode == 0, r.stderr
    url = r.stdout.strip()
    assert "sr=b" in url and "sp=r&" in url and "sig=" in url and "se=" in url
    r = curl(url)
    assert curl_status(r) == 200 and curl_body(r) == b"presigned content"
    r = curl("-H", "x-ms-range: bytes=4-8", url)
    assert curl_status(r) == 206 and curl_body(r) == b"igned"
    # tampered: another blob, another signature, more permissions
    assert curl_status(curl(url.replace("doc.txt", "doc.txz"))) == 403
    sig = url.rsplit("sig=", 1)[1]
    bad = url.replace("sig=" + sig, "sig=" + ("A" if sig[0] != "A" else "B") + sig[1:])
    assert curl_status(curl(bad)) == 403
    assert curl_status(curl(url.replace("sp=r&", "sp=rw&"))) == 403
    # the read URL cannot write
    body = tmp_path / "body"
    body.write_bytes(os.urandom(5000))
    assert curl_status(curl("-X", "PUT", "-H", "x-ms-blob-type: BlockBlob", "-T", str(body),
                            url)) == 403
    # expired: signed an hour ago for 60 s (--direct: only our own clock moves)
    old = ctl(o, "presign", "--ttl", "60", "acme/doc.txt",
              env={"OBJFS_CTL_CLOCK_OFFSET": "-3600"}).stdout.decode().strip()
    assert curl_status(curl(old)) == 403
    # PUT through a presigned URL (Azure wants the blob type header), then
    # read through the mount
    r = o.ctl("presign", "--method", "PUT", "acme/up/new.bin")
    assert r.returncode == 0, r.stderr
    put = r.stdout.strip()
    assert "sp=cw" in put
    r = curl("-X", "PUT", "-H", "x-ms-blob-type: BlockBlob", "-T", str(body), put)
    assert curl_status(r) == 201, r.stdout
    assert read_file(o.p("acme", "up", "new.bin")) == body.read_bytes()
    for ttl in ("0", "604801", "-5", "abc"):
        r = o.ctl("presign", "--ttl", ttl, "acme/doc.txt")
        assert r.returncode == 2 and "ttl" in r.stderr


def test_sas_token_credentials_mount(azure_factory, azureserver, tmp_path):
    o = azure_factory(cred_sections(azureserver, tmp_path / "sas", sas=True)).start()
    assert "sas_token" in read_file(o.config["provider main"]["credentials"]).decode()
    files = {"a.txt": b"via sas", "sub/b.bin": os.urandom(70000)}
    os.makedirs(o.p("acme", "sub"))
    for rel, data in files.items():
        write_file(o.p("acme", rel), data)
    for rel, data in files.items():
        o.wait_landed("acme", rel, data)
    os.rename(o.p("acme", "a.txt"), o.p("acme", "sub", "a2.txt"))     # Copy Blob with SAS
    o.wait_landed("acme", "sub/a2.txt", b"via sas")
    o.wait_gone("acme", "a.txt")
    o.stop()
    o.restart(empty_cache=True)
    assert sorted(os.listdir(o.p("acme", "sub"))) == ["a2.txt", "b.bin"]
    assert read_file(o.p("acme", "sub", "b.bin")) == files["sub/b.bin"]
    # presigning needs the account key
    r = o.ctl("presign", "acme/sub/a2.txt")
    assert r.returncode != 0 and "account key" in r.stderr, r
    assert "sig=" not in r.stderr + r.stdout
    # a tampered SAS token is refused
    cred = o.config["provider main"]["credentials"]
    text = read_file(cred).decode()
    sig = text.split("sig=", 1)[1].split("&")[0].strip()
    with open(cred, "w") as f:
        f.write(text.replace("sig=" + sig, "sig=" + ("A" if sig[0] != "A" else "B") + sig[1:]))
    r = ctl(o, "health", check=False)
    assert r.returncode == 1 and b"auth-failed" in r.stdout, r.stdout


def test_wrong_key_fails_clearly_without_leaking_it(azure_factory, azureserver, tmp_path):
    import base64
    wrong = base64.b64encode(b"definitely the Wrong key 1234567" * 2).decode()
    o = azure_factory(cred_sections(azureserver, tmp_path / "wrong", key=wrong))
    with pytest.raises(Exception) as ei:
        o.start()
    msg = str(ei.value) + o.log_text()
    assert "403" in msg, msg[-2000:]
    assert wrong not in msg and azureserver.key not in msg
    r = ctl(o, "health", check=False)
    assert r.returncode == 1 and b"auth-failed" in r.stdout, r.stdout
    assert wrong.encode() not in r.stdout + r.stderr


def test_bad_credentials_files_are_one_clear_line(azure_factory, azureserver, tmp_path):
    cases = {
        "nothing.cred": ("# only a comment\n", "no account_key or sas_token"),
        "notb64.cred": ("account_key = not*base64!\n", "not a base64 key"),
        "both.cred": ("account_key = %s\nsas_token = sv=1&sig=2\n" % azureserver.key,
                      "both account_key and sas_token"),
        "unknown.cred": ("secret = x\n", "unknown key"),
        "badsas.cred": ("sas_token = hello world\n", "not a SAS query"),
    }
    for name, (text, want) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        os.chmod(path, 0o600)
        o = azure_factory({"provider main": {"credentials": str(path)}})
        with pytest.raises(Exception) as ei:
            o.start()
        msg = str(ei.value) + o.log_text()
        assert want in msg, (name, msg[-1500:])
        assert azureserver.key not in msg


def test_health_tells_states_apart(azfs):
    o = azfs
    r = o.ctl("health")
    assert r.returncode == 0 and "acme" in r.stdout and ": ok" in r.stdout, r
    r = ctl(o, "health", env={"OBJFS_CTL_CLOCK_OFFSET": "7200"}, check=False)
    assert r.returncode == 1 and b"clock-skew" in r.stdout, r.stdout
    o.store.delete_bucket(o.location("globex")[0])
    r = wait_until(lambda: (lambda x: x if x.returncode == 1 else None)(o.ctl("health")), 10,
                   what="the daemon's health to notice the missing container")
    assert "no-bucket" in r.stdout, r.stdout
    o.stop()
    o.server.stop()
    r = ctl(o, "health", check=False)
    assert r.returncode == 1 and b"unreachable" in r.stdout, r.stdout


@pytest.mark.watchdog(180)
def test_block_upload_resumes_after_sigkill(azure_factory, azureserver):
    """The daemon dies mid-upload; after the restart only the blocks the
    journal had not recorded are sent again, and the blob lands whole."""
    from faultproxy import FaultProxy
    proxy = FaultProxy("127.0.0.1", azureserver.port, emulate_s3=False).start()
    try:
        o = azure_factory({
            "objfs": {"multipart_threshold": "1M", "chunk_size": "1M",
                      "upload_parallel_parts": "2"},
            "provider main": {"endpoint": "%s/%s" % (proxy.endpoint, azureserver.account)},
        })
        proxy.add("delay", method="PUT", match="comp=block&", count=None, delay=0.3)
        o.start()
        nblocks = 24
        data = os.urandom(nblocks * 1024 * 1024 - 100)
        pat = r'PUT /\S*big\.bin\?comp=block&\S* HTTP/1.1" 201'
        write_file(o.p("acme", "big.bin"), data)
        wait_until(lambda: len(azureserver.requests(pat)) >= 8, 60,
                   what="some blocks to be sent")
        o.kill9()
        proxy.clear()
        time.sleep(1.0)                              # in-flight blocks settle
        before = len(azureserver.requests(pat))
        assert before < nblocks, "the upload finished before the kill"
        assert o.store.head(o.location("acme")[0], "big.bin") is None
        o.start()
        obj = o.wait_landed("acme", "big.bin", data, timeout=60)
        after = len(azureserver.requests(pat)) - before
        # the recorded blocks were not sent again (at most the two in flight
        # at the kill go twice)
        assert after <= nblocks - before + 2, (before, after)
        assert after < nblocks
        assert obj.size == len(data) and "mode" in obj.user_meta
        assert len(azureserver.requests(r'comp=blocklist\S* HTTP/1.1" 201')) == 1
    finally:
        proxy.close()
