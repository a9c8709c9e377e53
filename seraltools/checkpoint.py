"""Training checkpoints: everything to continue a run exactly, without pickle.

A checkpoint is a safetensors file: the model's tensors (``model.*``), optional extra
tensor sets such as the best model so far (``best.*``), the optimiser's state
(``opt.<param>.<key>``) and torch's random state, with JSON metadata holding the
training state, the optimiser's parameter groups, the scheduler's state and the
config. :func:`load` refuses a checkpoint made with other settings (``must_match``),
on other training data (the config's ``data``, a :func:`fingerprint`) or damaged.
Used by ``train-cpc`` and ``pretrain``, as are the names of a run's files
(:func:`checkpoint_path`, :func:`log_path`) and its per-epoch or per-step CSV log.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from seraltools.errors import BadInput


def fingerprint(*parts) -> str:
    """A digest of a run's training data: arrays (dtype, shape and values), strings,
    numbers, and lists, tuples or dicts of them, in order."""
    h = hashlib.blake2b(digest_size=16)

    def add(x) -> None:
        if isinstance(x, np.ndarray):
            h.update(f"array {x.dtype} {x.shape};".encode())
            h.update(np.ascontiguousarray(x).tobytes())
        elif isinstance(x, (list, tuple)):
            h.update(f"seq {len(x)};".encode())
            for item in x:
                add(item)
        elif isinstance(x, dict):
            h.update(f"map {len(x)};".encode())
            for k in sorted(x, key=str):
                add(str(k))
                add(x[k])
        else:
            h.update(f"{type(x).__name__} {x!r};".encode())

    for part in parts:
        add(part)
    return h.hexdigest()


def checkpoint_path(out: str) -> str:
    """``OUT.ckpt``: the checkpoint beside the model file ``OUT``."""
    return str(out) + ".ckpt"


def log_path(out: str) -> str:
    """``OUT-stem.log.csv``: the training log beside the model file ``OUT``."""
    p = Path(out)
    return str(p.with_name(p.stem + ".log.csv"))


def write_log(out: str, history: list) -> None:
    """The log of a run, one row per dataclass in ``history`` (atomic)."""
    from dataclasses import fields

    from seraltools.table import atomic_path

    cols = [f.name for f in fields(history[0])] if history else []
    with atomic_path(log_path(out)) as tmp, open(tmp, "w") as f:
        f.write(",".join(cols) + "\n")
        for h in history:
            f.write(",".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in (getattr(h, c) for c in cols)) + "\n")


def _jsonable(v) -> bool:
    try:
        json.dumps(v)
        return True
    except TypeError:
        return False


def save(path: str, model, opt, sched, state: dict, config: dict, extra: dict | None = None) -> None:
    import torch
    from safetensors.torch import save_file

    from seraltools.table import atomic_path

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for prefix, tensor_set in (extra or {}).items():
        tensors.update({f"{prefix}.{k}": v.detach().cpu().contiguous() for k, v in (tensor_set or {}).items()})
    opt_state = opt.state_dict()
    for pid, s in opt_state["state"].items():
        for key, v in s.items():
            tensors[f"opt.{pid}.{key}"] = v.detach().cpu().contiguous() if torch.is_tensor(v) else torch.tensor(v)
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # dropout on a GPU draws from its generator
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    meta = {"state": json.dumps(state), "param_groups": json.dumps(opt_state["param_groups"]),
            "config": json.dumps(config)}
    if sched is not None:
        meta["scheduler"] = json.dumps({k: v for k, v in sched.state_dict().items() if _jsonable(v)})
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata=meta)


def load(path: str, model, opt, sched, config: dict, must_match, extra: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """Restore ``model``, ``opt``, ``sched`` and torch's random state; returns (state,
    {prefix: tensors} for each name in ``extra``)."""
    import torch
    from safetensors import safe_open

    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        saved = json.loads(meta["config"])
        json.loads(meta["state"])
    except Exception as e:  # safetensors raises its own error types for damaged files
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise BadInput(f"{path}: damaged checkpoint ({first}); remove it to start anew") from None
    if "data" in config and saved.get("data") != config["data"]:
        raise BadInput(f"{path}: the checkpoint was made on other training data (other files, labels or clusters); "
                       "resume with the same inputs, or remove the checkpoint to start anew")
    changed = {k for k in must_match if saved.get(k) != config.get(k)}
    if changed:
        raise BadInput(f"{path}: the checkpoint was made with other settings ({', '.join(sorted(changed))}); "
                       "resume with the same options, or remove the checkpoint to start anew")
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    groups = json.loads(meta["param_groups"])
    st: dict = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, pid, key = k.split(".", 2)
            st.setdefault(int(pid), {})[key] = v
    opt.load_state_dict({"state": st, "param_groups": groups})
    if sched is not None and "scheduler" in meta:
        sched_state = sched.state_dict()
        sched_state.update(json.loads(meta["scheduler"]))
        sched.load_state_dict(sched_state)
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted((k for k in tensors if k.startswith("rng.cuda.")), key=lambda k: int(k[9:]))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    sets = {p: {k[len(p) + 1 :]: v for k, v in tensors.items() if k.startswith(p + ".")} or None for p in extra}
    return json.loads(meta["state"]), sets
