"""Utterance embeddings from an SER encoder (``seral pretrain``): the mean over real
frames of the transformer's outputs, ``width`` dims. Padding is masked, so batched
extraction gives the vectors of one utterance at a time."""

from __future__ import annotations

import numpy as np

from seraltools.errors import BadInput


class EncoderFeatures:
    name = "encoder"
    uses_torch = True  # spawned worker processes, threads from seraltools.compute

    def __init__(self, model: str | None = None, device: str = "auto"):
        from seraltools.encoder import load_encoder
        from seraltools.compute import resolve_device

        if not model:
            raise BadInput("--feat encoder needs --model encoder.safetensors (made by `seral pretrain`)")
        self.device = resolve_device(device, f"--feat {self.name}")
        self.model, self.cfg, self.file_config = load_encoder(model, self.device)
        self.model_path, self.dim = model, self.model.width

    def config(self) -> dict:
        return {"model": str(self.model_path), "pooling": "mean over frames",
                "objective": self.file_config.get("pretraining", {}).get("objective")}

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        return self.batch([samples])[0]

    def batch(self, batch: list[np.ndarray]) -> np.ndarray:
        import torch

        from seraltools.encoder import batch_waveforms, mean_pool

        x, n = batch_waveforms(batch)
        with torch.no_grad():
            pooled = mean_pool(*self.model(torch.from_numpy(x).to(self.device), torch.from_numpy(n).to(self.device)))
        return pooled.cpu().numpy().astype(np.float32)
