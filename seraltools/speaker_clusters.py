"""Intra-speaker clusters of embeddings and how well they follow emotion.

Paper "speaker-embedding-clusters-contrastive-ser", Sec. 2 and Table 1:

- :func:`cluster_speakers`: for each speaker, k-means on length-normalised
  embeddings of at most ``max_per_speaker`` (320, as the paper) utterances, chosen by
  a seeded draw when a speaker has more; that speaker's other utterances join their
  nearest centre. ``cluster`` is numbered within the speaker (0..k-1). A speaker
  with fewer utterances than k gets one cluster per utterance (a warning says so).
  The centres are kept (unit length) for the pretraining's ranking of clusters by
  distance.
- :func:`evaluate_clusters`: per speaker, NMI, ARI and purity of the clusters against
  ``emotion``, and the silhouette of the clustering (Euclidean on the unit-length
  embeddings, i.e. a monotone function of cosine distance); averaged over speakers,
  as Table 1.
"""

from __future__ import annotations

import numpy as np

from seraltools.errors import BadInput


def unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(n > 0, n, 1.0)).astype(np.float32)


def cluster_speakers(x: np.ndarray, speakers: list, k: int = 4, *, max_per_speaker: int = 320, seed: int = 0,
                     warn=None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(cluster per row, {speaker: (k_s, D) unit-length centres})."""
    from sklearn.cluster import KMeans

    if k < 1:
        raise BadInput(f"--k {k}: give 1 or more clusters")
    xu = unit(np.asarray(x, dtype=np.float32))
    speakers = np.asarray([str(s) for s in speakers])
    cluster = np.zeros(len(xu), dtype=np.int32)
    centres: dict[str, np.ndarray] = {}
    for si, spk in enumerate(sorted(set(speakers.tolist()))):
        rows = np.flatnonzero(speakers == spk)
        rng = np.random.default_rng([seed, si])
        fit_rows = rows if len(rows) <= max_per_speaker else np.sort(rng.choice(rows, max_per_speaker, replace=False))
        ks = min(k, len(fit_rows))
        if ks < k and warn:
            used = (f"{len(rows)} utterances" if len(fit_rows) == len(rows) else
                    f"{len(rows)} utterances, of which --max-per-speaker {max_per_speaker} fit k-means")
            warn(f"speaker {spk!r} has {used}, fewer than k = {k}: {ks} clusters, one per utterance fitted")
        distinct = len(np.unique(xu[fit_rows], axis=0))
        if distinct < ks:  # identical embeddings: k-means would warn (on stderr, in sklearn's words)
            if warn:
                warn(f"speaker {spk!r} has {distinct} distinct embeddings among {len(fit_rows)} utterances, fewer "
                     f"than k = {ks}: {distinct} clusters")
            ks = distinct
        km = KMeans(ks, n_init=10, random_state=seed).fit(xu[fit_rows])
        c = unit(km.cluster_centers_)
        cluster[rows] = np.argmax(xu[rows] @ c.T, axis=1)  # rows left out of the fit: nearest centre
        cluster[fit_rows] = km.labels_
        centres[spk] = c
    return cluster, centres


def cluster_centres(x: np.ndarray, speakers: list, clusters: list) -> dict[str, np.ndarray]:
    """{speaker: (k_s, D)} mean unit-length embedding of each cluster (rows whose cluster
    is None are left out; a cluster number with no rows gets a zero centre)."""
    xu = unit(np.asarray(x, dtype=np.float32))
    out: dict[str, np.ndarray] = {}
    for spk in sorted({str(s) for s in speakers}):
        rows = [i for i, (s, c) in enumerate(zip(speakers, clusters)) if str(s) == spk and c is not None]
        k = max((clusters[i] for i in rows), default=-1) + 1
        centres = np.zeros((k, xu.shape[1]), np.float32)
        for c in range(k):
            members = [i for i in rows if clusters[i] == c]
            if members:
                centres[c] = xu[members].mean(0)
        out[spk] = centres
    return out


def purity(labels_true, labels_pred) -> float:
    """Share of samples in their cluster's majority class."""
    from collections import Counter

    total = 0
    for c in set(labels_pred):
        total += Counter(t for t, p in zip(labels_true, labels_pred) if p == c).most_common(1)[0][1]
    return total / len(labels_true)


def evaluate_clusters(x: np.ndarray, speakers: list, clusters: np.ndarray, emotions: list) -> list[dict]:
    """Per-speaker NMI, ARI, purity and silhouette, then their mean over speakers (speaker "mean")."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score

    xu = unit(np.asarray(x, dtype=np.float32))
    speakers = np.asarray([str(s) for s in speakers])
    emotions = np.asarray([str(e) for e in emotions])
    rows = []
    for spk in sorted(set(speakers.tolist())):
        r = np.flatnonzero(speakers == spk)
        yt, yp = emotions[r], np.asarray(clusters)[r]
        n_clusters = len(set(yp.tolist()))
        sil = float(silhouette_score(xu[r], yp)) if 1 < n_clusters < len(r) else float("nan")
        rows.append({"speaker": spk, "n": len(r), "clusters": n_clusters,
                     "nmi": float(normalized_mutual_info_score(yt, yp)), "ari": float(adjusted_rand_score(yt, yp)),
                     "purity": purity(yt.tolist(), yp.tolist()), "silhouette": sil})
    mean = {"speaker": "mean", "n": int(sum(r["n"] for r in rows)), "clusters": None}
    for m in ("nmi", "ari", "purity", "silhouette"):
        mean[m] = float(np.nanmean([r[m] for r in rows]))
    return rows + [mean]


def plot_map(x: np.ndarray, speakers: list, emotions: list, path: str, *, seed: int = 0, title: str = "") -> None:
    """Fig. 1 of the paper: a 2-D t-SNE map of the embeddings, one colour per speaker and
    one marker per emotion (together: speaker_emotion)."""
    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: a notebook's backend is left alone
    from matplotlib.lines import Line2D

    from seraltools.reduce import TSNE
    from seraltools.table import atomic_path

    xu = unit(np.asarray(x, dtype=np.float32))
    if len(xu) < 7:
        raise BadInput(f"the t-SNE map (--plot) needs 7 or more utterances; the table has {len(xu)}")
    perplexity = float(min(30.0, max(2.0, (len(xu) - 1) / 3.5)))
    y = TSNE(2, perplexity=perplexity, seed=seed).fit_transform(xu)
    spk_names, emo_names = sorted(set(map(str, speakers))), sorted(set(map(str, emotions)))
    markers = "osD^vP*Xh<>"
    cmap = matplotlib.colormaps["tab10" if len(spk_names) <= 10 else "tab20"]
    fig = Figure(figsize=(7.5, 6))
    ax = fig.subplots()
    for si, s in enumerate(spk_names):
        for ei, e in enumerate(emo_names):
            m = np.array([(str(a) == s and str(b) == e) for a, b in zip(speakers, emotions)])
            if m.any():
                ax.scatter(y[m, 0], y[m, 1], s=14, color=cmap(si % cmap.N), marker=markers[ei % len(markers)],
                           alpha=0.8, linewidths=0)
    handles = [Line2D([], [], color=cmap(i % cmap.N), marker="o", linestyle="", label=s)
               for i, s in enumerate(spk_names)]
    handles += [Line2D([], [], color="black", marker=markers[i % len(markers)], linestyle="", label=e)
                for i, e in enumerate(emo_names)]
    ax.legend(handles=handles, fontsize=7, ncol=2, loc="best", title="speaker / emotion", title_fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or "t-SNE of embeddings: colour = speaker, marker = emotion", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150, format="png")
