"""seral predict: the paper's classifier trained on the labelled rows labels every row."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seraltools.errors import BadInput
from seraltools.tools.predict import predict
from seraltools.table import set_features, write_table


def features_and_labels(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    emo = np.array(["anger", "sadness", "neutral"])[rng.integers(0, 3, n)]
    x = rng.standard_normal((n, 8)) + 4.0 * y[:, None] * np.eye(8)[0] + 4.0 * (emo == "anger")[:, None] * np.eye(8)[1]
    t = set_features(pa.table({"id": [f"u{i}" for i in range(n)]}), x.astype(np.float32))
    return t, y, emo


def test_predict_learns_the_labelled_rows_and_labels_the_rest(tmp_path):
    t, y, emo = features_and_labels()
    labelled = np.arange(0, 120, 4)  # 30 rows labelled
    labels = pa.table({"id": [f"u{i}" for i in labelled], "valence": pa.array(y[labelled], pa.int8()),
                       "annotator": ["ann"] * len(labelled)})
    out, summary = predict(t, labels)
    assert summary["columns"] == ["valence"]  # the annotator column is not a label
    pred = np.array(out.column("valence_predicted").to_pylist())
    rest = np.setdiff1d(np.arange(120), labelled)
    assert (pred[rest] == y[rest]).mean() > 0.8
    assert out.schema.field("valence_predicted").type == pa.int8()
    assert out.column("valence_labelled").to_pylist() == [i % 4 == 0 for i in range(120)]
    fit = summary["fits"]["valence"]
    assert fit["labelled"] == 30 and fit["cv_mcc"] is not None and fit["classes"] == [0, 1]
    again, _ = predict(t, labels)
    assert again.equals(out)


def test_predict_cli_several_columns_and_strings(cli, tmp_path):
    t, y, emo = features_and_labels(seed=1)
    write_table(t, tmp_path / "f.parquet")
    rows = range(0, 120, 3)
    (tmp_path / "labels.csv").write_text("id,emotion,arousal\n" + "".join(
        f"u{i},{emo[i]},{'high' if y[i] else 'low'}\n" for i in rows))
    res = cli("predict", tmp_path / "labels.csv", tmp_path / "f.parquet", tmp_path / "p.parquet")
    assert res.exit_code == 0, res.stderr
    assert "emotion: 40 labelled rows, 3 classes" in res.stderr and "cross-validated MCC" in res.stderr
    p = pq.read_table(tmp_path / "p.parquet")
    assert set(p.column("emotion_predicted").to_pylist()) <= {"anger", "sadness", "neutral"}
    assert set(p.column("arousal_predicted").to_pylist()) <= {0, 1}
    assert p.column("emotion_score").type == pa.float32()


def test_predict_refuses_what_it_cannot_learn(tmp_path):
    t, y, _ = features_and_labels()
    with pytest.raises(BadInput, match="same label"):
        predict(t, pa.table({"id": ["u0", "u1"], "valence": pa.array([1, 1], pa.int8())}))
    with pytest.raises(BadInput, match="no labelled row"):
        predict(t, pa.table({"id": ["x0", "x1"], "valence": pa.array([0, 1], pa.int8())}))
    with pytest.raises(BadInput, match="no column nope"):
        predict(t, pa.table({"id": ["u0"], "valence": pa.array([0], pa.int8())}), columns=["nope"])
    one_each, _ = predict(t, pa.table({"id": ["u0", "u1"], "valence": pa.array([0, 1], pa.int8())}))
    assert one_each.num_rows == 120  # one row per class: no grid search, C = 1


def test_columns_found_automatically_that_cannot_be_learnt_are_left_out(cli, tmp_path):
    """An annotation template with only some columns filled; pandas' index; NaN cells."""
    t, y, emo = features_and_labels(seed=2)
    write_table(t, tmp_path / "f.parquet")
    rows = list(range(0, 120, 3))
    (tmp_path / "labels.csv").write_text("id,emotion,valence,arousal\n" + "".join(f"u{i},{emo[i]},,\n" for i in rows))
    res = cli("predict", tmp_path / "labels.csv", tmp_path / "f.parquet", tmp_path / "p.parquet")
    assert res.exit_code == 0, res.stderr
    assert "column valence left out" in res.stderr and "column arousal left out" in res.stderr
    p = pq.read_table(tmp_path / "p.parquet")
    assert "emotion_predicted" in p.column_names and "valence_predicted" not in p.column_names
    assert sum(p.column("emotion_labelled").to_pylist()) == len(rows)
    res = cli("predict", "--column", "valence", tmp_path / "labels.csv", tmp_path / "f.parquet", tmp_path / "q.parquet")
    assert res.exit_code == 2 and "column valence: no labelled row" in res.stderr
    pq.write_table(pa.table({"id": [f"u{i}" for i in rows], "mood": [float(y[i]) if i % 2 else float("nan") for i in rows],
                             "__index_level_0__": rows}), tmp_path / "pandas.parquet")
    out, summary = predict(t, pq.read_table(tmp_path / "pandas.parquet"))
    assert summary["columns"] == ["mood"] and summary["fits"]["mood"]["labelled"] == len(rows) // 2


def test_labels_piped_from_cluster_labels(tmp_path):
    """seral cluster-labels QUEUE LABELS - | seral predict - FEATURES OUT."""
    from tests.conftest import seral

    t, y, _ = features_and_labels(seed=3)
    write_table(t, tmp_path / "f.parquet")
    seral("mal-select", "-q", "--budget", 20, tmp_path / "f.parquet", tmp_path / "q.parquet", check=True)
    q = pq.read_table(tmp_path / "q.parquet")
    asked = [i for i, r in zip(q.column("id").to_pylist(), q.column("rank").to_pylist()) if r is not None]
    (tmp_path / "ann.csv").write_text("id,valence\n" + "".join(f"{i},{y[int(i[1:])]}\n" for i in asked))
    cl = seral("cluster-labels", "-q", tmp_path / "q.parquet", tmp_path / "ann.csv", "-", check=True)
    seral("predict", "-q", "-", tmp_path / "f.parquet", tmp_path / "p.parquet", input=cl.stdout, check=True)
    p = pq.read_table(tmp_path / "p.parquet")
    assert sum(p.column("valence_labelled").to_pylist()) > len(asked)  # the propagated cluster labels too


def test_numeric_labels_are_regressed_and_reported_by_ccc(cli, tmp_path):
    """A --scale rating (seral annotate's `valence[1:5]` header) or any float column is
    predicted by an SVR; stderr gives the cross-validated CCC."""
    from seraltools.agreement import ccc

    rng = np.random.default_rng(3)
    n = 120
    x = rng.standard_normal((n, 8))
    v = np.clip(np.round(3 + 1.2 * x[:, 0]), 1, 5)
    write_table(set_features(pa.table({"id": [f"u{i}" for i in range(n)]}), x.astype(np.float32)), tmp_path / "f.parquet")
    rows = range(0, n, 2)
    (tmp_path / "l.csv").write_text("id,valence[1:5],status,note,annotator,time\n" + "".join(
        f"u{i},{int(v[i])},answer,,a,2026-01-01T00:00:{i % 60:02d}.000Z\n" for i in rows))
    res = cli("predict", tmp_path / "l.csv", tmp_path / "f.parquet", tmp_path / "p.parquet")
    assert res.exit_code == 0, res.stderr
    assert "valence: 60 labelled rows, numbers: SVR" in res.stderr and "cross-validated CCC" in res.stderr
    p = pq.read_table(tmp_path / "p.parquet")
    assert p.schema.field("valence_predicted").type == pa.float32() and "valence_score" not in p.column_names
    rest = np.setdiff1d(np.arange(n), np.array(list(rows)))
    assert ccc(v[rest], np.array(p.column("valence_predicted").to_pylist())[rest]) > 0.6


def test_too_few_answers_give_no_cross_validated_figure_and_history_is_kept(cli, tmp_path):
    from seraltools.table import metadata, read_table, stamp

    t, y, emo = features_and_labels(seed=2)
    t = stamp(t, {"tool": "extract"}, feature="logmel")
    write_table(t, tmp_path / "f.parquet")
    four = [i for i in range(120) if y[i] == 0][:2] + [i for i in range(120) if y[i] == 1][:2]
    (tmp_path / "l.csv").write_text("id,valence\n" + "".join(f"u{i},{y[i]}\n" for i in four))
    res = cli("predict", tmp_path / "l.csv", tmp_path / "f.parquet", tmp_path / "p.parquet")
    assert res.exit_code == 0, res.stderr
    assert "no cross-validated figure (too few labelled rows: 4" in res.stderr and "MCC 1.000" not in res.stderr
    meta = metadata(read_table(tmp_path / "p.parquet"))
    assert meta["feature"] == "logmel" and [h["tool"] for h in meta["history"]] == ["extract", "predict"]


def test_one_answer_per_class_does_not_collapse_to_one_class():
    """With a single labelled row in a class there is no grid to search; the fallback
    (C=10, gamma=0.3/D) follows the few answers instead of putting nearly every row in
    the class with two (C=1 did: 297 of 300 rows)."""
    from seraltools.table import set_features

    rng = np.random.default_rng(0)
    n, d = 300, 60
    y = rng.integers(0, 4, n)
    x = (rng.standard_normal((4, d)) * 0.6)[y] + rng.standard_normal((n, d))
    t = set_features(pa.table({"id": [f"u{i}" for i in range(n)]}), x.astype(np.float32))
    one = [int(np.flatnonzero(y == c)[0]) for c in range(4)] + [int(np.flatnonzero(y == 0)[1])]
    out, summary = predict(t, pa.table({"id": [f"u{i}" for i in one], "emotion": [f"c{y[i]}" for i in one]}))
    pred = np.array(out.column("emotion_predicted").to_pylist())
    assert summary["fits"]["emotion"]["cv_mcc"] is None
    assert (pred == np.array([f"c{v}" for v in y])).mean() > 0.4 and np.unique(pred, return_counts=True)[1].max() < 250
