"""Medoid-based active learning (MAL): which utterances to annotate first.

Paper "cpc-dimred-medoid-active-learning", Sec. 2.2. Three stages:

1. **affinity**: the matrix A of pairwise distances d between all N samples. The
   paper found cosine distance best above 2 dims and Euclidean for 2-D features, on
   raw features; seral z-scores the features at the corpus level first (the tools'
   default) and then measures Euclidean distance, which the paper's own simulation
   protocol, run on EMO-DB and TurEV-DB, shows is the setting that beats random
   sampling at small budgets (:func:`resolve_metric`; README, ``seral evaluate al``);
2. **k-medoids** with k = N/3: one random first medoid and k - 1 more by
   farthest-first traversal (each the sample farthest from the set chosen so far,
   d(a, S) = min_{b in S} d(a, b)); these seed k-medoids clustering on A. The paper
   names no algorithm: seral uses FasterPAM (``kmedoids`` package), which swaps
   medoids to minimise the total distance, chosen over the k-means-style alternating
   algorithm by the same benchmark (``algorithm=`` selects either);
3. **queries**: the clusters sorted by size, largest first; their medoids are the
   annotation queue. Clusters of equal size: the more compact first (smaller mean
   distance of members to their medoid), then a seeded random order.

A budget above k (the paper's 50 % and 100 % budgets exceed k/N = 1/3, a case it
leaves open) goes on with the medoids of a second MAL clustering of the rows not yet
queued, then a third, and so on (:func:`mal_queue`), so that every query is a medoid
and the queue is prefix-stable: a larger budget only appends (a next round continues
the ranking). Earlier rules fell short of that: round-robin over the members nearest
each medoid added near-duplicates and fell well below random sampling at 50 % on the
synthetic corpus; clustering again with k = budget beat random but changed the queue's
first queries whenever the budget passed k. Everything is deterministic given ``seed``.

**Scale.** The affinity matrix is N x N (float32: 1.6 GB at N = 20,000). Up to
``exact_limit`` samples MAL is exact. Beyond it, seral partitions the samples into
blocks of at most ``block_size`` by k-means (on unit-length vectors for the cosine
metric; blocks over the size are split again by 2-means), gives each block a share
of the k medoids proportional to its size, runs exact MAL in each block, and ranks
all clusters together. Memory is then bounded by one block's matrix; clusters cannot
straddle block borders, which costs little loss when k = N/3 makes clusters small
(``benchmarks/mal_scale.py`` measures it against the exact loss).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seraltools.errors import BadInput

METRICS = ("auto", "cosine", "euclidean")
KMEDOIDS = ("fasterpam", "alternating")
EXACT_LIMIT = 20_000


def default_k(n: int) -> int:
    """The paper's number of clusters, k = N/3 (after its ref. [29])."""
    return max(1, round(n / 3))


def resolve_metric(metric: str, dim: int, standardized: bool = False) -> str:
    """``auto``: Euclidean on standardised features and on 2-D ones, cosine on raw
    features above 2 dims (the paper's best for its raw features). Cosine ignores how
    far a z-scored vector lies from the corpus mean; on z-scored log-mel functionals it
    fell significantly below random sampling at 10 % on EMO-DB and on TurEV-DB, where
    Euclidean distance beat random at 1-10 % on both (benchmarks/al_fidelity.py)."""
    if metric not in METRICS:
        raise BadInput(f"--metric {metric!r}: choose one of {', '.join(METRICS)}")
    if metric == "auto":
        return "euclidean" if dim <= 2 or standardized else "cosine"
    return metric


def _prepare(x: np.ndarray, metric: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if metric == "cosine":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        if np.any(norms == 0):
            row = int(np.flatnonzero(norms[:, 0] == 0)[0])
            raise BadInput(f"row {row + 1}: an all-zero feature vector has no cosine distance; "
                           "drop it or use --metric euclidean")
        x = x / norms
    return x


def affinity(x: np.ndarray, metric: str) -> np.ndarray:
    """The (N, N) float32 matrix of pairwise distances (zero diagonal), built in place:
    one N x N array at a time, so the peak is the matrix itself (1.6 GB at N = 20,000)."""
    x = _prepare(x, metric)
    d = x @ x.T
    if metric == "cosine":
        np.subtract(1.0, d, out=d)
    else:
        sq = np.einsum("ij,ij->i", x, x)
        d *= -2.0
        d += sq[:, None]
        d += sq[None, :]
        np.maximum(d, 0.0, out=d)
        np.sqrt(d, out=d)
    np.maximum(d, 0.0, out=d)
    np.fill_diagonal(d, 0.0)
    return d


def farthest_first(d: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """One random sample, then k - 1 by farthest-first traversal on the distance matrix."""
    n = d.shape[0]
    chosen = np.empty(k, dtype=np.int64)
    chosen[0] = rng.integers(n)
    nearest = d[chosen[0]].astype(np.float64)
    for i in range(1, k):
        nearest[chosen[:i]] = -1.0  # never choose a sample twice, also among duplicates
        chosen[i] = int(np.argmax(nearest))
        np.minimum(nearest, d[chosen[i]], out=nearest)
    return chosen


@dataclass
class Clustering:
    """Result of :func:`mal`. Arrays are per sample unless named per cluster."""

    cluster: np.ndarray  # (N,) int32: cluster number, 0 = the largest (first queried)
    medoids: np.ndarray  # (k,) int64: row of each cluster's medoid, in query order
    sizes: np.ndarray  # (k,) int64: cluster sizes, in query order
    loss: float  # sum over samples of the distance to their medoid
    metric: str
    exact: bool

    @property
    def k(self) -> int:
        return len(self.medoids)

    def queue(self, budget: int | None = None) -> np.ndarray:
        """Rows to annotate, in order: the medoids of the largest clusters first."""
        budget = self.k if budget is None else int(budget)
        if budget > self.k:
            raise ValueError(f"a budget of {budget} needs at least {budget} clusters; use mal_queue")
        return self.medoids[:budget].copy()


def mal_queue(x: np.ndarray, budget: int, k: int | None = None, *, labelled: np.ndarray | None = None,
              **options) -> tuple[np.ndarray, Clustering]:
    """The first ``budget`` queries of the MAL order, and the clustering (k, default N/3)
    whose medoids open it.

    The order is **prefix-stable**: the queue for budget b is the first b queries of the
    queue for any budget B >= b, also above k. After the k medoids (largest cluster
    first) come the medoids of a second MAL clustering of the rows not yet queued (k =
    a third of them, largest first), then of a third, and so on; each level is
    clustered only when the budget reaches it, with its own seed drawn from ``seed``.

    ``labelled`` (bool per row): rows already asked about, never queued; the first
    level's medoids of clusters without a labelled row come before those of clusters
    with one, so that a next round whose labelled rows are the previous queue continues
    it exactly."""
    x = np.asarray(x, dtype=np.float32)
    n = len(x)
    k = default_k(n) if k is None else int(k)
    budget = int(budget)
    done = np.zeros(n, dtype=bool) if labelled is None else np.asarray(labelled, dtype=bool)
    seed = int(options.pop("seed", 0))
    c = mal(x, k, seed=seed, **options)
    covered = np.zeros(c.k, dtype=bool)
    covered[c.cluster[done]] = True
    first = c.medoids[~done[c.medoids]]
    queue = [first[~covered[c.cluster[first]]], first[covered[c.cluster[first]]]]
    count = sum(len(q) for q in queue)
    asked = np.zeros(n, dtype=bool)
    asked[c.medoids] = True
    level = 0
    while count < budget and not asked.all():
        level += 1
        rest = np.flatnonzero(~asked)
        from seraltools.seeds import sub_seed

        level_seed = sub_seed(seed, level)
        sub = mal(x[rest], default_k(len(rest)), seed=level_seed, **options)
        medoids = rest[sub.medoids]
        asked[medoids] = True
        medoids = medoids[~done[medoids]]
        queue.append(medoids)
        count += len(medoids)
    return np.concatenate(queue)[:budget].astype(np.int64), c


def _exact(x: np.ndarray, k: int, metric: str, rng: np.random.Generator, max_iter: int, algorithm: str):
    import kmedoids

    d = affinity(x, metric)
    init = farthest_first(d, k, rng)
    if algorithm == "fasterpam":
        res = kmedoids.fasterpam(d, init, max_iter=max_iter, n_cpu=1)  # one thread: the same result every run
    else:
        res = kmedoids.alternating(d, init, max_iter=max_iter)
    medoids = np.asarray(res.medoids, dtype=np.int64)
    labels = np.asarray(res.labels, dtype=np.int64)
    spread = np.bincount(labels, weights=d[np.arange(len(x)), medoids[labels]], minlength=k)
    return labels, medoids, float(res.loss), spread


def _blocks(x: np.ndarray, block_size: int, metric: str, seed: int) -> list[np.ndarray]:
    """Partition row indices into blocks of at most block_size by (recursive) k-means."""
    from sklearn.cluster import KMeans

    xp = _prepare(x, metric)
    todo, done = [np.arange(len(x))], []
    first = True
    while todo:
        idx = todo.pop()
        if len(idx) <= block_size:
            done.append(idx)
            continue
        parts = int(np.ceil(len(idx) / block_size)) if first else 2
        first = False
        km = KMeans(parts, n_init=1, random_state=seed, max_iter=50).fit(xp[idx])
        groups = [idx[km.labels_ == p] for p in range(parts)]
        if max(len(g) for g in groups) == len(idx):  # degenerate: identical points; split by halves
            groups = np.array_split(idx, 2)
        todo += [g for g in groups if len(g)]
    return sorted(done, key=lambda b: b[0])


def mal(
    x: np.ndarray,
    k: int | None = None,
    *,
    metric: str = "auto",
    seed: int = 0,
    max_iter: int = 100,
    exact_limit: int = EXACT_LIMIT,
    block_size: int = EXACT_LIMIT,
    algorithm: str = "fasterpam",
) -> Clustering:
    """Medoid-based active learning on features ``x`` (N, D): clusters and query order.

    ``x`` is used as given: the tools standardise it first (:func:`select`,
    :mod:`seraltools.simulate`) and pass the metric they resolved; here ``auto`` means
    :func:`resolve_metric` for raw features (cosine above 2 dims). ``algorithm``: the
    k-medoids algorithm after farthest-first initialisation, ``fasterpam`` or
    ``alternating``."""
    if algorithm not in KMEDOIDS:
        raise BadInput(f"k-medoids algorithm {algorithm!r}: choose {' or '.join(KMEDOIDS)}")
    x = np.asarray(x, dtype=np.float32)
    n = len(x)
    if n < 1:
        raise BadInput("no samples to select from")
    if not np.isfinite(x).all():
        row = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise BadInput(f"row {row + 1}: features hold NaN or infinity; re-extract or drop the row")
    metric = resolve_metric(metric, x.shape[1])
    k = default_k(n) if k is None else int(k)
    if not 1 <= k <= n:
        raise BadInput(f"--k {k}: give 1 to {n} (the number of samples)")
    rng = np.random.default_rng(seed)
    exact = n <= exact_limit
    labels = np.empty(n, dtype=np.int64)
    medoids, spread = [], []
    loss = 0.0
    blocks = [np.arange(n)] if exact else _blocks(x, block_size, metric, seed)
    shares = _shares(np.array([len(b) for b in blocks]), k)
    offset = 0
    for block, kb in zip(blocks, shares):
        lab, med, lo, spr = _exact(x[block], int(kb), metric, rng, max_iter, algorithm)
        labels[block] = lab + offset
        medoids.append(block[med])
        spread.append(spr)
        loss += lo
        offset += int(kb)
    medoids = np.concatenate(medoids)
    spread = np.concatenate(spread)
    sizes = np.bincount(labels, minlength=k)
    # query order: largest first; equal sizes: more compact first, then a seeded random order
    order = np.lexsort((rng.random(k), spread / np.maximum(sizes, 1), -sizes))
    renumber = np.empty(k, dtype=np.int64)
    renumber[order] = np.arange(k)
    return Clustering(renumber[labels].astype(np.int32), medoids[order], sizes[order], loss, metric, exact)


def _shares(sizes: np.ndarray, k: int) -> np.ndarray:
    """k split over blocks in proportion to their sizes (largest remainders), each >= 1."""
    raw = sizes / sizes.sum() * k
    out = np.maximum(1, np.floor(raw).astype(np.int64))
    out = np.minimum(out, sizes)
    for i in np.argsort(-(raw - np.floor(raw)), kind="stable"):
        if out.sum() >= k:
            break
        if out[i] < sizes[i]:
            out[i] += 1
    return out


def random_queue(n: int, budget: int | None, seed: int = 0) -> np.ndarray:
    """The baseline: a seeded random order of all rows, cut to the budget."""
    order = np.random.default_rng(seed).permutation(n)
    return order if budget is None else order[:budget]


def resolve_budget(budget: str | float | int | None, n: int, default: int) -> int:
    """A budget as a count ("50") or a fraction of the rows ("0.1", "10%")."""
    if budget is None:
        return default
    text = str(budget).strip()
    try:
        if text.endswith("%"):
            value = float(text[:-1]) / 100 * n
        else:
            f = float(text)
            value = f * n if (0 < f < 1 or "." in text) and f <= 1 else f
    except ValueError:
        raise BadInput(f"--budget {budget!r}: give a count (50), a fraction (0.1) or a percentage (10%)") from None
    if not np.isfinite(value):
        raise BadInput(f"--budget {budget!r}: give a finite count (50), fraction (0.1) or percentage (10%)")
    b = int(round(value))
    if b < 1:
        raise BadInput(f"--budget {budget!r} is less than one query for {n} rows")
    return min(b, n)


def propagate(cluster: np.ndarray, medoid_rows: np.ndarray, medoid_labels: list) -> list:
    """The paper's "cluster labels": each medoid's label for every member of its cluster."""
    by_cluster = {int(cluster[m]): lab for m, lab in zip(medoid_rows, medoid_labels) if lab is not None}
    return [by_cluster.get(int(c)) for c in cluster]
