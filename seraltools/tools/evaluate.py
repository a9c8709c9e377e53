"""``seral evaluate al``, ``evaluate clusters`` and ``evaluate ser`` over tables: the
active-learning simulation (:mod:`seraltools.simulate`), the intra-speaker clusters'
agreement with emotion (:mod:`seraltools.speaker_clusters`) and SER fine-tuning on
speaker-independent folds (:mod:`seraltools.ser`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from seraltools.errors import BadInput
from seraltools.simulate import TASKS, SimulationConfig, format_summary, simulate, summarize
from seraltools.table import feature_matrix, history_entry, stamp


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


def table_names(paths: list[str]) -> list[str]:
    """Feature-set names of --select tables: their file stems, numbered where two share one."""
    stems = [Path(p).stem if p != "-" else "stdin" for p in paths]
    return [s if stems.count(s) == 1 else f"{s}#{i + 1}" for i, s in enumerate(stems)]


def simulation_inputs(select: dict, classify: pa.Table, classify_name: str, tasks: list[str], cfg: SimulationConfig,
                      warn=None):
    """What both simulations read from the tables: (selection features aligned to the
    labelled --classify rows, classification features, labels per task, each row's
    speaker for --standardize speaker or None)."""
    labels, keep = task_labels(classify, tasks, classify_name)
    if not keep.any():
        raise BadInput(f"{classify_name}: no rows with labels for {', '.join(tasks)}; nothing to simulate")
    if not keep.all() and warn:
        warn(f"{int((~keep).sum())} rows without labels for {', '.join(tasks)} left out")
    ids = [v for v, k in zip(classify.column("id").to_pylist(), keep) if k]
    x_cls = feature_matrix(classify, classify_name)[keep]
    sets = {name: align(table, ids, where) for name, (table, where) in select.items()}
    groups = None
    if cfg.standardize == "speaker":  # the speaker (or recording) of each row, from the --classify table
        from seraltools.standardize import speaker_groups

        found = speaker_groups(classify, classify_name)[0]
        groups = None if found is None else [g for g, k in zip(found, keep) if k]
    return sets, x_cls, labels, groups


def evaluate_al(select: dict[str, tuple[pa.Table, str]], classify: pa.Table, *, classify_name: str = "classify",
                tasks: list[str] | None = None, cfg: SimulationConfig | None = None, workers: int = 1,
                engine: str = "local", address: str | None = None, progress=None, warn=None):
    """The active-learning simulation (:func:`seraltools.simulate.simulate`) of each
    ``select`` feature set (name -> (table, where it came from)) with an SVM on the
    ``classify`` features: returns (the results table, one row per feature set, selector,
    label mode, task, budget, seed, repeat and fold; its rows as dicts; the printed
    summary: mean MCC per budget with the paired tests)."""
    cfg = cfg or SimulationConfig()
    tasks = list(tasks or TASKS)
    sets, x_cls, labels, groups = simulation_inputs(select, classify, classify_name, tasks, cfg, warn)
    sim = simulate(sets, x_cls, labels, cfg, workers=workers, progress=progress, engine=engine, address=address,
                   groups=groups, warn=warn)
    rows = sim.rows
    ids_out = [f"{r['feature_set'] or '-'}/{r['selector']}/{r['labels'] or '-'}/{r['task']}/{r['budget']:g}/"
               f"s{r['seed']}/r{r['repeat']}/f{r['fold']}" for r in rows]
    columns = {"id": pa.array(ids_out, pa.string())}
    columns.update({name: pa.array([r[name] for r in rows], typ) for name, typ in RESULT_COLUMNS.items()})
    summary = summarize(rows)
    params = {**cfg.to_dict(), "tasks": tasks, "svm": {str(s): h for s, h in sim.hyper.items()},
              "feature_sets": {name: where for name, (_, where) in select.items()}, "summary": summary}
    entry = history_entry("evaluate al", params, [{"classify": classify_name, "rows": len(x_cls)}])
    return stamp(pa.table(columns), entry), rows, format_summary(summary, sim.hyper)


# ----------------------------------------------------------------------------- clusters


def evaluate_clusters(table, *, emotions: str | None = None, source: str = "table"):
    """NMI, ARI, purity and silhouette of intra-speaker clusters against emotion (the
    speaker paper's Table 1), per speaker and averaged: returns (the per-speaker table,
    its rows as dicts, the input rows scored: those with a cluster and a kept emotion)."""
    import pyarrow as pa

    from seraltools.speaker_clusters import evaluate_clusters as scores
    from seraltools.table import feature_matrix, history_entry, stamp
    from seraltools.tools.speakers import emotion_rows, speakers

    for col in ("cluster", "emotion"):
        if col not in table.column_names:
            raise BadInput(f"{source}: no '{col}' column" + (" (run seral cluster-speakers first)" if col == "cluster" else ""))
    scored = table.filter(pa.array(emotion_rows(table, emotions, source)
                                   & table.column("cluster").is_valid().to_numpy(zero_copy_only=False)))
    rows = scores(feature_matrix(scored, source), speakers(scored, source), scored.column("cluster").to_numpy(),
                  scored.column("emotion").to_pylist())
    res = pa.table({"id": [r["speaker"] for r in rows], "n": pa.array([r["n"] for r in rows], pa.int32()),
                    **{m: pa.array([r[m] for r in rows], pa.float32()) for m in ("nmi", "ari", "purity", "silhouette")}})
    return stamp(res, history_entry("evaluate clusters", {"emotions": emotions}, [{"table": source}])), rows, scored


# ----------------------------------------------------------------------------- SER


def evaluate_ser(utterances, conditions: list[tuple[str, str | None]], *, emotions: str | None = None, folds: int = 5,
                 seeds: int = 5, seed: int = 0, cfg=None, enc_cfg=None, device: str = "auto", progress=None,
                 inputs_meta=None):
    """Fine-tune each condition (name, encoder file or checkpoint directory; None = a new
    encoder of ``enc_cfg``) on speaker-independent folds of the labelled ``utterances``:
    returns (the per-run table, the folds table, the summary rows: UAR mean and std over
    seeds per condition)."""
    from dataclasses import asdict

    from seraltools.ser import FinetuneConfig, evaluate_ser as run, folds_table, labelled_audio, results_table, summarize
    from seraltools.table import history_entry, stamp

    cfg = cfg or FinetuneConfig()
    wavs, spk, emo = labelled_audio(utterances, emotions)
    rows, plan = run(conditions, wavs, spk, emo, folds=folds, seeds=seeds, cfg=cfg, enc_cfg=enc_cfg, device=device,
                     progress=progress, first_seed=seed)
    summary = summarize(rows)
    params = {"conditions": [{"name": n, "encoder": p} for n, p in conditions], "emotions": emotions,
              "folds": folds, "seeds": seeds, "seed": seed, "finetune": asdict(cfg), "device": device, "summary": summary}
    inputs = [{**(inputs_meta or {}), "utterances": len(wavs)}]
    return (stamp(results_table(rows), history_entry("evaluate ser", params, inputs)),
            stamp(folds_table(plan), history_entry("evaluate ser", {"folds": folds}, [])), summary)


# ----------------------------------------------------------------------------- rounds


def evaluate_rounds(select: dict[str, tuple[pa.Table, str]], classify: pa.Table, *, classify_name: str = "classify",
                    tasks: list[str] | None = None, cfg: SimulationConfig | None = None,
                    later: tuple[str, ...] = ("margin", "entropy", "cluster-margin"), retune: bool = False,
                    workers: int = 1, engine: str = "local", address: str | None = None, progress=None, warn=None):
    """``seral evaluate al --rounds``: the multi-round simulation
    (:func:`seraltools.rounds.simulate_rounds`). Returns (the results table: the columns
    of :func:`evaluate_al` plus ``fallback``, true where a later round had too few labels
    for the SVM and continued the cold-start queue; its rows; the printed summary)."""
    from seraltools.rounds import format_rounds, simulate_rounds, summarize_rounds

    cfg = cfg or SimulationConfig()
    tasks = list(tasks or TASKS)
    sets, x_cls, labels, groups = simulation_inputs(select, classify, classify_name, tasks, cfg, warn)
    sim = simulate_rounds(sets, x_cls, labels, cfg, later, retune=retune, workers=workers, progress=progress,
                          engine=engine, address=address, groups=groups, warn=warn)
    rows = sim.rows
    ids_out = [f"{r['feature_set'] or '-'}/{r['selector']}/{r['task']}/{r['budget']:g}/"
               f"s{r['seed']}/r{r['repeat']}/f{r['fold']}" for r in rows]
    columns = {"id": pa.array(ids_out, pa.string())}
    columns.update({name: pa.array([r[name] for r in rows], typ) for name, typ in RESULT_COLUMNS.items()})
    columns["fallback"] = pa.array([bool(r.get("fallback")) for r in rows], pa.bool_())
    cold = sim.config.methods[0]
    summary = summarize_rounds(rows, cold)
    params = {**sim.config.to_dict(), "tasks": tasks, "later": list(sim.later), "retune": retune,
              "svm": {str(s): h for s, h in sim.hyper.items()},
              "feature_sets": {name: where for name, (_, where) in select.items()}, "summary": summary}
    entry = history_entry("evaluate al --rounds", params, [{"classify": classify_name, "rows": len(x_cls)}])
    return stamp(pa.table(columns), entry), rows, format_rounds(summary, sim.hyper, cold)
