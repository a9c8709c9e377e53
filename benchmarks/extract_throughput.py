"""Log-mel extraction throughput on a corpus, side by side with openSMILE eGeMAPS.

Issue #2's "must show": extraction throughput on all of EMO-DB as x real time, next
to openSMILE's eGeMAPS functionals on the same files in the same run; the goal is
>= 10x openSMILE's throughput on a 2-core machine.

    python benchmarks/extract_throughput.py [--corpus ../shared/corpora/emodb/wav] [--repeats 3]

seral is timed end to end as users run it: the `seral extract` command in a fresh
process (Python start-up, imports, reading, features, writing the Parquet table);
the ratios use that time. Its library is also timed in-process, like openSMILE.
openSMILE is timed in-process (its import and start-up not counted), one file after
another with `Smile.process_file`, in 1 process and in as many processes as seral's
largest worker count. Every configuration runs --repeats times; the best and the
median wall times are printed. Needs `pip install opensmile` (`make bench` does it).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpora" / "emodb" / "wav"

_SMILE = None


def _smile_init():
    global _SMILE
    import opensmile

    _SMILE = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                             feature_level=opensmile.FeatureLevel.Functionals)


def _smile_file(path: str):
    return _SMILE.process_file(path).shape


def time_opensmile(files: list[str], processes: int) -> float:
    if processes == 1:
        _smile_init()
        t = time.perf_counter()
        for f in files:
            _smile_file(f)
        return time.perf_counter() - t
    with Pool(processes, initializer=_smile_init) as pool:
        pool.map(_smile_file, files[:processes])  # start-up excluded, as for one process
        t = time.perf_counter()
        pool.map(_smile_file, files, chunksize=8)
        return time.perf_counter() - t


def time_seral(corpus: Path, workers: int, out: Path) -> float:
    cmd = [sys.executable, "-m", "seraltools", "extract", "--feat", "logmel", "--corpus", "auto",
           str(corpus), str(out), "--workers", str(workers), "--quiet"]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - t


def time_seral_library(corpus: Path, workers: int) -> float:
    """seral's library in-process, on the same footing as openSMILE (imports not counted)."""
    from seraltools.corpora import collect_inputs
    from seraltools.tools.extract import extract

    t = time.perf_counter()
    utts, _ = collect_inputs([str(corpus)])
    extract(utts, "logmel", workers=workers)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", default="1,2", help="seral worker counts, comma-separated")
    args = ap.parse_args()
    if not args.corpus.is_dir():
        sys.exit(f"corpus not found: {args.corpus} (give --corpus DIR)")

    import soundfile as sf

    from seraltools.audio import AUDIO_SUFFIXES

    files = sorted(str(p) for p in args.corpus.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    audio_s = sum(sf.info(f).duration for f in files)
    for f in files:  # warm the page cache so neither side pays for the first read
        Path(f).read_bytes()
    workers = [int(w) for w in args.workers.split(",")]
    print(f"corpus: {args.corpus} ({len(files)} files, {audio_s:.1f} s of audio)")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{args.repeats} repeats\n")

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for w in workers:
            times = [time_seral(args.corpus, w, Path(tmp) / "out.parquet") for _ in range(args.repeats)]
            rows.append(("seral extract --feat logmel (end to end, CLI)", w, times))
        for w in workers:
            time_seral_library(args.corpus, w)  # imports and caches, as openSMILE's start-up
            times = [time_seral_library(args.corpus, w) for _ in range(args.repeats)]
            rows.append(("seral library, logmel (in-process)", w, times))
    try:
        import opensmile  # noqa: F401

        for p in sorted({1, max(workers)}):
            times = [time_opensmile(files, p) for _ in range(args.repeats)]
            rows.append(("openSMILE eGeMAPSv02 functionals (in-process)", p, times))
    except ImportError:
        print("opensmile is not installed: pip install opensmile (or make bench)\n")

    print(f"{'extractor':<50} {'procs':>5} {'best s':>8} {'median s':>9} {'x real time':>12}")
    best = {}
    for name, p, times in rows:
        b, m = min(times), statistics.median(times)
        best.setdefault((name.split()[0], p), b)  # seral: the end-to-end CLI time
        print(f"{name:<50} {p:>5} {b:>8.3f} {m:>9.3f} {audio_s / b:>12.0f}")
    smile1 = best.get(("openSMILE", 1))
    if smile1:
        print()
        for (tool, p), b in best.items():
            if tool == "seral":
                print(f"seral at {p} worker(s) vs openSMILE in 1 process: {smile1 / b:.1f}x the throughput")
        smile_n = best.get(("openSMILE", max(workers)))
        if smile_n and max(workers) > 1:
            print(f"seral at {max(workers)} workers vs openSMILE in {max(workers)} processes: "
                  f"{smile_n / best[('seral', max(workers))]:.1f}x the throughput")


if __name__ == "__main__":
    main()
