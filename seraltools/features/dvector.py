"""d-vectors (GE2E, Wan et al. 2018): the speaker embedding of the paper
"speaker-embedding-clusters-contrastive-ser", Sec. 2, 256 dims.

The weights are the pretrained ones that the ``resemblyzer`` package ships inside its
wheel (``pip install 'seraltools[dvector]'`` for torch and WebRTC VAD, then
``pip install --no-deps resemblyzer`` for the weights); they are read from the installed
package's ``pretrained.pt`` with ``torch.load(weights_only=True)`` (no code runs from
the file) and nothing is downloaded. resemblyzer itself is not imported. The pipeline
is resemblyzer's ``embed_utterance(preprocess_wav(wav))``, reimplemented so that whole
batches run at once:

- preprocessing: volume raised (never lowered) to -30 dBFS, then silences longer than
  6 x 30 ms trimmed by WebRTC VAD (mode 3, 8-window moving average), as
  ``resemblyzer.preprocess_wav``;
- frames: power mel spectrogram, 40 Slaney mel bands of 25 ms periodic-Hann frames every
  10 ms (n_fft 400, centred, zero padding), as ``librosa.feature.melspectrogram``;
- partial utterances of 160 frames (1.6 s) at 1.3 per second; a last partial covering
  under 75 % of its window is dropped unless it is the only one;
- a 3-layer LSTM (256 units), linear 256 + ReLU on the last hidden state, L2-normalised
  per partial; the utterance's d-vector is the L2-normalised mean of its partials.

Every partial has 160 frames, so a batch is exactly the same computation as one
utterance at a time.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from seraltools.audio import SAMPLE_RATE
from seraltools.errors import EXTRAS, BadInput, first_line

N_MELS, N_FFT, HOP = 40, 400, 160
PARTIAL_FRAMES = 160
RATE, MIN_COVERAGE = 1.3, 0.75
TARGET_DBFS = -30.0
VAD_WINDOW = 480  # 30 ms
VAD_AVERAGE, VAD_MAX_SILENCE = 8, 6
INT16_MAX = 2**15 - 1
#: Longer signals (samples; about 41 s) and more partials are processed a block at a
#: time, so memory stays flat in a recording's length; utterances below it are one block.
LONG = 4096 * HOP
PARTIAL_BATCH = 256
VAD_CHUNK = 1024  # VAD windows per block when a long recording is streamed
INSTALL = EXTRAS["webrtcvad"]
#: resemblyzer's wheel ships the pretrained GE2E weights; --no-deps: seral reads them
#: without importing resemblyzer, whose own requirements would build webrtcvad from source.
WEIGHTS_INSTALL = "pip install --no-deps resemblyzer (its wheel ships the pretrained GE2E weights)"


def resemblyzer_weights() -> Path:
    """Path of the GE2E weights inside the installed resemblyzer package."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise BadInput(f"--feat dvector needs the GE2E weights of the resemblyzer package: {WEIGHTS_INSTALL}; "
                       "or give other weights with --model")
    path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    if not path.is_file():
        raise BadInput(f"{path}: missing from the resemblyzer install; reinstall it: {WEIGHTS_INSTALL}")
    return path


def normalize_volume(wav: np.ndarray, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """Raise (never lower) the level to ``target_dbfs`` RMS."""
    if len(wav) <= LONG:
        rms = np.sqrt(np.mean((wav.astype(np.float64) * INT16_MAX) ** 2))
    else:  # a long recording: the mean square a block at a time, not a float64 copy of it all
        rms = np.sqrt(sum(_square_sum(wav[i : i + LONG]) for i in range(0, len(wav), LONG)) / len(wav))
    gain = volume_gain(rms, target_dbfs)
    return wav if gain is None else (wav * gain).astype(np.float32, copy=False)


def _square_sum(block: np.ndarray) -> float:
    return float(np.sum((block.astype(np.float64) * INT16_MAX) ** 2))


def volume_gain(rms: float, target_dbfs: float = TARGET_DBFS) -> float | None:
    """The factor raising a signal of RMS ``rms`` (16-bit scale) to ``target_dbfs``; None
    when it is silent or already louder (the level is never lowered)."""
    if rms == 0:
        return None
    change = target_dbfs - 20 * np.log10(rms / INT16_MAX)
    return None if change < 0 else 10 ** (change / 20)


def _vad():
    try:
        import webrtcvad  # from webrtcvad-wheels (binary wheels) or webrtcvad
    except ImportError:
        raise BadInput(f"--feat dvector trims silences with WebRTC VAD: {INSTALL}") from None
    return webrtcvad.Vad(3)


def _vad_flags(vad, wav: np.ndarray) -> list[bool]:
    """WebRTC VAD's decision per whole VAD_WINDOW of ``wav`` (16-bit PCM of it)."""
    pcm = np.empty(len(wav) - len(wav) % VAD_WINDOW, "<i2")  # converted a block at a time (long recordings)
    for i in range(0, len(pcm), LONG):
        pcm[i : i + LONG] = np.round(wav[i : min(i + LONG, len(pcm))] * INT16_MAX)
    return [vad.is_speech(pcm[i : i + VAD_WINDOW].tobytes(), SAMPLE_RATE) for i in range(0, len(pcm), VAD_WINDOW)]


def trim_long_silences(wav: np.ndarray) -> np.ndarray:
    """Drop pauses longer than VAD_MAX_SILENCE windows (WebRTC VAD, mode 3)."""
    wav = wav[: len(wav) - len(wav) % VAD_WINDOW]
    mask = speech_mask(np.array(_vad_flags(_vad(), wav), dtype=float))
    if mask is None:
        return wav
    return wav.reshape(-1, VAD_WINDOW)[mask].reshape(-1)  # the windows kept, without a per-sample mask


def speech_mask(flags: np.ndarray) -> np.ndarray | None:
    """The VAD windows kept: speech smoothed by an 8-window moving average, dilated by
    VAD_MAX_SILENCE windows (None: no window at all)."""
    from scipy.ndimage import binary_dilation

    if not len(flags):
        return None
    w = VAD_AVERAGE
    padded = np.concatenate((np.zeros((w - 1) // 2), flags, np.zeros(w // 2)))
    avg = np.cumsum(padded)
    avg[w:] = avg[w:] - avg[:-w]
    mask = np.round(avg[w - 1 :] / w).astype(bool)
    return binary_dilation(mask, np.ones(VAD_MAX_SILENCE + 1))


def partial_slices(n_samples: int) -> list[int]:
    """Start frames of the 160-frame partial utterances of an ``n_samples`` waveform."""
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    step = int(np.round(SAMPLE_RATE / RATE / HOP))
    starts = list(range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step))
    coverage = (n_samples - starts[-1] * HOP) / (PARTIAL_FRAMES * HOP)
    if coverage < MIN_COVERAGE and len(starts) > 1:
        starts = starts[:-1]
    return starts


class GE2E:
    """The d-vector network and its loaded weights."""

    def __init__(self, weights: Path, device: str):
        import torch

        from seraltools.models import torch_weights

        checkpoint = torch_weights(weights, "a resemblyzer GE2E checkpoint")
        try:
            state = checkpoint["model_state"]
        except Exception as e:
            raise BadInput(f"{weights}: not a resemblyzer GE2E checkpoint ({first_line(e)})") from None
        self.lstm = torch.nn.LSTM(N_MELS, 256, 3, batch_first=True)
        self.linear = torch.nn.Linear(256, 256)
        self.lstm.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("lstm.")})
        self.linear.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("linear.")})
        self.lstm.to(device).eval()
        self.linear.to(device).eval()
        from seraltools.frontend import triangular_filterbank

        self.window = torch.hann_window(N_FFT, periodic=True, dtype=torch.float64)
        self.fbank = torch.from_numpy(triangular_filterbank(
            N_FFT // 2 + 1, 0.0, SAMPLE_RATE / 2, N_MELS, SAMPLE_RATE, scale="slaney", norm="slaney"))
        self.device = device

    def mel(self, wav: np.ndarray, length: int | None = None) -> np.ndarray:
        """(frames, 40) float32 power mel spectrogram of ``wav`` zero-padded to ``length``."""
        import torch

        length = len(wav) if length is None else max(length, len(wav))
        if length <= LONG:
            wav = np.pad(wav, (0, length - len(wav))) if length > len(wav) else wav
            x = torch.from_numpy(wav.astype(np.float64))
            spec = torch.stft(x, N_FFT, HOP, window=self.window, center=True, pad_mode="constant", return_complex=True)
            return (spec.abs() ** 2).T.matmul(self.fbank).to(torch.float32).numpy()
        # a long recording: the same centred frames, a block of LONG // HOP frames at a time,
        # each cut from the zero-padded signal without padding (copying) the whole of it
        n_frames, step = 1 + length // HOP, LONG // HOP
        out = np.empty((n_frames, N_MELS), np.float32)
        for a in range(0, n_frames, step):
            b = min(a + step, n_frames)
            out[a:b] = self._mel_block(wav, 0, a, b)
        return out

    def _mel_block(self, wav: np.ndarray, offset: int, a: int, b: int) -> np.ndarray:
        """Mel frames a..b-1 of a long signal of which ``wav`` holds the samples from
        ``offset`` on (zeros before 0 and after its end): one torch.stft, uncentred."""
        import torch

        lo, hi = a * HOP - N_FFT // 2, (b - 1) * HOP + N_FFT // 2  # in the signal's own indexing
        seg = np.zeros(hi - lo, np.float64)
        s0, s1 = max(lo, offset), min(hi, offset + len(wav))
        if s1 > s0:
            seg[s0 - lo : s1 - lo] = wav[s0 - offset : s1 - offset]
        spec = torch.stft(torch.from_numpy(seg), N_FFT, HOP, window=self.window, center=False, return_complex=True)
        return (spec.abs() ** 2).T.matmul(self.fbank).to(torch.float32).numpy()

    def stream_embed(self, blocks, most_samples: int) -> np.ndarray:
        """The d-vector of a preprocessed signal given as blocks (at most ``most_samples``):
        :meth:`partials` and :meth:`embed` of it whole, bitwise, holding its mel frames
        and not its samples."""
        buf, offset, n, a, step = np.empty(0, np.float32), 0, 0, 0, LONG // HOP
        # every frame there can be (untouched pages cost nothing)
        mels = np.empty((2 + (most_samples + PARTIAL_FRAMES * HOP) // HOP, N_MELS), np.float32)
        for block in blocks:
            buf, n = np.concatenate((buf, block)), n + len(block)
            if n <= LONG:  # may still be short: mel() frames a short signal in one piece
                continue
            while (a + step - 1) * HOP + N_FFT // 2 <= n:  # every sample of frames a.. seen
                mels[a : a + step] = self._mel_block(buf, offset, a, a + step)
                a += step
                keep_from = max(0, a * HOP - N_FFT // 2)
                buf, offset = buf[keep_from - offset :], keep_from
        starts = partial_slices(n)
        length = max(n, (starts[-1] + PARTIAL_FRAMES) * HOP)
        if length <= LONG:
            mel = self.mel(buf, length)
        else:
            n_frames = 1 + length // HOP
            for b in range(a, n_frames, step):
                mels[b : min(b + step, n_frames)] = self._mel_block(buf, offset, b, min(b + step, n_frames))
            mel = mels[:n_frames]
        del buf
        embeds = np.concatenate([self.embed(np.stack([mel[s : s + PARTIAL_FRAMES] for s in starts[i : i + PARTIAL_BATCH]]))
                                 for i in range(0, len(starts), PARTIAL_BATCH)])
        mean = embeds.mean(axis=0)
        return mean / np.linalg.norm(mean)

    def partials(self, wav: np.ndarray) -> np.ndarray:
        """(n_partials, 160, 40) mel windows of one preprocessed waveform."""
        starts = partial_slices(len(wav))
        end = (starts[-1] + PARTIAL_FRAMES) * HOP
        mel = self.mel(wav, end if end >= len(wav) else None)
        return np.stack([mel[s : s + PARTIAL_FRAMES] for s in starts])

    def embed(self, mels: np.ndarray) -> np.ndarray:
        """Unit-length embeddings of a (B, 160, 40) batch of partials."""
        import torch

        if len(mels) > PARTIAL_BATCH:  # a long recording: a batch of partials at a time
            return np.concatenate([self.embed(mels[i : i + PARTIAL_BATCH]) for i in range(0, len(mels), PARTIAL_BATCH)])
        with torch.no_grad():
            _, (hidden, _) = self.lstm(torch.from_numpy(mels).to(self.device))
            e = torch.relu(self.linear(hidden[-1]))
            return (e / e.norm(dim=1, keepdim=True)).cpu().numpy()


class DVectorFeatures:
    name = "dvector"
    dim = 256
    uses_torch = True  # spawned worker processes, threads from seraltools.compute

    def __init__(self, model: str | None = None, device: str = "auto", trim_silence: bool = True):
        from seraltools.compute import resolve_device

        self.device = resolve_device(device, f"--feat {self.name}", extra="dvector")
        try:
            import webrtcvad  # noqa: F401  (checked now, used per file)
        except ImportError:
            raise BadInput(f"--feat dvector trims silences with WebRTC VAD, which is not installed: {INSTALL}") from None
        self.weights = Path(model) if model else resemblyzer_weights()
        if not self.weights.is_file():
            raise BadInput(f"{self.weights}: no such GE2E weights file")
        self.net = GE2E(self.weights, self.device)
        self.trim_silence = trim_silence

    def config(self) -> dict:
        return {"weights": str(self.weights), "preprocess": "volume -30 dBFS, WebRTC VAD trim" if self.trim_silence
                else "volume -30 dBFS", "partials": "160 frames at 1.3/s, coverage 0.75", "pooling": "mean, L2"}

    def preprocess(self, samples: np.ndarray) -> np.ndarray:
        wav = normalize_volume(np.asarray(samples, np.float32))
        if self.trim_silence:
            trimmed = trim_long_silences(wav)
            wav = trimmed if len(trimmed) else wav  # all silence: keep the audio rather than nothing
        return wav

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        return self.batch([samples])[0]

    def stream(self, audio) -> np.ndarray:
        """The same d-vector from a :class:`seraltools.audio.AudioStream` (a long recording)
        in three passes over the file: its level, WebRTC VAD's decisions, the mel frames of
        the windows kept. Memory holds the mel frames, not the samples."""
        from seraltools.audio import rechunked

        total, n = 0.0, 0
        for block in rechunked(audio.blocks(), LONG):  # the blocks normalize_volume sums
            total, n = total + _square_sum(block), n + len(block)
        if n <= LONG:
            return self(audio.read())
        gain = volume_gain(np.sqrt(total / n))
        chunk = VAD_WINDOW * VAD_CHUNK

        def normalized():
            for block in rechunked(audio.blocks(), chunk):
                yield block if gain is None else (block * gain).astype(np.float32, copy=False)

        mask = None
        if self.trim_silence:
            vad, flags = _vad(), []
            for block in normalized():
                flags += _vad_flags(vad, block)
            mask = speech_mask(np.array(flags, dtype=float))
            if mask is not None and not mask.any():
                mask = None  # all silence: the audio rather than nothing, as preprocess does

        def kept():
            for i, block in enumerate(normalized()):
                if mask is None:
                    yield block
                else:
                    whole = len(block) - len(block) % VAD_WINDOW
                    windows = mask[i * VAD_CHUNK : i * VAD_CHUNK + whole // VAD_WINDOW]
                    yield block[:whole].reshape(-1, VAD_WINDOW)[windows].reshape(-1)

        return self.net.stream_embed(kept(), n).astype(np.float32)

    def batch(self, batch: list[np.ndarray]) -> np.ndarray:
        parts = [self.net.partials(self.preprocess(s)) for s in batch]
        embeds = self.net.embed(np.concatenate(parts))
        out = np.empty((len(batch), self.dim), np.float32)
        start = 0
        for i, p in enumerate(parts):
            mean = embeds[start : start + len(p)].mean(axis=0)
            out[i] = mean / np.linalg.norm(mean)
            start += len(p)
        return out
