"""Segments: manifests whose rows are spans (start/end) of longer recordings."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from seraltools.audio import Segment, load_audio, stream_audio
from seraltools.errors import BadInput
from seraltools.table import feature_matrix


@pytest.fixture
def recording(tmp_path):
    """A 3-s 16 kHz recording and its two halves written as files of their own."""
    rng = np.random.default_rng(0)
    t = np.arange(48000) / 16000
    x = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
         + 0.02 * rng.standard_normal(48000)).astype(np.float32)
    x[24000:] *= 0.3
    sf.write(tmp_path / "rec.wav", x, 16000, subtype="FLOAT")
    sf.write(tmp_path / "a.wav", x[:24000], 16000, subtype="FLOAT")
    sf.write(tmp_path / "b.wav", x[24000:], 16000, subtype="FLOAT")
    return tmp_path


def test_a_segment_is_the_span_and_only_the_span(recording):
    whole = load_audio(recording / "rec.wav").samples
    seg = load_audio(Segment(str(recording / "rec.wav"), 0.5, 1.25))
    np.testing.assert_array_equal(seg.samples, whole[8000:20000])
    assert seg.duration == pytest.approx(0.75)
    np.testing.assert_array_equal(load_audio(Segment(str(recording / "rec.wav"), 2.0, None)).samples, whole[32000:])
    np.testing.assert_array_equal(load_audio(Segment(str(recording / "rec.wav"), None, 1.0)).samples, whole[:16000])


def test_reading_a_span_decodes_only_the_span(recording, monkeypatch):
    read = []
    original = sf.SoundFile.read

    def counting(self, frames=-1, *args, **kwargs):
        out = original(self, frames, *args, **kwargs)
        read.append(len(out))
        return out

    monkeypatch.setattr(sf.SoundFile, "read", counting)
    load_audio(Segment(str(recording / "rec.wav"), 2.5, 2.75))
    assert sum(read) == 4000


def test_stream_audio_gives_the_samples_of_load_audio(tmp_path, monkeypatch):
    from seraltools import audio

    rng = np.random.default_rng(1)
    x = (0.2 * rng.standard_normal((44100 * 3, 2))).astype(np.float32)
    sf.write(tmp_path / "s.wav", x, 44100, subtype="FLOAT")
    monkeypatch.setattr(audio, "READ_BLOCK", 5000)
    with stream_audio(tmp_path / "s.wav") as (seconds, blocks):
        streamed = np.concatenate(list(blocks))
    assert seconds == pytest.approx(3.0)
    np.testing.assert_array_equal(streamed, load_audio(tmp_path / "s.wav").samples)


def test_extract_segments_equal_the_cut_files(cli, recording):
    rec = recording / "rec.wav"
    (recording / "segs.csv").write_text(f"id,path,start,end\nfirst,{rec},,1.5\nsecond,{rec},1.5,\n")
    (recording / "cut.csv").write_text(f"id,path\nfirst,{recording / 'a.wav'}\nsecond,{recording / 'b.wav'}\n")
    for m in ("segs", "cut"):
        res = cli("extract", "-q", recording / f"{m}.csv", recording / f"{m}.parquet")
        assert res.exit_code == 0, res.stderr
    segs, cut = pq.read_table(recording / "segs.parquet"), pq.read_table(recording / "cut.parquet")
    np.testing.assert_array_equal(feature_matrix(segs), feature_matrix(cut))
    assert segs.column("duration").to_pylist() == pytest.approx([1.5, 1.5])
    assert segs.column("start").to_pylist() == [None, 1.5] and segs.column("end").to_pylist() == [1.5, None]
    assert not np.array_equal(feature_matrix(segs)[0], feature_matrix(segs)[1])


@pytest.mark.parametrize("start, end, words", [
    ("abc", "1.0", "row 1: start 'abc' is not a number of seconds"),
    ("1.0", "0.5", "row 1: end 0.5 is not after start 1"),
    ("-1", "", "is not a number of seconds >= 0"),
    ("2.0", "9.0", "the span is outside the file"),
    ("3.5", "", "the span is outside the file"),
])
def test_bad_spans_are_one_line_errors_and_skippable(cli, recording, start, end, words):
    rec = recording / "rec.wav"
    m = recording / "m.csv"
    m.write_text(f"id,path,start,end\nbad,{rec},{start},{end}\ngood,{rec},0.5,1.0\n")
    res = cli("extract", m, recording / "o.parquet")
    assert res.exit_code == 2 and words in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    res = cli("extract", "--on-error", "skip", m, recording / "o.parquet")
    assert res.exit_code == 0, res.stderr
    assert pq.read_table(recording / "o.parquet").column("id").to_pylist() == ["good"]
    assert "1 of 2 utterances" in res.stderr
    skipped = [line for line in res.stderr.splitlines() if "skipped" in line][0]
    assert "nan" not in skipped and (words.split(": ")[-1] in skipped or "start and end" in skipped
                                     or "outside the file" in skipped), skipped


def test_segment_pipes_into_extract(recording):
    """seral segment REC - | seral extract - OUT: a manifest read from stdin."""
    from tests.conftest import seral

    x = np.concatenate([np.zeros(8000), load_audio(recording / "rec.wav").samples, np.zeros(16000)]).astype(np.float32)
    sf.write(recording / "long.wav", x, 16000, subtype="FLOAT")
    segs = seral("segment", "-q", recording / "long.wav", "-", check=True)
    out = seral("extract", "-q", "-", recording / "f.parquet", input=segs.stdout, check=True)
    assert out.returncode == 0 and pq.read_table(recording / "f.parquet").num_rows >= 1


def test_load_audio_refuses_non_finite_spans(recording):
    with pytest.raises(BadInput, match="start and end must be numbers of seconds"):
        load_audio(Segment(str(recording / "rec.wav"), float("nan"), 1.0))


def test_train_cpc_and_pretrain_read_segments(recording):
    """The other readers of audio take the same sources."""
    from seraltools.corpora import collect_inputs, sources
    from seraltools.cpc import read_frames
    from seraltools.frontend import logmel
    from seraltools.ser import labelled_audio

    rec = recording / "rec.wav"
    (recording / "m.csv").write_text(f"id,path,start,end,speaker,emotion\nx,{rec},0.5,1.0,s1,anger\n")
    utts, _ = collect_inputs([str(recording / "m.csv")], "none")
    assert sources(utts) == [Segment(str(rec), 0.5, 1.0)]
    part = load_audio(rec).samples[8000:16000]
    np.testing.assert_array_equal(read_frames(sources(utts))[0], logmel(part))
    np.testing.assert_array_equal(labelled_audio(utts)[0][0], part)


# ---------------------------------------------------------------- seral segment


def planted(seed=0, n=6, noise=0.001):
    """A recording of tone bursts (1-4 s) between pauses (0.5-2 s): (samples, true spans)."""
    rng = np.random.default_rng(seed)
    parts, truth, t = [], [], 0.0
    for _ in range(n):
        pause = rng.uniform(0.5, 2.0)
        parts.append(noise * rng.standard_normal(int(pause * 16000)))
        t += len(parts[-1]) / 16000
        tt = np.arange(int(rng.uniform(1, 4) * 16000)) / 16000
        parts.append(0.3 * np.sin(2 * np.pi * 200 * tt) * (1 + 0.3 * np.sin(2 * np.pi * 4 * tt))
                     + noise * rng.standard_normal(len(tt)))
        truth.append((t, t + len(tt) / 16000))
        t += len(tt) / 16000
    parts.append(noise * rng.standard_normal(16000))
    return np.concatenate(parts).astype(np.float32), truth


def test_segment_finds_the_planted_utterances(tmp_path):
    from seraltools.segment import SegmentConfig, segment_recording

    x, truth = planted()
    sf.write(tmp_path / "rec.wav", x, 16000, subtype="FLOAT")
    seconds, spans = segment_recording(tmp_path / "rec.wav")
    assert seconds == pytest.approx(len(x) / 16000)
    assert len(spans) == len(truth)
    pad = SegmentConfig().pad
    for (a, b), (s, e) in zip(truth, spans):  # boundaries within the padding and one 25 ms frame
        assert abs((s + pad) - a) < 0.035 and abs((e - pad) - b) < 0.035


def test_segment_at_44k_stereo_and_in_blocks_gives_the_same_cuts(tmp_path, monkeypatch):
    from seraltools import audio
    from seraltools.audio import resample
    from seraltools.segment import segment_recording

    x, _ = planted(seed=1)
    sf.write(tmp_path / "a.wav", x, 16000, subtype="FLOAT")
    _, whole = segment_recording(tmp_path / "a.wav")
    monkeypatch.setattr(audio, "READ_BLOCK", 3000)
    _, blocks = segment_recording(tmp_path / "a.wav")
    assert blocks == whole
    up = np.stack([resample(x, 16000, 44100)] * 2, axis=1)
    sf.write(tmp_path / "b.wav", up, 44100, subtype="FLOAT")
    _, stereo = segment_recording(tmp_path / "b.wav")
    assert len(stereo) == len(whole) and np.allclose(stereo, whole, atol=0.02)


def test_long_stretches_are_split_and_short_blips_dropped():
    from seraltools.segment import HOP, SegmentConfig, find_utterances

    energy = np.full(5000, -10.0)  # 50 s of speech without a pause
    energy[2000] = -80.0  # its quietest moment
    energy[4000:4003] = -80.0
    spans = find_utterances(energy, 50.0, SegmentConfig(max_length=25.0, min_length=0.5, pad=0.0))
    assert all(b - a <= 25.0 for a, b in spans) and abs(spans[0][1] - 2000 * HOP / 16000) < 0.03
    blip = np.full(3000, -80.0)
    blip[100:110] = -10.0  # 0.1 s: dropped
    blip[1000:1200] = -10.0  # 2 s: kept
    assert [round(b - a, 2) for a, b in find_utterances(blip, 30.0, SegmentConfig(pad=0.0))] == [2.02]


def test_segment_cli_writes_a_manifest_that_extract_reads(cli, tmp_path):
    x, truth = planted(seed=2)
    sf.write(tmp_path / "rec.wav", x, 16000, subtype="FLOAT")
    (tmp_path / "recs.csv").write_text(f"id,path,speaker\ninterview,{tmp_path / 'rec.wav'},s7\n")
    res = cli("segment", tmp_path / "recs.csv", tmp_path / "utts.csv")
    assert res.exit_code == 0, res.stderr
    assert f"-> {len(truth)} utterances" in res.stderr
    lines = (tmp_path / "utts.csv").read_text().splitlines()
    assert lines[0] == '"id","path","start","end","duration","recording","speaker"' and len(lines) == len(truth) + 1
    assert lines[1].startswith('"interview_0001"') and lines[1].endswith('"interview","s7"')
    assert cli("segment", "-q", tmp_path / "recs.csv", tmp_path / "utts.parquet").exit_code == 0
    res = cli("extract", "-q", tmp_path / "utts.csv", tmp_path / "f.parquet")
    assert res.exit_code == 0, res.stderr
    t = pq.read_table(tmp_path / "f.parquet")
    assert t.num_rows == len(truth) and t.column("speaker").to_pylist() == ["s7"] * len(truth)
    assert t.column("duration").to_pylist() == pytest.approx(pq.read_table(tmp_path / "utts.parquet").column("duration").to_pylist(), abs=1e-3)


def test_segment_bad_options_and_silent_recordings(cli, tmp_path):
    sf.write(tmp_path / "quiet.wav", np.zeros(32000, np.float32), 16000)
    res = cli("segment", tmp_path / "quiet.wav", tmp_path / "o.csv")
    assert res.exit_code == 2 and "no utterance found" in res.stderr and not (tmp_path / "o.csv").exists()
    res = cli("segment", "--threshold", "5", tmp_path / "quiet.wav", tmp_path / "o.csv")
    assert res.exit_code == 2 and "--threshold 5" in res.stderr


def test_emodb_utterances_come_back_from_a_concatenation(emodb, tmp_path):
    """A few EMO-DB files joined with 0.5-2 s of silence: each comes back as one segment."""
    from seraltools.segment import segment_recording

    files = sorted(emodb.glob("03*.wav"))[:8]
    rng = np.random.default_rng(0)
    parts, truth, t = [], [], 0.0
    for f in files:
        pause = np.zeros(int(rng.uniform(0.5, 2.0) * 16000), np.float32)
        x = load_audio(f).samples
        parts += [pause, x]
        t += len(pause) / 16000
        truth.append((t, t + len(x) / 16000))
        t += len(x) / 16000
    sf.write(tmp_path / "joined.wav", np.concatenate(parts + [np.zeros(16000, np.float32)]), 16000, subtype="FLOAT")
    _, spans = segment_recording(tmp_path / "joined.wav")
    assert len(spans) == len(files)
    bounds = [(0.0, 0.0)] + truth + [(t + 1, t + 1)]
    for i, (s, e) in enumerate(spans, 1):  # each segment holds its file and nothing of the neighbours
        a, b = bounds[i]
        assert bounds[i - 1][1] < s and e < bounds[i + 1][0]
        assert min(e, b) - max(s, a) >= 0.7 * (b - a)  # most of the file (EMO-DB files have pauses of their own)


# ---------------------------------------------------------------- review findings, kept as regressions


def test_split_of_long_even_sound_is_iterative_and_balanced():
    from seraltools.segment import SegmentConfig, find_utterances

    spans = find_utterances(np.full(90000, -20.0), 900.0, SegmentConfig(pad=0.0))  # 15 min without a pause
    assert spans and all(b - a <= 20.0 for a, b in spans)
    assert min(b - a for a, b in spans) > 5.0  # ties cut near the middle, not min_length off one end


def test_segment_ends_never_pass_the_file_and_small_overshoots_are_read(tmp_path):
    from seraltools.segment import segment_recording

    rng = np.random.default_rng(4)
    x = (0.3 * rng.standard_normal(480003)).astype(np.float32)  # 10.00006 s at 48 kHz, sound to the end
    x[200000:240000] = 0
    sf.write(tmp_path / "r.wav", x, 48000, subtype="FLOAT")
    seconds, spans = segment_recording(tmp_path / "r.wav")
    assert spans[-1][1] <= seconds
    for a, b in spans:
        load_audio(Segment(str(tmp_path / "r.wav"), a, b))
    load_audio(Segment(str(tmp_path / "r.wav"), 9.0, seconds + 0.005))  # a rounded end: read to the end
    with pytest.raises(BadInput, match="outside the file"):
        load_audio(Segment(str(tmp_path / "r.wav"), 9.0, seconds + 0.5))


def test_a_buffer_does_not_trust_a_huge_frame_count():
    from seraltools.audio import _Buffer

    b = _Buffer(1 << 40)
    assert len(b.data) == _Buffer.MAX_INITIAL
    b.append(np.ones(10, np.float32))
    assert b.take().sum() == 10


def test_segments_of_segments_keep_one_recording_column(cli, tmp_path):
    x, truth = planted(seed=3)
    sf.write(tmp_path / "rec.wav", x, 16000, subtype="FLOAT")
    assert cli("segment", "-q", tmp_path / "rec.wav", tmp_path / "s1.csv").exit_code == 0
    res = cli("segment", "-q", "--min-length", "0.2", tmp_path / "s1.csv", tmp_path / "s2.parquet")
    assert res.exit_code == 0, res.stderr
    t = pq.read_table(tmp_path / "s2.parquet")
    assert t.column_names.count("recording") == 1 and t.column("recording")[0].as_py() == "rec_0001"
