"""The SER encoder, soft sampling, the pretraining objectives and SER fine-tuning."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from seraltools.encoder import EncoderConfig
from seraltools.errors import BadInput
from seraltools.pretrain import PretrainConfig, SoftSampler, nt_xent, pretrain

TINY = EncoderConfig(conv_channels=16, width=32, layers=1, heads=2)
TINY_ARGS = ["--conv-channels", 16, "--width", 32, "--layers", 1, "--heads", 2]


def _corpus(d):
    import pyarrow.csv as pcsv

    t = pcsv.read_csv(d / "manifest.csv")
    paths = [str(d / p) for p in t.column("path").to_pylist()]
    return paths, t.column("speaker").to_pylist(), t.column("emotion").to_pylist()


# ----------------------------------------------------------------------------- encoder


def test_encoder_batch_equals_one_by_one_and_frames_follow_the_strides():
    import torch

    from seraltools.encoder import batch_waveforms, build_encoder, mean_pool, num_frames

    torch.manual_seed(0)
    enc = build_encoder(TINY).eval()
    rng = np.random.default_rng(0)
    wavs = [rng.standard_normal(n).astype(np.float32) for n in (16000, 41000, 3000)]
    x, n = batch_waveforms(wavs)
    with torch.no_grad():
        h, mask = enc(torch.from_numpy(x), torch.from_numpy(n))
        batched = mean_pool(h, mask)
        single = torch.cat([mean_pool(*enc(torch.from_numpy(w)[None], torch.tensor([len(w)]))) for w in wavs])
    assert mask.sum(1).tolist() == num_frames(n).tolist() == [49, 127, 9]  # 20 ms frames
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-4)


def test_gradient_reversal_flips_the_gradient_sign():
    import torch

    from seraltools.encoder import gradient_reversal

    x = torch.randn(4, 3, requires_grad=True)
    w = torch.randn(4, 3)
    y = gradient_reversal(x, 0.5)
    torch.testing.assert_close(y, x)  # identity forward
    (y * w).sum().backward()
    torch.testing.assert_close(x.grad, -0.5 * w)


# ----------------------------------------------------------------------------- soft sampling


def test_soft_sampler_positives_same_cluster_negatives_farthest_clusters_same_speaker():
    # speaker a: 6 clusters with centres on a circle; speaker b: 2 clusters
    angles = np.deg2rad([0, 30, 60, 120, 180, 270])
    centres = {"a": np.stack([np.cos(angles), np.sin(angles)], 1), "b": np.eye(2)}
    speakers = ["a"] * 18 + ["b"] * 4
    clusters = np.array([c for c in range(6) for _ in range(3)] + [0, 0, 1, 1])
    s = SoftSampler(speakers, clusters, centres)
    rng = np.random.default_rng(0)
    anchors = np.arange(22)
    for _ in range(20):
        pos, neg = s.sample(anchors, rng)
        for a, p, n in zip(anchors, pos, neg):
            spk, c = speakers[a], clusters[a]
            assert speakers[p] == spk and clusters[p] == c and p != a
            assert all(speakers[r] == spk for r in n)
            nc = [clusters[r] for r in n]
            assert len(set(nc)) == len(nc) and c not in nc  # one per cluster, never the anchor's
            if spk == "a":
                assert len(n) == 3  # N/2 of 6
                d = 1 - centres["a"] @ centres["a"][c]
                farthest = set(np.argsort(-d)[:3])
                assert set(nc) == farthest
            else:
                assert nc == [1 - c]
    # a speaker with one cluster gives no anchors
    s1 = SoftSampler(["x", "x", "y", "y"], np.array([0, 0, 0, 1]), {"x": np.eye(2)[:1], "y": np.eye(2)})
    assert s1.anchors.tolist() == [2, 3]


def test_nt_xent_matches_the_formula():
    import torch

    a = torch.tensor([[1.0, 0.0]])
    p = torch.tensor([[1.0, 1.0]])
    n = torch.tensor([[[0.0, 1.0], [-1.0, 0.0], [5.0, 5.0]]])
    mask = torch.tensor([[True, True, False]])
    loss, acc = nt_xent(a, p, n, mask, 0.5)
    sp, sn = np.cos(np.pi / 4) / 0.5, np.array([0.0, -1.0]) / 0.5
    expected = -np.log(np.exp(sp) / (np.exp(sp) + np.exp(sn).sum()))
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert acc == 1.0


# ----------------------------------------------------------------------------- pretraining


def _clusters_from_emotions(speakers, emotions):
    names = sorted(set(emotions))
    clusters = np.array([names.index(e) for e in emotions])
    return clusters, {s: np.eye(len(names)) for s in set(speakers)}


@pytest.mark.parametrize("objective", ["contrastive", "mtl", "adversarial", "speaker"])
def test_each_objective_loss_falls_on_synthetic_data(objective, synth_4x4, tmp_path):
    paths, speakers, emotions = _corpus(synth_4x4)
    clusters, centres = _clusters_from_emotions(speakers, emotions)
    cfg = PretrainConfig(objective=objective, steps=100, batch_size=8, lr=1e-3, segment_s=1.0, encoder=TINY,
                         checkpoint_every=100)
    history = pretrain(paths, speakers, clusters, centres, cfg, str(tmp_path / "e.safetensors"))
    assert len(history) == 100
    key = "speaker_loss" if objective == "speaker" else "contrastive_loss"
    first = np.mean([getattr(h, key) for h in history[:20]])
    last = np.mean([getattr(h, key) for h in history[-20:]])
    assert last < 0.95 * first, (first, last)
    assert (tmp_path / "e.safetensors").is_file() and (tmp_path / "e.log.csv").is_file()


def test_resumed_pretraining_reaches_the_same_encoder(synth_4x4, tmp_path):
    from seraltools.models import load_model

    paths, speakers, emotions = _corpus(synth_4x4)
    clusters, centres = _clusters_from_emotions(speakers, emotions)

    def run(out, steps, resume=False):
        cfg = PretrainConfig(objective="mtl", steps=steps, batch_size=4, segment_s=1.0, encoder=TINY, checkpoint_every=3)
        pretrain(paths, speakers, clusters, centres, cfg, str(out), resume=resume)

    run(tmp_path / "full.safetensors", 6)
    run(tmp_path / "part.safetensors", 3)
    run(tmp_path / "part.safetensors", 6, resume=True)
    _, a = load_model(tmp_path / "full.safetensors")
    _, b = load_model(tmp_path / "part.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    from seraltools.errors import BadInput

    cfg = PretrainConfig(objective="mtl", steps=9, batch_size=4, segment_s=1.0, encoder=TINY, checkpoint_every=3)
    with pytest.raises(BadInput, match="other training data"):  # the same files, other clusters
        pretrain(paths, speakers, clusters[::-1].copy(), centres, cfg, str(tmp_path / "part.safetensors"), resume=True)


def test_pretrain_cli_extract_encoder_and_errors(cli, synth_4x4, tmp_path):
    m = synth_4x4 / "manifest.csv"
    res = cli("pretrain", m, tmp_path / "e.safetensors", "--objective", "contrastive", "--quiet")
    assert res.exit_code == 2 and "--clusters" in res.stderr
    res = cli("pretrain", tmp_path / "e.safetensors")
    assert res.exit_code == 2 and "IN... OUTPUT" in res.stderr
    # clusters from cluster-speakers on log-mel features (any embedding table works)
    assert cli("extract", "--quiet", m, tmp_path / "lm.parquet").exit_code == 0
    assert cli("cluster-speakers", "--k", 4, "--quiet", tmp_path / "lm.parquet", tmp_path / "cl.parquet").exit_code == 0
    res = cli("pretrain", m, "--clusters", tmp_path / "cl.parquet", "--out", tmp_path / "e.safetensors",
              "--steps", 3, "--segment", 1, "--quiet", *TINY_ARGS)  # --out: the old spelling, kept for a release
    assert res.exit_code == 0, res.stderr
    assert "--out is deprecated" in res.stderr
    res = cli("extract", "--feat", "encoder", "--model", tmp_path / "e.safetensors", "--quiet", m, tmp_path / "x.parquet")
    assert res.exit_code == 0, res.stderr
    from seraltools.features.encoder import EncoderFeatures
    from seraltools.audio import load_audio
    from seraltools.table import feature_matrix

    t = pq.read_table(tmp_path / "x.parquet")
    x = feature_matrix(t)
    assert x.shape == (32, 32)
    ref = EncoderFeatures(str(tmp_path / "e.safetensors"))(load_audio(synth_4x4 / t.column("path")[0].as_py()).samples)
    np.testing.assert_allclose(x[0], ref, atol=1e-5)
    res = cli("pretrain", m, tmp_path / "e2.safetensors", "--clusters", tmp_path / "cl.parquet",
              "--width", 30, "--heads", 4)
    assert res.exit_code == 2 and "--width 30" in res.stderr


# ----------------------------------------------------------------------------- SER fine-tuning


def test_speaker_folds_are_speaker_independent():
    from seraltools.ser import speaker_folds

    spk = [f"s{i}" for i in range(10)]
    folds = speaker_folds(spk, 5)
    tests = [s for f in folds for s in f["test"]]
    assert sorted(tests) == sorted(spk)  # every speaker tested once
    for f in folds:
        roles = [set(f["train"]), set(f["validation"]), set(f["test"])]
        assert len(f["test"]) == 2 and len(f["validation"]) == 1 and len(f["train"]) == 7
        assert not (roles[0] & roles[1] or roles[0] & roles[2] or roles[1] & roles[2])
    with pytest.raises(BadInput, match="speakers"):
        speaker_folds(["a", "b"], 3)


def test_uar_is_the_mean_of_per_class_recalls():
    from seraltools.ser import uar

    y = [0, 0, 0, 0, 1, 1]
    assert uar(y, [0, 0, 0, 0, 0, 0]) == pytest.approx(0.5)
    assert uar(y, [0, 0, 1, 1, 1, 1]) == pytest.approx(0.75)


def test_evaluate_ser_cli_runs_every_condition_fold_and_seed(cli, synth_3spk, tmp_path):
    from seraltools.encoder import build_encoder, save_encoder

    enc = tmp_path / "enc.safetensors"
    save_encoder(str(enc), build_encoder(TINY), TINY, {})
    out = tmp_path / "ser.parquet"
    res = cli("evaluate", "ser", synth_3spk / "manifest.csv", out, "--no-pretrain", "--encoder", f"mine={enc}",
              "--folds", 3, "--seeds", 2, "--epochs", 2, "--segment", 1, "--folds-out", tmp_path / "folds.parquet",
              *TINY_ARGS)
    assert res.exit_code == 0, res.stderr
    assert "no pretraining" in res.stderr and "mine" in res.stderr and not res.stdout
    t = pq.read_table(out).to_pylist()
    assert len(t) == 2 * 3 * 2
    assert {(r["condition"], r["fold"], r["seed"]) for r in t} == {
        (c, f, s) for c in ("no pretraining", "mine") for f in range(3) for s in range(2)}
    assert all(0 <= r["uar"] <= 1 and 1 <= r["best_epoch"] <= 2 for r in t)
    folds = pq.read_table(tmp_path / "folds.parquet").to_pylist()
    assert {r["role"] for r in folds} == {"train", "validation", "test"} and len(folds) == 3 * 3
    res = cli("evaluate", "ser", synth_3spk / "manifest.csv", out)
    assert res.exit_code == 2 and "--no-pretrain" in res.stderr


def test_cluster_centres_without_metadata_match_those_cluster_speakers_keeps(cli, synth_4x4, tmp_path):
    import pyarrow as pa

    from seraltools.pretrain import read_clusters
    from seraltools.table import read_table, write_table

    m = synth_4x4 / "manifest.csv"
    assert cli("extract", "--quiet", m, tmp_path / "lm.parquet").exit_code == 0
    assert cli("cluster-speakers", "--k", 3, "--quiet", tmp_path / "lm.parquet", tmp_path / "cl.parquet").exit_code == 0
    t = pq.read_table(tmp_path / "cl.parquet")
    ids = t.column("id").to_pylist()
    labels, kept = read_clusters(read_table(tmp_path / "cl.parquet"), ids + ["not-there"])
    assert labels[-1] == (None, None) and labels[0] == (t.column("speaker")[0].as_py(), t.column("cluster")[0].as_py())
    write_table(t.replace_schema_metadata(None), tmp_path / "plain.parquet")
    _, computed = read_clusters(read_table(tmp_path / "plain.parquet"), ids)
    for spk, c in kept.items():
        c2 = computed[spk] / np.linalg.norm(computed[spk], axis=1, keepdims=True)
        np.testing.assert_allclose((c * c2).sum(1), 1, atol=1e-4)
    write_table(pa.table({"id": ids}), tmp_path / "bad.parquet")
    with pytest.raises(BadInput, match="cluster-speakers"):
        read_clusters(read_table(tmp_path / "bad.parquet"), ids, str(tmp_path / "bad.parquet"))


def test_the_audio_cache_is_bounded_in_bytes(synth_dir):
    from seraltools.pretrain import AudioCache

    files = sorted(synth_dir.glob("*.wav"))
    one = AudioCache()(files[0]).nbytes
    cache = AudioCache(max_bytes=int(2.5 * one))
    for f in files:
        cache(f)
    assert cache.bytes <= 2.5 * one * 1.5 and len(cache.items) < len(files)
    assert list(cache.items)[-1] == files[-1]  # the most recent stays
    assert cache(files[-1]) is cache.items[files[-1]]  # a hit is not decoded again
