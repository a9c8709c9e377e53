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


def test_load_audio_refuses_non_finite_spans(recording):
    with pytest.raises(BadInput, match="start and end must be seconds"):
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
