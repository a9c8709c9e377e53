"""Reading audio for every tool: any format libsndfile reads, any sample rate and
channel count, returned as mono float32 at :data:`SAMPLE_RATE` (16 kHz).

Channels are mixed to mono by their mean; other rates are resampled with a
polyphase filter (:func:`scipy.signal.resample_poly`, Kaiser window). Every
problem with a file is a :class:`~seraltools.errors.BadInput` naming the file.
"""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np

from seraltools.errors import BadInput

SAMPLE_RATE = 16_000

#: File suffixes picked up when a directory is given as input.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au")


@dataclass(frozen=True)
class Audio:
    """A decoded utterance: mono float32 samples at 16 kHz, and a digest of the file."""

    samples: np.ndarray
    source_rate: int
    digest: str  # blake2b of the file's bytes, for table history fingerprints

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def _check_wav_length(data: bytes, path: str) -> None:
    """Reject a RIFF/WAVE file whose data chunk is shorter than its header says.

    libsndfile silently reads what is there, so a truncated copy would otherwise
    pass as a shorter utterance.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return
    pos = 12
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if chunk == b"data":
            if size in (0, 0xFFFFFFFF):  # streaming writers leave the size open
                return
            have = len(data) - pos - 8
            if have < size:
                raise BadInput(
                    f"{path}: truncated WAV file: its header announces {size} bytes of audio "
                    f"but only {have} are there; re-copy or re-export the file"
                )
            return
        pos += 8 + size + (size & 1)


def load_audio(path: str | Path) -> Audio:
    """Read ``path`` as mono float32 at 16 kHz.

    Raises :class:`BadInput` for a missing, empty, truncated, corrupt or non-audio file.
    """
    import soundfile as sf

    path = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BadInput(f"{path}: is a directory, not an audio file") from None
    except OSError as e:
        raise BadInput(f"{path}: cannot read ({e.strerror})") from None
    if not data:
        raise BadInput(f"{path}: empty file (0 bytes); remove it from the input or re-export it")
    _check_wav_length(data, path)
    try:
        x, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as e:  # libsndfile's errors carry no stable type across versions
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise BadInput(f"{path}: not readable as audio ({msg}); is it a corrupt or non-audio file?") from None
    if x.shape[0] == 0:
        raise BadInput(f"{path}: holds no audio samples; remove it from the input")
    if not np.isfinite(x).all():
        raise BadInput(f"{path}: holds NaN or infinite samples (a damaged float file?); remove it from the input "
                       "or re-export it")
    mono = x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
    mono = resample(np.ascontiguousarray(mono, dtype=np.float32), rate)
    return Audio(mono, int(rate), hashlib.blake2b(data, digest_size=16).hexdigest())


def resample(x: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Resample a mono signal from ``rate`` to ``target`` Hz (polyphase, Kaiser window)."""
    if rate == target:
        return x
    from scipy.signal import resample_poly

    g = gcd(int(rate), int(target))
    return resample_poly(x, target // g, int(rate) // g).astype(np.float32, copy=False)
