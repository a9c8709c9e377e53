"""``seral cluster-speakers`` over tables: intra-speaker emotion clusters of speaker
embeddings (:mod:`seraltools.speaker_clusters`), the centres kept for pretraining."""

from __future__ import annotations

import numpy as np

from seraltools.errors import BadInput


def emotion_rows(table, emotions: str | None, source: str) -> np.ndarray:
    """Mask of rows whose emotion is in the comma-separated ``emotions`` (all rows when None)."""
    if not emotions:
        return np.ones(table.num_rows, dtype=bool)
    if "emotion" not in table.column_names:
        raise BadInput(f"{source}: --emotions needs an 'emotion' column")
    keep = {e.strip() for e in emotions.split(",") if e.strip()}
    mask = np.array([e in keep for e in table.column("emotion").to_pylist()])
    if not mask.any():
        raise BadInput(f"--emotions {emotions}: no row of {source} has these emotions")
    return mask


def speakers(table, source: str) -> list:
    if "speaker" not in table.column_names or table.column("speaker").null_count:
        raise BadInput(f"{source}: needs a 'speaker' column with a speaker for every row")
    return table.column("speaker").to_pylist()


def cluster_speakers(table, *, k: int = 4, max_per_speaker: int = 320, emotions: str | None = None, seed: int = 0,
                     source: str = "table", warn=None):
    """Each speaker's length-normalised embeddings clustered with k-means: returns (the
    table with ``cluster``, null outside ``emotions``; the centres in its metadata
    ``speaker_clusters``) and a one-line summary."""
    import pyarrow as pa

    from seraltools.speaker_clusters import cluster_speakers as cluster
    from seraltools.table import feature_matrix, history_entry, metadata, set_column, stamp

    selected = emotion_rows(table, emotions, source)
    x, spk = feature_matrix(table, source)[selected], [s for s, keep in zip(speakers(table, source), selected) if keep]
    labels, centres = cluster(x, spk, k, max_per_speaker=max_per_speaker, seed=seed, warn=warn)
    full = np.zeros(table.num_rows, dtype=np.int32)
    full[selected] = labels
    out = set_column(table, "cluster", pa.array(full, pa.int32(), mask=~selected))
    entry = history_entry("cluster-speakers", {"k": k, "max_per_speaker": max_per_speaker, "seed": seed,
                                               "emotions": emotions}, [{"table": source, "rows": table.num_rows}])
    centre_meta = {s: [[round(float(v), 6) for v in row] for row in c] for s, c in centres.items()}
    return (stamp(out, entry, parent=metadata(table), speaker_clusters=centre_meta),
            f"{len(centres)} speakers x up to {k} clusters")
