"""Long recordings -> utterances, cut at long silences found by an energy threshold.

The MAL paper split FESC's 450 passages into 4,254 utterances "based on long silences
defined by an energy threshold" (cpc-dimred-medoid-active-learning, Sec. 3.1); it gives
no numbers, so seral's defaults (:class:`SegmentConfig`) are stated here:

1. frame energy: 25 ms frames every 10 ms of the 16 kHz signal, ``10 log10(mean x^2)``;
2. the recording's speech level: the 95th percentile of its frame energies; a frame is
   voiced when its energy is above ``level + threshold_db`` (default 40 dB below) and
   above 16-bit digital silence (-90 dB); and, when the recording has a steady noise
   floor, ``FLOOR_MARGIN_DB`` (6 dB) above it. The floor is the 10th percentile of the
   frames above digital silence, taken as a noise floor when the quietest frames are
   steady (the 5th to 25th percentiles within ``FLOOR_SPREAD_DB``, 6 dB: stationary
   noise, not soft speech) and at least 10 dB under the level; so speech at -16 dBFS over
   white noise at -50 dBFS is cut at its pauses, where the level alone (-56 dB) would
   put the noise among the voiced frames;
3. a run of at least ``min_silence`` seconds (default 0.4) of unvoiced frames ends an
   utterance; each utterance spans its first to last voiced frame, widened by ``pad``
   (default 0.1 s) on each side but never into its neighbour;
4. utterances shorter than ``min_length`` (default 0.5 s) are dropped (clicks,
   breaths); longer than ``max_length`` (default 20 s) are split at their quietest
   frame (at least ``min_length`` from either end), again until none is too long.

A recording with little cut as silence (under ``LITTLE_SILENCE`` of its length once
over ``WARN_SECONDS``), or whose utterances were mostly split at ``max_length``, gets a
warning: its threshold probably sits under its pauses' level (raise ``--threshold``).

The recording is read as a stream (:func:`seraltools.audio.stream_audio`): memory
holds the frame energies (4 bytes per 10 ms), never the audio.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from seraltools.audio import SAMPLE_RATE, Embedded, Segment, stream_audio
from seraltools.errors import BadInput

FRAME, HOP = 400, 160  # 25 ms frames every 10 ms at 16 kHz
LEVEL_PERCENTILE = 95.0
#: Frames at or below 16-bit digital silence are never voiced, whatever the level.
SILENCE_DB = -90.0
#: The noise floor (step 2): a percentile of the frames above digital silence, taken when
#: the quietest frames are this steady (dB from the 5th to the 25th percentile) and this
#: far under the level; voiced frames must be FLOOR_MARGIN_DB above it.
FLOOR_PERCENTILE, FLOOR_SPREAD_DB, FLOOR_MARGIN_DB, FLOOR_MIN_RANGE_DB = 10.0, 6.0, 6.0, 10.0
#: Warnings: less than this share of a recording longer than WARN_SECONDS cut as silence,
#: or more than this share of its utterances split at --max-length.
LITTLE_SILENCE, WARN_SECONDS, MANY_SPLIT = 0.05, 30.0, 0.5


@dataclass(frozen=True)
class SegmentConfig:
    threshold_db: float = -40.0
    min_silence: float = 0.4
    min_length: float = 0.5
    max_length: float = 20.0
    pad: float = 0.1

    def check(self) -> None:
        if not self.threshold_db < 0:
            raise BadInput(f"--threshold {self.threshold_db:g}: give decibels below the speech level (< 0)")
        for name in ("min_silence", "min_length", "pad"):
            if not getattr(self, name) >= 0:
                raise BadInput(f"--{name.replace('_', '-')} {getattr(self, name):g}: give seconds >= 0")
        if not self.max_length > 2 * self.min_length:
            raise BadInput(f"--max-length {self.max_length:g}: give more than twice --min-length ({self.min_length:g} s)")

    def to_dict(self) -> dict:
        return asdict(self)


def frame_energies(blocks) -> np.ndarray:
    """dB energy of each 25 ms frame every 10 ms of a 16 kHz signal given as blocks."""
    out: list[np.ndarray] = []
    carry = np.zeros(0, np.float32)
    for block in blocks:
        x = np.concatenate((carry, np.asarray(block, np.float32)))
        n = 0 if len(x) < FRAME else 1 + (len(x) - FRAME) // HOP
        if n:
            sq = np.square(x[: (n - 1) * HOP + FRAME], dtype=np.float64)
            c = np.concatenate(([0.0], np.cumsum(sq)))
            starts = np.arange(n) * HOP
            out.append(((c[starts + FRAME] - c[starts]) / FRAME).astype(np.float64))
        carry = x[n * HOP :]
    power = np.concatenate(out) if out else np.zeros(0)
    return 10.0 * np.log10(np.maximum(power, 1e-12))


def voicing_threshold(energy: np.ndarray, cfg: SegmentConfig = SegmentConfig()) -> float:
    """The energy (dB) above which a frame is voiced: step 2 of the module's description."""
    level = float(np.percentile(energy, LEVEL_PERCENTILE))
    threshold = level + cfg.threshold_db
    audible = energy[energy > SILENCE_DB]
    if len(audible) >= 20:
        p5, floor, p25 = np.percentile(audible, [5.0, FLOOR_PERCENTILE, 25.0])
        if p25 - p5 <= FLOOR_SPREAD_DB and level - floor >= FLOOR_MIN_RANGE_DB:  # a steady noise floor
            threshold = max(threshold, min(float(floor) + FLOOR_MARGIN_DB, level - FLOOR_MIN_RANGE_DB))
    return threshold


def find_utterances(energy: np.ndarray, seconds: float, cfg: SegmentConfig = SegmentConfig(),
                    stats: dict | None = None) -> list[tuple[float, float]]:
    """(start, end) seconds of the utterances in a recording of ``seconds`` s whose frame
    energies are ``energy``; see the module's steps 2-4. ``stats`` (a dict) gets the share
    of frames cut as silence (``silence``) and how many utterances come from splits at
    max_length (``split``)."""
    if not len(energy):
        return []
    hop_s, frame_s = HOP / SAMPLE_RATE, FRAME / SAMPLE_RATE
    voiced = (energy > voicing_threshold(energy, cfg)) & (energy > SILENCE_DB)
    idx = np.flatnonzero(voiced)
    if stats is not None:
        stats.update(silence=1.0 - len(idx) / len(energy), split=0)
    if not len(idx):
        return []
    gap = int(np.ceil(cfg.min_silence / hop_s))
    # runs of voiced frames separated by fewer than `gap` unvoiced ones are one utterance
    breaks = np.flatnonzero(np.diff(idx) > gap)
    runs = [(int(idx[a]), int(idx[b])) for a, b in zip(np.r_[0, breaks + 1], np.r_[breaks, len(idx) - 1])]
    spans: list[tuple[int, int]] = []
    for first, last in runs:
        pieces = _split(first, last, energy, cfg, hop_s, frame_s)
        spans += pieces
        if stats is not None and len(pieces) > 1:
            stats["split"] += len(pieces)
    raw = [(first * hop_s, last * hop_s + frame_s) for first, last in spans]
    raw = [(a, b) for a, b in raw if b - a >= cfg.min_length]
    out = [[max(0.0, a - cfg.pad), min(seconds, b + cfg.pad)] for a, b in raw]
    for i in range(1, len(out)):  # padding never reaches into the neighbour
        if out[i - 1][1] > out[i][0]:
            mid = (raw[i - 1][1] + raw[i][0]) / 2
            out[i - 1][1], out[i][0] = min(out[i - 1][1], mid), max(out[i][0], mid)
    # to 0.1 ms, rounded inward so that a span never reaches past the recording
    return [(math.ceil(a * 1e4) / 1e4, math.floor(b * 1e4) / 1e4) for a, b in out]


def _split(first: int, last: int, energy: np.ndarray, cfg: SegmentConfig, hop_s: float,
           frame_s: float) -> list[tuple[int, int]]:
    """[first, last] frames, split at the quietest frame (of equally quiet ones, the one
    nearest the middle) until no piece exceeds max_length; pieces in time order."""
    margin = max(1, int(np.ceil(cfg.min_length / hop_s)))
    done, todo = [], [(first, last)]
    while todo:
        a, b = todo.pop()
        lo, hi = a + margin, b - margin
        if (b - a) * hop_s + frame_s <= cfg.max_length or hi <= lo:
            done.append((a, b))
            continue
        e = energy[lo:hi]
        quietest = np.flatnonzero(e <= e.min())
        cut = lo + int(quietest[np.argmin(np.abs(quietest - (hi - lo) / 2))])
        todo += [(cut + 1, b), (a, cut - 1)]  # the earlier piece is popped first
    return done


def segment_recording(source, cfg: SegmentConfig = SegmentConfig(), warn=None) -> tuple[float, list[tuple[float, float]]]:
    """(recording seconds, [(start, end) seconds]) of one file or :class:`Segment`; the
    times are the file's own (a segment's offset added). ``warn``: called with a line when
    the cut looks wrong (little silence, or mostly splits at max_length)."""
    with stream_audio(source) as (seconds, blocks):
        energy = frame_energies(blocks)
    offset = (source.start or 0.0) if isinstance(source, (Segment, Embedded)) else 0.0
    stats: dict = {}
    spans = find_utterances(energy, seconds, cfg, stats)
    if warn and spans:
        if seconds >= WARN_SECONDS and stats["silence"] < LITTLE_SILENCE:
            warn(f"{source}: only {100 * stats['silence']:.0f}% of it was cut as silence, so the pauses may lie above "
                 "the threshold (background noise?); check the utterances, or raise --threshold (e.g. -25)")
        elif len(spans) >= 4 and stats["split"] > MANY_SPLIT * len(spans):
            warn(f"{source}: {stats['split']} of its {len(spans)} utterances were split at --max-length "
                 f"{cfg.max_length:g} s, so the pauses may lie above the threshold; check them, or raise --threshold")
    return seconds, [(offset + a, offset + b) for a, b in spans]
