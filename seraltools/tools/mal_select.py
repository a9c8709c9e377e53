"""``seral mal-select`` and ``seral cluster-labels`` over tables: the annotation queue
(MAL or another cold-start selector) and the labels its medoids pass to their clusters.
The methods are :mod:`seraltools.mal` (k-medoids, the prefix-stable MAL queue, label
propagation) and :mod:`seraltools.selectors`."""

from __future__ import annotations

import numpy as np

from seraltools.errors import BadInput
from seraltools.mal import default_k, mal_queue, propagate, resolve_budget, resolve_metric


def mal_select(
    table,
    *,
    method: str = "typiclust-random",
    k: int | None = None,
    metric: str = "auto",
    standardize: bool = True,
    budget: str | None = None,
    only_queries: bool = False,
    seed: int = 0,
    source: str = "table",
    labelled: set[str] | None = None,
    warn=None,
    explain: bool = False,
    labels=None,
    columns: list[str] | None = None,
    labels_name: str = "labels table",
):
    """``seral mal-select`` on a feature table: returns (queue table, one-line summary).

    Adds ``cluster``, ``cluster_size``, ``is_medoid`` and ``rank`` (1 = first query).
    ``standardize``: corpus (default), speaker or none (:mod:`seraltools.standardize`).
    A queue that looks degenerate for the corpus (:mod:`seraltools.diagnose`) is said
    through ``warn``; ``explain`` adds the diagnosis's lines to the summary.

    The later-round methods (:data:`seraltools.uncertainty.LATER`) need ``labels``, the
    answers so far (a table of :func:`seraltools.labels.read_labels`): see
    :func:`later_select`.

    ``labelled``: ids already asked about (a next round). They are never queued again;
    the budget counts new queries; the ranking continues the MAL order (:func:`mal_queue`),
    medoids of clusters without a labelled row before those of clusters with one."""
    import pyarrow as pa

    from seraltools.table import feature_matrix, history_entry, metadata, set_column, stamp
    from seraltools.uncertainty import LATER

    if method in LATER:
        return later_select(table, labels, method=method, columns=columns, standardize=standardize, budget=budget,
                            only_queries=only_queries, seed=seed, source=source, labels_name=labels_name, warn=warn)
    x = feature_matrix(table, source)
    n = len(x)
    if n == 0:
        raise BadInput(f"{source}: the table has no rows")
    params = {"method": method, "seed": seed, "budget": budget}
    done = np.zeros(n, dtype=bool)
    note = ""
    if labelled:
        row_ids = table.column("id").to_pylist()
        done = np.array([i in labelled for i in row_ids])
        missing = len(set(labelled) - set(row_ids))
        note = f"; {int(done.sum())} labelled rows not queued again" + (
            f" ({missing} labelled ids are not in {source}: do the ids match?)" if missing else "")
        if done.all():
            raise BadInput(f"{source}: every row is already labelled; nothing left to queue")
        params["labelled"] = int(done.sum())
    from seraltools.standardize import speaker_groups, standardize as scale, standardize_mode

    mode = standardize_mode(standardize)
    groups = speaker_groups(table, source)[0]
    if method != "random":  # every selector but random measures distances: on z-scored features by default
        x = scale(x, mode, groups if mode == "speaker" else None, warn=warn, source=source)
        params["standardize"] = mode
    if method == "mal":
        metric = resolve_metric(metric, x.shape[1], mode != "none")
        k0 = default_k(n) if k is None else int(k)
        b = min(_budget(budget, n, default=k0), n - int(done.sum()))
        queries, c = mal_queue(x, b, k0, labelled=done, metric=metric, seed=seed)
        cluster = pa.array(c.cluster, pa.int32())
        cluster_size = pa.array(c.sizes[c.cluster].astype(np.int32), pa.int32())
        is_medoid = np.zeros(n, dtype=bool)
        is_medoid[c.medoids] = True
        params.update(k=c.k, metric=c.metric, exact=c.exact, loss=c.loss)
        summary = f"{c.k} clusters ({c.metric}, {'exact' if c.exact else 'block approximation'}), {b} queries"
        beyond = int((~is_medoid[queries]).sum())
        if beyond:
            summary += f" ({beyond} beyond the {c.k} medoids: from clusterings of the rows not yet queued)"
        summary += note
    else:  # random and the other cold-start selectors (seraltools.selectors)
        from seraltools.selectors import queue

        b = min(_budget(budget, n, default=default_k(n)), n - int(done.sum()))
        from seraltools.selectors import HYBRIDS

        opts = {}
        if HYBRIDS.get(method) == "mal":  # the hybrid opens with MAL, with MAL's options
            opts = {"metric": resolve_metric(metric, x.shape[1], mode != "none"), "k": k}
            params.update(metric=opts["metric"], k=k)
        queries = queue(method, x, b, seed=seed, labelled=done, **opts)  # random: its seeded order, labelled left out
        summary = f"{'random order' if method == 'random' else method}, {b} queries{note}"
        cluster = pa.nulls(n, pa.int32())
        cluster_size = pa.nulls(n, pa.int32())
        is_medoid = np.zeros(n, dtype=bool)
    rank = np.zeros(n, dtype=np.int32)
    rank[queries] = np.arange(1, len(queries) + 1, dtype=np.int32)
    summary = _diagnose(table, x, rank, groups, cluster_size, summary, warn, explain)
    out = table
    for name, values in [("cluster", cluster), ("cluster_size", cluster_size),
                         ("is_medoid", pa.array(is_medoid)), ("rank", pa.array(rank, pa.int32(), mask=rank == 0))]:
        out = set_column(out, name, values)
    if only_queries:
        out = out.take(pa.array(queries, pa.int64()))
    meta = metadata(table)
    entry = history_entry("mal-select", params, [{"table": source, "rows": n}])
    return stamp(out, entry, parent=meta), summary


def _diagnose(table, x, rank, groups, cluster_size, summary: str, warn, explain: bool) -> str:
    """The degenerate-queue rules of :mod:`seraltools.diagnose` said through ``warn``;
    with ``explain``, its report appended to the summary."""
    from seraltools import diagnose
    from seraltools.labels import WELL_KNOWN_LABELS

    r = np.where(rank > 0, rank, np.nan)
    duration = (np.asarray(table.column("duration").to_numpy(zero_copy_only=False), dtype=np.float64)
                if "duration" in table.column_names else None)
    if warn:
        for message in diagnose.queue_warnings(diagnose.queue_stats(r, groups, duration)):
            warn(message)
    if not explain:
        return summary
    labels = {c: table.column(c).to_pylist() for c in WELL_KNOWN_LABELS if c in table.column_names}
    lines = diagnose.explain(x, r, groups=groups, duration=duration, labels=labels,
                             cluster_size=cluster_size.to_pylist() if cluster_size.null_count < len(cluster_size) else None)
    return summary + "\n" + "\n".join(lines)


def cluster_labels(queue, labels, *, columns=None, replace: bool = False, source: str = "queue",
                     labels_name: str = "labels table"):
    """``seral cluster-labels``: each labelled medoid's label for its whole cluster."""
    import pyarrow as pa

    from seraltools.table import history_entry, metadata, set_column, stamp

    if ("cluster" not in queue.column_names or "is_medoid" not in queue.column_names
            or queue.column("cluster").null_count == queue.num_rows):
        raise BadInput(f"{source}: no MAL clusters (columns 'cluster' and 'is_medoid' from "
                       "`seral mal-select --method mal`); cluster labels need them")
    from seraltools.labels import label_columns

    columns = label_columns(labels, columns, labels_name)
    clash = [c for c in columns + ["label_source"] if c in queue.column_names]
    if clash and not replace:
        raise BadInput(f"{source}: already has column(s) {', '.join(clash)}; rename them in the labels table "
                       "or pass --replace")
    ids = queue.column("id").to_pylist()
    row_of = {v: i for i, v in enumerate(ids)}
    label_ids = labels.column("id").cast(pa.string()).to_pylist()
    unknown = [v for v in label_ids if v not in row_of]
    if unknown:
        raise BadInput(f"{labels_name}: id {unknown[0]!r} is not in {source} ({len(unknown)} unknown ids); "
                       "are these the labels of this queue?")
    cluster = np.asarray(queue.column("cluster").to_numpy(zero_copy_only=False))
    rows = np.array([row_of[v] for v in label_ids], dtype=np.int64)
    medoid = np.asarray(queue.column("is_medoid").to_numpy(zero_copy_only=False), dtype=bool)
    not_medoid = [label_ids[i] for i, r in enumerate(rows) if not medoid[r]]
    out = queue
    source_col = [None] * len(ids)
    for col in columns:
        values = labels.column(col).to_pylist()
        med_rows = [r for r, v in zip(rows, values) if medoid[r]]
        med_vals = [v for r, v in zip(rows, values) if medoid[r]]
        filled = propagate(cluster, np.array(med_rows, dtype=np.int64), med_vals)
        for r, v in zip(rows, values):  # an annotated non-medoid keeps its own label
            if not medoid[r]:
                filled[r] = v
        out = set_column(out, col, pa.array(filled, labels.schema.field(col).type))
        for i, v in enumerate(filled):
            if v is not None and source_col[i] is None:
                source_col[i] = "propagated"
    for r in rows:
        source_col[r] = "annotated"
    out = set_column(out, "label_source", pa.array(source_col, pa.string()))
    n_prop = sum(s == "propagated" for s in source_col)
    entry = history_entry("cluster-labels", {"columns": columns}, [{"labels": len(label_ids)}])
    summary = f"{len(label_ids)} annotated, {n_prop} propagated"
    if not_medoid:
        summary += f" ({len(not_medoid)} annotated rows are not medoids: kept, not propagated)"
    return stamp(out, entry, parent=metadata(queue)), summary


def _budget(budget, n: int, default: int) -> int:
    """:func:`seraltools.mal.resolve_budget`, refusing a count that is not whole: ``--budget 1.5``
    is neither 1 nor 2 queries (a percentage takes %, a fraction is at most 1)."""
    text = str(budget).strip() if budget is not None else ""
    try:
        value = float(text) if text and not text.endswith("%") else None
    except ValueError:
        value = None  # resolve_budget says what is wrong
    if value is not None and np.isfinite(value) and value > 1 and value != int(value):
        raise BadInput(f"--budget {text}: a count of queries is a whole number; give a count (2), a fraction "
                       f"of the rows up to 1 (0.15) or a percentage with % ({text}%)")
    return resolve_budget(budget, n, default=default)


def later_select(table, labels, *, method: str = "margin", columns: list[str] | None = None, standardize="corpus",
                 budget: str | None = None, only_queries: bool = False, seed: int = 0, source: str = "table",
                 labels_name: str = "labels table", warn=None):
    """``seral mal-select --method margin|entropy|cluster-margin --labelled LABELS``: the
    next batch by a later-round selector (:mod:`seraltools.uncertainty`) trained on the
    answers in ``labels``. Returns (queue table, one-line summary).

    Never queued: every id of ``labels`` (asked about, with or without an answer) and,
    when TABLE is itself a queue (a ``rank`` column), its ranked rows still waiting for an
    answer. The ranks of TABLE are kept; the new batch is ranked after them. The SVM
    sees the features z-scored at the corpus level (as ``seral predict``);
    ``standardize`` applies to cluster-margin's k-means and the fallback's distances.
    Default budget: 2 % of the rows (one step of the simulation's schedule). Too few
    labels for the SVM: MAL (default k, the labelled and waiting rows left out), said in
    the summary and through ``warn``."""
    import pyarrow as pa

    from seraltools.labels import label_columns
    from seraltools.standardize import zscore
    from seraltools.table import feature_matrix, history_entry, metadata, set_column, stamp
    from seraltools.tools.predict import _label
    from seraltools.uncertainty import check_later, later_queue

    check_later(method)
    if labels is None:
        raise BadInput(f"--method {method} learns from the answers so far: give --labelled LABELS (a labels table "
                       "with id and label columns)")
    x = feature_matrix(table, source)
    n = len(x)
    if n == 0:
        raise BadInput(f"{source}: the table has no rows")
    cols = label_columns(labels, columns, labels_name)
    ids = table.column("id").cast(pa.string()).to_pylist()
    lab_ids = labels.column("id").cast(pa.string()).to_pylist()
    row_of = {v: i for i, v in enumerate(lab_ids)}
    asked = np.array([v in row_of for v in ids])
    missing = len(set(lab_ids) - set(ids))
    values = {}
    for col in cols:
        cells = [_label(v) for v in labels.column(col).to_pylist()]
        values[col] = [cells[row_of[v]] if v in row_of else None for v in ids]
    waiting = np.zeros(n, dtype=bool)
    old_rank = None
    if "rank" in table.column_names:  # TABLE is a queue: its ranked rows without an answer are still waiting
        old_rank = table.column("rank").to_numpy(zero_copy_only=False)
        old_rank = np.where(np.isnan(old_rank.astype(np.float64)), 0, old_rank).astype(np.int64)
        waiting = (old_rank > 0) & ~asked
    excluded = asked | waiting
    if excluded.all():
        raise BadInput(f"{source}: every row is labelled or waiting in the queue; nothing left to queue")
    b = min(_budget(budget, n, default=max(1, round(0.02 * n))), n - int(excluded.sum()))
    from seraltools.standardize import speaker_groups, standardize as scale, standardize_mode

    mode = standardize_mode(standardize)
    x_svm = zscore(x)  # the classifier's features, as seral predict
    x_sel = scale(x, mode, speaker_groups(table, source)[0] if mode == "speaker" else None, warn=warn, source=source)
    def cold_start(done, budget):  # exactly `seral mal-select --method mal` with these rows labelled
        return mal_queue(x_sel, budget, default_k(n), labelled=done, metric=resolve_metric("auto", x.shape[1], mode != "none"),
                         seed=seed)[0]

    batch = later_queue(method, x_svm, b, values, seed=seed, excluded=excluded, x_select=x_sel, fallback=cold_start)
    queries = batch.rows
    start = int(old_rank.max()) if old_rank is not None else 0
    rank = old_rank.astype(np.int32) if old_rank is not None else np.zeros(n, dtype=np.int32)
    rank[queries] = np.arange(start + 1, start + len(queries) + 1, dtype=np.int32)
    out = table
    for name, typ in (("cluster", pa.int32()), ("cluster_size", pa.int32())):
        if name not in out.column_names:
            out = set_column(out, name, pa.nulls(n, typ))
    if "is_medoid" not in out.column_names:
        out = set_column(out, "is_medoid", pa.array(np.zeros(n, dtype=bool)))
    out = set_column(out, "rank", pa.array(rank, pa.int32(), mask=rank == 0))
    if only_queries:
        out = out.take(pa.array(queries, pa.int64()))
    how = ", ".join(f"{c}: C={f['C']:g}, {f['labelled']} labelled" for c, f in batch.fits.items())
    summary = f"{method}, {len(queries)} queries"
    if batch.fallback:
        why = "; ".join(f"{c}: {r}" for c, r in batch.skipped.items())
        summary += f" by MAL (too few labels for the SVM: {why})"
        if warn:
            warn(f"too few labels for {method} ({why}); this batch continues the cold-start MAL queue")
    else:
        summary += f" (SVM {how}" + (f"; left out {', '.join(batch.skipped)}: "
                                     + "; ".join(batch.skipped.values()) if batch.skipped else "") + ")"
    summary += f"; {int(asked.sum())} labelled rows not queued again"
    if waiting.any():
        summary += f", {int(waiting.sum())} rows waiting in the queue left there, ranks continue from {start}"
    if missing:
        summary += f" ({missing} labelled ids are not in {source}: do the ids match?)"
    params = {"method": method, "seed": seed, "budget": budget, "labelled": int(asked.sum()), "columns": cols,
              "waiting": int(waiting.sum()), "fallback": batch.fallback, "fits": batch.fits,
              "skipped": batch.skipped, "standardize": mode}
    entry = history_entry("mal-select", params, [{"table": source, "rows": n}, {"labels": labels_name}])
    return stamp(out, entry, parent=metadata(table)), summary
