"""Never destroy, never corrupt (issue #18, part): output paths and non-finite data."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
import soundfile as sf

from seraltools.audio import load_audio
from seraltools.errors import BadInput
from seraltools.table import atomic_path, check_output, feature_matrix, read_table, set_features, write_table


def _table(n=4, dim=3):
    return set_features(pa.table({"id": [f"u{i}" for i in range(n)]}), np.arange(n * dim, dtype=np.float32).reshape(n, dim))


def test_a_symlinked_output_writes_the_file_it_points_to(tmp_path):
    real = tmp_path / "real.parquet"
    write_table(_table(2), real)
    link = tmp_path / "link.parquet"
    link.symlink_to(real)
    write_table(_table(5), link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert read_table(real).num_rows == 5


def test_a_device_or_fifo_output_is_written_through_not_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen([sys.executable, "-c", f"import sys; sys.stdout.write(str(len(open({str(fifo)!r}, 'rb').read())))"],
                              stdout=subprocess.PIPE, text=True)
    write_table(_table(3), fifo)
    size = int(reader.communicate(timeout=30)[0])
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and size > 100
    before = os.stat(os.devnull)
    write_table(_table(3), os.devnull)
    after = os.stat(os.devnull)
    assert stat.S_ISCHR(after.st_mode) and after.st_mode == before.st_mode


def test_modes_follow_the_umask_and_an_existing_file_keeps_its_mode(tmp_path):
    old = os.umask(0o022)
    try:
        write_table(_table(), tmp_path / "new.parquet")
        assert stat.S_IMODE(os.stat(tmp_path / "new.parquet").st_mode) == 0o644
        os.chmod(tmp_path / "new.parquet", 0o640)
        write_table(_table(), tmp_path / "new.parquet")
        assert stat.S_IMODE(os.stat(tmp_path / "new.parquet").st_mode) == 0o640
    finally:
        os.umask(old)


def test_a_killed_writes_leftover_is_removed_by_the_next_write(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftover = tmp_path / f".out.parquet.{dead.pid}.abc123.tmp"
    leftover.write_bytes(b"half a table")
    alive = tmp_path / f".out.parquet.{os.getpid()}.def456.tmp"  # a write in progress: kept
    alive.write_bytes(b"")
    with atomic_path(tmp_path / "out.parquet") as tmp:
        open(tmp, "wb").close()
    assert not leftover.exists() and alive.exists()


def test_output_problems_are_found_before_the_work(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "dir").mkdir()
    for path, message in [(tmp_path / "dir", "is a directory"), (tmp_path / "file" / "out.parquet", "is a file"),
                          ("/proc/out.parquet", "cannot write in /proc")]:
        with pytest.raises(BadInput, match=message):
            check_output(path)
    check_output(tmp_path / "new" / "deeper" / "out.parquet")  # missing directories are created later
    check_output("-")
    check_output(os.devnull)
    check_output(tmp_path / "dir", directory_ok=True)


def test_cli_refuses_an_unwritable_output_at_once(cli, tmp_path):
    (tmp_path / "file").write_text("x")
    out = cli("synth", tmp_path / "file" / "corpus")
    assert out.exit_code == 2 and "is a file, not a directory" in out.stderr
    out = cli("synth", tmp_path / "file")
    assert out.exit_code == 2 and "is a file, not a directory" in out.stderr
    write_table(_table(30, 4), tmp_path / "f.parquet")
    out = cli("mal-select", "--method", "mal", tmp_path / "f.parquet", "/proc/q.parquet")
    assert out.exit_code == 2 and "cannot write in /proc" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_non_finite_audio_is_bad_input(tmp_path, cli):
    x = np.sin(np.linspace(0, 300, 16000)).astype(np.float32)
    good = tmp_path / "good.wav"
    sf.write(good, x, 16000, subtype="FLOAT")
    x[500] = np.nan
    bad = tmp_path / "bad.wav"
    sf.write(bad, x, 16000, subtype="FLOAT")
    with pytest.raises(BadInput, match="NaN or infinite samples"):
        load_audio(bad)
    out = cli("extract", bad, tmp_path / "o.parquet")
    assert out.exit_code == 2 and "bad.wav" in out.stderr and not (tmp_path / "o.parquet").exists()
    out = cli("extract", "--on-error", "skip", "-j", 1, good, bad, tmp_path / "o.parquet")
    assert out.exit_code == 0, out.stderr
    t = read_table(tmp_path / "o.parquet")
    assert t.num_rows == 1 and np.isfinite(feature_matrix(t)).all()


def test_tables_with_non_finite_features_are_refused_naming_the_row():
    x = np.ones((3, 2), np.float32)
    x[1, 0] = np.inf
    t = set_features(pa.table({"id": ["a", "b", "c"]}), x)
    with pytest.raises(BadInput, match=r"row 2 \(id 'b'\) holds NaN or infinite features"):
        feature_matrix(t, "t.parquet")


def test_binary_labels_in_words_become_the_contracts_int8(cli, tmp_path):
    from tests.test_mal import _feature_table, blobs

    x, y = blobs(n_classes=3, sizes=[10, 10, 10])
    path = _feature_table(tmp_path, x, y)
    assert cli("mal-select", "--method", "mal", "--k", 3, path, tmp_path / "q.parquet").exit_code == 0
    q = read_table(tmp_path / "q.parquet")
    medoids = [i for i, m in zip(q.column("id").to_pylist(), q.column("is_medoid").to_pylist()) if m]
    (tmp_path / "labels.csv").write_text("id,valence,arousal\n" + "".join(
        f"{i},{v},{a}\n" for i, v, a in zip(medoids, ["high", "negative", "positive"], ["low", "high", "1"])))
    out = cli("cluster-labels", tmp_path / "q.parquet", tmp_path / "labels.csv", tmp_path / "l.parquet")
    assert out.exit_code == 2 and "valence 'high' is not a binary label" in out.stderr
    (tmp_path / "labels.csv").write_text("id,valence,arousal\n" + "".join(
        f"{i},{v},{a}\n" for i, v, a in zip(medoids, ["positive", "negative", "1"], ["low", "high", "0"])))
    out = cli("cluster-labels", tmp_path / "q.parquet", tmp_path / "labels.csv", tmp_path / "l.parquet")
    assert out.exit_code == 0, out.stderr
    t = read_table(tmp_path / "l.parquet")
    assert t.schema.field("valence").type == pa.int8() and set(t.column("valence").to_pylist()) == {0, 1}
    assert cli("info", tmp_path / "l.parquet").exit_code == 0


def test_non_finite_budgets_are_bad_input(cli, tmp_path):
    write_table(_table(30, 4), tmp_path / "f.parquet")
    for budget in ("nan", "inf", "-inf%"):
        out = cli("mal-select", "--method", "mal", "--budget", budget, tmp_path / "f.parquet", tmp_path / "q.parquet")
        assert out.exit_code == 2 and "--budget" in out.stderr
    out = cli("evaluate", "al", "--method", "mal", "--select", tmp_path / "f.parquet", "--classify", tmp_path / "f.parquet",
              "--budgets", "1,nan", tmp_path / "al.parquet")
    assert out.exit_code == 2 and "--budgets" in out.stderr


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")
@pytest.mark.parametrize("sig", [9, 15])
def test_extract_workers_die_with_their_parent(sig):
    """extract's pool, workers busy: killing the parent (SIGKILL or SIGTERM) leaves no orphan
    (without the parent-death signal the workers sleep on, and in a real run one stays
    blocked forever)."""
    import time

    code = ("import multiprocessing, os, time\n"
            "from seraltools.features.runner import init_worker\n"
            "p = multiprocessing.Pool(2, initializer=init_worker, initargs=('logmel', {}, os.getpid(), 1))\n"
            "p.map_async(time.sleep, [60, 60], chunksize=1)\n"  # both workers busy, as in a run
            "time.sleep(0.5)\n"
            "print(' '.join(str(w.pid) for w in p._pool), flush=True)\n"
            "time.sleep(120)\n")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    workers = [int(p) for p in parent.stdout.readline().split()]
    assert len(workers) == 2 and all(_alive(w) for w in workers)
    os.kill(parent.pid, sig)
    parent.wait(timeout=30)
    deadline = time.monotonic() + 20
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers)


def test_a_model_failing_on_one_file_names_it_and_obeys_skip(monkeypatch, synth_dir):
    """Any exception an extractor raises on one file becomes that file's one-line error."""
    import re

    from seraltools.audio import load_audio
    from seraltools.corpora import collect_inputs
    from seraltools.errors import BadInput
    from seraltools.tools.extract import extract
    from seraltools.features.logmel import LogMelFunctionals

    utts, _ = collect_inputs([str(synth_dir / "manifest.csv")], "auto")
    victim = utts.column("path")[3].as_py()
    bad = load_audio(victim).samples
    original = LogMelFunctionals.__call__

    def flaky(self, samples):
        if len(samples) == len(bad) and np.array_equal(samples, bad):
            raise RuntimeError("boom")
        return original(self, samples)

    monkeypatch.setattr(LogMelFunctionals, "__call__", flaky)
    with pytest.raises(BadInput, match=re.escape(f"{victim}: --feat logmel failed on this file (RuntimeError: boom)")):
        extract(utts, workers=1)
    done = extract(utts, workers=1, on_error="skip")
    assert [s["path"] for s in done.skipped] == [victim] and done.table.num_rows == utts.num_rows - 1
