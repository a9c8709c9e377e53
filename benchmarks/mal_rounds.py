"""Issue #14's rounds: the prefix-stable MAL queue against random sampling above k = N/3.

    python benchmarks/mal_rounds.py [--emodb DIR] [--turevdb MANIFEST] [--seeds 0,1,2]
        [--budgets 0.2,0.33,0.5]

The MAL queue is prefix-stable (seraltools.mal.mal_queue): past the k = N/3 medoids it
goes on with the medoids of a MAL clustering of the rows not yet queued, so a second
round continues the first. This runs the paper's simulation (`seral evaluate al`:
log-mel functionals for selection and classification, z-scored, medoid labels, 5
folds x 5 repeats per seed, RBF SVM, MCC averaged over valence and arousal) on EMO-DB
and TurEV-DB at budgets around and above k, and at 50 % also the rule it replaces
(cluster again with k = budget, which is not prefix-stable). Printed per corpus and
budget: mean MCC of each selector, the difference to random and the paired t-test over
the (seed, repeat, fold) cells; wall times.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def recluster_with_k_equal_budget(x, budget, k=None, **options):
    """The replaced rule: a budget above k clusters again with k = budget."""
    from seraltools.mal import default_k, mal

    k = default_k(len(x)) if k is None else int(k)
    c = mal(x, max(k, int(budget)), **{o: v for o, v in options.items() if o != "labelled"})
    return c.queue(int(budget)), c


def cell_mcc(rows, selector, budget):
    """(seed, repeat, fold) -> MCC averaged over the tasks."""
    cells: dict = {}
    for r in rows:
        if r["selector"] == selector and r["budget"] == budget:
            cells.setdefault((r["seed"], r["repeat"], r["fold"]), []).append(r["mcc"])
    return {c: float(np.mean(v)) for c, v in cells.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--emodb", default=str(ROOT.parent / "shared" / "corpora" / "emodb" / "wav"))
    ap.add_argument("--turevdb", default=str(ROOT.parent / "shared" / "corpora" / "turevdb" / "manifest.csv"))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--budgets", default="0.2,0.33,0.5")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    from scipy.stats import ttest_rel

    import seraltools.mal as mal_module
    from seraltools.corpora import collect_inputs
    from seraltools.tools.extract import extract
    from seraltools.simulate import SimulationConfig, simulate
    from seraltools.table import feature_matrix

    seeds = tuple(int(s) for s in args.seeds.split(","))
    budgets = tuple(float(b) for b in args.budgets.split(","))
    print(f"{platform.machine()}, {os.cpu_count()} cores; seeds {list(seeds)} x 5 repeats x 5 folds; log-mel, "
          "medoid labels; mean MCC over valence and arousal; paired t-test over cells against random")
    t_all = time.perf_counter()
    for name, source, corpus in (("EMO-DB", args.emodb, "emodb"), ("TurEV-DB", args.turevdb, "auto")):
        t0 = time.perf_counter()
        utts, _ = collect_inputs([source], corpus)
        table = extract(utts, "logmel").table
        x = feature_matrix(table)
        labels = {t: np.asarray(table.column(t).to_pylist()) for t in ("valence", "arousal")}
        t_extract = time.perf_counter() - t0
        stable = simulate({"logmel": x}, x, labels,
                          SimulationConfig(budgets=budgets, seeds=seeds), workers=args.workers).rows
        t_stable = time.perf_counter() - t0 - t_extract
        original = mal_module.mal_queue
        mal_module.mal_queue = recluster_with_k_equal_budget  # simulate imports it at call time
        try:
            old = simulate({"logmel": x}, x, labels, SimulationConfig(budgets=(0.5,), seeds=seeds),
                           workers=1).rows
        finally:
            mal_module.mal_queue = original
        print(f"\n{name}: {table.num_rows} utterances (extract {t_extract:.0f} s, simulation {t_stable:.0f} s, "
              f"k = N/3 of a training fold)")
        print(f"{'budget':>7} {'selector':<34} {'MCC':>6} {'- random':>9} {'p':>9}")
        for b in budgets:
            rnd = cell_mcc(stable, "random", b)
            entries = [("MAL, prefix-stable (seral)", cell_mcc(stable, "mal", b))]
            if b == 0.5:
                entries.append(("MAL, clustered again with k = budget", cell_mcc(old, "mal", b)))
            keys = sorted(rnd)
            print(f"{b * 100:>6g}% {'random sampling':<34} {np.mean([rnd[c] for c in keys]):>6.3f}")
            for label, m in entries:
                a, r = np.array([m[c] for c in keys]), np.array([rnd[c] for c in keys])
                p = ttest_rel(a, r).pvalue
                print(f"{'':>7} {label:<34} {a.mean():>6.3f} {a.mean() - r.mean():>+9.3f} {p:>9.2g}", flush=True)
        print(f"({time.perf_counter() - t0:.0f} s)")
    print(f"\nwall time {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
