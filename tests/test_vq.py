"""VQ-VAE: the quantiser, training and resume, exact bits, codes on disk, latent views."""
import json

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import tiny_config

from speechvae.analysis.align import dtw_path
from speechvae.analysis.features import Features
from speechvae.cli import main
from speechvae.inference.codes import code_path
from speechvae.inference.model import decode, encode_codes, load_model, reconstruct
from speechvae.inference.rate import rate
from speechvae.models.checkpoint import load_checkpoint
from speechvae.models.vq import DEAD_STEPS, Quantizer
from speechvae.report.latent_views import interpolate, prior_samples
from speechvae.training.loop import fit

VQ = {"model.quantizer": "residual", "model.codebooks": 3, "model.codebook_size": 16, "train.batch_size": 128}


@pytest.fixture(scope="module")
def vq_exp(three_part_featdir, tmp_path_factory):
    d = tmp_path_factory.mktemp("vq") / "exp"
    fit(three_part_featdir, d, tiny_config(**VQ), progress=False)
    return d


@pytest.fixture(scope="module")
def vae_exp(three_part_featdir, tmp_path_factory):
    d = tmp_path_factory.mktemp("vae") / "exp"
    fit(three_part_featdir, d, tiny_config(**{"model.latent": 2}), progress=False)
    return d


def test_quantizer_finds_clusters_and_codes_cost_exact_bits():
    """Data in 8 tight clusters, one codebook of 8: EMA training puts one entry on each centre."""
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(8, 4, generator=g) * 5
    q = Quantizer(latent=4, codebooks=1, size=8)
    torch.manual_seed(0)
    for _ in range(300):
        x = centres[torch.randint(0, 8, (256,), generator=g)] + 0.01 * torch.randn(256, 4, generator=g)
        q(x)
    q.eval()
    zq, codes, commit = q(centres)
    assert sorted(codes[:, 0].tolist()) == list(range(8))  # one entry per cluster
    assert float(commit.max()) < 1e-3
    assert q.bits == 3.0


def test_dead_entries_are_redrawn_after_dead_steps():
    """Entries stranded far from the data are never chosen; after DEAD_STEPS steps they are re-drawn onto
    encoder outputs and get used."""
    q = Quantizer(latent=2, codebooks=1, size=4)
    torch.manual_seed(0)
    x = torch.randn(64, 2)
    q(x)  # first fill
    with torch.no_grad():
        q.embed[0, 1:] = 1e3
        q.ema_sum[0, 1:] = 1e3 * q.ema_count[0, 1:, None]
    q.reset_usage()
    for _ in range(DEAD_STEPS - 1):
        q(x)
    assert q.usage_stats()["used"] == [0.25] and q.usage_stats()["reinit"] == [0.0]  # not yet
    q(x)
    assert q.usage_stats()["reinit"] == [3.0]
    assert float(q.embed[0].abs().max()) < 10  # all entries back among the data
    q.reset_usage()
    for _ in range(5):
        q(x)
    assert q.usage_stats()["used"][0] > 0.25


def test_product_quantiser_codes_each_slice():
    q = Quantizer(latent=4, codebooks=2, size=4, kind="product").eval()
    with torch.no_grad():
        q.embed.copy_(torch.arange(16.0).view(2, 4, 2))
    zq, codes, _ = q(torch.tensor([[2.1, 2.9, 12.0, 13.2]]))
    assert codes.tolist() == [[1, 2]] and zq.tolist() == [[2.0, 3.0, 12.0, 13.0]]


def test_vq_training_logs_codebook_use_and_rate_is_exact(vq_exp, three_part_featdir):
    ck = load_checkpoint(vq_exp)
    last = ck.history[-1]
    for i in (1, 2, 3):
        assert 0 < last[f"vq_used{i}"] <= 1 and 1 <= last[f"vq_perplexity{i}"] <= 16
    assert last["train_kl"] == 0 and last["mean_sigma"] == 0 and "train_commit" in last
    tm = load_model(vq_exp, "cpu")
    r = rate(tm, three_part_featdir, ["part2"])
    assert r["bits_per_frame"] == 12.0  # 3 codebooks x log2(16), stride 1
    assert r["kbit_per_s"] == pytest.approx(12.0 * 200 / 1000)  # 5 ms frames
    assert len(r["codebooks"]["used"]) == 3


def test_vq_resume_replays_the_uninterrupted_run(three_part_featdir, tmp_path):
    """Codebook buffers (EMA sums, counts, idle steps) travel in the checkpoint and re-draws are seeded
    per epoch: 1 epoch + resume 1 = 2 epochs, to the last bit."""
    cfg2 = tiny_config(**VQ, **{"train.epochs": 2})
    fit(three_part_featdir, tmp_path / "a", cfg2, progress=False)
    fit(three_part_featdir, tmp_path / "b", tiny_config(**VQ, **{"train.epochs": 1}), progress=False)
    fit(three_part_featdir, tmp_path / "b", cfg2, resume=True, progress=False)
    a, b = load_checkpoint(tmp_path / "a").model_state, load_checkpoint(tmp_path / "b").model_state
    assert {k for k in a if "quantizer" in k} >= {"quantizer.embed", "quantizer.ema_count", "quantizer.idle"}
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("which", ["vq", "vae"])
def test_encode_decode_resynth_equals_reconstruct_resynth(which, vq_exp, vae_exp, three_part_featdir, tmp_path):
    exp = vq_exp if which == "vq" else vae_exp
    run = lambda *a: main(["-q", *a])
    assert run("encode", str(three_part_featdir), "--model", str(exp), "-o", str(tmp_path / "codes")) == 0
    assert run("decode", str(tmp_path / "codes"), "--model", str(exp), "-o", str(tmp_path / "dec")) == 0
    assert run("reconstruct", str(three_part_featdir), "--model", str(exp), "-o", str(tmp_path / "rec")) == 0
    arrays = np.load(code_path(tmp_path / "codes", "part1"))
    info = json.loads((tmp_path / "codes" / "code.json").read_text())
    if which == "vq":
        assert arrays["codes"].dtype == np.uint8 and arrays["codes"].shape[1] == 3 and "z" not in arrays.files
        assert info["bits_per_frame"] == 12.0
        tm = load_model(exp, "cpu")
        f = Features.load(three_part_featdir / "feats/part1.npz")
        assert np.array_equal(arrays["codes"], encode_codes(tm, f))  # bit-exact codes
    else:
        assert arrays["z"].dtype == np.float32 and arrays["z"].shape[1] == 2 and "codes" not in arrays.files
    for u in ("part0", "part1", "part2"):
        d, r = Features.load(tmp_path / f"dec/feats/{u}.npz"), Features.load(tmp_path / f"rec/feats/{u}.npz")
        for k, v in d.to_arrays().items():
            assert np.array_equal(v, r.to_arrays()[k]), (u, k)
    assert run("resynth", str(tmp_path / "dec"), "-o", str(tmp_path / "wd")) == 0
    assert run("resynth", str(tmp_path / "rec"), "-o", str(tmp_path / "wr")) == 0
    for u in ("part0", "part1", "part2"):
        assert np.array_equal(sf.read(tmp_path / f"wd/{u}.wav", dtype="int16")[0],
                              sf.read(tmp_path / f"wr/{u}.wav", dtype="int16")[0])


def test_decode_with_another_model_is_refused(vq_exp, vae_exp, three_part_featdir, tmp_path, caplog):
    assert main(["-q", "encode", str(three_part_featdir), "--model", str(vq_exp), "-o", str(tmp_path / "c")]) == 0
    assert main(["-q", "decode", str(tmp_path / "c"), "--model", str(vae_exp), "-o", str(tmp_path / "d")]) == 2
    assert "not by this one" in caplog.text
    assert main(["-q", "decode", str(three_part_featdir), "--model", str(vq_exp), "-o", str(tmp_path / "e")]) == 2
    assert "not a code folder" in caplog.text


def test_dtw_recovers_a_known_warp():
    rng = np.random.default_rng(0)
    a = np.cumsum(rng.standard_normal((40, 3)), axis=0)
    steps = rng.integers(1, 3, 39)  # b: a stretched at random places (1 or 2 frames of b per frame of a)
    idx = np.r_[0, np.cumsum(steps)]
    b = np.zeros((idx[-1] + 1, 3))
    b[idx] = a
    for j in range(len(b)):  # frames of b skipped by the warp: copies of the frame before
        if j not in set(idx):
            b[j] = b[j - 1]
    path = dtw_path(a, b)
    assert np.abs(a - b[path]).max() == 0
    with pytest.raises(ValueError, match="at most 2"):
        dtw_path(a[:5], b)


def test_interpolation_ends_are_the_reconstructions(vae_exp, three_part_featdir):
    tm = load_model(vae_exp, "cpu")
    a = Features.load(three_part_featdir / "feats/part0.npz")
    b = Features.load(three_part_featdir / "feats/part1.npz")
    v = interpolate(tm, a, b, (0.0, 0.5, 1.0))
    assert np.array_equal(v[0].mcep, reconstruct(tm, a).mcep)  # t = 0: a's own reconstruction
    assert all(np.array_equal(x.f0, a.f0) and np.array_equal(x.mcep[:, 0], a.mcep[:, 0]) for x in v)
    same = interpolate(tm, a, a, (0.0, 1.0))  # toward itself: nothing moves
    np.testing.assert_allclose(same[1].mcep, same[0].mcep, atol=1e-12)
    assert not np.allclose(v[2].mcep, v[0].mcep)


def test_prior_samples_decode_standard_normal_draws(vae_exp):
    tm = load_model(vae_exp, "cpu")
    s = prior_samples(tm, 5, seed=3)
    z = np.random.default_rng(3).standard_normal((5, 2))
    np.testing.assert_allclose(s, decode(tm, z.astype(np.float32)), atol=1e-12)  # frame-wise: same as decode


def test_plot_writes_latent_views(vae_exp, vq_exp, three_part_featdir, tmp_path):
    assert main(["-q", "plot", "--model", str(vae_exp), str(three_part_featdir), "-o", str(tmp_path / "p"),
                 "--prior-samples", "32", "--interpolate", "part1"]) == 0
    for name in ("latent_grid.png", "latent_scatter.png", "prior_envelopes.png", "prior_gv.png",
                 "interpolation.png", "interp/part0_to_part1_t0.50.wav"):
        assert (tmp_path / "p" / name).stat().st_size > 1000, name
    assert main(["-q", "plot", "--model", str(vq_exp), str(three_part_featdir), "-o", str(tmp_path / "q")]) == 0
    assert (tmp_path / "q/prior_gv.png").exists() and not (tmp_path / "q/latent_grid.png").exists()


def test_vq_model_refuses_an_nll_estimate(vq_exp, three_part_featdir, tmp_path, caplog):
    assert main(["-q", "evaluate", "--model", str(vq_exp), str(three_part_featdir), "-o", str(tmp_path / "m.json"),
                 "--nll-samples", "4"]) == 2
    assert "rate is the code's bits" in caplog.text
    assert main(["-q", "evaluate", "--model", str(vq_exp), str(three_part_featdir), "-o",
                 str(tmp_path / "m.json")]) == 0
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["bits_per_frame"] == 12.0 and "kl_nats_per_frame" not in m


@pytest.mark.parametrize(
    "sets, msg",
    [
        ({"model.quantizer": "lattice"}, "model.quantizer must be"),
        ({"model.quantizer": "product", "model.latent": 7}, "divisible"),
        ({"model.codebook_size": 1}, "codebook_size >= 2"),
        ({"model.vq_decay": 1.0}, "vq_decay"),
    ],
)
def test_vq_settings_are_checked(sets, msg):
    from speechvae.config import ConfigError

    with pytest.raises(ConfigError, match=msg):
        tiny_config(**sets)


def test_plot_refuses_an_unknown_utterance_before_writing(vae_exp, three_part_featdir, tmp_path, caplog):
    assert main(["-q", "plot", "--model", str(vae_exp), str(three_part_featdir), "-o", str(tmp_path / "p"),
                 "--interpolate", "nope"]) == 2
    assert "--interpolate nope: no such utterance" in caplog.text and not (tmp_path / "p").exists()
