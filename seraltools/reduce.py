"""Dimensionality reduction (``seral reduce``): PCA, the paper's autoencoder, t-SNE.

Paper "cpc-dimred-medoid-active-learning", Sec. 2, 3.2, 3.3:

- **pca**: principal components by SVD of the centred data; component signs fixed so
  that each component's largest loading is positive (deterministic output).
- **ae**: the bottleneck autoencoder of Sec. 3.2 -- fully-connected ELU layers of 512,
  512, dim (the bottleneck), 512, 512 and D_in units, 10 % dropout after the
  512-unit layers, MSE, Adam (lr 1e-4), batch 1024, an 80:20 random split and early
  stopping with patience 300 on the validation loss; the encoder (first three
  layers) of the best-validation model gives the features. The output layer is
  linear here: an ELU output cannot reproduce standardised values below -1.
- **tsne**: PCA initialisation, otherwise scikit-learn's defaults (perplexity 30,
  early exaggeration 12 for 250 of 1000 iterations, momentum 0.5 then 0.8, learning
  rate max(N / 48, 50), Euclidean input distances), computed by openTSNE (FFT-
  accelerated gradients; its interpolation grid with 2 units per interval instead of
  1, which at N = 20,000 takes the run from 20 s to 12 s for a trustworthiness of
  0.9986 against 0.9987, benchmarks/tsne_speed.py) or, with ``engine="sklearn"``,
  by scikit-learn itself. openTSNE embeddings can place new points (``--model``).

**Standardisation** (:mod:`seraltools.standardize`: z-score per dimension with the
fitted table's mean and standard deviation) is on by default for pca and ae, whose inputs in the paper are raw
log-mel or CPC features of very different scales (the paper z-scores its features
at the corpus level), and off for tsne, which the paper runs with scikit-learn's
defaults on features that are usually already reduced.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pathlib import Path

import numpy as np

from seraltools.errors import BadInput
from seraltools.standardize import Standardizer
from seraltools.seeds import seed_torch

METHODS = ("pca", "ae", "tsne")


# ------------------------------------------------------------------------------------ PCA


@dataclass
class PCA:
    dim: int
    standardize: bool = True
    components_: np.ndarray | None = None  # (dim, D)
    offset_: np.ndarray | None = None  # (D,) mean of the standardised data
    std_: Standardizer | None = None
    explained_variance_ratio_: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> "PCA":
        check_dim(self.dim, x, rows_bound=True)
        self.std_ = Standardizer.fit(x, self.standardize)
        z = self.std_(x).astype(np.float64)
        self.offset_ = z.mean(axis=0).astype(np.float32)  # centre of the (standardised) data
        z -= z.mean(axis=0)
        _, s, vt = np.linalg.svd(z, full_matrices=False)
        vt = vt[: self.dim]
        signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
        self.components_ = (vt * signs[:, None]).astype(np.float32)
        var = s**2
        total = var.sum()  # 0 for identical rows: nothing is explained (not NaN)
        self.explained_variance_ratio_ = (var[: self.dim] / total if total > 0 else np.zeros_like(var[: self.dim])
                                          ).astype(np.float32)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return ((self.std_(x) - self.offset_) @ self.components_.T).astype(np.float32)

    def tensors(self) -> dict:
        return {"components": self.components_, "offset": self.offset_, "mean": self.std_.mean,
                "scale": self.std_.scale, "explained_variance_ratio": self.explained_variance_ratio_}

    @classmethod
    def from_tensors(cls, config: dict, t: dict) -> "PCA":
        m = cls(config["dim"], config["standardize"])
        m.components_, m.offset_ = t["components"], t["offset"]
        m.std_ = Standardizer(t["mean"], t["scale"])
        m.explained_variance_ratio_ = t["explained_variance_ratio"]
        return m


def check_dim(dim: int, x: np.ndarray, *, rows_bound: bool = False) -> None:
    """``--dim`` must not exceed the input dimension (nor, for PCA, the number of rows)."""
    limit = min(x.shape) if rows_bound else x.shape[1]
    if dim < 1 or dim > limit:
        raise BadInput(f"--dim {dim}: give 1 to {limit} (rows {x.shape[0]}, input dims {x.shape[1]})")


# ------------------------------------------------------------------------------------ AE


def _build_ae(d_in: int, dim: int, hidden: int, dropout: float):
    from torch import nn

    encoder = nn.Sequential(nn.Linear(d_in, hidden), nn.ELU(), nn.Dropout(dropout),
                            nn.Linear(hidden, hidden), nn.ELU(), nn.Dropout(dropout),
                            nn.Linear(hidden, dim), nn.ELU())
    decoder = nn.Sequential(nn.Linear(dim, hidden), nn.ELU(), nn.Dropout(dropout),
                            nn.Linear(hidden, hidden), nn.ELU(), nn.Dropout(dropout),
                            nn.Linear(hidden, d_in))
    return nn.Sequential(encoder, decoder)


@dataclass
class AutoEncoder:
    dim: int = 32
    hidden: int = 512
    dropout: float = 0.1
    lr: float = 1e-4
    batch_size: int = 1024
    patience: int = 300
    max_epochs: int = 5000
    val_fraction: float = 0.2
    standardize: bool = True
    seed: int = 0
    device: str = "auto"
    std_: Standardizer | None = None
    net_: object = None
    history_: list = field(default_factory=list)  # (epoch, train MSE, val MSE)
    best_epoch_: int = 0

    def fit(self, x: np.ndarray, progress=None, checkpoint: str | None = None, resume: bool = False,
            every: int = 200) -> "AutoEncoder":
        """Train on ``x``; the epoch with the best validation MSE is kept. ``checkpoint``: a
        file written every ``every`` epochs, from which ``resume`` continues exactly
        (removed when the training ends)."""
        import torch

        from seraltools.checkpoint import fingerprint
        from seraltools.compute import resolve_device
        from seraltools.training import TrainingRun

        if len(x) < 5:
            raise BadInput(f"the autoencoder needs at least 5 rows to split 80:20; the table has {len(x)}")
        device = resolve_device(self.device)
        seed_torch(self.seed)
        rng = np.random.default_rng(self.seed)
        self.std_ = Standardizer.fit(x, self.standardize)
        z = torch.from_numpy(self.std_(x))
        perm = rng.permutation(len(z))
        n_val = max(1, int(round(self.val_fraction * len(z))))
        val, train = z[perm[:n_val]].to(device), z[perm[n_val:]].to(device)
        net = _build_ae(x.shape[1], self.dim, self.hidden, self.dropout).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=self.lr)
        gen = torch.Generator().manual_seed(self.seed)
        settings = self.config()
        run = TrainingRun(net, opt, better="lower", patience=self.patience, checkpoint=checkpoint, every=every,
                          config={**settings, "data": fingerprint(np.asarray(x))},
                          must_match=tuple(k for k in settings if k not in ("max_epochs", "patience")))
        if resume:
            extra = run.resume(extra=("generator",))
            if extra.get("generator"):
                gen.set_state(extra["generator"]["state"])
        for epoch in range(run.round + 1, self.max_epochs + 1):
            if run.stopped:
                break
            net.train()
            order = torch.randperm(len(train), generator=gen)
            total = 0.0
            for i in range(0, len(train), self.batch_size):
                batch = train[order[i : i + self.batch_size].to(device)]
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(net(batch), batch)
                loss.backward()
                opt.step()
                total += loss.item() * len(batch)
            net.eval()
            with torch.no_grad():
                v = torch.nn.functional.mse_loss(net(val), val).item()
            run.end_round([epoch, total / len(train), v], v, extra={"generator": {"state": gen.get_state()}})
            if progress:
                progress(epoch, v)
        run.restore_best()
        self.history_ = [tuple(h) for h in run.history]
        self.best_epoch_ = run.best_round
        self.net_ = net.cpu().eval()
        if checkpoint and Path(checkpoint).is_file():
            Path(checkpoint).unlink()
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.net_[0](torch.from_numpy(self.std_(x))).numpy().astype(np.float32)

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            z = self.net_(torch.from_numpy(self.std_(x))).numpy()
        return z * self.std_.scale + self.std_.mean

    def config(self) -> dict:
        return {k: getattr(self, k) for k in ("dim", "hidden", "dropout", "lr", "batch_size", "patience",
                                              "max_epochs", "val_fraction", "standardize", "seed")}

    def tensors(self) -> dict:
        t = {f"net.{k}": v.numpy() for k, v in self.net_.state_dict().items()}
        t.update(mean=self.std_.mean, scale=self.std_.scale)
        return t

    @classmethod
    def from_tensors(cls, config: dict, t: dict, d_in: int, name: str = "") -> "AutoEncoder":
        import torch

        m = cls(**{k: v for k, v in config.items() if k in cls.__dataclass_fields__ and not k.endswith("_")})
        if name:
            from seraltools.models import check_shapes, check_sizes

            check_sizes(name, config, ("dim", "hidden"), t)
            check_shapes(name, lambda: _build_ae(d_in, m.dim, m.hidden, m.dropout), t, prefix="net.")
        m.net_ = _build_ae(d_in, m.dim, m.hidden, m.dropout)
        m.net_.load_state_dict({k[4:]: torch.from_numpy(v) for k, v in t.items() if k.startswith("net.")})
        m.net_.eval()
        m.std_ = Standardizer(t["mean"], t["scale"])
        return m


# ------------------------------------------------------------------------------------ t-SNE


@dataclass
class TSNE:
    dim: int = 2
    engine: str = "opentsne"
    perplexity: float = 30.0
    standardize: bool = False
    seed: int = 0
    workers: int = 1
    std_: Standardizer | None = None
    train_: np.ndarray | None = None
    embedding_: np.ndarray | None = None

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        if self.engine not in ("opentsne", "sklearn"):
            raise BadInput(f"--engine {self.engine!r}: choose opentsne or sklearn")
        if len(x) <= 3 * self.perplexity:
            raise BadInput(f"t-SNE with perplexity {self.perplexity:g} needs more than {3 * self.perplexity:g} rows; "
                           f"the table has {len(x)} (lower --perplexity)")
        if len(x) and not (x != x[:1]).any():
            raise BadInput(f"every one of the {len(x)} rows has the same features: t-SNE cannot place them "
                           "(its distances are all 0); check the table, or use --method pca")
        self.std_ = Standardizer.fit(x, self.standardize)
        z = self.std_(x)
        lr = max(len(z) / 12 / 4, 50)  # scikit-learn's learning_rate="auto"
        if self.engine == "sklearn" or self.dim > 2:
            from sklearn.manifold import TSNE as SkTSNE

            y = SkTSNE(self.dim, perplexity=self.perplexity, init="pca", random_state=self.seed,
                       n_jobs=self.workers).fit_transform(z)
        else:
            import openTSNE

            y = openTSNE.TSNE(self.dim, perplexity=self.perplexity, learning_rate=lr, early_exaggeration=12,
                              early_exaggeration_iter=250, n_iter=750, initial_momentum=0.5, final_momentum=0.8,
                              initialization="pca", metric="euclidean", n_jobs=self.workers,
                              random_state=self.seed, ints_in_interval=2).fit(z)
        self.train_, self.embedding_ = z, np.asarray(y, dtype=np.float32)
        if not np.isfinite(self.embedding_).all():
            from seraltools.errors import SeralError

            raise SeralError("t-SNE gave NaN or infinite coordinates (too many identical rows?); nothing written: "
                             "drop duplicate rows or use --method pca")
        return self.embedding_

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Place new points in the fitted embedding (openTSNE's optimisation against it)."""
        import openTSNE

        aff = openTSNE.affinity.PerplexityBasedNN(self.train_, perplexity=self.perplexity, n_jobs=self.workers,
                                                  random_state=self.seed)
        emb = openTSNE.TSNEEmbedding(self.embedding_.astype(np.float64), aff, random_state=self.seed)
        return np.asarray(emb.transform(self.std_(x)), dtype=np.float32)

    def config(self) -> dict:
        return {"dim": self.dim, "perplexity": self.perplexity, "standardize": self.standardize, "seed": self.seed}

    def tensors(self) -> dict:
        return {"train": self.train_, "embedding": self.embedding_, "mean": self.std_.mean, "scale": self.std_.scale}

    @classmethod
    def from_tensors(cls, config: dict, t: dict) -> "TSNE":
        m = cls(**{k: config[k] for k in ("dim", "perplexity", "standardize", "seed")})
        m.train_, m.embedding_, m.std_ = t["train"], t["embedding"], Standardizer(t["mean"], t["scale"])
        return m


# ------------------------------------------------------------------------------------ quality


def trustworthiness(x: np.ndarray, y: np.ndarray, k: int = 5, chunk: int = 1024) -> float:
    """Trustworthiness (Venna & Kaski) of embedding ``y`` of ``x``, as scikit-learn's, but in
    O(N * chunk) memory: for each point, the original-space ranks of its embedded k nearest
    neighbours that are not among its original k nearest."""
    from sklearn.neighbors import NearestNeighbors

    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    emb_nn = NearestNeighbors(n_neighbors=k + 1).fit(y).kneighbors(y, return_distance=False)[:, 1:]
    sq = np.einsum("ij,ij->i", x, x)
    penalty = 0.0
    for start in range(0, n, chunk):
        rows = np.arange(start, min(start + chunk, n))
        d = sq[rows, None] + sq[None, :] - 2 * x[rows] @ x.T
        d[np.arange(len(rows)), rows] = np.inf  # a point is not its own neighbour
        # rank of j for i = number of points strictly closer to i than j (+1), ties by index
        target = d[np.arange(len(rows))[:, None], emb_nn[rows]]
        ranks = (d[:, :, None] < target[:, None, :]).sum(axis=1) + 1
        ranks += ((d[:, :, None] == target[:, None, :]) & (np.arange(n)[None, :, None] < emb_nn[rows][:, None, :])).sum(axis=1)
        penalty += np.maximum(ranks - k, 0).sum()
    return float(1.0 - penalty * 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)))
