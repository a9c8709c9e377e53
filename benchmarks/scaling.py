"""Issue #8's "must show": extraction throughput by engine, and cost against corpus size.

    python benchmarks/scaling.py [--corpus ../shared/corpora/emodb/wav] [--sizes 2500,5000,10000,20000]

1. Log-mel functionals on all of EMO-DB, `seral extract` end to end in a fresh process
   (start-up, imports, reading, features, writing): the local engine at 1 and 2 workers
   and Ray (`--engine ray`, a local instance started by the command) at 2 workers,
   as x real time. Ray's time includes starting Ray.
2. EMO-DB replicated to 20,000 utterances (a manifest naming each file many times under
   distinct ids), extracted with the local engine at 2 workers at several sizes: wall time,
   x real time, and peak memory (the largest resident set of any of the command's
   processes, from getrusage), to show that cost grows linearly with size; and the
   largest size once more with Ray at 2 workers, where its start-up is amortised.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WRAP = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def run(*args) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB of the largest process) of `seral ARGS`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", WRAP, sys.executable, "-m", "seraltools", *map(str, args)],
                         check=True, capture_output=True, text=True, env=env)
    return time.perf_counter() - t, int(out.stdout.strip()) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora" / "emodb" / "wav")
    ap.add_argument("--sizes", default="2500,5000,10000,20000")
    args = ap.parse_args()
    from seraltools.audio import load_audio

    files = sorted(args.corpus.glob("*.wav"))
    durations = [load_audio(f).duration for f in files]
    audio_s = sum(durations)
    print(f"{platform.machine()}, {os.cpu_count()} cores; {len(files)} files, {audio_s:.0f} s of audio")
    with tempfile.TemporaryDirectory() as tmp:
        print("\n1. log-mel extraction of EMO-DB by engine (x real time, end to end)")
        for label, extra in (("local, 1 worker", ["-j", 1]), ("local, 2 workers", ["-j", 2]),
                             ("ray, 2 workers", ["-j", 2, "--engine", "ray"])):
            wall, rss = run("extract", "-q", "--corpus", "emodb", *extra, args.corpus, f"{tmp}/x.parquet")
            print(f"   {label:<18} {wall:6.2f} s  {audio_s / wall:7.0f}x   peak {rss:6.0f} MB")

        print("\n2. EMO-DB replicated, local engine, 2 workers")
        print(f"   {'utterances':>10} {'audio (h)':>9} {'wall (s)':>9} {'x real time':>12} {'s per 1k utt':>13} {'peak MB':>8}")
        for n in (int(v) for v in args.sizes.split(",")):
            manifest = Path(tmp) / f"m{n}.csv"
            with open(manifest, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["id", "path"])
                for i in range(n):
                    w.writerow([f"r{i // len(files)}/{files[i % len(files)].stem}", files[i % len(files)]])
            hours = sum(durations[i % len(files)] for i in range(n)) / 3600
            wall, rss = run("extract", "-q", "-j", 2, manifest, f"{tmp}/big.parquet")
            print(f"   {n:>10} {hours:>9.1f} {wall:>9.1f} {hours * 3600 / wall:>12.0f} {1000 * wall / n:>13.2f} {rss:>8.0f}")
        wall, rss = run("extract", "-q", "-j", 2, "--engine", "ray", manifest, f"{tmp}/big-ray.parquet")
        print(f"   {n:>10} {hours:>9.1f} {wall:>9.1f} {hours * 3600 / wall:>12.0f} {1000 * wall / n:>13.2f} {rss:>8.0f}"
              "   <- ray, 2 workers (driver's peak)")


if __name__ == "__main__":
    main()
