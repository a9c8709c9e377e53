"""Table 2 from `seral evaluate ser` result tables, with paired tests against no pretraining.

    python benchmarks/ser_table.py bench-out/ser/ser-*.parquet

UAR (%) mean and std over seeds of the mean over folds (as `evaluate ser` prints), and
the mean paired difference to the "no pretraining" condition over matching (fold, seed)
runs with its paired t-test.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(paths: list[str]) -> None:
    import pyarrow as pa
    from scipy.stats import ttest_rel

    from seraltools.ser import summarize
    from seraltools.table import read_table

    rows = pa.concat_tables([read_table(p) for p in paths]).to_pylist()
    base = {(r["fold"], r["seed"]): r["uar"] for r in rows if r["condition"] == "no pretraining"}
    print(f"{'pretraining':<16} {'UAR mean':>9} {'std':>6} {'runs':>5} {'vs none':>8} {'p':>7} {'fine-tune s':>12}")
    order = ["no pretraining", "speaker", "contrastive", "mtl", "adversarial"]  # Table 2's
    for s in sorted(summarize(rows), key=lambda s: order.index(s["condition"]) if s["condition"] in order else 99):
        line = f"{s['condition']:<16} {100 * s['uar_mean']:>9.2f} {100 * s['uar_std']:>6.2f} {s['runs']:>5}"
        mine = {(r["fold"], r["seed"]): r["uar"] for r in rows if r["condition"] == s["condition"]}
        keys = sorted(set(mine) & set(base))
        if s["condition"] != "no pretraining" and len(keys) > 1:
            a, b = np.array([mine[k] for k in keys]), np.array([base[k] for k in keys])
            line += f" {100 * (a - b).mean():>+8.2f} {ttest_rel(a, b).pvalue:>7.3f}"
        else:
            line += f" {'':>8} {'':>7}"
        print(line + f" {s['seconds']:>12.0f}")


if __name__ == "__main__":
    main(sys.argv[1:])
