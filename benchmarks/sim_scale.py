"""The simulation at the size of today's corpora (issue #31's "must show").

    python benchmarks/sim_scale.py [--before OTHER_CHECKOUT] [--steps time,bitwise,agreement,scale]
        [--emodb ../shared/corpora/emodb/wav] [--turevdb ../shared/corpora/turevdb/manifest.csv]
        [--ravdess ../shared/corpora/ravdess/manifest.csv] [--out bench-out/scale]
        [--before-timeout 900] [--sizes 7500,20000,100000]

Steps:
- time: wall time, peak memory (the largest process, workers included) and CPU
  utilisation (user + system time of every process / wall / cores) of `seral evaluate al
  --seed 0,1,2 --method mal,typiclust --budgets 1%,2%,5%,10%,20%` on RAVDESS (1,440
  utterances, log-mel) and on a synthetic stand-in of CREMA-D's size (7,500 rows of 600
  dims, 6 classes, 90 speakers, binary valence and arousal derived from the class), this
  checkout and, with --before, another one (stopped after --before-timeout seconds).
- bitwise: `seral evaluate al` at its default settings on EMO-DB and TurEV-DB, this
  checkout against --before: every column of the results the same, bit for bit.
- agreement: the subsample route against the exact search on EMO-DB, TurEV-DB and RAVDESS:
  `evaluate al --grid-rows 400` (the search on a stratified subsample of 400 rows, a
  quarter of TurEV-DB and RAVDESS, the share the default 2,000 is of 7,500) against
  `--grid-rows 0` (exact), --seed 0,1,2, MAL and random, budgets 1-20 %: the chosen C and
  gamma, and MCC per budget with the paired t-test over the 75 cells.
- scale: each selector (`mal-select --method M --budget 2%`), one `evaluate al` cell
  (--folds 5 --repeats 1, budgets 1-5 %, MAL and TypiClust; the time of the run / 5 cells)
  and `predict` with 2 % of the rows labelled, at N = --sizes (synthetic, 600 dims): wall
  time and peak memory each, in a fresh process.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SMALL = "1%,2%,5%,10%,20%"


def synthetic(n: int, path: Path, dim: int = 600, classes: int = 6, speakers: int = 90, seed: int = 0) -> Path:
    """A seeded stand-in corpus: features = speaker offset + class offset + noise, binary
    valence and arousal from the class (the class -> quarter map below)."""
    import pyarrow as pa

    from seraltools.table import set_features, write_table

    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    spk, emo = rng.integers(speakers, size=n), rng.integers(classes, size=n)
    x = (rng.standard_normal((speakers, dim))[spk] + 0.35 * rng.standard_normal((classes, dim))[emo]
         + 1.5 * rng.standard_normal((n, dim))).astype(np.float32)
    valence, arousal = np.array([0, 1, 1, 0, 0, 1])[emo % 6], np.array([1, 1, 0, 0, 1, 0])[emo % 6]
    t = pa.table({"id": [f"u{i:06d}" for i in range(n)], "speaker": [f"s{s:03d}" for s in spk],
                  "emotion": [f"e{e}" for e in emo], "valence": pa.array(valence, pa.int8()),
                  "arousal": pa.array(arousal, pa.int8())})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_table(set_features(t, x), path)
    return path


def run(args, root: Path = ROOT, timeout: float | None = None) -> dict:
    """`seral ARGS` with seral from ``root``: wall, peak RSS (MB, largest process), CPU
    utilisation (%, of all cores), or timed_out."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "seraltools", *map(str, args)], env=env, cwd=root,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        return {"wall": time.perf_counter() - t, "timed_out": True}
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode:
        raise SystemExit(f"seral {' '.join(map(str, args))} failed ({p.returncode}): {err.strip()[-800:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "peak_mb": after.ru_maxrss / 1024, "cpu": 100 * cpu / wall / (os.cpu_count() or 1),
            "timed_out": False}


def fmt(r: dict) -> str:
    if r.get("timed_out"):
        return f"> {r['wall']:.0f} s (stopped), peak and CPU not measured"
    return f"{r['wall']:8.1f} s  peak {r['peak_mb']:7.0f} MB  CPU {r['cpu']:5.1f} % of {os.cpu_count()} cores"


def features(corpus: str, source: str, out: Path) -> Path:
    path = out / f"{corpus}.parquet"
    if not path.exists():
        run(["extract", "-q", source, path])
    return path


def step_time(a, out: Path) -> None:
    tables = {"RAVDESS (1,440)": features("ravdess", a.ravdess, out),
              "synthetic 7,500 x 600": synthetic(7500, out / "synthetic7500.parquet")}
    print("\n== evaluate al --seed 0,1,2 --method mal,typiclust --budgets 1-20 %")
    for name, path in tables.items():
        cmd = ["evaluate", "al", "-q", "--seed", "0,1,2", "--method", "mal,typiclust", "--budgets", SMALL,
               "--select", path, "--classify", path, out / f"time_{path.stem}.parquet"]
        print(f"{name:<24} this checkout: {fmt(run(cmd))}", flush=True)
        if a.before:
            print(f"{name:<24} before:        {fmt(run(cmd, Path(a.before), a.before_timeout))}", flush=True)


def step_bitwise(a, out: Path) -> None:
    import pyarrow.parquet as pq

    if not a.before:
        print("\n== bitwise: needs --before")
        return
    print("\n== evaluate al at its defaults: this checkout against --before")
    for corpus, source in (("emodb", a.emodb), ("turevdb", a.turevdb)):
        path = features(corpus, source, out)
        res = {}
        for label, root in (("now", ROOT), ("before", Path(a.before))):
            res[label] = out / f"bitwise_{corpus}_{label}.parquet"
            r = run(["evaluate", "al", "-q", "--select", path, "--classify", path, res[label]], root)
            print(f"{corpus:<8} {label:<6} {fmt(r)}", flush=True)
        x, y = pq.read_table(res["now"]), pq.read_table(res["before"])
        diff = [c for c in x.column_names if c not in y.column_names or not x.column(c).equals(y.column(c))]
        print(f"{corpus:<8} {x.num_rows} result rows: " + ("every column the same, bit for bit" if not diff
                                                            else f"DIFFERENT columns: {', '.join(diff)}"))


def step_agreement(a, out: Path) -> None:
    import json

    import pyarrow.parquet as pq
    from scipy import stats

    from seraltools.simulate import _cell_means

    print("\n== the subsample route (--grid-rows 400) against the exact search (--grid-rows 0); "
          "MAL and random, --seed 0,1,2, 75 cells")
    for corpus, source in (("emodb", a.emodb), ("turevdb", a.turevdb), ("ravdess", a.ravdess)):
        path = features(corpus, source, out)
        tables = {}
        for rows in (0, 400):
            dest = out / f"agree_{corpus}_{rows}.parquet"
            if not dest.exists():
                run(["evaluate", "al", "-q", "--seed", "0,1,2", "--budgets", SMALL, "--grid-rows", rows,
                     "--select", path, "--classify", path, dest])
            tables[rows] = pq.read_table(dest)
        for rows, t in tables.items():
            svm = json.loads(t.schema.metadata[b"seral"])["history"][-1]["parameters"]["svm"]
            print(f"{corpus:<8} grid rows {rows:>3}: " + "; ".join(
                f"{task} C={h['C']:g} gamma={h['gamma'] * 600:g}/D CV MCC {h['cv_mcc']:.3f} ({h['route']}, "
                f"{h['search_rows']} rows)" for task, h in svm.items()))
        print(f"{'':<8} {'selector':<8} {'budget':>6} {'exact':>7} {'subsample':>9} {'diff':>7} {'p':>7}")
        for selector in ("mal", "random"):
            for b in (0.01, 0.02, 0.05, 0.10, 0.20):
                cells = {}
                for rows, t in tables.items():
                    sel = [r for r in t.to_pylist() if r["selector"] == selector and abs(r["budget"] - b) < 1e-6]
                    cells[rows] = _cell_means(sel)
                e = np.array([cells[0][k] for k in cells[0]])
                s = np.array([cells[400][k] for k in cells[0]])
                p = 1.0 if np.allclose(e, s) else float(stats.ttest_rel(s, e).pvalue)
                print(f"{corpus:<8} {selector:<8} {b * 100:>5g}% {e.mean():>7.3f} {s.mean():>9.3f} "
                      f"{(s - e).mean():>+7.3f} {p:>7.2g}")


def step_scale(a, out: Path) -> None:
    import pyarrow as pa

    from seraltools.table import read_table, write_table

    print("\n== at scale (synthetic, 600 dims): wall time and peak memory, each in a fresh process")
    for n in (int(v) for v in a.sizes.split(",")):
        path = synthetic(n, out / f"synthetic{n}.parquet")
        for method in ("mal", "random", "kcenter", "typiclust", "probcover", "stratified"):
            r = run(["mal-select", "-q", "--method", method, "--budget", "2%", path, out / f"q_{method}_{n}.parquet"],
                    timeout=a.step_timeout)
            print(f"N={n:>7} mal-select --method {method:<10} --budget 2%: {fmt(r)}", flush=True)
        r = run(["evaluate", "al", "-q", "--folds", "5", "--repeats", "1", "--budgets", "1%,2%,5%", "--method",
                 "mal,typiclust", "--select", path, "--classify", path, out / f"cells_{n}.parquet"],
                timeout=a.step_timeout)
        per = "" if r.get("timed_out") else f"  ({r['wall'] / 5:.1f} s per cell)"
        print(f"N={n:>7} evaluate al, 5 cells (MAL, TypiClust, random; 1-5 %): {fmt(r)}{per}", flush=True)
        table = read_table(str(path))
        labelled = np.random.default_rng(0).choice(n, max(2, n // 50), replace=False)
        lab = table.select(["id", "valence", "arousal"]).take(pa.array(np.sort(labelled)))
        write_table(lab, out / f"labels_{n}.parquet")
        r = run(["predict", "-q", path, out / f"labels_{n}.parquet", out / f"pred_{n}.parquet"],
                timeout=a.step_timeout)
        print(f"N={n:>7} predict, {len(labelled)} labelled rows (2 %), valence and arousal: {fmt(r)}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", help="another checkout (e.g. a git worktree of an earlier commit)")
    ap.add_argument("--steps", default="time,bitwise,agreement,scale")
    ap.add_argument("--emodb", default=str(ROOT.parent / "shared/corpora/emodb/wav"))
    ap.add_argument("--turevdb", default=str(ROOT.parent / "shared/corpora/turevdb/manifest.csv"))
    ap.add_argument("--ravdess", default=str(ROOT.parent / "shared/corpora/ravdess/manifest.csv"))
    ap.add_argument("--out", default="bench-out/scale")
    ap.add_argument("--before-timeout", type=float, default=900)
    ap.add_argument("--step-timeout", type=float, default=1800)
    ap.add_argument("--sizes", default="7500,20000,100000")
    a = ap.parse_args()
    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    t0 = time.perf_counter()
    for step in a.steps.split(","):
        {"time": step_time, "bitwise": step_bitwise, "agreement": step_agreement, "scale": step_scale}[step](a, out)
    print(f"\nwall time of the benchmark: {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
