"""Issue #14's figure for `seral predict`: label a corpus by the MAL queue or in random order.

    python benchmarks/predict.py [--emodb DIR] [--turevdb MANIFEST] [--budgets 2,5,10] [--seeds 0,1,2,3,4]

For EMO-DB and TurEV-DB (log-mel functionals, seral's defaults): the corpus's own
valence and arousal labels play the annotator. For each budget b (% of the corpus)
and seed s:
- MAL: the first b % of `mal-select --seed s`'s queue are labelled (seraltools.tools.mal_select);
- random: b % drawn at random (seed s);
then `predict` (seraltools.tools.predict: RBF SVM, z-scored features, C/gamma by grid search
on the labelled rows) labels every row, and MCC and accuracy are measured on the rows
nobody labelled. Printed: mean over seeds of MAL and random, the mean paired
difference and a paired t-test over seeds (MCC averaged over valence and arousal).
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


def features(source: str, corpus: str):
    from seraltools.corpora import collect_inputs
    from seraltools.tools.extract import extract

    utts, _ = collect_inputs([source], corpus)
    return extract(utts, "logmel").table


def scores(table, labelled_ids: list[str], seed: int) -> dict:
    import pyarrow as pa
    from sklearn.metrics import matthews_corrcoef

    from seraltools.tools.predict import predict

    ids = table.column("id").to_pylist()
    row = {i: r for r, i in enumerate(ids)}
    tasks = ("valence", "arousal")
    truth = {t: np.array(table.column(t).to_pylist()) for t in tasks}
    labels = pa.table({"id": labelled_ids, **{t: pa.array([truth[t][row[i]] for i in labelled_ids], pa.int8())
                                              for t in tasks}})
    out, _ = predict(table, labels, seed=seed)
    rest = ~np.array(out.column("valence_labelled").to_pylist())  # valence and arousal are labelled together
    mcc = [matthews_corrcoef(truth[t][rest], np.array(out.column(f"{t}_predicted").to_pylist())[rest]) for t in tasks]
    acc = [float((truth[t][rest] == np.array(out.column(f"{t}_predicted").to_pylist())[rest]).mean()) for t in tasks]
    return {"mcc": float(np.mean(mcc)), "acc": float(np.mean(acc))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--emodb", default=str(ROOT.parent / "shared" / "corpora" / "emodb" / "wav"))
    ap.add_argument("--turevdb", default=str(ROOT.parent / "shared" / "corpora" / "turevdb" / "manifest.csv"))
    ap.add_argument("--budgets", default="2,5,10")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    args = ap.parse_args()
    from scipy.stats import ttest_rel

    from seraltools.tools.mal_select import mal_select as select

    budgets = [float(b) for b in args.budgets.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"{platform.machine()}, {os.cpu_count()} cores; seeds {seeds}; MCC and accuracy on the unlabelled rows, "
          "mean over valence and arousal")
    for name, source, corpus in (("EMO-DB", args.emodb, "emodb"), ("TurEV-DB", args.turevdb, "auto")):
        t0 = time.perf_counter()
        table = features(source, corpus)
        n = table.num_rows
        ids = table.column("id").to_pylist()
        print(f"\n{name}: {n} utterances")
        print(f"{'budget':>7} {'n':>4} {'MAL MCC':>8} {'random MCC':>11} {'diff':>7} {'p':>7} {'MAL acc':>8} {'random acc':>11}")
        for b in budgets:
            k = max(2, int(round(b / 100 * n)))
            mal, rnd = [], []
            for s in seeds:
                queue, _ = select(table, budget=str(k), only_queries=True, seed=s)
                order = np.argsort(queue.column("rank").to_numpy(zero_copy_only=False))
                mal.append(scores(table, [queue.column("id")[int(i)].as_py() for i in order[:k]], s))
                rng = np.random.default_rng(s)
                rnd.append(scores(table, [ids[i] for i in rng.choice(n, k, replace=False)], s))
            m, r = np.array([x["mcc"] for x in mal]), np.array([x["mcc"] for x in rnd])
            p = ttest_rel(m, r).pvalue if len(seeds) > 1 else float("nan")
            print(f"{b:>6g}% {k:>4} {m.mean():>8.3f} {r.mean():>11.3f} {m.mean() - r.mean():>+7.3f} {p:>7.3f} "
                  f"{np.mean([x['acc'] for x in mal]):>8.3f} {np.mean([x['acc'] for x in rnd]):>11.3f}", flush=True)
        print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
