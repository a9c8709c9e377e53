"""Dimensionality reduction on data with known structure; model files; pipes."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from seraltools.reduce import PCA, TSNE, AutoEncoder, trustworthiness
from seraltools.table import feature_matrix, metadata, read_table, set_features, write_table
from tests.conftest import ROOT
from tests.test_mal import blobs


def manifold(n=600, seed=0):
    """A 1-D closed curve embedded nonlinearly in 8 dims, with a little noise."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    x = np.stack([np.cos(t), np.sin(t), np.cos(2 * t), np.sin(2 * t), np.cos(3 * t), np.sin(3 * t),
                  np.cos(t) * np.sin(2 * t), np.sin(t) ** 3], axis=1)
    return (x + 0.02 * rng.standard_normal(x.shape)).astype(np.float32)


@pytest.mark.parametrize("standardize", [False, True])
def test_pca_agrees_with_numpy_svd_up_to_sign(standardize):
    x, _ = blobs(dim=10, spread=2.0)
    x[:, 0] *= 50  # scales differ: standardisation matters
    y = PCA(4, standardize).fit(x).transform(x)
    z = x.astype(np.float64)
    if standardize:
        z = (z - z.mean(0)) / z.std(0)
    z -= z.mean(0)
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    ref = z @ vt[:4].T
    for i in range(4):
        sign = np.sign(ref[:, i] @ y[:, i])
        np.testing.assert_allclose(y[:, i], sign * ref[:, i], atol=1e-3 * np.abs(ref[:, i]).max())


def test_autoencoder_beats_pca_on_a_nonlinear_manifold():
    x = manifold()
    ae = AutoEncoder(dim=2, hidden=64, dropout=0.0, lr=3e-3, batch_size=128, patience=100, max_epochs=1500,
                     standardize=False, seed=0, device="cpu").fit(x)
    pca = PCA(2, standardize=False).fit(x)
    pca_rec = pca.transform(x) @ pca.components_ + pca.offset_
    ae_mse = float(np.mean((ae.reconstruct(x) - x) ** 2))
    pca_mse = float(np.mean((pca_rec - x) ** 2))
    assert ae_mse < 0.6 * pca_mse, (ae_mse, pca_mse)
    assert ae.transform(x).shape == (600, 2)
    assert ae.best_epoch_ <= len(ae.history_)


def test_autoencoder_is_deterministic():
    x = manifold(200)
    kw = dict(dim=2, hidden=16, dropout=0.1, lr=1e-3, patience=5, max_epochs=30, seed=3, device="cpu")
    np.testing.assert_array_equal(AutoEncoder(**kw).fit(x).transform(x), AutoEncoder(**kw).fit(x).transform(x))


def test_tsne_is_trustworthy_on_separated_clusters_and_places_new_points():
    x, y = blobs(n_classes=5, per_class=80, dim=12, spread=0.5, seed=2)
    train, new = np.arange(len(x)) % 5 != 0, np.arange(len(x)) % 5 == 0
    tsne = TSNE(seed=0)
    emb = tsne.fit_transform(x[train])
    assert trustworthiness(x[train], emb, k=5) >= 0.9
    placed = tsne.transform(x[new])
    centres = np.stack([emb[y[train] == c].mean(0) for c in range(5)])
    nearest = np.argmin(((placed[:, None] - centres[None]) ** 2).sum(-1), axis=1)
    assert np.mean(nearest == y[new]) >= 0.9
    np.testing.assert_array_equal(emb, TSNE(seed=0).fit_transform(x[train]))


def test_trustworthiness_equals_scikit_learn():
    from sklearn.manifold import trustworthiness as sk

    x, _ = blobs(n_classes=4, per_class=50, dim=6, spread=2.0)
    e = x[:, :2] + np.random.default_rng(0).normal(size=(len(x), 2))
    assert trustworthiness(x, e, k=5, chunk=37) == pytest.approx(sk(x, e, n_neighbors=5), abs=1e-12)


def _table(tmp_path, x, name="f.parquet"):
    t = pa.table({"id": [f"u{i}" for i in range(len(x))], "speaker": ["s"] * len(x)})
    write_table(set_features(t, x), tmp_path / name)
    return tmp_path / name


@pytest.mark.parametrize("method, extra", [("pca", []), ("ae", ["--hidden", 16, "--epochs", 20, "--patience", 5,
                                                                  "--device", "cpu"])])
def test_saved_model_applies_to_other_tables(cli, tmp_path, method, extra):
    x, _ = blobs(dim=10)
    path = _table(tmp_path, x)
    out = cli("reduce", "-m", method, "--dim", 3, *extra, "--save-model", tmp_path / "m.safetensors", path,
              tmp_path / "r.parquet")
    assert out.exit_code == 0, out.stderr
    r = read_table(tmp_path / "r.parquet")
    assert r.column_names == ["id", "speaker", "features"]
    assert metadata(r)["feature"] == f"features-{method}3" and metadata(r)["dim"] == 3
    other = _table(tmp_path, x[:50], "other.parquet")
    assert cli("reduce", "--model", tmp_path / "m.safetensors", other, tmp_path / "o.parquet").exit_code == 0
    np.testing.assert_allclose(feature_matrix(read_table(tmp_path / "o.parquet")), feature_matrix(r)[:50], atol=1e-6)
    wrong = _table(tmp_path, x[:, :5].copy(), "wrong.parquet")
    bad = cli("reduce", "--model", tmp_path / "m.safetensors", wrong, tmp_path / "w.parquet")
    assert bad.exit_code == 2 and "fitted on 10-dim features" in bad.stderr


def test_reduce_errors(cli, tmp_path):
    x, _ = blobs(dim=4)
    path = _table(tmp_path, x)
    out = cli("reduce", "-m", "pca", "--dim", 9, path, tmp_path / "o.parquet")
    assert out.exit_code == 2 and "--dim 9" in out.stderr
    (tmp_path / "junk.safetensors").write_bytes(b"not a model")
    out = cli("reduce", "--model", tmp_path / "junk.safetensors", path, tmp_path / "o.parquet")
    assert out.exit_code == 2 and "not a safetensors model file" in out.stderr
    out = cli("reduce", "-m", "pca", "--resume", path, tmp_path / "o.parquet")
    assert out.exit_code == 2 and "-m ae" in out.stderr


def test_chain_through_pipes(tmp_path):
    x, _ = blobs(n_classes=4, per_class=40, dim=10)
    path = _table(tmp_path, x)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen([sys.executable, "-m", "seraltools", "reduce", "-m", "pca", "--dim", "5", str(path), "-",
                              "-q"], stdout=subprocess.PIPE, env=env)
    second = subprocess.run([sys.executable, "-m", "seraltools", "reduce", "-m", "tsne", "-", str(tmp_path / "o.parquet"),
                             "-q", "--perplexity", "10"], stdin=first.stdout, capture_output=True, env=env)
    first.stdout.close()
    assert first.wait() == 0 and second.returncode == 0, second.stderr
    out = read_table(tmp_path / "o.parquet")
    assert feature_matrix(out).shape == (160, 2)
    assert [h["tool"] for h in metadata(out)["history"]] == ["reduce", "reduce"]
    assert metadata(out)["feature"] == "features-pca5-tsne2"


def test_autoencoder_resume_equals_an_uninterrupted_run(tmp_path):
    """The AE's training stops (Ctrl-C) after a checkpoint and --resume continues it:
    the same model, bit for bit, as a run that was never stopped."""
    x, _ = blobs(n_classes=3, per_class=40, dim=10, seed=2)
    cfg = dict(dim=3, hidden=16, batch_size=32, max_epochs=40, patience=1000, seed=5)
    whole = AutoEncoder(**cfg).fit(x)
    ckpt = tmp_path / "ae.ckpt"

    def stop(epoch, val):
        if epoch == 23:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        AutoEncoder(**cfg).fit(x, progress=stop, checkpoint=str(ckpt), every=10)
    assert ckpt.is_file()  # written after epoch 20
    resumed = AutoEncoder(**cfg).fit(x, checkpoint=str(ckpt), resume=True, every=10)
    assert not ckpt.exists()  # removed when the training ends
    for (k, a), b in zip(whole.tensors().items(), resumed.tensors().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    assert whole.history_ == resumed.history_ and whole.best_epoch_ == resumed.best_epoch_
    with pytest.raises(KeyboardInterrupt):
        AutoEncoder(**cfg).fit(x, progress=stop, checkpoint=str(ckpt), every=10)
    from seraltools.errors import BadInput

    with pytest.raises(BadInput, match="other training data"):  # a checkpoint of other data is refused
        AutoEncoder(**cfg).fit(x[::-1].copy(), checkpoint=str(ckpt), resume=True, every=10)


def test_a_training_that_never_gives_a_finite_validation_value_is_an_error():
    import torch

    from seraltools.errors import SeralError
    from seraltools.training import TrainingRun

    net = torch.nn.Linear(2, 1)
    run = TrainingRun(net, torch.optim.SGD(net.parameters(), lr=0.1), better="lower")
    for epoch in range(3):
        run.end_round([epoch], float("nan"))
    with pytest.raises(SeralError, match="NaN"):
        run.restore_best()
