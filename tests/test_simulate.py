"""The active-learning simulation (evaluate al): grid shape, fairness, edge cases, CLI."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from seraltools.simulate import SimulationConfig, simulate, summarize
from seraltools.standardize import zscore
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
    assert all(row["df"] == 3 * 2 - 1 for row in s)  # pairs: the (seed, repeat, fold) cells
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
    args = ["evaluate", "al", "--select", sel, "--select", cls, "--classify", cls, "--budgets", "5%,50%,100%",
            "--folds", 3, "--repeats", 1, "--c-grid", "1,10", "--gamma-grid", "1", "-j", 1]
    out = cli(*args, "--plot", tmp_path / "fig.png", tmp_path / "al.parquet")
    assert out.exit_code == 0, out.stderr
    assert "paired t-test" in out.stderr and "sel" in out.stderr and out.stdout == ""
    res = read_table(tmp_path / "al.parquet")
    assert res.num_rows == 3 * 3 * 2 * 3  # (2 sets + random) x budgets x tasks x folds
    assert set(res.column("selector").to_pylist()) == {"mal", "random"}
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = cli(*args, tmp_path / "al2.parquet")
    assert again.exit_code == 0
    assert read_table(tmp_path / "al2.parquet").column("mcc").to_pylist() == res.column("mcc").to_pylist()


def test_evaluate_al_cli_seeds_and_label_modes(cli, tmp_path):
    x, labels = _data()
    cls = _table(tmp_path, x, labels)
    args = ["evaluate", "al", "--select", cls, "--classify", cls, "--budgets", "5%,100%", "--folds", 3, "--repeats", 1,
            "--c-grid", "1", "--gamma-grid", "1", "-j", 1]
    out = cli(*args, "--seed", "0,1", "--labels", "both", tmp_path / "al.parquet")
    assert out.exit_code == 0, out.stderr
    res = read_table(tmp_path / "al.parquet")
    assert res.num_rows == 3 * 2 * 2 * 3 * 2  # (random, MAL medoid, MAL cluster) x budgets x tasks x folds x seeds
    assert set(res.column("seed").to_pylist()) == {0, 1}
    assert set(res.column("labels").to_pylist()) == {None, "medoid", "cluster"}
    assert "over 6 cells" in out.stderr and "cluster" in out.stderr
    one = cli(*args, "--seed", "1", tmp_path / "one.parquet")
    assert one.exit_code == 0
    mine = [r for r in res.to_pylist() if r["seed"] == 1 and r["labels"] != "cluster"]
    assert [r["mcc"] for r in mine] == read_table(tmp_path / "one.parquet").column("mcc").to_pylist()


def test_evaluate_al_errors(cli, tmp_path):
    x, labels = _data()
    cls = _table(tmp_path, x, labels)
    for option, value, message in [("--seed", "0,x", "--seed '0,x'"), ("--seed", "1,1", "distinct"),
                                   ("--budgets", "10%,150%", "at most 100%"), ("--labels", "both,medoid", "")]:
        out = cli("evaluate", "al", "--select", cls, "--classify", cls, option, value, tmp_path / "o.parquet")
        assert out.exit_code == 2 and message in out.stderr and len(out.stderr.strip().splitlines()) <= 6
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


def test_cluster_labels_train_on_the_queried_clusters_with_their_medoids_labels():
    from seraltools.mal import mal, mal_queue
    from seraltools.simulate import _training_sets

    x, labels = _data()
    train = np.arange(0, len(x), 2)  # a "training fold": every other row
    cfg = SimulationConfig(labels="both")
    sets = _training_sets(train, {"a": x}, {0.1: 5, 0.5: 35}, ("medoid", "cluster"), cfg, [0, 0, 0])
    k = round(len(train) / 3)
    mal_seed = int(np.random.default_rng([0, 0, 0, 1]).integers(2**31))
    c = mal(x[train], k, metric="euclidean", seed=mal_seed)
    rows, source = sets[("mal", "a", "medoid")][0.1]
    assert rows.tolist() == train[c.queue(5)].tolist() == source.tolist()
    rows, source = sets[("mal", "a", "cluster")][0.1]
    asked = set(train[c.queue(5)].tolist())
    assert set(source.tolist()) == asked  # every label comes from a queried medoid ...
    assert len(rows) == sum(c.sizes[:5])  # ... and every member of their clusters gets one
    for r, s in zip(rows, source):
        assert c.cluster[np.searchsorted(train, r)] == c.cluster[np.searchsorted(train, s)]
    rows, source = sets[("mal", "a", "cluster")][0.5]  # budget 35 above k = 23: 12 more queries beyond the medoids
    order, _ = mal_queue(x[train], 35, k, metric="euclidean", seed=mal_seed)
    assert sorted(rows.tolist()) == train.tolist()  # every cluster was queried: every row labelled
    queried = set(train[order].tolist())
    for r, s in zip(rows, source):  # a queried row keeps its own label, the others their medoid's
        assert s == (r if r in queried else train[c.medoids[c.cluster[np.searchsorted(train, r)]]])
    assert set(source.tolist()) == queried


def test_label_modes_in_the_grid():
    x, labels = _data()
    sim = simulate({"a": x}, x, labels, SimulationConfig(**{**SMALL.to_dict(), "labels": "both"}))
    modes = {(r["selector"], r["labels"]) for r in sim.rows}
    assert modes == {("random", None), ("mal", "medoid"), ("mal", "cluster")}
    cluster = [r for r in sim.rows if r["labels"] == "cluster" and r["budget"] < 0.5]
    assert all(r["n_labelled"] >= r["budget_n"] for r in cluster)
    assert any(r["n_labelled"] > r["budget_n"] for r in cluster)
    assert {(s["labels"], s["budget"]) for s in summarize(sim.rows)} == {
        (m, b) for m in ("medoid", "cluster") for b in SMALL.budgets}


def test_full_budget_gives_every_selector_the_identical_svm(monkeypatch):
    """At 100 % MAL (either label mode) and random query the same set, so each SVM must
    get the identical training matrix (libsvm's result depends on row order), and the
    summary must show no difference."""
    import sklearn.svm

    import seraltools.classifier

    fits = []

    class Recording(sklearn.svm.SVC):
        def fit(self, x, y):
            fits.append((x.tobytes(), tuple(y)))
            return super().fit(x, y)

    monkeypatch.setattr(sklearn.svm, "SVC", Recording)
    monkeypatch.setattr(seraltools.classifier, "tune_many",
                        lambda x, labels, *a, **k: {t: {"C": 1.0, "gamma": 0.1, "cv_mcc": 0.0} for t in labels})
    x, labels = _data()
    cfg = SimulationConfig(**{**SMALL.to_dict(), "budgets": (1.0,), "labels": "both"})
    sim = simulate({"a": x}, x, labels, cfg)
    # (random, MAL medoid, MAL cluster) train on the same set in the same order at 100 %: the
    # cell fits it once per task and the three share the predictions
    assert len(fits) == 2 * 3 * 2  # tasks x folds x repeats
    assert all(row["diff"] == 0 and row["p"] == 1.0 for row in summarize(sim.rows))


def test_several_seeds_are_the_single_seed_runs_pooled():
    x, labels = _data()
    both = simulate({"a": x}, x, labels, SimulationConfig(**{**SMALL.to_dict(), "seeds": (0, 1)}))
    one = [simulate({"a": x}, x, labels, SimulationConfig(**{**SMALL.to_dict(), "seeds": (s,)})) for s in (0, 1)]
    assert both.rows == one[0].rows + one[1].rows
    assert {r["seed"] for r in both.rows} == {0, 1}
    assert all(row["df"] == 2 * 3 * 2 - 1 for row in summarize(both.rows))  # seeds x repeats x folds cells


def test_selection_features_are_standardised_by_default():
    x, labels = _data()
    scaled = x * np.linspace(0.01, 100, x.shape[1], dtype=np.float32)  # one dimension dwarfs the others
    cfg = SimulationConfig(**{**SMALL.to_dict(), "repeats": 1})
    on = simulate({"a": scaled}, x, labels, cfg)
    plain = SimulationConfig(**{**cfg.to_dict(), "standardize": False, "metric": "euclidean"})
    off = simulate({"a": zscore(scaled)}, x, labels, plain)
    raw = simulate({"a": scaled}, x, labels, plain)
    assert [r["mcc"] for r in on.rows] == [r["mcc"] for r in off.rows]
    assert [r["mcc"] for r in on.rows] != [r["mcc"] for r in raw.rows]
