"""CPC on EMO-DB: training time and epochs, speaker identity in the features, speed.

Issue #3's "must show":
- train `seral train-cpc` on EMO-DB (the paper's settings; early stopping, or the
  epoch cap given with --epochs) and report wall time and epochs on this machine;
- k-NN (k = 5, cosine, stratified 5-fold) speaker-identification accuracy of the
  256-dim CPC features (mean z_t; also mean c_t) next to the 600-dim log-mel functionals;
- training throughput in frames per second, extraction throughput as x real time (CPU).

    python benchmarks/cpc_emodb.py [--corpus ../shared/corpora/emodb/wav] [--epochs 40] [--out bench-out]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def seral(*args: str) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "seraltools", *args], check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - t


def knn_speaker_accuracy(x, speakers, seed=0) -> float:
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    return float(cross_val_score(KNeighborsClassifier(5, metric="cosine"), x, speakers, cv=cv).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora" / "emodb" / "wav")
    ap.add_argument("--epochs", type=int, default=40, help="epoch cap (the paper trains to early stopping)")
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    model = args.out / "emodb-cpc.safetensors"
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"corpus {args.corpus}")

    train_s = seral("train-cpc", str(args.corpus), str(model), "--epochs", str(args.epochs),
                    "--device", "cpu", "--quiet")
    import csv

    log = list(csv.DictReader(open(args.out / "emodb-cpc.log.csv")))
    epoch_s = sum(float(r["seconds"]) for r in log) / len(log)

    from seraltools.cpc import CPCConfig
    from seraltools.table import feature_matrix, read_table

    logmel_s = seral("extract", "--feat", "logmel", str(args.corpus), str(args.out / "emodb-logmel.parquet"), "-q")
    cpc_s = seral("extract", "--feat", "cpc", "--model", str(model), "--device", "cpu", str(args.corpus),
                  str(args.out / "emodb-cpc.parquet"), "-q")
    seral("extract", "--feat", "cpc", "--context", "--model", str(model), "--device", "cpu", str(args.corpus),
          str(args.out / "emodb-cpc-context.parquet"), "-q")
    lm = read_table(args.out / "emodb-logmel.parquet")
    audio_s = float(sum(lm.column("duration").to_pylist()))
    n_train = round(len(lm) * 0.8)
    seg = CPCConfig().segment
    best = min(log, key=lambda r: float(r["val_loss"]))
    stopped = len(log) < args.epochs
    print(f"\ntraining: {len(log)} epochs ({'early stop' if stopped else 'epoch cap'}), {train_s:.0f} s wall, "
          f"{epoch_s:.1f} s per epoch; best validation loss {float(best['val_loss']):.3f} "
          f"(accuracy of picking the positive {float(best['val_accuracy']):.3f}, chance 0.125) at epoch {best['epoch']}")
    print(f"training throughput: {n_train * seg / epoch_s:,.0f} frames/s "
          f"({n_train} utterances x {seg} frames per epoch, incl. validation)")
    print(f"extraction: cpc {audio_s / cpc_s:,.0f}x real time ({cpc_s:.1f} s for {audio_s:.0f} s of audio, CLI end to end); "
          f"logmel {audio_s / logmel_s:,.0f}x")

    speakers = lm.column("speaker").to_pylist()
    from seraltools.standardize import zscore

    rows = [("log-mel functionals (600)", feature_matrix(lm)),
            ("log-mel functionals, z-scored (600)", zscore(feature_matrix(lm))),
            ("CPC mean z_t (256)", feature_matrix(read_table(args.out / "emodb-cpc.parquet"))),
            ("CPC mean c_t (256)", feature_matrix(read_table(args.out / "emodb-cpc-context.parquet")))]
    print("\nk-NN speaker identification (k = 5, cosine, stratified 5-fold; 10 speakers, chance 0.10)")
    for name, x in rows:
        print(f"  {name:<38} {knn_speaker_accuracy(x, speakers):.3f}")


if __name__ == "__main__":
    main()
