"""seral train-cpc: contrastive predictive coding on log-mel frames."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from seraltools.cli._app import app
from seraltools.cli._common import CorpusName, Device, Quiet, Seed, Threads, deprecated, inputs_and_output, tool


@tool(app, "train-cpc")
def train_cpc_cmd(
    paths: Annotated[list[str], typer.Argument(help="Audio files, directories or manifests, as for extract, then the model file to write (safetensors).", metavar="IN... OUTPUT")],
    corpus: Annotated[CorpusName, typer.Option("--corpus", help="File-name labels (unused for training; as for extract).")] = "auto",
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Maximum epochs.")] = 1000,
    patience: Annotated[int, typer.Option("--patience", min=1, help="Early stopping: epochs without a better validation loss.")] = 100,
    lr: Annotated[float, typer.Option("--lr", help="Adam learning rate.")] = 1e-4,
    lr_factor: Annotated[float, typer.Option("--lr-factor", help="Learning-rate reduction on plateau.")] = 0.7,
    lr_patience: Annotated[int, typer.Option("--lr-patience", min=1, help="Epochs without improvement before the reduction.")] = 20,
    batch_size: Annotated[int, typer.Option("--batch-size", min=2, help="Utterances per minibatch (the others are the negatives).")] = 8,
    segment: Annotated[float, typer.Option("--segment", help="Segment length in seconds (pad shorter, crop longer).")] = 5.0,
    horizon: Annotated[int, typer.Option("--horizon", min=1, help="Prediction horizon K in frames (12 = 120 ms).")] = 12,
    steps: Annotated[Optional[int], typer.Option("--steps", min=1, hidden=True, help="Deprecated: --horizon.")] = None,
    val_fraction: Annotated[float, typer.Option("--val-fraction", help="Validation share of the utterances.")] = 0.2,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUTPUT.ckpt after a crash or Ctrl-C.")] = False,
    seed: Seed = 0,
    device: Device = "auto",
    threads: Threads = 0,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", hidden=True, help="Deprecated: OUTPUT after the inputs.", dir_okay=False)] = None,
    quiet: Quiet = False,
) -> None:
    """Train a CPC model (the paper's g_enc, g_ar, W_k and InfoNCE loss) on log-mel frames.

    Writes the best-validation model to OUTPUT, a checkpoint to OUTPUT.ckpt (for --resume)
    and a per-epoch log (loss, accuracy of picking the positive, learning rate, time)
    to OUTPUT's name with .log.csv.

    Example: seral train-cpc emodb/wav cpc.safetensors && seral extract --feat cpc --model cpc.safetensors emodb/wav cpc.parquet
    """
    from seraltools.compute import prepare_torch
    from seraltools.corpora import collect_inputs
    from seraltools.cpc import CPCConfig, log_path
    from seraltools.progress import log, progress
    from seraltools.tools.pretrain import train_cpc

    inputs, out = inputs_and_output(paths, out, "train-cpc")
    if steps is not None:  # the old name (--steps is optimiser steps in pretrain)
        deprecated("train-cpc", "--steps")
        horizon = steps
    cfg = CPCConfig(steps=horizon, segment_s=segment, batch_size=batch_size, lr=lr, lr_factor=lr_factor,
                    lr_patience=lr_patience, patience=patience, max_epochs=epochs, val_fraction=val_fraction, seed=seed)
    utterances, _ = collect_inputs(inputs, corpus, warn=log)
    dev = prepare_torch(device, threads, "train-cpc")
    with progress(epochs, "train-cpc", quiet=quiet, unit="epoch") as advance:
        history = train_cpc(utterances, cfg, str(out), device=dev, resume=resume, progress=lambda e, h: advance(1),
                            log=None if quiet else log)
    if not quiet:
        best = min(history, key=lambda h: h.val_loss)
        log(f"seral train-cpc: {len(history)} epochs on {dev}, best validation loss {best.val_loss:.4f} "
            f"(accuracy {best.val_accuracy:.3f}) at epoch {best.epoch} -> {out}, log {log_path(str(out))}")
