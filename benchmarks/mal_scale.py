"""MAL at scale: exact cost against FasterPAM alone, the block approximation's loss,
and wall time and peak memory at N = 100,000.

Issue #5's "must show" (speed):
- N = 10,000 (32 dims): seral's exact MAL (affinity + farthest-first + FasterPAM + queue)
  against `kmedoids.fasterpam` alone on the same distance matrix (ratio);
- N = 20,000: the k-medoids loss of the block approximation (forced, several block
  sizes) against the exact loss (goal: within 2 %);
- N = 100,000 x 32: wall time and peak memory (goal: < 8 GB), each size in a fresh
  process so that peak memory (ru_maxrss) is its own.

    python benchmarks/mal_scale.py [--sizes 10000,20000,100000]

Data: a mixture of 200 Gaussian clusters in 32 dims with random scales (seeded), the
kind of structure reduced speech features have. Metric: cosine (the paper's choice above 2-D).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def data(n: int, dim: int = 32, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((200, dim)) * 3
    which = rng.integers(200, size=n)
    scale = rng.uniform(0.3, 1.5, size=200)[which, None]
    return (centres[which] + scale * rng.standard_normal((n, dim))).astype("float32")


def job(kind: str, n: int, block: int) -> dict:
    """Runs in its own process; returns timings, loss and peak memory."""
    import resource

    import numpy as np

    from seraltools.mal import affinity, farthest_first, mal

    x = data(n)
    out = {"kind": kind, "n": n}
    if kind == "exact_vs_fasterpam":
        import kmedoids

        t = time.perf_counter()
        c = mal(x, seed=0)
        out["mal_s"] = time.perf_counter() - t
        d = affinity(x, "cosine")
        init = farthest_first(d, c.k, np.random.default_rng(0))
        t = time.perf_counter()
        res = kmedoids.fasterpam(d, init, max_iter=100, n_cpu=1)
        out["fasterpam_s"] = time.perf_counter() - t
        out["loss_mal"], out["loss_fasterpam"] = c.loss, float(res.loss)
    elif kind == "approx_loss":
        t = time.perf_counter()
        exact = mal(x, seed=0)
        out["exact_s"], out["exact_loss"] = time.perf_counter() - t, exact.loss
        t = time.perf_counter()
        approx = mal(x, seed=0, exact_limit=block - 1, block_size=block)
        out["approx_s"], out["approx_loss"], out["block"] = time.perf_counter() - t, approx.loss, block
    elif kind == "large":
        t = time.perf_counter()
        c = mal(x, seed=0)
        out["mal_s"], out["k"], out["exact"], out["loss"] = time.perf_counter() - t, c.k, c.exact, c.loss
    out["peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    return out


def run(kind: str, n: int, block: int = 0) -> dict:
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / 'benchmarks')!r})\n"
            f"from mal_scale import job; print(json.dumps(job({kind!r}, {n}, {block})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,20000,100000")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"machine: {platform.machine()}, Python {platform.python_version()}; 32-dim data, cosine, k = N/3\n")
    if 10_000 in sizes:
        r = run("exact_vs_fasterpam", 10_000)
        print(f"N = 10,000 exact MAL: {r['mal_s']:.2f} s; kmedoids.fasterpam alone on the same matrix and "
              f"initial medoids: {r['fasterpam_s']:.2f} s; ratio {r['mal_s'] / r['fasterpam_s']:.2f}x "
              f"(loss {r['loss_mal']:.2f} vs {r['loss_fasterpam']:.2f}); peak {r['peak_gb']:.2f} GB")
    if 20_000 in sizes:
        for block in (10_000, 5_000, 2_500):
            r = run("approx_loss", 20_000, block)
            print(f"N = 20,000 block approximation, blocks <= {block:,}: loss {r['approx_loss']:.1f} vs exact "
                  f"{r['exact_loss']:.1f} ({(r['approx_loss'] / r['exact_loss'] - 1) * 100:+.2f} %); "
                  f"{r['approx_s']:.1f} s vs exact {r['exact_s']:.1f} s; peak {r['peak_gb']:.2f} GB")
    for n in [s for s in sizes if s > 20_000]:
        r = run("large", n)
        print(f"N = {n:,}: {r['mal_s']:.1f} s, k = {r['k']:,}, {'exact' if r['exact'] else 'block approximation'}, "
              f"peak memory {r['peak_gb']:.2f} GB")


if __name__ == "__main__":
    main()
