"""Medoid-based active learning: the algorithm, the queue, the approximation, the tools."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from seraltools.errors import BadInput
from seraltools.mal import (
    affinity,
    farthest_first,
    mal,
    mal_queue,
    propagate,
    random_queue,
    resolve_budget,
    resolve_metric,
)
from seraltools.table import metadata, read_table, set_features, write_table


def blobs(n_classes=6, per_class=40, dim=8, spread=0.3, seed=0, sizes=None):
    """Well-separated clusters, one per class; sizes may differ per class."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, dim)) * 4
    sizes = sizes or [per_class] * n_classes
    y = np.repeat(np.arange(n_classes), sizes)
    x = centres[y] + spread * rng.standard_normal((len(y), dim))
    perm = rng.permutation(len(y))
    return x[perm].astype(np.float32), y[perm]


def test_metric_default():
    assert resolve_metric("auto", 2) == "euclidean"
    assert resolve_metric("auto", 32) == "cosine"  # the paper's choice for raw features
    assert resolve_metric("auto", 32, standardized=True) == "euclidean"
    assert resolve_metric("cosine", 32, standardized=True) == "cosine"
    with pytest.raises(BadInput):
        resolve_metric("manhattan", 3)


def test_affinity_matches_scipy():
    from scipy.spatial.distance import cdist

    x, _ = blobs()
    for metric in ("cosine", "euclidean"):
        np.testing.assert_allclose(affinity(x, metric), cdist(x, x, metric), atol=1e-4)


def test_farthest_first_picks_the_farthest_sample_each_time():
    x = np.array([[0.0], [1.0], [10.0], [4.0], [6.0]], dtype=np.float32)
    d = affinity(x, "euclidean")
    chosen = farthest_first(d, 4, np.random.default_rng(0))
    first = chosen[0]
    for i in range(1, 4):
        to_set = d[:, chosen[:i]].min(axis=1)
        assert to_set[chosen[i]] == to_set.max()
    assert len(set(chosen)) == 4 and first in range(5)


def test_queue_is_medoids_by_descending_cluster_size():
    x, y = blobs(n_classes=4, sizes=[60, 30, 15, 8], spread=0.2)
    c = mal(x, k=4, seed=1)
    assert list(c.sizes) == [60, 30, 15, 8]
    assert [y[m] for m in c.queue()] == [y[c.medoids[0]], y[c.medoids[1]], y[c.medoids[2]], y[c.medoids[3]]]
    assert sorted(np.bincount(c.cluster).tolist(), reverse=True) == [60, 30, 15, 8]
    assert all(c.cluster[m] == i for i, m in enumerate(c.medoids))  # cluster 0 is the largest


def test_same_seed_same_queue_other_seed_still_valid():
    x, _ = blobs(spread=1.5)
    a, b = mal(x, seed=3), mal(x, seed=3)
    np.testing.assert_array_equal(a.medoids, b.medoids)
    np.testing.assert_array_equal(a.cluster, b.cluster)
    assert a.k == round(len(x) / 3)
    q = a.queue()
    assert len(q) == len(set(q.tolist())) == a.k  # never a duplicate query
    np.testing.assert_array_equal(mal_queue(x, 20, seed=3)[0], a.queue(20))
    everything, _ = mal_queue(x, len(x), seed=3)
    assert sorted(everything.tolist()) == list(range(len(x)))


def test_the_queue_is_prefix_stable_above_k():
    """The queue for budget b is the start of the queue for every larger budget, above
    k = N/3 too; beyond the k medoids come medoids of a clustering of the rows left."""
    x, _ = blobs(spread=1.5)
    n = len(x)
    full, c = mal_queue(x, n, seed=4)
    assert c.k == round(n / 3)
    np.testing.assert_array_equal(full[:c.k], c.medoids)
    for b in (1, 7, c.k - 1, c.k, c.k + 1, n // 2, n - 1):
        q, cb = mal_queue(x, b, seed=4)
        np.testing.assert_array_equal(q, full[:b])
        np.testing.assert_array_equal(cb.medoids, c.medoids)  # the clusters do not change with the budget
    rest = np.setdiff1d(np.arange(n), c.medoids)
    second = mal(x[rest], round(len(rest) / 3), seed=int(np.random.default_rng([4, 1]).integers(2**31)))
    np.testing.assert_array_equal(full[c.k:c.k + second.k], rest[second.medoids])  # the second level, largest first


def test_a_next_round_continues_the_queue():
    x, _ = blobs(spread=1.5)
    full, _ = mal_queue(x, len(x), seed=2)
    for asked in (10, 60):  # below and above k
        done = np.zeros(len(x), dtype=bool)
        done[full[:asked]] = True
        nxt, _ = mal_queue(x, 30, labelled=done, seed=2)
        np.testing.assert_array_equal(nxt, full[asked:asked + 30])


def test_mal_covers_every_class_sooner_than_random():
    """Clusters match classes: the first queries reach every class before random sampling does."""
    def first_full_cover(order, y):
        seen = set()
        for i, r in enumerate(order):
            seen.add(y[r])
            if len(seen) == len(set(y)):
                return i + 1
        return len(order) + 1

    mal_needed, random_needed = [], []
    for seed in range(10):
        x, y = blobs(n_classes=6, sizes=[80, 60, 40, 20, 12, 8], seed=seed)
        c = mal(x, k=6, seed=seed)
        mal_needed.append(first_full_cover(c.queue(), y))
        random_needed.append(first_full_cover(random_queue(len(x), None, seed), y))
    assert max(mal_needed) == 6  # the k = 6 medoids are one per class
    assert np.mean(random_needed) > 12


def test_block_approximation_keeps_loss_close_and_is_deterministic():
    x, _ = blobs(n_classes=20, per_class=60, spread=1.0, dim=16)
    exact = mal(x, seed=0)
    approx = mal(x, seed=0, exact_limit=500, block_size=400)
    again = mal(x, seed=0, exact_limit=500, block_size=400)
    assert exact.exact and not approx.exact
    assert approx.k == exact.k
    assert approx.loss <= exact.loss * 1.05
    np.testing.assert_array_equal(approx.medoids, again.medoids)
    assert len(set(approx.medoids.tolist())) == approx.k


def test_budgets():
    assert resolve_budget(None, 100, default=33) == 33
    assert resolve_budget("10", 100, 33) == 10
    assert resolve_budget("0.1", 100, 33) == 10
    assert resolve_budget("10%", 200, 33) == 20
    assert resolve_budget("500", 100, 33) == 100
    with pytest.raises(BadInput):
        resolve_budget("ten", 100, 33)
    with pytest.raises(BadInput):
        resolve_budget("0.001", 100, 33)


def test_bad_features():
    x, _ = blobs()
    x[3] = np.nan
    with pytest.raises(BadInput, match="row 4"):
        mal(x)
    z = np.zeros((5, 3), np.float32)
    with pytest.raises(BadInput, match="all-zero"):
        mal(z, metric="cosine")
    with pytest.raises(BadInput, match="--k"):
        mal(blobs()[0], k=10_000)


def test_propagate():
    cluster = np.array([0, 0, 1, 1, 2])
    assert propagate(cluster, np.array([0, 2]), ["a", "b"]) == ["a", "a", "b", "b", None]


def _feature_table(tmp_path, x, y):
    t = pa.table({"id": [f"u{i:03d}" for i in range(len(x))], "emotion": [f"e{v}" for v in y]})
    path = tmp_path / "f.parquet"
    write_table(set_features(t, x), path)
    return path


def test_mal_select_cli_writes_the_queue(cli, tmp_path):
    x, y = blobs(n_classes=3, sizes=[30, 20, 10])
    path = _feature_table(tmp_path, x, y)
    out = cli("mal-select", "--k", 3, path, tmp_path / "q.parquet")
    assert out.exit_code == 0, out.stderr
    q = read_table(tmp_path / "q.parquet")
    assert q.column_names == ["id", "emotion", "cluster", "cluster_size", "is_medoid", "rank", "features"]
    assert q.schema.field("cluster").type == pa.int32() and q.schema.field("rank").type == pa.int32()
    ranked = q.filter(q.column("rank").is_valid()).sort_by("rank")
    assert ranked.column("rank").to_pylist() == [1, 2, 3]
    assert ranked.column("cluster_size").to_pylist() == [30, 20, 10]
    assert all(ranked.column("is_medoid").to_pylist())
    assert q.column("id").to_pylist() == [f"u{i:03d}" for i in range(60)]  # row order kept

    only = cli("mal-select", "--k", 3, "--budget", 5, "--only-queries", path, tmp_path / "o.parquet")
    assert only.exit_code == 0
    o = read_table(tmp_path / "o.parquet")
    assert o.column("rank").to_pylist() == [1, 2, 3, 4, 5]  # budget above --k 3: two more, beyond the medoids
    assert o.column("is_medoid").to_pylist() == [True] * 3 + [False] * 2
    assert "2 beyond the 3 medoids" in only.stderr


def test_mal_select_standardises_the_features_by_default(cli, tmp_path):
    """Distances on z-scored features (recorded in the history); --no-standardize measures
    them on the raw values, with the paper's cosine distance."""
    from seraltools.tools.mal_select import mal_select as select
    from seraltools.standardize import zscore

    x, y = blobs(n_classes=4, sizes=[30, 20, 15, 10], dim=6)
    x = x * np.array([100.0, 1, 1, 1, 1, 0.01], np.float32)  # one dimension dwarfs the others
    path = _feature_table(tmp_path, x, y)
    assert cli("mal-select", path, tmp_path / "z.parquet").exit_code == 0
    assert cli("mal-select", "--standardize", "none", path, tmp_path / "raw.parquet").exit_code == 0
    old = cli("mal-select", "--no-standardize", path, tmp_path / "raw_old.parquet")  # the deprecated flag
    assert old.exit_code == 0 and "--standardize none" in old.stderr
    z, raw = read_table(tmp_path / "z.parquet"), read_table(tmp_path / "raw.parquet")
    assert read_table(tmp_path / "raw_old.parquet").column("rank").equals(raw.column("rank"))
    params = [metadata(t)["history"][-1]["parameters"] for t in (z, raw)]
    assert (params[0]["standardize"], params[0]["metric"]) == ("corpus", "euclidean")
    assert (params[1]["standardize"], params[1]["metric"]) == ("none", "cosine")
    assert z.column("rank").to_pylist() != raw.column("rank").to_pylist()
    same, _ = select(set_features(pa.table({"id": [f"u{i:03d}" for i in range(len(x))]}), zscore(x)),
                     standardize=False, metric="euclidean")
    assert same.column("rank").to_pylist() == z.column("rank").to_pylist()


def test_random_selector_has_the_same_shape(cli, tmp_path):
    x, y = blobs(n_classes=3, sizes=[30, 20, 10])
    path = _feature_table(tmp_path, x, y)
    assert cli("mal-select", "--method", "random", "--budget", "10%", path, tmp_path / "r.parquet").exit_code == 0
    r = read_table(tmp_path / "r.parquet")
    assert {"cluster", "cluster_size", "is_medoid", "rank"} <= set(r.column_names)
    assert sorted(v for v in r.column("rank").to_pylist() if v is not None) == [1, 2, 3, 4, 5, 6]
    assert r.column("cluster").null_count == 60


def test_cluster_labels_cli(cli, tmp_path):
    x, y = blobs(n_classes=3, sizes=[30, 20, 10])
    path = _feature_table(tmp_path, x, y)
    cli("mal-select", "--k", 3, path, tmp_path / "q.parquet")
    q = read_table(tmp_path / "q.parquet")
    medoid_ids = q.filter(q.column("is_medoid")).column("id").to_pylist()
    (tmp_path / "ann.csv").write_text("id,label\n" + "".join(f"{m},L{i}\n" for i, m in enumerate(medoid_ids[:2])))
    out = cli("cluster-labels", tmp_path / "q.parquet", tmp_path / "ann.csv", tmp_path / "l.parquet")
    assert out.exit_code == 0, out.stderr
    lab = read_table(tmp_path / "l.parquet")
    sources = lab.column("label_source").to_pylist()
    assert sources.count("annotated") == 2
    labelled = [l for l in lab.column("label").to_pylist() if l is not None]
    assert len(labelled) == sum(1 for s in sources if s is not None)
    for cl, l in zip(lab.column("cluster").to_pylist(), lab.column("label").to_pylist()):
        if l is not None:
            assert len({l2 for c2, l2 in zip(lab.column("cluster").to_pylist(), lab.column("label").to_pylist())
                        if c2 == cl}) == 1
    (tmp_path / "bad.csv").write_text("id,label\nnobody,x\n")
    bad = cli("cluster-labels", tmp_path / "q.parquet", tmp_path / "bad.csv", tmp_path / "x.parquet")
    assert bad.exit_code == 2 and "'nobody'" in bad.stderr
    clash = cli("cluster-labels", tmp_path / "q.parquet", tmp_path / "ann.csv", tmp_path / "x.parquet",
                "--column", "label")
    assert clash.exit_code == 0
    (tmp_path / "emo.csv").write_text(f"id,emotion\n{medoid_ids[0]},x\n")
    exists = cli("cluster-labels", tmp_path / "q.parquet", tmp_path / "emo.csv", tmp_path / "x.parquet")
    assert exists.exit_code == 2 and "already has column" in exists.stderr


def test_a_next_round_never_queues_labelled_rows_again(cli, tmp_path):
    """mal-select --labelled: the budget counts new queries, none of them labelled before,
    and clusters nobody labelled come first."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from seraltools.table import set_features, write_table

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(c, 0.3, (20, 4)) for c in range(8)]).astype(np.float32)
    write_table(set_features(pa.table({"id": [f"u{i}" for i in range(len(x))]}), x), tmp_path / "f.parquet")
    assert cli("mal-select", "-q", "--budget", 6, tmp_path / "f.parquet", tmp_path / "q1.parquet").exit_code == 0
    q1 = pq.read_table(tmp_path / "q1.parquet")
    first = [i for i, r in zip(q1.column("id").to_pylist(), q1.column("rank").to_pylist()) if r is not None]
    (tmp_path / "labels.csv").write_text("id,emotion\n" + "".join(f"{i},anger\n" for i in first))
    for method in ("mal", "random"):
        res = cli("mal-select", "-q", "--method", method, "--budget", 6, "--labelled", tmp_path / "labels.csv",
                  tmp_path / "f.parquet", tmp_path / "q2.parquet")
        assert res.exit_code == 0, res.stderr
        q2 = pq.read_table(tmp_path / "q2.parquet")
        second = [i for i, r in zip(q2.column("id").to_pylist(), q2.column("rank").to_pylist()) if r is not None]
        assert len(second) == 6 and not set(second) & set(first)
        assert sorted(r for r in q2.column("rank").to_pylist() if r is not None) == list(range(1, 7))
        if method == "mal":  # the new medoids come from clusters without a labelled row
            cluster = dict(zip(q2.column("id").to_pylist(), q2.column("cluster").to_pylist()))
            assert not {cluster[i] for i in second} & {cluster[i] for i in first}
    everyone = tmp_path / "all.csv"
    everyone.write_text("id\n" + "".join(f"u{i}\n" for i in range(len(x))))
    res = cli("mal-select", "--labelled", everyone, tmp_path / "f.parquet", tmp_path / "q3.parquet")
    assert res.exit_code == 2 and "every row is already labelled" in res.stderr


def test_labelled_ids_that_match_nothing_are_said(cli, tmp_path):
    import pyarrow as pa

    from seraltools.table import set_features, write_table

    x = np.random.default_rng(1).standard_normal((30, 3)).astype(np.float32)
    write_table(set_features(pa.table({"id": [f"u{i}" for i in range(30)]}), x), tmp_path / "f.parquet")
    (tmp_path / "labels.csv").write_text("id,emotion\nu1.wav,anger\nu2.wav,sadness\n")
    res = cli("mal-select", "--budget", 5, "--labelled", tmp_path / "labels.csv", tmp_path / "f.parquet",
              tmp_path / "q.parquet")
    assert res.exit_code == 0 and "2 labelled ids are not in" in res.stderr
