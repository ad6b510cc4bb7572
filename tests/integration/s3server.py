"""An S3 server for the integration tests, and a store reader on top of it.

`S3Server` runs @20minutes/s3rver (tests/servers, installed by `make deps`)
on 127.0.0.1 with its own directory and key pair; it checks SigV4 signatures,
so a signing bug fails a test.  It can be paused (SIGSTOP), resumed, killed
and restarted on the same port and data.

`S3Store` reads and writes the bucket the way another client would (botocore,
Debian's python3-botocore), with the interface of localstore.LocalStore that
the Objfs helpers use (head/keys/exists/read/put/delete).
"""

import hashlib
import os
import signal
import socket
import subprocess
import time

import botocore.session
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
SERVERS = os.path.join(os.path.dirname(HERE), "servers")
ACCESS_KEY = "OBJFSTESTKEY"
SECRET_KEY = "objfs/Test+Secret=Key"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class S3Server:
    def __init__(self, base, access_key=ACCESS_KEY, secret_key=SECRET_KEY):
        self.dir = os.path.join(os.fspath(base), "s3rver-data")
        os.makedirs(self.dir, exist_ok=True)
        self.access_key = access_key
        self.secret_key = secret_key
        self.port = None
        self.proc = None
        self.log = os.path.join(os.fspath(base), "s3rver.log")
        self.stopped = False

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, timeout=20.0):
        if not os.path.exists(os.path.join(SERVERS, "node_modules", "@20minutes", "s3rver")):
            raise RuntimeError("s3rver is not installed: run `make deps` (tools/install-deps.sh)")
        port = self.port or 0
        env = dict(os.environ)
        env["NODE_OPTIONS"] = "--openssl-legacy-provider"
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(
                ["node", os.path.join(SERVERS, "s3rver.js"), self.dir, str(port),
                 self.access_key, self.secret_key],
                stdout=subprocess.PIPE, stderr=logf, stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + timeout
        line = b""
        for _ in range(int(timeout / 0.05) + 2):
            line = self.proc.stdout.readline()
            if line.startswith(b"listening "):
                self.port = int(line.split()[1])
                return self
            if self.proc.poll() is not None or time.monotonic() > deadline:
                break
        self.kill()
        raise RuntimeError("s3rver did not start: %r\n%s" % (line, self.log_tail()))

    def log_tail(self, n=30):
        try:
            with open(self.log, errors="replace") as f:
                return "\n".join(f.read().splitlines()[-n:])
        except OSError:
            return ""

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)
        self.stopped = True

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)
        self.stopped = False

    def kill(self):
        if self.proc is None:
            return
        if self.stopped:
            self.resume()
        self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None

    def restart(self):
        self.kill()
        return self.start()

    def close(self):
        self.kill()

    def credentials_file(self, path, secret=None):
        with open(path, "w") as f:
            f.write("access_key_id = %s\nsecret_access_key = %s\n"
                    % (self.access_key, secret or self.secret_key))
        os.chmod(path, 0o600)
        return path

    def aws_env(self):
        """Environment for the aws command line against this server."""
        env = dict(os.environ)
        env.update({"AWS_ACCESS_KEY_ID": self.access_key,
                    "AWS_SECRET_ACCESS_KEY": self.secret_key,
                    "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_EC2_METADATA_DISABLED": "true",
                    "AWS_CONFIG_FILE": "/dev/null",
                    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
        return env

    def aws(self, *args, check=True, timeout=120):
        """Runs /usr/bin/aws against the server; returns CompletedProcess."""
        r = subprocess.run(["/usr/bin/aws", "--endpoint-url", self.endpoint] + list(args),
                           env=self.aws_env(), capture_output=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("aws %s failed (%d): %s" % (" ".join(args), r.returncode,
                                                              r.stderr.decode(errors="replace")))
        return r

    def client(self):
        s = botocore.session.Session()
        return s.create_client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                          retries={"max_attempts": 2}, connect_timeout=5, read_timeout=30))


class S3Object:
    """One object as the server reports it (the LocalStore StoredObject interface)."""

    def __init__(self, store, bucket, key, head):
        self.store, self.bucket, self.key = store, bucket, key
        self.size = head["ContentLength"]
        self.etag = head["ETag"].strip('"')
        self.content_type = head.get("ContentType")
        self.user_meta = dict(head.get("Metadata", {}))
        self.mtime_ns = int(head["LastModified"].timestamp() * 1e9)

    def read(self):
        # s3rver writes objects in place: a head taken while it was still
        # writing disagrees with the finished body, so the pair must match
        data = self.store.read(self.bucket, self.key)
        if len(data) != self.size:
            raise IOError("%s/%s: head said %d bytes, body has %d"
                          % (self.bucket, self.key, self.size, len(data)))
        return data

    def sha256(self):
        return hashlib.sha256(self.read()).hexdigest()

    def __repr__(self):
        return "S3Object(%r, size=%d, etag=%r, meta=%r)" % (self.key, self.size, self.etag,
                                                            self.user_meta)


class S3Store:
    def __init__(self, server):
        self.server = server
        self._c = None

    @property
    def c(self):
        if self._c is None:
            self._c = self.server.client()
        return self._c

    def reset(self):
        """A new client (after the server restarted on another connection)."""
        self._c = None

    def head(self, bucket, key):
        try:
            h = self.c.head_object(Bucket=bucket, Key=key)
        except self.c.exceptions.ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return S3Object(self, bucket, key, h)

    def read(self, bucket, key):
        return self.c.get_object(Bucket=bucket, Key=key)["Body"].read()

    def exists(self, bucket, key):
        return self.head(bucket, key) is not None

    def keys(self, bucket, prefix=""):
        out, token = [], None
        for _ in range(10000):
            kw = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": 1000}
            if token:
                kw["ContinuationToken"] = token
            r = self.c.list_objects_v2(**kw)
            out += [o["Key"] for o in r.get("Contents", [])]
            if not r.get("IsTruncated"):
                break
            token = r["NextContinuationToken"]
        return sorted(out)

    def objects(self, bucket, prefix=""):
        """{key: S3Object} of every object under prefix."""
        return {k: o for k in self.keys(bucket, prefix) for o in [self.head(bucket, k)] if o}

    def buckets(self):
        return [b["Name"] for b in self.c.list_buckets().get("Buckets", [])]

    def put(self, bucket, key, data, content_type="application/octet-stream", user_meta=None,
            **_):
        r = self.c.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type,
                              Metadata=user_meta or {})
        return r["ETag"].strip('"')

    def delete(self, bucket, key):
        self.c.delete_object(Bucket=bucket, Key=key)

    def create_bucket(self, bucket):
        try:
            self.c.create_bucket(Bucket=bucket)
        except self.c.exceptions.BucketAlreadyOwnedByYou:
            pass
