"""Cold-start selectors: which utterances to label first, with no label at all.

Every selector takes the selection features ``x`` (N, D; the tools z-score them at the
corpus level first, as for MAL), a budget, a seed and optionally the rows already
labelled (never queued again), and returns the rows to query in order. Same input and
seed, same queue.

- ``mal``: medoid-based active learning, the MAL paper's selector (:mod:`seraltools.mal`).
- ``random``: a seeded random order, the baseline.
- ``kcenter``: k-center greedy, the core-set selector (Sener & Savarese, ICLR 2018):
  each query is the row farthest from every row queried (or labelled) so far, the first
  one at random. seral's own few lines (scikit-activeml's ``k_greedy_center`` keeps a
  budget x N matrix: 1.6 GB at N = 20,000 and a 50 % budget); memory O(N).
- ``typiclust``: TypiClust (Hacohen, Dekel & Weinshall, ICML 2022, "Active learning on
  a budget"): k-means with k = labelled + budget clusters; from the largest clusters
  without a labelled row, the most typical member, typicality = 1 / mean Euclidean
  distance to its K = 20 nearest neighbours in the cluster (the paper's K). seral's own
  few lines, as scikit-activeml's ``TypiClust`` does it: importing scikit-activeml's
  selectors imports PyTorch where it is installed (2.5 s and 660 MB per process here).
- ``probcover``: ProbCover (Yehuda, Dekel, Hacohen & Weinshall, NeurIPS 2022): balls of
  radius delta around every row; each query is the row whose ball holds the most rows
  no query's ball holds yet (greedy maximum coverage); once every row is covered, the
  rest in a seeded random order. delta: the paper's purity heuristic, the largest delta
  at which a fraction ``alpha`` = 0.95 of the balls are pure, purity judged by k-means
  pseudo-labels with ``classes`` clusters (the paper: the number of classes; seral's
  default 4, the four emotions most SER corpora share, since there are no labels to
  count). A ball around x is pure exactly when delta is below the distance from x to
  the nearest row of another pseudo-class, so delta is a quantile of those distances.
  seral's own code: scikit-activeml's ``ProbCover`` builds the dense N x N distance
  matrix (23.5 s and 862 MB at N = 8,000 x 32 on this machine); this one builds the
  sparse delta-ball graph.
- ``stratified``: stratified random sampling over k-means strata (``strata`` = 10
  clusters): each query comes from the stratum furthest below its share of the queries
  so far (its share of the rows), a seeded random member of it.

- ``mal-random``, ``typiclust-random``: the cold-start selector for the first
  :data:`SWITCH` (2 %) of the rows, then a seeded random order of the rest. Cluster-based
  selectors win at the smallest budgets and lose to random at 5-20 % on corpora of many
  speakers (RAVDESS; the MAL paper too finds no benefit at 50 %): the hybrid keeps the
  first and is random sampling after (benchmarks/al_default.py).

``mal``, ``random``, ``kcenter``, ``probcover``, ``stratified`` and ``mal-random`` are prefix-stable (the
queue for budget b is the start of the queue for any larger budget); ``typiclust`` is
not (its k grows with the budget), as in its paper, nor is ``typiclust-random`` below its switch.
"""

from __future__ import annotations

import numpy as np

from seraltools.errors import BadInput
from seraltools.seeds import sub_seed

#: The "then random" hybrids: name -> the cold-start selector that opens the queue.
HYBRIDS = {"mal-random": "mal", "typiclust-random": "typiclust"}
SWITCH = 0.02  # the hybrids' cold-start share of the rows (at least one query)
SELECTORS = ("mal", "random", "kcenter", "typiclust", "probcover", "stratified", *HYBRIDS)
UNSTABLE = ("typiclust", "typiclust-random")  # not prefix-stable: the queue for a budget is computed for that budget
TYPICLUST_NEIGHBOURS = 20
PROBCOVER_ALPHA = 0.95
PROBCOVER_CLASSES = 4
STRATA = 10


def check_method(method: str) -> str:
    if method not in SELECTORS:
        raise BadInput(f"--method {method!r}: choose one of {', '.join(SELECTORS)}")
    return method


def _done(n: int, labelled) -> np.ndarray:
    return np.zeros(n, dtype=bool) if labelled is None else np.asarray(labelled, dtype=bool)


def queue(method: str, x: np.ndarray, budget: int, *, seed: int = 0, labelled=None, **mal_options) -> np.ndarray:
    """The first ``budget`` rows ``method`` queries (row indices into ``x``)."""
    check_method(method)
    x = np.asarray(x, dtype=np.float32)
    n = len(x)
    done = _done(n, labelled)
    budget = int(min(budget, n - done.sum()))
    if budget <= 0:
        return np.zeros(0, dtype=np.int64)
    if method in HYBRIDS:
        return then_random(method, x, budget, seed=seed, labelled=done, **mal_options)
    if method == "mal":
        from seraltools.mal import mal_queue

        return mal_queue(x, budget, labelled=done, seed=seed, **mal_options)[0]
    if method == "random":
        from seraltools.mal import random_queue

        order = random_queue(n, None, seed)
        return order[~done[order]][:budget]
    return {"kcenter": kcenter, "typiclust": typiclust, "probcover": probcover,
            "stratified": stratified}[method](x, budget, seed=seed, labelled=done)


def then_random(method: str, x: np.ndarray, budget: int, *, seed: int = 0, labelled=None,
                **mal_options) -> np.ndarray:
    """A "then random" hybrid: the first max(1, SWITCH x N) rows asked (labelled ones
    included) by its cold-start selector (with ``seed``), the rest in a seeded random
    order of the rows left; a next round whose labelled rows are the queue's start
    continues it."""
    from seraltools.mal import random_queue

    n = len(x)
    done = _done(n, labelled)
    first = max(0, max(1, int(round(SWITCH * n))) - int(done.sum()))
    opening = HYBRIDS[method]
    head = queue(opening, x, min(budget, first), seed=seed, labelled=done,
                 **(mal_options if opening == "mal" else {}))
    if budget <= len(head):
        return head[:budget]
    chosen = done.copy()
    chosen[head] = True
    order = random_queue(n, None, sub_seed(seed, 8))
    return np.concatenate([head, order[~chosen[order]][:budget - len(head)]]).astype(np.int64)


def kcenter(x: np.ndarray, budget: int, *, seed: int = 0, labelled=None) -> np.ndarray:
    """k-center greedy (core-set): each query the row farthest (Euclidean) from every row
    queried or labelled so far; with none, the first at random. Memory O(N)."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    done = _done(n, labelled)
    nearest = np.full(n, np.inf)  # each row's distance to the nearest centre so far
    for c in np.flatnonzero(done):
        np.minimum(nearest, np.linalg.norm(x - x[c], axis=1), out=nearest)
    chosen = done.copy()
    out = []
    for _ in range(int(budget)):
        if not np.isfinite(nearest).any():  # no centre yet: a seeded random first one
            c = int(np.random.default_rng(sub_seed(seed, 1)).integers(n))
        else:
            c = int(np.argmax(np.where(chosen, -1.0, nearest)))
        out.append(c)
        chosen[c] = True
        np.minimum(nearest, np.linalg.norm(x - x[c], axis=1), out=nearest)
    return np.asarray(out, dtype=np.int64)


def typicality(x: np.ndarray, k: int = TYPICLUST_NEIGHBOURS) -> np.ndarray:
    """TypiClust's typicality of each row of ``x``: 1 / mean Euclidean distance to its
    min(k, len - 1) nearest other rows (1 for a lone row)."""
    from sklearn.neighbors import NearestNeighbors

    kk = min(int(k), len(x) - 1)
    if kk < 1:
        return np.ones(len(x))
    dist = NearestNeighbors(n_neighbors=kk + 1).fit(x).kneighbors(x)[0][:, 1:]
    return 1.0 / (dist.mean(axis=1) + 1e-12)


def typiclust(x: np.ndarray, budget: int, *, seed: int = 0, labelled=None, k: int = TYPICLUST_NEIGHBOURS) -> np.ndarray:
    """TypiClust: k-means with labelled + budget clusters; from the largest cluster without
    a labelled or queried row, its most typical unqueried row; repeat. Ties between
    clusters of one size: a seeded choice. Clusters run out (fewer distinct rows than
    clusters): the rest in a seeded order."""
    import warnings

    from sklearn.cluster import KMeans

    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    done = _done(n, labelled)
    budget = int(budget)
    clusters = max(1, min(int(done.sum()) + budget, len(np.unique(x, axis=0))))
    with warnings.catch_warnings():  # k-means warns about duplicate points
        warnings.simplefilter("ignore")
        labels = KMeans(clusters, n_init=1, random_state=sub_seed(seed, 2)).fit_predict(x)
    sizes = np.bincount(labels, minlength=clusters).astype(np.float64)
    sizes[np.unique(labels[done])] = 0  # covered: a labelled row is in it
    rng = np.random.default_rng(sub_seed(seed, 7))
    chosen = done.copy()
    out: list[int] = []
    while len(out) < budget and sizes.max() > 0:
        largest = np.flatnonzero(sizes == sizes.max())
        c = int(largest[rng.integers(len(largest))]) if len(largest) > 1 else int(largest[0])
        sizes[c] = 0
        rows = np.flatnonzero(labels == c)
        free = ~chosen[rows]
        if not free.any():
            continue
        typ = typicality(x[rows], k)
        pick = int(rows[free][np.argmax(typ[free])])
        out.append(pick)
        chosen[pick] = True
    if len(out) < budget:
        rest = rng.permutation(n)
        out += rest[~chosen[rest]][:budget - len(out)].tolist()
    return np.asarray(out, dtype=np.int64)


def pseudo_labels(x: np.ndarray, classes: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    classes = max(1, min(int(classes), len(np.unique(x, axis=0))))
    return KMeans(classes, n_init=3, random_state=seed).fit_predict(x)


def probcover_delta(x: np.ndarray, *, alpha: float = PROBCOVER_ALPHA, classes: int = PROBCOVER_CLASSES,
                    seed: int = 0) -> float:
    """The largest delta at which at least ``alpha`` of the delta-balls are pure (all
    rows of one k-means pseudo-class). A ball {x' : |x - x'| <= delta} around x is pure
    iff delta < d_other(x), the distance from x to the nearest row of another class."""
    from sklearn.neighbors import NearestNeighbors

    x = np.asarray(x, dtype=np.float64)
    labels = pseudo_labels(x, classes, seed)
    d_other = np.full(len(x), np.inf)
    for c in np.unique(labels):
        inside, outside = labels == c, labels != c
        if outside.any():
            d_other[inside] = NearestNeighbors(n_neighbors=1).fit(x[outside]).kneighbors(x[inside])[0][:, 0]
    finite = np.sort(d_other[np.isfinite(d_other)])
    if not len(finite):  # one pseudo-class: every ball is pure; take the largest useful radius
        return float(np.max(np.linalg.norm(x - x.mean(axis=0), axis=1))) or 1.0
    # purity(delta) = mean(d_other > delta); the largest delta with purity >= alpha is just
    # below the (impure-allowed)-th smallest d_other
    allowed = int(np.floor((1 - alpha) * len(x)))
    cut = finite[min(allowed, len(finite) - 1)]
    return float(np.nextafter(cut, 0)) if cut > 0 else 0.0


def probcover(x: np.ndarray, budget: int, *, seed: int = 0, labelled=None, delta: float | None = None,
              alpha: float = PROBCOVER_ALPHA, classes: int = PROBCOVER_CLASSES) -> np.ndarray:
    """ProbCover: greedy maximum coverage of delta-balls on the sparse ball graph."""
    from sklearn.neighbors import radius_neighbors_graph

    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    done = _done(n, labelled)
    if delta is None:
        delta = probcover_delta(x, alpha=alpha, classes=classes, seed=sub_seed(seed, 3))
    graph = radius_neighbors_graph(x, delta, mode="connectivity", include_self=True).tocsr()  # symmetric
    graph.sort_indices()
    covered = np.zeros(n, dtype=bool)
    degree = np.diff(graph.indptr).astype(np.int64)  # rows each ball would newly cover

    def cover(centre: int) -> None:
        ball = graph.indices[graph.indptr[centre]:graph.indptr[centre + 1]]
        new = ball[~covered[ball]]
        covered[new] = True
        if len(new):  # every ball that held a newly covered row now covers one fewer
            np.subtract.at(degree, graph[new].indices, 1)

    for r in np.flatnonzero(done):
        cover(r)
    rng = np.random.default_rng(sub_seed(seed, 4))
    tiebreak = rng.permutation(n)  # equal coverage: a seeded order
    chosen = done.copy()
    out = []
    while len(out) < budget:
        gain = np.where(chosen, -1, degree)[tiebreak]
        best = int(np.argmax(gain))
        if gain[best] <= 0:
            break
        centre = int(tiebreak[best])
        out.append(centre)
        chosen[centre] = True
        cover(centre)
    if len(out) < budget:  # everything covered: the rest in a seeded random order
        rest = rng.permutation(n)  # of every row, then filtered: a next round continues the same order
        out += rest[~chosen[rest]][:budget - len(out)].tolist()
    return np.asarray(out, dtype=np.int64)


def coverage(x: np.ndarray, rows, delta: float) -> float:
    """The fraction of rows within ``delta`` of a queried row (ProbCover's objective)."""
    from sklearn.neighbors import NearestNeighbors

    rows = np.asarray(rows, dtype=np.int64)
    if not len(rows):
        return 0.0
    d = NearestNeighbors(n_neighbors=1).fit(x[rows]).kneighbors(x)[0][:, 0]
    return float(np.mean(d <= delta))


def stratified(x: np.ndarray, budget: int, *, seed: int = 0, labelled=None, strata: int = STRATA) -> np.ndarray:
    """Stratified random sampling over k-means strata, proportional allocation."""
    n = len(x)
    done = _done(n, labelled)
    groups = pseudo_labels(np.asarray(x, dtype=np.float64), strata, sub_seed(seed, 5))
    rng = np.random.default_rng(sub_seed(seed, 6))
    k = groups.max() + 1
    sizes = np.bincount(groups, minlength=k)
    members = [rng.permutation(np.flatnonzero(groups == g)) for g in range(k)]
    members = [m[~done[m]] for m in members]  # the same order as a first round, labelled rows left out
    taken = np.bincount(groups[done], minlength=k).astype(np.int64)
    used = np.zeros(k, dtype=np.int64)
    out = []
    total = int(done.sum())
    while len(out) < budget:
        total += 1
        left = np.array([used[g] < len(members[g]) for g in range(k)])
        short = np.where(left, sizes * total / n - taken, -np.inf)
        g = int(np.argmax(short))  # ties: the lower stratum number
        out.append(int(members[g][used[g]]))
        used[g] += 1
        taken[g] += 1
    return np.asarray(out, dtype=np.int64)
