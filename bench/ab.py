#!/usr/bin/python3
"""objfs A/B: the core benchmark (bench/bench.py) for two objfs binaries.

Run on demand (`make bench-ab BASE=/path/to/old/objfs`), never in CI. It
answers "did this change slow objfs down?": bench.py is run ROUNDS times for
each binary, alternating baseline and candidate (A B A B ...), so that the
machine's noise hits both alike, and the objfs figures are printed side by
side with the candidate/baseline ratio of the medians over all rounds.
Next to each raw ratio is the ratio after dividing every objfs figure by the
same round's passthrough_ll (or raw disk) figure, which cancels the noise of a
busy machine further: both columns near 1.00 mean "unchanged".

Other arguments are passed to bench.py (--size-mib, --files, --work ...).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

# (label, objfs key, reference key used to normalise within a round)
ROWS = [
    ("write, dd until close", "objfs_write_close", "pll_write_close"),
    ("write, dd conv=fsync", "objfs_write_fsync", "pll_write_fsync"),
    ("write until landed in store", "objfs_landed", "raw_write"),
    ("cold read", "objfs_read", "pll_read"),
    ("untar until tar returns", "objfs_untar", "pll_untar"),
    ("untar until landed", "objfs_untar_landed", "pll_untar_sync"),
    ("ls -l after restart", "objfs_ls", "pll_ls"),
]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", required=True, help="the baseline objfs binary")
    ap.add_argument("--objfs", default=os.path.join(here, "..", "build", "objfs"),
                    help="the candidate objfs binary (default build/objfs)")
    ap.add_argument("--rounds", type=int, default=2, help="bench.py runs per binary (default 2)")
    args, rest = ap.parse_known_args()
    for b in (args.base, args.objfs):
        if not os.access(b, os.X_OK):
            sys.exit("bench/ab: %s is not an executable" % b)
    if args.rounds < 1 or args.rounds > 10:
        sys.exit("bench/ab: --rounds must be 1..10")

    samples = {"base": {}, "cand": {}}      # side -> key -> [values, one per rep]
    norm = {"base": {}, "cand": {}}         # side -> key -> [value / reference, per round]
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for side, binary in (("base", args.base), ("cand", args.objfs)):
                out = os.path.join(tmp, "%s-%d.json" % (side, r))
                print("bench/ab: round %d/%d, %s (%s)" % (r + 1, args.rounds, side, binary),
                      file=sys.stderr, flush=True)
                rc = subprocess.call([sys.executable, os.path.join(here, "bench.py"),
                                      "--objfs", binary, "--json", out] + rest,
                                     stdout=subprocess.DEVNULL)
                if rc != 0:
                    sys.exit("bench/ab: bench.py failed (exit %d) for %s" % (rc, binary))
                with open(out) as f:
                    res = json.load(f)
                for label, key, ref in ROWS:
                    samples[side].setdefault(key, []).extend(res["samples"].get(key, []))
                    m, mr = res["medians"].get(key), res["medians"].get(ref)
                    if m and mr:
                        norm[side].setdefault(key, []).append(m / mr)

    def med(xs):
        return statistics.median(xs) if xs else None

    w = max(len(r[0]) for r in ROWS)
    print("%-*s  %10s  %10s  %12s  %12s" % (w, "objfs figure (median s)", "baseline", "candidate",
                                            "cand/base", "normalised"))
    for label, key, _ in ROWS:
        b, c = med(samples["base"].get(key)), med(samples["cand"].get(key))
        nb, nc = med(norm["base"].get(key)), med(norm["cand"].get(key))
        print("%-*s  %10s  %10s  %12s  %12s" % (
            w, label,
            "%.3f" % b if b is not None else "-", "%.3f" % c if c is not None else "-",
            "%.2f" % (c / b) if b and c else "-", "%.2f" % (nc / nb) if nb and nc else "-"))
    print("(times: < 1.00 means the candidate is faster; %d rounds per binary, alternating)"
          % args.rounds)


if __name__ == "__main__":
    main()
