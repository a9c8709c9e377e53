"""seral pretrain: contrastive pretraining of an SER encoder on intra-speaker clusters."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from seraltools.cli import app
from seraltools.cli._common import Device, Quiet, Seed, Threads, tool
from seraltools.cli.evaluate import evaluate
from seraltools.cli.extract import CorpusName

Objective = Literal["contrastive", "mtl", "adversarial", "speaker"]
ARCH = "Encoder size"


def encoder_options(conv_channels: int, width: int, layers: int, heads: int):
    from seraltools.encoder import EncoderConfig

    return EncoderConfig(conv_channels=conv_channels, width=width, layers=layers, heads=heads)


# the encoder's size, declared once for pretrain and evaluate ser
ConvChannels = Annotated[int, typer.Option("--conv-channels", help="Channels of the convolutional feature extractor (wav2vec 2.0: 512).", rich_help_panel=ARCH)]
Width = Annotated[int, typer.Option("--width", help="Transformer width (wav2vec 2.0 base: 768).", rich_help_panel=ARCH)]
Layers = Annotated[int, typer.Option("--layers", help="Transformer layers (the paper: 6).", rich_help_panel=ARCH)]
Heads = Annotated[int, typer.Option("--heads", help="Attention heads (wav2vec 2.0 base: 12).", rich_help_panel=ARCH)]


@tool(app, "pretrain")
def pretrain_cmd(
    inputs: Annotated[list[str], typer.Argument(help="Audio files, directories or manifests, as for extract (emotion labels are not used).", metavar="IN...")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Encoder model file to write (safetensors).", dir_okay=False)],
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
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT.ckpt after a crash or Ctrl-C.")] = False,
    seed: Seed = 0,
    device: Device = "auto",
    threads: Threads = 0,
    quiet: Quiet = False,
) -> None:
    """Pretrain an SER encoder (wav2vec 2.0-style, raw waveform) without emotion labels.

    Positives come from the anchor's intra-speaker cluster, negatives one from each of
    the farthest half of the speaker's clusters (the paper's soft sampling). Writes
    the encoder to OUT, a checkpoint to OUT.ckpt (for --resume) and a per-step log to
    OUT's name with .log.csv.

    Example: seral pretrain emodb/wav --clusters clusters.parquet --objective mtl --out mtl.safetensors
    """
    import numpy as np

    from seraltools.corpora import collect_inputs
    from seraltools.errors import BadInput
    from seraltools.compute import prepare_torch
    from seraltools.pretrain import PretrainConfig, log_path, pretrain, read_clusters
    from seraltools.progress import log, progress

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
    from seraltools.corpora import sources

    utterances, _ = collect_inputs(inputs, corpus, warn=log)
    ids, paths = utterances.column("id").to_pylist(), sources(utterances)
    speakers = utterances.column("speaker").to_pylist() if "speaker" in utterances.column_names else [None] * len(ids)
    cl, centres = [None] * len(ids), None
    if clusters:
        labels, centres = read_clusters(clusters, ids)
        speakers = [s if s is not None else old for (s, _), old in zip(labels, speakers)]
        cl = [c for _, c in labels]
    elif cfg.contrastive:
        raise BadInput(f"--objective {objective} needs --clusters (a table from seral cluster-speakers)")
    keep = [i for i in range(len(ids)) if speakers[i] is not None and (cl[i] is not None or not cfg.contrastive)]
    if not keep:
        raise BadInput("no input utterance has a speaker" + (" and a cluster in --clusters (do the ids match?)"
                                                             if clusters else "; give a manifest with a speaker column"))
    if len(keep) < len(ids) and not quiet:
        log(f"seral pretrain: {len(ids) - len(keep)} of {len(ids)} utterances have no "
            f"{'cluster' if clusters else 'speaker'} and are left out")
    dev = prepare_torch(device, threads, "pretrain")
    with progress(steps, f"pretrain {objective}", quiet=quiet, unit="step") as advance:
        history = pretrain([paths[i] for i in keep], [speakers[i] for i in keep],
                           np.array([cl[i] if cl[i] is not None else -1 for i in keep]), centres, cfg, str(out),
                           device=dev, resume=resume, progress=lambda s, h: advance(1), log=None if quiet else log)
    if not quiet and history:
        h = history[-1]
        log(f"seral pretrain: {len(history)} steps of {objective} on {dev}, last loss {h.loss:.4f} -> {out}, "
            f"log {log_path(str(out))}")


@tool(evaluate, "ser", label="evaluate ser")
def evaluate_ser_cmd(
    inputs: Annotated[list[str], typer.Argument(help="Labelled audio: files, directories or manifests with speaker and emotion (as for extract).", metavar="IN...")],
    output: Annotated[str, typer.Argument(help="Per-run results table (Parquet); - for stdout.", metavar="OUTPUT")],
    encoder: Annotated[Optional[list[str]], typer.Option("--encoder", help="Pretrained encoder, NAME=PATH or PATH: a file from seral pretrain, or a local wav2vec 2.0 / HuBERT / WavLM checkpoint directory (fine-tuned as it is: the paper's Table 3 baseline); repeat for several conditions.")] = None,
    no_pretrain: Annotated[bool, typer.Option("--no-pretrain", help="Also a randomly initialised encoder (the paper's no-pretraining baseline; size from the options below).")] = False,
    emotions: Annotated[Optional[str], typer.Option("--emotions", help="Keep these emotions (comma-separated); the paper: anger,happiness,neutral,sadness.")] = None,
    folds: Annotated[int, typer.Option("--folds", min=2, help="Speaker-independent folds.")] = 5,
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Repetitions with different initialisation seeds (the paper: 5).")] = 5,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Fine-tuning epochs; the best validation UAR is kept (the paper: 30).")] = 30,
    lr: Annotated[float, typer.Option("--lr", help="AdamW learning rate (the paper: 1e-5).")] = 1e-5,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Utterances per step.")] = 8,
    segment: Annotated[float, typer.Option("--segment", help="Training crop in seconds.")] = 4.0,
    init_layers: Annotated[Optional[int], typer.Option("--init-layers", min=1, help="Checkpoint directories given to --encoder: keep their first N transformer layers (as pretrain --init-layers; the paper: 6); default all.")] = None,
    freeze_cnn: Annotated[bool, typer.Option("--freeze-cnn/--train-cnn", help="Encoders around an SSL checkpoint (--encoder DIR, files of pretrain --init): keep the convolutional feature encoder's weights while fine-tuning (the usual practice), or train it too.")] = True,
    folds_out: Annotated[Optional[str], typer.Option("--folds-out", help="Write the folds (fold, speaker, role) as a table.")] = None,
    conv_channels: ConvChannels = 64,
    width: Width = 128,
    layers: Layers = 2,
    heads: Heads = 4,
    corpus: Annotated[CorpusName, typer.Option("--corpus", help="File-name labels of audio inputs, as for extract.")] = "auto",
    device: Device = "auto",
    threads: Threads = 0,
    quiet: Quiet = False,
) -> None:
    """Fine-tune encoders for SER on speaker-independent folds and report UAR (Table 2).

    Each condition (every --encoder, and --no-pretrain) is fine-tuned with a new head
    on every fold and seed; the table has one row per run, the printed summary the UAR
    mean and standard deviation over seeds.

    Example: seral evaluate ser emodb/wav --emotions anger,happiness,neutral,sadness --no-pretrain --encoder mtl=mtl.safetensors ser.parquet
    """
    from seraltools.corpora import collect_inputs
    from seraltools.errors import BadInput
    from seraltools.compute import prepare_torch
    from seraltools.progress import log, progress
    from dataclasses import asdict

    from seraltools.ser import FinetuneConfig, evaluate_ser, folds_table, labelled_audio, results_table, summarize
    from seraltools.table import history_entry, stamp, write_table

    conditions = [("no pretraining", None)] if no_pretrain else []
    for spec in encoder or []:
        name, _, path = spec.rpartition("=")
        conditions.append((name or Path(path).stem, path))
    if not conditions:
        raise BadInput("nothing to evaluate: give --encoder FILE and/or --no-pretrain")
    for _, path in conditions:
        if path and not Path(path).is_file():  # a checkpoint directory (or a hub id, said to download it)
            from seraltools.ssl_backbone import check_checkpoint

            check_checkpoint(path, "--encoder")
    utterances, _ = collect_inputs(inputs, corpus, warn=log)
    wavs, spk, emo = labelled_audio(utterances, emotions)
    cfg = FinetuneConfig(epochs=epochs, lr=lr, batch_size=batch_size, segment_s=segment, init_layers=init_layers,
                         freeze_cnn=freeze_cnn)
    dev = prepare_torch(device, threads, "evaluate ser")
    runs = len(conditions) * folds * seeds
    with progress(runs, "evaluate ser", quiet=quiet, unit="run") as advance:
        rows, plan = evaluate_ser(conditions, wavs, spk, emo, folds=folds,
                                  seeds=seeds, cfg=cfg, enc_cfg=encoder_options(conv_channels, width, layers, heads),
                                  device=dev, progress=lambda r: advance(1))
    summary = summarize(rows)
    if not quiet:  # the report goes to stderr: stdout is for the table (OUTPUT -)
        log(f"{'condition':<28} {'UAR mean':>9} {'std':>7} {'runs':>5} {'time (s)':>9}")
        for s in summary:
            log(f"{s['condition']:<28} {100 * s['uar_mean']:>9.2f} {100 * s['uar_std']:>7.2f} {s['runs']:>5} {s['seconds']:>9.0f}")
    params = {"conditions": [{"name": n, "encoder": p} for n, p in conditions], "emotions": emotions,
              "folds": folds, "seeds": seeds, "finetune": asdict(cfg), "device": dev,
              "summary": summary}
    write_table(stamp(results_table(rows), history_entry("evaluate ser", params, [{"inputs": inputs, "utterances": len(wavs)}])),
                output)
    if folds_out:
        write_table(stamp(folds_table(plan), history_entry("evaluate ser", {"folds": folds}, [])), folds_out)
