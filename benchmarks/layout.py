"""Issue #15's layout figures: seral's import graph (modules and arrows), its cycles, lines
of code per layer, and the wall time of `seral --help`.

    python benchmarks/layout.py [--root CHECKOUT] [--graph] [--help-runs 10]

Arrows are every `import seraltools.X` / `from seraltools.X import ...` in a module, at
the top or inside a function (both are dependencies; a cycle among them is a cycle
whether or not Python happens to resolve it). Layers: cli (parsing, files, reports),
tools (tables in, a table and a summary out), methods (arrays, in the papers' terms),
infrastructure (the contract, files, audio, devices, seeds, training, parallel work,
progress, errors). Lines of code: lines that are not blank and not only a comment.
``--root`` measures another checkout (e.g. a git worktree of an earlier commit).
"""

from __future__ import annotations

import argparse
import ast
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

METHODS = {"frontend", "features", "mal", "reduce", "simulate", "cpc", "encoder", "pretrain", "ser",
           "speaker_clusters", "selectors", "ssl_backbone", "synth", "segment", "standardize", "dimred"}
TOOLS_BEFORE = {"extract", "reduce_table", "evaluate_al", "predict", "info", "annotate"}


def layer(module: str) -> str:
    parts = module.split(".")[1:]
    if not parts or parts[0] in ("__init__", "__main__"):
        return "entry"
    if parts[0] == "cli":
        return "cli"
    if parts[0] == "tools" or (parts[0] in TOOLS_BEFORE and len(parts) == 1):
        return "tools"
    if parts[0] in METHODS:
        return "methods"
    return "infrastructure"


def modules(pkg: Path) -> dict[str, Path]:
    out = {}
    for f in sorted(pkg.rglob("*.py")):
        rel = f.relative_to(pkg.parent).with_suffix("")
        name = ".".join(rel.parts)
        out[name[: -len(".__init__")] if name.endswith(".__init__") else name] = f
    return out


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rsplit(".", 1)[0] if "." in t else ""
            if t and t != name:
                out.add(t)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def code_lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip() and not line.strip().startswith("#"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--graph", action="store_true", help="print every module's arrows")
    ap.add_argument("--help-runs", type=int, default=10)
    args = ap.parse_args()
    mods = modules(args.root / "seraltools")
    graph = {m: imports(m, p, set(mods)) for m, p in mods.items()}
    print(f"seral at {args.root}: {len(mods)} modules, {sum(len(v) for v in graph.values())} arrows")
    per_layer: dict[str, list[int]] = {}
    for m, p in mods.items():
        per_layer.setdefault(layer(m), []).append(code_lines(p))
    for name in ("entry", "cli", "tools", "methods", "infrastructure"):
        v = per_layer.get(name, [])
        print(f"  {name:<15} {len(v):>3} modules {sum(v):>6} lines of code")
    print(f"  {'all':<15} {len(mods):>3} modules {sum(sum(v) for v in per_layer.values()):>6} lines of code")
    upward = [(m, t) for m, ts in graph.items() for t in ts
              if ["methods", "infrastructure"].count(layer(m)) and layer(t) in ("cli", "tools")]
    print(f"arrows from methods or infrastructure up to tools or cli: {len(upward)}")
    for m, t in sorted(upward):
        print(f"  {m} -> {t}")
    cyc = cycles(graph)
    print(f"import cycles: {len(cyc)}")
    for c in cyc:
        print("  " + " <-> ".join(c))
    if args.graph:
        for m in sorted(graph):
            print(f"{m} [{layer(m)}] -> {', '.join(sorted(graph[m])) or '-'}")
    if args.help_runs:
        env = {**os.environ, "PYTHONPATH": str(args.root)}
        times = []
        for _ in range(args.help_runs):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "seraltools", "--help"], env=env, capture_output=True, check=True)
            times.append(time.perf_counter() - t)
        print(f"seral --help: median {1000 * statistics.median(times):.0f} ms of {args.help_runs} runs")


if __name__ == "__main__":
    main()
