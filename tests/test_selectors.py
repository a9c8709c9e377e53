"""Cold-start selectors against their papers' definitions (seraltools/selectors.py)."""

from __future__ import annotations

import numpy as np
import pytest

from seraltools.selectors import (SELECTORS, UNSTABLE, coverage, kcenter, probcover, probcover_delta, pseudo_labels,
                                  queue, stratified, typiclust)


def blobs(sizes=(120, 60, 30, 15), dim=8, spread=0.6, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(len(sizes), dim))
    x = np.concatenate([c + rng.normal(scale=spread, size=(s, dim)) for c, s in zip(centres, sizes)])
    y = np.repeat(np.arange(len(sizes)), sizes)
    return x.astype(np.float32), y


@pytest.mark.parametrize("method", SELECTORS)
def test_every_selector_is_deterministic_and_never_requeues(method):
    x, _ = blobs()
    q = queue(method, x, 40, seed=3)
    assert len(q) == 40 == len(set(q.tolist())) and q.min() >= 0 and q.max() < len(x)
    np.testing.assert_array_equal(q, queue(method, x, 40, seed=3))
    if method not in UNSTABLE:  # prefix-stable: a smaller budget is the start of a larger one
        np.testing.assert_array_equal(queue(method, x, 15, seed=3), q[:15])
    done = np.zeros(len(x), dtype=bool)
    done[q[:10]] = True
    nxt = queue(method, x, 20, seed=3, labelled=done)
    assert len(nxt) == 20 and not done[nxt].any()
    if method not in UNSTABLE:  # a next round whose labelled rows are the queue's start continues it
        np.testing.assert_array_equal(nxt, q[10:30])
    everything = queue(method, x, len(x), seed=3)
    assert sorted(everything.tolist()) == list(range(len(x)))


def test_kcenter_is_the_greedy_farthest_point_and_its_radius_never_grows():
    x, _ = blobs(seed=1)
    q = kcenter(x, 30, seed=2)
    d = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=2)
    radius = []
    for i in range(1, len(q)):
        nearest = d[:, q[:i]].min(axis=1)  # each row's distance to the queries so far
        assert nearest[q[i]] == pytest.approx(nearest.max(), rel=1e-5)  # the next query is the farthest row
        radius.append(nearest.max())
    assert all(a >= b - 1e-5 for a, b in zip(radius, radius[1:]))  # the covering radius is non-increasing
    done = np.zeros(len(x), dtype=bool)
    done[[0, 200]] = True  # labelled rows count as centres
    first = kcenter(x, 1, seed=2, labelled=done)[0]
    assert first == int(np.argmax(d[:, [0, 200]].min(axis=1)))


def test_typiclust_takes_typical_points_of_the_largest_uncovered_clusters():
    x, y = blobs(sizes=(150, 80, 40, 20), spread=0.5, seed=2)
    q = typiclust(x, 4, seed=0)
    assert sorted(y[q].tolist()) == [0, 1, 2, 3]  # one per blob (k = 4 clusters), the largest first
    assert y[q[0]] == 0
    members = np.flatnonzero(y == 0)
    typicality = []
    for i in members:  # the paper's typicality: 1 / mean distance to the K = 20 nearest neighbours
        dist = np.sort(np.linalg.norm(x[members] - x[i], axis=1))[1:21]
        typicality.append(1 / dist.mean())
    assert typicality[list(members).index(q[0])] >= np.quantile(typicality, 0.9)  # among the most typical
    done = np.zeros(len(x), dtype=bool)
    done[np.flatnonzero(y == 0)[:1]] = True  # blob 0 has a labelled row: its cluster is covered
    q = typiclust(x, 1, seed=0, labelled=done)
    assert y[q[0]] == 1


def test_probcover_delta_is_the_largest_with_pure_enough_balls():
    x, _ = blobs(seed=3)
    delta = probcover_delta(x, alpha=0.95, classes=4, seed=0)
    x = x.astype(np.float64)
    labels = pseudo_labels(x, 4, 0)
    d = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=2)

    def purity(r):
        return np.mean([len(set(labels[d[i] <= r])) == 1 for i in range(len(x))])

    assert purity(delta) >= 0.95
    larger = np.sort(np.unique(np.where(labels[:, None] != labels[None, :], d, np.inf).min(axis=1)))
    above = larger[larger > delta]
    assert purity(above[0]) < 0.95  # the next radius at which a ball changes is not pure enough


def test_probcover_is_greedy_maximum_coverage():
    x, _ = blobs(sizes=(200, 100, 50, 25), seed=4)
    delta = probcover_delta(x, seed=0)
    q = probcover(x, 120, seed=1, delta=delta)
    ball = np.linalg.norm(x[:, None, :].astype(np.float64) - x[None, :, :], axis=2) <= delta
    covered = np.zeros(len(x), dtype=bool)
    gains = []
    for r in q:  # each query covers the most rows no earlier query covers (greedy maximum coverage)
        new = (ball & ~covered[None, :]).sum(axis=1)
        if new.max() == 0:
            break  # all covered: the rest is a seeded random order
        assert new[r] == new.max()
        gains.append(new[r])
        covered |= ball[r]
    assert gains and all(a >= b for a, b in zip(gains, gains[1:]))  # so the gains never grow
    assert coverage(x, q[:len(gains)], delta) == pytest.approx(covered.mean())


def test_stratified_follows_the_strata_shares():
    x, _ = blobs(sizes=(200, 100, 50, 25), seed=5)
    groups = pseudo_labels(x.astype(np.float64), 10, int(np.random.default_rng([7, 5]).integers(2**31)))
    q = stratified(x, 60, seed=7, strata=10)
    sizes = np.bincount(groups, minlength=10)
    for b in (10, 30, 60):
        got = np.bincount(groups[q[:b]], minlength=10)
        assert np.all(np.abs(got - sizes * b / len(x)) <= 1.0)


def test_mal_select_and_evaluate_al_take_the_selectors(cli, tmp_path, synth_4x4):
    from seraltools.table import read_table

    f = tmp_path / "f.parquet"
    assert cli("extract", "-q", "--feat", "logmel", synth_4x4 / "manifest.csv", f).exit_code == 0
    for method in ("kcenter", "typiclust", "probcover", "stratified"):
        res = cli("mal-select", "--method", method, "--budget", 5, f, tmp_path / f"{method}.parquet")
        assert res.exit_code == 0, res.stderr
        ranks = read_table(tmp_path / f"{method}.parquet").column("rank").to_pylist()
        assert sorted(r for r in ranks if r is not None) == [1, 2, 3, 4, 5]
    res = cli("evaluate", "al", "--select", f, "--classify", f, "--method", "mal,kcenter,probcover,typiclust",
              "--budgets", "10%,50%", "--repeats", 1, "--folds", 2, "-j", 1, tmp_path / "al.parquet")
    assert res.exit_code == 0, res.stderr
    sel = set(read_table(tmp_path / "al.parquet").column("selector").to_pylist())
    assert sel == {"mal", "random", "kcenter", "probcover", "typiclust"}
    assert "vs MAL" in res.stderr and "probcover" in res.stderr
    res = cli("evaluate", "al", "--select", f, "--classify", f, "--method", "coreset", tmp_path / "x.parquet")
    assert res.exit_code == 2 and "choose one of" in res.stderr


def test_typiclust_never_queues_a_row_twice_with_duplicate_rows():
    x = np.repeat(np.arange(6, dtype=np.float32)[:, None] * np.ones((1, 4), np.float32), 5, axis=0)  # 30 rows, 6 distinct
    q = typiclust(x, 20, seed=0)
    assert len(q) == 20 == len(set(q.tolist()))


def test_kcenter_memory_stays_linear():
    import tracemalloc

    x = np.random.default_rng(0).normal(size=(4000, 8)).astype(np.float32)
    tracemalloc.start()
    kcenter(x, 1000, seed=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * 4000 * 8 * 8  # a few N x D arrays, never budget x N
