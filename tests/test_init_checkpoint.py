"""pretrain --init DIR and evaluate ser --encoder DIR: a pretrained speech SSL checkpoint
(the speaker paper's Table 3), on a tiny random wav2vec 2.0 the tests build."""

from __future__ import annotations

import numpy as np
import pytest

from seraltools.pretrain import PretrainConfig, pretrain
from tests.conftest import tiny_wav2vec2
from tests.test_pretrain import _clusters_from_emotions, _corpus


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    d = tmp_path_factory.mktemp("w2v") / "w2v"
    tiny_wav2vec2(d, layers=3)
    return d


@pytest.mark.parametrize("norm", ["layer", "group"])
def test_the_backbone_encoder_is_transformers_and_batches_equal_one_by_one(tmp_path, norm):
    import torch

    from seraltools.encoder import batch_waveforms, open_encoder

    model = tiny_wav2vec2(tmp_path / "m", norm=norm)
    enc = open_encoder(str(tmp_path / "m"), None).eval()
    rng = np.random.default_rng(0)
    waves = [rng.normal(scale=0.1, size=n).astype(np.float32) for n in (5000, 12000, 8000)]
    x, n = batch_waveforms(waves)
    with torch.no_grad():
        h, mask = enc(torch.from_numpy(x), torch.from_numpy(n))
        for i, w in enumerate(waves):
            one, m1 = enc(torch.from_numpy(w[None]), torch.tensor([len(w)]))
            frames = int(m1.sum())
            assert int(mask[i].sum()) == frames
            np.testing.assert_allclose(h[i, :frames].numpy(), one[0, :frames].numpy(), atol=1e-5)
        w = (waves[1] - waves[1].mean()) / np.sqrt(waves[1].var() + 1e-7)
        ref = model(torch.from_numpy(w[None])).last_hidden_state[0].numpy()
    np.testing.assert_allclose(h[1, :len(ref)].numpy(), ref, atol=1e-5)


@pytest.mark.parametrize("objective", ["contrastive", "mtl", "adversarial", "speaker"])
def test_each_objective_loss_falls_from_a_checkpoint(objective, checkpoint, synth_4x4, tmp_path):
    paths, speakers, emotions = _corpus(synth_4x4)
    clusters, centres = _clusters_from_emotions(speakers, emotions)
    # a random checkpoint's CNN features carry nothing, so here they train too (--train-cnn)
    cfg = PretrainConfig(objective=objective, steps=60, batch_size=8, lr=5e-4, segment_s=0.5, checkpoint_every=60,
                         init=str(checkpoint), init_layers=2, freeze_feature_encoder=False)
    history = pretrain(paths, speakers, clusters, centres, cfg, str(tmp_path / "e.safetensors"))
    key = "speaker_loss" if objective == "speaker" else "contrastive_loss"
    first = np.mean([getattr(h, key) for h in history[:15]])
    last = np.mean([getattr(h, key) for h in history[-15:]])
    assert last < 0.95 * first, (first, last)


def test_resume_frozen_features_kept_layers_and_the_encoder_file(checkpoint, synth_4x4, tmp_path):
    from safetensors.numpy import load_file

    from seraltools.models import load_model

    paths, speakers, emotions = _corpus(synth_4x4)
    clusters, centres = _clusters_from_emotions(speakers, emotions)

    def run(out, steps, resume=False):
        cfg = PretrainConfig(objective="mtl", steps=steps, batch_size=4, segment_s=1.0, checkpoint_every=3,
                             init=str(checkpoint), init_layers=2)
        pretrain(paths, speakers, clusters, centres, cfg, str(out), resume=resume)

    run(tmp_path / "full.safetensors", 6)
    run(tmp_path / "part.safetensors", 3)
    run(tmp_path / "part.safetensors", 6, resume=True)
    header, a = load_model(tmp_path / "full.safetensors")
    _, b = load_model(tmp_path / "part.safetensors")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)  # resumed = uninterrupted
    assert header["config"]["backbone"] == "transformers" and header["config"]["layers"] == 2
    assert header["config"]["pretraining"]["init"] == str(checkpoint)
    original = load_file(str(checkpoint / "model.safetensors"))
    conv = [k for k in original if k.startswith("feature_extractor.")]
    assert conv and all(np.array_equal(original[k], a[f"encoder.model.{k}"]) for k in conv)  # frozen
    moved = [k for k in original if k.startswith("encoder.layers.0.")]
    assert any(not np.array_equal(original[k], a[f"encoder.model.{k}"]) for k in moved)  # trained
    assert not any(k.startswith("encoder.model.encoder.layers.2.") for k in a)  # 2 of 3 layers kept


def test_cli_pretrain_init_extract_and_evaluate_ser(cli, checkpoint, synth_3spk, tmp_path):
    from seraltools.features import make_extractor
    from seraltools.table import feature_matrix, read_table

    m = synth_3spk / "manifest.csv"
    assert cli("extract", "-q", "--feat", "logmel", m, tmp_path / "f.parquet").exit_code == 0
    assert cli("cluster-speakers", "-q", tmp_path / "f.parquet", tmp_path / "cl.parquet").exit_code == 0
    res = cli("pretrain", m, "--clusters", tmp_path / "cl.parquet", "--init", checkpoint, "--init-layers", 2,
              "--steps", 2, "--segment", 1, "--batch-size", 4, "-q", tmp_path / "e.safetensors")
    assert res.exit_code == 0, res.stderr
    res = cli("extract", "-q", "--feat", "encoder", "--model", tmp_path / "e.safetensors", "-j", 1, m,
              tmp_path / "enc.parquet")
    assert res.exit_code == 0, res.stderr
    x = feature_matrix(read_table(tmp_path / "enc.parquet"))
    assert x.shape == (18, 32)
    ex = make_extractor("encoder", model=str(tmp_path / "e.safetensors"), device="cpu")
    from seraltools.audio import load_audio

    waves = [load_audio(p).samples for p in read_table(tmp_path / "enc.parquet").column("path").to_pylist()[:3]]
    np.testing.assert_allclose(ex.batch(waves), np.stack([ex(w) for w in waves]), atol=1e-5)
    res = cli("evaluate", "ser", m, "--encoder", f"w2v={checkpoint}", "--encoder", f"mtl={tmp_path / 'e.safetensors'}",
              "--folds", 3, "--seeds", 1, "--epochs", 1, "--segment", 1, "--emotions", "anger,sadness",
              tmp_path / "ser.parquet")
    assert res.exit_code == 0, res.stderr
    assert sorted(set(read_table(tmp_path / "ser.parquet").column("condition").to_pylist())) == ["mtl", "w2v"]
    for args, message in ((["--init", "facebook/wav2vec2-base"], "download it first"),
                          (["--init", checkpoint, "--init-layers", 9], "give 1 to 3"),
                          (["--init-layers", 2], "goes with --init")):
        res = cli("pretrain", m, tmp_path / "x.safetensors", "--clusters", tmp_path / "cl.parquet", *args,
                  "--steps", 1)
        assert res.exit_code == 2 and message in res.stderr, (args, res.stderr)
    res = cli("evaluate", "ser", m, "--encoder", "org/model", tmp_path / "x.parquet")
    assert res.exit_code == 2 and "download it first" in res.stderr


def test_hubert_half_precision_and_very_short_utterances(tmp_path, synth_4x4):
    """HuBERT has no public freeze method; a float16 checkpoint runs in float32; an
    utterance shorter than the CNN's receptive field does not stop a group-norm model."""
    import json

    import torch
    transformers = pytest.importorskip("transformers")

    from seraltools.encoder import batch_waveforms, open_encoder

    torch.manual_seed(0)
    cfg = transformers.HubertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                    conv_dim=(32, 32, 32), conv_stride=(5, 4, 2), conv_kernel=(10, 8, 4),
                                    num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
                                    feat_extract_norm="group")
    transformers.HubertModel(cfg).half().save_pretrained(tmp_path / "hubert", safe_serialization=True)
    conf = json.loads((tmp_path / "hubert" / "config.json").read_text())
    conf["torch_dtype"] = conf["dtype"] = "float16"
    (tmp_path / "hubert" / "config.json").write_text(json.dumps(conf))
    enc = open_encoder(str(tmp_path / "hubert"), None, freeze_feature_encoder=True)
    assert not any(p.requires_grad for p in enc.model.feature_extractor.parameters())
    assert all(p.dtype == torch.float32 for p in enc.parameters())
    x, n = batch_waveforms([np.zeros(50, np.float32), np.random.default_rng(0).normal(size=3000).astype(np.float32)])
    h, mask = enc.eval()(torch.from_numpy(x), torch.from_numpy(n))
    assert int(mask[0].sum()) == 0 and int(mask[1].sum()) > 0 and torch.isfinite(h).all()
    paths, speakers, emotions = _corpus(synth_4x4)
    clusters, centres = _clusters_from_emotions(speakers, emotions)
    cfg = PretrainConfig(objective="mtl", steps=2, batch_size=4, segment_s=0.5, init=str(tmp_path / "hubert"))
    assert len(pretrain(paths, speakers, clusters, centres, cfg, str(tmp_path / "h.safetensors"))) == 2
