"""What every command shares: options declared once, and the one error handler.

A command is ``parse -> read -> call -> write``; :func:`tool` registers it and turns
the library's exceptions into a one-line message and an exit status (2 for the
user's mistakes, 1 for failures; ``SERAL_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from typing import Annotated, Callable, Literal, Optional

import typer

from seraltools.compute import cpu_workers  # noqa: F401  (re-exported for the commands)
from seraltools.errors import SeralError, first_line, is_utf8, missing_package, printable
from seraltools.naming import CORPUS_CHOICES

try:  # typer >= 0.20 vendors click
    from typer._click.exceptions import ClickException, UsageError  # noqa: F401  (used by cli.main)
except ImportError:  # pragma: no cover - older typer on click
    from click.exceptions import ClickException, UsageError  # noqa: F401

# ---------------------------------------------------------------- shared options (defaults written once)

Output = Annotated[str, typer.Argument(help="Output table (Parquet); - for stdout.", metavar="OUTPUT")]
InputTable = Annotated[str, typer.Argument(help="Input table (Parquet); - for stdin.", metavar="TABLE")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of every random step: same input and seed, same output.")]
Standardize = Annotated[Literal["corpus", "speaker", "none"], typer.Option("--standardize", help="Where selection features are z-scored before distances are measured: corpus (over every row), speaker (within each speaker, or recording of a segmented table; rows without one: corpus statistics) or none.")]
NoStandardize = Annotated[bool, typer.Option("--no-standardize", hidden=True, help="Deprecated: --standardize none.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary on stderr.")]
Workers = Annotated[
    int, typer.Option("--workers", "-j", min=0, help="Worker processes; 0 = one per CPU this process may use (affinity, cgroup quota, SLURM_CPUS_PER_TASK).")
]
Threads = Annotated[
    int, typer.Option("--threads", min=0, help="torch threads per process; 0 = OMP_NUM_THREADS if set, else the CPUs per process that are idle at the start (fewer threads run faster on a busy machine).")
]
Device = Annotated[Literal["auto", "cpu", "cuda"], typer.Option("--device", help="Where torch runs; auto takes a GPU when there is one.")]
Engine = Annotated[Literal["local", "ray"], typer.Option("--engine", help="local: this machine's processes; ray: a Ray cluster (install seral's ray extra).")]
Address = Annotated[Optional[str], typer.Option("--address", help="--engine ray: the cluster's address (default: RAY_ADDRESS, else a local Ray instance).")]
CorpusName = Literal[CORPUS_CHOICES]  # type: ignore[valid-type]
ARCH = "Encoder size"
# the encoder's size, declared once for pretrain and evaluate ser
ConvChannels = Annotated[int, typer.Option("--conv-channels", help="Channels of the convolutional feature extractor (wav2vec 2.0: 512).", rich_help_panel=ARCH)]
Width = Annotated[int, typer.Option("--width", help="Transformer width (wav2vec 2.0 base: 768).", rich_help_panel=ARCH)]
Layers = Annotated[int, typer.Option("--layers", help="Transformer layers (the paper: 6).", rich_help_panel=ARCH)]
Heads = Annotated[int, typer.Option("--heads", help="Attention heads (wav2vec 2.0 base: 12).", rich_help_panel=ARCH)]
OnError = Annotated[
    Literal["fail", "skip"],
    typer.Option("--on-error", help="fail: stop at the first bad file (exit 2); skip: leave bad files out and list them."),
]


def err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


#: Parameters that name files (and directories) a command writes: checked before any work starts.
OUTPUT_PARAMETERS = ("output", "out", "plot", "save_model", "folds_out", "config")
OUTPUT_DIRECTORIES = ("out_dir",)


def tool(app: typer.Typer, name: str, *, label: str | None = None, directory_output: bool = False,
         **kwargs) -> Callable:
    """Register ``fn`` as command ``name`` of ``app`` with seral's error handling.

    ``label`` is how messages name the tool (default ``name``; e.g. ``evaluate al``).
    Every output path (:data:`OUTPUT_PARAMETERS`) is checked to be writable before the
    command runs; ``directory_output``: OUTPUT may be a directory (extract's shards).
    """
    label = label or name

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(*args, **kw):
            try:
                from seraltools.table import check_output, check_output_directory

                given = dict(kw)
                paths = given.get("paths")
                if paths and len(paths) >= 2 and given.get("out") is None:  # IN... OUTPUT
                    given["paths"], given["output"] = paths[:-1], paths[-1]
                for param in OUTPUT_PARAMETERS:
                    if given.get(param) is not None:
                        check_output(given[param], directory_ok=directory_output and param == "output")
                _check_not_an_input(given)
                for param in OUTPUT_DIRECTORIES:
                    if given.get(param) is not None:
                        check_output_directory(given[param])
                with _one_line_warnings(label):
                    return fn(*args, **kw)
            except SeralError as e:
                err(f"seral {label}: error: {printable(e)}")
                raise typer.Exit(e.exit_code) from None
            except KeyboardInterrupt:
                err(f"seral {label}: interrupted; no output was written")
                raise typer.Exit(130) from None
            except (typer.Exit, typer.Abort):
                raise
            except BrokenPipeError:
                _quiet_broken_pipe()
                raise typer.Exit(141) from None
            except Exception as e:
                if os.environ.get("SERAL_DEBUG"):
                    raise
                if isinstance(e, UnicodeEncodeError) and isinstance(e.object, str) and not is_utf8(e.object):
                    # a file name that is not UTF-8 text, met by a library (pyarrow takes UTF-8 paths only)
                    err(f"seral {label}: error: {printable(e.object)}: the name is not UTF-8 text, which seral's "
                        "tables and the libraries it reads and writes with need; rename it")
                    raise typer.Exit(2) from None
                if _disk_full(e):
                    where = f" ({printable(e.filename)})" if getattr(e, "filename", None) else ""
                    err(f"seral {label}: error: disk full{where}: free some space or write elsewhere; no output was "
                        "written")
                    raise typer.Exit(1) from None
                bad = missing_package(e) if isinstance(e, ImportError) else None
                if bad is not None:  # an optional package (torch, ...) is not installed
                    err(f"seral {label}: error: {printable(bad)}")
                    raise typer.Exit(bad.exit_code) from None
                err(f"seral {label}: internal error: {type(e).__name__}: {printable(e)} (SERAL_DEBUG=1 shows the traceback)")
                raise typer.Exit(1) from None

        kwargs.setdefault("help", unwrap(fn.__doc__ or ""))
        return app.command(name, **kwargs)(run)

    return decorate


def _disk_full(e: BaseException) -> bool:
    """No space left (or the quota reached), as Python or pyarrow says it."""
    import errno

    return isinstance(e, OSError) and (e.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left on device" in str(e)
                                       or "Disk quota exceeded" in str(e))


@contextlib.contextmanager
def _one_line_warnings(label: str):
    """A library's warning (numpy's RuntimeWarning, scikit-learn's ConvergenceWarning, ...)
    as one line, once, in seral's words: ``seral LABEL: warning: MESSAGE``, not Python's
    two lines with a source file and line. Deprecation notes meant for developers stay hidden."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
            warnings.simplefilter("ignore", category)
        try:
            yield
        finally:
            seen = set()
            for w in caught:
                text = printable(first_line(w.message))
                if text not in seen:
                    seen.add(text)
                    err(f"seral {label}: warning: {text}")


def _files(value) -> list[str]:
    """The existing regular files a parameter value names (a path or a list of paths)."""
    values = value if isinstance(value, (list, tuple)) else [value]
    return [str(v) for v in values if isinstance(v, (str, os.PathLike)) and str(v) != "-" and os.path.isfile(v)]


def _check_not_an_input(kw: dict) -> None:
    """An output that is one of the command's inputs, or another of its outputs, would
    destroy it: refused before any work (``cluster-labels q.parquet labels.csv labels.csv``)."""
    from seraltools.errors import BadInput

    outputs = {p: kw[p] for p in OUTPUT_PARAMETERS if kw.get(p) is not None}
    seen: list[tuple[str, str]] = []
    for param, value in kw.items():
        if param in outputs:
            continue
        seen += [(param, f) for f in _files(value)]
    for param, path in outputs.items():
        if str(path) == "-" or not os.path.isfile(path):
            continue
        for other, f in seen + [(p, str(v)) for p, v in outputs.items() if p != param]:
            if os.path.isfile(f) and os.path.samefile(path, f):
                raise BadInput(f"{path}: is also the {other.replace('_', ' ')} of this command; writing it would "
                               "destroy it: give another output file")
    _check_outputs_differ(outputs)


def _check_outputs_differ(outputs: dict) -> None:
    """Two outputs of one command naming the same file, existing or new (after resolving
    symlinks and ``..``): the second write would replace the first (``--plot r.parquet
    r.parquet``). Refused before any work; stdout, devices and FIFOs are written through."""
    from seraltools.errors import BadInput

    seen: dict[str, str] = {}
    for param, path in outputs.items():
        if str(path) == "-" or (os.path.exists(path) and not os.path.isfile(path)):
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise BadInput(f"{path}: is both the {seen[key].replace('_', ' ')} and the {param.replace('_', ' ')} "
                           "of this command; the second write would destroy the first: give two different files")
        seen[key] = param


def unwrap(doc: str) -> str:
    """A docstring as help text: each paragraph one line (the terminal wraps it), so that
    line breaks of the source never show mid-sentence; lines starting with "- " stay lines."""
    import inspect

    paragraphs = []
    for para in inspect.cleandoc(doc).split("\n\n"):
        lines = [ln.strip() for ln in para.splitlines() if ln.strip()]
        joined: list[str] = []
        for ln in lines:
            if joined and not ln.startswith("- "):
                joined[-1] += " " + ln
            else:
                joined.append(ln)
        paragraphs.append("\n".join(joined))
    return "\n\n".join(p for p in paragraphs if p)


def _quiet_broken_pipe() -> None:
    """The reader went away (`seral info x | head`): exit without a traceback."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


def encoder_options(conv_channels: int, width: int, layers: int, heads: int):
    """The encoder size options as an :class:`seraltools.encoder.EncoderConfig`."""
    from seraltools.encoder import EncoderConfig

    return EncoderConfig(conv_channels=conv_channels, width=width, layers=layers, heads=heads)


#: Old option spellings, kept for one release: (command, old) -> new. Each use warns on stderr.
DEPRECATED = {
    ("reduce", "--engine"): "--tsne",
    ("train-cpc", "--steps"): "--horizon",
    ("evaluate al", "-c"): "--classify",
    ("pretrain", "--out"): "a positional OUTPUT after the inputs",
    ("train-cpc", "--out"): "a positional OUTPUT after the inputs",
    ("mal-select", "--no-standardize"): "--standardize none",
    ("evaluate al", "--no-standardize"): "--standardize none",
}


def standardize_option(standardize: str, no_standardize: bool, command: str) -> str:
    """--standardize MODE, or the old --no-standardize flag (deprecated) as none."""
    if no_standardize:
        deprecated(command, "--no-standardize")
        return "none"
    return standardize


def deprecated(command: str, old: str) -> None:
    """Say on stderr that ``old`` (an option of ``command``) is kept for one release only."""
    err(f"seral {command}: warning: {old} is deprecated and goes in the next release; use "
        f"{DEPRECATED[(command, old)]}")


def inputs_and_output(paths: list[str], out, command: str) -> tuple[list[str], str]:
    """``IN... OUTPUT`` of a command that took ``--out OUTPUT`` before: (inputs, output)."""
    from seraltools.errors import BadInput

    if out is not None:
        deprecated(command, "--out")
        return paths, str(out)
    if len(paths) < 2:
        raise BadInput(f"give the inputs and then the output file: seral {command} IN... OUTPUT")
    return paths[:-1], paths[-1]


def listed(values) -> list[str] | None:
    """The one list convention of seral's options: repeat the option, comma-separate the
    values, or both (``--emotions anger,sadness --emotions neutral``). None when not given."""
    if values is None:
        return None
    items = [v.strip() for value in ([values] if isinstance(values, str) else values) for v in str(value).split(",")]
    return [v for v in items if v] or None


def joined(values) -> str | None:
    """:func:`listed`, as the comma-separated text the library's parsers take."""
    items = listed(values)
    return None if items is None else ",".join(items)


#: How every reader of labels makes one label per id of several answers (seraltools.labels.aggregate).
Aggregate = Annotated[str, typer.Option("--aggregate", help="Several answers per id (annotators, --raters): auto (majority of categories, mean of scales), majority, mean, soft (also each answer's share as columns), last (the last answer in the file), or an annotator's name.")]
