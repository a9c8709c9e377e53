"""--engine ray: the same output as the local engine, a dead worker's batch retried."""

from __future__ import annotations

import os
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

from seraltools.table import feature_matrix, read_table

from .conftest import seral


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="--engine ray needs Ray: pip install '.[ray]'")
    from seraltools.engines import ray_init

    ray_init(None, 2)
    yield ray
    ray.shutdown()


def test_extract_with_ray_equals_the_local_run(cli, ray_local, synth_4x4, tmp_path):
    m = synth_4x4 / "manifest.csv"
    assert cli("extract", "-q", "-j", 2, m, tmp_path / "local.parquet").exit_code == 0
    res = cli("extract", "-q", "-j", 2, "--engine", "ray", m, tmp_path / "ray.parquet")
    assert res.exit_code == 0, res.stderr
    a, b = read_table(tmp_path / "local.parquet"), read_table(tmp_path / "ray.parquet")
    assert a.column("id").to_pylist() == b.column("id").to_pylist()
    np.testing.assert_allclose(feature_matrix(a), feature_matrix(b), rtol=1e-6, atol=1e-6)
    assert a.drop(["features"]).equals(b.drop(["features"]))


def test_extract_with_ray_reads_spans(cli, ray_local, synth_dir, tmp_path):
    """Issue #27 W8: a manifest with start/end through Ray equals the local run."""
    wavs = sorted(synth_dir.glob("*.wav"))[:3]
    m = tmp_path / "spans.csv"
    m.write_text("id,path,start,end\n" + "".join(f"u{i},{w},0.1,{0.6 + 0.1 * i}\n" for i, w in enumerate(wavs)))
    assert cli("extract", "-q", "-j", 1, m, tmp_path / "local.parquet").exit_code == 0
    res = cli("extract", "-q", "-j", 2, "--engine", "ray", m, tmp_path / "ray.parquet")
    assert res.exit_code == 0, res.stderr
    a, b = read_table(tmp_path / "local.parquet"), read_table(tmp_path / "ray.parquet")
    np.testing.assert_allclose(feature_matrix(a), feature_matrix(b), rtol=1e-6, atol=1e-6)
    assert a.column("duration").to_pylist() == b.column("duration").to_pylist()


def test_evaluate_al_with_ray_equals_the_local_run(cli, ray_local, synth_4x4, tmp_path):
    m = synth_4x4 / "manifest.csv"
    t = tmp_path / "lm.parquet"
    assert cli("extract", "-q", m, t).exit_code == 0
    args = ["evaluate", "al", "-q", "--folds", 2, "--repeats", 1, "--budgets", "10%,50%", "-s", t, "--classify", t]
    local, ray = cli(*args, tmp_path / "a.parquet"), cli(*args, "--engine", "ray", tmp_path / "b.parquet")
    assert local.exit_code == ray.exit_code == 0, ray.stderr
    assert local.stdout == ray.stdout
    assert pq.read_table(tmp_path / "a.parquet").equals(pq.read_table(tmp_path / "b.parquet"))


# Imported by every Python process started with this directory on PYTHONPATH (Ray's workers
# inherit it): the first FileExtractor call of any worker kills its process, once.
KILL_ONCE = """
import importlib.util, os, sys

class _Killer:
    def find_spec(self, name, path=None, target=None):
        if name != "seraltools.features.runner":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            call = module.FileExtractor.__call__

            def dying(self, paths):
                if not os.path.exists(MARKER):
                    open(MARKER, "w").close()
                    os._exit(1)
                return call(self, paths)

            module.FileExtractor.__call__ = dying

        spec.loader.exec_module = exec_module
        return spec

MARKER = %r
sys.meta_path.insert(0, _Killer())
"""


def test_a_killed_ray_worker_loses_and_duplicates_no_rows(synth_4x4, tmp_path):
    pytest.importorskip("ray", reason="--engine ray needs Ray: pip install '.[ray]'")
    marker = tmp_path / "killed"
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(KILL_ONCE % str(marker))
    env = {**os.environ, "PYTHONPATH": str(hook)}
    m = synth_4x4 / "manifest.csv"
    seral("extract", "-q", m, tmp_path / "local.parquet", check=True)
    proc = seral("extract", "-q", "-j", 2, "--engine", "ray", m, tmp_path / "ray.parquet", env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert marker.exists()  # a worker did die mid-batch
    a, b = read_table(tmp_path / "local.parquet"), read_table(tmp_path / "ray.parquet")
    assert b.column("id").to_pylist() == a.column("id").to_pylist()  # every row once, in order
    np.testing.assert_allclose(feature_matrix(a), feature_matrix(b), rtol=1e-6, atol=1e-6)


def test_engine_errors_are_one_line(cli, synth_dir, tmp_path, monkeypatch):
    res = cli("extract", "--address", "ray://x:10001", synth_dir, tmp_path / "o.parquet")
    assert res.exit_code == 2 and "--engine ray" in res.stderr
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    res = cli("extract", "--engine", "ray", synth_dir, tmp_path / "o.parquet")
    assert res.exit_code == 2 and "seraltools[ray]" in res.stderr
    assert not (tmp_path / "o.parquet").exists()
