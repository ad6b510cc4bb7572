#!/usr/bin/python3
"""objfs S3 benchmark: objfs vs s3fs-fuse vs rclone mount vs aws s3 cp, one s3rver.

Run on demand (`make bench-s3`, or bench/run-s3.sh); never in CI. Needs root
(drop_caches, mounts), /dev/fuse, fusermount3, node with tests/servers
installed (`make deps`), s3fs, rclone and /usr/bin/aws
(tools/install-bench-deps.sh), and Debian's python3-botocore.

ONE run against ONE signature-checking s3rver on 127.0.0.1; every client
writes to its own bucket of that server, and the phases are interleaved (each
phase runs for every client before the next phase starts), so the machine's
noise hits all of them alike. Ratios are taken within the run.

  1. a SIZE MiB file (default 512) of random data, written with dd bs=1M
     (aws: `aws s3 cp FILE s3://...`): time until dd returns (close), and
     until the object is complete in the bucket (head_object polled for the
     full size and, single-part, the MD5 ETag);
  2. a cold sequential read of it with dd bs=1M (aws: `aws s3 cp s3://... -`):
     every mount remounted with a fresh cache (objfs: empty cache_dir; s3fs:
     no use_cache; rclone: a fresh --cache-dir), drop_caches;
  3. FILES files of 4 KiB from a tarball: until tar returns, until every
     object is listed in the bucket with its size, and until every object
     also carries tar's mtime in its metadata (head_object, informational);
  4. `ls -l` of that directory cold (fresh cache), warm (again at once) and
     after a remount that keeps the cache (objfs keeps its SQLite cache);
  5. the peak RSS of each daemon (VmHWM, the highest over its restarts; aws:
     the highest ru_maxrss of its processes);
  6. service-level figures: a 10 MiB upload (write, close, landed), a 10 MiB
     cold download, and a presigned URL (`objfs-ctl --config CONF presign`,
     `aws s3 presign`), wall time of the command.

Every wait is bounded; mounts and processes are cleaned up on any exit.
"""

import argparse
import atexit
import concurrent.futures
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

import botocore.session
from botocore.config import Config

MIB = 1 << 20
SMALL_MIB = 10                   # the 10 MiB service-level file
MOUNT_TIMEOUT = 30               # s, for a mount to appear
UNMOUNT_TIMEOUT = 120            # s, for a daemon to exit after fusermount3 -u
CMD_TIMEOUT = 900                # s, for any one timed command
LAND_TIMEOUT = 600               # s, for objects to land in the bucket
FINAL_TIMEOUT = 180              # s, after listing, for the final metadata
FINAL_STALL = 20                 # s without one more object getting it: never will
NEVER = "never"                  # a figure that was not reached
SERVER_TIMEOUT = 30              # s, for s3rver to listen
ACCESS_KEY = "OBJFSBENCHKEY"
SECRET_KEY = "objfs/Bench+Secret=Key"   # '/', '+' and '=' exercise the signers
REGION = "us-east-1"
CLIENTS = ("objfs", "s3fs", "rclone", "aws")
TITLES = {"objfs": "objfs", "s3fs": "s3fs-fuse", "rclone": "rclone mount", "aws": "aws cli"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


PROBLEMS = []     # anomalies seen during the run, printed with the table


def problem(msg):
    PROBLEMS.append(msg)
    log("bench-s3: PROBLEM: " + msg)


class BenchError(Exception):
    """One client's step failed: recorded, that client sits out the rest."""


def die(msg):
    log("bench-s3: " + msg)
    sys.exit(1)


def tail(path, n=20):
    try:
        with open(path, "rb") as f:
            return b"".join(f.readlines()[-n:]).decode(errors="replace")
    except OSError:
        return ""


# ---------------------------------------------------------------- processes

def run(argv, stdout=subprocess.DEVNULL, env=None, timeout=CMD_TIMEOUT, check=True):
    """Runs one command: (wall seconds, exit status, peak RSS in KiB, stderr).

    STDOUT is a file or DEVNULL, never a pipe (nothing reads it meanwhile).

    The child is reaped with wait4 so that its own ru_maxrss is known; a
    timer ends it after TIMEOUT seconds."""
    with tempfile.TemporaryFile() as errf:
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdout=stdout, stderr=errf, stdin=subprocess.DEVNULL, env=env)
        fired = []

        def kill():
            fired.append(1)
            try:
                p.kill()
            except OSError:
                pass
        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            timer.cancel()
        dt = time.monotonic() - t0
        p.returncode = rc = os.waitstatus_to_exitcode(status)
        errf.seek(0)
        err = errf.read().decode(errors="replace").strip()
    if fired:
        raise BenchError("%s: timed out after %d s" % (" ".join(argv), timeout))
    if check and rc != 0:
        raise BenchError("%s: exit %d: %s" % (" ".join(argv), rc, err[-2000:]))
    return dt, rc, ru.ru_maxrss, err


def timed(argv, **kw):
    return run(argv, **kw)[0]


DROP_CACHES_OK = [None]


def drop_caches():
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        DROP_CACHES_OK[0] = True
    except OSError as e:
        if DROP_CACHES_OK[0] is None:
            problem("cannot drop the page cache (%s): cold reads may be warm on the server side" % e)
        DROP_CACHES_OK[0] = False


def warm(*paths):
    for p in paths:
        with open(p, "rb") as f:
            while f.read(8 * MIB):
                pass


def settle(*inputs):
    """Before a timed write: flush dirty data, empty the caches, re-warm inputs."""
    drop_caches()
    warm(*inputs)


def mounted(path):
    """From /proc/self/mountinfo: never touches a (possibly hung) mount."""
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


def vm_hwm_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def unmount(mnt, lazy_fallback=True):
    """fusermount3 -u; fusermount -u (rclone mounts with libfuse 2's); -z last."""
    for argv in (["fusermount3", "-u", mnt], ["fusermount", "-u", mnt]):
        if shutil.which(argv[0]) is None:
            continue
        r = subprocess.run(argv, capture_output=True, timeout=60)
        if r.returncode == 0 or not mounted(mnt):
            return True
    if lazy_fallback:
        subprocess.run(["fusermount3", "-u", "-z", mnt], capture_output=True, timeout=60)
    return False


def die_with_parent():
    """In a child before exec: SIGTERM when this script dies, even by kill -9."""
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)    # PR_SET_PDEATHSIG


# ---------------------------------------------------------------- s3rver

class Server:
    """s3rver (tests/servers/s3rver.js) on 127.0.0.1, checking SigV4."""

    def __init__(self, repo, work):
        self.script = os.path.join(repo, "tests", "servers", "s3rver.js")
        self.dir = os.path.join(work, "s3rver-data")
        self.log = os.path.join(work, "logs", "s3rver.log")
        self.out = os.path.join(work, "logs", "s3rver.out")
        self.proc = None
        self.port = None

    def start(self):
        if not os.path.isdir(os.path.join(os.path.dirname(self.script), "node_modules",
                                          "@20minutes", "s3rver")):
            die("s3rver is not installed: run `make deps` (tools/install-deps.sh)")
        with open(self.out, "wb") as out, open(self.log, "ab") as err:
            self.proc = subprocess.Popen(
                ["node", "--openssl-legacy-provider", self.script, self.dir, "0",
                 ACCESS_KEY, SECRET_KEY],
                stdout=out, stderr=err, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        deadline = time.monotonic() + SERVER_TIMEOUT
        for _ in range(int(SERVER_TIMEOUT / 0.05) + 2):
            with open(self.out, "rb") as f:
                for line in f:
                    if line.startswith(b"listening "):
                        self.port = int(line.split()[1])
                        return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.stop()
        die("s3rver did not start:\n%s" % tail(self.log))

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
        self.proc = None

    def client(self, pool=10):
        return botocore.session.Session().create_client(
            "s3", endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                          retries={"max_attempts": 3}, connect_timeout=5, read_timeout=60,
                          max_pool_connections=pool))


# ---------------------------------------------------------------- mounts

class Mount:
    """A FUSE daemon this script runs in the foreground, as its own child."""

    active = []

    def __init__(self, name, argv, mnt, logpath, env=None):
        self.name, self.argv, self.mnt, self.logpath, self.env = name, argv, mnt, logpath, env
        self.proc = None
        self.hwm_kib = []        # VmHWM of each daemon instance, at its stop

    def start(self):
        if mounted(self.mnt):
            raise BenchError("%s is already a mount point" % self.mnt)
        with open(self.logpath, "ab") as logf:
            logf.write(("==== %s start %s\n" % (time.strftime("%H:%M:%S"),
                                                " ".join(self.argv))).encode())
            logf.flush()
            self.proc = subprocess.Popen(self.argv, stdout=logf, stderr=logf,
                                         stdin=subprocess.DEVNULL, env=self.env)
        Mount.active.append(self)
        deadline = time.monotonic() + MOUNT_TIMEOUT
        for _ in range(int(MOUNT_TIMEOUT / 0.02) + 2):
            if mounted(self.mnt) and os.path.ismount(self.mnt):
                return
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                Mount.active.remove(self)
                raise BenchError("%s exited with status %d before mounting; log %s:\n%s"
                                 % (self.name, rc, self.logpath, tail(self.logpath)))
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        self.kill()
        raise BenchError("%s did not mount %s within %d s" % (self.name, self.mnt, MOUNT_TIMEOUT))

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def stop(self):
        """Unmount and wait for the daemon's exit; returns the seconds it took."""
        if self.proc is None:
            return 0.0
        if self.proc.poll() is not None:
            rc = self.proc.returncode
            self.kill()
            raise BenchError("%s died while mounted (status %d); log tail:\n%s"
                             % (self.name, rc, tail(self.logpath, 10)))
        hwm = vm_hwm_kib(self.proc.pid)
        if hwm:
            self.hwm_kib.append(hwm)
        t0 = time.monotonic()
        if not unmount(self.mnt, lazy_fallback=False):
            self.kill()
            raise BenchError("%s: cannot unmount %s (busy?)" % (self.name, self.mnt))
        try:
            self.proc.wait(timeout=UNMOUNT_TIMEOUT)
        except subprocess.TimeoutExpired:
            problem("%s did not exit within %d s of unmount; killed. Log tail:\n%s"
                    % (self.name, UNMOUNT_TIMEOUT, tail(self.logpath, 6)))
            self.proc.kill()
            self.proc.wait(timeout=30)
        dt = time.monotonic() - t0
        if self.proc.returncode not in (0, -signal.SIGKILL):
            problem("%s exited with status %d after unmount. Log tail:\n%s"
                    % (self.name, self.proc.returncode, tail(self.logpath, 6)))
        elif dt > 5:
            problem("%s took %.1f s to exit after unmount, with every write landed"
                    % (self.name, dt))
        self.proc = None
        if self in Mount.active:
            Mount.active.remove(self)
        return dt

    def kill(self):
        """Last-resort cleanup: unmount (lazily if need be), end our own process."""
        if mounted(self.mnt):
            unmount(self.mnt)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
            self.proc = None
        if mounted(self.mnt):
            subprocess.run(["fusermount3", "-u", "-z", self.mnt], capture_output=True, timeout=60)
        if self in Mount.active:
            Mount.active.remove(self)


# ---------------------------------------------------------------- clients

class Client:
    """One system under test: where its files go and how to make it cold."""

    mount = None

    def __init__(self, name, bucket):
        self.name, self.bucket = name, bucket
        self.failed = None

    def path(self, rel):          # path of key REL through the mount
        raise NotImplementedError

    def key(self, rel):
        return rel

    def start(self):
        self.mount.start()

    def stop(self):
        if self.mount is not None:
            self.mount.stop()

    def remount(self, fresh):
        """Restart the daemon; FRESH: with an empty cache."""
        self.mount.stop()
        if fresh:
            self.empty_cache()
        drop_caches()
        self.mount.start()

    def empty_cache(self):
        pass

    def peak_rss_kib(self):
        return max(self.mount.hwm_kib) if self.mount and self.mount.hwm_kib else None


class ObjfsClient(Client):
    def __init__(self, args, work, server):
        super().__init__("objfs", "acme-uploads")
        self.cache = os.path.join(work, "objfs-cache")
        self.mnt = os.path.join(work, "mnt-objfs")
        self.conf = os.path.join(work, "objfs.conf")
        cred = os.path.join(work, "objfs-s3.cred")
        with open(cred, "w") as f:
            f.write("access_key_id = %s\nsecret_access_key = %s\n" % (ACCESS_KEY, SECRET_KEY))
        os.chmod(cred, 0o600)
        with open(self.conf, "w") as f:
            f.write("[objfs]\n"
                    "cache_dir = %s\n"
                    "control_socket = %s\n"
                    "default_provider = main\n"
                    "log_level = %s\n"
                    "chunk_size = 8M\n"
                    "upload_workers = 4\n"
                    "upload_parallel_parts = 4\n"
                    "read_cache = auto\n"
                    "drain_timeout = 60\n"
                    "[provider main]\n"
                    "type = s3\n"
                    "endpoint = %s\n"
                    "region = %s\n"
                    "path_style = true\n"
                    "credentials = %s\n"
                    "[tenant acme]\n"
                    % (self.cache, os.path.join(work, "objfs-ctl.sock"), args.objfs_log_level,
                       server.endpoint, REGION, cred))
        env = {k: v for k, v in os.environ.items() if not k.startswith("OBJFS_")}
        self.ctl = args.objfs_ctl
        self.mount = Mount("objfs", [args.objfs, "-f", "--config", self.conf, self.mnt],
                           self.mnt, os.path.join(work, "logs", "objfs.log"), env=env)

    def path(self, rel):
        return os.path.join(self.mnt, "acme", rel)

    def empty_cache(self):
        shutil.rmtree(self.cache, ignore_errors=True)

    def presign(self, rel):
        return timed([self.ctl, "--config", self.conf, "presign", "acme/" + rel])

    def presign_url(self, rel):
        r = subprocess.run([self.ctl, "--config", self.conf, "presign", "acme/" + rel],
                           capture_output=True, timeout=60)
        if r.returncode != 0:
            raise BenchError("objfs-ctl presign: exit %d: %s"
                             % (r.returncode, r.stderr.decode(errors="replace").strip()))
        return r.stdout.decode().strip()


class S3fsClient(Client):
    def __init__(self, args, work, server):
        super().__init__("s3fs", "bench-s3fs")
        self.mnt = os.path.join(work, "mnt-s3fs")
        tmp = os.path.join(work, "s3fs-tmp")
        os.makedirs(tmp, exist_ok=True)
        # s3rver takes the canonical URI of a bucket-level request without
        # the trailing slash that s3fs sends (GET /bucket/?prefix=...), so it
        # refuses every signed s3fs listing and the mount-time bucket check
        # (403 SignatureDoesNotMatch, with sigv4 and with sigv2). s3fs
        # therefore sends unsigned requests (public_bucket=1), which s3rver
        # serves anonymously; that spares s3fs the SHA-256 of every payload,
        # an advantage to s3fs. The password file is still written, for runs
        # against a server that signs s3fs's requests right (OBJFS_BENCH_S3FS_SIGN=1).
        passwd = os.path.join(work, "s3fs.passwd")
        with open(passwd, "w") as f:
            f.write("%s:%s\n" % (ACCESS_KEY, SECRET_KEY))
        os.chmod(passwd, 0o600)
        auth = (["passwd_file=" + passwd, "sigv4"] if os.environ.get("OBJFS_BENCH_S3FS_SIGN") == "1"
                else ["public_bucket=1"])
        # Defaults otherwise (10 MB parts, 5 in parallel, no use_cache: every
        # mount is cold, open files are staged in tmpdir).
        opts = ",".join(["url=" + server.endpoint, "use_path_request_style"] + auth +
                        ["endpoint=" + REGION, "tmpdir=" + tmp, "dbglevel=warn"])
        self.mount = Mount("s3fs", ["s3fs", self.bucket, self.mnt, "-f", "-o", opts],
                           self.mnt, os.path.join(work, "logs", "s3fs.log"))

    def path(self, rel):
        return os.path.join(self.mnt, rel)


class RcloneClient(Client):
    def __init__(self, args, work, server):
        super().__init__("rclone", "bench-rclone")
        self.mnt = os.path.join(work, "mnt-rclone")
        self.cache = os.path.join(work, "rclone-cache")
        self.conf = os.path.join(work, "rclone.conf")
        with open(self.conf, "w") as f:
            f.write("[bench]\n"
                    "type = s3\n"
                    "provider = Other\n"
                    "env_auth = false\n"
                    "access_key_id = %s\n"
                    "secret_access_key = %s\n"
                    "endpoint = %s\n"
                    "region = %s\n"
                    "force_path_style = true\n" % (ACCESS_KEY, SECRET_KEY, server.endpoint, REGION))
        os.chmod(self.conf, 0o600)
        # --vfs-cache-mode writes with rclone's other defaults (write-back 5 s,
        # 5 MiB chunks, 4 concurrent parts).
        # The environment's AWS_* settings are not rclone's business here
        # (env_auth = false); an AWS_CA_BUNDLE even stops its S3 backend
        # ("unsupported transport").
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.mount = Mount("rclone", ["rclone", "mount", "bench:" + self.bucket, self.mnt,
                                      "--config", self.conf, "--cache-dir", self.cache,
                                      "--vfs-cache-mode", "writes", "--log-level", "INFO"],
                           self.mnt, os.path.join(work, "logs", "rclone.log"), env=env)

    def path(self, rel):
        return os.path.join(self.mnt, rel)

    def empty_cache(self):
        shutil.rmtree(self.cache, ignore_errors=True)


class AwsClient(Client):
    def __init__(self, args, work, server):
        super().__init__("aws", "bench-awscli")
        self.server = server
        self.env = dict(os.environ)
        self.env.update({"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                         "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true",
                         "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                         "AWS_PAGER": ""})
        self.rss_kib = []

    def aws(self, *args, stdout=subprocess.DEVNULL):
        dt, _, rss, _ = run(["/usr/bin/aws", "--endpoint-url", self.server.endpoint] + list(args),
                            stdout=stdout, env=self.env)
        self.rss_kib.append(rss)
        return dt

    def url(self, rel):
        return "s3://%s/%s" % (self.bucket, rel)

    def start(self):
        pass

    def remount(self, fresh):
        drop_caches()

    def peak_rss_kib(self):
        return max(self.rss_kib) if self.rss_kib else None

    def presign(self, rel):
        return self.aws("s3", "presign", self.url(rel))

    def presign_url(self, rel):
        r = subprocess.run(["/usr/bin/aws", "--endpoint-url", self.server.endpoint, "s3",
                            "presign", self.url(rel)], capture_output=True, timeout=120, env=self.env)
        if r.returncode != 0:
            raise BenchError("aws s3 presign: %s" % r.stderr.decode(errors="replace").strip())
        return r.stdout.decode().strip()


# ---------------------------------------------------------------- bucket checks

def head(s3, bucket, key):
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def wait_object(s3, bucket, key, size, md5, t0):
    """Polls head_object until KEY has SIZE bytes and (single-part) the MD5
    ETag; returns the seconds since T0."""
    deadline = time.monotonic() + LAND_TIMEOUT
    h = None
    for _ in range(int(LAND_TIMEOUT / 0.02) + 2):
        h = head(s3, bucket, key)
        if h is not None and h["ContentLength"] == size:
            etag = h["ETag"].strip('"')
            if etag == md5 or "-" in etag:
                return time.monotonic() - t0
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    raise BenchError("s3://%s/%s not complete after %d s (last head: %s)"
                     % (bucket, key, LAND_TIMEOUT,
                        None if h is None else (h["ContentLength"], h["ETag"])))


def list_sizes(s3, bucket, prefix):
    out, token = {}, None
    for _ in range(100000):
        kw = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": 1000}
        if token:
            kw["ContinuationToken"] = token
        r = s3.list_objects_v2(**kw)
        for o in r.get("Contents", []):
            out[o["Key"]] = o["Size"]
        if not r.get("IsTruncated"):
            break
        token = r["NextContinuationToken"]
    return out


def wait_listed(s3, bucket, keys, size, t0):
    """Polls the listing until every key is there with SIZE bytes."""
    prefix = os.path.commonprefix(keys)
    prefix = prefix[:prefix.rfind("/") + 1]
    deadline = time.monotonic() + LAND_TIMEOUT
    missing = len(keys)
    for _ in range(int(LAND_TIMEOUT / 0.02) + 2):
        got = list_sizes(s3, bucket, prefix)
        missing = sum(1 for k in keys if got.get(k) != size)
        if not missing:
            return time.monotonic() - t0
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    raise BenchError("%d of %d objects under s3://%s/%s not listed with %d bytes after %d s"
                     % (missing, len(keys), bucket, prefix, size, LAND_TIMEOUT))


def meta_mtime(meta):
    """Seconds since the epoch from a client's mtime metadata (s3fs: seconds;
    rclone: fractional seconds; objfs: its own format), or None."""
    v = meta.get("mtime") or meta.get("Mtime")
    if v is None:
        return None
    try:
        x = float(v)
    except ValueError:
        try:
            import datetime
            return datetime.datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    for limit, scale in ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3)):     # ns, us, ms
        if x > limit:
            return x / scale
    return x


def wait_final(s3, bucket, want_mtime, t0):
    """Heads every key until its metadata carries tar's mtime (to the second).

    Returns seconds since T0, or NEVER (with a problem) when a client's
    objects do not carry it within FINAL_TIMEOUT, or FINAL_STALL passes
    without one more object getting it (s3fs 1.90 drops the futimens that
    tar makes on the open file)."""
    pending = dict(want_mtime)
    deadline = time.monotonic() + FINAL_TIMEOUT
    progress = time.monotonic()
    seen_meta = {}

    def check(key):
        h = head(s3, bucket, key)
        if h is None:
            return key, False, None
        m = meta_mtime(h.get("Metadata", {}))
        return key, m is not None and abs(m - pending[key]) < 1.0, dict(h.get("Metadata", {}))

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        for _ in range(100000):
            for key, ok, meta in ex.map(check, list(pending)):
                if ok:
                    del pending[key]
                    progress = time.monotonic()
                elif meta is not None:
                    seen_meta[key] = meta
            if not pending:
                return time.monotonic() - t0
            now = time.monotonic()
            if now > deadline or now - progress > FINAL_STALL:
                break
            time.sleep(0.05)
    k = next(iter(pending))
    problem("%s: %d of %d objects without tar's mtime in their metadata after %.0f s, %.0f s "
            "without progress (e.g. %s: want %d, metadata %r)"
            % (bucket, len(pending), len(want_mtime), time.monotonic() - t0,
               time.monotonic() - progress, k, want_mtime[k], seen_meta.get(k)))
    return NEVER


def md5_of(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(8 * MIB), b""):
            h.update(b)
    return h.hexdigest()


# ---------------------------------------------------------------- inputs

def make_inputs(work, size_mib, nfiles):
    d = os.path.join(work, "input")
    os.makedirs(d, exist_ok=True)
    big = os.path.join(d, "random-%d.bin" % size_mib)
    ten = os.path.join(d, "random-%d.bin" % SMALL_MIB)
    for path, mib in ((big, size_mib), (ten, SMALL_MIB)):
        if not (os.path.exists(path) and os.path.getsize(path) == mib * MIB):
            with open("/dev/urandom", "rb") as src, open(path + ".tmp", "wb") as dst:
                for _ in range(mib):
                    dst.write(src.read(MIB))
            os.rename(path + ".tmp", path)
    tarball = os.path.join(d, "small-%d.tar" % nfiles)
    if not os.path.exists(tarball):
        gen = os.path.join(d, "gen")
        shutil.rmtree(gen, ignore_errors=True)
        os.makedirs(os.path.join(gen, "small"))
        for i in range(nfiles):
            with open(os.path.join(gen, "small", "f%05d.dat" % i), "wb") as f:
                f.write(os.urandom(4096))
                os.fchmod(f.fileno(), 0o644)
        subprocess.run(["tar", "-C", gen, "-cf", tarball + ".tmp", "small"], check=True,
                       timeout=CMD_TIMEOUT)
        os.rename(tarball + ".tmp", tarball)
        shutil.rmtree(gen)
    with tarfile.open(tarball) as t:
        members = {m.name: int(m.mtime) for m in t.getmembers() if m.isfile()}
    return big, ten, tarball, members


def machine_info(work):
    info = {"nproc": os.cpu_count(), "kernel": platform.release()}
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                info["ram_gib"] = round(int(line.split()[1]) / (1 << 20), 1)
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    r = subprocess.run(["df", "-hT", work], capture_output=True, timeout=10)
    df = r.stdout.decode().strip().split("\n")[-1].split()
    info["df"] = "%s %s (%s)" % (df[0], df[6], df[1]) if len(df) > 6 else "?"
    with open("/proc/loadavg") as f:
        info["loadavg_at_start"] = " ".join(f.read().split()[:3])
    vers = {}
    for name, argv in (("s3fs", ["s3fs", "--version"]), ("rclone", ["rclone", "version"]),
                       ("aws", ["/usr/bin/aws", "--version"]), ("node", ["node", "--version"])):
        try:
            r = subprocess.run(argv, capture_output=True, timeout=30)
            vers[name] = (r.stdout or r.stderr).decode(errors="replace").split("\n")[0].strip()
        except (OSError, subprocess.TimeoutExpired):
            vers[name] = "?"
    info["versions"] = vers
    return info


# ---------------------------------------------------------------- report

def fmt_secs(s):
    if s is None:
        return "—"
    if s < 1:
        return "%.0f ms" % (s * 1000) if s >= 0.01 else "%.1f ms" % (s * 1000)
    return "%.2f s" % s


def fmt(v, kind, args):
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if kind == "mib":
        return "%s (%.0f MiB/s)" % (fmt_secs(v), args.size_mib / v)
    if kind == "small_mib":
        return "%s (%.0f MiB/s)" % (fmt_secs(v), SMALL_MIB / v)
    if kind == "files":
        return "%s (%.0f files/s)" % (fmt_secs(v), args.files / v)
    if kind == "rss":
        return "%.1f MiB" % (v / 1024)
    return fmt_secs(v)


def report(res, clients, args, info):
    S, N = args.size_mib, args.files
    rows = [
        ("%d MiB write: until close (cp/dd returns)" % S, "write_close", "mib"),
        ("%d MiB write: until complete in the bucket" % S, "write_landed", "mib"),
        ("%d MiB cold sequential read" % S, "read", "mib"),
        ("untar %d x 4 KiB: until tar returns" % N, "untar", "files"),
        ("untar %d x 4 KiB: until all listed in the bucket" % N, "untar_listed", "files"),
        ("untar %d x 4 KiB: until all carry tar's mtime (*)" % N, "untar_final", "files"),
        ("ls -l %d files: cold (empty cache)" % N, "ls_cold", "secs"),
        ("ls -l %d files: warm" % N, "ls_warm", "secs"),
        ("ls -l %d files: after remount (cache kept)" % N, "ls_remount", "secs"),
        ("peak RSS (VmHWM, highest over restarts)", "rss", "rss"),
        ("%d MiB upload: write + close + in the bucket" % SMALL_MIB, "ten_upload", "secs"),
        ("%d MiB upload: until close" % SMALL_MIB, "ten_close", "secs"),
        ("%d MiB download, cold" % SMALL_MIB, "ten_download", "secs"),
        ("presign a URL (command wall time)", "presign", "secs"),
    ]
    cols = [c for c in CLIENTS if c in clients]
    hdr = ["measurement"] + [TITLES[c] for c in cols]
    table = []
    for label, key, kind in rows:
        table.append([label] + [fmt(res.get(c, {}).get(key), kind, args) for c in cols])

    def get(c, k):
        return res.get(c, {}).get(k)

    def ratio(num, den):
        """how many times faster DEN is than NUM: NUM seconds / DEN seconds."""
        if not isinstance(num, (int, float)) or not isinstance(den, (int, float)) or den <= 0:
            return None
        return num / den

    others_read = [get(c, "read") for c in cols if c != "objfs" and get(c, "read") is not None]
    best_other = min(others_read) if others_read else None
    best_name = next((TITLES[c] for c in cols if c != "objfs" and get(c, "read") == best_other), "?")
    o = lambda k: get("objfs", k)           # noqa: E731
    s = lambda k: get("s3fs", k)            # noqa: E731
    rss = o("rss")
    checks = [
        ("cold read: objfs vs the fastest other (%s)" % best_name,
         ratio(best_other, o("read")), ">= 1.0x", lambda r: r >= 1.0, "x"),
        ("large file in the bucket: objfs vs s3fs",
         ratio(s("write_landed"), o("write_landed")), ">= 1.5x", lambda r: r >= 1.5, "x"),
        ("untar returns: objfs vs s3fs",
         ratio(s("untar"), o("untar")), ">= 10x", lambda r: r >= 10, "x"),
        ("untar all in the bucket (listed): objfs vs s3fs",
         ratio(s("untar_listed"), o("untar_listed")), ">= 3x", lambda r: r >= 3, "x"),
        ("ls -l after remount (objfs)", o("ls_remount"), "< 50 ms", lambda v: v < 0.050, "s"),
        ("peak RSS (objfs)", rss, "< 100 MiB", lambda v: v < 100 * 1024, "rss"),
        ("10 MiB upload, until in the bucket (objfs)", o("ten_upload"), "< 2 s", lambda v: v < 2, "s"),
        ("10 MiB download, cold (objfs)", o("ten_download"), "< 1 s", lambda v: v < 1, "s"),
        ("presign (objfs-ctl)", o("presign"), "< 100 ms", lambda v: v < 0.1, "s"),
    ]
    infos = [
        ("untar all carry tar's mtime: objfs vs s3fs", ratio(s("untar_final"), o("untar_final"))),
        ("large file in the bucket: objfs vs rclone",
         ratio(get("rclone", "write_landed"), o("write_landed"))),
        ("large file in the bucket: objfs vs aws cli",
         ratio(get("aws", "write_landed"), o("write_landed"))),
        ("untar all in the bucket (listed): objfs vs rclone",
         ratio(get("rclone", "untar_listed"), o("untar_listed"))),
    ]

    def show(v, unit):
        if v is None:
            return "—"
        return {"x": "%.2fx" % v, "s": fmt_secs(v), "rss": fmt(v, "rss", args)}[unit]

    target_lines = []
    for name, v, want, ok, unit in checks:
        verdict = "n/a" if v is None else ("met" if ok(v) else "MISSED")
        target_lines.append((name, show(v, unit), want, verdict))
    info_lines = [(n, show(v, "x")) for n, v in infos]

    foot = ("(*) tar sets each file's mtime (futimens) before it closes it; the objects carry it "
            "once that has landed too (head_object of every key; informational; never: not within "
            "%d s of no progress). " % FINAL_STALL +
            "Ratios are seconds / seconds from this one run: > 1 means objfs is faster. "
            "Defaults of each client otherwise: s3fs without use_cache (10 MB parts, 5 in "
            "parallel%s); rclone --vfs-cache-mode writes (uploads 5 s after close: "
            "--vfs-write-back); aws s3 cp (8 MiB parts, 10 in parallel; reads to stdout)."
            % ("" if os.environ.get("OBJFS_BENCH_S3FS_SIGN") == "1" else
               "; unsigned requests, public_bucket=1, because s3rver refuses the signature "
               "of its bucket-level requests (GET /bucket/)"))
    with open("/proc/loadavg") as f:
        load_end = " ".join(f.read().split()[:3])
    mach = ("machine: %d CPUs (%s), %.1f GiB RAM, %s, kernel %s; load at start %s, at end %s; "
            "drop_caches %s; s3rver (node %s) on 127.0.0.1; %s; %s; %s"
            % (info["nproc"], info.get("cpu", "?"), info["ram_gib"], info["df"], info["kernel"],
               info["loadavg_at_start"], load_end, "used" if DROP_CACHES_OK[0] else "NOT permitted",
               info["versions"].get("node"), info["versions"].get("s3fs"),
               info["versions"].get("rclone"), info["versions"].get("aws")))

    # plain text
    w = [max(len(r[i]) for r in [hdr] + table) for i in range(len(hdr))]
    text = ["  ".join(h.ljust(w[i]) for i, h in enumerate(hdr)),
            "  ".join("-" * w[i] for i in range(len(hdr)))]
    text += ["  ".join(c.ljust(w[i]) for i, c in enumerate(r)) for r in table]
    text += ["", "Targets:"]
    tw = max(len(t[0]) for t in target_lines + info_lines)
    for name, v, want, verdict in target_lines:
        text.append("  %s  %9s  target %-9s %s" % (name.ljust(tw), v, want, verdict))
    text.append("No target, for comparison:")
    for name, v in info_lines:
        text.append("  %s  %9s" % (name.ljust(tw), v))
    text += ["", foot, mach]

    # markdown
    md = ["| " + " | ".join(hdr) + " |", "|" + "|".join("---" for _ in hdr) + "|"]
    md += ["| " + " | ".join(r) + " |" for r in table]
    md += ["", "| target | measured | wanted | |", "|---|---|---|---|"]
    md += ["| %s | %s | %s | %s |" % t for t in target_lines]
    md += ["", "For comparison (no target):", ""]
    md += ["- %s: %s" % t for t in info_lines]
    md += ["", foot, "", mach]
    return "\n".join(text), "\n".join(md) + "\n", target_lines


# ---------------------------------------------------------------- main

def main():
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default=os.environ.get("OBJFS_BENCH_S3_DIR", "/var/tmp/objfs-s3bench"),
                    help="scratch directory on a real disk (default /var/tmp/objfs-s3bench)")
    ap.add_argument("--only", default=",".join(CLIENTS),
                    help="comma-separated subset of %s" % ",".join(CLIENTS))
    ap.add_argument("--size-mib", type=int, default=512)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--objfs", default=os.path.join(repo, "build", "objfs"))
    ap.add_argument("--objfs-ctl", default=os.path.join(repo, "build", "objfs-ctl"))
    ap.add_argument("--objfs-log-level", default="info", choices=("error", "warn", "info", "debug"),
                    help="objfs log_level (debug logs every provider request; default info)")
    ap.add_argument("--out", help="also write the table (markdown) to this file")
    ap.add_argument("--json", help="also write every figure to this file")
    ap.add_argument("--no-verify", action="store_true",
                    help="skip the untimed content checks (cmp of what was read back)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = ap.parse_args()

    only = []
    for c in args.only.split(","):
        c = {"awscli": "aws", "aws-cli": "aws", "s3fs-fuse": "s3fs"}.get(c.strip(), c.strip())
        if c not in CLIENTS:
            die("--only: unknown client %r (%s)" % (c, ", ".join(CLIENTS)))
        if c not in only:
            only.append(c)
    if args.size_mib < 1 or args.files < 1:
        die("--size-mib and --files must be positive")

    if os.geteuid() != 0:
        die("needs root (drop_caches, FUSE mounts)")
    need = {"node", "dd", "tar", "ls", "cmp", "curl"}
    if set(only) - {"aws"}:
        need |= {"fusermount3"}
        if not os.path.exists("/dev/fuse"):
            die("needs /dev/fuse")
    need |= {"s3fs", "rclone"} & set(only)
    for tool in sorted(need):
        if shutil.which(tool) is None:
            die("needs %s (tools/install-bench-deps.sh)" % tool)
    if "aws" in only and not os.access("/usr/bin/aws", os.X_OK):
        die("needs /usr/bin/aws (tools/install-bench-deps.sh)")
    if "objfs" in only:
        for b in (args.objfs, args.objfs_ctl):
            if not os.access(b, os.X_OK):
                die("no %s: run make first" % b)

    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    for d in ("logs", "s3rver-data", "objfs-cache", "rclone-cache", "s3fs-tmp",
              "mnt-objfs", "mnt-s3fs", "mnt-rclone"):
        p = os.path.join(work, d)
        if mounted(p):
            die("%s is still mounted (an earlier run?): fusermount3 -u %s" % (p, p))
        shutil.rmtree(p, ignore_errors=True)
        os.makedirs(p)
    st = os.statvfs(work)
    free = st.f_bavail * st.f_frsize
    want = (2 * len(only) + 4) * args.size_mib * MIB
    if free < want:
        die("%s has %d MiB free, needs about %d MiB" % (work, free // MIB, want // MIB))

    server = Server(repo, work)

    def cleanup():
        for m in list(Mount.active):
            try:
                m.kill()
            except Exception as e:      # keep cleaning the others
                log("bench-s3: cleanup of %s: %s" % (m.mnt, e))
        server.stop()

    atexit.register(cleanup)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda n, f: (log("bench-s3: signal %d, cleaning up" % n),
                                         sys.exit(128 + n)))

    t_start = time.monotonic()
    info = machine_info(work)
    log("bench-s3: machine %s" % json.dumps(info))
    log("bench-s3: making inputs (%d MiB and %d MiB random files, tarball of %d x 4 KiB)"
        % (args.size_mib, SMALL_MIB, args.files))
    big, ten, tarball, members = make_inputs(work, args.size_mib, args.files)
    big_md5, ten_md5 = md5_of(big), md5_of(ten)
    S, N = args.size_mib, args.files

    server.start()
    log("bench-s3: s3rver on %s" % server.endpoint)
    s3 = server.client(pool=16)

    makers = {"objfs": ObjfsClient, "s3fs": S3fsClient, "rclone": RcloneClient, "aws": AwsClient}
    clients = {c: makers[c](args, work, server) for c in only}
    for c in clients.values():
        s3.create_bucket(Bucket=c.bucket)
    res = {c: {} for c in clients}

    def step(what, fn):
        """Runs FN(client) for every client still in the race, in order."""
        log("bench-s3: %s (%.0f s so far)" % (what, time.monotonic() - t_start))
        for name in CLIENTS:
            c = clients.get(name)
            if c is None or c.failed:
                continue
            try:
                fn(c)
            except BenchError as e:
                c.failed = "%s: %s" % (what, e)
                problem("%s failed at %s: %s" % (TITLES[name], what, e))
                try:
                    if c.mount is not None:
                        c.mount.kill()
                except Exception as e2:
                    log("bench-s3: cleanup after the failure: %s" % e2)

    def put(c, key, value):
        res[c.name][key] = value
        log("bench-s3:   %-7s %-14s %s" % (c.name, key, "%.3f" % value
                                             if isinstance(value, (int, float)) else value))

    # ---- start every daemon
    step("mount", lambda c: c.start())

    # ---- 1. the large file, and the 10 MiB one
    def write(src, rel, md5, size, close_key, landed_key):
        def fn(c):
            settle(src)
            t0 = time.monotonic()
            if c.name == "aws":
                dt = c.aws("s3", "cp", "--only-show-errors", src, c.url(rel))
            else:
                dt = timed(["dd", "if=" + src, "of=" + c.path(rel), "bs=1M"])
            put(c, close_key, dt)
            put(c, landed_key, wait_object(s3, c.bucket, c.key(rel), size, md5, t0))
        return fn

    step("%d MiB write" % S, write(big, "big.bin", big_md5, S * MIB, "write_close", "write_landed"))
    step("%d MiB write" % SMALL_MIB,
         write(ten, "ten.bin", ten_md5, SMALL_MIB * MIB, "ten_close", "ten_upload"))

    # ---- 2. cold reads (and the cold 10 MiB download on the same fresh mount)
    def read(rel, src, key):
        def fn(c):
            drop_caches()
            if c.name == "aws":
                with open(os.devnull, "wb") as null:
                    dt = c.aws("s3", "cp", "--only-show-errors", c.url(rel), "-", stdout=null)
            else:
                dt = timed(["dd", "if=" + c.path(rel), "of=/dev/null", "bs=1M"])
            put(c, key, dt)
        return fn

    def verify(rel, src):
        def fn(c):
            if args.no_verify:
                return
            if c.name == "aws":
                return          # aws cli checks the content it downloads
            r = subprocess.run(["cmp", src, c.path(rel)], capture_output=True, timeout=CMD_TIMEOUT)
            if r.returncode != 0:
                raise BenchError("content read back differs: %s"
                                 % (r.stdout + r.stderr).decode(errors="replace").strip())
        return fn

    step("remount, empty caches", lambda c: c.remount(fresh=True))
    step("%d MiB cold read" % S, read("big.bin", big, "read"))
    step("%d MiB cold read" % SMALL_MIB, read("ten.bin", ten, "ten_download"))
    step("verify the reads (untimed)", lambda c: (verify("big.bin", big)(c), verify("ten.bin", ten)(c)))

    # ---- 6b. presign (objfs and aws cli), URL checked with curl
    def presign(c):
        if c.name not in ("objfs", "aws"):
            return
        put(c, "presign", c.presign("ten.bin"))
        url = c.presign_url("ten.bin")
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                            url], capture_output=True, timeout=60)
        code = r.stdout.decode().strip()
        if code != "200 %d" % (SMALL_MIB * MIB):
            problem("%s: the presigned URL answered %r (want 200 and %d bytes): %s"
                    % (TITLES[c.name], code, SMALL_MIB * MIB, url))

    step("presign", presign)

    # ---- 3. untar
    names = sorted(members)               # small/f00000.dat ...

    # Into the client's root: s3rver leaves a "directory" that holds only
    # other directories out of a delimited listing (no CommonPrefix for
    # untar/ when only untar/small/... exist), so untar/small would vanish for
    # a client without directory markers (rclone) after a remount.
    def untar(c):
        if c.name == "aws":
            return
        settle(tarball)
        t0 = time.monotonic()
        put(c, "untar", timed(["tar", "-C", c.path(""), "-xf", tarball]))
        keys = [c.key(n) for n in names]
        put(c, "untar_listed", wait_listed(s3, c.bucket, keys, 4096, t0))
        put(c, "untar_final", wait_final(s3, c.bucket, {c.key(n): members[n] for n in names}, t0))

    step("untar %d files" % N, untar)

    # ---- 4. ls -l cold, warm, after a remount that keeps the cache
    def ls_check(c):
        r = subprocess.run(["ls", "-l", c.path("small")], capture_output=True, timeout=600)
        lines = len(r.stdout.splitlines())
        if r.returncode != 0 or lines != N + 1:
            raise BenchError("ls -l: status %d, %d lines, want %d" % (r.returncode, lines, N + 1))

    def ls_cold(c):
        if c.name == "aws":
            return
        put(c, "ls_cold", timed(["ls", "-l", c.path("small")]))
        put(c, "ls_warm", timed(["ls", "-l", c.path("small")]))
        ls_check(c)

    def ls_remount(c):
        if c.name == "aws":
            return
        put(c, "ls_remount", timed(["ls", "-l", c.path("small")]))
        ls_check(c)

    step("remount, empty caches", lambda c: c.remount(fresh=True) if c.name != "aws" else None)
    step("ls -l cold and warm", ls_cold)
    step("remount, caches kept", lambda c: c.remount(fresh=False) if c.name != "aws" else None)
    step("ls -l after remount", ls_remount)

    # ---- 5. peak RSS: read at each stop; the last stop here
    step("unmount", lambda c: c.stop())
    for name, c in clients.items():
        rss = c.peak_rss_kib()
        if rss is not None:
            res[name]["rss"] = rss
    elapsed = time.monotonic() - t_start

    # objfs log: errors and warnings are worth a look
    if "objfs" in clients:
        lines = open(os.path.join(work, "logs", "objfs.log"), errors="replace").read().splitlines()
        bad = [l for l in lines if " objfs error: " in l or " objfs warn: " in l]
        if bad:
            problem("objfs logged %d error/warn lines (logs/objfs.log), e.g.:\n%s"
                    % (len(bad), "\n".join(bad[:8])))
    for name, c in clients.items():
        if c.failed:
            log("bench-s3: %s did not finish: %s" % (name, c.failed))

    text, md, targets = report(res, clients, args, info)
    print(text)
    if PROBLEMS:
        print("\nPROBLEMS seen during the run (%d):" % len(PROBLEMS))
        for p in PROBLEMS:
            print("  - " + p.replace("\n", "\n      "))
    print("one run: %.0f s; logs in %s" % (elapsed, os.path.join(work, "logs")))
    if args.out:
        with open(args.out, "w") as f:
            f.write(md)
            if PROBLEMS:
                f.write("\nProblems seen during the run:\n\n")
                for p in PROBLEMS:
                    f.write("- " + p.replace("\n", "\n  ") + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "problems": PROBLEMS, "size_mib": S, "files": N,
                       "clients": list(clients), "results": res,
                       "failed": {n: c.failed for n, c in clients.items() if c.failed},
                       "targets": targets, "elapsed_s": elapsed}, f, indent=1)
    if not args.keep:
        for d in ("s3rver-data", "objfs-cache", "rclone-cache", "s3fs-tmp"):
            shutil.rmtree(os.path.join(work, d), ignore_errors=True)
    if any(c.failed for c in clients.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
