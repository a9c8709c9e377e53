"""Issue #15's "behaviour unchanged": the same commands, with the same seeds, run by two
checkouts (e.g. a git worktree of the commit before the renovation, and this one) give
the same tables and models, bit for bit (the table history in the metadata aside).

    git worktree add /tmp/before <commit>
    python benchmarks/same_results.py --before /tmp/before [--corpus DIR]

On the synthetic corpus (3 speakers x 4 emotions x 6 utterances) unless --corpus is
given: extract (logmel, dvector), mal-select (mal, kcenter), reduce (pca, ae, tsne),
cluster-speakers, evaluate clusters, evaluate al, cluster-labels, predict, train-cpc and
extract --feat cpc, pretrain (contrastive) and extract --feat encoder, evaluate ser.
Prints one line per output: same or DIFFERENT (and the first column that differs).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SMALL_ENCODER = ["--conv-channels", "16", "--width", "32", "--layers", "1", "--heads", "2"]


def steps(corpus: str, d: Path, new: bool) -> list[tuple[str, list[str]]]:
    """(output, command) in order; ``new``: this checkout's spellings (positional model
    outputs, --tsne, --budgets with %)."""
    out = lambda name: str(d / name)  # noqa: E731
    model = lambda name: [out(name)] if new else ["--out", out(name)]  # noqa: E731
    return [
        ("logmel.parquet", ["extract", "-q", "-j", "1", corpus, out("logmel.parquet")]),
        ("dvector.parquet", ["extract", "-q", "--feat", "dvector", corpus, out("dvector.parquet")]),
        ("queue.parquet", ["mal-select", "-q", "--budget", "20%", out("logmel.parquet"), out("queue.parquet")]),
        ("kcenter.parquet", ["mal-select", "-q", "--method", "kcenter", "--budget", "10", out("logmel.parquet"),
                             out("kcenter.parquet")]),
        ("pca.parquet", ["reduce", "-q", "-m", "pca", "--dim", "8", out("logmel.parquet"), out("pca.parquet")]),
        ("ae.parquet", ["reduce", "-q", "-m", "ae", "--dim", "4", "--epochs", "60", "--hidden", "32",
                        out("logmel.parquet"), out("ae.parquet")]),
        ("tsne.parquet", ["reduce", "-q", "-m", "tsne", "--perplexity", "10", "--tsne" if new else "--engine",
                          "sklearn", out("logmel.parquet"), out("tsne.parquet")]),
        ("clusters.parquet", ["cluster-speakers", "-q", "--k", "3", out("dvector.parquet"), out("clusters.parquet")]),
        ("scores.parquet", ["evaluate", "clusters", "-q", out("clusters.parquet"), out("scores.parquet")]),
        ("al.parquet", ["evaluate", "al", "-q", "--folds", "2", "--repeats", "1", "--budgets",
                        "20%,50%" if new else "20,50", "--select", out("logmel.parquet"), "--classify",
                        out("logmel.parquet"), out("al.parquet")]),
        ("labelled.parquet", ["cluster-labels", "-q", "--replace", out("queue.parquet"), out("answers.csv"),
                              out("labelled.parquet")]),
        ("predicted.parquet", ["predict", "-q", out("answers.csv"), out("logmel.parquet"), out("predicted.parquet")]),
        ("cpc.safetensors", ["train-cpc", "-q", corpus, *model("cpc.safetensors"), "--epochs", "3", "--segment", "1",
                             "--batch-size", "4"]),
        ("cpc.parquet", ["extract", "-q", "--feat", "cpc", "--model", out("cpc.safetensors"), corpus,
                         out("cpc.parquet")]),
        ("encoder.safetensors", ["pretrain", "-q", corpus, *model("encoder.safetensors"), "--clusters",
                                 out("clusters.parquet"), "--steps", "4", "--batch-size", "4", "--segment", "1",
                                 *SMALL_ENCODER]),
        ("encoder.parquet", ["extract", "-q", "--feat", "encoder", "--model", out("encoder.safetensors"), corpus,
                             out("encoder.parquet")]),
        ("ser.parquet", ["evaluate", "ser", "-q", corpus, "--folds", "3", "--seeds", "1", "--epochs", "1",
                         "--segment", "1", "--no-pretrain", "--encoder", f"e={out('encoder.safetensors')}",
                         *SMALL_ENCODER, out("ser.parquet")]),
    ]


def run_all(root: Path, corpus: str, d: Path, new: bool) -> None:
    d.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    for name, cmd in steps(corpus, d, new):
        if name == "labelled.parquet":  # the annotators' answers: the emotion of each medoid
            import pyarrow.parquet as pq

            q = pq.read_table(d / "queue.parquet").to_pylist()
            with open(d / "answers.csv", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["id", "emotion"])
                w.writerows([r["id"], r["emotion"]] for r in q if r["is_medoid"])
        p = subprocess.run([sys.executable, "-m", "seraltools", *cmd, *(["--threads", "1"] if cmd[0] in (
            "train-cpc", "pretrain") or cmd[:2] == ["evaluate", "ser"] else [])], env=env, capture_output=True, text=True)
        if p.returncode:
            raise SystemExit(f"{root}: seral {' '.join(cmd)} failed:\n{p.stderr[-1500:]}")


def compare(a: Path, b: Path) -> str:
    if a.suffix == ".safetensors":
        from safetensors.numpy import load_file

        ta, tb = load_file(str(a)), load_file(str(b))
        diff = [k for k in ta if k not in tb or not (ta[k] == tb[k]).all()]
        return "same" if not diff and set(ta) == set(tb) else f"DIFFERENT ({(diff or ['keys'])[0]})"
    import pyarrow.parquet as pq

    ta, tb = pq.read_table(a), pq.read_table(b)
    ignore = {"seconds", "time"}  # wall times
    cols = [c for c in ta.column_names if c not in ignore]
    if cols != [c for c in tb.column_names if c not in ignore]:
        return f"DIFFERENT (columns {ta.column_names} / {tb.column_names})"
    for c in cols:
        if not ta.column(c).equals(tb.column(c)):
            return f"DIFFERENT ({c})"
    return "same"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, required=True, help="the other checkout")
    ap.add_argument("--corpus", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = args.corpus
        if corpus is None:
            sys.path.insert(0, str(ROOT))
            from seraltools.synth import make_corpus

            make_corpus(tmp / "corpus", speakers=3, per_cell=6, seed=3)
            corpus = str(tmp / "corpus" / "manifest.csv")
        run_all(args.before, corpus, tmp / "before", new=False)
        run_all(ROOT, corpus, tmp / "after", new=True)
        same = 0
        for name, _ in steps(corpus, tmp, True):
            verdict = compare(tmp / "before" / name, tmp / "after" / name)
            same += verdict == "same"
            print(f"{name:<22} {verdict}")
        print(f"{same} of {len(steps(corpus, tmp, True))} outputs the same, bit for bit "
              f"({args.before} against {ROOT})")


if __name__ == "__main__":
    main()
