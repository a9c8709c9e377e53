"""The bookkeeping every training loop of seral shares: the autoencoder (reduce -m ae),
CPC (train-cpc), pretraining (pretrain) and SER fine-tuning (evaluate ser).

A loop runs rounds (epochs or optimiser steps) and ends each with
:meth:`TrainingRun.end_round`, which keeps the history, the best state by a validation
value (early stopping after ``patience`` rounds without a better one), and a checkpoint
every ``every`` rounds. A checkpoint (:mod:`seraltools.checkpoint`: safetensors, no
pickle) holds the model(s), the optimiser, the scheduler, torch's random state, the best
state, the loop's own extra tensors (e.g. a generator's state) and this bookkeeping, so
``--resume`` continues exactly where the run stopped: the same model as an uninterrupted
run, bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

from seraltools import checkpoint as ckpt


class TrainingRun:
    """One run of a training loop.

    ``model``: a torch module or a list of them (trained together); ``better``:
    ``"lower"`` or ``"higher"`` validation values are better, None to keep the last
    state (no early stopping); ``checkpoint``: the checkpoint file (None: none);
    ``config``: the run's settings and data fingerprint, checked on resume (the keys
    in ``must_match`` must be equal, the ``data`` fingerprint too); ``row``: the
    dataclass of the history's rows."""

    def __init__(self, model, opt, sched=None, *, better: str | None = "lower", patience: int | None = None,
                 checkpoint: str | None = None, every: int = 1, config: dict | None = None,
                 must_match: tuple[str, ...] = (), row=None):
        from torch import nn

        self.module = model if isinstance(model, nn.Module) else nn.ModuleList(model)
        self.opt, self.sched, self.better, self.patience = opt, sched, better, patience
        self.path, self.every, self.config, self.must_match, self.row = checkpoint, every, config or {}, must_match, row
        self.since, self.best_round = 0, 0
        self.best = math.inf if better == "lower" else -math.inf
        self.best_state = None
        self.history: list = []

    # ------------------------------------------------------------------------ resume

    def resume(self, extra: tuple[str, ...] = ()) -> dict:
        """Continue from the checkpoint when there is one: restores everything and returns
        the loop's own extra tensor sets ({name: {key: tensor}}); {} when starting anew."""
        if not self.path or not Path(self.path).is_file():
            if self.path:
                from seraltools.progress import log

                log(f"seral: --resume: no checkpoint {self.path} to continue from; starting anew")
            return {}
        state, sets = ckpt.load(self.path, self.module, self.opt, self.sched, self.config, self.must_match,
                                extra=("best", *extra))
        self.since, self.best_round = state.get("since", 0), state.get("best_round", 0)  # (older checkpoints: 0)
        self.best = state["best"] if state.get("best") is not None else self.best
        self.history = [self.row(**h) if self.row else h for h in state["history"]]
        self.best_state = sets.pop("best")
        return sets

    # ------------------------------------------------------------------------ rounds

    @property
    def round(self) -> int:
        """Rounds done (a checkpoint's history holds every round before it)."""
        return len(self.history)

    @property
    def stopped(self) -> bool:
        """Early stopping: ``patience`` rounds without a better validation value."""
        return self.patience is not None and self.since >= self.patience

    def end_round(self, row, value: float | None = None, *, extra: dict | None = None, final: bool = False) -> None:
        """Record round ``self.round + 1``: its history ``row`` and validation ``value``;
        a checkpoint when the round is a multiple of ``every`` (or ``final``), with the
        loop's ``extra`` tensor sets."""
        self.history.append(row)
        if self.better is not None:
            improved = value < self.best if self.better == "lower" else value > self.best
            if improved:
                self.best, self.since, self.best_round = value, 0, self.round
                self.best_state = {k: v.detach().cpu().clone() for k, v in self.module.state_dict().items()}
            else:
                self.since += 1
        if self.path and (self.round % self.every == 0 or final or self.stopped):
            self.save(extra)

    def save(self, extra: dict | None = None) -> None:
        state = {"since": self.since, "best_round": self.best_round,
                 "best": self.best if math.isfinite(self.best) else None,
                 "history": [asdict(h) if self.row else h for h in self.history]}
        ckpt.save(self.path, self.module, self.opt, self.sched, state, self.config,
                  extra={"best": self.best_state, **(extra or {})})

    def finish(self) -> None:
        """The run is over and its result written: its checkpoint goes (a later --resume
        would have nothing to continue)."""
        if self.path:
            Path(self.path).unlink(missing_ok=True)

    def restore_best(self) -> None:
        """Load the best state into the model(s) (the last one when ``better`` is None)."""
        if self.best_state is not None:
            self.module.load_state_dict(self.best_state)
        elif self.better is not None and self.history:
            from seraltools.errors import SeralError

            raise SeralError("no round of training gave a finite validation value (the loss is NaN): the model "
                             "diverged; lower the learning rate (--lr) or check the input")
