"""Issue #16's contention benchmark: torch paths on a quiet and on a busy machine.

    python benchmarks/contention.py [--emodb ../shared/corpora/emodb/wav] [--hogs 2] [--hog python|torch] [--repeats 1]

Three jobs on all of EMO-DB, each `seral ...` end to end in a fresh process:
d-vector extraction, CPC extraction (a model trained for one epoch beforehand, not timed)
and one CPC training epoch (`train-cpc --epochs 1`, reading the frames included).

Each job runs quiet and beside ``--hogs`` CPU-bound processes (``--hog python``:
pure-Python busy loops, one thread each; ``--hog torch``: torch matrix products with
torch's default threads), started before the job and killed after it, under two settings:

- before: what seral did until this change, reproduced by flags: one process with
  torch's default threads, one per core (`-j 1 --threads NCPU`; train-cpc
  `--threads NCPU`);
- after: seral's defaults (`seraltools.compute`: threads lowered to the idle CPUs, torch
  extraction over processes from 1,000 files).

Prints wall seconds (median over ``--repeats``) and the slowdown under load (busy /
quiet of the same setting). With H single-threaded hogs on C cores a job that could use
every core gets C / (H + C) of the machine at best: 2 hogs on 2 cores, 2x for a job
that used both cores, 1.5x for a single-threaded one.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HOGS = {
    "python": "while True: pass",  # one busy thread
    # torch with its default threads (one per core) on small matrix products: what another
    # user's deep-learning job looks like
    "torch": "import torch\na = torch.randn(256, 256)\nwhile True: a = torch.tanh(a @ a * 0.01)",
}


def seral(*args) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OMP_NUM_THREADS", None)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "seraltools", *map(str, args)], capture_output=True, text=True, env=env)
    if proc.returncode:
        raise SystemExit(f"seral {' '.join(map(str, args))} failed: {proc.stderr.strip()}")
    return time.perf_counter() - t


def timed(args: list, hogs: int, repeats: int, hog: str = "python") -> float:
    procs = [subprocess.Popen([sys.executable, "-c", HOGS[hog]]) for _ in range(hogs)]
    try:
        if procs:
            time.sleep(1.0)  # the hogs are running when the job starts
        return statistics.median(seral(*args) for _ in range(repeats))
    finally:
        for p in procs:
            p.kill()
            p.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--emodb", type=Path, default=ROOT.parent / "shared" / "corpora" / "emodb" / "wav")
    ap.add_argument("--hogs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--hog", choices=sorted(HOGS), default="python", help="what each hog runs")
    args = ap.parse_args()
    from seraltools.compute import available_cpus

    ncpu = available_cpus()
    print(f"{platform.machine()}, {ncpu} CPUs available; {len(list(args.emodb.glob('*.wav')))} EMO-DB files; "
          f"{args.hogs} {args.hog} hogs; median of {args.repeats}")
    with tempfile.TemporaryDirectory() as tmp:
        model = f"{tmp}/cpc.safetensors"
        seral("train-cpc", "-q", "--epochs", 1, "--corpus", "none", args.emodb, model)
        jobs = {
            "d-vector extraction": (["extract", "-q", "--feat", "dvector", "--corpus", "none", args.emodb, f"{tmp}/d.parquet"], True),
            "CPC extraction": (["extract", "-q", "--feat", "cpc", "--model", model, "--corpus", "none", args.emodb,
                                f"{tmp}/c.parquet"], True),
            "CPC training, 1 epoch": (["train-cpc", "-q", "--epochs", 1, "--corpus", "none", args.emodb,
                                       f"{tmp}/t.safetensors"], False),
        }
        print(f"\n{'job':<24} {'setting':<8} {'quiet (s)':>10} {'busy (s)':>10} {'slowdown':>9}")
        for name, (job, is_extract) in jobs.items():
            before = ["-j", 1, "--threads", ncpu] if is_extract else ["--threads", ncpu]
            for setting, extra in (("before", before), ("after", [])):
                quiet = timed(job + extra, 0, args.repeats)
                busy = timed(job + extra, args.hogs, args.repeats, args.hog)
                print(f"{name:<24} {setting:<8} {quiet:>10.1f} {busy:>10.1f} {busy / quiet:>8.2f}x", flush=True)


if __name__ == "__main__":
    main()
