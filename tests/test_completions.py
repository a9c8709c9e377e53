"""Shell completions: committed scripts are current, valid, and complete what they should."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from seraltools.cli.completion import SCRIPTS
from tests.conftest import ROOT

COMPLETIONS = ROOT / "completions"


@pytest.mark.parametrize("shell", list(SCRIPTS))
def test_committed_completions_are_current(shell):
    filename, make = SCRIPTS[shell]
    assert (COMPLETIONS / filename).read_text() == make(), (
        f"completions/{filename} is stale: run `python -m seraltools.cli.completion completions` (or `make completions`)"
    )


def _bash_complete(line: str) -> list[str]:
    words = line.split(" ")
    script = (
        f"source {COMPLETIONS / 'seral.bash'}\n"
        f"COMP_WORDS=({' '.join(repr(w) if w else repr('') for w in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n_seral\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n"
    )
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_bash_completes_commands_options_and_choices():
    assert _bash_complete("seral ex") == ["export-tasks", "extract"]
    assert _bash_complete("seral ext") == ["extract"]
    assert set(_bash_complete("seral extract --feat ")) >= {"logmel", "cpc"}
    assert _bash_complete("seral extract --corpus em") == ["emodb"]
    assert "--on-error" in _bash_complete("seral extract --on")
    assert set(_bash_complete("seral evaluate ")) == {"al", "clusters", "ser"}


@pytest.mark.parametrize("shell, filename", [("zsh", "_seral"), ("fish", "seral.fish"), ("bash", "seral.bash")])
def test_scripts_parse_in_their_shell(shell, filename):
    if not shutil.which(shell):
        pytest.skip(f"{shell} is not installed")
    proc = subprocess.run([shell, "-n", str(COMPLETIONS / filename)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
