"""Log-mel functionals: the paper's 600-dimensional utterance vector (Sec. 3.3).

Layout, in this order (40 values each, one per mel band, low to high):

====================  ====================================================
 block                functionals over time
====================  ====================================================
 log-mel  (280)       mean, std, skewness, kurtosis, min, max, range
 delta    (160)       mean, std, skewness, kurtosis
 delta-delta (160)    mean, std, skewness, kurtosis
====================  ====================================================

Moments are population moments over the T frames: ``std = sqrt(m2)``,
``skewness = m3 / m2^1.5`` and ``kurtosis = m4 / m2^2 - 3`` (excess, Fisher), where
``m_k`` is the k-th central moment; these equal ``scipy.stats.skew`` and
``scipy.stats.kurtosis`` with their defaults. A band that is constant over time
(``m2`` at the float64 resolution of its mean, as scipy decides) gets skewness and
kurtosis 0. ``range = max - min``. Frames, log floor and deltas are those of
:mod:`seraltools.frontend`.
"""

from __future__ import annotations

import numpy as np

from seraltools.frontend import DEFAULT, LogMelConfig, NotStreamable, deltas, logmel, logmel_stream, logmel_stream_whole

FUNCTIONALS = ("mean", "std", "skewness", "kurtosis", "min", "max", "range")
MOMENTS = FUNCTIONALS[:4]


#: Above this many values, the functionals are computed a few bands at a time (long
#: recordings: memory flat in their length).
MOMENTS_BLOCK = 1 << 20


def moments(x: np.ndarray) -> np.ndarray:
    """Mean, std, skewness and excess kurtosis over axis 0: a (4, D) float64 array."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    d = x - mean
    d2 = d * d
    m2 = d2.mean(axis=0)
    m3 = (d2 * d).mean(axis=0)
    m4 = (d2 * d2).mean(axis=0)
    flat = m2 <= (np.finfo(np.float64).resolution * mean) ** 2
    safe = np.where(flat, 1.0, m2)
    skew = np.where(flat, 0.0, m3 / safe**1.5)
    kurt = np.where(flat, 0.0, m4 / safe**2 - 3.0)
    return np.stack([mean, np.sqrt(m2), skew, kurt])


def functionals(c: np.ndarray, width: int = DEFAULT.delta_width) -> np.ndarray:
    """The 600-dim vector (for 40 bands) from log-mel frames ``c`` of shape (T, bands)."""
    return _functional_rows(c, width).reshape(-1).astype(np.float32)


def _functional_rows(c: np.ndarray, width: int) -> np.ndarray:
    """(15, bands) float64: the rows of the layout above. Bands are independent, so a long
    recording goes a few bands at a time (memory flat in its length, same values)."""
    if c.size > MOMENTS_BLOCK and c.shape[1] > 1:
        step = max(1, MOMENTS_BLOCK // c.shape[0])
        return np.concatenate([_functional_rows(np.ascontiguousarray(c[:, i : i + step]), width)
                               for i in range(0, c.shape[1], step)], axis=1)
    d1 = deltas(c, width)
    d2 = deltas(d1, width)
    lo, hi = c.min(axis=0), c.max(axis=0)
    return np.concatenate([moments(c), lo[None], hi[None], (hi - lo)[None], moments(d1), moments(d2)])


def feature_names(n_mels: int = DEFAULT.n_mels) -> list[str]:
    """Names of the vector's dimensions, e.g. ``logmel_mean_00``, ``delta2_kurtosis_39``."""
    blocks = [("logmel", FUNCTIONALS), ("delta", MOMENTS), ("delta2", MOMENTS)]
    return [f"{b}_{f}_{i:02d}" for b, fs in blocks for f in fs for i in range(n_mels)]


class LogMelFunctionals:
    """Extractor: mono 16 kHz samples -> 600-dim log-mel functionals (float32)."""

    name = "logmel"

    def __init__(self, cfg: LogMelConfig = DEFAULT):
        self.cfg = cfg
        self.dim = 15 * cfg.n_mels

    def config(self) -> dict:
        return {"frontend": self.cfg.to_dict(), "functionals": list(FUNCTIONALS), "delta_moments": list(MOMENTS)}

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        return functionals(logmel(samples, self.cfg), self.cfg.delta_width)

    def stream(self, audio) -> np.ndarray:
        """The same vector from a :class:`seraltools.audio.AudioStream` (a long recording),
        holding its log-mel frames and not its samples."""
        try:
            c = logmel_stream(audio.blocks(), self.cfg, samples_hint=int(audio.seconds * 16000) + 1)
        except NotStreamable:  # (almost) all digital silence: framed whole, as logmel does, in another pass
            c = logmel_stream_whole(audio.blocks(), self.cfg, samples_hint=int(audio.seconds * 16000) + 1)
        return functionals(c, self.cfg.delta_width)
