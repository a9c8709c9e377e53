"""Standardisation: the one definition of "z-score at the corpus level" for every tool.

Each dimension is centred on its mean and divided by its (population) standard
deviation over the rows of the table it is fitted on; a constant dimension is only
centred (scale 1), so it becomes 0. The paper z-scores its features at the corpus
level ("cpc-dimred-medoid-active-learning", Sec. 3.4): seral does so for the SVM's
classification features (``evaluate al``), for the distances MAL measures
(``mal-select``, ``evaluate al``; ``--no-standardize`` to opt out) and before PCA
and the autoencoder (``reduce``), where the fitted statistics travel with the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Standardizer:
    """Per-dimension mean and scale fitted on one table, applied to any other."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, on: bool = True) -> "Standardizer":
        """Statistics of ``x`` (N, D); ``on=False`` gives the identity."""
        d = x.shape[1]
        if not on:
            return cls(np.zeros(d, np.float32), np.ones(d, np.float32))
        sd = x.std(axis=0, dtype=np.float64)
        return cls(x.mean(axis=0, dtype=np.float64).astype(np.float32), np.where(sd > 0, sd, 1.0).astype(np.float32))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale).astype(np.float32)


def zscore(x: np.ndarray) -> np.ndarray:
    """``x`` standardised with its own statistics (constant dimensions become 0)."""
    x = np.asarray(x, dtype=np.float32)
    return Standardizer.fit(x)(x)


#: Where selection features are z-scored: over the whole corpus (the paper), within each
#: speaker (standard practice in SER for corpora of many speakers: what is left is what
#: varies within a speaker), or not at all.
MODES = ("corpus", "speaker", "none")
#: The columns a table's speaker is read from, first found first: a corpus's speaker, or
#: the recording a `seral segment` utterance was cut from.
GROUP_COLUMNS = ("speaker", "recording")


def standardize_mode(value) -> str:
    """``--standardize`` as one of :data:`MODES` (True/False of the old flag: corpus/none)."""
    from seraltools.errors import BadInput

    if value is True or value is None:
        return "corpus"
    if value is False:
        return "none"
    if value not in MODES:
        raise BadInput(f"--standardize {value!r}: choose {', '.join(MODES)}")
    return value


def speaker_groups(table, source: str = "table") -> tuple[list | None, str | None]:
    """(the speaker of each row, or None, and the column it came from) for
    ``--standardize speaker``; (None, None) when the table has no such column."""
    for col in GROUP_COLUMNS:
        if col in table.column_names:
            return [None if v is None or str(v).strip() == "" else str(v) for v in table.column(col).to_pylist()], col
    return None, None


def within_groups(x: np.ndarray, groups) -> tuple[np.ndarray, int]:
    """``x`` z-scored within each group (speaker); rows without a group, or alone in
    theirs, with the statistics of the whole table. Returns (features, rows that fell back)."""
    x = np.asarray(x, dtype=np.float32)
    out = Standardizer.fit(x)(x)  # the fallback: corpus statistics
    if groups is None:
        return out, len(x)
    groups = np.array(["" if g is None else str(g) for g in groups], dtype=object)
    fallback = groups == ""
    for g in np.unique(groups[~fallback]):
        rows = np.flatnonzero(groups == g)
        if len(rows) < 2:
            fallback[rows] = True
            continue
        out[rows] = Standardizer.fit(x[rows])(x[rows])
    return out, int(fallback.sum())


def standardize(x: np.ndarray, mode, groups=None, *, warn=None, source: str = "table") -> np.ndarray:
    """Selection features as ``--standardize`` asks: corpus (z-scored over every row),
    speaker (within each speaker, :func:`within_groups`; rows without one, or alone in
    theirs, with the corpus statistics, said through ``warn``) or none."""
    mode = standardize_mode(mode)
    if mode == "none":
        return np.asarray(x, dtype=np.float32)
    if mode == "corpus":
        return zscore(x)
    out, fell_back = within_groups(x, groups)
    if fell_back and warn:
        what = ("has no speaker or recording column" if groups is None
                else f"has {fell_back} rows without a speaker (or alone in theirs)")
        warn(f"--standardize speaker: {source} {what}; "
             + ("they are" if groups is not None else "its rows are") + " z-scored with the corpus statistics")
    return out
