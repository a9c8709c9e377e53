"""seral segment: long recordings -> a manifest of utterances."""

from __future__ import annotations

from typing import Annotated

import typer

from seraltools.cli._app import app
from seraltools.cli._common import CorpusName, OnError, Quiet, tool


@tool(app, "segment")
def segment_cmd(
    inputs: Annotated[list[str], typer.Argument(help="Recordings: audio files, directories or manifests, as for extract.", metavar="IN")],
    output: Annotated[str, typer.Argument(help="Manifest to write: .csv or .tsv as text, otherwise Parquet; - for Parquet on stdout.", metavar="OUTPUT")],
    threshold: Annotated[float, typer.Option("--threshold", help="Voiced frames: energy above the recording's speech level (95th percentile of 25 ms frames) plus this many dB.")] = -40.0,
    min_silence: Annotated[float, typer.Option("--min-silence", help="Seconds of pause that end an utterance.")] = 0.4,
    min_length: Annotated[float, typer.Option("--min-length", help="Shorter utterances are dropped (seconds).")] = 0.5,
    max_length: Annotated[float, typer.Option("--max-length", help="Longer stretches without a pause are split at their quietest frame (seconds, before --pad; a piece may pass it by a frame when no cut keeps both sides --min-length).")] = 20.0,
    pad: Annotated[float, typer.Option("--pad", help="Seconds kept before and after each utterance (never into the next).")] = 0.1,
    corpus: Annotated[CorpusName, typer.Option("--corpus", help="File-name labels of audio inputs, as for extract; copied to every utterance.")] = "none",
    on_error: OnError = "fail",
    quiet: Quiet = False,
) -> None:
    """Cut long recordings into utterances at long silences (an energy threshold).

    Writes a manifest, one row per utterance: id (RECORDING_0001, ...), path, start and
    end (seconds), duration, recording, and the recording's other columns; seral
    extract reads it directly and decodes only each span. Recordings are read as a
    stream: memory does not grow with their length.

    Example: seral segment interviews/ utterances.csv && seral extract utterances.csv feats.parquet
    """
    from pathlib import Path

    from seraltools.corpora import collect_inputs
    from seraltools.errors import BadInput
    from seraltools.progress import log, progress
    from seraltools.segment import SegmentConfig
    from seraltools.tools.segment import segment
    from seraltools.table import atomic_path, history_entry, stamp, write_table

    cfg = SegmentConfig(threshold_db=threshold, min_silence=min_silence, min_length=min_length,
                        max_length=max_length, pad=pad)
    cfg.check()
    recordings, described = collect_inputs(inputs, corpus, check_files=on_error == "fail", warn=log)
    with progress(recordings.num_rows, "segment", quiet=quiet, unit="file") as advance:
        table, summary = segment(recordings, cfg, on_error=on_error, advance=advance)
    for s in summary["skipped"]:
        log(f"seral segment: skipped {s['reason']}")
    for w in summary["warnings"]:
        log(f"seral segment: warning: {w}")
    if not table.num_rows:
        raise BadInput("no utterance found; lower --threshold (e.g. -50) or --min-length")
    suffix = Path(output).suffix.lower()
    if output != "-" and suffix in (".csv", ".tsv"):
        import pyarrow.csv as pcsv

        with atomic_path(output) as tmp:
            pcsv.write_csv(table, tmp, write_options=pcsv.WriteOptions(delimiter="\t" if suffix == ".tsv" else ","))
    else:
        write_table(stamp(table, history_entry("segment", cfg.to_dict(), described["inputs"]),
                          skipped=described.get("skipped", []) + summary["skipped"]), output)
    if not quiet:
        log(f"seral segment: {summary['recordings']} recordings ({summary['audio_seconds'] / 60:.1f} min) -> "
            f"{summary['utterances']} utterances ({summary['speech_seconds'] / 60:.1f} min) -> {output}")

