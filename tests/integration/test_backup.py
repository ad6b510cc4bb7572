"""objfs-ctl backup: incremental snapshots, resume after SIGKILL, restore,
retention and metrics, on the local and S3 providers (docs/backup.md).

What landed is counted twice: from the summary line and from the backup
store itself (localstore.LocalStore / s3server.S3Store).  Restores are
checked through the mount (SHA-256, mode, mtime of every file).
"""

import hashlib
import os
import re
import subprocess
import time

import pytest

from conftest import BUILD, SANITIZER_MARKERS, clean_env, kill_midway, write_file
from localstore import LocalStore

CTL = os.path.join(BUILD, "objfs-ctl")
SUMMARY_RE = re.compile(r"^backup (\S+) snapshot (\d{8}T\d{6}Z): copied (\d+) objects \((\d+)"
                        r" bytes\), unchanged (\d+), failed (\d+) in [0-9.]+ s$", re.M)
RESTORE_RE = re.compile(r"^restore \S+ snapshot \S+ into \S+: restored (\d+) objects \(\d+ bytes\),"
                        r" unchanged (\d+), conflicts (\d+), failed (\d+)", re.M)
BK = "objfs-backup"


def ctl(o, *args, timeout=120, env=None):
    e = clean_env()
    e.update(env or {})
    r = subprocess.run([CTL, "--config", o.config_path] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=timeout, env=e,
                       stdin=subprocess.DEVNULL)
    for m in SANITIZER_MARKERS:
        assert m not in r.stderr, r.stderr
    return r


def backup(o, *args, expect=0):
    r = ctl(o, "backup", "--tenant", "acme", *args)
    assert r.returncode == expect, r.stdout + r.stderr
    m = SUMMARY_RE.search(r.stdout)
    assert m, r.stdout + r.stderr
    assert len(r.stdout.splitlines()) == 1, r.stdout
    return m.group(2), int(m.group(3)), int(m.group(5)), int(m.group(6))


def tree_of(root):
    """{rel: (sha256, mode, mtime)} of the files under root; dirs as None."""
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs:
            out[os.path.relpath(os.path.join(d, n), root) + "/"] = None
        for n in files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            if os.path.islink(p):
                out[os.path.relpath(p, root)] = ("->" + os.readlink(p), 0, 0)
                continue
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = (hashlib.sha256(f.read()).hexdigest(),
                                                 st.st_mode & 0o7777, int(st.st_mtime))
    return out


def write_tree(o, files):
    for i, (rel, (data, mode)) in enumerate(sorted(files.items())):
        p = o.p("acme", rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        write_file(p, data)
        os.chmod(p, mode)
        os.utime(p, (1_600_000_000 + i * 100, 1_600_000_000 + i * 100))


def flush(o):
    r = o.ctl("flush", "--timeout", "30")
    assert r.returncode == 0, r.stdout + r.stderr


def data_keys(store, base="acme/"):
    return [k for k in store.keys(BK, base + "data/")]


def snapshots(store, base="acme/"):
    return sorted(k for k in store.keys(BK, base + "snapshots/"))


def test_backup_local_incremental_restore_retention(objfs_factory):
    o = objfs_factory({"provider bk": {"type": "local"}})
    root = os.path.join(o.base, "bk-objects")
    o.set("provider bk", "root", root)
    o.start()
    files = {
        "a.txt": (b"alpha\n" * 100, 0o640),
        "dir/b.bin": (os.urandom(70000), 0o600),
        "dir/sub/c.json": (b'{"c": 3}\n', 0o644),
        "empty": (b"", 0o444),
    }
    write_tree(o, files)
    os.mkdir(o.p("acme", "emptydir"))
    os.chmod(o.p("acme", "emptydir"), 0o750)
    os.symlink("../a.txt", o.p("acme", "dir", "lnk"))
    flush(o)
    first = tree_of(o.p("acme"))
    # an object in the tenant's internal area is not backed up
    o.store.put("acme-uploads", ".objfs-trash/x/old", b"trash")
    keys = [k for k in o.store.keys("acme-uploads") if not k.startswith(".objfs-trash/")]
    n = len(keys)
    assert n >= 6, keys            # files, directory markers
    bks = LocalStore(root)

    # usage errors
    for args, msg in [(["--tenant", "acme", "--to", "nosuch"], "no [provider nosuch]"),
                      (["--tenant", "nosuch", "--to", "bk"], "no tenant nosuch"),
                      (["--tenant", "acme", "--to", "local:acme-uploads/x"], "overlaps"),
                      (["--tenant", "acme", "--to", "bk", "--keep", "0"], "--keep 0"),
                      (["--tenant", "acme"], "are required")]:
        r = ctl(o, "backup", *args)
        assert r.returncode == 2 and msg in r.stderr, (args, r.stderr)

    # --dry-run copies nothing
    r = ctl(o, "backup", "--tenant", "acme", "--to", "bk", "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^dry run: backup acme would copy %d objects" % n, r.stdout, re.M), r.stdout
    assert not os.path.exists(os.path.join(root, BK)) or not bks.keys(BK)

    # first run: full
    id1, copied, unchanged, failed = backup(o, "--to", "bk")
    assert (copied, unchanged, failed) == (n, 0, 0)
    assert len(data_keys(bks)) == n and snapshots(bks) == ["acme/snapshots/%s.manifest" % id1]
    manifest = bks.head(BK, "acme/snapshots/%s.manifest" % id1).read().decode()
    assert ".objfs-trash" not in manifest and "obj emptydir/ " in manifest

    # a changed and a deleted file, then an incremental run
    write_file(o.p("acme", "a.txt"), b"changed\n")
    os.unlink(o.p("acme", "dir/b.bin"))
    flush(o)
    o.wait_gone("acme", "dir/b.bin")
    id2, copied, unchanged, failed = backup(o, "--to", "bk")
    assert id2 > id1 and (copied, unchanged, failed) == (1, n - 2, 0)
    assert len(data_keys(bks)) == n + 1        # the old a.txt is still snapshot 1's
    # nothing changed: nothing copied
    id3, copied, unchanged, failed = backup(o, "--to", "bk", "--keep", "5")
    assert (copied, unchanged) == (0, n - 1)

    r = ctl(o, "backup", "list", "--tenant", "acme", "--to", "bk")
    assert r.returncode == 0, r.stderr
    rows = [l.split() for l in r.stdout.splitlines()[1:]]
    assert [x[0] for x in rows] == [id1, id2, id3], r.stdout
    assert int(rows[0][3]) == n and int(rows[1][3]) == n - 1, r.stdout

    # restore snapshot 1 into another tenant, through the mount
    r = ctl(o, "backup", "restore", "--tenant", "acme", "--snapshot", id1, "--to", "initech",
            "--from", "bk", "--mount", o.mnt)
    assert r.returncode == 0, r.stdout + r.stderr
    m = RESTORE_RE.search(r.stdout)
    assert m and int(m.group(1)) == n and int(m.group(4)) == 0, r.stdout
    got = tree_of(o.p("initech"))
    assert got == first, (got, first)
    assert os.stat(o.p("initech", "emptydir")).st_mode & 0o777 == 0o750
    # again: everything is there already
    r = ctl(o, "backup", "restore", "--tenant", "acme", "--snapshot", id1, "--to", "initech",
            "--from", "bk", "--mount", o.mnt)
    m = RESTORE_RE.search(r.stdout)
    assert r.returncode == 0 and m and int(m.group(1)) == 0, r.stdout + r.stderr
    # a differing live file is kept without --force
    write_file(o.p("initech", "a.txt"), b"live and different\n")
    r = ctl(o, "backup", "restore", "--tenant", "acme", "--snapshot", id1, "--to", "initech",
            "--from", "bk", "--mount", o.mnt)
    m = RESTORE_RE.search(r.stdout)
    assert r.returncode == 1 and m and int(m.group(3)) == 1, r.stdout + r.stderr
    assert open(o.p("initech", "a.txt"), "rb").read() == b"live and different\n"
    r = ctl(o, "backup", "restore", "--tenant", "acme", "--snapshot", id1, "--to", "initech",
            "--from", "bk", "--mount", o.mnt, "--force")
    assert r.returncode == 0, r.stdout + r.stderr
    assert tree_of(o.p("initech")) == first

    # retention: keep 2 after 4 runs deletes the two oldest and snapshot 1's data
    id4, copied, _, _ = backup(o, "--to", "bk", "--keep", "2")
    assert copied == 0
    assert snapshots(bks) == ["acme/snapshots/%s.manifest" % i for i in (id3, id4)]
    assert len(data_keys(bks)) == n - 1

    # metrics from the status file
    r = o.ctl("metrics")
    assert r.returncode == 0, r.stderr
    m = re.search(r'^objfs_backup_last_success_timestamp_seconds\{tenant="acme"\} (\d+)',
                  r.stdout, re.M)
    assert m and abs(int(m.group(1)) - time.time()) < 120, r.stdout[-3000:]
    assert re.search(r'^objfs_backup_objects\{tenant="acme"\} %d$' % (n - 1), r.stdout, re.M)
    assert re.search(r'^objfs_backup_bytes\{tenant="acme"\} \d+$', r.stdout, re.M)
    o.stop()


@pytest.mark.watchdog(240)
def test_backup_s3_killed_resumed_and_restored(s3_factory, s3server):
    from s3server import S3Store
    s3 = S3Store(s3server)
    o = s3_factory()
    cred = s3server.credentials_file(os.path.join(o.base, "bk.cred"))
    o.config["tenant hooli"] = {}
    o.config["provider s3b"] = {"type": "s3", "endpoint": s3server.endpoint,
                                "region": "us-east-1", "path_style": "true", "credentials": cred}
    o.start()
    n = 240
    want = {}
    for i in range(n):
        rel = "d%02d/obj %03d.dat" % (i % 7, i)
        data = os.urandom(4096 + i)
        mt = 1_650_000_000 + i
        s3.put("acme-uploads", rel, data, user_meta={"mode": "33188", "mtime": str(mt)})
        want[rel] = (hashlib.sha256(data).hexdigest(), 0o644, mt)
    journal = os.path.join(o.cache_dir, "backup-acme.journal")
    args = [CTL, "--config", o.config_path, "backup", "--tenant", "acme", "--to", "s3b",
            "--parallel", "1"]
    kill_midway(args, lambda: BK in s3.buckets() and len(data_keys(s3)) >= 30, 60,
                "30 objects backed up")
    landed = len(data_keys(s3))
    assert 30 <= landed < n and not snapshots(s3)
    journaled = sum(1 for line in open(journal) if line.startswith("obj "))
    assert journaled >= landed - 1

    _, copied, unchanged, failed = backup(o, "--to", "s3b")
    assert failed == 0 and copied + unchanged == n
    assert n - landed <= copied <= n - landed + 1, (landed, copied)
    assert len(data_keys(s3)) == n and len(snapshots(s3)) == 1
    assert not os.path.exists(journal)
    # nothing changed: no copy, and not even a head of the source
    r = ctl(o, "backup", "--tenant", "acme", "--to", "s3b", env={"OBJFS_LOG_LEVEL": "debug"})
    m = SUMMARY_RE.search(r.stdout)
    assert r.returncode == 0 and m and (int(m.group(3)), int(m.group(5))) == (0, n), r.stdout
    assert not re.search(r"prov main (head|get) bucket=acme-uploads", r.stderr), r.stderr[-2000:]
    assert len(snapshots(s3)) == 2
    # one changed, one deleted: the snapshot after holds n - 1 objects
    s3.put("acme-uploads", "d00/obj 000.dat", b"changed", user_meta={"mode": "33188", "mtime": "1"})
    s3.delete("acme-uploads", "d01/obj 001.dat")
    _, copied, unchanged, failed = backup(o, "--to", "s3b")
    assert (copied, unchanged, failed) == (1, n - 2, 0)
    assert len(data_keys(s3)) == n + 1
    want["d00/obj 000.dat"] = (hashlib.sha256(b"changed").hexdigest(), 0o644, 1)
    del want["d01/obj 001.dat"]

    # a server-side copy: globex and its backup in one bucket
    for i in range(5):
        s3.put("shared-bucket", "tenants/globex/g%d" % i, b"g" * (100 + i))
    r = ctl(o, "backup", "--tenant", "globex", "--to", "s3b:shared-bucket/backups",
            "--keep", "1", env={"OBJFS_LOG_LEVEL": "debug"})
    assert r.returncode == 0 and re.search(r": copied 5 objects", r.stdout), r.stdout + r.stderr
    # copied by the store (no get of the source objects, no put of the data)
    assert len(re.findall(r"prov main copy bucket=shared-bucket key=backups/globex/data/",
                          r.stderr)) == 5, r.stderr[-3000:]
    assert not re.search(r"prov \S+ (put|get) bucket=shared-bucket key=tenants/", r.stderr)
    assert len(s3.keys("shared-bucket", "backups/globex/data/")) == 5

    # restore into initech through the mount: byte-identical, mode and mtime
    r = ctl(o, "backup", "restore", "--tenant", "acme", "--snapshot", "latest", "--to",
            "initech", "--from", "s3b", "--mount", o.mnt)
    assert r.returncode == 0, r.stdout + r.stderr
    got = {k: v for k, v in tree_of(o.p("initech")).items() if v is not None}
    assert got == want
    o.stop()

    # not mounted: straight into hooli's bucket, with the objects' metadata
    r = ctl(o, "backup", "restore", "--tenant", "acme", "--snapshot", "latest", "--to",
            "hooli", "--from", "s3b")
    assert r.returncode == 0 and "straight to its store" in r.stderr, r.stdout + r.stderr
    m = RESTORE_RE.search(r.stdout)
    assert m and int(m.group(1)) == len(want), r.stdout
    assert s3.keys("hooli-uploads") == s3.keys("acme-uploads")
    for k in s3.keys("acme-uploads")[::23]:
        a, b = s3.head("acme-uploads", k), s3.head("hooli-uploads", k)
        assert a.sha256() == b.sha256() and a.user_meta == b.user_meta, k
    # a second time: all there already
    r = ctl(o, "backup", "restore", "--tenant", "acme", "--snapshot", "latest", "--to",
            "hooli", "--from", "s3b")
    m = RESTORE_RE.search(r.stdout)
    assert r.returncode == 0 and m and int(m.group(2)) == len(want), r.stdout + r.stderr
