"""--feat egemaps / compare (openSMILE) and --feat ssl (a local transformers checkpoint)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from seraltools.errors import BadInput
from seraltools.table import feature_matrix, metadata, read_table


def test_egemaps_is_opensmiles_88_functionals(cli, synth_dir, tmp_path):
    opensmile = pytest.importorskip("opensmile", reason="openSMILE is an extra: pip install '.[opensmile]'")
    res = cli("extract", "-q", "--feat", "egemaps", "-j", 1, synth_dir / "manifest.csv", tmp_path / "e.parquet")
    assert res.exit_code == 0, res.stderr
    t = read_table(tmp_path / "e.parquet")
    x = feature_matrix(t)
    assert x.shape == (8, 88) and np.isfinite(x).all()
    from seraltools.audio import load_audio

    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.Functionals)
    first = load_audio(t.column("path")[0].as_py()).samples
    np.testing.assert_allclose(x[0], smile.process_signal(first, 16000).to_numpy()[0], rtol=1e-5, atol=1e-5)
    names = json.loads(json.dumps(metadata(t)))["history"][-1]["parameters"]["config"]["feature_names"]
    assert len(names) == 88 and names[0].startswith("F0semitone")


def test_egemaps_on_too_short_audio_names_the_file(cli, tmp_path):
    pytest.importorskip("opensmile")
    import soundfile as sf

    sf.write(tmp_path / "short.wav", np.random.default_rng(0).normal(scale=0.1, size=800).astype(np.float32), 16000)
    res = cli("extract", "--feat", "egemaps", tmp_path / "short.wav", tmp_path / "o.parquet")
    assert res.exit_code == 2 and "short.wav" in res.stderr and "not finite" in res.stderr


def _tiny_checkpoint(directory, norm="layer", normalize=True):
    from tests.conftest import tiny_wav2vec2

    return tiny_wav2vec2(directory, norm, normalize)


@pytest.mark.parametrize("norm", ["layer", "group"])
def test_ssl_features_equal_transformers_and_batches_equal_one_by_one(tmp_path, norm):
    import torch

    from seraltools.features.ssl import SSLFeatures

    model = _tiny_checkpoint(tmp_path / "w2v", norm=norm)
    rng = np.random.default_rng(1)
    waves = [rng.normal(scale=0.1, size=n).astype(np.float32) for n in (4000, 9000, 16000, 7321)]
    ex = SSLFeatures(model=str(tmp_path / "w2v"), device="cpu")
    assert ex.dim == 32 and ex.layer == 2 and ex.masked == (norm == "layer")
    batched = ex.batch(waves)
    single = np.stack([ex(w) for w in waves])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    w = waves[1]
    w = (w - w.mean()) / np.sqrt(w.var() + 1e-7)
    with torch.no_grad():
        ref = model(torch.from_numpy(w)[None], output_hidden_states=True).hidden_states[2].mean(1)[0].numpy()
    np.testing.assert_allclose(single[1], ref, atol=1e-5)  # the same as transformers itself
    every = SSLFeatures(model=str(tmp_path / "w2v"), device="cpu", layer="mean")(waves[0])
    with torch.no_grad():
        x0 = (waves[0] - waves[0].mean()) / np.sqrt(waves[0].var() + 1e-7)
        hs = model(torch.from_numpy(x0)[None], output_hidden_states=True).hidden_states
    np.testing.assert_allclose(every, torch.stack(hs).mean(0).mean(1)[0].numpy(), atol=1e-5)


def test_extract_ssl_cli_and_bad_checkpoints(cli, synth_dir, tmp_path):
    _tiny_checkpoint(tmp_path / "w2v")
    res = cli("extract", "-q", "--feat", "ssl", "--model", tmp_path / "w2v", "--layer", 1, "-j", 1,
              synth_dir / "manifest.csv", tmp_path / "s.parquet")
    assert res.exit_code == 0, res.stderr
    assert feature_matrix(read_table(tmp_path / "s.parquet")).shape == (8, 32)
    cases = [
        (["--model", "facebook/wav2vec2-base"], "download it first"),
        ([], "needs --model DIR"),
        (["--model", tmp_path / "w2v", "--layer", 7], "give 0 to 2"),
        (["--model", tmp_path / "w2v", "--layer", "top"], "give 0 to 2"),
    ]
    bin_dir = tmp_path / "pickled"
    bin_dir.mkdir()
    (bin_dir / "config.json").write_text((tmp_path / "w2v" / "config.json").read_text())
    (bin_dir / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    cases.append((["--model", bin_dir], "is a pickle"))
    other = tmp_path / "bert"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "bert"}))
    cases.append((["--model", other], "not a speech SSL model"))
    for args, message in cases:
        res = cli("extract", "--feat", "ssl", *args, synth_dir / "manifest.csv", tmp_path / "x.parquet")
        assert res.exit_code == 2 and message in res.stderr, (args, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1


def test_ssl_layer_option_belongs_to_ssl(cli, synth_dir, tmp_path):
    res = cli("extract", "--feat", "logmel", "--layer", 3, synth_dir / "manifest.csv", tmp_path / "x.parquet")
    assert res.exit_code == 2 and "takes no --layer" in res.stderr
    with pytest.raises(BadInput):
        from seraltools.features.ssl import check_checkpoint

        check_checkpoint(str(tmp_path / "nothing"))


def test_checkpoints_load_offline_and_only_from_a_directory(tmp_path):
    import os

    from seraltools.features.ssl import SSLFeatures
    from seraltools.ssl_backbone import load_pretrained

    _tiny_checkpoint(tmp_path / "w2v")
    SSLFeatures(model=str(tmp_path / "w2v"), device="cpu")
    assert os.environ["HF_HUB_OFFLINE"] == "1"  # set before transformers loads anything
    with pytest.raises(BadInput, match="downloads nothing"):
        load_pretrained(tmp_path / "facebook-wav2vec2-base")  # a name, not a directory
