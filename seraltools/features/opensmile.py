"""openSMILE functionals: eGeMAPS (88 dims), the standard hand-crafted SER baseline, and
ComParE 2016 (6,373 dims).

eGeMAPSv02 (Eyben et al., "The Geneva Minimalistic Acoustic Parameter Set (GeMAPS) for
voice research and affective computing", IEEE TAC 2016, extended set): pitch, jitter,
shimmer, loudness, spectral balance, formants, MFCC 1-4 and rates of voiced segments,
as functionals over the utterance. ComParE 2016: the INTERSPEECH Computational
Paralinguistics Challenge set. Both through audEERING's ``opensmile`` package (its wheel
carries the openSMILE library; nothing is downloaded), an optional extra:
``pip install 'seraltools[opensmile]'``. seral hands it the mono 16 kHz samples every
extractor gets.
"""

from __future__ import annotations

import numpy as np

from seraltools.errors import BadInput


class _OpenSmile:
    name = ""
    feature_set = ""

    def __init__(self):
        try:
            import opensmile
        except ImportError as e:
            from seraltools.errors import EXTRAS

            raise BadInput(f"--feat {self.name} needs openSMILE, which is not installed: {EXTRAS['opensmile']}") from e
        self._smile = opensmile.Smile(feature_set=getattr(opensmile.FeatureSet, self.feature_set),
                                      feature_level=opensmile.FeatureLevel.Functionals)
        self.names = list(self._smile.feature_names)
        self.dim = len(self.names)
        self._version = getattr(opensmile, "__version__", "unknown")

    def config(self) -> dict:
        return {"opensmile": self._version, "feature_set": self.feature_set, "feature_names": self.names}

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        from seraltools.audio import SAMPLE_RATE

        import warnings

        with warnings.catch_warnings():  # "Segment too short, filling with NaN": said below, with the file
            warnings.simplefilter("ignore")
            values = self._smile.process_signal(np.asarray(samples, dtype=np.float32), SAMPLE_RATE).to_numpy()
        v = np.asarray(values, dtype=np.float32).reshape(-1)
        if v.shape != (self.dim,) or not np.isfinite(v).all():
            raise BadInput(f"openSMILE's {self.feature_set} gave {v.size} values, "
                           f"{int((~np.isfinite(v)).sum())} not finite; is the audio very short?")
        return v


class EGeMAPSFeatures(_OpenSmile):
    """Extractor: mono 16 kHz samples -> the 88 eGeMAPSv02 functionals (float32)."""

    name = "egemaps"
    feature_set = "eGeMAPSv02"


class ComParEFeatures(_OpenSmile):
    """Extractor: mono 16 kHz samples -> the 6,373 ComParE 2016 functionals (float32)."""

    name = "compare"
    feature_set = "ComParE_2016"
