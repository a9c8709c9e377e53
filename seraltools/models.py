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
    header = json.loads(raw)
    if kind is not None and header.get("kind") != kind:
        raise BadInput(f"{name}: holds a {header.get('kind')!r} model, not {kind!r}")
    return header, tensors

