"""MAL against random sampling on two corpora, several seeds (issue #12's "must show").

    python benchmarks/al_fidelity.py [--emodb ../shared/corpora/emodb/wav]
        [--turevdb ../shared/corpora/turevdb/manifest.csv] [--out bench-out/al]
        [--seeds 0,1,2] [--cpc-epochs 30] [--no-cpc] [--steps main,ablation,frontend]

For each corpus (EMO-DB: 535 German utterances; TurEV-DB: 1,735 Turkish ones):

1. `seral extract --feat logmel` (the default front-end), `seral train-cpc` (the
   paper's model, --cpc-epochs epochs; kept in OUT and reused when present) and
   `seral extract --feat cpc`;
2. the main run, seral's defaults as a user gets them: `seral evaluate al --select
   logmel --select cpc --classify logmel --labels both --seed 0,1,2` (5 folds x 5
   repeats per seed; 1-100 % budgets), its figure, and a table per corpus: mean MCC
   over tasks and cells, MAL - random, the paired t-test over the 75 (seed, repeat,
   fold) cells, and the goal line (MAL above random at 1 % and 2 %, significantly at
   one of them, above on average over 1-20 %, never significantly below at 1-20 %);
3. an ablation on log-mel selection features with medoid labels, budgets 1-20 %,
   the same seeds, folds and random baseline, one change at a time from the
   default: the paper's front-end (log floor 1e-10, digital silence kept), raw
   (unstandardised) selection features with the paper's cosine distance, z-scored
   features with cosine distance, and alternating k-medoids instead of FasterPAM;
   the first row is the paper's whole setting (paper front-end, raw, cosine);
4. the front-end on its own: the SVM's 5-fold CV MCC on all labelled data (the
   grid search of the simulation) with the paper's front-end and seral's, and MAL -
   random (defaults otherwise, medoid labels, 1-20 %) for both front-ends on the
   corpus and on the corpus with every file zero-padded by 50 % (a third of all
   samples digital silence, split at random between start and end; seed 0), the
   case of corpora cut from longer recordings.

--steps picks steps (main, ablation, frontend; default all; ablation and frontend
reuse the main step's tables).

Prints every table, the wall time of each step and of the whole benchmark.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SMALL = (0.01, 0.02, 0.05, 0.10, 0.20)


def seral(*args) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "seraltools", *map(str, args)], check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - t


def rows_of(path) -> list[dict]:
    from seraltools.table import read_table

    rows = read_table(path).to_pylist()
    for r in rows:  # budgets are float32 in the table
        r["budget"] = round(r["budget"], 6)
    return rows


def goal(summary: list[dict]) -> str:
    by_b = {s["budget"]: s for s in summary}
    small = [by_b[b] for b in SMALL if b in by_b]
    above12 = all(by_b[b]["diff"] > 0 for b in (0.01, 0.02))
    sig12 = any(by_b[b]["diff"] > 0 and by_b[b]["p"] < 0.05 for b in (0.01, 0.02))
    mean = float(np.mean([s["diff"] for s in small]))
    below = [f"{s['budget'] * 100:g}%" for s in small if s["diff"] < 0 and s["p"] < 0.05]
    ok = above12 and sig12 and mean > 0 and not below
    return (f"goal {'MET' if ok else 'NOT MET'}: above random at 1 % and 2 %: {'yes' if above12 else 'no'}; "
            f"significant at one: {'yes' if sig12 else 'no'}; mean diff 1-20 %: {mean:+.3f}; "
            f"significantly below at 1-20 %: {', '.join(below) or 'none'}")


def table(summary: list[dict]) -> str:
    head = f"{'selection':<10} {'labels':<7} {'budget':>6} {'n':>4} {'MAL':>6} {'random':>6} {'diff':>7} {'p':>8}"
    lines = [head, "-" * len(head)]
    for s in summary:
        mark = " *" if s["p"] < 0.05 and s["diff"] > 0 else (" (-)" if s["p"] < 0.05 else "")
        lines.append(f"{s['feature_set']:<10} {s['labels']:<7} {s['budget'] * 100:>5g}% {s['budget_n']:>4} "
                     f"{s['selector_mcc']:>6.3f} {s['random_mcc']:>6.3f} {s['diff']:>+7.3f} {s['p']:>8.2g}{mark}")
    return "\n".join(lines)


PAPER_FRONTEND = {"log_floor": 1e-10, "skip_silence": False}


def functionals_of(signals: list[np.ndarray], frontend=None) -> np.ndarray:
    """600-dim functionals of each signal with a front-end (default: the paper's)."""
    from seraltools.features.logmel import functionals
    from seraltools.frontend import LogMelConfig, logmel

    cfg = frontend or LogMelConfig(**PAPER_FRONTEND)
    return np.array([functionals(logmel(a, cfg)) for a in signals])


def signals_of(logmel_table) -> list[np.ndarray]:
    from seraltools.audio import load_audio

    return [load_audio(p).samples for p in logmel_table.column("path").to_pylist()]


def paper_frontend_features(logmel_table) -> np.ndarray:
    """600-dim functionals of the paper's front-end (floor 1e-10, digital silence kept)."""
    return functionals_of(signals_of(logmel_table))


def ablation(name: str, out: Path, seeds: tuple[int, ...], default_rows: list[dict]) -> None:
    from seraltools.tools.evaluate import task_labels
    from seraltools.simulate import SimulationConfig, simulate, summarize
    from seraltools.table import feature_matrix, read_table

    t = read_table(out / "logmel.parquet")
    labels, keep = task_labels(t, ["valence", "arousal"], name)
    x = feature_matrix(t, name)[keep]
    x_paper = paper_frontend_features(t)[keep]
    base = dict(budgets=SMALL, seeds=seeds, labels="medoid")
    # name -> (selection features, classification features, config changes)
    variants = {
        "paper: 1e-10 floor, silence kept, raw, cosine": (x_paper, x_paper, dict(standardize=False, metric="cosine")),
        "paper front-end only": (x_paper, x_paper, {}),
        "raw features, cosine": (x, x, dict(standardize=False, metric="cosine")),
        "z-scored, cosine": (x, x, dict(metric="cosine")),
        "alternating k-medoids": (x, x, dict(kmedoids="alternating")),
    }
    results = {"seral default (z-scored, Euclidean, FasterPAM)":
               [r for r in default_rows if r["budget"] in SMALL and (
                   r["selector"] == "random" or (r["feature_set"] == "logmel" and r["labels"] == "medoid"))]}
    for label, (xs, xc, change) in variants.items():
        t0 = time.perf_counter()
        results[label] = simulate({"logmel": xs}, xc, labels, SimulationConfig(**base, **change), workers=2).rows
        print(f"  ablation {label}: {time.perf_counter() - t0:.0f} s", flush=True)
    head = f"{'MAL variant (log-mel selection, medoid labels)':<48}" + "".join(f"{b * 100:>13g}%" for b in SMALL)
    lines = [f"\n{name}: ablation, MAL - random in mean MCC (p), {len(seeds)} seeds x 25 cells", head,
             "-" * len(head)]
    for label, rows in results.items():
        s = {r["budget"]: r for r in summarize(rows)}
        cells = "".join(f"{s[b]['diff']:>+7.3f} ({s[b]['p']:.2g})".rjust(14) for b in SMALL)
        mean = np.mean([s[b]["diff"] for b in SMALL])
        lines.append(f"{label:<48}{cells}   mean {mean:+.3f}")
    print("\n".join(lines), flush=True)


def zero_padded(audio: list[np.ndarray], fraction: float = 0.5, seed: int = 0) -> list[np.ndarray]:
    """Each signal with ``fraction`` of its length in zeros, split at random between its ends."""
    rng = np.random.default_rng(seed)
    out = []
    for a in audio:
        total = int(len(a) * fraction)
        lead = int(rng.integers(total + 1))
        out.append(np.concatenate([np.zeros(lead, np.float32), a, np.zeros(total - lead, np.float32)]))
    return out


def frontend_check(name: str, out: Path, seeds: tuple[int, ...]) -> None:
    from seraltools.tools.evaluate import task_labels
    from seraltools.frontend import DEFAULT, LogMelConfig
    from seraltools.simulate import SimulationConfig, simulate, summarize, tune_svm
    from seraltools.standardize import zscore
    from seraltools.table import read_table

    t = read_table(out / "logmel.parquet")
    labels, keep = task_labels(t, ["valence", "arousal"], name)
    audio = [a for a, k in zip(signals_of(t), keep) if k]
    frontends = {"paper (1e-10, silence kept)": LogMelConfig(**PAPER_FRONTEND),
                 "seral (1e-8, silence skipped)": DEFAULT}
    cfg = SimulationConfig(budgets=SMALL, seeds=seeds)
    print(f"\n{name}: front-ends; SVM CV MCC on all data (valence / arousal, seed {seeds[0]}); "
          "MAL - random (p), medoid labels, z-scored Euclidean selection", flush=True)
    head = f"{'audio':<14} {'front-end':<30} {'SVM val':>8} {'SVM aro':>8}" + "".join(f"{b * 100:>13g}%" for b in SMALL)
    print(head + "   mean\n" + "-" * (len(head) + 8), flush=True)
    for audio_name, signals in (("as it is", audio), ("zero-padded", zero_padded(audio))):
        for fe_name, fe in frontends.items():
            t0 = time.perf_counter()
            x = functionals_of(signals, fe)
            svm = [tune_svm(zscore(x), labels[task], cfg, seeds[0])["cv_mcc"] for task in ("valence", "arousal")]
            s = {r["budget"]: r for r in summarize(simulate({"logmel": x}, x, labels, cfg, workers=2).rows)}
            cells = "".join(f"{s[b]['diff']:>+7.3f} ({s[b]['p']:.2g})".rjust(14) for b in SMALL)
            print(f"{audio_name:<14} {fe_name:<30} {svm[0]:>8.3f} {svm[1]:>8.3f}{cells}"
                  f"   {np.mean([s[b]['diff'] for b in SMALL]):+.3f}   ({time.perf_counter() - t0:.0f} s)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emodb", default=str(ROOT.parent / "shared/corpora/emodb/wav"))
    ap.add_argument("--turevdb", default=str(ROOT.parent / "shared/corpora/turevdb/manifest.csv"))
    ap.add_argument("--out", default="bench-out/al")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--cpc-epochs", type=int, default=30)
    ap.add_argument("--no-cpc", action="store_true", help="log-mel selection features only")
    ap.add_argument("--steps", default="main,ablation,frontend")
    args = ap.parse_args()
    steps = set(args.steps.split(","))
    from seraltools.simulate import summarize

    seeds = tuple(int(s) for s in args.seeds.split(","))
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"seeds {args.seeds}, 5 folds x 5 repeats each", flush=True)
    start = time.perf_counter()
    corpora = {"emodb": ["--corpus", "emodb", args.emodb], "turevdb": [args.turevdb]}
    for name, inputs in corpora.items():
        out = Path(args.out) / name
        out.mkdir(parents=True, exist_ok=True)
        print(f"\n=== {name} ===", flush=True)
        if "main" not in steps:
            rows = rows_of(out / "al.parquet")
            if "ablation" in steps:
                ablation(name, out, seeds, rows)
            if "frontend" in steps:
                frontend_check(name, out, seeds)
            continue
        t = seral("extract", "--feat", "logmel", "-q", *inputs, out / "logmel.parquet")
        print(f"  extract logmel: {t:.1f} s", flush=True)
        selects = ["--select", out / "logmel.parquet"]
        if not args.no_cpc:
            model = out / "cpc.safetensors"
            if not model.exists():
                t = seral("train-cpc", "--epochs", args.cpc_epochs, "-q", *inputs, model)
                print(f"  train-cpc ({args.cpc_epochs} epochs): {t:.0f} s", flush=True)
            t = seral("extract", "--feat", "cpc", "--model", model, "-q", *inputs, out / "cpc.parquet")
            print(f"  extract cpc: {t:.1f} s", flush=True)
            selects += ["--select", out / "cpc.parquet"]
        t = seral("evaluate", "al", *selects, "--classify", out / "logmel.parquet", "--labels", "both",
                  "--seed", args.seeds, "--plot", out / "al.png", "-q", out / "al.parquet")
        print(f"  evaluate al (2 label modes, {len(seeds)} seeds, full grid): {t:.0f} s", flush=True)
        rows = rows_of(out / "al.parquet")
        summary = summarize(rows)
        print(f"\n{name}: mean MCC (valence, arousal) over {len(seeds) * 25} (seed, repeat, fold) cells; "
              "paired t-test MAL vs random over the cells\n" + table(summary))
        for fs in sorted({s["feature_set"] for s in summary}):
            for mode in ("medoid", "cluster"):
                part = [s for s in summary if s["feature_set"] == fs and s["labels"] == mode]
                print(f"  {fs}, {mode} labels: {goal(part)}")
        print(f"  figure: {out / 'al.png'}", flush=True)
        if "ablation" in steps:
            t0 = time.perf_counter()
            ablation(name, out, seeds, rows)
            print(f"  ablation: {time.perf_counter() - t0:.0f} s", flush=True)
        if "frontend" in steps:
            t0 = time.perf_counter()
            frontend_check(name, out, seeds)
            print(f"  front-end check: {time.perf_counter() - t0:.0f} s", flush=True)
    print(f"\nwall time of the whole benchmark: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
