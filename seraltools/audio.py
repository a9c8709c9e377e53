"""Reading audio for every tool: any format libsndfile reads, any sample rate and
channel count, returned as mono float32 at :data:`SAMPLE_RATE` (16 kHz).

Channels are mixed to mono by their mean; other rates are resampled with a
polyphase filter (:func:`scipy.signal.resample_poly`, Kaiser window). Every
problem with a file is a :class:`~seraltools.errors.BadInput` naming the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import struct
from dataclasses import dataclass
from math import gcd
from pathlib import Path
from typing import NamedTuple, Union

import numpy as np

from seraltools.errors import BadInput

SAMPLE_RATE = 16_000

#: File suffixes picked up when a directory is given as input.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au")


@dataclass(frozen=True)
class Audio:
    """A decoded utterance: mono float32 samples at 16 kHz, and a digest of the file."""

    samples: np.ndarray
    source_rate: int
    digest: str  # blake2b of the file's bytes, for table history fingerprints

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


#: A span's end may pass the file's end by this much (seconds; rounding in manifests,
#: other tools' segment files): it is read to the end of the file.
OVERSHOOT = 0.01

#: Frames read from a file at a time: memory stays flat in the file's length.
READ_BLOCK = 1 << 18

#: The sample rates a file may declare (Hz): telephone speech (8 kHz) and below, to the fastest
#: converters (768 kHz). A header outside them is damaged or lying (a 1 Hz header makes
#: seconds of audio hours long; a prime one in MHz asks the resampler for gigabytes) and the
#: file is refused before anything is allocated for it.
MIN_RATE, MAX_RATE = 4_000, 768_000


def _check_wav_length(f, size: int, path: str) -> None:
    """Reject a RIFF/WAVE file whose data chunk is shorter than its header says.

    libsndfile silently reads what is there, so a truncated copy would otherwise
    pass as a shorter utterance. Reads only the chunk headers of the open file ``f``.
    """
    f.seek(0)
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return
    pos = 12
    while pos + 8 <= size:
        f.seek(pos)
        header = f.read(8)
        if len(header) < 8:
            return
        chunk, length = header[:4], struct.unpack("<I", header[4:])[0]
        if chunk == b"data":
            if length in (0, 0xFFFFFFFF):  # streaming writers leave the size open
                return
            have = size - pos - 8
            if have < length:
                raise BadInput(
                    f"{path}: truncated WAV file: its header announces {length} bytes of audio "
                    f"but only {have} are there; re-copy or re-export the file"
                )
            return
        pos += 8 + length + (length & 1)


def _open_regular(path: str):
    """The file opened for reading, or a one-line BadInput for what it is instead."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        kind = "a symlink to a missing file" if os.path.islink(path) else "no such file"
        raise BadInput(f"{path}: {kind}") from None
    except OSError as e:
        raise BadInput(f"{path}: cannot read ({e.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise BadInput(f"{path}: is a directory, not an audio file")
    if not stat.S_ISREG(st.st_mode):
        raise BadInput(f"{path}: not a regular file (a FIFO, socket or device); give audio files")
    if st.st_size == 0:
        raise BadInput(f"{path}: empty file (0 bytes); remove it from the input or re-export it")
    try:
        return open(path, "rb"), st.st_size
    except OSError as e:
        raise BadInput(f"{path}: cannot read ({e.strerror})") from None


def _digest(f) -> str:
    h = hashlib.blake2b(digest_size=16)
    f.seek(0)
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
    return h.hexdigest()


class Segment(NamedTuple):
    """A span of an audio file: ``start`` and ``end`` in seconds (None: the file's start or
    end). Every tool that reads audio takes one where it takes a path."""

    path: str
    start: float | None = None
    end: float | None = None

    def __str__(self) -> str:
        return f"{self.path} {_span_text(self.start, self.end)}"


def _span_text(start: float | None, end: float | None) -> str:
    """``[1.5-3 s]``: a span as messages name it (empty = file start/end, ? = not a number)."""
    def fmt(v):
        return "" if v is None else "?" if v != v else f"{v:g}"

    return f"[{fmt(start)}-{fmt(end)} s]"


class Embedded(NamedTuple):
    """Audio stored inside a Parquet file, as Hugging Face ``datasets`` writes it: row
    ``row`` of ``parquet``, whose ``audio`` column holds ``{bytes, path}``."""

    parquet: str
    row: int
    start: float | None = None
    end: float | None = None

    def __str__(self) -> str:
        span = "" if self.start is None and self.end is None else " " + _span_text(self.start, self.end)
        return f"{self.parquet} [row {self.row + 1}]{span}"


Source = Union[str, Path, Segment, Embedded]


def _span(source: Source) -> tuple[str, float | None, float | None]:
    if isinstance(source, (Segment, Embedded)):
        return str(source.path if isinstance(source, Segment) else source), source.start, source.end
    return str(source), None, None


#: The Parquet file last read from (path, file, first row of each row group) and its
#: last row group's audio column: rows are read in order, so each file is opened and
#: each row group read once per process.
_PARQUET: dict = {}
_ROW_GROUP: dict = {}


def _embedded_file(source: Embedded):
    """(file object, size) of the audio bytes of one row; a row without bytes whose
    ``path`` names a file next to the Parquet file (or absolute) reads that file."""
    import io

    import pyarrow.parquet as pq

    try:
        if source.parquet not in _PARQUET:
            _PARQUET.clear()
            pf = pq.ParquetFile(source.parquet)
            sizes = [pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)]
            _PARQUET[source.parquet] = (pf, np.cumsum([0] + sizes))
        pf, firsts = _PARQUET[source.parquet]
        if not 0 <= source.row < firsts[-1]:
            raise BadInput(f"{source}: the file has only {pf.metadata.num_rows} rows")
        group = int(np.searchsorted(firsts, source.row, side="right")) - 1
        start = int(firsts[group])
        key = (source.parquet, group)
        if key not in _ROW_GROUP:
            _ROW_GROUP.clear()
            _ROW_GROUP[key] = pf.read_row_group(group, columns=["audio"]).column("audio")
        cell = _ROW_GROUP[key][source.row - start].as_py() or {}
    except BadInput:
        raise
    except Exception as e:
        raise BadInput(f"{source}: cannot read its audio column ({type(e).__name__}: {e})") from None
    data = cell.get("bytes")
    if data is not None and not isinstance(data, (bytes, bytearray)):
        raise BadInput(f"{source}: the row's audio bytes are {type(data).__name__} data, not the bytes of an audio "
                       "file; fix the dataset's audio column (binary) or remove the row")
    if data:
        return io.BytesIO(data), len(data)
    if cell.get("path") is not None and not isinstance(cell.get("path"), str):
        raise BadInput(f"{source}: the row's audio path is {type(cell.get('path')).__name__} data, not a file name")
    if cell.get("path"):
        path = Path(cell["path"])
        return _open_regular(str(path if path.is_absolute() else Path(source.parquet).parent / path))
    raise BadInput(f"{source}: the row's audio has neither bytes nor a path; remove the row")


@contextlib.contextmanager
def _opened(source: Source, digest: bool = True):
    """(label, rate, digest or None, frames, mono float32 blocks at the file's rate) of a
    file or a span of it; only the span is read (soundfile seeks to it). ``digest=False``:
    None, the file's bytes are not hashed."""
    import soundfile as sf

    path, start, end = _span(source)
    label = str(source)
    for value in (start, end):
        if value is not None and not (np.isfinite(value) and value >= 0):
            raise BadInput(f"{label}: start and end must be numbers of seconds >= 0; fix the row or remove it")
    if start is not None and end is not None and end <= start:
        raise BadInput(f"{label}: end {end:g} is not after start {start:g}; fix the span or remove the row")
    f, size = _embedded_file(source) if isinstance(source, Embedded) else _open_regular(path)
    with f:
        _check_wav_length(f, size, label)
        whole = start is None and end is None
        digest = _digest(f) if whole and digest else None  # a span: hashed from its samples (never the whole file)
        f.seek(0)
        try:
            sound = sf.SoundFile(f)
        except Exception as e:  # libsndfile's errors carry no stable type across versions
            raise _unreadable(path, e) from None
        with sound:
            rate, frames = int(sound.samplerate), max(0, int(sound.frames))
            if not MIN_RATE <= rate <= MAX_RATE:
                raise BadInput(f"{label}: its header says {rate:,} Hz, not a sample rate audio is recorded at "
                               f"({MIN_RATE:,} to {MAX_RATE:,} Hz); the header is damaged: re-export the file "
                               "or leave it out")
            first = 0 if start is None else int(round(start * rate))
            stop = frames if end is None else int(round(end * rate))
            if not whole and (first < 0 or first >= frames or stop > frames + OVERSHOOT * rate or stop <= first):
                raise BadInput(f"{label}: the span is outside the file (it holds {frames / rate:.3f} s) or empty; "
                               "fix start/end or remove the row")
            stop = min(stop, frames)

            def blocks():
                try:
                    if first:
                        sound.seek(first)
                    left = stop - first if end is not None else float("inf")  # a whole file: to its end
                    while left > 0:
                        block = sound.read(int(min(READ_BLOCK, left)), dtype="float32", always_2d=True)
                        if not len(block):
                            break
                        left -= len(block)
                        if not np.isfinite(block).all():
                            raise BadInput(f"{label}: holds NaN or infinite samples (a damaged float file?); remove "
                                           "it from the input or re-export it")
                        yield block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
                except BadInput:
                    raise
                except Exception as e:
                    raise _unreadable(path, e) from None

            yield label, rate, digest, stop - first, blocks()


def load_audio(source: Source) -> Audio:
    """Read a file (or a :class:`Segment` of one) as mono float32 at 16 kHz.

    The file is decoded, mixed to mono and resampled :data:`READ_BLOCK` frames at a
    time, so memory holds the 16 kHz result and not the file's own rate and channels;
    a segment reads only its span. Raises :class:`BadInput` for a missing, empty,
    truncated, corrupt or non-audio file, one that is not a regular file, or a span
    outside the file.
    """
    with _opened(source) as (label, rate, digest, count, blocks):
        stream = Resampler(rate, expected=count)
        for block in blocks:
            stream.feed(block)
    if not stream.n_in:
        raise BadInput(f"{label}: holds no audio samples; remove it from the input")
    samples = stream.result()
    if digest is None:
        _, start, end = _span(source)
        h = hashlib.blake2b(f"{start}-{end}\n".encode(), digest_size=16)
        h.update(samples.tobytes())
        digest = h.hexdigest()
    return Audio(samples, rate, digest)


@contextlib.contextmanager
def stream_audio(source: Source):
    """``with stream_audio(src) as (seconds, blocks)``: 16 kHz mono float32 blocks of a
    file or segment, the samples of :func:`load_audio` a block at a time, for work whose
    memory must not grow with the recording (``seral segment``)."""
    with _opened(source) as (_, rate, _, count, blocks):
        yield count / rate, resampled(blocks, rate)


class AudioStream:
    """A file or span read as 16 kHz mono float32 blocks, in as many passes as a method
    needs (:meth:`blocks` opens it again each time): the samples of :func:`load_audio`
    without ever holding them. Opening checks the file as :func:`load_audio` does;
    ``seconds`` is its length from the header, ``digest`` the file's (a span's: known
    after the first whole pass, hashed from its samples as :func:`load_audio` does)."""

    def __init__(self, source: Source):
        self.source = source
        with _opened(source, digest=False) as (self.label, rate, _, count, _):
            self.seconds = count / rate
        self.digest = None  # set by the first whole pass
        self.samples = None  # 16 kHz samples, counted by the first whole pass

    def blocks(self):
        _, start, end = _span(self.source)
        whole = start is None and end is None
        h = None
        if self.digest is None and not whole:
            h = hashlib.blake2b(f"{start}-{end}\n".encode(), digest_size=16)
        n = 0
        with _opened(self.source, digest=self.digest is None and whole) as (_, rate, digest, _, raw):
            for block in resampled(raw, rate):
                n += len(block)
                if h is not None:
                    h.update(block.tobytes())
                yield block
        if not n:
            raise BadInput(f"{self.label}: holds no audio samples; remove it from the input")
        self.samples = n
        self.digest = self.digest or digest or (h.hexdigest() if h is not None else None)

    def read(self) -> np.ndarray:
        """All the samples at once (what :func:`load_audio` returns)."""
        return np.concatenate(list(self.blocks()))


def rechunked(blocks, size: int):
    """The samples of ``blocks`` again, in blocks of exactly ``size`` (the last: the rest)."""
    buf, held = [], 0
    for block in blocks:
        buf.append(block)
        held += len(block)
        if held >= size:
            joined = np.concatenate(buf)
            cut = held - held % size
            yield from (joined[i : i + size] for i in range(0, cut, size))
            buf, held = [joined[cut:]], held - cut
    if held:
        yield np.concatenate(buf)


def out_of_memory(source) -> str:
    """The one-line reason for a file whose reading (or features) ran out of memory."""
    return (f"{source}: ran out of memory reading it (is its header damaged, or is it far longer than the "
            "others?); leave it out, or give it more memory")


def _unreadable(path: str, e: Exception) -> BadInput:
    import re

    msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
    msg = re.sub(r"^Error opening <[^>]*>:\s*", "", msg)  # libsndfile names the file object, not the file
    msg = re.sub(r"<[^>]* at 0x[0-9a-f]+>", "the file", msg).strip().rstrip(".")
    if "not recognised" in msg.lower() or "not recognized" in msg.lower():
        return BadInput(f"{path}: not audio in a format libsndfile reads ({msg}); seral takes audio files "
                        f"({', '.join(AUDIO_SUFFIXES)}), directories, manifests (.csv, .tsv, .parquet with a "
                        "'path' column) and Kaldi data directories (wav.scp)")
    return BadInput(f"{path}: not readable as audio ({msg}); is it a corrupt or non-audio file?")


def resample(x: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Resample a mono signal from ``rate`` to ``target`` Hz (polyphase, Kaiser window)."""
    if rate == target:
        return x
    from scipy.signal import resample_poly

    g = gcd(int(rate), int(target))
    return resample_poly(x, target // g, int(rate) // g).astype(np.float32, copy=False)


class _Buffer:
    """A float32 array filled block by block: allocated once for the expected length
    (grown if more comes), so memory holds the signal once, not its blocks and a copy."""

    #: The most allocated up front: a header's frame count can be wrong (or hostile); beyond
    #: it the buffer grows as samples really arrive.
    MAX_INITIAL = 1 << 26

    def __init__(self, capacity: int = 0):
        self.data = np.empty(min(max(capacity, 1 << 16), self.MAX_INITIAL), np.float32)
        self.size = 0

    def append(self, x: np.ndarray) -> None:
        if self.size + len(x) > len(self.data):
            grown = np.empty(max(2 * len(self.data), self.size + len(x)), np.float32)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : self.size + len(x)] = x
        self.size += len(x)

    def take(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        stop = self.size if stop is None else min(stop, self.size)
        if start == 0 and stop == len(self.data):
            return self.data
        out = self.data[start:stop]
        return out.copy() if len(out) < len(self.data) // 2 else out  # don't pin a mostly unused buffer


def resampled(blocks, rate: int, target: int = SAMPLE_RATE):
    """16 kHz (``target``) blocks of a signal given as blocks at ``rate``: the samples of
    :func:`resample` of the whole signal, without ever holding it."""
    if int(rate) == int(target):
        yield from blocks
        return
    ready: list[np.ndarray] = []
    r = Resampler(rate, target, sink=ready.append)
    skip, emitted, total = r.pre_remove, 0, None

    def flush():
        nonlocal skip, emitted
        for y in ready:
            if skip:
                cut = min(skip, len(y))
                y, skip = y[cut:], skip - cut
            if total is not None:
                y = y[: max(0, total - emitted)]
            if len(y):
                emitted += len(y)
                yield y
        ready.clear()

    for block in blocks:
        r.feed(block)
        yield from flush()
    r._filter(final=True)
    total = -(-r.n_in * r.up // r.down)
    yield from flush()


class Resampler:
    """:func:`resample` of a signal fed block by block, holding only the output.

    Signals up to :data:`WHOLE` input samples are resampled at once by :func:`resample`
    (bitwise as before); longer ones run through the same polyphase filter
    (``scipy.signal.upfirdn``, the filter of ``resample_poly``) a block at a time, with
    the filter's length of context carried over, so the output is the same samples.
    """

    WHOLE = 1 << 23  # about 3 min at 44.1 kHz

    def __init__(self, rate: int, target: int = SAMPLE_RATE, expected: int = 0, sink=None):
        """``expected``: the input's length when known (a file's frame count), so that
        memory for the result is allocated once. ``sink``: stream from the first sample,
        handing each filtered block to ``sink`` (see :func:`resampled`) instead of
        keeping the result."""
        self.rate, self.target = int(rate), int(target)
        g = gcd(self.rate, self.target)
        self.up, self.down = self.target // g, self.rate // g
        self.expected = max(0, int(expected))
        self.whole = _Buffer(min(self.expected, self.WHOLE) if self.up != self.down else self.expected)
        self.pending: list[np.ndarray] = []  # streaming: input not yet filtered
        self.n_in = 0
        self.out: _Buffer | None = None  # streaming: filtered output
        self.h = None
        self.sink = sink
        if sink is not None and self.up != self.down:
            self._design()
            self.whole = None

    def feed(self, x: np.ndarray) -> None:
        x = np.ascontiguousarray(x, dtype=np.float32)
        self.n_in += len(x)
        if self.h is None:
            self.whole.append(x)
            if self.up != self.down and self.n_in > self.WHOLE:  # long: stream from here on
                self._design()
                self.pending = [self.whole.take()]
                self.whole = None
                self._filter(final=False)
        else:
            self.pending.append(x)
            self._filter(final=False)

    def result(self) -> np.ndarray:
        if self.h is None:  # the whole signal at once (resample_poly itself)
            x = self.whole.take()
            return x if self.up == self.down else resample(x, self.rate, self.target)
        self._filter(final=True)
        n_out = -(-self.n_in * self.up // self.down)
        return self.out.take(self.pre_remove, self.pre_remove + n_out)

    def _design(self) -> None:
        from scipy.signal import firwin

        max_rate = max(self.up, self.down)
        half_len = 10 * max_rate
        h = firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0)).astype(np.float32)
        h *= self.up
        pre_pad = self.down - half_len % self.down
        self.h = np.concatenate((np.zeros(pre_pad, np.float32), h))
        self.pre_remove = (half_len + pre_pad) // self.down
        # context: input samples that every output of a block needs from before it, rounded to whole `down`s
        context = -(-len(self.h) // self.up) + 1
        self.context = -(-context // self.down) * self.down
        self.tail = np.zeros(self.context, np.float32)  # before the signal: zeros, as upfirdn assumes
        self.block = -(-READ_BLOCK // self.down) * self.down
        if self.sink is None:
            n_out = -(-max(self.expected, self.n_in) * self.up // self.down)
            self.out = _Buffer(n_out + self.pre_remove + len(self.h))
            self.sink = self.out.append

    def _filter(self, final: bool) -> None:
        from scipy.signal import upfirdn

        x = (self.pending[0] if len(self.pending) == 1 else
             np.concatenate(self.pending) if self.pending else np.zeros(0, np.float32))
        usable = len(x) if final else len(x) // self.block * self.block
        skip = self.context * self.up // self.down
        for start in range(0, usable, self.block):
            piece = x[start : min(start + self.block, usable)]
            seg = np.concatenate((self.tail, piece))
            if final and start + self.block >= usable:  # the filter's tail past the end of the signal
                seg = np.concatenate((seg, np.zeros(len(self.h) // self.up + self.down + 1, np.float32)))
                self.sink(upfirdn(self.h, seg, self.up, self.down)[skip:])
            else:
                self.sink(upfirdn(self.h, seg, self.up, self.down)[skip : skip + len(piece) * self.up // self.down])
            self.tail = seg[len(seg) - self.context :]
        if final and not usable:
            seg = np.concatenate((self.tail, np.zeros(len(self.h) // self.up + self.down + 1, np.float32)))
            self.sink(upfirdn(self.h, seg, self.up, self.down)[skip:])
        rest = x[usable:]
        self.pending = [rest.copy()] if len(rest) else []
