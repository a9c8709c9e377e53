"""The paper's classifier (seraltools.classifier): the grid search split into jobs picks what
GridSearchCV picks, the subsample route above max_rows, one search per distinct label
array; and the pool the jobs run in (compute.process_map)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from seraltools.classifier import GridSearch, plan_search, route_text, search_jobs, tune, tune_many


def _data(n=120, d=12, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(3, size=n)
    x = (rng.standard_normal((n, d)) + 0.8 * np.eye(3, d)[y] * 3).astype(np.float32)
    x = (x - x.mean(0)) / x.std(0)
    return x, y.astype(str)


def _reference(x, y, grid):
    from sklearn.metrics import make_scorer, matthews_corrcoef
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import SVC

    search = GridSearchCV(SVC(kernel="rbf"), {"C": list(grid.c_grid), "gamma": [g / x.shape[1] for g in grid.gamma_grid]},
                          scoring=make_scorer(matthews_corrcoef),
                          cv=StratifiedKFold(grid.folds, shuffle=True, random_state=grid.seed), n_jobs=1)
    search.fit(x, y)
    return search.best_params_["C"], search.best_params_["gamma"], search.best_score_


@pytest.mark.parametrize("seed", [0, 3])
def test_exact_route_is_gridsearchcv_bit_for_bit(seed):
    x, y = _data(seed=seed)
    grid = GridSearch(seed=seed)
    fit = tune(x, y, grid)
    c, g, score = _reference(x, y, grid)
    assert (fit["C"], fit["gamma"], fit["cv_mcc"]) == (c, g, score)
    assert fit["route"] == "exact" and fit["search_rows"] == len(y) == fit["labelled"]


def test_ties_go_to_the_first_candidate_as_in_gridsearchcv():
    x, y = _data()
    grid = GridSearch(c_grid=(1.0, 1.0, 1.0), gamma_grid=(1.0, 1.0))  # every candidate scores the same
    assert (tune(x, y, grid)["C"], tune(x, y, grid)["gamma"]) == _reference(x, y, grid)[:2]


def test_subsample_route_above_max_rows_is_stratified_and_said():
    x, y = _data(n=300)
    grid = GridSearch(max_rows=90)
    plan = plan_search(y, x.shape[1], grid)
    rows = np.unique(np.concatenate([te for _, te in plan.splits]))
    assert plan.route == "subsample" and len(rows) == 90
    share = {c: np.mean(y[rows] == c) for c in np.unique(y)}
    assert all(abs(share[c] - np.mean(y == c)) < 0.02 for c in share)  # classes in proportion
    fit = tune(x, y, grid)
    assert fit["route"] == "subsample" and fit["search_rows"] == 90 and fit["labelled"] == 300
    assert "subsample of 90 of 300" in route_text(fit)
    # the route's search is the exact search of those rows
    c, g, score = _reference(x[rows], y[rows], grid)
    assert (fit["C"], fit["gamma"], fit["cv_mcc"]) == (c, g, score)
    assert plan_search(y, x.shape[1], GridSearch(max_rows=0)).route == "exact"  # 0: always exact


def test_equal_label_arrays_share_one_search():
    x, y = _data()
    calls = []

    def run(fn, args):
        calls.extend(args)
        return (fn(*a) for a in args)

    other = np.roll(y, 7)
    fits = tune_many(x, {"a": y, "b": y.copy(), "c": other}, GridSearch(), run)
    assert len(calls) == 2 * 16 * 5 == search_jobs({"a": y, "b": y.copy(), "c": other}, GridSearch())
    assert fits["a"] == fits["b"] and fits["a"] == tune(x, y, GridSearch())


def _square(shared, k):
    return int(shared[k]) ** 2, os.getpid()


def test_process_map_keeps_order_and_shares_arguments():
    from seraltools.compute import process_map

    shared = np.arange(50)
    out = list(process_map(_square, [(shared, k) for k in range(50)], workers=2))
    assert [v for v, _ in out] == [k * k for k in range(50)]
    assert os.getpid() not in {p for _, p in out}  # the work ran in the workers
    assert [v for v, _ in process_map(_square, [(shared, k) for k in range(5)], workers=1)] == [0, 1, 4, 9, 16]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_evaluate_al_workers_die_with_their_parent(tmp_path, sig):
    """#27 H2: evaluate al -j 2's workers outlived a killed parent (joblib's loky)."""
    from seraltools.table import set_features, write_table
    import pyarrow as pa

    rng = np.random.default_rng(0)
    n = 400
    x = rng.standard_normal((n, 40)).astype(np.float32)
    t = pa.table({"id": [f"u{i}" for i in range(n)], "valence": pa.array(rng.integers(2, size=n), pa.int8()),
                  "arousal": pa.array(rng.integers(2, size=n), pa.int8())})
    write_table(set_features(t, x), tmp_path / "f.parquet")
    p = subprocess.Popen([sys.executable, "-m", "seraltools", "evaluate", "al", "-q", "-j", "2", "--repeats", "50",
                          "--select", str(tmp_path / "f.parquet"), "--classify", str(tmp_path / "f.parquet"),
                          str(tmp_path / "r.parquet")], stderr=subprocess.DEVNULL)
    children: list[int] = []
    deadline = time.monotonic() + 120
    while len(children) < 2 and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.2)
        try:
            children = [int(c) for c in open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()]
        except OSError:
            children = []
    assert len(children) >= 2, "the workers never started"
    p.send_signal(sig)
    p.wait(30)
    deadline = time.monotonic() + 30
    alive = children
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [c for c in children if _alive(c)]
    for c in alive:
        os.kill(c, signal.SIGKILL)
    assert not alive, f"workers {alive} outlived their parent"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_the_progress_bar_counts_the_grid_search_then_the_cells():
    """#31: the bar moved only with the cells; the grid search's jobs now advance it too."""
    from seraltools.simulate import SimulationConfig, simulate

    x, y = _data(n=90)
    labels = {"valence": (y == "0").astype(str), "arousal": (y == "1").astype(str)}
    cfg = SimulationConfig(budgets=(0.1, 0.5), folds=3, repeats=1, c_grid=(1.0, 10.0), gamma_grid=(1.0,), grid_folds=3)
    steps, totals = [], []

    def advance(n=1):
        steps.append(n)

    advance.resize = totals.append
    simulate({"a": x}, x, labels, cfg, progress=advance)
    jobs = 2 * 2 * 1 * 3  # tasks x C x gamma x grid folds
    assert totals == [jobs + 3] and sum(steps) == jobs + 3
