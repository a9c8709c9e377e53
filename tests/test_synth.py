"""The synthetic stand-in corpus: deterministic, and emotion and speaker really shift the signal."""

from __future__ import annotations

import numpy as np
import pytest

from seraltools.errors import BadInput
from seraltools.synth import PROSODY, make_speakers, synthesize


def _f0(x: np.ndarray, sr: int = 16000) -> float:
    """Median autocorrelation F0 of the voiced 40 ms frames."""
    est = []
    n = int(0.04 * sr)
    for s in range(0, len(x) - n, n):
        f = x[s : s + n] - x[s : s + n].mean()
        if np.sqrt(np.mean(f**2)) < 0.02 * np.abs(x).max():
            continue
        ac = np.correlate(f, f, "full")[n - 1 :]
        lo, hi = sr // 500, sr // 60
        est.append(sr / (lo + np.argmax(ac[lo:hi])))
    return float(np.median(est))


def _utt(speaker, emotion, k=0):
    return synthesize(speaker, emotion, np.random.default_rng([0, k]))


def test_same_seed_same_samples():
    spk = make_speakers(2, seed=5)[1]
    np.testing.assert_array_equal(_utt(spk, "anger"), _utt(spk, "anger"))
    assert not np.array_equal(_utt(spk, "anger", 0), _utt(spk, "anger", 1))


def test_emotion_shifts_f0_energy_and_rate():
    spk = make_speakers(1)[0]
    anger = [_utt(spk, "anger", k) for k in range(4)]
    sad = [_utt(spk, "sadness", k) for k in range(4)]
    rms = lambda xs: np.mean([np.sqrt(np.mean(x**2)) for x in xs])  # noqa: E731
    assert rms(anger) > 2 * rms(sad)
    assert np.median([_f0(x) for x in anger]) > 1.2 * np.median([_f0(x) for x in sad])
    assert PROSODY["anger"].rate > PROSODY["sadness"].rate


def test_speakers_differ_in_f0():
    male, female = make_speakers(2)
    assert _f0(_utt(female, "neutral")) > 1.4 * _f0(_utt(male, "neutral"))


def test_unknown_emotion_is_bad_input(tmp_path):
    from seraltools.synth import make_corpus

    with pytest.raises(BadInput, match="no prosody for contempt"):
        make_corpus(tmp_path, emotions=("contempt",))
