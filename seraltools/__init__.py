"""seral: composable command-line tools for speech emotion recognition with scarce labels.

The library is importable without the command line; each ``seral TOOL`` command is a
thin layer over the functions here:

- :mod:`seraltools.table`     the Parquet table contract (DESIGN.md)
- :mod:`seraltools.audio`     reading audio: mono, 16 kHz, with clear errors
- :mod:`seraltools.frontend`  the one place that computes log-mel frames and deltas
- :mod:`seraltools.features`  utterance-level feature extractors, registered by name
- :mod:`seraltools.corpora`   inputs, manifests, file-name label parsers, valence/arousal maps
- :mod:`seraltools.tools.extract`   audio -> feature table
- :mod:`seraltools.synth`     the deterministic synthetic stand-in corpus
"""

__version__ = "0.1.0"
