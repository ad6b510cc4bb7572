"""The gcs provider against the GCS test server (OAuth2 JWT grants, Bearer
tokens, V4 signed URLs; ../shared/tools/gcs-test-server).

What lands is checked with another client: GcsStore (the JSON API with its
own token, tests/integration/gcsserver.py) and Google's own Node.js client
(@google-cloud/storage through tests/servers/gcs_client.js); presigned URLs
are fetched with curl.
"""

import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import (BUILD, errno_of, read_file, sha256, wait_until, write_file)
from gcsserver import GcsServer, GcsStore, gcs_sections

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
