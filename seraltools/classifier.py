"""The paper's classifier: an RBF SVM whose C and gamma a cross-validated grid search chooses.

cpc-dimred-medoid-active-learning, Sec. 3.4: "SVM hyperparameters (box constraint and
kernel scale parameter) were optimized separately for each corpus and classification
task based on a grid search using 5-fold CV on all labeled data for the given corpus".
The paper fixes one search per corpus and task; nothing in it depends on the
simulation's seeds, so ``evaluate al`` runs one search per task, whatever ``--seed``
lists, its CV split seeded by ``grid_seed`` (0). ``predict`` runs the same search on the
rows people labelled. Features are z-scored first; gamma is given in multiples of
1/D (sklearn's "scale" for z-scored features); the score is MCC.

The search is split into jobs, one per (candidate, fold): a fit on the fold's training
rows and the MCC of its predictions on the held-out rows. The jobs are independent, so
the caller runs them where it runs everything else (a pool of processes, Ray, or this
process); the best candidate is then picked exactly as scikit-learn's ``GridSearchCV``
picks it (the first of the highest mean fold scores, candidates in ``ParameterGrid``
order: C outer, gamma inner), so the result is the same, bit for bit.

Two routes, by the number of labelled rows N (the report and the table's history say
which ran):

- ``exact`` (N <= ``max_rows``, default 2,000): the search on every labelled row, the
  paper's procedure. Its cost grows with N squared and more: at N = 7,500 x 600 dims one
  fit takes about 20 s here and the search 160 of them (2 tasks x 16 x 5).
- ``subsample`` (N > ``max_rows``): the same search on a stratified random subsample of
  ``max_rows`` rows (seeded by the search's seed), the chosen C and gamma then used as
  usual (on the training sets of the simulation, or on every labelled row by
  ``predict``). The agreement of this route with the exact one is measured on EMO-DB,
  TurEV-DB and RAVDESS by ``benchmarks/sim_scale.py`` (README, "The simulation at scale").
  ``max_rows = 0`` always takes the exact route.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

C_GRID = (0.1, 1.0, 10.0, 100.0)
GAMMA_GRID = (0.1, 0.3, 1.0, 3.0)  # multiples of 1/D
GRID_FOLDS = 5
GRID_ROWS = 2000  # the exact search up to this many labelled rows; a stratified subsample of it beyond


@dataclass(frozen=True)
class GridSearch:
    """The search's settings: the grids, the CV folds, the seed of its splits (and of the
    subsample) and the largest N searched exactly."""

    c_grid: tuple[float, ...] = C_GRID
    gamma_grid: tuple[float, ...] = GAMMA_GRID
    folds: int = GRID_FOLDS
    seed: int = 0
    max_rows: int = GRID_ROWS


@dataclass
class SearchPlan:
    """One search: its jobs' candidates and folds (absolute row indices) and its route."""

    candidates: list[tuple[float, float]]  # (C, gamma) in ParameterGrid order
    splits: list[tuple[np.ndarray, np.ndarray]]  # (train rows, test rows) per fold
    route: str  # "exact" or "subsample"
    rows: int  # the rows searched
    of: int  # the labelled rows

    def jobs(self):
        """(C, gamma, train rows, test rows) of every job, candidate-major."""
        return [(c, g, tr, te) for c, g in self.candidates for tr, te in self.splits]

    def best(self, scores) -> dict:
        """C, gamma and the mean CV MCC of the best candidate, as GridSearchCV picks it."""
        means = np.average(np.asarray(scores, dtype=np.float64).reshape(len(self.candidates), len(self.splits)),
                           axis=1)
        i = int(np.argmax(means))
        return {"C": float(self.candidates[i][0]), "gamma": float(self.candidates[i][1]),
                "cv_mcc": float(means[i]), "route": self.route, "search_rows": self.rows, "labelled": self.of}


def route_text(fit: dict) -> str:
    """How the search ran, for reports: "exact search" or "search on a subsample of 2000 of 7500 rows"."""
    if fit.get("route") == "subsample":
        return f"search on a stratified subsample of {fit['search_rows']} of {fit['labelled']} rows"
    return "exact search"


def plan_search(y: np.ndarray, dim: int, grid: GridSearch) -> SearchPlan:
    """The jobs of one search over labels ``y`` (N,) with features of ``dim`` dimensions."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y)
    n = len(y)
    rows = np.arange(n)
    route = "exact"
    if grid.max_rows and n > grid.max_rows:
        rows = _stratified_subsample(y, grid.max_rows, grid.seed)
        route = "subsample"
    cv = StratifiedKFold(grid.folds, shuffle=True, random_state=grid.seed)
    splits = [(rows[tr], rows[te]) for tr, te in cv.split(np.zeros(len(rows)), y[rows])]
    candidates = [(float(c), g / dim) for c in grid.c_grid for g in grid.gamma_grid]
    return SearchPlan(candidates, splits, route, len(rows), n)


def _stratified_subsample(y: np.ndarray, size: int, seed: int) -> np.ndarray:
    """``size`` rows with the classes in proportion (seeded), in ascending order."""
    from sklearn.model_selection import train_test_split

    try:
        rows = train_test_split(np.arange(len(y)), train_size=size, stratify=y, random_state=seed)[0]
    except ValueError:  # a class too small to stratify: a plain random sample
        rows = np.random.default_rng(seed).choice(len(y), size, replace=False)
    return np.sort(rows)


def fold_score(x: np.ndarray, labels: dict, key, c: float, gamma: float, train: np.ndarray,
               test: np.ndarray) -> float:
    """One job: MCC on ``test`` of an RBF SVM fitted on ``train`` (rows of ``x``, labels
    ``labels[key]``), as GridSearchCV's scorer computes it."""
    import warnings

    from sklearn.metrics import matthews_corrcoef
    from sklearn.svm import SVC

    y = labels[key]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        svm = SVC(kernel="rbf", C=c, gamma=gamma).fit(x[train], y[train])
        return float(matthews_corrcoef(y[test], svm.predict(x[test])))


def tune(x: np.ndarray, y: np.ndarray, grid: GridSearch, run=None, progress=None) -> dict:
    """C, gamma and CV MCC of the RBF SVM on ``x`` (N, D, z-scored) and ``y`` (N,).
    ``run(fn, args)`` maps the jobs (default: in this process)."""
    return tune_many(x, {0: y}, grid, run, progress)[0]


def tune_many(x: np.ndarray, labels: dict, grid: GridSearch, run=None, progress=None) -> dict:
    """:func:`tune` for each label array of ``labels`` (key -> (N,)), the jobs of all the
    searches in one ``run``; label arrays equal to an earlier one share its search."""
    run = run or (lambda fn, args: (fn(*a) for a in args))
    first: dict = {}  # each distinct label array searched once
    for key, y in labels.items():
        first.setdefault(_same(y), key)
    keys = list(dict.fromkeys(first.values()))
    plans = {k: plan_search(labels[k], x.shape[1], grid) for k in keys}
    args = [(x, labels, k, c, g, tr, te) for k in keys for c, g, tr, te in plans[k].jobs()]
    scores = []
    for s in run(fold_score, args):
        scores.append(s)
        if progress:
            progress(1)
    fits, at = {}, 0
    for k in keys:
        m = len(plans[k].candidates) * len(plans[k].splits)
        fits[k] = plans[k].best(scores[at:at + m])
        at += m
    return {key: dict(fits[first[_same(y)]]) for key, y in labels.items()}


def _same(y) -> bytes:
    """A key equal for equal label arrays."""
    y = np.asarray(y)
    return str(y.dtype).encode() + b"\0" + y.tobytes()


def search_jobs(labels: dict, grid: GridSearch) -> int:
    """The number of jobs :func:`tune_many` runs (for a progress bar's total)."""
    return len({_same(y) for y in labels.values()}) * len(grid.c_grid) * len(grid.gamma_grid) * grid.folds
