"""What the first queries of `seral mal-select` hold, seeds 0-9, on EMO-DB and TurEV-DB.

    python benchmarks/mal_queue.py [--emodb ../shared/corpora/emodb/wav]
        [--turevdb ../shared/corpora/turevdb/manifest.csv] [--out bench-out/al]

The annotation queue a user hands to annotators, on the whole corpus (no folds): for
the paper's setting (front-end with the 1e-10 floor and digital silence kept, raw
features, cosine distance) and seral's defaults (silence skipped, 1e-8 floor,
z-scored features, Euclidean distance), over seeds 0-9: how often the first 4
queries hold both arousal classes and both valence classes, the share of 1 %
queues with a single arousal class, and the emotions among the first 1 % at seed 0;
and the share of the raw features' squared norm held by the min and range dimensions.
Reuses OUT/<corpus>/logmel.parquet from benchmarks/al_fidelity.py when present.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.al_fidelity import paper_frontend_features, seral  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emodb", default=str(ROOT.parent / "shared/corpora/emodb/wav"))
    ap.add_argument("--turevdb", default=str(ROOT.parent / "shared/corpora/turevdb/manifest.csv"))
    ap.add_argument("--out", default="bench-out/al")
    args = ap.parse_args()
    import numpy as np

    from seraltools.features.logmel import feature_names
    from seraltools.mal import resolve_budget
    from seraltools.tools.mal_select import mal_select as select
    from seraltools.table import feature_matrix, read_table, set_features

    corpora = {"emodb": ["--corpus", "emodb", args.emodb], "turevdb": [args.turevdb]}
    for name, inputs in corpora.items():
        out = Path(args.out) / name
        out.mkdir(parents=True, exist_ok=True)
        if not (out / "logmel.parquet").exists():
            seral("extract", "--feat", "logmel", "-q", *inputs, out / "logmel.parquet")
        table = read_table(out / "logmel.parquet")
        paper = set_features(table.drop_columns(["features"]), paper_frontend_features(table))
        one_pct = resolve_budget("1%", table.num_rows, 1)
        print(f"\n{name}: {table.num_rows} utterances, 1 % = {one_pct} queries, seeds 0-9")
        for label, t in (("paper front-end", paper), ("seral front-end", table)):
            x = feature_matrix(t).astype(np.float64) ** 2
            dims = [i for i, n in enumerate(feature_names()) if n.startswith(("logmel_min", "logmel_range"))]
            print(f"  raw {label}: the min and range dimensions hold {x[:, dims].sum() / x.sum():.0%} "
                  "of the squared norm")
        for label, t, options in [("paper (1e-10, silence kept, raw, cosine)", paper, {"standardize": False}),
                                  ("seral defaults (z-scored, Euclidean)", table, {})]:
            arousal4 = valence4 = single = 0
            for seed in range(10):
                q, _ = select(t, seed=seed, budget=str(one_pct), only_queries=True, **options)
                ar, va = q.column("arousal").to_pylist(), q.column("valence").to_pylist()
                arousal4 += len(set(ar[:4])) == 2
                valence4 += len(set(va[:4])) == 2
                single += len(set(ar)) == 1
                if seed == 0:
                    emotions = Counter(q.column("emotion").to_pylist())
            print(f"  {label:<42} first 4 with both arousal classes {arousal4}/10, both valence classes "
                  f"{valence4}/10; 1 % queue of one arousal class {single}/10; seed 0, 1 %: "
                  + ", ".join(f"{e} {n}" for e, n in emotions.most_common()))


if __name__ == "__main__":
    main()
