"""Later rounds: selectors that learn from the answers given so far.

The cold-start selectors (:mod:`seraltools.selectors`) never look at labels. Once a
first round is answered, these train the MAL paper's classifier on the answers and
ask next about the rows it is least sure of:

- ``margin``: margin (uncertainty) sampling. Binary column: the rows with the smallest
  \\|decision value\\| of the RBF SVM (distance to the boundary in the kernel space,
  up to scale). Several classes: the smallest gap between the two largest one-vs-rest
  decision values of scikit-learn's SVC (``decision_function_shape="ovr"``: votes plus
  the scaled pairwise confidences) -- decision values, not calibrated probabilities,
  so no Platt fit and no randomness.
- ``entropy``: the rows with the highest Shannon entropy of the SVM's calibrated class
  probabilities (Platt scaling with pairwise coupling, scikit-learn's
  ``probability=True``; its internal 5-fold CV is seeded), divided by log(classes)
  so that it lies in [0, 1]. (scikit-learn 1.9 deprecates ``probability=True`` for
  removal in 1.11; its replacement, ``CalibratedClassifierCV(ensemble=False)``,
  calibrates one-vs-rest instead of pairwise.)
- ``cluster-margin``: a batch-mode diversity hybrid (Zhdanov 2019, "Diverse mini-batch
  active learning"; close to Citovsky et al. 2021, "Batch active learning at scale"):
  the ``CANDIDATES`` x budget rows of smallest margin are clustered by k-means into
  budget clusters (on the selection features) and each cluster gives its
  smallest-margin row, so that one batch does not spend its queries on near-copies
  around one stretch of the boundary. The batch is ordered by margin.

The classifier: an RBF SVM on the features z-scored at the corpus level, C and gamma by
the stratified grid search on the labelled rows (:func:`seraltools.simulate.tune_svm`,
as ``seral predict`` does; its folds: min(5, smallest class)), or given (``hyper``: the
simulation passes the corpus-level ones its scoring SVM uses).

Several label columns (valence and arousal): each column gets its own SVM. ``margin``
and ``cluster-margin`` rank the candidates by each column's margin (fractional rank,
0 = smallest margin) and take the mean over the columns; ``entropy`` takes the mean of
the normalised entropies. A column is usable with at least two classes and at least
:data:`MIN_PER_CLASS` labelled rows in every class (the grid search's 2-fold minimum);
the others are left out and named. With no usable column the round falls back to the
cold-start order (the given ``fallback`` order, or the cold-start selector ``cold``
with the labelled and queued rows left out) and says so.

Ties: a seeded order (``sub_seed(seed, 10)``); k-means: ``sub_seed(seed, 8)``; Platt's
CV: ``sub_seed(seed, 9)``. Same input and seed, same batch.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from seraltools.errors import BadInput
from seraltools.seeds import sub_seed

LATER = ("margin", "entropy", "cluster-margin")
MIN_PER_CLASS = 2
CANDIDATES = 10  # cluster-margin: k-means over the CANDIDATES x budget most uncertain rows


def check_later(method: str) -> str:
    if method not in LATER:
        raise BadInput(f"--method {method!r}: the later-round selectors are {', '.join(LATER)}")
    return method


@dataclass
class Batch:
    rows: np.ndarray  # row indices, asked first first
    columns: list[str] = field(default_factory=list)  # the label columns the SVMs learnt
    skipped: dict[str, str] = field(default_factory=dict)  # column -> why it was left out
    fallback: bool = False  # no usable column: the cold-start order
    fits: dict[str, dict] = field(default_factory=dict)  # column -> C, gamma, labelled, classes


def _known(values) -> tuple[np.ndarray, np.ndarray]:
    """(mask of rows with a label, their labels as strings)."""
    known = np.array([v is not None and not (isinstance(v, float) and v != v) for v in values], dtype=bool)
    return known, np.array([str(v) for v, k in zip(values, known) if k])


def usable(values) -> str | None:
    """Why a label column cannot train the classifier, or None when it can."""
    known, keys = _known(values)
    classes, counts = np.unique(keys, return_counts=True)
    if len(classes) < 2:
        return f"{len(classes)} class{'' if len(classes) == 1 else 'es'} labelled; needs 2"
    if counts.min() < MIN_PER_CLASS:
        return (f"class {classes[np.argmin(counts)]!r} has {counts.min()} labelled row(s); needs "
                f"{MIN_PER_CLASS} per class")
    return None


def fit_svm(x: np.ndarray, values, *, seed: int = 0, hyper: dict | None = None, probability: bool = False, cfg=None):
    """The RBF SVM on the rows of ``x`` whose ``values`` entry is a label: (svm, fit)."""
    from sklearn.svm import SVC

    from seraltools.simulate import SimulationConfig, tune_svm

    known, keys = _known(values)
    counts = np.unique(keys, return_counts=True)[1]
    if hyper is None:
        cfg = cfg or SimulationConfig()
        from dataclasses import replace

        hyper = tune_svm(x[known], keys, replace(cfg, grid_folds=min(cfg.grid_folds, int(counts.min()))), seed)
    svm = SVC(kernel="rbf", C=hyper["C"], gamma=hyper["gamma"], probability=probability,
              random_state=sub_seed(seed, 9) if probability else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        svm.fit(x[known], keys)
    return svm, {"C": float(hyper["C"]), "gamma": float(hyper["gamma"]), "labelled": int(known.sum()),
                 "classes": len(counts)}


def margins(svm, x: np.ndarray) -> np.ndarray:
    """|decision value| (two classes) or the gap between the two largest one-vs-rest
    decision values (more): small = unsure."""
    d = svm.decision_function(x)
    if d.ndim == 1:
        return np.abs(d)
    top = np.sort(d, axis=1)
    return top[:, -1] - top[:, -2]


def entropies(svm, x: np.ndarray) -> np.ndarray:
    """Shannon entropy of the calibrated class probabilities / log(classes): large = unsure."""
    p = np.clip(svm.predict_proba(x), 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=1) / np.log(p.shape[1])


def _fractional_rank(v: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    order = np.lexsort((tiebreak, v))
    rank = np.empty(len(v))
    rank[order] = np.arange(len(v)) / max(1, len(v) - 1)
    return rank


def priority(method: str, x: np.ndarray, labels: dict, candidates: np.ndarray, *, seed: int = 0,
             hyper: dict | None = None, cfg=None) -> tuple[np.ndarray | None, Batch]:
    """Each candidate row's priority (smaller = ask sooner) under ``method``, or None when
    no column can train the SVM; the Batch carries the columns used and skipped."""
    info = Batch(np.zeros(0, dtype=np.int64))
    for col, values in labels.items():
        why = usable(values)
        if why:
            info.skipped[col] = why
        else:
            info.columns.append(col)
    if not info.columns or not len(candidates):
        return None, info
    tiebreak = np.random.default_rng(sub_seed(seed, 10)).permutation(len(x))[candidates]
    per_column = []
    for col in info.columns:
        svm, fit = fit_svm(x, labels[col], seed=seed, hyper=None if hyper is None else hyper.get(col),
                           probability=method == "entropy", cfg=cfg)
        info.fits[col] = fit
        if method == "entropy":
            per_column.append(-entropies(svm, x[candidates]))
        else:
            per_column.append(margins(svm, x[candidates]) if len(info.columns) == 1
                              else _fractional_rank(margins(svm, x[candidates]), tiebreak))
    return np.mean(per_column, axis=0), info


def later_queue(method: str, x: np.ndarray, budget: int, labels: dict, *, seed: int = 0, excluded=None,
                x_select: np.ndarray | None = None, hyper: dict | None = None, fallback: np.ndarray | None = None,
                cold: str = "mal", cfg=None) -> Batch:
    """The next ``budget`` rows to ask under ``method`` (:data:`LATER`).

    ``x``: the classifier's features (z-scored); ``labels``: column -> a label or None per
    row of ``x``; ``excluded``: bool per row, rows never queued (labelled, or queued and
    not answered yet; rows with a label are always excluded); ``x_select``: the features
    cluster-margin clusters (default ``x``); ``hyper``: column -> {"C", "gamma"} instead
    of the grid search; ``fallback``: the cold-start order to continue when no column can
    train the SVM, or a function (rows to leave out, budget) -> rows (default: the
    ``cold`` selector on ``x_select``)."""
    check_later(method)
    n = len(x)
    done = np.zeros(n, dtype=bool) if excluded is None else np.asarray(excluded, dtype=bool).copy()
    for values in labels.values():
        done |= _known(values)[0]
    candidates = np.flatnonzero(~done)
    budget = int(min(budget, len(candidates)))
    if budget <= 0:
        return Batch(np.zeros(0, dtype=np.int64))
    score, info = priority(method, x, labels, candidates, seed=seed, hyper=hyper, cfg=cfg)
    if score is None:
        if callable(fallback):  # the caller's cold-start selector, given the rows to leave out
            rows = fallback(done, budget)
        elif fallback is not None:
            order = np.asarray(fallback, dtype=np.int64)
            rows = order[~done[order]][:budget]
            if len(rows) < budget:  # the order ran out: the rest in a seeded order
                rest = np.random.default_rng(sub_seed(seed, 11)).permutation(n)
                taken = done.copy()
                taken[rows] = True
                rows = np.concatenate([rows, rest[~taken[rest]][:budget - len(rows)]])
        else:
            from seraltools.selectors import queue

            rows = queue(cold, x if x_select is None else x_select, budget, seed=seed, labelled=done)
        info.rows, info.fallback = np.asarray(rows, dtype=np.int64), True
        return info
    tiebreak = np.random.default_rng(sub_seed(seed, 10)).permutation(n)[candidates]
    order = np.lexsort((tiebreak, score))  # smallest priority first
    if method != "cluster-margin" or budget == 1:
        info.rows = candidates[order[:budget]]
        return info
    pool = order[:min(len(order), CANDIDATES * budget)]
    if len(pool) <= budget:
        info.rows = candidates[pool]
        return info
    xs = np.asarray(x if x_select is None else x_select, dtype=np.float64)[candidates[pool]]
    k = min(budget, len(np.unique(xs, axis=0)))
    from sklearn.cluster import KMeans

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = KMeans(k, n_init=1, random_state=sub_seed(seed, 8)).fit_predict(xs)
    picked = np.zeros(len(pool), dtype=bool)
    seen = np.zeros(k, dtype=bool)
    for i, c in enumerate(cluster):  # pool is in priority order: each cluster's first is its most uncertain
        if not seen[c]:
            seen[c] = picked[i] = True
    if picked.sum() < budget:  # fewer distinct clusters than the budget: the most uncertain of the rest
        rest = np.flatnonzero(~picked)[:budget - int(picked.sum())]
        picked[rest] = True
    info.rows = candidates[pool[picked]]  # in priority order
    return info
