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
    env = {**(env or os.environ), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "seraltools", *map(str, args)], input=input,
                          capture_output=True, env=env, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"seral {' '.join(map(str, args))} exited {proc.returncode}: {proc.stderr.decode()}")
    return proc
