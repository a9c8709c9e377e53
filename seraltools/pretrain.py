"""Pretraining an SER encoder on unlabelled speech: ``seral pretrain``.

Paper "speaker-embedding-clusters-contrastive-ser", Sec. 3 and 4.1. Intra-speaker
clusters of speaker embeddings (``seral cluster-speakers --k 20``) stand in for the
missing emotion labels:

- **contrastive** (Sec. 3.1): per anchor utterance, a positive from its own
  intra-speaker cluster and ``N/2`` negatives, one from each of the ``N/2`` clusters of
  the same speaker whose centres are farthest (cosine) from the anchor's cluster
  centre, where ``N`` is that speaker's number of clusters (soft sampling,
  :class:`SoftSampler`). The loss is the NT-Xent form of Eq. 1 on the contrastive
  head's outputs: ``-log(exp(s_p/tau) / (exp(s_p/tau) + sum_k exp(s_k/tau)))`` with
  cosine similarities ``s`` (the positive is in the denominator, as in NT-Xent).
- **mtl** (Sec. 3.2): the shared encoder with the contrastive head and a speaker
  classification head (cross-entropy on speaker labels); the losses are weighted.
- **adversarial**: mtl with a gradient-reversal layer between pooling and the
  speaker head.
- **speaker**: speaker classification alone (the paper's baseline).

Training: 4-s segments (a random crop of longer utterances; shorter ones whole, their
padding masked), AdamW, a fixed number of steps of ``batch_size`` anchors (the
paper: 250k steps of 8). Each step's draws derive from (seed, step) and a checkpoint
(``OUT.ckpt``, every ``checkpoint_every`` steps) holds the model, optimiser and torch's
random state, so ``--resume`` reaches the same model as an uninterrupted run.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from seraltools.audio import SAMPLE_RATE
from seraltools.encoder import EncoderConfig
from seraltools.checkpoint import checkpoint_path, log_path, write_log  # noqa: F401  (log_path: for callers)
from seraltools.errors import BadInput
from seraltools.seeds import seed_torch
from seraltools.training import TrainingRun

OBJECTIVES = ("contrastive", "mtl", "adversarial", "speaker")


@dataclass
class PretrainConfig:
    objective: str = "contrastive"
    steps: int = 1000  # the paper: 250,000
    batch_size: int = 8
    lr: float = 5e-4  # wav2vec 2.0 base's peak rate (the paper gives none)
    weight_decay: float = 0.01
    segment_s: float = 4.0
    temperature: float = 0.1
    contrastive_weight: float = 1.0
    speaker_weight: float = 1.0
    grl_scale: float = 1.0
    head_hidden: int = 256
    projection: int = 128
    seed: int = 0
    checkpoint_every: int = 50
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    # continued pretraining of a speech SSL checkpoint (the speaker paper's Table 3)
    init: str | None = None  # a local Hugging Face checkpoint directory; None: seral's encoder, random weights
    init_layers: int | None = None  # keep the first N transformer layers (the paper: 6); None: all
    freeze_feature_encoder: bool = True  # the CNN feature encoder keeps its pretrained weights

    @property
    def contrastive(self) -> bool:
        return self.objective in ("contrastive", "mtl", "adversarial")

    @property
    def speaker(self) -> bool:
        return self.objective in ("mtl", "adversarial", "speaker")

    def check(self) -> None:
        if self.objective not in OBJECTIVES:
            raise BadInput(f"--objective {self.objective!r}: choose one of {', '.join(OBJECTIVES)}")
        if self.temperature <= 0:
            raise BadInput(f"--temperature {self.temperature}: give a positive number")
        self.encoder.check()


# ----------------------------------------------------------------------------- soft sampling


class SoftSampler:
    """Positives and negatives from intra-speaker clusters (the paper's soft sampling).

    ``speakers`` and ``clusters`` label each utterance; ``centres[speaker]`` holds that
    speaker's cluster centres, row c = cluster c (any scale; compared by cosine).
    """

    def __init__(self, speakers: list, clusters: np.ndarray, centres: dict[str, np.ndarray]):
        self.speakers = np.asarray([str(s) for s in speakers])
        self.clusters = np.asarray(clusters, dtype=np.int64)
        self.members: dict[tuple[str, int], np.ndarray] = {}
        for key in sorted(set(zip(self.speakers.tolist(), self.clusters.tolist()))):
            self.members[key] = np.flatnonzero((self.speakers == key[0]) & (self.clusters == key[1]))
        # per (speaker, cluster): the speaker's other non-empty clusters, farthest centre first
        self.farthest: dict[tuple[str, int], list[int]] = {}
        for spk in sorted(set(self.speakers.tolist())):
            present = sorted(c for s, c in self.members if s == spk)
            if spk not in centres:
                raise BadInput(f"no cluster centres for speaker {spk!r}")
            cen = np.asarray(centres[spk], dtype=np.float64)
            if max(present) >= len(cen):
                raise BadInput(f"speaker {spk!r}: cluster {max(present)} has no centre ({len(cen)} centres)")
            unit = cen / np.maximum(np.linalg.norm(cen, axis=1, keepdims=True), 1e-12)
            for c in present:
                others = [o for o in present if o != c]
                dist = 1 - unit[others] @ unit[c]
                self.farthest[(spk, c)] = [others[i] for i in np.argsort(-dist, kind="stable")]
        n_clusters = {s: sum(1 for k in self.members if k[0] == s) for s in set(self.speakers.tolist())}
        self.n_negatives = {s: n // 2 for s, n in n_clusters.items()}
        #: utterances that can be anchors: their speaker has at least two clusters
        self.anchors = np.flatnonzero([self.n_negatives[s] >= 1 for s in self.speakers])

    def sample(self, anchors: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
        """(positive row per anchor, negative rows per anchor). A positive is another
        member of the anchor's cluster (the anchor itself, another crop, when alone)."""
        positives = np.empty(len(anchors), dtype=np.int64)
        negatives = []
        for i, a in enumerate(anchors):
            spk, c = self.speakers[a], int(self.clusters[a])
            same = self.members[(spk, c)]
            others = same[same != a]
            positives[i] = rng.choice(others) if len(others) else a
            far = self.farthest[(spk, c)][: self.n_negatives[spk]]
            negatives.append(np.array([rng.choice(self.members[(spk, o)]) for o in far], dtype=np.int64))
        return positives, negatives


def nt_xent(anchor, positive, negatives, neg_mask, temperature: float):
    """Eq. 1 (NT-Xent with cosine similarity). anchor, positive: (B, D); negatives:
    (B, M, D) with neg_mask (B, M) of real ones. Returns (loss, share of anchors whose
    positive is more similar than every negative)."""
    import torch
    from torch.nn.functional import cosine_similarity, cross_entropy

    sp = cosine_similarity(anchor, positive, dim=-1)[:, None]
    sn = cosine_similarity(anchor[:, None, :], negatives, dim=-1).masked_fill(~neg_mask, float("-inf"))
    logits = torch.cat([sp, sn], dim=1) / temperature
    target = torch.zeros(len(anchor), dtype=torch.long, device=anchor.device)
    return cross_entropy(logits, target), (logits.argmax(1) == 0).float().mean().item()


def read_clusters(t, ids: list[str], path: str = "clusters") -> tuple[list[tuple], dict[str, np.ndarray]]:
    """(speaker, cluster) per id (``(None, None)`` for ids the table lacks) from a
    ``cluster-speakers`` table ``t`` (read from ``path``), and each speaker's cluster
    centres: those kept in its metadata, else the mean unit-length embedding of each cluster."""
    from seraltools.speaker_clusters import cluster_centres
    from seraltools.table import feature_matrix, metadata

    for col in ("speaker", "cluster"):
        if col not in t.column_names:
            raise BadInput(f"{path}: no '{col}' column; make it with seral cluster-speakers")
    speakers, clusters = t.column("speaker").to_pylist(), t.column("cluster").to_pylist()
    by_id = dict(zip(t.column("id").to_pylist(), zip(speakers, clusters)))
    centres = metadata(t).get("speaker_clusters")
    if not centres:
        if "features" not in t.column_names:
            raise BadInput(f"{path}: has neither cluster centres in its metadata nor features to compute them")
        centres = cluster_centres(feature_matrix(t, path), speakers, clusters)
    return [by_id.get(i, (None, None)) for i in ids], {s: np.asarray(c) for s, c in centres.items()}


# ----------------------------------------------------------------------------- model


def build_pretraining_model(cfg: PretrainConfig, n_speakers: int):
    from torch import nn

    from seraltools.encoder import build_head, gradient_reversal, mean_pool, open_encoder

    class Pretraining(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = open_encoder(cfg.init, cfg.encoder, layers=cfg.init_layers,
                                        freeze_feature_encoder=cfg.freeze_feature_encoder)
            w = self.encoder.width
            self.contrastive_head = build_head(w, cfg.head_hidden, cfg.projection, tanh=True) if cfg.contrastive else None
            self.speaker_head = build_head(w, cfg.head_hidden, n_speakers) if cfg.speaker else None

        def forward(self, wav, lengths):
            pooled = mean_pool(*self.encoder(wav, lengths))
            z = self.contrastive_head(pooled) if self.contrastive_head is not None else None
            spk = None
            if self.speaker_head is not None:
                s_in = gradient_reversal(pooled, cfg.grl_scale) if cfg.objective == "adversarial" else pooled
                spk = self.speaker_head(s_in)
            return z, spk

    seed_torch(cfg.seed)
    return Pretraining()  # (a checkpoint's weights are loaded, the heads' drawn from the seed)


# ----------------------------------------------------------------------------- training


@dataclass
class StepLog:
    step: int
    loss: float
    contrastive_loss: float
    contrastive_accuracy: float
    speaker_loss: float
    speaker_accuracy: float
    seconds: float


class AudioCache:
    """Decoded utterances kept between steps, least recently used first out, at most
    ``max_bytes`` of samples (a corpus of long utterances does not fill the memory)."""

    def __init__(self, max_bytes: int = 1 << 30):
        from collections import OrderedDict

        self.max_bytes, self.bytes, self.items = max_bytes, 0, OrderedDict()

    def __call__(self, path) -> np.ndarray:
        if path in self.items:
            self.items.move_to_end(path)
            return self.items[path]
        from seraltools.audio import load_audio

        x = load_audio(path).samples
        self.items[path] = x
        self.bytes += x.nbytes
        while self.bytes > self.max_bytes and len(self.items) > 1:
            _, old = self.items.popitem(last=False)
            self.bytes -= old.nbytes
        return x




def pretrain(paths: list[str], speakers: list, clusters: np.ndarray | None, centres: dict | None,
             cfg: PretrainConfig, out: str, *, device: str = "auto", resume: bool = False,
             progress=None, log=None) -> list[StepLog]:
    """Pretrain on the utterances ``paths`` (with ``speakers`` and, for the contrastive
    objectives, intra-speaker ``clusters`` and their ``centres``); writes the encoder
    model file ``out``, a checkpoint ``out``.ckpt and a log ``out`` with .log.csv."""
    from seraltools.compute import resolve_device

    device = resolve_device(device)  # "auto": a GPU when torch sees one (the one device policy)
    import torch
    from torch.nn.functional import cross_entropy

    from seraltools import checkpoint
    from seraltools.encoder import batch_waveforms, crop, save_encoder

    cfg.check()
    speaker_names = sorted({str(s) for s in speakers})
    speaker_index = {s: i for i, s in enumerate(speaker_names)}
    spk_ids = np.array([speaker_index[str(s)] for s in speakers])
    if cfg.contrastive:
        sampler = SoftSampler(speakers, clusters, centres)
        pool = sampler.anchors
        if not len(pool):
            raise BadInput("no speaker has two or more clusters: contrastive pretraining needs negatives "
                           "(run seral cluster-speakers with --k 2 or more)")
    else:
        if len(speaker_names) < 2:
            raise BadInput("speaker classification needs two or more speakers")
        pool = np.arange(len(paths))
    if len(pool) < cfg.batch_size:
        raise BadInput(f"--batch-size {cfg.batch_size} is more than the {len(pool)} usable utterances")
    model = build_pretraining_model(cfg, len(speaker_names)).to(device)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                            weight_decay=cfg.weight_decay)
    init_files = {}
    if cfg.init:  # which checkpoint (its files' digests), so that --resume cannot continue from another
        from seraltools.table import fingerprint_file

        init_files = {f.name: fingerprint_file(f) for f in sorted(Path(cfg.init).glob("*.safetensors"))}
    settings = asdict(cfg)
    if not cfg.init:  # seral's own encoder: the settings (and checkpoints) of before --init existed
        for key in ("init", "init_layers", "freeze_feature_encoder"):
            settings.pop(key)
    else:
        settings["init_files"] = init_files
    config = {**settings, "speakers": speaker_names,
              "data": checkpoint.fingerprint([str(p) for p in paths], [str(s) for s in speakers],
                                             None if clusters is None else np.asarray(clusters), centres or {})}
    run = TrainingRun(model, opt, None, better=None, checkpoint=checkpoint_path(out), every=cfg.checkpoint_every,
                      config=config, must_match=tuple(k for k in config if k not in ("steps", "checkpoint_every")),
                      row=StepLog)
    if resume:
        run.resume()
        if run.round and log:
            log(f"resuming after step {run.round} from {run.path}")
    seg = int(round(cfg.segment_s * SAMPLE_RATE))
    audio = AudioCache()
    model.train()
    for step in range(run.round + 1, cfg.steps + 1):
        t0 = time.perf_counter()
        rng = np.random.default_rng([cfg.seed, step])
        anchors = rng.choice(pool, cfg.batch_size, replace=False)
        rows = list(anchors)
        if cfg.contrastive:
            positives, negatives = sampler.sample(anchors, rng)
            rows += list(positives) + [r for n in negatives for r in n]
        # every draw is its own crop (an anchor that is its own positive gets a second one)
        x, lengths = batch_waveforms([crop(audio(paths[r]), seg, rng) for r in rows])
        z, spk_logits = model(torch.from_numpy(x).to(device), torch.from_numpy(lengths).to(device))
        loss = torch.zeros((), device=device)
        c_loss = c_acc = s_loss = s_acc = float("nan")
        if cfg.contrastive:
            b = cfg.batch_size
            m = max(len(n) for n in negatives)
            idx = np.full((b, m), 2 * b, dtype=np.int64)  # placeholder index for missing negatives
            mask = np.zeros((b, m), bool)
            start = 2 * b
            for i, n in enumerate(negatives):
                idx[i, : len(n)] = np.arange(start, start + len(n))
                mask[i, : len(n)] = True
                start += len(n)
            neg = z[torch.from_numpy(idx).to(device)]
            cl, c_acc = nt_xent(z[:b], z[b : 2 * b], neg, torch.from_numpy(mask).to(device), cfg.temperature)
            loss = loss + cfg.contrastive_weight * cl
            c_loss = cl.item()
        if cfg.speaker:
            target = torch.from_numpy(spk_ids[np.array(rows)]).to(device)
            sl = cross_entropy(spk_logits, target)
            loss = loss + cfg.speaker_weight * sl
            s_loss, s_acc = sl.item(), (spk_logits.argmax(1) == target).float().mean().item()
        opt.zero_grad()
        loss.backward()
        opt.step()
        run.end_round(StepLog(step, loss.item(), c_loss, c_acc, s_loss, s_acc, time.perf_counter() - t0),
                      final=step == cfg.steps)
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            write_log(out, run.history)
        if progress:
            progress(step, run.history[-1])
    history = run.history
    heads = {k: v for k, v in (("contrastive_head", model.contrastive_head), ("speaker_head", model.speaker_head))
             if v is not None}
    extra = {"pretraining": {k: v for k, v in config.items() if k != "encoder"}, "steps_run": len(history),
             "final_loss": history[-1].loss if history else None}
    save_encoder(out, model.encoder, cfg.encoder, extra, heads)
    return history
