"""One mount, four tenants, four providers: local, s3 (s3rver), gcs (the GCS
test server) and azure (Azurite).  Files land in the right store and nowhere
else, a rename between tenants is EXDEV, presigned URLs work with curl for
every provider, and `objfs-ctl migrate` moves each tenant to the next
provider (dry run first, checksums verified)."""

import errno
import hashlib
import os
import random
import subprocess

import pytest

from conftest import read_file, render_config, s3_sections, wait_until
from test_onboard_migrate import DRY_RE, ctl, summary

KiB = 1024
MiB = 1024 * KiB
# tenant -> provider section; each tenant's bucket is "<tenant>-uploads"
TENANTS = {"alpha": "local", "bravo": "s3", "charlie": "gcs", "delta": "azure"}
# migrate: each tenant to the next provider
NEXT = {"alpha": "s3", "bravo": "gcs", "charlie": "azure", "delta": "local"}
FILES = {
    "hello.txt": b"hello from objfs\n",
    "dir/sub/data.bin": random.Random(7).randbytes(3 * MiB + 17),
    "dir/empty": b"",
    "ünïcödé name.txt": "ünïcödé ✓\n".encode() * 20,
}


@pytest.fixture
def four(objfs_factory, s3server, gcsserver, azureserver, tmp_path):
    from azureserver import AzureStore, azure_sections
    from gcsserver import GcsStore, gcs_sections
    from s3server import S3Store
    base = str(tmp_path / "creds")
    secs = {
        "objfs": {"read_cache": "auto", "multipart_threshold": "0"},
        "provider s3": s3_sections(s3server, base + "/s3")["provider main"],
        "provider gcs": gcs_sections(gcsserver, base + "/gcs")["provider main"],
        "provider azure": azure_sections(azureserver, base + "/azure")["provider main"],
        "tenant acme": None, "tenant globex": None, "tenant initech": None,
    }
    for t, prov in TENANTS.items():
        secs["tenant " + t] = {"provider": prov}
    fs = objfs_factory(secs)
    stores = {"local": fs.store, "s3": S3Store(s3server), "gcs": GcsStore(gcsserver),
              "azure": AzureStore(azureserver)}
    return fs, stores


def bucket(t):
    return t + "-uploads"


def landed(store, b, key, data):
    def ok():
        o = store.head(b, key)
        try:
            return o is not None and o.sha256() == hashlib.sha256(data).hexdigest() or None
        except Exception:
            return None
    wait_until(ok, 60, what="%s/%s to land" % (b, key))


def curl(*args):
    return subprocess.run(["curl", "-sS", "-o", "/dev/stdout", "-w", "\n%{http_code}",
                           "--max-time", "30"] + list(args),
                          capture_output=True, timeout=60)


def split_status(r):
    body, _, code = r.stdout.rpartition(b"\n")
    return body, int(code or b"0")


@pytest.mark.watchdog(300)
def test_four_providers_in_one_mount(four, tmp_path):
    fs, stores = four
    fs.start()
    for t in TENANTS:
        for rel, data in FILES.items():
            os.makedirs(os.path.dirname(fs.p(t, rel)) or fs.p(t), exist_ok=True)
            with open(fs.p(t, rel), "wb") as f:
                f.write(data)
    for t, prov in TENANTS.items():
        for rel, data in FILES.items():
            landed(stores[prov], bucket(t), rel, data)
    # each store holds its own tenant's bucket and no other tenant's
    for t, prov in TENANTS.items():
        keys = [k for k in stores[prov].keys(bucket(t)) if not k.endswith("/")]
        assert sorted(keys) == sorted(FILES), (t, prov, keys)
        for other, oprov in TENANTS.items():
            if oprov != prov:
                assert bucket(t) not in stores[oprov].buckets(), (t, oprov)

    # a rename between tenants (so between providers) is EXDEV, and loses nothing
    names = list(TENANTS)
    for a, b in zip(names, names[1:] + names[:1]):
        with pytest.raises(OSError) as e:
            os.rename(fs.p(a, "hello.txt"), fs.p(b, "moved.txt"))
        assert e.value.errno == errno.EXDEV
        assert read_file(fs.p(a, "hello.txt")) == FILES["hello.txt"]
        assert not os.path.exists(fs.p(b, "moved.txt"))

    # presigned URLs, for every provider, with curl
    for t, prov in TENANTS.items():
        up = b"presigned upload to %s via %s\n" % (t.encode(), prov.encode())
        r = fs.ctl("presign", "--method", "PUT", "--ttl", "300", "%s/presigned.txt" % t)
        assert r.returncode == 0, (prov, r.stderr)
        put_url = r.stdout.strip()
        src = tmp_path / ("up-" + t)
        src.write_bytes(up)
        # Azure's Put Blob names the blob type (any client must send it)
        hdr = ["-H", "x-ms-blob-type: BlockBlob"] if prov == "azure" else []
        body, code = split_status(curl("-X", "PUT", "-T", str(src), *hdr, put_url))
        assert code in (200, 201), (prov, code, body[:300])
        landed(stores[prov], bucket(t), "presigned.txt", up)
        r = fs.ctl("presign", "--ttl", "300", fs.p(t, "dir/sub/data.bin"))
        assert r.returncode == 0, (prov, r.stderr)
        body, code = split_status(curl(r.stdout.strip()))
        assert code == 200 and body == FILES["dir/sub/data.bin"], (prov, code, body[:200])
        # tampered: one signature character changed
        url = r.stdout.strip()
        i = max(url.rfind("ig="), url.rfind("Signature="), url.rfind("signature="))
        assert i > 0, url
        j = url.index("=", i) + 3
        # a different value even where hex is read without case (a -> A is not)
        bad = url[:j] + ("0" if url[j] != "0" else "1") + url[j + 1:]
        _, code = split_status(curl(bad))
        assert code in (401, 403), (prov, code)
    fs.stop()

    # migrate every tenant to the next provider: a dry run first, then for real
    conf = os.path.join(fs.base, "migrate.conf")
    with open(conf, "w") as f:
        f.write(render_config(fs.config))
    for t, prov in TENANTS.items():
        dst = NEXT[t]
        src_store, dst_store = stores[prov], stores[dst]
        keys = src_store.keys(bucket(t))
        total = sum(src_store.head(bucket(t), k).size for k in keys)
        r = ctl("--config", conf, "migrate", "--tenant", t, "--to", dst, "--dry-run")
        assert r.returncode == 0, (t, r.stdout, r.stderr)
        m = DRY_RE.search(r.stdout)
        assert m and (int(m.group(1)), int(m.group(2))) == (len(keys), total), r.stdout
        assert not [k for k in (dst_store.keys(bucket(t)) if bucket(t) in dst_store.buckets()
                                else [])], "the dry run copied something"
        r = ctl("--config", conf, "migrate", "--tenant", t, "--to", dst)
        assert r.returncode == 0, (t, dst, r.stdout, r.stderr[-3000:])
        assert summary(r) == (len(keys), total, 0, 0), r.stdout
        assert dst_store.keys(bucket(t)) == keys
        for k in keys:
            a, b = src_store.head(bucket(t), k), dst_store.head(bucket(t), k)
            assert (b.size, b.sha256()) == (a.size, a.sha256()), (t, dst, k)
            am = {x.lower(): v for x, v in a.user_meta.items()}
            bm = {x.lower(): v for x, v in b.user_meta.items()}
            if "mode" in am:
                assert bm.get("mode") == am["mode"], (t, dst, k, am, bm)
