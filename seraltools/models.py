"""Model files (DESIGN.md): one safetensors file per model, its config in the metadata.

``save_model(path, kind, tensors, config)`` writes numpy arrays as safetensors with
metadata ``{"seral": JSON}`` holding the kind (``pca``, ``ae``, ``tsne``, ...), the
config needed to rebuild the model, and the seral version. Loading never runs code
from the file (no pickle). Writes are atomic.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from seraltools import __version__
from seraltools.errors import BadInput, first_line
from seraltools.table import atomic_path


def save_model(path: str | Path, kind: str, tensors: dict[str, np.ndarray], config: dict) -> None:
    from safetensors.numpy import save_file

    meta = {"seral": json.dumps({"kind": kind, "version": __version__, "config": config}, sort_keys=True)}
    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(arrays, tmp, metadata=meta)


def load_model(path: str | Path, kind: str | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """(header, tensors) of a seral model file; header = {"kind", "version", "config"}."""
    from safetensors import safe_open

    name = str(path)
    if not Path(name).is_file():
        raise BadInput(f"{name}: no such model file")
    try:
        with safe_open(name, framework="numpy") as f:
            raw = (f.metadata() or {}).get("seral")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for bad headers
        raise BadInput(f"{name}: not a safetensors model file ({first_line(e)})") from None
    if not raw:
        raise BadInput(f"{name}: a safetensors file without seral's model config; was it written by seral?")
    try:
        header = json.loads(raw)
    except ValueError as e:
        raise BadInput(f"{name}: damaged model file: its seral metadata is not JSON ({first_line(e)})") from None
    if not (isinstance(header, dict) and isinstance(header.get("kind"), str) and isinstance(header.get("config"), dict)):
        raise BadInput(f"{name}: damaged model file: its seral metadata lacks the model's kind and config")
    if kind is not None and header.get("kind") != kind:
        raise BadInput(f"{name}: holds a {header.get('kind')!r} model, not {kind!r}")
    return header, tensors



def stored_values(tensors: dict) -> int:
    """How many numbers a model file holds."""
    return int(sum(np.asarray(v).size for v in tensors.values()))


def check_sizes(name: str, config: dict, fields: tuple[str, ...], tensors: dict) -> None:
    """A model's size settings must be whole numbers >= 1 that its file can hold: each size
    is a dimension (or a count) of stored parameters, so none can exceed the numbers the
    file stores. Checked before anything is built (a 200-byte file whose config asks for
    160 GB is refused here)."""
    total = stored_values(tensors)
    for k in fields:
        v = config.get(k)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise BadInput(f"{name}: damaged model file: its config's {k} is {v!r}, not a size")
        if v > total:
            raise BadInput(f"{name}: damaged model file: its config asks for {k} {v:,}, but the file holds "
                           f"{total:,} numbers in all")


def check_shapes(name: str, build, tensors: dict, prefix: str = "") -> None:
    """Build the model ``build()`` makes on torch's meta device (no memory) and check that
    the file's tensors under ``prefix`` are exactly its parameters, shape for shape."""
    import torch

    try:
        with torch.device("meta"):
            module = build()
    except BadInput:
        raise
    except Exception as e:
        raise BadInput(f"{name}: damaged model file: its config does not describe a model ({first_line(e)})") from None
    want = {prefix + k: tuple(v.shape) for k, v in module.state_dict().items()}
    have = {k: tuple(np.asarray(v).shape) for k, v in tensors.items() if k.startswith(prefix)}
    if want != have:
        k = next(k for k in sorted(set(want) | set(have)) if want.get(k) != have.get(k))
        raise BadInput(f"{name}: damaged model file: its config asks for {k} of shape {want.get(k)}, the file "
                       f"holds {have.get(k)}; re-export or retrain the model")


def torch_weights(path, what: str):
    """``torch.load(path, weights_only=True)``: tensors and plain containers only, so no code
    runs from the file. A file holding other pickled objects is one line naming it, not
    torch's advice to load it unsafely; ``what``: the file the option expects."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only" in str(e).lower() or "weights_only" in str(e):
            raise BadInput(f"{path}: holds pickled Python objects besides tensors, which seral never loads (no code "
                           f"runs from a model file); give {what}") from None
        raise BadInput(f"{path}: not {what} ({first_line(e)})") from None
    except Exception as e:
        raise BadInput(f"{path}: not {what} ({first_line(e)})") from None
