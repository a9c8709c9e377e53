"""The log-mel front-end and the 600-dim functionals against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal, stats

from seraltools.features.logmel import LogMelFunctionals, feature_names, functionals, moments
from seraltools.frontend import (DEFAULT, LogMelConfig, deltas, frames, logmel, mel_filterbank, num_frames,
                                 trim_digital_silence)


def _tone_and_noise(seconds=1.3, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    f0 = 150 + 60 * np.sin(2 * np.pi * 1.5 * t)
    x = 0.3 * np.sin(2 * np.pi * np.cumsum(f0) / 16000) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) ** 2
    return (x + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def reference_logmel(x: np.ndarray) -> np.ndarray:
    """Log-mel written out independently: explicit loop over frames, scipy's Hann window,
    numpy's FFT, and a filterbank built filter by filter from the HTK mel formula."""
    win, hop, nfft, n_mels = 480, 160, 512, 40
    window = signal.get_window("hann", win, fftbins=True)
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    imel = lambda m: 700 * (10 ** (m / 2595) - 1)  # noqa: E731
    centres = imel(np.linspace(mel(0), mel(8000), n_mels + 2))
    bins = np.arange(nfft // 2 + 1) * 16000 / nfft
    fb = np.zeros((n_mels, len(bins)))
    for m in range(n_mels):
        lo, c, hi = centres[m], centres[m + 1], centres[m + 2]
        for k, f in enumerate(bins):
            if lo < f <= c:
                fb[m, k] = (f - lo) / (c - lo)
            elif c < f < hi:
                fb[m, k] = (hi - f) / (hi - c)
    out = []
    start = 0
    while start + win <= len(x):
        spec = np.abs(np.fft.rfft(x[start : start + win].astype(np.float64) * window, nfft)) ** 2
        out.append(np.log(np.maximum(fb @ spec, DEFAULT.log_floor)))
        start += hop
    return np.array(out)


def reference_functionals(c: np.ndarray) -> np.ndarray:
    def delta(a):
        p = np.concatenate([a[:1], a[:1], a, a[-1:], a[-1:]])
        return np.array([(p[t + 3] - p[t + 1] + 2 * (p[t + 4] - p[t])) / 10 for t in range(len(a))])

    def four(a):
        return [a.mean(0), a.std(0), stats.skew(a, axis=0), stats.kurtosis(a, axis=0)]

    d1 = delta(c)
    d2 = delta(d1)
    parts = four(c) + [c.min(0), c.max(0), c.max(0) - c.min(0)] + four(d1) + four(d2)
    return np.concatenate(parts)


def test_logmel_frames_match_independent_computation():
    x = _tone_and_noise()
    ours = logmel(x)
    ref = reference_logmel(x)
    assert ours.shape == ref.shape == (num_frames(len(x)), 40)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=2e-3, rtol=1e-4)


def test_600_dim_vector_matches_scipy_stats():
    x = _tone_and_noise(seed=3)
    vec = LogMelFunctionals()(x)
    ref = reference_functionals(reference_logmel(x))
    assert vec.shape == (600,) and vec.dtype == np.float32
    np.testing.assert_allclose(vec, ref, rtol=2e-3, atol=2e-3)
    assert len(feature_names()) == 600 and feature_names()[280] == "delta_mean_00"


def test_emodb_file_matches_independent_computation(emodb):
    from seraltools.audio import load_audio

    x = load_audio(emodb / "03a01Fa.wav").samples
    np.testing.assert_allclose(LogMelFunctionals()(x), reference_functionals(reference_logmel(x)),
                               rtol=2e-3, atol=2e-3)


def test_filterbank_equals_torchaudio():
    torchaudio = pytest.importorskip("torchaudio")
    ta = torchaudio.functional.melscale_fbanks(257, 0.0, 8000.0, 40, 16000, norm=None, mel_scale="htk").numpy()
    np.testing.assert_allclose(mel_filterbank(DEFAULT), ta, atol=1e-5)  # torchaudio computes in float32


def test_deltas_equal_torchaudio():
    torchaudio = pytest.importorskip("torchaudio")
    import torch

    c = np.random.default_rng(1).standard_normal((50, 40)).astype(np.float32)
    ta = torchaudio.functional.compute_deltas(torch.from_numpy(c.T.copy()), win_length=5).numpy().T
    np.testing.assert_allclose(deltas(c), ta, atol=1e-5)


def test_frame_count_and_short_signals():
    assert num_frames(479) == 0
    assert num_frames(480) == 1
    assert num_frames(480 + 159) == 1
    assert num_frames(480 + 160) == 2
    assert frames(np.zeros(1000, np.float32)).shape == (4, 480)
    assert logmel(np.zeros(100, np.float32)).shape == (0, 40)


def test_moments_of_constant_band_are_zero_not_nan():
    c = np.ones((20, 3))
    c[:, 1] = np.arange(20)
    m = moments(c)
    assert np.isfinite(m).all()
    assert m[2, 0] == 0 and m[3, 0] == 0 and m[1, 0] == 0
    assert m[3, 1] == pytest.approx(stats.kurtosis(np.arange(20)))


def test_frontend_defaults():
    """The floor and the silence skipping chosen in issue #12 (the paper: 1e-10, none)."""
    assert DEFAULT.log_floor == 1e-8 and DEFAULT.skip_silence is True


def test_silence_is_floored_not_infinite():
    v = functionals(logmel(np.zeros(16000, np.float32)))
    assert np.isfinite(v).all()
    assert v[0] == pytest.approx(np.log(DEFAULT.log_floor), rel=1e-6)


PAPER = LogMelConfig(log_floor=1e-10, skip_silence=False)  # the paper's front-end, before issue #12


def _corpus_and_variants(n_speakers=4):
    from seraltools.synth import DEFAULT_EMOTIONS, make_speakers, synthesize

    rng = np.random.default_rng(0)
    corpus = [synthesize(s, e, rng) for s in make_speakers(n_speakers, seed=0) for e in DEFAULT_EMOTIONS
              for _ in range(3)]
    x = corpus[0]
    lead = len(x) // 3  # 50 % padding, unevenly split: a third of the padded file is zeros
    padded = np.concatenate([np.zeros(lead, np.float32), x, np.zeros(len(x) // 2 - lead, np.float32)])
    gapped = np.concatenate([x[: len(x) // 2], np.zeros(1600, np.float32), x[len(x) // 2 :]])  # 100 ms of zeros
    return corpus, padded, gapped


def _z_cosines(corpus, extra, cfg):
    """Cosine similarity of ``extra`` to every corpus utterance, functionals z-scored over all."""
    from seraltools.standardize import zscore

    z = zscore(np.array([functionals(logmel(a, cfg)) for a in corpus + [extra]]))
    u = z / np.linalg.norm(z, axis=1, keepdims=True)
    return u[:-1] @ u[-1]


def test_digital_silence_padding_does_not_change_the_functionals():
    """An utterance zero-padded by 50 % must describe the same voice: after corpus
    z-scoring (what MAL and the SVM see) its cosine similarity to the original is at
    least 0.99, the level of a near-duplicate (other utterances of the same synthetic
    speaker and emotion reach 0.4-0.7). The paper's floor of 1e-10 without trimming
    makes it unlike the original (about 0: the zeros dominate min, range and moments)."""
    corpus, padded, _ = _corpus_and_variants()
    assert trim_digital_silence(padded).tolist() == trim_digital_silence(corpus[0]).tolist()
    new = _z_cosines(corpus, padded, DEFAULT)
    assert new[0] >= 0.99 and np.argmax(new) == 0
    old = _z_cosines(corpus, padded, PAPER)
    assert old[0] < 0.5


def test_digital_silence_inside_is_left_out():
    """100 ms of zeros inside an utterance: its frames are dropped, so the original is
    still the nearest utterance; with the paper's front-end it is not."""
    corpus, _, gapped = _corpus_and_variants()
    assert len(logmel(gapped)) < len(logmel(gapped, PAPER))
    assert np.argmax(_z_cosines(corpus, gapped, DEFAULT)) == 0
    assert np.argmax(_z_cosines(corpus, gapped, PAPER)) != 0


def test_trim_keeps_a_signal_that_would_be_too_short():
    x = np.zeros(2000, np.float32)
    x[1000:1100] = 0.5  # 100 loud samples: less than a frame
    assert len(trim_digital_silence(x)) == 2000
    assert len(logmel(np.zeros(16000, np.float32))) == num_frames(16000)  # all silent: nothing dropped
