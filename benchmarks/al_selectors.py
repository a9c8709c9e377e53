"""Issue #17: which cold-start selector, on which selection features? EMO-DB and TurEV-DB.

    python benchmarks/al_selectors.py [--emodb DIR] [--turevdb MANIFEST] [--out bench-out/al]
        [--seeds 0,1,2] [--features logmel,egemaps,cpc,dvector] [--ssl-model DIR]
        [--cpc-epochs 30] [--docs docs]

For each corpus: selection features log-mel (600), eGeMAPS (88, openSMILE), CPC (256;
OUT/<corpus>/cpc.parquet when benchmarks/al_fidelity.py left one there, else `seral
train-cpc --epochs --cpc-epochs` first), d-vectors (256, GE2E) and, with --ssl-model,
SSL features (`--feat ssl`, last layer). The paper's simulation (`seral evaluate al`:
5 folds x 5 repeats per seed, RBF SVM on the log-mel functionals, MCC averaged over
valence and arousal) runs every selector (MAL, k-center, TypiClust, ProbCover,
stratified, random) on every feature set at budgets 1-20 %; MAL with medoid labels,
the others with their queries' own labels. Printed per corpus: mean MCC per selector
and feature set and budget, marked against random (paired t-test over the cells,
p < 0.05), the mean over 1-20 %, and each selector against MAL on the same features;
wall times. Writes DOCS/selectors.md (the tables) and DOCS/selectors-<corpus>.png (log-mel
selection features, every selector).
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
METHODS = ("mal", "kcenter", "typiclust", "probcover", "stratified")
NAMES = {"mal": "MAL", "kcenter": "k-center", "typiclust": "TypiClust", "probcover": "ProbCover",
         "stratified": "stratified", "random": "random"}


def seral(*args) -> None:
    subprocess.run([sys.executable, "-m", "seraltools", *map(str, args)], check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})


def features(name: str, source: str, corpus: str, out: Path, args) -> Path:
    path = out / f"{name}.parquet"
    if path.exists():
        return path
    common = ["-q", "--corpus", corpus, source, path]
    if name == "cpc":
        model = out / "cpc.safetensors"
        if not model.exists():
            seral("train-cpc", "-q", source, model, "--corpus", corpus, "--epochs", args.cpc_epochs)
        seral("extract", "--feat", "cpc", "--model", model, *common)
    elif name == "ssl":
        seral("extract", "--feat", "ssl", "--model", args.ssl_model, *common)
    else:
        seral("extract", "--feat", name, *common)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--emodb", default=str(ROOT.parent / "shared" / "corpora" / "emodb" / "wav"))
    ap.add_argument("--turevdb", default=str(ROOT.parent / "shared" / "corpora" / "turevdb" / "manifest.csv"))
    ap.add_argument("--out", default="bench-out/al")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--features", default="logmel,egemaps,cpc,dvector")
    ap.add_argument("--ssl-model", default=None)
    ap.add_argument("--cpc-epochs", type=int, default=30)
    ap.add_argument("--budgets", default="1,2,5,10,20")
    ap.add_argument("--docs", default=str(ROOT / "docs"))
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    from seraltools.tools.evaluate import align
    from seraltools.simulate import SimulationConfig, plot, simulate, summarize
    from seraltools.table import feature_matrix, read_table

    seeds = tuple(int(s) for s in args.seeds.split(","))
    budgets = tuple(float(b) / 100 for b in args.budgets.split(","))
    names = args.features.split(",") + (["ssl"] if args.ssl_model else [])
    docs = Path(args.docs)
    md = ["# Cold-start selectors on EMO-DB and TurEV-DB (issue #17)", "",
          f"`python benchmarks/al_selectors.py` on {platform.machine()}, {os.cpu_count()} cores; seeds {list(seeds)} x 5 "
          "repeats x 5 folds; RBF SVM on log-mel functionals; mean MCC over valence and arousal. **Bold**: above "
          "random sampling, (−): below it (paired t-test over the cells, p < 0.05). Last columns: the mean over the "
          "budgets, and the selector's mean difference to MAL on the same features (paired, p).", ""]
    print(md[2])
    t_all = time.perf_counter()
    for corpus_name, source, corpus in (("EMO-DB", args.emodb, "emodb"), ("TurEV-DB", args.turevdb, "auto")):
        t0 = time.perf_counter()
        slug = corpus_name.lower().replace("-", "")
        out = Path(args.out) / slug
        out.mkdir(parents=True, exist_ok=True)
        tables = {n: read_table(features(n, source, corpus, out, args), need_features=True) for n in names}
        t_feat = time.perf_counter() - t0
        base = tables["logmel"] if "logmel" in tables else read_table(features("logmel", source, corpus, out, args))
        ids = base.column("id").to_pylist()
        labels = {t: np.asarray(base.column(t).to_pylist()) for t in ("valence", "arousal")}
        x_cls = feature_matrix(base)
        sets = {n: align(t, ids, n) for n, t in tables.items()}
        cfg = SimulationConfig(budgets=budgets, seeds=seeds, methods=METHODS)
        rows = simulate(sets, x_cls, labels, cfg, workers=args.workers).rows
        t_sim = time.perf_counter() - t0 - t_feat
        summary = summarize(rows)
        plot([r for r in rows if r["feature_set"] in ("logmel", None)], str(docs / f"selectors-{slug}.png"))
        random = {s["budget"]: s["random_mcc"] for s in summary}
        head = "| selector | features | " + " | ".join(f"{b * 100:g}%" for b in budgets) + " | mean | vs MAL (p) |"
        lines = [f"## {corpus_name} ({len(ids)} utterances; features {t_feat:.0f} s, simulation {t_sim:.0f} s)", "",
                 head, "|" + "---|" * (head.count("|") - 1)]
        for s_name in METHODS:
            for f_name in sets:
                cells = [s for s in summary if s["selector"] == s_name and s["feature_set"] == f_name]
                if not cells:
                    continue
                marks = []
                for s in cells:
                    v = f"{s['selector_mcc']:.3f}"
                    marks.append(f"**{v}**" if s["p"] < 0.05 and s["diff"] > 0 else
                                 (f"{v} (−)" if s["p"] < 0.05 else v))
                mean = np.mean([s["selector_mcc"] for s in cells])
                vs = "—"
                if s_name != "mal":
                    d = np.mean([s["diff_mal"] for s in cells])
                    ps = ", ".join(f"{s['p_mal']:.2g}" for s in cells)
                    vs = f"{d:+.3f} ({ps})"
                lines.append(f"| {NAMES[s_name]} | {f_name} | " + " | ".join(marks) + f" | {mean:.3f} | {vs} |")
        lines.append("| random | — | " + " | ".join(f"{random[b]:.3f}" for b in budgets)
                     + f" | {np.mean(list(random.values())):.3f} | |")
        lines += ["", f"![{corpus_name}](selectors-{slug}.png)", ""]
        print("\n".join(lines), flush=True)
        md += lines
    wall = time.perf_counter() - t_all
    md.append(f"Wall time of the benchmark: {wall:.0f} s.")
    print(f"wall time {wall:.0f} s")
    (docs / "selectors.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
