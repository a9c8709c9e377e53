"""Corpora: from what the user names on the command line to a table of utterances.

:func:`collect_inputs` takes audio files, directories (searched recursively for
:data:`~seraltools.audio.AUDIO_SUFFIXES`) and manifests (CSV, TSV or Parquet with a
``path`` column and any other columns, well-known ones included) and returns a table
with ``id``, ``path`` (absolute) and label columns.

Labels come from a manifest's columns, or from file names through the built-in
parsers in :data:`CORPORA` (``--corpus``). Valence and arousal come from the emotion
through a per-corpus map, or a user's own map file (:func:`read_va_map`).

The file-name parsers and the valence/arousal maps live in :mod:`seraltools.naming`.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa

from seraltools.audio import AUDIO_SUFFIXES
from seraltools.errors import BadInput, is_utf8, printable
from seraltools.table import (
    ID,
    BINARY_WORDS,
    WELL_KNOWN,
    cast_well_known,
    check_unique_ids,
    fingerprint_file,
    metadata,
    read_user_table,
    set_column,
)

MANIFEST_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")

from seraltools.naming import (  # noqa: F401  (the naming conventions, re-exported)
    CORPORA,
    CORPUS_CHOICES,
    EMOTION_ALIASES,
    VA_DEFAULT,
    Corpus,
    detect_corpus,
    normalise_emotion,
)


# --------------------------------------------------------------------------- valence / arousal


def read_va_map(path: str | Path) -> dict[str, tuple[int, int]]:
    """A user's map file: CSV (or TSV) with columns ``emotion``, ``valence``, ``arousal``.

    Values are 0/1, or the words low/high (arousal) and negative/positive (valence).
    """
    words = BINARY_WORDS
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise BadInput(f"{path}: cannot read valence/arousal map ({e.strerror})") from None
    rows = list(csv.DictReader(text.splitlines(), delimiter="\t" if str(path).endswith(".tsv") else ","))
    missing = {"emotion", "valence", "arousal"} - set(rows[0] if rows else {})
    if missing:
        raise BadInput(f"{path}: valence/arousal map lacks column(s) {', '.join(sorted(missing))}; "
                       "it needs emotion,valence,arousal")
    out = {}
    for i, r in enumerate(rows, start=2):
        try:
            v, a = words[r["valence"].strip().lower()], words[r["arousal"].strip().lower()]
        except (KeyError, AttributeError):
            raise BadInput(f"{path}: line {i}: valence {r['valence']!r} / arousal {r['arousal']!r}: "
                           "use 0/1, negative/positive, low/high") from None
        out[normalise_emotion(r["emotion"])] = (v, a)
    return out


def add_valence_arousal(table: pa.Table, va_map: dict[str, tuple[int, int]] | None = None) -> pa.Table:
    """Derive ``valence`` and ``arousal`` from ``emotion``.

    A user's ``va_map`` replaces both columns. Without one, a column the table
    already has is kept, and a missing one is filled from each row's corpus map
    (:data:`VA_DEFAULT` for rows of no known corpus). Emotions a map lacks get nulls.
    """
    if "emotion" not in table.column_names:
        return table
    todo = [c for c in ("valence", "arousal") if va_map is not None or c not in table.column_names]
    if not todo:
        return table
    emotions = table.column("emotion").to_pylist()
    corpora = table.column("corpus").to_pylist() if "corpus" in table.column_names else [None] * len(emotions)
    maps = [va_map if va_map is not None else CORPORA[c].va_map if c in CORPORA else VA_DEFAULT for c in corpora]
    for col in todo:
        k = ("valence", "arousal").index(col)
        values = pa.array([m[e][k] if e in m else None for m, e in zip(maps, emotions)], pa.int8())
        table = set_column(table, col, values)
    return table


# --------------------------------------------------------------------------- inputs


def _is_manifest(p: Path) -> bool:
    return p.suffix.lower() in MANIFEST_SUFFIXES


def _hf_audio(path: Path) -> bool:
    """Is ``path`` a Parquet file whose ``audio`` column holds ``{bytes, path}`` (Hugging Face)?"""
    import pyarrow.parquet as pq

    if path.suffix.lower() not in (".parquet", ".pq"):
        return False
    try:
        schema = pq.read_schema(str(path))
    except Exception:
        return False
    if "audio" not in schema.names:
        return False
    audio = schema.field("audio").type
    return pa.types.is_struct(audio) and audio.get_field_index("bytes") >= 0


def read_hf_audio(path: Path) -> pa.Table:
    """A Hugging Face audio dataset's Parquet file as a manifest: ``id`` (its ``id`` column,
    else FILE-ROW), ``path`` (the Parquet file) and ``audio_row`` (the row; the audio is read
    from there, :class:`~seraltools.audio.Embedded`), then its other columns; ClassLabel
    columns (ints with names in the file's ``huggingface`` metadata) become their names."""
    import json

    import pyarrow.parquet as pq

    name = str(path)
    schema = pq.read_schema(name)
    others = [c for c in schema.names if c not in ("audio", "audio_row")]  # a dataset's own `path` is kept as audio_path
    n = pq.ParquetFile(name).metadata.num_rows
    table = pq.read_table(name, columns=others) if others else pa.table({})
    if not n:
        raise BadInput(f"{name}: the dataset has no rows")
    features = {}
    try:
        features = json.loads((schema.metadata or {}).get(b"huggingface", b"{}")).get("info", {}).get("features", {})
    except (ValueError, AttributeError):
        pass
    for col, feat in features.items() if isinstance(features, dict) else []:
        names = feat.get("names") if isinstance(feat, dict) and feat.get("_type") == "ClassLabel" else None
        if col in table.column_names and isinstance(names, list) and names and all(isinstance(n, str) for n in names):
            values = [names[v] if isinstance(v, int) and 0 <= v < len(names) else None for v in table.column(col).to_pylist()]
            table = table.set_column(table.column_names.index(col), col, pa.array(values, pa.string()))
    ids = ([str(v) if v is not None else None for v in table.column(ID).to_pylist()] if ID in table.column_names
           else [f"{path.stem}-{i + 1:06d}" for i in range(n)])
    rest = {("audio_path" if c == "path" else c): table.column(c) for c in table.column_names if c != ID}
    return pa.table({ID: pa.array(ids, pa.string()), "path": pa.array([str(path.resolve())] * n, pa.string()),
                     "audio_row": pa.array(range(n), pa.int64()), **rest})


def read_manifest(path: Path, *, check_files: bool = True) -> pa.Table:
    """A manifest as a table with absolute ``path`` and ``id`` (from the file stem if absent).
    A Hugging Face audio Parquet file is read by :func:`read_hf_audio`."""
    name = str(path)
    if _hf_audio(path):
        table = read_hf_audio(path)
        ids = table.column(ID)
        if ids.null_count:
            raise BadInput(f"{name}: row {ids.to_pylist().index(None) + 1}: empty 'id'")
        check_unique_ids(ids.to_pylist(), name)
        return _labels(cast_well_known(table, name, label_words=True))
    # spans as text: an empty cell is the file's start/end, but "nan", "NA", "NULL", "N/A" are no
    # numbers of seconds (pyarrow would read them all as empty, i.e. the whole file)
    table = read_user_table(path, "manifest", strings=("id", "path", "speaker", "emotion", "corpus", *SPAN_COLUMNS))
    return manifest_table(table, name, path.resolve().parent, check_files=check_files)


def manifest_table(table: pa.Table, name: str, base: Path, *, check_files: bool = True) -> pa.Table:
    """A manifest read from ``name`` (a file, or ``<stdin>``) with its ``path``s made absolute
    against ``base``, ids checked, spans and labels cast."""
    if "path" not in table.column_names:
        raise BadInput(f"{name}: manifest has no 'path' column; add one naming each audio file")
    if table.num_rows == 0:
        raise BadInput(f"{name}: manifest lists no utterances")
    paths = table.column("path").cast(pa.string()).to_pylist()
    resolved = []
    for i, p in enumerate(paths):
        if not p:
            raise BadInput(f"{name}: row {i + 1}: empty 'path'; every row needs an audio file")
        full = (base / p) if not Path(p).is_absolute() else Path(p)
        if check_files and not full.is_file():
            raise BadInput(f"{name}: row {i + 1}: audio file {p} {_not_a_file(full)} (looked for {full}); "
                           "fix the path or remove the row")
        resolved.append(str(full))
    table = table.set_column(table.column_names.index("path"), "path", pa.array(resolved, pa.string()))
    if ID not in table.column_names:
        table = table.add_column(0, ID, pa.array([Path(p).stem for p in resolved], pa.string()))
    ids = table.column(ID).cast(pa.string())
    empty = [i for i, v in enumerate(ids.to_pylist()) if v is None or not v.strip()]
    if empty:
        raise BadInput(f"{name}: row {empty[0] + 1}: empty 'id'; fill it or drop the id column to use file names")
    check_unique_ids(ids.to_pylist(), name)
    table = table.set_column(table.column_names.index(ID), ID, ids)  # the contract: ids are strings
    table = _spans(table, name, strict=check_files)
    return _labels(cast_well_known(table, name, label_words=True))


def _labels(table: pa.Table) -> pa.Table:
    """Emotion names in seral's spelling (``ang`` -> ``anger``, ...)."""
    if "emotion" in table.column_names:
        emo = [normalise_emotion(e) for e in table.column("emotion").to_pylist()]
        table = table.set_column(table.column_names.index("emotion"), "emotion", pa.array(emo, pa.string()))
    return table


SPAN_COLUMNS = ("start", "end")


def _spans(table: pa.Table, name: str, *, strict: bool) -> pa.Table:
    """``start``/``end`` (seconds; empty = the file's start/end) as float64. A value that
    is not a number of seconds >= 0, or ``end <= start``, is an error naming the row
    (``strict``), else NaN, which fails that row alone when its audio is read
    (``--on-error skip`` leaves it out)."""
    import math

    columns = {}
    for col in SPAN_COLUMNS:
        if col not in table.column_names:
            continue
        values = []
        for i, v in enumerate(table.column(col).to_pylist()):
            if v is None or (isinstance(v, str) and not v.strip()):
                values.append(None)
                continue
            try:
                f = float(v)
            except (TypeError, ValueError):
                f = math.nan
            if not (math.isfinite(f) and f >= 0):
                if strict:
                    raise BadInput(f"{name}: row {i + 1}: {col} {v!r} is not a number of seconds >= 0; fix it or "
                                   "remove the row")
                f = math.nan
            values.append(f)
        columns[col] = values
    if len(columns) == 2 and strict:  # (not strict: the row fails alone when its audio is read)
        for i, (a, b) in enumerate(zip(columns["start"], columns["end"])):
            if a is not None and b is not None and b <= a:
                raise BadInput(f"{name}: row {i + 1}: end {b:g} is not after start {a:g}; fix the span or "
                               "remove the row")
    for col, values in columns.items():
        table = table.set_column(table.column_names.index(col), col, pa.array(values, pa.float64()))
    return table


def _text_lines(f: Path) -> list[str]:
    """The lines of a text file; bytes that are not UTF-8 are a one-line error naming the line."""
    data = f.read_bytes()
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise BadInput(f"{f}: line {line}: not UTF-8 text (byte 0x{data[e.start]:02x}); save the file as UTF-8") from None


def read_kaldi(directory: Path, *, check_files: bool = True) -> pa.Table:
    """A Kaldi-style data directory as a manifest: ``wav.scp`` (recording id, file path),
    optional ``segments`` (utterance id, recording id, start, end in seconds) and
    ``utt2spk`` (utterance id, speaker). Piped commands in wav.scp are refused."""
    def lines(name: str) -> list[tuple[int, list[str]]]:
        f = directory / name
        return [(i, ln.split()) for i, ln in enumerate(_text_lines(f), 1) if ln.strip()] if f.is_file() else []

    scp = directory / "wav.scp"
    recordings: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for i, fields in lines("wav.scp"):
        if fields and fields[0] in first_line:
            raise BadInput(f"{scp}: lines {first_line[fields[0]]} and {i} both give recording id {fields[0]!r}; "
                           "recording ids must be unique")
        if fields:
            first_line[fields[0]] = i
        if len(fields) < 2:
            raise BadInput(f"{scp}: line {i}: expected '<recording-id> <path>'")
        rest = " ".join(fields[1:])
        if rest.endswith("|") or len(fields) > 2:
            raise BadInput(f"{scp}: line {i}: a piped command, not a file path; seral reads audio files only "
                           "(run the command once and list the files it writes)")
        path = Path(rest) if Path(rest).is_absolute() else directory / rest
        if check_files and not path.is_file():
            raise BadInput(f"{scp}: line {i}: audio file {rest} {_not_a_file(path)}")
        recordings[fields[0]] = str(_absolute(path))
    if not recordings:
        raise BadInput(f"{scp}: lists no recordings")
    columns: dict[str, list] = {ID: [], "path": []}
    segments = lines("segments")
    if segments:
        columns.update(start=[], end=[])
        for i, fields in segments:
            if len(fields) != 4 or fields[1] not in recordings:
                raise BadInput(f"{directory / 'segments'}: line {i}: expected '<utt-id> <recording-id> <start> <end>' "
                               "with a recording of wav.scp")
            try:
                start, end = float(fields[2]), float(fields[3])
            except ValueError:
                raise BadInput(f"{directory / 'segments'}: line {i}: start and end must be seconds") from None
            columns[ID].append(fields[0])
            columns["path"].append(recordings[fields[1]])
            columns["start"].append(start)
            columns["end"].append(None if end < 0 else end)  # Kaldi: -1 = to the end
    else:
        columns[ID], columns["path"] = list(recordings), list(recordings.values())
    speakers = {f[0]: f[1] for _, f in lines("utt2spk") if len(f) >= 2}
    if speakers:
        columns["speaker"] = [speakers.get(u) for u in columns[ID]]
    table = pa.table({k: pa.array(v, pa.float64() if k in SPAN_COLUMNS else pa.string()) for k, v in columns.items()})
    check_unique_ids(columns[ID], str(scp))
    return _spans(table, str(directory / "segments"), strict=check_files)


def sources(table: pa.Table) -> list:
    """What to read for each row: its ``path``, a :class:`~seraltools.audio.Segment` of it
    where the row has ``start`` or ``end``, or an :class:`~seraltools.audio.Embedded`
    row of a Hugging Face Parquet file where it has ``audio_row``."""
    from seraltools.audio import Embedded, Segment

    paths = table.column("path").to_pylist()
    n = len(paths)
    rows = table.column("audio_row").to_pylist() if "audio_row" in table.column_names else [None] * n
    starts, ends = (table.column(c).to_pylist() if c in table.column_names else [None] * n for c in SPAN_COLUMNS)
    out = []
    for p, r, s, e in zip(paths, rows, starts, ends):
        if r is not None:
            out.append(Embedded(p, int(r), s, e))
        elif s is not None or e is not None:
            out.append(Segment(p, s, e))
        else:
            out.append(p)
    return out


def _absolute(path: Path) -> str:
    """The file's absolute, resolved path; a dangling symlink keeps its own name (the target
    does not exist, and the message should name what the user has)."""
    if path.is_symlink() and not path.exists():
        return str(path.absolute())
    return str(path.resolve())


def _not_a_file(path: Path) -> str:
    """What is at ``path`` instead of a regular file, in words."""
    if path.is_symlink() and not path.exists():
        return "is a symlink to a missing file"
    if path.is_dir():
        return "is a directory"
    if path.exists():
        return "is not a regular file (a FIFO, socket or device)"
    return "not found"


def _audio_in_dir(d: Path) -> list[Path]:
    """Audio files under ``d``; a dangling symlink with an audio name is kept, so that it
    is reported (an error, or listed under --on-error skip) rather than silently dropped."""
    return sorted(p for p in d.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES
                  and (p.is_file() or (p.is_symlink() and not p.exists())))


def collect_inputs(
    inputs: list[str],
    corpus: str = "auto",
    va_map: dict[str, tuple[int, int]] | None = None,
    *,
    check_files: bool = True,
    warn=None,
) -> tuple[pa.Table, dict]:
    """Turn the command line's inputs into a table of utterances.

    Returns the table (``id``, ``path``, then labels and any manifest columns) and a
    description of the inputs for the table's history (``inputs``, ``corpus``, and the
    ``history`` of manifests that are seral tables). ``corpus`` is a name from
    :data:`CORPORA`, ``auto`` (the corpus whose naming every audio file follows, if
    any) or ``none``; it labels the audio files and directories, not manifests.
    """
    if corpus not in CORPUS_CHOICES:
        raise BadInput(f"unknown corpus {corpus!r}; choose one of: {', '.join(CORPUS_CHOICES)}")
    if not inputs:
        raise BadInput("no input given; name audio files, directories or a manifest")
    manifests: list[pa.Table] = []
    audio: list[tuple[str, Path]] = []  # (id, path)
    described: list[dict] = []
    history: list[dict] = []  # of manifests that are seral tables
    audio_args = 0

    def add_manifest(table: pa.Table, entry: dict) -> None:
        manifests.append(table)
        described.append(entry)
        history.extend(metadata(table).get("history", []))  # a seral table as manifest: its history goes on

    for arg in inputs:
        p = Path(arg)
        if arg == "-":  # a manifest piped in as Parquet (seral segment recordings/ - | seral extract - out.parquet)
            from seraltools.table import read_table

            add_manifest(manifest_table(read_table("-"), "<stdin>", Path.cwd(), check_files=check_files),
                         {"manifest": "<stdin>"})
        elif (p.is_file() and p.name == "wav.scp") or (p.is_dir() and (p / "wav.scp").is_file()):
            d = p.parent if p.name == "wav.scp" else p  # a Kaldi data directory
            add_manifest(read_kaldi(d, check_files=check_files),
                         {"kaldi": str(d.resolve()), "fingerprint": {f: fingerprint_file(d / f) for f in
                                                                      ("wav.scp", "segments", "utt2spk")
                                                                      if (d / f).is_file()}})
        elif p.is_dir():
            found = _audio_in_dir(p)
            shards = sorted(f for f in p.rglob("*.parquet") if _hf_audio(f))  # Hugging Face datasets' Parquet files
            if not found and not shards:
                raise BadInput(f"{arg}: directory holds no audio files ({', '.join(AUDIO_SUFFIXES)}) and no Parquet "
                               "files with an 'audio' column of {bytes, path}")
            for f in shards:
                add_manifest(read_manifest(f, check_files=check_files),
                             {"manifest": str(f.resolve()), "fingerprint": fingerprint_file(f)})
            if found:
                audio += [(f.relative_to(p).with_suffix("").as_posix(), f) for f in found]
                described.append({"directory": str(p.resolve()), "files": len(found)})
        elif p.is_file() and _is_manifest(p):
            add_manifest(read_manifest(p, check_files=check_files),
                         {"manifest": str(p.resolve()), "fingerprint": fingerprint_file(p)})
        elif p.is_file():
            audio.append((p.stem, p))
            audio_args += 1
        elif not p.exists():
            raise BadInput(f"{arg}: no such file or directory")
        else:
            raise BadInput(f"{arg}: not a file or directory")
    if audio_args:
        described.append({"audio_files": audio_args})

    skipped = []
    for _, f in audio:  # Arrow's strings are UTF-8: a name that is not cannot go in the table
        if not (is_utf8(_absolute(f)) and is_utf8(f)):
            reason = (f"{printable(_absolute(f))}: its name is not UTF-8 text (seral's tables hold names as UTF-8); "
                      "rename it")
            if check_files:
                raise BadInput(f"{reason}, or use --on-error skip to leave it out")
            skipped.append({"id": None, "path": printable(_absolute(f)), "reason": reason})
            if warn:
                warn(f"seral: skipped {reason}")
    if skipped:
        bad = {s["path"] for s in skipped}
        audio = [(i, f) for i, f in audio if printable(_absolute(f)) not in bad]
        if not audio and not manifests:
            raise BadInput(f"none of the {len(skipped)} audio files has a UTF-8 name; rename them")

    tables = list(manifests)
    chosen = None
    if audio:
        paths = [p for _, p in audio]
        columns: dict[str, list] = {ID: [i for i, _ in audio], "path": [_absolute(p) for p in paths]}
        partial = False
        if corpus == "auto":
            chosen = detect_corpus(paths)
            if chosen is None:  # no corpus fits every file: the one most files follow, said out loud
                counts = {name: sum(c.parse(p) is not None for p in paths) for name, c in CORPORA.items()}
                name = max(counts, key=counts.get)
                best = CORPORA[name]
                if counts[name]:
                    chosen, partial = best, True
                    misfit = next(p for p in paths if best.parse(p) is None)
                    if warn:
                        warn(f"seral: warning: --corpus auto: {len(paths) - counts[name]} of {len(paths)} audio files "
                             f"(such as {misfit.name}) do not follow the {best.title} naming and get no labels; the other "
                             f"{counts[name]} are labelled as {best.title} (--corpus none: no labels; a manifest: yours)")
        elif corpus != "none":
            chosen = CORPORA[corpus]
        if chosen is not None:
            labels = []
            for p in paths:
                lab = chosen.parse(p)
                if lab is None and not partial:
                    raise BadInput(f"{p}: file name does not follow the {chosen.title} naming "
                                   f"{chosen.pattern}; use --corpus auto|none, or a manifest")
                labels.append(lab or {"speaker": None, "emotion": None})
            columns["speaker"] = [lab["speaker"] for lab in labels]
            columns["emotion"] = [lab["emotion"] for lab in labels]
            columns["corpus"] = [chosen.name if lab["speaker"] is not None else None for lab in labels]
        tables.append(pa.table({k: pa.array(v, WELL_KNOWN.get(k, pa.string())) for k, v in columns.items()}))
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")
    _check_unique_inputs(table)
    table = add_valence_arousal(table, va_map)
    return table, {"inputs": described, "corpus": chosen.name if chosen else None, "history": history,
                   "skipped": skipped}


def _check_unique_inputs(table: pa.Table) -> None:
    ids = table.column(ID).to_pylist()
    seen: dict[str, int] = {}
    paths = table.column("path").to_pylist()
    for i, v in enumerate(ids):
        if v in seen:
            raise BadInput(f"{paths[i]}: id {v!r} is also the id of {paths[seen[v]]}; ids must be unique: "
                           "give the files in one directory, or list them in a manifest with an 'id' column")
        seen[v] = i
