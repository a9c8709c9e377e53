"""People label the queue: ``seral annotate`` (a local web page) and ``seral export-tasks``
(Label Studio).

The MAL paper ends on annotation platforms: the queue of ``mal-select`` is what people
listen to and label. Two ways from the queue to labels and back:

- :class:`AnswerLog` and :func:`serve`: a page on 127.0.0.1 that walks the queue in rank
  order, plays each utterance (only its span for a segment) and appends every answer
  at once to a CSV (id, label columns, annotator, time). One ``os.write`` per line
  under a lock (threads and ``flock`` for other processes), then ``fsync``, before the
  page is told the answer is kept: a crash or kill loses no acknowledged answer and
  tears no line. Read back with :func:`seraltools.labels.read_labels` (the last answer
  per id counts). URLs name queue positions, never files: no path from a request
  reaches the file system.
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
from typing import Any

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


def parse_scheme(columns: list[str] | None, choices: list[str] | None) -> dict[str, list[str]]:
    """``--column``/``--choices`` pairs -> {column: [choices]}; the column defaults to emotion."""
    columns = list(columns or []) or ["emotion"]
    choices = list(choices or [])
    if not choices:
        raise BadInput("--choices: give the labels to choose from, e.g. --choices anger,happiness,neutral,sadness")
    if len(choices) != len(columns):
        raise BadInput(f"{len(columns)} --column and {len(choices)} --choices: give one --choices per --column, "
                       "in the same order")
    scheme: dict[str, list[str]] = {}
    for col, text in zip(columns, choices):
        options = [c.strip() for c in text.split(",") if c.strip()]
        if len(options) < 2 or len(set(options)) != len(options):
            raise BadInput(f"--choices {text!r}: give two or more different labels separated by commas")
        from seraltools.labels import bookkeeping
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
    return scheme


def queue_items(table, source: str) -> list[Item]:
    """The rows to label in rank order (rows without a rank are not in the queue); a table
    without ``rank`` (a manifest-like table) in its own order."""
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
    return [Item(int(r), ids[i], srcs[i], None if speakers[i] is None else str(speakers[i]), durations[i])
            for r, i in rows]


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


class AnswerLog:
    """The labels CSV: ``id, <label columns>, annotator, time``, one line per answer,
    appended. Safe for threads of one server and for several servers on one file."""

    def __init__(self, path: str | os.PathLike, columns: list[str]):
        self.path = Path(path)
        self.header = ["id", *columns, "annotator", "time"]
        self._lock = threading.Lock()
        if self.path.exists() and not self.path.is_file():
            raise BadInput(f"{self.path}: not a regular file; give a CSV file for the labels")
        if str(path) == "-" or self.path.suffix.lower() not in (".csv", ""):
            raise BadInput(f"{self.path}: the labels file is a CSV file seral appends to; name it .csv")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.torn = self._check()
        except OSError as e:
            raise BadInput(f"{self.path}: cannot write it ({e.strerror or e}); give another labels file") from None

    def _check(self) -> int:
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
            if first != self.header:
                raise BadInput(f"{self.path}: has columns {','.join(first)}, not {','.join(self.header)}; "
                               "give the same --column options as before, or a new labels file")
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

    def append(self, utterance: str, values: dict[str, str], annotator: str) -> str:
        """Append one answer and make it durable; returns its time (UTC, ISO 8601)."""
        import fcntl

        time = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        line = self._line([utterance, *(values.get(c, "") for c in self.header[1:-2]), annotator, time])
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                size = os.fstat(fd).st_size
                try:
                    written = os.write(fd, line)  # one write of the whole line
                except OSError:
                    written = -1
                if written != len(line):  # disk full, a file-size limit: undo, and the page hears it
                    os.ftruncate(fd, size)
                    raise OSError("the labels file could not take the answer (disk full?)")
                os.fsync(fd)
            finally:
                os.close(fd)
        return time

    def answers(self, annotator: str | None = None) -> dict[str, dict[str, str]]:
        """id -> the last answer (label column -> value), of one annotator or of anyone."""
        import fcntl

        out: dict[str, dict[str, str]] = {}
        with self._lock, open(self.path, newline="", encoding="utf-8", errors="replace") as f:  # never dropped
            fcntl.flock(f.fileno(), fcntl.LOCK_SH)  # never half a line another process is writing
            reader = csv.reader(f)
            next(reader, None)
            for row in reader:
                if len(row) != len(self.header) or (annotator is not None and row[-2] != annotator):
                    continue
                out[row[0]] = dict(zip(self.header[1:-2], row[1:-2]))
        return out


def check_annotator(name: str) -> str:
    if not isinstance(name, str) or not ANNOTATOR.fullmatch(name):
        raise BadInput(f"annotator {name!r}: use 1-64 letters, digits, '_', '.', '@' or '-'")
    return name


class Annotation:
    """What the page talks to: the queue, the label scheme and the answer log."""

    def __init__(self, items: list[Item], scheme: dict[str, list[str]], log: AnswerLog):
        self.items, self.scheme, self.log = items, scheme, log
        self.by_id = {it.id: it for it in items}

    def state(self, annotator: str) -> dict:
        answers = self.log.answers(annotator)
        return {
            "annotator": annotator,
            "columns": [{"name": c, "choices": ch} for c, ch in self.scheme.items()],
            "items": [{"rank": it.rank, "id": it.id, "speaker": it.speaker, "duration": it.duration}
                      for it in self.items],
            "answers": {i: a for i, a in answers.items() if i in self.by_id},
        }

    def answer(self, payload: dict) -> dict:
        """Validate and keep one answer: {"annotator", "id", "values": {column: choice}}."""
        annotator = check_annotator(str(payload.get("annotator", "")))
        utterance = str(payload.get("id", ""))
        if utterance not in self.by_id:
            raise BadInput(f"id {utterance!r} is not in the queue")
        values = payload.get("values")
        if not isinstance(values, dict) or not values:
            raise BadInput("no label given")
        for col, value in values.items():
            if col not in self.scheme:
                raise BadInput(f"column {col!r} is not one of {', '.join(self.scheme)}")
            if value not in self.scheme[col]:
                raise BadInput(f"{col} {value!r} is not one of {', '.join(self.scheme[col])}")
        missing = [c for c in self.scheme if c not in values]
        if missing:  # an answer is whole: a partial one would blank the others when read back
            raise BadInput(f"no {', '.join(missing)} given; an answer gives every column")
        time = self.log.append(utterance, {c: str(v) for c, v in values.items()}, annotator)
        return {"ok": True, "time": time}


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
                annotator: str = "annotator", token: str | None = None):
    """A threading HTTP server (standard library) for the page; ``serve_forever`` runs it.
    ``annotation`` may be set later (``server.annotation``): the port is taken before the
    labels file is made.

    ``token``: every request must carry it (``?token=`` once, then the cookie the page
    gets, or an ``X-Seral-Token`` header); an address other than loopback is refused
    without one. Connections that send nothing for :data:`IDLE_TIMEOUT` seconds are
    closed, and at most :func:`connection_cap` are open at once: a new one closes the
    connection that has waited longest for a request, so idle sockets cannot lock
    annotators out."""
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
                name = parse_qs(url.query).get("annotator", [annotator])[0]
                try:
                    return self._json(HTTPStatus.OK, self.server.annotation.state(check_annotator(name)))
                except BadInput as e:
                    return self._json(HTTPStatus.BAD_REQUEST, {"error": str(e)})
            m = re.fullmatch(r"/audio/([0-9]{1,9})\.wav", url.path)
            if m and int(m.group(1)) < len(self.server.annotation.items):
                item = self.server.annotation.items[int(m.group(1))]
                try:
                    body = wav_bytes(item.source)
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


def label_config(scheme: dict[str, list[str]]) -> str:
    """A Label Studio labelling config: the audio and one single-choice control per column."""
    from xml.sax.saxutils import quoteattr

    parts = ['<View>', '  <Header value="$seral_id (rank $rank)"/>', '  <Audio name="audio" value="$audio"/>']
    for col, options in scheme.items():
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
        (self.stage / name).write_bytes(data)
        self.names.append(name)
        return str(self.dir / name)

    def commit(self) -> None:
        try:
            for name in self.names:
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
            files.append(clips.add(f"{it.rank:06d}_{name}.wav", wav_bytes(it.source)))
        else:
            files.append(os.path.abspath(str(it.source)))
    files = [os.path.realpath(f) for f in files]
    base = os.path.realpath(root) if root else os.path.commonpath([os.path.dirname(f) for f in files])
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
    return tasks, base
