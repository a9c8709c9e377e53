"""Issue #17: each cold-start selector's time and peak memory at N = 20,000 x 32.

    python benchmarks/selectors_scale.py [--n 20000] [--dim 32] [--budget 2000]

Data: a seeded mixture of 50 Gaussian clusters of random sizes, z-scored (what the tools
hand the selectors). Each selector runs in its own process (`seraltools.selectors.queue`,
seed 0); printed: wall time and the process's peak resident memory (ru_maxrss, the
Python interpreter and imports included), and the baseline of a process that only
imports and makes the data. MAL clusters with k = N/3 whatever the budget.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
import numpy as np
sys.path.insert(0, {root!r})
from seraltools.selectors import queue
from seraltools.standardize import zscore
n, dim, budget, method = {n}, {dim}, {budget}, {method!r}
rng = np.random.default_rng(0)
sizes = rng.multinomial(n, rng.dirichlet(np.ones(50)))
centres = rng.normal(scale=3.0, size=(50, dim))
x = zscore(np.concatenate([c + rng.normal(size=(s, dim)) for c, s in zip(centres, sizes)]).astype(np.float32))
t = time.perf_counter()
q = queue(method, x, budget, seed=0) if method != "none" else np.arange(budget)
dt = time.perf_counter() - t
print(json.dumps({{"seconds": dt, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "queries": int(len(q))}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--budget", type=int, default=2_000)
    ap.add_argument("--methods", default="none,random,stratified,kcenter,typiclust,probcover,mal")
    args = ap.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} cores; N = {args.n:,} x {args.dim}, budget {args.budget:,}")
    print(f"{'selector':<12} {'seconds':>8} {'peak MB':>8}")
    for method in args.methods.split(","):
        code = CHILD.format(root=str(ROOT), n=args.n, dim=args.dim, budget=args.budget, method=method)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if out.returncode:
            print(f"{method:<12} failed: {out.stderr.strip().splitlines()[-1]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        name = "(baseline)" if method == "none" else method
        print(f"{name:<12} {r['seconds']:>8.1f} {r['peak_mb']:>8.0f}", flush=True)


if __name__ == "__main__":
    main()
