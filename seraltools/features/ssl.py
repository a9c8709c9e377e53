"""Self-supervised speech models: mean-pooled hidden states of a local wav2vec 2.0,
HuBERT, WavLM or data2vec-audio checkpoint (``--feat ssl --model DIR [--layer N|mean]``).

The utterance vector is the mean over the utterance's frames of one layer's hidden
states (``--layer N``: 0 = the transformer's input, the projected CNN features; the
number of transformer layers = the last, the default) or the unweighted mean of all of
them (``--layer mean``). Loaded with ``transformers`` from DIR only (``config.json`` and
``model.safetensors``): a hub id is an error that says to download it first, and pickle
weights (``pytorch_model.bin``) are refused, since loading them can run code (convert
them with ``transformers``' ``save_pretrained(..., safe_serialization=True)`` on a
trusted machine). Samples are normalised to zero mean and unit variance per utterance
when the checkpoint's ``preprocessor_config.json`` says ``do_normalize``.

Batches: models with layer-normalised CNN features (wav2vec 2.0 large, HuBERT large,
WavLM) take padded batches with an attention mask, and pooling covers only the real
frames, so a batch gives the vectors of one utterance at a time; models with
group-normalised CNN features (the base models, trained without attention masks: the
normalisation spans the padding) run one utterance at a time.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from seraltools.errors import BadInput

MODEL_TYPES = ("wav2vec2", "hubert", "wavlm", "data2vec-audio", "wav2vec2-conformer")
BATCH_SIZE = 8


def check_checkpoint(model: str | None) -> Path:
    """The checkpoint directory, or a one-line error that says what is wrong with it."""
    if not model:
        raise BadInput("--feat ssl needs --model DIR: a local wav2vec 2.0 / HuBERT / WavLM checkpoint directory")
    d = Path(model)
    if not d.exists():
        hint = (" (that looks like a Hugging Face hub id; seral downloads nothing: download it first, e.g. "
                f"`hf download {model} --local-dir DIR`, and give DIR)") if "/" in model and not model.startswith(("/", ".")) else ""
        raise BadInput(f"--model {model}: no such directory{hint}")
    if not d.is_dir():
        raise BadInput(f"--model {model}: not a directory; give a Hugging Face checkpoint directory (config.json + weights)")
    if not (d / "config.json").is_file():
        raise BadInput(f"--model {model}: no config.json; give a Hugging Face checkpoint directory")
    try:
        model_type = json.loads((d / "config.json").read_text()).get("model_type")
    except (ValueError, OSError, AttributeError) as e:
        raise BadInput(f"--model {model}: config.json is not readable JSON ({e})") from None
    if model_type not in MODEL_TYPES:
        raise BadInput(f"--model {model}: model_type {model_type!r} is not a speech SSL model "
                       f"({', '.join(MODEL_TYPES)})")
    if not any(d.glob("*.safetensors")):
        pickled = [p.name for p in d.glob("*.bin")]
        raise BadInput(f"--model {model}: no safetensors weights" + (
            f"; {pickled[0]} is a pickle, which can run code when loaded: convert it with transformers' "
            "save_pretrained(DIR, safe_serialization=True) where you trust it" if pickled else ""))
    return d


def min_samples(kernels, strides) -> int:
    """The fewest samples that give one frame from the CNN feature encoder."""
    need = 1
    for k, s in reversed(list(zip(kernels, strides))):
        need = (need - 1) * s + k
    return need


class SSLFeatures:
    name = "ssl"
    uses_torch = True  # spawned worker processes, threads from seraltools.compute

    def __init__(self, model: str | None = None, device: str = "cpu", layer: str | None = None,
                 batch_size: int = BATCH_SIZE):
        from seraltools.compute import require_torch, resolve_device

        d = check_checkpoint(model)
        require_torch("--feat ssl", "ssl")
        self.layers = int(json.loads((d / "config.json").read_text()).get("num_hidden_layers", 12))
        self.layer = self._layer(layer)  # checked before the model loads
        try:
            import transformers
            from transformers import AutoModel
        except ImportError as e:
            raise BadInput("--feat ssl needs transformers, which is not installed: pip install 'seraltools[ssl]'") from e
        transformers.utils.logging.disable_progress_bar()  # stderr is seral's: one bar, one line per error
        transformers.utils.logging.set_verbosity_error()
        self.device = resolve_device(device, "--feat ssl", "ssl")
        try:
            self.model = AutoModel.from_pretrained(str(d), local_files_only=True, use_safetensors=True,
                                                   trust_remote_code=False)
        except Exception as e:  # transformers' errors: a bad config, weights of another shape ...
            from seraltools.errors import first_line

            raise BadInput(f"--model {model}: transformers could not load it ({type(e).__name__}: "
                           f"{first_line(e)})") from None
        self.model.to(self.device).eval()
        cfg = self.model.config
        self.dim = int(cfg.hidden_size)
        self.masked = getattr(cfg, "feat_extract_norm", "group") == "layer"
        pre = d / "preprocessor_config.json"
        self.normalize = bool(json.loads(pre.read_text()).get("do_normalize", False)) if pre.is_file() else False
        rate = json.loads(pre.read_text()).get("sampling_rate", 16000) if pre.is_file() else 16000
        if rate != 16000:
            raise BadInput(f"--model {model}: expects {rate} Hz audio; seral's features take 16 kHz")
        self.min_seconds = min_samples(cfg.conv_kernel, cfg.conv_stride) / 16000
        self.model_path, self.model_type = str(d), cfg.model_type
        self.batch_size = max(1, int(batch_size))

    def _layer(self, layer: str | None):
        if layer in (None, "", "last"):
            return self.layers
        if layer == "mean":
            return "mean"
        try:
            n = int(layer)
        except ValueError:
            n = -1
        if not 0 <= n <= self.layers:
            raise BadInput(f"--layer {layer!r}: give 0 to {self.layers} (this model's transformer layers) or mean")
        return n

    def config(self) -> dict:
        return {"model": self.model_path, "model_type": self.model_type, "layer": self.layer,
                "layers": self.layers, "pooling": "mean over frames", "normalize": self.normalize,
                "batched": self.masked}

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        return self.batch([samples])[0]

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self.normalize:
            x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
        return x

    def batch(self, batch: list[np.ndarray]) -> np.ndarray:
        out = np.empty((len(batch), self.dim), dtype=np.float32)
        size = self.batch_size if self.masked else 1
        order = np.argsort([len(b) for b in batch], kind="stable")  # similar lengths pad little
        for i in range(0, len(order), size):
            rows = order[i:i + size]
            out[rows] = self._forward([self._prepare(batch[r]) for r in rows])
        return out

    def _forward(self, waves: list[np.ndarray]) -> np.ndarray:
        import torch

        lengths = np.array([len(w) for w in waves])
        x = np.zeros((len(waves), lengths.max()), dtype=np.float32)
        for j, w in enumerate(waves):
            x[j, :len(w)] = w
        xt = torch.from_numpy(x).to(self.device)
        mask = torch.from_numpy(np.arange(x.shape[1])[None, :] < lengths[:, None]).to(self.device)
        with torch.no_grad():
            result = self.model(xt, attention_mask=mask.long() if self.masked else None, output_hidden_states=True)
            frames = self.model._get_feat_extract_output_lengths(torch.from_numpy(lengths).to(self.device))
            states = result.hidden_states
            h = torch.stack(states).mean(0) if self.layer == "mean" else states[self.layer]
            keep = (torch.arange(h.shape[1], device=h.device)[None, :] < frames[:, None]).to(h.dtype)
            pooled = (h * keep[..., None]).sum(1) / keep.sum(1, keepdim=True).clamp(min=1)
        return pooled.cpu().numpy().astype(np.float32)
