"""Issue #26: speaker standardisation, the "then random" hybrids and the degenerate-queue rules."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from seraltools.diagnose import expected_speakers, explain, queue_stats, queue_warnings
from seraltools.selectors import SWITCH, queue
from seraltools.standardize import standardize, within_groups


def _speakers(n_spk=12, per=20, dim=8, seed=0, offset=6.0):
    """Rows of several speakers: a large speaker offset, a small emotion effect."""
    rng = np.random.default_rng(seed)
    spk = np.repeat(np.arange(n_spk), per)
    emo = np.tile(np.arange(4), n_spk * per // 4)
    x = offset * rng.standard_normal((n_spk, dim))[spk] + np.eye(4, dim)[emo] * 2 + rng.standard_normal((len(spk), dim))
    return x.astype(np.float32), [f"s{s:02d}" for s in spk], emo


def test_within_speaker_zscore_is_each_speakers_own_statistics():
    x, spk, _ = _speakers()
    z, fell_back = within_groups(x, spk)
    assert fell_back == 0
    for s in set(spk):
        rows = [i for i, g in enumerate(spk) if g == s]
        np.testing.assert_allclose(z[rows].mean(0), 0, atol=1e-5)
        np.testing.assert_allclose(z[rows].std(0), 1, atol=1e-4)


def test_rows_without_a_speaker_take_the_corpus_statistics_and_are_said():
    x, spk, _ = _speakers()
    spk = list(spk)
    spk[0] = None
    spk[5] = ""
    said = []
    z = standardize(x, "speaker", spk, warn=said.append, source="t.parquet")
    corpus = standardize(x, "corpus")
    np.testing.assert_array_equal(z[[0, 5]], corpus[[0, 5]])
    assert len(said) == 1 and "2 rows without a speaker" in said[0] and "t.parquet" in said[0]
    said.clear()
    np.testing.assert_array_equal(standardize(x, "speaker", None, warn=said.append), corpus)
    assert said and "no speaker" in said[0]
    np.testing.assert_array_equal(standardize(x, "none"), x)


@pytest.mark.parametrize("method", ["mal-random", "typiclust-random"])
def test_then_random_is_its_selector_first_then_a_random_order(method):
    x, _, _ = _speakers()
    n = len(x)
    first = max(1, round(SWITCH * n))
    q = queue(method, x, 60, seed=4)
    head = queue(method.split("-")[0], x, first, seed=4)
    np.testing.assert_array_equal(q[:first], head)
    assert len(set(q.tolist())) == 60
    np.testing.assert_array_equal(queue(method, x, 60, seed=4), q)
    assert not np.array_equal(queue(method, x, 60, seed=5)[first:], q[first:])  # the random part follows the seed


def test_expected_speakers_is_the_hypergeometric_expectation():
    groups = ["a"] * 5 + ["b"] * 3 + ["c"] * 2
    rng = np.random.default_rng(0)
    sim = np.mean([len(set(np.array(groups)[rng.choice(10, 3, replace=False)])) for _ in range(20000)])
    assert expected_speakers(groups, 3) == pytest.approx(sim, abs=0.02)
    assert expected_speakers(groups, 10) == pytest.approx(3.0)


def test_a_queue_on_few_speakers_is_warned_and_a_random_one_is_not():
    n = 600
    spk = [f"s{i % 30:02d}" for i in range(n)]
    rank = np.full(n, np.nan)
    bad = [i for i in range(n) if spk[i] in ("s00", "s01")][:12]  # the first 12 queries from 2 speakers
    rank[bad] = np.arange(1, 13)
    warned = queue_warnings(queue_stats(rank, spk))
    assert len(warned) == 1 and "cover 2 of 30 speakers" in warned[0]
    rank = np.full(n, np.nan)
    rank[np.random.default_rng(1).choice(n, 12, replace=False)] = np.arange(1, 13)
    assert queue_warnings(queue_stats(rank, spk)) == []


def test_a_queue_of_one_duration_band_is_warned():
    n = 500
    duration = np.linspace(1, 5, n)
    rank = np.full(n, np.nan)
    rank[:10] = np.arange(1, 11)  # the ten shortest utterances first
    warned = queue_warnings(queue_stats(rank, duration=duration))
    assert len(warned) == 1 and "shortest fifth" in warned[0]
    rank = np.full(n, np.nan)
    rank[::50] = np.arange(1, 11)  # spread over the range
    assert queue_warnings(queue_stats(rank, duration=duration)) == []


def test_explain_names_speaker_driven_components():
    x, spk, emo = _speakers(offset=8.0)
    rank = np.arange(1, len(x) + 1, dtype=float)
    lines = explain(x, rank, groups=spk, labels={"emotion": [str(e) for e in emo]})
    pc1 = next(line for line in lines if line.strip().startswith("PC1"))
    share = int(pc1.split("speaker explains ")[1].split("%")[0])
    assert share > 80  # the offset per speaker dominates the first component


def test_mal_select_speaker_mode_warn_and_explain(cli, tmp_path):
    from seraltools.table import metadata, read_table, set_features, write_table

    x, spk, emo = _speakers(offset=10.0)
    t = pa.table({"id": [f"u{i:03d}" for i in range(len(x))], "speaker": spk,
                  "emotion": [f"e{e}" for e in emo], "duration": pa.array(np.full(len(x), 2.0), pa.float32())})
    write_table(set_features(t, x), tmp_path / "f.parquet")
    r = cli("mal-select", "--budget", "12", "--explain", tmp_path / "f.parquet", tmp_path / "q.parquet")
    assert r.exit_code == 0 and "speakers:" in r.stderr and "PC1" in r.stderr
    r = cli("mal-select", "--budget", "12", "--standardize", "speaker", tmp_path / "f.parquet", tmp_path / "s.parquet")
    assert r.exit_code == 0
    assert metadata(read_table(tmp_path / "s.parquet"))["history"][-1]["parameters"]["standardize"] == "speaker"
    ranks = [read_table(tmp_path / p).column("rank").to_pylist() for p in ("q.parquet", "s.parquet")]
    assert ranks[0] != ranks[1]
