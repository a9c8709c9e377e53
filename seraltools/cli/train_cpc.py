"""seral train-cpc: contrastive predictive coding on log-mel frames."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seraltools.cli import app
from seraltools.cli._common import Device, Quiet, Seed, Threads, tool
from seraltools.cli.extract import CorpusName


@tool(app, "train-cpc")
def train_cpc_cmd(
    inputs: Annotated[list[str], typer.Argument(help="Audio files, directories or manifests, as for extract.", metavar="IN...")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model file to write (safetensors).", dir_okay=False)],
    corpus: Annotated[CorpusName, typer.Option("--corpus", help="File-name labels (unused for training; as for extract).")] = "auto",
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Maximum epochs.")] = 1000,
    patience: Annotated[int, typer.Option("--patience", min=1, help="Early stopping: epochs without a better validation loss.")] = 100,
    lr: Annotated[float, typer.Option("--lr", help="Adam learning rate.")] = 1e-4,
    lr_factor: Annotated[float, typer.Option("--lr-factor", help="Learning-rate reduction on plateau.")] = 0.7,
    lr_patience: Annotated[int, typer.Option("--lr-patience", min=1, help="Epochs without improvement before the reduction.")] = 20,
    batch_size: Annotated[int, typer.Option("--batch-size", min=2, help="Utterances per minibatch (the others are the negatives).")] = 8,
    segment: Annotated[float, typer.Option("--segment", help="Segment length in seconds (pad shorter, crop longer).")] = 5.0,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Prediction horizon K in frames (12 = 120 ms).")] = 12,
    val_fraction: Annotated[float, typer.Option("--val-fraction", help="Validation share of the utterances.")] = 0.2,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT.ckpt after a crash or Ctrl-C.")] = False,
    seed: Seed = 0,
    device: Device = "auto",
    threads: Threads = 0,
    quiet: Quiet = False,
) -> None:
    """Train a CPC model (the paper's g_enc, g_ar, W_k and InfoNCE loss) on log-mel frames.

    Writes the best-validation model to OUT, a checkpoint to OUT.ckpt (for --resume)
    and a per-epoch log (loss, accuracy of picking the positive, learning rate, time)
    to OUT's name with .log.csv.

    Example: seral train-cpc emodb/wav --out cpc.safetensors && seral extract --feat cpc --model cpc.safetensors emodb/wav cpc.parquet
    """
    from seraltools.corpora import collect_inputs
    from seraltools.cpc import CPCConfig, log_path, read_frames, train
    from seraltools.compute import prepare_torch
    from seraltools.progress import log, progress

    cfg = CPCConfig(steps=steps, segment_s=segment, batch_size=batch_size, lr=lr, lr_factor=lr_factor,
                    lr_patience=lr_patience, patience=patience, max_epochs=epochs, val_fraction=val_fraction, seed=seed)
    utterances, _ = collect_inputs(inputs, corpus, warn=log)
    dev = prepare_torch(device, threads, "train-cpc")
    from seraltools.corpora import sources

    frames = read_frames(sources(utterances))
    with progress(epochs, "train-cpc", quiet=quiet, unit="epoch") as advance:
        history = train(frames, cfg, str(out), device=dev, resume=resume, progress=lambda e, h: advance(1),
                        log=None if quiet else log)
    if not quiet:
        best = min(history, key=lambda h: h.val_loss)
        log(f"seral train-cpc: {len(history)} epochs on {dev}, best validation loss {best.val_loss:.4f} "
            f"(accuracy {best.val_accuracy:.3f}) at epoch {best.epoch} -> {out}, log {log_path(str(out))}")
