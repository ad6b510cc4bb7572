"""The mount-level behaviour every provider must show: the same tests run
over local, s3 (s3rver), gcs (the GCS test server) and azure (Azurite).

Each test takes `pfs`, a factory for mounts whose tenants all live on one
provider; the store is checked through that provider's own API (o.store)."""

import errno
import os
import random
import shutil
import stat

import pytest

from conftest import read_file, sha256, wait_until

KiB = 1024
MiB = 1024 * KiB
PROVIDERS = ["local", "s3", "gcs", "azure"]


@pytest.fixture(params=PROVIDERS)
def pfs(request):
    """make(sections=None) -> an Objfs (not started) on the provider under test."""
    name = request.param
    if name == "local":
        return request.getfixturevalue("objfs_factory")
    return request.getfixturevalue(name + "_factory")


def data_of(n, seed):
    return random.Random(seed).randbytes(n)


def user_meta(o):
    return {k.lower(): v for k, v in (o.user_meta or {}).items()}


@pytest.mark.watchdog(120)
def test_files_of_every_size_land_with_metadata(pfs):
    fs = pfs({"objfs": {"multipart_threshold": "4M", "chunk_size": "1M"}}).start()
    sizes = [0, 1, 4095, MiB + 3, 9 * MiB + 5]       # the last goes multipart
    want = {}
    os.makedirs(fs.p("acme", "sz"))
    for i, n in enumerate(sizes):
        d = data_of(n, i)
        name = "sz/f%d.bin" % n
        with open(fs.p("acme", name), "wb") as f:
            f.write(d)
        os.chmod(fs.p("acme", name), 0o640 if i % 2 else 0o600)
        want[name] = d
    for name, d in want.items():
        fs.wait_landed("acme", name, d)
        perm = stat.S_IMODE(os.stat(fs.p("acme", name)).st_mode)
        # the chmod lands after the content: wait for it too
        o = wait_until(lambda: (lambda o: o if o and stat.S_IMODE(int(user_meta(o).get("mode", "0")))
                                == perm else None)(fs.stored("acme", name)),
                       30, what="the mode of %s to land" % name)
        m = user_meta(o)
        assert stat.S_ISREG(int(m["mode"])) and "mtime" in m, m
        assert o.sha256() == sha256(d)
    fs.stop()
    shutil.rmtree(fs.cache_dir)
    fs.start()
    for name, d in want.items():
        assert read_file(fs.p("acme", name)) == d
        assert os.stat(fs.p("acme", name)).st_size == len(d)


@pytest.mark.watchdog(120)
def test_posix_sequence_survives_a_cold_remount(pfs):
    fs = pfs().start()
    t = fs.p("globex")
    os.makedirs(os.path.join(t, "a/b/c"))
    os.mkdir(os.path.join(t, "empty"))
    with open(os.path.join(t, "a/b/c/f.txt"), "wb") as f:
        f.write(b"hello world\n")
    with open(os.path.join(t, "a/b/c/f.txt"), "ab") as f:
        f.write(b"more\n")
    with open(os.path.join(t, "a/rw.bin"), "wb") as f:
        f.write(b"\0" * 300000)
    fd = os.open(os.path.join(t, "a/rw.bin"), os.O_RDWR)
    os.pwrite(fd, b"XYZ", 150000)
    os.ftruncate(fd, 200000)
    os.close(fd)
    os.rename(os.path.join(t, "a/b"), os.path.join(t, "a/moved"))
    with open(os.path.join(t, "victim"), "wb") as f:
        f.write(b"old")
    with open(os.path.join(t, "winner"), "wb") as f:
        f.write(b"new content")
    os.rename(os.path.join(t, "winner"), os.path.join(t, "victim"))
    os.symlink("a/moved/c/f.txt", os.path.join(t, "link"))
    os.chmod(os.path.join(t, "a/moved/c/f.txt"), 0o600)
    os.utime(os.path.join(t, "a/moved/c/f.txt"), ns=(1500000000 * 10**9, 1500000000 * 10**9))
    os.setxattr(os.path.join(t, "victim"), "user.colour", b"blue")
    with open(os.path.join(t, "gone"), "wb") as f:
        f.write(b"x")
    os.unlink(os.path.join(t, "gone"))
    os.mkdir(os.path.join(t, "gonedir"))
    os.rmdir(os.path.join(t, "gonedir"))

    rw = bytearray(300000)
    rw[150000:150003] = b"XYZ"
    rw = bytes(rw[:200000])

    def check():
        assert sorted(os.listdir(t)) == ["a", "empty", "link", "victim"]
        assert sorted(os.listdir(os.path.join(t, "a"))) == ["moved", "rw.bin"]
        assert read_file(os.path.join(t, "a/moved/c/f.txt")) == b"hello world\nmore\n"
        assert read_file(os.path.join(t, "link")) == b"hello world\nmore\n"
        assert os.readlink(os.path.join(t, "link")) == "a/moved/c/f.txt"
        assert read_file(os.path.join(t, "a/rw.bin")) == rw
        assert read_file(os.path.join(t, "victim")) == b"new content"
        assert os.getxattr(os.path.join(t, "victim"), "user.colour") == b"blue"
        st = os.stat(os.path.join(t, "a/moved/c/f.txt"))
        assert stat.S_IMODE(st.st_mode) == 0o600
        assert st.st_mtime_ns == 1500000000 * 10**9
        assert os.listdir(os.path.join(t, "empty")) == []
        for gone in ("gone", "gonedir", "a/b", "winner"):
            assert not os.path.lexists(os.path.join(t, gone)), gone

    check()
    fs.wait_landed("globex", "a/moved/c/f.txt", b"hello world\nmore\n")
    fs.stop()
    keys = fs.stored_keys("globex")
    assert "a/moved/c/f.txt" in keys and "victim" in keys
    assert not any(k.startswith("a/b/") or k in ("gone", "winner") for k in keys), keys
    shutil.rmtree(fs.cache_dir)
    fs.start()
    check()


@pytest.mark.watchdog(150)
def test_listing_across_pages_and_foreign_objects(pfs):
    fs = pfs()
    fs.start()
    b, pfx = fs.location("acme")
    n = 1100                                         # more than one listing page
    for i in range(n):
        fs.store.put(b, pfx + "many/k%05d" % i, b"%d" % i)
    fs.store.put(b, pfx + "foreign.txt", b"from another client", content_type="text/plain")
    names = os.listdir(fs.p("acme", "many"))
    assert len(names) == n and sorted(names) == ["k%05d" % i for i in range(n)]
    assert read_file(fs.p("acme", "many", "k01099")) == b"1099"
    st = os.stat(fs.p("acme", "foreign.txt"))
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o644
    assert st.st_size == len(b"from another client")
    assert read_file(fs.p("acme", "foreign.txt")) == b"from another client"


@pytest.mark.watchdog(150)
def test_random_operations_match_a_model(pfs):
    from test_integrity import run_integrity
    fs = pfs({"objfs": {"chunk_size": "1M", "multipart_threshold": "4M",
                        "staging_max_bytes": "256M"}})
    fs.start()
    model, took = run_integrity(fs, seed=4242, nops=300, nfiles=10,
                                max_size=6 * MiB, max_write=600 * KiB, tenant="initech")
    assert sum(model.stats.values()) == 300


@pytest.mark.watchdog(120)
def test_close_to_open_between_two_mounts(pfs):
    a = pfs().start()
    bsecs = {"objfs": {"cache_dir": os.path.join(a.base, "cache-b")}}
    for sect, kv in a.config.items():
        if sect.startswith("provider ") and sect != "provider local":
            bsecs[sect] = dict(kv)
    if "provider local" in a.config:
        bsecs["provider local"] = {"root": a.config["provider local"]["root"]}
    b = pfs(bsecs).start()
    with open(a.p("acme", "shared.txt"), "wb") as f:
        f.write(b"version one")
    a.wait_landed("acme", "shared.txt", b"version one")
    assert wait_until(lambda: os.path.exists(b.p("acme", "shared.txt")) or None, 10,
                      what="b to see the new file (negative_ttl)") or True
    assert read_file(b.p("acme", "shared.txt")) == b"version one"
    with open(b.p("acme", "shared.txt"), "wb") as f:
        f.write(b"version two, longer")
    b.wait_landed("acme", "shared.txt", b"version two, longer")
    # a's cached attributes may be stale until attr_ttl; an open revalidates
    got = wait_until(lambda: read_file(a.p("acme", "shared.txt")) == b"version two, longer" or None,
                     30, what="close-to-open on mount a")
    assert got


def test_cross_tenant_rename_is_exdev(pfs):
    fs = pfs().start()
    with open(fs.p("acme", "x"), "wb") as f:
        f.write(b"x")
    with pytest.raises(OSError) as e:
        os.rename(fs.p("acme", "x"), fs.p("globex", "x"))
    assert e.value.errno == errno.EXDEV
