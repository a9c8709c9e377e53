"""The examples run end to end (on the small synthetic corpus)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seraltools.table import read_table
from tests.conftest import ROOT


def _env(**extra):
    # `seral` of this interpreter's environment first on PATH
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(ROOT), **extra}


def _seral_on_path():
    if not shutil.which("seral", path=_env()["PATH"]):
        pytest.skip("the seral console script is not installed (pip install -e .)")


def test_pipeline_script_goes_from_audio_to_the_figure(synth_4x4, tmp_path):
    _seral_on_path()
    proc = subprocess.run(["bash", str(ROOT / "examples" / "pipeline.sh")], capture_output=True, text=True,
                          env=_env(CORPUS=str(synth_4x4), OUT=str(tmp_path / "out"), REPEATS="1"))
    assert proc.returncode == 0, proc.stderr
    assert read_table(tmp_path / "out" / "logmel.parquet").num_rows == 32
    assert "logmel (600 dims)" in proc.stdout
    assert read_table(tmp_path / "out" / "queue.parquet").column("rank").null_count == 32 - 3
    assert read_table(tmp_path / "out" / "al.parquet").num_rows > 0
    assert (tmp_path / "out" / "al.png").stat().st_size > 10_000


def test_speaker_pipeline_script_goes_from_audio_to_uar(tmp_path):
    pytest.importorskip("resemblyzer", reason="d-vectors need resemblyzer's weights: pip install '.[dvector]'")
    _seral_on_path()
    env = _env(OUT=str(tmp_path / "out"), STEPS="2", SEEDS="1", EPOCHS="1", FOLDS="3", LR="1e-4",
               ARCH="--conv-channels 16 --width 32 --layers 1 --heads 2 --segment 1")
    proc = subprocess.run(["bash", str(ROOT / "examples" / "speaker_pipeline.sh")], capture_output=True, text=True,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    assert read_table(out / "clusters-k4-metrics.parquet").num_rows == 6  # 5 speakers and the mean
    assert (out / "map.png").stat().st_size > 10_000
    ser = read_table(out / "ser.parquet")
    assert sorted(set(ser.column("condition").to_pylist())) == ["contrastive", "mtl", "no pretraining"]
    assert ser.num_rows == 3 * 3


def test_examples_makefile(synth_4x4, tmp_path):
    _seral_on_path()
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    args = ["make", "-f", str(ROOT / "examples" / "Makefile"), f"CORPUS={synth_4x4}", f"OUT={tmp_path / 'out'}",
            "REPEATS=1"]
    proc = subprocess.run(args, capture_output=True, text=True, env=_env())
    assert proc.returncode == 0, proc.stderr
    assert read_table(tmp_path / "out" / "logmel.parquet").num_rows == 32
    assert (tmp_path / "out" / "al.png").exists() and (tmp_path / "out" / "queue.parquet").exists()
    again = subprocess.run(args, capture_output=True, text=True, env=_env())
    assert "Nothing to be done" in again.stdout or "extract" not in again.stdout


def _annotate_round(env, out):
    """Run examples/annotate.sh until its page is up, answer every queued utterance over
    HTTP as a person would with the page, then press Ctrl-C (SIGINT to the process group)."""
    import http.client
    import json
    import re
    import signal

    proc = subprocess.Popen(["bash", str(ROOT / "examples" / "annotate.sh")], stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env, start_new_session=True)
    log = []
    for line in proc.stderr:
        log.append(line)
        m = re.search(r"open http://127\.0\.0\.1:(\d+)/", line)
        if m:
            break
    assert m, "".join(log)
    port = int(m.group(1))
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/api/state")
    items = json.loads(c.getresponse().read())["items"]
    choices = ["anger", "happiness", "neutral", "sadness"]
    for i, it in enumerate(items):
        c.request("POST", "/api/answer", body=json.dumps({"annotator": "annotator", "item": i,  # blind: positions
                                                          "values": {"emotion": choices[i % 4]}}),
                  headers={"Content-Type": "application/json"})
        assert c.getresponse().read() and True
    c.close()
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the terminal
    stdout, rest = proc.communicate(timeout=120)
    assert proc.returncode == 0, "".join(log) + rest
    import csv

    with open(env.get("LABELS") or out / "labels.csv", newline="") as f:  # the ids answered in this round
        rows = list(csv.DictReader(f))
    return [r["id"] for r in rows[len(rows) - len(items):]], stdout


def test_annotate_script_runs_two_rounds(tmp_path):
    _seral_on_path()
    env = _env(OUT=str(tmp_path / "out"), PORT="0", BUDGET="8")
    first, stdout = _annotate_round(env, tmp_path / "out")
    assert len(first) == 8 and "predictions for every utterance" in stdout
    predicted = read_table(tmp_path / "out" / "predicted.parquet")
    assert predicted.column("emotion_labelled").to_pylist().count(True) >= 8
    second, _ = _annotate_round(env, tmp_path / "out")  # the next round: only new utterances
    assert len(second) == 8 and not set(first) & set(second)
