"""A deterministic synthetic emotional-speech corpus: the embedded default data.

seral cannot ship a real corpus, so ``make demo`` and the tests use this stand-in:
source-filter "speech" of syllable-like voiced segments. It is **not speech** and
results on it say nothing about real corpora; it only gives the tools audio with a
known structure:

- a **speaker** fixes the base F0 (male-like ~110 Hz or female-like ~210 Hz, with
  jitter between speakers) and a vocal-tract length factor that scales the formants;
- an **emotion** shifts prosody: F0 level (semitones) and range, speaking rate
  (syllables per second), energy (dB) and spectral tilt (the glottal low-pass pole).

The same ``seed`` and settings give byte-identical files.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seraltools.audio import SAMPLE_RATE
from seraltools.corpora import VA_DEFAULT
from seraltools.errors import BadInput
from seraltools.table import atomic_path


@dataclass(frozen=True)
class Prosody:
    f0_shift: float  # semitones above the speaker's base F0
    f0_range: float  # scale of the F0 movement within the utterance
    rate: float  # syllables per second
    energy_db: float  # level relative to neutral
    tilt: float  # glottal low-pass pole: higher = steeper spectral tilt (softer voice)


#: How each emotion shifts prosody (loosely after the acoustic correlates in the SER literature).
PROSODY: dict[str, Prosody] = {
    "neutral": Prosody(0.0, 1.0, 4.0, 0.0, 0.93),
    "anger": Prosody(4.0, 1.6, 4.8, 8.0, 0.80),
    "happiness": Prosody(5.0, 2.0, 4.6, 4.0, 0.86),
    "sadness": Prosody(-2.0, 0.5, 3.0, -6.0, 0.97),
    "fear": Prosody(7.0, 1.3, 5.2, 1.0, 0.88),
    "boredom": Prosody(-1.5, 0.4, 3.2, -3.0, 0.95),
}
DEFAULT_EMOTIONS = ("anger", "happiness", "neutral", "sadness")

#: (F1, F2, F3) in Hz of five vowels for an average adult vocal tract.
VOWELS = np.array([[730, 1090, 2440], [270, 2290, 3010], [300, 870, 2240], [530, 1840, 2480], [570, 840, 2410]])


@dataclass(frozen=True)
class Speaker:
    name: str
    f0: float  # base F0 in Hz
    tract: float  # formant scale factor (shorter tract = higher formants)


def make_speakers(n: int, seed: int = 0) -> list[Speaker]:
    rng = np.random.default_rng([seed, 1])
    out = []
    for i in range(n):
        female = i % 2 == 1
        f0 = (210.0 if female else 115.0) * 2 ** (rng.uniform(-2, 2) / 12)
        tract = (1.15 if female else 1.0) * rng.uniform(0.94, 1.06)
        out.append(Speaker(f"s{i + 1:02d}", float(f0), float(tract)))
    return out


def _resonator(freq: float, bw: float, sr: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.exp(-np.pi * bw / sr)
    theta = 2 * np.pi * freq / sr
    a = np.array([1.0, -2 * r * np.cos(theta), r * r])
    return np.array([a.sum()]), a  # unit gain at DC


def synthesize(speaker: Speaker, emotion: str, rng: np.random.Generator, sr: int = SAMPLE_RATE) -> np.ndarray:
    """One utterance of ``speaker`` in ``emotion``: float32 samples in [-1, 1]."""
    from scipy.signal import lfilter

    p = PROSODY[emotion]
    n_syll = int(rng.integers(6, 12))
    syll_len = 1.0 / (p.rate * rng.uniform(0.92, 1.08))
    base = speaker.f0 * 2 ** (p.f0_shift / 12)
    pieces = [np.zeros(int(0.12 * sr))]
    phase = 0.0
    for k in range(n_syll):
        n = int(syll_len * sr * rng.uniform(0.75, 1.1))
        voiced = int(n * 0.72)
        t = np.arange(voiced) / voiced
        # F0: declination over the utterance, an accent per syllable scaled by the emotion's range
        accent = 0.12 * p.f0_range * np.sin(np.pi * t) * rng.uniform(0.3, 1.0)
        f0 = base * (1 - 0.15 * k / n_syll) * (1 + accent) * (1 + 0.01 * rng.standard_normal(voiced))
        ph = phase + np.cumsum(f0 / sr)
        pulses = np.diff(np.floor(ph), prepend=np.floor(phase)).astype(float)
        phase = ph[-1]
        glottal = lfilter([1.0], [1.0, -p.tilt], lfilter([1.0], [1.0, -p.tilt], pulses))
        glottal = np.diff(glottal, prepend=0.0)  # lip radiation
        src = glottal + 0.02 * rng.standard_normal(voiced)
        vowel = VOWELS[rng.integers(len(VOWELS))] * speaker.tract
        y = src
        for f, bw in zip(vowel, (80.0, 100.0, 140.0)):
            b, a = _resonator(min(float(f), sr / 2 - 200), bw, sr)
            y = lfilter(b, a, y)
        y *= np.hanning(voiced) ** 0.5
        consonant = 0.02 * rng.standard_normal(n - voiced) * np.hanning(n - voiced)
        pieces += [consonant, y]
    pieces.append(np.zeros(int(0.12 * sr)))
    x = np.concatenate(pieces)
    x = x / (np.max(np.abs(x)) + 1e-9) * 0.25 * 10 ** (p.energy_db / 20)
    x += 1e-4 * rng.standard_normal(len(x))  # recording noise floor
    return np.clip(x, -0.99, 0.99).astype(np.float32)


def make_corpus(
    out_dir: str | Path,
    *,
    speakers: int = 4,
    emotions: tuple[str, ...] = DEFAULT_EMOTIONS,
    per_cell: int = 6,
    seed: int = 0,
) -> Path:
    """Write ``speakers x emotions x per_cell`` WAV files (16 kHz, 16-bit) and a
    ``manifest.csv`` (id, path, speaker, emotion, valence, arousal, corpus) to
    ``out_dir``; returns the manifest's path. File names are ``s01_anger_00.wav``."""
    import soundfile as sf

    unknown = [e for e in emotions if e not in PROSODY]
    if unknown:
        raise BadInput(f"--emotions: no prosody for {', '.join(unknown)}; choose from {', '.join(PROSODY)}")
    if speakers < 1 or per_cell < 1:
        raise BadInput("--speakers and --per-cell must be 1 or more")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for si, spk in enumerate(make_speakers(speakers, seed)):
        for emo in emotions:
            for k in range(per_cell):
                rng = np.random.default_rng([seed, 2, si, list(PROSODY).index(emo), k])
                name = f"{spk.name}_{emo}_{k:02d}"
                with atomic_path(out / f"{name}.wav") as tmp:
                    sf.write(tmp, synthesize(spk, emo, rng), SAMPLE_RATE, subtype="PCM_16", format="WAV")
                v, a = VA_DEFAULT[emo]
                rows.append([name, f"{name}.wav", spk.name, emo, v, a, "synthetic"])
    manifest = out / "manifest.csv"
    with atomic_path(manifest) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "path", "speaker", "emotion", "valence", "arousal", "corpus"])
        w.writerows(rows)
    return manifest
