"""People label the queue: ``seral annotate`` (a local web page) and ``seral export-tasks``
(Label Studio).

The MAL paper ends on annotation platforms: the queue of ``mal-select`` is what people
listen to and label. Two ways from the queue to labels and back:

- :class:`AnswerLog`, :class:`Annotation` and :func:`make_server`: a page on 127.0.0.1
  that walks the queue in rank order, plays each utterance (only its span for a
  segment) and appends every answer at once to a CSV (id, label columns, status, note,
  annotator, time). One ``os.write`` per line under a lock (threads and ``flock`` for
  other processes), then ``fsync``, before the page is told the answer is kept: a crash
  or kill loses no acknowledged answer and tears no line. Answers carry the version
  they were made against (a stale tab is refused); ``raters`` annotators per item;
  blind by default (the page sees queue positions, not ids). Read back with
  :func:`seraltools.labels.read_labels` (``--aggregate``). URLs name queue positions,
  never files: no path from a request reaches the file system.
- :func:`label_studio_tasks`: the queue as Label Studio tasks (the seral id in the task
  data, rank as a sort key) and a labelling config; Label Studio's exports come back
  through :func:`~seraltools.labels.read_labels`.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from seraltools.errors import BadInput, first_line

ANNOTATOR = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
PAGE = Path(__file__).with_name("web") / "annotate.html"


@dataclass(frozen=True)
class Item:
    """One utterance to label: its rank (1 = first), id, what to play, and what the page shows."""

    rank: int
    id: str
    source: Any  # a path, Segment or Embedded (seraltools.corpora.sources)
    speaker: str | None = None
    duration: float | None = None
    shown: tuple = ()  # (column, value) pairs the page shows (--show)


class Scale(NamedTuple):
    """A dimensional rating (SAM-style): whole numbers from ``low`` to ``high``."""

    low: int
    high: int


def parse_scales(text: list[str] | str | None) -> dict[str, Scale]:
    """``--scale valence=1:5,arousal=1:5`` -> {column: Scale}; keys 1-9 rate, so at most 9 steps."""
    out: dict[str, Scale] = {}
    parts = [p.strip() for t in ([text] if isinstance(text, str) else list(text or [])) for p in t.split(",")]
    for part in filter(None, parts):
        m = re.fullmatch(r"([^=\s\[\]]+)=(-?\d+):(-?\d+)", part)
        if not m:
            raise BadInput(f"--scale {part!r}: give NAME=LOW:HIGH, e.g. --scale valence=1:5,arousal=1:5")
        name, low, high = m.group(1), int(m.group(2)), int(m.group(3))
        if not 2 <= high - low + 1 <= 9:
            raise BadInput(f"--scale {part!r}: give 2 to 9 steps (keys 1-9 rate), e.g. 1:5")
        if name in out:
            raise BadInput(f"--scale {name}: give each scale once")
        out[name] = Scale(low, high)
    return out


def parse_scheme(columns: list[str] | None, choices: list[str] | None, scales: list[str] | str | None = None) -> dict:
    """``--column``/``--choices`` pairs and ``--scale`` -> {column: [choices] or Scale};
    the column defaults to emotion. Scales alone (no --choices) are a scheme too."""
    from seraltools.labels import bookkeeping

    rated = parse_scales(scales)
    columns = list(columns or []) or ([] if rated and not choices else ["emotion"])
    choices = list(choices or [])
    for name in rated:
        if bookkeeping(name) or name in columns:
            raise BadInput(f"--scale {name}: name it for what it rates, apart from the --column names and the "
                           "bookkeeping columns (id, rank, speaker, annotator, time, status, note)")
    if not choices and not rated:
        raise BadInput("--choices: give the labels to choose from, e.g. --choices anger,happiness,neutral,sadness "
                       "(or --scale valence=1:5,arousal=1:5)")
    if len(choices) != len(columns):
        raise BadInput(f"{len(columns)} --column and {len(choices)} --choices: give one --choices per --column, "
                       "in the same order")
    scheme: dict[str, list[str]] = {}
    for col, text in zip(columns, choices):
        options = [c.strip() for c in text.split(",") if c.strip()]
        if len(options) < 2 or len(set(options)) != len(options):
            raise BadInput(f"--choices {text!r}: give two or more different labels separated by commas")
        from seraltools.table import BINARY_WORDS

        if col in scheme or not col.strip() or bookkeeping(col):
            raise BadInput(f"--column {col!r}: give each label column once, named for what it labels (not a "
                           "queue or bookkeeping column such as id, rank, speaker, annotator or time)")
        if col in ("valence", "arousal"):
            odd = [o for o in options if o.lower() not in BINARY_WORDS]
            if odd or len(options) != 2:
                raise BadInput(f"--column {col} is binary: give two of 0/1, negative/positive, low/high "
                               f"(not {', '.join(odd or options)}), or name the column otherwise")
        scheme[col] = options
    scheme.update(rated)
    return scheme


def queue_items(table, source: str, show: list[str] | None = None) -> list[Item]:
    """The rows to label in rank order (rows without a rank are not in the queue); a table
    without ``rank`` (a manifest-like table) in its own order. ``show``: columns whose
    values the page shows (none by default: blind labelling)."""
    from seraltools.corpora import sources

    if "path" not in table.column_names:
        raise BadInput(f"{source}: no 'path' column; annotate a queue of `seral mal-select` on a table of "
                       "`seral extract` (which keeps each utterance's path)")
    ids = table.column("id").cast("string").to_pylist()
    srcs = sources(table)
    ranks = table.column("rank").to_pylist() if "rank" in table.column_names else list(range(1, len(ids) + 1))
    for i, r in enumerate(ranks):
        if isinstance(r, float) and r != r:  # NaN: not queued (a queue saved through pandas)
            ranks[i] = None
        elif r is not None and (isinstance(r, (str, bool)) or float(r) != int(r)):
            raise BadInput(f"{source}: row {i + 1}: rank {r!r} is not a whole number; make the queue with "
                           "`seral mal-select`")
    speakers = table.column("speaker").to_pylist() if "speaker" in table.column_names else [None] * len(ids)
    durations = table.column("duration").to_pylist() if "duration" in table.column_names else [None] * len(ids)
    rows = sorted((int(r), i) for i, r in enumerate(ranks) if r is not None)
    if not rows:
        raise BadInput(f"{source}: no ranked rows; make a queue with `seral mal-select --budget N`")
    show = list(show or [])
    missing = [c for c in show if c not in table.column_names]
    if missing:
        raise BadInput(f"--show {', '.join(missing)}: {source} has no such column; it has {', '.join(table.column_names)}")
    if "features" in show:
        raise BadInput("--show features: the feature vector is not for people; name metadata columns")
    shown = {c: table.column(c).to_pylist() for c in show}
    return [Item(int(r), ids[i], srcs[i], None if speakers[i] is None else str(speakers[i]), durations[i],
                 tuple((c, None if shown[c][i] is None else str(shown[c][i])) for c in show))
            for r, i in rows]


def unreadable(items: list[Item]) -> list[tuple[Item, str]]:
    """The queued items whose audio file cannot be opened (missing, a directory, no
    permission), with the reason: checked at start-up, before anyone listens."""
    from seraltools.audio import Embedded, Segment

    bad = []
    for it in items:
        path = it.source.parquet if isinstance(it.source, Embedded) else (
            it.source.path if isinstance(it.source, Segment) else str(it.source))
        try:
            with open(path, "rb") as f:
                f.read(1)
        except OSError as e:
            bad.append((it, f"{path}: {e.strerror or e}"))
    return bad


#: Seconds of the recording played before and after a segment's span for context.
CONTEXT = 3.0


def context(source):
    """A segment's span widened by :data:`CONTEXT` seconds each side (within the
    recording); anything else as it is."""
    from seraltools.audio import Embedded, Segment

    if isinstance(source, (Segment, Embedded)) and (source.start is not None or source.end is not None):
        start = max(0.0, (source.start or 0.0) - CONTEXT)
        end = source.end
        if isinstance(source, Segment) and end is not None:  # not past the recording's end (the reader refuses it)
            import soundfile as sf

            try:
                end = min(end + CONTEXT, sf.info(source.path).duration)
            except Exception:  # a file soundfile cannot tell the length of: the span's own end
                end = source.end
        return source._replace(start=start, end=end)
    return source


def wav_bytes(source) -> bytes:
    """The utterance (its span for a segment) as 16-bit PCM WAV at the file's rate, mono."""
    import numpy as np
    import soundfile as sf

    from seraltools.audio import _opened

    with _opened(source) as (_, rate, _, _, blocks):
        x = np.concatenate(list(blocks) or [np.zeros(0, np.float32)])
    buf = io.BytesIO()
    sf.write(buf, np.clip(x, -1.0, 1.0), rate, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def _is_time(text: str) -> bool:
    """A complete time cell (seral writes ISO 8601 with milliseconds; a hand-written date
    or time parses too): a line cut mid-write usually ends in a partial one."""
    try:
        _dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return False
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?",
                             text.strip()))


def _check_utf8(path: Path) -> None:
    """A labels file is UTF-8 text: other bytes (a file saved in another encoding, binary
    junk) are a one-line error naming the line, not a crash later."""
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                raise BadInput(f"{path}: line {number} is not UTF-8 text; save the file as UTF-8 or give "
                               "another labels file") from None


class Stale(BadInput):
    """An answer made on a page that had not seen the item's latest answer (another tab)."""


#: What an answer line says: a label (answer), a label the annotator is unsure of, or a skip.
STATUSES = ("answer", "unsure", "skip")
NOTE_MAX = 500


def header_name(column: str, scale: tuple[int, int] | None) -> str:
    """A label column's name in the answer log's header: a scale carries its range
    (``valence[1:5]``), so that readers know its values are numbers."""
    return column if scale is None else f"{column}[{scale[0]}:{scale[1]}]"


class AnswerLog:
    """The labels CSV: ``id, <label columns>, status, note, annotator, time``, one line
    per answer (status ``answer``, ``unsure`` or ``skip``), appended. Safe for threads of
    one server and for several servers on one file. A file of an earlier seral (without
    status and note) is continued as it is: it takes answers, not skips or notes.

    Kept in memory as an index that follows the file (read under the lock from where it
    last stopped): each annotator's last answer per id, how many lines each annotator
    has written for each id (the version a page answers against) and who answered each id."""

    def __init__(self, path: str | os.PathLike, columns, scales: dict[str, tuple[int, int]] | None = None):
        """``columns``: the label columns, or a scheme (:func:`parse_scheme`) whose scales
        name their columns with their range."""
        self.path = Path(path)
        scales = dict(scales or {})
        if isinstance(columns, dict):
            scales.update({c: s for c, s in columns.items() if isinstance(s, Scale)})
        self.columns = list(columns)
        names = [header_name(c, scales.get(c)) for c in self.columns]
        self.header = ["id", *names, "status", "note", "annotator", "time"]
        self._lock = threading.Lock()
        self._offset = 0
        self._mine: dict[tuple[str, str], dict] = {}
        self._version: dict[tuple[str, str], int] = {}
        self._last: dict[str, dict[str, str]] = {}
        self._raters: dict[str, set[str]] = {}
        if self.path.exists() and not self.path.is_file():
            raise BadInput(f"{self.path}: not a regular file; give a CSV file for the labels")
        if str(path) == "-" or self.path.suffix.lower() not in (".csv", ""):
            raise BadInput(f"{self.path}: the labels file is a CSV file seral appends to; name it .csv")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.torn = self._check(["id", *names, "annotator", "time"])
        except OSError as e:
            raise BadInput(f"{self.path}: cannot write it ({e.strerror or e}); give another labels file") from None
        self.extras = self.header[-4] == "status"  # False: a file of an earlier seral
        self.answers()  # the index

    def _check(self, legacy: list[str]) -> int:
        """Write the header to a new file, check an existing one's; drop a torn last line
        (never acknowledged). Returns the bytes dropped."""
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size == 0:
                os.write(fd, self._line(self.header))
                os.fsync(fd)
                return 0
            _check_utf8(self.path)
            with open(self.path, newline="", encoding="utf-8-sig") as f:
                first = next(csv.reader(f), [])
            if first == legacy:
                self.header = legacy
            elif first != self.header:
                raise BadInput(f"{self.path}: has columns {','.join(first)}, not {','.join(self.header)}; "
                               "give the same --column, --choices and --scale options as before, or a new labels file")
            os.lseek(fd, max(0, size - 1), os.SEEK_SET)
            if os.read(fd, 1) != b"\n":
                data = self.path.read_bytes()
                keep = data.rfind(b"\n") + 1
                tail = data[keep:].decode("utf-8", "replace")
                rows = list(csv.reader([tail]))
                whole = (tail.count('"') % 2 == 0 and rows and len(rows[0]) == len(self.header)
                         and _is_time(rows[0][-1]))
                if keep == 0 or whole:
                    os.write(fd, b"\n")  # a whole line (or the header) typed without its newline
                    os.fsync(fd)
                    return 0
                os.ftruncate(fd, keep)  # a line cut by a crash mid-write: never acknowledged
                os.fsync(fd)
                return size - keep
            return 0
        finally:
            os.close(fd)

    @staticmethod
    def _line(cells: list) -> bytes:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(cells)
        return buf.getvalue().encode("utf-8")

    def _refresh(self, fd: int) -> None:
        """Read the lines added since the last look (the caller holds the file's lock)."""
        size = os.fstat(fd).st_size
        if size <= self._offset:
            return
        os.lseek(fd, self._offset, os.SEEK_SET)
        chunks, left = [], size - self._offset
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        end = data.rfind(b"\n") + 1  # whole lines only
        if end == 0:
            return
        rows = csv.reader(io.StringIO(data[:end].decode("utf-8", "replace"), newline=""))
        if self._offset == 0:
            next(rows, None)  # the header
        n = len(self.columns)
        for row in rows:
            if len(row) != len(self.header):
                continue
            uid, values, who = row[0], dict(zip(self.columns, row[1:1 + n])), row[-2]
            status = row[1 + n] if self.extras else "answer"
            note = row[2 + n] if self.extras else ""
            key = (uid, who)
            self._version[key] = self._version.get(key, 0) + 1
            if status == "skip":
                continue
            self._mine[key] = {"values": values, "status": status or "answer", "note": note, "time": row[-1]}
            self._last[uid] = values
            self._raters.setdefault(uid, set()).add(who)
        self._offset += end

    def _locked(self, exclusive: bool):
        import contextlib
        import fcntl

        @contextlib.contextmanager
        def held():
            with self._lock:
                fd = os.open(self.path, (os.O_RDWR | os.O_APPEND) if exclusive else os.O_RDONLY)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)  # never half a line
                    self._refresh(fd)
                    yield fd
                finally:
                    os.close(fd)
        return held()

    def append(self, utterance: str, values: dict[str, str], annotator: str, *, status: str = "answer",
               note: str = "", version: int | None = None) -> tuple[str, int]:
        """Append one answer and make it durable; returns its time (UTC, ISO 8601) and the
        new version of (utterance, annotator). ``version``: the count of this annotator's
        lines for the utterance that the page saw; another count (another tab answered
        meanwhile) raises :class:`Stale` and writes nothing."""
        if status not in STATUSES:
            raise BadInput(f"status {status!r} is not one of {', '.join(STATUSES)}")
        if not self.extras and (status != "answer" or note):
            raise BadInput(f"{self.path} was made by an earlier seral (no status and note columns): it takes "
                           "answers only; start a new labels file to record skips, unsure answers and notes")
        note = " ".join(str(note).split())[:NOTE_MAX]
        time = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        cells = [utterance, *(values.get(c, "") for c in self.columns)]
        if self.extras:
            cells += [status, note]
        line = self._line([*cells, annotator, time])
        with self._locked(exclusive=True) as fd:
            now = self._version.get((utterance, annotator), 0)
            last = self._mine.get((utterance, annotator))
            if (version is not None and version == now - 1 and status != "skip" and last is not None
                    and last["values"] == {c: values.get(c, "") for c in self.columns}
                    and last["status"] == status and last["note"] == note):
                return last["time"], now  # the page's retry of an answer that was kept: not written twice
            if version is not None and version != now:
                last = self._mine.get((utterance, annotator))
                said = ", ".join(last["values"].values()) if last else "a skip"
                raise Stale(f"changed since this page loaded it (another tab?): now {said}; not saved, "
                            "reload to see it")
            size = os.fstat(fd).st_size
            try:
                written = os.write(fd, line)  # one write of the whole line
            except OSError:
                written = -1
            if written != len(line):  # disk full, a file-size limit: undo, and the page hears it
                os.ftruncate(fd, size)
                raise OSError("the labels file could not take the answer (disk full?)")
            os.fsync(fd)
            self._refresh(fd)
            return time, self._version.get((utterance, annotator), now + 1)

    def answers(self, annotator: str | None = None) -> dict[str, dict[str, str]]:
        """id -> the last answer (label column -> value), of one annotator or of anyone;
        skips are not answers."""
        with self._locked(exclusive=False):
            if annotator is None:
                return {k: dict(v) for k, v in self._last.items()}
            return {uid: dict(a["values"]) for (uid, who), a in self._mine.items() if who == annotator}

    def view(self, annotator: str) -> tuple[dict[str, dict], dict[str, int], dict[str, set[str]]]:
        """(this annotator's last answers with status and note, their version per id, who
        answered each id), at one moment."""
        with self._locked(exclusive=False):
            mine = {uid: dict(a) for (uid, who), a in self._mine.items() if who == annotator}
            versions = {uid: v for (uid, who), v in self._version.items() if who == annotator}
            return mine, versions, {k: set(v) for k, v in self._raters.items()}


def check_annotator(name: str) -> str:
    if not isinstance(name, str) or not ANNOTATOR.fullmatch(name):
        raise BadInput(f"annotator {name!r}: use 1-64 letters, digits, '_', '.', '@' or '-'")
    return name


class Annotation:
    """What the page talks to: the queue, the label scheme and the answer log.

    The page names items by their queue position, never by id: the id (and any other
    column) reaches the page only when ``show`` names it (blind labelling: ids such as
    EMO-DB's ``03a01Wa`` or RAVDESS's ``03-01-05-...`` give the emotion away). ``raters``:
    an item is done once that many annotators answered it; the page of an annotator goes
    past items done by others."""

    def __init__(self, items: list[Item], scheme: dict, log: AnswerLog, *, raters: int = 1,
                 show: list[str] | None = None):
        if raters < 1:
            raise BadInput(f"--raters {raters}: give 1 or more")
        self.items, self.scheme, self.log, self.raters = items, scheme, log, raters
        self.show = list(show or [])
        self.by_id = {it.id: it for it in items}
        self.position = {it.id: i for i, it in enumerate(items)}
        self._check_answers()

    def _check_answers(self) -> None:
        """Answers already in the log that the scheme would not take (--choices changed)."""
        for uid, values in self.log.answers().items():
            for col, spec in self.scheme.items():
                v = values.get(col, "")
                if v and not _valid(spec, v):
                    raise BadInput(f"{self.log.path}: holds {col} {v!r} (id {uid}), which {_what(col, spec)} does "
                                   "not offer; give the same --choices/--scale as before, or a new labels file")

    def state(self, annotator: str) -> dict:
        mine, versions, raters = self.log.view(annotator)
        columns = []
        for c, spec in self.scheme.items():
            if isinstance(spec, Scale):
                columns.append({"name": c, "kind": "scale", "low": spec.low, "high": spec.high})
            else:
                columns.append({"name": c, "kind": "choice", "choices": spec})
        items = []
        for it in self.items:
            entry = {"rank": it.rank, "duration": it.duration, "shown": dict(it.shown)}
            if isinstance(it.source, _span_types()) and getattr(it.source, "start", None) is not None:
                entry["start"] = it.source.start
                entry["end"] = it.source.end
            items.append(entry)
        answers, version, done = {}, {}, []
        for uid, pos in self.position.items():
            if uid in mine:
                answers[pos] = mine[uid]
            if uid in versions:
                version[pos] = versions[uid]
            if len(raters.get(uid, ())) >= self.raters:
                done.append(pos)
        return {"annotator": annotator, "raters": self.raters, "columns": columns, "items": items,
                "answers": answers, "versions": version, "done": done, "extras": self.log.extras,
                "labels": self.log.path.name}

    def answer(self, payload: dict) -> dict:
        """Validate and keep one answer: {"annotator", "item" (queue position) or "id",
        "values": {column: value}, "status", "note", "version"}."""
        annotator = check_annotator(str(payload.get("annotator", "")))
        if "item" in payload:
            pos = payload["item"]
            if isinstance(pos, bool) or not isinstance(pos, int) or not 0 <= pos < len(self.items):
                raise BadInput(f"item {pos!r} is not in the queue")
            utterance = self.items[pos].id
        else:
            utterance = str(payload.get("id", ""))
            if utterance not in self.by_id:
                raise BadInput(f"id {utterance!r} is not in the queue")
        status = payload.get("status") or "answer"
        if status not in STATUSES:
            raise BadInput(f"status {status!r} is not one of {', '.join(STATUSES)}")
        note = payload.get("note") or ""
        if not isinstance(note, str):
            raise BadInput("note: give text")
        version = payload.get("version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise BadInput("version: give the whole number the page was given")
        values = payload.get("values") or {}
        if not isinstance(values, dict):
            raise BadInput("values: give {column: label}")
        if status == "skip":
            if not self.log.extras:
                return {"ok": True, "recorded": False}
            time, v = self.log.append(utterance, {}, annotator, status="skip", note=note, version=version)
            return {"ok": True, "time": time, "version": v}
        if not values and status == "answer":
            raise BadInput("no label given")
        clean = {}
        for col, value in values.items():
            if col not in self.scheme:
                raise BadInput(f"column {col!r} is not one of {', '.join(self.scheme)}")
            spec = self.scheme[col]
            if isinstance(spec, Scale) and isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str) or not _valid(spec, value):
                raise BadInput(f"{col} {value!r} is not one of {_what(col, spec)}")
            clean[col] = value
        missing = [c for c in self.scheme if c not in clean]
        if missing and status == "answer":  # an answer is whole: a partial one would blank the others when read back
            raise BadInput(f"no {', '.join(missing)} given; an answer gives every column")
        time, v = self.log.append(utterance, clean, annotator, status=status, note=note, version=version)
        return {"ok": True, "time": time, "version": v}


def _span_types():
    from seraltools.audio import Embedded, Segment

    return (Segment, Embedded)


def _valid(spec, value: str) -> bool:
    if isinstance(spec, Scale):
        return bool(re.fullmatch(r"-?\d+", value.strip())) and spec.low <= int(value) <= spec.high
    return value in spec


def _what(col: str, spec) -> str:
    if isinstance(spec, Scale):
        return f"the {col} scale {spec.low}-{spec.high}"
    return ", ".join(spec)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or name to listen on) is this machine only."""
    import ipaddress

    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


#: Seconds a connection may sit without sending a request (or the rest of one) before it is closed.
IDLE_TIMEOUT = 20.0
TOKEN_COOKIE = "seral_token"


def connection_cap() -> int:
    """How many connections the server keeps open at once: well below the file-descriptor
    limit (the labels file, audio files and the listening socket need some), at most 64."""
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 16
    return max(2, min(64, (soft - 24) // 2))


def make_server(annotation: Annotation | None, host: str = "127.0.0.1", port: int = 8000, *,
                annotator: str = "annotator", token: str | None = None, ask_name: bool = False):
    """A threading HTTP server (standard library) for the page; ``serve_forever`` runs it.
    ``annotation`` may be set later (``server.annotation``): the port is taken before the
    labels file is made.

    ``token``: every request must carry it (``?token=`` once, then the cookie the page
    gets, or an ``X-Seral-Token`` header); an address other than loopback is refused
    without one. Connections that send nothing for :data:`IDLE_TIMEOUT` seconds are
    closed, and at most :func:`connection_cap` are open at once: a new one closes the
    connection that has waited longest for a request, so idle sockets cannot lock
    annotators out. ``ask_name``: a page whose URL names no annotator asks for a name."""
    import hmac
    import time as _time
    from http import HTTPStatus
    from http.cookies import SimpleCookie
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlsplit

    if not host.strip():
        raise BadInput("--host '': give an address to listen on (127.0.0.1: this machine only)")
    if token is not None and not re.fullmatch(r"[A-Za-z0-9_-]{16,128}", token):
        raise BadInput("--token: give 16-128 letters, digits, '_' or '-' (or leave it out: one is made)")
    if not is_loopback(host) and not token:
        raise BadInput(f"--host {host}: other machines can reach it; give a --token (or leave --token out "
                       "and let `seral annotate` make one) so that only people with the link can label")
    page = PAGE.read_bytes()

    class Handler(BaseHTTPRequestHandler):
        server_version = "seral-annotate"
        timeout = IDLE_TIMEOUT  # a read that waits longer closes the connection

        def handle_one_request(self) -> None:
            self.server.idle[self] = _time.monotonic()  # waiting for a request line: may be closed for a new one
            try:
                super().handle_one_request()
            finally:
                self.server.idle.pop(self, None)

        def parse_request(self) -> bool:
            ok = super().parse_request()
            self.server.idle.pop(self, None)  # a request arrived: let it finish
            return ok

        def _token_ok(self) -> bool:
            """No token set, or the request carries it (query, header or cookie)."""
            want = self.server.token
            if not want:
                return True
            given = [self.headers.get("X-Seral-Token") or "",
                     *parse_qs(urlsplit(self.path).query).get("token", [])]
            try:
                cookie = SimpleCookie(self.headers.get("Cookie") or "")
                name = f"{TOKEN_COOKIE}_{self.server.server_address[1]}"  # cookies ignore the port
                if name in cookie:
                    given.append(cookie[name].value)
            except Exception:  # a malformed cookie header: no token from it
                pass
            return any(hmac.compare_digest(g.encode(), want.encode()) for g in given if g)

        def log_message(self, *args) -> None:  # stderr stays for seral's own lines
            pass

        def _send(self, status: int, body: bytes, kind: str, cookie: str | None = None) -> None:
            self.send_response(status)
            if cookie:
                self.send_header("Set-Cookie", cookie)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, data: dict) -> None:
            self._send(status, json.dumps(data).encode(), "application/json")

        def _not_found(self) -> None:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")

        def _foreign(self) -> bool:
            """A request another web site's page makes the browser send (cross-site POST, DNS
            rebinding): its Host is not this server's address, or its Origin another site."""
            port = self.server.server_address[1]
            ours = {f"{h}:{port}" for h in ("127.0.0.1", "localhost", "[::1]", *self.server.public_hosts)}
            host = (self.headers.get("Host") or "").lower()
            origin = self.headers.get("Origin")
            return host not in ours or (origin is not None and urlsplit(origin).netloc.lower() not in ours)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self._foreign():
                return self._send(HTTPStatus.FORBIDDEN, b"not this server's page\n", "text/plain; charset=utf-8")
            if not self._token_ok():
                return self._send(HTTPStatus.FORBIDDEN, b"open the link seral annotate printed (with its token)\n",
                                  "text/plain; charset=utf-8")
            url = urlsplit(self.path)
            if url.path == "/":
                cookie = (f"{TOKEN_COOKIE}_{self.server.server_address[1]}={self.server.token}; Path=/; HttpOnly; "
                          "SameSite=Strict"
                          if self.server.token else None)
                return self._send(HTTPStatus.OK, page, "text/html; charset=utf-8", cookie)
            if url.path == "/api/state":
                query = parse_qs(url.query)
                name = query.get("annotator", [annotator])[0]
                try:
                    state = self.server.annotation.state(check_annotator(name))
                    state["ask_name"] = self.server.ask_name and "annotator" not in query  # one server, several people
                    return self._json(HTTPStatus.OK, state)
                except BadInput as e:
                    return self._json(HTTPStatus.BAD_REQUEST, {"error": str(e)})
            m = re.fullmatch(r"/audio/([0-9]{1,9})(-context)?\.wav", url.path)
            if m and int(m.group(1)) < len(self.server.annotation.items):
                item = self.server.annotation.items[int(m.group(1))]
                try:
                    body = wav_bytes(context(item.source) if m.group(2) else item.source)
                except BadInput as e:
                    import sys

                    print(f"seral annotate: rank {item.rank}: {e}", file=sys.stderr, flush=True)
                    return self._send(HTTPStatus.INTERNAL_SERVER_ERROR, f"{e}\n".encode(), "text/plain; charset=utf-8")
                return self._send(HTTPStatus.OK, body, "audio/wav")
            return self._not_found()

        do_HEAD = do_GET

        def do_POST(self) -> None:  # noqa: N802
            if urlsplit(self.path).path != "/api/answer":
                return self._not_found()
            if self._foreign() or (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
                return self._json(HTTPStatus.FORBIDDEN, {"error": "answers come from the annotate page (JSON)"})
            if not self._token_ok():
                return self._json(HTTPStatus.FORBIDDEN, {"error": "no or a wrong token: open the link seral "
                                                                  "annotate printed"})
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 < length <= 65536:
                    raise BadInput("a request body of 1 byte to 64 KiB is expected")
                payload = json.loads(self.rfile.read(length))
                if not isinstance(payload, dict):
                    raise BadInput("a JSON object is expected")
                return self._json(HTTPStatus.OK, self.server.annotation.answer(payload))
            except Stale as e:
                return self._json(HTTPStatus.CONFLICT, {"error": first_line(e), "stale": True})
            except (BadInput, ValueError, RecursionError) as e:
                return self._json(HTTPStatus.BAD_REQUEST, {"error": first_line(e) or "not valid JSON"})
            except OSError as e:
                return self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"not saved: {first_line(e)}"})

    import socket

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        request_queue_size = 64

        def process_request(self, request, client_address) -> None:
            """At the cap, close the connection that has waited longest for a request."""
            with self.lock:
                self.open_connections = getattr(self, "open_connections", 0) + 1
                over = self.open_connections - self.cap
            if over > 0:
                for handler, _ in sorted(list(self.idle.items()), key=lambda kv: kv[1])[:over]:
                    try:
                        handler.connection.shutdown(socket.SHUT_RDWR)  # its read ends; its thread closes it
                    except OSError:
                        pass
            super().process_request(request, client_address)

        def shutdown_request(self, request) -> None:
            with self.lock:
                self.open_connections -= 1
            super().shutdown_request(request)

        def handle_error(self, request, client_address) -> None:
            import sys

            error = sys.exc_info()[1]
            if isinstance(error, (BrokenPipeError, ConnectionResetError)):
                return  # the browser moved on before the audio was sent: normal
            print(f"seral annotate: a request failed ({type(error).__name__}: {first_line(error)})",
                  file=sys.stderr, flush=True)

    try:
        server = Server((host, port), Handler)
        server.annotation = annotation
        server.token = token
        server.ask_name = ask_name
        server.lock, server.idle, server.cap = threading.Lock(), {}, connection_cap()
        server.open_connections = 0
        publics = {(f"[{host}]" if ":" in host else host).lower()}  # the address the page is opened at
        if host.strip("[]") in ("0.0.0.0", "::"):  # every interface: the machine's own names
            publics |= {socket.gethostname().lower(), socket.getfqdn().lower()}
            try:
                publics |= {a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None)
                            if ":" not in a[4][0]}
            except OSError:
                pass
        server.public_hosts = publics
        return server
    except socket.gaierror as e:
        raise BadInput(f"--host {host}: not an address of this machine ({e.strerror or e})") from None
    except OSError as e:
        hint = "pass another --port (0: any free one)" if e.errno == 98 else "check --host and --port"
        raise BadInput(f"cannot listen on {host} port {port} ({e.strerror or e}); {hint}") from None


# ---------------------------------------------------------------------- Label Studio


def label_config(scheme: dict) -> str:
    """A Label Studio labelling config: the audio, one single-choice control per column and
    a rating per scale."""
    from xml.sax.saxutils import quoteattr

    parts = ['<View>', '  <Header value="$seral_id (rank $rank)"/>', '  <Audio name="audio" value="$audio"/>']
    for col, options in scheme.items():
        if isinstance(options, Scale):
            if options.low != 1:
                raise BadInput(f"--scale {col}={options.low}:{options.high}: Label Studio rates from 1; give 1:N")
            parts.append(f'  <Rating name={quoteattr(col)} toName="audio" maxRating="{options.high}" required="true"/>')
            continue
        parts.append(f'  <Choices name={quoteattr(col)} toName="audio" choice="single" showInline="true" required="true">')
        parts += [f"    <Choice value={quoteattr(o)}/>" for o in options]
        parts.append("  </Choices>")
    parts.append("</View>")
    return "\n".join(parts) + "\n"


class Clips:
    """WAV clips of export-tasks' spans and embedded rows, for directory ``directory``:
    written into a hidden staging directory inside it and moved to their names only by
    :meth:`commit`, so an export that fails part-way leaves no clips (leaving the block
    without commit removes them; a killed export's staging directory is removed by the
    next export into the same directory)."""

    PREFIX = ".seral-clips-"

    def __init__(self, directory: str):
        self.dir = Path(directory).resolve()
        self.stage: Path | None = None
        self.names: list[str] = []

    def __enter__(self) -> Clips:
        """Make the staging directory now: a place that cannot take the clips (read-only,
        not a directory) is an error before any work."""
        try:
            self._open_stage()
        except OSError as e:
            raise BadInput(f"--clips {self.dir}: cannot write clips there ({e.strerror or e}); give a directory "
                           "you can write to") from None
        return self

    def _open_stage(self) -> None:
        import tempfile

        self.dir.mkdir(parents=True, exist_ok=True)
        self._remove_stale()
        host = re.sub(r"[^A-Za-z0-9]", "", os.uname().nodename)[:32]  # a pid is only alive on its own host
        self.stage = Path(tempfile.mkdtemp(prefix=f"{self.PREFIX}{os.getpid()}-{host}-", dir=self.dir))

    def __exit__(self, *exc) -> None:
        if self.stage is not None:
            import shutil

            shutil.rmtree(self.stage, ignore_errors=True)
            self.stage = None

    def add(self, name: str, data: bytes) -> str:
        """Stage one clip; returns the path it will have."""
        if self.stage is None:
            self._open_stage()
        (self.stage / name).parent.mkdir(parents=True, exist_ok=True)
        (self.stage / name).write_bytes(data)
        self.names.append(name)
        return str(self.dir / name)

    def commit(self) -> None:
        try:
            for name in self.names:
                (self.dir / name).parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.stage / name, self.dir / name)
        except OSError as e:
            raise BadInput(f"{self.dir}: could not move the clips into place ({e.strerror}); run export-tasks again") from None
        self.__exit__()

    def _remove_stale(self) -> None:
        import shutil

        host = re.sub(r"[^A-Za-z0-9]", "", os.uname().nodename)[:32]
        for d in self.dir.glob(f"{self.PREFIX}*"):
            pid, _, rest = d.name[len(self.PREFIX):].partition("-")
            if pid.isdigit() and rest.startswith(f"{host}-") and not _alive(int(pid)):
                shutil.rmtree(d, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def label_studio_tasks(items: list[Item], *, url_prefix: str | None = None, root: str | None = None,
                       clips: Clips | None = None) -> tuple[list[dict], str]:
    """Label Studio tasks for the queue, in rank order, and the document root of their
    audio (for ``LOCAL_FILES_DOCUMENT_ROOT``). Audio: ``url_prefix`` + the path relative
    to ``root``, else a local-files URL. A segment or an embedded row has no file of its
    own: ``clips`` stages one WAV per such item (the caller commits them once the tasks
    are written); without it they are an error."""
    from urllib.parse import quote

    from seraltools.audio import Embedded, Segment

    files: list[str] = []
    for it in items:
        if isinstance(it.source, (Segment, Embedded)):
            if clips is None:
                raise BadInput(f"rank {it.rank} ({it.id}) is a span or an embedded row, which Label Studio cannot "
                               "play from a file; pass --clips DIR to write it as a WAV file there")
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", it.id)[:100]
            files.append(clips.add(f"{round_folder(items)}/{it.rank:06d}_{name}.wav", wav_bytes(it.source)))
        else:
            files.append(os.path.abspath(str(it.source)))
    files = [os.path.realpath(f) for f in files]
    base, storage = label_studio_places(files, root, need_storage=url_prefix is None)
    tasks = []
    for it, f in zip(items, files):
        rel = os.path.relpath(f, base)
        if rel == ".." or rel.startswith(".." + os.sep):
            raise BadInput(f"rank {it.rank}: {f} is not under --root {base}; give a --root above every file")
        rel = rel.replace(os.sep, "/")
        url = (url_prefix.rstrip("/") + "/" + quote(rel)) if url_prefix else "/data/local-files/?d=" + quote(rel)
        data = {"audio": url, "seral_id": it.id, "rank": it.rank}
        if it.speaker is not None:
            data["speaker"] = it.speaker
        tasks.append({"data": data})
    return tasks, base, storage


def round_folder(items: list[Item]) -> str:
    """The folder of one queue's clips under --clips: named for the queue (its ranked
    ids), so a next round's clips (ranked from 1 again) never meet this round's, and the
    same queue exported again writes the same files."""
    import hashlib

    digest = hashlib.blake2b("\n".join(f"{it.rank}\t{it.id}" for it in items).encode(), digest_size=4).hexdigest()
    return f"queue-{digest}"


def label_studio_places(files: list[str], root: str | None = None, *, need_storage: bool = True
                        ) -> tuple[str, str | None]:
    """(LOCAL_FILES_DOCUMENT_ROOT, the Local Storage's path) for ``files``: Label Studio
    takes a storage path only if it lies under the document root and is not the root
    itself. The storage is the deepest folder above every file; the root is ``root``,
    else the storage's parent."""
    common = os.path.commonpath([os.path.dirname(f) for f in files])
    base = os.path.realpath(root) if root else os.path.dirname(common)
    storage = common if common != base and label_studio_accepts(common, base) else None
    if storage is None and need_storage and not root:
        raise BadInput(f"the audio lies in {common}, which has no folder above it for Label Studio's document root; "
                       "give --url-prefix, or move the audio into a folder")
    if storage is None and need_storage and os.path.commonpath([common, base]) == base:
        raise BadInput(f"some audio lies directly in --root {base}; Label Studio's Local Storage must be a folder "
                       "under its document root, not the root itself: give --root the folder above")
    return base, storage


def label_studio_accepts(storage: str, document_root: str) -> bool:
    """Label Studio's rule for a Local Storage path (io_storages/localfiles): it starts
    with LOCAL_FILES_DOCUMENT_ROOT and is a folder under it, not the root itself."""
    storage, document_root = os.path.normpath(storage), os.path.normpath(document_root)
    return storage != document_root and storage.startswith(document_root.rstrip(os.sep) + os.sep)
