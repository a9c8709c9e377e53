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

#: Columns of a labels table that are never labels (queue and table bookkeeping).
NOT_LABELS = frozenset({"id", "path", "features", "duration", "cluster", "cluster_size", "is_medoid", "rank",
                        "label_source", "speaker", "corpus", "recording", "start", "end", "audio_row",
                        "annotator", "time", "lead_time"})
WELL_KNOWN_LABELS = ("emotion", "valence", "arousal")


def label_columns(labels, columns: list[str] | None, source: str) -> list[str]:
    """The columns to learn: ``columns`` when given, else the well-known label columns the
    labels table has (emotion, valence, arousal), else its other non-bookkeeping columns."""
    names = labels.column_names
    if columns:
        missing = [c for c in columns if c not in names]
        if missing:
            raise BadInput(f"{source}: no column {', '.join(missing)}; it has {', '.join(names)}")
        return list(columns)
    found = [c for c in WELL_KNOWN_LABELS if c in names] or [c for c in names if c not in NOT_LABELS]
    if not found:
        raise BadInput(f"{source}: no label column; name one with --column")
    return found


def predict_column(x: np.ndarray, y: list, seed: int = 0, grid_folds: int = 5) -> tuple[list, np.ndarray, dict]:
    """(predicted label per row, decision score per row, fit) for one label column: ``y``
    holds a label or None per row of ``x`` (already z-scored); the SVM learns the rows
    with labels. ``fit``: C, gamma, the labelled count, classes and the CV MCC (None when
    a class has fewer than 2 rows, and C = 1, gamma = 1/D are used)."""
    from sklearn.svm import SVC

    from seraltools.simulate import SimulationConfig, tune_svm

    known = np.array([v is not None for v in y])
    if not known.any():
        raise BadInput("no labelled row among the features (do the ids match?)")
    keys = np.array([str(v) for v, k in zip(y, known) if k])
    classes, counts = np.unique(keys, return_counts=True)
    if len(classes) < 2:
        raise BadInput(f"every labelled row has the same label ({classes[0]!r}); label at least two classes")
    folds = min(grid_folds, int(counts.min()))
    if folds >= 2:
        fit = tune_svm(x[known], keys, SimulationConfig(grid_folds=folds), seed)
    else:
        fit = {"C": 1.0, "gamma": 1.0 / x.shape[1], "cv_mcc": None}
    svm = SVC(kernel="rbf", C=fit["C"], gamma=fit["gamma"]).fit(x[known], keys)
    predicted = svm.predict(x)
    score = svm.decision_function(x)
    score = score if score.ndim == 1 else score.max(axis=1)
    by_key = {str(v): v for v, k in zip(y, known) if k}  # back to the labels' own values (0/1 stay ints)
    fit.update(labelled=int(known.sum()), classes=[by_key[c] for c in classes], grid_folds=folds)
    return [by_key[p] for p in predicted], score.astype(np.float32), fit


def predict_table(features, labels, *, columns: list[str] | None = None, seed: int = 0,
                  source: str = "labels"):
    """The tool: (FEATURES with ``<col>_predicted``, ``<col>_score`` per label column and
    ``labelled``, summary) -- rows matched to LABELS by id; a null label is no label."""
    import pyarrow as pa

    from seraltools.standardize import zscore
    from seraltools.table import ID, feature_matrix, set_column

    cols = label_columns(labels, columns, source)
    ids = features.column(ID).to_pylist()
    lab_ids = labels.column(ID).cast(pa.string()).to_pylist()
    row_of = {i: r for r, i in enumerate(lab_ids)}
    unknown = [i for i in lab_ids if i not in set(ids)]
    x = zscore(feature_matrix(features))
    out, fits, any_label = features, {}, np.zeros(len(ids), bool)
    for col in cols:
        values = labels.column(col).to_pylist()
        y = [values[row_of[i]] if i in row_of else None for i in ids]
        any_label |= np.array([v is not None for v in y])
        predicted, score, fit = predict_column(x, y, seed)
        typ = labels.schema.field(col).type
        out = set_column(out, f"{col}_predicted", pa.array(predicted, typ))
        out = set_column(out, f"{col}_score", pa.array(score, pa.float32()))
        fits[col] = fit
    out = set_column(out, "labelled", pa.array(any_label, pa.bool_()))
    return out, {"columns": cols, "fits": fits, "rows": len(ids), "labelled": int(any_label.sum()),
                 "labels_not_in_features": len(unknown)}
