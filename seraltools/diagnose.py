"""What a queue asks first, and whether that looks degenerate for the corpus.

A cold-start queue knows no labels, so whether it suits a corpus can only be judged
from what it does see: who speaks and how long the utterances are. On corpora of many
speakers reading the same sentences (RAVDESS: 24 actors, two sentences), distances
between utterances follow the speaker more than the emotion, and clusters of speakers
send the first queries to a few of them (docs/queue-diagnosis.md). Two rules, on the
first ``q = max(10, 2 % of the rows)`` queries, compared with what random sampling
would give (:func:`queue_warnings`; ``seral mal-select`` says them on stderr):

- **speakers**: the queries cover fewer than half the distinct speakers that q random
  rows are expected to cover (hypergeometric expectation), when that expectation is at
  least 4 speakers;
- **duration**: more than half of the queries fall in one fifth of the corpus's duration
  range (its quintiles; random sampling puts a fifth in each).

:func:`explain` (``seral mal-select --explain``) prints the numbers behind both rules
and what drives the distances: the share of variance of the first principal components
of the selection features, and how much of each is explained by the speaker (and by
each label column the table has: eta squared, the between-group share of variance).
"""

from __future__ import annotations

import numpy as np

SHARE = 0.02  # the first queries judged: this share of the rows, at least MIN_QUERIES
MIN_QUERIES = 10
SPEAKER_COVERAGE = 0.5  # warn below this fraction of the speakers random sampling covers
MIN_EXPECTED_SPEAKERS = 4
BAND_SHARE = 0.5  # warn when one duration quintile holds more than this share of the queries


def first_queries(rank: np.ndarray, n: int) -> np.ndarray:
    """Rows of the first q queries (rank 1..q), q = max(10, 2 % of n), fewer if the queue is shorter."""
    rank = np.asarray(rank, dtype=np.float64)
    q = max(MIN_QUERIES, int(np.ceil(SHARE * n)))
    ranked = np.flatnonzero(np.isfinite(rank) & (rank > 0))
    return ranked[np.argsort(rank[ranked], kind="stable")][:q]


def expected_speakers(groups: list, q: int) -> float:
    """Expected distinct speakers among q rows drawn at random without replacement."""
    _, counts = np.unique(np.asarray(groups, dtype=object).astype(str), return_counts=True)
    n = int(counts.sum())
    q = min(q, n)
    i = np.arange(q)
    miss = [np.exp(np.sum(np.log(np.maximum(n - c - i, 0) + 1e-300) - np.log(n - i))) if n - c >= q else 0.0
            for c in counts]
    return float(len(counts) - np.sum(miss))


def duration_bands(duration: np.ndarray) -> np.ndarray:
    """Each row's duration quintile (0-4) of the corpus."""
    edges = np.quantile(duration, [0.2, 0.4, 0.6, 0.8])
    return np.searchsorted(edges, duration, side="right")


def queue_stats(rank, groups=None, duration=None) -> dict:
    """The numbers behind the rules for one queue."""
    rank = np.asarray(rank, dtype=np.float64)
    n = len(rank)
    rows = first_queries(rank, n)
    out: dict = {"queries": len(rows), "rows": n}
    if groups is not None and len(rows):
        known = [g for g in groups if g is not None]
        if known:
            asked = {groups[r] for r in rows if groups[r] is not None}
            out["speakers"] = len(set(known))
            out["speakers_covered"] = len(asked)
            out["speakers_expected"] = expected_speakers(known, len(rows))
    if duration is not None and len(rows):
        d = np.asarray(duration, dtype=np.float64)
        if np.isfinite(d).all() and len(np.unique(d)) >= 5:
            bands = duration_bands(d)
            share = np.bincount(bands[rows], minlength=5) / len(rows)
            out["duration_band_shares"] = share.tolist()
            out["duration_edges"] = np.quantile(d, [0.2, 0.4, 0.6, 0.8]).tolist()
    return out


def queue_warnings(stats: dict) -> list[str]:
    """The rules of the module docstring: one message per rule the queue breaks."""
    out = []
    q = stats["queries"]
    if q >= MIN_QUERIES and stats.get("speakers_expected", 0) >= MIN_EXPECTED_SPEAKERS:
        if stats["speakers_covered"] < SPEAKER_COVERAGE * stats["speakers_expected"]:
            out.append(f"the first {q} queries cover {stats['speakers_covered']} of {stats['speakers']} speakers; "
                       f"random sampling would cover {stats['speakers_expected']:.1f}: the clusters may follow "
                       "speakers, not emotions (try --standardize speaker, or --method mal-random; "
                       "--explain says more)")
    shares = stats.get("duration_band_shares")
    if q >= MIN_QUERIES and shares and max(shares) > BAND_SHARE:
        band = int(np.argmax(shares))
        names = ["shortest", "second shortest", "middle", "second longest", "longest"]
        out.append(f"{max(shares):.0%} of the first {q} queries are among the {names[band]} fifth of the "
                   "utterances (random sampling: 20 %): the queue may follow length or silence, not emotion "
                   "(--explain says more)")
    return out


def _eta2(values: np.ndarray, groups) -> float:
    """Between-group share of the variance of ``values``."""
    g = np.asarray(["" if v is None else str(v) for v in groups], dtype=object)
    keep = g != ""
    v, g = values[keep], g[keep]
    total = float(((v - v.mean()) ** 2).sum())
    if total == 0 or len(v) < 2:
        return 0.0
    between = sum(float((g == u).sum()) * (float(v[g == u].mean()) - float(v.mean())) ** 2 for u in np.unique(g))
    return between / total


def explain(x: np.ndarray, rank, *, groups=None, duration=None, labels: dict | None = None,
            cluster_size=None, components: int = 5) -> list[str]:
    """Report lines: the first queries against random sampling, the cluster sizes, and
    what drives the distances (``x``: the selection features as the selector saw them)."""
    stats = queue_stats(rank, groups, duration)
    rows = first_queries(rank, len(x))
    lines = [f"the first {stats['queries']} queries (2 % of {stats['rows']} rows, at least {MIN_QUERIES}):"]
    if "speakers" in stats:
        lines.append(f"  speakers: {stats['speakers_covered']} of {stats['speakers']} "
                     f"(random sampling: {stats['speakers_expected']:.1f} expected)")
    if "duration_band_shares" in stats:
        e = stats["duration_edges"]
        lines.append("  duration fifths (<" + ", <".join(f"{v:.2f}" for v in e) + f", >={e[-1]:.2f} s): "
                     + " ".join(f"{s:.0%}" for s in stats["duration_band_shares"]) + " (random: 20 % each)")
    for col, values in (labels or {}).items():
        asked = [values[r] for r in rows if values[r] is not None]
        if asked:
            kinds, counts = np.unique(np.asarray(asked, dtype=str), return_counts=True)
            lines.append(f"  {col}: " + ", ".join(f"{k} {c}" for k, c in sorted(zip(kinds, counts),
                                                                               key=lambda t: -t[1])))
    if cluster_size is not None:
        sizes = np.asarray([s for s in cluster_size if s is not None], dtype=np.int64)
        if len(sizes):
            lines.append(f"  cluster sizes of the rows: median {np.median(sizes):g}, largest {sizes.max()}, "
                         f"{np.mean(sizes == 1):.0%} of the rows alone in theirs")
    x = np.asarray(x, dtype=np.float64)
    xc = x - x.mean(axis=0)
    if len(x) > 2 and xc.any():
        _, s, vt = np.linalg.svd(xc, full_matrices=False)
        share = s ** 2 / np.sum(s ** 2)
        scores = xc @ vt[:components].T
        lines.append(f"what drives the distances: the first {min(components, len(share))} principal components "
                     f"hold {share[:components].sum():.0%} of the variance")
        for i in range(min(components, scores.shape[1])):
            parts = [f"PC{i + 1} {share[i]:.0%}"]
            if groups is not None:
                parts.append(f"speaker explains {_eta2(scores[:, i], groups):.0%}")
            for col, values in (labels or {}).items():
                parts.append(f"{col} {_eta2(scores[:, i], values):.0%}")
            lines.append("  " + ", ".join(parts))
    return lines
