"""Annotations: the one home for reading people's labels back into seral.

Every tool that reads labels (``cluster-labels``, ``predict``, ``mal-select --labelled``)
calls :func:`read_labels`, which takes

- a table a person or script wrote: CSV, TSV or Parquet with ``id`` and label columns;
- ``seral annotate``'s answer log (CSV: id, label columns, ``annotator``, ``time``),
  where an utterance answered again (back, a second annotator) has several lines: the
  last answer in the file counts;
- a Label Studio export of tasks made by ``seral export-tasks``: JSON (full or JSON-MIN)
  or CSV. Label Studio's own ``id`` is its task number; the seral id travels in the task
  data as ``seral_id`` and labels are mapped back through it. A task's latest
  annotation that was not cancelled counts; its ``choices`` results become columns named
  by the control's ``from_name``.

Label columns: the ones named, else the well-known ones (emotion, valence, arousal),
else every column that is not bookkeeping (:data:`NOT_LABELS`: queue columns, annotator,
time, Label Studio's metadata, an earlier prediction's columns).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from seraltools.errors import BadInput

#: Columns of a labels table that are never labels (queue, annotation and table bookkeeping).
NOT_LABELS = frozenset({
    "id", "path", "features", "duration", "cluster", "cluster_size", "is_medoid", "rank", "label_source",
    "speaker", "corpus", "recording", "start", "end", "audio_row",
    "annotator", "time", "status", "note", "raters",  # seral annotate
    "seral_id", "audio", "annotation_id", "created_at", "updated_at", "lead_time", "completed_by",  # Label Studio
})
WELL_KNOWN_LABELS = ("emotion", "valence", "arousal")
#: The task-data key that carries the seral id through Label Studio.
TASK_ID = "seral_id"


def bookkeeping(name: str) -> bool:
    return (name in NOT_LABELS or name.startswith("__index_level_") or "=" in name  # soft labels: emotion=anger
            or name.endswith(("_predicted", "_score", "_labelled")))


def label_columns(labels, columns: list[str] | None, source: str) -> list[str]:
    """The label columns of a labels table: ``columns`` when given, else the well-known
    ones it has (emotion, valence, arousal), else its columns that are not bookkeeping."""
    names = labels.column_names
    if columns:
        missing = [c for c in columns if c not in names]
        if missing:
            raise BadInput(f"{source}: no column {', '.join(missing)}; it has {', '.join(names)}")
        return list(columns)
    found = [c for c in WELL_KNOWN_LABELS if c in names] or [c for c in names if not bookkeeping(c)]
    if not found:
        raise BadInput(f"{source}: no label column; name one with --column")
    return found


def _rows_to_table(rows: list[dict], name: str):
    import pyarrow as pa

    if not rows:
        raise BadInput(f"{name}: holds no annotated task; export after annotating, or check the file")
    names: list[str] = []
    for r in rows:
        names += [k for k in r if k not in names]
    return pa.table({k: pa.array([None if r.get(k) is None else str(r[k]) for r in rows], pa.string())
                     for k in names})


def _choice(value):
    """A Label Studio cell: one choice as text; several joined by commas."""
    if isinstance(value, dict) and "choices" in value:
        value = value["choices"]
    if isinstance(value, list):
        return ",".join(str(v) for v in value) if value else None
    return value


def _label_studio_json(path: Path, data: bytes | None = None):
    """Rows of a Label Studio JSON export (full or JSON-MIN) of seral's tasks (``data``:
    its bytes, when read already from a pipe)."""
    name = str(path)
    try:
        tasks = json.loads(path.read_text(encoding="utf-8-sig") if data is None else data.decode("utf-8-sig"))
    except FileNotFoundError:
        raise BadInput(f"{name}: no such file") from None
    except OSError as e:
        raise BadInput(f"{name}: not readable ({e.strerror or e}); give a Label Studio JSON export") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise BadInput(f"{name}: not a JSON file ({e}); labels are CSV, TSV, Parquet or a Label Studio "
                       "JSON export") from None
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise BadInput(f"{name}: not a Label Studio export (a JSON list of tasks)")
    rows = []
    for i, task in enumerate(tasks):
        if "annotations" in task or "data" in task:  # the full export
            data = task.get("data") or {}
            annotations = task.get("annotations") or []
            where = f"{name}: task {task.get('id', i + 1)!r}"
            if not isinstance(data, dict):
                raise BadInput(f"{where}: its data is not an object; give Label Studio's own JSON export")
            if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
                raise BadInput(f"{where}: its annotations are not a list of objects; give Label Studio's own "
                               "JSON export")
            for a in annotations:
                if not isinstance(a.get("result") or [], list) or not all(
                        isinstance(r, dict) for r in a.get("result") or []):
                    raise BadInput(f"{where}: an annotation's result is not a list of objects; give Label "
                                   "Studio's own JSON export")
            if TASK_ID not in data:
                raise BadInput(f"{name}: task {task.get('id', i + 1)} has no '{TASK_ID}' in its data; import tasks "
                               "made by `seral export-tasks` into Label Studio")
            done = [a for a in annotations if not a.get("was_cancelled")]
            # every annotation, oldest first: several annotators' answers are aggregated (read_labels)
            for a in sorted(done, key=lambda a: (str(a.get("updated_at") or a.get("created_at") or ""),
                                                 str(a.get("id") or 0).zfill(20))):
                row = {"id": data[TASK_ID], "annotator": a.get("completed_by"),
                       "time": a.get("updated_at") or a.get("created_at")}
                for result in a.get("result") or []:
                    if result.get("type") == "choices" and result.get("from_name"):
                        row[result["from_name"]] = _choice(result.get("value"))
                    elif result.get("type") == "rating" and result.get("from_name"):  # a --scale
                        value = result.get("value")
                        rating = value.get("rating") if isinstance(value, dict) else None
                        if isinstance(rating, (int, float)) and not isinstance(rating, bool):
                            row[f"{result['from_name']}[rating]"] = rating
                rows.append(row)
        else:  # JSON-MIN: flat rows like the CSV export
            if TASK_ID not in task:
                raise BadInput(f"{name}: row {i + 1} has no '{TASK_ID}'; import tasks made by `seral export-tasks` "
                               "into Label Studio")
            row = {k: _choice(v) for k, v in task.items() if k != "id"}
            row["id"] = row.pop(TASK_ID)
            row.setdefault("time", row.get("updated_at") or row.get("created_at"))
            rows.append(row)
    return _rows_to_table(rows, name)


def _from_label_studio_table(t):
    """A Label Studio CSV/TSV export: the seral id replaces Label Studio's task id."""
    import pyarrow as pa


    keep = [c for c in t.column_names if c != "id"]
    t = t.select(keep)
    t = t.rename_columns(["id" if c == TASK_ID else c for c in t.column_names])
    for i, c in enumerate(t.column_names):  # several choices: a JSON cell {"choices": [...]}, joined as in JSON exports
        if not bookkeeping(c) and pa.types.is_string(t.column(c).type):
            values = t.column(c).to_pylist()
            if any(isinstance(v, str) and v.lstrip().startswith("{") for v in values):
                t = t.set_column(i, c, pa.array([_json_choice(v) for v in values], pa.string()))
    if "time" not in t.column_names:
        for c in ("updated_at", "created_at"):
            if c in t.column_names:
                t = t.append_column("time", t.column(c).cast(pa.string()))
                break
    return t


def _json_choice(v):
    if isinstance(v, str) and v.lstrip().startswith("{"):
        try:
            return _choice(json.loads(v))
        except ValueError:
            return v
    return v


#: How answers of several annotators (or several answers of one) become one label per id.
AGGREGATES = ("auto", "majority", "mean", "soft", "last")
SCALE_HEADER = re.compile(r"(.+)\[(?:(-?\d+):(-?\d+)|rating)\]")  # seral annotate's, Label Studio's ratings


def _scale_columns(t, name: str = "labels"):
    """Rename seral's scale columns (``valence[1:5]``) to their names; returns (table,
    the scale columns: those plus float columns, which hold numbers, as a dict column ->
    (low, high) where the header says, else None)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    scales, names, ranges = [], [], {}
    for c in t.column_names:
        m = SCALE_HEADER.fullmatch(c)
        names.append(m.group(1) if m and m.group(1) not in t.column_names else c)
        if m:
            scales.append(names[-1])
            ranges[names[-1]] = (int(m.group(2)), int(m.group(3))) if m.group(2) is not None else None
    t = t.rename_columns(names)
    for c in scales:
        col = t.column(c)
        if not pa.types.is_floating(col.type):
            try:
                col = pc.cast(pc.utf8_trim_whitespace(col.cast(pa.string())), pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise BadInput(f"{name}: column {c} (a rating scale) holds a value that is not a number; check "
                               "the labels file") from None
            t = t.set_column(t.column_names.index(c), c, col)
    floats = [c for c in t.column_names if pa.types.is_floating(t.column(c).type) and not bookkeeping(c)
              and not set(t.column(c).drop_null().to_pylist()) <= {0.0, 1.0}]  # 0/1 floats: classes
    return t, {c: ranges.get(c) for c in sorted(set(scales) | set(floats), key=t.column_names.index)}


def binary_from_scale(t, column: str, midpoint: float | None, scales: dict, name: str = "labels"):
    """A scale column as binary 0/1 (int8, as the corpora's valence and arousal): below the
    midpoint 0, above it 1, at it no label. ``midpoint``: given, else the middle of the
    range seral annotate wrote in the header."""
    import pyarrow as pa

    if column not in t.column_names or column not in scales:
        raise BadInput(f"--binary {column}: {name} has no scale column {column} (scales: "
                       f"{', '.join(scales) or 'none'})")
    if midpoint is None:
        if scales.get(column) is None:
            raise BadInput(f"--binary {column}: the range of {column} is not in {name}; give the midpoint, "
                           f"e.g. --binary {column}=3")
        midpoint = sum(scales[column]) / 2
    values = [None if v is None or v != v or v == midpoint else int(v > midpoint)
              for v in t.column(column).to_pylist()]
    return t.set_column(t.column_names.index(column), column, pa.array(values, pa.int8()))


def _empty(v) -> bool:
    return v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip())


def aggregate(t, how: str = "auto", *, scales: list[str] = (), name: str = "labels",
              notes: list[str] | None = None):
    """Answers (several rows per id: annotators, or one annotator's changes) -> one row per
    id. An annotator's last answer counts for them; then, per label column:

    - ``auto``: the most common answer for categories, the mean for scales;
    - ``majority``: the most common answer in every column (scales too);
    - ``mean``: as auto (scales averaged, categories by majority);
    - ``soft``: as auto, plus the share of each answer as columns ``<column>=<answer>``;
    - ``last``: the last answer in the file, whoever gave it (seral before raters);
    - an annotator's name: that annotator's last answer only.

    A tie among the most common answers goes to the tied answer given last; how many ids
    tied is added to ``notes``. Adds ``raters`` (annotators per id) when there is an
    annotator column."""
    import pyarrow as pa

    ids = t.column("id").to_pylist()
    n = len(ids)
    who = [str(v) if v is not None else None for v in t.column("annotator").to_pylist()] \
        if "annotator" in t.column_names else [None] * n
    if how == "last":
        last = {v: i for i, v in enumerate(ids)}
        return t.take(sorted(last.values())) if len(last) != n else t
    if how not in AGGREGATES:  # one annotator's answers
        rows = [i for i in range(n) if who[i] == how]
        if not rows:
            known = sorted({w for w in who if w is not None})
            raise BadInput(f"--aggregate {how}: {name} has no answer by {how} (annotators: "
                           f"{', '.join(known) or 'none named'}); give auto, majority, mean, soft, last or one of them")
        t = t.take(rows)
        ids = t.column("id").to_pylist()
        last = {v: i for i, v in enumerate(ids)}
        return t.take(sorted(last.values()))
    # each annotator's last answer per id (rows without an annotator: each its own)
    last_of = {}
    for i in range(n):
        last_of[(ids[i], who[i] if who[i] is not None else f"\0row{i}")] = i
    keep = sorted(last_of.values())
    by_id: dict = {}
    for i in keep:
        by_id.setdefault(ids[i], []).append(i)
    order = sorted(by_id, key=lambda u: by_id[u][-1])  # ids in the order of their last answer
    labels = [c for c in t.column_names if c != "id" and not bookkeeping(c)]
    out = {}
    for c in t.column_names:  # bookkeeping: the last answer's
        if c not in labels:
            values = t.column(c).to_pylist()
            out[c] = pa.array([values[by_id[u][-1]] for u in order], t.column(c).type)
    tied, shares = {}, {}
    for c in labels:
        values = t.column(c).to_pylist()
        mean = c in scales and how != "majority"
        result = []
        for u in order:
            answers = [(values[i], i) for i in by_id[u] if not _empty(values[i])]
            if not answers:
                result.append(None)
            elif mean:
                result.append(float(sum(float(v) for v, _ in answers) / len(answers)))
            else:
                counts: dict = {}
                for v, i in answers:
                    k = counts.setdefault(v, [0, -1])
                    k[0] += 1
                    k[1] = max(k[1], i)
                best = max(k[0] for k in counts.values())
                top = [v for v, k in counts.items() if k[0] == best]
                if len(top) > 1:
                    tied.setdefault(c, []).append(u)
                result.append(max(top, key=lambda v: counts[v][1]))
                if how == "soft":
                    for v, k in counts.items():
                        shares.setdefault((c, str(v)), {})[u] = k[0] / len(answers)
        typ = pa.float64() if mean else t.column(c).type
        out[c] = pa.array(result, typ)
    table = pa.table({c: out[c] for c in t.column_names})
    if "annotator" in t.column_names:
        table = table.append_column("raters", pa.array(
            [len({who[i] for i in by_id[u] if who[i] is not None}) for u in order], pa.int32()))
    for (c, v), by in sorted(shares.items()):
        table = table.append_column(f"{c}={v}", pa.array([by.get(u, 0.0) for u in order], pa.float32()))
    if notes is not None:
        for c, us in tied.items():
            notes.append(f"{name}: {c}: {len(us)} of {len(order)} ids tied between their most common answers "
                         f"(e.g. {us[0]}); the tied answer given last counts")
    return table


def last_answers(t, name: str):
    """An answer log (``time`` column: seral annotate, Label Studio): the last line per id."""
    ids = t.column("id").to_pylist()
    last = {v: i for i, v in enumerate(ids)}
    if len(last) == len(ids):
        return t
    return t.take(sorted(last.values()))


def read_labels(path, aggregate_by: str = "auto", notes: list[str] | None = None):
    """Annotations from ``path`` (see the module's docstring); ``-`` is a Parquet table on
    stdin. Returns a table with a string ``id`` column, one row per id: an answer log
    (``time`` or ``annotator`` column) is reduced by :func:`aggregate` (``aggregate_by``),
    its skips left out; seral's scale columns (``valence[1:5]``) come back as numbers
    under their names. ``notes``: ties and the like are added to it."""
    from seraltools.table import cast_well_known, check_unique_ids

    name = str(path)
    t, scales = read_answers(path)
    if "time" in t.column_names or "annotator" in t.column_names:
        t = aggregate(t, aggregate_by, scales=scales, name=name, notes=notes)
    elif aggregate_by not in AGGREGATES:
        raise BadInput(f"--aggregate {aggregate_by}: {name} has no annotator column; give auto (the default)")
    numbers = [c for c in scales if c in t.column_names]
    kept = {c: t.column(c) for c in numbers}  # scales stay numbers, even valence=1:5
    t = t.drop_columns(numbers) if numbers else t
    t = cast_well_known(t, name, label_words=True)  # valence/arousal as int8 0/1 (from 0/1, negative/positive, low/high)
    for c in numbers:
        t = t.append_column(c, kept[c])
    check_unique_ids(t.column("id").to_pylist(), name)
    return t


def read_answers(path, with_skips: bool = False):
    """Every answer in ``path``, before aggregation: (table with a string ``id`` column,
    possibly several rows per id, skips left out; the scale columns, as float64), and
    with ``with_skips`` the count of skips per annotator."""
    import pyarrow as pa

    from seraltools.table import file_head, read_table, read_unseekable, read_user_table

    name = str(path)
    if name == "-":  # a table piped in (seral cluster-labels ... - | seral predict - ...)
        t = read_table("-")
    else:
        suffix, data, t = Path(name).suffix.lower(), None, None
        if suffix not in (".csv", ".tsv", ".parquet", ".json"):  # a pipe, /dev/fd/N, no suffix: its first bytes
            data = read_unseekable(name)
            if (data if data is not None else file_head(name)).lstrip()[:1] in (b"[", b"{"):
                suffix = ".json"
        if suffix == ".json":
            t = _label_studio_json(Path(name), read_unseekable(name) if data is None else data)
        else:
            t = read_user_table(path, "labels table", strings=("id", TASK_ID), empty_is_null=True, data=data)
            if TASK_ID in t.column_names:
                t = _from_label_studio_table(t)
    for c in t.column_names:  # a CSV with bytes that are not UTF-8: Arrow reads the column as binary
        if pa.types.is_binary(t.column(c).type) or pa.types.is_large_binary(t.column(c).type):
            for i, v in enumerate(t.column(c).to_pylist()):
                try:
                    None if v is None else v.decode("utf-8")
                except UnicodeDecodeError:
                    raise BadInput(f"{name}: row {i + 1}, column {c}: not UTF-8 text; save the file as UTF-8") from None
    if "id" not in t.column_names:
        raise BadInput(f"{name}: no 'id' column; the labels table needs id plus label columns")
    t = t.set_column(t.column_names.index("id"), "id", t.column("id").cast(pa.string()))
    empty = [i for i, v in enumerate(t.column("id").to_pylist()) if v is None or not v.strip()]
    if empty:
        raise BadInput(f"{name}: row {empty[0] + 1} has no id; every labelled row needs the id of its utterance")
    skips: dict[str, int] = {}
    if "status" in t.column_names:  # seral annotate's skips are not answers
        status = t.column("status").to_pylist()
        who = t.column("annotator").to_pylist() if "annotator" in t.column_names else [None] * len(status)
        for v, w in zip(status, who):
            if v == "skip":
                skips[str(w)] = skips.get(str(w), 0) + 1
        t = t.take([i for i, v in enumerate(status) if v != "skip"])
    t, scales = _scale_columns(t, name)
    return (t, scales, skips) if with_skips else (t, scales)
