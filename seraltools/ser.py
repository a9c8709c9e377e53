"""Speech emotion recognition by fine-tuning an encoder: ``seral evaluate ser``.

Paper "speaker-embedding-clusters-contrastive-ser", Sec. 3.3 and 4.1: a freshly
initialised classification head (mean pooling -> dense + ReLU -> dense, softmax in the
cross-entropy) on a pretrained encoder (or a randomly initialised one: no
pretraining); encoder and head are fine-tuned together with cross-entropy on emotion
labels, the model of the epoch with the best validation UAR kept, and the test UAR
(unweighted average recall: the mean of the per-class recalls) measured.

Folds are speaker-independent (:func:`speaker_folds`): the sorted speakers are dealt
into ``folds`` groups; fold f tests on group f, validates on the first speaker(s) of
group f+1 and trains on the rest. Each (fold, seed) is one run; a condition's UAR is
the mean over folds per seed, reported as mean and standard deviation over seeds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from seraltools.audio import SAMPLE_RATE
from seraltools.encoder import EncoderConfig
from seraltools.errors import BadInput
from seraltools.seeds import seed_torch
from seraltools.training import TrainingRun


@dataclass
class FinetuneConfig:
    epochs: int = 30  # the paper: 30, best validation accuracy kept
    lr: float = 1e-5  # the paper
    batch_size: int = 8
    weight_decay: float = 0.01
    segment_s: float = 4.0  # random training crops; evaluation sees whole utterances
    head_hidden: int = 256
    init_layers: int | None = None  # a checkpoint directory: keep its first N transformer layers
    freeze_cnn: bool = True  # an SSL backbone's convolutional feature encoder keeps its weights


def speaker_folds(speakers: list, folds: int = 5, val_speakers: int = 1) -> list[dict]:
    """Per fold: {"fold", "train", "validation", "test"} lists of speakers."""
    names = sorted({str(s) for s in speakers})
    if folds < 2:
        raise BadInput(f"--folds {folds}: give 2 or more")
    if len(names) < folds:
        raise BadInput(f"--folds {folds}: only {len(names)} speakers; give at most {len(names)} folds")
    groups = [names[f::folds] for f in range(folds)]
    out = []
    for f in range(folds):
        val = groups[(f + 1) % folds][:val_speakers]
        train = [s for s in names if s not in groups[f] and s not in val]
        if not train:
            raise BadInput(f"fold {f}: no training speakers left; use fewer --folds")
        out.append({"fold": f, "train": train, "validation": val, "test": groups[f]})
    return out


def uar(y_true, y_pred) -> float:
    """Unweighted average recall over the classes present in ``y_true``."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]))


def _predict(model, head, wavs, device, batch: int = 16) -> np.ndarray:
    import torch

    from seraltools.encoder import batch_waveforms, mean_pool

    order = np.argsort([len(w) for w in wavs])  # similar lengths together: less padding
    pred = np.empty(len(wavs), dtype=np.int64)
    model.eval()
    head.eval()
    with torch.no_grad():
        for i in range(0, len(order), batch):
            idx = order[i : i + batch]
            x, n = batch_waveforms([wavs[j] for j in idx])
            logits = head(mean_pool(*model(torch.from_numpy(x).to(device), torch.from_numpy(n).to(device))))
            pred[idx] = logits.argmax(1).cpu().numpy()
    return pred


def finetune(encoder_path: str | None, enc_cfg: EncoderConfig, train: tuple[list, np.ndarray],
             val: tuple[list, np.ndarray], test: tuple[list, np.ndarray], n_classes: int, cfg: FinetuneConfig,
             seed: int, device: str = "cpu") -> dict:
    """One run: fine-tune on ``train`` (waveforms, class indices), keep the epoch with the
    best validation UAR, return its test UAR and predictions."""
    import torch
    from torch.nn.functional import cross_entropy

    from seraltools.encoder import batch_waveforms, build_head, crop, mean_pool, open_encoder

    t0 = time.perf_counter()
    seed_torch(seed)
    # a seral encoder file, an SSL checkpoint directory (its CNN frozen by default, the usual practice) or a new one
    model = open_encoder(encoder_path, enc_cfg, device, layers=cfg.init_layers, freeze_feature_encoder=cfg.freeze_cnn)
    width = model.width
    head = build_head(width, cfg.head_hidden, n_classes).to(device)
    params = [p for p in model.parameters() if p.requires_grad] + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    seg = int(round(cfg.segment_s * SAMPLE_RATE))
    wavs, labels = train
    run = TrainingRun([model, head], opt, better="higher")  # the epoch with the best validation UAR is kept
    for epoch in range(1, cfg.epochs + 1):
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(wavs))
        model.train()
        head.train()
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            x, n = batch_waveforms([crop(wavs[j], seg, rng) for j in idx])
            logits = head(mean_pool(*model(torch.from_numpy(x).to(device), torch.from_numpy(n).to(device))))
            loss = cross_entropy(logits, torch.from_numpy(labels[idx]).to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
        score = uar(val[1], _predict(model, head, val[0], device))
        run.end_round({"epoch": epoch, "val_uar": score}, score)
    run.restore_best()
    pred = _predict(model, head, test[0], device)
    return {"uar": uar(test[1], pred), "val_uar": run.best, "best_epoch": run.best_round,
            "seconds": time.perf_counter() - t0, "pred": pred}


def evaluate_ser(conditions: list[tuple[str, str | None]], wavs: list[np.ndarray], speakers: list, emotions: list,
                 *, folds: int = 5, seeds: int = 5, cfg: FinetuneConfig | None = None,
                 enc_cfg: EncoderConfig | None = None, device: str = "auto", progress=None,
                 first_seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Every condition x fold x seed (``first_seed`` .. ``first_seed + seeds - 1``).
    Returns (rows of runs, the folds)."""
    from seraltools.compute import resolve_device

    device = resolve_device(device)  # "auto": a GPU when torch sees one (the one device policy)
    cfg = cfg or FinetuneConfig()
    enc_cfg = enc_cfg or EncoderConfig()
    classes = sorted(set(emotions))
    if len(classes) < 2:
        raise BadInput(f"SER needs two or more emotions; found {classes}")
    y = np.array([classes.index(e) for e in emotions])
    spk = np.array([str(s) for s in speakers])
    plan = speaker_folds(spk.tolist(), folds)
    rows = []
    for name, path in conditions:
        for f in plan:
            parts = [np.flatnonzero(np.isin(spk, f[role])) for role in ("train", "validation", "test")]
            data = [([wavs[i] for i in p], y[p]) for p in parts]
            for seed in range(first_seed, first_seed + seeds):
                r = finetune(path, enc_cfg, *data, n_classes=len(classes), cfg=cfg, seed=seed, device=device)
                rows.append({"condition": name, "fold": f["fold"], "seed": seed, "uar": r["uar"],
                             "val_uar": r["val_uar"], "best_epoch": r["best_epoch"], "seconds": r["seconds"],
                             "test_speakers": ",".join(f["test"])})
                if progress:
                    progress(rows[-1])
    return rows, plan


def summarize(rows: list[dict]) -> list[dict]:
    """Per condition: UAR mean over folds per seed, then mean and std over seeds."""
    out = []
    for name in dict.fromkeys(r["condition"] for r in rows):
        mine = [r for r in rows if r["condition"] == name]
        per_seed = [np.mean([r["uar"] for r in mine if r["seed"] == s]) for s in sorted({r["seed"] for r in mine})]
        out.append({"condition": name, "uar_mean": float(np.mean(per_seed)),
                    "uar_std": float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else 0.0,
                    "runs": len(mine), "seconds": float(sum(r["seconds"] for r in mine))})
    return out


def labelled_audio(utterances, emotions: str | None = None) -> tuple[list[np.ndarray], list[str], list[str]]:
    """(waveforms, speakers, emotions) of the rows of an utterance table (``path``,
    ``speaker``, ``emotion``) that have both labels and, if given, one of the
    comma-separated ``emotions``."""
    from seraltools.audio import load_audio

    for col in ("speaker", "emotion"):
        if col not in utterances.column_names or utterances.column(col).null_count == utterances.num_rows:
            raise BadInput(f"the inputs have no '{col}' labels; give a manifest with {col} or --corpus for the naming")
    emo, spk = utterances.column("emotion").to_pylist(), utterances.column("speaker").to_pylist()
    wanted = {e.strip() for e in emotions.split(",")} if emotions else None
    keep = [i for i, (e, s) in enumerate(zip(emo, spk)) if e is not None and s is not None and (wanted is None or e in wanted)]
    if not keep:
        raise BadInput(f"--emotions {emotions}: no utterance has these emotions")
    from seraltools.corpora import sources

    paths = sources(utterances)  # paths, or Segments where rows have start/end
    return [load_audio(paths[i]).samples for i in keep], [str(spk[i]) for i in keep], [emo[i] for i in keep]


def results_table(rows: list[dict]):
    """One row per run: id condition/fold/seed, UARs, best epoch, seconds, test speakers."""
    import pyarrow as pa

    ints = {"fold": pa.int32(), "seed": pa.int32(), "best_epoch": pa.int32()}
    floats = ("uar", "val_uar", "seconds")
    cols = {"id": [f"{r['condition']}/fold{r['fold']}/seed{r['seed']}" for r in rows],
            "condition": [r["condition"] for r in rows]}
    cols.update({k: pa.array([r[k] for r in rows], t) for k, t in ints.items()})
    cols.update({k: pa.array([r[k] for r in rows], pa.float32()) for k in floats})
    cols["test_speakers"] = [r["test_speakers"] for r in rows]
    return pa.table(cols)


def folds_table(plan: list[dict]):
    """One row per fold and speaker: fold, speaker, role (train, validation, test)."""
    import pyarrow as pa

    rows = [(f["fold"], s, role) for f in plan for role in ("train", "validation", "test") for s in f[role]]
    return pa.table({"id": [f"fold{f}/{s}" for f, s, _ in rows], "fold": pa.array([f for f, _, _ in rows], pa.int32()),
                     "speaker": [s for _, s, _ in rows], "role": [r for _, _, r in rows]})
