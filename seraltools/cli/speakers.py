"""seral cluster-speakers and seral evaluate clusters: intra-speaker emotion clusters."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from seraltools.cli import app
from seraltools.cli._common import InputTable, Output, Quiet, Seed, tool
from seraltools.cli.evaluate import evaluate


def _emotion_rows(table, emotions, source):
    """Mask of rows whose emotion is in the comma-separated ``emotions`` (all rows when None)."""
    import numpy as np

    from seraltools.errors import BadInput

    if not emotions:
        return np.ones(table.num_rows, dtype=bool)
    if "emotion" not in table.column_names:
        raise BadInput(f"{source}: --emotions needs an 'emotion' column")
    keep = {e.strip() for e in emotions.split(",") if e.strip()}
    mask = np.array([e in keep for e in table.column("emotion").to_pylist()])
    if not mask.any():
        raise BadInput(f"--emotions {emotions}: no row of {source} has these emotions")
    return mask


def _speakers(table, source):
    from seraltools.errors import BadInput

    if "speaker" not in table.column_names or table.column("speaker").null_count:
        raise BadInput(f"{source}: needs a 'speaker' column with a speaker for every row")
    return table.column("speaker").to_pylist()


@tool(app, "cluster-speakers")
def cluster_speakers_cmd(
    table: InputTable,
    output: Output,
    k: Annotated[int, typer.Option("--k", min=1, help="Clusters per speaker (the paper: 4 for its analysis, 20 for pretraining).")] = 4,
    max_per_speaker: Annotated[int, typer.Option("--max-per-speaker", min=1, help="Utterances per speaker used to fit k-means (others join their nearest centre).")] = 320,
    emotions: Annotated[Optional[str], typer.Option("--emotions", help="Cluster only rows with these emotions (comma-separated); other rows get a null cluster.")] = None,
    seed: Seed = 0,
    quiet: Quiet = False,
) -> None:
    """Cluster each speaker's length-normalised embeddings with k-means (intra-speaker clusters).

    Adds cluster (int32, numbered within the speaker); the unit-length cluster centres
    are kept in the table's metadata (speaker_clusters) for pretraining.

    Example: seral cluster-speakers --k 4 emodb-embeddings.parquet clusters.parquet
    """
    import numpy as np
    import pyarrow as pa

    from seraltools.progress import log
    from seraltools.speaker_clusters import cluster_speakers
    from seraltools.table import feature_matrix, history_entry, metadata, read_table, set_column, stamp, write_table

    source = "<stdin>" if table == "-" else table
    t = read_table(table, need_features=True)
    selected = _emotion_rows(t, emotions, source)
    x, spk = feature_matrix(t, source)[selected], [s for s, keep in zip(_speakers(t, source), selected) if keep]
    cluster, centres = cluster_speakers(x, spk, k, max_per_speaker=max_per_speaker, seed=seed,
                                        warn=None if quiet else lambda m: log(f"seral cluster-speakers: warning: {m}"))
    full = np.zeros(t.num_rows, dtype=np.int32)
    full[selected] = cluster
    out = set_column(t, "cluster", pa.array(full, pa.int32(), mask=~selected))
    entry = history_entry("cluster-speakers", {"k": k, "max_per_speaker": max_per_speaker, "seed": seed,
                                               "emotions": emotions},
                          [{"table": source, "rows": t.num_rows}])
    centre_meta = {s: [[round(float(v), 6) for v in row] for row in c] for s, c in centres.items()}
    write_table(stamp(out, entry, parent=metadata(t), speaker_clusters=centre_meta), output)
    if not quiet:
        log(f"seral cluster-speakers: {len(centres)} speakers x up to {k} clusters -> {output}")


@tool(evaluate, "clusters", label="evaluate clusters")
def evaluate_clusters_cmd(
    table: InputTable,
    output: Annotated[Optional[str], typer.Argument(help="Optional Parquet of the per-speaker metrics; - for stdout.", metavar="[OUTPUT]")] = None,
    emotions: Annotated[Optional[str], typer.Option("--emotions", help="Comma-separated emotions to keep, e.g. neutral,happiness,sadness,anger.")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Draw the paper's Fig. 1: a t-SNE map coloured by speaker, marked by emotion (PNG).", dir_okay=False)] = None,
    seed: Seed = 0,
    quiet: Quiet = False,
) -> None:
    """NMI, ARI, purity and silhouette of intra-speaker clusters against emotion (Table 1).

    Per speaker and averaged over speakers; needs the cluster column of
    cluster-speakers and an emotion column.

    Example: seral evaluate clusters --emotions neutral,happiness,sadness,anger clusters.parquet
    """
    import pyarrow as pa

    from seraltools.errors import BadInput
    from seraltools.speaker_clusters import evaluate_clusters, plot_map
    from seraltools.table import feature_matrix, history_entry, read_table, stamp, write_table

    source = "<stdin>" if table == "-" else table
    t = read_table(table, need_features=True)
    for col in ("cluster", "emotion"):
        if col not in t.column_names:
            raise BadInput(f"{source}: no '{col}' column" + (" (run seral cluster-speakers first)" if col == "cluster" else ""))
    t = t.filter(pa.array(_emotion_rows(t, emotions, source) & t.column("cluster").is_valid().to_numpy(zero_copy_only=False)))
    rows = evaluate_clusters(feature_matrix(t, source), _speakers(t, source), t.column("cluster").to_numpy(),
                             t.column("emotion").to_pylist())
    if not quiet:  # the report goes to stderr: stdout is for the table (OUTPUT -)
        from seraltools.progress import log

        log(f"{'speaker':<10} {'n':>5} {'NMI':>6} {'ARI':>6} {'purity':>7} {'silhouette':>11}")
        for r in rows:
            log(f"{r['speaker']:<10} {r['n']:>5} {r['nmi']:>6.3f} {r['ari']:>6.3f} {r['purity']:>7.3f} {r['silhouette']:>11.3f}")
    if plot:
        plot_map(feature_matrix(t, source), _speakers(t, source), t.column("emotion").to_pylist(), str(plot), seed=seed)
    if output:
        res = pa.table({"id": [r["speaker"] for r in rows], "n": pa.array([r["n"] for r in rows], pa.int32()),
                        **{m: pa.array([r[m] for r in rows], pa.float32()) for m in ("nmi", "ari", "purity", "silhouette")}})
        write_table(stamp(res, history_entry("evaluate clusters", {"emotions": emotions}, [{"table": source}])), output)



