"""seral predict: label the rest of the corpus from the labelled utterances."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from seraltools.cli._app import app
from seraltools.cli._common import Aggregate, InputTable, Output, Quiet, Seed, Workers, cpu_workers, listed, tool


@tool(app, "predict")
def predict_cmd(
    labels: Annotated[Path, typer.Argument(help="Labels: CSV, TSV or Parquet with 'id' and label columns (annotations, or the table of seral cluster-labels); - for a Parquet table on stdin.", metavar="LABELS")],
    features: InputTable,
    output: Output,
    column: Annotated[Optional[list[str]], typer.Option("--column", "-c", help="Label column(s) to learn (default: emotion, valence, arousal where present); repeat the option or comma-separate.")] = None,
    seed: Seed = 0,
    aggregate: Aggregate = "auto",
    workers: Workers = 0,
    quiet: Quiet = False,
) -> None:
    """Train the paper's classifier on the labelled utterances and label every utterance.

    An RBF SVM on the z-scored features, C and gamma by a stratified grid search (MCC)
    on the labelled rows. OUTPUT is FEATURES with <column>_predicted, <column>_score
    (the SVM's decision value) and <column>_labelled; stderr gives the cross-validated
    MCC on the labelled rows, an estimate of how good the predictions for the rest are.

    Example: seral predict labelled.parquet logmel.parquet predictions.parquet
    """
    from seraltools.labels import read_labels
    from seraltools.tools.predict import predict
    from seraltools.progress import log
    from seraltools.table import history_entry, metadata, read_table, stamp, write_table
    from seraltools.tools.predict import CV_MIN_PER_CLASS, CV_MIN_ROWS

    if str(labels) == "-" and features == "-":
        from seraltools.errors import BadInput

        raise BadInput("LABELS and FEATURES cannot both be - (stdin); give one of them as a file")
    source = "<stdin>" if features == "-" else features
    notes: list[str] = []
    feats = read_table(features, need_features=True)
    table, summary = predict(feats, read_labels(labels, aggregate, notes),
                             columns=listed(column), seed=seed, source=str(labels),
                             workers=cpu_workers(workers))
    if not quiet:
        for note in notes:
            log(f"seral predict: note: {note}")
    fits = {c: {k: v for k, v in f.items() if k != "classes"}
            | ({"classes": [str(v) for v in f["classes"]]} if "classes" in f else {})
            for c, f in summary["fits"].items()}
    entry = history_entry("predict", {"columns": summary["columns"], "seed": seed, "fits": fits,
                                      "aggregate": aggregate}, [{"labels": str(labels), "features": source}])
    write_table(stamp(table, entry, parent=metadata(feats)), output)  # the features' name and history go on
    if not quiet:
        from seraltools.classifier import route_text

        what = ("cross-validated agreement with the cluster labels (MCC)" if summary["propagated"]
                else "cross-validated MCC")
        for col, f in summary["fits"].items():
            if f.get("kind") == "regression":
                cv = (f"cross-validated CCC {f['cv_ccc']:.3f} ({f['grid_folds']}-fold)" if f["cv_ccc"] is not None
                      else f"no cross-validated figure (too few labelled rows: {f['labelled']})")
                log(f"seral predict: {col}: {f['labelled']} labelled rows, numbers: SVR, C={f['C']:g} "
                    f"gamma={f['gamma']:.3g}, {cv}")
                continue
            cv = (f"{what} {f['cv_mcc']:.3f} ({f['grid_folds']}-fold, {route_text(f)})" if f["cv_mcc"] is not None
                  else f"no cross-validated figure (too few labelled rows: {f['labelled']}; "
                       f"{CV_MIN_ROWS} and {CV_MIN_PER_CLASS} per class needed)")
            log(f"seral predict: {col}: {f['labelled']} labelled rows, {len(f['classes'])} classes, "
                f"C={f['C']:g} gamma={f['gamma']:.3g}, {cv}")
        for col, reason in summary["skipped"].items():
            log(f"seral predict: warning: column {col} left out: {reason}")
        if summary["propagated"]:
            log(f"seral predict: note: {summary['propagated']} of the labelled rows carry labels cluster-labels "
                "propagated from the annotated medoids: the cross-validated figure on them says how well the SVM "
                "follows the clusters, not how right the labels are (predict on the answers themselves gives a "
                "figure on people's labels); classes nobody annotated cannot be predicted")
        if summary["labels_not_in_features"]:
            log(f"seral predict: warning: {summary['labels_not_in_features']} labelled ids are not in {source}")
        log(f"seral predict: {summary['rows']} rows, {', '.join(summary['columns'])} predicted -> {output}")
