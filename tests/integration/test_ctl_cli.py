"""objfs-ctl against a real mount (docs/control-socket.md): every control-socket
command, the messages without a daemon or without permission, and
`objfs-ctl doctor` on a healthy setup and on deliberately broken ones.

Presigned URLs are fetched with curl; what lands is read back through the
mount and from the store."""

import json
import os
import re
import socket
import stat
import subprocess
import time
import urllib.parse

import pytest

from conftest import OBJFS_CTL, read_file, wait_until, write_file

NOBODY = (65534, 65534)
LOCAL_URL_RE = re.compile(r"^http://127\.0\.0\.1:(\d+)/([a-z0-9.-]+)/(\S+)\?"
                          r"X-Objfs-Method=(GET|PUT)&X-Objfs-Expires=(\d+)"
                          r"&X-Objfs-Signature=([0-9a-f]{64})$")
PROM_LINE_RE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eEinfNa]+$')


def run_ctl(*args, env=None, user=None, cwd=None, timeout=120):
    """objfs-ctl ARGS (no implicit --socket); CompletedProcess (text)."""
    cmd = [OBJFS_CTL] + [str(a) for a in args]
    if user is not None:
        cmd = ["setpriv", "--reuid=%d" % user[0], "--regid=%d" % user[1], "--clear-groups"] + cmd
    e = {k: v for k, v in os.environ.items() if not k.startswith("OBJFS_CTL_")}
    e.update(env or {})
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=e, cwd=cwd)


def ok(r):
    assert r.returncode == 0, "exit %d\nstdout: %s\nstderr: %s" % (r.returncode, r.stdout, r.stderr)
    return r


def curl(*args):
    r = subprocess.run(["curl", "-s", "-o", "/dev/stdout", "-w", "\n%{http_code}"] + list(args),
                       capture_output=True, timeout=60)
    body, code = r.stdout.rsplit(b"\n", 1)
    return int(code), body


def presign(o, *args):
    r = ok(o.ctl("presign", *args))
    lines = r.stdout.splitlines()
    assert len(lines) == 1, r.stdout        # the URL alone on stdout
    return lines[0]


def local_url(url):
    m = LOCAL_URL_RE.match(url)
    assert m, url
    return {"port": int(m.group(1)), "bucket": m.group(2),
            "key": urllib.parse.unquote(m.group(3)), "method": m.group(4),
            "expires": int(m.group(5))}


def doctor(o, *args, env=None, config=None):
    r = run_ctl("--config", config or o.config_path, "doctor", *args, env=env, timeout=180)
    assert r.returncode in (0, 1), "exit %d: %s %s" % (r.returncode, r.stdout, r.stderr)
    return r


def doctor_lines(r):
    """{status: [line, ...]} of a human doctor report (summary line left out)."""
    out = {}
    for line in r.stdout.splitlines():
        if line.startswith("doctor:"):
            continue
        status = line.split(None, 1)[0]
        assert status in ("ok", "FAIL", "warn", "skip"), line
        out.setdefault(status, []).append(line)
    return out


def doctor_json(o, env=None):
    r = doctor(o, "--json", env=env)
    j = json.loads(r.stdout)
    assert set(j) >= {"ok", "failures", "warnings", "checks"}
    assert j["ok"] == (r.returncode == 0) == (j["failures"] == 0)
    for c in j["checks"]:
        assert c["status"] in ("ok", "FAIL", "warn", "skip") and c["check"] and "detail" in c
        if c["status"] == "FAIL":
            assert c.get("fix"), c
    return j


def fails(report, check):
    return [l for l in report.get("FAIL", []) if l.split()[1].startswith(check)]


def with_mountpoint(o):
    o.set("objfs", "mountpoint", o.mnt)
    return o


# -- presign -------------------------------------------------------------------

def test_presign_get_and_put_round_trip_with_curl(objfs_factory):
    o = objfs_factory().start()
    data = os.urandom(3000)
    write_file(o.p("acme", "doc.bin"), data)
    url = presign(o, "acme/doc.bin")
    u = local_url(url)
    assert (u["bucket"], u["key"], u["method"]) == ("acme-uploads", "doc.bin", "GET")
    assert abs(u["expires"] - (time.time() + 900)) < 60          # presign_ttl_default
    assert u["port"] == int(o.config["provider local"]["listen"].rsplit(":", 1)[1])
    assert curl(url) == (200, data)
    assert curl("-H", "Range: bytes=10-19", url) == (206, data[10:20])
    # the same object named by its path under the mount, absolute or relative
    assert local_url(presign(o, o.p("acme", "doc.bin")))["key"] == "doc.bin"
    r = ok(run_ctl("--socket", o.ctl_socket, "presign", "doc.bin", cwd=o.p("acme")))
    assert local_url(r.stdout.strip())["key"] == "doc.bin"
    # a prefixed tenant: the key carries the prefix
    g = local_url(presign(o, "globex/a b/c.txt"))
    assert (g["bucket"], g["key"]) == ("shared-bucket", "tenants/globex/a b/c.txt")
    # PUT, then read through the mount and from the store
    put = presign(o, "--method", "PUT", "--ttl", "120", "acme/up/new.bin")
    assert local_url(put)["method"] == "PUT"
    assert abs(local_url(put)["expires"] - (time.time() + 120)) < 60
    body = os.urandom(70000)
    code, _ = curl("-X", "PUT", "-H", "Expect:", "--data-binary", "@" + _tmp(o, body), put)
    assert code in (200, 201, 204), code
    assert read_file(o.p("acme", "up", "new.bin")) == body
    o.wait_landed("acme", "up/new.bin", body)
    # a PUT to a new file named relative to a directory under the mount
    put2 = ok(run_ctl("--socket", o.ctl_socket, "presign", "--method", "PUT", "./rel.txt",
                      cwd=o.p("acme", "up"))).stdout.strip()
    assert local_url(put2)["key"] == "up/rel.txt"
    # a URL only does what it was signed for
    assert curl("-X", "PUT", "-H", "Expect:", "--data-binary", "x", url)[0] == 403
    assert curl(put.replace("X-Objfs-Method=PUT", "X-Objfs-Method=GET"))[0] == 403
    o.stop()


def _tmp(o, data):
    p = os.path.join(o.base, "body-%d" % len(data))
    with open(p, "wb") as f:
        f.write(data)
    return p


def test_presign_ttl_and_method_bounds(objfs_factory):
    o = objfs_factory({"objfs": {"presign_ttl_max": "3600", "presign_ttl_default": "120"},
                       "tenant rotenant": {"read_only": "true"}}).start()
    write_file(o.p("acme", "f"), b"x")
    # checked by objfs-ctl itself: usage errors, exit 2, nothing sent
    for ttl in ("0", "-5", "abc", "1.5", "", "604801"):
        r = o.ctl("presign", "--ttl", ttl, "acme/f")
        assert r.returncode == 2 and "--ttl" in r.stderr and r.stdout == "", (ttl, r)
    for m in ("DELETE", "get", ""):
        r = o.ctl("presign", "--method", m, "acme/f")
        assert r.returncode == 2 and "--method" in r.stderr, (m, r)
    r = o.ctl("presign")
    assert r.returncode == 2 and "usage" in r.stderr
    # the configured maximum is the daemon's: its 400 message, exit 1
    r = o.ctl("presign", "--ttl", "3601", "acme/f")
    assert r.returncode == 1 and r.stderr.startswith("objfs-ctl: ") and "3600" in r.stderr, r
    assert r.stderr.count("\n") == 1 and r.stdout == ""
    u = local_url(presign(o, "--ttl", "3600", "acme/f"))
    assert abs(u["expires"] - (time.time() + 3600)) < 60
    u = local_url(presign(o, "acme/f"))                       # presign_ttl_default
    assert abs(u["expires"] - (time.time() + 120)) < 60
    # other refusals carry the daemon's message
    r = o.ctl("presign", "--method", "PUT", "rotenant/x")
    assert r.returncode == 1 and r.stderr.startswith("objfs-ctl: ") and "read" in r.stderr, r
    r = o.ctl("presign", "nosuchtenant/x")
    assert r.returncode == 1 and r.stderr.startswith("objfs-ctl: ") and r.stdout == ""
    r = o.ctl("presign", "/elsewhere/acme/f")
    assert r.returncode == 1 and r.stderr.startswith("objfs-ctl: ")
    o.stop()


def test_presign_default_max_and_expired_url(objfs_factory):
    o = objfs_factory().start()
    write_file(o.p("acme", "f"), b"content")
    u = local_url(presign(o, "--ttl", "604800", "acme/f"))    # the default maximum
    assert abs(u["expires"] - (time.time() + 604800)) < 60
    url = presign(o, "--ttl", "1", "acme/f")
    time.sleep(2.2)
    assert curl(url)[0] == 403
    o.stop()


# -- health, status, tenants, metrics, reload ---------------------------------

def test_health_human_and_json(objfs_factory):
    o = objfs_factory().start()
    r = ok(o.ctl("health"))
    lines = r.stdout.splitlines()
    assert lines[0].startswith("daemon: healthy (pid %d" % o.proc.pid), lines
    assert lines[1] == "mount %s: ok" % o.mnt
    provs = [l for l in lines if l.startswith("provider local ")]
    assert len(provs) == 2 and all(": ok" in l for l in provs), lines   # two buckets
    assert lines[-1].startswith("journal: 0 pending uploads")
    j = json.loads(ok(o.ctl("health", "--json")).stdout)
    assert j["healthy"] is True and j["daemon"]["pid"] == o.proc.pid
    assert j["mount"]["path"] == o.mnt and j["mount"]["ok"] is True
    assert {(p["bucket"], tuple(sorted(p["tenants"]))) for p in j["providers"]} == \
        {("acme-uploads", ("acme",)), ("shared-bucket", ("globex", "initech"))}
    assert all(p["state"] == "ok" and p["type"] == "local" for p in j["providers"])
    assert j["journal"]["pending"] == 0
    # an unhealthy provider: exit 1, in both forms
    os.rename(os.path.join(o.store.root, "acme-uploads"), os.path.join(o.store.root, "moved"))
    try:
        r = wait_until(lambda: (lambda x: x if x.returncode == 1 else None)(o.ctl("health")), 10,
                       what="health to notice the missing bucket")
        assert "no-bucket" in r.stdout and r.stdout.startswith("daemon: UNHEALTHY"), r.stdout
        r = o.ctl("health", "--json")
        assert r.returncode == 1 and json.loads(r.stdout)["healthy"] is False
    finally:
        os.rename(os.path.join(o.store.root, "moved"), os.path.join(o.store.root, "acme-uploads"))
    o.stop()


def test_status_tenants_json_shape(objfs_factory):
    o = objfs_factory({"objfs": {"writeback_delay_ms": "600000"},
                       "tenant rotenant": {"read_only": "true"}}).start()
    write_file(o.p("acme", "pending.bin"), b"p" * 5000)
    st = json.loads(ok(o.ctl("status", "--json")).stdout)
    for k in ("pending_uploads", "in_flight", "retrying", "bytes_pending", "oldest_pending_age_s"):
        assert isinstance(st[k], (int, float)), k
    assert st["pending_uploads"] >= 1 and st["bytes_pending"] >= 5000
    assert set(st["staging"]) >= {"used_bytes", "max_bytes"}
    assert st["staging"]["max_bytes"] == 64 * 1024 * 1024
    assert set(st["read_cache"]) >= {"used_bytes", "max_bytes", "hits", "misses"}
    assert isinstance(st["recent_errors"], list)
    per = {t["name"]: t["pending_uploads"] for t in st["tenants"]}
    assert set(per) == {"acme", "globex", "initech", "rotenant"} and per["acme"] >= 1 and per["globex"] == 0
    human = ok(o.ctl("status")).stdout
    assert re.search(r"^pending uploads: [1-9]", human, re.M) and "tenant acme:" in human
    ts = json.loads(ok(o.ctl("tenants", "--json")).stdout)["tenants"]
    by = {t["name"]: t for t in ts}
    assert set(by) == {"acme", "globex", "initech", "rotenant"}
    for t in ts:
        assert set(t) >= {"name", "provider", "type", "bucket", "prefix", "read_only",
                          "pending_uploads"}
    assert (by["acme"]["bucket"], by["acme"]["prefix"]) == ("acme-uploads", "")
    assert (by["globex"]["bucket"], by["globex"]["prefix"]) == ("shared-bucket", "tenants/globex/")
    assert by["rotenant"]["read_only"] is True and by["acme"]["read_only"] is False
    assert by["acme"]["provider"] == "local" and by["acme"]["type"] == "local"
    human = ok(o.ctl("tenants")).stdout.splitlines()
    assert human[0].split()[0] == "TENANT" and sorted(l.split()[0] for l in human[1:]) == \
        ["acme", "globex", "initech", "rotenant"]
    ok(o.ctl("flush"))
    o.stop()


def test_metrics_text(objfs_factory):
    o = objfs_factory().start()
    write_file(o.p("acme", "m"), b"m" * 100)
    r = ok(o.ctl("metrics"))
    lines = [l for l in r.stdout.splitlines() if l]
    samples = [l for l in lines if not l.startswith("#")]
    assert samples, r.stdout
    bad = [l for l in samples if not PROM_LINE_RE.match(l)]
    assert not bad, bad[:5]
    assert any(l.startswith("objfs_") for l in samples)
    r = o.ctl("metrics", "extra")
    assert r.returncode == 2
    o.stop()


def test_reload_adds_a_tenant(objfs_factory):
    o = objfs_factory().start()
    o.set("tenant hooli", "bucket", "hooli-bucket")
    o.write_config()
    r = ok(o.ctl("reload"))
    assert r.stdout.startswith("reloaded: ") and "1 added" in r.stdout, r.stdout
    names = {t["name"] for t in json.loads(ok(o.ctl("tenants", "--json")).stdout)["tenants"]}
    assert "hooli" in names
    # a change that needs a restart is refused with the daemon's reason
    o.set("tenant globex", "bucket", "another-bucket")
    o.write_config()
    r = o.ctl("reload")
    assert r.returncode == 1 and r.stderr.startswith("objfs-ctl: ") and "globex" in r.stderr, r
    o.set("tenant globex", "bucket", "shared-bucket")
    o.write_config()
    o.stop()


# -- flush ----------------------------------------------------------------------

def test_flush_lands_pending_uploads(objfs_factory):
    o = objfs_factory({"objfs": {"writeback_delay_ms": "600000"}}).start()
    write_file(o.p("acme", "a.bin"), b"a" * 4000)
    write_file(o.p("globex", "g.bin"), b"g" * 4000)
    time.sleep(0.3)
    assert o.stored("acme", "a.bin") is None          # held back by writeback_delay_ms
    r = ok(o.ctl("flush", "--timeout", "60", "acme"))
    assert r.stdout.strip() == "flushed"
    assert o.stored("acme", "a.bin").read() == b"a" * 4000
    ok(o.ctl("flush", o.p("globex", "g.bin")))        # a path under the mount
    assert o.stored("globex", "g.bin").read() == b"g" * 4000
    for bad in ("0", "x", "86401"):
        r = o.ctl("flush", "--timeout", bad)
        assert r.returncode == 2 and "--timeout" in r.stderr
    assert o.ctl("flush", "a", "b").returncode == 2
    o.stop()


@pytest.mark.watchdog(240)
def test_flush_times_out_while_the_store_is_stopped(s3_factory):
    o = s3_factory({"objfs": {"writeback_delay_ms": "600000"}}).start()
    write_file(o.p("acme", "before.bin"), b"b")
    ok(o.ctl("flush", "--timeout", "60"))
    assert o.stored("acme", "before.bin") is not None
    # committed before the pause, held back by writeback_delay_ms
    write_file(o.p("acme", "stuck1.bin"), os.urandom(1000))
    write_file(o.p("acme", "stuck2.bin"), os.urandom(1000))
    o.s3.pause()
    try:
        t0 = time.monotonic()
        r = o.ctl("flush", "--timeout", "2")
        took = time.monotonic() - t0
        assert r.returncode == 1, r
        m = re.search(r"timed out after 2 s: (\d+) uploads still pending", r.stderr)
        assert m and int(m.group(1)) >= 1, r.stderr
        assert took < 30
    finally:
        o.s3.resume()
    r = ok(o.ctl("flush", "--timeout", "120"))
    assert r.stdout.strip() == "flushed"
    assert o.stored("acme", "stuck2.bin") is not None
    o.stop()


# -- reaching the daemon -------------------------------------------------------

def test_messages_without_a_daemon(objfs_factory, tmp_path):
    o = objfs_factory()
    o.write_config()
    sock = o.ctl_socket
    want = ("objfs-ctl: cannot reach the objfs daemon at %s: No such file or directory "
            "(is objfs running? see --socket)\n" % sock)
    for cmd in (["health"], ["status"], ["presign", "acme/x"], ["flush"], ["metrics"],
                ["tenants"], ["reload"]):
        r = o.ctl(*cmd)
        assert (r.returncode, r.stderr, r.stdout) == (1, want, ""), (cmd, r)
    # the socket path from the configuration, from the environment, the default
    r = run_ctl("--config", o.config_path, "health")
    assert r.returncode == 1 and r.stderr == want
    other = str(tmp_path / "env.sock")
    r = run_ctl("--config", o.config_path, "health", env={"OBJFS_CTL_SOCKET": other})
    assert r.returncode == 1 and ("daemon at %s:" % other) in r.stderr
    if not os.path.exists("/run/objfs/ctl.sock"):
        r = run_ctl("health")
        assert r.returncode == 1 and "daemon at /run/objfs/ctl.sock: " in r.stderr
    # a stale socket file that nobody listens on
    s = socket.socket(socket.AF_UNIX)
    s.bind(sock)
    s.close()
    r = o.ctl("health")
    assert r.returncode == 1 and r.stderr == (
        "objfs-ctl: cannot reach the objfs daemon at %s: Connection refused "
        "(is objfs running? see --socket)\n" % sock), r.stderr
    os.unlink(sock)
    # usage problems are exit 2
    assert run_ctl("--socket", sock).returncode == 2
    assert run_ctl("--socket", sock, "nonsense").returncode == 2
    assert run_ctl("--socket", sock, "health", "--bogus").returncode == 2
    assert run_ctl("--socket", sock, "status", "extra").returncode == 2
    r = run_ctl("--socket", "/" + "x" * 120, "health")
    assert r.returncode == 1 and "too long" in r.stderr


def test_socket_not_permitted(objfs_factory):
    o = objfs_factory({"objfs": {"control_socket_mode": "0600"}}).start()
    assert stat.S_IMODE(os.stat(o.ctl_socket).st_mode) == 0o600
    r = o.ctl("health", user=NOBODY)
    assert r.returncode == 1 and r.stderr == (
        "objfs-ctl: cannot reach the objfs daemon at %s: permission denied "
        "(socket mode/group: ask an admin)\n" % o.ctl_socket), r.stderr
    ok(o.ctl("health"))                                  # root may
    o.stop()


def test_not_allowed_by_the_daemon(objfs_factory):
    o = objfs_factory({"objfs": {"control_socket_mode": "0666"},
                       "tenant globex": {"allow_uids": "1000"}}).start()
    write_file(o.p("acme", "f"), b"x")
    ok(o.ctl("health", user=NOBODY))
    # acme admits everybody; globex only uid 1000
    assert local_url(ok(o.ctl("presign", "acme/f", user=NOBODY)).stdout.strip())["key"] == "f"
    r = o.ctl("presign", "globex/f", user=NOBODY)
    assert r.returncode == 1 and r.stderr.startswith("objfs-ctl: not allowed: "), r.stderr
    for cmd in (["metrics"], ["reload"]):
        r = o.ctl(*cmd, user=NOBODY)
        assert r.returncode == 1 and r.stderr.startswith("objfs-ctl: not allowed: "), (cmd, r)
    names = {t["name"] for t in json.loads(ok(o.ctl("tenants", "--json", user=NOBODY)).stdout)["tenants"]}
    assert "globex" not in names and "acme" in names
    o.stop()


# -- doctor ----------------------------------------------------------------------

def test_doctor_healthy_local_mount(objfs_factory):
    o = with_mountpoint(objfs_factory()).start()
    r = doctor(o)
    rep = doctor_lines(r)
    assert r.returncode == 0 and set(rep) <= {"ok", "skip"}, r.stdout
    checks = {l.split()[1].rstrip(":") for l in rep["ok"]}
    assert checks >= {"fuse", "fusermount3", "config", "provider", "mount", "socket", "presign"}
    assert any("round trip" in l for l in rep["ok"] if l.split()[1] == "presign:")
    assert r.stdout.splitlines()[-1] == "doctor: 0 failed, 0 warnings"
    j = doctor_json(o)
    assert j["ok"] is True and {c["status"] for c in j["checks"]} <= {"ok", "skip"}
    # the probe object is gone from the mount and, once landed, from the store
    ok(o.ctl("flush", "--timeout", "60"))
    assert not [n for n in os.listdir(o.p("acme")) if n.startswith(".objfs-doctor")]
    wait_until(lambda: not [k for k in o.stored_keys("acme") if "objfs-doctor" in k], 15,
               what="the probe object to leave the store")
    o.stop()


def test_doctor_local_without_daemon(objfs_factory):
    o = with_mountpoint(objfs_factory())
    o.start()
    o.stop()                                          # buckets created, then no daemon
    r = doctor(o)
    rep = doctor_lines(r)
    assert r.returncode == 0, r.stdout
    assert any("not mounted" in l for l in rep["warn"]) and \
        any(l.split()[1] == "socket:" for l in rep["warn"])
    assert any("served by the daemon" in l for l in rep["skip"] if l.split()[1] == "presign:")
    # a missing bucket and a missing mount point
    os.rename(os.path.join(o.store.root, "acme-uploads"), os.path.join(o.store.root, "gone"))
    os.rmdir(o.mnt)
    try:
        rep = doctor_lines(doctor(o))
        f = fails(rep, "provider")
        assert len(f) == 1 and "no-bucket" in f[0] and "acme-uploads" in f[0] and \
            "fix: create the bucket with `mkdir -m 700 " in f[0], f
        f = fails(rep, "mount")
        assert len(f) == 1 and "fix: mkdir -p %s" % o.mnt in f[0], rep
    finally:
        os.mkdir(o.mnt)
        os.rename(os.path.join(o.store.root, "gone"), os.path.join(o.store.root, "acme-uploads"))


def test_doctor_config_error(objfs_factory):
    o = objfs_factory({"tenant Bad_Name": {}})
    o.write_config()
    r = doctor(o)
    rep = doctor_lines(r)
    assert r.returncode == 1
    f = fails(rep, "config")
    assert len(f) == 1 and o.config_path in f[0] and "Bad_Name" in f[0] and "fix: edit" in f[0]
    assert any(l.split()[1] == "provider:" for l in rep["skip"])
    r = run_ctl("--config", os.path.join(o.base, "missing.conf"), "doctor")
    assert r.returncode == 1 and "objfs-ctl onboard" in r.stdout
    assert run_ctl("--config", o.config_path, "doctor", "--bogus").returncode == 2


@pytest.mark.watchdog(240)
def test_doctor_healthy_s3_mount(s3_factory):
    o = with_mountpoint(s3_factory()).start()
    r = doctor(o)
    rep = doctor_lines(r)
    assert r.returncode == 0 and set(rep) <= {"ok", "skip"}, r.stdout
    cred = o.config["provider main"]["credentials"]
    assert any(cred in l and "mode 0600" in l for l in rep["ok"] if l.split()[1] == "credentials:")
    assert any(l.split()[1] == "clock:" for l in rep["ok"])
    assert any("credentials accepted" in l for l in rep["ok"] if l.split()[1] == "provider")
    assert any("round trip" in l for l in rep["ok"] if l.split()[1] == "presign:")
    o.stop()


@pytest.mark.watchdog(300)
def test_doctor_broken_s3_setups(s3_factory):
    o = with_mountpoint(s3_factory())
    o.start()
    o.stop()                                           # buckets exist; no daemon from here
    cred = o.config["provider main"]["credentials"]
    # healthy without the daemon: the round trip goes straight to the store
    r = doctor(o)
    rep = doctor_lines(r)
    assert r.returncode == 0 and not rep.get("FAIL"), r.stdout
    assert any("without the daemon" in l for l in rep["ok"] if l.split()[1] == "presign:"), r.stdout
    assert not [k for k in o.store.keys(o.location("acme")[0], "") if "objfs-doctor" in k]

    # credentials readable by others
    os.chmod(cred, 0o644)
    try:
        r = doctor(o)
        rep = doctor_lines(r)
        assert r.returncode == 1
        f = fails(rep, "credentials")
        assert len(f) == 1 and "mode 0644" in f[0] and f[0].endswith("fix: chmod 600 %s" % cred), f
        j = doctor_json(o)
        c = [c for c in j["checks"] if c["check"] == "credentials" and c["status"] == "FAIL"]
        assert c and c[0]["fix"] == "chmod 600 %s" % cred
    finally:
        os.chmod(cred, 0o600)
    # owned by someone else
    os.chown(cred, 65534, 65534)
    try:
        f = fails(doctor_lines(doctor(o)), "credentials")
        assert len(f) == 1 and "uid 65534" in f[0] and "fix: chown" in f[0], f
    finally:
        os.chown(cred, 0, 0)

    # a skewed clock
    r = doctor(o, env={"OBJFS_CTL_CLOCK_OFFSET": "7200"})
    rep = doctor_lines(r)
    assert r.returncode == 1
    assert any("clock-skew" in l and "fix: sync the clock (chrony)" in l
               for l in fails(rep, "provider")), r.stdout
    f = fails(rep, "clock")
    assert len(f) == 1 and re.search(r"our clock is \+7[12]\d\d s off", f[0]) and \
        f[0].endswith("fix: sync the clock (chrony)"), r.stdout

    # a missing bucket
    o.s3.aws("s3", "rb", "s3://%s" % o.location("globex")[0], "--force")
    rep = doctor_lines(doctor(o))
    f = fails(rep, "provider")
    assert len(f) == 1 and "no-bucket" in f[0] and \
        "aws s3 mb s3://%s --endpoint-url %s" % (o.location("globex")[0], o.s3.endpoint) in f[0], f

    # the server stopped
    o.s3.kill()
    r = doctor(o)
    rep = doctor_lines(r)
    f = fails(rep, "provider")
    assert r.returncode == 1 and f and all("unreachable" in l and "fix: check endpoint %s" %
                                           o.s3.endpoint in l for l in f), r.stdout
    j = doctor_json(o)
    assert j["ok"] is False and j["failures"] >= 1


@pytest.mark.watchdog(240)
def test_doctor_wrong_secret(s3_factory):
    secret = "definitely-Wrong-Secret-123"
    good = with_mountpoint(s3_factory())
    good.start()
    good.stop()                                        # the buckets exist
    o = with_mountpoint(s3_factory(secret=secret))
    o.write_config()
    r = doctor(o)
    rep = doctor_lines(r)
    f = fails(rep, "provider")
    assert r.returncode == 1 and f and all(": auth-failed: " in l and
                                           "fix: check the access key and secret in %s" %
                                           o.config["provider main"]["credentials"] in l
                                           for l in f), r.stdout
    assert secret not in r.stdout + r.stderr
    j = doctor_json(o)
    assert secret not in json.dumps(j)


def test_doctor_checks_sse_customer_key_files(s3_factory, tmp_path):
    key = tmp_path / "initech.key"
    key.write_bytes(os.urandom(32))
    os.chmod(key, 0o600)
    o = with_mountpoint(s3_factory({"tenant initech": {"sse": "customer",
                                                        "sse_customer_key": str(key)}}))
    o.write_config()
    rep = doctor_lines(doctor(o))
    assert any(str(key) in l and "sse_customer_key" in l and "mode 0600" in l
               for l in rep["ok"] if l.split()[1] == "credentials:"), rep
    os.chmod(key, 0o640)
    r = doctor(o)
    rep = doctor_lines(r)
    f = fails(rep, "credentials")
    assert r.returncode == 1 and len(f) == 1 and "[tenant initech] sse_customer_key" in f[0] and \
        f[0].endswith("fix: chmod 600 %s" % key), r.stdout
    assert open(key, "rb").read().hex() not in r.stdout
