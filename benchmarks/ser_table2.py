"""The speaker paper's Table 2 on any labelled corpora, with pretraining audio given apart
from the evaluation corpus and cross-corpus rows (issue #20).

    python benchmarks/ser_table2.py                       # EMO-DB and TurEV-DB from ../shared
    python benchmarks/ser_table2.py --corpus mine=corpus/manifest.csv --emotions mine=anger,neutral,sad \\
        [--pretrain-audio mine=unlabelled/] [--out bench-out/table2] [--steps 200] [--seeds 5] [--epochs 5]
        [--cross contrastive] [--jobs 2] [--device auto] [--arch "--conv-channels 32 --width 128 ..."]

Per corpus C (a directory or a manifest; labels as `seral evaluate ser` reads them):
1. d-vectors of C's *pretraining audio* (--pretrain-audio C=SOURCE; default C itself) ->
   `seral cluster-speakers --k 20` (the paper's N);
2. `seral pretrain` on that audio, no emotion labels, one encoder per objective: speaker,
   contrastive, mtl, adversarial (--steps steps of 8 anchors, 2-s segments);
3. `seral evaluate ser` on C: the --emotions classes, speaker-independent folds (--folds C=N;
   EMO-DB 5, TurEV-DB 3, else evaluate ser's default), --seeds seeds, --epochs epochs at lr 1e-4; one
   condition per job: no pretraining and the four encoders;
4. with two or more corpora, cross-corpus rows: the --cross objectives' encoders of every
   other corpus fine-tuned and tested on C, so no test speaker was heard in pretraining.

Every job's output is kept under OUT/<corpus>/ and skipped when present, and pretraining
resumes from its checkpoint, so an interrupted run continues; wall times go to
OUT/<corpus>/*.time (a resumed job's: since it resumed). Jobs run --jobs at a time with one
torch thread each. The printed tables: UAR (%) mean and std over seeds of the mean over
folds; "vs none": the mean paired difference, with paired t-tests over the seeds (each
seed's mean over folds) and over the (fold, seed) runs; and contrastive against mtl.

On a GPU (--device cuda --jobs 1) raise --steps and --arch (the paper's compact encoder:
"--conv-channels 512 --width 768 --layers 6 --heads 12"); pretraining steps per second are
printed from the wall times.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OBJECTIVES = ("speaker", "contrastive", "mtl", "adversarial")
ORDER = ["no pretraining", "speaker", "contrastive", "mtl", "adversarial"]  # Table 2's rows
SHARED = ROOT.parent / "shared" / "corpora"
DEFAULTS = {"TurEV-DB": (SHARED / "turevdb" / "manifest.csv", "anger,calm,happiness,sadness", "3"),  # 6 speakers
            "EMO-DB": (SHARED / "emodb" / "wav", "anger,happiness,neutral,sadness", "5")}


@dataclass
class Job:
    name: str
    outputs: list[Path]
    commands: list[list[str]]
    needs: list[str] = field(default_factory=list)
    state: str = "waiting"  # waiting, running, done, failed
    seconds: float = 0.0


def seral_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "seraltools", *map(str, args)]


def run_jobs(jobs: list[Job], workers: int) -> None:
    """Run jobs in list order, `workers` at a time, each after the jobs it needs."""
    by_name = {j.name: j for j in jobs}
    lock = threading.Condition()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}

    def next_job() -> Job | None:
        with lock:
            while True:
                for j in jobs:
                    if j.state == "waiting" and any(by_name[n].state == "failed" for n in j.needs):
                        j.state = "failed"
                        print(f"skipped {j.name}: a job it needs failed", flush=True)
                    if j.state == "waiting" and all(by_name[n].state == "done" for n in j.needs):
                        j.state = "running"
                        return j
                if not any(j.state in ("waiting", "running") for j in jobs):
                    return None
                lock.wait()

    def worker() -> None:
        while (job := next_job()) is not None:
            timefile = job.outputs[0].with_suffix(".time")
            ok = True
            if all(p.exists() for p in job.outputs):
                job.seconds = float(timefile.read_text()) if timefile.exists() else float("nan")
            else:
                print(f"{time.strftime('%H:%M:%S')} start {job.name}", flush=True)
                t = time.perf_counter()
                for cmd in job.commands:
                    if "pretrain" in cmd and Path(str(job.outputs[0]) + ".ckpt").exists():
                        cmd = [*cmd, "--resume"]  # an interrupted run: continue its checkpoint
                    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
                    if p.returncode:
                        print(f"FAILED {job.name}: {shlex.join(cmd)}\n{p.stderr[-3000:]}", flush=True)
                        ok = False
                        break
                job.seconds = time.perf_counter() - t
                if ok:
                    timefile.write_text(f"{job.seconds:.1f}\n")
                    print(f"{time.strftime('%H:%M:%S')} done  {job.name}: {job.seconds:.0f} s", flush=True)
            with lock:
                job.state = "done" if ok else "failed"
                lock.notify_all()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def paired(a: dict, b: dict) -> tuple[float, float, float, int]:
    """Mean difference of a - b over matching (fold, seed) runs; p over seeds and over runs."""
    from scipy.stats import ttest_rel

    keys = sorted(set(a) & set(b))
    if len(keys) < 2:
        return float("nan"), float("nan"), float("nan"), len(keys)
    x, y = np.array([a[k] for k in keys]), np.array([b[k] for k in keys])
    seeds = sorted({k[1] for k in keys})
    xs = np.array([np.mean([a[k] for k in keys if k[1] == s]) for s in seeds])
    ys = np.array([np.mean([b[k] for k in keys if k[1] == s]) for s in seeds])
    p_seeds = ttest_rel(xs, ys).pvalue if len(seeds) > 1 else float("nan")
    return 100 * float((x - y).mean()), float(p_seeds), float(ttest_rel(x, y).pvalue), len(keys)


def table(rows: list[dict]) -> list[str]:
    """Table 2 lines from `evaluate ser` rows (several conditions)."""
    from seraltools.ser import summarize

    runs = {}
    for r in rows:
        runs.setdefault(r["condition"], {})[(r["fold"], r["seed"])] = r["uar"]
    lines = [f"{'pretraining':<34} {'UAR mean':>8} {'std':>6} {'runs':>4} {'vs none':>8} {'p seeds':>8} {'p runs':>7}"]
    summaries = sorted(summarize(rows), key=lambda s: (ORDER.index(s["condition"]) if s["condition"] in ORDER
                                                       else 99, s["condition"]))
    for s in summaries:
        line = f"{s['condition']:<34} {100 * s['uar_mean']:>8.2f} {100 * s['uar_std']:>6.2f} {s['runs']:>4}"
        if s["condition"] != "no pretraining" and "no pretraining" in runs:
            d, p_s, p_r, _ = paired(runs[s["condition"]], runs["no pretraining"])
            line += f" {d:>+8.2f} {p_s:>8.3f} {p_r:>7.3f}"
        lines.append(line)
    if "contrastive" in runs and "mtl" in runs:
        d, p_s, p_r, n = paired(runs["contrastive"], runs["mtl"])
        lines.append(f"contrastive - mtl: {d:+.2f} points (p {p_s:.3f} over seeds, {p_r:.3f} over {n} runs)")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", action="append", default=[], metavar="NAME=SOURCE",
                    help="labelled corpus (directory or manifest); repeat; default EMO-DB and TurEV-DB")
    ap.add_argument("--emotions", action="append", default=[], metavar="NAME=LIST")
    ap.add_argument("--folds", action="append", default=[], metavar="NAME=N")
    ap.add_argument("--pretrain-audio", action="append", default=[], metavar="NAME=SOURCE",
                    help="unlabelled audio to pretrain NAME's encoders on (default: the corpus itself)")
    ap.add_argument("--cross", default="contrastive", help="objectives for the cross-corpus rows ('' for none)")
    ap.add_argument("--out", default="bench-out/table2")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--segment", type=float, default=2.0)
    ap.add_argument("--lr", default="1e-4", help="fine-tuning learning rate")
    ap.add_argument("--arch", default="--conv-channels 32 --width 128 --layers 2 --heads 4")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()

    def per_corpus(items: list[str], what: str) -> dict[str, str]:
        out = {}
        for item in items:
            name, sep, value = item.partition("=")
            if not sep:
                ap.error(f"{what} {item!r}: give NAME=VALUE")
            out[name] = value
        return out

    sources = per_corpus(args.corpus, "--corpus") or {k: str(v[0]) for k, v in DEFAULTS.items()}
    emotions = {n: DEFAULTS[n][1] for n in sources if n in DEFAULTS} | per_corpus(args.emotions, "--emotions")
    folds = {n: DEFAULTS[n][2] for n in sources if n in DEFAULTS} | per_corpus(args.folds, "--folds")
    pretrain_audio = {n: sources[n] for n in sources} | per_corpus(args.pretrain_audio, "--pretrain-audio")
    for n in sources:
        if n not in emotions:
            ap.error(f"give --emotions {n}=LIST")
    cross = [o for o in args.cross.split(",") if o] if len(sources) > 1 else []
    arch = shlex.split(args.arch)
    common = ["-q", "--corpus", "auto", "--device", args.device, "--threads", 1]
    out = Path(args.out)
    dirs = {n: out / n.lower().replace("-", "") for n in sources}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)

    jobs: list[Job] = []
    for n, d in dirs.items():
        jobs.append(Job(f"{n}: d-vectors + clusters", [d / "clusters.parquet"], [
            seral_cmd("extract", *common[:3], "--feat", "dvector", "--threads", 1, pretrain_audio[n], d / "dvector.parquet"),
            seral_cmd("cluster-speakers", "-q", "--k", 20, d / "dvector.parquet", d / "clusters.parquet")]))
    def pretrain(n: str, o: str) -> None:
        d = dirs[n]
        jobs.append(Job(f"{n}: pretrain {o}", [d / f"{o}.safetensors"], [seral_cmd(
            "pretrain", *common, pretrain_audio[n], "--clusters", d / "clusters.parquet", "--objective", o,
            "--steps", args.steps, "--segment", args.segment, *arch, d / f"{o}.safetensors")],
            needs=[f"{n}: d-vectors + clusters"]))

    def evaluate(n: str, condition: str, enc_args: list, needs: list[str]) -> None:
        d = dirs[n]
        fname = condition.replace(" ", "-").replace("(", "").replace(")", "")
        fold_args = ["--folds", folds[n]] if n in folds else []
        jobs.append(Job(f"{n}: evaluate ser {condition}", [d / f"ser-{fname}.parquet"], [seral_cmd(
            "evaluate", "ser", *common, sources[n], "--emotions", emotions[n], *fold_args, "--seeds", args.seeds,
            "--epochs", args.epochs, "--lr", args.lr, "--segment", args.segment, *arch, *enc_args,
            d / f"ser-{fname}.parquet")], needs=needs))

    # Jobs run in this order as their inputs appear: the encoders the cross rows need, then
    # one corpus after the other (pretraining, its table, its cross rows), so that an
    # interrupted run has whole tables for the first corpora.
    for o in cross:
        for n in dirs:
            pretrain(n, o)
    for n, d in dirs.items():
        for o in OBJECTIVES:
            if o not in cross:
                pretrain(n, o)
        evaluate(n, "no pretraining", ["--no-pretrain"], [])
        for o in OBJECTIVES:
            evaluate(n, o, ["--encoder", f"{o}={d / f'{o}.safetensors'}"], [f"{n}: pretrain {o}"])
        for o in cross:
            for m, dm in dirs.items():
                if m != n:
                    cond = f"{o} (pretrained on {m})"
                    evaluate(n, cond, ["--encoder", f"{cond}={dm / f'{o}.safetensors'}"], [f"{m}: pretrain {o}"])
    print(f"{platform.machine()}, {os.cpu_count()} cores; {len(jobs)} jobs, {args.jobs} at a time; steps "
          f"{args.steps}, seeds {args.seeds}, epochs {args.epochs} at lr {args.lr}, segments {args.segment} s, "
          f"encoder {args.arch}, device {args.device}", flush=True)
    t0 = time.perf_counter()
    run_jobs(jobs, args.jobs)

    import pyarrow as pa

    from seraltools.table import read_table

    for n, d in dirs.items():
        parts = sorted(d.glob("ser-*.parquet"))
        if not parts:
            continue
        rows = pa.concat_tables([read_table(p) for p in parts]).to_pylist()
        nf = len({r["fold"] for r in rows})
        print(f"\n{n}: UAR (%), {emotions[n]}, {nf} speaker-independent folds, mean and std over "
              f"{args.seeds} seeds of the mean over folds; pretraining audio {pretrain_audio[n]}")
        for line in table(rows):
            print("  " + line)
        print("  wall times:")
        for j in jobs:
            if j.name.startswith(f"{n}: ") and j.state == "done":
                extra = ""
                if ": pretrain " in j.name and j.seconds == j.seconds:
                    extra = f" ({args.steps / j.seconds:.2f} steps/s)"
                print(f"    {j.name[len(n) + 2:]}: {j.seconds:.0f} s{extra}")
    print(f"\nwall time of this run {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
