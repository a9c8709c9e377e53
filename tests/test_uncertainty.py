"""Later-round selectors (seraltools/uncertainty.py) against their definitions, the
mal-select CLI for them, and the multi-round simulation (seraltools/rounds.py)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.svm import SVC

from seraltools.seeds import sub_seed
from seraltools.selectors import queue
from seraltools.table import set_features, write_table
from seraltools.uncertainty import CANDIDATES, LATER, MIN_PER_CLASS, later_queue

HYPER = {"C": 1.0, "gamma": 0.2}


def toy(n=90, classes=2, seed=0, dim=4):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.normal(size=(n, dim)) + 1.5 * np.eye(dim)[y % dim]
    return x, y


def partial(y, rows):
    """Labels known on ``rows`` only."""
    out = [None] * len(y)
    for r in rows:
        out[r] = int(y[r])
    return out


def brute_margin(x, y, labelled, hyper=HYPER):
    svm = SVC(kernel="rbf", C=hyper["C"], gamma=hyper["gamma"]).fit(x[labelled], y[labelled].astype(str))
    d = svm.decision_function(x)
    if d.ndim == 1:
        return np.abs(d)
    top = np.sort(d, axis=1)
    return top[:, -1] - top[:, -2]


@pytest.mark.parametrize("classes", [2, 3])
def test_margin_asks_the_rows_of_smallest_margin(classes):
    x, y = toy(classes=classes)
    labelled = np.arange(0, 90, 7)  # 13 rows, every class
    margin = brute_margin(x, y, labelled)
    free = np.setdiff1d(np.arange(len(x)), labelled)
    expected = free[np.argsort(margin[free], kind="stable")[:10]]
    batch = later_queue("margin", x, 10, {"emotion": partial(y, labelled)}, seed=1, hyper={"emotion": HYPER})
    assert not batch.fallback
    np.testing.assert_array_equal(batch.rows, expected)  # the 10 smallest margins, smallest first
    assert margin[batch.rows].max() <= np.sort(margin[free])[9] + 1e-12


@pytest.mark.filterwarnings("ignore:The `probability` parameter was deprecated")
def test_entropy_asks_the_rows_of_highest_entropy():
    x, y = toy(classes=3, seed=4)
    labelled = np.arange(0, 90, 5)
    svm = SVC(kernel="rbf", C=HYPER["C"], gamma=HYPER["gamma"], probability=True,
              random_state=sub_seed(2, 9)).fit(x[labelled], y[labelled].astype(str))
    p = svm.predict_proba(x)
    h = -(p * np.log(p)).sum(axis=1)
    free = np.setdiff1d(np.arange(len(x)), labelled)
    batch = later_queue("entropy", x, 8, {"emotion": partial(y, labelled)}, seed=2, hyper={"emotion": HYPER})
    np.testing.assert_array_equal(batch.rows, free[np.argsort(-h[free], kind="stable")[:8]])


def test_cluster_margin_takes_one_row_per_cluster_from_the_uncertain_pool():
    from sklearn.cluster import KMeans

    x, y = toy(n=300, seed=3)
    labelled = np.arange(0, 300, 7)
    margin = brute_margin(x, y, labelled)
    free = np.setdiff1d(np.arange(len(x)), labelled)
    pool = free[np.argsort(margin[free], kind="stable")[:CANDIDATES * 6]]
    batch = later_queue("cluster-margin", x, 6, {"v": partial(y, labelled)}, seed=5, hyper={"v": HYPER})
    assert set(batch.rows) <= set(pool)
    cluster = KMeans(6, n_init=1, random_state=sub_seed(5, 8)).fit_predict(x[pool])
    picked = cluster[[list(pool).index(r) for r in batch.rows]]
    assert len(set(picked.tolist())) == 6  # one row per cluster
    for r, c in zip(batch.rows, picked):  # each the smallest-margin row of its cluster
        assert margin[r] == pytest.approx(margin[pool[cluster == c]].min())
    assert np.all(np.diff(margin[batch.rows]) >= -1e-12)  # asked in margin order


@pytest.mark.parametrize("method", LATER)
def test_batches_never_repeat_a_labelled_or_queued_row_and_are_deterministic(method):
    x, y = toy(n=120, seed=1)
    labelled = np.arange(0, 120, 7)
    waiting = np.zeros(len(x), dtype=bool)
    waiting[np.arange(3, 120, 7)] = True  # queued earlier, no answer yet
    labels = {"valence": partial(y, labelled), "arousal": partial((np.arange(120) // 2) % 2, labelled)}
    a = later_queue(method, x, 30, labels, seed=7, excluded=waiting)
    assert len(a.rows) == 30 == len(set(a.rows.tolist()))
    assert not np.isin(a.rows, labelled).any() and not waiting[a.rows].any()
    np.testing.assert_array_equal(a.rows, later_queue(method, x, 30, labels, seed=7, excluded=waiting).rows)
    rest = later_queue(method, x, 1000, labels, seed=7, excluded=waiting)  # more than is left: everything left
    assert sorted(rest.rows.tolist()) == sorted(set(range(120)) - set(labelled.tolist()) - set(np.flatnonzero(waiting)))


@pytest.mark.parametrize("method", LATER)
def test_too_few_labels_fall_back_to_the_cold_start_queue(method):
    x, y = toy(n=80, seed=2)
    one_class = [r for r in range(0, 80, 4) if y[r] == 0]
    done = np.zeros(len(x), dtype=bool)
    done[one_class] = True
    batch = later_queue(method, x, 12, {"valence": partial(y, one_class)}, seed=3)
    assert batch.fallback and "valence" in batch.skipped
    np.testing.assert_array_equal(batch.rows, queue("mal", x, 12, seed=3, labelled=done))
    few = one_class + [1]  # the second class has one answer: fewer than MIN_PER_CLASS
    assert MIN_PER_CLASS == 2
    batch = later_queue(method, x, 12, {"valence": partial(y, few)}, seed=3, fallback=np.arange(80)[::-1])
    assert batch.fallback  # a given cold-start order is continued, answered rows left out
    np.testing.assert_array_equal(batch.rows, [r for r in range(79, -1, -1) if r not in few][:12])
    enough = few + [3]
    assert not later_queue(method, x, 12, {"valence": partial(y, enough)}, seed=3).fallback


def test_a_column_with_too_few_labels_is_left_out_and_the_other_decides():
    x, y = toy(seed=6)
    labelled = np.arange(0, 90, 7)
    alone = later_queue("margin", x, 10, {"valence": partial(y, labelled)}, seed=1, hyper={"valence": HYPER})
    both = later_queue("margin", x, 10, {"valence": partial(y, labelled), "arousal": partial(np.zeros(90), labelled)},
                       seed=1, hyper={"valence": HYPER, "arousal": HYPER})
    assert both.columns == ["valence"] and "arousal" in both.skipped and not both.fallback
    np.testing.assert_array_equal(both.rows, alone.rows)


def test_two_columns_rank_by_the_mean_of_their_margin_ranks():
    x, y = toy(n=100, seed=8)
    y2 = (x[:, 1] > 0).astype(int)
    labelled = np.arange(0, 100, 5)
    m1, m2 = brute_margin(x, y, labelled), brute_margin(x, y2, labelled)
    free = np.setdiff1d(np.arange(100), labelled)
    rank = lambda m: np.argsort(np.argsort(m[free])) / (len(free) - 1)  # noqa: E731 (no ties in floats)
    mean = (rank(m1) + rank(m2)) / 2
    batch = later_queue("margin", x, 10, {"a": partial(y, labelled), "b": partial(y2, labelled)}, seed=0,
                        hyper={"a": HYPER, "b": HYPER})
    assert set(batch.rows) == set(free[np.argsort(mean)[:10]])


# ----------------------------------------------------------------------------- mal-select


def _tables(tmp_path):
    x, y = toy(n=60, seed=9)
    t = set_features(pa.table({"id": [f"u{i}" for i in range(60)]}), x.astype(np.float32))
    write_table(t, tmp_path / "f.parquet")
    (tmp_path / "l.csv").write_text("id,valence\n" + "".join(f"u{i},{y[i]}\n" for i in range(0, 60, 5)))
    (tmp_path / "one.csv").write_text("id,valence\n" + "".join(f"u{i},0\n" for i in range(0, 60, 10)))
    return y


def test_mal_select_margin_ranks_after_the_queue_and_skips_waiting_rows(cli, tmp_path):
    _tables(tmp_path)
    f, q1, q2 = tmp_path / "f.parquet", tmp_path / "q1.parquet", tmp_path / "q2.parquet"
    res = cli("mal-select", "--method", "margin", "--labelled", tmp_path / "l.csv", "--budget", 6, f, q1)
    assert res.exit_code == 0, res.output
    t = pq.read_table(q1)
    ids, rank = t.column("id").to_pylist(), t.column("rank").to_pylist()
    first = [i for _, i in sorted((r, i) for i, r in zip(ids, rank) if r)]
    assert len(first) == 6 and not {f"u{i}" for i in range(0, 60, 5)} & set(first)
    res = cli("mal-select", "--method", "cluster-margin", "--labelled", tmp_path / "l.csv", "--budget", 6, q1, q2)
    assert res.exit_code == 0, res.output
    t2 = pq.read_table(q2)
    rank2 = dict(zip(t2.column("id").to_pylist(), t2.column("rank").to_pylist()))
    assert [rank2[i] for i in first] == [1, 2, 3, 4, 5, 6]  # the waiting rows keep their ranks
    new = sorted((r, i) for i, r in rank2.items() if r and r > 6)
    assert [r for r, _ in new] == [7, 8, 9, 10, 11, 12] and not set(first) & {i for _, i in new}


def test_mal_select_margin_falls_back_to_mal_and_says_so(cli, tmp_path):
    _tables(tmp_path)
    f = tmp_path / "f.parquet"
    res = cli("mal-select", "--method", "entropy", "--labelled", tmp_path / "one.csv", "--budget", 5, "--only-queries",
              f, tmp_path / "q.parquet")
    assert res.exit_code == 0
    assert "too few labels" in res.stderr and "MAL" in res.stderr
    cold = cli("mal-select", "--method", "mal", "--labelled", tmp_path / "one.csv", "--budget", 5, "--only-queries", f,
               tmp_path / "m.parquet")
    assert cold.exit_code == 0
    assert (pq.read_table(tmp_path / "q.parquet").column("id").to_pylist()
            == pq.read_table(tmp_path / "m.parquet").column("id").to_pylist())


def test_mal_select_margin_needs_labels(cli, tmp_path):
    _tables(tmp_path)
    res = cli("mal-select", "--method", "margin", tmp_path / "f.parquet", tmp_path / "q.parquet")
    assert res.exit_code == 2 and "--labelled" in res.stderr
    res = cli("mal-select", "--column", "valence", "--labelled", tmp_path / "l.csv", tmp_path / "f.parquet",
              tmp_path / "q.parquet")
    assert res.exit_code == 2 and "--column" in res.stderr


# ----------------------------------------------------------------------------- rounds


def test_rounds_share_random_and_cold_start_with_the_one_round_simulation():
    from seraltools.rounds import simulate_rounds, summarize_rounds
    from seraltools.simulate import SimulationConfig, simulate
    from tests.test_simulate import _data

    x, labels = _data()
    cfg = SimulationConfig(methods=("mal",), budgets=(0.05, 0.1, 0.3), folds=3, repeats=1, c_grid=(1.0, 10.0), gamma_grid=(1.0,),
                           grid_folds=3)
    one = simulate({"a": x}, x, labels, cfg).rows
    multi = simulate_rounds({"a": x}, x, labels, cfg, ("margin", "cluster-margin")).rows
    key = lambda r: (r["selector"], r["task"], r["budget"], r["repeat"], r["fold"])  # noqa: E731
    same = {key(r): r["mcc"] for r in one}
    shared = [r for r in multi if r["selector"] in ("random", "mal")]
    assert len(shared) == len(one) and all(same[key(r)] == r["mcc"] for r in shared)
    for r in multi:
        assert r["n_labelled"] == r["budget_n"]  # cumulative: every round adds up to the next budget
        if r["budget"] == 0.05 and r["selector"] != "random":  # round 1 is the MAL queue for every strategy
            assert r["mcc"] == same[("mal", r["task"], 0.05, r["repeat"], r["fold"])]
    assert multi == simulate_rounds({"a": x}, x, labels, cfg, ("margin", "cluster-margin")).rows
    s = summarize_rounds(multi)
    assert {row["selector"] for row in s} == {"mal", "margin", "cluster-margin"}
    assert all("p_cold" in row for row in s if row["selector"] != "mal") and all(row["df"] == 2 for row in s)


def test_evaluate_al_rounds_cli(cli, tmp_path):
    from tests.test_simulate import _data

    x, labels = _data()
    t = set_features(pa.table({"id": [f"u{i}" for i in range(len(x))], **labels}), x.astype(np.float32))
    write_table(t, tmp_path / "f.parquet")
    f = tmp_path / "f.parquet"
    res = cli("evaluate", "al", "--rounds", "-m", "mal", "--later", "margin", "--select", f, "--classify", f, "--budgets",
              "5%,20%", "--folds", 3, "--repeats", 1, "--c-grid", "1", "--gamma-grid", "1", "-j", 1, "--plot",
              tmp_path / "r.png", tmp_path / "r.parquet")
    assert res.exit_code == 0, res.output
    out = pq.read_table(tmp_path / "r.parquet")
    assert set(out.column("selector").to_pylist()) == {"random", "mal", "margin"}
    assert "fallback" in out.column_names and (tmp_path / "r.png").stat().st_size > 0
    assert "MAL > margin" in res.stderr
    bad = cli("evaluate", "al", "--rounds", "-m", "mal,kcenter", "--select", f, "--classify", f, tmp_path / "x.parquet")
    assert bad.exit_code == 2 and "round 1" in bad.stderr


def test_rounds_can_start_from_the_random_baseline():
    from seraltools.rounds import simulate_rounds, summarize_rounds
    from seraltools.simulate import SimulationConfig
    from tests.test_simulate import _data

    x, labels = _data()
    cfg = SimulationConfig(budgets=(0.05, 0.2), folds=3, repeats=1, c_grid=(1.0,), gamma_grid=(1.0,), grid_folds=3,
                           methods=("random",))
    rows = simulate_rounds({"a": x}, x, labels, cfg, ("margin",)).rows
    assert {r["selector"] for r in rows} == {"random", "margin"}
    rnd = {(r["task"], r["budget"], r["fold"]): r["mcc"] for r in rows if r["selector"] == "random"}
    for r in rows:
        if r["selector"] == "margin" and r["budget"] == 0.05:  # round 1: the random baseline's own queries
            assert r["mcc"] == rnd[(r["task"], 0.05, r["fold"])]
    s = summarize_rounds(rows, "random")
    assert [row["selector"] for row in s] == ["margin", "margin"] and s[0]["diff"] == 0.0
