#!/usr/bin/python3
"""objfs on gcs and azure beside rclone mount, one GCS test server and one Azurite.

Run on demand (`make bench-cloud`, or bench/run-cloud.sh); never in CI. Needs
root (drop_caches, mounts), /dev/fuse, fusermount3, node with tests/servers
installed (`make deps`: azurite), the GCS test server
(../shared/tools/gcs-test-server or $OBJFS_GCS_TEST_SERVER), rclone
(tools/install-bench-deps.sh) and build/objfs (`make`).

The machinery (mounts, timed commands, page-cache handling, inputs, number
formats) is bench/s3bench.py's, imported; the servers and the store readers
are the integration tests' (tests/integration/gcsserver.py, azureserver.py).

Systems, each writing to its own bucket/container:
  objfs-gcs     objfs, `type = gcs`, on the GCS test server
  rclone-gcs    rclone mount, `google cloud storage` backend, the same server
                (endpoint + service_account_file, whose token_uri is the
                server's); probed first: with rclone 1.60 it cannot upload to
                this server, and the reason is printed (see probe_rclone_gcs)
  objfs-azure   objfs, `type = azure`, on Azurite (account devstoreaccount1,
                its well-known key, Shared Key)
  rclone-azure  rclone mount, `azureblob` backend, `use_emulator = true` with
                `endpoint` = the same Azurite (Azurite is on a free port, not
                on 10000)

ONE run; the phases are interleaved (each runs for every system before the
next starts), so the machine's noise hits all alike; ratios are within it:

  1. a SIZE MiB file (default 256) of random data written with dd bs=1M:
     time until dd returns (close), and until the object is complete in the
     store (its size polled, then its SHA-256 checked, untimed);
  2. a cold sequential read of it with dd bs=1M after a remount with a fresh
     cache (objfs: empty cache_dir; rclone: a fresh --cache-dir) and
     drop_caches; content compared with cmp, untimed;
  3. FILES files of 4 KiB (default 1000) from a tarball: until tar returns,
     and until all are listed in the store with their size;
  4. `ls -l` of that directory cold (fresh cache), warm (again at once) and
     after a remount that keeps the cache;
  5. the peak RSS of each daemon (VmHWM, the highest over its restarts).

Every wait is bounded; mounts and servers are cleaned up on any exit;
servers listen on 127.0.0.1 only.
"""

import argparse
import atexit
import collections
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import s3bench                                          # noqa: E402
from s3bench import BenchError, Client, Mount, MIB  # noqa: E402
from s3bench import drop_caches, log, mounted, problem, settle, tail, timed  # noqa: E402

CLIENTS = ("objfs-gcs", "rclone-gcs", "objfs-azure", "rclone-azure")
TITLES = {"objfs-gcs": "objfs gcs", "rclone-gcs": "rclone gcs",
          "objfs-azure": "objfs azure", "rclone-azure": "rclone azure"}
PROVIDER = {c: c.split("-")[1] for c in CLIENTS}
# Azurite's well-known development account: what rclone's use_emulator signs with
EMULATOR_ACCOUNT = "devstoreaccount1"
EMULATOR_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPT"
                "Otr/KBHBeksoGMGw==")
LAND_TIMEOUT = 300       # s, default bound for an object (or all small files) to land
POLL = 0.02              # s between polls of one object's size
LIST_POLL = 0.05         # s between listings
PROBE_TIMEOUT = 120      # s, for each rclone command of the gcs probe
GO_CHUNK = 16 * MIB      # google-api-go-client's resumable chunk (and multipart cut-off)


def say(msg):
    log("bench-cloud: " + msg)


def die(msg):
    say(msg)
    sys.exit(1)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(8 * MIB), b""):
            h.update(b)
    return h.hexdigest()


def render_ini(sections):
    out = []
    for sect, kv in sections.items():
        out.append("[%s]" % sect)
        out += ["%s = %s" % (k, v) for k, v in kv.items()]
    return "\n".join(out) + "\n"


def rclone_env():
    """rclone reads RCLONE_* and GOOGLE_APPLICATION_CREDENTIALS: none of that here."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("RCLONE_", "AWS_", "AZURE_", "GOOGLE_"))}


# ---------------------------------------------------------------- the stores

def listed_sizes(store, bucket, prefix):
    """{key: size} from the store's listing.

    GcsStore.objects() builds its objects from the listing; AzureStore's
    objects() heads every blob, so for Azurite the List Blobs XML is read
    (AzureStore._list) for the sizes it already carries."""
    if hasattr(store, "sizes"):
        return store.sizes(bucket, prefix)
    if hasattr(store, "_list"):
        return {b.findtext("Name"): int(b.findtext("Properties/Content-Length") or -1)
                for b in store._list(bucket, prefix)}
    return {k: o.size for k, o in store.objects(bucket, prefix).items()}


def wait_object(store, bucket, key, size, t0, timeout):
    """Polls KEY until the store has it with SIZE bytes (a GCS object and an
    Azure block blob appear only once complete); seconds since T0."""
    deadline = time.monotonic() + timeout
    o = None
    for _ in range(int(timeout / POLL) + 2):
        try:
            o = store.head(bucket, key)
        except Exception as e:          # a store hiccup is retried until the deadline
            o = None
            say("head %s/%s: %s" % (bucket, key, e))
        if o is not None and o.size == size:
            return time.monotonic() - t0
        if time.monotonic() > deadline:
            break
        time.sleep(POLL)
    raise BenchError("%s/%s not complete after %d s (last: %r)" % (bucket, key, timeout, o))


def wait_listed(store, bucket, keys, size, t0, timeout):
    """Polls the listing until every key is there with SIZE bytes."""
    prefix = os.path.commonprefix(keys)
    prefix = prefix[:prefix.rfind("/") + 1]
    deadline = time.monotonic() + timeout
    missing = len(keys)
    for _ in range(int(timeout / LIST_POLL) + 2):
        try:
            got = listed_sizes(store, bucket, prefix)
            missing = sum(1 for k in keys if got.get(k) != size)
        except Exception as e:
            say("list %s/%s: %s" % (bucket, prefix, e))
        if not missing:
            return time.monotonic() - t0
        if time.monotonic() > deadline:
            break
        time.sleep(LIST_POLL)
    raise BenchError("%d of %d objects under %s/%s not listed with %d bytes after %d s"
                     % (missing, len(keys), bucket, prefix, size, timeout))


# ---------------------------------------------------------------- the systems

class ObjfsCloud(Client):
    """objfs with one tenant, acme, on the provider that SECTIONS describe."""

    def __init__(self, name, args, work, sections, store):
        super().__init__(name, "bench-objfs")
        self.store = store
        self.cache = os.path.join(work, name + "-cache")
        self.mnt = os.path.join(work, "mnt-" + name)
        self.conf = os.path.join(work, name + ".conf")
        cfg = collections.OrderedDict()
        cfg["objfs"] = collections.OrderedDict(sections.get("objfs", {}))
        cfg["objfs"].update([
            ("cache_dir", self.cache),
            ("control_socket", os.path.join(work, name + ".sock")),
            ("default_provider", "main"),
            ("log_level", args.objfs_log_level),
            ("chunk_size", "8M"),
            ("upload_workers", "4"),
            ("upload_parallel_parts", "4"),
            ("read_cache", "auto"),
            ("drain_timeout", "60"),
        ])
        cfg["provider main"] = collections.OrderedDict(sections["provider main"])
        if PROVIDER[name] == "gcs" and args.gcs_parallel_composite:
            cfg["provider main"]["parallel_composite"] = "true"
        cfg["tenant acme"] = collections.OrderedDict([("bucket", self.bucket)])
        with open(self.conf, "w") as f:
            f.write(render_ini(cfg))
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OBJFS_", "GOOGLE_", "AZURE_"))}
        self.mount = Mount(name, [args.objfs, "-f", "--config", self.conf, self.mnt],
                           self.mnt, os.path.join(work, "logs", name + ".log"), env=env)

    def path(self, rel):
        return os.path.join(self.mnt, "acme", rel)

    def empty_cache(self):
        shutil.rmtree(self.cache, ignore_errors=True)


class RcloneCloud(Client):
    """rclone mount --vfs-cache-mode writes of one bucket, rclone's defaults otherwise
    (write-back 5 s after close)."""

    def __init__(self, name, work, remote, store):
        super().__init__(name, "bench-rclone")
        self.store = store
        self.mnt = os.path.join(work, "mnt-" + name)
        self.cache = os.path.join(work, name + "-cache")
        self.conf = os.path.join(work, name + ".conf")
        with open(self.conf, "w") as f:
            f.write(render_ini({"bench": remote}))
        os.chmod(self.conf, 0o600)
        self.mount = Mount(name, ["rclone", "mount", "bench:" + self.bucket, self.mnt,
                                  "--config", self.conf, "--cache-dir", self.cache,
                                  "--vfs-cache-mode", "writes", "--log-level", "INFO"],
                           self.mnt, os.path.join(work, "logs", name + ".log"), env=rclone_env())

    def path(self, rel):
        return os.path.join(self.mnt, rel)

    def empty_cache(self):
        shutil.rmtree(self.cache, ignore_errors=True)


def rclone_gcs_remote(server, key_file):
    # The key file's token_uri is the test server's /token, which rclone's
    # JWT config (golang.org/x/oauth2/google) uses as it is; endpoint replaces
    # https://storage.googleapis.com/storage/v1/ for the JSON API, and uploads
    # and media links follow it. bucket_policy_only: no ACLs on uploads.
    return collections.OrderedDict([
        ("type", "google cloud storage"),
        ("service_account_file", key_file),
        ("endpoint", server.endpoint + "/storage/v1/"),
        ("project_number", "objfs-test"),
        ("bucket_policy_only", "true"),
    ])


def rclone_azure_remote(server):
    """use_emulator signs with devstoreaccount1's well-known key; in rclone 1.60
    `endpoint` then replaces http://127.0.0.1:10000/devstoreaccount1 (with
    account/key, `endpoint` is only a host suffix: https://ACCOUNT.ENDPOINT).
    Another account goes through an account SAS of the same Azurite."""
    if server.account == EMULATOR_ACCOUNT and server.key == EMULATOR_KEY:
        return collections.OrderedDict([("type", "azureblob"), ("use_emulator", "true"),
                                        ("endpoint", server.endpoint)])
    return collections.OrderedDict([("type", "azureblob"),
                                    ("sas_url", server.endpoint + "?" +
                                     server.account_sas(ttl=24 * 3600))])


def probe_rclone_gcs(work, server, key_file, store):
    """Can rclone's gcs backend write to the test server? None if so, else why.

    Two uploads with `rclone copyto`: 6 bytes (google-api-go-client sends
    anything below its 16 MiB chunk as one multipart/related upload) and
    16 MiB + 1 byte (a resumable upload in 16 MiB chunks)."""
    d = os.path.join(work, "rclone-gcs-probe")
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "rclone.conf")
    with open(conf, "w") as f:
        f.write(render_ini({"probe": rclone_gcs_remote(server, key_file)}))
    os.chmod(conf, 0o600)
    small, big = os.path.join(d, "small"), os.path.join(d, "big")
    with open(small, "wb") as f:
        f.write(b"hello\n")
    with open(big, "wb") as f:
        f.write(os.urandom(GO_CHUNK + 1))
    store.create_bucket("rclone-probe")
    why = []
    for src, what in ((small, "a 6-byte file (one multipart upload)"),
                      (big, "a 16 MiB + 1 byte file (a resumable upload)")):
        try:
            r = subprocess.run(["rclone", "--config", conf, "--retries", "1",
                                "--low-level-retries", "1", "copyto", src,
                                "probe:rclone-probe/" + os.path.basename(src)],
                               capture_output=True, timeout=PROBE_TIMEOUT, env=rclone_env())
            err, rc = r.stderr.decode(errors="replace"), r.returncode
        except subprocess.TimeoutExpired:
            err, rc = "timed out after %d s" % PROBE_TIMEOUT, -1
        if rc == 0:
            o = store.head("rclone-probe", os.path.basename(src))
            if o is not None and o.size == os.path.getsize(src):
                continue
            err = "copied, but the store has %r" % o
        if "sizes differ" in err:
            why.append(
                "%s: the server stored it 2 bytes longer and rclone deleted it ('corrupted on "
                "transfer: sizes differ'). google-api-go-client sends the media part of a "
                "multipart/related upload without part headers; the test server's parser "
                "then keeps the CRLF that ends the empty header block as data "
                "(gcs-test-server.js parseMultipart)" % what)
        elif "unexpected 308" in err:
            why.append(
                "%s: rclone failed with 'unexpected 308 response status code'. The Go client "
                "sends `X-GUploader-No-308: yes` with every chunk, to which GCS answers an "
                "incomplete upload with 200 and `X-HTTP-Status-Code-Override: 308`; the test "
                "server answers a plain 308, which the client takes as an error" % what)
        else:
            last = [ln for ln in err.splitlines() if ln.strip()][-3:]
            why.append("%s: rclone exit %d: %s" % (what, rc, " / ".join(last)))
    shutil.rmtree(d, ignore_errors=True)
    if not why:
        return None
    return ("rclone %s's `google cloud storage` backend can be pointed at the GCS test server "
            "(endpoint = %s/storage/v1/, service_account_file whose token_uri is the server's; "
            "its token grant and listings work) but cannot upload to it: %s. Every file of the "
            "benchmark is one of these two kinds, so rclone-gcs is left out."
            % (rclone_version(), server.endpoint, "; ".join(why)))


def rclone_version():
    try:
        r = subprocess.run(["rclone", "version"], capture_output=True, timeout=30)
        return r.stdout.decode(errors="replace").split()[1]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


# ---------------------------------------------------------------- report

ROWS = [
    ("{S} MiB write: until close (dd returns)", "write_close", "mib"),
    ("{S} MiB write: until complete in the store", "write_landed", "mib"),
    ("{S} MiB cold sequential read", "read", "mib"),
    ("untar {N} x 4 KiB: until tar returns", "untar", "files"),
    ("untar {N} x 4 KiB: until all listed in the store", "untar_listed", "files"),
    ("ls -l {N} files: cold (empty cache)", "ls_cold", "secs"),
    ("ls -l {N} files: warm", "ls_warm", "secs"),
    ("ls -l {N} files: after remount (cache kept)", "ls_remount", "secs"),
    ("peak RSS (VmHWM, highest over restarts)", "rss", "rss"),
]


def ratio(num, den):
    if not isinstance(num, (int, float)) or not isinstance(den, (int, float)) or den <= 0:
        return None
    return num / den


def report(res, clients, args, info, skipped):
    S, N = args.size_mib, args.files
    cols = []          # (title, fn(key) -> cell)
    for prov in ("gcs", "azure"):
        o, r = "objfs-" + prov, "rclone-" + prov
        if o in clients:
            cols.append((TITLES[o], o, None))
        if r in clients:
            cols.append((TITLES[r], r, None))
        if o in clients and r in clients:
            cols.append(("%s: rclone / objfs" % prov, r, o))
    hdr = ["measurement"] + [c[0] for c in cols]
    table = []
    for label, key, kind in ROWS:
        row = [label.format(S=S, N=N)]
        for _, a, b in cols:
            if b is None:
                row.append(s3bench.fmt(res.get(a, {}).get(key), kind, args))
            else:
                x = ratio(res.get(a, {}).get(key), res.get(b, {}).get(key))
                row.append("—" if x is None else "%.2fx" % x)
        table.append(row)

    def get(c, k):
        return res.get(c, {}).get(k)

    # The S3 benchmark's targets (issue 4), with rclone in s3fs's place: the
    # issue sets no separate figures for gcs and azure.
    targets = []
    for prov in ("gcs", "azure"):
        o, r = "objfs-" + prov, "rclone-" + prov
        if o not in clients:
            continue
        rel = r in clients
        checks = [
            ("cold read vs rclone", ratio(get(r, "read"), get(o, "read")), ">= 1.0x",
             lambda v: v >= 1.0, "x", True),
            ("large file in the store vs rclone", ratio(get(r, "write_landed"),
                                                        get(o, "write_landed")),
             ">= 1.5x", lambda v: v >= 1.5, "x", True),
            ("untar returns vs rclone", ratio(get(r, "untar"), get(o, "untar")), ">= 10x",
             lambda v: v >= 10, "x", True),
            ("untar all listed in the store vs rclone",
             ratio(get(r, "untar_listed"), get(o, "untar_listed")), ">= 3x",
             lambda v: v >= 3, "x", True),
            ("ls -l after remount", get(o, "ls_remount"), "< 50 ms", lambda v: v < 0.050,
             "s", False),
            ("peak RSS", get(o, "rss"), "< 100 MiB", lambda v: v < 100 * 1024, "rss", False),
        ]
        for name, v, want, ok, unit, needs_rclone in checks:
            if v is None:
                verdict = ("n/a: rclone %s not run" % prov) if needs_rclone and not rel else "n/a"
                shown = "—"
            else:
                verdict = "met" if ok(v) else "MISSED"
                shown = {"x": "%.2fx" % v, "s": s3bench.fmt_secs(v),
                         "rss": s3bench.fmt(v, "rss", args)}[unit]
            targets.append(("objfs %s: %s" % (prov, name), shown, want, verdict))

    with open("/proc/loadavg") as f:
        load_end = " ".join(f.read().split()[:3])
    vers = info["versions"]
    mach = ("machine: %d CPUs (%s), %.1f GiB RAM, %s, kernel %s; load at start %s, at end %s; "
            "drop_caches %s; gcs-test-server (node %s) and azurite %s on 127.0.0.1; %s"
            % (info["nproc"], info.get("cpu", "?"), info["ram_gib"], info["df"], info["kernel"],
               info["loadavg_at_start"], load_end,
               "used" if s3bench.DROP_CACHES_OK[0] else "NOT permitted",
               vers.get("node"), vers.get("azurite"), vers.get("rclone")))
    foot = ("Ratios are rclone / objfs on the same store, from this one run: > 1 means objfs "
            "is faster (or, for RSS, smaller). objfs: chunk_size 8M, 4 upload workers, "
            "read_cache auto%s. rclone: --vfs-cache-mode writes, its defaults otherwise "
            "(uploads 5 s after close). Targets: the S3 benchmark's (issue 4), with rclone in "
            "s3fs's place." % ("; gcs parallel_composite = true" if args.gcs_parallel_composite
                               else "; gcs resumable uploads (parallel_composite off)"))
    notes = ["%s not run: %s" % (TITLES[c], why) for c, why in skipped.items()]

    w = [max(len(r[i]) for r in [hdr] + table) for i in range(len(hdr))]
    text = ["  ".join(h.ljust(w[i]) for i, h in enumerate(hdr)),
            "  ".join("-" * w[i] for i in range(len(hdr)))]
    text += ["  ".join(c.ljust(w[i]) for i, c in enumerate(r)) for r in table]
    text += ["", "Targets:"]
    tw = max([len(t[0]) for t in targets] + [10])
    for name, v, want, verdict in targets:
        text.append("  %s  %9s  target %-9s %s" % (name.ljust(tw), v, want, verdict))
    text += [""] + notes + [foot, mach]

    md = ["| " + " | ".join(hdr) + " |", "|" + "|".join("---" for _ in hdr) + "|"]
    md += ["| " + " | ".join(r) + " |" for r in table]
    md += ["", "| target | measured | wanted | |", "|---|---|---|---|"]
    md += ["| %s | %s | %s | %s |" % t for t in targets]
    md += [""] + ["- " + n for n in notes] + ["", foot, "", mach]
    return "\n".join(text), "\n".join(md) + "\n", targets


# ---------------------------------------------------------------- main

def parse_only(spec):
    groups = {"gcs": ["objfs-gcs", "rclone-gcs"], "azure": ["objfs-azure", "rclone-azure"],
              "objfs": ["objfs-gcs", "objfs-azure"], "rclone": ["rclone-gcs", "rclone-azure"],
              "all": list(CLIENTS)}
    out = []
    for c in spec.split(","):
        c = c.strip()
        for x in groups.get(c, [c]):
            if x not in CLIENTS:
                die("--only: unknown system %r (%s, or gcs, azure, objfs, rclone)"
                    % (c, ", ".join(CLIENTS)))
            if x not in out:
                out.append(x)
    return [c for c in CLIENTS if c in out]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default=os.environ.get("OBJFS_BENCH_CLOUD_DIR",
                                                     "/var/tmp/objfs-cloudbench"),
                    help="scratch directory on a real disk (default /var/tmp/objfs-cloudbench)")
    ap.add_argument("--only", default="all",
                    help="comma-separated subset of %s (or gcs, azure, objfs, rclone)"
                    % ",".join(CLIENTS))
    ap.add_argument("--size", "--size-mib", dest="size_mib", type=int, default=256,
                    help="large file, MiB (default 256)")
    ap.add_argument("--files", type=int, default=1000, help="small files (default 1000)")
    ap.add_argument("--objfs", default=os.path.join(REPO, "build", "objfs"))
    ap.add_argument("--objfs-log-level", default="info",
                    choices=("error", "warn", "info", "debug"))
    ap.add_argument("--rclone-gcs", default="auto", choices=("auto", "on", "off"),
                    help="auto: probe whether rclone's gcs backend can upload to the test "
                    "server and leave it out, saying why, if it cannot (default); on: run it "
                    "regardless; off: leave it out")
    ap.add_argument("--gcs-parallel-composite", action="store_true",
                    help="objfs gcs with parallel_composite = true")
    ap.add_argument("--land-timeout", type=int, default=LAND_TIMEOUT,
                    help="seconds to wait for a file or the small files to land (default %d)"
                    % LAND_TIMEOUT)
    ap.add_argument("--out", help="also write the table (markdown) to this file")
    ap.add_argument("--json", help="also write every figure to this file")
    ap.add_argument("--no-verify", action="store_true",
                    help="skip the untimed content checks (SHA-256 in the store, cmp of reads)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory's data")
    args = ap.parse_args()

    only = parse_only(args.only)
    if args.size_mib < 1 or args.files < 1 or args.land_timeout < 1:
        die("--size, --files and --land-timeout must be positive")
    if os.geteuid() != 0:
        die("needs root (drop_caches, FUSE mounts)")
    if not os.path.exists("/dev/fuse"):
        die("needs /dev/fuse")
    need = {"node", "dd", "tar", "ls", "cmp", "fusermount3", "openssl"}
    if any(c.startswith("rclone") for c in only):
        need.add("rclone")
    for tool in sorted(need):
        if shutil.which(tool) is None:
            die("needs %s (%s)" % (tool, "tools/install-bench-deps.sh" if tool == "rclone"
                                   else "make deps"))
    if any(c.startswith("objfs") for c in only) and not os.access(args.objfs, os.X_OK):
        die("no %s: run make first" % args.objfs)
    try:
        from gcsserver import GcsServer, GcsStore, gcs_sections, server_dir
        from azureserver import AzureServer, AzureStore, azure_sections, AZURITE
    except ImportError as e:
        die("cannot import the test servers' helpers from tests/integration: %s" % e)
    want_gcs = any(PROVIDER[c] == "gcs" for c in only)
    want_azure = any(PROVIDER[c] == "azure" for c in only)
    if want_gcs:
        try:
            server_dir()
        except RuntimeError as e:
            die(str(e))
    if want_azure and not os.path.exists(AZURITE):
        die("azurite is not installed: run `make deps` (npm ci in tests/servers)")

    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    scratch = ["logs", "gcs", "azure"] + [c + "-cache" for c in CLIENTS] + \
              ["mnt-" + c for c in CLIENTS]
    for d in scratch:
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

    gcs = azure = None
    stores = {}

    def cleanup():
        for m in list(Mount.active):
            try:
                m.kill()
            except Exception as e:      # keep cleaning the others
                say("cleanup of %s: %s" % (m.mnt, e))
        for s in (gcs, azure):
            if s is not None:
                try:
                    s.close()
                except Exception as e:
                    say("cleanup of a server: %s" % e)
        for p in ("gcs-server.dir", "azurite.pid"):
            try:
                os.unlink(os.path.join(work, p))
            except OSError:
                pass

    atexit.register(cleanup)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda n, f: (say("signal %d, cleaning up" % n), sys.exit(128 + n)))

    t_start = time.monotonic()
    info = s3bench.machine_info(work)
    info["versions"] = {k: info["versions"].get(k) for k in ("rclone", "node")}
    try:
        with open(os.path.join(os.path.dirname(os.path.dirname(AZURITE)), "azurite",
                               "package.json")) as f:
            info["versions"]["azurite"] = json.load(f).get("version")
    except (OSError, ValueError):
        info["versions"]["azurite"] = "?"
    say("machine %s" % json.dumps(info))
    say("making inputs (%d MiB random file, tarball of %d x 4 KiB)" % (args.size_mib, args.files))
    big, _, tarball, members = s3bench.make_inputs(work, args.size_mib, args.files)
    big_sha = sha256_of(big)
    S, N = args.size_mib, args.files

    clients = {}
    skipped = {}
    if want_gcs:
        try:
            gcs = GcsServer(os.path.join(work, "gcs"), debug=False).start()
        except RuntimeError as e:
            die(str(e))
        with open(os.path.join(work, "gcs-server.dir"), "w") as f:
            f.write(gcs.dir + "\n")         # run-cloud.sh's safety net: stop.sh DIR
        stores["gcs"] = GcsStore(gcs)
        say("gcs-test-server on %s" % gcs.endpoint)
        if "objfs-gcs" in only:
            clients["objfs-gcs"] = ObjfsCloud("objfs-gcs", args, work, gcs_sections(
                gcs, os.path.join(work, "gcs", "cred-objfs")), stores["gcs"])
        if "rclone-gcs" in only:
            key = gcs.credentials_file(os.path.join(work, "gcs", "rclone-sa.json"))
            why = None
            if args.rclone_gcs == "off":
                why = "left out (--rclone-gcs off)"
            elif args.rclone_gcs == "auto":
                say("probing rclone's gcs backend against the test server")
                why = probe_rclone_gcs(work, gcs, key, stores["gcs"])
            if why:
                skipped["rclone-gcs"] = why
                say("rclone gcs not run: " + why)
            else:
                clients["rclone-gcs"] = RcloneCloud("rclone-gcs", work,
                                                    rclone_gcs_remote(gcs, key), stores["gcs"])
    if want_azure:
        # devstoreaccount1 and its well-known key: the account rclone's
        # use_emulator signs for (the "same Azurite (use_emulator)")
        azure = AzureServer(os.path.join(work, "azure"), account=EMULATOR_ACCOUNT,
                            key=EMULATOR_KEY)
        try:
            azure.start()
        except RuntimeError as e:
            die(str(e))
        with open(os.path.join(work, "azurite.pid"), "w") as f:
            f.write("%d\n" % azure.proc.pid)
        stores["azure"] = AzureStore(azure)
        say("azurite on %s" % azure.endpoint)
        if "objfs-azure" in only:
            clients["objfs-azure"] = ObjfsCloud("objfs-azure", args, work, azure_sections(
                azure, os.path.join(work, "azure", "cred-objfs")), stores["azure"])
        if "rclone-azure" in only:
            clients["rclone-azure"] = RcloneCloud("rclone-azure", work,
                                                  rclone_azure_remote(azure), stores["azure"])
    if not clients:
        die("nothing to run")
    for c in clients.values():
        c.store.create_bucket(c.bucket)
    res = {c: {} for c in clients}

    def step(what, fn):
        """Runs FN(client) for every system still in the race, in order."""
        say("%s (%.0f s so far)" % (what, time.monotonic() - t_start))
        for name in CLIENTS:
            c = clients.get(name)
            if c is None or c.failed:
                continue
            try:
                fn(c)
            except BenchError as e:
                c.failed = "%s: %s" % (what, e)
                errs = []
                if c.mount is not None:     # the daemon's own last words, if any
                    errs = [ln for ln in tail(c.mount.logpath, 400).splitlines()
                            if " ERROR " in ln or " objfs error: " in ln][-2:]
                problem("%s failed at %s: %s%s" % (TITLES[name], what, e,
                                                    "".join("\n" + ln for ln in errs)))
                try:
                    if c.mount is not None:
                        c.mount.kill()
                except Exception as e2:
                    say("cleanup after the failure: %s" % e2)

    def put(c, key, value):
        res[c.name][key] = value
        say("  %-12s %-13s %s" % (c.name, key, "%.3f" % value
                                  if isinstance(value, (int, float)) else value))

    step("mount", lambda c: c.start())

    # ---- 1. the large file
    def write(c):
        settle(big)
        t0 = time.monotonic()
        put(c, "write_close", timed(["dd", "if=" + big, "of=" + c.path("big.bin"), "bs=1M"]))
        put(c, "write_landed", wait_object(c.store, c.bucket, "big.bin", S * MIB, t0,
                                           args.land_timeout))

    def verify_landed(c):
        if args.no_verify:
            return
        o = c.store.head(c.bucket, "big.bin")
        got = o.sha256() if o is not None else None
        if got != big_sha:
            raise BenchError("the object in the store differs from the file written "
                             "(sha256 %s, want %s)" % (got, big_sha))

    step("%d MiB write" % S, write)
    step("check what landed (untimed)", verify_landed)

    # ---- 2. cold read
    def read(c):
        drop_caches()
        put(c, "read", timed(["dd", "if=" + c.path("big.bin"), "of=/dev/null", "bs=1M"]))

    def verify_read(c):
        if args.no_verify:
            return
        r = subprocess.run(["cmp", big, c.path("big.bin")], capture_output=True,
                           timeout=s3bench.CMD_TIMEOUT)
        if r.returncode != 0:
            raise BenchError("content read back differs: %s"
                             % (r.stdout + r.stderr).decode(errors="replace").strip())

    step("remount, empty caches", lambda c: c.remount(fresh=True))
    step("%d MiB cold read" % S, read)
    step("verify the read (untimed)", verify_read)

    # ---- 3. untar, into each system's root (as bench-s3 does)
    names = sorted(members)

    def untar(c):
        settle(tarball)
        t0 = time.monotonic()
        put(c, "untar", timed(["tar", "-C", c.path(""), "-xf", tarball]))
        put(c, "untar_listed", wait_listed(c.store, c.bucket, names, 4096, t0,
                                           args.land_timeout))

    step("untar %d files" % N, untar)

    # ---- 4. ls -l cold, warm, after a remount that keeps the cache
    def ls_check(c):
        r = subprocess.run(["ls", "-l", c.path("small")], capture_output=True, timeout=600)
        lines = len(r.stdout.splitlines())
        if r.returncode != 0 or lines != N + 1:
            raise BenchError("ls -l: status %d, %d lines, want %d" % (r.returncode, lines, N + 1))

    def ls_cold(c):
        put(c, "ls_cold", timed(["ls", "-l", c.path("small")]))
        put(c, "ls_warm", timed(["ls", "-l", c.path("small")]))
        ls_check(c)

    def ls_remount(c):
        put(c, "ls_remount", timed(["ls", "-l", c.path("small")]))
        ls_check(c)

    step("remount, empty caches", lambda c: c.remount(fresh=True))
    step("ls -l cold and warm", ls_cold)
    step("remount, caches kept", lambda c: c.remount(fresh=False))
    step("ls -l after remount", ls_remount)

    # ---- 5. peak RSS: read at each stop; the last stop here
    step("unmount", lambda c: c.stop())
    for name, c in clients.items():
        rss = c.peak_rss_kib()
        if rss is not None:
            res[name]["rss"] = rss
    elapsed = time.monotonic() - t_start

    for name in clients:
        if not name.startswith("objfs"):
            continue
        path = os.path.join(work, "logs", name + ".log")
        lines = open(path, errors="replace").read().splitlines()
        bad = [ln for ln in lines if " objfs error: " in ln or " objfs warn: " in ln]
        if bad:
            problem("%s logged %d error/warn lines (logs/%s.log), e.g.:\n%s"
                    % (name, len(bad), name, "\n".join(bad[:8])))
    for name, c in clients.items():
        if c.failed:
            say("%s did not finish: %s" % (name, c.failed))

    text, md, targets = report(res, clients, args, info, skipped)
    print(text)
    if s3bench.PROBLEMS:
        print("\nPROBLEMS seen during the run (%d):" % len(s3bench.PROBLEMS))
        for p in s3bench.PROBLEMS:
            print("  - " + p.replace("\n", "\n      "))
    print("one run: %.0f s; logs in %s" % (elapsed, os.path.join(work, "logs")))
    if args.out:
        with open(args.out, "w") as f:
            f.write(md)
            if s3bench.PROBLEMS:
                f.write("\nProblems seen during the run:\n\n")
                for p in s3bench.PROBLEMS:
                    f.write("- " + p.replace("\n", "\n  ") + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "problems": s3bench.PROBLEMS, "size_mib": S, "files": N,
                       "clients": list(clients), "skipped": skipped, "results": res,
                       "failed": {n: c.failed for n, c in clients.items() if c.failed},
                       "targets": targets, "elapsed_s": elapsed}, f, indent=1)
    cleanup()
    if not args.keep:
        for d in ["gcs", "azure"] + [c + "-cache" for c in CLIENTS]:
            shutil.rmtree(os.path.join(work, d), ignore_errors=True)
    if any(c.failed for c in clients.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
