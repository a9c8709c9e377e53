"""What the benchmarks share: run `seral ...` in a fresh process, its wall time and peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# runs the command as a child and prints its exit status and peak resident memory (getrusage)
WRAP = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
        "stderr=subprocess.PIPE, text=True); print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
        "print(p.stderr[-2000:])")


def seral_peak(*args, root: Path = ROOT) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of `seral ARGS`, with seral from the checkout ``root``."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", WRAP, sys.executable, "-m", "seraltools", *map(str, args)],
                         capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    code, rss = out.stdout.split("\n", 1)[0].split()
    if int(code):
        raise SystemExit(f"seral {' '.join(map(str, args))} failed: {out.stdout.split(chr(10), 1)[1].strip()}")
    return wall, int(rss) / 1024
