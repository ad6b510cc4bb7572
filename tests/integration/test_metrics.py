"""Prometheus metrics on metrics_listen: real file operations on the mount
(local provider and S3 on s3rver), scraped over HTTP and parsed with
prometheus_client's parser; counters must move by at least what the test
did, with the right labels, and the write-back gauges return to 0 once the
uploads landed.  A metrics_listen port that is taken fails the start with
one line.
"""

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from conftest import TIMEOUT_SCALE, errno_of, free_port, read_file, wait_until, write_file

FS_OPS = {"getattr", "access", "readlink", "opendir", "readdir", "releasedir", "mknod", "mkdir",
          "symlink", "unlink", "rmdir", "rename", "link", "chmod", "chown", "truncate",
          "utimens", "create", "open", "read", "write", "statfs", "flush", "release",
          "fsync", "fsyncdir", "setxattr", "getxattr", "listxattr", "removexattr"}
PROV_OPS = {"head", "get", "put", "list", "del", "del_batch", "copy", "mpu_create",
            "mpu_upload_part", "mpu_upload_part_copy", "mpu_complete", "mpu_abort",
            "mpu_list_parts", "mpu_list_uploads", "set_defaults", "presign", "presign_check",
            "health", "bucket_exists", "bucket_create"}


class Scrape:
    """One parsed scrape: samples by (name, labels) and families by name."""

    def __init__(self, text):
        self.text = text
        self.families = {}
        self.samples = {}
        for fam in text_string_to_metric_families(text):
            self.families[fam.name] = fam
            for s in fam.samples:
                key = (s.name, frozenset(s.labels.items()))
                assert key not in self.samples, "duplicate series %s %s" % (s.name, s.labels)
                self.samples[key] = s.value

    def v(self, name, **labels):
        """The value of one series; 0 when absent (counters start unseen)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def has(self, name, **labels):
        return (name, frozenset(labels.items())) in self.samples

    def series(self, name):
        return [(dict(k[1]), v) for k, v in self.samples.items() if k[0] == name]

    def type_of(self, family):
        return self.families[family].type


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=30) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/plain; version=0.0.4", r.headers["Content-Type"]
        return Scrape(r.read().decode("utf-8"))


def http_status(port, path, method="GET"):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def wait_queue_empty(port, timeout=30.0):
    """Polls until every write-back gauge is 0; returns that scrape."""
    def done():
        m = scrape(port)
        if (m.v("objfs_writeback_queue_length") == 0 and m.v("objfs_writeback_in_flight") == 0
                and m.v("objfs_writeback_bytes_pending") == 0
                and m.v("objfs_writeback_oldest_pending_age_seconds") == 0):
            return m
        return None
    return wait_until(done, timeout * TIMEOUT_SCALE, interval=0.2,
                      what="the write-back gauges to return to 0")


def delta(after, before, name, **labels):
    return after.v(name, **labels) - before.v(name, **labels)


def check_histograms(m):
    """Every histogram series: cumulative buckets, +Inf equal to _count."""
    n = 0
    for fam in m.families.values():
        if fam.type != "histogram":
            continue
        by_series = {}
        for s in fam.samples:
            key = frozenset((k, v) for k, v in s.labels.items() if k != "le")
            by_series.setdefault(key, {})[s.name[len(fam.name):], s.labels.get("le")] = s.value
        for key, d in by_series.items():
            buckets = sorted(((float(le), v) for (sfx, le), v in d.items() if sfx == "_bucket"))
            assert buckets and buckets[-1][0] == float("inf"), (fam.name, key)
            vals = [v for _, v in buckets]
            assert vals == sorted(vals), "%s %s: buckets not cumulative: %s" % (fam.name, key, vals)
            assert d[("_count", None)] == vals[-1], (fam.name, key)
            assert d[("_sum", None)] >= 0
            n += 1
    return n


def check_labels(m, tenants, providers):
    """Label names and values of the labelled families are the documented ones."""
    for labels, _ in m.series("objfs_fs_operations_total"):
        assert set(labels) == {"op", "tenant"}, labels
        assert labels["op"] in FS_OPS and labels["tenant"] in tenants | {"/"}, labels
    for labels, _ in m.series("objfs_fs_errors_total"):
        assert set(labels) == {"op", "tenant", "errno"}, labels
        assert labels["errno"].startswith("E") and labels["errno"].isupper(), labels
    for name in ("objfs_provider_requests_total", "objfs_provider_errors_total"):
        for labels, _ in m.series(name):
            assert set(labels) == {"provider", "tenant", "op"}, labels
            assert labels["op"] in PROV_OPS, labels
            assert labels["provider"] in providers and labels["tenant"] in tenants | {""}, labels
    for name in ("objfs_provider_bytes_uploaded_total", "objfs_provider_bytes_downloaded_total"):
        for labels, _ in m.series(name):
            assert set(labels) == {"provider", "tenant"}, labels
    for labels, _ in m.series("objfs_http_requests_total"):
        assert set(labels) == {"provider", "code"}, labels
        assert labels["code"] == "none" or 100 <= int(labels["code"]) <= 599, labels
    for labels, _ in m.series("objfs_writeback_uploads_total"):
        assert set(labels) == {"tenant", "result"}, labels
        assert labels["result"] in ("landed", "failed", "superseded"), labels
    for fam, typ in (("objfs_fs_operations", "counter"), ("objfs_provider_requests", "counter"),
                     ("objfs_fs_operation_duration_seconds", "histogram"),
                     ("objfs_writeback_queue_length", "gauge"), ("objfs_readcache_hits", "counter"),
                     ("objfs_readcache_bytes", "gauge"), ("objfs_up", "gauge")):
        assert m.type_of(fam) == typ, fam


def test_local_mount_operations(objfs_factory):
    port = free_port()
    o = objfs_factory({"objfs": {"metrics_listen": "127.0.0.1:%d" % port}}).start()
    before = scrape(port)
    assert before.v("objfs_up") == 1
    assert before.v("objfs_tenants") == 3
    assert abs(before.v("objfs_start_time_seconds") - time.time()) < 600
    assert before.v("objfs_staging_max_bytes") == 64 << 20
    assert [l["version"] for l, _ in before.series("objfs_build_info")]

    files = {"d/f%d.bin" % i: os.urandom(1000 * (i + 1)) for i in range(5)}
    os.mkdir(o.p("acme", "d"))
    for rel, data in files.items():
        write_file(o.p("acme", rel), data)
    gdata = os.urandom(4096)
    write_file(o.p("globex", "g.bin"), gdata)
    for rel, data in files.items():
        assert os.stat(o.p("acme", rel)).st_size == len(data)
        assert read_file(o.p("acme", rel)) == data
    assert sorted(os.listdir(o.p("acme", "d"))) == sorted(r[2:] for r in files)
    assert "acme" in os.listdir(o.mnt)
    assert errno_of(os.stat, o.p("acme", "d", "no-such-file-%d" % port)) == 2
    for rel, data in files.items():
        o.wait_landed("acme", rel, data)
    o.wait_landed("globex", "g.bin", gdata)
    after = wait_queue_empty(port)

    fs = "objfs_fs_operations_total"
    assert delta(after, before, fs, op="mkdir", tenant="acme") >= 1
    assert delta(after, before, fs, op="create", tenant="acme") >= len(files)
    assert delta(after, before, fs, op="write", tenant="acme") >= len(files)
    # reads and stats may be answered from the kernel's caches: not counted
    # here; every open(2) and close(2) reaches the daemon
    assert delta(after, before, fs, op="open", tenant="acme") >= len(files)
    assert delta(after, before, fs, op="flush", tenant="acme") >= 2 * len(files)
    assert delta(after, before, fs, op="release", tenant="acme") >= 2 * len(files)
    assert delta(after, before, fs, op="getattr", tenant="acme") >= 1
    assert delta(after, before, fs, op="create", tenant="globex") >= 1
    assert delta(after, before, fs, op="readdir", tenant="acme") >= 1
    assert delta(after, before, fs, op="readdir", tenant="/") >= 1
    assert delta(after, before, "objfs_fs_errors_total", op="getattr", tenant="acme",
                 errno="ENOENT") >= 1
    assert not after.has("objfs_fs_errors_total", op="write", tenant="acme", errno="EIO")
    assert delta(after, before, "objfs_fs_operation_duration_seconds_count",
                 op="write") >= len(files)

    # uploads: the provider saw them, for the tenant that owns the key
    pr = "objfs_provider_requests_total"
    assert delta(after, before, pr, provider="local", tenant="acme", op="put") >= len(files) + 1
    assert delta(after, before, pr, provider="local", tenant="globex", op="put") >= 1
    assert delta(after, before, pr, provider="local", tenant="initech", op="put") == 0
    up = "objfs_provider_bytes_uploaded_total"
    assert delta(after, before, up, provider="local", tenant="acme") >= \
        sum(len(d) for d in files.values())
    assert delta(after, before, up, provider="local", tenant="globex") >= len(gdata)
    assert delta(after, before, "objfs_provider_request_duration_seconds_count",
                 provider="local", op="put") >= len(files) + 1
    wb = "objfs_writeback_uploads_total"
    assert delta(after, before, wb, tenant="acme", result="landed") >= len(files)
    assert delta(after, before, wb, tenant="globex", result="landed") >= 1
    assert after.v(wb, tenant="acme", result="failed") == 0
    assert delta(after, before, "objfs_writeback_upload_duration_seconds_count") >= len(files) + 1
    assert after.v("objfs_staging_bytes") <= after.v("objfs_staging_max_bytes")
    for fam in ("objfs_readcache_hits", "objfs_readcache_misses", "objfs_readcache_bytes",
                "objfs_readcache_max_bytes"):
        assert fam in after.families, fam

    check_labels(after, {"acme", "globex", "initech"}, {"local"})
    assert check_histograms(after) >= 3

    # only GET /metrics
    assert http_status(port, "/other") == 404
    assert http_status(port, "/metrics", method="POST") == 405
    assert http_status(port, "/metrics", method="HEAD") == 200
    o.stop()


def test_s3_tenants(s3_factory):
    port = free_port()
    o = s3_factory({"objfs": {"metrics_listen": "127.0.0.1:%d" % port,
                              "multipart_threshold": "8M"}}).start()
    before = scrape(port)
    small = {"s%d.txt" % i: os.urandom(20000 + i) for i in range(3)}
    big = os.urandom(11 * 1024 * 1024 + 5)      # multipart: parts of >= 5 MiB
    for rel, data in small.items():
        write_file(o.p("acme", rel), data)
    write_file(o.p("acme", "big.bin"), big)
    gdata = os.urandom(7000)
    write_file(o.p("globex", "g.txt"), gdata)
    for rel, data in small.items():
        o.wait_landed("acme", rel, data)
    o.wait_landed("acme", "big.bin", big, timeout=90)
    o.wait_landed("globex", "g.txt", gdata)
    after = wait_queue_empty(port)

    pr = "objfs_provider_requests_total"
    assert delta(after, before, pr, provider="main", tenant="acme", op="put") >= len(small)
    assert delta(after, before, pr, provider="main", tenant="acme", op="mpu_upload_part") >= 2
    assert delta(after, before, pr, provider="main", tenant="acme", op="mpu_complete") >= 1
    assert delta(after, before, pr, provider="main", tenant="globex", op="put") >= 1
    up = "objfs_provider_bytes_uploaded_total"
    assert delta(after, before, up, provider="main", tenant="acme") >= \
        sum(len(d) for d in small.values()) + len(big)
    assert delta(after, before, up, provider="main", tenant="globex") >= len(gdata)
    assert delta(after, before, "objfs_provider_request_duration_seconds_count",
                 provider="main", op="mpu_upload_part") >= 2
    # every request went over HTTP: at least one 200 per upload call
    assert delta(after, before, "objfs_http_requests_total", provider="main", code="200") >= \
        len(small) + 2 + 1 + 1
    assert after.has("objfs_http_retries_total", provider="main")
    assert delta(after, before, "objfs_writeback_uploads_total", tenant="acme",
                 result="landed") >= len(small) + 1
    check_labels(after, {"acme", "globex", "initech"}, {"main", "local"})
    check_histograms(after)
    o.stop()

    # a cold start reads through the read cache: downloads and misses count
    o.restart(empty_cache=True)
    before = scrape(port)
    for rel, data in small.items():
        assert read_file(o.p("acme", rel)) == data
    assert read_file(o.p("acme", "big.bin")) == big
    after = scrape(port)
    down = "objfs_provider_bytes_downloaded_total"
    assert delta(after, before, down, provider="main", tenant="acme") >= \
        sum(len(d) for d in small.values()) + len(big)
    assert delta(after, before, "objfs_provider_requests_total", provider="main", tenant="acme",
                 op="get") >= len(small) + 1
    assert delta(after, before, "objfs_readcache_misses_total") >= len(small) + 1
    assert after.v("objfs_readcache_bytes") > 0
    assert after.v("objfs_readcache_max_bytes") >= after.v("objfs_readcache_bytes")
    o.stop()


def test_metrics_listen_port_in_use_fails_start(objfs_factory):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        o = objfs_factory({"objfs": {"metrics_listen": "127.0.0.1:%d" % port,
                                     "log_level": "error"}})
        o.start(wait=False)
        try:
            rc = o.proc.wait(timeout=60 * TIMEOUT_SCALE)
        except subprocess.TimeoutExpired:
            o.kill9()
            raise AssertionError("objfs kept running with its metrics port taken")
        o.proc = None
        o.lazy_unmount()
    assert rc != 0
    err = o.log_text()
    want = "metrics_listen 127.0.0.1:%d: Address already in use" % port
    lines = [l for l in err.splitlines() if "metrics_listen" in l]
    assert lines, "no metrics_listen error in stderr: %r" % err
    assert any(l.strip() == "objfs: " + want for l in lines), lines
    for l in lines:
        assert l.rstrip().endswith(want), l
