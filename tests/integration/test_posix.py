"""POSIX behaviour through the mount, checked against what lands in the store."""

import ctypes
import errno
import json
import os
import random
import stat
import subprocess
import sys
import time
from urllib.parse import unquote_to_bytes

import pytest

from conftest import errname, errno_of, read_file, write_file

ENOTSUP_SET = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP}


def expect_errno(expected, fn, *a, **kw):
    exp = expected if isinstance(expected, (set, frozenset, tuple, list)) else {expected}
    got = errno_of(fn, *a, **kw)
    assert got in exp, "expected %s, got %s" % (
        "/".join(errname(e) for e in exp), errname(got))
    return got


def rand_bytes(rng, n):
    return rng.getrandbits(8 * n).to_bytes(n, "little") if n else b""


# --------------------------------------------------------------------------
# lookup, getattr, readdir

def test_root_lists_tenants(fs):
    assert sorted(os.listdir(fs.mnt)) == ["acme", "globex", "initech"]
    for t in ("acme", "globex", "initech"):
        st = os.stat(fs.p(t))
        assert stat.S_ISDIR(st.st_mode), t
    assert sorted(e.name for e in os.scandir(fs.mnt)) == ["acme", "globex", "initech"]
    assert os.listdir(fs.p("acme")) == []


def test_lookup_getattr(fs):
    data = b"hello objfs\n"
    write_file(fs.p("acme", "hello.txt"), data)
    st = os.stat(fs.p("acme", "hello.txt"))
    assert stat.S_ISREG(st.st_mode)
    assert st.st_size == len(data)
    assert st.st_uid == os.getuid() and st.st_gid == os.getgid()
    assert abs(st.st_mtime - time.time()) < 60
    assert errno_of(os.stat, fs.p("acme", "nope.txt")) == errno.ENOENT
    assert errno_of(os.stat, fs.p("acme", "nodir", "nope.txt")) == errno.ENOENT
    assert errno_of(os.stat, fs.p("acme", "hello.txt", "x")) == errno.ENOTDIR
    assert os.listdir(fs.p("acme")) == ["hello.txt"]
    o = fs.wait_landed("acme", "hello.txt", data)
    assert o.size == len(data)
    assert (o.content_type or "").startswith("text/plain"), o.content_type


def test_content_type_from_name(fs):
    for name, ctype in (("a.json", "application/json"), ("b.html", "text/html"),
                        ("c.png", "image/png")):
        write_file(fs.p("acme", name), b"{}")
        o = fs.wait_landed("acme", name, b"{}")
        assert (o.content_type or "").startswith(ctype), (name, o.content_type)


def test_readdir_3000_entries(objfs_factory):
    fs = objfs_factory()
    bucket, _ = fs.location("acme")
    names = ["file-%04d-%s" % (i, "x" * (i % 61)) for i in range(3000)]
    for n in names:
        fs.store.put(bucket, "big/" + n, n.encode(), fsync=False)
    fs.start()
    got = os.listdir(fs.p("acme", "big"))
    assert len(got) == len(set(got)), "duplicates in os.listdir: %d entries, %d distinct" % (
        len(got), len(set(got)))
    assert sorted(got) == sorted(names)
    got2 = [e.name for e in os.scandir(fs.p("acme", "big"))]
    assert len(got2) == 3000 and sorted(got2) == sorted(names)
    # d_type from readdir agrees
    with os.scandir(fs.p("acme", "big")) as it:
        for e in it:
            assert e.is_file(follow_symlinks=False)
    assert read_file(fs.p("acme", "big", names[2999])) == names[2999].encode()
    # add entries through the mount (pending upload) -> still exactly once each
    extra = ["new-%02d" % i for i in range(20)]
    for n in extra:
        write_file(fs.p("acme", "big", n), b"n")
    got3 = os.listdir(fs.p("acme", "big"))
    assert len(got3) == len(set(got3)) == 3020
    assert sorted(got3) == sorted(names + extra)
    # cold cache: listing comes from the provider again (3+ pages)
    fs.restart(empty_cache=True)
    got4 = os.listdir(fs.p("acme", "big"))
    assert len(got4) == len(set(got4)) == 3020
    assert sorted(got4) == sorted(names + extra)


# --------------------------------------------------------------------------
# create, read, write

def test_create_open_read_write(fs):
    p = fs.p("acme", "f.bin")
    fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o640)
    try:
        assert os.write(fd, b"abc") == 3
        assert os.write(fd, b"defg") == 4
    finally:
        os.close(fd)
    st = os.stat(p)
    um = os.umask(0)
    os.umask(um)
    assert stat.S_IMODE(st.st_mode) == 0o640 & ~um
    assert st.st_size == 7
    fd = os.open(p, os.O_RDWR)
    try:
        assert os.pread(fd, 100, 0) == b"abcdefg"
        assert os.pread(fd, 3, 2) == b"cde"
        assert os.pread(fd, 10, 7) == b""
        assert os.pwrite(fd, b"XY", 1) == 2
        assert os.pread(fd, 100, 0) == b"aXYdefg"
    finally:
        os.close(fd)
    assert read_file(p) == b"aXYdefg"
    o = fs.wait_landed("acme", "f.bin", b"aXYdefg")
    assert o.user_meta.get("mode") == str(stat.S_IFREG | stat.S_IMODE(st.st_mode))


def test_random_offset_writes(fs):
    rng = random.Random(1234)
    size = 3 * 1024 * 1024 + 12345          # crosses chunk boundaries (chunk_size=1M)
    model = bytearray(rand_bytes(rng, size))
    p = fs.p("acme", "rand.bin")
    write_file(p, bytes(model))
    fd = os.open(p, os.O_RDWR)
    try:
        for _ in range(300):
            off = rng.randrange(0, size)
            n = rng.choice([1, 7, 100, 4096, 65536, 300000])
            n = min(n, size - off)
            buf = rand_bytes(rng, n)
            assert os.pwrite(fd, buf, off) == n
            model[off:off + n] = buf
            if rng.random() < 0.1:
                roff = rng.randrange(0, size)
                assert os.pread(fd, 5000, roff) == bytes(model[roff:roff + 5000])
    finally:
        os.close(fd)
    assert os.stat(p).st_size == size
    assert read_file(p) == bytes(model)
    fs.wait_landed("acme", "rand.bin", bytes(model))
    fs.restart(empty_cache=True)
    assert read_file(p) == bytes(model)


def test_sparse_file(fs):
    p = fs.p("acme", "sparse.bin")
    hole = 2 * 1024 * 1024 + 100
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        os.write(fd, b"head")
        os.lseek(fd, hole, os.SEEK_SET)
        os.write(fd, b"tail")
        assert os.fstat(fd).st_size == hole + 4
        mid = os.pread(fd, 4096, 1024 * 1024)
        assert mid == b"\0" * 4096
    finally:
        os.close(fd)
    expected = b"head" + b"\0" * (hole - 4) + b"tail"
    assert os.stat(p).st_size == len(expected)
    assert read_file(p) == expected
    fs.wait_landed("acme", "sparse.bin", expected)
    fs.restart(empty_cache=True)
    assert os.stat(p).st_size == len(expected)
    assert read_file(p) == expected


def test_append(fs):
    p = fs.p("acme", "log.txt")
    write_file(p, b"one\n")
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, b"two\n")           # O_APPEND: goes to the end regardless
        os.write(fd, b"three\n")
    finally:
        os.close(fd)
    with open(p, "ab") as f:
        f.write(b"four\n")
    assert read_file(p) == b"one\ntwo\nthree\nfour\n"
    fs.wait_landed("acme", "log.txt", b"one\ntwo\nthree\nfour\n")
    # append to a landed file after a restart with an empty cache
    fs.restart(empty_cache=True)
    with open(p, "ab") as f:
        f.write(b"five\n")
    assert read_file(p) == b"one\ntwo\nthree\nfour\nfive\n"
    fs.wait_landed("acme", "log.txt", b"one\ntwo\nthree\nfour\nfive\n")


def test_o_trunc(fs):
    p = fs.p("acme", "t.txt")
    write_file(p, b"x" * 100000)
    fs.wait_landed("acme", "t.txt", b"x" * 100000)
    fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
    try:
        assert os.fstat(fd).st_size == 0
        os.write(fd, b"short")
    finally:
        os.close(fd)
    assert read_file(p) == b"short"
    fs.wait_landed("acme", "t.txt", b"short")
    fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
    os.close(fd)
    assert os.stat(p).st_size == 0
    fs.wait_landed("acme", "t.txt", b"")


def test_reader_close_publishes_nothing(fs):
    """close-to-open: a reader's close during another handle's rewrite does
    not upload the half-written file; the writer's close publishes it whole.
    A change made through the reader (fchmod) is still committed at its
    close."""
    p = fs.p("acme", "rw.txt")
    write_file(p, b"version one")
    fs.wait_landed("acme", "rw.txt", b"version one")
    b, pfx = fs.location("acme")
    for reader_close in ("close", "fchmod then close"):
        old = fs.store.head(b, pfx + "rw.txt").sha256()
        rfd = os.open(p, os.O_RDONLY)
        wfd = os.open(p, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(wfd, b"half")
            if reader_close == "fchmod then close":
                os.fchmod(rfd, 0o600)
            os.close(rfd)
            rfd = None
            time.sleep(1.0)       # writeback_delay_ms = 0: an upload would be done
            if reader_close == "close":
                assert fs.store.head(b, pfx + "rw.txt").sha256() == old, reader_close
            os.write(wfd, b" and the rest")
        finally:
            if rfd is not None:
                os.close(rfd)
            os.close(wfd)
        fs.wait_landed("acme", "rw.txt", b"half and the rest")
        write_file(p, b"version one")
        fs.wait_landed("acme", "rw.txt", b"version one")
    fs.restart(empty_cache=True)
    assert os.stat(p).st_mode & 0o777 == 0o600


def test_o_excl(fs):
    p = fs.p("acme", "excl")
    fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    os.write(fd, b"1")
    os.close(fd)
    expect_errno(errno.EEXIST, os.open, p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    assert read_file(p) == b"1"
    # also for a name that only exists in the store (not yet seen by the mount)
    bucket, _ = fs.location("acme")
    fs.store.put(bucket, "excl-remote", b"remote")
    fs.restart(empty_cache=True)
    expect_errno(errno.EEXIST, os.open, fs.p("acme", "excl-remote"),
                 os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    assert read_file(fs.p("acme", "excl-remote")) == b"remote"


def test_truncate_shrink_grow(fs):
    p = fs.p("acme", "tr.bin")
    data = bytes(range(256)) * 8192           # 2 MiB
    write_file(p, data)
    fs.wait_landed("acme", "tr.bin", data)
    os.truncate(p, 1000)
    assert os.stat(p).st_size == 1000
    assert read_file(p) == data[:1000]
    os.truncate(p, 1024 * 1024 + 5)           # grow: zeros
    exp = data[:1000] + b"\0" * (1024 * 1024 + 5 - 1000)
    assert read_file(p) == exp
    fd = os.open(p, os.O_RDWR)
    try:
        os.ftruncate(fd, 10)
        assert os.fstat(fd).st_size == 10
        assert os.pread(fd, 100, 0) == data[:10]
        os.ftruncate(fd, 20)
        assert os.pread(fd, 100, 0) == data[:10] + b"\0" * 10
        os.pwrite(fd, b"Z", 15)
    finally:
        os.close(fd)
    exp = data[:10] + b"\0" * 5 + b"Z" + b"\0" * 4
    assert read_file(p) == exp
    fs.wait_landed("acme", "tr.bin", exp)
    fs.restart(empty_cache=True)
    assert read_file(p) == exp


def test_fsync_file_and_dir(fs):
    p = fs.p("acme", "fs.txt")
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        os.write(fd, b"synced")
        os.fsync(fd)
        os.fdatasync(fd)
    finally:
        os.close(fd)
    os.mkdir(fs.p("acme", "d"))
    dfd = os.open(fs.p("acme", "d"), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    dfd = os.open(fs.p("acme"), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    fs.wait_landed("acme", "fs.txt", b"synced")


def test_fsync_commits_while_open(fs):
    """fsync commits without close: the content lands while the fd stays open."""
    p = fs.p("acme", "open-sync.txt")
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        os.write(fd, b"v1")
        os.fsync(fd)
        fs.wait_landed("acme", "open-sync.txt", b"v1", timeout=20)
        os.write(fd, b"+v2")
        os.fsync(fd)
        fs.wait_landed("acme", "open-sync.txt", b"v1+v2", timeout=20)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------
# unlink

def test_unlink(fs):
    p = fs.p("acme", "gone.txt")
    write_file(p, b"bye")
    fs.wait_landed("acme", "gone.txt", b"bye")
    os.unlink(p)
    assert errno_of(os.stat, p) == errno.ENOENT
    assert "gone.txt" not in os.listdir(fs.p("acme"))
    fs.wait_gone("acme", "gone.txt")
    expect_errno(errno.ENOENT, os.unlink, p)
    fs.restart(empty_cache=True)
    assert errno_of(os.stat, p) == errno.ENOENT


def test_unlink_open_new_file(fs):
    p = fs.p("acme", "tmpfile")
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        os.write(fd, b"before-")
        os.unlink(p)
        assert errno_of(os.stat, p) == errno.ENOENT
        assert os.listdir(fs.p("acme")) == []
        os.write(fd, b"after")
        assert os.pread(fd, 100, 0) == b"before-after"
        assert os.fstat(fd).st_size == 12
        os.fsync(fd)
    finally:
        os.close(fd)
    assert os.listdir(fs.p("acme")) == []
    fs.stop()                                  # drains everything
    assert fs.stored_keys("acme") == [], "unlinked file landed: %r" % fs.stored_keys("acme")


def test_unlink_open_landed_file(fs):
    data = os.urandom(300000)
    p = fs.p("acme", "landed.bin")
    write_file(p, data)
    fs.wait_landed("acme", "landed.bin", data)
    fs.restart(empty_cache=True)               # nothing of it cached locally or in the kernel
    fd = os.open(p, os.O_RDWR)
    try:
        os.unlink(p)
        assert errno_of(os.stat, p) == errno.ENOENT
        fs.wait_gone("acme", "landed.bin")
        assert os.pread(fd, len(data) + 10, 0) == data
        os.pwrite(fd, b"ZZ", 0)
        assert os.pread(fd, 4, 0) == b"ZZ" + data[2:4]
    finally:
        os.close(fd)
    fs.stop()
    assert fs.stored_keys("acme") == []


# --------------------------------------------------------------------------
# directories

def test_mkdir_rmdir(fs):
    d = fs.p("acme", "dir")
    os.mkdir(d, 0o755)
    assert stat.S_ISDIR(os.stat(d).st_mode)
    assert os.listdir(d) == []
    expect_errno(errno.EEXIST, os.mkdir, d)
    fs.wait_landed("acme", "dir/")
    write_file(os.path.join(d, "f"), b"1")
    os.mkdir(os.path.join(d, "sub"))
    expect_errno(errno.ENOTEMPTY, os.rmdir, d)
    expect_errno(errno.ENOENT, os.rmdir, fs.p("acme", "missing"))
    expect_errno(errno.ENOTDIR, os.rmdir, os.path.join(d, "f"))
    os.unlink(os.path.join(d, "f"))
    expect_errno(errno.ENOTEMPTY, os.rmdir, d)
    os.rmdir(os.path.join(d, "sub"))
    os.rmdir(d)
    assert errno_of(os.stat, d) == errno.ENOENT
    assert os.listdir(fs.p("acme")) == []
    fs.stop()
    assert fs.stored_keys("acme") == []


def test_empty_dir_persists(fs):
    os.makedirs(fs.p("acme", "a", "b", "c"))
    fs.restart(empty_cache=True)
    assert os.listdir(fs.p("acme", "a", "b")) == ["c"]
    assert os.listdir(fs.p("acme", "a", "b", "c")) == []
    assert "a/b/c/" in fs.stored_keys("acme")


def test_rmdir_nonempty_only_in_store(objfs_factory):
    """A directory whose only content is in the store (not yet listed) is not empty."""
    fs = objfs_factory()
    bucket, _ = fs.location("acme")
    fs.store.put(bucket, "d/", b"")
    fs.store.put(bucket, "d/inner.txt", b"x")
    fs.start()
    expect_errno(errno.ENOTEMPTY, os.rmdir, fs.p("acme", "d"))
    assert fs.store.exists(bucket, "d/inner.txt")


# --------------------------------------------------------------------------
# rename

def test_rename_file(fs):
    a, b = fs.p("acme", "a.txt"), fs.p("acme", "b.txt")
    write_file(a, b"content-a")
    fs.wait_landed("acme", "a.txt", b"content-a")
    os.rename(a, b)
    assert errno_of(os.stat, a) == errno.ENOENT
    assert read_file(b) == b"content-a"
    assert sorted(os.listdir(fs.p("acme"))) == ["b.txt"]
    fs.stop()
    assert fs.stored_keys("acme") == ["b.txt"]
    assert fs.stored("acme", "b.txt").read() == b"content-a"


def test_rename_pending_file(fs):
    """Rename before the upload happened (writeback delayed)."""
    fs.stop()
    fs.set("objfs", "writeback_delay_ms", 2000)
    fs.start()
    a, b = fs.p("acme", "p1"), fs.p("acme", "p2")
    write_file(a, b"pending")
    os.rename(a, b)
    assert read_file(b) == b"pending"
    fs.stop()
    assert fs.stored_keys("acme") == ["p2"]
    assert fs.stored("acme", "p2").read() == b"pending"


def test_rename_over_existing(fs):
    a, b = fs.p("acme", "src"), fs.p("acme", "dst")
    write_file(a, b"new")
    write_file(b, b"old-old")
    fs.wait_landed("acme", "dst", b"old-old")
    fs.wait_landed("acme", "src", b"new")
    os.rename(a, b)
    assert read_file(b) == b"new"
    assert os.stat(b).st_size == 3
    assert errno_of(os.stat, a) == errno.ENOENT
    assert os.listdir(fs.p("acme")) == ["dst"]
    fs.stop()
    assert fs.stored_keys("acme") == ["dst"]
    assert fs.stored("acme", "dst").read() == b"new"


def test_rename_directory_tree(fs):
    files = {"a": os.urandom(1000), "b/c": b"c" * 5000, "b/d/e": os.urandom(2 * 1024 * 1024 + 3)}
    os.makedirs(fs.p("acme", "d", "b", "d"))
    os.mkdir(fs.p("acme", "d", "empty"))
    for rel, data in files.items():
        write_file(fs.p("acme", "d", rel), data)
    fs.restart()                                     # everything landed
    for rel, data in files.items():
        assert fs.stored("acme", "d/" + rel).read() == data
    os.rename(fs.p("acme", "d"), fs.p("acme", "e2"))
    assert errno_of(os.stat, fs.p("acme", "d")) == errno.ENOENT
    assert errno_of(os.stat, fs.p("acme", "d", "a")) == errno.ENOENT
    assert sorted(os.listdir(fs.p("acme"))) == ["e2"]
    assert sorted(os.listdir(fs.p("acme", "e2"))) == ["a", "b", "empty"]
    assert sorted(os.listdir(fs.p("acme", "e2", "b"))) == ["c", "d"]
    for rel, data in files.items():
        assert read_file(fs.p("acme", "e2", rel)) == data
    fs.stop()
    keys = fs.stored_keys("acme")
    assert not [k for k in keys if k.startswith("d/")], "old keys left: %r" % keys
    assert not [k for k in keys if not k.startswith("e2/")], keys
    filekeys = sorted(k for k in keys if not k.endswith("/"))
    assert filekeys == sorted("e2/" + r for r in files)
    assert "e2/empty/" in keys
    for rel, data in files.items():
        assert fs.stored("acme", "e2/" + rel).read() == data
    fs.start()
    shutil_like_walk = sorted(os.path.relpath(os.path.join(r, f), fs.p("acme"))
                              for r, _, fl in os.walk(fs.p("acme")) for f in fl)
    assert shutil_like_walk == sorted("e2/" + r for r in files)


def test_rename_directory_into_existing_empty_dir(fs):
    os.makedirs(fs.p("acme", "x"))
    write_file(fs.p("acme", "x", "f"), b"f")
    os.makedirs(fs.p("acme", "y"))
    os.rename(fs.p("acme", "x"), fs.p("acme", "y"))   # over an empty dir: allowed
    assert os.listdir(fs.p("acme", "y")) == ["f"]
    os.makedirs(fs.p("acme", "z"))
    write_file(fs.p("acme", "z", "g"), b"g")
    expect_errno({errno.ENOTEMPTY, errno.EEXIST}, os.rename, fs.p("acme", "y"), fs.p("acme", "z"))
    assert read_file(fs.p("acme", "y", "f")) == b"f"


def test_rename_across_tenants_exdev(fs):
    a = fs.p("acme", "mine.txt")
    write_file(a, b"acme data")
    expect_errno(errno.EXDEV, os.rename, a, fs.p("globex", "mine.txt"))
    expect_errno(errno.EXDEV, os.rename, a, fs.p("initech", "mine.txt"))
    os.mkdir(fs.p("globex", "gd"))
    expect_errno(errno.EXDEV, os.rename, fs.p("globex", "gd"), fs.p("initech", "gd"))
    assert read_file(a) == b"acme data"
    assert os.listdir(fs.p("globex")) == ["gd"]
    assert os.listdir(fs.p("initech")) == []
    fs.stop()
    assert fs.stored_keys("globex") == ["gd/"]
    assert fs.stored_keys("initech") == []


def _renameat2(old, new, flags):
    libc = ctypes.CDLL(None, use_errno=True)
    AT_FDCWD = -100
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        pytest.skip("no renameat2 in libc")
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    r = fn(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new), flags)
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def test_rename_noreplace(fs):
    a, b = fs.p("acme", "nr-a"), fs.p("acme", "nr-b")
    write_file(a, b"A")
    write_file(b, b"B")
    expect_errno(errno.EEXIST, _renameat2, a, b, 1)     # RENAME_NOREPLACE
    assert read_file(a) == b"A" and read_file(b) == b"B"
    _renameat2(a, fs.p("acme", "nr-c"), 1)
    assert read_file(fs.p("acme", "nr-c")) == b"A"
    assert errno_of(os.stat, a) == errno.ENOENT


# --------------------------------------------------------------------------
# links

def test_symlink_readlink(fs):
    ln = fs.p("acme", "ln")
    os.symlink("target/of/link.txt", ln)
    assert os.readlink(ln) == "target/of/link.txt"
    assert stat.S_ISLNK(os.lstat(ln).st_mode)
    assert errno_of(os.stat, ln) == errno.ENOENT         # dangling
    os.makedirs(fs.p("acme", "target", "of"))
    write_file(fs.p("acme", "target", "of", "link.txt"), b"through")
    assert read_file(ln) == b"through"
    o = fs.wait_landed("acme", "ln", b"target/of/link.txt")
    assert stat.S_ISLNK(int(o.user_meta["mode"]))
    fs.restart(empty_cache=True)
    assert os.readlink(ln) == "target/of/link.txt"
    assert stat.S_ISLNK(os.lstat(ln).st_mode)
    assert os.lstat(ln).st_size == len("target/of/link.txt")


def test_fifo_and_socket_nodes(fs):
    """FIFOs (and other special files) are empty objects whose mode carries the
    type: they persist, list and behave as FIFOs."""
    ff = fs.p("acme", "pipe")
    os.mkfifo(ff, 0o640)
    st = os.lstat(ff)
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o640
    o = fs.wait_landed("acme", "pipe", b"")
    assert stat.S_ISFIFO(int(o.user_meta["mode"]))
    fs.restart(empty_cache=True)
    assert stat.S_ISFIFO(os.lstat(ff).st_mode)
    assert sorted(os.listdir(fs.p("acme"))) == ["pipe"]
    # the kernel runs the FIFO itself: a writer and a reader meet through it
    pid = os.fork()
    if pid == 0:                                           # child: the writer
        try:
            with open(ff, "wb") as w:
                w.write(b"through the fifo")
        finally:
            os._exit(0)
    with open(ff, "rb") as r:
        assert r.read() == b"through the fifo"
    os.waitpid(pid, 0)
    os.unlink(ff)
    assert errno_of(os.lstat, ff) == errno.ENOENT


def test_hardlink_refused(fs):
    a = fs.p("acme", "orig")
    write_file(a, b"o")
    expect_errno(ENOTSUP_SET, os.link, a, fs.p("acme", "hard"))
    assert errno_of(os.lstat, fs.p("acme", "hard")) == errno.ENOENT
    assert os.stat(a).st_nlink == 1
    assert os.listdir(fs.p("acme")) == ["orig"]


# --------------------------------------------------------------------------
# attributes

def _parse_mtime(v):
    if "." in v:
        s, frac = v.split(".")
        return int(s) * 10**9 + int(frac.ljust(9, "0")[:9])
    return int(v) * 10**9


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to other ids needs root")
def test_chmod_chown_utime_persisted(fs):
    p = fs.p("acme", "attrs.txt")
    write_file(p, b"attrs")
    mt = 1500000000 * 10**9 + 123456789
    os.chmod(p, 0o640)
    os.chown(p, 1234, 5678)
    os.utime(p, ns=(mt, mt))
    st = os.stat(p)
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    assert st.st_mtime_ns == mt
    os.mkdir(fs.p("acme", "dd"))
    os.chmod(fs.p("acme", "dd"), 0o710)
    fs.stop()
    o = fs.stored("acme", "attrs.txt")
    assert o is not None and o.read() == b"attrs"
    um = o.user_meta
    assert um.get("mode") == str(stat.S_IFREG | 0o640), um
    assert um.get("uid") == "1234" and um.get("gid") == "5678", um
    assert _parse_mtime(um.get("mtime", "0")) == mt, um
    dm = fs.stored("acme", "dd/")
    assert dm is not None, fs.stored_keys("acme")
    assert dm.user_meta.get("mode") == str(stat.S_IFDIR | 0o710), dm.user_meta
    shutil_rm = __import__("shutil").rmtree
    shutil_rm(fs.cache_dir)
    fs.start()
    st = os.stat(p)
    assert stat.S_IMODE(st.st_mode) == 0o640 and stat.S_ISREG(st.st_mode)
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    assert st.st_mtime_ns == mt
    assert stat.S_IMODE(os.stat(fs.p("acme", "dd")).st_mode) == 0o710


def test_write_updates_mtime_in_store(fs):
    p = fs.p("acme", "m.txt")
    before = time.time()
    write_file(p, b"m")
    o = fs.wait_landed("acme", "m.txt", b"m")
    mt = _parse_mtime(o.user_meta["mtime"]) / 1e9
    assert before - 2 <= mt <= time.time() + 2
    assert abs(os.stat(p).st_mtime - mt) < 1.01


def test_user_xattrs(fs):
    p = fs.p("acme", "x.txt")
    write_file(p, b"x")
    os.setxattr(p, "user.color", b"blue")
    os.setxattr(p, "user.bin", bytes(range(256)))
    assert os.getxattr(p, "user.color") == b"blue"
    assert os.getxattr(p, "user.bin") == bytes(range(256))
    assert sorted(a for a in os.listxattr(p) if a.startswith("user.")) == ["user.bin", "user.color"]
    os.setxattr(p, "user.color", b"green")
    assert os.getxattr(p, "user.color") == b"green"
    expect_errno(errno.EEXIST, os.setxattr, p, "user.color", b"x", os.XATTR_CREATE)
    expect_errno(errno.ENODATA, os.setxattr, p, "user.none", b"x", os.XATTR_REPLACE)
    os.removexattr(p, "user.bin")
    expect_errno(errno.ENODATA, os.getxattr, p, "user.bin")
    expect_errno(errno.ENODATA, os.removexattr, p, "user.bin")
    fs.stop()
    o = fs.stored("acme", "x.txt")
    assert o is not None and o.read() == b"x"
    assert "xattr" in o.user_meta, o.user_meta
    xj = json.loads(unquote_to_bytes(o.user_meta["xattr"]).decode())
    assert sorted(xj) == ["user.color"], xj
    __import__("shutil").rmtree(fs.cache_dir)
    fs.start()
    assert os.getxattr(p, "user.color") == b"green"
    assert [a for a in os.listxattr(p) if a.startswith("user.")] == ["user.color"]
    expect_errno(errno.ENODATA, os.getxattr, p, "user.bin")


def test_privileged_xattrs_refused(fs):
    p = fs.p("acme", "px.txt")
    write_file(p, b"x")
    for name in ("trusted.evil", "security.evil"):
        expect_errno({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES},
                     os.setxattr, p, name, b"v")
        assert errno_of(os.getxattr, p, name) in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP)
    assert not [a for a in os.listxattr(p) if not a.startswith("user.")]


def test_statfs(fs):
    sv = os.statvfs(fs.p("acme"))
    assert sv.f_bsize > 0
    assert sv.f_namemax in (0, 255)
    sv2 = os.statvfs(fs.mnt)
    assert sv2.f_bsize > 0


# --------------------------------------------------------------------------
# names

def test_name_length_limits(fs):
    n255 = "n" * 255
    write_file(fs.p("acme", n255), b"255")
    assert read_file(fs.p("acme", n255)) == b"255"
    assert os.listdir(fs.p("acme")) == [n255]
    os.mkdir(fs.p("acme", "d" * 255))
    n256 = "m" * 256
    expect_errno(errno.ENAMETOOLONG, os.open, fs.p("acme", n256), os.O_CREAT | os.O_WRONLY, 0o644)
    expect_errno(errno.ENAMETOOLONG, os.mkdir, fs.p("acme", n256))
    expect_errno(errno.ENAMETOOLONG, os.rename, fs.p("acme", n255), fs.p("acme", n256))
    expect_errno(errno.ENAMETOOLONG, os.symlink, "t", fs.p("acme", n256))
    fs.wait_landed("acme", n255, b"255")
    fs.stop()
    assert fs.stored_keys("acme") == sorted([n255, "d" * 255 + "/"])


@pytest.mark.parametrize("tenant", ["acme", "globex"])
def test_key_length_limit(fs, tenant):
    pfx = fs.location(tenant)[1]
    dirs = ["%d" % i + "D" * 199 for i in range(4)]          # 4 x 200 bytes
    base = "/".join(dirs)                                     # 803 bytes
    os.makedirs(fs.p(tenant, *dirs))
    max_name = 1024 - len(pfx) - len(base) - 1
    ok = "k" * max_name
    write_file(fs.p(tenant, *dirs, ok), b"ok")                # key of exactly 1024 bytes
    assert read_file(fs.p(tenant, *dirs, ok)) == b"ok"
    long_ = "k" * (max_name + 1)
    expect_errno(errno.ENAMETOOLONG, os.open, fs.p(tenant, *dirs, long_),
                 os.O_CREAT | os.O_WRONLY, 0o644)
    expect_errno(errno.ENAMETOOLONG, os.mkdir, fs.p(tenant, *dirs, long_))
    expect_errno(errno.ENAMETOOLONG, os.rename, fs.p(tenant, *dirs, ok), fs.p(tenant, *dirs, long_))
    assert os.listdir(fs.p(tenant, *dirs)) == [ok]
    o = fs.wait_landed(tenant, base + "/" + ok, b"ok")
    assert len(o.key.encode()) == 1024


def test_invalid_utf8_name(fs):
    d = os.fsencode(fs.p("acme"))
    bad = os.path.join(d, b"\xff.txt")
    expect_errno({errno.EILSEQ, errno.EINVAL}, os.open, bad, os.O_CREAT | os.O_WRONLY, 0o644)
    expect_errno({errno.EILSEQ, errno.EINVAL}, os.mkdir, os.path.join(d, b"\xc3\x28"))
    assert os.listdir(d) == []
    # valid multi-byte UTF-8 is fine
    write_file(fs.p("acme", "caf\u00e9-\u65e5\u672c.txt"), b"u")
    assert os.listdir(fs.p("acme")) == ["caf\u00e9-\u65e5\u672c.txt"]
    fs.wait_landed("acme", "caf\u00e9-\u65e5\u672c.txt", b"u")


# --------------------------------------------------------------------------
# objects written by other tools

def test_foreign_object_defaults(objfs_factory):
    fs = objfs_factory()
    bucket, _ = fs.location("acme")
    mt = 1600000000 * 10**9 + 500000000
    fs.store.put(bucket, "foreign/plain.txt", b"from another tool", mtime_ns=mt,
                 content_type="text/plain")
    fs.start()
    assert os.listdir(fs.p("acme")) == ["foreign"]
    assert stat.S_ISDIR(os.stat(fs.p("acme", "foreign")).st_mode)
    st = os.stat(fs.p("acme", "foreign", "plain.txt"))
    assert stat.S_ISREG(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o644
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    assert int(st.st_mtime) == 1600000000
    assert st.st_size == len(b"from another tool")
    assert read_file(fs.p("acme", "foreign", "plain.txt")) == b"from another tool"


def test_file_and_prefix_same_name(objfs_factory):
    fs = objfs_factory()
    bucket, _ = fs.location("acme")
    fs.store.put(bucket, "a", b"file a")
    fs.store.put(bucket, "a/b", b"file b")
    fs.start()
    assert os.listdir(fs.p("acme")) == ["a"]
    assert stat.S_ISDIR(os.stat(fs.p("acme", "a")).st_mode)
    assert os.listdir(fs.p("acme", "a")) == ["b"]
    assert read_file(fs.p("acme", "a", "b")) == b"file b"


def test_s3fs_style_metadata_read(objfs_factory):
    """Objects carrying s3fs metadata (mode/uid/gid/mtime) read as s3fs wrote them."""
    fs = objfs_factory()
    bucket, _ = fs.location("acme")
    fs.store.put(bucket, "s3fs.txt", b"s3fs", user_meta={
        "mode": str(stat.S_IFREG | 0o600), "uid": "4321", "gid": "8765", "mtime": "1400000000"})
    fs.store.put(bucket, "rclone.txt", b"rc", user_meta={"mtime": "1400000001.250000000"})
    fs.start()
    st = os.stat(fs.p("acme", "s3fs.txt"))
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert (st.st_uid, st.st_gid) == (4321, 8765)
    assert st.st_mtime_ns == 1400000000 * 10**9
    assert os.stat(fs.p("acme", "rclone.txt")).st_mtime_ns == 1400000001 * 10**9 + 250000000


# --------------------------------------------------------------------------
# permissions

CHILD = r"""
import os, sys
try:
    fd = os.open(sys.argv[1], os.O_RDONLY)
    print("OK:" + os.read(fd, 100).decode())
except OSError as e:
    print("ERR:%d" % e.errno)
"""


def _as_nobody(path):
    def demote():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    r = subprocess.run([sys.executable, "-c", CHILD, path], preexec_fn=demote,
                       capture_output=True, timeout=30)
    return r.stdout.decode().strip() + r.stderr.decode().strip()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to switch users")
def test_default_permissions_eacces(objfs_factory):
    fs = objfs_factory(extra_args=["-o", "default_permissions,allow_other"])
    fs.start()
    write_file(fs.p("acme", "public.txt"), b"public")
    write_file(fs.p("acme", "secret.txt"), b"secret")
    os.chmod(fs.p("acme", "public.txt"), 0o644)
    os.chmod(fs.p("acme", "secret.txt"), 0o000)
    assert _as_nobody(fs.p("acme", "public.txt")) == "OK:public"
    assert _as_nobody(fs.p("acme", "secret.txt")) == "ERR:%d" % errno.EACCES


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to other ids needs root")
def test_rapid_metadata_changes(fs):
    """Metadata-only changes in quick succession, racing the write-back of the
    previous ones: the last values win, in the store and after a cold remount,
    and unmount drains in bounded time."""
    p = fs.p("acme", "meta-race.txt")
    write_file(p, b"meta race")
    last = None
    for i in range(30):
        mode = 0o600 | (i % 8) << 3
        mt = (1500000000 + i) * 10**9
        os.chmod(p, mode)
        os.chown(p, 2000 + i, 3000 + i)
        os.utime(p, ns=(mt, mt))
        last = (mode, 2000 + i, 3000 + i, mt)
        if i % 7 == 3:
            write_file(p, b"meta race %d" % i)                 # data change in between
    data = read_file(p)
    fs.stop(timeout=30)
    o = fs.stored("acme", "meta-race.txt")
    assert o is not None and o.read() == data
    um = o.user_meta
    assert um.get("mode") == str(stat.S_IFREG | last[0]), um
    assert (um.get("uid"), um.get("gid")) == (str(last[1]), str(last[2])), um
    assert _parse_mtime(um.get("mtime", "0")) == last[3], um
    __import__("shutil").rmtree(fs.cache_dir)
    fs.start()
    st = os.stat(p)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns) == last
    assert read_file(p) == data
