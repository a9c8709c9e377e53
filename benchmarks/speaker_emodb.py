"""Speaker embeddings on EMO-DB: d-vector speed and agreement against resemblyzer, and
the paper's Table 1 metrics of intra-speaker clusters (issue #6's "must show").

    python benchmarks/speaker_emodb.py [--corpus ../shared/corpora/emodb/wav] [--out bench-out]

1. d-vector extraction speed as x real time, in the same run:
   - `seral extract --feat dvector` end to end (a fresh process: start-up, imports,
     reading, VAD, the network, writing Parquet);
   - seral's extractor in-process (batches of 16 files);
   - resemblyzer's own pipeline in-process, as its README uses it:
     `VoiceEncoder().embed_utterance(preprocess_wav(path))` file after file.
   It also prints the lowest cosine between seral's and resemblyzer's vectors.
2. `seral cluster-speakers --k 4` and `seral evaluate clusters` on the four emotions
   (neutral, happiness, sadness, anger) for d-vectors and 600-dim log-mel functionals,
   next to the paper's ESD d-vector row; the Fig. 1 map of the d-vectors goes to
   docs/emodb-dvector-map.png.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FOUR = "neutral,happiness,sadness,anger"


def seral(*args: str, capture: bool = False) -> tuple[float, str]:
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "seraltools", *map(str, args)], check=True, text=True,
                       stdout=subprocess.PIPE if capture else None, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - t, p.stdout or ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora" / "emodb" / "wav")
    ap.add_argument("--out", type=Path, default=ROOT / "bench-out")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    import torch

    from seraltools.audio import load_audio
    from seraltools.features.dvector import DVectorFeatures

    files = sorted(str(p) for p in args.corpus.glob("*.wav"))
    audio_s = sum(load_audio(f).duration for f in files)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; {len(files)} files, {audio_s:.0f} s of audio")

    dv = args.out / "emodb-dvector.parquet"
    t_cli, _ = seral("extract", "--feat", "dvector", "--quiet", args.corpus, dv)
    ext = DVectorFeatures()
    t = time.perf_counter()
    ours = np.concatenate([ext.batch([load_audio(f).samples for f in files[i : i + 16]])
                           for i in range(0, len(files), 16)])
    t_lib = time.perf_counter() - t
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from resemblyzer import VoiceEncoder, preprocess_wav

        enc = VoiceEncoder("cpu", verbose=False)
        t = time.perf_counter()
        theirs = np.stack([enc.embed_utterance(preprocess_wav(f)) for f in files])
        t_rz = time.perf_counter() - t
    cos = (ours * theirs).sum(1)
    print("\nd-vector extraction (x real time, higher is faster)")
    print(f"  seral extract --feat dvector (CLI, end to end)  {t_cli:6.1f} s  {audio_s / t_cli:7.0f}x")
    print(f"  seral DVectorFeatures.batch (in-process)         {t_lib:6.1f} s  {audio_s / t_lib:7.0f}x")
    print(f"  resemblyzer embed_utterance(preprocess_wav)      {t_rz:6.1f} s  {audio_s / t_rz:7.0f}x")
    print(f"  seral CLI / resemblyzer: {t_rz / t_cli:.2f}x; in-process: {t_rz / t_lib:.2f}x")
    print(f"  cosine(seral, resemblyzer) over {len(files)} files: min {cos.min():.6f}, mean {cos.mean():.6f}")

    lm = args.out / "emodb-logmel.parquet"
    if not lm.exists():
        seral("extract", "--feat", "logmel", "--quiet", args.corpus, lm)
    print(f"\nIntra-speaker clusters, EMO-DB, {FOUR}, k = 4 (mean over 10 speakers)")
    print(f"  {'features':<28} {'NMI':>6} {'ARI':>6} {'purity':>7} {'silhouette':>11}")
    for name, table in (("d-vector (GE2E, 256)", dv), ("log-mel functionals (600)", lm)):
        clusters = args.out / f"{table.stem}-clusters.parquet"
        seral("cluster-speakers", "--k", 4, "--emotions", FOUR, "--quiet", table, clusters)
        plot = ["--plot", ROOT / "docs" / "emodb-dvector-map.png"] if table == dv else []
        metrics = args.out / f"{table.stem}-cluster-metrics.parquet"
        seral("evaluate", "clusters", "--emotions", FOUR, "--quiet", *plot, clusters, metrics)
        mean = pq.read_table(metrics).to_pylist()[-1]  # the last row: the mean over speakers
        print(f"  {name:<28} {mean['nmi']:>6.3f} {mean['ari']:>6.3f} {mean['purity']:>7.3f} {mean['silhouette']:>11.3f}")
    print(f"  {'paper, ESD, d-vector':<28} {0.76:>6.2f} {0.72:>6.2f} {0.89:>7.2f} {0.14:>11.2f}")


if __name__ == "__main__":
    main()
