"""Inputs, manifests, file-name label parsers and valence/arousal maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from seraltools.corpora import CORPORA, VA_DEFAULT, collect_inputs, detect_corpus, read_va_map
from seraltools.errors import BadInput


@pytest.mark.parametrize(
    "corpus, name, speaker, emotion",
    [
        ("emodb", "03a01Fa.wav", "03", "happiness"),
        ("emodb", "16b10Lb.wav", "16", "boredom"),
        ("ravdess", "03-01-05-01-02-01-12.wav", "12", "anger"),
        ("ravdess", "03-01-02-02-01-02-01.wav", "01", "calm"),
        ("cremad", "1001_DFA_ANG_XX.wav", "1001", "anger"),
        ("cremad", "1091_IEO_HAP_HI.wav", "1091", "happiness"),
        ("tess", "OAF_back_angry.wav", "OAF", "anger"),
        ("tess", "YAF_dog_ps.wav", "YAF", "surprise"),
        ("savee", "DC_sa03.wav", "DC", "sadness"),
        ("savee", "KL/su12.wav", "KL", "surprise"),
        ("synthetic", "s02_anger_05.wav", "s02", "anger"),
    ],
)
def test_file_name_parsers(corpus, name, speaker, emotion):
    assert CORPORA[corpus].parse(Path("/data") / name) == {"speaker": speaker, "emotion": emotion}
    assert detect_corpus([Path("/data") / name]).name == corpus


@pytest.mark.parametrize("corpus", ["emodb", "ravdess", "cremad", "tess", "savee"])
def test_parsers_reject_other_names(corpus):
    assert CORPORA[corpus].parse(Path("/data/recording-final.wav")) is None


def test_emodb_valence_arousal_is_the_corpus_readme_table():
    va = CORPORA["emodb"].va_map
    arousal_high = {e for e, (v, a) in va.items() if a == 1}
    valence_pos = {e for e, (v, a) in va.items() if v == 1}
    assert arousal_high == {"anger", "fear", "happiness"}
    assert valence_pos == {"happiness", "neutral"}
    assert set(va) == {"anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness"}


def _wav(path: Path, seconds=0.2):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(int(seconds * 16000)), 16000)
    return path


def test_directory_is_searched_recursively_with_auto_labels(tmp_path):
    for n in ["03a01Fa", "08b02Wb"]:
        _wav(tmp_path / "wav" / n[:2] / f"{n}.wav")
    (tmp_path / "wav" / "README.txt").write_text("not audio")
    t, described = collect_inputs([str(tmp_path / "wav")])
    assert described["corpus"] == "emodb"
    assert t.column("id").to_pylist() == ["03/03a01Fa", "08/08b02Wb"]
    assert t.column("emotion").to_pylist() == ["happiness", "anger"]
    assert t.column("valence").to_pylist() == [1, 0] and t.column("arousal").to_pylist() == [1, 1]
    assert t.schema.field("valence").type == pa.int8()
    assert all(Path(p).is_absolute() for p in t.column("path").to_pylist())


def test_auto_without_a_match_gives_no_labels_and_explicit_corpus_names_the_file(tmp_path):
    _wav(tmp_path / "hello.wav")
    t, described = collect_inputs([str(tmp_path)])
    assert described["corpus"] is None and "emotion" not in t.column_names
    with pytest.raises(BadInput, match=r"hello.wav: file name does not follow the EMO-DB"):
        collect_inputs([str(tmp_path)], corpus="emodb")
    with pytest.raises(BadInput, match="unknown corpus 'iemocap'"):
        collect_inputs([str(tmp_path)], corpus="iemocap")


def test_manifest_csv_keeps_columns_resolves_paths_and_fills_valence_arousal(tmp_path):
    _wav(tmp_path / "audio" / "a.wav")
    _wav(tmp_path / "audio" / "b.wav")
    (tmp_path / "m.csv").write_text("path,speaker,emotion,session\naudio/a.wav,007,Angry,1\naudio/b.wav,007,sad,2\n")
    t, _ = collect_inputs([str(tmp_path / "m.csv")])
    assert t.column("id").to_pylist() == ["a", "b"]
    assert t.column("speaker").to_pylist() == ["007", "007"]  # a string, not the number 7
    assert t.column("emotion").to_pylist() == ["anger", "sadness"]
    assert t.column("session").to_pylist() == [1, 2]
    assert t.column("path").to_pylist()[0] == str((tmp_path / "audio" / "a.wav").resolve())
    assert t.column("arousal").to_pylist() == [1, 0]


def test_manifest_parquet(tmp_path):
    _wav(tmp_path / "x.wav")
    pq.write_table(pa.table({"id": ["one"], "path": ["x.wav"], "emotion": ["neutral"]}), tmp_path / "m.parquet")
    t, _ = collect_inputs([str(tmp_path / "m.parquet")])
    assert t.column("id").to_pylist() == ["one"] and t.column("valence").to_pylist() == [1]


@pytest.mark.parametrize(
    "text, message",
    [
        ("id,speaker\na,1\n", "no 'path' column"),
        ("path\nnot-there.wav\n", "row 1: audio file not-there.wav not found"),
        ("id,path\nu,x.wav\nu,x.wav\n", "id 'u' appears in rows 1 and 2"),
        ("path\n\n", "manifest lists no utterances"),
        ("id,path\na,\n", "row 1: empty 'path'"),
    ],
)
def test_bad_manifests_name_the_row(tmp_path, text, message):
    _wav(tmp_path / "x.wav")
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(BadInput, match=message) as e:
        collect_inputs([str(tmp_path / "m.csv")])
    assert "m.csv" in str(e.value)


def test_duplicate_ids_across_inputs(tmp_path):
    a, b = _wav(tmp_path / "one" / "x.wav"), _wav(tmp_path / "two" / "x.wav")
    with pytest.raises(BadInput, match="id 'x' is also the id of"):
        collect_inputs([str(a), str(b)])


def test_user_va_map_replaces_the_built_in_one(tmp_path):
    _wav(tmp_path / "03a01Wa.wav")
    (tmp_path / "va.csv").write_text("emotion,valence,arousal\nanger,positive,low\n")
    t, _ = collect_inputs([str(tmp_path)], va_map=read_va_map(tmp_path / "va.csv"))
    assert t.column("valence").to_pylist() == [1] and t.column("arousal").to_pylist() == [0]
    (tmp_path / "bad.csv").write_text("emotion,valence\nanger,1\n")
    with pytest.raises(BadInput, match="lacks column"):
        read_va_map(tmp_path / "bad.csv")
    (tmp_path / "bad2.csv").write_text("emotion,valence,arousal\nanger,maybe,1\n")
    with pytest.raises(BadInput, match="line 2"):
        read_va_map(tmp_path / "bad2.csv")


def test_default_map_covers_every_built_in_emotion():
    for c in CORPORA.values():
        assert set(c.va_map) <= set(VA_DEFAULT)


# ---------------------------------------------------------------- inputs that are not audio files


def test_manifest_rows_that_are_not_files_say_what_they_are(synth_dir, tmp_path):
    import os

    from seraltools.corpora import read_manifest

    wav = sorted(synth_dir.glob("*.wav"))[0]
    os.mkfifo(tmp_path / "pipe.wav")
    (tmp_path / "dir.wav").mkdir()
    (tmp_path / "gone.wav").symlink_to(tmp_path / "missing.wav")
    for name, words in (("pipe.wav", "is not a regular file"), ("dir.wav", "is a directory"),
                        ("gone.wav", "is a symlink to a missing file"), ("absent.wav", "not found")):
        m = tmp_path / f"m-{name}.csv"
        m.write_text(f"path\n{wav}\n{name}\n")
        with pytest.raises(BadInput, match=f"row 2: audio file {name} {words}"):
            read_manifest(m)


def test_parquet_manifest_integer_ids_become_strings(synth_dir, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from seraltools.corpora import read_manifest

    wavs = [str(p) for p in sorted(synth_dir.glob("*.wav"))[:2]]
    pq.write_table(pa.table({"id": pa.array([1, 2], pa.int64()), "path": wavs}), tmp_path / "m.parquet")
    t = read_manifest(tmp_path / "m.parquet")
    assert t.schema.field("id").type == pa.string() and t.column("id").to_pylist() == ["1", "2"]


def test_a_dangling_symlink_in_a_directory_is_reported_not_dropped(cli, synth_dir, tmp_path):
    import shutil

    d = tmp_path / "audio"
    d.mkdir()
    for w in sorted(synth_dir.glob("*.wav"))[:2]:
        shutil.copy(w, d)
    (d / "gone.wav").symlink_to(tmp_path / "missing.wav")
    res = cli("extract", "--corpus", "none", d, tmp_path / "o.parquet")
    assert res.exit_code == 2 and "gone.wav" in res.stderr and "symlink to a missing file" in res.stderr
    res = cli("extract", "--corpus", "none", "--on-error", "skip", d, tmp_path / "o.parquet")
    assert res.exit_code == 0 and "2 of 3 utterances" in res.stderr
    assert res.stderr.count("gone.wav") == 1  # named once per line, not twice


# ---------------------------------------------------------------- other toolkits' inputs, and what seral says


def test_kaldi_data_directory_with_segments_and_utt2spk(cli, synth_dir, tmp_path):
    wavs = sorted(synth_dir.glob("*.wav"))[:2]
    d = tmp_path / "data"
    d.mkdir()
    (d / "wav.scp").write_text(f"rec1 {wavs[0]}\nrec2 {wavs[1]}\n")
    (d / "segments").write_text("u1 rec1 0.0 0.4\nu2 rec1 0.4 -1\nu3 rec2 0.1 0.6\n")
    (d / "utt2spk").write_text("u1 A\nu2 A\nu3 B\n")
    utts, described = collect_inputs([str(d)], "none")
    assert utts.column("id").to_pylist() == ["u1", "u2", "u3"]
    assert utts.column("speaker").to_pylist() == ["A", "A", "B"]
    assert utts.column("start").to_pylist() == [0.0, 0.4, 0.1] and utts.column("end").to_pylist() == [0.4, None, 0.6]
    res = cli("extract", "-q", d / "wav.scp", tmp_path / "o.parquet")
    assert res.exit_code == 0, res.stderr
    assert pq.read_table(tmp_path / "o.parquet").column("duration").to_pylist()[0] == pytest.approx(0.4)
    (d / "segments").unlink()
    assert collect_inputs([str(d)], "none")[0].column("id").to_pylist() == ["rec1", "rec2"]


def test_kaldi_piped_commands_are_refused(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "wav.scp").write_text("rec1 sox in.sph -t wav - |\n")
    with pytest.raises(BadInput, match="line 1: a piped command"):
        collect_inputs([str(d)], "none")


def test_non_audio_inputs_say_what_seral_takes(cli, tmp_path):
    (tmp_path / "m.jsonl").write_text('{"path": "x.wav"}\n')
    res = cli("extract", tmp_path / "m.jsonl", tmp_path / "o.parquet")
    assert res.exit_code == 2 and "manifests (.csv, .tsv, .parquet" in res.stderr
    assert "0x" not in res.stderr and "<_io" not in res.stderr


def test_corpus_auto_with_some_misfits_says_so_and_labels_the_rest(cli, emodb, tmp_path):
    import shutil

    d = tmp_path / "mixed"
    d.mkdir()
    for f in sorted(emodb.glob("*.wav"))[:3]:
        shutil.copy(f, d)
    shutil.copy(sorted(emodb.glob("*.wav"))[3], d / "interview.wav")
    res = cli("extract", d, tmp_path / "o.parquet")
    assert res.exit_code == 0, res.stderr
    assert "1 of 4 audio files (such as interview.wav) do not follow the EMO-DB (Berlin) naming" in res.stderr
    t = pq.read_table(tmp_path / "o.parquet")
    assert t.column("emotion").null_count == 1 and t.column("speaker").null_count == 1


def write_hf_dataset(path, wavs, labels, names, row_group_size=3):
    """A Parquet file as Hugging Face `datasets` writes an audio dataset (Dataset.to_parquet):
    an `audio` struct of {bytes, path}, a ClassLabel column as ints, the features in the
    schema's `huggingface` metadata."""
    import json

    features = {"audio": {"sampling_rate": 16000, "_type": "Audio"},
                "label": {"names": names, "_type": "ClassLabel"},
                "speaker_id": {"dtype": "string", "_type": "Value"}}
    audio = pa.array([{"bytes": w.read_bytes(), "path": w.name} for w in wavs],
                     pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    table = pa.table({"audio": audio, "label": pa.array(labels, pa.int64()),
                      "speaker_id": pa.array([w.name[:3] for w in wavs], pa.string())})
    table = table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": features}})})
    pq.write_table(table, path, row_group_size=row_group_size)


def test_hugging_face_audio_parquet_is_an_input(cli, synth_dir, tmp_path):
    wavs = sorted(synth_dir.glob("*.wav"))
    write_hf_dataset(tmp_path / "train.parquet", wavs, [i % 2 for i in range(len(wavs))], ["anger", "sadness"])
    utts, _ = collect_inputs([str(tmp_path / "train.parquet")], "auto")
    assert utts.column("id").to_pylist()[:2] == ["train-000001", "train-000002"]
    assert utts.column("label").to_pylist()[:3] == ["anger", "sadness", "anger"]
    res = cli("extract", "-q", tmp_path / "train.parquet", tmp_path / "hf.parquet")
    assert res.exit_code == 0, res.stderr
    (tmp_path / "files.csv").write_text("path\n" + "\n".join(map(str, wavs)) + "\n")
    assert cli("extract", "-q", tmp_path / "files.csv", tmp_path / "files.parquet").exit_code == 0
    hf, files = pq.read_table(tmp_path / "hf.parquet"), pq.read_table(tmp_path / "files.parquet")
    np.testing.assert_array_equal(np.stack(hf.column("features").to_numpy(zero_copy_only=False)),
                                  np.stack(files.column("features").to_numpy(zero_copy_only=False)))
    assert hf.column("speaker_id").to_pylist()[0] == wavs[0].name[:3]
    # a directory of shards reads as one dataset; the extracted table reads again as a manifest
    shards = tmp_path / "shards"
    shards.mkdir()
    write_hf_dataset(shards / "train-00000-of-00002.parquet", wavs[:4], [0] * 4, ["anger", "sadness"])
    write_hf_dataset(shards / "train-00001-of-00002.parquet", wavs[4:], [1] * 4, ["anger", "sadness"])
    assert collect_inputs([str(shards)], "auto")[0].num_rows == len(wavs)
    from seraltools.audio import load_audio
    from seraltools.corpora import sources

    again = sources(collect_inputs([str(tmp_path / "hf.parquet")], "auto")[0])
    np.testing.assert_array_equal(load_audio(again[5]).samples, load_audio(wavs[5]).samples)


def test_sources_are_decided_per_row_and_segment_reads_hf_rows(cli, synth_dir, tmp_path):
    """A Hugging Face file beside a Kaldi directory keeps the Kaldi spans; seral segment on
    Hugging Face rows writes a manifest extract reads (spans of embedded audio)."""
    from seraltools.audio import Embedded, Segment
    from seraltools.corpora import sources

    wavs = sorted(synth_dir.glob("*.wav"))
    write_hf_dataset(tmp_path / "hf.parquet", wavs[:2], [0, 1], ["anger", "sadness"])
    k = tmp_path / "kaldi"
    k.mkdir()
    (k / "wav.scp").write_text(f"rec {wavs[2]}\n")
    (k / "segments").write_text("u1 rec 0.1 0.5\n")
    src = sources(collect_inputs([str(tmp_path / "hf.parquet"), str(k)], "none")[0])
    assert [type(s) for s in src] == [Embedded, Embedded, Segment] and src[2].start == 0.1
    res = cli("segment", "-q", "--min-length", "0.2", tmp_path / "hf.parquet", tmp_path / "segs.parquet")
    assert res.exit_code == 0, res.stderr
    segs = pq.read_table(tmp_path / "segs.parquet")
    assert set(segs.column("path").to_pylist()) == {str((tmp_path / "hf.parquet").resolve())}
    res = cli("extract", "-q", tmp_path / "segs.parquet", tmp_path / "f.parquet")
    assert res.exit_code == 0, res.stderr
    assert pq.read_table(tmp_path / "f.parquet").num_rows == segs.num_rows


def test_hf_parquet_with_its_own_path_column(synth_dir, tmp_path):
    """Common Voice style: the dataset has a `path` column of its own (kept as audio_path)."""
    import json

    wavs = sorted(synth_dir.glob("*.wav"))[:2]
    audio = pa.array([{"bytes": w.read_bytes(), "path": w.name} for w in wavs],
                     pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    t = pa.table({"path": [w.name for w in wavs], "audio": audio, "sentence": ["a", "b"]})
    pq.write_table(t.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": {}}})}),
                   tmp_path / "cv.parquet")
    utts, _ = collect_inputs([str(tmp_path / "cv.parquet")], "none")
    assert utts.column("audio_path").to_pylist() == [w.name for w in wavs]
    assert utts.column("audio_row").to_pylist() == [0, 1]


def test_a_directory_with_audio_and_hf_parquet_reads_both(synth_dir, tmp_path):
    import shutil

    wavs = sorted(synth_dir.glob("*.wav"))
    d = tmp_path / "mixed"
    (d / "data").mkdir(parents=True)
    shutil.copy(wavs[0], d)
    write_hf_dataset(d / "data" / "train-00000-of-00001.parquet", wavs[1:4], [0, 1, 0], ["anger", "sadness"])
    pq.write_table(pa.table({"id": ["x"], "other": [1]}), d / "data" / "not-audio.parquet")
    utts, _ = collect_inputs([str(d)], "none")
    assert utts.num_rows == 4
    hf_only = tmp_path / "hfroot"
    (hf_only / "data").mkdir(parents=True)
    write_hf_dataset(hf_only / "data" / "train-00000-of-00001.parquet", wavs[1:3], [0, 1], ["anger", "sadness"])
    assert collect_inputs([str(hf_only)], "none")[0].num_rows == 2
