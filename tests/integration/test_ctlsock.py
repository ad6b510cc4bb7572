"""The control socket (docs/control-socket.md) over the wire: curl
--unix-socket and raw sockets against a real mount, as root and as other
users (setpriv), with local and S3 (s3rver) tenants.

Callers other than root are numeric uid/gid pairs without a passwd entry,
so the user database adds no groups: their gid is their only group.
"""

import json
import os
import select
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest

from conftest import read_file, wait_until, write_file

U_ACME = (71001, 71001)          # in acme's allow_uids
U_GLOBEX = (79999, 72000)        # in globex's allow_gids
U_NONE = (79998, 79998)          # admitted by no tenant
U_ADMIN = (79997, 74000)         # in control_admin_group (74000)

AUTH_SECTIONS = {
    "objfs": {"control_socket_mode": "0666", "control_admin_group": "74000"},
    "tenant acme": {"allow_uids": "71001"},
    "tenant globex": {"allow_gids": "72000"},
    "tenant initech": {"allow_uids": "73001"},
}


def setpriv(user):
    return ["setpriv", "--reuid=%d" % user[0], "--regid=%d" % user[1], "--clear-groups"]


def api(o, method, path, body=None, user=None, timeout=60, headers=()):
    """One request with curl; returns (status, parsed JSON or None, raw body,
    response headers as text).  status is 0 when curl could not connect."""
    cmd = ["curl", "-q", "-s", "-i", "--max-time", str(timeout), "--unix-socket", o.ctl_socket,
           "-X", method, "-o", "-", "-w", "\n%{http_code}", "http://objfs" + path]
    for h in headers:
        cmd += ["-H", h]
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else \
            (body if isinstance(body, str) else json.dumps(body)).encode()
        cmd += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
    if user is not None:
        cmd = setpriv(user) + cmd
    r = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout + 15, cwd="/")
    assert b"\n" in r.stdout, (cmd, r.returncode, r.stderr)
    out, code = r.stdout.rsplit(b"\n", 1)
    hdrs = b""
    while out.startswith(b"HTTP/") and b"\r\n\r\n" in out:   # 100 Continue, then the answer
        hdrs, out = out.split(b"\r\n\r\n", 1)
    try:
        js = json.loads(out)
    except ValueError:
        js = None
    return int(code), js, out, hdrs.decode(errors="replace")


def health(o, user=None):
    code, js, out, _ = api(o, "GET", "/v1/health", user=user, timeout=20)
    assert code == 200, (code, out)
    return js


def connect(o, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(o.ctl_socket)
    return s


def send_quietly(s, data):
    """Sends what the server takes; a server that closes early is fine."""
    try:
        s.sendall(data)
    except OSError:
        pass


def read_until_close(s, timeout):
    """What the server sends until it closes (b"" if nothing); raises
    AssertionError if it keeps the connection open past timeout."""
    out = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("server kept the connection open for %.0fs" % timeout)
        r, _, _ = select.select([s], [], [], left)
        if not r:
            continue
        try:
            d = s.recv(65536)
        except (ConnectionResetError, OSError):
            return out
        if not d:
            return out
        out += d


def assert_serving(o, tag):
    """The daemon is alive, healthy on its socket, and the mount reads and writes."""
    o.check_alive()
    js = wait_until(lambda: api(o, "GET", "/v1/health", timeout=10)[1], 20,
                    what="health after %s" % tag)
    assert js["healthy"], (tag, js)
    data = os.urandom(4096)
    p = o.p("acme", "after-%s.bin" % tag)
    write_file(p, data)
    assert read_file(p) == data
    os.unlink(p)


# -- the socket file -------------------------------------------------------------

def test_socket_file_mode_group_stale_and_in_use(objfs_factory):
    o = objfs_factory({"objfs": {"control_socket_mode": "0660",
                                 "control_socket_group": "4321"}})
    run_dir = os.path.join(o.mnt_parent, "run")
    sock = os.path.join(run_dir, "deeper", "ctl.sock")
    o.set("objfs", "control_socket", sock)
    o2 = None
    try:
        o.start()
        st = os.lstat(sock)
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o660
        assert st.st_gid == 4321
        assert stat.S_IMODE(os.stat(os.path.dirname(sock)).st_mode) == 0o755
        # the group may connect, others may not (and get a clear refusal)
        assert health(o, user=(79996, 4321))["healthy"]
        code, _, _, _ = api(o, "GET", "/v1/health", user=U_NONE, timeout=10)
        assert code == 0

        # a second daemon on the same socket fails to start, and leaves ours alone
        o2 = objfs_factory(name="second")
        o2.set("objfs", "control_socket", sock)
        o2.start(wait=False)
        rc = o2.proc.wait(timeout=60)
        o2.proc = None
        o2._disarm_watchdog()
        o2.lazy_unmount()
        assert rc != 0
        assert "control socket %s is in use by another process" % sock in o2.log_text()
        o2.set("objfs", "control_socket", os.path.join(o2.mnt_parent, "ctl.sock"))
        assert os.path.exists(sock)
        assert health(o)["healthy"]

        # a clean stop removes the socket
        o.stop()
        assert not os.path.exists(sock)

        # a killed daemon leaves a stale socket, which the next start replaces
        o.start()
        o.kill9()
        assert os.path.exists(sock)
        o.start()
        assert health(o)["healthy"]
        assert "removed a stale socket" in o.log_text()

        # a file that is not a socket is not removed
        o.stop()
        write_file(sock, b"not a socket")
        o.start(wait=False)
        assert o.proc.wait(timeout=60) != 0
        o.proc = None
        o._disarm_watchdog()
        o.lazy_unmount()
        assert "is not a socket" in o.log_text()
        assert read_file(sock) == b"not a socket"
        os.unlink(sock)
    finally:
        if o.proc is not None:
            o.stop()
        for d in (os.path.dirname(sock), run_dir):
            try:
                if os.path.exists(sock):
                    os.unlink(sock)
                os.rmdir(d)
            except OSError:
                pass


# -- errors on the wire ------------------------------------------------------------------

def test_wire_errors(fs):
    o = fs
    code, js, _, hdrs = api(o, "GET", "/v1/nothing")
    assert code == 404 and "error" in js
    code, js, _, hdrs = api(o, "GET", "/v1/presign")
    assert code == 405 and "allow: post" in hdrs.lower()
    code, js, _, _ = api(o, "POST", "/v1/presign", body="{not json")
    assert code == 400 and "JSON" in js["error"]
    code, js, _, _ = api(o, "POST", "/v1/presign", body={"path": "acme/x", "ttl": "60"})
    assert code == 400 and "ttl" in js["error"]
    code, js, _, _ = api(o, "POST", "/v1/presign", body={"path": "acme/../globex/x"})
    assert code == 400
    code, js, _, _ = api(o, "POST", "/v1/presign", body={"path": "nosuch/x"})
    assert code == 404
    # over 64 KiB: 413 without reading the body
    # (with Expect: 100-continue, as a client sending a large body should:
    # otherwise the answer may race with the client still sending)
    code, js, out, _ = api(o, "POST", "/v1/presign", body=" " * 70000 + "{}",
                           headers=("Expect: 100-continue",))
    assert code == 413 and "65536" in js["error"], out
    # exactly 64 KiB is read (and is then bad JSON of blanks around an object)
    code, js, _, _ = api(o, "POST", "/v1/presign",
                         body='{"path": "acme/x"}' + " " * (65536 - 18))
    assert code == 200, js


# -- presign -----------------------------------------------------------------------

def test_presign_local_tenant(fs):
    o = fs
    write_file(o.p("acme", "doc.txt"), b"local presigned")
    code, js, out, _ = api(o, "POST", "/v1/presign", body={"path": "acme/doc.txt", "ttl": 60})
    assert code == 200, out
    port = o.config["provider local"]["listen"].rsplit(":", 1)[1]
    assert js["url"].startswith("http://127.0.0.1:%s/acme-uploads/doc.txt?" % port), js
    assert js["method"] == "GET"
    assert abs(js["expires"] - (time.time() + 60)) < 5
    r = subprocess.run(["curl", "-q", "-s", "-f", js["url"]], capture_output=True, timeout=30)
    assert r.returncode == 0 and r.stdout == b"local presigned"
    # an absolute path under the mount names the same object
    code, js2, _, _ = api(o, "POST", "/v1/presign", body={"path": o.p("acme", "doc.txt")})
    assert code == 200 and "/acme-uploads/doc.txt?" in js2["url"]


def test_presign_s3_tenant_get_put_tampered_expired(s3_factory, tmp_path):
    o = s3_factory().start()
    write_file(o.p("acme", "doc.txt"), b"s3 presigned")
    o.wait_landed("acme", "doc.txt", b"s3 presigned")
    code, js, out, _ = api(o, "POST", "/v1/presign", body={"path": "acme/doc.txt"})
    assert code == 200, out
    url = js["url"]
    assert url.startswith(o.s3.endpoint) and "X-Amz-Signature=" in url
    assert "X-Amz-Expires=900" in url            # presign_ttl_default

    def curl(*args):
        r = subprocess.run(["curl", "-q", "-s", "-o", "/dev/stdout", "-w", "\n%{http_code}"] +
                           list(args), capture_output=True, timeout=60)
        body, code = r.stdout.rsplit(b"\n", 1)
        return int(code), body

    assert curl(url) == (200, b"s3 presigned")
    sig = url.rsplit("X-Amz-Signature=", 1)[1]
    tampered = url.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    assert curl(tampered)[0] == 403
    assert curl(url.replace("doc.txt", "doc.txz"))[0] == 403

    # PUT through a presigned URL lands in the store
    code, js, out, _ = api(o, "POST", "/v1/presign",
                           body={"path": "acme/up/new.bin", "method": "PUT", "ttl": 300})
    assert code == 200, out
    body = tmp_path / "body"
    body.write_bytes(os.urandom(5000))
    code, _ = curl("-X", "PUT", "-T", str(body), js["url"])
    assert code == 200
    assert o.stored("acme", "up/new.bin").read() == body.read_bytes()

    # expired: a 1-second URL a few seconds later
    code, js, _, _ = api(o, "POST", "/v1/presign", body={"path": "acme/doc.txt", "ttl": 1})
    assert code == 200
    time.sleep(2.5)
    assert curl(js["url"])[0] == 403


# -- authorisation with real other users ---------------------------------------------------

def test_authorization_other_users(objfs_factory):
    o = objfs_factory(AUTH_SECTIONS).start()
    assert stat.S_IMODE(os.lstat(o.ctl_socket).st_mode) == 0o666

    def st(user, method, path, body=None):
        return api(o, method, path, body=body, user=user)[0]

    # a uid in allow_uids: its tenant yes, the others no
    assert st(U_ACME, "POST", "/v1/presign", {"path": "acme/a.txt"}) == 200
    assert st(U_ACME, "POST", "/v1/presign", {"path": "acme/a.txt", "method": "PUT"}) == 200
    assert st(U_ACME, "POST", "/v1/presign", {"path": "globex/a.txt"}) == 403
    assert st(U_ACME, "POST", "/v1/presign", {"path": "initech/a.txt"}) == 403
    assert st(U_ACME, "POST", "/v1/presign", {"path": "acme/../globex/a.txt"}) == 400
    assert st(U_ACME, "POST", "/v1/presign", {"path": o.p("globex", "a.txt")}) == 403
    assert st(U_ACME, "POST", "/v1/flush", {"path": "globex"}) == 403
    assert st(U_ACME, "POST", "/v1/flush", {"path": "acme", "timeout": 10}) == 200
    assert st(U_ACME, "GET", "/v1/metrics") == 403
    assert st(U_ACME, "POST", "/v1/reload") == 403
    code, js, _, _ = api(o, "GET", "/v1/tenants", user=U_ACME)
    assert code == 200 and [t["name"] for t in js["tenants"]] == ["acme"]
    code, js, _, _ = api(o, "GET", "/v1/status", user=U_ACME)
    assert code == 200 and [t["name"] for t in js["tenants"]] == ["acme"]
    assert "recent_errors" not in js and "pending_uploads" not in js

    # a gid in allow_gids
    assert st(U_GLOBEX, "POST", "/v1/presign", {"path": "globex/g.txt"}) == 200
    assert st(U_GLOBEX, "POST", "/v1/presign", {"path": "acme/g.txt"}) == 403

    # admitted nowhere: 403 for everything but health
    assert health(o, user=U_NONE)["healthy"]
    for method, path, body in (("GET", "/v1/status", None), ("GET", "/v1/tenants", None),
                               ("POST", "/v1/presign", {"path": "acme/x"}),
                               ("POST", "/v1/flush", {}), ("GET", "/v1/metrics", None),
                               ("POST", "/v1/reload", None)):
        code, js, out, _ = api(o, method, path, body=body, user=U_NONE)
        assert code == 403, (path, out)
        assert "79998" in js["error"]

    # the admin group (primary gid) may do everything
    assert st(U_ADMIN, "GET", "/v1/metrics") == 200
    assert st(U_ADMIN, "POST", "/v1/presign", {"path": "initech/a.txt"}) == 200
    code, js, _, _ = api(o, "GET", "/v1/status", user=U_ADMIN)
    assert code == 200 and "recent_errors" in js and len(js["tenants"]) == 3


def find_supplementary_member():
    """(user name, uid, primary gid, group name): a user whose group
    database lists it in a group other than its primary one; or None."""
    import grp
    import pwd
    for g in grp.getgrall():
        for m in g.gr_mem:
            try:
                pw = pwd.getpwnam(m)
            except KeyError:
                continue
            if pw.pw_uid != 0 and pw.pw_gid != g.gr_gid:
                return m, pw.pw_uid, pw.pw_gid, g.gr_name
    return None


def test_admin_group_supplementary_member(objfs_factory):
    found = find_supplementary_member()
    if not found:
        pytest.skip("no user with a supplementary group on this machine")
    name, uid, gid, group = found
    o = objfs_factory({"objfs": {"control_socket_mode": "0666",
                                 "control_admin_group": group},
                       "tenant acme": {"allow_uids": "71001"},
                       "tenant globex": {"allow_uids": "71001"},
                       "tenant initech": {"allow_uids": "71001"}}).start()
    # setpriv --clear-groups: the process has no supplementary groups, the
    # group database still says the user is a member
    assert api(o, "GET", "/v1/metrics", user=(uid, gid))[0] == 200
    assert api(o, "GET", "/v1/metrics", user=(79990, gid))[0] == 403


# -- health ------------------------------------------------------------------------------

def test_health_follows_the_s3_server(s3_factory):
    o = s3_factory().start()
    js = health(o)
    assert js["healthy"] and js["mount"]["ok"] and js["mount"]["path"] == o.mnt
    assert js["daemon"]["pid"] == o.proc.pid
    provs = {p["bucket"]: p for p in js["providers"]}
    assert provs["acme-uploads"]["type"] == "s3" and provs["acme-uploads"]["state"] == "ok"
    assert sorted(provs["shared-bucket"]["tenants"]) == ["globex", "initech"]

    o.s3.kill()
    def all_down():
        j = health(o)
        return j if all(p["state"] == "unreachable" for p in j["providers"]) else None
    js = wait_until(all_down, 20, what="every provider unreachable")
    assert not js["healthy"] and js["mount"]["ok"]
    assert all("unreachable" in p["detail"] for p in js["providers"]), js

    o.s3.restart()
    wait_until(lambda: health(o)["healthy"], 20, what="health to recover")
    assert_serving(o, "s3-back")

    # a store that hangs (SIGSTOP): health still answers, within its 5 s bound
    time.sleep(2.1)                       # past the cached answers
    o.s3.pause()
    try:
        t0 = time.monotonic()
        js = health(o)
        assert time.monotonic() - t0 < 9
        assert not js["healthy"] and js["mount"]["ok"]
        assert all(p["state"] == "unreachable" and "no answer" in p["detail"]
                   for p in js["providers"]), js
    finally:
        o.s3.resume()
    wait_until(lambda: health(o)["healthy"], 30, what="health after the store resumed")


# -- flush and status ----------------------------------------------------------------------

def test_flush_waits_for_real_uploads(objfs_factory):
    o = objfs_factory({"objfs": {"writeback_delay_ms": "60000"}})
    o.set("objfs", "audit_log", os.path.join(o.base, "audit.log"))
    o.start()
    write_file(o.p("acme", "a.txt"), b"first")
    os.makedirs(o.p("acme", "dir"))
    write_file(o.p("acme", "dir", "b.txt"), b"second")
    write_file(o.p("globex", "g.txt"), b"third")
    time.sleep(0.5)
    assert o.stored("acme", "a.txt") is None          # held by writeback_delay_ms

    code, js, _, _ = api(o, "GET", "/v1/status")
    assert code == 200 and js["pending_uploads"] >= 3 and js["bytes_pending"] >= 16
    assert js["oldest_pending_age_s"] > 0
    pend = {t["name"]: t["pending_uploads"] for t in js["tenants"]}
    assert pend["acme"] >= 2 and pend["globex"] >= 1 and pend["initech"] == 0
    assert health(o)["journal"]["pending"] >= 3

    # a flush of one path uploads it now; the others stay pending
    t0 = time.monotonic()
    code, js, out, _ = api(o, "POST", "/v1/flush", body={"path": "acme/dir", "timeout": 30})
    assert code == 200 and js == {"flushed": True, "pending": 0}, out
    assert time.monotonic() - t0 < 20
    assert o.stored("acme", "dir/b.txt").read() == b"second"
    assert o.stored("acme", "a.txt") is None
    assert o.stored("globex", "g.txt") is None
    code, js, _, _ = api(o, "GET", "/v1/tenants")
    pend = {t["name"]: t["pending_uploads"] for t in js["tenants"]}
    assert pend["acme"] >= 1 and pend["globex"] >= 1

    # a whole tenant, by its absolute path
    code, js, _, _ = api(o, "POST", "/v1/flush", body={"path": o.p("acme")})
    assert code == 200
    assert o.stored("acme", "a.txt").read() == b"first"
    assert o.stored("globex", "g.txt") is None

    # no path (root): everything
    code, js, _, _ = api(o, "POST", "/v1/flush", body={})
    assert code == 200
    assert o.stored("globex", "g.txt").read() == b"third"
    assert api(o, "GET", "/v1/status")[1]["pending_uploads"] == 0

    # what was audited
    with open(os.path.join(o.base, "audit.log")) as f:
        recs = [json.loads(line) for line in f if line.strip()]
    flushes = [r for r in recs if r.get("op") == "flush"]
    assert len(flushes) == 3 and all(r["result"] == "ok" for r in flushes), flushes
    assert any(r.get("tenant") == "acme" and r.get("path") == "dir" for r in flushes)


def test_reload_over_the_socket(objfs_factory):
    o = objfs_factory({"objfs": {"control_socket_mode": "0666"}})
    o.set("objfs", "audit_log", os.path.join(o.base, "audit.log"))
    o.start()
    o.set("tenant newco", "allow_uids", "71001")
    o.write_config()
    assert api(o, "POST", "/v1/reload", user=U_ACME)[0] == 403
    code, js, out, _ = api(o, "POST", "/v1/reload")
    assert code == 200 and js["reloaded"] and "1 added" in js["message"], out
    code, js, _, _ = api(o, "GET", "/v1/tenants", user=U_ACME)
    assert "newco" in [t["name"] for t in js["tenants"]]
    code, js, _, _ = api(o, "GET", "/v1/tenants", user=U_NONE)
    assert "newco" not in [t["name"] for t in js["tenants"]]
    assert api(o, "POST", "/v1/presign", body={"path": "newco/x"}, user=U_ACME)[0] == 200
    assert api(o, "POST", "/v1/presign", body={"path": "newco/x"}, user=U_NONE)[0] == 403

    # a change that needs a restart: 409, nothing changes
    o.set("tenant globex", "prefix", "elsewhere/")
    o.write_config()
    code, js, out, _ = api(o, "POST", "/v1/reload")
    assert code == 409, out
    # a broken file: 400
    o.set("tenant globex", "prefix", "tenants/globex/")
    o.set("tenant newco", "quota_bytes", "lots")
    o.write_config()
    code, js, out, _ = api(o, "POST", "/v1/reload")
    assert code == 400 and "quota_bytes" in js["error"], out
    with open(os.path.join(o.base, "audit.log")) as f:
        ops = [json.loads(line).get("op") for line in f if line.strip()]
    assert ops.count("reload") == 3
    assert_serving(o, "reload")


# -- hostile input --------------------------------------------------------------------------

HOLD_SCRIPT = r"""
import socket, sys, time
path, n, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
held = []
for _ in range(n):
    for _ in range(200):                 # a full backlog refuses: retry a moment later
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect(path)
        except OSError:
            s.close()
            time.sleep(0.01)
            continue
        held.append(s)
        break
print("ready %d" % len(held), flush=True)
time.sleep(secs)
"""


@pytest.mark.watchdog(240)
def test_hostile_clients(objfs_factory):
    o = objfs_factory({"objfs": {"control_socket_mode": "0666"}}).start()
    assert_serving(o, "start")

    # random bytes, on many connections
    for i in range(30):
        s = connect(o)
        send_quietly(s, os.urandom(1 + (i * 997) % 20000))
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        read_until_close(s, 15)
        s.close()
    assert_serving(o, "random-bytes")

    # 1 MiB of headers: refused (431) or closed, never buffered
    s = connect(o)
    send_quietly(s, b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" +
                 b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(1024)) + b"\r\n")
    out = read_until_close(s, 15)
    s.close()
    assert out == b"" or out.startswith(b"HTTP/1.1 4"), out[:200]
    assert_serving(o, "big-headers")

    # a huge Content-Length: 413 at once, body not read
    s = connect(o)
    send_quietly(s, b"POST /v1/presign HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: 99999999999999\r\n\r\n" + b"x" * 1000)
    out = read_until_close(s, 15)
    s.close()
    assert out.startswith(b"HTTP/1.1 413"), out[:200]

    # a chunked body that never stops growing: dropped past 64 KiB
    s = connect(o)
    send_quietly(s, b"POST /v1/flush HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    t0 = time.monotonic()
    for _ in range(100):
        try:
            s.sendall(b"1000\r\n" + b" " * 4096 + b"\r\n")
        except OSError:
            break
    read_until_close(s, 15)
    s.close()
    assert time.monotonic() - t0 < 15
    assert_serving(o, "endless-chunked")

    # a body that stops coming: the client is dropped after the idle timeout,
    # and others are served meanwhile
    slow = connect(o)
    send_quietly(slow, b"POST /v1/presign HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n")
    for _ in range(3):
        send_quietly(slow, b"{" + b" " * 99)
        time.sleep(0.3)
    t0 = time.monotonic()
    assert health(o)["healthy"]
    assert time.monotonic() - t0 < 5
    read_until_close(slow, 20)
    slow.close()
    assert_serving(o, "stalled-body")

    # half-open connections: a partial request then EOF, many times
    for i in range(50):
        s = connect(o)
        send_quietly(s, b"GET /v1/health HTTP/1.1\r\nHost: x\r\n"[:5 + i % 30])
        s.shutdown(socket.SHUT_WR)
        read_until_close(s, 15)
        s.close()
    # and connections that connect and never say anything, left open
    idle = [connect(o) for _ in range(20)]
    assert health(o)["healthy"]
    for s in idle:
        s.close()
    assert_serving(o, "half-open")

    # 200 connections held open by another user: it gets 32, root is served
    p = subprocess.Popen(setpriv(U_NONE) + [sys.executable, "-c", HOLD_SCRIPT, o.ctl_socket,
                                            "200", "8"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/")
    try:
        line = p.stdout.readline()
        assert line == b"ready 200\n", (line, p.stderr.read())
        for _ in range(3):
            t0 = time.monotonic()
            assert health(o)["healthy"]
            assert time.monotonic() - t0 < 5
    finally:
        p.kill()
        p.wait(timeout=30)
    assert_serving(o, "user-flood")

    # 200 held open by root: the connection limit (128) holds, and once they
    # are gone the daemon answers again
    held = []
    for _ in range(200):
        for _ in range(200):             # a full backlog refuses: retry a moment later
            try:
                held.append(connect(o, timeout=2))
                break
            except OSError:
                time.sleep(0.01)
    assert len(held) == 200
    time.sleep(0.5)
    r, _, _ = select.select(held, [], [], 1)
    closed = sum(1 for s in r if not s.recv(16))
    assert closed >= 200 - 128 - 5, closed          # over the limit: closed at accept
    for s in held:
        s.close()
    assert_serving(o, "root-flood")
    assert "AddressSanitizer" not in o.log_text()


def test_concurrent_requests_and_a_long_flush(s3_factory):
    """A flush that waits holds only its own connection: presign and status
    answer meanwhile, from many threads at once; a flush past its timeout
    is 504 with the count left, and a later one lands everything."""
    o = s3_factory({"objfs": {"writeback_delay_ms": "60000"}}).start()
    write_file(o.p("acme", "w.txt"), b"x" * 1000)
    o.s3.pause()
    errors = []
    try:
        def worker(n):
            for i in range(10):
                try:
                    t0 = time.monotonic()
                    code, js, out, _ = api(o, "POST", "/v1/presign",
                                           body={"path": "acme/f%d-%d" % (n, i)}, timeout=20)
                    if code != 200:
                        errors.append(out)
                    code, js, out, _ = api(o, "GET", "/v1/status", timeout=20)
                    if code != 200:
                        errors.append(out)
                    if time.monotonic() - t0 > 5:
                        errors.append("slow answer: %.1fs" % (time.monotonic() - t0))
                except Exception as e:          # noqa: BLE001 - reported below
                    errors.append(repr(e))

        ts = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in ts:
            t.start()
        t0 = time.monotonic()
        code, js, out, _ = api(o, "POST", "/v1/flush", body={"timeout": 3})
        el = time.monotonic() - t0
        for t in ts:
            t.join(timeout=120)
        assert code == 504, out
        assert js["pending"] >= 1 and "timed out" in js["error"]
        assert 2.5 < el < 10
        assert not errors, errors[:3]
    finally:
        o.s3.resume()
    code, js, out, _ = api(o, "POST", "/v1/flush", body={"timeout": 120}, timeout=150)
    assert code == 200, out
    assert o.stored("acme", "w.txt").read() == b"x" * 1000
