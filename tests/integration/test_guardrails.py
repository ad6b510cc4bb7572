"""Per-tenant guardrails from the configuration (SPEC "Tenants"): maximum object
size (EFBIG), denied content types (EACCES), quota (EDQUOT), allowed uids."""

import errno
import os
import subprocess
import sys

import pytest

from conftest import errname, errno_of, write_file

MiB = 1024 * 1024


def test_max_object_size(objfs_factory):
    fs = objfs_factory({"tenant acme": {"max_object_size": str(MiB)}})
    fs.start()
    p = fs.p("acme", "big.bin")
    write_file(p, b"a" * MiB)                                # exactly the limit: fine
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    try:
        got = errno_of(os.write, fd, b"b")
    finally:
        os.close(fd)
    assert got == errno.EFBIG, errname(got)
    assert errno_of(os.truncate, p, MiB + 1) == errno.EFBIG
    fd = os.open(fs.p("acme", "other.bin"), os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        assert errno_of(os.pwrite, fd, b"x", MiB) == errno.EFBIG
    finally:
        os.close(fd)
    assert os.stat(p).st_size == MiB
    write_file(fs.p("globex", "unlimited.bin"), b"g" * (MiB + 1))   # other tenant: no limit
    fs.stop()
    assert fs.stored("acme", "big.bin").read() == b"a" * MiB
    assert fs.stored("globex", "unlimited.bin").size == MiB + 1


def test_denied_types(objfs_factory):
    # .exe is application/x-msdos-program in Debian's mime.types,
    # application/x-msdownload in the built-in table (no mime.types)
    fs = objfs_factory({"tenant acme": {
        "denied_types": "application/x-msdos-program, application/x-msdownload"}})
    fs.start()
    got = errno_of(os.open, fs.p("acme", "evil.exe"), os.O_CREAT | os.O_WRONLY, 0o644)
    assert got == errno.EACCES, errname(got)
    write_file(fs.p("acme", "fine.txt"), b"ok")
    write_file(fs.p("globex", "allowed.exe"), b"MZ")           # only acme denies it
    fs.stop()
    assert fs.stored_keys("acme") == ["fine.txt"]
    assert fs.stored("globex", "allowed.exe").read() == b"MZ"


CHILD = r"""
import os, sys
try:
    print("OK:" + ",".join(sorted(os.listdir(sys.argv[1]))))
except OSError as e:
    print("ERR:%d" % e.errno)
"""


def _as_uid(uid, path):
    def demote():
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    r = subprocess.run([sys.executable, "-c", CHILD, path], preexec_fn=demote,
                       capture_output=True, timeout=30)
    return (r.stdout.decode() + r.stderr.decode()).strip()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
def test_allow_uids(objfs_factory):
    fs = objfs_factory({"tenant globex": {"allow_uids": "1000,1001"}},
                       extra_args=["-o", "allow_other"])
    fs.start()
    write_file(fs.p("globex", "g.txt"), b"g")
    write_file(fs.p("acme", "a.txt"), b"a")
    assert _as_uid(65534, fs.p("acme")) == "OK:a.txt"          # control: acme is open
    assert _as_uid(1000, fs.p("globex")) == "OK:g.txt"         # an allowed uid
    assert _as_uid(65534, fs.p("globex")) == "ERR:%d" % errno.EACCES
