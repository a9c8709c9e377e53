"""``seral extract``: audio -> one feature vector per utterance.

:func:`extract` runs a registered extractor (:mod:`seraltools.features`) over the
utterances of a table made by :func:`seraltools.corpora.collect_inputs`, in
``workers`` processes, keeping the input order. With ``on_error="skip"`` a bad file
is listed and left out; otherwise the first bad file stops the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import signal
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import soundfile  # noqa: F401  (loaded before workers fork, so none of them pays for it)

from seraltools.errors import BadInput
from seraltools.features.runner import FileExtractor, init_worker, run_chunk
from seraltools.progress import progress
from seraltools.table import ID, set_column, set_features

ON_ERROR = ("fail", "skip")
#: ``workers=0`` (automatic) with a torch model: one process per this many files, up to
#: one per CPU. Starting a worker (Python, torch, the model) costs about 2 s; below this
#: one process with several threads (seraltools.compute.torch_threads) is faster.
TORCH_FILES_PER_WORKER = 1000


@dataclass
class Extracted:
    """The result of :func:`extract`: the feature table and what was left out."""

    table: pa.Table
    skipped: list[dict] = field(default_factory=list)  # {"id", "path", "reason"}
    total: int = 0
    audio_fingerprint: str = ""
    config: dict = field(default_factory=dict)


def extract(
    utterances: pa.Table,
    feat: str = "logmel",
    *,
    options: dict | None = None,
    workers: int = 0,
    on_error: str = "fail",
    quiet: bool = True,
    chunk: int = 16,
    engine: str = "local",
    address: str | None = None,
    threads: int = 0,
) -> Extracted:
    """Extract ``feat`` for every row of ``utterances`` (needs ``id`` and ``path``).

    Files go in chunks of ``chunk`` (a batch for extractors that batch) to ``workers``
    processes (``engine="local"``; 0 = one per CPU, see :data:`TORCH_FILES_PER_WORKER`; torch models with ``threads`` intra-op threads each,
    0 = :func:`seraltools.compute.torch_threads`) or ``workers`` Ray actors (``engine="ray"``, on the
    cluster at ``address`` or a local one; :mod:`seraltools.engines`). Returns the input
    table, rows in order, with ``duration`` and ``features`` set; skipped rows are dropped.
    """
    from seraltools.engines import check_engine

    check_engine(engine, address)
    if on_error not in ON_ERROR:
        raise BadInput(f"--on-error {on_error!r}: choose fail or skip")
    if workers < 0:
        raise BadInput(f"--workers {workers}: give 0 (automatic) or more")
    options = options or {}
    from seraltools.corpora import sources

    paths = sources(utterances)  # a path, or a Segment of it where the row has start/end
    ids = utterances.column(ID).to_pylist()
    runner = FileExtractor(feat, options)  # in this process too: fails fast on a bad feature name or model
    extractor = runner.extractor
    chunks = [paths[i : i + chunk] for i in range(0, len(paths), chunk)]
    # Every extractor runs over ``workers`` processes, each with its share of threads
    # (seraltools.compute). torch models get fresh (spawned) processes: forking a process
    # that has started torch's thread pool can deadlock. One GPU is one process.
    uses_torch = getattr(extractor, "uses_torch", False)
    if not workers:
        from seraltools.compute import cpu_workers

        workers = cpu_workers(0)
        if uses_torch:  # a spawned torch worker costs seconds to start: one per TORCH_FILES_PER_WORKER files
            workers = min(workers, max(1, len(paths) // TORCH_FILES_PER_WORKER))
    if getattr(extractor, "device", "cpu") != "cpu":
        workers = 1
    workers = min(workers, len(chunks)) or 1

    results = []
    with progress(len(paths), f"extract {feat}", quiet=quiet) as advance:
        if engine == "ray":
            from seraltools.engines import ray_extract

            raw = ray_extract(paths, feat, options, workers=workers, chunk=chunk, address=address,
                              uses_torch=uses_torch, advance=advance)
            results = [_check(r, on_error) for r in raw]
        elif workers == 1:
            from seraltools.compute import limited_threads, torch_threads

            with limited_threads(torch_threads(threads, 1) if uses_torch else 1), _deferred_interrupt() as check:
                for c in chunks:
                    results += [_check(r, on_error) for r in runner(c)]
                    advance(len(c))
                    check()
        else:
            from seraltools.compute import torch_threads

            per_worker = torch_threads(threads, workers) if uses_torch else 1
            context = multiprocessing.get_context("spawn" if uses_torch else None)
            pool = context.Pool(workers, initializer=init_worker,
                                initargs=(feat, options, os.getpid(), per_worker))
            try:
                with _deferred_interrupt() as check:  # Ctrl-C raises at the next chunk, wherever it lands
                    for c, rs in zip(chunks, pool.imap(run_chunk, [(feat, options, c) for c in chunks])):
                        results += [_check(r, on_error) for r in rs]
                        advance(len(c))
                        check()
                pool.close()
            except BaseException:  # Ctrl-C or a bad file: stop the workers now, not after the queue
                pool.terminate()
                raise
            finally:
                pool.join()

    keep = [i for i, r in enumerate(results) if r[0] is not None]
    skipped = [{"id": ids[i], "path": str(paths[i]), "reason": r[3]} for i, r in enumerate(results) if r[0] is None]
    table = utterances.take(pa.array(keep, pa.int64())) if skipped else utterances
    vectors = np.stack([results[i][0] for i in keep]) if keep else np.zeros((0, extractor.dim), np.float32)
    table = set_column(table, "duration", pa.array([results[i][1] for i in keep], pa.float32()))
    table = set_features(table, vectors)
    h = hashlib.blake2b(digest_size=16)
    for i in keep:
        h.update(f"{ids[i]}\0{results[i][2]}\n".encode())
    return Extracted(table, skipped, len(paths), h.hexdigest(), extractor.config())


@contextlib.contextmanager
def _deferred_interrupt():
    """Ctrl-C while this process reads audio: remember it, raise it between chunks.

    A KeyboardInterrupt raised inside a C callback (soundfile's reader) is printed and
    swallowed there, and the run would go on to write its output; so in this process
    SIGINT only sets a flag, and ``check()`` raises at the next chunk boundary."""
    import threading

    hit: list[int] = []

    def check() -> None:
        if hit:
            raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield check
        return
    old = signal.signal(signal.SIGINT, lambda signum, frame: hit.append(signum))
    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, old)


def parse_shard(spec: str) -> tuple[int, int]:
    """``"I/N"`` -> (I, N), 1 <= I <= N."""
    try:
        i, n = (int(v) for v in spec.split("/"))
    except ValueError:
        raise BadInput(f"--shard {spec!r}: give I/N, e.g. 3/8 for the third of eight shards") from None
    if not 1 <= i <= n:
        raise BadInput(f"--shard {spec}: I must be between 1 and N")
    return i, n


def shard(utterances: pa.Table, i: int, n: int) -> pa.Table:
    """The I-th of N contiguous, near-equal blocks of rows: the parts, in order, are the table."""
    rows = utterances.num_rows
    start, stop = (i - 1) * rows // n, i * rows // n
    return utterances.slice(start, stop - start)


def part_name(i: int, n: int) -> str:
    return f"part-{i:05d}-of-{n:05d}.parquet"


def _check(result, on_error: str):
    if result[0] is None and on_error == "fail":
        raise BadInput(f"{result[3]} (use --on-error skip to leave bad files out)")
    return result
