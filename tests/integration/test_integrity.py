"""Seeded random operations mirrored in an in-memory model; the mount, the store
and a cold remount must all agree with the model exactly."""

import hashlib
import os
import random
import shutil
import time

import pytest

from conftest import read_file

KiB = 1024
MiB = 1024 * KiB


class Model:
    def __init__(self, fs, tenant, sub, rng, max_size, max_write, nfiles):
        self.fs, self.tenant, self.sub, self.rng = fs, tenant, sub, rng
        self.max_size, self.max_write, self.nfiles = max_size, max_write, nfiles
        self.files = {}              # name -> bytearray
        self.fds = {}                # name -> fd (O_RDWR) or absent
        self.counter = 0
        self.stats = {}

    def path(self, name):
        return self.fs.p(self.tenant, self.sub, name)

    def data(self, n):
        return self.rng.getrandbits(8 * n).to_bytes(n, "little") if n else b""

    def fd(self, name):
        if name not in self.fds:
            self.fds[name] = os.open(self.path(name), os.O_RDWR)
        return self.fds[name]

    def close(self, name):
        fd = self.fds.pop(name, None)
        if fd is not None:
            os.close(fd)

    def close_all(self):
        for n in list(self.fds):
            self.close(n)

    def new_name(self):
        self.counter += 1
        return "f%04d%s" % (self.counter, self.rng.choice(["", ".txt", ".bin", ".dat"]))

    # -- operations ---------------------------------------------------------
    def op_create(self):
        name = self.new_name()
        fd = os.open(self.path(name), os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
        self.fds[name] = fd
        self.files[name] = bytearray()
        if self.rng.random() < 0.7:
            n = self.rng.randint(1, self.max_write)
            buf = self.data(n)
            assert os.write(fd, buf) == n
            self.files[name] += buf

    def op_pwrite(self, name):
        m = self.files[name]
        end = min(len(m) + self.max_write, self.max_size)
        off = self.rng.randint(0, max(0, end - 1))
        n = self.rng.randint(1, min(self.max_write, self.max_size - off))
        buf = self.data(n)
        assert os.pwrite(self.fd(name), buf, off) == n
        if off > len(m):
            m.extend(b"\0" * (off - len(m)))
        m[off:off + n] = buf

    def op_truncate(self, name):
        m = self.files[name]
        new = self.rng.choice([0, self.rng.randint(0, len(m) + 1),
                               self.rng.randint(0, self.max_size)])
        if self.rng.random() < 0.5:
            os.ftruncate(self.fd(name), new)
        else:
            os.truncate(self.path(name), new)
        if new < len(m):
            del m[new:]
        else:
            m.extend(b"\0" * (new - len(m)))

    def op_append(self, name):
        m = self.files[name]
        n = self.rng.randint(1, max(1, min(self.max_write, self.max_size - len(m))))
        if len(m) + n > self.max_size:
            return
        buf = self.data(n)
        fd = os.open(self.path(name), os.O_WRONLY | os.O_APPEND)
        try:
            assert os.write(fd, buf) == n
        finally:
            os.close(fd)
        m += buf

    def op_rename(self, name):
        if self.rng.random() < 0.3 and len(self.files) > 1:
            dst = self.rng.choice([n for n in self.files if n != name])
            self.close(dst)                  # renaming over an open file: not modelled
            del self.files[dst]
        else:
            dst = self.new_name()
        os.rename(self.path(name), self.path(dst))
        self.files[dst] = self.files.pop(name)
        if name in self.fds:
            self.fds[dst] = self.fds.pop(name)

    def op_unlink(self, name):
        self.close(name)
        os.unlink(self.path(name))
        del self.files[name]

    def op_fsync(self, name):
        os.fsync(self.fd(name))

    def op_reopen(self, name):
        self.close(name)
        if self.rng.random() < 0.5:
            self.fd(name)

    def op_read(self, name):
        m = self.files[name]
        off = self.rng.randint(0, len(m) + 10)
        n = self.rng.randint(1, 200 * KiB)
        got = os.pread(self.fd(name), n, off)
        assert got == bytes(m[off:off + n]), "pread(%s, %d, %d) differs from the model" % (name, n, off)

    def run(self, nops):
        os.makedirs(self.fs.p(self.tenant, self.sub), exist_ok=True)
        for _ in range(self.nfiles):
            self.op_create()
        table = [("pwrite", 40), ("truncate", 7), ("append", 10), ("rename", 6),
                 ("reopen", 10), ("fsync", 5), ("read", 12), ("unlink", 2), ("create", 2)]
        names = [t[0] for t in table]
        weights = [t[1] for t in table]
        for i in range(nops):
            op = self.rng.choices(names, weights)[0]
            self.stats[op] = self.stats.get(op, 0) + 1
            if op == "create" or not self.files:
                if len(self.files) < self.nfiles + 5:
                    self.op_create()
                continue
            name = self.rng.choice(sorted(self.files))
            if op == "unlink" and len(self.files) <= self.nfiles // 2:
                continue
            try:
                getattr(self, "op_" + op)(name)
            except OSError as e:
                raise AssertionError("op %d %s(%s) failed: %s" % (i, op, name, e))

    def verify_mount(self, where):
        d = self.fs.p(self.tenant, self.sub)
        assert sorted(os.listdir(d)) == sorted(self.files), where
        bad = []
        for name, m in sorted(self.files.items()):
            st = os.stat(self.path(name))
            got = read_file(self.path(name))
            if st.st_size != len(m) or got != bytes(m):
                bad.append("%s: size %d (model %d), content %s" % (
                    name, st.st_size, len(m), "ok" if got == bytes(m) else "DIFFERS"))
        assert not bad, "%s: %d/%d files differ from the model:\n%s" % (
            where, len(bad), len(self.files), "\n".join(bad[:20]))

    def verify_store(self):
        bucket, pfx = self.fs.location(self.tenant)
        objs = self.fs.store.objects(bucket, pfx + self.sub + "/")
        files = {k[len(pfx) + len(self.sub) + 1:]: o for k, o in objs.items() if not k.endswith("/")}
        assert sorted(files) == sorted(self.files), "store keys differ from the model"
        bad = [n for n, m in self.files.items()
               if files[n].size != len(m) or files[n].sha256() != hashlib.sha256(m).hexdigest()]
        assert not bad, "store content differs for %r" % bad[:20]


def run_integrity(fs, seed, nops, nfiles, max_size, max_write, tenant="acme"):
    t0 = time.monotonic()
    model = Model(fs, tenant, "integ", random.Random(seed), max_size, max_write, nfiles)
    try:
        model.run(nops)
        model.verify_mount("while open")
    finally:
        model.close_all()
    model.verify_mount("after close")
    fs.stop()                                    # drains the uploads
    model.verify_store()
    shutil.rmtree(fs.cache_dir)
    fs.start()
    model.verify_mount("after a cold remount")
    return model, time.monotonic() - t0


@pytest.mark.watchdog(150)
def test_random_ops_default_chunks(objfs_factory):
    fs = objfs_factory({"objfs": {"chunk_size": "8M", "staging_max_bytes": "256M"}})
    fs.start()
    model, took = run_integrity(fs, seed=20240611, nops=1500, nfiles=40,
                                max_size=1 * MiB, max_write=96 * KiB)
    assert sum(model.stats.values()) == 1500
    assert took < 90, "took %.0fs" % took


@pytest.mark.watchdog(150)
def test_random_ops_multipart(objfs_factory):
    fs = objfs_factory({"objfs": {"chunk_size": "1M", "multipart_threshold": "2M",
                                  "staging_max_bytes": "256M"}})
    fs.start()
    model, took = run_integrity(fs, seed=777, nops=1000, nfiles=16,
                                max_size=5 * MiB, max_write=700 * KiB, tenant="globex")
    ops = fs.ops_total()
    assert ops.get("mpu_complete", 0) > 0, "no multipart upload happened: %r" % dict(ops)
    assert ops.get("mpu_upload_part", 0) > 0, dict(ops)
    assert took < 90, "took %.0fs" % took


@pytest.mark.watchdog(120)
def test_part_copy_for_small_change(objfs_factory):
    """A one-byte change to a landed multi-chunk file re-uploads the dirty chunk
    and copies the others server-side."""
    fs = objfs_factory({"objfs": {"chunk_size": "1M", "multipart_threshold": "2M"}})
    fs.start()
    data = bytearray(os.urandom(5 * MiB + 1234))
    p = fs.p("acme", "big.bin")
    with open(p, "wb") as f:
        f.write(data)
    fs.wait_landed("acme", "big.bin", bytes(data))
    fs.wait_log_quiet(quiet=0.5, timeout=5)
    mark = fs.log_offset()
    with open(p, "r+b") as f:
        f.seek(2 * MiB + 10)
        f.write(b"!")
    data[2 * MiB + 10:2 * MiB + 11] = b"!"
    fs.wait_landed("acme", "big.bin", bytes(data))
    fs.wait_log_quiet(quiet=0.3, timeout=3)
    ops = fs.ops(mark)
    assert ops.get("mpu_upload_part_copy", 0) >= 1, "no part copies: %r" % dict(ops)
    assert ops.get("mpu_upload_part", 0) <= 2, "re-uploaded clean chunks: %r" % dict(ops)
    assert read_file(p) == bytes(data)
    fs.restart(empty_cache=True)
    assert read_file(p) == bytes(data)


@pytest.mark.watchdog(120)
def test_concurrent_writers_and_listers(objfs_factory):
    """Several threads write their own files while others list and stat; every
    file ends up exactly as its writer left it, in the mount and the store."""
    import threading
    fs = objfs_factory({"objfs": {"chunk_size": "1M", "multipart_threshold": "2M"}})
    fs.start()
    os.mkdir(fs.p("acme", "conc"))
    results, errors = {}, []
    stop = threading.Event()

    def writer(w):
        rng = random.Random(1000 + w)
        try:
            for j in range(4):
                name = "w%d-%d.bin" % (w, j)
                size = rng.randint(1, 3 * MiB)
                m = bytearray(rng.getrandbits(8 * size).to_bytes(size, "little"))
                p = fs.p("acme", "conc", name)
                with open(p, "wb") as f:
                    f.write(m)
                fd = os.open(p, os.O_RDWR)
                try:
                    for _ in range(20):
                        off = rng.randint(0, len(m))
                        buf = rng.getrandbits(8 * 1000).to_bytes(1000, "little")
                        os.pwrite(fd, buf, off)
                        if off > len(m):
                            m.extend(b"\0" * (off - len(m)))
                        m[off:off + 1000] = buf
                    if rng.random() < 0.5:
                        os.fsync(fd)
                finally:
                    os.close(fd)
                results[name] = bytes(m)
        except Exception as e:  # reported below
            errors.append("writer %d: %r" % (w, e))

    def lister():
        for _ in range(2000):
            if stop.is_set():
                return
            try:
                for n in os.listdir(fs.p("acme", "conc")):
                    try:
                        os.stat(fs.p("acme", "conc", n))
                    except FileNotFoundError:
                        pass
            except Exception as e:
                errors.append("lister: %r" % e)
                return

    writers = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    listers = [threading.Thread(target=lister) for _ in range(2)]
    for t in writers + listers:
        t.start()
    for t in writers:
        t.join(90)
    stop.set()
    for t in listers:
        t.join(10)
    assert not errors, errors
    assert len(results) == 24
    assert sorted(os.listdir(fs.p("acme", "conc"))) == sorted(results)
    for n, d in results.items():
        assert read_file(fs.p("acme", "conc", n)) == d, n
    fs.stop()
    for n, d in results.items():
        o = fs.stored("acme", "conc/" + n)
        assert o is not None and o.size == len(d) and o.read() == d, n


@pytest.mark.watchdog(150)
def test_random_ops_through_read_cache(objfs_factory):
    """The same model with every base read going through the on-disk read
    cache (read_cache = always; tiny, so blocks are evicted and refetched)."""
    fs = objfs_factory({"objfs": {"chunk_size": "1M", "read_cache": "always",
                                  "read_cache_max_bytes": "3M"}})
    fs.start()
    model, took = run_integrity(fs, seed=4242, nops=800, nfiles=20,
                                max_size=3 * MiB, max_write=200 * KiB)
    rc_dir = os.path.join(fs.cache_dir, "readcache")
    assert os.path.isdir(rc_dir)
    used = sum(os.path.getsize(os.path.join(rc_dir, n)) for n in os.listdir(rc_dir))
    assert used <= 3 * MiB, "read cache holds %d bytes over its 3 MiB bound" % used
    assert used > 0, "the cold remount's reads did not go through the read cache"
    assert took < 90, "took %.0fs" % took
