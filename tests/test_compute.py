"""seraltools.compute: CPUs, workers, torch threads, device; the core without torch."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from seraltools import compute
from seraltools.errors import BadInput
from tests.conftest import ROOT


def test_available_cpus_follow_affinity_slurm_and_the_cgroup_quota(monkeypatch, tmp_path):
    monkeypatch.setattr(compute, "_affinity", lambda: {0, 1, 2, 3, 4, 5, 6, 7})
    monkeypatch.setattr(compute, "_cgroup_quota", lambda: None)
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    assert compute.available_cpus() == 8
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "3")
    assert compute.available_cpus() == 3
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "junk")
    assert compute.available_cpus() == 8
    monkeypatch.setattr(compute, "_cgroup_quota", lambda: 1.5)
    assert compute.available_cpus() == 2
    assert compute.cpu_workers(0) == 2 and compute.cpu_workers(5) == 5
    with pytest.raises(BadInput, match="--workers -1"):
        compute.cpu_workers(-1)


def test_cgroup_quota_reads_cpu_max(tmp_path):
    f = tmp_path / "cpu.max"
    f.write_text("250000 100000\n")
    assert compute._cgroup_quota(str(f)) == 2.5
    f.write_text("max 100000\n")
    assert compute._cgroup_quota(str(f)) is None
    assert compute._cgroup_quota(str(tmp_path / "absent")) is None


def test_idle_cpus_counts_only_this_process_cpus(monkeypatch):
    # cpu0 idle for 90 of 100 ticks, cpu1 for 10 of 100, cpu2 (not ours) for all of them
    snapshots = iter([{0: (0, 0), 1: (0, 0), 2: (0, 0)}, {0: (90, 100), 1: (10, 100), 2: (100, 100)}])
    monkeypatch.setattr(compute, "_cpu_times", lambda: next(snapshots))
    monkeypatch.setattr(compute, "_affinity", lambda: {0, 1})
    assert compute.idle_cpus(interval=0) == pytest.approx(1.0)


def test_cpu_times_parses_proc_stat(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  10 0 10 80 0 0 0 0 0 0\ncpu0 1 2 3 40 4 0 0 0 0 0\ncpu1 5 0 5 40 0 0 0 0 0 0\nintr 1 2\n")
    assert compute._cpu_times(str(stat)) == {0: (44, 50), 1: (40, 50)}


def test_torch_threads_policy(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(compute, "available_cpus", lambda: 8)
    monkeypatch.setattr(compute, "idle_cpus", lambda interval=0.1: 8.0)
    assert compute.torch_threads(3) == 3  # given
    assert compute.torch_threads() == 8  # quiet machine: every CPU
    assert compute.torch_threads(workers=4) == 2  # the CPUs shared among the workers
    monkeypatch.setattr(compute, "idle_cpus", lambda interval=0.1: 1.2)
    assert compute.torch_threads() == 1  # busy machine: what is idle
    monkeypatch.setattr(compute, "idle_cpus", lambda interval=0.1: 0.0)
    assert compute.torch_threads() == 1  # never 0
    monkeypatch.setattr(compute, "idle_cpus", lambda interval=0.1: None)
    assert compute.torch_threads() == 8  # cannot tell: the CPUs available
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert compute.torch_threads() == 2  # the user's setting wins
    with pytest.raises(BadInput, match="--threads -1"):
        compute.torch_threads(-1)


def test_limited_threads_restores_torch_threads():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    with compute.limited_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_resolve_device():
    pytest.importorskip("torch")
    assert compute.resolve_device("cpu") == "cpu"
    assert compute.resolve_device("auto") in ("cpu", "cuda")
    with pytest.raises(BadInput, match="choose auto, cpu or cuda"):
        compute.resolve_device("tpu")


# ---------------------------------------------------------------- the core install: no torch

NO_TORCH = """
import sys

class NoTorch:  # `import torch` fails as where torch is not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchaudio"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NoTorch())
from seraltools.cli import main
sys.argv = ["seral", *sys.argv[1:]]
try:
    main()
finally:
    assert "torch" not in sys.modules
"""


def seral_without_torch(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", NO_TORCH, *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


def test_the_core_tools_run_without_torch(synth_4x4, tmp_path):
    feats, queue = tmp_path / "logmel.parquet", tmp_path / "queue.parquet"
    for args in (["extract", "--feat", "logmel", "-q", synth_4x4 / "manifest.csv", feats],
                 ["reduce", "--method", "pca", "--dim", "4", "-q", feats, tmp_path / "pca.parquet"],
                 ["mal-select", "--budget", "5", "-q", feats, queue],
                 ["evaluate", "al", "--select", feats, "--classify", feats, "--budgets", "10%,50%", "--repeats", "1",
                  "-q", "--workers", "1", tmp_path / "al.parquet"],
                 ["info", queue]):
        proc = seral_without_torch(*args)
        assert proc.returncode == 0, (args, proc.stderr)


@pytest.mark.parametrize("args, what", [
    (["extract", "--feat", "cpc", "--model", "m.safetensors"], "--feat cpc"),
    (["extract", "--feat", "dvector"], "seraltools[dvector]' && pip install --no-deps resemblyzer"),
    (["extract", "--feat", "ecapa", "--model", "."], "seraltools[ecapa]"),
    (["train-cpc"], "train-cpc"),
    (["reduce", "--method", "ae"], "reduce --method ae"),
])
def test_torch_tools_without_torch_say_what_to_install(synth_dir, tmp_path, args, what):
    model = tmp_path / "m.safetensors"
    model.write_bytes(b"")
    args = [str(model) if a == "m.safetensors" else a for a in args]
    if args[0] == "reduce":
        feats = tmp_path / "f.parquet"
        assert seral_without_torch("extract", "-q", synth_dir, feats).returncode == 0
        args += [feats, tmp_path / "out.parquet"]
    elif args[0] == "train-cpc":
        args += [synth_dir, tmp_path / "cpc.safetensors"]
    else:
        args += [synth_dir, tmp_path / "out.parquet"]
    proc = seral_without_torch(*args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'seraltools[" in lines[0], proc.stderr
    if what:
        assert what in lines[0]
    assert not (tmp_path / "out.parquet").exists()


# ---------------------------------------------------------------- dependencies that must work when installed


def test_slaney_filterbank_is_librosas_and_torchaudios():
    from seraltools.frontend import triangular_filterbank

    ours = triangular_filterbank(201, 0.0, 8000.0, 40, 16000, scale="slaney", norm="slaney")
    librosa = pytest.importorskip("librosa")
    np.testing.assert_allclose(ours, librosa.filters.mel(sr=16000, n_fft=400, n_mels=40).T, rtol=1e-5, atol=1e-7)
    if importlib.util.find_spec("torchaudio"):
        import torchaudio

        theirs = torchaudio.functional.melscale_fbanks(201, 0.0, 8000.0, 40, 16000, norm="slaney", mel_scale="slaney")
        np.testing.assert_allclose(ours, theirs.double().numpy(), rtol=1e-5, atol=1e-7)


def test_htk_filterbank_unchanged():
    from seraltools.frontend import DEFAULT, mel_filterbank

    fb = mel_filterbank(DEFAULT)
    assert fb.shape == (DEFAULT.n_fft // 2 + 1, DEFAULT.n_mels) and fb.max() <= 1.0
    if importlib.util.find_spec("torchaudio"):
        import torchaudio

        theirs = torchaudio.functional.melscale_fbanks(DEFAULT.n_fft // 2 + 1, DEFAULT.f_min, DEFAULT.f_max,
                                                       DEFAULT.n_mels, DEFAULT.sample_rate)
        np.testing.assert_allclose(fb, theirs.double().numpy(), atol=1e-5)  # torchaudio computes in float32


@pytest.mark.skipif(not importlib.util.find_spec("torchaudio"), reason="torchaudio is not installed (only SpeechBrain needs it)")
def test_installed_torchaudio_loads_its_compiled_library():
    """The torch/torchaudio pair the install resolved works, compiled parts included
    (torchaudio >= 2.9 loads them through torch.ops, not as Python extension modules)."""
    import torch
    import torchaudio._extension as ext

    assert ext._IS_TORCHAUDIO_EXT_AVAILABLE
    assert isinstance(torch.ops._torchaudio.cuda_version(), (int, type(None)))


@pytest.mark.skipif(not importlib.util.find_spec("webrtcvad"), reason="the dvector extra is not installed")
def test_webrtcvad_public_api():
    import webrtcvad

    vad = webrtcvad.Vad(3)
    assert vad.is_speech(b"\0\0" * 480, 16000) is False
