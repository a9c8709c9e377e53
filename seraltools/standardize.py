"""Standardisation: the one definition of "z-score at the corpus level" for every tool.

Each dimension is centred on its mean and divided by its (population) standard
deviation over the rows of the table it is fitted on; a constant dimension is only
centred (scale 1), so it becomes 0. The paper z-scores its features at the corpus
level ("cpc-dimred-medoid-active-learning", Sec. 3.4): seral does so for the SVM's
classification features (``evaluate al``), for the distances MAL measures
(``mal-select``, ``evaluate al``; ``--no-standardize`` to opt out) and before PCA
and the autoencoder (``reduce``), where the fitted statistics travel with the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Standardizer:
    """Per-dimension mean and scale fitted on one table, applied to any other."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, on: bool = True) -> "Standardizer":
        """Statistics of ``x`` (N, D); ``on=False`` gives the identity."""
        d = x.shape[1]
        if not on:
            return cls(np.zeros(d, np.float32), np.ones(d, np.float32))
        sd = x.std(axis=0, dtype=np.float64)
        return cls(x.mean(axis=0, dtype=np.float64).astype(np.float32), np.where(sd > 0, sd, 1.0).astype(np.float32))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale).astype(np.float32)


def zscore(x: np.ndarray) -> np.ndarray:
    """``x`` standardised with its own statistics (constant dimensions become 0)."""
    x = np.asarray(x, dtype=np.float32)
    return Standardizer.fit(x)(x)
