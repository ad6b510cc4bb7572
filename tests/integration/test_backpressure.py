"""Staging space is bounded: writers wait rather than overfill the disk."""

import hashlib
import os
import threading
import time

import pytest

from conftest import read_file

MiB = 1024 * 1024


def du(path):
    """Bytes allocated under path (like du -s), tolerant of files vanishing."""
    total = 0
    stack = [path]
    for _ in range(100000):
        if not stack:
            break
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                for e in it:
                    try:
                        st = e.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
                    else:
                        total += st.st_blocks * 512
        except (FileNotFoundError, NotADirectoryError):
            continue
    return total


@pytest.mark.watchdog(150)
def test_staging_bounded(objfs_factory):
    run_backpressure(objfs_factory, delay_ms=0)


@pytest.mark.watchdog(150)
def test_staging_full_blocks_writers(objfs_factory):
    """With a write-back delay, staging really fills up: writers must wait for
    space (not fail, not exceed the bound) and everything lands."""
    peak = run_backpressure(objfs_factory, delay_ms=300)
    assert peak >= 2 * MiB, "staging never filled (peak %d): backpressure not exercised" % peak


def run_backpressure(objfs_factory, delay_ms):
    limit = 4 * MiB
    fs = objfs_factory({"objfs": {"chunk_size": "1M", "staging_max_bytes": "4M",
                                  "writeback_delay_ms": delay_ms, "upload_workers": 1}})
    fs.start()
    staging = os.path.join(fs.cache_dir, "staging")
    assert os.path.isdir(staging), "no staging directory %s; cache_dir has %r" % (
        staging, os.listdir(fs.cache_dir))
    samples = []
    stop = threading.Event()

    def sampler():
        deadline = time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < deadline:
            samples.append(du(staging))
            time.sleep(0.05)
    t = threading.Thread(target=sampler, daemon=True)
    t.start()
    files = {}
    try:
        for i in range(40):
            data = os.urandom(MiB)
            with open(fs.p("acme", "bp-%02d.bin" % i), "wb") as f:
                for off in range(0, MiB, 128 * 1024):
                    f.write(data[off:off + 128 * 1024])
            files["bp-%02d.bin" % i] = hashlib.sha256(data).hexdigest()
    finally:
        stop.set()
        t.join(10)
    assert samples, "no samples"
    peak = max(samples)
    assert peak > 0, "the staging directory never held data (%d samples)" % len(samples)
    print("staging peak %d bytes over %d samples" % (peak, len(samples)))
    assert peak <= limit + 2 * MiB, "staging peaked at %d bytes (limit %d + 2 MiB slack)" % (peak, limit)
    fs.stop()
    for n, digest in files.items():
        o = fs.stored("acme", n)
        assert o is not None, n
        assert o.sha256() == digest, n
    fs.start()
    for n, digest in files.items():
        assert hashlib.sha256(read_file(fs.p("acme", n))).hexdigest() == digest
    return peak
