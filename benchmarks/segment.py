"""Issue #13's figures: `seral segment` on long recordings, and EMO-DB back from a concatenation.

    python benchmarks/segment.py [--emodb ../shared/corpora/emodb/wav] [--minutes 10,60]

1. Synthetic recordings (16 kHz mono 16-bit WAV) of tone-burst "utterances" (1-4 s,
   syllable-rate modulated, with a -60 dB noise floor) between planted pauses of
   0.5-2 s: `seral segment` end to end in a fresh process -- wall time, peak resident
   memory (getrusage of the child), utterances found against planted, and how many
   planted ones were found as exactly one segment with both boundaries within 0.15 s
   (the 0.1 s padding and a frame).
2. EMO-DB joined into one long recording per speaker (the speaker's files in name
   order, 0.5-2 s of digital silence between them, seed 0) -> `seral segment` ->
   `seral extract --feat logmel` of the segments: how many of the 535 utterances come
   back as exactly one segment (a segment overlapping that file and no other), and the
   cosine similarity of each such segment's features to those of the original file
   (z-scored over the corpus, as MAL sees them).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _measure import seral_peak as seral  # noqa: E402


def planted_recording(path: Path, minutes: float, seed: int = 0) -> list[tuple[float, float]]:
    """Write a recording of tone bursts between pauses, block by block; return the bursts' spans."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    truth, t, total = [], 0.0, minutes * 60
    with sf.SoundFile(path, "w", samplerate=16000, channels=1, subtype="PCM_16") as f:
        while t < total - 6:
            pause = rng.uniform(0.5, 2.0)
            f.write((0.001 * rng.standard_normal(int(pause * 16000))).astype(np.float32))
            t += int(pause * 16000) / 16000
            n = int(rng.uniform(1.0, 4.0) * 16000)
            tt = np.arange(n) / 16000
            f0 = rng.uniform(100, 250)
            burst = 0.3 * np.sin(2 * np.pi * f0 * tt) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * tt) ** 2)
            f.write((burst + 0.001 * rng.standard_normal(n)).astype(np.float32))
            truth.append((t, t + n / 16000))
            t += n / 16000
        f.write((0.001 * rng.standard_normal(16000)).astype(np.float32))
    return truth


def matched(truth: list[tuple[float, float]], spans: list[tuple[float, float]]) -> list[int | None]:
    """For each true span, the index of the one segment that overlaps it and no other true span, else None."""
    out = []
    for a, b in truth:
        hits = [j for j, (s, e) in enumerate(spans) if min(b, e) > max(a, s)]
        ok = len(hits) == 1 and sum(min(b2, spans[hits[0]][1]) > max(a2, spans[hits[0]][0]) for a2, b2 in truth) == 1
        out.append(hits[0] if ok else None)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--emodb", type=Path, default=ROOT.parent / "shared" / "corpora" / "emodb" / "wav")
    ap.add_argument("--minutes", default="10,60")
    args = ap.parse_args()
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq
    import soundfile as sf

    from seraltools.audio import load_audio
    from seraltools.standardize import zscore
    from seraltools.table import feature_matrix

    print(f"{platform.machine()}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("\n1. seral segment on synthetic recordings with planted pauses")
        print(f"{'recording':<12} {'wall (s)':>9} {'peak RSS (MB)':>14} {'planted':>8} {'found':>6} {'one-to-one, +-0.15 s':>21}")
        for minutes in (float(m) for m in args.minutes.split(",")):
            wav = tmp / f"rec-{minutes:g}.wav"
            truth = planted_recording(wav, minutes)
            wall, rss = seral("segment", "-q", wav, tmp / "segs.csv")
            t = pcsv.read_csv(tmp / "segs.csv")
            spans = list(zip(t.column("start").to_pylist(), t.column("end").to_pylist()))
            m = matched(truth, spans)
            close = sum(j is not None and abs(spans[j][0] - a) <= 0.15 and abs(spans[j][1] - b) <= 0.15
                        for j, (a, b) in zip(m, truth))
            print(f"{minutes:g} min{'':<7} {wall:>9.1f} {rss:>14.0f} {len(truth):>8} {len(spans):>6} {close:>21}", flush=True)
            wav.unlink()

        print("\n2. EMO-DB joined per speaker -> segment -> extract")
        files = sorted(args.emodb.glob("*.wav"))
        rng = np.random.default_rng(0)
        truth: dict[str, list] = {}
        lines = ["id,path"]
        for spk in sorted({f.name[:2] for f in files}):
            parts, t, spans = [], 0.0, []
            for f in (f for f in files if f.name[:2] == spk):
                pause = np.zeros(int(rng.uniform(0.5, 2.0) * 16000), np.float32)
                x = load_audio(f).samples
                parts += [pause, x]
                t += len(pause) / 16000
                spans.append((f.stem, t, t + len(x) / 16000))
                t += len(x) / 16000
            parts.append(np.zeros(16000, np.float32))
            sf.write(tmp / f"spk{spk}.wav", np.concatenate(parts), 16000, subtype="FLOAT")
            truth[f"spk{spk}"] = spans
            lines.append(f"spk{spk},{tmp / f'spk{spk}.wav'}")
        (tmp / "recs.csv").write_text("\n".join(lines) + "\n")
        wall_seg, _ = seral("segment", "-q", tmp / "recs.csv", tmp / "segs.csv")
        wall_ext, _ = seral("extract", "-q", "--feat", "logmel", tmp / "segs.csv", tmp / "segs.parquet")
        seral("extract", "-q", "--feat", "logmel", "--corpus", "emodb", args.emodb, tmp / "orig.parquet")
        segs, orig = pq.read_table(tmp / "segs.parquet"), pq.read_table(tmp / "orig.parquet")
        seg_x, orig_x = feature_matrix(segs), feature_matrix(orig)
        both = zscore(np.concatenate([orig_x, seg_x]))
        orig_z, seg_z = both[: len(orig_x)], both[len(orig_x):]
        orig_row = {i: r for r, i in enumerate(orig.column("id").to_pylist())}
        rec, start, end = (segs.column(c).to_pylist() for c in ("recording", "start", "end"))
        found, cosines = 0, []
        for r, spans in truth.items():
            rows = [j for j in range(len(rec)) if rec[j] == r]
            seg_spans = [(start[j], end[j]) for j in rows]
            for (stem, a, b), j in zip(spans, matched([(a, b) for _, a, b in spans], seg_spans)):
                if j is None:
                    continue
                found += 1
                u, v = seg_z[rows[j]], orig_z[orig_row[stem]]
                cosines.append(float(u @ v / np.linalg.norm(u) / np.linalg.norm(v)))
        c = np.array(cosines)
        print(f"{len(truth)} recordings, {sum(len(s) for s in truth.values())} utterances planted; "
              f"{segs.num_rows} segments; segment {wall_seg:.1f} s, extract {wall_ext:.1f} s")
        print(f"one segment each: {found} of {len(files)}")
        print(f"cosine to the original file's features (z-scored): median {np.median(c):.3f}, "
              f"5th percentile {np.percentile(c, 5):.3f}, min {c.min():.3f}")


if __name__ == "__main__":
    main()
