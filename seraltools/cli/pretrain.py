"""seral pretrain: contrastive pretraining of an SER encoder on intra-speaker clusters."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from seraltools.cli._app import app
from seraltools.cli._common import (ConvChannels, CorpusName, Device, Heads, Layers, Quiet, Seed, Threads, Width,
                                    encoder_options, inputs_and_output, tool)

Objective = Literal["contrastive", "mtl", "adversarial", "speaker"]


@tool(app, "pretrain")
def pretrain_cmd(
    paths: Annotated[list[str], typer.Argument(help="Audio files, directories or manifests, as for extract (emotion labels are not used), then the encoder model file to write (safetensors).", metavar="IN... OUTPUT")],
    clusters: Annotated[Optional[str], typer.Option("--clusters", help="Table from seral cluster-speakers (id, speaker, cluster; centres in its metadata). Needed by contrastive, mtl and adversarial.")] = None,
    objective: Annotated[Objective, typer.Option("--objective", help="contrastive (Eq. 1, soft sampling), mtl (+ speaker head), adversarial (mtl with gradient reversal), speaker (classification only).")] = "contrastive",
    steps: Annotated[int, typer.Option("--steps", min=1, help="Optimiser steps (the paper: 250,000).")] = 1000,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Anchor utterances per step (the paper: 8).")] = 8,
    lr: Annotated[Optional[float], typer.Option("--lr", help="AdamW learning rate (the paper gives none; default 5e-4, wav2vec 2.0 base's peak, and 5e-5 with --init: a pretrained model is continued, not trained anew).")] = None,
    segment: Annotated[float, typer.Option("--segment", help="Segment length in seconds (the paper: 4).")] = 4.0,
    temperature: Annotated[float, typer.Option("--temperature", help="NT-Xent temperature tau.")] = 0.1,
    contrastive_weight: Annotated[float, typer.Option("--contrastive-weight", help="Weight of the contrastive loss (mtl, adversarial).")] = 1.0,
    speaker_weight: Annotated[float, typer.Option("--speaker-weight", help="Weight of the speaker loss (mtl, adversarial).")] = 1.0,
    grl_scale: Annotated[float, typer.Option("--grl-scale", help="Gradient-reversal factor (adversarial).")] = 1.0,
    conv_channels: ConvChannels = 64,
    width: Width = 128,
    layers: Layers = 2,
    heads: Heads = 4,
    init: Annotated[Optional[Path], typer.Option("--init", help="Continue pretraining a local wav2vec 2.0 / HuBERT / WavLM checkpoint directory (Hugging Face, safetensors) instead of seral's encoder from random weights (the paper's Table 3); the size options then do not apply.", rich_help_panel="Starting from a checkpoint")] = None,
    init_layers: Annotated[Optional[int], typer.Option("--init-layers", min=1, help="--init: keep the first N transformer layers (the paper: 6); default all.", rich_help_panel="Starting from a checkpoint")] = None,
    freeze_feature_encoder: Annotated[bool, typer.Option("--freeze-cnn/--train-cnn", help="--init: keep the convolutional feature encoder's weights (the usual practice) or train it too.", rich_help_panel="Starting from a checkpoint")] = True,
    corpus: Annotated[CorpusName, typer.Option("--corpus", help="File-name labels (speakers) of audio inputs, as for extract.")] = "auto",
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUTPUT.ckpt after a crash or Ctrl-C.")] = False,
    seed: Seed = 0,
    device: Device = "auto",
    threads: Threads = 0,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", hidden=True, help="Deprecated: OUTPUT after the inputs.", dir_okay=False)] = None,
    quiet: Quiet = False,
) -> None:
    """Pretrain an SER encoder (wav2vec 2.0-style, raw waveform) without emotion labels.

    Positives come from the anchor's intra-speaker cluster, negatives one from each of
    the farthest half of the speaker's clusters (the paper's soft sampling). Writes
    the encoder to OUTPUT, a checkpoint to OUTPUT.ckpt (for --resume) and a per-step
    log to OUTPUT's name with .log.csv.

    Example: seral pretrain emodb/wav --clusters clusters.parquet --objective mtl mtl.safetensors
    """
    from seraltools.corpora import collect_inputs
    from seraltools.errors import BadInput
    from seraltools.compute import prepare_torch
    from seraltools.pretrain import PretrainConfig, log_path
    from seraltools.progress import log, progress
    from seraltools.tools.pretrain import pretrain

    inputs, out = inputs_and_output(paths, out, "pretrain")
    if lr is None:
        lr = 5e-5 if init else 5e-4
    cfg = PretrainConfig(objective=objective, steps=steps, batch_size=batch_size, lr=lr, segment_s=segment,
                         temperature=temperature, contrastive_weight=contrastive_weight, speaker_weight=speaker_weight,
                         grl_scale=grl_scale, seed=seed, encoder=encoder_options(conv_channels, width, layers, heads),
                         init=str(init.resolve()) if init else None, init_layers=init_layers,
                         freeze_feature_encoder=freeze_feature_encoder)
    cfg.check()
    if init:
        from seraltools.ssl_backbone import check_checkpoint

        import json

        d = check_checkpoint(str(init), "--init")  # before any audio is read
        total = json.loads((d / "config.json").read_text()).get("num_hidden_layers")
        if init_layers and total and not 1 <= init_layers <= int(total):
            raise BadInput(f"--init-layers {init_layers}: give 1 to {total} (the checkpoint's transformer layers)")
    elif init_layers:
        raise BadInput("--init-layers goes with --init (a checkpoint directory)")
    utterances, _ = collect_inputs(inputs, corpus, warn=log)
    table = None
    if clusters:
        from seraltools.table import read_table

        table = read_table(clusters)
    dev = prepare_torch(device, threads, "pretrain")
    with progress(steps, f"pretrain {objective}", quiet=quiet, unit="step") as advance:
        history, left_out = pretrain(utterances, table, cfg, str(out), clusters_name=clusters or "--clusters",
                                     device=dev, resume=resume, progress=lambda s, h: advance(1),
                                     log=None if quiet else log)
    if left_out and not quiet:
        log(f"seral pretrain: {left_out} of {utterances.num_rows} utterances have no "
            f"{'cluster' if clusters else 'speaker'} and were left out")
    if not quiet and history:
        h = history[-1]
        log(f"seral pretrain: {len(history)} steps of {objective} on {dev}, last loss {h.loss:.4f} -> {out}, "
            f"log {log_path(str(out))}")
