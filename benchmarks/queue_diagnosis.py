"""Why MAL's queue loses to random sampling on RAVDESS and not on EMO-DB (issue #26, item 3).

    python benchmarks/queue_diagnosis.py [--emodb ../shared/corpora/emodb/wav]
        [--turevdb ../shared/corpora/turevdb/manifest.csv] [--ravdess ../shared/corpora/ravdess/manifest.csv]
        [--out bench-out/default] [--seeds 0,1,2,3,4]

For each corpus, MAL's queue at seral's defaults (z-scored log-mel, Euclidean, k = N/3)
on the whole corpus against random queues (--seeds), at 2 %, 5 % and 10 % of the rows:
- the emotions asked (normalised entropy: 1 = every emotion equally often), the share of
  the rarest emotion, valence and arousal balance;
- speakers covered; for RAVDESS, the statement and intensity shares;
- duration and the share of digital silence (samples exactly 0) of the files asked;
- how far the queries lie from the corpus centre (mean Euclidean norm of z-scored features)
  and how typical they are (mean distance to their 20 nearest neighbours), against all rows;
- the cluster sizes whose medoids make the queue;
then `seral mal-select --explain` (what drives the distances: principal components and
how much of each the speaker and the labels explain).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def entropy(values) -> float:
    _, c = np.unique(np.asarray(values, dtype=str), return_counts=True)
    p = c / c.sum()
    return float(-(p * np.log(p)).sum() / np.log(len(p))) if len(p) > 1 else 0.0


def silence_share(path: str) -> float:
    import soundfile as sf

    x, _ = sf.read(path, dtype="int16", always_2d=True)
    return float(np.mean(x == 0))


def describe(t, rows, x, knn, silence, classes) -> dict:
    emo = [t["emotion"][r] for r in rows]
    counts = {c: emo.count(c) for c in classes}
    d = {"emotion entropy": entropy(emo), "rarest emotion share": min(counts.values()) / len(rows),
         "valence=1 share": float(np.mean([t["valence"][r] == 1 for r in rows])),
         "arousal=1 share": float(np.mean([t["arousal"][r] == 1 for r in rows])),
         "speakers": len({t["speaker"][r] for r in rows}),
         "duration (s)": float(np.mean([t["duration"][r] for r in rows])),
         "digital silence": float(np.mean([silence[r] for r in rows])),
         "norm (z)": float(np.linalg.norm(x[rows], axis=1).mean()),
         "kNN distance": float(knn[rows].mean())}
    for col in ("statement", "intensity"):
        if col in t:
            d[f"{col} share (most)"] = max(np.unique([t[col][r] for r in rows], return_counts=True)[1]) / len(rows)
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--emodb", default=str(ROOT.parent / "shared/corpora/emodb/wav"))
    ap.add_argument("--turevdb", default=str(ROOT.parent / "shared/corpora/turevdb/manifest.csv"))
    ap.add_argument("--ravdess", default=str(ROOT.parent / "shared/corpora/ravdess/manifest.csv"))
    ap.add_argument("--out", default="bench-out/default")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    a = ap.parse_args()
    from sklearn.neighbors import NearestNeighbors

    from seraltools.mal import mal_queue, random_queue
    from seraltools.standardize import zscore
    from seraltools.table import feature_matrix, read_table

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for corpus, source in (("EMO-DB", a.emodb), ("TurEV-DB", a.turevdb), ("RAVDESS", a.ravdess)):
        path = Path(a.out) / corpus / "logmel.parquet"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "seraltools", "extract", "-q", source, path], check=True, env=env)
        table = read_table(str(path))
        t = {c: table.column(c).to_pylist() for c in table.column_names if c != "features"}
        x = zscore(feature_matrix(table))
        n = len(x)
        classes = sorted(set(t["emotion"]))
        silence = np.array([silence_share(p) for p in t["path"]])
        knn = NearestNeighbors(n_neighbors=21).fit(x).kneighbors(x)[0][:, 1:].mean(axis=1)
        order, c = mal_queue(x, n // 10, metric="euclidean", seed=0)
        print(f"\n== {corpus}: {n} rows, {len(set(t['speaker']))} speakers, {len(classes)} emotions; "
              f"all rows: digital silence {silence.mean():.1%}, duration {np.mean(t['duration']):.2f} s")
        sizes = c.sizes[c.cluster[order[:c.k]]] if len(order) else []
        print(f"MAL clusters k = {c.k}: sizes of the first 2 % of the queue's clusters "
              f"{list(map(int, sizes[:max(1, n // 50)]))}; median cluster {np.median(c.sizes):g}")
        for share in (0.02, 0.05, 0.10):
            b = max(1, int(round(share * n)))
            mal = describe(t, order[:b], x, knn, silence, classes)
            rand = [describe(t, random_queue(n, b, int(s)), x, knn, silence, classes) for s in a.seeds.split(",")]
            print(f"-- first {b} queries ({share:.0%}): MAL | random (mean of {len(rand)} seeds) | all rows")
            whole = describe(t, np.arange(n), x, knn, silence, classes)
            for key in mal:
                print(f"   {key:<26} {mal[key]:>8.3f} | {np.mean([r[key] for r in rand]):>8.3f} | {whole[key]:>8.3f}")
        explain = subprocess.run([sys.executable, "-m", "seraltools", "mal-select", "--explain", path,
                                  Path(a.out) / corpus / "queue_explain.parquet"], capture_output=True, text=True,
                                 env=env)
        print("-- seral mal-select --explain")
        print("\n".join(line for line in explain.stderr.splitlines() if not line.startswith("seral mal-select:")))


if __name__ == "__main__":
    main()
