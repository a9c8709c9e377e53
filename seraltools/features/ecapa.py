"""ECAPA-TDNN speaker embeddings (Desplanques et al. 2020) from a local SpeechBrain
model directory: the paper's second speaker embedding (Sec. 2).

``--model DIR`` names a directory laid out like SpeechBrain's ``spkrec-ecapa-voxceleb``:
``hyperparams.yaml`` (defining ``compute_features``, optionally ``mean_var_norm``, and
``embedding_model``) and ``embedding_model.ckpt`` (the embedding model's state dict).
The YAML is read with YAML's safe loader, never with HyperPyYAML: its tags are read as
data, ``!apply``/``!include`` are refused, and only the three modules above are built,
each from its one SpeechBrain class (:data:`MODULES`) with plain arguments (``!ref
<name>`` of a plain value allowed), so loading a directory runs no code from it
(``pip install 'seraltools[ecapa]'``). The checkpoint is read with
``torch.load(weights_only=True)``. Nothing is downloaded; other keys of the file
(``pretrainer``, ``classifier``, ...) are ignored. Like SpeechBrain's
``EncoderClassifier.encode_batch``: filterbank features, per-utterance mean
normalisation, the embedding model; each utterance runs on its own, so no padding
enters its embedding. Dimension: the model's (192 for the published VoxCeleb model).

No ECAPA weights exist on the machine seral is developed on; the loading path is
tested with a checkpoint written from SpeechBrain's own ``ECAPA_TDNN`` class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seraltools.errors import EXTRAS, BadInput, first_line

INSTALL = EXTRAS["ecapa"]


#: The modules seral builds from hyperparams.yaml, and the one class each may name.
MODULES = {
    "compute_features": "speechbrain.lobes.features.Fbank",
    "mean_var_norm": "speechbrain.processing.features.InputNormalization",
    "embedding_model": "speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN",
}


class _Tagged:
    """A HyperPyYAML tag (``!new:...``, ``!ref``, ...) read as data, never acted on."""

    def __init__(self, tag: str, value, line: int):
        self.tag, self.value, self.line = tag, value, line


def read_hyperparams(yaml_path: Path) -> dict:
    """hyperparams.yaml read with YAML's safe loader: HyperPyYAML's tags become inert
    :class:`_Tagged` values, so reading the file runs nothing. ``!apply`` (which calls a
    function when HyperPyYAML loads the file) and ``!include`` are refused wherever they are."""
    try:
        import yaml  # PyYAML, which SpeechBrain brings
    except ImportError:
        raise BadInput(f"--feat ecapa needs SpeechBrain: {INSTALL}") from None

    class Loader(yaml.SafeLoader):
        pass

    def tagged(loader, suffix, node):
        line = node.start_mark.line + 1
        if suffix.startswith(("apply", "include")):
            raise BadInput(f"{yaml_path}: line {line}: !{suffix.split(':')[0]} runs code or reads other files when "
                           "the file is loaded; seral refuses it (it builds only the ECAPA modules it needs)")
        if isinstance(node, yaml.MappingNode):
            value = loader.construct_mapping(node, deep=True)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_scalar(node)
        return _Tagged("!" + suffix, value, line)

    def no_aliases(self, parent, index):  # an alias tree can blow up exponentially; a model needs none
        if self.check_event(yaml.events.AliasEvent):
            line = self.peek_event().start_mark.line + 1
            raise BadInput(f"{yaml_path}: line {line}: YAML aliases (*name) are not accepted; write the value out")
        return yaml.SafeLoader.compose_node(self, parent, index)

    Loader.compose_node = no_aliases
    Loader.add_multi_constructor("!", tagged)
    try:
        with open(yaml_path) as f:
            hp = yaml.load(f, Loader=Loader)  # noqa: S506 (a SafeLoader subclass)
    except BadInput:
        raise
    except Exception as e:
        raise BadInput(f"{yaml_path}: not a SpeechBrain hyper-parameter file ({first_line(e)})") from None
    if not isinstance(hp, dict):
        raise BadInput(f"{yaml_path}: not a SpeechBrain hyper-parameter file (no mapping of names)")
    return hp


def _plain(value, hp: dict, where: str, depth: int = 0):
    """``value`` with every ``!ref <name>`` replaced by that top-level value; any other tag
    is refused (a module's arguments are plain numbers, strings and lists)."""
    if depth > 20:
        raise BadInput(f"{where}: !ref references loop")
    if isinstance(value, _Tagged):
        ref = value.value.strip() if isinstance(value.value, str) else ""
        if value.tag == "!ref" and ref.startswith("<") and ref.endswith(">") and ref[1:-1] in hp:
            return _plain(hp[ref[1:-1]], hp, where, depth + 1)
        raise BadInput(f"{where}: line {value.line}: {value.tag} {value.value!r} is not a plain value or a !ref <name> "
                       "of one; seral builds the ECAPA modules from plain arguments only")
    if isinstance(value, dict):
        return {k: _plain(v, hp, where, depth) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, hp, where, depth) for v in value]
    return value


def build_modules(yaml_path: Path) -> dict:
    """{name: module} for :data:`MODULES` (``mean_var_norm`` optional), each built from
    its one allowed SpeechBrain class with the file's plain arguments."""
    from importlib import import_module

    hp = read_hyperparams(yaml_path)
    modules = {}
    for name, cls in MODULES.items():
        node = hp.get(name)
        if node is None:
            if name == "mean_var_norm":
                continue
            raise BadInput(f"{yaml_path}: defines no {name}")
        if not isinstance(node, _Tagged) or node.tag != f"!new:{cls}":
            line = f"line {node.line}: " if isinstance(node, _Tagged) else ""
            raise BadInput(f"{yaml_path}: {line}{name} must be !new:{cls} (seral builds only the ECAPA modules, "
                           "from SpeechBrain's own classes)")
        kwargs = _plain(node.value, hp, str(yaml_path)) if node.value not in (None, "") else {}
        if not isinstance(kwargs, dict):
            raise BadInput(f"{yaml_path}: line {node.line}: {name} takes named arguments")
        module, _, attr = cls.rpartition(".")
        try:
            factory = getattr(import_module(module), attr)
        except ImportError:
            raise BadInput(f"--feat ecapa needs SpeechBrain: {INSTALL}") from None
        try:
            modules[name] = factory(**kwargs)
        except Exception as e:
            raise BadInput(f"{yaml_path}: line {node.line}: {name}: {attr} does not take these arguments "
                           f"({first_line(e)})") from None
    return modules


def load_speechbrain_ecapa(model_dir: Path, device: str):
    """(compute_features, mean_var_norm or None, embedding_model) from a SpeechBrain directory."""
    from seraltools.models import torch_weights

    yaml_path, ckpt = model_dir / "hyperparams.yaml", model_dir / "embedding_model.ckpt"
    for p in (yaml_path, ckpt):
        if not p.is_file():
            raise BadInput(f"{model_dir}: no {p.name}; --feat ecapa --model needs a SpeechBrain directory "
                           "with hyperparams.yaml and embedding_model.ckpt")
    modules = build_modules(yaml_path)
    model = modules["embedding_model"]
    state = torch_weights(ckpt, "a SpeechBrain embedding_model.ckpt (tensors)")
    try:
        model.load_state_dict(state)
    except Exception as e:
        raise BadInput(f"{ckpt}: does not fit the embedding_model of hyperparams.yaml ({first_line(e)})") from None
    return modules["compute_features"].to(device), modules.get("mean_var_norm"), model.to(device).eval()


class ECAPAFeatures:
    name = "ecapa"
    #: 5 filterbank frames (25 ms every 10 ms): the last TDNN block's reflect padding
    #: (kernel 3, dilation 4) needs more frames than it pads. Shorter files fail in the model.
    min_seconds = 0.04
    uses_torch = True  # spawned worker processes, threads from seraltools.compute

    def __init__(self, model: str | None = None, device: str = "auto"):
        from seraltools.compute import resolve_device

        if not model:
            raise BadInput("--feat ecapa needs --model DIR, a SpeechBrain ECAPA-TDNN directory "
                           "(hyperparams.yaml + embedding_model.ckpt)")
        self.model_dir = Path(model)
        if not self.model_dir.is_dir():
            raise BadInput(f"{model}: not a directory; --feat ecapa --model takes a SpeechBrain model directory")
        self.device = resolve_device(device, f"--feat {self.name}", extra="ecapa")
        import torch

        self.features, self.norm, self.model = load_speechbrain_ecapa(self.model_dir, self.device)
        try:
            with torch.no_grad():
                self.dim = int(self._embed(np.zeros(16000, np.float32)).shape[-1])
        except Exception as e:
            raise BadInput(f"{self.model_dir / 'hyperparams.yaml'}: compute_features and embedding_model do not fit "
                           f"together ({first_line(e)})") from None

    def config(self) -> dict:
        return {"model": str(self.model_dir), "dim": self.dim}

    def _embed(self, samples: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            wav = torch.from_numpy(np.asarray(samples, np.float32))[None].to(self.device)
            lengths = torch.ones(1, device=self.device)
            feats = self.features(wav)
            if self.norm is not None:
                feats = self.norm(feats, lengths)
            return self.model(feats, lengths).reshape(-1).cpu().numpy().astype(np.float32)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        return self._embed(samples)
