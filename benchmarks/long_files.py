"""Issue #18's long-file figures: peak memory of `seral extract` on 10- and 60-minute files.

    python benchmarks/long_files.py [--minutes 10,60] [--feats logmel,dvector] [--root CHECKOUT]

Writes synthetic recordings (16-bit WAV, 16 kHz mono, and 44.1 kHz stereo: a speech-
like mixture of harmonics and noise, amplitude-modulated at syllable rate with pauses)
to a temporary directory and runs `seral extract --feat F` on each, one file per run,
in a fresh process: wall seconds and the peak resident memory of the command
(getrusage of the child). ``--root`` runs the seral of another checkout (e.g. a git
worktree of an older commit) for a before/after comparison.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _measure import seral_peak  # noqa: E402


def write_recording(path: Path, minutes: float, rate: int, channels: int, seed: int = 0) -> None:
    """A speech-like recording written block by block (never whole in memory)."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    block = 60 * rate
    with sf.SoundFile(path, "w", samplerate=rate, channels=channels, subtype="PCM_16") as f:
        for start in range(0, int(minutes * 60 * rate), block):
            t = (start + np.arange(block)) / rate
            f0 = 120 + 30 * np.sin(2 * np.pi * 0.3 * t)
            voiced = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / rate) / k for k in range(1, 8))
            envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) * (np.sin(2 * np.pi * 0.1 * t) > -0.3)
            x = 0.2 * envelope * voiced + 0.01 * rng.standard_normal(block)
            f.write(np.repeat(x[:, None], channels, axis=1) if channels > 1 else x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", default="10,60")
    ap.add_argument("--feats", default="logmel,dvector")
    ap.add_argument("--root", type=Path, default=ROOT, help="checkout whose seral runs")
    args = ap.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} cores; seral from {args.root}")
    print(f"{'file':<28} {'feature':<8} {'wall (s)':>9} {'peak RSS (MB)':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in (float(m) for m in args.minutes.split(",")):
            for rate, channels in ((16000, 1), (44100, 2)):
                wav = Path(tmp) / f"rec-{minutes:g}min-{rate}-{channels}ch.wav"
                write_recording(wav, minutes, rate, channels)
                for feat in args.feats.split(","):
                    wall, rss = seral_peak("extract", "-q", "-j", 1, "--corpus", "none", "--feat", feat, wav,
                                    f"{tmp}/out.parquet", root=args.root)
                    label = f"{minutes:g} min, {rate / 1000:g} kHz {'mono' if channels == 1 else 'stereo'}"
                    print(f"{label:<28} {feat:<8} {wall:>9.1f} {rss:>14.0f}", flush=True)
                wav.unlink()


if __name__ == "__main__":
    main()
