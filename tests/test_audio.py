"""Reading audio: mono, 16 kHz, and a clear BadInput for every broken file."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from seraltools.audio import SAMPLE_RATE, load_audio
from seraltools.errors import BadInput


def _peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * SAMPLE_RATE / len(x))


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_any_rate_and_channels_become_mono_16k(tmp_path, rate):
    t = np.arange(rate) / rate  # one second
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([left, left * 0.5], axis=1)
    path = tmp_path / f"tone{rate}.wav"
    sf.write(path, stereo, rate)
    a = load_audio(path)
    assert a.samples.dtype == np.float32 and a.samples.ndim == 1
    assert len(a.samples) == pytest.approx(SAMPLE_RATE, abs=2)
    assert a.source_rate == rate
    assert _peak_hz(a.samples) == pytest.approx(440, abs=2)
    assert np.abs(a.samples).max() == pytest.approx(0.375, rel=0.05)  # mean of the two channels


def test_flac_is_read(tmp_path):
    path = tmp_path / "a.flac"
    sf.write(path, np.zeros(16000), 16000)
    assert load_audio(path).duration == pytest.approx(1.0)


def _wav_bytes(tmp_path, seconds=0.5) -> bytes:
    p = tmp_path / "ok.wav"
    sf.write(p, 0.1 * np.ones(int(seconds * 16000)), 16000, subtype="PCM_16")
    return p.read_bytes()


@pytest.mark.parametrize(
    "case, expected",
    [
        ("empty", "empty file"),
        ("text", "not audio in a format libsndfile reads"),
        ("truncated", "truncated WAV"),
        ("header_only", "truncated WAV"),
        ("missing", "no such file"),
    ],
)
def test_broken_files_name_the_file(tmp_path, case, expected):
    path = tmp_path / f"{case}.wav"
    good = _wav_bytes(tmp_path)
    if case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("this is not audio\n" * 10)
    elif case == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif case == "header_only":
        path.write_bytes(good[:44])
    with pytest.raises(BadInput) as e:
        load_audio(path)
    assert str(path) in str(e.value) and expected in str(e.value)
    assert "\n" not in str(e.value)


# ---------------------------------------------------------------- long files: memory flat in their length


@pytest.mark.parametrize("rate", [16000, 44100, 22050, 8000])
def test_streamed_resampling_equals_resample_poly(monkeypatch, rate):
    from seraltools import audio

    monkeypatch.setattr(audio, "READ_BLOCK", 1000)
    monkeypatch.setattr(audio.Resampler, "WHOLE", 5000)
    rng = np.random.default_rng(rate)
    for n in (4000, 5001, 23456):
        x = rng.standard_normal(n).astype(np.float32)
        for expected in (0, n):
            r = audio.Resampler(rate, expected=expected)
            for i in range(0, n, 777):
                r.feed(x[i : i + 777])
            np.testing.assert_array_equal(r.result(), audio.resample(x, rate))


def test_load_audio_in_blocks_equals_whole_file_decoding(monkeypatch, tmp_path):
    import soundfile as sf

    from seraltools import audio

    rng = np.random.default_rng(3)
    x = (0.3 * rng.standard_normal((44100 * 2, 2))).astype(np.float32)
    path = tmp_path / "stereo.wav"
    sf.write(path, x, 44100, subtype="FLOAT")
    whole = audio.resample(np.ascontiguousarray(x.mean(axis=1)), 44100)
    monkeypatch.setattr(audio, "READ_BLOCK", 4410)
    monkeypatch.setattr(audio.Resampler, "WHOLE", 20000)
    np.testing.assert_array_equal(audio.load_audio(path).samples, whole)


def test_fifo_and_dangling_symlink_are_one_line_errors(tmp_path):
    import os

    from seraltools.audio import load_audio

    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    with pytest.raises(BadInput, match="not a regular file"):
        load_audio(fifo)  # must not block reading the FIFO
    link = tmp_path / "gone.wav"
    link.symlink_to(tmp_path / "missing.wav")
    with pytest.raises(BadInput, match="symlink to a missing file"):
        load_audio(link)


def test_long_signals_take_the_blockwise_paths_with_the_same_values(monkeypatch):
    from seraltools import frontend
    from seraltools.features import logmel as lm

    rng = np.random.default_rng(5)
    x = (0.1 * rng.standard_normal(16000 * 5)).astype(np.float32)
    x[20000:24000] = 0  # interior digital silence: frames dropped
    whole = frontend.logmel(x)
    whole_f = lm.functionals(whole)
    monkeypatch.setattr(frontend, "FRAME_BLOCK", 50)
    monkeypatch.setattr(lm, "MOMENTS_BLOCK", 1000)
    blocks = frontend.logmel(x)
    np.testing.assert_array_equal(blocks, whole)
    np.testing.assert_array_equal(lm.functionals(blocks), whole_f)


@pytest.mark.parametrize("skip_silence", [True, False])
def test_logmel_of_a_stream_is_logmel_of_the_whole_signal(monkeypatch, skip_silence):
    """Long recordings are framed from a stream (memory: the log-mel frames, not the
    samples): the same frames, bitwise, wherever the blocks and the silences fall."""
    from seraltools import frontend

    rng = np.random.default_rng(11)
    x = (0.1 * rng.standard_normal(16000 * 4)).astype(np.float32)
    x[:3001] = 0  # leading, interior and trailing digital silence
    x[20000:26000] = 0
    x[40000:40100] = 0
    x[-4321:] = 0
    x[-9000] = 0.5  # a lone loud sample near the end: the last frames must end by it
    cfg = frontend.LogMelConfig(skip_silence=skip_silence)
    monkeypatch.setattr(frontend, "FRAME_BLOCK", 97)
    whole = frontend.logmel(x, cfg)
    for sizes in ([1 << 18], [1000, 37, 5555], [1]):
        blocks = (x[i : i + n] for i, n in zip(np.cumsum([0] + sizes * (len(x) // min(sizes) + 1))[:-1],
                                               sizes * (len(x) // min(sizes) + 1)) if i < len(x))
        np.testing.assert_array_equal(frontend.logmel_stream(blocks, cfg), whole)


def test_logmel_stream_gives_way_when_no_frame_lies_between_the_loud_samples():
    from seraltools import frontend

    x = np.zeros(16000, np.float32)
    x[5000:5100] = 0.2  # less than one frame of loud audio: logmel frames the whole signal
    with pytest.raises(frontend.NotStreamable):
        frontend.logmel_stream([x[:7000], x[7000:]])
    with pytest.raises(frontend.NotStreamable):
        frontend.logmel_stream([np.zeros(8000, np.float32)])


def test_extract_streams_long_files_with_the_same_table(monkeypatch, tmp_path):
    """Files past STREAM_SECONDS go to the extractor as a stream: the same features,
    durations and fingerprint as reading them whole (44.1 kHz stereo, a span, silences)."""
    import pyarrow as pa
    import soundfile as sf

    from seraltools import audio
    from seraltools.features import runner
    from seraltools.tools import extract

    rng = np.random.default_rng(4)
    st = (0.2 * rng.standard_normal((44100 * 3, 2))).astype(np.float32)
    st[:5000] = 0
    sf.write(tmp_path / "st.wav", st, 44100, subtype="PCM_16")
    mono = (0.2 * rng.standard_normal(16000 * 3)).astype(np.float32)
    mono[16000:20000] = 0
    sf.write(tmp_path / "mono.flac", mono, 16000)
    table = pa.table({"id": ["st", "mono", "span"], "path": [str(tmp_path / f) for f in ("st.wav", "mono.flac", "st.wav")],
                      "start": [None, None, 0.5], "end": [None, None, 2.75]})
    monkeypatch.setattr(audio, "READ_BLOCK", 10000)
    monkeypatch.setattr(audio.Resampler, "WHOLE", 30000)
    whole = extract.extract(table, "logmel", workers=1)
    calls = []
    monkeypatch.setattr(runner, "STREAM_SECONDS", 1.0)
    monkeypatch.setattr(audio.AudioStream, "read", lambda self: calls.append(self) or pytest.fail("read whole"))
    streamed = extract.extract(table, "logmel", workers=1)
    assert streamed.table.equals(whole.table) and streamed.audio_fingerprint == whole.audio_fingerprint
    assert not calls
