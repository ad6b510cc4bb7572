"""Fixtures for objfs integration tests: run the real daemon on a real FUSE mount.

    OBJFS_BUILD=/work/main/build /usr/bin/python3 -m pytest -q tests/integration

`objfs_factory(**sections)` builds an `Objfs` (not started); `fs` is one started
with the default configuration.  Every daemon start writes its stderr to its
own file; at stop (and at teardown) the file is checked for sanitizer reports,
which fail the test.  A watchdog kills a hung daemon so that a deadlock fails
the test (operations then get ENOTCONN) instead of hanging the suite.
"""

import collections
import errno
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from localstore import LocalStore  # noqa: E402

BUILD = os.environ.get("OBJFS_BUILD", os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "build"))
OBJFS_BIN = os.path.join(BUILD, "objfs")
OBJFS_CTL = os.path.join(BUILD, "objfs-ctl")


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

MOUNT_TIMEOUT = 15.0
STOP_TIMEOUT = 60.0
DEFAULT_WATCHDOG = 90.0
# Scales the "wait until landed" bounds (e.g. 3 on a slow sanitizer build).
TIMEOUT_SCALE = float(os.environ.get("OBJFS_IT_TIMEOUT_SCALE", "1"))

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                     "UndefinedBehaviorSanitizer", "ThreadSanitizer")
PROV_RE = re.compile(r"\bprov \S+ (\w+) ")


def fuse_available():
    return os.path.exists("/dev/fuse") and shutil.which("fusermount3") is not None


needs_fuse = pytest.mark.skipif(not fuse_available(),
                                reason="needs /dev/fuse and fusermount3")


def pytest_collection_modifyitems(config, items):
    # Every test here mounts (except test_badconfig's, which run the binary only).
    if fuse_available():
        return
    skip = pytest.mark.skip(reason="needs /dev/fuse and fusermount3")
    for it in items:
        if "nofuse" not in it.keywords:
            it.add_marker(skip)


def pytest_configure(config):
    config.addinivalue_line("markers", "nofuse: test runs without FUSE")
    config.addinivalue_line("markers", "watchdog(seconds): per-test daemon watchdog")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Polls pred() until truthy; bounded in time and count. Returns its value."""
    deadline = time.monotonic() + timeout
    n = int(timeout / interval) + 2
    for _ in range(n):
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    v = pred()
    if v:
        return v
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))


def clean_env(extra=None):
    """The environment for objfs-ctl: without OBJFS_* overrides (they would
    change the configuration), leak checks on under ASan, a dumb terminal."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("OBJFS_") or k == "OBJFS_BUILD"}
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    e["TERM"] = "dumb"
    e.update(extra or {})
    return e


def kill_midway(args, ready, timeout, what):
    """Runs args (objfs-ctl with clean_env) and SIGKILLs it as soon as
    ready() holds, polled every 20 ms for at most timeout seconds; fails if
    it finished first (nothing would have been interrupted)."""
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
    try:
        wait_until(lambda: p.poll() is not None or ready(), timeout, interval=0.02, what=what)
        assert p.poll() is None, "%s: it finished before it could be killed" % what
        p.send_signal(signal.SIGKILL)
    finally:
        p.kill()
        p.communicate(timeout=30)


def is_mounted(path):
    """From /proc/self/mountinfo: never touches the (possibly hung) mount."""
    path = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 4 and parts[4].encode().decode("unicode_escape") == path:
                    return True
    except OSError:
        pass
    return False


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def write_file(path, data, mode="wb"):
    with open(path, mode) as f:
        f.write(data)


def default_config(base):
    return collections.OrderedDict([
        ("objfs", collections.OrderedDict([
            ("cache_dir", os.path.join(base, "cache")),
            ("default_provider", "local"),
            ("bucket_pattern", "{tenant}-uploads"),
            ("log_level", "debug"),
            ("chunk_size", "1M"),
            ("staging_max_bytes", "64M"),
            ("writeback_delay_ms", "0"),
            ("multipart_threshold", "0"),
            ("upload_workers", "4"),
            ("attr_ttl", "300"),
            ("dir_ttl", "300"),
            ("negative_ttl", "30"),
        ])),
        ("provider local", collections.OrderedDict([
            ("type", "local"),
            ("root", os.path.join(base, "objects")),
        ])),
        ("tenant acme", collections.OrderedDict()),
        ("tenant globex", collections.OrderedDict([
            ("bucket", "shared-bucket"), ("prefix", "tenants/globex/")])),
        ("tenant initech", collections.OrderedDict([
            ("bucket", "shared-bucket"), ("prefix", "tenants/initech/")])),
    ])


def render_config(cfg):
    lines = []
    for sect, kv in cfg.items():
        lines.append("[%s]" % sect)
        for k, v in kv.items():
            lines.append("%s = %s" % (k, v))
    return "\n".join(lines) + "\n"


class DaemonFailure(AssertionError):
    pass


class Objfs:
    """One objfs mount under test.  Not thread-safe; one per test."""

    def __init__(self, base, sections=None, extra_args=(), watchdog=DEFAULT_WATCHDOG):
        self.base = os.fspath(base)
        os.makedirs(self.base, exist_ok=True)
        # The mount point lives in a world-searchable directory so that a test
        # can run a subprocess as another user against it.
        self.mnt_parent = tempfile.mkdtemp(prefix="objfs-it-", dir="/tmp")
        os.chmod(self.mnt_parent, 0o755)
        self.mnt = os.path.join(self.mnt_parent, "mnt")
        os.mkdir(self.mnt)
        os.chmod(self.mnt, 0o755)
        self.config = default_config(self.base)
        # Short paths: a Unix socket path must fit in 108 bytes.
        self.config["objfs"]["control_socket"] = os.path.join(self.mnt_parent, "ctl.sock")
        self.config["provider local"]["listen"] = "127.0.0.1:%d" % free_port()
        for sect, kv in (sections or {}).items():
            if kv is None:
                self.config.pop(sect, None)
                continue
            d = self.config.setdefault(sect, collections.OrderedDict())
            for k, v in kv.items():
                if v is None:
                    d.pop(k, None)
                else:
                    d[k] = str(v)
        self.extra_args = list(extra_args)
        self.config_path = os.path.join(self.base, "objfs.conf")
        self.proc = None
        self.logs = []            # stderr files, one per start
        self.nstart = 0
        self.errors = []          # problems found outside a test's own asserts
        self.watchdog_s = watchdog
        self._watchdog = None
        self.watchdog_fired = False
        self.store = LocalStore(self.config["provider local"]["root"])

    # -- configuration -------------------------------------------------------
    @property
    def cache_dir(self):
        return self.config["objfs"]["cache_dir"]

    def set(self, section, key, value):
        if value is None:
            self.config[section].pop(key, None)
        else:
            self.config.setdefault(section, collections.OrderedDict())[key] = str(value)

    def write_config(self):
        with open(self.config_path, "w") as f:
            f.write(render_config(self.config))

    def location(self, tenant):
        """(bucket, prefix) of a tenant per the configuration."""
        t = self.config["tenant " + tenant]
        bucket = t.get("bucket") or self.config["objfs"]["bucket_pattern"].replace("{tenant}", tenant)
        return bucket, t.get("prefix", "")

    def key(self, tenant, rel):
        return self.location(tenant)[1] + rel

    @property
    def ctl_socket(self):
        return self.config["objfs"]["control_socket"]

    def ctl(self, *args, user=None, check=False, timeout=120, input=None, env=None):
        """Runs objfs-ctl --socket <this mount's socket> ARGS; returns the
        CompletedProcess (text).  user=(uid, gid) runs it as that user
        through setpriv."""
        cmd = [OBJFS_CTL, "--socket", self.ctl_socket] + [str(a) for a in args]
        if user is not None:
            uid, gid = user
            cmd = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups"] + cmd
        e = dict(os.environ)
        e.update(env or {})
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              check=check, input=input, env=e)

    # -- paths ---------------------------------------------------------------
    def p(self, *parts):
        return os.path.join(self.mnt, *parts)

    def pb(self, *parts):
        return os.path.join(os.fsencode(self.mnt), *[os.fsencode(x) for x in parts])

    # -- lifecycle -------------------------------------------------------------
    @property
    def log_path(self):
        return self.logs[-1] if self.logs else None

    def start(self, wait=True, extra_args=None, env=None):
        """env: variables added to the daemon's environment (e.g. NOTIFY_SOCKET)."""
        assert self.proc is None, "daemon already running"
        if not os.path.exists(OBJFS_BIN):
            pytest.fail("objfs binary not found: %s (set OBJFS_BUILD)" % OBJFS_BIN)
        self.write_config()
        self.nstart += 1
        log = os.path.join(self.base, "daemon-%d.stderr" % self.nstart)
        self.logs.append(log)
        args = [OBJFS_BIN, "-f"]
        for a in (self.extra_args if extra_args is None else extra_args):
            args.append(a)
        args += ["--config", self.config_path, self.mnt]
        denv = dict(os.environ)
        for k in list(denv):
            if k.startswith("OBJFS_") and k != "OBJFS_BUILD":
                del denv[k]
        denv.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        denv.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        denv.update(env or {})
        with open(log, "wb") as errf, open(log + ".stdout", "wb") as outf:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=outf,
                                         stderr=errf, env=denv)
        self._arm_watchdog()
        if wait:
            self.wait_mounted()
        return self

    def wait_mounted(self, timeout=MOUNT_TIMEOUT):
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout / 0.05) + 2):
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                raise DaemonFailure("objfs exited with %s before mounting:\n%s"
                                    % (rc, self.log_tail()))
            if is_mounted(self.mnt) and os.path.ismount(self.mnt):
                return
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.kill9()
        raise DaemonFailure("not mounted after %.0fs:\n%s" % (timeout, self.log_tail()))

    def _arm_watchdog(self):
        self._disarm_watchdog()
        if not self.watchdog_s:
            return
        proc = self.proc

        def fire():
            if proc.poll() is None:
                self.watchdog_fired = True
                try:
                    proc.kill()
                except OSError:
                    pass
        self._watchdog = threading.Timer(self.watchdog_s, fire)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _disarm_watchdog(self):
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=STOP_TIMEOUT, expect_rc=0):
        """Unmounts (the daemon drains pending uploads) and waits for exit 0."""
        assert self.proc is not None, "daemon not running"
        self.check_alive()
        r = subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True, timeout=30)
        if r.returncode != 0:
            msg = r.stderr.decode(errors="replace").strip()
            self._force_down()
            self.check_log()
            raise DaemonFailure("fusermount3 -u failed: %s" % msg)
        rc = self._wait_exit(timeout)
        if rc is None:
            self._force_down()
            self.check_log()
            raise DaemonFailure("objfs did not exit within %.0fs after unmount:\n%s"
                                % (timeout, self.log_tail()))
        self.proc = None
        self._disarm_watchdog()
        self.check_log()
        if expect_rc is not None and rc != expect_rc:
            raise DaemonFailure("objfs exited %s after unmount (expected %s):\n%s"
                                % (rc, expect_rc, self.log_tail()))
        return rc

    def check_alive(self):
        """Fails when the daemon died on its own (crash, abort, signal)."""
        if self.proc is None or self.proc.poll() is None:
            return
        rc = self.proc.returncode
        self.proc = None
        self._disarm_watchdog()
        self.lazy_unmount()
        how = ("killed by signal %d (%s)" % (-rc, signal.Signals(-rc).name)) if rc < 0 \
            else "exit status %d" % rc
        if self.watchdog_fired:
            how += " (by the test watchdog after %.0fs)" % self.watchdog_s
        msg = "daemon died while mounted: %s\n%s" % (how, self.log_tail(30))
        self.errors.append(msg)
        raise DaemonFailure(msg)

    def terminate(self, timeout=STOP_TIMEOUT):
        """SIGTERM; returns the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        rc = self._wait_exit(timeout)
        if rc is None:
            self._force_down()
            raise DaemonFailure("objfs did not exit on SIGTERM within %.0fs" % timeout)
        self.proc = None
        self._disarm_watchdog()
        self.lazy_unmount()
        self.check_log()
        return rc

    def kill9(self):
        """kill -9, then lazily unmount the dead mount."""
        if self.proc is not None:
            try:
                self.proc.kill()
            except OSError:
                pass
            self._wait_exit(10)
            self.proc = None
        self._disarm_watchdog()
        self.lazy_unmount()

    def lazy_unmount(self):
        for _ in range(20):
            if not is_mounted(self.mnt):
                return
            subprocess.run(["fusermount3", "-u", "-z", self.mnt], capture_output=True, timeout=30)
            time.sleep(0.05)

    def _force_down(self):
        if self.proc is not None:
            try:
                self.proc.kill()
            except OSError:
                pass
            self._wait_exit(10)
            self.proc = None
        self._disarm_watchdog()
        self.lazy_unmount()

    def restart(self, empty_cache=False, **objfs_overrides):
        if self.proc is not None:
            self.stop()
        if empty_cache:
            shutil.rmtree(self.cache_dir, ignore_errors=True)
        for k, v in objfs_overrides.items():
            self.set("objfs", k, v)
        return self.start()

    def close(self):
        """Teardown: make sure nothing is left mounted or running."""
        try:
            self.check_alive()
        except DaemonFailure:
            pass
        if self.proc is not None:
            try:
                self.stop(timeout=30)
            except Exception as e:
                # "busy" means the test left a file open (it failed already);
                # anything else is a daemon problem worth reporting.
                if "busy" not in str(e) and "sanitizer report" not in str(e):
                    self.errors.append("stop at teardown: %s" % e)
                self._force_down()
        self.lazy_unmount()
        self._disarm_watchdog()
        try:
            os.rmdir(self.mnt)
            if os.path.exists(self.ctl_socket):   # left by a killed daemon
                os.unlink(self.ctl_socket)
            os.rmdir(self.mnt_parent)
        except OSError:
            pass

    # -- logs ----------------------------------------------------------------
    def log_text(self, which=-1):
        if not self.logs:
            return ""
        with open(self.logs[which], "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_tail(self, n=60, which=-1):
        lines = self.log_text(which).splitlines()
        return "\n".join(lines[-n:])

    def log_offset(self):
        try:
            return os.path.getsize(self.log_path)
        except (OSError, TypeError):
            return 0

    def log_since(self, offset):
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def ops(self, since=0):
        """collections.Counter of provider ops logged since the byte offset."""
        return collections.Counter(PROV_RE.findall(self.log_since(since)))

    def ops_total(self):
        """Counter of provider ops over every daemon start of this mount."""
        c = collections.Counter()
        for i in range(len(self.logs)):
            c += collections.Counter(PROV_RE.findall(self.log_text(i)))
        return c

    def op_lines(self, since=0):
        return [l for l in self.log_since(since).splitlines() if PROV_RE.search(l)]

    def wait_log_quiet(self, quiet=0.5, timeout=5.0):
        """Waits until the log stops growing for `quiet` seconds (bounded)."""
        deadline = time.monotonic() + timeout
        last = self.log_offset()
        since = time.monotonic()
        for _ in range(int(timeout / 0.05) + 2):
            time.sleep(0.05)
            cur = self.log_offset()
            now = time.monotonic()
            if cur != last:
                last, since = cur, now
            elif now - since >= quiet:
                return
            if now > deadline:
                return

    def sanitizer_reports(self):
        found = []
        for log in self.logs:
            try:
                with open(log, "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            if any(m in text for m in SANITIZER_MARKERS):
                found.append(log)
        return found

    def check_log(self):
        bad = self.sanitizer_reports()
        if bad:
            tails = "\n".join("== %s\n%s" % (b, "\n".join(open(b, errors="replace")
                                                          .read().splitlines()[-80:]))
                              for b in bad)
            msg = "sanitizer report in daemon stderr:\n" + tails
            if msg not in self.errors:
                self.errors.append(msg)
            raise DaemonFailure(msg)

    # -- store ---------------------------------------------------------------
    def stored(self, tenant, rel):
        b, pfx = self.location(tenant)
        return self.store.head(b, pfx + rel)

    def stored_keys(self, tenant, sub=""):
        """Keys relative to the tenant's prefix, under sub."""
        b, pfx = self.location(tenant)
        return sorted(k[len(pfx):] for k in self.store.keys(b, pfx + sub))

    def wait_landed(self, tenant, rel, data=None, digest=None, timeout=30.0):
        """Polls the store until tenant/rel holds the expected content."""
        if data is not None:
            digest = sha256(data)
        b, pfx = self.location(tenant)

        def ok():
            o = self.store.head(b, pfx + rel)
            if o is None:
                return None
            if digest is None:
                return o
            try:
                return o if o.sha256() == digest else None
            except Exception:
                return None
        return wait_until(ok, timeout * TIMEOUT_SCALE,
                          what="%s/%s to land in the store" % (tenant, rel))

    def wait_gone(self, tenant, rel, timeout=30.0):
        b, pfx = self.location(tenant)
        wait_until(lambda: not self.store.exists(b, pfx + rel), timeout * TIMEOUT_SCALE,
                   what="%s/%s to disappear from the store" % (tenant, rel))


@pytest.fixture
def objfs_factory(tmp_path, request):
    made = []

    def make(sections=None, extra_args=(), watchdog=None, name=None):
        m = request.node.get_closest_marker("watchdog")
        wd = watchdog or (m.args[0] if m else DEFAULT_WATCHDOG)
        base = tmp_path / (name or ("fs%d" % len(made)))
        o = Objfs(base, sections, extra_args, watchdog=wd)
        made.append(o)
        return o

    yield make
    problems = []
    for o in made:
        o.close()
        if o.watchdog_fired:
            problems.append("watchdog killed the daemon (hung?):\n" + o.log_tail())
        bad = o.sanitizer_reports()
        if bad:
            for b in bad:
                problems.append("sanitizer report in %s:\n%s" % (
                    b, "\n".join(open(b, errors="replace").read().splitlines()[-80:])))
        for e in o.errors:
            if not e.startswith("sanitizer report") and not (
                    o.watchdog_fired and e.startswith("daemon died")):
                problems.append(e)
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def fs(objfs_factory):
    return objfs_factory().start()


def errno_of(fn, *a, **kw):
    """Runs fn; returns the errno of the OSError it raised, or None."""
    try:
        fn(*a, **kw)
    except OSError as e:
        return e.errno
    return None


def errname(e):
    return errno.errorcode.get(e, str(e)) if e is not None else "no error"


# -- S3 -----------------------------------------------------------------------

@pytest.fixture
def s3server(tmp_path):
    """A signature-checking S3 server (s3rver) on 127.0.0.1, for one test."""
    from s3server import S3Server
    s = S3Server(tmp_path / "s3").start()
    yield s
    s.close()


def s3_sections(server, base, secret=None):
    """Configuration sections that put every tenant on `server`."""
    os.makedirs(base, exist_ok=True)
    cred = server.credentials_file(os.path.join(base, "s3.cred"), secret=secret)
    return {
        "objfs": {"default_provider": "main", "read_cache": "auto"},
        "provider main": {"type": "s3", "endpoint": server.endpoint, "region": "us-east-1",
                          "path_style": "true", "credentials": cred},
    }


@pytest.fixture
def s3_factory(s3server, objfs_factory, tmp_path):
    """Like objfs_factory, with the tenants on the s3 provider; o.store reads
    the bucket through botocore and o.s3 is the server."""
    from s3server import S3Store
    n = [0]

    def make(sections=None, secret=None, **kw):
        n[0] += 1
        secs = s3_sections(s3server, str(tmp_path / ("cred%d" % n[0])), secret=secret)
        for sect, kv in (sections or {}).items():
            if kv is None:
                secs[sect] = None
                continue
            secs.setdefault(sect, {}).update(kv)
        o = objfs_factory(secs, **kw)
        o.store = S3Store(s3server)
        o.s3 = s3server
        return o
    return make


@pytest.fixture
def s3fs(s3_factory):
    return s3_factory().start()


def _store_factory(objfs_factory, tmp_path, server, sections_fn, store):
    """objfs_factory with every tenant on `server` (sections from
    sections_fn(server, base)); o.store is `store`, o.server the server."""
    n = [0]

    def make(sections=None, **kw):
        n[0] += 1
        secs = sections_fn(server, str(tmp_path / ("cred%d" % n[0])))
        for sect, kv in (sections or {}).items():
            if kv is None:
                secs[sect] = None
                continue
            secs.setdefault(sect, {}).update(kv)
        o = objfs_factory(secs, **kw)
        o.store = store
        o.server = server
        return o
    return make


@pytest.fixture
def gcsserver(tmp_path):
    """The shared GCS test server (OAuth2 JWT, V4 signatures) on 127.0.0.1."""
    from gcsserver import GcsServer
    s = GcsServer(tmp_path / "gcs").start()
    yield s
    s.close()


@pytest.fixture
def gcs_factory(gcsserver, objfs_factory, tmp_path):
    from gcsserver import GcsStore, gcs_sections
    return _store_factory(objfs_factory, tmp_path, gcsserver, gcs_sections, GcsStore(gcsserver))


@pytest.fixture
def azureserver(tmp_path):
    """Azurite (Shared Key, SAS) on 127.0.0.1."""
    from azureserver import AzureServer
    s = AzureServer(tmp_path / "azure").start()
    yield s
    s.close()


@pytest.fixture
def azure_factory(azureserver, objfs_factory, tmp_path):
    from azureserver import AzureStore, azure_sections
    return _store_factory(objfs_factory, tmp_path, azureserver, azure_sections,
                          AzureStore(azureserver))
