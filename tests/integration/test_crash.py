"""Crash safety: every file whose close() returned is uploaded after kill -9."""

import hashlib
import os
import random

import pytest

from conftest import read_file, wait_until


@pytest.mark.watchdog(100)
def test_kill9_before_upload_then_recover(objfs_factory):
    run_crash(objfs_factory, nfiles=45, changes=False)


@pytest.mark.watchdog(100)
def test_kill9_after_rename_overwrite_unlink_of_pending_files(objfs_factory):
    """Namespace changes of committed-but-not-uploaded files survive kill -9."""
    run_crash(objfs_factory, nfiles=8, changes=True)


def run_crash(objfs_factory, nfiles, changes):
    fs = objfs_factory({"objfs": {"writeback_delay_ms": 600000,
                                  "staging_max_bytes": "512M"}})
    fs.start()
    rng = random.Random(4545)
    files = {}
    os.mkdir(fs.p("acme", "crash"))
    for i in range(nfiles):
        size = rng.randint(1024, 3 * 1024 * 1024)
        data = rng.getrandbits(8 * size).to_bytes(size, "little")
        rel = "crash/file-%02d.bin" % i
        with open(fs.p("acme", rel), "wb") as f:
            f.write(data)
        # close returned: committed
        files[rel] = hashlib.sha256(data).hexdigest()
    if changes:
        # a rename and an overwrite among the committed, not uploaded files
        os.rename(fs.p("acme", "crash/file-00.bin"), fs.p("acme", "crash/renamed-00.bin"))
        files["crash/renamed-00.bin"] = files.pop("crash/file-00.bin")
        with open(fs.p("acme", "crash/file-01.bin"), "r+b") as f:
            f.seek(100)
            f.write(b"OVERWRITTEN")
        with open(fs.p("acme", "crash/file-01.bin"), "rb") as f:
            files["crash/file-01.bin"] = hashlib.sha256(f.read()).hexdigest()
        os.unlink(fs.p("acme", "crash/file-02.bin"))
        del files["crash/file-02.bin"]
    landed_before = [k for k in fs.stored_keys("acme", "crash/") if not k.endswith("/")]
    assert landed_before == [], "uploads happened despite writeback_delay_ms: %r" % landed_before
    fs.kill9()
    assert not os.path.ismount(fs.mnt)
    fs.set("objfs", "writeback_delay_ms", 0)
    fs.start()
    bucket, _ = fs.location("acme")

    def all_landed():
        objs = fs.store.objects(bucket, "crash/")
        for rel, digest in files.items():
            o = objs.get(rel)
            if o is None or o.size == 0 and digest != hashlib.sha256(b"").hexdigest():
                return False
            try:
                if o.sha256() != digest:
                    return False
            except Exception:
                return False
        return True
    wait_until(all_landed, 90, interval=0.2, what="%d files to land after the restart" % len(files))
    assert sorted(k for k in fs.stored_keys("acme", "crash/") if not k.endswith("/")) == sorted(files)
    for rel, digest in files.items():
        assert hashlib.sha256(read_file(fs.p("acme", rel))).hexdigest() == digest, rel
    assert sorted(os.listdir(fs.p("acme", "crash"))) == sorted(r.split("/")[1] for r in files)
    fs.stop()
    for rel, digest in files.items():
        assert fs.stored("acme", rel).sha256() == digest, rel


@pytest.mark.watchdog(120)
def test_sigterm_drains(objfs_factory):
    fs = objfs_factory({"objfs": {"writeback_delay_ms": 3000}})
    fs.start()
    data = {("t%02d" % i): os.urandom(50000 + i) for i in range(10)}
    for n, d in data.items():
        with open(fs.p("globex", n), "wb") as f:
            f.write(d)
    rc = fs.terminate()
    for n, d in data.items():
        o = fs.stored("globex", n)
        assert o is not None and o.read() == d, n
    assert rc == 0, "exit status %d after SIGTERM" % rc


def test_unmount_right_after_close(objfs_factory):
    """close() then unmount at once: every file lands, and no file handle is
    left behind (the kernel may deliver RELEASE after unmount started; under
    ASan a handle the daemon never frees shows up as a leak)."""
    fs = objfs_factory()
    fs.start()
    data = {}
    for i in range(20):
        d = os.urandom(1000 + i * 5000)
        with open(fs.p("acme", "quick-%02d" % i), "wb") as f:
            f.write(d)
        data["quick-%02d" % i] = d
    for n in sorted(data):                                     # read-only opens last
        fd = os.open(fs.p("acme", n), os.O_RDONLY)
        os.close(fd)
    fs.stop()
    assert fs.stored_keys("acme") == sorted(data)
    for n, d in data.items():
        assert fs.stored("acme", n).read() == d, n


@pytest.mark.watchdog(100)
def test_kill9_small_files_committed_inline(objfs_factory):
    """Small files are committed with their content inside the journal entry.
    After kill -9 they are readable and writable before any upload (the
    content is restored from the journal), and land intact."""
    fs = objfs_factory({"objfs": {"writeback_delay_ms": 600000}})
    fs.start()
    rng = random.Random(777)
    files = {}
    os.mkdir(fs.p("acme", "small"))
    for i, size in enumerate([0, 1, 100, 4096, 65535, 65536] + [rng.randint(1, 60000) for _ in range(24)]):
        data = rng.getrandbits(8 * size).to_bytes(size, "little") if size else b""
        rel = "small/s-%02d.bin" % i
        with open(fs.p("acme", rel), "wb") as f:
            f.write(data)
        files[rel] = data
    fs.kill9()
    fs.start()                                   # uploads still held back by the delay
    for rel, data in files.items():
        assert read_file(fs.p("acme", rel)) == data, rel
    with open(fs.p("acme", "small/s-03.bin"), "r+b") as f:   # go on writing the restored state
        f.seek(10)
        f.write(b"CHANGED")
    data = bytearray(files["small/s-03.bin"])
    data[10:17] = b"CHANGED"
    files["small/s-03.bin"] = bytes(data)
    assert [k for k in fs.stored_keys("acme", "small/") if not k.endswith("/")] == []
    fs.stop()                                    # drains: the delay is waived
    for rel, data in files.items():
        o = fs.stored("acme", rel)
        assert o is not None and o.read() == data, rel
