"""SIGHUP reloads the tenant configuration without unmounting (src/reload.h),
and SIGTERM flushes pending uploads while the mount is still up."""
import errno
import os
import signal
import subprocess
import time

from conftest import errno_of, read_file, wait_until, write_file

NOBODY = (65534, 65534)


def hup(o):
    off = o.log_offset()
    o.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "reload" in o.log_since(off), 10, what="reload logged")
    time.sleep(1.2)                # the kernel's entry cache (1 s)
    return o.log_since(off)


def as_user(user, *cmd):
    uid, gid = user
    return subprocess.run(["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid,
                           "--clear-groups"] + list(cmd), capture_output=True, text=True,
                          timeout=30)


def test_reload_adds_removes_and_updates_tenants(objfs_factory):
    o = objfs_factory().start()
    write_file(o.p("globex", "kept.txt"), b"globex data")
    o.wait_landed("globex", "kept.txt", b"globex data")
    assert sorted(os.listdir(o.mnt)) == ["acme", "globex", "initech"]

    # add one tenant, remove one, make one read-only
    o.config["tenant hooli"] = {"bucket": "hooli-bucket", "prefix": "p/"}
    del o.config["tenant initech"]
    o.config["tenant acme"]["read_only"] = "true"
    o.write_config()
    log = hup(o)
    assert "1 added, 1 removed" in log, log
    assert sorted(os.listdir(o.mnt)) == ["acme", "globex", "hooli"]
    assert errno_of(os.stat, o.p("initech")) == errno.ENOENT
    # the new tenant is usable at once, in its own bucket and prefix
    write_file(o.p("hooli", "new.txt"), b"hello hooli")
    o.wait_landed("hooli", "new.txt", b"hello hooli")
    assert o.store.exists("hooli-bucket", "p/new.txt")
    # read-only now applies; reads keep working
    assert errno_of(write_file, o.p("acme", "x.txt"), b"x") == errno.EROFS
    assert read_file(o.p("globex", "kept.txt")) == b"globex data"

    # back again: read-write, and initech returns
    o.config["tenant acme"].pop("read_only")
    o.config["tenant initech"] = {"bucket": "shared-bucket", "prefix": "tenants/initech/"}
    o.write_config()
    log = hup(o)
    assert "1 added" not in log and "reload failed" not in log, log
    assert sorted(os.listdir(o.mnt)) == ["acme", "globex", "hooli", "initech"]
    write_file(o.p("acme", "x.txt"), b"x")
    o.wait_landed("acme", "x.txt", b"x")
    o.stop()


def test_reload_access_lists(objfs_factory):
    o = objfs_factory({"tenant acme": {"allow_uids": "1"}}, extra_args=["-o", "allow_other"]).start()
    r = as_user(NOBODY, "ls", o.p("acme"))
    assert r.returncode != 0 and "Permission denied" in r.stderr, r
    o.config["tenant acme"]["allow_uids"] = "1,%d" % NOBODY[0]
    o.write_config()
    hup(o)
    r = as_user(NOBODY, "ls", o.p("acme"))
    assert r.returncode == 0, r.stderr
    o.stop()


def test_reload_refuses_location_changes_and_bad_files(objfs_factory):
    o = objfs_factory().start()
    write_file(o.p("globex", "a.txt"), b"a")
    o.wait_landed("globex", "a.txt", b"a")
    # moving a tenant to another prefix needs a restart: nothing changes
    o.config["tenant globex"]["prefix"] = "elsewhere/"
    o.config["tenant hooli"] = {}
    o.write_config()
    log = hup(o)
    assert "reload failed" in log and "globex" in log and "prefix" in log, log
    assert "restart" in log
    assert sorted(os.listdir(o.mnt)) == ["acme", "globex", "initech"]
    assert read_file(o.p("globex", "a.txt")) == b"a"

    # a file that does not parse: the error is logged, nothing changes
    with open(o.config_path, "a") as f:
        f.write("[tenant bad..name]\n")
    log = hup(o)
    assert "reload failed" in log and "bad..name" in log, log
    assert sorted(os.listdir(o.mnt)) == ["acme", "globex", "initech"]
    write_file(o.p("acme", "still.txt"), b"works")
    o.wait_landed("acme", "still.txt", b"works")
    o.check_alive()
    o.stop()


def test_sigterm_flushes_before_unmount(objfs_factory):
    """With uploads held back by writeback_delay_ms, SIGTERM uploads them
    all before the daemon exits."""
    o = objfs_factory({"objfs": {"writeback_delay_ms": "600000"}}).start()
    for i in range(20):
        write_file(o.p("acme", "f%02d" % i), b"data %d" % i)
    assert not o.store.exists("acme-uploads", "f00")
    assert o.terminate() == 0
    for i in range(20):
        assert o.store.read("acme-uploads", "f%02d" % i) == b"data %d" % i
    assert "flushing 20 pending upload(s) before unmounting" in o.log_text()
