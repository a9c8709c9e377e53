"""The default queue, chosen leave-one-corpus-out on three corpora (issue #26's "must show").

    python benchmarks/al_default.py [--emodb ../shared/corpora/emodb/wav]
        [--turevdb ../shared/corpora/turevdb/manifest.csv] [--ravdess ../shared/corpora/ravdess/manifest.csv]
        [--out bench-out/default] [--seeds 0,1,2] [--cpc-steps 670] [--no-cpc] [--steps candidates,fifty,paper]
        [--report docs/results/al_default.md]

For each corpus: `seral extract` (log-mel, the default front-end), `seral reduce -m pca`
(32 dims), and unless --no-cpc `seral train-cpc` + `extract --feat cpc` + PCA-32 (the
paper's best, "CPC PCA"; a model per corpus as in the paper, trained for about
--cpc-steps optimiser steps of 8 utterances: 10 epochs of EMO-DB, 3 of TurEV-DB, 4 of
RAVDESS -- what 2 CPU cores allowed, far fewer than the paper's).

candidates: `seral evaluate al` with every candidate rule: selection features {log-mel
z-scored over the corpus, log-mel z-scored within each speaker, log-mel PCA-32, CPC
PCA-32} x selector {mal, typiclust, probcover, mal-random, typiclust-random}; the SVM on
log-mel (the paper's); --seed 0,1,2 x 5 repeats x 5 folds (75 paired cells); budgets
1, 2, 5, 10, 20 %.

fifty: the chosen default, MAL and random at 50 % (log-mel), the same cells.
Printed per corpus: every candidate's MCC minus random per budget (mean over valence and
arousal, paired t-test over the 75 cells) and against today's default (MAL on z-scored
log-mel). Then the leave-one-corpus-out table: a rule is chosen on two corpora by

  0. the number of those corpora on which it meets the goal (below);
  1. then never significantly below random at 1-20 % on either (p < 0.05);
  2. then most (corpus, budget 1-20 %) cells significantly above random;
  3. then the highest mean difference from random over 1-20 %, averaged over the two;

and reported on the third. The goal on each corpus: mean MCC over 1-20 % above
random, no budget 1-20 % significantly below, significantly above at 1 % or 2 %.
The same criterion on all three corpora picks seral's default, among the rules on
log-mel (the features `seral extract` gives by default; the selector and the
standardisation are what a default can set, the features are the user's). Step 0 was
put first after the first full run, whose ranking by steps 1-3 alone picked mal-random
(goal met on EMO-DB and TurEV-DB, level with random on RAVDESS); both are printed.

paper: the MAL paper's own settings on RAVDESS (raw features, cosine distance, MAL):
CPC vs log-mel at 2-10 %, PCA vs AE vs t-SNE of CPC at 1-2 %, MAL vs random at 50 %.

--report writes the tables as Markdown (the README's active-learning section links it).
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
BUDGETS = "1%,2%,5%,10%,20%"  # the candidates; 50 % in its own step (fifty)
SELECTORS = ("mal", "typiclust", "probcover", "mal-random", "typiclust-random")
MODES = ("corpus", "speaker")
DEFAULT = ("logmel", "corpus", "mal")  # the default before this benchmark
OUT: list[str] = []


def say(line: str = "") -> None:
    print(line, flush=True)
    OUT.append(line)


def seral(*args) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "seraltools", *map(str, args)], check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - t


def features(name: str, source: str, out: Path, cpc_steps: int | None) -> dict[str, Path]:
    d = out / name
    d.mkdir(parents=True, exist_ok=True)
    sets = {"logmel": d / "logmel.parquet", "logmel-pca32": d / "logmel-pca32.parquet"}
    if not sets["logmel"].exists():
        seral("extract", "-q", source, sets["logmel"])
    if not sets["logmel-pca32"].exists():
        seral("reduce", "-q", "-m", "pca", "-d", "32", sets["logmel"], sets["logmel-pca32"])
    if cpc_steps:
        model, cpc = d / f"cpc_s{cpc_steps}.safetensors", d / "cpc.parquet"
        if not model.exists():  # about cpc_steps optimiser steps of 8 utterances, whatever the corpus's size
            from seraltools.table import read_table

            epochs = max(1, round(cpc_steps * 8 / read_table(str(sets["logmel"])).num_rows))
            t = seral("train-cpc", "-q", "--epochs", epochs, "--seed", "0", source, model)
            say(f"{name}: train-cpc {epochs} epochs {t:.0f} s")
        if not cpc.exists():
            seral("extract", "-q", "--feat", "cpc", "--model", model, source, cpc)
        sets["cpc"] = cpc
        sets["cpc-pca32"] = d / "cpc-pca32.parquet"
        if not sets["cpc-pca32"].exists():
            seral("reduce", "-q", "-m", "pca", "-d", "32", cpc, sets["cpc-pca32"])
    return sets


def rows_of(path: Path) -> list[dict]:
    from seraltools.table import read_table

    rows = read_table(str(path)).to_pylist()
    for r in rows:
        r["budget"] = round(r["budget"], 6)
    return rows


def cells(rows: list[dict], selector: str, budget: float) -> dict:
    from seraltools.simulate import _cell_means

    return _cell_means([r for r in rows if r["selector"] == selector and r["budget"] == budget])


def compare(a: dict, b: dict) -> tuple[float, float]:
    from scipy import stats

    x = np.array([a[k] for k in a])
    y = np.array([b[k] for k in a])
    if np.allclose(x, y):
        return 0.0, 1.0
    return float((x - y).mean()), float(stats.ttest_rel(x, y).pvalue)


def run_candidates(corpus: str, sets: dict[str, Path], seeds: str, out: Path) -> dict:
    """(set, mode, selector) -> budget -> cells, and 'random' -> budget -> cells."""
    results: dict = {}
    for name in ("logmel", "logmel-pca32", "cpc-pca32"):
        if name not in sets:
            continue
        for mode in MODES if name == "logmel" else ("corpus",):  # speakers: on log-mel (the cost of the run)
            dest = out / corpus / f"al_{name}_{mode}.parquet"
            if not dest.exists():
                t = seral("evaluate", "al", "-q", "--select", sets[name], "--classify", sets["logmel"],
                          "--standardize", mode, "--method", ",".join(SELECTORS), "--budgets", BUDGETS,
                          "--seed", seeds, dest)
                say(f"{corpus}: evaluate al {name} --standardize {mode}: {t:.0f} s")
            rows = rows_of(dest)
            budgets = [b for b in sorted({r["budget"] for r in rows}) if b in SMALL]
            results.setdefault("random", {b: cells(rows, "random", b) for b in budgets})
            for sel in SELECTORS:
                results[(name, mode, sel)] = {b: cells(rows, sel, b) for b in budgets}
    return results


def judge(res: dict, cand) -> dict:
    """Per budget (diff, p) against random, and the goal's parts."""
    per = {b: compare(res[cand][b], res["random"][b]) for b in res[cand]}
    small = [b for b in SMALL if b in per]
    mean = float(np.mean([per[b][0] for b in small]))
    below = [b for b in small if per[b][0] < 0 and per[b][1] < 0.05]
    above = [b for b in small if per[b][0] > 0 and per[b][1] < 0.05]
    early = any(b in above for b in (0.01, 0.02))
    return {"per": per, "mean": mean, "below": below, "above": above,
            "goal": mean > 0 and not below and early}


def choose(results: dict, corpora: list[str], goal_first: bool = True):
    """The criterion of the module docstring over ``corpora`` (``goal_first=False``: without its step 0)."""
    cands = [c for c in results[corpora[0]] if c != "random" and all(c in results[k] for k in corpora)]

    def key(c):
        js = [judge(results[k], c) for k in corpora]
        ranks = (sum(len(j["below"]) for j in js) == 0, sum(len(j["above"]) for j in js),
                 float(np.mean([j["mean"] for j in js])))
        return ((sum(j["goal"] for j in js),) + ranks) if goal_first else ranks

    return max(cands, key=key)


def name(c) -> str:
    return f"{c[2]} on {c[0]} ({c[1]})"


def report_corpus(corpus: str, res: dict) -> None:
    budgets = sorted(res["random"])
    say(f"\n### {corpus}: MCC minus random per budget (mean of valence and arousal; 75 paired cells)")
    say("")
    say("| rule | " + " | ".join(f"{b * 100:g} %" for b in budgets) + " | mean 1-20 % | goal |")
    say("|---|" + "---:|" * len(budgets) + "---:|---|")
    rnd = {b: np.mean(list(res["random"][b].values())) for b in budgets}
    say("| random (MCC) | " + " | ".join(f"{rnd[b]:.3f}" for b in budgets) + " | | |")
    for c in [k for k in res if k != "random"]:
        j = judge(res, c)
        marks = []
        for b in budgets:
            d, p = j["per"][b]
            marks.append(f"{d:+.3f}" + ("*" if p < 0.05 and d > 0 else ("-" if p < 0.05 else "")))
        say(f"| {name(c)} | " + " | ".join(marks) + f" | {j['mean']:+.3f} | {'met' if j['goal'] else 'not met'} |")
    say("\n`*` significantly above random (paired t-test over the 75 seed x repeat x fold cells, p < 0.05), "
        "`-` significantly below.")
    if DEFAULT in res:  # against MAL on z-scored log-mel (the paper's selector, the default before)
        say(f"\n{corpus}: each rule minus MAL on z-scored log-mel (`*` above, `-` below, paired, p < 0.05)")
        say("")
        say("| rule | " + " | ".join(f"{b * 100:g} %" for b in budgets) + " |")
        say("|---|" + "---:|" * len(budgets))
        for c in [k for k in res if k not in ("random", DEFAULT)]:
            marks = []
            for b in budgets:
                d, p = compare(res[c][b], res[DEFAULT][b])
                marks.append(f"{d:+.3f}" + ("*" if p < 0.05 and d > 0 else ("-" if p < 0.05 else "")))
            say(f"| {name(c)} | " + " | ".join(marks) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--emodb", default=str(ROOT.parent / "shared/corpora/emodb/wav"))
    ap.add_argument("--turevdb", default=str(ROOT.parent / "shared/corpora/turevdb/manifest.csv"))
    ap.add_argument("--ravdess", default=str(ROOT.parent / "shared/corpora/ravdess/manifest.csv"))
    ap.add_argument("--out", default="bench-out/default")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--cpc-steps", type=int, default=670)
    ap.add_argument("--no-cpc", action="store_true")
    ap.add_argument("--steps", default="candidates,fifty,paper")
    ap.add_argument("--report")
    ap.add_argument("--figures", help="a folder for a figure per corpus (the default, MAL and random)")
    ap.add_argument("--corpora", help="only these (EMO-DB,TurEV-DB,RAVDESS); the candidates step needs all three")
    a = ap.parse_args()
    out = Path(a.out).resolve()
    t0 = time.perf_counter()
    say(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"seeds {a.seeds} x 5 repeats x 5 folds; budgets {BUDGETS}")
    corpora = {"EMO-DB": a.emodb, "TurEV-DB": a.turevdb, "RAVDESS": a.ravdess}
    if a.corpora:  # e.g. the paper step on RAVDESS alone, while another corpus's CPC model trains
        corpora = {k: v for k, v in corpora.items() if k in a.corpora.split(",")}
    sets = {k: features(k, v, out, None if a.no_cpc else a.cpc_steps) for k, v in corpora.items()}
    steps = a.steps.split(",")
    if "candidates" in steps:
        results = {k: run_candidates(k, sets[k], a.seeds, out) for k in corpora}
        for k in corpora:
            report_corpus(k, results[k])
        say("\n### Leave one corpus out: the rule chosen on two corpora, reported on the third")
        say("")
        say("| held out | chosen on | rule | mean 1-20 % | below random at | above at | goal | today's default: "
            "mean, below at |")
        say("|---|---|---|---:|---|---|---|---|")
        names = list(corpora)
        for held in names:
            train = [k for k in names if k != held]
            c = choose(results, train)
            j, d = judge(results[held], c), judge(results[held], DEFAULT)
            fmt = lambda bs: ", ".join(f"{b * 100:g} %" for b in bs) or "none"  # noqa: E731
            say(f"| {held} | {' + '.join(train)} | {name(c)} | {j['mean']:+.3f} | {fmt(j['below'])} | "
                f"{fmt(j['above'])} | {'met' if j['goal'] else 'not met'} | {d['mean']:+.3f}, {fmt(d['below'])} |")
        logmel = {k: {c: v for c, v in results[k].items() if c == "random" or c[0] == "logmel"} for k in names}
        best = choose(logmel, names)
        say(f"\nChosen on all three corpora among the log-mel rules (seral's default): {name(best)}; "
            f"ranked without step 0: {name(choose(logmel, names, goal_first=False))}; "
            f"among every rule: {name(choose(results, names))}")
        for k in names:
            j = judge(results[k], best)
            say(f"- {k}: mean MCC - random over 1-20 % {j['mean']:+.3f}; significantly above at "
                f"{', '.join(f'{b * 100:g} %' for b in j['above']) or 'no budget'}; below at "
                f"{', '.join(f'{b * 100:g} %' for b in j['below']) or 'no budget'}; goal "
                f"{'met' if j['goal'] else 'NOT met'}")
        if a.figures:  # the chosen default, MAL (the paper's) and random on z-scored log-mel, per corpus
            from seraltools.simulate import plot

            Path(a.figures).mkdir(parents=True, exist_ok=True)
            for k in names:
                rows = [r for r in rows_of(out / k / f"al_logmel_{best[1]}.parquet")
                        if r["selector"] in ("random", "mal", best[2])]
                dest = Path(a.figures) / f"al_default_{k.lower().replace('-', '')}.png"
                plot(rows, str(dest), title=f"{k}: log-mel z-scored ({best[1]}), seeds {a.seeds} x 5 x 5")
                say(f"figure: {dest}")
        if "fifty" in steps:
            fifty(best, sets, a.seeds, out)
    if "paper" in steps and "cpc" in sets.get("RAVDESS", {}):
        paper(sets["RAVDESS"], a.seeds, out / "RAVDESS")
    say(f"\nwall time of the benchmark: {time.perf_counter() - t0:.0f} s")
    if a.report:
        Path(a.report).parent.mkdir(parents=True, exist_ok=True)
        Path(a.report).write_text("<!-- written by benchmarks/al_default.py; do not edit by hand -->\n"
                                  + "\n".join(OUT) + "\n")


def fifty(best, sets: dict, seeds: str, out: Path) -> None:
    """The chosen rule and MAL against random at 50 %."""
    say("\n### At 50 % of the training fold (75 paired cells)")
    say("")
    say("| corpus | rule | MCC | random | diff | p |")
    say("|---|---|---:|---:|---:|---:|")
    for corpus, s in sets.items():
        rules = {("logmel", "corpus", "mal"), best}
        for feat, mode in sorted({(r[0], r[1]) for r in rules}):
            dest = out / corpus / f"fifty_{feat}_{mode}.parquet"
            methods = sorted({r[2] for r in rules if (r[0], r[1]) == (feat, mode)})
            if not dest.exists():
                seral("evaluate", "al", "-q", "--select", s[feat], "--classify", s["logmel"], "--standardize", mode,
                      "--method", ",".join(methods), "--budgets", "50%", "--seed", seeds, dest)
            rows = rows_of(dest)
            rnd = cells(rows, "random", 0.5)
            for m in methods:
                c = cells(rows, m, 0.5)
                d, p = compare(c, rnd)
                say(f"| {corpus} | {name((feat, mode, m))} | {np.mean(list(c.values())):.3f} | "
                    f"{np.mean(list(rnd.values())):.3f} | {d:+.3f} | {p:.2g} |")


def paper(sets: dict, seeds: str, d: Path) -> None:
    """The MAL paper's Fig. 4/5 claims on RAVDESS with its own settings: raw features,
    cosine distance (--standardize none, metric auto), MAL."""
    extra = {"cpc-ae32": ("ae", "32"), "cpc-tsne2": ("tsne", "2")}
    for name_, (method, dim) in extra.items():
        path = d / f"{name_}.parquet"
        if not path.exists():
            t = seral("reduce", "-q", "-m", method, "-d", dim, "--seed", "0", sets["cpc"], path,
                      *(["--epochs", "1000"] if method == "ae" else []))  # the AE capped at 1,000 epochs (time)
            say(f"RAVDESS: reduce -m {method} -d {dim} of CPC: {t:.0f} s")
        sets[name_] = path
    dest = d / "paper.parquet"
    if not dest.exists():
        args = []
        for n in ("logmel", "cpc", "cpc-pca32", "cpc-ae32", "cpc-tsne2"):
            args += ["--select", sets[n]]
        t = seral("evaluate", "al", "-q", *args, "--classify", sets["logmel"], "--standardize", "none", "--method", "mal",
                  "--budgets", BUDGETS + ",50%", "--seed", seeds, dest)
        say(f"RAVDESS: evaluate al, the paper's settings: {t:.0f} s")
    from seraltools.simulate import _cell_means

    rows = rows_of(dest)
    by = {}
    for r in rows:
        by.setdefault((r["selector"], r["feature_set"] if r["selector"] != "random" else None, r["budget"]),
                      []).append(r)
    cell = {k: _cell_means(v) for k, v in by.items()}
    mcc = {k: np.mean(list(v.values())) for k, v in cell.items()}
    say("\n### RAVDESS with the MAL paper's settings (raw features, cosine distance, MAL, medoid labels)")
    say("")
    say("| comparison | budget | MCC a | MCC b | a - b | p |")
    say("|---|---:|---:|---:|---:|---:|")

    def row(label, a, b, budget):
        diff, p = compare(cell[a + (budget,)], cell[b + (budget,)])
        say(f"| {label} | {budget * 100:g} % | {mcc[a + (budget,)]:.3f} | {mcc[b + (budget,)]:.3f} | "
            f"{diff:+.3f} | {p:.2g} |")

    for b in (0.02, 0.05, 0.10):
        row("CPC vs log-mel", ("mal", "cpc"), ("mal", "logmel"), b)
    for b in (0.01, 0.02):
        row("PCA vs AE (CPC, 32 dims)", ("mal", "cpc-pca32"), ("mal", "cpc-ae32"), b)
        row("PCA vs t-SNE (CPC)", ("mal", "cpc-pca32"), ("mal", "cpc-tsne2"), b)
        row("AE vs t-SNE (CPC)", ("mal", "cpc-ae32"), ("mal", "cpc-tsne2"), b)
    for n in ("logmel", "cpc-pca32"):
        row(f"MAL ({n}) vs random", ("mal", n), ("random", None), 0.50)


if __name__ == "__main__":
    main()
