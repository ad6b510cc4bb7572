"""Trash (docs/trash.md): unlink, overwrite, rename over and rm -r keep the
previous object under the tenant's hidden .objfs-trash area; objfs-ctl trash
list/restore/purge; expiry with a moved clock (OBJFS_CLOCK_OFFSET)."""

import errno
import json
import os
import shutil
import subprocess
import time

from conftest import errno_of, read_file, sha256, wait_until, write_file

DAY = 86400
T = "globex"            # shares its bucket with initech (prefix tenants/<name>/)
MTIME = 1600000000      # a fixed mtime, so a restored one is recognisable


def put(o, rel, data, mode=0o644, mtime=MTIME):
    path = o.p(T, rel)
    write_file(path, data)
    o.wait_landed(T, rel, data)
    # landed and off the queue: its attributes are then a metadata copy in
    # place, no new version (docs/trash.md)
    assert o.ctl("flush", T + "/" + rel).returncode == 0
    os.chmod(path, mode)
    os.utime(path, (mtime, mtime))


def trash_list(o, path=T):
    r = o.ctl("trash", "list", "--json", path)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["entries"]


def restore(o, *args):
    return o.ctl("trash", "restore", *args)


def trash_keys(o):
    return [k for k in o.stored_keys(T) if k.startswith(".objfs-trash/")]


def check_restored(o, rel, data, mode, mtime=MTIME):
    st = os.stat(o.p(T, rel))
    assert sha256(read_file(o.p(T, rel))) == sha256(data)
    assert st.st_mode & 0o7777 == mode
    assert int(st.st_mtime) == mtime


def check_hidden(o):
    root = o.p(T)
    assert ".objfs-trash" not in os.listdir(root)
    ls = subprocess.run(["ls", "-a", root], capture_output=True, text=True, check=True)
    assert ".objfs-trash" not in ls.stdout
    find = subprocess.run(["find", o.mnt], capture_output=True, text=True)
    assert ".objfs-trash" not in find.stdout
    hidden = o.p(T, ".objfs-trash")
    assert errno_of(os.stat, hidden) == errno.ENOENT
    assert errno_of(os.listdir, hidden) == errno.ENOENT
    # a version by its full name cannot be opened either
    vkey = trash_keys(o)[0]
    assert errno_of(open, o.p(T, vkey), "rb") == errno.ENOENT
    # the name is refused for anything new
    assert errno_of(os.mkdir, hidden) == errno.EPERM
    assert errno_of(open, hidden, "wb") == errno.EPERM
    assert errno_of(os.mkdir, o.p(T, ".objfs-trash", "x")) == errno.ENOENT
    write_file(o.p(T, "mv-me"), b"m")
    assert errno_of(os.rename, o.p(T, "mv-me"), hidden) == errno.EPERM
    os.unlink(o.p(T, "mv-me"))
    # whether mv-me landed before the unlink (and so was kept) is timing
    r = o.ctl("trash", "purge", "--tenant", T, "mv-me")
    assert r.returncode == 0, r.stderr
    assert "mv-me" not in [e["path"] for e in trash_list(o)]
    # not in the tenant that shares the bucket, nor in another one
    for other in ("initech", "acme"):
        assert ".objfs-trash" not in os.listdir(o.p(other))
        assert not [k for k in o.stored_keys(other) if ".objfs-trash" in k]


def scenario(o):
    """delete, overwrite, rename over, rm -r; then list, restore, conflicts."""
    put(o, "a.txt", b"A1" * 1000, 0o640)
    put(o, "b.txt", b"B1", 0o600)
    put(o, "c.txt", b"C1", 0o604)
    put(o, "d.txt", b"D1", 0o644, mtime=MTIME + 5)
    os.makedirs(o.p(T, "tree", "sub"))
    put(o, "tree/x", b"X1", 0o640)
    put(o, "tree/sub/y", b"Y1", 0o600)

    os.unlink(o.p(T, "a.txt"))                      # delete
    write_file(o.p(T, "b.txt"), b"B2")              # overwrite (O_TRUNC)
    o.wait_landed(T, "b.txt", b"B2")
    os.rename(o.p(T, "d.txt"), o.p(T, "c.txt"))     # rename over
    shutil.rmtree(o.p(T, "tree"))                   # rm -r

    ents = trash_list(o)
    paths = sorted(e["path"] for e in ents)
    assert paths == ["a.txt", "b.txt", "c.txt", "tree/sub/y", "tree/x"], ents
    for e in ents:
        assert e["expires"] - e["deleted"] == 7 * DAY
        assert e["tenant"] == T
    a = [e for e in ents if e["path"] == "a.txt"][0]
    assert a["size"] == 2000 and a["mode"] == "0640" and int(a["mtime"]) == MTIME
    check_hidden(o)

    # delete: content, mode and mtime come back
    r = restore(o, T + "/a.txt")
    assert r.returncode == 0, r.stderr
    check_restored(o, "a.txt", b"A1" * 1000, 0o640)

    # a live file is never replaced without --force
    r = restore(o, T + "/b.txt")
    assert r.returncode == 1 and "exists" in r.stderr, (r.returncode, r.stderr)
    assert read_file(o.p(T, "b.txt")) == b"B2"
    r = restore(o, "--tenant", T, "b.txt", "--to", "b-old.txt")
    assert r.returncode == 0, r.stderr
    check_restored(o, "b-old.txt", b"B1", 0o600)
    assert read_file(o.p(T, "b.txt")) == b"B2"

    # versions: newest first; --version picks one
    write_file(o.p(T, "b.txt"), b"B3")
    o.wait_landed(T, "b.txt", b"B3")
    write_file(o.p(T, "b.txt"), b"B4")
    o.wait_landed(T, "b.txt", b"B4")
    vs = trash_list(o, T + "/b.txt")
    assert [e["path"] for e in vs] == ["b.txt"] * 2, vs     # B3 and B2
    assert vs[0]["version"] > vs[-1]["version"] and vs[0]["size"] == 2
    r = restore(o, T + "/b.txt", "--version", vs[-1]["version"], "--to", T + "/b2.txt")
    assert r.returncode == 0, r.stderr
    assert read_file(o.p(T, "b2.txt")) == b"B2"
    r = restore(o, T + "/b.txt", "--version", "00000000000000-00000000")
    assert r.returncode == 1 and "no version" in r.stderr

    # rename over, --force: C1 back, the live D1 kept in the trash instead
    r = restore(o, "--force", T + "/c.txt")
    assert r.returncode == 0, r.stderr
    check_restored(o, "c.txt", b"C1", 0o604)
    vs = trash_list(o, T + "/c.txt")
    assert len(vs) == 1 and vs[0]["size"] == 2 and int(vs[0]["mtime"]) == MTIME + 5

    # rm -r: a directory path restores every file below it
    r = restore(o, T + "/tree")
    assert r.returncode == 0, r.stderr
    assert "tree/x" in r.stdout and "tree/sub/y" in r.stdout
    assert sorted(os.listdir(o.p(T, "tree"))) == ["sub", "x"]
    check_restored(o, "tree/x", b"X1", 0o640)
    check_restored(o, "tree/sub/y", b"Y1", 0o600)

    # purge one version by hand
    left = trash_list(o)
    assert sorted(e["path"] for e in left) == ["b.txt", "c.txt"]
    r = o.ctl("trash", "purge", "--tenant", T, "c.txt", "--version", left[1]["version"])
    assert r.returncode == 0 and "purged 1 versions" in r.stdout, (r.stdout, r.stderr)
    assert [e["path"] for e in trash_list(o)] == ["b.txt"]


def expire(o):
    """Restarted with the clock 8 days on: the start-up purge empties it."""
    put(o, "late.txt", b"L")
    os.unlink(o.p(T, "late.txt"))
    assert len(trash_keys(o)) == 2
    o.stop()
    o.start(env={"OBJFS_CLOCK_OFFSET": str(8 * DAY)})
    wait_until(lambda: not trash_keys(o), 20, what="expired versions purged")
    assert trash_list(o) == []
    assert "trash: purged 2 versions" in o.log_text()


def test_trash_local(objfs_factory):
    o = objfs_factory({"tenant " + T: {"trash_days": 7}}).start()
    scenario(o)
    expire(o)


def test_trash_rewrite_keeps_one_version(objfs_factory):
    """A rewrite keeps exactly the object it replaces, even when a reader of
    the file closes between the rewrite's O_TRUNC and its data (that close
    once uploaded the emptied file, a spurious version)."""
    o = objfs_factory({"tenant " + T: {"trash_days": 7}}).start()
    put(o, "r.txt", b"R1")
    for n in range(2, 5):
        rfd = os.open(o.p(T, "r.txt"), os.O_RDONLY)
        wfd = os.open(o.p(T, "r.txt"), os.O_WRONLY | os.O_TRUNC)
        os.close(rfd)
        time.sleep(0.3)
        os.write(wfd, b"R%d" % n)
        os.close(wfd)
        o.wait_landed(T, "r.txt", b"R%d" % n)
    vs = trash_list(o, T + "/r.txt")
    assert [e["size"] for e in vs] == [2, 2, 2], vs
    for e, n in zip(vs, (3, 2, 1)):
        r = restore(o, T + "/r.txt", "--version", e["version"], "--to", T + "/v%d" % n)
        assert r.returncode == 0, r.stderr
        assert read_file(o.p(T, "v%d" % n)) == b"R%d" % n


def test_trash_off_keeps_nothing(objfs_factory):
    o = objfs_factory().start()
    put(o, "a.txt", b"A")
    write_file(o.p(T, "a.txt"), b"A2")
    o.wait_landed(T, "a.txt", b"A2")
    os.unlink(o.p(T, "a.txt"))
    o.wait_gone(T, "a.txt")
    assert trash_keys(o) == []
    assert trash_list(o) == []
    r = restore(o, T + "/a.txt")
    assert r.returncode == 1 and "nothing in the trash" in r.stderr


def test_trash_s3(s3_factory):
    o = s3_factory({"tenant " + T: {"trash_days": 7}}).start()
    scenario(o)
    expire(o)


def test_trash_key_too_long_still_deletes(objfs_factory):
    """A path with no room for the trash prefix under the 1,024-byte key limit
    is deleted (and overwritten) without a kept version, never refused."""
    o = objfs_factory({"tenant " + T: {"trash_days": 7}}).start()
    dirs = "/".join(["d%d" % i + "x" * 197 for i in range(4)])       # 4 x 199 + 3
    rel = dirs + "/" + "f" * (1000 - len(dirs) - 1)
    assert len(rel) == 1000                 # key fits (prefix 15), trash key does not
    os.makedirs(o.p(T, dirs))
    write_file(o.p(T, rel), b"old")
    o.wait_landed(T, rel, b"old")
    write_file(o.p(T, rel), b"new")
    o.wait_landed(T, rel, b"new")           # the overwrite is not stuck
    os.unlink(o.p(T, rel))
    o.wait_gone(T, rel)
    assert trash_keys(o) == []
    assert "no version kept" in o.log_text()
