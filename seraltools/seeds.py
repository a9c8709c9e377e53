"""The seed policy: every random step of seral draws from the ``--seed`` of its command.

Same input and seed, same output. Each random step gets a generator or a seed derived
from the command's seed and a fixed *salt* naming the step, so that steps never share a
stream and adding a step changes no other step's numbers:

- :func:`rng` ``(seed, *salt)`` is ``numpy.random.default_rng([seed, *salt])`` (numpy's
  SeedSequence hashes the list);
- :func:`sub_seed` ``(seed, *salt)`` is an integer drawn from it, for libraries that take
  an integer (scikit-learn's ``random_state``, a nested selector's own seed);
- :func:`seed_torch` ``(seed)`` seeds torch's global generator, which model
  initialisation draws from, at the start of each training run.

Every derivation, by module (``seed`` is the command's ``--seed`` unless said):

=====================  ===========================================================
 mal                   k-medoids initialisation: ``default_rng(seed)``; the block
                       approximation's k-means: ``random_state=seed``; queue level
                       L >= 1 past the medoids: ``sub_seed(seed, L)``
 mal random_queue      ``default_rng(seed).permutation``
 selectors             k-center's first centre ``sub_seed(seed, 1)``; TypiClust's
                       k-means ``sub_seed(seed, 2)`` and ties ``sub_seed(seed, 7)``;
                       ProbCover's delta ``sub_seed(seed, 3)`` and ties
                       ``sub_seed(seed, 4)``; stratified: strata ``sub_seed(seed, 5)``,
                       order ``sub_seed(seed, 6)``; the random part of the
                       "then random" hybrids ``sub_seed(seed, 8)``
 classifier            the grid search's folds and subsample ``random_state=grid_seed``
                       (0; evaluate al), or ``seed`` (predict)
 simulate              per seed s: outer folds of
                       repeat r ``random_state=s * 1000 + r``; per cell (s, r, fold):
                       random order ``sub_seed(s, r, fold, 0)``, selectors
                       ``sub_seed(s, r, fold, 1)``
 uncertainty           ties ``sub_seed(seed, 10)``; cluster-margin's k-means
                       ``sub_seed(seed, 8)``; entropy's Platt CV ``sub_seed(seed, 9)``;
                       a fallback order's tail ``sub_seed(seed, 11)``
 rounds                per cell (s, r, fold): later round i draws
                       ``sub_seed(sub_seed(s, r, fold, 2), i)``
 cpc (train-cpc)       ``seed_torch(seed)``; train/validation split ``rng(seed, 0)``;
                       epoch e's crops ``rng(seed, 1, e)``; validation crops
                       ``default_rng(seed)``
 pretrain              ``seed_torch(seed)``; step t's sampling and crops ``rng(seed, t)``
 ser (evaluate ser)    run seed s = 0 .. --seeds-1: ``seed_torch(s)``; epoch e's order
                       and crops ``rng(s, e)``
 reduce -m ae          ``seed_torch(seed)``; split ``default_rng(seed)``; batches
                       ``torch.Generator().manual_seed(seed)``
 reduce -m tsne        ``random_state=seed`` (scikit-learn / openTSNE)
 speaker_clusters      speaker i's subsample ``rng(seed, i)``; its k-means
                       ``random_state=seed``
 synth                 speakers ``rng(seed, 1)``; utterance k of speaker i, emotion j
                       ``rng(seed, 2, i, j, k)``
=====================  ===========================================================
"""

from __future__ import annotations

import numpy as np


def rng(seed: int, *salt: int) -> np.random.Generator:
    """The generator of one random step: ``default_rng([seed, *salt])``."""
    return np.random.default_rng([int(seed), *salt])


def sub_seed(seed: int, *salt: int) -> int:
    """A seed of its own for one random step, drawn from ``seed`` (and the step's ``salt``)."""
    return int(rng(seed, *salt).integers(2**31))


def seed_torch(seed: int) -> None:
    """Seed torch's global generator (model initialisation) for one training run."""
    import torch

    torch.manual_seed(seed)
