"""t-SNE speed at equal quality: seral's reducer (openTSNE) against scikit-learn.

Issue #4's "must show": on N = 20,000 x 32, `seral reduce --method tsne` next to
scikit-learn's `TSNE(init="pca")`, side by side in one run: wall-time ratio and the
trustworthiness (k = 5) of both. Goal: >= 3x faster at equal trustworthiness (+-0.01).
Both get the machine's cores (n_jobs = CPU count) and the same parameters
(perplexity 30, early exaggeration 12 for 250 of 1000 iterations, learning rate "auto").

    python benchmarks/tsne_speed.py [--n 20000] [--dim 32]

Data: a seeded mixture of 200 Gaussian clusters with random scales (the data of
benchmarks/mal_scale.py).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=32)
    args = ap.parse_args()

    from sklearn.manifold import TSNE as SkTSNE

    from mal_scale import data
    from seraltools.reduce import TSNE, trustworthiness

    x = data(args.n, args.dim)
    cpus = os.cpu_count() or 1
    print(f"N = {args.n:,} x {args.dim}, machine: {platform.machine()}, {cpus} CPUs, Python {platform.python_version()}")
    t = time.perf_counter()
    ours = TSNE(seed=0, workers=cpus).fit_transform(x)
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    theirs = SkTSNE(init="pca", random_state=0, n_jobs=cpus).fit_transform(x)
    t_theirs = time.perf_counter() - t
    tw_ours, tw_theirs = trustworthiness(x, ours, k=5), trustworthiness(x, theirs, k=5)
    print(f"{'':<34} {'wall s':>8} {'trustworthiness (k=5)':>22}")
    print(f"{'seral reduce -m tsne (openTSNE)':<34} {t_ours:>8.1f} {tw_ours:>22.4f}")
    print(f"{'scikit-learn TSNE(init=pca)':<34} {t_theirs:>8.1f} {tw_theirs:>22.4f}")
    print(f"speed-up {t_theirs / t_ours:.1f}x; trustworthiness difference {tw_ours - tw_theirs:+.4f}")


if __name__ == "__main__":
    main()
