"""The command-line contract, checked for every command of the Typer app (a new command
is covered without touching this file): help with an example that renders at 60 and 120
columns without losing text, `--help` that imports nothing heavy, one-line usage errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import typer

from seraltools.cli import app
from tests.conftest import ROOT

HEAVY = ("numpy", "pyarrow", "torch", "sklearn", "scipy")


def _commands(group, path=()):
    for name, cmd in sorted(group.commands.items()):
        if hasattr(cmd, "commands"):  # a group (typer may vendor its own click)
            yield from _commands(cmd, (*path, name))
        else:
            yield (*path, name), cmd


COMMANDS = dict(_commands(typer.main.get_command(app)))
IDS = [" ".join(p) for p in COMMANDS]


def test_the_app_has_the_tools():
    assert {"extract", "segment", "mal-select", "evaluate al", "info"} <= set(IDS)


@pytest.mark.parametrize("width", [60, 80, 120])
@pytest.mark.parametrize("path", list(COMMANDS), ids=IDS)
def test_help_has_an_example_and_keeps_its_text(path, width):
    from typer.testing import CliRunner

    res = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(width), "TERM": "dumb"})
    assert res.exit_code == 0, res.output
    flat = " ".join(re.sub(r"[│╭╮╰╯─]", " ", res.output).split())
    assert "Example:" in flat, f"seral {' '.join(path)} --help has no example"
    usage = flat.split("Usage:", 1)[1].split(".")[0] if "Usage:" in flat else ""
    assert "[[" not in usage and "...}" not in usage, f"doubled brackets or dots in the usage line: {usage}"
    for param in COMMANDS[path].params:
        if getattr(param, "hidden", False):  # old spellings kept for a release
            continue
        for name in getattr(param, "opts", []):
            if name.startswith("--"):
                assert name in flat, f"{name} missing from the help"
        for bracketed in re.findall(r"\\?\[\w+\]", getattr(param, "help", None) or ""):
            assert bracketed.lstrip("\\") in flat, f"{bracketed} lost from the help of {param.name}"


@pytest.mark.parametrize("path", [()] + list(COMMANDS), ids=["seral"] + IDS)
def test_help_imports_nothing_heavy(path):
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "seraltools", *path, "--help"],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-500:]
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & set(HEAVY), f"--help imported {sorted(imported & set(HEAVY))}"


@pytest.mark.parametrize("path", list(COMMANDS), ids=IDS)
def test_a_bad_option_is_one_line_and_exit_2(path):
    proc = subprocess.run([sys.executable, "-m", "seraltools", *path, "--no-such-option"], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--no-such-option" in lines[0], proc.stderr


def test_docstrings_become_one_line_paragraphs():
    from seraltools.cli._common import unwrap

    doc = """First line
        of a summary.

        A paragraph broken
        over lines.
        - a bullet
        - another

        Example: seral x a b
        """
    assert unwrap(doc) == "First line of a summary.\n\nA paragraph broken over lines.\n- a bullet\n- another\n\nExample: seral x a b"
    for path, cmd in COMMANDS.items():  # the source's line breaks never reach the help
        for para in (cmd.help or "").split("\n\n"):
            assert all(line.startswith("- ") for line in para.splitlines()[1:]), (path, para)


def test_old_option_spellings_work_for_a_release_with_a_warning(cli, synth_4x4, tmp_path):
    """Renamed options (one meaning per name across tools) still take their old spelling
    with a deprecation warning on stderr, and give the same result as the new one."""
    feats = tmp_path / "f.parquet"
    assert cli("extract", "-q", synth_4x4 / "manifest.csv", feats).exit_code == 0
    new = cli("reduce", "-q", "-m", "tsne", "--perplexity", 5, "--tsne", "sklearn", feats, tmp_path / "new.parquet")
    old = cli("reduce", "-q", "-m", "tsne", "--perplexity", 5, "--engine", "sklearn", feats, tmp_path / "old.parquet")
    assert new.exit_code == old.exit_code == 0 and "--engine is deprecated" in old.stderr and not new.stderr
    from seraltools.table import feature_matrix, read_table

    assert (feature_matrix(read_table(tmp_path / "new.parquet")) == feature_matrix(read_table(tmp_path / "old.parquet"))).all()
    args = ["evaluate", "al", "-q", "--folds", 2, "--repeats", 1, "--select", feats]
    new = cli(*args, "--classify", feats, "--budgets", "25%,50%", tmp_path / "a.parquet")
    old = cli(*args, "-c", feats, "--budgets", "25,50", tmp_path / "b.parquet")
    assert new.exit_code == old.exit_code == 0 and not new.stderr
    assert "-c is deprecated" in old.stderr and "write the percentages with %" in old.stderr
    assert read_table(tmp_path / "a.parquet").column("mcc").equals(read_table(tmp_path / "b.parquet").column("mcc"))


# Every command, run on the synthetic corpus with its table output on stdout (-) and
# --quiet: the table pipes into `seral info -` and stderr stays empty. A command without a
# table output says why. A new command fails test_every_command_has_a_recipe until added.
RECIPES = {
    "extract": ["extract", "{corpus}", "-"],
    "segment": ["segment", "{corpus}", "-", "--min-length", "0.2"],
    "mal-select": ["mal-select", "{feats}", "-"],
    "cluster-labels": ["cluster-labels", "{queue}", "{answers}", "-", "--replace"],
    "predict": ["predict", "{answers}", "{feats}", "-"],
    "labels": ["labels", "{answers}", "-"],
    "reduce": ["reduce", "-m", "pca", "--dim", "4", "{feats}", "-"],
    "cluster-speakers": ["cluster-speakers", "--k", "2", "{feats}", "-"],
    "evaluate al": ["evaluate", "al", "--folds", "2", "--repeats", "1", "--budgets", "25%,50%", "--select", "{feats}",
                    "--classify", "{feats}", "-"],
    "evaluate clusters": ["evaluate", "clusters", "{clusters}", "-"],
    "evaluate ser": ["evaluate", "ser", "{corpus}", "--folds", "3", "--seeds", "1", "--epochs", "1", "--segment", "0.5",
                     "--no-pretrain", "--conv-channels", "8", "--width", "16", "--layers", "1", "--heads", "2", "-"],
    "info": None,  # prints a report: its output is for people (and --json)
    "synth": None,  # writes a directory of WAVs
    "annotate": None,  # a web server; its answers go to a CSV log
    "export-tasks": None,  # Label Studio's JSON (tests/test_annotate.py writes it to stdout)
    "pretrain": None,  # a model file (safetensors), written as training goes, for --resume
    "train-cpc": None,  # a model file, as pretrain
}


def test_every_command_has_a_recipe():
    missing = set(IDS) - set(RECIPES)
    assert not missing, f"add {sorted(missing)} to RECIPES: how the contract test runs them"


@pytest.fixture(scope="module")
def contract_inputs(tmp_path_factory):
    import csv

    from seraltools.synth import make_corpus

    d = tmp_path_factory.mktemp("contract")
    make_corpus(d / "corpus", speakers=3, per_cell=3, seed=5)
    corpus = str(d / "corpus" / "manifest.csv")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def run(*args):
        subprocess.run([sys.executable, "-m", "seraltools", *args, "-q"], check=True, env=env, capture_output=True)

    run("extract", corpus, str(d / "f.parquet"))
    run("mal-select", str(d / "f.parquet"), str(d / "q.parquet"))
    run("cluster-speakers", "--k", "2", str(d / "f.parquet"), str(d / "c.parquet"))
    import pyarrow.parquet as pq

    with open(d / "answers.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "emotion"])
        w.writerows([r["id"], r["emotion"]] for r in pq.read_table(d / "q.parquet").to_pylist() if r["is_medoid"])
    return {"corpus": corpus, "feats": str(d / "f.parquet"), "queue": str(d / "q.parquet"),
            "clusters": str(d / "c.parquet"), "answers": str(d / "answers.csv")}


@pytest.mark.parametrize("name", [n for n, r in RECIPES.items() if r])
def test_table_outputs_pipe_into_info_and_quiet_is_quiet(name, contract_inputs):
    if name == "evaluate ser":
        pytest.importorskip("torch", reason="evaluate ser needs PyTorch")
    args = [a.format(**contract_inputs) for a in RECIPES[name]]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    made = subprocess.run([sys.executable, "-m", "seraltools", *args, "--quiet"], capture_output=True, env=env)
    assert made.returncode == 0, made.stderr.decode()[-1000:]
    assert made.stderr == b"", f"seral {name} --quiet wrote to stderr: {made.stderr.decode()[:500]}"
    info = subprocess.run([sys.executable, "-m", "seraltools", "info", "-"], input=made.stdout, capture_output=True,
                          env=env)
    assert info.returncode == 0 and b"rows" in info.stdout, info.stderr.decode()


def test_one_list_convention_repeat_or_comma(cli, tmp_path):
    from seraltools.cli._common import listed

    assert listed(["a,b", "c", " d , "]) == ["a", "b", "c", "d"] and listed(None) is None and listed([""]) is None
    from seraltools.cli.evaluate import _shares

    assert _shares("35%,50%") == (35 * 0.01, 50 * 0.01)  # the floats of before: the same budget counts
    assert cli("synth", "-q", "--speakers", 2, "--per-cell", 1, "--emotions", "anger", "--emotions", "sadness",
               tmp_path / "a").exit_code == 0
    assert cli("synth", "-q", "--speakers", 2, "--per-cell", 1, "--emotions", "anger,sadness", tmp_path / "b").exit_code == 0
    assert (tmp_path / "a" / "manifest.csv").read_text() == (tmp_path / "b" / "manifest.csv").read_text()
