"""Issue #27's resource figures: peak memory and exit status of `seral extract` on long
digital silence and on WAV files whose header lies about the sample rate.

    python benchmarks/faults.py [--minutes 60,180] [--rates 1,9999991] [--root CHECKOUT]

Writes, in a temporary directory, 16-bit 16 kHz mono WAV files of exact zeros (60 and
180 minutes, written block by block) and 32 KB WAV files of one second of a sine whose
header claims another rate (1 Hz: a 4 KB file then "lasts" hours; 9,999,991 Hz: a prime,
which asked the resampler for gigabytes). Runs `seral extract` on each, one file per run,
in a fresh process, and prints its exit status, wall seconds and peak resident memory
(getrusage of the child), with the first line of its stderr. ``--root`` runs the seral
of another checkout (e.g. a worktree of an older commit) for a before/after comparison;
``--limit-mb`` runs each under that address-space limit (ulimit -v).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WRAP = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
        "stderr=subprocess.PIPE, text=True); print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
        "print(p.stderr.strip().splitlines()[0] if p.stderr.strip() else '')")


def write_silence(path: Path, minutes: float) -> None:
    import soundfile as sf

    block = np.zeros(60 * 16000, np.int16)
    with sf.SoundFile(path, "w", samplerate=16000, channels=1, subtype="PCM_16") as f:
        for _ in range(int(minutes)):
            f.write(block)


def write_lying(path: Path, rate: int) -> None:
    """One second of a sine at 16 kHz (32 KB), its header claiming ``rate`` Hz."""
    x = (0.3 * np.sin(np.arange(16000) * 0.1) * 32767).astype("<i2").tobytes()
    body = b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, 2 * rate, 2, 16) + b"data" + struct.pack("<I", len(x)) + x
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def run(args: list, root: Path, limit_mb: int | None, cwd: Path) -> tuple[int, float, float, str]:
    """(exit status, wall s, peak MB, first line of stderr); run in ``cwd`` so that ``python -m``
    imports the seral of ``root`` and not of the current directory."""
    env = {**os.environ, "PYTHONPATH": str(root)}

    def limit():
        if limit_mb:
            resource.setrlimit(resource.RLIMIT_AS, (limit_mb << 20, limit_mb << 20))

    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", WRAP, sys.executable, "-m", "seraltools", *map(str, args)],
                         capture_output=True, text=True, env=env, preexec_fn=limit, cwd=cwd)
    wall = time.perf_counter() - t
    first, rest = (out.stdout.split("\n", 1) + [""])[:2]
    code, rss = first.split()
    return int(code), wall, int(rss) / 1024, rest.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", default="60,180")
    ap.add_argument("--rates", default="1,9999991")
    ap.add_argument("--root", type=Path, default=ROOT, help="checkout whose seral runs")
    ap.add_argument("--limit-mb", type=int, default=None, help="address-space limit of each run (MB)")
    args = ap.parse_args()
    print(f"# seral from {args.root}; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
          + (f"; ulimit -v {args.limit_mb} MB" if args.limit_mb else ""))
    print(f"{'input':<34} {'exit':>4} {'wall s':>7} {'peak MB':>8}  stderr")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        cases = []
        for m in [float(v) for v in args.minutes.split(",") if v]:
            f = d / f"zeros-{m:g}min.wav"
            write_silence(f, m)
            cases.append((f"{m:g} min of digital silence", f))
        for r in [int(v) for v in args.rates.split(",") if v]:
            f = d / f"rate-{r}.wav"
            write_lying(f, r)
            cases.append((f"32 KB WAV, header says {r:,} Hz", f))
        for label, f in cases:
            code, wall, peak, err = run(["extract", "-q", "-j", 1, f, d / "o.parquet"], args.root, args.limit_mb, d)
            print(f"{label:<34} {code:>4} {wall:>7.1f} {peak:>8.0f}  {err[:150]}")
            f.unlink()


if __name__ == "__main__":
    main()
