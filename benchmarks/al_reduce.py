"""Reduced selection features in MAL (the paper's Fig. 5, right), EMO-DB and TurEV-DB.

    python benchmarks/al_reduce.py [--out bench-out/al] [--seeds 0,1,2]

Needs OUT/<corpus>/logmel.parquet from benchmarks/al_fidelity.py. For each corpus:
`seral reduce` to PCA 32, AE 32, t-SNE 2, PCA t-SNE 2 and AE t-SNE 2 (the paper's
combinations), then one `seral evaluate al` with the unreduced log-mel and the five
reduced tables as --select (seral's defaults: z-scored selection features,
Euclidean, medoid labels), log-mel as --classify, the given seeds; prints mean MCC per
budget with MAL - random marked where the paired t-test over the (seed, repeat,
fold) cells gives p < 0.05, and the wall time of each step.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.al_fidelity import rows_of, seral  # noqa: E402

REDUCTIONS = {  # name -> (input name, reduce options)
    "pca32": ("logmel", ["--method", "pca", "--dim", "32"]),
    "ae32": ("logmel", ["--method", "ae", "--dim", "32"]),
    "tsne": ("logmel", ["--method", "tsne"]),
    "pca32-tsne": ("pca32", ["--method", "tsne"]),
    "ae32-tsne": ("ae32", ["--method", "tsne"]),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench-out/al")
    ap.add_argument("--seeds", default="0,1,2")
    args = ap.parse_args()
    from seraltools.simulate import summarize

    start = time.perf_counter()
    for corpus in ("emodb", "turevdb"):
        out = Path(args.out) / corpus
        print(f"\n=== {corpus} ===", flush=True)
        for name, (source, options) in REDUCTIONS.items():
            t = seral("reduce", *options, "-q", out / f"{source}.parquet", out / f"{name}.parquet")
            print(f"  reduce {name}: {t:.0f} s", flush=True)
        names = ["logmel", *REDUCTIONS]
        selects = [a for n in names for a in ("--select", out / f"{n}.parquet")]
        t = seral("evaluate", "al", *selects, "--classify", out / "logmel.parquet", "--seed", args.seeds,
                  "--budgets", "1%,2%,5%,10%,20%,50%", "-q", out / "al-reduce.parquet")
        print(f"  evaluate al ({len(names)} selection tables): {t:.0f} s", flush=True)
        summary = summarize(rows_of(out / "al-reduce.parquet"))
        budgets = sorted({s["budget"] for s in summary})
        print(f"\n{corpus}: mean MCC, MAL (medoid labels) per selection table; * above random, (-) below, "
              "paired t-test p < 0.05")
        print(f"{'selection':<12}" + "".join(f"{b * 100:>10g}%" for b in budgets))
        for n in names:
            cells = {s["budget"]: s for s in summary if s["feature_set"] == n}
            print(f"{n:<12}" + "".join(
                f"{cells[b]['selector_mcc']:.3f}{'*' if cells[b]['p'] < 0.05 and cells[b]['diff'] > 0 else '-' if cells[b]['p'] < 0.05 else ' '}".rjust(11)
                for b in budgets))
        random = {s["budget"]: s["random_mcc"] for s in summary if s["feature_set"] == "logmel"}
        print(f"{'random':<12}" + "".join(f"{random[b]:.3f} ".rjust(11) for b in budgets), flush=True)
    print(f"\nwall time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
