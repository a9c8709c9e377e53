"""Contrastive predictive coding (CPC) on log-mel frames: ``seral train-cpc``.

Paper "cpc-dimred-medoid-active-learning", Sec. 2.1 and 3.2:

- input: log-mel frames of :mod:`seraltools.frontend` (40 mel, 30 ms Hann, 10 ms
  shift), standardised per mel band with the training utterances' mean and standard
  deviation (kept in the model file; the paper leaves input scaling open);
- g_enc: three fully-connected ELU layers of 256 units, each followed by 20 % dropout,
  frame by frame: z_t = g_enc(x_t);
- g_ar: a one-layer GRU with 256 hidden units: c_t = g_ar(z_<=t);
- predictions k = 1..12 frames (120 ms) ahead through linear maps W_k, scored
  f_k = exp(z_{t+k}^T W_k c_t);
- loss (Eq. 1): InfoNCE, the positive z_{t+k} of the same utterance against the
  z_{t+k} of the other utterances of the minibatch (the negatives), averaged over
  k and over every anchor t whose target t+k is a real frame; padded frames are never
  anchors, targets or negatives.

Training (the paper's, each an option): 5-s segments (shorter utterances zero-padded
and masked, a random 5-s crop of longer ones, drawn anew each epoch), batch 8, Adam
lr 1e-4, learning rate x0.7 after 20 epochs without a better validation loss, early
stopping after 100, an 80:20 random utterance split, the best-validation model
kept. Validation crops are fixed (seeded), so validation losses compare across
epochs. Each epoch's shuffling and crops derive from (seed, epoch), and a checkpoint
holds the model, optimiser, scheduler and torch's random state, so a resumed run
reaches the same model as an uninterrupted one.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from seraltools.checkpoint import checkpoint_path, fingerprint, log_path, write_log  # noqa: F401  (log_path: for callers)
from seraltools.errors import BadInput
from seraltools.seeds import seed_torch
from seraltools.training import TrainingRun

FRAMES_PER_SECOND = 100


@dataclass
class CPCConfig:
    n_mels: int = 40
    hidden: int = 256  # g_enc units
    context: int = 256  # g_ar (GRU) units
    steps: int = 12  # prediction horizon K (frames)
    dropout: float = 0.2
    segment_s: float = 5.0
    batch_size: int = 8
    lr: float = 1e-4
    lr_factor: float = 0.7
    lr_patience: int = 20
    patience: int = 100
    max_epochs: int = 1000
    val_fraction: float = 0.2
    seed: int = 0

    @property
    def segment(self) -> int:
        return int(round(self.segment_s * FRAMES_PER_SECOND))


def build(cfg: CPCConfig):
    import torch
    from torch import nn

    class CPC(nn.Module):
        def __init__(self):
            super().__init__()
            layers, d = [], cfg.n_mels
            for _ in range(3):
                layers += [nn.Linear(d, cfg.hidden), nn.ELU(), nn.Dropout(cfg.dropout)]
                d = cfg.hidden
            self.g_enc = nn.Sequential(*layers)
            self.g_ar = nn.GRU(cfg.hidden, cfg.context, batch_first=True)
            self.W = nn.ModuleList(nn.Linear(cfg.context, cfg.hidden, bias=False) for _ in range(cfg.steps))
            self.register_buffer("mean", torch.zeros(cfg.n_mels))
            self.register_buffer("std", torch.ones(cfg.n_mels))

        def forward(self, x):
            """x: (B, T, n_mels) raw log-mel -> z (B, T, hidden), c (B, T, context)."""
            z = self.g_enc((x - self.mean) / self.std)
            c, _ = self.g_ar(z)
            return z, c

    return CPC()


def info_nce(model, z, c, mask):
    """Eq. 1 with in-batch negatives. Returns (loss, accuracy of picking the positive)."""
    import torch

    b, t, _ = z.shape
    losses, correct, count = [], 0, 0
    for k in range(1, len(model.W) + 1):
        if t <= k:
            break
        pred = model.W[k - 1](c[:, :-k])  # (B, T-k, H): W_k c_t
        target = z[:, k:]  # (B, T-k, H): z_{t+k}
        valid = mask[:, :-k] & mask[:, k:]  # anchor and target are real frames
        # scores[b, t, b'] = z_{b', t+k} . W_k c_{b, t}
        scores = torch.einsum("bth,nth->btn", pred, target)
        scores = scores.masked_fill(~mask[:, k:].T.unsqueeze(0), -1e9)  # padded negatives out (finite: no NaN)
        labels = torch.arange(b, device=z.device).unsqueeze(1).expand(b, t - k)
        logp = torch.log_softmax(scores, dim=-1)
        picked = logp.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
        losses.append(-(picked[valid]).mean())
        correct += int((scores.argmax(-1) == labels)[valid].sum())
        count += int(valid.sum())
    return torch.stack(losses).mean(), correct / max(count, 1)


def crop(frames: list[np.ndarray], length: int, rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
    """A batch of fixed-length segments: a random crop (rng) or the start (rng None) of
    longer utterances; shorter ones zero-padded. Returns (B, length, F) and the mask."""
    out = np.zeros((len(frames), length, frames[0].shape[1]), np.float32)
    mask = np.zeros((len(frames), length), bool)
    for i, f in enumerate(frames):
        if len(f) > length:
            start = int(rng.integers(len(f) - length + 1)) if rng is not None else 0
            f = f[start : start + length]
        out[i, : len(f)] = f
        mask[i, : len(f)] = True
    return out, mask


@dataclass
class EpochLog:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    lr: float
    seconds: float


def _run_epoch(model, opt, frames, cfg, rng, device, train: bool, val_rng_seed: int | None = None):
    import torch

    order = rng.permutation(len(frames)) if train else np.arange(len(frames))
    crop_rng = rng if train else np.random.default_rng(val_rng_seed)
    total, acc, n = 0.0, 0.0, 0
    model.train(train)
    for i in range(0, len(order), cfg.batch_size):
        idx = order[i : i + cfg.batch_size]
        if len(idx) < 2:  # InfoNCE needs at least one negative
            continue
        x, m = crop([frames[j] for j in idx], cfg.segment, crop_rng)
        x, m = torch.from_numpy(x).to(device), torch.from_numpy(m).to(device)
        with torch.set_grad_enabled(train):
            z, c = model(x)
            loss, a = info_nce(model, z, c, m)
        if train:
            opt.zero_grad()
            loss.backward()
            opt.step()
        total += loss.item() * len(idx)
        acc += a * len(idx)
        n += len(idx)
    return total / max(n, 1), acc / max(n, 1)


def train(frames: list[np.ndarray], cfg: CPCConfig, out: str, *, device: str = "auto", resume: bool = False,
          progress=None, log=None) -> list[EpochLog]:
    """Train on a list of (T, n_mels) log-mel arrays; writes the best model to ``out``,
    a checkpoint to ``out``.ckpt and the per-epoch log to ``out`` with .log.csv."""
    from seraltools.compute import resolve_device

    device = resolve_device(device)  # "auto": a GPU when torch sees one (the one device policy)
    import torch

    from seraltools.models import save_model

    if len(frames) < 5:
        raise BadInput(f"CPC training needs at least 5 utterances (80:20 split, 2 per batch); got {len(frames)}")
    seed_torch(cfg.seed)
    split = np.random.default_rng([cfg.seed, 0]).permutation(len(frames))
    n_val = max(2, int(round(cfg.val_fraction * len(frames))))
    val = [frames[i] for i in split[:n_val]]
    tr = [frames[i] for i in split[n_val:]]
    model = build(cfg).to(device)
    allf = np.concatenate(tr)
    model.mean.copy_(torch.from_numpy(allf.mean(0)))
    model.std.copy_(torch.from_numpy(np.maximum(allf.std(0), 1e-3)))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=cfg.lr_factor, patience=cfg.lr_patience)
    run = TrainingRun(model, opt, sched, better="lower", patience=cfg.patience, checkpoint=checkpoint_path(out),
                      config={**asdict(cfg), "frontend": _frontend(), "data": fingerprint(frames)},  # other data: refused
                      must_match=("n_mels", "hidden", "context", "steps", "seed", "batch_size", "segment_s", "frontend"),
                      row=EpochLog)
    if resume:
        run.resume()
        if run.round and log:
            log(f"resuming after epoch {run.round} from {run.path}")
    for epoch in range(run.round + 1, cfg.max_epochs + 1):
        if run.stopped:
            break
        t0 = time.perf_counter()
        rng = np.random.default_rng([cfg.seed, 1, epoch])
        tl, ta = _run_epoch(model, opt, tr, cfg, rng, device, train=True)
        vl, va = _run_epoch(model, opt, val, cfg, rng, device, train=False, val_rng_seed=cfg.seed)
        sched.step(vl)
        run.end_round(EpochLog(epoch, tl, ta, vl, va, opt.param_groups[0]["lr"], time.perf_counter() - t0), vl)
        write_log(out, run.history)
        if progress:
            progress(epoch, run.history[-1])
    run.restore_best()
    history = run.history
    save_model(out, "cpc", {k: v.cpu().numpy() for k, v in model.state_dict().items()},
               {**asdict(cfg), "frontend": _frontend(), "epochs_run": len(history),
                "best_epoch": int(np.argmin([h.val_loss for h in history])) + 1 if history else 0,
                "best_val_loss": run.best if history else float("inf")})
    run.finish()  # the model is written: no checkpoint is left beside it
    return history


def _frontend() -> dict:
    from seraltools.frontend import DEFAULT

    return DEFAULT.to_dict()


def frontend_of(config: dict):
    """The log-mel front-end a model was trained on (a model made before the front-end
    skipped digital silence has no ``skip_silence`` and did not skip it)."""
    from seraltools.frontend import LogMelConfig

    stored = {"log_floor": 1e-10, "skip_silence": False, **config.get("frontend", {})}
    return LogMelConfig(**{k: v for k, v in stored.items() if k in LogMelConfig.__dataclass_fields__})


def load(path: str, device: str = "cpu"):
    """The trained model of a ``cpc`` model file, in eval mode, its config and its front-end."""
    import torch

    from seraltools.models import load_model

    from seraltools.models import check_shapes, check_sizes

    header, tensors = load_model(path, kind="cpc")
    config = header["config"]
    check_sizes(path, config, ("n_mels", "hidden", "context", "steps"), tensors)
    cfg = CPCConfig(**{k: v for k, v in config.items() if k in CPCConfig.__dataclass_fields__})
    check_shapes(path, lambda: build(cfg), tensors)
    model = build(cfg)
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()})
    return model.to(device).eval(), cfg, frontend_of(config)


def read_frames(paths: list[str]) -> list[np.ndarray]:
    """Log-mel frames of each file (the same front-end as ``--feat logmel``)."""
    from seraltools.audio import load_audio
    from seraltools.frontend import logmel

    out = []
    for p in paths:
        frames = logmel(load_audio(p).samples)
        if len(frames) < 2:
            raise BadInput(f"{p}: too short for CPC (under two 10 ms frames of sound); remove it from the input")
        out.append(frames)
    return out
