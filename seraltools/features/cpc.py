"""CPC features (paper Sec. 3.3): the mean over time of the encoder outputs z_t of a
trained model (``seral train-cpc``), 256 dims; with ``context=True`` the mean of the
GRU's context vectors c_t. Frames come from :func:`seraltools.frontend.logmel`, with the front-end settings the model was trained on;
padding in batches is masked out of the means, so batched and one-by-one extraction
give the same vectors."""

from __future__ import annotations

import numpy as np

from seraltools.errors import BadInput
from seraltools.frontend import logmel


class CPCFeatures:
    name = "cpc"
    uses_torch = True  # spawned worker processes, threads from seraltools.compute

    def __init__(self, model: str | None = None, context: bool = False, device: str = "auto"):
        from seraltools.cpc import load
        from seraltools.compute import resolve_device

        if not model:
            raise BadInput("--feat cpc needs --model cpc.safetensors (made by `seral train-cpc`)")
        self.device = resolve_device(device, f"--feat {self.name}")
        self.model, self.cfg, self.frontend = load(model, self.device)  # frontend: the frames it was trained on
        self.model_path, self.context = model, context
        self.dim = self.cfg.context if context else self.cfg.hidden

    def config(self) -> dict:
        return {"model": str(self.model_path), "context": self.context, "pooling": "mean over time",
                "frontend": self.frontend.to_dict()}

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        return self.batch([samples])[0]

    def batch(self, batch: list[np.ndarray]) -> np.ndarray:
        import torch

        frames = [logmel(s, self.frontend) for s in batch]
        lengths = [len(f) for f in frames]
        x = np.zeros((len(frames), max(lengths), frames[0].shape[1]), np.float32)
        for i, f in enumerate(frames):
            x[i, : len(f)] = f
        mask = torch.from_numpy(np.arange(x.shape[1])[None, :] < np.array(lengths)[:, None]).to(self.device)
        with torch.no_grad():
            z, c = self.model(torch.from_numpy(x).to(self.device))
            h = c if self.context else z
            pooled = (h * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
        return pooled.cpu().numpy().astype(np.float32)
