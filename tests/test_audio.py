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
        ("text", "not readable as audio"),
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
