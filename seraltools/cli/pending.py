"""Tools of the papers that are not built yet: each says so and exits 1.

When a tool is built, its command moves to a module of its own and leaves this list.
"""

from __future__ import annotations

import typer

from seraltools.cli import app
from seraltools.cli._common import tool
from seraltools.cli.evaluate import evaluate
from seraltools.errors import NotBuiltYet

#: command -> (issue that builds it, one-line description)
PENDING = {
    "pretrain": ("#7", "Contrastive pretraining of an SER encoder on intra-speaker clusters."),
}
EVALUATE_PENDING = {
    "ser": ("#7", "Fine-tune an encoder for SER on speaker-independent folds (UAR)."),
}
_ANY_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": ["-h", "--help"]}


def _register(target: typer.Typer, name: str, issue: str, text: str, label: str) -> None:
    def stub(ctx: typer.Context) -> None:
        raise NotBuiltYet(f"not built yet (issue {issue}); see `seral --help` for the tools that work")

    stub.__doc__ = f"{text} [not built yet: issue {issue}]"
    tool(target, name, label=label, context_settings=_ANY_ARGS)(stub)


for _name, (_issue, _text) in PENDING.items():
    _register(app, _name, _issue, _text, _name)

for _name, (_issue, _text) in EVALUATE_PENDING.items():
    _register(evaluate, _name, _issue, _text, f"evaluate {_name}")
