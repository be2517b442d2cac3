"""Models: initialisation statistics, loss against hand computation, monitors, the temporal model."""
import math

import numpy as np
import pytest
import torch

from speechvae.config import InitConfig, ModelConfig
from speechvae.models import init_std, init_weights
from speechvae.models.losses import loss_terms, objective
from speechvae.models.mlp import MLPVAE as VAE


def _big_model(var="per_dim"):
    return VAE(39, ModelConfig(hidden=(256, 128), latent=64), var)


@pytest.mark.parametrize("scheme,scale", [("seed", 2.0), ("seed", 0.5), ("he", 1.0), ("he", 4.0),
                                          ("xavier", 1.0)])
def test_measured_init_std_matches_scheme(scheme, scale):
    m = _big_model()
    init_weights(m, InitConfig(scheme=scheme, scale=scale), torch.Generator().manual_seed(0))
    for layer in m.layers():
        fan_in, fan_out = layer.in_features, layer.out_features
        want = {"seed": scale / fan_out, "he": scale * math.sqrt(2 / fan_in),
                "xavier": scale * math.sqrt(2 / (fan_in + fan_out))}[scheme]
        assert init_std(fan_in, fan_out, InitConfig(scheme, scale)) == pytest.approx(want)
        assert layer.weight.std().item() == pytest.approx(want, rel=0.05), (scheme, fan_in, fan_out)
        assert torch.all(layer.bias == 0)


def test_seed_scheme_is_the_articles():
    m = _big_model()
    init_weights(m, InitConfig("seed", 2.0), torch.Generator().manual_seed(0))
    stds = [round(l.weight.std().item() * 256) for l in (m.enc[0],)] + [m.enc[1].weight.std().item() * 128,
                                                                         m.enc_mu.weight.std().item() * 64]
    assert stds[0] == 2 and stds[1] == pytest.approx(2, rel=0.05) and stds[2] == pytest.approx(2, rel=0.05)


def test_loss_equals_hand_computation():
    """Fixed tiny batch: Gaussian NLL with the 0.5*log(2*pi) term, and analytic KL."""
    m = VAE(2, ModelConfig(hidden=(3,), latent=1), "per_dim")
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
        m.enc_mu.bias.fill_(0.5)  # mu = 0.5 for any x
        m.enc_logvar.bias.fill_(math.log(0.25))  # sigma = 0.5
        m.dec_mean.bias.copy_(torch.tensor([1.0, -1.0]))  # decoder mean independent of z
        m.var.dec_logvar.copy_(torch.tensor([0.0, math.log(4.0)]))
    x = torch.tensor([[1.0, 1.0], [3.0, -1.0]])
    out = m(x, eps=torch.zeros(2, 1))
    t = loss_terms(x, out)
    c = 0.5 * math.log(2 * math.pi)
    # frame 1: dim0 err 0 var 1; dim1 err 2 var 4 -> 0.5*(4/4) + 0.5*log 4
    rec1 = (0 + c) + (0.5 * 1.0 + 0.5 * math.log(4.0) + c)
    rec2 = (0.5 * 4.0 + c) + (0 + 0.5 * math.log(4.0) + c)
    kl = 0.5 * (0.25 + 0.25 - math.log(0.25) - 1)
    np.testing.assert_allclose(t.recon.detach().numpy(), [rec1, rec2], rtol=1e-6)
    np.testing.assert_allclose(t.kl.detach().numpy(), [kl, kl], rtol=1e-6)
    assert objective(t, beta=0.5).item() == pytest.approx((rec1 + rec2) / 2 + 0.5 * kl, rel=1e-6)
    # free bits: KL below the floor costs the floor, with no gradient towards 0
    assert objective(t, beta=1.0, free_bits=1.0).item() == pytest.approx((rec1 + rec2) / 2 + 1.0, rel=1e-6)


def test_unit_variance_loss_is_squared_error_plus_constant():
    m = VAE(39, ModelConfig(hidden=(16,), latent=4), "unit")
    x = torch.randn(8, 39)
    out = m(x)
    t = loss_terms(x, out)
    expected = 0.5 * ((x - out.x_mean) ** 2).sum(1) + 39 * 0.5 * math.log(2 * math.pi)
    torch.testing.assert_close(t.recon, expected)


def test_per_frame_variance_head():
    m = VAE(39, ModelConfig(hidden=(16,), latent=4), "per_frame")
    init_weights(m, InitConfig("he", 1.0))
    out = m(torch.randn(5, 39))
    assert out.x_logvar.shape == (5, 39)


def test_narrow_init_collapses_output_and_dead_units_are_scale_free_at_init():
    """x0.01 makes the decoder output nearly independent of the input (collapse to the mean).
    With zero biases a ReLU net is positively homogeneous, so the dead fraction at init does not
    depend on the scale: too-wide inits kill units through training (large steps), not at init."""
    x = torch.randn(2048, 39, generator=torch.Generator().manual_seed(0))
    dead = {}
    spread = {}
    for scale in (0.01, 1.0, 64.0):
        m = _big_model("unit")
        init_weights(m, InitConfig("he", scale), torch.Generator().manual_seed(0))
        out = m(x)
        dead[scale] = np.mean([float((h.amax(0) <= 0).float().mean()) for h in out.hidden])
        spread[scale] = out.x_mean.std(0).mean().item()
    assert spread[0.01] < 1e-4 * spread[1.0]
    assert dead[1.0] < 0.05
    assert dead[64.0] == pytest.approx(dead[1.0]) and dead[0.01] == pytest.approx(dead[1.0])


def _conv(stride=2, **kw):
    from speechvae.config import load_config
    from speechvae.models import build

    sets = [f"model.{k}={v}" for k, v in {"kind": "conv", "hidden": "[32, 24]", "latent": 4, "stride": stride,
                                           "kernel": 5, "segment": 16, **kw}.items()]
    cfg = load_config(None, sets)
    return build(cfg, 39), cfg


@pytest.mark.parametrize("stride", [1, 2, 4])
def test_conv_model_shapes_and_receptive_field(stride):
    m, cfg = _conv(stride)
    init_weights(m, cfg.init, torch.Generator().manual_seed(0))
    x = torch.randn(3, 32, 39)
    out = m(x)
    assert out.mu.shape == (3, 32 // stride, 4) and out.x_mean.shape == (3, 32, 39)
    # temporal context: changing frame 10 changes the reconstruction of its neighbours, not of far frames
    y = x.clone()
    y[:, 10] += 1.0
    diff = (m(y).x_mean - out.x_mean).abs().amax(dim=(0, 2))
    assert diff[9] > 0 and diff[11] > 0 and diff[31] == 0


def test_conv_init_counts_kernel_taps():
    m, cfg = _conv(2, hidden="[128, 128]")
    init_weights(m, InitConfig("he", 1.0), torch.Generator().manual_seed(0))
    first = m.enc[0]  # Conv1d(39 -> 128, k=5): fan_in 39 * 5
    assert first.weight.std().item() == pytest.approx(math.sqrt(2 / (39 * 5)), rel=0.05)
    up = m.dec[1]  # ConvTranspose1d(128 -> 128, k=2): fan_in 128 * 2
    assert up.weight.std().item() == pytest.approx(math.sqrt(2 / (128 * 2)), rel=0.05)


def test_kl_per_frame_spreads_a_latent_vector_over_its_stride():
    m, cfg = _conv(4)
    init_weights(m, cfg.init, torch.Generator().manual_seed(0))
    x = torch.randn(2, 16, 39)
    t = loss_terms(x, m(x), stride=4)
    assert t.kl.shape == (2, 4) and t.recon.shape == (2, 16)
    assert t.kl_per_frame.item() == pytest.approx(t.kl.sum().item() / 32, rel=1e-6)
    assert t.kl_per_dim.sum().item() == pytest.approx(t.kl_per_frame.item(), rel=1e-5)


def test_iw_bound_tightens_with_more_samples():
    """log p(x) >= IW_K >= IW_1 = ELBO in expectation; on a fixed model and batch the K=64 estimate is
    above the K=1 one, and both are finite."""
    from speechvae.models.losses import iw_log_likelihood

    m = VAE(39, ModelConfig(hidden=(32,), latent=4), "per_dim")
    init_weights(m, InitConfig("he", 1.0), torch.Generator().manual_seed(0))
    x = torch.randn(1, 200, 39, generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(2)
    elbo = np.mean([float(iw_log_likelihood(m, x, 1, g)) for _ in range(8)])
    iw = float(iw_log_likelihood(m, x, 64, g))
    assert np.isfinite(elbo) and iw > elbo
    # K = 1 is the one-sample ELBO of the same noise: -recon + log p(z) - log q(z|x), by hand
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    ll = float(iw_log_likelihood(m, x, 1, g1))
    mu, logvar = m.encode(x)
    eps = torch.randn(mu.shape, generator=g2)
    out = m(x, eps)
    t = loss_terms(x, out)
    log_p_minus_q = (-0.5 * out.z**2 + 0.5 * eps**2 + 0.5 * logvar).sum(-1).mean()
    assert ll == pytest.approx((-t.recon.mean() + log_p_minus_q).item(), rel=1e-5)
    # and over many samples its mean is the analytic ELBO
    many = np.mean([float(iw_log_likelihood(m, x, 1, g)) for _ in range(200)])
    assert many == pytest.approx(-(t.recon.mean() + t.kl_per_frame).item(), abs=0.05 * abs(many))


def _np_layer(layer, h):
    return h @ layer.weight.detach().numpy().T + layer.bias.detach().numpy()


@pytest.mark.parametrize("norm", ["none", "layer"])
def test_residual_and_layer_norm_mlp_against_numpy(norm):
    """model.residual adds each equal-width hidden layer's input after the first layer; model.norm layer puts
    a LayerNorm (zero mean, unit variance over the channels, eps 1e-5, then gain and bias) before each ReLU."""
    torch.manual_seed(0)
    m = VAE(5, ModelConfig(hidden=(6, 6, 6), latent=3, residual=True, norm=norm))
    if norm == "layer":  # non-trivial gains and biases, so that the test sees them
        for ln in [*m.enc_norm, *m.dec_norm]:
            ln.weight.data.uniform_(0.5, 1.5)
            ln.bias.data.uniform_(-0.3, 0.3)
    x = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)

    def ln(i, norms, a):
        if norms is None:
            return a
        a = (a - a.mean(-1, keepdims=True)) / np.sqrt(a.var(-1, keepdims=True) + 1e-5)
        return a * norms[i].weight.detach().numpy() + norms[i].bias.detach().numpy()

    def stack(h, layers, norms):
        for i, layer in enumerate(layers):
            a = np.maximum(ln(i, norms, _np_layer(layer, h)), 0)
            h = h + a if i > 0 else a  # 5 -> 6 has no skip; 6 -> 6 twice has
        return h

    h = stack(x, m.enc, m.enc_norm)
    mu = _np_layer(m.enc_mu, h)
    out = _np_layer(m.dec_mean, stack(mu, m.dec, m.dec_norm))
    with torch.no_grad():
        got_mu, _ = m.encode(torch.from_numpy(x)[None])
        got, _ = m.decode(got_mu)
    np.testing.assert_allclose(got_mu[0].numpy(), mu, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[0].numpy(), out, rtol=1e-5, atol=1e-5)
    plain = VAE(5, ModelConfig(hidden=(6, 6, 6), latent=3, norm=norm))
    plain.load_state_dict(m.state_dict())
    with torch.no_grad():
        assert not torch.allclose(plain.encode(torch.from_numpy(x)[None])[0], got_mu)  # the skips change it


@pytest.mark.parametrize("linear_path", [True, False])
def test_block_model_against_numpy(linear_path):
    """model.kind block: s frames side by side -> ReLU MLP -> latent -> ReLU MLP -> s frames, each frame coded only
    with the frames of its own block; model.linear_path adds a linear map of the block to the posterior mean and a
    linear map of the latent to the decoder mean."""
    from speechvae.models.block import BlockVAE

    torch.manual_seed(0)
    m = BlockVAE(5, ModelConfig(kind="block", stride=2, hidden=(6, 4), latent=3, linear_path=linear_path))
    init_weights(m, InitConfig(scheme="he", scale=1.0))
    for layer in m.layers():  # non-zero biases, so that the test sees them
        if layer.bias is not None:
            layer.bias.data.uniform_(-0.3, 0.3)
    x = np.random.default_rng(1).standard_normal((6, 5)).astype(np.float32)  # 6 frames: 3 blocks of 2

    def mlp(h, layers):
        for layer in layers:
            h = np.maximum(_np_layer(layer, h), 0)
        return h

    blocks = x.reshape(3, 10)  # frames 0-1, 2-3, 4-5
    mu = _np_layer(m.enc_mu, mlp(blocks, m.enc))
    if linear_path:
        mu = mu + blocks @ m.enc_lin.weight.detach().numpy().T
    out = _np_layer(m.dec_mean, mlp(mu, m.dec))
    if linear_path:
        out = out + mu @ m.dec_lin.weight.detach().numpy().T
    with torch.no_grad():
        got_mu, logvar = m.encode(torch.from_numpy(x)[None])
        got, _ = m.decode(got_mu)
    assert got_mu.shape == logvar.shape == (1, 3, 3) and got.shape == (1, 6, 5)
    np.testing.assert_allclose(got_mu[0].numpy(), mu, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[0].numpy(), out.reshape(6, 5), rtol=1e-5, atol=1e-5)
    assert (m.enc_lin is not None) == linear_path and len(m.layers()) == 7 + 2 * linear_path  # init draws the paths
