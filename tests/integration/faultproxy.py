"""A fault-injecting HTTP/1.1 reverse proxy for the S3 tests.

    proxy = FaultProxy("127.0.0.1", s3server.port).start()
    ...  # point the objfs endpoint at proxy.endpoint
    proxy.add("status", kind="upload-part", count=2, status=503, code="SlowDown")
    proxy.add("reset", method="GET", match="partNumber=2&", count=1)
    proxy.seen[("PUT", "upload-part")]      # requests seen, by (method, kind)
    proxy.close()

The proxy listens on 127.0.0.1 (an ephemeral port) and forwards every
request byte for byte -- request line, headers (the Host header included)
and body -- to the upstream, each request on a fresh upstream connection,
then relays the response.  Nothing is rewritten: a SigV4 signature covers
the Host header, which names the proxy; the upstream (s3rver) checks the
signature against the Host header it receives, so signing stays intact.

Client connections are kept alive (several requests per connection, one at
a time).  Request bodies must be framed by Content-Length or chunked
transfer coding; response bodies by Content-Length, chunked coding, or the
end of the connection.

A fault plan, settable at any time from the test (thread-safe), decides per
request: the first fault whose method, kind and match (a substring of the
request target, i.e. path and query, or a compiled regex) fit and that has
applications left is applied and its count decremented.  Actions:

  status             answer `status` (default 500) with an S3 <Error> XML body
                     whose code is `code=` or by status: 500 InternalError,
                     503 ServiceUnavailable, 429 SlowDown (S3 sends SlowDown
                     with 503: code="SlowDown"); the request is not
                     forwarded.  retry_after= adds a Retry-After header.
  reset              read the request, then close the client connection with
                     an RST (SO_LINGER 0), no answer; not forwarded.  With
                     before_body=True the RST comes right after the request
                     headers, while the client is still sending the body.
  delay              sleep `delay` seconds, then forward normally.
  truncate           forward; relay the response headers and half the body,
                     then close the connection.
  malformed          answer 200 with a broken XML body (`body=` overrides the
                     default for the request kind); not forwarded unless
                     forward=True (then the upstream performed the operation
                     and its answer is replaced).
  drop_after_request forward and read the whole upstream response (the
                     operation happened), then reset the client connection.

S3 semantics s3rver lacks (emulate_s3=True, the default): once a
CompleteMultipartUpload of an upload ID succeeded through the proxy, any
later request naming that upload ID (a retried complete, an abort, a part)
is answered 404 NoSuchUpload as S3 does, instead of being forwarded to
s3rver, which answers 500 InternalError (complete: its upload directory is
gone) or 405 (abort).  The answer counts as action "nosuchupload".

Every request is counted in `seen` by (method, kind) -- kind is the S3
operation ("put", "get", "head", "list", "upload-part", "complete-multipart",
... see s3_kind) -- and logged in `events` (method, target, kind, action).
Bounded: a thread per client connection up to max_conns (further
connections wait to be accepted), socket timeouts everywhere, and close()
shuts down every connection and joins the threads.
"""

import collections
import socket
import struct
import threading
import time
import urllib.parse
import uuid

ACTIONS = ("status", "reset", "delay", "truncate", "malformed", "drop_after_request")
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 256 * 1024 * 1024

REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
           429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}
DEFAULT_CODES = {429: "SlowDown", 500: "InternalError", 502: "BadGateway",
                 503: "ServiceUnavailable", 504: "GatewayTimeout"}
MESSAGES = {"SlowDown": "Please reduce your request rate.",
            "InternalError": "We encountered an internal error. Please try again.",
            "ServiceUnavailable": "Service is unable to handle request.",
            "BadGateway": "Bad gateway.", "GatewayTimeout": "Gateway timeout."}

# Broken bodies for "malformed": each starts like a real answer and then breaks,
# so that a lax parser would pick up something ("ghost") from it.
MALFORMED_BODIES = {
    "list": (b'<?xml version="1.0" encoding="UTF-8"?>\n'
             b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
             b'<Name>bucket</Name><Prefix></Prefix><KeyCount>2</KeyCount>'
             b'<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>'
             b'<Contents><Key>ghost-object</Key><Size>12</Size><ETag>&quot;0123'
             b'</Contents><Contents><Key>ghost-two</'),
    "complete-multipart": (b'<?xml version="1.0" encoding="UTF-8"?>\n'
                           b'<CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/'
                           b'doc/2006-03-01/"><Location>http://x/ghost</Location>'
                           b'<Bucket>bucket</Bucket><Key>ghost</Key><ETag>&quot;ghost-2'),
    "create-multipart": (b'<?xml version="1.0" encoding="UTF-8"?>\n'
                         b'<InitiateMultipartUploadResult><Bucket>b</Bucket><UploadId>gho'),
}
MALFORMED_DEFAULT = b'<?xml version="1.0" encoding="UTF-8"?>\n<Result><Broken attr="x>'


def s3_kind(method, target, headers=None):
    """The S3 operation of a path-style request: "put", "get", "list", ..."""
    path, _, query = target.partition("?")
    params = set(k for k, _ in urllib.parse.parse_qsl(query, keep_blank_values=True))
    segs = path.lstrip("/").split("/", 1)
    bucket = segs[0]
    key = segs[1] if len(segs) > 1 else ""
    copy = headers is not None and "x-amz-copy-source" in headers
    m = method.upper()
    if not bucket:
        return "list-buckets" if m == "GET" else "service"
    if not key:
        if m == "GET":
            if "uploads" in params:
                return "list-uploads"
            return "list" if "list-type" in params else "bucket-get"
        if m == "POST" and "delete" in params:
            return "delete-objects"
        return {"HEAD": "head-bucket", "PUT": "create-bucket",
                "DELETE": "delete-bucket"}.get(m, "bucket-other")
    if m == "POST":
        if "uploads" in params:
            return "create-multipart"
        if "uploadId" in params:
            return "complete-multipart"
        return "post"
    if m == "PUT":
        if "partNumber" in params and "uploadId" in params:
            return "upload-part-copy" if copy else "upload-part"
        return "copy" if copy else "put"
    if m == "GET":
        return "list-parts" if "uploadId" in params else "get"
    if m == "HEAD":
        return "head"
    if m == "DELETE":
        return "abort-multipart" if "uploadId" in params else "delete"
    return "other"


def _upload_id(target):
    """The uploadId query parameter of a request target, or None."""
    query = target.partition("?")[2]
    if "uploadId" not in query:
        return None
    for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if k == "uploadId":
            return v
    return None


class Fault:
    """One entry of the plan; `applied` counts how often it fired."""

    def __init__(self, action, method=None, kind=None, match=None, count=1, status=None,
                 code=None, message=None, delay=0.0, body=None, forward=False,
                 retry_after=None, before_body=False):
        if action not in ACTIONS:
            raise ValueError("unknown fault action %r" % (action,))
        if count is not None and count < 0:
            raise ValueError("count must be >= 0 or None (unlimited)")
        self.action = action
        self.method = method.upper() if method else None
        self.kind = kind
        self.match = match
        self.remaining = count            # None: unlimited
        self.status = status if status is not None else (200 if action == "malformed" else 500)
        self.code = code
        self.message = message
        self.delay = float(delay)
        self.body = body
        self.forward = forward
        self.retry_after = retry_after
        self.before_body = before_body
        self.applied = 0

    def matches(self, method, target, kind):
        if self.method and self.method != method.upper():
            return False
        if self.kind and self.kind != kind:
            return False
        if self.match is not None:
            if isinstance(self.match, str):
                if self.match not in target:
                    return False
            elif not self.match.search(target):
                return False
        return True

    def __repr__(self):
        return ("Fault(%s method=%s kind=%s match=%r remaining=%s applied=%d)"
                % (self.action, self.method, self.kind,
                   self.match if isinstance(self.match, (str, type(None))) else self.match.pattern,
                   self.remaining, self.applied))


class ProxyError(Exception):
    pass


class _Conn:
    """Buffered reader over a socket, with bounded line and body reads."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def _fill(self):
        data = self.sock.recv(256 * 1024)
        if not data:
            return False
        self.buf += data
        return True

    def readline(self, limit=MAX_HEADER_BYTES):
        """A line with its CRLF; b"" at a clean end of stream."""
        start = 0
        while True:
            i = self.buf.find(b"\n", start)
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            start = len(self.buf)
            if len(self.buf) > limit:
                raise ProxyError("line too long")
            if not self._fill():
                if self.buf:
                    raise ProxyError("connection closed mid-line")
                return b""

    def read_exact(self, n):
        if n > MAX_BODY_BYTES:
            raise ProxyError("body too large")
        while len(self.buf) < n:
            if not self._fill():
                raise ProxyError("connection closed mid-body (%d of %d)" % (len(self.buf), n))
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_to_eof(self):
        while self._fill():
            if len(self.buf) > MAX_BODY_BYTES:
                raise ProxyError("body too large")
        data = bytes(self.buf)
        self.buf.clear()
        return data


class _Message:
    """A parsed request or response head plus its raw bytes."""

    def __init__(self, first, raw_head, headers):
        self.first = first               # request or status line, decoded, no CRLF
        self.raw_head = raw_head         # first line + header lines + blank line, as received
        self.headers = headers           # lower-case name -> last value
        self.body = b""                  # raw body bytes as framed on the wire
        self.payload_len = 0             # bytes of content (chunked: decoded length)


def _read_head(conn):
    """Reads a message head; None at a clean end of stream before it."""
    first = conn.readline()
    # tolerate blank lines between messages (RFC 9112 2.2)
    for _ in range(4):
        if first not in (b"\r\n", b"\n"):
            break
        first = conn.readline()
    if not first:
        return None
    raw = [first]
    headers = {}
    total = len(first)
    for _ in range(1000):
        line = conn.readline()
        if not line:
            raise ProxyError("connection closed in the headers")
        raw.append(line)
        total += len(line)
        if total > MAX_HEADER_BYTES:
            raise ProxyError("headers too large")
        if line in (b"\r\n", b"\n"):
            break
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    else:
        raise ProxyError("too many header lines")
    return _Message(first.decode("latin-1").rstrip("\r\n"), b"".join(raw), headers)


def _read_chunked(conn, msg):
    raw = []
    size = 0
    for _ in range(1000000):
        line = conn.readline()
        if not line:
            raise ProxyError("connection closed in a chunk header")
        raw.append(line)
        try:
            n = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ProxyError("bad chunk size line %r" % line[:40])
        if n == 0:
            # trailers up to the blank line
            for _ in range(1000):
                t = conn.readline()
                if not t:
                    raise ProxyError("connection closed in the trailers")
                raw.append(t)
                if t in (b"\r\n", b"\n"):
                    break
            break
        size += n
        if size > MAX_BODY_BYTES:
            raise ProxyError("body too large")
        raw.append(conn.read_exact(n + 2))
    msg.body = b"".join(raw)
    msg.payload_len = size


def _read_request_body(conn, req):
    if "chunked" in req.headers.get("transfer-encoding", "").lower():
        _read_chunked(conn, req)
        return
    n = int(req.headers.get("content-length", "0") or "0")
    req.body = conn.read_exact(n)
    req.payload_len = n


def _read_response(conn, method):
    """Reads one final response (interim 1xx answers are kept in raw_interim).
    Returns the message; .close_after tells whether framing was by EOF."""
    interim = []
    for _ in range(10):
        resp = _read_head(conn)
        if resp is None:
            raise ProxyError("upstream closed without answering")
        parts = resp.first.split(" ", 2)
        try:
            resp.status = int(parts[1])
        except (IndexError, ValueError):
            raise ProxyError("bad status line %r" % resp.first[:60])
        if 100 <= resp.status < 200 and resp.status != 101:
            interim.append(resp.raw_head)
            continue
        break
    else:
        raise ProxyError("too many interim responses")
    resp.raw_interim = b"".join(interim)
    resp.close_after = resp.headers.get("connection", "").lower() == "close"
    if method == "HEAD" or resp.status in (204, 304):
        return resp
    if "chunked" in resp.headers.get("transfer-encoding", "").lower():
        _read_chunked(conn, resp)
    elif "content-length" in resp.headers:
        n = int(resp.headers["content-length"])
        resp.body = conn.read_exact(n)
        resp.payload_len = n
    else:
        resp.body = conn.read_to_eof()
        resp.payload_len = len(resp.body)
        resp.close_after = True
    return resp


def _rst_close(sock):
    """Closes with an RST instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class FaultProxy:
    def __init__(self, upstream_host, upstream_port, max_conns=64, io_timeout=60.0,
                 idle_timeout=120.0, connect_timeout=10.0, emulate_s3=True):
        self.upstream = (upstream_host, int(upstream_port))
        self.max_conns = max_conns
        self.io_timeout = io_timeout
        self.idle_timeout = idle_timeout
        self.connect_timeout = connect_timeout
        self.port = None
        self._lsock = None
        self._lock = threading.Lock()
        self._faults = []
        self._socks = set()              # live client and upstream sockets
        self._threads = set()
        self._slots = threading.BoundedSemaphore(max_conns)
        self._stop = threading.Event()
        self._accept_thread = None
        self.seen = collections.Counter()       # (method, kind) -> requests
        self.faulted = collections.Counter()    # (action, method, kind) -> applications
        self.events = collections.deque(maxlen=5000)
        self.errors = collections.deque(maxlen=200)   # proxy-side failures (not faults)
        self.connections = 0
        self.emulate_s3 = emulate_s3
        self.completed_uploads = set()          # upload IDs completed through the proxy

    # -- plan ----------------------------------------------------------------
    def add(self, action, method=None, kind=None, match=None, count=1, **kw):
        """Appends a fault to the plan and returns it (see the module doc)."""
        f = Fault(action, method=method, kind=kind, match=match, count=count, **kw)
        with self._lock:
            self._faults.append(f)
        return f

    def clear(self):
        """Empties the plan (requests in progress keep their decision)."""
        with self._lock:
            self._faults = []

    def remove(self, fault):
        with self._lock:
            if fault in self._faults:
                self._faults.remove(fault)

    def faults(self):
        with self._lock:
            return list(self._faults)

    def pending(self):
        """Faults with applications left (unlimited ones count as pending)."""
        with self._lock:
            return [f for f in self._faults if f.remaining is None or f.remaining > 0]

    def _decide(self, method, target, kind):
        with self._lock:
            self.seen[(method, kind)] += 1
            for f in self._faults:
                if f.remaining is not None and f.remaining <= 0:
                    continue
                if not f.matches(method, target, kind):
                    continue
                if f.remaining is not None:
                    f.remaining -= 1
                f.applied += 1
                self.faulted[(f.action, method, kind)] += 1
                return f
        return None

    def _event(self, method, target, kind, action, status=None):
        with self._lock:
            self.events.append((time.monotonic(), method, target, kind, action, status))

    # -- counts ----------------------------------------------------------------
    def count(self, kind=None, method=None):
        """Requests seen of this kind and/or method."""
        with self._lock:
            return sum(n for (m, k), n in self.seen.items()
                       if (kind is None or k == kind) and (method is None or m == method))

    def count_faulted(self, action=None, kind=None, method=None):
        with self._lock:
            return sum(n for (a, m, k), n in self.faulted.items()
                       if (action is None or a == action) and (kind is None or k == kind)
                       and (method is None or m == method))

    def reset_counts(self):
        with self._lock:
            self.seen.clear()
            self.faulted.clear()
            self.events.clear()

    def event_lines(self, last=60):
        with self._lock:
            ev = list(self.events)[-last:]
        return "\n".join("%.3f %s %s [%s] %s %s" % (t, m, tg[:120], k, a, s if s else "")
                         for t, m, tg, k, a, s in ev)

    # -- lifecycle ---------------------------------------------------------------
    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(128)
        s.settimeout(0.2)
        self._lsock = s
        self.port = s.getsockname()[1]
        self._accept_thread = threading.Thread(target=self._accept_loop, name="faultproxy-accept",
                                               daemon=True)
        self._accept_thread.start()
        return self

    def close(self, timeout=10.0):
        self._stop.set()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout)
        if self._lsock is not None:
            try:
                self._lsock.close()
            except OSError:
                pass
        with self._lock:
            socks = list(self._socks)
            threads = list(self._threads)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def _track(self, sock, add):
        with self._lock:
            if add:
                self._socks.add(sock)
            else:
                self._socks.discard(sock)

    def _accept_loop(self):
        while not self._stop.is_set():
            if not self._slots.acquire(timeout=0.2):
                continue
            try:
                try:
                    c, _ = self._lsock.accept()
                except socket.timeout:
                    self._slots.release()
                    continue
            except OSError:
                self._slots.release()
                if self._stop.is_set():
                    return
                time.sleep(0.05)
                continue
            if self._stop.is_set():
                c.close()
                self._slots.release()
                return
            t = threading.Thread(target=self._serve, args=(c,), name="faultproxy-conn",
                                 daemon=True)
            with self._lock:
                self._threads.add(t)
                self.connections += 1
            t.start()

    # -- one client connection ---------------------------------------------------
    def _serve(self, sock):
        self._track(sock, True)
        rst = False
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(sock)
            for _ in range(100000):
                if self._stop.is_set():
                    break
                sock.settimeout(self.idle_timeout)
                try:
                    req = _read_head(conn)
                except (socket.timeout, ConnectionError):
                    break
                if req is None:
                    break
                sock.settimeout(self.io_timeout)
                keep, rst = self._handle(sock, conn, req)
                if not keep:
                    break
        except (ProxyError, OSError, ValueError) as e:
            if not self._stop.is_set():
                self.errors.append("client connection: %r" % (e,))
        finally:
            self._track(sock, False)
            if rst:
                _rst_close(sock)
            else:
                try:
                    sock.close()
                except OSError:
                    pass
            with self._lock:
                self._threads.discard(threading.current_thread())
            self._slots.release()

    def _handle(self, sock, conn, req):
        """Reads the body of req and answers it; returns (keep_alive, close_with_rst)."""
        parts = req.first.split(" ")
        if len(parts) != 3:
            raise ProxyError("bad request line %r" % req.first[:80])
        method, target, version = parts
        kind = s3_kind(method, target, req.headers)
        client_keep = version == "HTTP/1.1" and \
            req.headers.get("connection", "").lower() != "close"
        upload_id = _upload_id(target)
        if self.emulate_s3 and upload_id:
            with self._lock:
                gone = upload_id in self.completed_uploads
                if gone:
                    self.seen[(method, kind)] += 1
            if gone:
                # the plan is not consulted: S3 would answer this whatever happens
                _read_request_body(conn, req)
                body = self._error_xml("NoSuchUpload", "The specified upload does not exist. "
                                       "The upload ID may be invalid, or the upload may have "
                                       "been aborted or completed.", target)
                self._send_simple(sock, 404, b"" if method == "HEAD" else body, {},
                                  content_len=len(body))
                self._event(method, target, kind, "nosuchupload", 404)
                return client_keep, False

        f = self._decide(method, target, kind)
        action = f.action if f else "forward"
        if action == "reset" and f.before_body:
            self._event(method, target, kind, "reset-before-body")
            return False, True
        _read_request_body(conn, req)
        if action == "reset":
            self._event(method, target, kind, "reset")
            return False, True

        if action == "status":
            body = b"" if method == "HEAD" else self._error_body(f, target)
            extra = {}
            if f.retry_after is not None:
                extra["Retry-After"] = str(f.retry_after)
            self._send_simple(sock, f.status, body, extra,
                              content_len=len(self._error_body(f, target)))
            self._event(method, target, kind, "status", f.status)
            return client_keep, False
        if action == "malformed" and not f.forward:
            body = f.body if f.body is not None else MALFORMED_BODIES.get(kind, MALFORMED_DEFAULT)
            self._send_simple(sock, f.status, b"" if method == "HEAD" else body, {},
                              content_len=len(body))
            self._event(method, target, kind, "malformed", f.status)
            return client_keep, False
        if action == "delay":
            self._stop.wait(f.delay)

        try:
            resp = self._forward(req, method)
        except (ProxyError, OSError) as e:
            # the upstream failed: tell the client the way a store front end would
            self.errors.append("upstream %s %s: %r" % (method, target[:100], e))
            self._event(method, target, kind, action + "+upstream-error", 502)
            return False, True

        if (kind == "complete-multipart" and upload_id and resp.status == 200 and
                b"<CompleteMultipartUploadResult" in resp.body):
            with self._lock:
                self.completed_uploads.add(upload_id)
        if action == "drop_after_request":
            self._event(method, target, kind, "drop_after_request", resp.status)
            return False, True
        if action == "malformed":
            body = f.body if f.body is not None else MALFORMED_BODIES.get(kind, MALFORMED_DEFAULT)
            self._send_simple(sock, f.status, b"" if method == "HEAD" else body, {},
                              content_len=len(body))
            self._event(method, target, kind, "malformed+forwarded", resp.status)
            return client_keep, False
        if action == "truncate":
            half = len(resp.body) // 2
            sock.sendall(resp.raw_interim + resp.raw_head + resp.body[:half])
            self._event(method, target, kind, "truncate", resp.status)
            return False, False
        sock.sendall(resp.raw_interim + resp.raw_head + resp.body)
        self._event(method, target, kind, action, resp.status)
        return client_keep and not resp.close_after, False

    def _forward(self, req, method):
        up = socket.create_connection(self.upstream, timeout=self.connect_timeout)
        self._track(up, True)
        try:
            up.settimeout(self.io_timeout)
            up.sendall(req.raw_head + req.body)
            return _read_response(_Conn(up), method)
        finally:
            self._track(up, False)
            try:
                up.close()
            except OSError:
                pass

    # -- canned answers -------------------------------------------------------------
    @classmethod
    def _error_body(cls, f, target):
        code = f.code or DEFAULT_CODES.get(f.status, "InternalError")
        return cls._error_xml(code, f.message or MESSAGES.get(code, "Injected fault."), target)

    @staticmethod
    def _error_xml(code, msg, target):
        resource = target.split("?", 1)[0]
        return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
                '<Message>%s</Message><Resource>%s</Resource><RequestId>%s</RequestId>'
                '</Error>' % (code, msg, resource.replace("&", "&amp;").replace("<", "&lt;"),
                              uuid.uuid4().hex[:16].upper())).encode()

    @staticmethod
    def _send_simple(sock, status, body, extra, content_len=None):
        lines = ["HTTP/1.1 %d %s" % (status, REASONS.get(status, "Status")),
                 "Content-Type: application/xml",
                 "Content-Length: %d" % (len(body) if content_len is None else content_len),
                 "x-amz-request-id: %s" % uuid.uuid4().hex[:16].upper(),
                 "Date: %s" % time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()),
                 "Server: faultproxy"]
        for k, v in extra.items():
            lines.append("%s: %s" % (k, v))
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
