"""Model: initialisation statistics, loss against hand computation, monitors."""
import math

import numpy as np
import pytest
import torch

from speechvae.config import InitConfig, ModelConfig
from speechvae.model import VAE, init_std, init_weights, loss_terms, objective


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
        m.dec_logvar.copy_(torch.tensor([0.0, math.log(4.0)]))
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
