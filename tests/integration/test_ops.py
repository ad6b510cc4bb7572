"""Operations: `make install`, the systemd units, the mount(8) helper, the
systemd notifications and watchdog, and the audit log through the mount.

The units are checked with `systemd-analyze verify` as installed by
`make install DESTDIR=... PREFIX=/usr` (no running systemd is needed: verify
only loads the units).  Notifications are received on a SOCK_DGRAM Unix
socket the test binds and hands to the daemon as NOTIFY_SOCKET, as systemd
would.  `make install` runs with `-o all`, so it installs the binaries under
test (OBJFS_BUILD) and never rebuilds them with other flags.
"""
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time

import pytest

from conftest import (BUILD, DaemonFailure, errno_of, is_mounted, read_file, wait_until,
                      write_file)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOBODY = (65534, 65534)
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# Options that give a service its own mount namespace: a FUSE mount made
# inside one is invisible to the host (docs/operations.md).
NAMESPACE_OPTIONS = ("ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices",
                     "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
                     "ProtectControlGroups", "ProtectProc", "ProcSubset", "ReadWritePaths",
                     "ReadOnlyPaths", "InaccessiblePaths", "BindPaths", "BindReadOnlyPaths",
                     "TemporaryFileSystem", "PrivateMounts", "MountFlags", "PrivateIPC",
                     "RootDirectory", "RootImage", "ExecPaths", "NoExecPaths", "LogNamespace")


# ---- helpers -----------------------------------------------------------------

def make_install(destdir, prefix, **extra):
    """make install into destdir; returns the CompletedProcess (checked)."""
    cmd = ["make", "-s", "-C", REPO, "-o", "all", "BUILD=" + BUILD, "install",
           "DESTDIR=" + os.fspath(destdir), "PREFIX=" + prefix]
    cmd += ["%s=%s" % kv for kv in extra.items()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "make install failed:\n%s%s" % (r.stdout, r.stderr)
    return r


def unit_keys(path):
    """{key: [values]} of a unit file (comments and sections ignored)."""
    keys = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;[" or "=" not in line:
                continue
            k, v = line.split("=", 1)
            keys.setdefault(k.strip(), []).append(v.strip())
    return keys


def seconds(span):
    m = re.fullmatch(r"(\d+)\s*(s|min)?", span)
    assert m, "unexpected time span %r" % span
    return int(m.group(1)) * (60 if m.group(2) == "min" else 1)


def verify(*args):
    return subprocess.run(["systemd-analyze", "verify"] + list(args), capture_output=True,
                          text=True, timeout=120)


def objfs_pids(config_path):
    """Pids of objfs daemons started with config_path (daemonised ones have
    no Popen handle)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"objfs") and os.fsencode(config_path) in argv:
            pids.append(int(d))
    return pids


def wait_daemon_gone(config_path, timeout=60):
    """Waits for the daemonised objfs of config_path to exit; kills the
    ones left (by pid) and fails if there were any."""
    try:
        wait_until(lambda: not objfs_pids(config_path), timeout, interval=0.1,
                   what="the daemonised objfs to exit")
    except AssertionError:
        left = objfs_pids(config_path)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        raise AssertionError("objfs %s still running %ds after the unmount" % (left, timeout))


def asan_reports(prefix):
    d, base = os.path.split(prefix)
    return [os.path.join(d, n) for n in os.listdir(d) if n.startswith(base + ".")]


class NotifySocket:
    """The service manager's end of sd_notify: a SOCK_DGRAM Unix socket."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="objfs-notify-", dir="/tmp")
        self.path = os.path.join(self.dir, "n.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []        # (monotonic time, {key: value})

    def wait_for(self, key, value=None, timeout=20.0, after=0):
        """The first message from index `after` on that has key (= value);
        returns its index.  Bounded in time."""
        deadline = time.monotonic() + timeout
        i = after
        while True:
            for j in range(i, len(self.messages)):
                m = self.messages[j][1]
                if key in m and (value is None or m[key] == value):
                    return j
            i = len(self.messages)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s%s on NOTIFY_SOCKET within %.0fs; got %r" % (
                    key, "" if value is None else "=" + value, timeout,
                    [m for _, m in self.messages]))
            self.sock.settimeout(min(left, 0.5))
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            fields = dict(l.split("=", 1) for l in data.decode().split("\n") if "=" in l)
            self.messages.append((time.monotonic(), fields))

    def drain(self, seconds_):
        """Collects whatever arrives during `seconds_`."""
        end = time.monotonic() + seconds_
        while time.monotonic() < end:
            self.sock.settimeout(max(0.01, end - time.monotonic()))
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                break
            fields = dict(l.split("=", 1) for l in data.decode().split("\n") if "=" in l)
            self.messages.append((time.monotonic(), fields))

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def notify_socket():
    n = NotifySocket()
    yield n
    n.close()


# ---- make install ------------------------------------------------------------

@pytest.mark.nofuse
def test_make_install_layout(tmp_path):
    dest = tmp_path / "dest"
    for _ in range(2):                       # idempotent: a second run is fine
        make_install(dest, "/usr")
    files = sorted(os.path.relpath(os.path.join(d, n), dest)
                   for d, _, ns in os.walk(dest) for n in ns)
    assert files == ["sbin/mount.objfs", "usr/bin/objfs", "usr/bin/objfs-ctl",
                     "usr/lib/systemd/system/objfs-backup@.service",
                     "usr/lib/systemd/system/objfs-backup@.timer",
                     "usr/lib/systemd/system/objfs.service",
                     "usr/lib/systemd/system/objfs@.service"], files
    for rel, mode in (("usr/bin/objfs", 0o755), ("usr/bin/objfs-ctl", 0o755),
                      ("sbin/mount.objfs", 0o755),
                      ("usr/lib/systemd/system/objfs.service", 0o644),
                      ("usr/lib/systemd/system/objfs@.service", 0o644),
                      ("usr/lib/systemd/system/objfs-backup@.timer", 0o644)):
        assert stat.S_IMODE(os.stat(dest / rel).st_mode) == mode, rel
    assert read_file(dest / "usr/bin/objfs") == read_file(os.path.join(BUILD, "objfs"))
    assert read_file(dest / "usr/bin/objfs-ctl") == read_file(os.path.join(BUILD, "objfs-ctl"))

    units = dest / "usr/lib/systemd/system"
    assert unit_keys(units / "objfs.service")["ExecStart"] == [
        "/usr/bin/objfs -f --config /etc/objfs/objfs.conf"]
    assert unit_keys(units / "objfs@.service")["ExecStart"] == [
        "/usr/bin/objfs -f --config /etc/objfs/%i.conf"]
    helper = (dest / "sbin/mount.objfs").read_text()
    assert re.search(r"^OBJFS=/usr/bin/objfs$", helper, re.M), helper
    assert unit_keys(units / "objfs-backup@.service")["ExecStart"][0].startswith(
        "/usr/bin/objfs-ctl ")
    for f in (units / "objfs.service", units / "objfs@.service",
              units / "objfs-backup@.service", dest / "sbin/mount.objfs"):
        assert "/usr/local/bin" not in f.read_text(), f

    # another prefix and explicit directories
    dest2 = tmp_path / "dest2"
    make_install(dest2, "/opt/objfs", SBINDIR="/opt/objfs/sbin",
                 SYSTEMDDIR="/etc/systemd/system")
    assert unit_keys(dest2 / "etc/systemd/system/objfs.service")["ExecStart"] == [
        "/opt/objfs/bin/objfs -f --config /etc/objfs/objfs.conf"]
    assert "OBJFS=/opt/objfs/bin/objfs\n" in (dest2 / "opt/objfs/sbin/mount.objfs").read_text()
    assert os.access(dest2 / "opt/objfs/bin/objfs", os.X_OK)


# ---- systemd units -----------------------------------------------------------

@pytest.mark.nofuse
@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_units_verify(tmp_path):
    dest = tmp_path / "dest"
    make_install(dest, "/usr")
    units = dest / "usr/lib/systemd/system"

    # 1. verify against the DESTDIR as root (the packaged view).  --root
    # resolves every command inside it, so ExecReload's /bin/kill is copied
    # in; dependencies (sysinit.target, ...) are not in the DESTDIR, hence
    # --recursive-errors=no.
    os.makedirs(dest / "bin")
    shutil.copy2(shutil.which("kill") or "/bin/kill", dest / "bin/kill")
    for unit in ("objfs.service", "objfs@.service", "objfs@media.service"):
        r = verify("--recursive-errors=no", "--root=%s" % dest, unit)
        assert r.returncode == 0 and not r.stderr.strip(), "%s:\n%s%s" % (unit, r.stdout,
                                                                          r.stderr)

    # 2. verify against this system's units (dependencies included), with
    # ExecStart pointed at the installed binary.
    host = tmp_path / "host"
    host.mkdir()
    for unit in ("objfs.service", "objfs@.service"):
        text = (units / unit).read_text().replace("ExecStart=/usr/bin/objfs",
                                                  "ExecStart=%s/usr/bin/objfs" % dest)
        (host / unit).write_text(text)
    r = verify(str(host / "objfs.service"), str(host / "objfs@.service"))
    assert r.returncode == 0 and not r.stderr.strip(), r.stdout + r.stderr

    # the check can fail: a unit whose daemon is missing, and a bad setting
    bad = host / "objfs-bad.service"
    bad.write_text((host / "objfs.service").read_text().replace(
        "%s/usr/bin/objfs" % dest, "%s/usr/bin/objfs-missing" % dest))
    r = verify(str(bad))
    assert r.returncode != 0 and "objfs-missing" in r.stderr, r.stderr
    bad.write_text((host / "objfs.service").read_text().replace(
        "DeviceAllow=/dev/fuse rw", "DeviceAllow=/dev/fuse rwz"))
    r = verify(str(bad))
    assert "rwz" in r.stderr, r.stderr

    # what the units promise
    for unit, runtime, config in (("objfs.service", "objfs", "/etc/objfs/objfs.conf"),
                                  ("objfs@.service", "objfs/%i", "/etc/objfs/%i.conf")):
        k = unit_keys(units / unit)
        assert k["Type"] == ["notify"] and k["NotifyAccess"] == ["main"], unit
        assert k["ExecStart"][0].endswith("-f --config " + config), unit
        assert k["ExecReload"] == ["/bin/kill -HUP $MAINPID"], unit
        assert k["WatchdogSec"] == ["30"] and k["KillMode"] == ["mixed"], unit
        assert k["Restart"] == ["on-failure"], unit
        # above the default drain_timeout (300 s)
        assert seconds(k["TimeoutStopSec"][0]) > 300, unit
        assert k["RuntimeDirectory"] == [runtime], unit
        for d in ("CacheDirectory", "StateDirectory"):
            assert k[d] == [runtime], (unit, d)
        assert k["ConfigurationDirectory"] == ["objfs"], unit
        assert k["DeviceAllow"] == ["/dev/fuse rw"], unit
        assert k["NoNewPrivileges"] == ["yes"], unit
        assert k["LimitNOFILE"] == ["65536"], unit
        assert k["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6 AF_NETLINK"], unit
        assert "CAP_SYS_ADMIN" in k["CapabilityBoundingSet"][0].split(), unit
        ns = sorted(set(NAMESPACE_OPTIONS) & set(k))
        assert not ns, "%s: %s would hide the FUSE mount in a private namespace" % (unit, ns)


# ---- sd_notify and the watchdog ------------------------------------------------

def test_notify_ready_reload_watchdog_stopping(objfs_factory, notify_socket):
    o = objfs_factory()
    o.start(env={"NOTIFY_SOCKET": notify_socket.path, "WATCHDOG_USEC": "2000000"})
    i = notify_socket.wait_for("READY", "1")
    assert is_mounted(o.mnt), "READY=1 before the mount was up"
    status = notify_socket.messages[i][1].get("STATUS", "")
    assert status == "mounted at %s, 3 tenants" % os.path.realpath(o.mnt), status

    # the watchdog: WATCHDOG=1 about every half period (1 s) while responsive
    first = notify_socket.wait_for("WATCHDOG", "1", timeout=5, after=i)
    notify_socket.drain(3.5)
    pings = [t for t, m in notify_socket.messages[first:] if m.get("WATCHDOG") == "1"]
    assert len(pings) >= 3, pings
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    assert max(gaps) < 2.0, "a watchdog gap of %.2fs (period 2s)" % max(gaps)
    assert min(gaps) > 0.5, "pinging too often: %r" % gaps
    # the mount works meanwhile
    write_file(o.p("acme", "n.txt"), b"notify")
    assert read_file(o.p("acme", "n.txt")) == b"notify"

    # SIGHUP: RELOADING=1, then READY=1 again
    mark = len(notify_socket.messages)
    o.proc.send_signal(signal.SIGHUP)
    r = notify_socket.wait_for("RELOADING", "1", after=mark)
    notify_socket.wait_for("READY", "1", after=r + 1)

    # SIGTERM: STOPPING=1 as the flush begins
    mark = len(notify_socket.messages)
    assert o.terminate() == 0
    notify_socket.drain(0.2)
    notify_socket.wait_for("STOPPING", "1", timeout=5, after=mark)


def test_notify_without_watchdog(objfs_factory, notify_socket):
    """READY=1 is sent, but without WATCHDOG_USEC no WATCHDOG=1 ever is."""
    o = objfs_factory()
    o.start(env={"NOTIFY_SOCKET": notify_socket.path})
    notify_socket.wait_for("READY", "1")
    notify_socket.drain(2.5)
    assert not [m for _, m in notify_socket.messages if "WATCHDOG" in m]
    o.stop()


# ---- mount.objfs -------------------------------------------------------------

@pytest.fixture
def prefix_install(tmp_path):
    """objfs installed under a temporary prefix (its mount.objfs runs it)."""
    p = tmp_path / "prefix"
    make_install("", str(p), SBINDIR=str(p / "sbin"), SYSTEMDDIR=str(p / "units"))
    return p


def helper_env(o):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBJFS_")}
    # the daemonised objfs has no stderr: sanitizer reports go to files
    env["ASAN_OPTIONS"] = "detect_leaks=1:log_path=%s" % os.path.join(o.base, "asan")
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:log_path=%s" % os.path.join(o.base, "ubsan")
    return env


def run_helper(helper, args, env, timeout=60):
    return subprocess.run([str(helper)] + list(args), capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_mount_helper(objfs_factory, prefix_install):
    helper = prefix_install / "sbin/mount.objfs"
    o = objfs_factory()
    o.write_config()
    env = helper_env(o)

    # fake mode (-f): what would run, with mount(8)-only options dropped
    r = run_helper(helper, [o.config_path, o.mnt, "-fv", "-o",
                            "defaults,_netdev,allow_other,noauto,nofail,x-systemd.automount,"
                            "comment=x,user,rw"], env)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == "mount.objfs: %s/bin/objfs --config %s -o allow_other,rw %s" % (
        prefix_install, o.config_path, o.mnt), r.stderr
    assert not is_mounted(o.mnt)
    r = run_helper(helper, ["objfs#" + o.config_path, o.mnt, "-f", "-o", "defaults"], env)
    assert r.returncode == 0 and "--config %s %s" % (o.config_path, o.mnt) in r.stderr, r.stderr

    # bad input: clear errors, nothing mounted
    for args, msg in (([o.config_path + ".missing", o.mnt], "no such configuration file"),
                      ([o.config_path, o.mnt + "/nodir"], "not a directory"),
                      ([o.config_path], "usage"),
                      ([o.config_path, o.mnt, "-o"], "-o needs an argument"),
                      ([o.config_path, o.mnt, "-x"], "unexpected argument")):
        r = run_helper(helper, args, env)
        assert r.returncode != 0 and msg in r.stderr, (args, r.stderr)
    assert not is_mounted(o.mnt)

    # called as mount(8) calls it: returns once the mount is up
    try:
        r = run_helper(helper, [o.config_path, o.mnt, "-o", "defaults,_netdev,allow_other,rw"],
                       env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert is_mounted(o.mnt), "mount.objfs returned before the mount was up"
        assert objfs_pids(o.config_path), "no daemon"
        with open("/proc/self/mountinfo") as f:
            line = [l for l in f if " %s " % o.mnt in l][0]
        assert "fuse.objfs" in line and "allow_other" in line, line
        write_file(o.p("acme", "via-helper.txt"), b"helper")
        assert read_file(o.p("acme", "via-helper.txt")) == b"helper"
        o.wait_landed("acme", "via-helper.txt", b"helper")
        # allow_other reached FUSE: another user sees the mount
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "ls", o.p("acme")], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and "via-helper.txt" in r.stdout, r.stderr

        # objfs's own failure comes back as the helper's status and message
        badconf = os.path.join(o.base, "bad.conf")
        write_file(badconf, b"[objfs]\nno_such_key = 1\n")
        other = tempfile.mkdtemp(prefix="objfs-it-bad-", dir="/tmp")
        try:
            r = run_helper(helper, [badconf, other], env)
        finally:
            os.rmdir(other)
        assert r.returncode == 1 and "bad.conf" in r.stderr and "no_such_key" in r.stderr, \
            r.stdout + r.stderr
    finally:
        subprocess.run(["fusermount3", "-u", o.mnt], capture_output=True, timeout=30)
        wait_daemon_gone(o.config_path)
    assert not is_mounted(o.mnt)
    assert not asan_reports(os.path.join(o.base, "asan")), asan_reports(
        os.path.join(o.base, "asan"))


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare")
def test_mount_t_objfs(objfs_factory, prefix_install):
    """`mount -t objfs CONFIG DIR` finds the helper in /sbin.  mount(8) only
    looks in /sbin, so the helper is put there in a private mount namespace
    (a tmpfs over /usr/sbin that nobody else sees): nothing is left in the
    real /sbin."""
    helper = prefix_install / "sbin/mount.objfs"
    o = objfs_factory()
    o.write_config()
    sbin = os.path.realpath("/sbin")
    script = r"""
set -e
mount -t tmpfs -o mode=0755 objfs-test-sbin "$SBIN"
cp "$HELPER" "$SBIN/mount.objfs"
mount -t objfs -o allow_other,_netdev "$CONF" "$MNT"
grep -q " $MNT .* fuse.objfs " /proc/self/mountinfo
echo via-mount8 > "$MNT/acme/m8.txt"
cat "$MNT/acme/m8.txt"
fusermount3 -u "$MNT"
"""
    env = helper_env(o)
    env.update(SBIN=sbin, HELPER=str(helper), CONF=o.config_path, MNT=o.mnt)
    try:
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                           capture_output=True, text=True, timeout=120, env=env)
        if r.returncode != 0 and "unshare failed" in r.stderr:
            pytest.skip("no mount namespaces here: %s" % r.stderr.strip())
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.strip() == "via-mount8"
    finally:
        wait_daemon_gone(o.config_path)
    assert not os.path.exists("/sbin/mount.objfs")
    o.wait_landed("acme", "m8.txt", b"via-mount8\n")
    assert not asan_reports(os.path.join(o.base, "asan"))


# ---- the audit log -----------------------------------------------------------

def audit_lines(path):
    """Every line of the audit log at path, parsed (fails on a bad line)."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path, "rb") as f:
        data = f.read()
    assert not data or data.endswith(b"\n"), "torn last line in %s" % path
    for n, line in enumerate(data.splitlines(), 1):
        rec = json.loads(line)
        for k in ("time", "uid", "pid", "op", "result"):
            assert k in rec, "%s:%d lacks %s: %s" % (path, n, k, line)
        assert TIME_RE.match(rec["time"]), rec
        out.append(rec)
    return out


def find(recs, **kw):
    return [r for r in recs if all(r.get(k) == v for k, v in kw.items())]


def wait_record(log_path, timeout=10, **kw):
    try:
        return wait_until(lambda: find(audit_lines(log_path), **kw), timeout,
                          what="audit record %r" % kw)[0]
    except AssertionError as e:
        recs = audit_lines(log_path)
        raise AssertionError("%s in %s, which holds:\n%s" % (
            e, log_path, "\n".join(json.dumps(r) for r in recs[-30:]))) from None


def audited(objfs_factory, **objfs):
    base = tempfile.mkdtemp(prefix="objfs-audit-", dir="/tmp")
    path = os.path.join(base, "audit.log")
    sect = {"audit_log": path}
    sect.update(objfs)
    o = objfs_factory({"objfs": sect}, extra_args=["-o", "allow_other"])
    return o, path, base


def test_audit_records_mutations(objfs_factory):
    o, log, base = audited(objfs_factory)
    try:
        o.start()
        assert stat.S_IMODE(os.stat(log).st_mode) == 0o640
        me = os.getpid()
        write_file(o.p("acme", "a.txt"), b"hello")
        wait_record(log, op="create", path="a.txt")
        os.rename(o.p("acme", "a.txt"), o.p("acme", "b.txt"))
        os.chmod(o.p("acme", "b.txt"), 0o600)
        os.setxattr(o.p("acme", "b.txt"), "user.color", b"red")
        os.mkdir(o.p("acme", "d"))
        write_file(o.p("acme", "d", "inner"), b"x")
        assert errno_of(os.rmdir, o.p("acme", "d")) is not None    # not empty
        os.unlink(o.p("acme", "d", "inner"))
        os.rmdir(o.p("acme", "d"))
        os.unlink(o.p("acme", "b.txt"))
        write_file(o.p("globex", "g.txt"), b"g")

        for op, path in (("create", "a.txt"), ("chmod", "b.txt"),
                         ("setxattr", "b.txt"), ("mkdir", "d"), ("rmdir", "d"),
                         ("unlink", "b.txt"), ("unlink", "d/inner")):
            rec = wait_record(log, op=op, path=path, result="ok")
            assert rec["tenant"] == "acme" and rec["uid"] == 0, rec
        rec = wait_record(log, op="rename", path="a.txt")
        assert rec["to"] == "b.txt" and rec["result"] == "ok" and rec["pid"] == me, rec
        rec = wait_record(log, op="rmdir", path="d", result="ENOTEMPTY")
        assert rec["pid"] == me, rec
        rec = wait_record(log, op="create", path="g.txt")
        assert rec["tenant"] == "globex", rec
        # reads are not audited
        assert not [r for r in audit_lines(log) if r["op"] in ("read", "getattr", "open")]

        # a non-root writer: its uid and pid
        os.mkdir(o.p("acme", "shared"))
        os.chmod(o.p("acme", "shared"), 0o777)
        p = subprocess.Popen(["setpriv", "--reuid=%d" % NOBODY[0], "--regid=%d" % NOBODY[1],
                              "--clear-groups", "touch", o.p("acme", "shared", "n.txt")],
                             stderr=subprocess.PIPE)
        _, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        rec = wait_record(log, op="create", path="shared/n.txt")
        assert rec["uid"] == NOBODY[0] and rec["pid"] == p.pid and rec["result"] == "ok", rec
        # an unlink in a directory the writer may no longer write: whatever
        # objfs decides, the record says what the caller got
        os.chmod(o.p("acme", "shared"), 0o755)
        r = subprocess.run(["setpriv", "--reuid=%d" % NOBODY[0], "--regid=%d" % NOBODY[1],
                            "--clear-groups", "rm", "-f", o.p("acme", "shared", "n.txt")],
                           capture_output=True, text=True, timeout=30)
        rec = wait_record(log, op="unlink", path="shared/n.txt")
        assert rec["uid"] == NOBODY[0], rec
        assert (rec["result"] == "ok") == (r.returncode == 0), (rec, r.stderr)
        if r.returncode != 0:
            assert rec["result"] in ("EACCES", "EPERM"), rec
        o.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_audit_write_record(objfs_factory):
    """A write is audited once per open file, at release, with the file's
    path and the writer's uid and pid (not the kernel's release context,
    which has neither a path nor a caller)."""
    o, log, base = audited(objfs_factory)
    try:
        o.start()
        os.mkdir(o.p("acme", "shared"))
        os.chmod(o.p("acme", "shared"), 0o777)
        target = o.p("acme", "shared", "w.txt")
        p = subprocess.Popen(["setpriv", "--reuid=%d" % NOBODY[0], "--regid=%d" % NOBODY[1],
                              "--clear-groups", "sh", "-c", 'echo data > "$0"', target],
                             stderr=subprocess.PIPE)
        _, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        rec = wait_record(log, op="write", result="ok")
        assert rec["path"] == "shared/w.txt" and rec["tenant"] == "acme", rec
        assert rec["uid"] == NOBODY[0] and rec["pid"] == p.pid, rec
        o.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_audit_rotation_at_run_time(objfs_factory):
    o, log, base = audited(objfs_factory, audit_log_max_bytes="2000", audit_log_keep="2")
    try:
        o.start()
        for i in range(60):
            os.mkdir(o.p("acme", "dir-%02d" % i))
        o.stop()
        assert os.path.exists(log + ".1") and os.path.exists(log + ".2")
        assert not os.path.exists(log + ".3")
        for p in (log, log + ".1", log + ".2"):
            assert os.path.getsize(p) <= 2000, p
        recs = audit_lines(log + ".2") + audit_lines(log + ".1") + audit_lines(log)
        names = [r["path"] for r in recs if r["op"] == "mkdir"]
        # the newest lines are kept, in order, the oldest rotated away
        assert names and names[-1] == "dir-59", names
        assert names == ["dir-%02d" % i for i in range(60 - len(names), 60)], names
        assert len(names) < 60
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_audit_reopen_on_sighup(objfs_factory):
    o, log, base = audited(objfs_factory)
    try:
        o.start()
        os.mkdir(o.p("acme", "before"))
        wait_record(log, op="mkdir", path="before")
        os.rename(log, log + ".rotated")             # what logrotate does
        os.mkdir(o.p("acme", "between"))             # still the old file
        wait_record(log + ".rotated", op="mkdir", path="between")
        assert not os.path.exists(log)
        off = o.log_offset()
        o.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "reload" in o.log_since(off), 10, what="reload logged")
        wait_until(lambda: os.path.exists(log), 10, what="a new audit log")
        os.mkdir(o.p("acme", "after"))
        wait_record(log, op="mkdir", path="after")
        assert [r["path"] for r in audit_lines(log) if r["op"] == "mkdir"] == ["after"]
        assert not find(audit_lines(log + ".rotated"), path="after")
        o.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_audit_unwritable_path_fails_start(objfs_factory):
    o = objfs_factory({"objfs": {"audit_log": "/nonexistent-objfs-dir/audit.log"}})
    with pytest.raises(DaemonFailure) as ei:
        o.start()
    msg = str(ei.value)
    assert "/nonexistent-objfs-dir/audit.log" in msg and "directory must exist" in msg, msg
