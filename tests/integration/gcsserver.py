"""The GCS test server for the integration tests, and a store reader on top of it.

`GcsServer` runs the shared gcs-test-server (../shared/tools/gcs-test-server,
or $OBJFS_GCS_TEST_SERVER; never copied into this repository) through its
start.sh on 127.0.0.1 and a free port.  It checks OAuth2 JWT grants, Bearer
tokens, scopes and V4 signed URLs, so an auth bug fails a test.  Its data is
kept in memory: `restart()` (and `stop()`) lose every bucket and object.

`GcsStore` reads and writes buckets the way another client would, over the
JSON API with its own Bearer token (a JWT signed with `openssl dgst -sha256
-sign` in a subprocess, standard library only), with the store interface the
Objfs helpers use (head/read/exists/keys/objects/buckets/put/delete/
create_bucket; see S3Store and LocalStore).
"""

import base64
import calendar
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SCOPE = "https://www.googleapis.com/auth/devstorage.full_control"


def server_dir():
    d = os.environ.get("OBJFS_GCS_TEST_SERVER") or os.path.join(
        os.path.dirname(REPO), "shared", "tools", "gcs-test-server")
    if not os.path.exists(os.path.join(d, "start.sh")):
        raise RuntimeError("the GCS test server is missing: expected %s/start.sh "
                           "(set OBJFS_GCS_TEST_SERVER)" % d)
    return d


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GcsServer:
    def __init__(self, base_dir, token_ttl=None, debug=True):
        self.base = os.fspath(base_dir)
        self.dir = os.path.join(self.base, "gcs-data")
        os.makedirs(self.dir, exist_ok=True)
        self.port = None
        self.token_ttl = token_ttl
        self.debug = debug
        self.running = False

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def key_file(self):
        """The service-account key file start.sh wrote (token_uri on this server)."""
        return os.path.join(self.dir, "service-account.json")

    @property
    def log_path(self):
        return os.path.join(self.dir, "gcs.log")

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def start(self, timeout=20.0):
        d = server_dir()
        if self.port is None:
            self.port = free_port()
        env = dict(os.environ)
        if self.token_ttl is not None:
            env["GCS_TEST_TOKEN_TTL"] = str(self.token_ttl)
        if self.debug:
            env["GCS_TEST_DEBUG"] = "1"
        # start.sh truncates gcs.log: keep the previous run's log
        if os.path.exists(self.log_path):
            with open(self.log_path, "rb") as src, open(self.log_path + ".old", "ab") as dst:
                shutil.copyfileobj(src, dst)
        r = subprocess.run([os.path.join(d, "start.sh"), str(self.port), self.dir],
                           capture_output=True, text=True, timeout=timeout, env=env)
        if r.returncode != 0:
            raise RuntimeError("gcs-test-server did not start: %s%s" % (r.stdout, r.stderr))
        self.running = True
        return self

    def stop(self):
        """Stops the server; its data (in memory) is lost."""
        if not self.running:
            return
        subprocess.run([os.path.join(server_dir(), "stop.sh"), self.dir],
                       capture_output=True, timeout=30)
        self.running = False

    def close(self):
        self.stop()

    def restart(self, token_ttl=None):
        """Same port and key; every bucket and object is lost (memory only)."""
        if token_ttl is not None:
            self.token_ttl = token_ttl
        self.stop()
        return self.start()

    def credentials_file(self, path):
        """A copy of the key file at path, mode 0600; returns path."""
        shutil.copyfile(self.key_file, path)
        os.chmod(path, 0o600)
        return path


def _b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class GcsObject:
    """One object as the server reports it (the LocalStore StoredObject interface)."""

    def __init__(self, store, bucket, res):
        self.store, self.bucket = store, bucket
        self.key = res["name"]
        self.size = int(res["size"])
        self.etag = res["generation"]
        self.generation = res["generation"]
        self.metageneration = res.get("metageneration")
        self.content_type = res.get("contentType")
        self.user_meta = dict(res.get("metadata") or {})
        self.crc32c = res.get("crc32c")
        self.md5 = res.get("md5Hash")
        self.component_count = res.get("componentCount")
        self.res = res
        t = res.get("updated", "1970-01-01T00:00:00.000Z")
        base, _, frac = t.rstrip("Z").partition(".")
        self.mtime_ns = (calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) * 10**9
                         + int((frac or "0").ljust(9, "0")[:9]))

    def read(self):
        data = self.store.read(self.bucket, self.key, generation=self.generation)
        if len(data) != self.size:
            raise IOError("%s/%s: resource said %d bytes, body has %d"
                          % (self.bucket, self.key, self.size, len(data)))
        return data

    def sha256(self):
        return hashlib.sha256(self.read()).hexdigest()

    def __repr__(self):
        return "GcsObject(%r, size=%d, gen=%s, meta=%r)" % (self.key, self.size, self.etag,
                                                           self.user_meta)


class GcsStore:
    def __init__(self, server, key_file=None):
        self.server = server
        self.key_file_path = key_file
        self._token = None
        self._exp = 0
        self._lock = threading.Lock()

    # -- auth ------------------------------------------------------------------
    def _key(self):
        with open(self.key_file_path or self.server.key_file) as f:
            return json.load(f)

    def token(self):
        with self._lock:
            if self._token and time.time() < self._exp - 1:
                return self._token
            sa = self._key()
            now = int(time.time())
            hdr = {"alg": "RS256", "typ": "JWT", "kid": sa["private_key_id"]}
            claims = {"iss": sa["client_email"], "scope": SCOPE, "aud": sa["token_uri"],
                      "iat": now, "exp": now + 3600}
            signing = (_b64url(json.dumps(hdr).encode()) + "." +
                       _b64url(json.dumps(claims).encode()))
            with tempfile.NamedTemporaryFile("w", suffix=".pem") as kf:
                os.chmod(kf.name, 0o600)
                kf.write(sa["private_key"])
                kf.flush()
                sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", kf.name],
                                     input=signing.encode(), capture_output=True,
                                     check=True, timeout=30).stdout
            body = urllib.parse.urlencode({
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": signing + "." + _b64url(sig)}).encode()
            req = urllib.request.Request(sa["token_uri"], data=body, method="POST", headers={
                "Content-Type": "application/x-www-form-urlencoded"})
            with urllib.request.urlopen(req, timeout=30) as r:
                ans = json.load(r)
            self._token = ans["access_token"]
            self._exp = time.time() + int(ans.get("expires_in", 3600))
            return self._token

    def reset(self):
        """Forget the token (after the server restarted)."""
        with self._lock:
            self._token = None

    def _req(self, method, path, query=None, body=None, headers=None, raw=False,
             ok404=False):
        url = self.server.endpoint + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        h = {"Authorization": "Bearer " + self.token()}
        h.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(url, data=body, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                data = r.read()
        except urllib.error.HTTPError as e:
            if ok404 and e.code == 404:
                return None
            raise AssertionError("gcs %s %s: HTTP %d %s" % (method, path, e.code,
                                                            e.read()[:300]))
        if raw:
            return data
        return json.loads(data) if data else {}

    @staticmethod
    def _o(bucket, key):
        return "/storage/v1/b/%s/o/%s" % (urllib.parse.quote(bucket, safe=""),
                                          urllib.parse.quote(key, safe=""))

    # -- store interface -------------------------------------------------------
    def head(self, bucket, key):
        res = self._req("GET", self._o(bucket, key), ok404=True)
        return GcsObject(self, bucket, res) if res else None

    def read(self, bucket, key, generation=None):
        q = {"alt": "media"}
        if generation:
            q["generation"] = generation
        return self._req("GET", self._o(bucket, key), query=q, raw=True)

    def exists(self, bucket, key):
        return self.head(bucket, key) is not None

    def objects(self, bucket, prefix=""):
        out, token = {}, None
        for _ in range(10000):
            q = {"prefix": prefix, "maxResults": 1000}
            if token:
                q["pageToken"] = token
            r = self._req("GET", "/storage/v1/b/%s/o" % bucket, query=q)
            for it in r.get("items", []):
                out[it["name"]] = GcsObject(self, bucket, it)
            token = r.get("nextPageToken")
            if not token:
                break
        return out

    def keys(self, bucket, prefix=""):
        return sorted(self.objects(bucket, prefix))

    def buckets(self):
        return [b["name"] for b in self._req("GET", "/storage/v1/b").get("items", [])]

    def put(self, bucket, key, data, content_type="application/octet-stream", user_meta=None,
            if_generation_match=None, **_):
        """Multipart upload; returns the new generation."""
        boundary = "gcsstore" + os.urandom(8).hex()
        res = {"name": key, "contentType": content_type, "metadata": user_meta or {}}
        body = (("--%s\r\nContent-Type: application/json\r\n\r\n%s\r\n--%s\r\n"
                 "Content-Type: %s\r\n\r\n" % (boundary, json.dumps(res), boundary,
                                               content_type)).encode()
                + data + ("\r\n--%s--\r\n" % boundary).encode())
        q = {"uploadType": "multipart"}
        if if_generation_match is not None:
            q["ifGenerationMatch"] = str(if_generation_match)
        r = self._req("POST", "/upload/storage/v1/b/%s/o" % bucket, query=q, body=body,
                      headers={"Content-Type": "multipart/related; boundary=" + boundary})
        return r["generation"]

    def patch(self, bucket, key, resource):
        return self._req("PATCH", self._o(bucket, key), body=resource)

    def delete(self, bucket, key):
        self._req("DELETE", self._o(bucket, key), ok404=True)

    def create_bucket(self, bucket):
        try:
            self._req("POST", "/storage/v1/b", body={"name": bucket})
        except AssertionError as e:
            if "HTTP 409" not in str(e):
                raise


def gcs_sections(server, base):
    """Configuration sections that put every tenant on `server`."""
    os.makedirs(base, exist_ok=True)
    cred = server.credentials_file(os.path.join(base, "gcs-sa.json"))
    return {
        "objfs": {"default_provider": "main", "read_cache": "auto"},
        "provider main": {"type": "gcs", "endpoint": server.endpoint, "credentials": cred},
    }
