"""seral extract: audio -> feature table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from seraltools.cli._app import app
from seraltools.cli._common import Address, CorpusName, Device, Engine, OnError, Output, Quiet, Threads, Workers, tool
from seraltools.features import NAMES

Feature = Literal[NAMES]  # type: ignore[valid-type]


@tool(app, "extract", directory_output=True)
def extract_cmd(
    inputs: Annotated[list[str], typer.Argument(help="Audio files, directories (recursive) or manifests (CSV/TSV/Parquet with a 'path' column).", metavar="IN")],
    output: Output,
    feat: Annotated[Feature, typer.Option("--feat", "-f", help="Feature to extract.")] = "logmel",
    corpus: Annotated[CorpusName, typer.Option("--corpus", help="Labels from file names: a corpus's naming, auto (the one every file follows) or none. Manifests keep their own columns.")] = "auto",
    va_map: Annotated[Optional[Path], typer.Option("--va-map", help="CSV emotion,valence,arousal that replaces the built-in valence/arousal map.", dir_okay=False)] = None,
    model: Annotated[Optional[Path], typer.Option("--model", help="Model for learned features: --feat cpc a file from seral train-cpc; --feat ecapa a SpeechBrain directory; --feat ssl a Hugging Face wav2vec 2.0 / HuBERT / WavLM directory; --feat dvector other GE2E weights than resemblyzer's (optional).")] = None,
    context: Annotated[bool, typer.Option("--context", help="--feat cpc: mean of the context vectors c_t instead of the encoder outputs z_t.")] = False,
    layer: Annotated[Optional[str], typer.Option("--layer", help="--feat ssl: the hidden layer to pool, 0 (the transformer's input: CNN features + positional convolution) to the number of transformer layers (default: the last), or mean (all layers averaged).")] = None,
    device: Device = "auto",
    workers: Workers = 0,
    threads: Threads = 0,
    on_error: OnError = "fail",
    engine: Engine = "local",
    address: Address = None,
    shard: Annotated[Optional[str], typer.Option("--shard", help="Process only the I-th of N shards of the inputs (I/N, e.g. 3/8) and write it as a part; OUTPUT may be a directory (gets part-0000I-of-0000N.parquet). Every tool reads a directory of parts as one table.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="With --shard: do nothing when this shard's part is already written (rerun after a crash).")] = False,
    quiet: Quiet = False,
) -> None:
    """Extract one feature vector per utterance.

    Audio of any sample rate and channel count is mixed to mono and resampled to
    16 kHz. The output has id, path, the label columns (speaker, emotion, valence,
    arousal, corpus) and any manifest columns, then duration and features.

    Example: seral extract --feat logmel --corpus emodb emodb/wav emodb-logmel.parquet
    """
    from seraltools.corpora import collect_inputs, read_va_map
    from seraltools.tools.extract import extract
    from seraltools.errors import BadInput
    from seraltools.progress import log
    from seraltools.features import check_feature
    from seraltools.table import history_entry, stamp, write_table

    from pathlib import Path as _Path

    from seraltools.tools.extract import parse_shard, part_name
    from seraltools.tools.extract import shard as take_shard
    from seraltools.table import read_table

    check_feature(feat)
    if resume and not shard:
        raise BadInput("--resume goes with --shard (it skips shards whose part is written)")
    if not shard and _Path(output).is_dir():
        raise BadInput(f"{output}: is a directory; give a file name for the output (a directory takes --shard parts)")
    if shard:
        i, n = parse_shard(shard)
        if output == "-":
            raise BadInput("--shard writes a part file; give a file or directory, not -")
        if output.endswith("/") or _Path(output).is_dir() or not (
                _Path(output).is_file() or _Path(output).suffix.lower() == ".parquet"):
            # a new name without .parquet is a directory of parts: the next shard must not replace this one
            output = str(_Path(output) / part_name(i, n))
        elif _Path(output).is_file():
            _check_same_shard(output, shard)
    options = {"model": str(model) if model else None, "context": context, "device": device, "layer": layer}
    user_map = read_va_map(va_map) if va_map else None
    utterances, described = collect_inputs(inputs, corpus, user_map, check_files=on_error == "fail", warn=log)
    if shard:
        utterances = take_shard(utterances, i, n)
        if not utterances.num_rows:
            raise BadInput(f"--shard {shard}: this shard is empty ({n} shards of fewer utterances); use fewer shards")
        if resume and _Path(output).is_file():
            try:
                kept = read_table(output)
            except BadInput:  # written parts are whole (atomic writes); one that does not read is redone
                log(f"seral extract: shard {i}/{n}: {output} does not read as a table; extracting it again")
            else:
                _check_kept_part(kept, output, utterances, feat, options, shard)
                if not quiet:
                    log(f"seral extract: shard {i}/{n} already written ({output}); skipped")
                return
    done = extract(utterances, feat, options=options, workers=workers, on_error=on_error, quiet=quiet,
                   engine=engine, address=address, threads=threads)
    for s in done.skipped:  # the reason names the file
        reason = s["reason"] if s["reason"].startswith(s["path"]) else f"{s['path']}: {s['reason']}"
        log(f"seral extract: skipped {reason}")
    if not done.table.num_rows:
        raise BadInput(f"none of the {done.total} utterances could be read; nothing written")
    params = {"feat": feat, "corpus": described["corpus"], "on_error": on_error, "shard": shard,
              "options": {k: options[k] for k in _PART_OPTIONS},
              "va_map": str(va_map.resolve()) if va_map else None, "config": done.config}
    inputs_meta = described["inputs"] + [{"audio_fingerprint": done.audio_fingerprint, "utterances": done.total}]
    table = stamp(done.table, history_entry("extract", params, inputs_meta), parent={"history": described["history"]},
                  feature=feat, skipped=described.get("skipped", []) + done.skipped)
    write_table(table, output)
    if not quiet:
        log(f"seral extract: {table.num_rows} of {done.total} utterances -> {output}")


#: The options that change a part's features (device does not): a kept part must match them.
_PART_OPTIONS = ("model", "context", "layer")


def _last_extract(table) -> dict:
    from seraltools.table import metadata

    entries = [h for h in metadata(table).get("history", []) if isinstance(h, dict) and h.get("tool") == "extract"]
    return entries[-1].get("parameters", {}) if entries else {}


def _shard_key(spec) -> object:
    from seraltools.tools.extract import parse_shard

    try:
        return parse_shard(str(spec))
    except Exception:
        return spec


def _check_same_shard(output: str, shard: str) -> None:
    """An existing OUTPUT file that holds another shard's part would be replaced by this one."""
    import json

    import pyarrow.parquet as pq

    from seraltools.errors import BadInput

    try:
        history = json.loads((pq.read_schema(output).metadata or {}).get(b"seral", b"{}")).get("history", [])
    except Exception:  # not a seral table: atomic writes replace it, as any output
        return
    last = history[-1] if isinstance(history, list) and history and isinstance(history[-1], dict) else {}
    theirs = last.get("parameters", {}).get("shard") if last.get("tool") == "extract" else None
    if theirs and _shard_key(theirs) != _shard_key(shard):
        raise BadInput(f"{output}: holds shard {theirs}; writing shard {shard} there would replace it: "
                       f"give a directory for the parts ({output}.parts/ or any name ending in /)")


def _check_kept_part(kept, output: str, utterances, feat: str, options: dict, shard: str) -> None:
    """--resume keeps a written part only when it was made from this shard's utterances with
    this feature; otherwise it says what differs (exit 2) and leaves the part alone."""
    from seraltools.errors import BadInput
    from seraltools.table import metadata

    meta, params = metadata(kept), _last_extract(kept)
    why = None
    if meta.get("feature") != feat:
        why = f"--feat {meta.get('feature')}, not {feat}"
    elif params.get("shard") is not None and _shard_key(params["shard"]) != _shard_key(shard):
        why = f"shard {params.get('shard')}, not {shard}"
    elif "options" in params and any(params["options"].get(k) != options[k] for k in _PART_OPTIONS):
        k = next(k for k in _PART_OPTIONS if params["options"].get(k) != options[k])
        why = f"--{k} {params['options'].get(k)}, not {options[k]}"
    else:
        skipped = {s.get("id") for s in meta.get("skipped", []) if isinstance(s, dict)}
        columns = [c for c in ("path", "start", "end", "audio_row") if c in utterances.column_names]
        want = [r for r in utterances.select(["id", *columns]).to_pylist() if r["id"] not in skipped]
        have_cols = [c for c in columns if c in kept.column_names]
        have = kept.select(["id", *have_cols]).to_pylist() if len(have_cols) == len(columns) else None
        if have != want:
            why = "other inputs (its ids or paths differ from this shard's)"
    if why:
        raise BadInput(f"{output}: --resume found a part made from {why}; remove it to extract this shard "
                       "again, or give another output")
