"""``seral evaluate al`` over tables: read, align by id, simulate, write, report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from seraltools.errors import BadInput
from seraltools.simulate import TASKS, SimulationConfig, format_summary, plot, simulate, summarize
from seraltools.table import feature_matrix, history_entry, read_table, stamp, write_table


def align(select: pa.Table, classify_ids: list[str], name: str) -> np.ndarray:
    """The selection features in the classify table's row order (matched by id)."""
    row_of = {v: i for i, v in enumerate(select.column("id").to_pylist())}
    missing = [v for v in classify_ids if v not in row_of]
    if missing:
        raise BadInput(f"{name}: lacks id {missing[0]!r} of the --classify table ({len(missing)} ids missing); "
                       "select and classify tables must describe the same utterances")
    return feature_matrix(select, name)[np.array([row_of[v] for v in classify_ids], dtype=np.int64)]


def task_labels(table: pa.Table, tasks: list[str], name: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Label arrays per task, and the mask of rows labelled for every task."""
    keep = np.ones(table.num_rows, dtype=bool)
    raw = {}
    for t in tasks:
        if t not in table.column_names:
            raise BadInput(f"{name}: no label column {t!r} for --task; columns: {', '.join(table.column_names)}")
        values = table.column(t).to_pylist()
        raw[t] = values
        keep &= np.array([v is not None for v in values])
    return {t: np.array([str(v) for v, k in zip(values, keep) if k]) for t, values in raw.items()}, keep


def _names(paths: list[str]) -> list[str]:
    stems = [Path(p).stem if p != "-" else "stdin" for p in paths]
    return [s if stems.count(s) == 1 else f"{s}#{i + 1}" for i, s in enumerate(stems)]


def run_al(select_paths: list[str], classify_path: str, output: str, *, tasks: list[str] | None = None,
           cfg: SimulationConfig | None = None, workers: int = 1, figure: str | None = None, quiet: bool = True) -> str:
    """Read the tables, run :func:`seraltools.simulate.simulate`, write results; returns the printed summary."""
    from seraltools.progress import log, progress

    cfg = cfg or SimulationConfig()
    if select_paths.count("-") + (classify_path == "-") > 1:
        raise BadInput("only one input can come from stdin (-)")
    classify = read_table(classify_path, need_features=True)
    cname = "<stdin>" if classify_path == "-" else classify_path
    tasks = list(tasks or TASKS)
    labels, keep = task_labels(classify, tasks, cname)
    if not keep.all() and not quiet:
        log(f"seral evaluate al: {int((~keep).sum())} rows without labels for {', '.join(tasks)} left out")
    ids = [v for v, k in zip(classify.column("id").to_pylist(), keep) if k]
    x_cls = feature_matrix(classify, cname)[keep]
    sets = {}
    for name, path in zip(_names(select_paths), select_paths):
        table = classify if path == classify_path else read_table(path, need_features=True)
        sets[name] = align(table, ids, "<stdin>" if path == "-" else path)
    cells = cfg.repeats * cfg.folds
    with progress(cells, "evaluate al", quiet=quiet, unit="fold") as advance:
        sim = simulate(sets, x_cls, labels, cfg, workers=workers, progress=advance)
    rows = sim.rows
    columns = {
        "id": pa.array([f"{r['feature_set'] or '-'}/{r['selector']}/{r['task']}/{r['budget']:g}/r{r['repeat']}/f{r['fold']}"
                        for r in rows], pa.string()),
        "feature_set": pa.array([r["feature_set"] for r in rows], pa.string()),
        "selector": pa.array([r["selector"] for r in rows], pa.string()),
        "task": pa.array([r["task"] for r in rows], pa.string()),
        "budget": pa.array([r["budget"] for r in rows], pa.float32()),
        "budget_n": pa.array([r["budget_n"] for r in rows], pa.int32()),
        "repeat": pa.array([r["repeat"] for r in rows], pa.int16()),
        "fold": pa.array([r["fold"] for r in rows], pa.int16()),
        "mcc": pa.array([r["mcc"] for r in rows], pa.float32()),
        "uar": pa.array([r["uar"] for r in rows], pa.float32()),
        "accuracy": pa.array([r["accuracy"] for r in rows], pa.float32()),
        "single_class": pa.array([r["single_class"] for r in rows], pa.bool_()),
        "n_train": pa.array([r["n_train"] for r in rows], pa.int32()),
        "n_test": pa.array([r["n_test"] for r in rows], pa.int32()),
    }
    summary = summarize(rows)
    params = {**cfg.to_dict(), "tasks": tasks, "svm": sim.hyper, "feature_sets": dict(zip(sets, select_paths)),
              "summary": summary}
    entry = history_entry("evaluate al", params, [{"classify": cname, "rows": len(ids)}])
    write_table(stamp(pa.table(columns), entry), output)
    if figure:
        plot(rows, figure)
    return format_summary(summary, sim.hyper)
