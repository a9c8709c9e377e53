"""The table contract of DESIGN.md, in one place.

A seral table is Parquet with one row per utterance:

- ``id`` (string, unique) is required;
- well-known columns keep fixed names and types (:data:`WELL_KNOWN`);
- exactly one feature column, ``features``, of type ``fixed_size_list<float32>[D]``;
- schema metadata key ``seral`` holds JSON with the feature name and dimension and a
  ``history`` list, one entry per tool that produced the table.

``-`` as a path means stdin or stdout. Writes are atomic (temporary file, then rename),
so a crash or Ctrl-C never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import glob
import hashlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from seraltools import __version__
from seraltools.errors import BadInput, first_line

ID = "id"
FEATURES = "features"
META_KEY = b"seral"

#: Well-known optional columns: exact names and types when present.
WELL_KNOWN: dict[str, pa.DataType] = {
    "path": pa.string(),
    "speaker": pa.string(),
    "emotion": pa.string(),
    "valence": pa.int8(),
    "arousal": pa.int8(),
    "duration": pa.float32(),
    "corpus": pa.string(),
}
LABEL_COLUMNS = ("speaker", "emotion", "valence", "arousal", "corpus")


# --------------------------------------------------------------------------- reading


def part_files(directory: str | os.PathLike) -> list[Path]:
    """The Parquet parts of a dataset directory, in name order (hidden files, such as
    unfinished atomic writes, left out)."""
    return sorted(p for p in Path(directory).glob("*.parquet") if not p.name.startswith("."))


def _read_parts(directory: str) -> pa.Table:
    """A directory of parts (``seral extract --shard``) as one table: rows in part-name
    order, the first part's metadata with every part's history and skipped files."""
    files = part_files(directory)
    if not files:
        raise BadInput(f"{directory}: a directory without .parquet parts; give a table or a directory of parts")
    tables = []
    for f in files:
        try:
            tables.append(pq.read_table(str(f)))
        except (pa.ArrowInvalid, OSError) as e:
            raise BadInput(f"{f}: not a Parquet table ({_first_line(e)}); remove or rewrite this part") from None
        if not tables[-1].schema.remove_metadata().equals(tables[0].schema.remove_metadata()):
            raise BadInput(f"{f}: its columns differ from {files[0].name}'s; the parts of {directory} "
                           "must come from the same command")
    meta = metadata(tables[0])
    meta["parts"] = [f.name for f in files]
    meta["skipped"] = [s for t in tables for s in metadata(t).get("skipped", [])]
    meta["history"] = [h for t in tables for h in metadata(t).get("history", [])]
    return with_metadata(pa.concat_tables([t.replace_schema_metadata(None) for t in tables]), meta)


def read_table(path: str | os.PathLike, *, need_features: bool = False) -> pa.Table:
    """Read a seral table from ``path`` (``-`` = stdin; a directory = its Parquet parts,
    as one table) and check the contract.

    Raises :class:`BadInput` naming the file and column at fault.
    """
    name = "<stdin>" if str(path) == "-" else str(path)
    if name != "<stdin>" and Path(name).is_dir():
        return validate(_read_parts(name), name, need_features=need_features)
    try:
        if str(path) == "-":
            data = sys.stdin.buffer.read()
            if not data:
                raise BadInput("<stdin>: no table on standard input; pipe a seral table in, or give a file")
            table = pq.read_table(pa.BufferReader(data))
        else:
            table = pq.read_table(str(path))
    except FileNotFoundError:
        raise BadInput(f"{name}: no such file") from None
    except (pa.ArrowInvalid, OSError) as e:
        if Path(name).suffix.lower() in (".csv", ".tsv", ".json", ".jsonl", ".txt"):
            raise BadInput(f"{name}: seral tables are Parquet; a CSV/TSV manifest is an input of extract or segment "
                           "(seral extract MANIFEST out.parquet makes a table of it)") from None
        raise BadInput(f"{name}: not a Parquet table ({_first_line(e)})") from None
    return validate(table, name, need_features=need_features)


def read_user_table(path: str | os.PathLike, what: str, *, strings: tuple[str, ...] = (ID,),
                    empty_is_null: bool = False, data: bytes | None = None) -> pa.Table:
    """A table a user wrote by hand or by script (manifest, annotations): CSV, TSV or Parquet,
    from a file or a pipe (``data``: a pipe's bytes, read already).

    ``strings`` are read as text whatever they look like (speaker "03" stays "03");
    ``empty_is_null`` reads empty CSV cells of those columns as nulls."""
    import pyarrow.csv as pcsv

    name = str(path)
    suffix = Path(name).suffix.lower()
    source: Any = name
    try:
        data = read_unseekable(name) if data is None else data
        if data is not None:  # a pipe: read once
            source = pa.BufferReader(data)
        if suffix not in (".csv", ".tsv", ".parquet"):  # no telling name (a pipe, /dev/fd/N): its first bytes
            head = data[:1 << 16] if data is not None else file_head(name)
            suffix = ".parquet" if head[:4] == b"PAR1" else ".tsv" if b"\t" in head.split(b"\n", 1)[0] else ".csv"
        if suffix in (".csv", ".tsv"):
            table = pcsv.read_csv(
                source,
                parse_options=pcsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ","),
                convert_options=pcsv.ConvertOptions(column_types={c: pa.string() for c in strings},
                                                    strings_can_be_null=empty_is_null),
            )
        else:
            table = pq.read_table(source)
        seen = set()
        for c in table.column_names:
            if c in seen:
                raise BadInput(f"{name}: column {c!r} appears twice; give each column once")
            seen.add(c)
        return table
    except FileNotFoundError:
        raise BadInput(f"{name}: no such file") from None
    except (pa.ArrowInvalid, OSError) as e:
        raise BadInput(f"{name}: not a readable {what} ({_first_line(e)})") from None


def file_head(name: str, size: int = 1 << 16) -> bytes:
    """The first bytes of a regular file (b"" when it cannot be read: the reader says why)."""
    try:
        with open(name, "rb") as f:
            return f.read(size)
    except OSError:
        return b""


def read_unseekable(name: str) -> bytes | None:
    """The bytes of ``name`` when it is a pipe (a FIFO, /dev/stdin, a shell's ``<(...)``),
    read to its end; None for a regular file (read where it lies) or a missing one. A FIFO
    that no program writes to yet would block without a word: stderr says what it waits for."""
    import stat

    try:
        mode = os.stat(name).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        try:
            return _read_fifo(name)
        except OSError as e:
            raise BadInput(f"{name}: cannot read ({e.strerror})") from None
    try:
        with open(name, "rb") as f:
            return f.read()
    except OSError as e:
        raise BadInput(f"{name}: cannot read ({e.strerror})") from None


def _read_fifo(name: str) -> bytes:
    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK)  # never waits; kept open, so no written byte is lost
    try:
        try:
            first = os.read(fd, 1 << 16)  # b"": no writer
        except BlockingIOError:  # a writer, nothing written yet
            first = None
        if first is None or first:
            os.set_blocking(fd, True)
            chunks = [first or b""]
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        print(f"seral: {name} is a FIFO with no writer yet; waiting for one to write to it (Ctrl-C to stop)",
              file=sys.stderr, flush=True)
        import select

        poller = select.poll()  # on the descriptor already held: a writer that comes and goes is not missed
        poller.register(fd, select.POLLIN | select.POLLHUP)
        poller.poll()
        os.set_blocking(fd, True)
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def validate(table: pa.Table, name: str, *, need_features: bool = False) -> pa.Table:
    """Check the table contract; cast well-known columns to their types where lossless."""
    if ID not in table.column_names:
        raise BadInput(f"{name}: no '{ID}' column; every seral table needs a unique string id per row")
    table = _cast_column(table, ID, pa.string(), name)
    ids = table.column(ID)
    if ids.null_count:
        row = next(i for i, v in enumerate(ids.to_pylist()) if v is None)
        raise BadInput(f"{name}: row {row + 1}: empty '{ID}'; every row needs an id")
    check_unique_ids(ids.to_pylist(), name)
    table = cast_well_known(table, name)
    if FEATURES in table.column_names:
        feature_dim(table, name)
    elif need_features:
        raise BadInput(f"{name}: no '{FEATURES}' column; make one with `seral extract`")
    return table


def check_unique_ids(ids: list, name: str) -> None:
    seen: dict[Any, int] = {}
    for i, v in enumerate(ids):
        if v in seen:
            raise BadInput(
                f"{name}: id {v!r} appears in rows {seen[v] + 1} and {i + 1}; ids must be unique"
            )
        seen[v] = i


def cast_well_known(table: pa.Table, name: str, *, label_words: bool = False) -> pa.Table:
    """Cast the well-known columns present to their types (:class:`BadInput` if one can't be).

    ``label_words`` (users' manifests and label files): valence and arousal may also be
    words (negative/positive, low/high) or text, and become int8 0/1."""
    for col, typ in WELL_KNOWN.items():
        if col in table.column_names:
            if label_words and col in ("valence", "arousal") and table.column(col).type != typ:
                table = _binary_labels(table, col, name)
            else:
                table = _cast_column(table, col, typ, name)
    return table


#: Words accepted for the binary valence and arousal columns (0 = negative / low).
BINARY_WORDS = {"0": 0, "1": 1, "low": 0, "high": 1, "negative": 0, "positive": 1, "neg": 0, "pos": 1}


def _binary_labels(table: pa.Table, col: str, name: str) -> pa.Table:
    """valence/arousal given as words (negative/positive, low/high) or text 0/1 -> int8 0/1."""
    words = {"0", "1", "low", "high"} if col == "arousal" else {"0", "1", "negative", "positive", "neg", "pos"}
    values = []
    for i, v in enumerate(table.column(col).to_pylist()):
        if v is None:
            values.append(None)
            continue
        key = str(v).strip().lower()
        if key.endswith(".0"):
            key = key[:-2]
        if key not in words:
            raise BadInput(f"{name}: row {i + 1}: {col} {v!r} is not a binary label; use 0/1, "
                           f"{'low/high' if col == 'arousal' else 'negative/positive'}")
        values.append(BINARY_WORDS[key])
    return table.set_column(table.column_names.index(col), col, pa.array(values, pa.int8()))


def _cast_column(table: pa.Table, col: str, typ: pa.DataType, name: str) -> pa.Table:
    arr = table.column(col)
    if arr.type == typ:
        return table
    try:
        cast = arr.cast(typ, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise BadInput(
            f"{name}: column '{col}' has type {arr.type}, expected {typ}; convert it before use"
        ) from None
    return table.set_column(table.column_names.index(col), col, cast)


def feature_dim(table: pa.Table, name: str = "table") -> int:
    """The dimension D of the ``features`` column; :class:`BadInput` if it breaks the contract."""
    if FEATURES not in table.column_names:
        raise BadInput(f"{name}: no '{FEATURES}' column; make one with `seral extract`")
    typ = table.schema.field(FEATURES).type
    if not (pa.types.is_fixed_size_list(typ) and typ.value_type == pa.float32()):
        raise BadInput(
            f"{name}: column '{FEATURES}' has type {typ}; expected fixed_size_list<float32>[D] "
            f"(pyarrow: pa.list_(pa.float32(), D))"
        )
    return typ.list_size


def feature_matrix(table: pa.Table, name: str = "table") -> np.ndarray:
    """The ``features`` column as a (rows, D) float32 array."""
    dim = feature_dim(table, name)
    col = table.column(FEATURES)
    if col.null_count:
        raise BadInput(f"{name}: column '{FEATURES}' has {col.null_count} empty rows; drop or re-extract them")
    flat = col.combine_chunks().flatten() if table.num_rows else pa.array([], pa.float32())
    x = flat.to_numpy(zero_copy_only=False).reshape(table.num_rows, dim)
    finite = np.isfinite(x).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        ids = table.column("id").to_pylist() if "id" in table.column_names else None
        first = f"row {bad[0] + 1}" + (f" (id {ids[bad[0]]!r})" if ids else "")
        raise BadInput(f"{name}: {first} holds NaN or infinite features ({len(bad)} rows); re-extract or drop them")
    return x


def features_array(x: np.ndarray) -> pa.FixedSizeListArray:
    """A (rows, D) array as a ``fixed_size_list<float32>[D]`` Arrow array."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"features must be 2-D (rows, D), got shape {x.shape}")
    return pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])


def set_features(table: pa.Table, x: np.ndarray) -> pa.Table:
    """Replace (or append) the ``features`` column, keeping every other column and the order."""
    arr = features_array(x)
    if FEATURES in table.column_names:
        return table.set_column(table.column_names.index(FEATURES), FEATURES, arr)
    return table.append_column(FEATURES, arr)


def set_column(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    """Replace column ``name`` in place, or append it before ``features``."""
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, values)
    if FEATURES in table.column_names:
        return table.add_column(table.column_names.index(FEATURES), name, values)
    return table.append_column(name, values)


# --------------------------------------------------------------------------- metadata


def metadata(table: pa.Table) -> dict:
    """The ``seral`` metadata of a table (empty dict when there is none)."""
    raw = (table.schema.metadata or {}).get(META_KEY)
    if not raw:
        return {}
    try:
        meta = json.loads(raw)
    except ValueError:
        return {}
    return _well_formed(meta)


#: The types of the ``seral`` metadata's keys; a key of another type (a damaged or hand-made
#: table) is left out, as is malformed JSON: the table's data are read all the same.
_META_TYPES = {"history": list, "skipped": list, "parts": list, "feature": str, "dim": int, "speaker_clusters": dict}


def _well_formed(meta) -> dict:
    if not isinstance(meta, dict):
        return {}
    meta = {k: v for k, v in meta.items() if k not in _META_TYPES or isinstance(v, _META_TYPES[k])}
    if "history" in meta:
        history = []
        for h in meta["history"]:
            if isinstance(h, dict):
                h = dict(h)
                if not isinstance(h.get("parameters", {}), dict):
                    h["parameters"] = {}
                if not isinstance(h.get("inputs", []), list):
                    h["inputs"] = []
                h["inputs"] = [i for i in h.get("inputs", []) if isinstance(i, dict)]
                history.append(h)
        meta["history"] = history
    if "skipped" in meta:
        meta["skipped"] = [s for s in meta["skipped"] if isinstance(s, dict)]
    if "speaker_clusters" in meta and not all(isinstance(c, list) for c in meta["speaker_clusters"].values()):
        del meta["speaker_clusters"]
    return meta


def with_metadata(table: pa.Table, meta: dict) -> pa.Table:
    md = dict(table.schema.metadata or {})
    md[META_KEY] = json.dumps(meta, sort_keys=True, default=_json_default).encode()
    return table.replace_schema_metadata(md)


def history_entry(tool: str, parameters: dict, inputs: list[dict]) -> dict:
    """One ``history`` entry: tool, version, parameters, input fingerprints, UTC time."""
    return {
        "tool": tool,
        "version": __version__,
        "parameters": parameters,
        "inputs": inputs,
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def stamp(table: pa.Table, entry: dict, *, parent: dict | None = None, **fields: Any) -> pa.Table:
    """Write ``seral`` metadata: the parent's history plus ``entry``, and ``fields``
    (e.g. ``feature``, ``dim``). The feature name and dimension follow the table."""
    parent = dict(parent or {})
    meta = {k: v for k, v in parent.items() if k not in ("history", "skipped")}
    meta.update(fields)
    if FEATURES in table.column_names:
        meta["dim"] = feature_dim(table)
    else:
        meta.pop("dim", None)
        meta.pop("feature", None)
    meta["history"] = list(parent.get("history", [])) + [entry]
    return with_metadata(table, meta)


def fingerprint_bytes(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def fingerprint_file(path: str | os.PathLike) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (Path,)):
        return str(o)
    if isinstance(o, (set, tuple)):
        return list(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


# --------------------------------------------------------------------------- writing


TERMINAL = "refusing to write binary Parquet to a terminal; redirect (> out.parquet) or pipe (| seral ...) it"


def check_output(path: str | os.PathLike, directory_ok: bool = False) -> None:
    """Refuse, before any work, an output path that cannot be written (one line, exit 2).

    ``-`` (stdout), a device or a FIFO pass (they are written through); a symlink is
    checked where it points. A file's directory (or its nearest existing ancestor, as
    missing directories are created) must let a file be created in it: tried, not
    guessed from permission bits, so read-only mounts, /proc and /sys are caught."""
    if str(path) == "-":
        if sys.stdout.isatty():
            raise BadInput(TERMINAL)
        return
    from seraltools.errors import is_utf8, printable

    if not is_utf8(os.path.realpath(path)):  # pyarrow, safetensors and matplotlib take UTF-8 paths only
        raise BadInput(f"{printable(path)}: the output's name (or its directory's) is not UTF-8 text; give a UTF-8 name")
    target = Path(path)
    if target.is_dir():
        if directory_ok:
            return
        raise BadInput(f"{target}: is a directory; give a file name for the output")
    if target.exists() and not target.is_file():
        if not os.access(target, os.W_OK):
            raise BadInput(f"{target}: cannot write to it (permission denied)")
        return
    place = Path(os.path.realpath(target)).parent
    while not place.exists():
        place = place.parent
    if not place.is_dir():
        raise BadInput(f"{target}: {place} is a file, not a directory; give another output path")
    try:
        fd, probe = tempfile.mkstemp(prefix=".seral-probe.", dir=place)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise BadInput(f"{target}: cannot write in {place} ({e.strerror}); give another output path") from None


def check_output_directory(path: str | os.PathLike) -> None:
    """:func:`check_output` for a directory a tool fills with files (created if missing)."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise BadInput(f"{target}: is a file, not a directory; give a directory for the output")
    check_output(target / ".seral-output")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove_leftovers(target: Path) -> None:
    """Temporary files of earlier writes to ``target`` whose process is gone (killed)."""
    for tmp in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        pid = tmp.name[len(target.name) + 2 :].split(".", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                tmp.unlink()
        except OSError:
            pass


def _remove_stale_staging() -> None:
    """Copies staged in the temporary directory for a device or FIFO output by a process
    that is gone (killed while a FIFO had no reader): removed by the next such write."""
    import errno

    for tmp in Path(tempfile.gettempdir()).glob(".seral.*.tmp"):
        pid = tmp.name[len(".seral.") :].split(".", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except OSError as e:
            if e.errno == errno.ESRCH:
                with contextlib.suppress(OSError):
                    tmp.unlink()


def _open_to_write(target: Path):
    """``open(target, "wb")`` of a device or FIFO; a FIFO that no program reads yet would block
    without a word: stderr says what it waits for (as :func:`read_unseekable` does for input)."""
    import errno
    import stat

    if stat.S_ISFIFO(os.stat(target).st_mode):
        try:
            fd = os.open(target, os.O_WRONLY | os.O_NONBLOCK)  # fails at once when there is no reader
        except OSError as e:
            if e.errno != errno.ENXIO:
                raise
            print(f"seral: {target} is a FIFO with no reader yet; waiting for one to read from it (Ctrl-C to stop)",
                  file=sys.stderr, flush=True)
        else:
            os.set_blocking(fd, True)
            return os.fdopen(fd, "wb")
    return open(target, "wb")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path; on success its content becomes ``path``.

    A regular file (new or existing) is replaced atomically by a rename from beside it:
    on any exception, Ctrl-C included, the temporary file is removed and ``path`` is
    left as it was. The new file's mode follows the umask, an existing file keeps its
    mode. A symlink is not replaced: the file it points to is. A device or FIFO
    (``/dev/null``, ``/dev/stdout``) is written through, not replaced. Parent
    directories are created; temporary files left by a killed earlier write to the
    same path are removed.
    """
    target = Path(path)
    if target.is_dir():
        raise BadInput(f"{target}: is a directory; give a file name for the output")
    if target.exists() and not target.is_file():  # a device, FIFO or socket: stream into it
        _remove_stale_staging()
        fd, tmp = tempfile.mkstemp(prefix=f".seral.{os.getpid()}.", suffix=".tmp")  # the pid: see _remove_stale_staging
        os.close(fd)
        try:
            yield tmp
            import shutil

            with open(tmp, "rb") as src, _open_to_write(target) as dst:
                shutil.copyfileobj(src, dst)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return
    target = Path(os.path.realpath(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield tmp
        mode = (os.stat(target).st_mode & 0o7777) if target.exists() else (0o666 & ~_umask())
        os.chmod(tmp, mode)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_table(table: pa.Table, path: str | os.PathLike) -> None:
    """Write ``table`` to ``path`` atomically (``-`` = stdout, refused on a terminal)."""
    if str(path) == "-":
        if sys.stdout.isatty():
            raise BadInput(TERMINAL)
        buf = io.BytesIO()
        pq.write_table(table, buf)
        sys.stdout.buffer.write(buf.getvalue())
        sys.stdout.buffer.flush()
        return
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


_first_line = first_line
