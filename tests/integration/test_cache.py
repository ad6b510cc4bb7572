"""Metadata cache: warm after restart, close-to-open consistency, negative entries."""

import errno
import os
import stat
import time

from conftest import errno_of, read_file, write_file


def landed(fs, rel, data):
    """data is in the store and the daemon has taken the landing in (until
    then the file has a pending upload, and its local copy rightly wins)."""
    fs.wait_landed("acme", rel, data)
    r = fs.ctl("flush", "--timeout", "30", fs.p("acme", rel))
    assert r.returncode == 0, r.stdout + r.stderr


def ls_l(path):
    """What `ls -l` does: readdir, then lstat of every entry."""
    res = {}
    with os.scandir(path) as it:
        for e in it:
            st = os.lstat(os.path.join(path, e.name))
            res[e.name] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_size,
                           st.st_uid, st.st_mtime_ns)
    return res


def test_warm_listing_after_restart(objfs_factory):
    fs = objfs_factory()
    fs.start()
    d = fs.p("acme", "many")
    os.mkdir(d)
    for i in range(200):
        write_file(os.path.join(d, "f%03d.txt" % i), b"x" * i)
    for i in range(200):
        fs.wait_landed("acme", "many/f%03d.txt" % i, b"x" * i, timeout=30)
    first = ls_l(d)
    first_root = ls_l(fs.p("acme"))
    assert len(first) == 200
    assert first["f123.txt"][2] == 123
    fs.stop()
    fs.start()
    fs.wait_log_quiet(quiet=0.5, timeout=5)
    mark = fs.log_offset()
    second = ls_l(d)
    third = ls_l(fs.p("acme"))
    assert third == first_root and list(third) == ["many"]
    fs.wait_log_quiet(quiet=0.3, timeout=3)
    ops = fs.ops(mark)
    assert sum(ops.values()) == 0, "provider requests during a warm ls -l: %r\n%s" % (
        dict(ops), "\n".join(fs.op_lines(mark)[:20]))
    assert second == first
    # and the content is still right (this may talk to the provider)
    assert read_file(os.path.join(d, "f199.txt")) == b"x" * 199


def test_listing_uses_listing_attributes(objfs_factory):
    """ls -l on a cold cache: one listing, no head request per entry."""
    fs = objfs_factory()
    bucket, _ = fs.location("acme")
    for i in range(150):
        fs.store.put(bucket, "cold/o%03d" % i, b"y" * i, fsync=False)
    fs.start()
    fs.wait_log_quiet(quiet=0.5, timeout=5)
    mark = fs.log_offset()
    got = ls_l(fs.p("acme", "cold"))
    assert len(got) == 150 and got["o149"][2] == 149
    fs.wait_log_quiet(quiet=0.3, timeout=3)
    ops = fs.ops(mark)
    assert ops.get("head", 0) <= 2, "head per entry on ls -l: %r" % dict(ops)
    assert ops.get("get", 0) == 0, dict(ops)
    assert 1 <= ops.get("list", 0) <= 4, dict(ops)


def test_close_to_open(objfs_factory):
    fs = objfs_factory({"objfs": {"revalidate_ms": 0}})
    fs.start()
    p = fs.p("acme", "c2o.txt")
    write_file(p, b"version one")
    landed(fs, "c2o.txt", b"version one")
    assert read_file(p) == b"version one"           # now in the page and attr caches
    assert os.stat(p).st_size == len(b"version one")
    bucket, _ = fs.location("acme")
    new = b"version two, which is longer than the first"
    fs.store.put(bucket, "c2o.txt", new)
    with open(p, "rb") as f:
        got = f.read()
        st = os.fstat(f.fileno())
    assert got == new
    assert st.st_size == len(new)
    # shorter replacement, same open-time check
    fs.store.put(bucket, "c2o.txt", b"v3")
    assert read_file(p) == b"v3"
    # and a write after another client's change starts from the new content
    fs.store.put(bucket, "c2o.txt", b"base-from-other-client")
    with open(p, "r+b") as f:
        f.seek(0)
        f.write(b"BASE")
    assert read_file(p) == b"BASE-from-other-client"
    fs.wait_landed("acme", "c2o.txt", b"BASE-from-other-client")


def test_remote_delete_seen_on_open(objfs_factory):
    fs = objfs_factory({"objfs": {"revalidate_ms": 0}})
    fs.start()
    p = fs.p("acme", "del.txt")
    write_file(p, b"here")
    landed(fs, "del.txt", b"here")
    assert read_file(p) == b"here"
    bucket, _ = fs.location("acme")
    fs.store.delete(bucket, "del.txt")
    got = errno_of(read_file, p)
    assert got in (errno.ENOENT, errno.ESTALE), got
    # the kernel still has the name cached: a create there makes a new file
    write_file(p, b"again")
    assert read_file(p) == b"again"
    landed(fs, "del.txt", b"again")


def test_remote_changes_seen_while_open_elsewhere(objfs_factory):
    """Close-to-open does not depend on the file being closed everywhere: an
    open while another handle holds the file (or while the kernel has not yet
    sent a closed handle's release) still sees another client's new version
    and its delete."""
    fs = objfs_factory({"objfs": {"revalidate_ms": 0}})
    fs.start()
    p = fs.p("acme", "held.txt")
    write_file(p, b"one")
    landed(fs, "held.txt", b"one")
    bucket, _ = fs.location("acme")
    with open(p, "rb") as held:
        assert held.read() == b"one"
        fs.store.put(bucket, "held.txt", b"two, a longer version")
        assert read_file(p) == b"two, a longer version"
        assert os.stat(p).st_size == len(b"two, a longer version")
        fs.store.delete(bucket, "held.txt")
        got = errno_of(read_file, p)
        assert got in (errno.ENOENT, errno.ESTALE), got
    # a file with local changes keeps them: they are newer than the store
    write_file(p, b"local")
    with open(p, "r+b") as w:
        w.write(b"L")
        w.flush()
        fs.store.put(bucket, "held.txt", b"remote meanwhile")
        assert read_file(p) == b"Local"
    landed(fs, "held.txt", b"Local")


def test_new_remote_file_visible_within_dir_ttl(objfs_factory):
    fs = objfs_factory({"objfs": {"dir_ttl": 1, "attr_ttl": 1, "negative_ttl": 1,
                                  "revalidate_ms": 0}})
    fs.start()
    os.mkdir(fs.p("acme", "d"))
    assert os.listdir(fs.p("acme", "d")) == []
    bucket, _ = fs.location("acme")
    fs.store.put(bucket, "d/remote.txt", b"remote")
    deadline = time.monotonic() + 10
    seen = False
    for _ in range(200):
        if "remote.txt" in os.listdir(fs.p("acme", "d")):
            seen = True
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert seen, "a file added by another client never showed up (dir_ttl=1)"
    assert read_file(fs.p("acme", "d", "remote.txt")) == b"remote"


def test_negative_entry_cached(objfs_factory):
    fs = objfs_factory()
    fs.start()
    os.mkdir(fs.p("acme", "neg"))
    write_file(fs.p("acme", "neg", "present"), b"p")
    fs.restart(empty_cache=True)                  # kernel and daemon caches cold
    os.stat(fs.p("acme"))
    fs.wait_log_quiet(quiet=0.5, timeout=5)
    m0 = fs.log_offset()
    assert errno_of(os.stat, fs.p("acme", "missing-name")) == errno.ENOENT
    fs.wait_log_quiet(quiet=0.2, timeout=2)
    m1 = fs.log_offset()
    assert errno_of(os.stat, fs.p("acme", "missing-name")) == errno.ENOENT
    fs.wait_log_quiet(quiet=0.2, timeout=2)
    first, second = fs.ops(m0) - fs.ops(m1), fs.ops(m1)
    assert sum(second.values()) == 0, "second stat of a missing name asked the provider: %r" % dict(second)
    assert sum(first.values()) <= 1, "first stat of a missing name: %r\n%s" % (
        dict(first), "\n".join(fs.op_lines(m0)))
    # negative entries survive in the daemon (not only in the kernel's dcache):
    # open(O_CREAT|O_EXCL) still works and the name appears at once
    fd = os.open(fs.p("acme", "missing-name"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    os.close(fd)
    assert os.stat(fs.p("acme", "missing-name")).st_size == 0


def test_negative_entry_expires(objfs_factory):
    fs = objfs_factory({"objfs": {"negative_ttl": 1, "attr_ttl": 1, "dir_ttl": 1}})
    fs.start()
    assert errno_of(os.stat, fs.p("acme", "later")) == errno.ENOENT
    bucket, _ = fs.location("acme")
    fs.store.put(bucket, "later", b"arrived")
    deadline = time.monotonic() + 10
    for _ in range(200):
        if errno_of(os.stat, fs.p("acme", "later")) is None:
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert read_file(fs.p("acme", "later")) == b"arrived"
