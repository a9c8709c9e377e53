"""The active-learning simulation (evaluate al): grid shape, fairness, edge cases, CLI."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from seraltools.simulate import SimulationConfig, simulate, summarize, zscore
from seraltools.table import read_table, set_features, write_table
from tests.test_mal import blobs

SMALL = SimulationConfig(budgets=(0.01, 0.1, 0.5, 1.0), folds=3, repeats=2, c_grid=(1.0, 10.0), gamma_grid=(1.0,),
                         grid_folds=3)


def _data(seed=0):
    x, y = blobs(n_classes=6, sizes=[40, 30, 25, 20, 15, 10], dim=10, spread=1.0, seed=seed)
    return x, {"valence": (y % 2).astype(str), "arousal": (y < 3).astype(int).astype(str)}


def test_zscore():
    z = zscore(np.array([[1.0, 5.0], [3.0, 5.0]]))
    np.testing.assert_allclose(z, [[-1, 0], [1, 0]])


def test_grid_has_every_cell_and_selectors_share_splits():
    x, labels = _data()
    sim = simulate({"a": x, "b": x[:, :3]}, x, labels, SMALL)
    assert len(sim.rows) == 3 * 4 * 2 * 3 * 2  # (2 sets + random) x budgets x tasks x folds x repeats
    by_cell = {}
    for r in sim.rows:
        by_cell.setdefault((r["repeat"], r["fold"]), set()).add((r["n_train"], r["n_test"]))
    assert all(len(v) == 1 for v in by_cell.values())
    full = [r for r in sim.rows if r["budget"] == 1.0]
    for task in labels:  # at 100 % every selector trains on the same data
        assert len({round(r["mcc"], 9) for r in full if r["task"] == task and r["repeat"] == 0 and r["fold"] == 0}) == 1


def test_single_class_selection_is_counted_not_a_crash():
    x, labels = _data()
    sim = simulate({"a": x}, x, labels, SMALL)
    tiny = [r for r in sim.rows if r["budget"] == 0.01]
    assert all(r["budget_n"] == 1 for r in tiny)
    assert all(r["single_class"] and r["mcc"] == 0.0 for r in tiny)


def test_same_seed_same_results():
    x, labels = _data()
    a = simulate({"a": x}, x, labels, SMALL)
    b = simulate({"a": x}, x, labels, SMALL, workers=2)
    assert [r["mcc"] for r in a.rows] == [r["mcc"] for r in b.rows]


def test_summary_pairs_mal_with_random():
    x, labels = _data()
    s = summarize(simulate({"a": x}, x, labels, SMALL).rows)
    assert [row["budget"] for row in s] == [0.01, 0.1, 0.5, 1.0]
    assert all(row["df"] == 2 * 3 * 2 - 1 for row in s)
    last = s[-1]
    assert last["diff"] == 0 and last["p"] == 1.0


def _table(tmp_path, x, labels, name="f.parquet", ids=None):
    t = pa.table({"id": ids or [f"u{i}" for i in range(len(x))],
                  "valence": pa.array([int(v) for v in labels["valence"]], pa.int8()),
                  "arousal": pa.array([int(v) for v in labels["arousal"]], pa.int8())})
    write_table(set_features(t, x), tmp_path / name)
    return tmp_path / name


def test_evaluate_al_cli(cli, tmp_path):
    x, labels = _data()
    cls = _table(tmp_path, x, labels)
    sel = _table(tmp_path, x[::-1, :4].copy(), {k: v[::-1] for k, v in labels.items()}, "sel.parquet",
                 ids=[f"u{i}" for i in range(len(x))][::-1])  # other row order: aligned by id
    args = ["evaluate", "al", "--select", sel, "--select", cls, "--classify", cls, "--budgets", "5,50,100",
            "--folds", 3, "--repeats", 1, "--c-grid", "1,10", "--gamma-grid", "1", "-j", 1]
    out = cli(*args, "--plot", tmp_path / "fig.png", tmp_path / "al.parquet")
    assert out.exit_code == 0, out.stderr
    assert "paired t-test" in out.stdout and "sel" in out.stdout
    res = read_table(tmp_path / "al.parquet")
    assert res.num_rows == 3 * 3 * 2 * 3  # (2 sets + random) x budgets x tasks x folds
    assert set(res.column("selector").to_pylist()) == {"mal", "random"}
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = cli(*args, tmp_path / "al2.parquet")
    assert again.exit_code == 0
    assert read_table(tmp_path / "al2.parquet").column("mcc").to_pylist() == res.column("mcc").to_pylist()


def test_evaluate_al_errors(cli, tmp_path):
    x, labels = _data()
    cls = _table(tmp_path, x, labels)
    other = _table(tmp_path, x[:50], {k: v[:50] for k, v in labels.items()}, "other.parquet")
    out = cli("evaluate", "al", "--select", other, "--classify", cls, tmp_path / "o.parquet")
    assert out.exit_code == 2 and "lacks id" in out.stderr
    out = cli("evaluate", "al", "--select", cls, "--classify", cls, "--task", "emotion", tmp_path / "o.parquet")
    assert out.exit_code == 2 and "no label column 'emotion'" in out.stderr


def test_evaluate_al_on_emodb_subset(cli, emodb, tmp_path):
    """Integration on real audio: 3 EMO-DB speakers, a reduced grid."""
    files = sorted(p for p in emodb.glob("*.wav") if p.name[:2] in ("03", "08", "09"))
    feats = tmp_path / "logmel.parquet"
    assert cli("extract", "--corpus", "emodb", *files, feats, "-q").exit_code == 0
    out = cli("evaluate", "al", "--select", feats, "--classify", feats, "--budgets", "10,100", "--repeats", 1,
              "--c-grid", "1,10", "--gamma-grid", "1", tmp_path / "al.parquet", "-q")
    assert out.exit_code == 0, out.stderr
    res = read_table(tmp_path / "al.parquet")
    full = [m for m, b in zip(res.column("mcc").to_pylist(), res.column("budget").to_pylist()) if b == 1.0]
    assert np.mean(full) > 0.3  # log-mel functionals do separate valence/arousal on real speech
