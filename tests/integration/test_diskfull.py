"""A full local disk: the writer gets ENOSPC, and nothing already committed is lost."""

import errno
import os
import subprocess

import pytest

from conftest import read_file

MiB = 1024 * 1024


@pytest.fixture
def small_cache(tmp_path):
    """A 24 MiB tmpfs as cache_dir (staging and SQLite live there)."""
    d = tmp_path / "smallcache"
    d.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", str(d)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs (needs root)")
    try:
        yield str(d)
    finally:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)


def test_full_disk_gives_enospc_and_keeps_committed(objfs_factory, small_cache):
    # the staging bound is above the disk's size, and nothing uploads before
    # the stop: the disk fills before backpressure could start
    fs = objfs_factory({"objfs": {"cache_dir": small_cache, "staging_max_bytes": "1G",
                                  "writeback_delay_ms": 600000}})
    fs.start()
    kept = os.urandom(4 * MiB)
    with open(fs.p("acme", "kept.bin"), "wb") as f:
        f.write(kept)                                  # close returned: committed
    fd = os.open(fs.p("acme", "filler.bin"), os.O_CREAT | os.O_WRONLY, 0o644)
    got, written = None, 0
    try:
        for _ in range(64):                            # 64 x 1 MiB > 24 MiB disk
            try:
                written += os.write(fd, b"f" * MiB)
            except OSError as e:
                got = e.errno
                break
    finally:
        try:
            os.close(fd)
        except OSError:
            pass                                       # the commit may fail too: not acknowledged
    assert got == errno.ENOSPC, "writing past a full disk gave %r after %d bytes" % (got, written)
    assert read_file(fs.p("acme", "kept.bin")) == kept
    os.unlink(fs.p("acme", "filler.bin"))              # frees the disk
    fs.stop()
    assert fs.stored("acme", "kept.bin").read() == kept
