"""objfs-ctl onboard (the wizard on a real pseudo-terminal, and the flags form)
and objfs-ctl migrate (local -> s3 on s3rver).

The wizard is driven through pty.fork(): the test waits for each prompt,
types the answer, checks that a wrong answer is asked again with its reason
and that a secret never shows in what the terminal displayed.  A written
configuration is then mounted by starting build/objfs -f --config FILE MNT
directly (objfs_factory writes its own configurations).

Migrations are checked with other readers: the local store's files
(localstore.LocalStore), botocore on the S3 side (s3server.S3Store), and an
objfs mount of the target.
"""

import contextlib
import hashlib
import os
import pty
import re
import select
import shutil
import signal
import stat
import subprocess
import tempfile
import time

import pytest

from conftest import (BUILD, OBJFS_BIN, SANITIZER_MARKERS, clean_env, is_mounted,
                      kill_midway, read_file, render_config, wait_until, write_file)
from localstore import LocalStore

CTL = os.path.join(BUILD, "objfs-ctl")
SUMMARY_RE = re.compile(r"^migrated (\d+) objects \((\d+) bytes\), skipped (\d+), failed (\d+)"
                        r" in [0-9.]+ s$", re.M)
DRY_RE = re.compile(r"^dry run: would migrate (\d+) objects \((\d+) bytes", re.M)


def ctl(*args, env=None, timeout=300):
    r = subprocess.run([CTL] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout, env=clean_env(env), stdin=subprocess.DEVNULL)
    no_sanitizer(r.stderr)
    return r


def no_sanitizer(text):
    for m in SANITIZER_MARKERS:
        assert m not in text, text


def short_dir(prefix):
    """A directory with a short path (a Unix socket path must fit in 108 bytes)."""
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(d, 0o755)
    return d


class Terminal:
    """objfs-ctl on a pseudo-terminal: what it displays, what we type."""

    def __init__(self, args, env=None):
        self.buf = b""
        self.pos = 0             # expect() searches after the previous match
        self.eof = False
        self.status = None
        argv = [CTL] + [str(a) for a in args]
        envp = clean_env(env)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:        # the child: stdin, stdout and stderr are the terminal
            try:
                os.execve(CTL, argv, envp)
            finally:
                os._exit(127)

    def _read(self, deadline):
        r, _, _ = select.select([self.fd], [], [], max(0.0, min(0.2, deadline - time.monotonic())))
        if not r:
            return
        try:
            d = os.read(self.fd, 65536)
        except OSError:          # EIO: the child is gone and the terminal closed
            d = b""
        if not d:
            self.eof = True
        self.buf += d

    def text(self):
        return self.buf.decode(errors="replace")

    def expect(self, pattern, timeout=30):
        """Waits for the regular expression after the previous match."""
        rx = re.compile(pattern.encode())
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout / 0.2) + 10):
            m = rx.search(self.buf, self.pos)
            if m:
                self.pos = m.end()
                return m
            if self.eof or time.monotonic() > deadline:
                break
            self._read(deadline)
        raise AssertionError("no %r in the terminal:\n%s" % (pattern, self.text()))

    def answer(self, question, text):
        """Waits for a prompt (its question, then ': ' at the end) and types the answer."""
        self.expect(re.escape(question) + r"[^\n]*: ")
        os.write(self.fd, text.encode() + b"\n")

    def wait(self, timeout=120, keep_open=False):
        """The exit status (negative: killed by that signal), within timeout."""
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout / 0.1) + 10):
            if not self.eof:
                self._read(min(deadline, time.monotonic() + 0.1))
            else:
                time.sleep(0.05)
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                while not self.eof:
                    self._read(time.monotonic() + 0.5)
                self.status = os.waitstatus_to_exitcode(st)
                no_sanitizer(self.text())
                if not keep_open:
                    os.close(self.fd)
                return self.status
            if time.monotonic() > deadline:
                break
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        raise AssertionError("objfs-ctl still running after %ds:\n%s" % (timeout, self.text()))


@contextlib.contextmanager
def mounted(config, mnt, log):
    """build/objfs -f --config CONFIG MNT, mounted within 15 s; unmounted with
    fusermount3 -u at the end (the daemon then flushes and exits)."""
    with open(log, "wb") as errf:
        p = subprocess.Popen([OBJFS_BIN, "-f", "--config", config, mnt], stdin=subprocess.DEVNULL,
                             stdout=errf, stderr=errf, env=clean_env())
    try:
        wait_until(lambda: p.poll() is not None or (is_mounted(mnt) and os.path.ismount(mnt)),
                   15, what="the mount of " + config)
        assert p.poll() is None, "objfs exited with %s:\n%s" % (p.returncode,
                                                             read_file(log).decode(errors="replace"))
        yield p
    finally:
        if is_mounted(mnt):
            subprocess.run(["fusermount3", "-u", mnt], timeout=60)
        try:
            p.wait(timeout=90)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
            subprocess.run(["fusermount3", "-uz", mnt], timeout=30)
    assert p.returncode == 0, "objfs exited with %s:\n%s" % (p.returncode,
                                                          read_file(log).decode(errors="replace"))
    no_sanitizer(read_file(log).decode(errors="replace"))


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# -- the wizard ----------------------------------------------------------------

def test_wizard_local_writes_a_config_that_mounts(tmp_path):
    base = short_dir("ob-wl-")
    try:
        root, mnt, conf = os.path.join(base, "objects"), os.path.join(base, "mnt"), \
            os.path.join(base, "etc", "objfs.conf")
        t = Terminal(["onboard", "--control-socket", os.path.join(base, "ctl.sock")])
        t.answer("Provider type", "floppy")
        t.expect(r"invalid: unknown provider \"floppy\"")
        t.answer("Provider type", "")                       # the default: local
        t.answer("Directory holding the objects", "objects")
        t.expect(r"invalid: \"objects\" is not an absolute path")
        t.answer("Directory holding the objects", root)
        t.answer("Tenants", "acme, Globex")
        t.expect(r"invalid: invalid tenant name \"Globex\"")
        t.answer("Tenants", "acme, globex")
        t.answer("Buckets: one per tenant", "")
        t.answer("Bucket name pattern", "{tenant}_x")
        t.expect(r"invalid: tenant acme would get bucket \"acme_x\"")
        t.answer("Bucket name pattern", "")                 # {tenant}-uploads
        t.answer("Mount point", mnt)
        t.answer("Cache directory", os.path.join(base, "cache"))
        t.answer("Configuration file", conf)
        t.expect(r"About to write:")
        t.answer("Write these files", "y")
        t.answer("Bucket acme-uploads of tenant acme does not exist. Create it now", "")
        t.answer("Bucket globex-uploads of tenant globex does not exist. Create it now", "yes")
        assert t.wait() == 0, t.text()
        out = t.text()
        assert "validated" in out and "next: objfs --config %s" % conf in out, out
        no_sanitizer(out)

        assert mode_of(conf) == 0o644
        text = open(conf).read()
        assert "root = %s\n" % root in text and "[tenant acme]" in text and \
            "[tenant globex]" in text and "mountpoint = %s\n" % mnt in text, text
        assert not [f for f in os.listdir(os.path.dirname(conf)) if f != "objfs.conf"]
        store = LocalStore(root)
        assert {"acme-uploads", "globex-uploads"} <= set(store.buckets())

        with mounted(conf, mnt, os.path.join(base, "objfs.log")):
            assert sorted(os.listdir(mnt)) == ["acme", "globex"]
            write_file(os.path.join(mnt, "acme", "hello.txt"), b"hello from the wizard\n")
            assert read_file(os.path.join(mnt, "acme", "hello.txt")) == b"hello from the wizard\n"
        # unmount flushed it to the store
        assert store.read("acme-uploads", "hello.txt") == b"hello from the wizard\n"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_wizard_s3_hides_the_secret(tmp_path, s3server):
    base = short_dir("ob-ws-")
    try:
        mnt, conf = os.path.join(base, "mnt"), os.path.join(base, "objfs.conf")
        cred = os.path.join(base, "s3.cred")
        t = Terminal(["onboard", "--control-socket", os.path.join(base, "ctl.sock")])
        t.answer("Provider type", "s3")
        t.answer("Endpoint URL", "127.0.0.1:%d" % s3server.port)
        t.expect(r"invalid: \"127\.0\.0\.1:\d+\" is not a URL: it must start with http://")
        t.answer("Endpoint URL", s3server.endpoint)
        t.answer("Region", "")
        # an endpoint given by IP address: path-style is offered as the default
        t.expect(r"Path-style URLs[^\n]*\[yes\]: ")
        os.write(t.fd, b"\n")
        t.answer("Access key ID", s3server.access_key)
        t.expect(r"Secret access key \(input hidden\): ")
        os.write(t.fd, s3server.secret_key.encode() + b"\n")
        t.answer("Tenants", "acme")
        t.answer("Buckets: one per tenant", "shared")
        t.answer("Shared bucket name", "Shared")
        t.expect(r"invalid: invalid bucket name \"Shared\"")
        t.answer("Shared bucket name", "shared-objfs")
        t.answer("Prefix of each tenant", "")               # tenants/{tenant}/
        t.answer("Mount point", mnt)
        t.answer("Cache directory", os.path.join(base, "cache"))
        t.answer("Configuration file", conf)
        t.answer("Write these files", "")
        t.answer("Bucket shared-objfs of tenant acme does not exist. Create it now", "y")
        assert t.wait() == 0, t.text()
        out = t.text()
        assert s3server.secret_key not in out, "the secret was displayed:\n" + out
        assert "tenant acme: provider s3 bucket shared-objfs prefix tenants/acme/: ok" in out, out

        assert mode_of(conf) == 0o644 and mode_of(cred) == 0o600
        assert open(cred).read().splitlines()[1:] == [
            "access_key_id = %s" % s3server.access_key,
            "secret_access_key = %s" % s3server.secret_key]
        text = open(conf).read()
        assert s3server.secret_key not in text
        assert "endpoint = %s\n" % s3server.endpoint in text and "path_style = true\n" in text \
            and "credentials = %s\n" % cred in text and "prefix = tenants/{tenant}/\n" in text

        from s3server import S3Store
        s3 = S3Store(s3server)
        assert "shared-objfs" in s3.buckets()
        with mounted(conf, mnt, os.path.join(base, "objfs.log")):
            write_file(os.path.join(mnt, "acme", "via-s3.txt"), b"s3 wizard\n")
        assert s3.read("shared-objfs", "tenants/acme/via-s3.txt") == b"s3 wizard\n"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_wizard_asks_before_replacing_and_restores_echo(tmp_path):
    import termios
    conf = str(tmp_path / "objfs.conf")
    write_file(conf, b"; mine\n")
    t = Terminal(["onboard", "--config", conf])
    t.answer("Provider type", "local")
    t.answer("Directory holding the objects", str(tmp_path / "objects"))
    t.answer("Tenants", "acme")
    t.answer("Buckets: one per tenant", "per-tenant")
    t.answer("Bucket name pattern", "")
    t.answer("Mount point", str(tmp_path / "mnt"))
    t.answer("Cache directory", str(tmp_path / "cache"))
    t.answer("Configuration file", "")                     # the --config given
    t.answer("Write these files", "yes")
    t.answer("configuration file %s exists. Replace it" % conf, "")   # default: no
    assert t.wait() == 1
    assert "not replaced (use --force" in t.text()
    assert read_file(conf) == b"; mine\n"

    # Ctrl-C at the hidden prompt: the terminal gets its echo back
    t = Terminal(["onboard", "--config", conf])
    t.answer("Provider type", "azure")
    t.answer("Storage account name", "Not-Valid")
    t.expect(r"invalid: storage account \"Not-Valid\": 3-24 lower-case letters and digits")
    t.answer("Storage account name", "objfsacct")
    t.answer("Endpoint URL", "")
    t.answer("Authenticate with the account key or a SAS token", "sas")
    t.expect(r"SAS token \(input hidden\): ")
    assert not termios.tcgetattr(t.fd)[3] & termios.ECHO
    os.write(t.fd, b"half-typed")
    os.write(t.fd, b"\x03")
    try:
        assert t.wait(keep_open=True) == -signal.SIGINT
        assert termios.tcgetattr(t.fd)[3] & termios.ECHO, "echo left off"
    finally:
        os.close(t.fd)
    assert "half-typed" not in t.text()
    assert read_file(conf) == b"; mine\n"


def test_wizard_input_ends_writes_nothing(tmp_path):
    conf = str(tmp_path / "objfs.conf")
    r = subprocess.run([CTL, "onboard", "--config", conf], input="local\n", text=True,
                       capture_output=True, timeout=60, env=clean_env())
    no_sanitizer(r.stderr)
    assert r.returncode == 1
    assert "input ended; nothing written" in r.stderr
    assert not os.path.exists(conf)


# -- the flags -----------------------------------------------------------------

def local_flags(base, *extra):
    return ["onboard", "--provider", "local", "--root", os.path.join(base, "objects"),
            "--tenant", "acme", "--tenant", "globex", "--mountpoint", os.path.join(base, "mnt"),
            "--cache-dir", os.path.join(base, "cache"),
            "--control-socket", os.path.join(base, "ctl.sock"),
            "--config", os.path.join(base, "objfs.conf")] + list(extra)


def test_flags_local(tmp_path):
    base = str(tmp_path)
    conf = os.path.join(base, "objfs.conf")
    r = ctl(*local_flags(base, "--yes"))
    assert r.returncode == 0, r.stderr + r.stdout
    assert "wrote %s (mode 0644)" % conf in r.stdout
    assert "tenant acme: created bucket acme-uploads" in r.stdout
    assert mode_of(conf) == 0o644
    first = open(conf).read()
    assert not [f for f in os.listdir(base) if ".tmp." in f]

    # an existing configuration is not replaced without --force
    r = ctl(*local_flags(base, "--yes", "--bucket-pattern", "x-{tenant}"))
    assert r.returncode == 1
    assert "exists: not replaced (use --force" in r.stderr
    assert open(conf).read() == first
    r = ctl(*local_flags(base, "--yes", "--force", "--bucket-pattern", "x-{tenant}"))
    assert r.returncode == 0, r.stderr
    assert "bucket_pattern = x-{tenant}\n" in open(conf).read()

    # bad input: one clear line, exit 2, nothing written
    other = os.path.join(base, "other.conf")
    cases = [
        (["--tenant", "Acme_Corp"], r"--tenant: invalid tenant name \"Acme_Corp\""),
        (["--tenant", "a..b"], r"invalid tenant name \"a\.\.b\""),
        (["--tenant", "acme", "--mountpoint", "mnt"], r"--mountpoint: \"mnt\" is not an absolute"),
        (["--tenant", "acme", "--bucket-pattern", "static"], r"must contain \{tenant\}"),
        (["--tenant", "_staging"], r"tenant _staging is a shared area and needs an explicit"),
    ]
    for extra, msg in cases:
        r = ctl("onboard", "--provider", "local", "--config", other, *extra)
        assert r.returncode == 2, (extra, r.stderr)
        assert re.search(msg, r.stderr), (extra, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not os.path.exists(other)


def s3_flags(base, server, *extra):
    return ["onboard", "--provider", "s3", "--endpoint", server.endpoint, "--path-style",
            "--access-key-id", server.access_key, "--tenant", "acme",
            "--mountpoint", os.path.join(base, "mnt"), "--cache-dir", os.path.join(base, "cache"),
            "--control-socket", os.path.join(base, "ctl.sock"),
            "--config", os.path.join(base, "objfs.conf")] + list(extra)


def test_flags_s3(tmp_path, s3server):
    from s3server import S3Store
    s3 = S3Store(s3server)
    base = str(tmp_path)
    conf, cred = os.path.join(base, "objfs.conf"), os.path.join(base, "s3.cred")
    secret = os.path.join(base, "secret")
    write_file(secret, s3server.secret_key.encode() + b"\n")

    # bad endpoints are refused before anything is written
    for ep, msg in [("ftp://127.0.0.1", "must start with http:// or https://"),
                    ("http://", "has no host name"),
                    ("http://127.0.0.1:99999", "invalid port"),
                    ("http://host name", "not allowed")]:
        r = ctl("onboard", "--provider", "s3", "--endpoint", ep, "--tenant", "acme",
                "--config", conf)
        assert r.returncode == 2 and msg in r.stderr and "--endpoint" in r.stderr, (ep, r.stderr)
        assert not os.path.exists(conf) and not os.path.exists(cred)

    # a wrong secret: files written, validation fails, exit 1, and the files stay for editing
    r = ctl(*s3_flags(base, s3server, "--yes"), env={"OBJFS_SECRET_ACCESS_KEY": "wrong-secret"})
    assert r.returncode == 1, r.stdout + r.stderr
    assert "credentials refused" in r.stdout, r.stdout
    assert "validation failed; the files are kept for editing: %s and %s" % (conf, cred) \
        in r.stderr
    assert "wrong-secret" not in r.stdout + r.stderr
    assert mode_of(cred) == 0o600 and "secret_access_key = wrong-secret\n" in open(cred).read()
    assert "acme-uploads" not in s3.buckets()

    # right secret, no --yes: the missing bucket is reported, not created
    r = ctl(*s3_flags(base, s3server, "--force", "--secret-access-key-file", secret))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "bucket acme-uploads: missing, not created" in r.stdout
    assert "acme-uploads" not in s3.buckets()
    # --yes creates it
    r = ctl(*s3_flags(base, s3server, "--force", "--yes", "--secret-access-key-file", secret))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "tenant acme: created bucket acme-uploads" in r.stdout
    assert "tenant acme: provider s3 bucket acme-uploads: ok" in r.stdout
    assert "acme-uploads" in s3.buckets()
    assert mode_of(cred) == 0o600 and mode_of(conf) == 0o644
    assert s3server.secret_key not in r.stdout + r.stderr + open(conf).read()

    # an existing credentials file is not replaced without --force either
    os.unlink(conf)
    r = ctl(*s3_flags(base, s3server, "--yes", "--secret-access-key-file", secret))
    assert r.returncode == 1 and "credentials file %s exists" % cred in r.stderr
    assert not os.path.exists(conf)


def test_flags_gcs_without_validation(tmp_path):
    """gcs: the key file's path goes into the configuration; validation needs a
    gcs provider in this build and a reachable Google: without --no-validate
    the command fails, with it the files are accepted."""
    base = str(tmp_path)
    conf = os.path.join(base, "objfs.conf")
    sa = os.path.join(base, "sa.json")
    write_file(sa, b'{"type": "service_account", "client_email": "x@y.iam.gserviceaccount.com",'
               b' "private_key": "-----BEGIN PRIVATE KEY-----\\n-----END PRIVATE KEY-----\\n"}')
    os.chmod(sa, 0o644)
    args = ["onboard", "--provider", "gcs", "--service-account-file", sa, "--tenant", "acme",
            "--mountpoint", os.path.join(base, "mnt"), "--cache-dir", os.path.join(base, "cache"),
            "--config", conf]
    r = ctl(*args)
    assert r.returncode == 2 and "readable by group or others (chmod 600" in r.stderr
    os.chmod(sa, 0o600)
    r = ctl(*args, "--endpoint", "http://127.0.0.1:1")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "credentials = %s\n" % sa in open(conf).read()
    assert not os.path.exists(os.path.join(base, "gcs.cred"))
    r = ctl(*args, "--force", "--no-validate")
    assert r.returncode == 0, r.stderr
    assert "not validated (--no-validate)" in r.stdout


# -- migrate ---------------------------------------------------------------------

TREE = {
    "a/b/c/deep.txt": (b"deep\n" * 1000, 0o640),
    "ünïcödé dir/file with spaces.txt": ("ünïcödé ✓\n".encode() * 50, 0o600),
    "top.json": (b'{"k": 1}\n', 0o644),
    "empty": (b"", 0o444),
    "big.bin": (None, 0o644),     # 70 MiB: multipart on the target
}


def make_source(objfs_factory):
    """A local tenant written through a mount, so the objects carry objfs's
    metadata (mode, uid, gid, mtime); returns (fs, {rel: (sha256, mode, mtime)})."""
    o = objfs_factory({"objfs": {"staging_max_bytes": "256M"}})
    o.start()
    want = {}
    for i, (rel, (data, mode)) in enumerate(sorted(TREE.items())):
        if data is None:
            data = os.urandom(70 * 1024 * 1024 + 3)
        p = o.p("acme", rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        write_file(p, data)
        os.chmod(p, mode)
        mtime = 1_600_000_000 + i * 1000
        os.utime(p, (mtime, mtime))
        want[rel] = (hashlib.sha256(data).hexdigest(), len(data), mode, mtime)
    os.mkdir(o.p("acme", "empty dir"))         # a directory marker object
    o.stop()
    return o, want


def migrate_config(o, server, name="migrate.conf"):
    cfg = dict(o.config)
    cred = server.credentials_file(os.path.join(o.base, "s3.cred"))
    cfg["provider s3"] = {"type": "s3", "endpoint": server.endpoint, "region": "us-east-1",
                          "path_style": "true", "credentials": cred}
    path = os.path.join(o.base, name)
    write_file(path, render_config(cfg).encode())
    return path


def summary(r):
    m = SUMMARY_RE.search(r.stdout)
    assert m, "no summary line:\n%s\n%s" % (r.stdout, r.stderr)
    return tuple(int(x) for x in m.groups())


def test_migrate_refuses_bad_requests(objfs_factory, s3server):
    o = objfs_factory()
    o.write_config()
    conf = migrate_config(o, s3server)
    for args, msg in [
        (["--tenant", "nosuch", "--to", "s3"], "no tenant nosuch"),
        (["--tenant", "acme", "--to", "nosuch"], "no [provider nosuch]"),
        (["--tenant", "acme", "--to", "local"], "is the source"),
        (["--tenant", "globex", "--to", "local", "--prefix", "tenants/"], "overlaps the source"),
        (["--tenant", "acme"], "--tenant and --to are required"),
        (["--tenant", "acme", "--to", "s3", "--bucket", "Bad_Bucket"], "not a valid bucket"),
        (["--tenant", "acme", "--to", "s3", "--parallel", "0"], "--parallel 0"),
    ]:
        r = ctl("--config", conf, "migrate", *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert msg in r.stderr, (args, r.stderr)


@pytest.mark.watchdog(300)
def test_migrate_local_to_s3(objfs_factory, s3_factory, s3server):
    from s3server import S3Store
    s3 = S3Store(s3server)
    src, want = make_source(objfs_factory)
    keys = src.store.keys("acme-uploads")
    # the files, and the directory markers objfs wrote for each mkdir
    assert set(TREE) | {"empty dir/", "a/b/c/", "ünïcödé dir/"} <= set(keys), keys
    total = sum(src.store.head("acme-uploads", k).size for k in keys)
    conf = migrate_config(src, s3server)

    # the dry run lists what it would copy and copies nothing
    r = ctl("--config", conf, "migrate", "--tenant", "acme", "--to", "s3", "--dry-run")
    assert r.returncode == 0, r.stderr
    m = DRY_RE.search(r.stdout)
    assert m and (int(m.group(1)), int(m.group(2))) == (len(keys), total), r.stdout
    listed = re.findall(r"^would copy (.*) \((\d+) bytes\)$", r.stdout, re.M)
    assert sorted(k for k, _ in listed) == keys
    assert "acme-uploads" not in s3.buckets()
    assert not os.path.exists(os.path.join(src.cache_dir, "migrate-acme-s3.state"))

    r = ctl("--config", conf, "migrate", "--tenant", "acme", "--to", "s3", "--parallel", "3",
            env={"OBJFS_LOG_LEVEL": "debug"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert summary(r) == (len(keys), total, 0, 0)
    # one multipart upload (70 MiB in 9 parts of 8 MiB), a put for every other object
    ops = re.findall(r"\bprov s3 (\w+) bucket=acme-uploads key=(.*) rc=0$", r.stderr, re.M)
    assert [k for op, k in ops if op == "mpu_upload_part"] == ["big.bin"] * 9, r.stderr[-3000:]
    assert [k for op, k in ops if op == "mpu_complete"] == ["big.bin"]
    assert sorted(k for op, k in ops if op == "put") == sorted(set(keys) - {"big.bin"})
    # gets of at most 8 MiB from the source
    gets = [k for k in re.findall(r"\bprov local get bucket=acme-uploads key=(.*) rc=0$",
                                   r.stderr, re.M) if k == "big.bin"]
    assert len(gets) == 9, len(gets)
    no_sanitizer(r.stderr)
    assert s3.keys("acme-uploads") == keys
    for k in keys:
        a, b = src.store.head("acme-uploads", k), s3.head("acme-uploads", k)
        assert b.size == a.size and b.sha256() == a.sha256(), k
        assert b.content_type == a.content_type, k
        # metadata verbatim: the x-amz-meta-* headers hold what the local store held
        assert b.user_meta == a.user_meta and "mode" in b.user_meta, (k, a.user_meta, b.user_meta)
    assert not os.path.exists(os.path.join(src.cache_dir, "migrate-acme-s3.state"))

    # a second run finds everything in place
    r = ctl("--config", conf, "migrate", "--tenant", "acme", "--to", "s3")
    assert r.returncode == 0, r.stderr
    assert summary(r) == (0, 0, len(keys), 0)

    # the target, mounted by objfs, shows the same files with their modes and times
    o = s3_factory().start()
    for rel, (digest, size, mode, mtime) in want.items():
        st = os.stat(o.p("acme", rel))
        assert (st.st_size, stat.S_IMODE(st.st_mode), int(st.st_mtime)) == (size, mode, mtime), rel
        assert hashlib.sha256(read_file(o.p("acme", rel))).hexdigest() == digest, rel
    assert os.path.isdir(o.p("acme", "empty dir"))
    o.stop()


@pytest.mark.watchdog(300)
def test_migrate_killed_then_resumed(objfs_factory, s3server):
    from s3server import S3Store
    s3 = S3Store(s3server)
    o = objfs_factory()
    o.write_config()
    n = 400
    for i in range(n):
        o.store.put("acme-uploads", "d%02d/obj %04d.dat" % (i % 17, i), os.urandom(16384 + i),
                    user_meta={"mode": "33188", "mtime": str(1_650_000_000 + i)})
    conf = migrate_config(o, s3server)
    state = os.path.join(o.cache_dir, "migrate-acme-s3.state")
    args = [CTL, "--config", conf, "migrate", "--tenant", "acme", "--to", "s3", "--parallel", "1"]

    kill_midway(args, lambda: "acme-uploads" in s3.buckets() and
                len(s3.keys("acme-uploads")) >= 40, 120, "40 objects copied")
    landed = len(s3.keys("acme-uploads"))
    assert 40 <= landed < n
    assert os.path.exists(state)
    recorded = sum(1 for line in open(state) if line.startswith("done "))
    assert recorded >= 30, open(state).read()[:2000]

    r = subprocess.run(args, capture_output=True, text=True, timeout=300, env=clean_env())
    no_sanitizer(r.stderr)
    assert r.returncode == 0, r.stdout + r.stderr
    copied, _, skipped, failed = summary(r)
    # done objects are not copied again: the state file (or, for the one in
    # flight when killed, the head check) skips them
    assert failed == 0 and copied + skipped == n
    assert n - landed <= copied <= n - landed + 1, (landed, r.stdout)
    m = re.search(r"(\d+) of the skipped objects were done according to the state file", r.stderr)
    assert m and int(m.group(1)) >= recorded - 1, r.stderr
    assert "resuming from %s" % state in r.stderr
    assert not os.path.exists(state)
    assert s3.keys("acme-uploads") == o.store.keys("acme-uploads")
    for k in o.store.keys("acme-uploads")[::37]:
        a, b = o.store.head("acme-uploads", k), s3.head("acme-uploads", k)
        assert a.sha256() == b.sha256() and a.user_meta == b.user_meta, k

    r = subprocess.run(args, capture_output=True, text=True, timeout=300, env=clean_env())
    no_sanitizer(r.stderr)
    assert r.returncode == 0 and summary(r) == (0, 0, n, 0), r.stdout + r.stderr
