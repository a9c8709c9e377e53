"""Issue #19: the speaker paper's Table 3 layout (a pretrained checkpoint, continued with the
intra-speaker objectives, then fine-tuned) beside Table 2's no-pretraining row, on EMO-DB
and TurEV-DB, in one `seral evaluate ser` run per corpus.

    python benchmarks/ser_table3.py [--emodb DIR] [--turevdb MANIFEST] [--out bench-out/table3]
        [--steps 100] [--seeds 2] [--epochs 3] [--checkpoint DIR]

No pretrained wav2vec 2.0 exists on this machine and nothing may be downloaded, so by
default the benchmark makes its own checkpoint: a wav2vec 2.0 of transformers with
random weights (the base model's 7-layer CNN with 64 channels, 2 transformer layers of
width 128, 4 heads, layer-normalised CNN features), saved as a Hugging Face directory.
The numbers therefore say that the pipeline runs end to end, not what the paper found
(its checkpoint was pretrained on VoxCeleb2). With --checkpoint DIR a real one is used.

Per corpus: d-vectors -> `seral cluster-speakers --k 20` -> `seral pretrain --init CKPT`
with the contrastive and the mtl objective (--steps steps, 2-s segments, batch 8, lr
5e-4, CNN feature encoder frozen) -> one `seral evaluate ser --train-cnn` (a random
checkpoint's CNN must learn; with a real one leave the default, --freeze-cnn) with four
conditions: no
pretraining (seral's encoder, random weights, the same width and depth), the checkpoint
as it is ("wav2vec 2.0"), and the two continued ones; 4 emotions; speaker-independent
folds (EMO-DB 5, TurEV-DB 3: 6 speakers); --seeds seeds; --epochs epochs at lr 1e-4.
Prints the UAR table (mean and std over seeds) and the wall time of each step.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def seral(*args, capture: bool = False) -> str:
    out = subprocess.run([sys.executable, "-m", "seraltools", *map(str, args)], check=True, text=True,
                         capture_output=capture, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return (out.stderr or "") if capture else ""


def make_checkpoint(d: Path) -> None:
    import torch
    import transformers

    torch.manual_seed(0)
    cfg = transformers.Wav2Vec2Config(hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                                      intermediate_size=512, conv_dim=(64,) * 7, feat_extract_norm="layer",
                                      do_stable_layer_norm=True, num_conv_pos_embeddings=128,
                                      num_conv_pos_embedding_groups=16)
    transformers.utils.logging.disable_progress_bar()
    transformers.Wav2Vec2Model(cfg).save_pretrained(d, safe_serialization=True)
    (d / "preprocessor_config.json").write_text(json.dumps({"do_normalize": True, "sampling_rate": 16000}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--emodb", default=str(ROOT.parent / "shared" / "corpora" / "emodb" / "wav"))
    ap.add_argument("--turevdb", default=str(ROOT.parent / "shared" / "corpora" / "turevdb" / "manifest.csv"))
    ap.add_argument("--out", default="bench-out/table3")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    ckpt = Path(args.checkpoint) if args.checkpoint else out / "wav2vec2-random"
    if not args.checkpoint and not (ckpt / "config.json").exists():
        make_checkpoint(ckpt)
    print(f"{platform.machine()}, {os.cpu_count()} cores; checkpoint {ckpt}"
          + ("" if args.checkpoint else " (random weights: the numbers say the pipeline runs, not the paper's result)"))
    corpora = (("EMO-DB", args.emodb, "emodb", "anger,happiness,neutral,sadness", 5),
               ("TurEV-DB", args.turevdb, "auto", "anger,calm,happiness,sadness", 3))
    for name, source, corpus, emotions, folds in corpora:
        d = out / name.lower().replace("-", "")
        d.mkdir(exist_ok=True)
        times = {}
        t = time.perf_counter()
        if not (d / "clusters.parquet").exists():
            seral("extract", "-q", "--feat", "dvector", "--corpus", corpus, source, d / "dvector.parquet")
            seral("cluster-speakers", "-q", "--k", 20, d / "dvector.parquet", d / "clusters.parquet")
        times["d-vectors + clusters"] = time.perf_counter() - t
        for objective in ("contrastive", "mtl"):
            t = time.perf_counter()
            if not (d / f"{objective}.safetensors").exists():
                seral("pretrain", "-q", "--corpus", corpus, source, "--clusters", d / "clusters.parquet", "--init", ckpt,
                      "--objective", objective, "--steps", args.steps, "--segment", 2, "--lr", "5e-4",
                      d / f"{objective}.safetensors")
            times[f"pretrain --init, {objective} ({args.steps} steps)"] = time.perf_counter() - t
        t = time.perf_counter()
        report = seral("evaluate", "ser", "--corpus", corpus, source, "--emotions", emotions, "--folds", folds,
                       "--seeds", args.seeds, "--epochs", args.epochs, "--lr", "1e-4", "--segment", 2, "--train-cnn",
                       "--no-pretrain", "--conv-channels", 64, "--width", 128, "--layers", 2, "--heads", 4,
                       "--encoder", f"wav2vec 2.0={ckpt}",
                       "--encoder", f"wav2vec 2.0 + contrastive={d / 'contrastive.safetensors'}",
                       "--encoder", f"wav2vec 2.0 + mtl={d / 'mtl.safetensors'}",
                       d / "ser.parquet", capture=True)
        times[f"evaluate ser (4 conditions x {folds} folds x {args.seeds} seeds, {args.epochs} epochs)"] = \
            time.perf_counter() - t
        print(f"\n{name}: UAR (%), {len(emotions.split(','))} classes, {folds} speaker-independent folds, "
              f"mean and std over {args.seeds} seeds")
        print(report.strip())
        for step, seconds in times.items():
            print(f"  {step}: {seconds:.0f} s")
    print(f"\nwall time {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
