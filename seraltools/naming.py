"""Corpus file-name conventions: the built-in parsers behind ``--corpus`` and the
emotion vocabulary (DESIGN.md). Pure Python, no heavy imports: the command line
imports it for its choices (``seral --help`` stays fast).

The built-in valence/arousal maps follow the binary mapping of emotion categories
onto the quarters of the valence-arousal plane of Schuller et al., "Acoustic emotion
recognition: a benchmark comparison of performances", ASRU 2009 -- the mapping the
paper uses (its ref. [34]) and the one most used in SER work. EMO-DB's is exactly
the table in the corpus README. Emotions outside the 2009 study follow the same
quarters: calm as low arousal / positive valence (RAVDESS), surprise (including
TESS's "pleasant surprise") as high arousal / positive valence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

#: emotion -> (valence, arousal), 1 = positive valence / high arousal.
VA_DEFAULT: dict[str, tuple[int, int]] = {
    "anger": (0, 1),
    "fear": (0, 1),
    "happiness": (1, 1),
    "surprise": (1, 1),
    "boredom": (0, 0),
    "disgust": (0, 0),
    "neutral": (1, 0),
    "sadness": (0, 0),
    "calm": (1, 0),
}

#: Spellings seen in corpora and manifests -> the DESIGN.md vocabulary.
EMOTION_ALIASES = {
    "angry": "anger", "ang": "anger", "happy": "happiness", "joy": "happiness", "hap": "happiness",
    "sad": "sadness", "fearful": "fear", "fea": "fear", "afraid": "fear", "disgusted": "disgust",
    "dis": "disgust", "surprised": "surprise", "ps": "surprise", "pleasant_surprise": "surprise",
    "pleasant surprise": "surprise", "bored": "boredom", "neu": "neutral",
}


def normalise_emotion(label: str | None) -> str | None:
    if label is None:
        return None
    e = str(label).strip().lower()
    return EMOTION_ALIASES.get(e, e) or None


# --------------------------------------------------------------------------- file-name parsers


@dataclass(frozen=True)
class Corpus:
    """A built-in corpus: how its file names encode labels, and its valence/arousal map."""

    name: str
    title: str
    pattern: str  # shown in error messages
    parse: Callable[[Path], dict | None]  # path -> {"speaker", "emotion", ...} or None
    emotions: tuple[str, ...]
    va_map: dict[str, tuple[int, int]] = field(default_factory=dict)

    def __post_init__(self):
        if not self.va_map:
            object.__setattr__(self, "va_map", {e: VA_DEFAULT[e] for e in self.emotions})


def _regex_parser(regex: str, codes: dict[str, str], speaker_group="speaker", emotion_group="emotion"):
    rx = re.compile(regex, re.IGNORECASE)

    def parse(path: Path) -> dict | None:
        m = rx.fullmatch(path.stem)
        if not m:
            return None
        code = m.group(emotion_group)
        emotion = codes.get(code) or codes.get(code.upper()) or codes.get(code.lower())
        if emotion is None:
            return None
        return {"speaker": m.group(speaker_group), "emotion": emotion}

    return parse


_EMODB = _regex_parser(
    r"(?P<speaker>\d\d)(?P<text>[ab]\d\d)(?P<emotion>[WLEAFTN])(?P<take>[a-z])",
    {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness", "T": "sadness", "N": "neutral"},
)
_RAVDESS_CODES = {"01": "neutral", "02": "calm", "03": "happiness", "04": "sadness", "05": "anger",
                  "06": "fear", "07": "disgust", "08": "surprise"}
_RAVDESS = _regex_parser(
    r"(?P<modality>0[1-3])-(?P<channel>0[12])-(?P<emotion>0[1-8])-(?P<intensity>0[12])-"
    r"(?P<statement>0[12])-(?P<rep>0[12])-(?P<speaker>\d\d)",
    _RAVDESS_CODES,
)
_CREMAD = _regex_parser(
    r"(?P<speaker>\d{4})_(?P<sentence>[A-Z]{3})_(?P<emotion>ANG|DIS|FEA|HAP|NEU|SAD)_(?P<level>LO|MD|HI|XX|X)",
    {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happiness", "NEU": "neutral", "SAD": "sadness"},
)
_TESS = _regex_parser(
    r"(?P<speaker>OAF|YAF)_(?P<word>[a-z]+)_(?P<emotion>angry|disgust|fear|happy|neutral|ps|sad)",
    {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness", "neutral": "neutral",
     "ps": "surprise", "sad": "sadness"},
)
_SYNTHETIC = _regex_parser(
    r"(?P<speaker>s\d\d)_(?P<emotion>anger|happiness|neutral|sadness|fear|boredom)_\d+",
    {e: e for e in ("anger", "happiness", "neutral", "sadness", "fear", "boredom")},
)
_SAVEE_CODES = {"a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "n": "neutral", "sa": "sadness",
                "su": "surprise"}
_SAVEE_FLAT = _regex_parser(r"(?P<speaker>DC|JE|JK|KL)_(?P<emotion>a|d|f|h|n|sa|su)\d\d", _SAVEE_CODES)
_SAVEE_TREE = re.compile(r"(?P<emotion>a|d|f|h|n|sa|su)\d\d")


def _savee(path: Path) -> dict | None:
    """SAVEE: ``DC_a01.wav`` (flat copies) or ``DC/a01.wav`` (the original AudioData tree)."""
    flat = _SAVEE_FLAT(path)
    if flat:
        return flat
    m = _SAVEE_TREE.fullmatch(path.stem)
    if m and path.parent.name in ("DC", "JE", "JK", "KL"):
        return {"speaker": path.parent.name, "emotion": _SAVEE_CODES[m.group("emotion")]}
    return None


CORPORA: dict[str, Corpus] = {
    c.name: c
    for c in [
        Corpus("emodb", "EMO-DB (Berlin)", "SSTTTEV.wav, e.g. 03a01Fa.wav", _EMODB,
               ("anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness")),
        Corpus("ravdess", "RAVDESS", "MM-VV-EE-II-SS-RR-AA.wav, e.g. 03-01-05-01-02-01-12.wav", _RAVDESS,
               ("neutral", "calm", "happiness", "sadness", "anger", "fear", "disgust", "surprise")),
        Corpus("cremad", "CREMA-D", "SSSS_TTT_EEE_LL.wav, e.g. 1001_DFA_ANG_XX.wav", _CREMAD,
               ("anger", "disgust", "fear", "happiness", "neutral", "sadness")),
        Corpus("tess", "TESS (Toronto)", "SPK_word_emotion.wav, e.g. OAF_back_angry.wav", _TESS,
               ("anger", "disgust", "fear", "happiness", "neutral", "surprise", "sadness")),
        Corpus("savee", "SAVEE (Surrey)", "SP_eNN.wav or SP/eNN.wav, e.g. DC_a01.wav", _savee,
               ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")),
        Corpus("synthetic", "seral's synthetic corpus (seral synth)", "sNN_emotion_NN.wav, e.g. s01_anger_00.wav",
               _SYNTHETIC, ("anger", "happiness", "neutral", "sadness", "fear", "boredom")),
    ]
}
CORPUS_CHOICES = ("auto", "none", *CORPORA)


def detect_corpus(paths: list[Path]) -> Corpus | None:
    """The built-in corpus whose naming every one of ``paths`` follows, or None."""
    for corpus in CORPORA.values():
        if paths and all(corpus.parse(p) for p in paths):
            return corpus
    return None
