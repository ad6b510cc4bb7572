#!/usr/bin/python3
"""objfs throughput benchmark: raw disk vs libfuse passthrough_ll vs objfs.

Run on demand (`make bench`, or bench/run.sh); never in CI. Needs root
(drop_caches, mounts), /dev/fuse, fusermount3, gcc and pkg-config fuse3.
docs/benchmarks.md explains every figure.

One run measures, REPS times each (default 3, interleaved so that the machine's
noise hits all three systems alike), and reports the median:

  * a SIZE MiB file (default 512) of random data written with dd bs=1M
      raw disk        conv=fsync
      passthrough_ll  conv=fsync, and until close
      objfs           until close, conv=fsync, and until the object has landed
                      in the local provider's store (polled)
    and read back cold (drop_caches; FUSE mounts remounted; objfs with an empty
    cache_dir);
  * FILES files of 4 KiB from a tarball: untar until tar returns, until landed
    (raw disk and passthrough_ll: tar + sync; objfs: every object polled in the
    store), and `ls -l` after a restart (remount with the same cache_dir,
    drop_caches).

Every wait is bounded; mounts are cleaned up on any exit.
"""

import argparse
import atexit
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time

MIB = 1 << 20
LOCAL_OBJ_HEADER = 8192          # local provider: two 4 KiB metadata slots before the data
MOUNT_TIMEOUT = 15               # s, for a mount to appear
DRAIN_TIMEOUT = 30               # s, objfs drain_timeout in the bench's config: every write
                                 # has landed before an unmount, so a longer drain is a bug
UNMOUNT_TIMEOUT = DRAIN_TIMEOUT + 60  # s, for a daemon to drain and exit after fusermount3 -u
CMD_TIMEOUT = 300                # s, for any one timed command
LAND_TIMEOUT = 300               # s, for objects to land in the store


def log(msg):
    print(msg, file=sys.stderr, flush=True)


PROBLEMS = []     # anomalies seen during the run, printed with the table


def problem(msg):
    PROBLEMS.append(msg)
    log("bench: PROBLEM: " + msg)


def die(msg):
    log("bench: " + msg)
    sys.exit(1)


# ---------------------------------------------------------------- mounts

class Mount:
    """A FUSE daemon this script started, in the foreground, as its child."""

    active = []

    def __init__(self, name, argv, mnt, logpath):
        self.name, self.argv, self.mnt, self.logpath = name, argv, mnt, logpath
        self.proc = None

    def start(self):
        if os.path.ismount(self.mnt):
            die("%s is already a mount point" % self.mnt)
        logf = open(self.logpath, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=logf, stderr=logf,
                                     stdin=subprocess.DEVNULL)
        logf.close()
        Mount.active.append(self)
        deadline = time.monotonic() + MOUNT_TIMEOUT
        while not os.path.ismount(self.mnt):
            if self.proc.poll() is not None:
                die("%s exited with status %d before mounting; log %s:\n%s"
                    % (self.name, self.proc.returncode, self.logpath, tail(self.logpath)))
            if time.monotonic() > deadline:
                die("%s did not mount %s within %d s" % (self.name, self.mnt, MOUNT_TIMEOUT))
            time.sleep(0.02)

    def stop(self):
        """Unmount; the daemon drains (objfs: pending uploads) and exits.

        A daemon that does not exit in time, or exits with an error, is
        recorded as a problem (with its log's tail), ended, and the run goes
        on. Returns the seconds from fusermount3 -u to the daemon's exit."""
        if self.proc is None:
            return 0.0
        t0 = time.monotonic()
        r = subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True, timeout=60)
        if r.returncode != 0:
            die("fusermount3 -u %s: %s" % (self.mnt, r.stderr.decode(errors="replace").strip()))
        try:
            self.proc.wait(timeout=UNMOUNT_TIMEOUT)
        except subprocess.TimeoutExpired:
            problem("%s did not exit within %d s of unmount; killed. Log tail:\n%s"
                    % (self.name, UNMOUNT_TIMEOUT, tail(self.logpath, 6)))
            self.proc.kill()
            self.proc.wait(timeout=30)
        dt = time.monotonic() - t0
        if self.proc.returncode not in (0, -signal.SIGKILL):
            problem("%s exited with status %d after %.1f s of drain. Log tail:\n%s"
                    % (self.name, self.proc.returncode, dt, tail(self.logpath, 6)))
        elif dt > 5:
            problem("%s took %.1f s to drain and exit after unmount, with every write landed. "
                    "Log tail:\n%s" % (self.name, dt, tail(self.logpath, 6)))
        self.proc = None
        Mount.active.remove(self)
        return dt

    def restart(self, between=None):
        dt = self.stop()
        if between:
            between()
        self.start()
        return dt

    def kill(self):
        """Last-resort cleanup at exit: lazy unmount, then end our own process."""
        if self.proc is None:
            return
        if os.path.ismount(self.mnt):
            subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True, timeout=60)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            if os.path.ismount(self.mnt):
                subprocess.run(["fusermount3", "-u", "-z", self.mnt], capture_output=True, timeout=60)
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.proc = None


def cleanup_mounts():
    for m in list(Mount.active):
        try:
            m.kill()
        except Exception as e:  # keep cleaning the others
            log("bench: cleanup of %s: %s" % (m.mnt, e))
    Mount.active.clear()


def on_signal(signum, frame):
    log("bench: signal %d, cleaning up" % signum)
    sys.exit(128 + signum)    # runs atexit handlers


def tail(path, n=20):
    try:
        with open(path, "rb") as f:
            return b"".join(f.readlines()[-n:]).decode(errors="replace")
    except OSError:
        return ""


# ---------------------------------------------------------------- helpers

def sh(argv, **kw):
    kw.setdefault("timeout", CMD_TIMEOUT)
    r = subprocess.run(argv, capture_output=True, **kw)
    if r.returncode != 0:
        die("%s: exit %d: %s" % (" ".join(argv), r.returncode,
                                 r.stderr.decode(errors="replace").strip()))
    return r.stdout.decode(errors="replace")


def timed(argv, stdout=subprocess.DEVNULL):
    """Wall-clock seconds of one command (fails the run if it fails)."""
    t0 = time.monotonic()
    r = subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, timeout=CMD_TIMEOUT)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        die("%s: exit %d: %s" % (" ".join(argv), r.returncode,
                                 r.stderr.decode(errors="replace").strip()))
    return dt


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def warm(*paths):
    """Read inputs into the page cache so that reading them costs nothing."""
    for p in paths:
        with open(p, "rb") as f:
            while f.read(8 * MIB):
                pass


def settle(*inputs):
    """Before a timed write: flush dirty data, empty the caches, re-warm inputs."""
    drop_caches()
    warm(*inputs)


def dd_write(src, dst, fsync):
    argv = ["dd", "if=" + src, "of=" + dst, "bs=1M"]
    if fsync:
        argv.append("conv=fsync")
    return timed(argv)


def dd_read(path):
    return timed(["dd", "if=" + path, "of=/dev/null", "bs=1M"])


def obj_path(store, bucket, key):
    return os.path.join(store, bucket, *key.split("/"), ".obj")


def local_obj_meta(path):
    """The winning metadata slot of a local-provider .obj as a dict.

    A slot: "OBJFSMD1", seq (u64 LE), payload length (u32), checksum (u32),
    then "key=value" lines; the valid slot with the highest seq wins."""
    with open(path, "rb") as f:
        head = f.read(LOCAL_OBJ_HEADER)
    best, best_seq = None, -1
    for off in (0, 4096):
        slot = head[off:off + 4096]
        if len(slot) < 24 or slot[:8] != b"OBJFSMD1":
            continue
        seq = int.from_bytes(slot[8:16], "little")
        n = int.from_bytes(slot[16:20], "little")
        if seq > best_seq and 24 + n <= len(slot):
            best, best_seq = slot[24:24 + n], seq
    meta = {}
    for line in (best or b"").decode(errors="replace").split("\n"):
        k, eq, v = line.partition("=")
        if eq:
            meta[k] = v
    return meta


def wait_landed(paths, size, t0, mode=None):
    """Poll the local store until every path exists with SIZE data bytes.

    With MODE, also wait until each object's metadata carries that st_mode
    (m.mode), i.e. until the file's final version has landed, not only a
    first upload. Returns (seconds until every object had its size, seconds
    until every object was final), both since T0, the monotonic start of the
    write."""
    want = size + LOCAL_OBJ_HEADER
    sized = {}
    pending = list(paths)
    t_sized = None
    deadline = time.monotonic() + LAND_TIMEOUT
    while True:
        still = []
        for p in pending:
            try:
                ok = os.stat(p).st_size == want
            except FileNotFoundError:
                ok = False
            if ok:
                sized.setdefault(p, True)
                if mode is not None:
                    try:
                        ok = local_obj_meta(p).get("m.mode") == str(mode)
                    except FileNotFoundError:
                        ok = False
            if not ok:
                still.append(p)
        now = time.monotonic()
        if t_sized is None and len(sized) == len(paths):
            t_sized = now - t0
        if not still:
            return t_sized, now - t0
        if now > deadline:
            die("%d of %d objects had not landed after %d s (e.g. %s)"
                % (len(still), len(paths), LAND_TIMEOUT, still[0]))
        pending = still
        time.sleep(0.005 if len(pending) < 16 else 0.02)


def fs_type(path):
    out = sh(["df", "--output=fstype,avail", "-B1", path]).split("\n")[1].split()
    return out[0], int(out[1])


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
    df = sh(["df", "-hT", work]).strip().split("\n")[-1].split()
    info["df"] = "%s %s (%s, %s size)" % (df[0], df[6], df[1], df[2])
    dev = df[0]
    r = subprocess.run(["lsblk", "-ndo", "NAME,SIZE,ROTA,TYPE,MODEL", dev],
                       capture_output=True, timeout=10)
    info["lsblk"] = " ".join(r.stdout.decode().split()) if r.returncode == 0 else "?"
    with open("/proc/loadavg") as f:
        info["loadavg_at_start"] = " ".join(f.read().split()[:3])
    return info


# ---------------------------------------------------------------- setup

def build_pll(src_dir, out):
    src = os.path.join(src_dir, "passthrough_ll.c")
    if not os.path.exists(src):
        die("no %s (set OBJFS_BENCH_PLL_SRC)" % src)
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
        return
    os.makedirs(os.path.dirname(out), exist_ok=True)
    flags = sh(["pkg-config", "fuse3", "--cflags", "--libs"]).split()
    sh(["gcc", "-O2", "-o", out, src, "-I" + src_dir] + flags)


def make_inputs(work, size_mib, nfiles):
    rand = os.path.join(work, "input", "random.bin")
    tarball = os.path.join(work, "input", "small.tar")
    os.makedirs(os.path.dirname(rand), exist_ok=True)
    if not (os.path.exists(rand) and os.path.getsize(rand) == size_mib * MIB):
        with open("/dev/urandom", "rb") as src, open(rand + ".tmp", "wb") as dst:
            for _ in range(size_mib):
                dst.write(src.read(MIB))
        os.rename(rand + ".tmp", rand)
    gen = os.path.join(work, "input", "gen")
    shutil.rmtree(gen, ignore_errors=True)
    os.makedirs(os.path.join(gen, "small"))
    for i in range(nfiles):
        with open(os.path.join(gen, "small", "f%05d.dat" % i), "wb") as f:
            f.write(os.urandom(4096))
            os.fchmod(f.fileno(), 0o644)
    sh(["tar", "-C", gen, "-cf", tarball, "small"])
    shutil.rmtree(gen)
    return rand, tarball


def write_objfs_config(path, cache_dir, store, sock):
    with open(path, "w") as f:
        f.write("[objfs]\n"
                "cache_dir = %s\n"
                "control_socket = %s\n"
                "log_level = warn\n"
                "chunk_size = 8M\n"
                "staging_max_bytes = 4G\n"
                "drain_timeout = %d\n"
                "[provider local]\n"
                "type = local\n"
                "root = %s\n"
                "[tenant acme]\n" % (cache_dir, sock, DRAIN_TIMEOUT, store))


# ---------------------------------------------------------------- report

def med(xs):
    return statistics.median(xs) if xs else None


def fmt_cell(secs, mib=None, nfiles=None):
    if secs is None:
        return "—"
    if mib is not None:
        return "%6.2f s %5.0f MiB/s" % (secs, mib / secs)
    if nfiles is not None:
        return "%6.3f s %6.0f files/s" % (secs, nfiles / secs)
    return "%6.3f s" % secs


def report(res, args, info):
    S, N = args.size_mib, args.files
    m = {k: med(v) for k, v in res.items()}
    rows = []

    def row(label, raw, pll, objfs, **unit):
        rows.append((label, fmt_cell(m.get(raw), **unit) if raw else "—",
                     fmt_cell(m.get(pll), **unit) if pll else "—",
                     fmt_cell(m.get(objfs), **unit) if objfs else "—"))

    big = {"mib": S}
    small = {"nfiles": N}
    row("%d MiB: write, dd conv=fsync" % S, "raw_write", "pll_write_fsync", "objfs_write_fsync", **big)
    row("%d MiB: write, dd until close" % S, None, "pll_write_close", "objfs_write_close", **big)
    row("%d MiB: write until landed in store" % S, None, None, "objfs_landed", **big)
    row("%d MiB: cold read, dd bs=1M" % S, "raw_read", "pll_read", "objfs_read", **big)
    row("%d x 4 KiB: untar until tar returns" % N, "raw_untar", "pll_untar", "objfs_untar", **small)
    row("%d x 4 KiB: untar until landed (*)" % N, "raw_untar_sync", "pll_untar_sync", "objfs_untar_landed", **small)
    row("%d x 4 KiB: untar until landed, any version" % N, None, None, "objfs_untar_landed_first", **small)
    row("%d x 4 KiB: ls -l after restart" % N, "raw_ls", "pll_ls", "objfs_ls")

    w0 = max(len(r[0]) for r in rows)
    w = [max(len(r[i]) for r in rows + [("", "raw disk", "passthrough_ll", "objfs")]) for i in range(4)]
    lines = []
    hdr = ("", "raw disk", "passthrough_ll", "objfs (local provider)")
    w[3] = max(w[3], len(hdr[3]))
    lines.append("  ".join(h.ljust(w[i] if i else w0) for i, h in enumerate(hdr)))
    lines.append("  ".join("-" * (w[i] if i else w0) for i in range(4)))
    for r in rows:
        lines.append("  ".join(c.ljust(w[i] if i else w0) for i, c in enumerate(r)))
    lines.append("(*) raw disk and passthrough_ll: tar + sync; objfs: all %d objects in the store with their "
                 "final metadata (mode 0644)" % N)

    def ratio(a, b):
        """speed(a) / speed(b) from median seconds (a faster -> > 1)."""
        if m.get(a) is None or m.get(b) is None:
            return None
        return m[b] / m[a]

    targets = [
        ("objfs write (until close) vs passthrough_ll write (conv=fsync)", ratio("objfs_write_close", "pll_write_fsync"), 1.0),
        ("objfs write (conv=fsync) vs passthrough_ll write (conv=fsync)", ratio("objfs_write_fsync", "pll_write_fsync"), 1.0),
        ("objfs write until landed vs raw disk write (conv=fsync)", ratio("objfs_landed", "raw_write"), 0.4),
        ("objfs cold read vs passthrough_ll cold read", ratio("objfs_read", "pll_read"), 2.0),
    ]
    info_ratios = [
        ("objfs untar (tar returns) vs passthrough_ll untar", ratio("objfs_untar", "pll_untar")),
        ("objfs untar (tar returns) vs raw disk untar", ratio("objfs_untar", "raw_untar")),
        ("objfs untar until landed vs passthrough_ll tar + sync", ratio("objfs_untar_landed", "pll_untar_sync")),
        ("objfs untar until landed vs raw disk tar + sync", ratio("objfs_untar_landed", "raw_untar_sync")),
        ("objfs ls -l after restart vs passthrough_ll", ratio("objfs_ls", "pll_ls")),
        ("objfs ls -l after restart vs raw disk", ratio("objfs_ls", "raw_ls")),
    ]
    lines.append("")
    lines.append("Targets (speed ratio of medians; > 1 means objfs is faster)")
    tw = max(len(t[0]) for t in targets + info_ratios)
    for name, r, want in targets:
        verdict = "?" if r is None else ("met" if r >= want else "MISSED")
        lines.append("  %s  %5.2fx  target >= %.1fx  %s" % (name.ljust(tw), r or 0, want, verdict))
    lines.append("No target, for comparison:")
    for name, r in info_ratios:
        lines.append("  %s  %5.2fx" % (name.ljust(tw), r or 0))
    lines.append("")
    lines.append("median of %d repetitions; machine: %d CPUs, %.1f GiB RAM, %s; %s; load at start %s"
                 % (args.reps, info["nproc"], info["ram_gib"], info["df"], info["lsblk"],
                    info["loadavg_at_start"]))
    return "\n".join(lines), {"targets": [(n, r, w) for n, r, w in targets],
                              "ratios": info_ratios}


# ---------------------------------------------------------------- main

def main():
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default=os.environ.get("OBJFS_BENCH_DIR", "/var/tmp/objfs-bench"),
                    help="scratch directory on the real disk (default /var/tmp/objfs-bench)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--size-mib", type=int, default=512)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--objfs", default=os.path.join(repo, "build", "objfs"))
    ap.add_argument("--pll-src", default=os.environ.get(
        "OBJFS_BENCH_PLL_SRC",
        os.path.join(repo, "..", "shared", "reference", "libfuse-passthrough_ll")))
    ap.add_argument("--pll-bin", default="/tmp/objfs-bench-pll/pll")
    ap.add_argument("--json", help="also write all samples and medians to this file")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = ap.parse_args()

    if os.geteuid() != 0:
        die("needs root (drop_caches, FUSE mounts)")
    for tool in ("fusermount3", "dd", "tar", "gcc", "pkg-config", "ls"):
        if shutil.which(tool) is None:
            die("needs %s" % tool)
    if not os.path.exists("/dev/fuse"):
        die("needs /dev/fuse")
    if not os.access(args.objfs, os.X_OK):
        die("no %s: run make first" % args.objfs)

    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    fstype, avail = fs_type(work)
    if fstype in ("tmpfs", "ramfs", "devtmpfs"):
        die("%s is on %s, not a real disk; use --work on a disk" % (work, fstype))
    need = (2 * args.reps + 2 * args.reps + 2 + 1) * args.size_mib * MIB
    if avail < need:
        die("%s has %d MiB free, needs about %d MiB" % (work, avail // MIB, need // MIB))

    atexit.register(cleanup_mounts)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    t_start = time.monotonic()
    info = machine_info(work)
    log("bench: machine %s" % json.dumps(info))
    build_pll(os.path.abspath(args.pll_src), args.pll_bin)

    # Fresh scratch state (inputs are kept between runs if the size fits).
    for d in ("raw", "pll-src", "pll-mnt", "objfs-mnt", "objfs-cache", "objfs-store", "logs"):
        shutil.rmtree(os.path.join(work, d), ignore_errors=True)
        os.makedirs(os.path.join(work, d))
    log("bench: making inputs (%d MiB random file, tarball of %d x 4 KiB)" % (args.size_mib, args.files))
    rand, tarball = make_inputs(work, args.size_mib, args.files)

    raw = os.path.join(work, "raw")
    pll_src = os.path.join(work, "pll-src")
    pll_mnt = os.path.join(work, "pll-mnt")
    o_mnt = os.path.join(work, "objfs-mnt")
    o_cache = os.path.join(work, "objfs-cache")
    o_store = os.path.join(work, "objfs-store")
    o_conf = os.path.join(work, "objfs.conf")
    write_objfs_config(o_conf, o_cache, o_store, os.path.join(work, "objfs-ctl.sock"))
    bucket = "acme-uploads"

    pll = Mount("passthrough_ll", [args.pll_bin, "-f", "-o", "source=" + pll_src, pll_mnt],
                pll_mnt, os.path.join(work, "logs", "pll.log"))
    objfs = Mount("objfs", [args.objfs, "-f", "--config", o_conf, o_mnt],
                  o_mnt, os.path.join(work, "logs", "objfs.log"))

    def empty_cache():
        shutil.rmtree(o_cache)

    res = {}

    def add(key, secs):
        res.setdefault(key, []).append(secs)

    S, N = args.size_mib, args.files
    pll.start()
    objfs.start()
    for rep in range(1, args.reps + 1):
        log("bench: repetition %d/%d (%.0f s so far)" % (rep, args.reps, time.monotonic() - t_start))
        big = "big-%d.bin" % rep

        # ---- raw disk
        settle(rand)
        add("raw_write", dd_write(rand, os.path.join(raw, big), fsync=True))
        drop_caches()
        add("raw_read", dd_read(os.path.join(raw, big)))
        os.unlink(os.path.join(raw, big))

        # ---- passthrough_ll
        def pll_fsync():
            settle(rand)
            add("pll_write_fsync", dd_write(rand, os.path.join(pll_mnt, big), fsync=True))

        def pll_close():
            settle(rand)
            add("pll_write_close", dd_write(rand, os.path.join(pll_mnt, "close-" + big), fsync=False))

        for step in ((pll_fsync, pll_close) if rep % 2 else (pll_close, pll_fsync)):
            step()
        pll.restart(between=drop_caches)
        add("pll_read", dd_read(os.path.join(pll_mnt, big)))
        os.unlink(os.path.join(pll_mnt, big))
        os.unlink(os.path.join(pll_mnt, "close-" + big))

        # ---- objfs: until close (and until landed), and with conv=fsync. The
        # first write after a mount is often slower, so the two alternate
        # which goes first. Each waits until its object has landed, so that
        # the next step starts with the daemon idle.
        def objfs_close():
            settle(rand)
            t0 = time.monotonic()
            add("objfs_write_close", dd_write(rand, os.path.join(o_mnt, "acme", big), fsync=False))
            add("objfs_landed", wait_landed([obj_path(o_store, bucket, big)], S * MIB, t0)[1])

        def objfs_fsync():
            settle(rand)
            t0 = time.monotonic()
            add("objfs_write_fsync", dd_write(rand, os.path.join(o_mnt, "acme", "fsync-" + big), fsync=True))
            add("objfs_landed_after_fsync",
                wait_landed([obj_path(o_store, bucket, "fsync-" + big)], S * MIB, t0)[1])

        for step in ((objfs_close, objfs_fsync) if rep % 2 else (objfs_fsync, objfs_close)):
            step()
        # cold read: restart with an empty cache_dir, drop_caches
        add("objfs_unmount", objfs.restart(between=lambda: (empty_cache(), drop_caches())))
        add("objfs_read", dd_read(os.path.join(o_mnt, "acme", big)))

        # ---- 2,000 small files
        sub = "small-%d" % rep
        names = ["small/f%05d.dat" % i for i in range(N)]
        small_mode = 0o100644    # the tarball's members (make_inputs)

        d = os.path.join(raw, sub)
        os.makedirs(d)
        settle(tarball)
        t0 = time.monotonic()
        add("raw_untar", timed(["tar", "-C", d, "-xf", tarball]))
        os.sync()
        add("raw_untar_sync", time.monotonic() - t0)
        drop_caches()
        add("raw_ls", timed(["ls", "-l", os.path.join(d, "small")]))

        d = os.path.join(pll_mnt, sub)
        os.makedirs(d)
        settle(tarball)
        t0 = time.monotonic()
        add("pll_untar", timed(["tar", "-C", d, "-xf", tarball]))
        os.sync()
        add("pll_untar_sync", time.monotonic() - t0)
        pll.restart(between=drop_caches)
        add("pll_ls", timed(["ls", "-l", os.path.join(d, "small")]))

        d = os.path.join(o_mnt, "acme", sub)
        os.makedirs(d)
        settle(tarball)
        t0 = time.monotonic()
        add("objfs_untar", timed(["tar", "-C", d, "-xf", tarball]))
        first, final = wait_landed([obj_path(o_store, bucket, sub + "/" + n) for n in names],
                                   4096, t0, mode=small_mode)
        add("objfs_untar_landed_first", first)
        add("objfs_untar_landed", final)
        add("objfs_unmount", objfs.restart(between=drop_caches))   # same cache_dir
        add("objfs_ls", timed(["ls", "-l", os.path.join(d, "small")]))

    pll.stop()
    objfs.stop()
    elapsed = time.monotonic() - t_start

    log("")
    log("samples (seconds):")
    for k, v in res.items():
        log("  %-26s %s" % (k, "  ".join("%.3f" % x for x in v)))
    table, ratios = report(res, args, info)
    print(table)
    if PROBLEMS:
        print("\nPROBLEMS seen during the run (%d):" % len(PROBLEMS))
        for p in PROBLEMS:
            print("  - " + p.replace("\n", "\n      "))
    print("one run: %.0f s" % elapsed)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "problems": PROBLEMS, "size_mib": S, "files": N, "reps": args.reps,
                       "samples": res, "medians": {k: med(v) for k, v in res.items()},
                       "ratios": ratios, "elapsed_s": elapsed}, f, indent=1)
    if not args.keep:
        for d in ("raw", "pll-src", "objfs-cache", "objfs-store"):
            shutil.rmtree(os.path.join(work, d), ignore_errors=True)


if __name__ == "__main__":
    main()
