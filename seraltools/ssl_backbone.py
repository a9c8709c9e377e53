"""Pretrained speech SSL models (wav2vec 2.0, HuBERT, WavLM, data2vec-audio) from a local
Hugging Face checkpoint directory: the one home for loading them.

Used by ``extract --feat ssl`` (:mod:`seraltools.features.ssl`), by ``seral pretrain
--init DIR`` (continued pretraining with the intra-speaker objectives, the speaker paper's
Table 3) and by ``evaluate ser --encoder NAME=DIR`` (fine-tuning the checkpoint itself).
Loading rules: ``transformers`` reads DIR only (``local_files_only``); weights must be
safetensors (a pickle ``.bin`` can run code when loaded and is refused); no remote code.
"""

from __future__ import annotations

import json
from pathlib import Path


from seraltools.errors import BadInput

MODEL_TYPES = ("wav2vec2", "hubert", "wavlm", "data2vec-audio", "wav2vec2-conformer")
BATCH_SIZE = 8


def check_checkpoint(model: str | None, flag: str = "--model") -> Path:
    """The checkpoint directory, or a one-line error that says what is wrong with it."""
    if not model:
        raise BadInput(f"--feat ssl needs {flag} DIR: a local wav2vec 2.0 / HuBERT / WavLM checkpoint directory")
    d = Path(model)
    if not d.exists():
        import re

        hub = re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", model) is not None  # org/name, nothing more
        hint = (" (that looks like a Hugging Face hub id; seral downloads nothing: download it first, e.g. "
                f"`hf download {model} --local-dir DIR`, and give DIR)") if hub else ""
        raise BadInput(f"{flag} {model}: no such directory{hint}")
    if not d.is_dir():
        raise BadInput(f"{flag} {model}: not a directory; give a Hugging Face checkpoint directory (config.json + weights)")
    if not (d / "config.json").is_file():
        raise BadInput(f"{flag} {model}: no config.json; give a Hugging Face checkpoint directory")
    try:
        model_type = json.loads((d / "config.json").read_text()).get("model_type")
    except (ValueError, OSError, AttributeError) as e:
        raise BadInput(f"{flag} {model}: config.json is not readable JSON ({e})") from None
    if model_type not in MODEL_TYPES:
        raise BadInput(f"{flag} {model}: model_type {model_type!r} is not a speech SSL model "
                       f"({', '.join(MODEL_TYPES)})")
    if not any(d.glob("*.safetensors")):
        pickled = [p.name for p in d.glob("*.bin")]
        raise BadInput(f"{flag} {model}: no safetensors weights (model.safetensors)" + (
            f"; {pickled[0]} is a pickle, which can run code when loaded: convert it with transformers' "
            "save_pretrained(DIR, safe_serialization=True) where you trust it" if pickled else ""))
    return d


def min_samples(kernels, strides) -> int:
    """The fewest samples that give one frame from the CNN feature encoder."""
    need = 1
    for k, s in reversed(list(zip(kernels, strides))):
        need = (need - 1) * s + k
    return need




def _quiet_transformers():
    import os

    # offline before transformers (and huggingface_hub) are imported: seral never downloads
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import transformers
    except ImportError as e:
        raise BadInput("this needs transformers, which is not installed: pip install 'seraltools[ssl]'") from e
    transformers.utils.logging.disable_progress_bar()  # stderr is seral's: one bar, one line per error
    transformers.utils.logging.set_verbosity_error()
    return transformers


def preprocessing(d: Path, name: str) -> bool:
    """Whether the checkpoint normalises each utterance (``do_normalize``); 16 kHz checked."""
    pre = d / "preprocessor_config.json"
    if not pre.is_file():
        return False
    try:
        conf = json.loads(pre.read_text())
    except ValueError as e:
        raise BadInput(f"{name}: preprocessor_config.json is not readable JSON ({e})") from None
    if conf.get("sampling_rate", 16000) != 16000:
        raise BadInput(f"{name}: expects {conf['sampling_rate']} Hz audio; seral works at 16 kHz")
    return bool(conf.get("do_normalize", False))


def load_pretrained(d: Path, name: str | None = None):
    """(transformers model in eval mode, whether inputs are normalised) of checkpoint ``d``."""
    from seraltools.errors import first_line

    name = name or str(d)
    if not Path(d).is_dir():  # a name would be a hub id: only a local directory is ever loaded
        raise BadInput(f"{name}: not a local checkpoint directory; seral downloads nothing")
    normalize = preprocessing(d, name)
    transformers = _quiet_transformers()
    try:
        model = transformers.AutoModel.from_pretrained(str(d), local_files_only=True, use_safetensors=True,
                                                       trust_remote_code=False)
    except Exception as e:  # transformers' errors: a bad config, weights of another shape ...
        raise BadInput(f"{name}: transformers could not load it ({type(e).__name__}: "
                       f"{first_line(e)})") from None
    return model.float().eval(), normalize  # a half-precision checkpoint runs in float32 (seral's inputs)


def model_from_config(config: dict):
    """A model of the architecture ``config`` (a transformers config as a dict), random
    weights: what a seral encoder file's weights are loaded into."""
    transformers = _quiet_transformers()
    config = {k: v for k, v in config.items() if k not in ("dtype", "torch_dtype")}  # float32, as loaded
    kind = config.pop("model_type", None)
    if kind not in MODEL_TYPES:
        raise BadInput(f"model_type {kind!r} is not a speech SSL model ({', '.join(MODEL_TYPES)})")
    return transformers.AutoModel.from_config(transformers.AutoConfig.for_model(kind, **config)).float()


def build_backbone_encoder(model, normalize: bool, layers: int | None = None):
    """An encoder with seral's interface (``forward(wav, lengths) -> frames, mask``,
    ``width``) around a transformers SSL model, keeping its first ``layers`` transformer
    layers (None: all). Utterances are normalised as the checkpoint expects; models with
    layer-normalised CNN features run padded batches with an attention mask, the others
    one utterance at a time (their normalisation would span the padding), so a batch
    gives the frames of one utterance at a time."""
    import torch
    from torch import nn

    if layers is not None:
        total = int(model.config.num_hidden_layers)
        if not 1 <= layers <= total:
            raise BadInput(f"--init-layers {layers}: give 1 to {total} (the checkpoint's transformer layers)")
        model.encoder.layers = model.encoder.layers[:layers]
        model.config.num_hidden_layers = layers

    # wav2vec 2.0's SpecAugment-style time masking draws from numpy's global generator (no seed,
    # not in checkpoints): off, so that training is deterministic and resumes exactly; seral's
    # objectives have their own augmentation (random crops)
    model.config.apply_spec_augment = False

    class BackboneEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.width = int(model.config.hidden_size)
            self.normalize = normalize
            self.masked = getattr(model.config, "feat_extract_norm", "group") == "layer"

        def _frames(self, lengths):
            return self.model._get_feat_extract_output_lengths(lengths)

        def freeze_cnn(self) -> None:
            """Keep the convolutional feature encoder's weights (every SSL model type has
            ``feature_extractor._freeze_parameters``; HubertModel lacks the public method)."""
            self.model.feature_extractor._freeze_parameters()

        def _states(self, out, layer):
            if layer is None:
                return out.last_hidden_state
            return torch.stack(out.hidden_states).mean(0) if layer == "mean" else out.hidden_states[layer]

        def forward(self, wav, lengths, layer=None):
            """(B, S), (B,) samples -> frames (B, T, width) of the last layer (``layer``: a
            hidden-state index, 0 = the transformer's input, or "mean" of all), mask (B, T)."""
            hidden = layer is not None
            smask = torch.arange(wav.shape[1], device=wav.device)[None, :] < lengths[:, None]
            if self.normalize:
                n = lengths.clamp(min=1).to(wav.dtype)[:, None]
                mean = (wav * smask).sum(1, keepdim=True) / n
                var = (((wav - mean) * smask) ** 2).sum(1, keepdim=True) / n
                wav = ((wav - mean) / torch.sqrt(var + 1e-7)) * smask
            frames = self._frames(lengths)
            if self.masked:
                h = self._states(self.model(wav, attention_mask=smask.long(), output_hidden_states=hidden), layer)
            else:  # group norm spans the whole input: rows of one length together, never padded
                shortest = min_samples(self.model.config.conv_kernel, self.model.config.conv_stride)
                cut = [max(int(n), shortest) for n in lengths]  # under one frame: padded to one (masked out)
                if wav.shape[1] < max(cut):
                    wav = torch.nn.functional.pad(wav, (0, max(cut) - wav.shape[1]))
                outs = [None] * len(wav)
                for n in sorted(set(cut)):
                    rows = [i for i, c in enumerate(cut) if c == n]
                    states = self._states(self.model(wav[rows, :n], output_hidden_states=hidden), layer)
                    for j, i in enumerate(rows):
                        outs[i] = states[j]
                h = torch.nn.utils.rnn.pad_sequence(outs, batch_first=True)
            fmask = torch.arange(h.shape[1], device=wav.device)[None, :] < frames[:, None]
            return h * fmask[..., None], fmask

    return BackboneEncoder()


def backbone_config(encoder) -> dict:
    """What a seral encoder file records to rebuild a backbone encoder."""
    config = encoder.model.config.to_dict()
    return {"backbone": "transformers", "transformers_config": config, "normalize": encoder.normalize,
            "width": encoder.width, "layers": int(encoder.model.config.num_hidden_layers)}
