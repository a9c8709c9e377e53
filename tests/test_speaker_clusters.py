"""Intra-speaker clusters (cluster-speakers) and their evaluation against emotion."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from seraltools.speaker_clusters import cluster_speakers, evaluate_clusters, purity
from seraltools.table import metadata, read_table, set_features, write_table


def speaker_emotion_data(speakers=3, emotions=4, per=15, dim=16, seed=0):
    """Each speaker has its own region; within it, one tight direction per emotion."""
    rng = np.random.default_rng(seed)
    xs, spk, emo = [], [], []
    for s in range(speakers):
        base = rng.standard_normal(dim) * 5
        for e in range(emotions):
            shift = rng.standard_normal(dim) * 1.5
            xs.append(base + shift + 0.1 * rng.standard_normal((per, dim)))
            spk += [f"s{s}"] * per
            emo += [f"e{e}"] * per
    return np.concatenate(xs).astype(np.float32), spk, emo


def test_clusters_follow_emotion_within_each_speaker():
    x, spk, emo = speaker_emotion_data()
    cluster, centres = cluster_speakers(x, spk, k=4, seed=0)
    assert set(centres) == {"s0", "s1", "s2"} and centres["s0"].shape == (4, 16)
    np.testing.assert_allclose(np.linalg.norm(centres["s1"], axis=1), 1.0, atol=1e-5)
    rows = evaluate_clusters(x, spk, cluster, emo)
    assert [r["speaker"] for r in rows] == ["s0", "s1", "s2", "mean"]
    mean = rows[-1]
    assert mean["nmi"] > 0.95 and mean["ari"] > 0.95 and mean["purity"] > 0.95 and mean["silhouette"] > 0.5


def test_max_per_speaker_and_small_speakers_have_defined_outcomes():
    x, spk, emo = speaker_emotion_data(speakers=1, per=30)
    warnings = []
    cluster, _ = cluster_speakers(x, spk, k=4, max_per_speaker=40, seed=1)
    assert cluster.shape == (120,) and set(cluster.tolist()) == {0, 1, 2, 3}
    assert purity(emo, cluster.tolist()) > 0.95  # the 80 rows outside the fit joined their nearest centre
    few, _ = cluster_speakers(x[:3], spk[:3], k=4, warn=warnings.append)
    assert sorted(few.tolist()) == [0, 1, 2] and "fewer than k = 4" in warnings[0]


def test_same_seed_same_clusters():
    x, spk, _ = speaker_emotion_data(seed=3)
    np.testing.assert_array_equal(cluster_speakers(x, spk, 4, seed=5)[0], cluster_speakers(x, spk, 4, seed=5)[0])


def test_cli(cli, tmp_path):
    x, spk, emo = speaker_emotion_data()
    emo = [e if e != "e3" else "boredom" for e in emo]
    t = set_features(pa.table({"id": [f"u{i}" for i in range(len(x))], "speaker": spk, "emotion": emo}), x)
    write_table(t, tmp_path / "e.parquet")
    out = cli("cluster-speakers", "--k", 3, "--emotions", "e0,e1,e2", tmp_path / "e.parquet", tmp_path / "c.parquet")
    assert out.exit_code == 0, out.stderr
    c = read_table(tmp_path / "c.parquet")
    assert c.schema.field("cluster").type == pa.int32()
    assert c.column("cluster").null_count == 45  # the boredom rows are not clustered
    assert set(metadata(c)["speaker_clusters"]) == {"s0", "s1", "s2"}
    ev = cli("evaluate", "clusters", "--plot", tmp_path / "map.png", tmp_path / "c.parquet", tmp_path / "m.parquet")
    assert ev.exit_code == 0, ev.stderr
    assert "mean" in ev.stderr and "silhouette" in ev.stderr  # the report: stderr; stdout is for tables
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"
    m = read_table(tmp_path / "m.parquet")
    assert m.column("id").to_pylist()[-1] == "mean" and m.column("nmi").to_pylist()[-1] > 0.95
    bad = cli("cluster-speakers", tmp_path / "c.parquet", tmp_path / "x.parquet", "--emotions", "joy")
    assert bad.exit_code == 2 and "no row" in bad.stderr


def test_evaluate_needs_clusters(cli, tmp_path):
    x, spk, emo = speaker_emotion_data()
    t = set_features(pa.table({"id": [f"u{i}" for i in range(len(x))], "speaker": spk, "emotion": emo}), x)
    write_table(t, tmp_path / "e.parquet")
    out = cli("evaluate", "clusters", tmp_path / "e.parquet")
    assert out.exit_code == 2 and "cluster-speakers" in out.stderr


def test_max_per_speaker_below_k_reports_the_real_counts():
    x, spk, _ = speaker_emotion_data(speakers=1, per=5)
    warnings = []
    cluster_speakers(x, spk, k=4, max_per_speaker=1, seed=0, warn=warnings.append)
    assert "20 utterances, of which --max-per-speaker 1 fit k-means" in warnings[0] and "1 clusters" in warnings[0]


def test_tsne_map_of_too_few_utterances_is_one_line_without_a_missing_option(cli, tmp_path):
    x, spk, emo = speaker_emotion_data(speakers=1, emotions=2, per=3)
    t = set_features(pa.table({"id": [f"u{i}" for i in range(len(x))], "speaker": spk, "emotion": emo}), x)
    write_table(t, tmp_path / "e.parquet")
    assert cli("cluster-speakers", "--k", 2, tmp_path / "e.parquet", tmp_path / "c.parquet").exit_code == 0
    ev = cli("evaluate", "clusters", "--plot", tmp_path / "map.png", tmp_path / "c.parquet", tmp_path / "m.parquet")
    assert ev.exit_code == 2 and "needs 7 or more utterances" in ev.stderr and "--perplexity" not in ev.stderr
    assert not (tmp_path / "map.png").exists()


def test_evaluate_clusters_pipes_its_table_into_info(tmp_path):
    """Reports go to stderr, so OUTPUT - is a clean Parquet stream."""
    from tests.conftest import seral

    x, spk, emo = speaker_emotion_data()
    t = set_features(pa.table({"id": [f"u{i}" for i in range(len(x))], "speaker": spk, "emotion": emo}), x)
    write_table(t, tmp_path / "e.parquet")
    seral("cluster-speakers", "-q", tmp_path / "e.parquet", tmp_path / "c.parquet", check=True)
    ev = seral("evaluate", "clusters", tmp_path / "c.parquet", "-", check=True)
    assert b"silhouette" in ev.stderr
    info = seral("info", "-", input=ev.stdout, check=True)
    assert b"rows      4" in info.stdout
