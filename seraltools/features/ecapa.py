"""ECAPA-TDNN speaker embeddings (Desplanques et al. 2020) from a local SpeechBrain
model directory: the paper's second speaker embedding (Sec. 2).

``--model DIR`` names a directory laid out like SpeechBrain's ``spkrec-ecapa-voxceleb``:
``hyperparams.yaml`` (defining ``compute_features``, optionally ``mean_var_norm``, and
``embedding_model``) and ``embedding_model.ckpt`` (the embedding model's state dict).
SpeechBrain builds the modules from the YAML (``pip install 'seraltools[ecapa]'``);
the checkpoint is read with ``torch.load(weights_only=True)``. Nothing is downloaded:
``pretrained_path`` in the YAML is pointed at DIR. Like SpeechBrain's
``EncoderClassifier.encode_batch``: filterbank features, per-utterance mean
normalisation, the embedding model; each utterance runs on its own, so no padding
enters its embedding. Dimension: the model's (192 for the published VoxCeleb model).

No ECAPA weights exist on the machine seral is developed on; the loading path is
tested with a checkpoint written from SpeechBrain's own ``ECAPA_TDNN`` class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seraltools.errors import BadInput

INSTALL = "pip install 'seraltools[ecapa]'"


def load_speechbrain_ecapa(model_dir: Path, device: str):
    """(compute_features, mean_var_norm or None, embedding_model) from a SpeechBrain directory."""
    import torch

    yaml_path, ckpt = model_dir / "hyperparams.yaml", model_dir / "embedding_model.ckpt"
    for p in (yaml_path, ckpt):
        if not p.is_file():
            raise BadInput(f"{model_dir}: no {p.name}; --feat ecapa --model needs a SpeechBrain directory "
                           "with hyperparams.yaml and embedding_model.ckpt")
    try:
        from hyperpyyaml import load_hyperpyyaml
    except ImportError:
        raise BadInput(f"--feat ecapa needs SpeechBrain: {INSTALL}") from None
    try:
        with open(yaml_path) as f:
            hp = load_hyperpyyaml(f, overrides={"pretrained_path": str(model_dir)}, overrides_must_match=False)
    except ImportError as e:
        raise BadInput(f"{yaml_path}: {e}; {INSTALL}") from None
    except Exception as e:
        raise BadInput(f"{yaml_path}: not a SpeechBrain hyper-parameter file ({str(e).splitlines()[0]})") from None
    missing = [k for k in ("compute_features", "embedding_model") if k not in hp]
    if missing:
        raise BadInput(f"{yaml_path}: defines no {', '.join(missing)}")
    model = hp["embedding_model"]
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as e:
        raise BadInput(f"{ckpt}: does not fit the embedding_model of hyperparams.yaml ({str(e).splitlines()[0]})") from None
    return hp["compute_features"].to(device), hp.get("mean_var_norm"), model.to(device).eval()


class ECAPAFeatures:
    name = "ecapa"
    uses_torch = True  # spawned worker processes, threads from seraltools.compute

    def __init__(self, model: str | None = None, device: str = "cpu"):
        from seraltools.compute import resolve_device

        if not model:
            raise BadInput("--feat ecapa needs --model DIR, a SpeechBrain ECAPA-TDNN directory "
                           "(hyperparams.yaml + embedding_model.ckpt)")
        self.model_dir = Path(model)
        if not self.model_dir.is_dir():
            raise BadInput(f"{model}: not a directory; --feat ecapa --model takes a SpeechBrain model directory")
        self.device = resolve_device(device, f"--feat {self.name}")
        import torch

        self.features, self.norm, self.model = load_speechbrain_ecapa(self.model_dir, self.device)
        with torch.no_grad():
            self.dim = int(self._embed(np.zeros(16000, np.float32)).shape[-1])

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
