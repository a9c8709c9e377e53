"""``seral pretrain`` and ``seral train-cpc`` over tables: the utterances (and, for the
intra-speaker objectives, the clusters of ``cluster-speakers``) to train on, then the
training of :mod:`seraltools.pretrain` or :mod:`seraltools.cpc`. These two tools write
as they go: the model file, its checkpoint (for ``resume``) and the per-step log."""

from __future__ import annotations

import numpy as np

from seraltools.errors import BadInput


def pretrain(utterances, clusters, cfg, out: str, *, clusters_name: str = "--clusters", device: str = "auto",
             resume: bool = False, progress=None, log=None):
    """Pretrain an encoder (:class:`seraltools.pretrain.PretrainConfig`) on the audio of
    ``utterances`` (from :func:`seraltools.corpora.collect_inputs`); ``clusters``: a
    cluster-speakers table (needed by the contrastive objectives). Utterances without a
    speaker (or a cluster) are left out. Returns (the per-step history, utterances left out)."""
    from seraltools.corpora import sources
    from seraltools.pretrain import pretrain as train, read_clusters

    ids, paths = utterances.column("id").to_pylist(), sources(utterances)
    speakers = utterances.column("speaker").to_pylist() if "speaker" in utterances.column_names else [None] * len(ids)
    cl, centres = [None] * len(ids), None
    if clusters is not None:
        labels, centres = read_clusters(clusters, ids, clusters_name)
        speakers = [s if s is not None else old for (s, _), old in zip(labels, speakers)]
        cl = [c for _, c in labels]
    elif cfg.contrastive:
        raise BadInput(f"--objective {cfg.objective} needs --clusters (a table from seral cluster-speakers)")
    keep = [i for i in range(len(ids)) if speakers[i] is not None and (cl[i] is not None or not cfg.contrastive)]
    if not keep:
        raise BadInput("no input utterance has a speaker" + (" and a cluster in --clusters (do the ids match?)"
                                                             if clusters is not None else "; give a manifest with a speaker column"))
    history = train([paths[i] for i in keep], [speakers[i] for i in keep],
                    np.array([cl[i] if cl[i] is not None else -1 for i in keep]), centres, cfg, out,
                    device=device, resume=resume, progress=progress, log=log)
    return history, len(ids) - len(keep)


def train_cpc(utterances, cfg, out: str, *, device: str = "auto", resume: bool = False, progress=None, log=None):
    """Train CPC (:class:`seraltools.cpc.CPCConfig`) on the log-mel frames of the audio of
    ``utterances``. Returns the per-epoch history."""
    from seraltools.corpora import sources
    from seraltools.cpc import read_frames, train

    return train(read_frames(sources(utterances)), cfg, out, device=device, resume=resume, progress=progress, log=log)
