"""The SER encoder of the paper "speaker-embedding-clusters-contrastive-ser" (Sec. 4.1,
Fig. 3) and its heads.

The encoder follows wav2vec 2.0 (Baevski et al. 2020) on the raw 16-kHz waveform:

- the waveform is normalised per utterance (zero mean, unit variance over its samples);
- a convolutional feature extractor of 7 layers, kernels (10, 3, 3, 3, 3, 2, 2) and
  strides (5, 2, 2, 2, 2, 2, 2) (one frame per 20 ms, 25 ms receptive field), each
  convolution followed by layer normalisation over channels and GELU (wav2vec 2.0's
  "layer" variant, so a frame depends on its own samples only);
- a feature projection (layer norm, linear to the model width, dropout);
- a convolutional relative position embedding (kernel 128, 16 groups, GELU) added to
  the frames, then a transformer encoder (pre-norm layers, GELU feed-forward of 4x
  the width) with padded frames masked out.

The size is an option (:class:`EncoderConfig`): the paper's compact wav2vec 2.0 has 6
transformer layers (``--layers 6 --width 768 --heads 12 --conv-channels 512``); the
default is a small model that trains on a CPU in minutes. Padding never changes a real
frame's output, so a batch gives the vectors of one utterance at a time.

Heads (Fig. 2) pool the frames by their mean over real frames, then a dense layer with
ReLU, then a dense output layer: ``tanh`` for the contrastive head; logits (softmax in
the cross-entropy) for the speaker and emotion heads. :class:`GradientReversal` sits
between pooling and the speaker head in the adversarial setting.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from seraltools.audio import SAMPLE_RATE
from seraltools.errors import BadInput

CONV_KERNELS = (10, 3, 3, 3, 3, 2, 2)
CONV_STRIDES = (5, 2, 2, 2, 2, 2, 2)


@dataclass
class EncoderConfig:
    conv_channels: int = 64  # wav2vec 2.0: 512
    width: int = 128  # transformer model width; wav2vec 2.0 base: 768
    layers: int = 2  # the paper: 6
    heads: int = 4  # wav2vec 2.0 base: 12
    pos_kernel: int = 128
    pos_groups: int = 16
    dropout: float = 0.1

    def check(self) -> None:
        if self.width % self.heads:
            raise BadInput(f"--width {self.width} must be a multiple of --heads {self.heads}")
        if self.width % self.pos_groups:
            raise BadInput(f"--width {self.width} must be a multiple of {self.pos_groups} (position-embedding groups)")
        for k in ("conv_channels", "width", "layers", "heads"):
            if getattr(self, k) < 1:
                raise BadInput(f"--{k.replace('_', '-')} {getattr(self, k)}: give 1 or more")


def num_frames(num_samples):
    """Frames the feature extractor makes of ``num_samples`` samples (array or int)."""
    n = np.asarray(num_samples)
    for k, s in zip(CONV_KERNELS, CONV_STRIDES):
        n = np.maximum((n - k) // s + 1, 0)
    return n


MIN_SAMPLES = 400  # one frame


def build_encoder(cfg: EncoderConfig):
    import torch
    from torch import nn

    cfg.check()

    class ConvLayer(nn.Module):
        def __init__(self, cin, cout, k, s):
            super().__init__()
            self.conv = nn.Conv1d(cin, cout, k, s, bias=False)
            self.norm = nn.LayerNorm(cout)

        def forward(self, x):
            return nn.functional.gelu(self.norm(self.conv(x).transpose(1, 2)).transpose(1, 2))

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            chans = [1] + [cfg.conv_channels] * len(CONV_KERNELS)
            self.feature_extractor = nn.Sequential(*(ConvLayer(chans[i], chans[i + 1], k, s)
                                                     for i, (k, s) in enumerate(zip(CONV_KERNELS, CONV_STRIDES))))
            self.projection = nn.Sequential(nn.LayerNorm(cfg.conv_channels), nn.Linear(cfg.conv_channels, cfg.width),
                                            nn.Dropout(cfg.dropout))
            self.pos_conv = nn.Conv1d(cfg.width, cfg.width, cfg.pos_kernel, padding=cfg.pos_kernel // 2,
                                      groups=cfg.pos_groups)
            self.pos_norm = nn.LayerNorm(cfg.width)
            layer = nn.TransformerEncoderLayer(cfg.width, cfg.heads, 4 * cfg.width, cfg.dropout, activation="gelu",
                                               batch_first=True, norm_first=True)
            self.transformer = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
            self.final_norm = nn.LayerNorm(cfg.width)
            self.width = cfg.width

        def forward(self, wav, lengths):
            """wav (B, S) float, lengths (B,) samples -> frames (B, T, width), mask (B, T) of real frames."""
            smask = torch.arange(wav.shape[1], device=wav.device)[None, :] < lengths[:, None]
            n = lengths.clamp(min=1).to(wav.dtype)[:, None]
            mean = (wav * smask).sum(1, keepdim=True) / n
            var = (((wav - mean) * smask) ** 2).sum(1, keepdim=True) / n
            x = ((wav - mean) / torch.sqrt(var + 1e-7)) * smask
            h = self.feature_extractor(x[:, None, :]).transpose(1, 2)  # (B, T, C)
            frames = torch.from_numpy(num_frames(lengths.cpu().numpy())).to(wav.device)
            fmask = torch.arange(h.shape[1], device=wav.device)[None, :] < frames[:, None]
            h = self.projection(h) * fmask[..., None]
            pos = self.pos_conv(h.transpose(1, 2))[:, :, : h.shape[1]].transpose(1, 2)
            h = self.pos_norm(h + nn.functional.gelu(pos))
            h = self.transformer(h, src_key_padding_mask=~fmask)
            return self.final_norm(h) * fmask[..., None], fmask

    return Encoder()


def mean_pool(h, mask):
    """Mean over the real frames: (B, T, D), (B, T) -> (B, D)."""
    m = mask[..., None].to(h.dtype)
    return (h * m).sum(1) / m.sum(1).clamp(min=1)


def build_head(width: int, hidden: int, out: int, tanh: bool = False):
    """Pooled frames -> dense + ReLU -> dense (+ tanh for the contrastive head)."""
    from torch import nn

    layers = [nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, out)]
    if tanh:
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def gradient_reversal(x, scale: float = 1.0):
    """Identity forward; the gradient multiplied by ``-scale`` backward (GRL, Ganin & Lempitsky 2015)."""
    import torch

    class _Reverse(torch.autograd.Function):
        @staticmethod
        def forward(ctx, inp):
            return inp.view_as(inp)

        @staticmethod
        def backward(ctx, grad):
            return -scale * grad

    return _Reverse.apply(x)


def batch_waveforms(wavs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Zero-padded (B, S) float32 and lengths (B,) int64."""
    lengths = np.array([len(w) for w in wavs], np.int64)
    out = np.zeros((len(wavs), max(int(lengths.max()), MIN_SAMPLES)), np.float32)
    for i, w in enumerate(wavs):
        out[i, : len(w)] = w
    return out, lengths


def crop(wav: np.ndarray, length: int, rng: np.random.Generator | None) -> np.ndarray:
    """A ``length``-sample segment: a random crop (rng) or the start (rng None) of longer
    audio; shorter audio is returned whole (padding is masked in batches)."""
    if len(wav) <= length:
        return wav
    start = int(rng.integers(len(wav) - length + 1)) if rng is not None else 0
    return wav[start : start + length]


def encoder_config(cfg: EncoderConfig) -> dict:
    return {**asdict(cfg), "conv_kernels": list(CONV_KERNELS), "conv_strides": list(CONV_STRIDES),
            "sample_rate": SAMPLE_RATE}


def save_encoder(path: str, encoder, cfg: EncoderConfig, extra: dict, heads: dict | None = None) -> None:
    """An ``encoder`` model file: the encoder's weights (and any heads', prefixed). An
    encoder around a pretrained SSL checkpoint (``pretrain --init``) records the
    checkpoint's architecture instead of :class:`EncoderConfig`."""
    from seraltools.models import save_model

    tensors = {f"encoder.{k}": v.detach().cpu().contiguous().numpy() for k, v in encoder.state_dict().items()}
    for name, head in (heads or {}).items():
        tensors.update({f"{name}.{k}": v.detach().cpu().numpy() for k, v in head.state_dict().items()})
    if hasattr(encoder, "model"):  # a transformers backbone
        from seraltools.ssl_backbone import backbone_config

        arch = backbone_config(encoder)
    else:
        arch = encoder_config(cfg)
    save_model(path, "encoder", tensors, {**arch, **extra})


def load_encoder(path: str, device: str = "cpu"):
    """(encoder in eval mode, EncoderConfig or None for a backbone, the file's config dict)
    of an ``encoder`` model file."""
    import torch

    from seraltools.models import load_model

    from seraltools.models import check_shapes, check_sizes

    header, tensors = load_model(path, kind="encoder")
    config = header["config"]
    if config.get("backbone") == "transformers":
        from seraltools.ssl_backbone import build_backbone_encoder, model_from_config

        hf = config.get("transformers_config")
        if not isinstance(hf, dict):
            raise BadInput(f"{path}: damaged model file: its config has no transformers_config")
        check_sizes(path, hf, ("hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads",
                               "num_conv_pos_embeddings"), tensors)

        def make():
            return build_backbone_encoder(model_from_config(hf), config.get("normalize"))

        cfg = None
    else:
        check_sizes(path, config, ("conv_channels", "width", "layers", "heads", "pos_kernel", "pos_groups"), tensors)
        cfg = EncoderConfig(**{k: config[k] for k in EncoderConfig.__dataclass_fields__ if k in config})

        def make():
            return build_encoder(cfg)

    check_shapes(path, make, tensors, prefix="encoder.")
    enc = make()
    enc.load_state_dict({k[8:]: torch.from_numpy(np.array(v)) for k, v in tensors.items() if k.startswith("encoder.")})
    return enc.to(device).eval(), cfg, config


def open_encoder(path: str | None, cfg: "EncoderConfig", device: str = "cpu", *, layers: int | None = None,
                 freeze_feature_encoder: bool = False):
    """The encoder to train or fine-tune: a seral encoder file, a Hugging Face SSL
    checkpoint directory (its first ``layers`` transformer layers), or (``path`` None) a
    new seral encoder of ``cfg`` with random weights. ``freeze_feature_encoder``: an
    encoder around an SSL backbone keeps its convolutional feature encoder's weights."""
    from pathlib import Path

    if path and Path(path).is_dir():
        from seraltools.ssl_backbone import build_backbone_encoder, check_checkpoint, load_pretrained

        model, normalize = load_pretrained(check_checkpoint(str(path), "--init"), str(path))
        enc = build_backbone_encoder(model, normalize, layers).to(device).train()
    elif path:
        enc = load_encoder(path, device)[0]
    else:
        return build_encoder(cfg).to(device)
    if freeze_feature_encoder and hasattr(enc, "freeze_cnn"):  # a backbone: its CNN keeps its weights
        enc.freeze_cnn()
    return enc
