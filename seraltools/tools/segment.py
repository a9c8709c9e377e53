"""``seral segment`` over tables: recordings -> a manifest of utterances (spans), cut at
long silences by :mod:`seraltools.segment`."""

from __future__ import annotations

from seraltools.audio import Embedded, Segment, out_of_memory
from seraltools.errors import BadInput
from seraltools.segment import SegmentConfig, segment_recording


def segment(utterances, cfg: SegmentConfig = SegmentConfig(), *, on_error: str = "fail", advance=None):
    """The tool: a table of recordings (``id``, ``path``, any labels; from
    :func:`seraltools.corpora.collect_inputs`) -> (a manifest of utterances, summary).

    One row per utterance: ``id`` (``RECORDING_0001``, ...), ``path``, ``start``, ``end``,
    ``duration``, ``recording`` (the recording's id), then the recording's other columns.
    Bad recordings stop the run (``on_error="fail"``) or are listed in the summary's
    ``skipped``."""
    import pyarrow as pa

    from seraltools.corpora import SPAN_COLUMNS, sources

    cfg.check()
    rec_ids = utterances.column("id").to_pylist()
    keep_cols = [c for c in utterances.column_names
                 if c not in ("id", "path", "duration", "features", "recording", *SPAN_COLUMNS)]
    rows: dict[str, list] = {c: [] for c in ("id", "path", "start", "end", "duration", "recording", *keep_cols)}
    extra = {c: utterances.column(c).to_pylist() for c in keep_cols}
    skipped, audio_s, warnings = [], 0.0, []
    for r, source in enumerate(sources(utterances)):
        try:
            try:
                seconds, spans = segment_recording(source, cfg, warn=warnings.append)
            except MemoryError:
                raise BadInput(out_of_memory(source)) from None
        except BadInput as e:
            if on_error == "fail":
                raise BadInput(f"{e} (use --on-error skip to leave bad recordings out)") from None
            skipped.append({"id": rec_ids[r], "path": str(source), "reason": str(e)})
            continue
        finally:
            if advance:
                advance(1)
        audio_s += seconds
        path = source.path if isinstance(source, Segment) else source.parquet if isinstance(source, Embedded) else str(source)
        for k, (a, b) in enumerate(spans, 1):
            rows["id"].append(f"{rec_ids[r]}_{k:04d}")
            rows["path"].append(path)
            rows["start"].append(a)
            rows["end"].append(b)
            rows["duration"].append(round(b - a, 4))
            rows["recording"].append(rec_ids[r])
            for c in keep_cols:
                rows[c].append(extra[c][r])
    types = {"start": pa.float64(), "end": pa.float64(), "duration": pa.float32()}
    arrays = {c: pa.array(v, types.get(c)) if c in types or c in ("id", "path", "recording")
              else pa.array(v, utterances.schema.field(c).type) for c, v in rows.items()}
    table = pa.table(arrays)
    summary = {"recordings": len(rec_ids) - len(skipped), "utterances": table.num_rows, "audio_seconds": audio_s,
               "speech_seconds": float(sum(rows["duration"])), "skipped": skipped, "warnings": warnings}
    return table, summary
