"""Issue #29's figures: several raters, predict's default route, dimensional labels.

    nice -n 10 python benchmarks/raters.py [--emodb DIR] [--turevdb MANIFEST] [--seeds 0,1,2,3,4]
                                           [--cache DIR] [--parts route,raters,scale]

Features: log-mel functionals by `seral extract --feat logmel` (cached in --cache). The
corpus's own emotion labels play the annotators.

1. route: predict's default route against label propagation. EMO-DB and TurEV-DB, budgets
   2/5/10 %: the first b % of the MAL queue (`mal-select --seed s`) are annotated with the
   true emotion; "direct" = `predict` on those answers, "propagated" = `cluster-labels`
   (each medoid's label for its cluster) then `predict`. MCC (7 or 5 classes) on the rows
   nobody annotated; mean over seeds, paired t-test over seeds. Also the cross-validated
   figure each route prints, beside the MCC it reaches.
2. raters: EMO-DB, the first 10 % of the MAL queue asked of R raters (R = 1, 3), each
   giving the true emotion with probability p (0.6, 0.8), else another emotion at random.
   Labels by majority (ties: the later answer) and by the last answer (seral before #29);
   predict's MCC on the unlabelled rows; Krippendorff's alpha (nominal) of the raters by
   seraltools.agreement beside the `krippendorff` package's value on the same answers.
3. scale: dimensional labels. No corpus here has them, so they are DERIVED from the
   emotion categories (valence/arousal on 1-5 from a circumplex placement, below), rated
   by 3 simulated raters with Gaussian noise (sd 0.8, rounded, clipped to 1-5) and
   averaged (`--aggregate auto`); predict regresses them (SVR); CCC on the unlabelled
   rows against the derived values, at 5 and 10 %.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Valence and arousal (1-5) placed from each emotion category (circumplex; derived, not rated).
CIRCUMPLEX = {"anger": (1.5, 4.5), "happiness": (4.5, 4.0), "neutral": (3.0, 2.5), "sadness": (1.5, 1.5),
              "fear": (1.5, 4.0), "disgust": (1.5, 3.0), "boredom": (2.5, 1.0), "surprise": (3.5, 4.5),
              "calm": (3.5, 1.5)}


def features(name: str, source: str, corpus: str, cache: Path):
    from seraltools.table import read_table

    out = cache / f"{name}-logmel.parquet"
    if not out.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "seraltools", "extract", "--feat", "logmel", "--corpus", corpus, "-q",
                        source, str(out)], check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return read_table(out)


def mcc_rest(out, truth: np.ndarray, column: str = "emotion") -> float:
    from sklearn.metrics import matthews_corrcoef

    ids = out.column("id").to_pylist()
    pred = np.array(out.column(f"{column}_predicted").to_pylist(), dtype=object)
    rest = np.array([i not in ANNOTATED for i in ids])
    return float(matthews_corrcoef(truth[rest].astype(str), pred[rest].astype(str)))


ANNOTATED: set = set()


def queue(table, k: int, seed: int):
    from seraltools.tools.mal_select import mal_select

    q, _ = mal_select(table.drop_columns([c for c in ("emotion", "valence", "arousal") if c in table.column_names]),
                      budget=str(k), seed=seed)  # the truth is the annotators', not the queue's
    ranks = q.column("rank").to_pylist()
    ids = q.column("id").to_pylist()
    order = sorted((r, i) for i, r in zip(ids, ranks) if r is not None)
    return q, [i for _, i in order[:k]]


def part_route(tables: dict, seeds: list[int]) -> None:
    import pyarrow as pa
    from scipy.stats import ttest_rel

    from seraltools.tools.mal_select import cluster_labels
    from seraltools.tools.predict import predict

    print("\n1. predict on the answers (direct, the default) vs cluster-labels -> predict (propagated): "
          "MCC on the rows nobody annotated, emotion")
    print(f"{'corpus':>9} {'budget':>6} {'n':>4} {'direct':>7} {'propag.':>8} {'diff':>7} {'p':>7}   "
          f"{'CV direct':>9} {'CV propag.':>10}")
    for name, table in tables.items():
        ids = table.column("id").to_pylist()
        truth = np.array(table.column("emotion").to_pylist(), dtype=object)
        row = {i: r for r, i in enumerate(ids)}
        for b in (2, 5, 10):
            k = max(2, int(round(b / 100 * len(ids))))
            direct, prop, cvd, cvp = [], [], [], []
            for s in seeds:
                q, asked = queue(table, k, s)
                ANNOTATED.clear()
                ANNOTATED.update(asked)
                labels = pa.table({"id": asked, "emotion": [truth[row[i]] for i in asked]})
                out, summary = predict(table, labels, seed=s)
                direct.append(mcc_rest(out, truth))
                cvd.append(summary["fits"]["emotion"]["cv_mcc"])
                propagated, _ = cluster_labels(q, labels)
                lab = propagated.select(["id", "emotion", "label_source"])
                out, summary = predict(table, lab, seed=s)
                prop.append(mcc_rest(out, truth))
                cvp.append(summary["fits"]["emotion"]["cv_mcc"])
            d, p = np.array(direct), np.array(prop)
            pv = ttest_rel(d, p).pvalue if len(seeds) > 1 else float("nan")

            def cv(xs):
                xs = [x for x in xs if x is not None]
                return f"{np.mean(xs):.3f}" if xs else "none"

            print(f"{name:>9} {b:>5}% {k:>4} {d.mean():>7.3f} {p.mean():>8.3f} {d.mean() - p.mean():>+7.3f} "
                  f"{pv:>7.3g}   {cv(cvd):>9} {cv(cvp):>10}", flush=True)


def part_raters(table, seeds: list[int]) -> None:
    import pyarrow as pa

    from seraltools.agreement import krippendorff_alpha
    from seraltools.labels import aggregate
    from seraltools.tools.predict import predict

    try:
        import krippendorff
    except ImportError:
        krippendorff = None
    ids = table.column("id").to_pylist()
    truth = np.array(table.column("emotion").to_pylist(), dtype=object)
    classes = sorted(set(truth))
    row = {i: r for r, i in enumerate(ids)}
    k = int(round(0.10 * len(ids)))
    print(f"\n2. simulated raters on EMO-DB, the first 10 % of the MAL queue ({k} utterances); predict's MCC on the "
          "rest (emotion); label accuracy = share of the annotated rows whose label is the true one")
    print(f"{'p':>4} {'R':>2} {'label acc maj.':>14} {'last':>6} {'MCC maj.':>9} {'MCC last':>9} "
          f"{'alpha (seral)':>13} {'alpha (krippendorff pkg)':>24}")
    for p in (0.6, 0.8):
        for r in (1, 3):
            acc_m, acc_l, mcc_m, mcc_l, al, al_ref = [], [], [], [], [], []
            for s in seeds:
                _, asked = queue(table, k, s)
                ANNOTATED.clear()
                ANNOTATED.update(asked)
                rng = np.random.default_rng(1000 + s)
                rows = []
                for rater in range(r):
                    for i in asked:
                        t = truth[row[i]]
                        v = t if rng.random() < p else rng.choice([c for c in classes if c != t])
                        rows.append((i, str(v), f"r{rater}"))
                log = pa.table({"id": [x[0] for x in rows], "emotion": [x[1] for x in rows],
                                "annotator": [x[2] for x in rows], "time": [f"{n:06d}" for n in range(len(rows))]})
                for how, accs, mccs in (("auto", acc_m, mcc_m), ("last", acc_l, mcc_l)):
                    lab = aggregate(log, how).select(["id", "emotion"])
                    got = dict(zip(lab.column("id").to_pylist(), lab.column("emotion").to_pylist()))
                    accs.append(np.mean([got[i] == truth[row[i]] for i in asked]))
                    out, _ = predict(table, lab, seed=s)
                    mccs.append(mcc_rest(out, truth))
                if r > 1:
                    units = [[v for (u, v, _) in rows if u == i] for i in asked]
                    al.append(krippendorff_alpha(units, "nominal"))
                    if krippendorff is not None:
                        code = {c: n for n, c in enumerate(classes)}
                        data = np.array([[code[units[u][j]] for u in range(len(units))] for j in range(r)], float)
                        al_ref.append(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
            ref = (f"{np.mean(al_ref):.6f}" if al_ref else "n/a (not installed)") if r > 1 else "-"
            print(f"{p:>4} {r:>2} {np.mean(acc_m):>14.3f} {np.mean(acc_l):>6.3f} {np.mean(mcc_m):>9.3f} "
                  f"{np.mean(mcc_l):>9.3f} {(f'{np.mean(al):.6f}' if al else '-'):>13} {ref:>24}", flush=True)


def part_scale(table, seeds: list[int]) -> None:
    import pyarrow as pa

    from seraltools.agreement import ccc
    from seraltools.labels import aggregate
    from seraltools.tools.predict import predict

    ids = table.column("id").to_pylist()
    emo = table.column("emotion").to_pylist()
    row = {i: r for r, i in enumerate(ids)}
    true = {d: np.array([CIRCUMPLEX[e][d] for e in emo]) for d in (0, 1)}
    print("\n3. dimensional labels DERIVED from EMO-DB's categories (valence/arousal 1-5, circumplex placement), "
          "3 simulated raters (noise sd 0.8, rounded), their mean; predict's SVR, CCC on the rest")
    print(f"{'budget':>6} {'n':>4} {'CCC valence':>12} {'CCC arousal':>12} {'CV CCC valence':>15} {'CV CCC arousal':>15}")
    for b in (5, 10):
        k = int(round(b / 100 * len(ids)))
        res = {"valence": [], "arousal": [], "cv_valence": [], "cv_arousal": []}
        for s in seeds:
            _, asked = queue(table, k, s)
            rng = np.random.default_rng(2000 + s)
            rows = []
            for rater in range(3):
                for i in asked:
                    v, a = (np.clip(np.round(true[d][row[i]] + rng.normal(0, 0.8)), 1, 5) for d in (0, 1))
                    rows.append((i, float(v), float(a), f"r{rater}"))
            log = pa.table({"id": [x[0] for x in rows], "valence": pa.array([x[1] for x in rows], pa.float64()),
                            "arousal": pa.array([x[2] for x in rows], pa.float64()),
                            "annotator": [x[3] for x in rows], "time": [f"{n:06d}" for n in range(len(rows))]})
            lab = aggregate(log, "auto", scales=["valence", "arousal"]).select(["id", "valence", "arousal"])
            out, summary = predict(table, lab, seed=s)
            rest = np.array([i not in set(asked) for i in ids])
            for d, col in ((0, "valence"), (1, "arousal")):
                pred = np.array(out.column(f"{col}_predicted").to_pylist())
                res[col].append(ccc(true[d][rest], pred[rest]))
                res[f"cv_{col}"].append(summary["fits"][col]["cv_ccc"])
        print(f"{b:>5}% {k:>4} {np.mean(res['valence']):>12.3f} {np.mean(res['arousal']):>12.3f} "
              f"{np.mean([x for x in res['cv_valence'] if x is not None]):>15.3f} "
              f"{np.mean([x for x in res['cv_arousal'] if x is not None]):>15.3f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--emodb", default=str(ROOT.parent / "shared" / "corpora" / "emodb" / "wav"))
    ap.add_argument("--turevdb", default=str(ROOT.parent / "shared" / "corpora" / "turevdb" / "manifest.csv"))
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--cache", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "seral-bench-raters"))
    ap.add_argument("--parts", default="route,raters,scale")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    parts = args.parts.split(",")
    t0 = time.perf_counter()
    print(f"{platform.machine()}, {os.cpu_count()} cores; seeds {seeds}")
    emodb = features("emodb", args.emodb, "emodb", Path(args.cache))
    tables = {"EMO-DB": emodb}
    if "route" in parts:
        tables["TurEV-DB"] = features("turevdb", args.turevdb, "auto", Path(args.cache))
        part_route(tables, seeds)
    if "raters" in parts:
        part_raters(emodb, seeds)
    if "scale" in parts:
        part_scale(emodb, seeds)
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
