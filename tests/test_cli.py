"""The command line: every tool listed, exit codes, one-line errors, pipes, Ctrl-C."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from seraltools.table import feature_matrix, metadata, read_table
from tests.conftest import ROOT, seral

TOOLS = ["extract", "train-cpc", "reduce", "cluster-speakers", "pretrain", "mal-select", "cluster-labels", "evaluate",
         "info"]


def test_help_lists_every_tool(cli):
    out = cli("--help")
    assert out.exit_code == 0
    for t in TOOLS:
        assert t in out.output
    sub = cli("evaluate", "--help")
    for t in ("al", "clusters", "ser"):
        assert t in sub.output


def test_every_tool_of_the_papers_is_there(cli):
    out = cli("--help")
    for name in ("extract", "train-cpc", "reduce", "cluster-speakers", "pretrain", "mal-select", "evaluate"):
        assert name in out.stdout
    assert "ser" in cli("evaluate", "--help").stdout


def test_version_and_module_entry_point():
    proc = seral("--version", check=True)
    assert proc.stdout.decode().startswith("seral 0.")


def test_extract_manifest_gives_600_dims_labels_and_history(cli, synth_dir, tmp_path):
    out = cli("extract", "--feat", "logmel", synth_dir / "manifest.csv", tmp_path / "f.parquet")
    assert out.exit_code == 0, out.stderr
    assert "8 of 8 utterances" in out.stderr
    t = read_table(tmp_path / "f.parquet", need_features=True)
    assert t.num_rows == 8 and feature_matrix(t).shape == (8, 600)
    assert t.column_names == ["id", "path", "speaker", "emotion", "valence", "arousal", "corpus", "duration", "features"]
    assert sorted(set(t.column("emotion").to_pylist())) == ["anger", "sadness"]
    meta = metadata(t)
    assert meta["feature"] == "logmel" and meta["dim"] == 600
    (entry,) = meta["history"]
    assert entry["tool"] == "extract" and entry["parameters"]["config"]["frontend"]["n_mels"] == 40
    assert any("audio_fingerprint" in i for i in entry["inputs"])


def test_extract_directory_uses_file_name_labels(cli, synth_dir, tmp_path):
    out = cli("extract", synth_dir, tmp_path / "f.parquet", "-q")
    assert out.exit_code == 0, out.stderr
    t = read_table(tmp_path / "f.parquet")
    assert t.column("corpus").to_pylist() == ["synthetic"] * 8
    assert out.stderr == ""  # --quiet


def test_workers_and_reruns_give_identical_vectors(cli, synth_dir, tmp_path):
    for name, workers in [("a", 1), ("b", 2), ("c", 1)]:
        assert cli("extract", synth_dir, tmp_path / f"{name}.parquet", "-j", workers, "-q").exit_code == 0
    a, b, c = (read_table(tmp_path / f"{n}.parquet") for n in "abc")
    np.testing.assert_array_equal(feature_matrix(a), feature_matrix(b))
    np.testing.assert_array_equal(feature_matrix(a), feature_matrix(c))
    assert a.column("id").to_pylist() == b.column("id").to_pylist()


def _broken_corpus(root: Path, synth_dir: Path) -> Path:
    d = root / "corpus"
    d.mkdir()
    for p in sorted(synth_dir.glob("*.wav"))[:3]:
        (d / p.name).write_bytes(p.read_bytes())
    (d / "s09_anger_00.wav").write_text("not audio at all")
    sf.write(d / "s09_anger_01.wav", np.zeros(300), 16000)  # shorter than one 30 ms frame
    return d


def test_bad_file_stops_with_one_line_error_and_no_output(synth_dir, tmp_path):
    d = _broken_corpus(tmp_path, synth_dir)
    proc = seral("extract", d, tmp_path / "out.parquet", "-j", 1)
    assert proc.returncode == 2
    err = proc.stderr.decode().strip()
    assert len(err.splitlines()) == 1 and err.startswith("seral extract: error: ")
    assert "s09_anger_00.wav" in err and "--on-error skip" in err
    assert not (tmp_path / "out.parquet").exists()


def test_on_error_skip_lists_files_and_counts(cli, synth_dir, tmp_path):
    d = _broken_corpus(tmp_path, synth_dir)
    out = cli("extract", d, tmp_path / "out.parquet", "--on-error", "skip", "-j", 2)
    assert out.exit_code == 0, out.stderr
    assert "skipped" in out.stderr and "s09_anger_00.wav" in out.stderr
    assert "shorter than one 30 ms frame" in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("seral extract: 3 of 5 utterances")
    t = read_table(tmp_path / "out.parquet")
    assert t.num_rows == 3
    assert sorted(Path(s["path"]).name for s in metadata(t)["skipped"]) == ["s09_anger_00.wav", "s09_anger_01.wav"]
    info = cli("info", tmp_path / "out.parquet")
    assert "skipped   2 files" in info.output


def test_manifest_with_missing_file_names_the_row(cli, synth_dir, tmp_path):
    rows = list(csv.reader(open(synth_dir / "manifest.csv")))
    for r in rows[1:]:
        r[1] = str(synth_dir / r[1])  # the copy lives elsewhere: absolute paths
    rows[2][1] = str(synth_dir / "gone.wav")
    with open(tmp_path / "m.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    out = cli("extract", tmp_path / "m.csv", tmp_path / "o.parquet")
    assert out.exit_code == 2 and "row 2" in out.stderr and "gone.wav" in out.stderr
    skip = cli("extract", tmp_path / "m.csv", tmp_path / "o.parquet", "--on-error", "skip")
    assert skip.exit_code == 0 and "7 of 8 utterances" in skip.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["extract", "--corpus", "iemocap", "x", "y"], "iemocap"),
        (["extract", "nowhere/", "out.parquet"], "nowhere/: no such file or directory"),
        (["info", "missing.parquet"], "missing.parquet: no such file"),
        (["extract", "--workers", "-3", "a", "b"], "--workers"),
        (["extract", "only-one-argument"], "Missing argument"),
        (["extract", "--no-such-option", "a", "b"], "--no-such-option"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, message, tmp_path):
    proc = seral(*args, cwd=tmp_path)
    assert proc.returncode == 2
    err = proc.stderr.decode().strip()
    assert len(err.splitlines()) == 1 and message in err and ": error: " in err


def test_info_rejects_table_without_id(cli, tmp_path):
    import pyarrow as pa

    pq.write_table(pa.table({"x": [1, 2]}), tmp_path / "t.parquet")
    out = cli("info", tmp_path / "t.parquet")
    assert out.exit_code == 2 and "no 'id' column" in out.stderr


def test_pipe_extract_to_info(synth_dir):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    extract = subprocess.Popen([sys.executable, "-m", "seraltools", "extract", str(synth_dir), "-", "-q"],
                               stdout=subprocess.PIPE, env=env)
    info = subprocess.run([sys.executable, "-m", "seraltools", "info", "-"], stdin=extract.stdout,
                          capture_output=True, env=env)
    extract.stdout.close()
    assert extract.wait() == 0 and info.returncode == 0, info.stderr
    out = info.stdout.decode()
    assert "rows      8" in out and "logmel (600 dims)" in out and "anger 4, sadness 4" in out


def test_info_summarises_labels_and_history(cli, synth_dir, tmp_path):
    cli("extract", synth_dir / "manifest.csv", tmp_path / "f.parquet", "-q")
    out = cli("info", tmp_path / "f.parquet").output
    assert "speaker        s01 4, s02 4" in out
    assert "1. extract" in out
    assert '"history"' in cli("info", "--json", tmp_path / "f.parquet").output


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_leaves_no_output(synth_dir, tmp_path, workers):
    wavs = sorted(synth_dir.glob("*.wav"))
    with open(tmp_path / "big.csv", "w") as f:
        f.write("id,path\n")
        for i in range(6000):
            f.write(f"u{i},{wavs[i % len(wavs)]}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "out.parquet"
    proc = subprocess.Popen([sys.executable, "-m", "seraltools", "extract", str(tmp_path / "big.csv"), str(out),
                             "-j", str(workers)], stderr=subprocess.PIPE, env=env)
    time.sleep(2.0)
    assert proc.poll() is None, "extraction finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err.decode()
    assert b"interrupted" in err and b"Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv"]


def test_synth_is_deterministic(tmp_path, cli):
    for d in ("a", "b"):
        assert cli("synth", tmp_path / d, "--speakers", 1, "--per-cell", 1, "--seed", 3, "-q").exit_code == 0
    a = sorted((tmp_path / "a").iterdir())
    assert [p.name for p in a] == [p.name for p in sorted((tmp_path / "b").iterdir())]
    assert all(p.read_bytes() == (tmp_path / "b" / p.name).read_bytes() for p in a)
    assert len(a) == 5  # 4 emotions + manifest


def test_extract_from_a_seral_table_replaces_features_and_keeps_columns_and_history(cli, synth_dir, tmp_path):
    import pyarrow as pa

    from seraltools.table import write_table

    cli("extract", synth_dir / "manifest.csv", tmp_path / "a.parquet", "-q")
    a = read_table(tmp_path / "a.parquet")
    a = a.add_column(2, "session", pa.array(list(range(a.num_rows)), pa.int32()))
    a = a.set_column(a.column_names.index("features"), "features",
                     pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(a.num_rows * 2, np.float32)), 2))
    write_table(a, tmp_path / "manifest.parquet")
    out = cli("extract", tmp_path / "manifest.parquet", tmp_path / "b.parquet", "-q")
    assert out.exit_code == 0, out.stderr
    b = read_table(tmp_path / "b.parquet")
    assert b.column_names == a.column_names
    assert b.column("session").to_pylist() == list(range(a.num_rows))
    assert feature_matrix(b).shape == (a.num_rows, 600)
    assert [h["tool"] for h in metadata(b)["history"]] == ["extract", "extract"]


def test_options_a_feature_does_not_take_are_refused(cli, synth_dir, tmp_path):
    (tmp_path / "m.safetensors").write_bytes(b"x")
    out = cli("extract", "--feat", "logmel", "--model", tmp_path / "m.safetensors", synth_dir, tmp_path / "o.parquet")
    assert out.exit_code == 2 and "--feat logmel takes no --model" in out.stderr
    assert not (tmp_path / "o.parquet").exists()
