"""Label the rest of the corpus from the utterances people labelled: the paper's classifier.

The MAL paper's classifier (cpc-dimred-medoid-active-learning, Sec. 3.4): an RBF SVM on
the 600-dim log-mel functionals, z-scored at the corpus level, C and gamma chosen by a
stratified grid search (MCC) -- here on the labelled rows only, since they are all the
labels there are (:func:`seraltools.simulate.tune_svm`, the same grid as the simulation).
The labelled rows may be annotated medoids or the cluster labels `seral cluster-labels`
propagated from them. Every row gets a prediction, a decision score and whether it was
labelled; the grid search's cross-validated MCC on the labelled rows estimates how good
the predictions for the rest are.
"""

from __future__ import annotations

import numpy as np

from seraltools.errors import BadInput
from seraltools.labels import label_columns

def _label(v):
    """A cell as a label: None for empty, NaN or blank."""
    if v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip()):
        return None
    return v


#: Fewest labelled rows (and per class) for a cross-validated figure: below, the grid search
#: still picks C and gamma, but its score on a handful of rows (1.000 on four) says nothing.
CV_MIN_ROWS, CV_MIN_PER_CLASS = 10, 3
#: C and gamma (x 1/D) when a class has a single labelled row (no grid search possible).
FALLBACK_C, FALLBACK_GAMMA = 10.0, 0.3


def regress_column(x: np.ndarray, y: list, seed: int = 0, grid_folds: int = 5) -> tuple[np.ndarray, dict]:
    """(predicted value per row, fit) for a numeric label column (a --scale rating, a mean
    of raters): an RBF SVR on the same features, C and gamma by a k-fold grid search on
    the labelled rows over the classifier's grid (:class:`~seraltools.simulate.SimulationConfig`),
    scored by the concordance correlation coefficient (CCC). ``fit``: C, gamma, the
    labelled count and the cross-validated CCC (None with too few rows)."""
    from sklearn.metrics import make_scorer
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.svm import SVR

    from seraltools.agreement import ccc
    from seraltools.simulate import SimulationConfig

    known = np.array([v is not None for v in y])
    if not known.any():
        raise BadInput("no labelled row among the features (do the ids match?)")
    target = np.array([float(v) for v, k in zip(y, known) if k])
    if len(np.unique(target)) < 2:
        raise BadInput(f"every labelled row has the same value ({target[0]:g}); rate at least two values")
    cfg = SimulationConfig()
    n = int(known.sum())
    folds = min(grid_folds, n // 2)
    fit = {"C": 1.0, "gamma": 1.0 / x.shape[1], "cv_ccc": None}
    if folds >= 2:
        grid = {"C": list(cfg.c_grid), "gamma": [g / x.shape[1] for g in cfg.gamma_grid]}
        search = GridSearchCV(SVR(kernel="rbf"), grid, cv=KFold(folds, shuffle=True, random_state=seed), n_jobs=1,
                              scoring=make_scorer(lambda a, b: 0.0 if not np.isfinite(ccc(a, b)) else ccc(a, b)))
        search.fit(x[known], target)
        fit = {"C": float(search.best_params_["C"]), "gamma": float(search.best_params_["gamma"]),
               "cv_ccc": float(search.best_score_) if n >= CV_MIN_ROWS else None}
    svr = SVR(kernel="rbf", C=fit["C"], gamma=fit["gamma"]).fit(x[known], target)
    fit.update(labelled=n, grid_folds=folds, kind="regression")
    return svr.predict(x).astype(np.float32), fit


def numeric(typ) -> bool:
    """A label column predicted by regression: floating point (scales, means of raters)."""
    import pyarrow as pa

    return pa.types.is_floating(typ)


def predict_column(x: np.ndarray, y: list, seed: int = 0, grid_folds: int = 5,
                   workers: int = 1) -> tuple[list, np.ndarray, dict]:
    """(predicted label per row, decision score per row, fit) for one label column: ``y``
    holds a label or None per row of ``x`` (already z-scored); the SVM learns the rows
    with labels. ``fit``: C, gamma, the labelled count, classes and the CV MCC (None when
    a class has fewer than 2 rows, and C = FALLBACK_C, gamma = FALLBACK_GAMMA / D are used)."""
    from sklearn.svm import SVC

    from seraltools.classifier import tune
    from seraltools.simulate import SimulationConfig, _runner

    known = np.array([v is not None for v in y])
    if not known.any():
        raise BadInput("no labelled row among the features (do the ids match?)")
    keys = np.array([str(v) for v, k in zip(y, known) if k])
    classes, counts = np.unique(keys, return_counts=True)
    if len(classes) < 2:
        raise BadInput(f"every labelled row has the same label ({str(classes[0])}); label at least two classes")
    folds = min(grid_folds, int(counts.min()))
    if folds >= 2:
        fit = tune(x[known], keys, SimulationConfig(grid_folds=folds).grid(seed), run=_runner(workers))
        if len(keys) < CV_MIN_ROWS or int(counts.min()) < CV_MIN_PER_CLASS:
            fit["cv_mcc"] = None  # too few rows for the figure to mean anything
    else:  # a class with one labelled row: no grid to search. C = 1 leaves a few far-apart points to the
        # soft margin (on EMO-DB at 2 %, 11 answers: MCC 0.13 on the rest, every row near one class); a
        # harder margin follows them (0.34; benchmarks/raters.py)
        fit = {"C": FALLBACK_C, "gamma": FALLBACK_GAMMA / x.shape[1], "cv_mcc": None}
    svm = SVC(kernel="rbf", C=fit["C"], gamma=fit["gamma"]).fit(x[known], keys)
    predicted = svm.predict(x)
    score = svm.decision_function(x)
    score = score if score.ndim == 1 else score.max(axis=1)
    by_key = {str(v): v for v, k in zip(y, known) if k}  # back to the labels' own values (0/1 stay ints)
    fit.update(labelled=int(known.sum()), classes=[by_key[c] for c in classes], grid_folds=folds)
    return [by_key[p] for p in predicted], score.astype(np.float32), fit


def predict(features, labels, *, columns: list[str] | None = None, seed: int = 0,
            source: str = "labels", workers: int = 1):
    """The tool: (FEATURES with ``<col>_predicted``, ``<col>_score`` and ``<col>_labelled``
    per label column, summary) -- rows matched to LABELS by id; an empty or NaN cell is no
    label. Columns found automatically that cannot be learnt (no labelled row, one class)
    are left out and listed in the summary's ``skipped``; given ones are errors."""
    import pyarrow as pa

    from seraltools.standardize import zscore
    from seraltools.table import ID, feature_matrix, set_column

    cols = label_columns(labels, columns, source)
    ids = features.column(ID).to_pylist()
    id_set = set(ids)
    lab_ids = labels.column(ID).cast(pa.string()).to_pylist()
    row_of = {i: r for r, i in enumerate(lab_ids)}
    unknown = sum(i not in id_set for i in lab_ids)
    x = zscore(feature_matrix(features))
    out, fits, skipped = features, {}, {}
    for col in cols:
        values = [_label(v) for v in labels.column(col).to_pylist()]
        y = [values[row_of[i]] if i in row_of else None for i in ids]
        typ = labels.schema.field(col).type
        try:
            if numeric(typ):
                predicted, fit = regress_column(x, y, seed)
            else:
                predicted, score, fit = predict_column(x, y, seed, workers=workers)
        except BadInput as e:
            if columns:
                raise BadInput(f"{source}: column {col}: {e}") from None
            skipped[col] = str(e)
            continue
        if numeric(typ):
            out = set_column(out, f"{col}_predicted", pa.array(predicted, pa.float32()))
        else:
            out = set_column(out, f"{col}_predicted", pa.array(predicted, typ))
            out = set_column(out, f"{col}_score", pa.array(score, pa.float32()))
        out = set_column(out, f"{col}_labelled", pa.array([v is not None for v in y], pa.bool_()))
        fits[col] = fit
    if not fits:
        raise BadInput(f"{source}: no column can be learnt: " + "; ".join(f"{c}: {r}" for c, r in skipped.items()))
    propagated = 0
    if "label_source" in labels.column_names:  # a table of seral cluster-labels: most labels are propagated
        propagated = sum(v == "propagated" for v in labels.column("label_source").to_pylist())
    return out, {"columns": list(fits), "fits": fits, "rows": len(ids), "skipped": skipped,
                 "labels_not_in_features": unknown, "propagated": propagated}
