"""Azurite (Azure Blob emulator) for the integration tests, and a store reader.

`AzureServer` runs azurite-blob 3.37.0 from tests/servers/node_modules on
127.0.0.1 (a free port, its own directory) with a custom account and a random
key (AZURITE_ACCOUNTS), loose mode off: Shared Key and SAS signatures are
checked, so a signing bug fails a test.  Its endpoint is path style,
http://127.0.0.1:PORT/ACCOUNT.  The access log (one line per request) goes to
`access.log`, so tests can count requests (e.g. Put Block) with
`requests(pattern)`.

`AzureStore` reads and writes containers the way another client would, with
only the Python standard library (Shared Key signed with hmac, independently
of objfs's C signer), with the interface of localstore.LocalStore / S3Store.
"""

import base64
import datetime
import email.utils
import hashlib
import hmac
import http.client
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
SERVERS = os.path.join(os.path.dirname(HERE), "servers")
AZURITE = os.path.join(SERVERS, "node_modules", ".bin", "azurite-blob")
ACCOUNT = "objfstest"
VERSION = "2023-11-03"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class AzureServer:
    def __init__(self, base, account=ACCOUNT, key=None):
        self.base = os.fspath(base)
        self.dir = os.path.join(self.base, "azurite-data")
        os.makedirs(self.dir, exist_ok=True)
        self.account = account
        self.key = key or base64.b64encode(os.urandom(64)).decode()
        self.port = None
        self.proc = None
        self.log = os.path.join(self.base, "azurite.log")
        self.access_log = os.path.join(self.base, "access.log")

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d/%s" % (self.port, self.account)

    def start(self, timeout=30.0):
        if not os.path.exists(AZURITE):
            raise RuntimeError("azurite is not installed: run `npm ci` in tests/servers "
                               "(make deps)")
        self.port = self.port or free_port()
        env = dict(os.environ)
        env["AZURITE_ACCOUNTS"] = "%s:%s" % (self.account, self.key)
        with open(self.log, "ab") as logf, open(self.access_log, "ab") as acc:
            self.proc = subprocess.Popen(
                [AZURITE, "--blobHost", "127.0.0.1", "--blobPort", str(self.port),
                 "--location", self.dir, "--disableTelemetry"],
                stdout=acc, stderr=logf, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True)
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout / 0.1) + 2):
            if self.proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.kill()
        raise RuntimeError("azurite did not start on port %d:\n%s" % (self.port, self.log_tail()))

    def log_tail(self, n=30):
        try:
            with open(self.log, errors="replace") as f:
                return "\n".join(f.read().splitlines()[-n:])
        except OSError:
            return ""

    def requests(self, pattern):
        """Access-log lines (method and URL) matching the regex pattern."""
        try:
            with open(self.access_log, errors="replace") as f:
                return [ln for ln in f if re.search(pattern, ln)]
        except OSError:
            return []

    def stop(self):
        """Graceful stop: Azurite saves its metadata database on SIGTERM."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
        self.proc = None

    def kill(self):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None

    def restart(self):
        """Stops and starts again on the same port and data."""
        self.stop()
        return self.start()

    def close(self):
        self.stop()

    def account_sas(self, ttl=3600, permissions="racwdlup"):
        """An account SAS (blob service, all resource types) signed with the key."""
        se = (datetime.datetime.now(datetime.timezone.utc) +
              datetime.timedelta(seconds=ttl)).strftime("%Y-%m-%dT%H:%M:%SZ")
        # version >= 2020-12-06: ... sv, ses (empty), and a trailing newline
        sts = "\n".join([self.account, permissions, "b", "sco", "", se, "", "", VERSION,
                         "", ""])
        sig = base64.b64encode(hmac.new(base64.b64decode(self.key), sts.encode(),
                                        hashlib.sha256).digest()).decode()
        return urllib.parse.urlencode([("sv", VERSION), ("ss", "b"), ("srt", "sco"),
                                       ("sp", permissions), ("se", se), ("sig", sig)],
                                      quote_via=urllib.parse.quote)

    def credentials_file(self, path, sas=False, key=None):
        with open(path, "w") as f:
            f.write("# objfs test credentials\n")
            if sas:
                f.write("sas_token = %s\n" % self.account_sas())
            else:
                f.write("account_key = %s\n" % (key or self.key))
        os.chmod(path, 0o600)
        return path

    def node_env(self):
        """Environment for tests/servers/azure_client.js."""
        env = dict(os.environ)
        env.update({"AZ_ENDPOINT": self.endpoint, "AZ_ACCOUNT": self.account,
                    "AZ_KEY": self.key, "NODE_PATH": os.path.join(SERVERS, "node_modules")})
        return env


def azure_sections(server, base, sas=False, key=None):
    """Configuration sections that put every tenant on `server`."""
    os.makedirs(base, exist_ok=True)
    cred = server.credentials_file(os.path.join(base, "azure.cred"), sas=sas, key=key)
    return {
        "objfs": {"default_provider": "main", "read_cache": "auto"},
        "provider main": {"type": "azure", "account": server.account,
                          "endpoint": server.endpoint, "credentials": cred},
    }


class AzureObject:
    """One blob as the server reports it (the LocalStore StoredObject interface)."""

    def __init__(self, store, bucket, key, headers):
        self.store, self.bucket, self.key = store, bucket, key
        self.size = int(headers.get("content-length", "0"))
        self.etag = headers.get("etag", "").strip('"')
        self.content_type = headers.get("content-type")
        self.user_meta = {k[len("x-ms-meta-"):].lower(): v for k, v in headers.items()
                          if k.startswith("x-ms-meta-")}
        lm = headers.get("last-modified")
        self.mtime_ns = int(email.utils.parsedate_to_datetime(lm).timestamp() * 1e9) if lm else 0
        self.blob_type = headers.get("x-ms-blob-type")

    def read(self):
        data = self.store.read(self.bucket, self.key)
        if len(data) != self.size:
            raise IOError("%s/%s: head said %d bytes, body has %d"
                          % (self.bucket, self.key, self.size, len(data)))
        return data

    def sha256(self):
        return hashlib.sha256(self.read()).hexdigest()

    def __repr__(self):
        return "AzureObject(%r, size=%d, etag=%r, meta=%r)" % (self.key, self.size, self.etag,
                                                               self.user_meta)


class AzureError(Exception):
    def __init__(self, status, body):
        super().__init__("HTTP %d: %s" % (status, body[:300]))
        self.status = status
        self.body = body


class AzureStore:
    def __init__(self, server):
        self.server = server

    def reset(self):
        pass

    # -- Shared Key, written from the Azure documentation --------------------
    def _sign(self, method, path, query, headers):
        std = ["content-encoding", "content-language", "content-length", "content-md5",
               "content-type", "date", "if-modified-since", "if-match", "if-none-match",
               "if-unmodified-since", "range"]
        low = {k.lower(): v for k, v in headers.items()}
        lines = [method]
        for h in std:
            v = low.get(h, "")
            if h == "content-length" and v == "0":
                v = ""
            lines.append(v)
        canon = "".join("%s:%s\n" % (k, low[k].strip())
                        for k in sorted(k for k in low if k.startswith("x-ms-")))
        res = "/%s%s" % (self.server.account, path)
        for k in sorted(query):
            res += "\n%s:%s" % (k.lower(), query[k])
        sts = "\n".join(lines) + "\n" + canon + res
        sig = hmac.new(base64.b64decode(self.server.key), sts.encode(), hashlib.sha256)
        return "SharedKey %s:%s" % (self.server.account, base64.b64encode(sig.digest()).decode())

    def request(self, method, container=None, blob=None, query=None, headers=None, body=b"",
                ok=(200, 201, 202, 206)):
        query = dict(query or {})
        path = "/%s" % self.server.account
        if container is not None:
            path += "/" + container
        if blob is not None:
            path += "/" + urllib.parse.quote(blob, safe="/-._~")
        h = {"x-ms-date": email.utils.formatdate(usegmt=True), "x-ms-version": VERSION}
        h.update(headers or {})
        if method in ("PUT", "POST") or body:
            h["Content-Length"] = str(len(body))
        h["Authorization"] = self._sign(method, path, query, h)
        url = path
        if query:
            url += "?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
        c = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
        try:
            c.request(method, url, body=body or None, headers=h)
            r = c.getresponse()
            data = r.read()
            rh = {k.lower(): v for k, v in r.getheaders()}
        finally:
            c.close()
        if r.status not in ok:
            raise AzureError(r.status, data.decode(errors="replace"))
        return r.status, rh, data

    # -- the store interface ---------------------------------------------------
    def head(self, bucket, key):
        try:
            _, h, _ = self.request("HEAD", bucket, key)
        except AzureError as e:
            if e.status == 404:
                return None
            raise
        return AzureObject(self, bucket, key, h)

    def read(self, bucket, key):
        return self.request("GET", bucket, key)[2]

    def exists(self, bucket, key):
        return self.head(bucket, key) is not None

    def _list(self, bucket, prefix=""):
        marker = ""
        for _ in range(10000):
            q = {"restype": "container", "comp": "list", "include": "metadata",
                 "maxresults": "1000"}
            if prefix:
                q["prefix"] = prefix
            if marker:
                q["marker"] = marker
            root = ET.fromstring(self.request("GET", bucket, query=q)[2])
            for b in root.iter("Blob"):
                yield b
            marker = root.findtext("NextMarker") or ""
            if not marker:
                break

    def keys(self, bucket, prefix=""):
        return sorted(b.findtext("Name") for b in self._list(bucket, prefix))

    def objects(self, bucket, prefix=""):
        out = {}
        for b in self._list(bucket, prefix):
            name = b.findtext("Name")
            out[name] = self.head(bucket, name)
        return out

    def buckets(self):
        root = ET.fromstring(self.request("GET", query={"comp": "list"})[2])
        return sorted(c.findtext("Name") for c in root.iter("Container"))

    def put(self, bucket, key, data, content_type="application/octet-stream", user_meta=None,
            **_):
        h = {"x-ms-blob-type": "BlockBlob", "x-ms-blob-content-type": content_type}
        for k, v in (user_meta or {}).items():
            h["x-ms-meta-" + k] = v
        _, rh, _ = self.request("PUT", bucket, key, headers=h, body=data)
        return rh.get("etag", "").strip('"')

    def delete(self, bucket, key):
        self.request("DELETE", bucket, key, ok=(202, 404))

    def create_bucket(self, bucket):
        try:
            self.request("PUT", bucket, query={"restype": "container"})
        except AzureError as e:
            if e.status != 409:
                raise

    def delete_bucket(self, bucket):
        self.request("DELETE", bucket, query={"restype": "container"}, ok=(202,))
