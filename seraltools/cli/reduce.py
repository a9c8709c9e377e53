"""seral reduce: PCA, the paper's autoencoder, t-SNE."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from seraltools.cli._app import app
from seraltools.cli._common import Device, InputTable, Output, Quiet, Seed, Threads, Workers, cpu_workers, deprecated, tool


@tool(app, "reduce")
def reduce_cmd(
    table: InputTable,
    output: Output,
    method: Annotated[Literal["pca", "ae", "tsne"], typer.Option("--method", "-m", help="pca, ae (the paper's autoencoder) or tsne.")] = "pca",
    dim: Annotated[Optional[int], typer.Option("--dim", "-d", min=1, help="Output dimension (default: 32 for pca and ae, 2 for tsne).")] = None,
    standardize: Annotated[Optional[bool], typer.Option("--standardize/--no-standardize", help="z-score each input dimension first (default: on for pca and ae, off for tsne).")] = None,
    save_model: Annotated[Optional[Path], typer.Option("--save-model", help="Also write the fitted model (safetensors) to apply to other tables.", dir_okay=False)] = None,
    model: Annotated[Optional[Path], typer.Option("--model", help="Apply a model saved with --save-model instead of fitting one.", dir_okay=False)] = None,
    tsne: Annotated[Literal["opentsne", "sklearn"], typer.Option("--tsne", help="t-SNE implementation: openTSNE (FFT-accelerated) or scikit-learn's.")] = "opentsne",
    engine: Annotated[Optional[str], typer.Option("--engine", hidden=True, help="Deprecated: --tsne.")] = None,
    perplexity: Annotated[float, typer.Option("--perplexity", min=1.0, help="t-SNE perplexity.")] = 30.0,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="AE: maximum epochs.")] = 5000,
    patience: Annotated[int, typer.Option("--patience", min=1, help="AE: early-stopping patience (epochs) on the validation loss.")] = 300,
    lr: Annotated[float, typer.Option("--lr", help="AE: Adam learning rate.")] = 1e-4,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="AE: minibatch size.")] = 1024,
    hidden: Annotated[int, typer.Option("--hidden", min=1, help="AE: units of the hidden layers.")] = 512,
    dropout: Annotated[float, typer.Option("--dropout", min=0.0, max=0.9, help="AE: dropout after the hidden layers.")] = 0.1,
    resume: Annotated[bool, typer.Option("--resume", help="AE: continue from OUTPUT.ckpt after a crash or Ctrl-C (written every 200 epochs, removed at the end).")] = False,
    seed: Seed = 0,
    device: Device = "auto",
    workers: Workers = 0,
    threads: Threads = 0,
    quiet: Quiet = False,
) -> None:
    """Reduce feature dimensionality: PCA, the paper's autoencoder, or t-SNE.

    Replaces the features column and keeps every other column. Chain through pipes:
    seral reduce -m ae in.parquet - | seral reduce -m tsne - out.parquet is the
    paper's "AE t-SNE".

    Example: seral reduce --method pca --dim 32 --save-model pca.safetensors logmel.parquet logmel-pca32.parquet
    """
    from seraltools.compute import prepare_torch
    from seraltools.progress import log
    from seraltools.tools.reduce import reduce
    from seraltools.table import read_table, write_table

    if engine is not None:  # the old name (--engine is where work runs in extract and evaluate al)
        deprecated("reduce", "--engine")
        if engine not in ("opentsne", "sklearn"):
            from seraltools.errors import BadInput

            raise BadInput(f"--tsne {engine!r}: choose opentsne or sklearn")
        tsne = engine
    checkpoint = None
    if method == "ae" and not model:
        device = prepare_torch(device, threads, "reduce --method ae")
        checkpoint = None if output == "-" else output + ".ckpt"  # the AE's 5,000 epochs can be resumed
    if resume and checkpoint is None:
        from seraltools.errors import BadInput

        raise BadInput("--resume continues the autoencoder's training from OUTPUT.ckpt: give -m ae and a file OUTPUT")
    options = {"engine": tsne, "perplexity": perplexity, "epochs": epochs, "patience": patience, "lr": lr,
               "batch_size": batch_size, "hidden": hidden, "dropout": dropout, "device": device,
               "workers": cpu_workers(workers), "checkpoint": checkpoint, "resume": resume}
    result, summary = reduce(read_table(table, need_features=True), method, dim, standardize=standardize,
                                   seed=seed, options=options, model=str(model) if model else None,
                                   save_to=str(save_model) if save_model else None,
                                   source="<stdin>" if table == "-" else table, quiet=quiet)
    write_table(result, output)
    if not quiet:
        log(f"seral reduce: {summary} -> {output}")
