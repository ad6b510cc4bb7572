"""The azure provider against Azurite (Shared Key and SAS checked, loose mode off).

What lands is checked with other clients: AzureStore (Python stdlib, its own
Shared Key signer) and the official @azure/storage-blob client
(tests/servers/azure_client.js); presigned URLs are fetched with curl.
"""

import json
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import (BUILD, read_file, sha256, wait_until, write_file)
from azureserver import SERVERS, AzureServer, AzureStore, azure_sections

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
