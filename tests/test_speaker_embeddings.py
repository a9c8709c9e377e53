"""Speaker embeddings: d-vectors (resemblyzer's GE2E weights) and ECAPA-TDNN
(a SpeechBrain directory)."""

from __future__ import annotations

import warnings

import numpy as np
import pyarrow.parquet as pq
import pytest

from seraltools.audio import load_audio
from seraltools.errors import BadInput
from seraltools.table import feature_matrix

from .conftest import EMODB


def _wavs(d, n=8):
    return sorted(d.rglob("*.wav"))[:n]


@pytest.fixture(scope="module")
def dvec():
    pytest.importorskip("resemblyzer", reason="d-vectors need resemblyzer's weights: pip install '.[dvector]'")
    from seraltools.features.dvector import DVectorFeatures

    return DVectorFeatures()


@pytest.fixture(scope="module")
def resemblyzer_encoder():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # webrtcvad's pkg_resources, scipy.ndimage.morphology
        import resemblyzer

        return resemblyzer, resemblyzer.VoiceEncoder("cpu", verbose=False)


def test_dvectors_agree_with_resemblyzer_embed_utterance(dvec, resemblyzer_encoder, synth_dir):
    resemblyzer, enc = resemblyzer_encoder
    files = _wavs(synth_dir) + (_wavs(EMODB, 6) if EMODB.is_dir() else [])
    for f in files:
        wav = load_audio(f).samples
        ours = dvec(wav)
        theirs = enc.embed_utterance(resemblyzer.preprocess_wav(wav))
        assert ours.shape == (256,) and ours.dtype == np.float32
        assert float(ours @ theirs) >= 0.99, f
    # without silence trimming: embed_utterance of the volume-normalised audio
    plain = type(dvec)(trim_silence=False)
    wav = load_audio(files[0]).samples
    theirs = enc.embed_utterance(resemblyzer.normalize_volume(wav, -30, increase_only=True))
    assert float(plain(wav) @ theirs) >= 0.99


def test_dvector_preprocessing_and_mel_match_resemblyzer(dvec, resemblyzer_encoder, synth_dir):
    resemblyzer, _ = resemblyzer_encoder
    from resemblyzer import audio

    wav = load_audio(_wavs(synth_dir)[0]).samples
    ours = dvec.preprocess(wav)
    np.testing.assert_allclose(ours, resemblyzer.preprocess_wav(wav), atol=1e-6)
    mel, ref = dvec.net.mel(ours), audio.wav_to_mel_spectrogram(ours)
    assert mel.shape == ref.shape
    np.testing.assert_allclose(mel, ref, atol=1e-5 * ref.max())


def test_dvector_partials_follow_resemblyzer(resemblyzer_encoder):
    _, enc = resemblyzer_encoder
    from seraltools.features.dvector import partial_slices

    for n in (1000, 16000, 25600, 30000, 48000, 123457):
        _, mel_slices = enc.compute_partial_slices(n, 1.3, 0.75)
        assert partial_slices(n) == [s.start for s in mel_slices]


def test_dvector_batch_equals_one_by_one(dvec, synth_dir):
    wavs = [load_audio(f).samples for f in _wavs(synth_dir)]
    batched = dvec.batch(wavs)
    single = np.stack([dvec(w) for w in wavs])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1, atol=1e-5)


def test_extract_dvector_cli(cli, dvec, synth_dir, tmp_path):
    out = tmp_path / "d.parquet"
    res = cli("extract", "--feat", "dvector", "--quiet", synth_dir / "manifest.csv", out)
    assert res.exit_code == 0, res.stderr
    t = pq.read_table(out)
    x = feature_matrix(t)
    assert x.shape == (8, 256)
    assert set(t.column_names) >= {"id", "speaker", "emotion", "features"}
    wav = load_audio(synth_dir / t.column("path")[0].as_py()).samples
    np.testing.assert_allclose(x[0], dvec(wav), atol=1e-5)


def test_torch_features_over_processes_equal_one_process(synth_dir, tmp_path):
    """--workers 2 spawns torch workers (one thread each); same vectors as one process."""
    from seraltools.corpora import collect_inputs
    from seraltools.tools.extract import extract

    utts, _ = collect_inputs([str(synth_dir / "manifest.csv")], "auto")
    one = extract(utts, "dvector", workers=1, chunk=2)
    two = extract(utts, "dvector", workers=2, chunk=2)
    assert one.table.column("id").to_pylist() == two.table.column("id").to_pylist()
    np.testing.assert_allclose(feature_matrix(one.table), feature_matrix(two.table), atol=1e-5)


def test_dvector_without_resemblyzer_says_how_to_install(monkeypatch):
    import importlib.util

    from seraltools.features import dvector

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BadInput, match=r"pip install --no-deps resemblyzer"):
        dvector.resemblyzer_weights()


# --- ECAPA-TDNN from a SpeechBrain directory --------------------------------------------

HYPERPARAMS = """\
n_mels: 24
pretrained_path: somewhere/on/the/hub
compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>
mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False
embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
    input_size: !ref <n_mels>
    channels: [32, 32, 32, 32, 96]
    kernel_sizes: [5, 3, 3, 3, 1]
    dilations: [1, 2, 3, 4, 1]
    attention_channels: 16
    se_channels: 16
    lin_neurons: 48
"""


@pytest.fixture(scope="module")
def ecapa_dir(tmp_path_factory):
    """A SpeechBrain ECAPA directory written from SpeechBrain's own class (random weights)."""
    pytest.importorskip("speechbrain", reason="--feat ecapa needs SpeechBrain: pip install '.[ecapa]'")
    import torch
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

    d = tmp_path_factory.mktemp("ecapa")
    (d / "hyperparams.yaml").write_text(HYPERPARAMS)
    torch.manual_seed(0)
    model = ECAPA_TDNN(24, channels=[32, 32, 32, 32, 96], attention_channels=16, se_channels=16, lin_neurons=48)
    torch.save(model.state_dict(), d / "embedding_model.ckpt")
    return d, model


def test_extract_ecapa_from_a_speechbrain_directory(cli, ecapa_dir, synth_dir, tmp_path):
    import torch
    from speechbrain.lobes.features import Fbank

    d, model = ecapa_dir
    out = tmp_path / "e.parquet"
    res = cli("extract", "--feat", "ecapa", "--model", d, "--quiet", synth_dir / "manifest.csv", out)
    assert res.exit_code == 0, res.stderr
    t = pq.read_table(out)
    x = feature_matrix(t)
    assert x.shape == (8, 48)
    # the same as SpeechBrain's modules applied by hand
    wav = torch.from_numpy(load_audio(synth_dir / t.column("path")[0].as_py()).samples)[None]
    model.eval()
    with torch.no_grad():
        f = Fbank(n_mels=24)(wav)
        f = f - f.mean(dim=1, keepdim=True)
        ref = model(f, torch.ones(1)).reshape(-1).numpy()
    np.testing.assert_allclose(x[0], ref, rtol=1e-4, atol=1e-5)


def test_ecapa_bad_directories_are_one_line_errors(cli, ecapa_dir, synth_dir, tmp_path):
    d, _ = ecapa_dir
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "hyperparams.yaml").write_text(HYPERPARAMS)
    res = cli("extract", "--feat", "ecapa", "--model", broken, synth_dir, tmp_path / "o.parquet")
    assert res.exit_code == 2 and "embedding_model.ckpt" in res.stderr
    (broken / "embedding_model.ckpt").write_bytes((d / "embedding_model.ckpt").read_bytes())
    (broken / "hyperparams.yaml").write_text(HYPERPARAMS.replace("[32, 32, 32, 32, 96]", "[16, 16, 16, 16, 48]"))
    res = cli("extract", "--feat", "ecapa", "--model", broken, synth_dir, tmp_path / "o.parquet")
    assert res.exit_code == 2 and "does not fit" in res.stderr
    res = cli("extract", "--feat", "ecapa", synth_dir, tmp_path / "o.parquet")
    assert res.exit_code == 2 and "--model DIR" in res.stderr
    assert not (tmp_path / "o.parquet").exists()


def test_dvector_long_recording_path_equals_the_short_one(dvec, monkeypatch):
    """Long recordings go through the mel spectrogram and the LSTM a block at a time."""
    from seraltools.features import dvector

    rng = np.random.default_rng(9)
    wav = (0.1 * rng.standard_normal(16000 * 12)).astype(np.float32)
    mel, whole = dvec.net.mel(wav), dvec(wav)
    monkeypatch.setattr(dvector, "LONG", 100 * dvector.HOP)
    monkeypatch.setattr(dvector, "PARTIAL_BATCH", 3)
    np.testing.assert_array_equal(dvec.net.mel(wav), mel)
    np.testing.assert_allclose(dvec(wav), whole, atol=1e-5)


def test_ecapa_on_a_35_ms_file_names_it_and_obeys_skip(cli, ecapa_dir, synth_dir, tmp_path):
    """A model that fails on one file (ECAPA on 30-39 ms passed the 30 ms check) is a
    one-line error naming the file, and --on-error skip leaves it out."""
    import soundfile as sf

    d, _ = ecapa_dir
    short = tmp_path / "short.wav"
    sf.write(short, (0.1 * np.random.default_rng(0).standard_normal(560)).astype(np.float32), 16000)
    inputs = [short, *sorted(synth_dir.glob("*.wav"))[:2]]
    res = cli("extract", "--feat", "ecapa", "--model", d, "--corpus", "none", *inputs, tmp_path / "o.parquet")
    assert res.exit_code == 2 and str(short) in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "shorter than --feat ecapa's 40 ms" in res.stderr
    res = cli("extract", "--feat", "ecapa", "--model", d, "--corpus", "none", "--on-error", "skip", *inputs,
              tmp_path / "o.parquet")
    assert res.exit_code == 0, res.stderr
    assert pq.read_table(tmp_path / "o.parquet").num_rows == 2 and f"skipped {short}" in res.stderr


REAL_LAYOUT_EXTRA = """
mean_var_norm_emb: !new:speechbrain.processing.features.InputNormalization
    norm_type: global
    std_norm: False
classifier: !new:speechbrain.lobes.models.ECAPA_TDNN.Classifier
    input_size: 48
    out_neurons: 7205
modules:
    compute_features: !ref <compute_features>
    embedding_model: !ref <embedding_model>
label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
    paths:
        embedding_model: !ref <pretrained_path>/embedding_model.ckpt
"""


def test_ecapa_directory_laid_out_like_spkrec_ecapa_voxceleb_loads(cli, ecapa_dir, synth_dir, tmp_path):
    """The published directory's other keys (pretrainer, classifier, ...) are read as data and ignored."""
    d, _ = ecapa_dir
    full = tmp_path / "full"
    full.mkdir()
    (full / "hyperparams.yaml").write_text(HYPERPARAMS + REAL_LAYOUT_EXTRA)
    (full / "embedding_model.ckpt").write_bytes((d / "embedding_model.ckpt").read_bytes())
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    # the same thread count for both (issue #27 W10): the automatic one follows the idle CPUs,
    # and torch's sums over another number of threads differ in the last bits (see the next test)
    assert cli("extract", "--feat", "ecapa", "--model", d, "-q", "--threads", 1, synth_dir, a).exit_code == 0
    res = cli("extract", "--feat", "ecapa", "--model", full, "-q", "--threads", 1, synth_dir, b)
    assert res.exit_code == 0, res.stderr
    np.testing.assert_array_equal(feature_matrix(pq.read_table(a)), feature_matrix(pq.read_table(b)))


def test_ecapa_vectors_agree_across_thread_counts_to_float_rounding(cli, ecapa_dir, synth_dir, tmp_path):
    """What README's reproducibility statement says: torch features are bitwise equal for one
    thread count, and within 1e-5 (float32 rounding of sums split otherwise) across counts."""
    d, _ = ecapa_dir
    runs = {}
    for threads in (1, 2, 1):
        out = tmp_path / f"t{threads}.parquet"
        assert cli("extract", "--feat", "ecapa", "--model", d, "-q", "--threads", threads, synth_dir, out).exit_code == 0
        x = feature_matrix(pq.read_table(out))
        if threads in runs:
            np.testing.assert_array_equal(x, runs[threads])  # the same thread count: bitwise
        runs[threads] = x
    np.testing.assert_allclose(runs[1], runs[2], rtol=0, atol=1e-5)


@pytest.mark.parametrize("hostile", [
    "compute_features: !apply:os.system ['touch {marker}']\n",
    "unused: !apply:os.system ['touch {marker}']\n" + HYPERPARAMS,
    HYPERPARAMS.replace("!new:speechbrain.lobes.features.Fbank", "!new:subprocess.Popen")
    .replace("    n_mels: !ref <n_mels>\n", "    args: ['touch', '{marker}']\n", 1),
    HYPERPARAMS.replace("    n_mels: !ref <n_mels>\n", "    n_mels: !apply:os.system ['touch {marker}']\n", 1),
    HYPERPARAMS.replace("n_mels: 24\n", "n_mels: !name:os.system\n", 1),
    "!include:/etc/passwd\n",
])
def test_hostile_hyperparams_run_nothing_and_are_refused(cli, ecapa_dir, synth_dir, tmp_path, hostile):
    d, _ = ecapa_dir
    marker = tmp_path / "pwned"
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "hyperparams.yaml").write_text(hostile.format(marker=marker) if "{marker}" in hostile else hostile)
    (bad / "embedding_model.ckpt").write_bytes((d / "embedding_model.ckpt").read_bytes())
    res = cli("extract", "--feat", "ecapa", "--model", bad, synth_dir, tmp_path / "o.parquet")
    assert res.exit_code == 2, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "hyperparams.yaml" in res.stderr
    assert not marker.exists()


@pytest.mark.parametrize("model", ["cpc", "encoder", "dvector"])
def test_an_empty_model_file_is_a_one_line_error(cli, synth_dir, tmp_path, model):
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    res = cli("extract", "--feat", model, "--model", empty, synth_dir, tmp_path / "o.parquet")
    assert res.exit_code == 2 and "Traceback" not in res.stderr and str(empty) in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_an_empty_ecapa_checkpoint_is_a_one_line_error(cli, ecapa_dir, synth_dir, tmp_path):
    d, _ = ecapa_dir
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "hyperparams.yaml").write_text((d / "hyperparams.yaml").read_text())
    (bad / "embedding_model.ckpt").write_bytes(b"")
    res = cli("extract", "--feat", "ecapa", "--model", bad, synth_dir, tmp_path / "o.parquet")
    assert res.exit_code == 2 and "embedding_model.ckpt" in res.stderr, res.stderr


def ecapa_with(yaml_text: str, good, tmp_path):
    """An ECAPA directory with ``yaml_text`` and the good directory's checkpoint."""
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "hyperparams.yaml").write_text(yaml_text)
    (bad / "embedding_model.ckpt").write_bytes((good / "embedding_model.ckpt").read_bytes())
    return bad


def test_ecapa_modules_that_do_not_fit_together_are_one_line(cli, ecapa_dir, synth_dir, tmp_path):
    bad = ecapa_with(HYPERPARAMS.replace("    n_mels: !ref <n_mels>\n", "    n_mels: 40\n", 1), ecapa_dir[0], tmp_path)
    res = cli("extract", "--feat", "ecapa", "--model", bad, synth_dir, tmp_path / "o.parquet")
    assert res.exit_code == 2 and "do not fit together" in res.stderr, res.stderr


def test_yaml_aliases_are_refused(cli, ecapa_dir, synth_dir, tmp_path):
    bomb = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    bad = ecapa_with(bomb + HYPERPARAMS, ecapa_dir[0], tmp_path)
    res = cli("extract", "--feat", "ecapa", "--model", bad, synth_dir, tmp_path / "o.parquet")
    assert res.exit_code == 2 and "aliases" in res.stderr, res.stderr


@pytest.mark.parametrize("trim", [True, False])
def test_dvector_of_a_stream_is_the_dvector_of_the_whole_file(dvec, monkeypatch, tmp_path, trim):
    """A long recording's d-vector from three passes over the file (level, VAD, mel frames
    of the windows kept) equals the one of the file read whole, bitwise."""
    import soundfile as sf

    from seraltools import audio
    from seraltools.features import dvector

    rng = np.random.default_rng(12)
    t = np.arange(16000 * 14) / 16000
    wav = (0.05 * np.sin(2 * np.pi * 150 * t) * (np.sin(2 * np.pi * 2 * t) > 0) + 0.002 * rng.standard_normal(len(t)))
    wav[16000 * 5 : 16000 * 8] = 0  # a long pause: VAD trims it
    sf.write(tmp_path / "rec.wav", wav.astype(np.float32), 16000, subtype="PCM_16")
    monkeypatch.setattr(dvector, "LONG", 300 * dvector.HOP)
    monkeypatch.setattr(dvector, "PARTIAL_BATCH", 4)
    monkeypatch.setattr(dvector, "VAD_CHUNK", 7)  # the VAD mask is cut across many blocks
    monkeypatch.setattr(audio, "READ_BLOCK", 7777)
    monkeypatch.setattr(dvec, "trim_silence", trim)
    whole = dvec(audio.load_audio(tmp_path / "rec.wav").samples)
    np.testing.assert_array_equal(dvec.stream(audio.AudioStream(tmp_path / "rec.wav")), whole)
