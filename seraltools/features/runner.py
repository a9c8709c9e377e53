"""Running an extractor over audio files: the work of each process (or Ray actor).

A :class:`FileExtractor` holds one extractor (its model loaded once) and turns a chunk
of files into, per file, ``(vector, duration, digest, None)`` or ``(None, None, None,
reason)`` for a bad one. Extractors with a ``batch`` method (CPC) get a chunk's good
files at once; a file longer than :data:`STREAM_SECONDS` goes to an extractor with a
``stream`` method as a :class:`~seraltools.audio.AudioStream` (memory flat in its
length). :func:`seraltools.tools.extract.extract` runs one in its own process or one per pool
worker (:func:`init_worker`, :func:`run_chunk`); :mod:`seraltools.engines` one per Ray
actor.
"""

from __future__ import annotations

import functools
import json
import os
import signal

from seraltools.audio import SAMPLE_RATE, AudioStream, load_audio, out_of_memory
from seraltools.errors import BadInput, first_line
from seraltools.features import make_extractor
from seraltools.frontend import DEFAULT, num_frames

#: Files longer than this (seconds) go to extractors with a ``stream`` method as a stream
#: (:class:`seraltools.audio.AudioStream`): memory then stays flat in the file's length.
STREAM_SECONDS = 60.0


class FileExtractor:
    """The extractor ``feat`` (built with ``options``) over files: ``runner(paths)``."""

    def __init__(self, feat: str, options: dict):
        self.extractor = make_extractor(feat, **options)

    def __call__(self, paths: list) -> list[tuple]:
        """Per path: (vector, duration, digest, None) or (None, None, None, reason). When a
        batch fails, its files go one by one so that the failing one is named (and
        skipped under ``--on-error skip``)."""
        streamed = [self._streamed(p) for p in paths]
        loaded = [self._load(p) if s is None else (None, None, None, s[3]) for p, s in zip(paths, streamed)]
        good = [i for i, r in enumerate(loaded) if r[0] is not None]
        samples = [loaded[i][0] for i in good]
        vectors = None
        if hasattr(self.extractor, "batch") and samples:
            try:
                vectors = [(v, None) for v in self.extractor.batch(samples)]
            except Exception:
                vectors = None
        if vectors is None:
            vectors = [self._embed_one(paths[i], s) for i, s in zip(good, samples)]
        out = [(None, None, None, r[3]) if s is None else s for r, s in zip(loaded, streamed)]
        for i, (v, reason) in zip(good, vectors):
            out[i] = (v, loaded[i][1], loaded[i][2], None) if reason is None else (None, None, None, reason)
        return out

    def _load(self, path):
        """(samples, duration, digest, None) or (None, None, None, reason) for a bad file."""
        try:
            audio = load_audio(path)
            if num_frames(len(audio.samples)) == 0:
                raise BadInput(f"{path}: {audio.duration * 1000:.0f} ms of audio is shorter than one "
                               f"{DEFAULT.win_ms:.0f} ms frame; remove it from the input")
            shortest = getattr(self.extractor, "min_seconds", 0.0)
            if audio.duration < shortest:
                raise BadInput(f"{path}: {audio.duration * 1000:.0f} ms of audio is shorter than --feat "
                               f"{self.extractor.name}'s {shortest * 1000:.0f} ms; remove it from the input")
            return audio.samples, audio.duration, audio.digest, None
        except BadInput as e:
            return None, None, None, str(e)
        except MemoryError:
            return None, None, None, out_of_memory(path)

    def _streamed(self, path):
        """(vector, duration, digest, None) or (None, None, None, reason) for a file longer
        than STREAM_SECONDS given to an extractor that streams; None for any other file."""
        if not hasattr(self.extractor, "stream"):
            return None
        try:
            audio = AudioStream(path)
        except BadInput as e:
            return None, None, None, str(e)
        except MemoryError:
            return None, None, None, out_of_memory(path)
        if audio.seconds <= STREAM_SECONDS:
            return None
        from seraltools.compute import return_large_frees

        return_large_frees()
        vector, reason = self._embed_one(path, audio, self.extractor.stream)
        return (None, None, None, reason) if reason else (vector, audio.samples / SAMPLE_RATE, audio.digest, None)

    def _embed_one(self, source, samples, method=None):
        """(vector, None) or (None, reason): a model that fails on one file names the file."""
        label = str(source)
        try:
            return (method or self.extractor)(samples), None
        except BadInput as e:
            return None, str(e) if str(e).startswith(label) else f"{label}: {e}"
        except MemoryError:
            return None, out_of_memory(source)
        except Exception as e:
            return None, (f"{label}: --feat {self.extractor.name} failed on this file ({type(e).__name__}: "
                          f"{first_line(e)}); is it very short or unusual?")


@functools.lru_cache(maxsize=1)
def _process_extractor(feat: str, options: str) -> FileExtractor:
    return FileExtractor(feat, json.loads(options))


def process_extractor(feat: str, options: dict) -> FileExtractor:
    """This process's FileExtractor for ``feat`` and ``options``, built on first use."""
    return _process_extractor(feat, json.dumps(options, sort_keys=True))


def run_chunk(task: tuple) -> list[tuple]:
    """A pool worker's job: ``(feat, options, paths)`` -> :class:`FileExtractor` results."""
    feat, options, paths = task
    return process_extractor(feat, options)(paths)


def init_worker(feat: str, options: dict, parent: int, threads: int) -> None:
    """A pool worker's start: die with the parent, leave Ctrl-C to it, build the extractor
    (its model loaded once), use ``threads`` threads."""
    from seraltools.compute import die_with_parent, use_threads

    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the pool
    process_extractor(feat, options)
    use_threads(threads)  # parallelism is across files; more threads per worker only oversubscribe
