"""The acoustic front-end: the one place that computes log-mel frames and deltas.

Every tool that needs frame-level log-mel features (``extract --feat logmel``,
``train-cpc``, ``extract --feat cpc``) calls :func:`logmel`, so they all see the same
frames. Definitions (paper "cpc-dimred-medoid-active-learning", Sec. 3.2):

- input: mono float32 samples in [-1, 1] at 16 kHz (see :mod:`seraltools.audio`);
- digital silence: leading and trailing samples no louder than one 16-bit step
  (``|x| <= 2^-15``, :data:`DIGITAL_SILENCE`) are trimmed before framing
  (:func:`trim_digital_silence`; a signal that would keep less than one frame is
  left whole), and frames inside the utterance made only of such samples are left
  out (unless every frame is);
- frames: 30 ms (480 samples) with a 10 ms (160 samples) shift, no padding: an
  utterance of N samples has ``1 + (N - 480) // 160`` frames, and one shorter than a
  frame has none (an error for the tools);
- window: periodic Hann, ``w[n] = 0.5 - 0.5 cos(2 pi n / 480)``;
- spectrum: power ``|FFT_512(w * x)|^2`` over 257 bins, 0 to 8 kHz;
- mel filterbank: 40 triangular filters, HTK mel scale ``2595 log10(1 + f / 700)``,
  centres evenly spaced in mel between 0 Hz and 8 kHz, peak height 1 (no area
  normalisation) -- the same bank as ``torchaudio.functional.melscale_fbanks(...,
  norm=None, mel_scale="htk")``;
- log: natural logarithm with a floor, ``ln(max(E, 1e-8))``;
- deltas: the HTK regression formula over +-2 frames,
  ``d_t = sum_{n=1..2} n (c_{t+n} - c_{t-n}) / 10``, edges replicated (as
  ``torchaudio.functional.compute_deltas(win_length=5)``); second-order deltas are the
  deltas of the deltas.

**Why the trimming and the floor** (issue #12). Corpora cut from longer recordings
often hold stretches of exact zeros. The paper's floor of 1e-10 (``ln`` = -23) puts a
frame of zeros far below any recorded sound, so the min, range and moments of the
functionals then describe how much digital silence a file has, not the voice, and
MAL clusters on it. Trimming the leading and trailing digital silence makes an
utterance and the same utterance zero-padded give the same frames, and dropping
the frames of digital silence inside it does the same for a gap of zeros
(tests/test_frontend.py); the floor of 1e-8 is about the mel energy of 16-bit
quantisation noise in the narrowest band (noise power ``2^-30 / 12`` per sample
times ``sum(w^2) = 180`` for the 480-point Hann window = 1.4e-8), so zeros left
inside an utterance read as the quietest sound a 16-bit recording can hold. Real
recorded silence lies above it (EMO-DB: no mel energy below 1e-6). Measured with
``benchmarks/al_fidelity.py --steps frontend`` (README, ``seral evaluate al``): with
every file zero-padded by 50 %, MAL's mean gain over random sampling at 1-20 % falls
from +0.074 to +0.025 (EMO-DB) and from +0.039 to +0.005 (TurEV-DB) on the paper's
front-end, and is unchanged on this one; on the corpora as they are this front-end
gives the better SVM on TurEV-DB (4 % of its samples are exact zeros) and an equal
(EMO-DB) or slightly smaller (TurEV-DB, +0.032) MAL gain. ``LogMelConfig
(log_floor=1e-10, skip_silence=False)`` is the paper's front-end exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from math import gcd

import numpy as np

from seraltools.audio import SAMPLE_RATE


@dataclass(frozen=True)
class LogMelConfig:
    """Parameters of the log-mel front-end; the defaults are the paper's."""

    sample_rate: int = SAMPLE_RATE
    n_mels: int = 40
    win_ms: float = 30.0
    hop_ms: float = 10.0
    n_fft: int = 512
    f_min: float = 0.0
    f_max: float = SAMPLE_RATE / 2
    log_floor: float = 1e-8  # about 16-bit quantisation noise in one mel band (the paper: 1e-10)
    skip_silence: bool = True  # leave digital silence (|x| <= DIGITAL_SILENCE) out: ends trimmed, frames dropped
    delta_width: int = 2  # frames each side in the delta regression

    @property
    def win_length(self) -> int:
        return int(round(self.sample_rate * self.win_ms / 1000))

    @property
    def hop_length(self) -> int:
        return int(round(self.sample_rate * self.hop_ms / 1000))

    def to_dict(self) -> dict:
        return asdict(self)


DEFAULT = LogMelConfig()

#: Samples at or below one 16-bit step count as digital silence.
DIGITAL_SILENCE = 2.0**-15


def hz_to_mel(f, scale: str = "htk"):
    """Hz -> mel: ``htk`` (2595 log10(1 + f/700)) or ``slaney`` (linear below 1 kHz, log above)."""
    f = np.asarray(f, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    log_part = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / _SLANEY_LOG_STEP
    return np.where(f >= 1000.0, log_part, 3.0 * f / 200.0)


def mel_to_hz(m, scale: str = "htk"):
    m = np.asarray(m, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    return np.where(m >= 15.0, 1000.0 * np.exp(_SLANEY_LOG_STEP * (m - 15.0)), 200.0 * m / 3.0)


_SLANEY_LOG_STEP = np.log(6.4) / 27.0


def triangular_filterbank(n_freqs: int, f_min: float, f_max: float, n_mels: int, sample_rate: int,
                          scale: str = "htk", norm: str | None = None) -> np.ndarray:
    """Triangular mel filters over the ``n_freqs`` STFT bins as a (n_freqs, n_mels) float64
    matrix; ``norm="slaney"`` scales each filter to unit area (2 / its width in Hz). The
    banks of torchaudio's ``melscale_fbanks`` and librosa's ``filters.mel``."""
    freqs = np.linspace(0.0, sample_rate // 2, n_freqs)
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min, scale), hz_to_mel(f_max, scale), n_mels + 2), scale)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (freqs[:, None] - lower) / (centre - lower)
    falling = (upper - freqs[:, None]) / (upper - centre)
    fb = np.maximum(0.0, np.minimum(rising, falling))
    if norm == "slaney":
        fb *= 2.0 / (upper - lower)
    return fb


@lru_cache(maxsize=8)
def mel_filterbank(cfg: LogMelConfig = DEFAULT) -> np.ndarray:
    """The log-mel front-end's filters (HTK scale, no normalisation) as a read-only
    (n_fft // 2 + 1, n_mels) float64 matrix."""
    fb = triangular_filterbank(cfg.n_fft // 2 + 1, cfg.f_min, cfg.f_max, cfg.n_mels, cfg.sample_rate)
    fb.setflags(write=False)
    return fb


@lru_cache(maxsize=8)
def hann_window(length: int) -> np.ndarray:
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)
    w.setflags(write=False)
    return w


def num_frames(num_samples: int, cfg: LogMelConfig = DEFAULT) -> int:
    """Frames in an utterance of ``num_samples`` samples (0 when shorter than one frame)."""
    if num_samples < cfg.win_length:
        return 0
    return 1 + (num_samples - cfg.win_length) // cfg.hop_length


def frames(x: np.ndarray, cfg: LogMelConfig = DEFAULT) -> np.ndarray:
    """A read-only (T, win_length) view of the frames of a mono signal."""
    t = num_frames(len(x), cfg)
    x = np.ascontiguousarray(x, dtype=np.float32)
    return np.lib.stride_tricks.as_strided(
        x, shape=(t, cfg.win_length), strides=(cfg.hop_length * x.strides[0], x.strides[0]), writeable=False
    )


def _loud_span(loud: np.ndarray, min_length: int) -> slice:
    """From the first to the last loud sample; everything when less than ``min_length`` would remain."""
    first, stop = int(loud.argmax()), len(loud) - int(loud[::-1].argmax())
    if not loud[first] or stop - first < min_length:
        return slice(None)
    return slice(first, stop)


def trim_digital_silence(x: np.ndarray, min_length: int = DEFAULT.win_length) -> np.ndarray:
    """``x`` without its leading and trailing digital silence (samples with
    ``|x| <= DIGITAL_SILENCE``); ``x`` itself when less than ``min_length`` samples would remain."""
    return x[_loud_span(np.abs(x) > DIGITAL_SILENCE, min_length)]


def _is_loud(x: np.ndarray, block: int = 1 << 20) -> np.ndarray:
    """``np.abs(x) > DIGITAL_SILENCE`` without a full-length temporary."""
    loud = np.empty(len(x), bool)
    for i in range(0, len(x), block):
        np.greater(np.abs(x[i : i + block]), DIGITAL_SILENCE, out=loud[i : i + block])
    return loud


def _sounding_frames(x: np.ndarray, cfg: LogMelConfig) -> tuple[np.ndarray, np.ndarray | None]:
    """The frames of ``x`` with its digital silence left out: the ends trimmed, then the
    frames without one loud sample dropped (unless that would drop every frame).
    Returns a view of the frames and the indices of those kept (None: all of them)."""
    loud = _is_loud(x)
    if loud.all():  # the usual case for recorded audio
        return frames(x, cfg), None
    span = _loud_span(loud, cfg.win_length)
    x, loud = x[span], loud[span]
    fr = frames(x, cfg)
    quiet = ~loud[:: cfg.win_length // 2]  # a silent frame holds two of these points, one after the other
    if not (quiet[:-1] & quiet[1:]).any():
        return fr, None
    # frames and hops are whole numbers of granules: a frame is loud when one of its granules is
    g = gcd(cfg.win_length, cfg.hop_length)
    n = len(fr) * cfg.hop_length + cfg.win_length - cfg.hop_length  # the samples the frames cover
    granules = loud[:n].reshape(-1, g).any(axis=1)
    count = np.zeros(len(granules) + 1, np.int32)
    np.cumsum(granules, out=count[1:])
    starts = np.arange(len(fr)) * (cfg.hop_length // g)
    keep = count[starts + cfg.win_length // g] > count[starts]
    return fr, (np.flatnonzero(keep) if keep.any() and not keep.all() else None)


#: Frames transformed at a time: memory stays flat in the utterance's length (utterances
#: shorter than this, about 41 s, are one block).
FRAME_BLOCK = 4096


def logmel(x: np.ndarray, cfg: LogMelConfig = DEFAULT) -> np.ndarray:
    """Log-mel frames (T, n_mels) float32 of a mono 16 kHz signal."""
    fr, keep = _sounding_frames(x, cfg) if cfg.skip_silence else (frames(x, cfg), None)
    n = len(fr) if keep is None else len(keep)
    out = np.empty((n, cfg.n_mels), np.float32)
    for start in range(0, n, FRAME_BLOCK):
        stop = min(start + FRAME_BLOCK, n)
        out[start:stop] = _logmel_block(fr[start:stop] if keep is None else fr[keep[start:stop]], cfg)
    return out


def _logmel_block(block: np.ndarray, cfg: LogMelConfig) -> np.ndarray:
    """Log-mel rows of a (frames, win_length) block of at most FRAME_BLOCK frames."""
    # float64 on purpose: numpy's float64 FFT is as fast as scipy's here (its float32 one is
    # several times slower), and numpy spares every run the ~0.2 s import of scipy.fft
    spec = np.fft.rfft(block * hann_window(cfg.win_length), n=cfg.n_fft, axis=-1)
    power = spec.real**2 + spec.imag**2
    mel = power @ mel_filterbank(cfg)
    return np.log(np.maximum(mel, cfg.log_floor, out=mel), out=mel)


class NotStreamable(Exception):
    """Less than one frame between the first and the last loud sample: :func:`logmel` then
    frames the whole signal, which a stream has already passed."""


def logmel_stream(blocks, cfg: LogMelConfig = DEFAULT, samples_hint: int = 0) -> np.ndarray:
    """:func:`logmel` of the signal given as an iterable of mono 16 kHz blocks, bitwise,
    holding only the frames' log-mels and one :data:`FRAME_BLOCK` of frames (a long
    recording's memory is its log-mel frames, a quarter of its samples' in float32).

    The same frames in the same blocks of FRAME_BLOCK as :func:`logmel`: from the first
    loud sample, a hop apart, those with a loud sample, ending by the last loud sample.
    Raises :class:`NotStreamable` in the one case the stream cannot follow (less than one
    frame of audio between the first and the last loud sample); the caller then reads the
    signal whole. ``samples_hint``: about how many samples will come (the log-mels are
    then written into one array, not gathered and copied)."""
    win, hop = cfg.win_length, cfg.hop_length
    out = np.empty((num_frames(samples_hint + win, cfg), cfg.n_mels), np.float32)  # untouched pages cost nothing
    n_out = 0
    pending: list[np.ndarray] = []  # kept frames not yet transformed, (k, win) each
    pending_ends: list[np.ndarray] = []  # their end sample (exclusive, from the first loud one)
    n_pending = 0
    buf = np.empty(0, np.float32)  # samples from ``origin`` on, not yet framed
    loud_buf = np.empty(0, bool)
    origin = None  # index (from the first loud sample) of buf[0]
    stop = 0  # one past the last loud sample, from the first loud sample

    def transform(count: int) -> None:
        nonlocal pending, pending_ends, n_pending, out, n_out
        rows, ends = np.concatenate(pending), np.concatenate(pending_ends)
        if n_out + count > len(out):  # more than the hint said
            out = np.concatenate((out[:n_out], np.empty((max(count, n_out), cfg.n_mels), np.float32)))
        out[n_out : n_out + count] = _logmel_block(rows[:count], cfg)
        n_out += count
        pending, pending_ends, n_pending = [rows[count:]], [ends[count:]], len(rows) - count

    for block in blocks:
        block = np.asarray(block, np.float32)
        loud = np.abs(block) > DIGITAL_SILENCE if cfg.skip_silence else np.ones(len(block), bool)
        if origin is None:
            if not loud.any():
                continue
            first = int(loud.argmax())
            block, loud, origin = block[first:], loud[first:], 0
        loud_at = np.flatnonzero(loud)
        if len(loud_at):
            stop = origin + len(buf) + int(loud_at[-1]) + 1
        buf, loud_buf = np.concatenate((buf, block)), np.concatenate((loud_buf, loud))
        t = num_frames(len(buf), cfg)
        if t:
            count = np.zeros(len(buf) + 1, np.int32)
            np.cumsum(loud_buf, out=count[1:])
            starts = np.arange(t) * hop
            keep = np.flatnonzero(count[starts + win] > count[starts])
            pending.append(frames(buf, cfg)[keep])
            pending_ends.append(origin + starts[keep] + win)
            n_pending += len(keep)
            buf, loud_buf, origin = buf[t * hop :].copy(), loud_buf[t * hop :].copy(), origin + t * hop
        # transform a full FRAME_BLOCK once its frames surely end by the last loud sample
        while n_pending > FRAME_BLOCK and np.concatenate(pending_ends)[FRAME_BLOCK - 1] <= stop:
            transform(FRAME_BLOCK)
    if origin is None or stop < win:
        raise NotStreamable
    ends = np.concatenate(pending_ends) if pending_ends else np.empty(0, int)
    valid = int(np.searchsorted(ends, stop, side="right"))  # frames ending by the last loud sample
    while valid > 0:
        take = min(FRAME_BLOCK, valid)
        transform(take)
        valid -= take
    return out[:n_out]


def logmel_stream_whole(blocks, cfg: LogMelConfig = DEFAULT, samples_hint: int = 0) -> np.ndarray:
    """:func:`logmel` of a signal :func:`logmel_stream` could not follow (:class:`NotStreamable`:
    digital silence but for less than one frame), bitwise, from another pass over its blocks,
    holding only log-mel frames: there :func:`logmel` frames the whole signal and keeps the
    frames with a loud sample (a handful), or every frame when none has one (all silence:
    60 minutes of zeros are then 58 MB of log-mels, not 230 MB of samples)."""
    win, hop = cfg.win_length, cfg.hop_length
    out = np.empty((num_frames(samples_hint + win, cfg), cfg.n_mels), np.float32)
    n_out = 0
    pending: list[np.ndarray] = []  # frames not yet transformed (fewer than FRAME_BLOCK)
    n_pending = 0
    loud: list[np.ndarray] = []  # frames with a loud sample: fewer than a frame of audio is loud
    buf = np.empty(0, np.float32)

    def transform(count: int) -> None:
        nonlocal pending, n_pending, out, n_out
        rows = np.concatenate(pending)
        if n_out + count > len(out):  # more than the hint said
            out = np.concatenate((out[:n_out], np.empty((max(count, n_out), cfg.n_mels), np.float32)))
        out[n_out : n_out + count] = _logmel_block(rows[:count], cfg)
        n_out += count
        pending, n_pending = [rows[count:]], len(rows) - count

    for block in blocks:
        buf = np.concatenate((buf, np.asarray(block, np.float32)))
        t = num_frames(len(buf), cfg)
        if not t:
            continue
        fr = frames(buf, cfg)
        if cfg.skip_silence:
            sounding = (np.abs(fr) > DIGITAL_SILENCE).any(axis=1)
            if sounding.any():
                loud.append(fr[sounding].copy())
        pending.append(fr.copy())
        n_pending += t
        buf = buf[t * hop :].copy()
        while n_pending >= FRAME_BLOCK:
            transform(FRAME_BLOCK)
    if loud:
        return _logmel_block(np.concatenate(loud), cfg).astype(np.float32)
    if n_pending:
        transform(n_pending)
    return out[:n_out]


def deltas(c: np.ndarray, width: int = DEFAULT.delta_width) -> np.ndarray:
    """Regression deltas over +-``width`` frames along axis 0, edges replicated."""
    t = c.shape[0]
    padded = np.pad(c, ((width, width), (0, 0)), mode="edge")
    out = np.zeros_like(c)
    for n in range(1, width + 1):
        out += n * (padded[width + n : width + n + t] - padded[width - n : width - n + t])
    return out / (2 * sum(n * n for n in range(1, width + 1)))
