"""``seral evaluate al`` over tables: read, align by id, simulate, write, report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from seraltools.errors import BadInput
from seraltools.simulate import TASKS, SimulationConfig, format_summary, plot, simulate, summarize
from seraltools.table import feature_matrix, history_entry, read_table, stamp, write_table


#: One row per feature set, selector, label mode, task, budget, seed, repeat and fold.
#: ``labels``: medoid or cluster for MAL, null for random; ``n_labelled``: the SVM's
#: training rows (the budget, or the queried clusters' members with cluster labels).
RESULT_COLUMNS = {
    "feature_set": pa.string(), "selector": pa.string(), "labels": pa.string(), "task": pa.string(),
    "budget": pa.float32(), "budget_n": pa.int32(), "n_labelled": pa.int32(), "seed": pa.int32(),
    "repeat": pa.int16(), "fold": pa.int16(), "mcc": pa.float32(), "uar": pa.float32(),
    "accuracy": pa.float32(), "single_class": pa.bool_(), "n_train": pa.int32(), "n_test": pa.int32(),
}


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
           cfg: SimulationConfig | None = None, workers: int = 1, figure: str | None = None, quiet: bool = True,
           engine: str = "local", address: str | None = None) -> str:
    """Read the tables, run :func:`seraltools.simulate.simulate`, write results; returns the printed summary."""
    from seraltools.progress import log, progress

    cfg = cfg or SimulationConfig()
    if select_paths.count("-") + (classify_path == "-") > 1:
        raise BadInput("only one input can come from stdin (-)")
    classify = read_table(classify_path, need_features=True)
    cname = "<stdin>" if classify_path == "-" else classify_path
    tasks = list(tasks or TASKS)
    labels, keep = task_labels(classify, tasks, cname)
    if not keep.any():
        raise BadInput(f"{cname}: no rows with labels for {', '.join(tasks)}; nothing to simulate")
    if not keep.all() and not quiet:
        log(f"seral evaluate al: {int((~keep).sum())} rows without labels for {', '.join(tasks)} left out")
    ids = [v for v, k in zip(classify.column("id").to_pylist(), keep) if k]
    x_cls = feature_matrix(classify, cname)[keep]
    sets = {}
    for name, path in zip(_names(select_paths), select_paths):
        table = classify if path == classify_path else read_table(path, need_features=True)
        sets[name] = align(table, ids, "<stdin>" if path == "-" else path)
    cells = len(cfg.seeds) * cfg.repeats * cfg.folds
    with progress(cells, "evaluate al", quiet=quiet, unit="fold") as advance:
        sim = simulate(sets, x_cls, labels, cfg, workers=workers, progress=advance, engine=engine, address=address)
    rows = sim.rows
    ids_out = [f"{r['feature_set'] or '-'}/{r['selector']}/{r['labels'] or '-'}/{r['task']}/{r['budget']:g}/"
               f"s{r['seed']}/r{r['repeat']}/f{r['fold']}" for r in rows]
    columns = {"id": pa.array(ids_out, pa.string())}
    columns.update({name: pa.array([r[name] for r in rows], typ) for name, typ in RESULT_COLUMNS.items()})
    summary = summarize(rows)
    params = {**cfg.to_dict(), "tasks": tasks, "svm": {str(s): h for s, h in sim.hyper.items()}, "feature_sets": dict(zip(sets, select_paths)),
              "summary": summary}
    entry = history_entry("evaluate al", params, [{"classify": cname, "rows": len(ids)}])
    write_table(stamp(pa.table(columns), entry), output)
    if figure:
        plot(rows, figure)
    return format_summary(summary, sim.hyper)
