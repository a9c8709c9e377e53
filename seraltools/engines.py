"""Where the work runs: ``local`` (this machine's processes) or ``ray`` (a Ray cluster).

``seral extract --engine ray`` runs the extraction as a Ray Data job: the utterance list
becomes a dataset, ``map_batches`` runs a pool of worker actors that each build the
extractor (and load its model) once, one batch of files per call; GPUs are used when
the cluster has them and the feature runs on torch. ``seral evaluate al --engine ray``
runs the simulation's cells as Ray tasks. Ray retries the work of a worker that dies;
results are keyed by row (or cell), so none is lost or counted twice, and the output
is the local run's. Ray is an optional extra: ``pip install 'seraltools[ray]'``.
"""

from __future__ import annotations

import os

import numpy as np

from seraltools.errors import BadInput

ENGINES = ("local", "ray")
INSTALL = "pip install 'seraltools[ray]'"
RETRIES = 3


def check_engine(engine: str, address: str | None = None) -> None:
    if engine not in ENGINES:
        raise BadInput(f"--engine {engine!r}: choose local or ray")
    if address and engine != "ray":
        raise BadInput("--address goes with --engine ray")


def ray_init(address: str | None = None, workers: int | None = None):
    """Connect to the Ray cluster at ``address`` (or ``RAY_ADDRESS``), else start a local one."""
    try:
        import ray
    except ImportError:
        raise BadInput(f"--engine ray needs Ray: {INSTALL}") from None
    if not ray.is_initialized():
        address = address or os.environ.get("RAY_ADDRESS")
        import logging

        kwargs = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
        if not address and workers:
            kwargs["num_cpus"] = workers
        try:
            ray.init(address=address, **kwargs)
        except ConnectionError as e:
            raise BadInput(f"--address {address}: cannot reach a Ray cluster ({e})") from None
        import ray.data

        for name in ("ray", "ray.data"):  # seral draws its own progress; Ray's notes stay in its logs
            logging.getLogger(name).setLevel(logging.ERROR)
    return ray


# ----------------------------------------------------------------------------- extraction


def to_item(source) -> str:
    """A source (a path, a :class:`~seraltools.audio.Segment` or an
    :class:`~seraltools.audio.Embedded` row) as the text a Ray dataset carries: JSON of
    its kind and fields, so a span reaches the worker as a span, not as a path."""
    import json

    from seraltools.audio import Embedded, Segment

    if isinstance(source, Segment):
        return json.dumps(["segment", str(source.path), source.start, source.end])
    if isinstance(source, Embedded):
        return json.dumps(["embedded", str(source.parquet), int(source.row), source.start, source.end])
    return json.dumps(["path", str(source)])


def from_item(item: str):
    """The source :func:`to_item` made ``item`` of."""
    import json

    from seraltools.audio import Embedded, Segment

    kind, *fields = json.loads(str(item))
    return Segment(*fields) if kind == "segment" else Embedded(*fields) if kind == "embedded" else fields[0]



class _ExtractActor:
    """A Ray Data worker: the extractor built once, then batches of files."""

    def __init__(self, feat: str, options: dict):
        from seraltools.features.runner import FileExtractor

        self.runner = FileExtractor(feat, options)
        self.dim = self.runner.extractor.dim

    def __call__(self, batch: dict) -> dict:
        paths = [from_item(p) for p in batch["path"]]
        results = self.runner(paths)
        vectors = np.zeros((len(paths), self.dim), np.float32)
        for i, r in enumerate(results):
            if r[0] is not None:
                vectors[i] = r[0]
        return {"row": np.asarray(batch["row"], np.int64), "vector": vectors,
                "duration": np.array([r[1] if r[0] is not None else np.nan for r in results], np.float64),
                "digest": np.array([r[2] or "" for r in results], dtype=object),
                "error": np.array([r[3] or "" for r in results], dtype=object)}


def ray_extract(paths: list[str], feat: str, options: dict, *, workers: int, chunk: int,
                address: str | None = None, uses_torch: bool = False, advance=None) -> list[tuple]:
    """What :class:`seraltools.features.runner.FileExtractor` gives per path, in input order."""
    ray = ray_init(address, workers)
    gpus = ray.cluster_resources().get("GPU", 0)
    ds = ray.data.from_items([{"row": i, "path": to_item(p)} for i, p in enumerate(paths)],
                             override_num_blocks=max(1, min(len(paths), 4 * workers)))
    mapped = ds.map_batches(_ExtractActor, fn_constructor_args=(feat, options), batch_size=chunk,
                            compute=ray.data.ActorPoolStrategy(size=workers), num_gpus=1 if (uses_torch and gpus) else 0)
    # Ray Data restarts a dead worker actor and retries its batch (its actors default to
    # unlimited restarts and task retries)
    results: list = [None] * len(paths)
    for batch in mapped.iter_batches(batch_size=None, batch_format="numpy"):
        for j, row in enumerate(batch["row"]):
            row = int(row)
            if results[row] is not None:
                continue  # a retried batch that had already come back
            ok = not batch["error"][j]
            results[row] = ((batch["vector"][j], float(batch["duration"][j]), str(batch["digest"][j]), None) if ok
                            else (None, None, None, str(batch["error"][j])))
        if advance:
            advance(len(batch["row"]))
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
        raise RuntimeError(f"the Ray job returned no result for {len(missing)} utterances (first: {paths[missing[0]]})")
    return results


# ----------------------------------------------------------------------------- task grids


def ray_map(fn, args: list[tuple], address: str | None = None, workers: int | None = None):
    """``fn(*a)`` for each ``a`` as Ray tasks (retried when a worker dies), yielded in order.
    Arguments shared by every call (the same object) go to the object store once."""
    ray = ray_init(address, workers)
    remote = ray.remote(fn).options(max_retries=RETRIES)
    shared = {}
    if args:
        for pos, value in enumerate(args[0]):
            if all(a[pos] is value for a in args):
                shared[pos] = ray.put(value)
    refs = [remote.remote(*(shared.get(p, v) for p, v in enumerate(a))) for a in args]
    for ref in refs:
        yield ray.get(ref)
