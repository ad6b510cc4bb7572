"""read_only tenants (EROFS for every mutation, reads and presigned GETs
keep working, presigned PUTs refused) and max_object_size (EFBIG on every
way a file can grow).  docs/guardrails.md, "Read-only tenants and
presigned uploads".

    OBJFS_BUILD=$PWD/build /usr/bin/python3 -m pytest -q tests/integration/test_readonly.py
"""

import errno
import json
import os
import shutil
import subprocess

import pytest

from conftest import errname, errno_of, read_file, wait_until, write_file

MiB = 1024 * 1024


def audit_records(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def reload(o):
    o.write_config()
    r = o.ctl("reload")
    assert r.returncode == 0, r.stderr


def curl(*args):
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                        "--max-time", "20"] + list(args),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return int(r.stdout)


def shell_refused(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0, "%s succeeded on a read-only tenant" % cmd
    assert "Read-only file system" in r.stderr, "%s: %s" % (cmd, r.stderr)


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_read_only_every_mutation(objfs_factory, tmp_path):
    audit = str(tmp_path / "audit.log")
    o = objfs_factory({"objfs": {"audit_log": audit}}).start()
    p = lambda *a: o.p("initech", *a)   # noqa: E731
    # content made while writable, then a reload makes the tenant read-only
    write_file(p("ro.txt"), b"read only data")
    os.mkdir(p("d"))
    write_file(p("d", "x.txt"), b"x")
    os.mkdir(p("empty"))
    os.symlink("ro.txt", p("link"))
    os.setxattr(p("ro.txt"), "user.color", b"blue")
    write_file(o.p("acme", "a.txt"), b"acme data")
    held = os.open(p("d", "x.txt"), os.O_RDWR)        # a write handle from before
    src = os.open(o.p("acme", "a.txt"), os.O_RDONLY)
    r = o.ctl("flush", timeout=60)
    assert r.returncode == 0, r.stderr
    o.set("tenant initech", "read_only", "true")
    reload(o)
    before = sorted(o.stored_keys("initech"))

    try:
        # every mutating call: EROFS
        calls = [
            ("create", os.open, p("new"), os.O_CREAT | os.O_WRONLY, 0o644),
            ("create excl", os.open, p("new"), os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644),
            ("mknod", os.mkfifo, p("fifo")),
            ("mkdir", os.mkdir, p("newdir")),
            ("unlink", os.unlink, p("ro.txt")),
            ("rmdir", os.rmdir, p("empty")),
            ("rename", os.rename, p("ro.txt"), p("moved.txt")),
            ("rename out", os.rename, p("ro.txt"), o.p("acme", "moved.txt")),
            ("rename in", os.rename, o.p("acme", "a.txt"), p("a.txt")),
            ("link", os.link, p("ro.txt"), p("hard")),
            ("symlink", os.symlink, "ro.txt", p("link2")),
            ("open O_WRONLY", os.open, p("ro.txt"), os.O_WRONLY),
            ("open O_RDWR", os.open, p("ro.txt"), os.O_RDWR),
            ("open O_TRUNC", os.open, p("ro.txt"), os.O_WRONLY | os.O_TRUNC),
            ("truncate", os.truncate, p("ro.txt"), 3),
            ("chmod", os.chmod, p("ro.txt"), 0o600),
            ("chown", os.chown, p("ro.txt"), 0, 0),
            ("utimens", os.utime, p("ro.txt"), (1, 1)),
            ("setxattr", os.setxattr, p("ro.txt"), "user.color", b"red"),
            ("setxattr other ns", os.setxattr, p("ro.txt"), "trusted.x", b"1"),
            ("removexattr", os.removexattr, p("ro.txt"), "user.color"),
            ("chmod dir", os.chmod, p("d"), 0o700),
            # through a write handle opened before the reload
            ("write", os.pwrite, held, b"y", 0),
            ("ftruncate", os.ftruncate, held, 0),
            ("fchmod", os.fchmod, held, 0o600),
            ("fallocate", os.posix_fallocate, held, 0, 8192),
            ("copy_file_range", os.copy_file_range, src, held, 9),
        ]
        bad = []
        for c in calls:
            got = errno_of(c[1], *c[2:])
            if got != errno.EROFS:
                bad.append("%s: %s" % (c[0], errname(got)))
        assert not bad, "not EROFS on a read-only tenant: %s" % ", ".join(bad)

        # the usual tools say so too
        shell_refused(["cp", o.p("acme", "a.txt"), p("cp.txt")])
        shell_refused(["mv", p("ro.txt"), p("mv.txt")])
        shell_refused(["touch", p("ro.txt")])
        shell_refused(["touch", p("touched")])
        shell_refused(["truncate", "-s", "0", p("ro.txt")])
        if shutil.which("setfattr"):
            shell_refused(["setfattr", "-n", "user.k", "-v", "v", p("ro.txt")])

        # reads keep working
        assert read_file(p("ro.txt")) == b"read only data"
        assert sorted(os.listdir(p())) == ["d", "empty", "link", "ro.txt"]
        assert os.getxattr(p("ro.txt"), "user.color") == b"blue"
        assert "user.color" in os.listxattr(p("ro.txt"))
        assert os.readlink(p("link")) == "ro.txt"
        assert os.statvfs(p()).f_bsize > 0
        assert os.pread(held, 1, 0) == b"x"
        assert os.access(p("ro.txt"), os.R_OK)
        assert not os.access(p("ro.txt"), os.W_OK)

        # presigned GET works, PUT is refused at the socket
        r = o.ctl("presign", "initech/ro.txt")
        assert r.returncode == 0, r.stderr
        assert curl(r.stdout.strip()) == 200
        r = o.ctl("presign", "--method", "PUT", "initech/new.txt")
        assert r.returncode != 0 and "read-only" in r.stderr, (r.returncode, r.stderr)
    finally:
        os.close(held)
        os.close(src)

    # audited with the errno, tenant and path
    recs = [x for x in audit_records(audit) if x.get("tenant") == "initech"
            and x.get("result") == "EROFS"]
    ops = {x["op"] for x in recs}
    for op in ("create", "mkdir", "unlink", "rmdir", "rename", "link", "symlink", "open",
               "truncate", "chmod", "chown", "utimens", "setxattr", "removexattr",
               "presign"):
        assert op in ops, "no EROFS audit record for %s (have %s)" % (op, sorted(ops))

    # nothing changed in the store; writable again after another reload
    assert sorted(o.stored_keys("initech")) == before
    o.set("tenant initech", "read_only", None)
    reload(o)
    write_file(p("new.txt"), b"writable again")
    o.wait_landed("initech", "new.txt", b"writable again")
    o.stop()


def test_max_object_size_every_growth(objfs_factory):
    o = objfs_factory({"tenant acme": {"max_object_size": str(MiB)}}).start()
    p = lambda *a: o.p("acme", *a)      # noqa: E731
    write_file(p("big.bin"), b"b" * 100)
    fd = os.open(p("f.bin"), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        # a write across the limit stops at it (short write; the kernel splits
        # at the page boundary) or fails whole, never passes it
        try:
            assert os.pwrite(fd, b"x" * 20, MiB - 10) <= 10
        except OSError as e:
            assert e.errno == errno.EFBIG, errname(e.errno)
        assert os.fstat(fd).st_size <= MiB
        assert errno_of(os.pwrite, fd, b"x", MiB) == errno.EFBIG
        assert errno_of(os.ftruncate, fd, MiB + 1) == errno.EFBIG
        assert errno_of(os.posix_fallocate, fd, 0, MiB + 4096) == errno.EFBIG
        # exactly the limit is fine
        os.pwrite(fd, b"z", MiB - 1)
        assert os.fstat(fd).st_size == MiB
    finally:
        os.close(fd)
    assert errno_of(os.truncate, p("big.bin"), MiB + 1) == errno.EFBIG
    # copy_file_range past the limit, from a tenant without one (same mount:
    # the kernel copies through reads and writes)
    src_path = o.p("globex", "src.bin")
    write_file(src_path, b"s" * (MiB + 4096))
    src = os.open(src_path, os.O_RDONLY)
    dst = os.open(p("copy.bin"), os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        def copy_all():
            left = MiB + 4096
            off = 0
            while left:
                n = os.copy_file_range(src, dst, left, off, off)
                assert n > 0
                off += n
                left -= n
        assert errno_of(copy_all) == errno.EFBIG
    finally:
        os.close(src)
        os.close(dst)
    r = subprocess.run(["truncate", "-s", str(MiB + 1), p("big.bin")], capture_output=True,
                       text=True)
    assert r.returncode != 0 and "too large" in r.stderr.lower(), r.stderr
    wait_until(lambda: o.stored("acme", "f.bin") is not None, 30, what="f.bin landed")
    assert o.stored("acme", "f.bin").size == MiB
    o.stop()
