"""extract --shard I/N: parts whose union is the single run, read back as one table."""

from __future__ import annotations

import numpy as np
import pytest

from seraltools.errors import BadInput
from seraltools.tools.extract import parse_shard
from seraltools.table import feature_matrix, metadata, read_table


def test_sharded_union_equals_the_single_run(cli, synth_4x4, tmp_path):
    m = synth_4x4 / "manifest.csv"
    assert cli("extract", "--quiet", "-j", 1, m, tmp_path / "whole.parquet").exit_code == 0
    parts = tmp_path / "parts"
    parts.mkdir()
    for i in (3, 1, 2):  # any order, as an array job would
        res = cli("extract", "--quiet", "-j", 1, "--shard", f"{i}/3", m, f"{parts}/")
        assert res.exit_code == 0, res.stderr
    assert sorted(p.name for p in parts.iterdir()) == [f"part-0000{i}-of-00003.parquet" for i in (1, 2, 3)]
    whole, union = read_table(tmp_path / "whole.parquet"), read_table(parts)
    assert union.column("id").to_pylist() == whole.column("id").to_pylist()
    np.testing.assert_array_equal(feature_matrix(union), feature_matrix(whole))
    assert union.drop(["features"]).equals(whole.drop(["features"]))
    assert len(metadata(union)["parts"]) == 3 and len(metadata(union)["history"]) == 3
    # every tool reads the directory as one table
    res = cli("info", parts)
    assert res.exit_code == 0 and "32" in res.stdout
    assert cli("mal-select", "--budget", 4, "--quiet", parts, tmp_path / "q.parquet").exit_code == 0
    assert read_table(tmp_path / "q.parquet").num_rows == 32


def test_resume_skips_written_parts_and_redoes_broken_ones(cli, synth_dir, tmp_path):
    m = synth_dir / "manifest.csv"
    part = tmp_path / "p1.parquet"
    assert cli("extract", "--quiet", "--shard", "1/2", m, part).exit_code == 0
    before = part.stat().st_mtime_ns
    res = cli("extract", "--shard", "1/2", "--resume", m, part)
    assert res.exit_code == 0 and "already written" in res.stderr
    assert part.stat().st_mtime_ns == before
    part.write_bytes(b"not parquet")
    assert cli("extract", "--quiet", "--shard", "1/2", "--resume", m, part).exit_code == 0
    assert read_table(part).num_rows == 4


def test_bad_shards_and_parts_are_one_line_errors(cli, synth_dir, tmp_path):
    for spec in ("0/3", "4/3", "x", "1/"):
        with pytest.raises(BadInput):
            parse_shard(spec)
    res = cli("extract", "--shard", "2/100", synth_dir, tmp_path / "o.parquet")
    assert res.exit_code == 2 and "empty" in res.stderr
    res = cli("extract", "--resume", synth_dir, tmp_path / "o.parquet")
    assert res.exit_code == 2 and "--shard" in res.stderr
    d = tmp_path / "mixed"
    d.mkdir()
    assert cli("extract", "--quiet", "--shard", "1/2", synth_dir, f"{d}/").exit_code == 0
    assert cli("extract", "--quiet", "--feat", "logmel", "--corpus", "none", "--shard", "2/2", synth_dir, f"{d}/").exit_code == 0
    res = cli("info", d)
    assert res.exit_code == 2 and "differ" in res.stderr
