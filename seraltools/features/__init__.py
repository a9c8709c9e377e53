"""Utterance-level feature extractors, registered by name.

``seral extract --feat NAME`` and :func:`seraltools.tools.extract.extract` look extractors
up here. An extractor is an object with ``name``, ``dim``, ``config()`` (a dict for the
table's metadata) and ``__call__(samples) -> float32 vector``, where ``samples`` is
mono float32 audio at 16 kHz. Modules are imported only when their extractor is made,
so heavy dependencies (torch) load only for the features that need them.
"""

from __future__ import annotations

from importlib import import_module

from seraltools.errors import BadInput

#: name -> (module:class, one-line description)
REGISTRY: dict[str, tuple[str, str]] = {
    "logmel": ("seraltools.features.logmel:LogMelFunctionals", "600-dim log-mel functionals (paper Sec. 3.3)"),
    "cpc": ("seraltools.features.cpc:CPCFeatures", "256-dim mean CPC encoder outputs (paper Sec. 3.3); needs --model"),
    "dvector": ("seraltools.features.dvector:DVectorFeatures", "256-dim GE2E d-vectors, resemblyzer's pretrained weights (speaker paper Sec. 2)"),
    "encoder": ("seraltools.features.encoder:EncoderFeatures", "mean-pooled outputs of an SER encoder from seral pretrain; needs --model"),
    "ecapa": ("seraltools.features.ecapa:ECAPAFeatures", "ECAPA-TDNN embeddings from a SpeechBrain model directory; needs --model DIR"),
    "egemaps": ("seraltools.features.opensmile:EGeMAPSFeatures", "88 eGeMAPSv02 functionals, openSMILE (the hand-crafted SER baseline)"),
    "compare": ("seraltools.features.opensmile:ComParEFeatures", "6,373 ComParE 2016 functionals, openSMILE"),
    "ssl": ("seraltools.features.ssl:SSLFeatures", "mean-pooled hidden states of a local wav2vec 2.0 / HuBERT / WavLM checkpoint; needs --model DIR"),
}

NAMES = tuple(REGISTRY)


def check_feature(name: str) -> None:
    """Raise unless ``name`` is a feature that can be extracted now."""
    if name not in REGISTRY:
        raise BadInput(f"unknown feature {name!r}; choose one of: {', '.join(REGISTRY)}")


#: Option values that mean "not given" on the command line.
_UNSET = (None, False, "auto")


def make_extractor(name: str, **options):
    """Build the extractor called ``name``. Options it does not take are dropped when
    unset and an error when given (``--model`` for ``--feat logmel``, say)."""
    import inspect

    check_feature(name)
    module, cls = REGISTRY[name][0].split(":")
    factory = getattr(import_module(module), cls)
    accepted = inspect.signature(factory).parameters
    extra = [k for k, v in options.items() if k not in accepted and v not in _UNSET]
    if extra:
        flags = ", ".join("--" + k.replace("_", "-") for k in extra)
        raise BadInput(f"--feat {name} takes no {flags}")
    return factory(**{k: v for k, v in options.items() if k in accepted})
