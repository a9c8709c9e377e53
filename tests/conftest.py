"""Shared fixtures: a small synthetic corpus, EMO-DB when ../shared has it, CLI runners."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EMODB = ROOT.parent / "shared" / "corpora" / "emodb" / "wav"


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory) -> Path:
    """2 speakers x 2 emotions x 2 utterances of the synthetic corpus, with manifest.csv."""
    from seraltools.synth import make_corpus

    d = tmp_path_factory.mktemp("synth")
    make_corpus(d, speakers=2, emotions=("anger", "sadness"), per_cell=2, seed=7)
    return d


@pytest.fixture(scope="session")
def synth_4x4(tmp_path_factory) -> Path:
    """2 speakers x 4 emotions x 4 utterances: enough per class for 5-fold simulations."""
    from seraltools.synth import make_corpus

    d = tmp_path_factory.mktemp("synth4")
    make_corpus(d, speakers=2, per_cell=4, seed=11)
    return d


@pytest.fixture(scope="session")
def synth_3spk(tmp_path_factory):
    """3 speakers x 2 emotions x 3 utterances: enough for 3 speaker-independent folds."""
    from seraltools.synth import make_corpus

    d = tmp_path_factory.mktemp("synth3")
    make_corpus(d, speakers=3, emotions=("anger", "sadness"), per_cell=3, seed=5)
    return d


@pytest.fixture(scope="session")
def emodb() -> Path:
    if not EMODB.is_dir():
        pytest.skip(f"EMO-DB not found at {EMODB} (it lives in ../shared beside the checkout)")
    return EMODB


@pytest.fixture
def cli():
    """Run ``seral ARGS`` in-process; returns the result (exit_code, stdout, stderr)."""
    from typer.testing import CliRunner

    from seraltools.cli import app

    runner = CliRunner()

    def run(*args, input=None):
        return runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)

    return run


def seral(*args, input: bytes | None = None, check: bool = False, env: dict | None = None,
          **kw) -> subprocess.CompletedProcess:
    """Run ``python -m seraltools ARGS`` as a real process (pipes, exit codes, signals)."""
    extra = [env["PYTHONPATH"]] if env and env.get("PYTHONPATH") else []  # e.g. a test's sitecustomize
    env = {**(env or os.environ), "PYTHONPATH": os.pathsep.join([*extra, str(ROOT)])}
    proc = subprocess.run([sys.executable, "-m", "seraltools", *map(str, args)], input=input,
                          capture_output=True, env=env, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"seral {' '.join(map(str, args))} exited {proc.returncode}: {proc.stderr.decode()}")
    return proc


def tiny_wav2vec2(directory, norm: str = "layer", normalize: bool = True, layers: int = 2):
    """A randomly initialised wav2vec 2.0 (width 32), saved as transformers does (no download)."""
    import json

    transformers = pytest.importorskip("transformers", reason="needs transformers: pip install '.[ssl]'")
    import torch

    torch.manual_seed(0)
    cfg = transformers.Wav2Vec2Config(hidden_size=32, num_hidden_layers=layers, num_attention_heads=2,
                                      intermediate_size=64, conv_dim=(32, 32, 32), conv_stride=(5, 4, 2),
                                      conv_kernel=(10, 8, 4), num_conv_pos_embeddings=16,
                                      num_conv_pos_embedding_groups=4, feat_extract_norm=norm,
                                      do_stable_layer_norm=norm == "layer")
    model = transformers.Wav2Vec2Model(cfg)
    transformers.utils.logging.disable_progress_bar()
    model.save_pretrained(directory, safe_serialization=True)
    (Path(directory) / "preprocessor_config.json").write_text(
        json.dumps({"do_normalize": normalize, "sampling_rate": 16000}))
    return model.eval()
