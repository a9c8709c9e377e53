"""Fault injection (issue #27): one section per class of fault, each test failing before its fix.

Classes: outputs (same new path twice, shards, FIFOs, full disk, temp files), lying headers
(sample rates 1 Hz .. 10 MHz), encodings (non-UTF-8 names and files, control characters),
metadata bombs (malformed JSON, configs asking for huge sizes), wrong results
(manifest spans, duplicate ids, budgets), orphans (temp files of killed runs).
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from seraltools.table import metadata, read_table, set_features, write_table


def _features(path: Path, n: int = 24, dim: int = 6, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    t = pa.table({"id": [f"u{i:02d}" for i in range(n)], "speaker": [f"s{i % 3}" for i in range(n)],
                  "emotion": [("anger", "sadness")[i % 2] for i in range(n)],
                  "valence": pa.array([(i // 2) % 2 for i in range(n)], pa.int8()), "arousal": pa.array([i % 2 for i in range(n)], pa.int8())})
    write_table(set_features(t, rng.normal(size=(n, dim)).astype(np.float32)), path)
    return path


# =========================================================================== outputs (same path twice, shards, full disk)


def test_two_outputs_naming_the_same_new_file_are_refused(cli, tmp_path):
    feats = _features(tmp_path / "f.parquet")
    out = tmp_path / "x.parquet"
    res = cli("reduce", "--quiet", "--method", "pca", "--dim", 2, "--save-model", out, feats, out)
    assert res.exit_code == 2 and "x.parquet" in res.stderr and "both" in res.stderr
    assert not out.exists()
    # the same file by another spelling (.. and a symlinked directory) is the same file
    (tmp_path / "sub").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "sub")
    res = cli("reduce", "--quiet", "--method", "pca", "--dim", 2, "--save-model", tmp_path / "link" / "m.st",
              feats, tmp_path / "sub" / ".." / "sub" / "m.st")
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "sub" / "m.st").exists()


def test_evaluate_al_plot_and_results_on_one_new_file_are_refused(cli, tmp_path):
    feats = _features(tmp_path / "f.parquet")
    out = tmp_path / "r.parquet"
    res = cli("evaluate", "al", "--quiet", "--folds", 2, "--repeats", 1, "--budgets", "10%", "--select", feats,
              "--classify", feats, "--plot", out, out)
    assert res.exit_code == 2 and "r.parquet" in res.stderr
    assert not out.exists()


def test_shards_into_a_directory_named_without_a_slash_keep_every_part(cli, synth_dir, tmp_path):
    m = synth_dir / "manifest.csv"
    out = tmp_path / "out"
    for i in (1, 2):
        res = cli("extract", "--quiet", "--shard", f"{i}/2", m, out)
        assert res.exit_code == 0, res.stderr
    assert out.is_dir() and read_table(out).num_rows == 8
    # an existing part file given again for another shard is refused, not replaced
    part = tmp_path / "p.parquet"
    assert cli("extract", "--quiet", "--shard", "1/2", m, part).exit_code == 0
    res = cli("extract", "--quiet", "--shard", "2/2", m, part)
    assert res.exit_code == 2 and "holds shard 1/2" in res.stderr
    assert metadata(read_table(part))["history"][-1]["parameters"]["shard"] == "1/2"


def test_resume_refuses_a_part_made_from_other_inputs_or_another_feature(cli, synth_dir, synth_3spk, tmp_path):
    parts = tmp_path / "parts"
    assert cli("extract", "--quiet", "--shard", "1/2", synth_dir / "manifest.csv", f"{parts}/").exit_code == 0
    part = parts / "part-00001-of-00002.parquet"
    before = part.stat().st_mtime_ns
    res = cli("extract", "--shard", "1/2", "--resume", synth_3spk / "manifest.csv", f"{parts}/")
    assert res.exit_code == 2 and "other inputs" in res.stderr and "part-00001" in res.stderr
    res = cli("extract", "--feat", "egemaps", "--shard", "1/2", "--resume", synth_dir / "manifest.csv", f"{parts}/")
    assert res.exit_code == 2 and "--feat logmel" in res.stderr
    assert part.stat().st_mtime_ns == before
    res = cli("extract", "--shard", "1/2", "--resume", synth_dir / "manifest.csv", f"{parts}/")
    assert res.exit_code == 0 and "already written" in res.stderr and part.stat().st_mtime_ns == before


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"),
                                   OSError("IOError: [Errno 28] No space left on device. Detail: ...")])
def test_a_full_disk_is_one_line_exit_1_and_leaves_nothing(cli, tmp_path, monkeypatch, error):
    import seraltools.table as table

    feats = _features(tmp_path / "f.parquet")

    def full(t, where, *a, **k):
        Path(where).write_bytes(b"PAR1 half")
        raise error

    monkeypatch.setattr(table.pq, "write_table", full)
    res = cli("mal-select", "--quiet", feats, tmp_path / "q.parquet")
    assert res.exit_code == 1 and res.stderr.startswith("seral mal-select: error: disk full")
    assert len(res.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.parquet"]  # no output, no temporary file


# =========================================================================== lying headers (sample rates, long silence, memory)


def _lying_wav(path: Path, rate: int, seconds_at_16k: float = 1.0) -> Path:
    """A small PCM WAV file whose header claims ``rate`` Hz."""
    n = int(16000 * seconds_at_16k)
    x = (0.3 * np.sin(np.arange(n) * 0.1) * 32767).astype("<i2").tobytes()
    body = b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, 2 * rate, 2, 16) + b"data" + struct.pack("<I", len(x)) + x
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


@pytest.mark.parametrize("rate", [1, 999, 9_999_991])
def test_a_lying_sample_rate_is_refused_naming_the_file(cli, tmp_path, rate):
    from seraltools.audio import load_audio
    from seraltools.errors import BadInput

    bad = _lying_wav(tmp_path / f"r{rate}.wav", rate)
    with pytest.raises(BadInput, match=f"r{rate}.wav.*{rate:,} Hz"):
        load_audio(bad)
    res = cli("extract", "--quiet", bad, tmp_path / "o.parquet")
    assert res.exit_code == 2 and f"r{rate}.wav" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = cli("segment", "--quiet", bad, tmp_path / "s.csv")
    assert res.exit_code == 2 and f"r{rate}.wav" in res.stderr


def test_a_lying_sample_rate_is_skipped_under_on_error_skip(cli, synth_dir, tmp_path):
    bad = _lying_wav(tmp_path / "prime.wav", 9_999_991)
    good = sorted(synth_dir.glob("*.wav"))[0]
    res = cli("extract", "--on-error", "skip", "-j", 1, bad, good, tmp_path / "o.parquet")
    assert res.exit_code == 0 and "skipped" in res.stderr and "prime.wav" in res.stderr
    assert read_table(tmp_path / "o.parquet").num_rows == 1
    res = cli("segment", "--on-error", "skip", bad, good, tmp_path / "s.csv")
    assert res.exit_code == 0 and "prime.wav" in res.stderr


@pytest.mark.parametrize("kind", ["zeros", "near silence", "one click"])
def test_long_digital_silence_is_streamed_bitwise_and_never_held_whole(tmp_path, kind):
    """H3: a recording that is (almost) all digital silence went to logmel whole (its samples
    held: 576 MB for 60 min); it is now framed in a second pass, holding only log-mels (a
    quarter of the samples' bytes). Measured as the growth of the peak from 2 to 6 minutes:
    holding the samples whole grows it by at least their bytes."""
    import tracemalloc

    from seraltools.audio import AudioStream
    from seraltools.features.logmel import LogMelFunctionals

    feat = LogMelFunctionals()
    peaks = []
    for seconds in (120, 360):  # both streamed (over STREAM_SECONDS)
        n = 16000 * seconds
        x = np.zeros(n, np.float32)
        if kind == "near silence":  # no sample louder than one 16-bit step
            x = (np.random.default_rng(0).integers(-1, 2, n) / 32768).astype(np.float32)
        elif kind == "one click":  # less than a frame of sound: logmel keeps the frames that hold it
            x[n // 2 : n // 2 + 100] = 0.5
        sf.write(tmp_path / "s.wav", x, 16000, subtype="PCM_16")
        del x
        tracemalloc.start()
        try:
            streamed = feat.stream(AudioStream(str(tmp_path / "s.wav")))
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        np.testing.assert_array_equal(streamed, feat(sf.read(tmp_path / "s.wav", dtype="float32")[0]))
    samples = 16000 * (360 - 120) * 4  # bytes of the 4 minutes more, as float32
    assert peaks[1] - peaks[0] < samples, f"the peak grew {(peaks[1] - peaks[0]) / 1e6:.1f} MB for {samples / 1e6:.1f} MB of samples"


def test_running_out_of_memory_on_one_file_names_it(monkeypatch, synth_dir, tmp_path):
    """A MemoryError while reading a file is that file's failure: named, and skipped under skip."""
    import seraltools.features.runner as runner
    from seraltools.tools.extract import extract
    from seraltools.corpora import collect_inputs
    from seraltools.errors import BadInput

    files = sorted(synth_dir.glob("*.wav"))[:2]
    real = runner.load_audio

    def load(path):
        if str(path).endswith(files[0].name):
            raise MemoryError("Unable to allocate 9.3 GiB")
        return real(path)

    monkeypatch.setattr(runner, "load_audio", load)
    utts, _ = collect_inputs([str(f) for f in files], "none")
    with pytest.raises(BadInput, match=f"{files[0].name}: ran out of memory"):
        extract(utts, workers=1)
    done = extract(utts, workers=1, on_error="skip")
    assert done.table.num_rows == 1 and "out of memory" in done.skipped[0]["reason"]


# =========================================================================== wrong results (inputs read as something else, Ray spans, segmentation)


@pytest.mark.parametrize("word", ["nan", "NA", "NULL", "N/A", "#N/A", "null"])
def test_a_manifest_span_that_is_no_number_is_refused_naming_row_and_column(cli, synth_dir, tmp_path, word):
    wav = sorted(synth_dir.glob("*.wav"))[0]
    m = tmp_path / "m.csv"
    m.write_text(f"id,path,start,end\na,{wav},0,0.5\nx,{wav},0.1,{word}\n")
    res = cli("extract", "--quiet", m, tmp_path / "o.parquet")
    assert res.exit_code == 2 and "row 2" in res.stderr and "end" in res.stderr and word in res.stderr
    # an empty cell still means the file's end
    m.write_text(f"id,path,start,end\nx,{wav},0.1,\n")
    assert cli("extract", "--quiet", m, tmp_path / "o.parquet").exit_code == 0


@pytest.mark.parametrize("cell", ['""', "", "  "])
def test_an_empty_id_in_a_manifest_is_refused(cli, synth_dir, tmp_path, cell):
    wavs = sorted(synth_dir.glob("*.wav"))[:2]
    m = tmp_path / "m.csv"
    m.write_text(f"id,path\na,{wavs[0]}\n{cell},{wavs[1]}\n")
    res = cli("extract", "--quiet", m, tmp_path / "o.parquet")
    assert res.exit_code == 2 and "row 2" in res.stderr and "empty 'id'" in res.stderr


def test_a_duplicate_recording_id_in_wav_scp_names_both_lines(cli, synth_dir, tmp_path):
    wavs = sorted(synth_dir.glob("*.wav"))[:2]
    d = tmp_path / "kal"
    d.mkdir()
    (d / "wav.scp").write_text(f"r0 {wavs[0]}\nr1 {wavs[0]}\nr1 {wavs[1]}\n")
    res = cli("extract", "--quiet", d, tmp_path / "o.parquet")
    assert res.exit_code == 2 and "lines 2 and 3" in res.stderr and "'r1'" in res.stderr
    assert not (tmp_path / "o.parquet").exists()


def test_tsne_on_identical_rows_is_refused_never_nan_features(cli, tmp_path):
    t = pa.table({"id": [f"u{i}" for i in range(100)]})
    write_table(set_features(t, np.zeros((100, 5), np.float32)), tmp_path / "z.parquet")
    res = cli("reduce", "--quiet", "--method", "tsne", tmp_path / "z.parquet", tmp_path / "o.parquet")
    assert res.exit_code == 2 and "same features" in res.stderr and not (tmp_path / "o.parquet").exists()


@pytest.mark.parametrize("budget", ["1.5", "2.7", "12.5"])
def test_a_budget_count_that_is_not_whole_is_refused(cli, tmp_path, budget):
    feats = _features(tmp_path / "f.parquet")
    res = cli("mal-select", "--quiet", "--budget", budget, feats, tmp_path / "q.parquet")
    assert res.exit_code == 2 and f"--budget {budget}" in res.stderr and "%" in res.stderr
    for ok in ("2", "0.5", "10%", "12.5%"):
        assert cli("mal-select", "--quiet", "--budget", ok, feats, tmp_path / "q.parquet").exit_code == 0, ok


def test_resume_without_a_checkpoint_says_it_starts_anew(cli, tmp_path):
    pytest.importorskip("torch")
    feats = _features(tmp_path / "f.parquet", n=30, dim=8)
    res = cli("reduce", "--method", "ae", "--dim", 2, "--epochs", 3, "--resume", feats, tmp_path / "o.parquet")
    assert res.exit_code == 0, res.stderr
    assert "no checkpoint" in res.stderr and "o.parquet.ckpt" in res.stderr and "anew" in res.stderr


def test_ray_carries_spans_and_embedded_rows_as_what_they_are():
    """--engine ray turned a span into the text 'FILE [0.8-2.4 s]' and failed on it
    (the end-to-end run: tests/test_engines.py::test_extract_with_ray_reads_spans)."""
    from seraltools.audio import Embedded, Segment
    from seraltools.engines import from_item, to_item

    for source in ("/a/b c.wav", Segment("/a/x.wav", 0.8, 2.395), Segment("/a/x.wav", None, 1.5),
                   Segment("/a/x.wav", 0.25, None), Embedded("/d/train.parquet", 7, None, None),
                   Embedded("/d/train.parquet", 3, 0.5, 1.0)):
        back = from_item(to_item(source))
        assert back == source and type(back) is type(source)


def _speech_over_noise(path: Path, noise_db: float = -50.0, speech_db: float = -16.0, n_utts: int = 20, seed: int = 0,
                       pause_noise=None) -> list[tuple[float, float]]:
    """Speech-like bursts (harmonics, syllable-rate envelope) at ``speech_db`` dBFS RMS between
    0.8-2 s pauses, all over white noise at ``noise_db`` dBFS; the bursts' spans."""
    rng = np.random.default_rng(seed)
    parts, truth, t = [], [], 0.0
    for _ in range(n_utts):
        pause = int(rng.uniform(0.8, 2.0) * 16000)
        parts.append(np.zeros(pause) if pause_noise is None else pause_noise(rng, pause))
        t += pause / 16000
        n = int(rng.uniform(1.5, 4.0) * 16000)
        tt = np.arange(n) / 16000
        f0 = rng.uniform(100, 250)
        x = sum(np.sin(2 * np.pi * h * f0 * tt) / h for h in range(1, 6)) * (0.55 + 0.45 * np.sin(2 * np.pi * 4 * tt))
        parts.append(x * 10 ** (speech_db / 20) / np.sqrt(np.mean(x**2)))
        truth.append((t, t + n / 16000))
        t += n / 16000
    parts.append(np.zeros(16000))
    x = np.concatenate(parts)
    x = x + 10 ** (noise_db / 20) * rng.standard_normal(len(x))
    sf.write(path, x.astype(np.float32), 16000, subtype="PCM_16")
    return truth


def test_segment_sets_its_threshold_above_a_steady_noise_floor(cli, tmp_path):
    """W9: speech at -16 dBFS over white noise at -50 dBFS gave 7-11 of 20 utterances (the
    noise above the level's -40 dB); the threshold now stands above the noise floor."""
    from seraltools.segment import segment_recording

    truth = _speech_over_noise(tmp_path / "noisy.wav")
    seconds, spans = segment_recording(tmp_path / "noisy.wav")
    assert len(spans) == len(truth) == 20
    for (a, b), (ta, tb) in zip(spans, truth):  # each found once, its ends within the padding and a frame
        assert abs(a - ta) < 0.2 and abs(b - tb) < 0.2, ((a, b), (ta, tb))
    res = cli("segment", tmp_path / "noisy.wav", tmp_path / "s.csv")
    assert res.exit_code == 0 and "warning" not in res.stderr and "20 utterances" in res.stderr


def test_segment_warns_when_little_is_cut_as_silence(cli, tmp_path):
    """Pauses full of unsteady noise (no steady floor to find) at -20 dBFS: under 1% is cut as
    silence, the utterances are splits at --max-length, and seral says so."""
    def babble(rng, n):
        return rng.standard_normal(n) * 10 ** (-20 / 20) * np.repeat(rng.uniform(0.5, 1.0, n // 800 + 1), 800)[:n]

    _speech_over_noise(tmp_path / "babble.wav", noise_db=-70, pause_noise=babble, n_utts=30)
    res = cli("segment", tmp_path / "babble.wav", tmp_path / "s.csv")
    assert res.exit_code == 0 and "seral segment: warning: " in res.stderr and "babble.wav" in res.stderr
    assert "--threshold" in res.stderr


# =========================================================================== encodings (names, file contents, terminal output, warnings)


def test_a_wav_scp_that_is_not_utf8_is_one_line_naming_the_line(cli, synth_dir, tmp_path):
    wav = sorted(synth_dir.glob("*.wav"))[0]
    d = tmp_path / "kal"
    d.mkdir()
    (d / "wav.scp").write_bytes(f"r0 {wav}\n".encode() + b"r1 caf\xe9.wav\n")
    res = cli("extract", "--quiet", d, tmp_path / "o.parquet")
    assert res.exit_code == 2 and "wav.scp: line 2" in res.stderr and "UTF-8" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_non_utf8_file_names_are_one_line_and_skipped_under_skip(cli, synth_dir, tmp_path):
    wav = sorted(synth_dir.glob("*.wav"))[0]
    d = tmp_path / "l1"
    d.mkdir()
    bad = os.fsdecode(bytes(d) + b"/caf\xe9.wav")
    Path(bad).write_bytes(wav.read_bytes())
    (d / "good.wav").write_bytes(wav.read_bytes())
    for args in (("extract", "--quiet", d, tmp_path / "o.parquet"), ("extract", "--quiet", bad, tmp_path / "o.parquet"),
                 ("segment", "--quiet", d, tmp_path / "s.csv")):
        res = cli(*args)
        assert res.exit_code == 2 and "caf\\xe9.wav" in res.stderr and "UTF-8" in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
    res = cli("extract", "--quiet", "--on-error", "skip", d, tmp_path / "o.parquet")
    assert res.exit_code == 0 and "skipped" in res.stderr and "caf\\xe9.wav" in res.stderr
    assert read_table(tmp_path / "o.parquet").num_rows == 1
    assert "caf\\xe9.wav" in metadata(read_table(tmp_path / "o.parquet"))["skipped"][0]["path"]
    res = cli("segment", "--quiet", "--on-error", "skip", d, tmp_path / "s.csv")
    assert res.exit_code == 0 and "caf\\xe9.wav" in res.stderr
    # an output name that is not UTF-8: refused before the work
    res = cli("extract", "--quiet", d / "good.wav", os.fsdecode(bytes(tmp_path) + b"/o\xe9.parquet"))
    assert res.exit_code == 2 and "o\\xe9.parquet" in res.stderr


def test_a_newline_or_escape_in_a_file_name_keeps_the_error_on_one_line(cli, tmp_path):
    bad = tmp_path / "two\nlines\x1b[31m.wav"
    bad.write_bytes(b"not audio at all")
    res = cli("extract", "--quiet", bad, tmp_path / "o.parquet")
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "two\\nlines\\x1b[31m.wav" in res.stderr and "\x1b" not in res.stderr


def test_info_never_sends_escape_sequences_from_a_table_to_the_terminal(cli, tmp_path):
    evil = "\x1b]0;owned\x07\x1b[2J"
    t = pa.table({"id": ["a", "b"], "emotion": [f"anger{evil}", "sad\r\nness"], f"col{evil}": ["x", "y"]})
    from seraltools.table import with_metadata

    t = with_metadata(t, {"history": [{"tool": f"x{evil}", "parameters": {"p": f"v{evil}"},
                                       "inputs": [{"file": f"f{evil}"}]}],
                          "skipped": [{"path": f"p{evil}", "reason": f"r\n{evil}"}]})
    pq.write_table(t, tmp_path / "t.parquet")
    res = cli("info", tmp_path / "t.parquet")
    assert res.exit_code == 0
    assert not any(c in res.stdout for c in "\x1b\x07\r"), repr(res.stdout)
    assert "anger\\x1b]0;owned\\x07" in res.stdout and "sad\\r\\nness" in res.stdout
    res = cli("info", "--json", tmp_path / "t.parquet")
    assert res.exit_code == 0 and "\x1b" not in res.stdout


def test_identical_rows_give_no_library_warnings(cli, tmp_path):
    t = pa.table({"id": [f"u{i}" for i in range(40)], "speaker": [f"s{i % 4}" for i in range(40)]})
    write_table(set_features(t, np.ones((40, 6), np.float32)), tmp_path / "same.parquet")
    res = cli("reduce", "--quiet", "--dim", 2, tmp_path / "same.parquet", tmp_path / "r.parquet")
    assert res.exit_code == 0 and res.stderr == ""
    res = cli("cluster-speakers", "--quiet", tmp_path / "same.parquet", tmp_path / "c.parquet")
    assert res.exit_code == 0 and res.stderr == ""
    res = cli("cluster-speakers", tmp_path / "same.parquet", tmp_path / "c.parquet")
    assert res.exit_code == 0 and "sklearn" not in res.stderr and "distinct embeddings" in res.stderr
    assert all(line.startswith("seral cluster-speakers: ") for line in res.stderr.strip().splitlines())


def test_a_librarys_warning_is_one_line_in_seral_words(cli, tmp_path, monkeypatch):
    import warnings

    import seraltools.tools.info as info

    real = info.summarize

    def noisy(table):
        warnings.warn("invalid value encountered in divide", RuntimeWarning)
        warnings.warn("invalid value encountered in divide", RuntimeWarning)
        warnings.warn("old API", DeprecationWarning)
        return real(table)

    monkeypatch.setattr(info, "summarize", noisy)
    res = cli("info", _features(tmp_path / "f.parquet"))
    assert res.exit_code == 0
    assert res.stderr == "seral info: warning: invalid value encountered in divide\n"


# =========================================================================== metadata bombs (malformed JSON, configs asking for huge sizes, pickles)


def _safetensors(path: Path, seral_meta: str, tensors: dict | None = None) -> Path:
    import json

    tensors = tensors or {"x": np.zeros(1, np.float32)}
    header, blob, offset = {"__metadata__": {"seral": seral_meta}}, b"", 0
    for k, v in tensors.items():
        raw = np.ascontiguousarray(v, np.float32).tobytes()
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [offset, offset + len(raw)]}
        blob, offset = blob + raw, offset + len(raw)
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + blob)
    return path


@pytest.mark.parametrize("meta", ["{bad", "[1, 2]", '"text"', "{}", '{"kind": "pca"}', '{"kind": "pca", "config": 3}',
                                  '{"kind": "pca", "config": {}}', '{"kind": "pca", "config": {"dim": "x", "standardize": 1}}',
                                  '{"kind": "ae", "config": {"dim": 2, "hidden": 99999999999}}',
                                  '{"kind": "ae", "config": {"dim": 2, "hidden": 4, "dropout": 0.1}}',
                                  '{"kind": 7, "config": {}}'])
def test_a_model_file_with_malformed_metadata_is_one_line_exit_2(cli, tmp_path, meta):
    model = _safetensors(tmp_path / "bad.safetensors", meta)
    feats = _features(tmp_path / "f.parquet")
    res = cli("reduce", "--quiet", "--model", model, feats, tmp_path / "o.parquet")
    assert res.exit_code == 2 and "bad.safetensors" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "internal error" not in res.stderr


@pytest.mark.parametrize("config", [{"hidden": 10**9}, {"steps": 10**8}, {"context": -3}, {"n_mels": "40"},
                                    {"hidden": 8}])
def test_a_tiny_cpc_file_asking_for_a_huge_model_is_refused_before_allocating(cli, synth_dir, tmp_path, config):
    """M3: a 200-byte CPC file whose config asks for 160 GB (refused from the config and the
    tensors' shapes, never built)."""
    pytest.importorskip("torch")
    import json

    cfg = {"n_mels": 40, "hidden": 256, "context": 256, "steps": 12, "dropout": 0.2, **config}
    model = _safetensors(tmp_path / "cpc.safetensors", json.dumps({"kind": "cpc", "version": "0", "config": cfg}),
                         {"mean": np.zeros(40, np.float32)})
    assert model.stat().st_size < 1000
    res = cli("extract", "--quiet", "--feat", "cpc", "--model", model, synth_dir, tmp_path / "o.parquet")
    assert res.exit_code == 2 and "cpc.safetensors: damaged model file" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("seral", [b"{bad", b"[1]", b'"x"', b'{"history": 5}', b'{"history": [1, "x", {"parameters": 3}]}',
                                   b'{"skipped": "x", "feature": 5}', b'{"history": [{"inputs": [1, {"a": 1}]}]}',
                                   b'{"speaker_clusters": {"s": 1}}', b"\xff\xfe"])
def test_tables_with_malformed_seral_metadata_read_as_tables(cli, tmp_path, seral):
    t = pq.read_table(_features(tmp_path / "f.parquet"))
    pq.write_table(t.replace_schema_metadata({b"seral": seral}), tmp_path / "m.parquet")
    for args in (("info", tmp_path / "m.parquet"), ("info", "--json", tmp_path / "m.parquet"),
                 ("reduce", "-q", "--dim", 2, tmp_path / "m.parquet", tmp_path / "r.parquet"),
                 ("mal-select", "-q", tmp_path / "m.parquet", tmp_path / "q.parquet")):
        res = cli(*args)
        assert res.exit_code == 0, (args, res.stderr)


@pytest.mark.parametrize("features", ['{"info": {"features": {"emotion": {"_type": "ClassLabel", "names": 5}}}}',
                                      '{"info": {"features": {"emotion": {"_type": "ClassLabel", "names": [1, 2]}}}}',
                                      '{"info": {"features": {"emotion": {"_type": "ClassLabel", "names": "ab"}}}}',
                                      '{"info": []}', "[1]", "{bad"])
def test_a_hugging_face_schema_with_malformed_metadata_is_read(cli, synth_dir, tmp_path, features):
    wav = sorted(synth_dir.glob("*.wav"))[0].read_bytes()
    t = pa.table({"audio": pa.array([{"bytes": wav, "path": "a.wav"}]), "emotion": pa.array([0], pa.int64())})
    pq.write_table(t.replace_schema_metadata({b"huggingface": features.encode()}), tmp_path / "train.parquet")
    res = cli("extract", "--quiet", tmp_path / "train.parquet", tmp_path / "o.parquet")
    assert res.exit_code == 0, res.stderr


@pytest.mark.parametrize("value", ["text, not bytes", 12345])
def test_hugging_face_audio_bytes_that_are_not_bytes_are_one_line(cli, tmp_path, value):
    typ = pa.string() if isinstance(value, str) else pa.int64()
    audio = pa.array([{"bytes": value, "path": None}], pa.struct([("bytes", typ), ("path", pa.string())]))
    pq.write_table(pa.table({"audio": audio}), tmp_path / "train.parquet")
    res = cli("extract", "--quiet", tmp_path / "train.parquet", tmp_path / "o.parquet")
    assert res.exit_code == 2 and "train.parquet [row 1]" in res.stderr and "not the bytes" in res.stderr, res.stderr
    res = cli("extract", "--quiet", "--on-error", "skip", tmp_path / "train.parquet", tmp_path / "o.parquet")
    assert res.exit_code == 2 and "none of the 1" in res.stderr


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def test_a_pickle_given_as_model_weights_is_one_line_without_torchs_advice(cli, synth_dir, tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from seraltools.errors import BadInput
    from seraltools.models import torch_weights

    monkeypatch.chdir(tmp_path)
    torch.save({"model_state": _Evil()}, tmp_path / "evil.pt")
    with pytest.raises(BadInput) as e:
        torch_weights(tmp_path / "evil.pt", "a resemblyzer GE2E checkpoint")
    assert "weights_only" not in str(e.value) and "pickled Python objects" in str(e.value) and "\n" not in str(e.value)
    pytest.importorskip("webrtcvad")
    res = cli("extract", "--quiet", "--feat", "dvector", "--model", tmp_path / "evil.pt", synth_dir, tmp_path / "o.parquet")
    assert res.exit_code == 2 and "evil.pt" in res.stderr and "weights_only" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "pwned.txt").exists()


# =========================================================================== orphans (FIFO outputs, temporary copies of killed runs)


def test_a_fifo_output_without_a_reader_says_so_and_a_killed_runs_copy_is_removed(tmp_path):
    import signal
    import subprocess

    from .conftest import ROOT, seral

    feats = _features(tmp_path / "f.parquet")
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "seraltools", "mal-select", "-q", str(feats), str(fifo)],
                            stderr=subprocess.PIPE, env=env)
    import select

    said = select.select([proc.stderr], [], [], 300)[0]  # before the fix it waited without a word
    if not said:
        proc.kill()
        proc.wait()
    assert said, "seral waited on a FIFO without a reader and said nothing"
    line = proc.stderr.readline().decode()
    assert "FIFO with no reader" in line and "out.fifo" in line
    assert [p.name for p in tmpdir.iterdir() if p.name.startswith(".seral.")]  # its staged copy
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    seral("mal-select", "-q", feats, os.devnull, env=env, check=True)  # the next write to a device cleans up
    assert not [p.name for p in tmpdir.iterdir() if p.name.startswith(".seral.")]
