"""The table contract: types, ids, metadata with history, atomic writes, stdin/stdout."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seraltools.errors import BadInput
from seraltools.table import (
    atomic_path,
    feature_matrix,
    history_entry,
    metadata,
    read_table,
    set_features,
    stamp,
    write_table,
)
from tests.conftest import seral


def _table(n=4, dim=3):
    t = pa.table({"id": [f"u{i}" for i in range(n)], "speaker": ["a", "b"] * (n // 2), "extra": list(range(n))})
    return set_features(t, np.arange(n * dim, dtype=np.float32).reshape(n, dim))


def test_roundtrip_keeps_columns_order_types_and_history(tmp_path):
    t = stamp(_table(), history_entry("extract", {"feat": "x"}, []), feature="x")
    t = stamp(t, history_entry("reduce", {"dim": 2}, []), parent=metadata(t))
    write_table(t, tmp_path / "t.parquet")
    back = read_table(tmp_path / "t.parquet", need_features=True)
    assert back.column_names == ["id", "speaker", "extra", "features"]
    assert back.schema.field("features").type == pa.list_(pa.float32(), 3)
    np.testing.assert_array_equal(feature_matrix(back), feature_matrix(t))
    meta = metadata(back)
    assert meta["feature"] == "x" and meta["dim"] == 3
    assert [h["tool"] for h in meta["history"]] == ["extract", "reduce"]
    assert {"tool", "version", "parameters", "inputs", "time"} <= set(meta["history"][0])


@pytest.mark.parametrize(
    "table, message",
    [
        (pa.table({"x": [1]}), "no 'id' column"),
        (pa.table({"id": ["a", "a"]}), "id 'a' appears in rows 1 and 2"),
        (pa.table({"id": ["a", None]}), "row 2: empty 'id'"),
        (pa.table({"id": ["a"], "features": pa.array([[1.0, 2.0]], pa.list_(pa.float64()))}), "column 'features' has type"),
        (pa.table({"id": ["a"], "valence": ["positive"]}), "column 'valence'"),
    ],
)
def test_contract_violations_are_bad_input(tmp_path, table, message):
    pq.write_table(table, tmp_path / "bad.parquet")
    with pytest.raises(BadInput) as e:
        read_table(tmp_path / "bad.parquet")
    assert message in str(e.value) and str(tmp_path / "bad.parquet") in str(e.value)


def test_well_known_columns_are_cast_to_their_types(tmp_path):
    pq.write_table(pa.table({"id": ["a", "b"], "valence": [0, 1], "duration": [1.5, 2.0]}), tmp_path / "t.parquet")
    t = read_table(tmp_path / "t.parquet")
    assert t.schema.field("valence").type == pa.int8() and t.schema.field("duration").type == pa.float32()


def test_not_parquet_is_bad_input(tmp_path):
    (tmp_path / "x.parquet").write_text("hello")
    with pytest.raises(BadInput, match="not a Parquet table"):
        read_table(tmp_path / "x.parquet")
    with pytest.raises(BadInput, match="no such file"):
        read_table(tmp_path / "missing.parquet")
    with pytest.raises(BadInput, match="no 'features' column"):
        pq.write_table(pa.table({"id": ["a"]}), tmp_path / "nofeat.parquet")
        read_table(tmp_path / "nofeat.parquet", need_features=True)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.parquet"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            open(tmp, "wb").write(b"half")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet"]


def test_write_creates_parent_directories(tmp_path):
    write_table(_table(), tmp_path / "a" / "b" / "t.parquet")
    assert read_table(tmp_path / "a" / "b" / "t.parquet").num_rows == 4


def test_stdin_and_stdout_through_a_real_pipe(tmp_path):
    write_table(_table(), tmp_path / "t.parquet")
    data = (tmp_path / "t.parquet").read_bytes()
    out = seral("info", "-", "--json", input=data, check=True)
    assert b'"rows": 4' in out.stdout
    empty = seral("info", "-", input=b"")
    assert empty.returncode == 2 and b"no table on standard input" in empty.stderr
