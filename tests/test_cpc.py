"""Contrastive predictive coding: learning, model files, resume, extraction."""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from seraltools.cpc import CPCConfig, build, info_nce, load, log_path, read_frames, train  # noqa: E402
from seraltools.frontend import DEFAULT, LogMelConfig  # noqa: E402
from seraltools.models import load_model  # noqa: E402
from seraltools.table import feature_matrix, read_table  # noqa: E402

SMALL = dict(segment_s=1.0, batch_size=4, lr=1e-3, patience=50, max_epochs=6, seed=1)


@pytest.fixture(scope="module")
def frames(synth_4x4):
    return read_frames(sorted(str(p) for p in synth_4x4.glob("*.wav")))


def test_loss_falls_and_positive_is_found_above_chance(frames, tmp_path):
    history = train(frames, CPCConfig(**SMALL), str(tmp_path / "cpc.safetensors"))
    assert len(history) == 6
    assert history[-1].train_loss < history[0].train_loss * 0.9
    assert history[-1].val_loss < history[0].val_loss
    chance = 1 / SMALL["batch_size"]
    assert history[-1].val_accuracy > 2 * chance
    log = (tmp_path / "cpc.log.csv").read_text().splitlines()
    assert log[0].startswith("epoch,train_loss") and len(log) == 7
    assert log_path(str(tmp_path / "cpc.safetensors")) == str(tmp_path / "cpc.log.csv")


def test_model_file_round_trips(frames, tmp_path):
    out = str(tmp_path / "cpc.safetensors")
    train(frames, CPCConfig(**{**SMALL, "max_epochs": 2}), out)
    header, _ = load_model(out, kind="cpc")
    assert header["config"]["hidden"] == 256 and header["config"]["steps"] == 12
    a, _, frontend = load(out)
    b, _, _ = load(out)
    assert frontend == DEFAULT  # the front-end it was trained on travels with the model
    x = torch.from_numpy(np.stack([frames[0][:80], frames[1][:80]]))
    with torch.no_grad():
        za, ca = a(x)
        zb, cb = b(x)
    assert torch.equal(za, zb) and torch.equal(ca, cb)
    assert za.shape == (2, 80, 256) and ca.shape == (2, 80, 256)


def _interrupted(frames, cfg, out, after: int) -> None:
    """A run stopped by Ctrl-C after epoch ``after`` (its checkpoint stays)."""
    def stop(epoch, _):
        if epoch == after:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(frames, cfg, out, progress=stop)


def test_resume_equals_uninterrupted(frames, tmp_path):
    whole, part = str(tmp_path / "whole.safetensors"), str(tmp_path / "part.safetensors")
    cfg = {**SMALL, "max_epochs": 4}
    train(frames, CPCConfig(**cfg), whole)
    assert not os.path.exists(whole + ".ckpt")  # a finished run leaves no checkpoint behind
    _interrupted(frames, CPCConfig(**cfg), part, after=2)
    history = train(frames, CPCConfig(**cfg), part, resume=True)
    assert [h.epoch for h in history] == [1, 2, 3, 4]
    assert not os.path.exists(part + ".ckpt")
    _, t1 = load_model(whole)
    _, t2 = load_model(part)
    assert t1.keys() == t2.keys()
    for k in t1:
        np.testing.assert_array_equal(t1[k], t2[k], err_msg=k)


def test_resume_refuses_other_data_and_damaged_checkpoints(frames, tmp_path):
    from seraltools.checkpoint import checkpoint_path
    from seraltools.errors import BadInput

    out = str(tmp_path / "m.safetensors")
    _interrupted(frames, CPCConfig(**{**SMALL, "max_epochs": 2}), out, after=1)
    other = [f[::-1].copy() for f in frames]  # other audio, same shapes
    with pytest.raises(BadInput, match="other training data"):
        train(other, CPCConfig(**{**SMALL, "max_epochs": 2}), out, resume=True)
    ckpt = checkpoint_path(out)
    data = open(ckpt, "rb").read()
    open(ckpt, "wb").write(data[: len(data) // 2])  # truncated
    with pytest.raises(BadInput, match="damaged checkpoint"):
        train(frames, CPCConfig(**{**SMALL, "max_epochs": 2}), out, resume=True)


def test_a_model_keeps_the_frontend_it_was_trained_with():
    """A model from before the front-end skipped digital silence (no skip_silence in its
    config, floor 1e-10) is applied with that front-end, not today's default."""
    from seraltools.cpc import frontend_of

    old = {k: v for k, v in DEFAULT.to_dict().items() if k != "skip_silence"} | {"log_floor": 1e-10}
    assert frontend_of({"frontend": old}) == LogMelConfig(log_floor=1e-10, skip_silence=False)
    assert frontend_of({"frontend": DEFAULT.to_dict()}) == DEFAULT


def test_padding_is_masked_out_of_the_loss():
    cfg = CPCConfig(segment_s=0.5, batch_size=3)
    model = build(cfg).eval()
    x = torch.randn(3, 50, 40)
    mask = torch.ones(3, 50, dtype=torch.bool)
    mask[2, 30:] = False
    with torch.no_grad():
        z, c = model(x)
        loss1, _ = info_nce(model, z, c, mask)
        x2 = x.clone()
        x2[2, 30:] = 123.0  # whatever the padding holds
        z2, c2 = model(x2)
        loss2, _ = info_nce(model, z2, c2, mask)
    assert torch.isfinite(loss1) and abs(loss1.item() - loss2.item()) < 1e-5


def test_cli_train_and_extract_batched_equals_one_by_one(cli, synth_4x4, tmp_path):
    model = tmp_path / "cpc.safetensors"
    out = cli("train-cpc", synth_4x4, model, "--epochs", 2, "--segment", 1.0, "--batch-size", 4,
              "--device", "cpu")
    assert out.exit_code == 0, out.stderr
    assert "2 epochs on cpu" in out.stderr
    assert cli("extract", "--feat", "cpc", "--model", model, synth_4x4, tmp_path / "c.parquet", "-q").exit_code == 0
    table = read_table(tmp_path / "c.parquet")
    batched = feature_matrix(table)
    assert batched.shape == (32, 256)

    from seraltools.audio import load_audio
    from seraltools.features.cpc import CPCFeatures

    ex = CPCFeatures(str(model))
    for path, vec in list(zip(table.column("path").to_pylist(), batched))[:5]:
        np.testing.assert_allclose(ex(load_audio(path).samples), vec, atol=1e-5)
    ctx = cli("extract", "--feat", "cpc", "--context", "--model", model, synth_4x4, tmp_path / "x.parquet", "-q")
    assert ctx.exit_code == 0
    assert not np.allclose(feature_matrix(read_table(tmp_path / "x.parquet")), batched)


def test_cpc_needs_a_model(cli, synth_4x4, tmp_path):
    out = cli("extract", "--feat", "cpc", synth_4x4, tmp_path / "c.parquet")
    assert out.exit_code == 2 and "--model" in out.stderr
    out = cli("extract", "--feat", "cpc", "--model", tmp_path / "none.safetensors", synth_4x4, tmp_path / "c.parquet")
    assert out.exit_code == 2 and "no such model file" in out.stderr
