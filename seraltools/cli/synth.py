"""seral synth: the deterministic synthetic stand-in corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seraltools.cli._app import app
from seraltools.cli._common import Quiet, Seed, listed, tool


@tool(app, "synth")
def synth_cmd(
    out_dir: Annotated[Path, typer.Argument(help="Directory for the WAV files and manifest.csv.", metavar="OUTDIR")],
    speakers: Annotated[int, typer.Option("--speakers", min=1, help="Number of speakers.")] = 4,
    emotions: Annotated[list[str], typer.Option("--emotions", help="Of anger, happiness, neutral, sadness, fear, boredom; repeat the option or comma-separate.")] = ["anger,happiness,neutral,sadness"],
    per_cell: Annotated[int, typer.Option("--per-cell", min=1, help="Utterances per speaker and emotion.")] = 6,
    seed: Seed = 0,
    quiet: Quiet = False,
) -> None:
    """Write a synthetic emotional-speech corpus (a stand-in, not speech) with a manifest.

    Speakers differ in base F0 and formants; emotions shift F0 level and range,
    speaking rate, energy and spectral tilt. Same settings and seed, same files.

    Example: seral synth data/synth && seral extract data/synth/manifest.csv feats.parquet
    """
    from seraltools.progress import log
    from seraltools.synth import make_corpus

    names = tuple(listed(emotions) or ())
    manifest = make_corpus(out_dir, speakers=speakers, emotions=names, per_cell=per_cell, seed=seed)
    if not quiet:
        log(f"seral synth: {speakers * len(names) * per_cell} utterances -> {manifest}")
