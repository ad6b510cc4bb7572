"""Reader (and a small writer) for the on-disk format of objfs's `local` provider.

The tests use this to check what really landed in a "bucket", independently of
the daemon, and to play "another client" that writes objects behind objfs's back.

Format (docs/providers.md):

* An object key K is split on '/'; each segment is encoded: '%' -> "%25", an
  empty segment -> "%", a leading '.' -> "%2E", bytes < 0x20 -> "%XX".
* The object is the file ROOT/<bucket>/<seg1>/.../<segN>/.obj.
* A .obj file holds two 4096-byte metadata slots, then the data at offset 8192.
* A slot: b"OBJFSMD1", uint64 LE seq, uint32 LE payload_len, uint32 LE crc32
  (zlib.crc32 of the payload), then the payload: lines "name=value\\n", values
  percent-encoded.  Names: etag, size, mtime (ns), content-type, m.<key> for
  user metadata (m.mode, m.uid, m.gid, m.mtime, ...).
* The valid slot with the highest seq wins.

Entries whose name starts with '.' (other than ".obj") cannot be encoded
segments, so they are the provider's private files (temporary files, multipart
uploads in progress) and are skipped.

Keys are handled as str decoded with 'surrogateescape', so a key that is not
valid UTF-8 round-trips.
"""

import hashlib
import os
import struct
import time
import zlib
from urllib.parse import quote_from_bytes, unquote_to_bytes

MAGIC = b"OBJFSMD1"
SLOT_SIZE = 4096
NSLOTS = 2
DATA_OFFSET = SLOT_SIZE * NSLOTS
_HDR = struct.Struct("<8sQII")
OBJ_NAME = b".obj"


class StoreError(Exception):
    """The store holds something that does not follow the format."""


def _kb(key):
    if isinstance(key, bytes):
        return key
    return key.encode("utf-8", "surrogateescape")


def _ks(key):
    if isinstance(key, str):
        return key
    return key.decode("utf-8", "surrogateescape")


def encode_segment(seg):
    """Encodes one key segment (bytes) into a directory name (bytes)."""
    if seg == b"":
        return b"%"
    out = bytearray()
    for i, b in enumerate(seg):
        if b == 0x25:                    # '%'
            out += b"%25"
        elif b < 0x20:
            out += b"%%%02X" % b
        elif i == 0 and b == 0x2E:       # leading '.'
            out += b"%2E"
        else:
            out.append(b)
    return bytes(out)


def decode_segment(name):
    """Inverse of encode_segment."""
    if name == b"%":
        return b""
    out = bytearray()
    i = 0
    while i < len(name):
        c = name[i]
        if c == 0x25:
            hx = name[i + 1:i + 3]
            if len(hx) != 2:
                raise StoreError("bad escape in segment %r" % name)
            try:
                out.append(int(hx, 16))
            except ValueError:
                raise StoreError("bad escape in segment %r" % name)
            i += 3
        else:
            out.append(c)
            i += 1
    return bytes(out)


def parse_slot(buf):
    """Returns (seq, {name: value-bytes}) for a valid slot, else None."""
    if len(buf) < _HDR.size:
        return None
    magic, seq, plen, crc = _HDR.unpack_from(buf, 0)
    if magic != MAGIC or plen > SLOT_SIZE - _HDR.size:
        return None
    payload = bytes(buf[_HDR.size:_HDR.size + plen])
    if len(payload) != plen or (zlib.crc32(payload) & 0xFFFFFFFF) != crc:
        return None
    meta = {}
    for line in payload.split(b"\n"):
        if not line:
            continue
        name, sep, value = line.partition(b"=")
        if not sep:
            raise StoreError("metadata line without '=': %r" % line)
        meta[name.decode("ascii", "replace")] = unquote_to_bytes(value)
    return seq, meta


def build_slot(seq, meta):
    """meta: ordered {name: str|bytes}; returns one SLOT_SIZE-byte slot."""
    lines = []
    for name, value in meta.items():
        if isinstance(value, str):
            value = value.encode("utf-8", "surrogateescape")
        lines.append(name.encode("ascii") + b"=" + quote_from_bytes(value, safe="").encode("ascii") + b"\n")
    payload = b"".join(lines)
    if len(payload) > SLOT_SIZE - _HDR.size:
        raise ValueError("metadata too large for a slot")
    hdr = _HDR.pack(MAGIC, seq, len(payload), zlib.crc32(payload) & 0xFFFFFFFF)
    return (hdr + payload).ljust(SLOT_SIZE, b"\0")


class StoredObject:
    """One object as found on disk."""

    def __init__(self, key, path, seq, meta, size):
        self.key = key                   # str (surrogateescape)
        self.path = path                 # the .obj file
        self.seq = seq
        self.raw = meta                  # {name: bytes}
        self.size = size

    def get(self, name, default=None):
        v = self.raw.get(name)
        return default if v is None else v.decode("utf-8", "surrogateescape")

    @property
    def etag(self):
        return self.get("etag")

    @property
    def mtime_ns(self):
        v = self.get("mtime")
        return int(v) if v is not None else None

    @property
    def content_type(self):
        return self.get("content-type")

    @property
    def user_meta(self):
        """{key: str} of the m.* entries, without the 'm.' prefix."""
        return {k[2:]: v.decode("utf-8", "surrogateescape")
                for k, v in self.raw.items() if k.startswith("m.")}

    def read(self):
        with open(self.path, "rb") as f:
            f.seek(DATA_OFFSET)
            data = f.read(self.size + 1)
        if len(data) != self.size:
            raise StoreError("%s: size=%d in metadata, %d data bytes on disk"
                             % (self.path, self.size, len(data)))
        return data

    def sha256(self):
        return hashlib.sha256(self.read()).hexdigest()

    def __repr__(self):
        return "StoredObject(%r, size=%d, etag=%r, meta=%r)" % (
            self.key, self.size, self.etag, self.user_meta)


def read_obj_file(path, key=""):
    """Parses one .obj file; None when it has no valid slot (torn/being written)."""
    try:
        with open(path, "rb") as f:
            head = f.read(DATA_OFFSET)
    except FileNotFoundError:
        return None
    best = None
    for i in range(NSLOTS):
        s = parse_slot(head[i * SLOT_SIZE:(i + 1) * SLOT_SIZE])
        if s is not None and (best is None or s[0] > best[0]):
            best = s
    if best is None:
        return None
    seq, meta = best
    try:
        size = int(meta.get("size", b"-1"))
    except ValueError:
        raise StoreError("%s: bad size %r" % (path, meta.get("size")))
    if size < 0:
        raise StoreError("%s: no size in metadata" % path)
    return StoredObject(_ks(key), path, seq, meta, size)


class LocalStore:
    """The object store directory of a `local` provider (its `root`)."""

    def __init__(self, root):
        self.root = os.fspath(root)

    # -- paths -------------------------------------------------------------
    def bucket_dir(self, bucket):
        return os.path.join(os.fsencode(self.root), os.fsencode(bucket))

    def obj_path(self, bucket, key):
        segs = _kb(key).split(b"/")
        return os.path.join(self.bucket_dir(bucket), *[encode_segment(s) for s in segs], OBJ_NAME)

    # -- reading -----------------------------------------------------------
    def buckets(self):
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(n for n in names
                      if not n.startswith(".") and os.path.isdir(os.path.join(self.root, n)))

    def _walk(self, d, segs, out, limit):
        try:
            entries = sorted(os.listdir(d))
        except (FileNotFoundError, NotADirectoryError):
            return
        for name in entries:
            p = os.path.join(d, name)
            if name == OBJ_NAME:
                if segs:
                    out.append((b"/".join(segs), p))
                continue
            if name.startswith(b"."):
                continue                  # provider-private file
            if os.path.isdir(p):
                if len(out) > limit:
                    raise StoreError("more than %d objects" % limit)
                self._walk(p, segs + [decode_segment(name)], out, limit)

    def _raw_list(self, bucket, limit=200000):
        out = []
        self._walk(self.bucket_dir(bucket), [], out, limit)
        return out

    def objects(self, bucket, prefix=""):
        """{key: StoredObject} of all complete objects of bucket under prefix."""
        pb = _kb(prefix)
        res = {}
        for kb, path in self._raw_list(bucket):
            if not kb.startswith(pb):
                continue
            o = read_obj_file(path, kb)
            if o is not None:
                res[o.key] = o
        return res

    def keys(self, bucket, prefix=""):
        return sorted(self.objects(bucket, prefix))

    def head(self, bucket, key):
        """StoredObject or None."""
        return read_obj_file(self.obj_path(bucket, key), _kb(key))

    def read(self, bucket, key):
        o = self.head(bucket, key)
        if o is None:
            raise FileNotFoundError("%s/%s not in store" % (bucket, _ks(key)))
        return o.read()

    def exists(self, bucket, key):
        return self.head(bucket, key) is not None

    def snapshot(self, buckets=None):
        """{(bucket, key): (etag, size, sha256, user_meta)} of every object."""
        snap = {}
        for b in (buckets if buckets is not None else self.buckets()):
            for k, o in self.objects(b).items():
                snap[(b, k)] = (o.etag, o.size, o.sha256(), tuple(sorted(o.user_meta.items())))
        return snap

    # -- writing (another client of the store) -------------------------------
    def put(self, bucket, key, data, mtime_ns=None, content_type="application/octet-stream",
            user_meta=None, etag=None, fsync=True):
        """Writes an object like another tool would: atomically (rename into place)."""
        if mtime_ns is None:
            mtime_ns = time.time_ns()
        meta = {
            "etag": etag or hashlib.md5(data).hexdigest(),
            "size": str(len(data)),
            "mtime": str(int(mtime_ns)),
            "content-type": content_type,
        }
        for k, v in (user_meta or {}).items():
            meta["m." + k] = v
        blob = build_slot(1, meta) + b"\0" * SLOT_SIZE + data
        path = self.obj_path(bucket, key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmpdir = os.path.join(os.path.dirname(os.fsencode(os.path.abspath(self.root))),
                              b".localstore-tmp")
        os.makedirs(tmpdir, exist_ok=True)
        tmp = os.path.join(tmpdir, b"obj.%d.%d" % (os.getpid(), time.monotonic_ns()))
        with open(tmp, "wb") as f:
            f.write(blob)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
        return meta["etag"]

    def delete(self, bucket, key):
        try:
            os.unlink(self.obj_path(bucket, key))
        except FileNotFoundError:
            pass
