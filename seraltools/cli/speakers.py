"""seral cluster-speakers: intra-speaker emotion clusters of speaker embeddings."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from seraltools.cli._app import app
from seraltools.cli._common import InputTable, Output, Quiet, Seed, joined, tool


@tool(app, "cluster-speakers")
def cluster_speakers_cmd(
    table: InputTable,
    output: Output,
    k: Annotated[int, typer.Option("--k", min=1, help="Clusters per speaker (the paper: 4 for its analysis, 20 for pretraining).")] = 4,
    max_per_speaker: Annotated[int, typer.Option("--max-per-speaker", min=1, help="Utterances per speaker used to fit k-means (others join their nearest centre).")] = 320,
    emotions: Annotated[Optional[list[str]], typer.Option("--emotions", help="Cluster only rows with these emotions (repeat the option or comma-separate); other rows get a null cluster.")] = None,
    seed: Seed = 0,
    quiet: Quiet = False,
) -> None:
    """Cluster each speaker's length-normalised embeddings with k-means (intra-speaker clusters).

    Adds cluster (int32, numbered within the speaker); the unit-length cluster centres
    are kept in the table's metadata (speaker_clusters) for pretraining.

    Example: seral cluster-speakers --k 4 emodb-embeddings.parquet clusters.parquet
    """
    from seraltools.progress import log
    from seraltools.table import read_table, write_table
    from seraltools.tools.speakers import cluster_speakers

    out, summary = cluster_speakers(read_table(table, need_features=True), k=k, max_per_speaker=max_per_speaker,
                                    emotions=joined(emotions), seed=seed, source="<stdin>" if table == "-" else table,
                                    warn=None if quiet else lambda m: log(f"seral cluster-speakers: warning: {m}"))
    write_table(out, output)
    if not quiet:
        log(f"seral cluster-speakers: {summary} -> {output}")
