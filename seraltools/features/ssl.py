"""Self-supervised speech models: mean-pooled hidden states of a local wav2vec 2.0,
HuBERT, WavLM or data2vec-audio checkpoint (``--feat ssl --model DIR [--layer N|mean]``).

The utterance vector is the mean over the utterance's frames of one layer's hidden
states (``--layer N``: 0 = the transformer's input, CNN features + positional convolution; the
number of transformer layers = the last, the default) or the unweighted mean of all of
them (``--layer mean``). Loaded with ``transformers`` from DIR only (``config.json`` and
``model.safetensors``): a hub id is an error that says to download it first, and pickle
weights (``pytorch_model.bin``) are refused, since loading them can run code (convert
them with ``transformers``' ``save_pretrained(..., safe_serialization=True)`` on a
trusted machine). Samples are normalised to zero mean and unit variance per utterance
when the checkpoint's ``preprocessor_config.json`` says ``do_normalize``.

Batches: models with layer-normalised CNN features (the large models: wav2vec 2.0
large, HuBERT large, WavLM large) take padded batches with an attention mask, and pooling covers only the real
frames, so a batch gives the vectors of one utterance at a time; models with
group-normalised CNN features (the base models, trained without attention masks: the
normalisation spans the padding) run utterances of one length together, never padded.
"""

from __future__ import annotations

import json

import numpy as np

from seraltools.errors import BadInput

from seraltools.ssl_backbone import BATCH_SIZE, check_checkpoint, load_pretrained, min_samples  # noqa: F401


class SSLFeatures:
    name = "ssl"
    uses_torch = True  # spawned worker processes, threads from seraltools.compute

    def __init__(self, model: str | None = None, device: str = "auto", layer: str | None = None,
                 batch_size: int = BATCH_SIZE):
        from seraltools.compute import require_torch, resolve_device

        d = check_checkpoint(model)
        require_torch("--feat ssl", "ssl")
        self.layers = int(json.loads((d / "config.json").read_text()).get("num_hidden_layers", 12))
        self.layer = self._layer(layer)  # checked before the model loads
        self.device = resolve_device(device, "--feat ssl", "ssl")
        self.model, self.normalize = load_pretrained(d, model)
        from seraltools.ssl_backbone import build_backbone_encoder

        self.encoder = build_backbone_encoder(self.model, self.normalize).to(self.device).eval()
        self.masked = self.encoder.masked
        cfg = self.model.config
        self.dim = int(cfg.hidden_size)
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

    def batch(self, batch: list[np.ndarray]) -> np.ndarray:
        import torch

        from seraltools.encoder import batch_waveforms, mean_pool

        out = np.empty((len(batch), self.dim), dtype=np.float32)
        order = np.argsort([len(b) for b in batch], kind="stable")  # similar lengths pad little
        for i in range(0, len(order), self.batch_size):
            rows = order[i:i + self.batch_size]
            x, n = batch_waveforms([np.asarray(batch[r], dtype=np.float32) for r in rows])
            with torch.no_grad():
                # hidden_states[N], also for the last layer: in pre-norm (stable layer norm) models it is the
                # state before the final layer norm, unlike last_hidden_state
                h, mask = self.encoder(torch.from_numpy(x).to(self.device), torch.from_numpy(n).to(self.device),
                                       layer=self.layer)
                out[rows] = mean_pool(h, mask).cpu().numpy()
        return out
