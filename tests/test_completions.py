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


def _shell(shell: str, script: str) -> str:
    if not shutil.which(shell):
        pytest.skip(f"{shell} is not installed (make test installs it from Debian when it can)")
    return subprocess.run([shell, "-f" if shell == "zsh" else "--no-config", "-c", script], capture_output=True,
                          text=True, check=True, cwd=ROOT).stdout


def _help_of(path: tuple[str, ...], option: str) -> str:
    """An option's help as `seral ... --help` has it, on one line."""
    from seraltools.cli.completion import command_tree

    node = next(c for c in command_tree() if c.path == path)
    return next(o.help for o in node.options if option in o.names)


def test_zsh_gets_every_character_of_the_help():
    """zsh's _arguments receives each option's whole help (apostrophes, full stops, colons
    and brackets kept), checked by running the script with _arguments replaced by a printer."""
    out = _shell("zsh", "_arguments() { printf '%s\\n' \"$@\" \"${subcommands[@]}\"; }; "
                        "source completions/_seral >/dev/null; "
                        "words=(seral reduce ''); CURRENT=3; _seral; words=(seral pretrain ''); CURRENT=3; _seral; "
                        "words=(seral ''); CURRENT=2; _seral")
    for path, option in ((("reduce",), "--method"), (("pretrain",), "--objective"), (("pretrain",), "--init")):
        text = _help_of(path, option).replace("[", "\\[").replace("]", "\\]")
        assert f"{option}[{text}]" in out, (option, text)
    assert "reduce:Reduce feature dimensionality: PCA, the paper's autoencoder, or t-SNE." in out


def test_fish_gets_every_character_of_the_help():
    out = _shell("fish", "source completions/seral.fish; complete -C 'seral reduce --method '; "
                         "complete -C 'seral pretrain --objective '")
    assert f"ae\t{_help_of(('reduce',), '--method')}" in out.splitlines()
    assert f"mtl\t{_help_of(('pretrain',), '--objective')}" in out.splitlines()


def test_bash_completes_a_path_with_spaces_as_one_candidate(tmp_path):
    (tmp_path / "my recordings").mkdir()
    (tmp_path / "my file.wav").touch()
    script = (f"source {COMPLETIONS / 'seral.bash'}\nCOMP_WORDS=(seral extract {tmp_path}/my)\nCOMP_CWORD=2\n_seral\n"
              "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    lines = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout.splitlines()
    assert sorted(lines) == [f"{tmp_path}/my file.wav", f"{tmp_path}/my recordings"]
