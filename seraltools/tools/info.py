"""``seral info``: what a table holds and how it was made."""

from __future__ import annotations

import collections

import pyarrow as pa

from seraltools.errors import printable
from seraltools.table import FEATURES, ID, metadata

MAX_LEVELS = 30  # a column with more distinct values is not shown as labels


def summarize(table: pa.Table) -> dict:
    """Rows, columns, feature name and dimension, label counts per column, history."""
    meta = metadata(table)
    summary = {
        "rows": table.num_rows,
        "columns": {f.name: str(f.type) for f in table.schema},
        "feature": None,
        "labels": {},
        "history": meta.get("history", []),
        "skipped": meta.get("skipped", []),
    }
    if FEATURES in table.column_names:
        typ = table.schema.field(FEATURES).type
        dim = typ.list_size if pa.types.is_fixed_size_list(typ) else None
        summary["feature"] = {"name": meta.get("feature", "unknown"), "dim": dim}
    for f in table.schema:
        if f.name in (ID, "path", FEATURES, "duration"):
            continue
        if not (pa.types.is_string(f.type) or pa.types.is_integer(f.type) or pa.types.is_boolean(f.type)
                or pa.types.is_large_string(f.type) or pa.types.is_dictionary(f.type)):
            continue
        counts = collections.Counter(table.column(f.name).to_pylist())
        if len(counts) <= MAX_LEVELS:
            summary["labels"][f.name] = {("(null)" if k is None else str(k)): v
                                         for k, v in sorted(counts.items(), key=_label_order)}
    if "duration" in table.column_names:
        d = table.column("duration")
        summary["duration_s"] = float(pa.compute.sum(d).as_py() or 0.0)
    return summary


def format_summary(summary: dict, name: str) -> str:
    lines = [f"table     {name}", f"rows      {summary['rows']}"]
    if "duration_s" in summary:
        lines.append(f"audio     {summary['duration_s']:.1f} s")
    feat = summary["feature"]
    lines.append(f"features  {feat['name']} ({feat['dim']} dims)" if feat else "features  none")
    lines.append("columns")
    lines += [f"  {k:<14} {v}" for k, v in summary["columns"].items()]
    if summary["labels"]:
        lines.append("labels")
        for col, counts in summary["labels"].items():
            lines.append(f"  {col:<14} " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    lines.append("history (--json shows every parameter)" if summary["history"] else "history   none (not made by seral)")
    for i, h in enumerate(summary["history"], 1):
        params = " ".join(f"{k}={v}" for k, v in h.get("parameters", {}).items()
                          if not isinstance(v, (dict, list)) and v is not None)
        lines.append(f"  {i}. {h.get('tool')} {h.get('version', '')} {h.get('time', '')}  {params}")
        for inp in h.get("inputs", []):
            lines.append("       input " + ", ".join(f"{k}={v}" for k, v in inp.items()))
    if summary["skipped"]:
        lines.append(f"skipped   {len(summary['skipped'])} files")
        lines += [f"  {s.get('reason')}" if str(s.get("reason")).startswith(str(s.get("path")))
                  else f"  {s.get('path')}: {s.get('reason')}" for s in summary["skipped"] if isinstance(s, dict)]
    # a table's contents (labels, column names, file names, history) are anyone's text: control
    # characters such as ESC sequences are shown as escapes, never sent to the terminal
    return "\n".join(printable(line) for line in lines)


def _label_order(item):
    """Nulls last, numbers by value, text alphabetically."""
    k = item[0]
    return (k is None, isinstance(k, str), k if isinstance(k, (int, float)) else 0, str(k))
